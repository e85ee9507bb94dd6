//! RFC 6455 frames from a client (they must be masked) to a server that
//! accepted a valid request. Input: `[flags, split, frames...]` (see
//! `hybi_fuzz::Knobs`; bit 0 is ignored).
#![no_main]

use hybi_core::Protocol;
use hybi_fuzz::{feed_frames, open_server, rfc6455_request, Knobs, Watch};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let [flags, split, frames @ ..] = data else { return };
    let knobs = Knobs::from_byte(*flags);
    let config = knobs.config();
    let mut watch = Watch::new(&config);
    let mut conn = open_server(config, &rfc6455_request(None), &mut watch);
    assert_eq!(conn.protocol(), Some(Protocol::Rfc6455));
    assert!(conn.deflate().is_none());
    feed_frames(&mut conn, &mut watch, frames, *split, &knobs);
});
