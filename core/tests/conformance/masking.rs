//! Masking (RFC 6455 §5.1, §5.3): a server fails unmasked frames, a client
//! masked ones; a client masks every frame with a fresh key.

use crate::harness::*;

#[test]
fn server_fails_unmasked_frames() {
    for (name, b0, payload) in [
        ("text", FIN | TEXT, &b"Hello"[..]),
        ("binary", FIN | BINARY, &b"\x00"[..]),
        ("empty text", FIN | TEXT, &b""[..]),
        ("ping", FIN | PING, &b""[..]),
        ("close", FIN | CLOSE, &b"\x03\xe8"[..]),
        ("first fragment", TEXT, &b"He"[..]),
    ] {
        let mut p = Peer::open(Role::Server, rfc6455());
        p.feed(&rfc6455_frame(b0, payload, None));
        let error = protocol(ProtocolError::UnmaskedFrame);
        p.expect_failure(&[], &[], error, 1002, name);
    }
    // An unmasked continuation of a masked first fragment.
    let mut p = Peer::open(Role::Server, rfc6455());
    let first = p.frame(TEXT, b"He");
    p.feed(&[first, rfc6455_frame(FIN | CONT, b"llo", None)].concat());
    p.expect_failure(&[], &[], protocol(ProtocolError::UnmaskedFrame), 1002, "continuation");
}

#[test]
fn client_fails_masked_frames() {
    for (name, b0, payload) in [
        ("text", FIN | TEXT, &b"Hello"[..]),
        ("binary", FIN | BINARY, &b"\x00"[..]),
        ("ping", FIN | PING, &b""[..]),
        ("close", FIN | CLOSE, &b"\x03\xe8"[..]),
    ] {
        let mut p = Peer::open(Role::Client, rfc6455());
        p.feed(&rfc6455_frame(b0, payload, Some([0x37, 0xfa, 0x21, 0x3d])));
        let error = protocol(ProtocolError::MaskedFrame);
        p.expect_failure(&[], &[], error, 1002, name);
    }
    // A zero masking key still marks the frame masked.
    let mut p = Peer::open(Role::Client, rfc6455());
    p.feed(&rfc6455_frame(FIN | TEXT, b"Hello", Some([0; 4])));
    p.expect_failure(&[], &[], protocol(ProtocolError::MaskedFrame), 1002, "zero key");
}

#[test]
fn client_masks_every_frame_with_a_fresh_key() {
    let mut p = Peer::open(Role::Client, rfc6455());
    for i in 0..100 {
        match i % 4 {
            0 => p.conn.send_text("Hello").unwrap(),
            1 => p.conn.send_binary(&[0; 16]).unwrap(),
            2 => p.conn.send_ping(b"ping").unwrap(),
            _ => p.conn.send_pong(b"").unwrap(),
        }
    }
    let raw = p.transmitted();
    let frames = parse_frames(&raw);
    assert_eq!(frames.len(), 100);
    let keys: HashSet<[u8; 4]> =
        frames.iter().map(|(_, mask)| mask.expect("client frames are masked")).collect();
    assert_eq!(keys.len(), 100, "masking keys repeat");
    // The payloads unmask to what was sent.
    for (i, (frame, _)) in frames.iter().enumerate() {
        let expected = match i % 4 {
            0 => sent(FIN | TEXT, b"Hello"),
            1 => sent(FIN | BINARY, &[0; 16]),
            2 => sent(FIN | PING, b"ping"),
            _ => sent(FIN | PONG, b""),
        };
        assert_eq!(*frame, expected, "frame {i}");
    }
    // Automatic pongs and the close are masked too.
    let ping = p.frame(FIN | PING, b"x");
    p.feed(&ping);
    p.conn.close(Instant::ZERO, Some(1000), "").unwrap();
    let _ = p.events();
    let raw = p.transmitted();
    assert!(parse_frames(&raw).iter().all(|(_, mask)| mask.is_some()), "{raw:02x?}");
}

#[test]
fn server_never_masks() {
    let mut p = Peer::open(Role::Server, rfc6455());
    p.conn.send_text("Hello").unwrap();
    p.conn.send_binary(&[1, 2, 3]).unwrap();
    p.conn.send_ping(b"p").unwrap();
    p.conn.send_fragment(true, b"a", false).unwrap();
    p.conn.send_fragment(true, b"b", true).unwrap();
    let ping = p.frame(FIN | PING, b"q");
    p.feed(&ping);
    p.conn.close(Instant::ZERO, Some(1001), "").unwrap();
    let _ = p.events();
    let expected = [
        &[0x81, 0x05, b'H', b'e', b'l', b'l', b'o'][..],
        &[0x82, 0x03, 1, 2, 3],
        &[0x89, 0x01, b'p'],
        &[0x02, 0x01, b'a'],
        &[0x80, 0x01, b'b'],
        &[0x8a, 0x01, b'q'],
        &[0x88, 0x02, 0x03, 0xe9],
    ]
    .concat();
    assert_eq!(p.transmitted(), expected);
}
