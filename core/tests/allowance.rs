//! What a connection holds in memory: `buffered_bytes` comes back down once
//! a large message is delivered or sent, and `set_input_allowance` stops
//! input (plain or inflated, RFC 6455 or draft-76 in either framing) at
//! exactly the allowance, with close code 1009 where the protocol has one.

mod common;

use common::{drain, entropy, open_server, server_config, target, transmit, Pair, FRAMINGS};
use hybi_core::{
    ClientRequest, Config, DeflateConfig, Error, Event, Framing, Instant, InvalidUtf8, LimitError, Protocol,
};

const NOW: Instant = Instant::ZERO;

/// What the connection may keep between messages (the core's threshold
/// for shrinking buffers back).
const SHRINK_ABOVE: usize = 64 * 1024;

/// An open RFC 6455 client and server, with or without permessage-deflate.
fn open_pair(deflate: bool) -> Pair {
    let deflate = deflate.then(DeflateConfig::default);
    let client = Config { protocol: Protocol::Rfc6455, deflate, ..Config::default() };
    let server = Config { deflate, ..Config::default() };
    let mut pair = Pair::new(client, ClientRequest::new(target()), server, 7);
    pair.handshake();
    assert_eq!(pair.server.deflate().is_some(), deflate.is_some());
    pair
}

/// Random bytes, which deflate cannot shrink.
fn noise(len: usize) -> Vec<u8> {
    let mut out = vec![0; len];
    let mut fill = entropy(99);
    fill.fill(&mut out);
    out
}

/// The close code of the close frame at the end of `wire` (server frames
/// are unmasked: `88 02 code`).
fn close_code(wire: &[u8]) -> Option<u16> {
    let at = wire.len().checked_sub(4)?;
    (wire[at..at + 2] == [0x88, 0x02]).then(|| u16::from_be_bytes([wire[at + 2], wire[at + 3]]))
}

#[test]
fn input_exactly_at_the_allowance_is_taken_and_one_byte_over_fails_with_1009() {
    const LEN: usize = 100_000;
    for (extra, fits) in [(0usize, true), (1, false)] {
        let mut pair = open_pair(false);
        pair.client.send_fragment(true, &[0x5a; LEN], false).unwrap();
        let frame = transmit(&mut pair.client);
        let held = pair.server.buffered_bytes();
        // Room for exactly the message's bytes (binary, masked: unmasked
        // straight into the message, no scratch).
        let allowance = held + LEN - extra;
        pair.server.set_input_allowance(allowance);
        pair.server.handle_input(NOW, &frame);
        let events = drain(&mut pair.server);
        if fits {
            assert!(events.is_empty(), "{events:?}");
            assert_eq!(pair.server.buffered_bytes(), allowance, "the message fills the allowance");
        } else {
            assert_eq!(events, [Event::Error(Error::Limit(LimitError::OverAllowance { allowance }))]);
            assert_eq!(close_code(&transmit(&mut pair.server)), Some(1009));
        }
    }
}

#[test]
fn an_inflate_bomb_stops_at_the_allowance() {
    // 16 MiB of zeros compresses to about 16 KiB.
    let mut pair = open_pair(true);
    pair.client.send_binary(&vec![0; 16 << 20]).unwrap();
    let wire = transmit(&mut pair.client);
    assert!(wire.len() < 64 * 1024, "{} bytes", wire.len());
    let allowance = pair.server.buffered_bytes() + (1 << 20);
    pair.server.set_input_allowance(allowance);
    let mut failed = None;
    for chunk in wire.chunks(64) {
        pair.server.handle_input(NOW, chunk);
        assert!(pair.server.buffered_bytes() <= allowance, "{} > {allowance}", pair.server.buffered_bytes());
        if let Some(error) = drain(&mut pair.server).into_iter().find(|e| matches!(e, Event::Error(_))) {
            failed = Some(error);
            break;
        }
    }
    assert_eq!(failed, Some(Event::Error(Error::Limit(LimitError::OverAllowance { allowance }))));
    assert_eq!(close_code(&transmit(&mut pair.server)), Some(1009));
}

#[test]
fn buffers_shrink_back_after_a_large_inflated_message() {
    let mut pair = open_pair(true);
    let idle = pair.server.buffered_bytes();
    assert!(idle <= SHRINK_ABOVE, "idle: {idle}");
    pair.client.send_binary(&vec![0; 16 << 20]).unwrap();
    let wire = transmit(&mut pair.client);
    // A generous allowance: the same path, and nothing refused.
    pair.server.set_input_allowance(64 << 20);
    pair.server.handle_input(NOW, &wire);
    assert!(pair.server.buffered_bytes() >= 16 << 20, "the message is held until taken");
    let events = drain(&mut pair.server);
    assert!(matches!(&events[..], [Event::Binary(data)] if data.len() == 16 << 20), "{:?}", events.len());
    let after = pair.server.buffered_bytes();
    assert!(after <= SHRINK_ABOVE, "after the message: {after} bytes held");
}

