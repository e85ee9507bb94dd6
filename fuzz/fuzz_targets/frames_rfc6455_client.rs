//! RFC 6455 frames from a server (unmasked) to a client that completed a
//! valid handshake. Input: `[flags, split, frames...]` (see
//! `hybi_fuzz::Knobs`; bit 0 is ignored).
#![no_main]

use hybi_core::Protocol;
use hybi_fuzz::{feed_frames, open_client, Knobs, Watch};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let [flags, split, frames @ ..] = data else { return };
    let knobs = Knobs::from_byte(*flags);
    let mut config = knobs.config();
    config.protocol = Protocol::Rfc6455;
    let mut watch = Watch::new(&config);
    let mut conn = open_client(config, None, &mut watch);
    assert!(conn.deflate().is_none());
    feed_frames(&mut conn, &mut watch, frames, *split, &knobs);
});
