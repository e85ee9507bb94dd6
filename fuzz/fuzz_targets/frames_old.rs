//! Draft-76 framing 'old' after a valid handshake, in either role.
//! Input: `[flags, split, frames...]` (see `hybi_fuzz::Knobs`).
#![no_main]

use hybi_core::{Error, Event, Framing, Protocol, ProtocolError};
use hybi_fuzz::{draft76_request, feed_frames, open_client, open_server, Knobs, Watch};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let [flags, split, frames @ ..] = data else { return };
    let knobs = Knobs::from_byte(*flags);
    let mut config = knobs.config();
    config.protocol = Protocol::Draft76(Framing::Old);
    config.framing = Framing::Old;
    let mut watch = Watch::new(&config);
    let mut conn = if knobs.client {
        open_client(config, None, &mut watch)
    } else {
        open_server(config, &draft76_request(), &mut watch)
    };
    assert_eq!(conn.protocol(), Some(Protocol::Draft76(Framing::Old)));
    feed_frames(&mut conn, &mut watch, frames, *split, &knobs);
    if knobs.replace_utf8 {
        assert_ne!(watch.finished, Some(Event::Error(Error::Protocol(ProtocolError::InvalidUtf8))));
    }
});