#[test]
fn buffers_shrink_back_after_a_large_message_is_sent() {
    for deflate in [false, true] {
        let mut pair = open_pair(deflate);
        // Noise: the compressed copy is as large as the message.
        pair.server.send_binary(&noise(4 << 20)).unwrap();
        assert!(pair.server.buffered_bytes() >= 4 << 20);
        // A driver appending to a buffer it keeps (not the swap).
        let mut out = b"x".to_vec();
        let _ = pair.server.poll_transmit(&mut out);
        let after = pair.server.buffered_bytes();
        assert!(after <= SHRINK_ABOVE, "deflate {deflate}: after sending, {after} bytes held");
    }
}

#[test]
fn small_messages_keep_their_buffers() {
    // Under the threshold nothing is given back, so a stream of small
    // messages reuses the same allocations.
    let mut pair = open_pair(true);
    pair.server.send_binary(&noise(8 * 1024)).unwrap();
    let mut out = b"x".to_vec();
    let _ = pair.server.poll_transmit(&mut out);
    assert!(pair.server.buffered_bytes() >= 8 * 1024, "the send scratch stays");
}

#[test]
fn input_bound_covers_whatever_legitimate_input_makes_the_connection_hold() {
    // A driver sharing a budget sets the allowance to what the connection
    // holds plus `input_bound` of each read: traffic within the limits must
    // never fail that way (masked text through the scratch, pings whose
    // pongs queue up, messages that start in the same read).
    for (deflate, read) in
        [(false, 32 * 1024), (false, 10_000), (false, 1460), (true, 32 * 1024), (true, 10_000)]
    {
        let mut pair = open_pair(deflate);
        let text = "é✓ text ".repeat(32 * 1024);
        for _ in 0..8 {
            pair.client.send_binary(&[0xa5; 256 * 1024]).unwrap();
        }
        for i in 0..6 {
            pair.client.send_text(&text).unwrap();
            pair.client.send_binary(&noise(256 * 1024 + i)).unwrap();
            for _ in 0..50 {
                pair.client.send_ping(b"p").unwrap();
            }
            pair.client.send_text("small").unwrap();
        }
        let wire = transmit(&mut pair.client);
        let mut events = 0;
        for chunk in wire.chunks(read) {
            let allowance = pair.server.buffered_bytes() + pair.server.input_bound(chunk.len());
            pair.server.set_input_allowance(allowance);
            pair.server.handle_input(NOW, chunk);
            for event in drain(&mut pair.server) {
                assert!(!matches!(event, Event::Error(_)), "deflate {deflate}, reads of {read}: {event:?}");
                events += 1;
            }
            let _ = transmit(&mut pair.server);
        }
        assert_eq!(events, 8 + 6 * 53, "deflate {deflate}, reads of {read}");
    }
}

/// The start of a draft-76 text message of which `len` bytes (of `total`)
/// have arrived.
fn draft76_unfinished(framing: Framing, len: usize, total: usize) -> Vec<u8> {
    let mut wire = match framing {
        Framing::Old => vec![0x00],
        Framing::New => [&[0xff][..], &(total as u64).to_be_bytes()].concat(),
        Framing::Auto => unreachable!("a client's framing is 'old' or 'new'"),
    };
    wire.resize(wire.len() + len, b'z');
    wire
}

/// Feeds `wire` to `server` whole, or byte by byte; the events, and
/// whether `buffered_bytes` stayed within `allowance` after every input.
fn feed(server: &mut hybi_core::Connection, wire: &[u8], bytewise: bool, allowance: usize) -> Vec<Event> {
    let step = if bytewise { 1 } else { wire.len() };
    let mut events = Vec::new();
    for chunk in wire.chunks(step) {
        server.handle_input(NOW, chunk);
        let held = server.buffered_bytes();
        assert!(held <= allowance, "{held} > {allowance}");
        events.extend(drain(server));
    }
    events
}

