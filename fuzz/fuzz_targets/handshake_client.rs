//! Fuzz bytes as the server's response to a client, and whatever follows
//! it (the draft-76 answer, frames). The client's entropy is fixed, so its
//! keys and nonce are the same on every run and the seeds carry the valid
//! answers for them.
//!
//! Input: `[flags, split, variant, bytes...]`.
//! flags: bits 0–1 protocol (draft-76 'old', draft-76 'new', RFC 6455,
//! RFC 6455 offering permessage-deflate as `deflate_config(variant)`),
//! bit 2 offer subprotocols, bit 3 send `Origin`, bit 4 end of stream
//! after the input, bit 5 tiny limits, bit 6 streaming, bit 7 try commands
//! between reads.
#![no_main]

use hybi_core::{ClientRequest, Error, Event, Framing, Header, Protocol};
use hybi_fuzz::{client, deflate_config, feed_frames, target, Knobs, Watch, SMALL, TINY};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let [flags, split, variant, input @ ..] = data else { return };
    let bit = |n: u8| flags & (1 << n) != 0;
    let knobs = Knobs {
        client: true,
        streaming: bit(6),
        replace_utf8: false,
        no_auto_pong: false,
        eof: bit(4),
        commands: bit(7),
        tiny: bit(5),
        unlimited: false,
    };
    let mut config = knobs.config();
    config.limits = if bit(5) { TINY } else { SMALL };
    config.protocol = match flags & 3 {
        0 => Protocol::Draft76(Framing::Old),
        1 => Protocol::Draft76(Framing::New),
        _ => Protocol::Rfc6455,
    };
    if flags & 3 == 3 {
        config.deflate = Some(deflate_config(*variant));
    }
    let draft76 = matches!(config.protocol, Protocol::Draft76(_));
    let mut request = ClientRequest::new(target());
    if bit(2) {
        request.subprotocols =
            if draft76 { vec!["chat".into()] } else { vec!["chat".into(), "superchat".into()] };
    }
    if bit(3) {
        request.headers.push(Header::new("Origin", "http://example.com"));
    }
    let offered = request.subprotocols.clone();
    let offered_deflate = config.deflate.is_some();
    let mut watch = Watch::new(&config);
    let (mut conn, _request) = client(config, request);
    feed_frames(&mut conn, &mut watch, input, *split, &knobs);

    let response = conn.response();
    if watch.opened {
        assert_eq!(response.map(|r| r.status), Some(101), "opened without a 101");
        if let Some(p) = conn.subprotocol() {
            assert!(offered.iter().any(|o| o == p), "agreed on {p:?}, offered {offered:?}");
        }
        if conn.deflate().is_some() {
            assert!(offered_deflate, "compression agreed without an offer");
        }
    }
    if let Some(Event::Error(Error::Rejected { status })) = &watch.finished {
        assert!(!watch.opened);
        assert_ne!(*status, 101);
        assert_eq!(response.map(|r| r.status), Some(*status));
    }
});
