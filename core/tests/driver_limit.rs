//! A driver's own limits (streaming mode: it assembles messages) fail a
//! connection as the core's do: `fail_limit`, close code 1009.

mod common;

use common::{drain, target, transmit, Pair};
use hybi_core::{ClientRequest, Config, Error, Event, Instant, LimitError, Protocol};

const NOW: Instant = Instant::ZERO;

/// The close code of the close frame at the end of `wire` (server frames
/// are unmasked: `88 02 code`).
fn close_code(wire: &[u8]) -> Option<u16> {
    let at = wire.len().checked_sub(4)?;
    (wire[at..at + 2] == [0x88, 0x02]).then(|| u16::from_be_bytes([wire[at + 2], wire[at + 3]]))
}

#[test]
fn a_driver_fails_a_connection_on_its_own_limit_with_1009() {
    // Streaming: the driver assembles messages and keeps their limits.
    let client = Config { protocol: Protocol::Rfc6455, ..Config::default() };
    let server = Config { streaming: true, ..Config::default() };
    let mut pair = Pair::new(client, ClientRequest::new(target()), server, 7);
    pair.handshake();
    pair.client.send_fragment(true, &[1; 1000], false).unwrap();
    pair.server.handle_input(NOW, &transmit(&mut pair.client));
    assert!(matches!(drain(&mut pair.server)[..], [Event::BinaryFragment { fin: false, .. }]));
    let error = LimitError::MessageTooLarge { limit: 999 };
    pair.server.fail_limit(error);
    assert_eq!(drain(&mut pair.server), [Event::Error(Error::Limit(error))]);
    assert_eq!(close_code(&transmit(&mut pair.server)), Some(1009));
    // Ended: nothing more is read, and failing again does nothing.
    pair.client.send_fragment(true, &[1; 10], true).unwrap();
    pair.server.handle_input(NOW, &transmit(&mut pair.client));
    pair.server.fail_limit(LimitError::OverAllowance { allowance: 1 });
    assert_eq!(drain(&mut pair.server), []);
    assert!(transmit(&mut pair.server).is_empty());
}