#[test]
fn draft76_text_exactly_at_the_allowance_is_taken_and_one_byte_over_fails() {
    // Draft-76 has no close codes: the connection fails as for a message
    // over max_message_size, with nothing sent.
    const LEN: usize = 100_000;
    for framing in FRAMINGS {
        for bytewise in [false, true] {
            for (extra, fits) in [(0usize, true), (1, false)] {
                let context = format!("{framing:?}, bytewise {bytewise}, {extra} over");
                let mut server = open_server(server_config(framing));
                // The message is unfinished: nothing is delivered.
                let wire = draft76_unfinished(framing, LEN, LEN + 1);
                let held = server.buffered_bytes();
                let allowance = held + LEN - extra;
                server.set_input_allowance(allowance);
                let events = feed(&mut server, &wire, bytewise, allowance);
                if fits {
                    assert!(events.is_empty(), "{context}: {events:?}");
                    assert_eq!(server.buffered_bytes(), allowance, "{context}: the text fills the allowance");
                } else {
                    assert_eq!(
                        events,
                        [Event::Error(Error::Limit(LimitError::OverAllowance { allowance }))],
                        "{context}"
                    );
                    assert_eq!(transmit(&mut server), b"", "{context}: nothing to send");
                    assert_eq!(server.state(), hybi_core::State::Closed, "{context}");
                }
            }
        }
    }
}

#[test]
fn draft76_buffers_count_the_message_and_shrink_back_after_it() {
    const LEN: usize = (16 << 20) - 1;
    for framing in FRAMINGS {
        let mut server = open_server(server_config(framing));
        let idle = server.buffered_bytes();
        assert!(idle <= SHRINK_ABOVE, "{framing:?} idle: {idle}");
        // A generous allowance: the same path, and nothing refused.
        server.set_input_allowance(64 << 20);
        let wire = common::text_frame(framing, &vec![b'z'; LEN]);
        let (most, last) = wire.split_at(wire.len() - 1);
        for chunk in most.chunks(64 * 1024) {
            server.handle_input(NOW, chunk);
        }
        let held = server.buffered_bytes();
        assert!((LEN..=2 * LEN).contains(&held), "{framing:?}: the unfinished message counts: {held} held");
        server.handle_input(NOW, last);
        let events = drain(&mut server);
        assert!(
            matches!(&events[..], [Event::Text(text)] if text.len() == LEN),
            "{framing:?}: {}",
            events.len()
        );
        let after = server.buffered_bytes();
        assert!(after <= SHRINK_ABOVE, "{framing:?}: after the message, {after} bytes held");
    }
}

#[test]
fn draft76_replaced_text_is_bounded_before_it_is_copied() {
    // With InvalidUtf8::Replace each bad byte becomes three: the copy is
    // checked against the allowance before it is made, and input_bound
    // covers it.
    const LEN: usize = 60_000;
    let config = |framing| Config { invalid_utf8: InvalidUtf8::Replace, ..server_config(framing) };
    for framing in FRAMINGS {
        let wire = common::text_frame(framing, &[0x80; LEN]);
        // Room for the bytes as they arrived, not for their replacement.
        let mut server = open_server(config(framing));
        let allowance = server.buffered_bytes() + LEN + 64 * 1024;
        server.set_input_allowance(allowance);
        server.handle_input(NOW, &wire);
        assert_eq!(
            drain(&mut server),
            [Event::Error(Error::Limit(LimitError::OverAllowance { allowance }))],
            "{framing:?}"
        );
        // What a driver sharing a budget reserves is enough.
        let mut server = open_server(config(framing));
        server.set_input_allowance(server.buffered_bytes() + server.input_bound(wire.len()));
        server.handle_input(NOW, &wire);
        assert_eq!(drain(&mut server), [Event::Text("\u{fffd}".repeat(LEN))], "{framing:?}");
    }
}

#[test]
fn input_bound_covers_legitimate_draft76_traffic() {
    // As for RFC 6455 above: an allowance of what the connection holds
    // plus `input_bound` of each read never fails traffic within the
    // limits, large messages arriving over many reads included.
    for framing in FRAMINGS {
        for read in [64 * 1024, 10_000, 1460, 7] {
            let mut server = open_server(server_config(framing));
            let mut wire = Vec::new();
            let large = "é✓ text ".repeat(if read < 1000 { 4 * 1024 } else { 64 * 1024 });
            let mut expected = 0;
            for i in 0..4 {
                wire.extend(common::text_frame(framing, large.as_bytes()));
                for _ in 0..50 {
                    wire.extend(common::text_frame(framing, format!("small {i}").as_bytes()));
                }
                expected += 51;
            }
            let mut events = 0;
            for chunk in wire.chunks(read) {
                let allowance = server.buffered_bytes() + server.input_bound(chunk.len());
                server.set_input_allowance(allowance);
                server.handle_input(NOW, chunk);
                for event in drain(&mut server) {
                    assert!(!matches!(event, Event::Error(_)), "{framing:?}, reads of {read}: {event:?}");
                    events += 1;
                }
            }
            assert_eq!(events, expected, "{framing:?}, reads of {read}");
        }
    }
}
