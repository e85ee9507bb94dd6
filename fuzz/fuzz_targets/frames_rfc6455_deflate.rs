//! RFC 6455 frames with permessage-deflate negotiated, in either role.
//! Input: `[flags, split, variant, frames...]`: flags as in
//! `hybi_fuzz::Knobs` (bit 0: client); `variant % 8` picks the server's
//! response (client role) or the client's offer (server role) from
//! `DEFLATE_RESPONSES` / `DEFLATE_OFFERS`, `variant / 8` the server's own
//! `DeflateConfig`.
#![no_main]

use hybi_core::Protocol;
use hybi_fuzz::{
    deflate_config, feed_frames, open_client, open_server, rfc6455_request, Knobs, Watch, DEFLATE_OFFERS,
    DEFLATE_RESPONSES,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let [flags, split, variant, frames @ ..] = data else { return };
    let knobs = Knobs::from_byte(*flags);
    let mut config = knobs.config();
    config.protocol = Protocol::Rfc6455;
    let pick = usize::from(*variant % 8);
    config.deflate = Some(deflate_config(if knobs.client { 0 } else { *variant / 8 }));
    let mut watch = Watch::new(&config);
    let mut conn = if knobs.client {
        open_client(config, Some(DEFLATE_RESPONSES[pick]), &mut watch)
    } else {
        open_server(config, &rfc6455_request(Some(DEFLATE_OFFERS[pick])), &mut watch)
    };
    assert!(conn.deflate().is_some(), "permessage-deflate was not agreed");
    feed_frames(&mut conn, &mut watch, frames, *split, &knobs);
});
