//! Compression (RFC 7692, Autobahn 12, 13): negotiation, the RFC's examples,
//! context takeover, window sizes, bombs and the inflation limit.

use crate::harness::*;

/// The RFC 7692 §7.2.3 example `name` (`core/testdata/rfc7692_examples.txt`).
fn example(name: &str) -> Vec<u8> {
    common::named(&rfc7692_examples(), name).bytes("compressed")
}

/// RFC 7692 §7.2.3.1: "Hello" compressed.
static HELLO: LazyLock<Vec<u8>> = LazyLock::new(|| example("hello"));
/// §7.2.3.2: the second "Hello" with the first one's history.
static HELLO_AGAIN: LazyLock<Vec<u8>> = LazyLock::new(|| example("hello again"));

#[test]
fn deflate_server_answers_the_offer() {
    let mut conn = Connection::server(Instant::ZERO, with_deflate());
    conn.handle_input(
        Instant::ZERO,
        request_with("Sec-WebSocket-Extensions: permessage-deflate\r\n").as_bytes(),
    );
    assert_eq!(conn.poll_event(), Some(Event::Request(RequestKind::WebSocket(Protocol::Rfc6455))));
    conn.accept(Accept::default()).unwrap();
    let mut out = Vec::new();
    let _ = conn.poll_transmit(&mut out);
    let response = String::from_utf8(out).unwrap();
    assert_eq!(header_value(&response, "Sec-WebSocket-Extensions"), Some("permessage-deflate"), "{response}");
    assert_eq!(conn.deflate(), Some(&DeflateParams::default()));
    assert_eq!(
        conn.response().unwrap().headers.get_str("Sec-WebSocket-Extensions"),
        Some("permessage-deflate")
    );
}

#[test]
fn deflate_server_without_config_ignores_the_offer() {
    let mut conn = Connection::server(Instant::ZERO, rfc6455());
    conn.handle_input(
        Instant::ZERO,
        request_with("Sec-WebSocket-Extensions: permessage-deflate\r\n").as_bytes(),
    );
    let _ = conn.poll_event();
    conn.accept(Accept::default()).unwrap();
    let mut out = Vec::new();
    let _ = conn.poll_transmit(&mut out);
    let response = String::from_utf8(out).unwrap();
    assert_eq!(header_value(&response, "Sec-WebSocket-Extensions"), None, "{response}");
    assert_eq!(conn.deflate(), None);
}

#[test]
fn deflate_client_offers_and_agrees() {
    let (mut conn, request) = start_client(with_deflate(), &[]);
    assert_eq!(
        header_value(&request, "Sec-WebSocket-Extensions"),
        Some("permessage-deflate; client_max_window_bits"),
        "{request}"
    );
    conn.handle_input(
        Instant::ZERO,
        response_101(&request, "Sec-WebSocket-Extensions: permessage-deflate\r\n").as_bytes(),
    );
    assert_eq!(conn.poll_event(), Some(Event::Open));
    assert_eq!(conn.deflate(), Some(&DeflateParams::default()));
}

#[test]
fn deflate_client_offer_declined() {
    let (mut conn, request) = start_client(with_deflate(), &[]);
    conn.handle_input(Instant::ZERO, response_101(&request, "").as_bytes());
    assert_eq!(conn.poll_event(), Some(Event::Open));
    assert_eq!(conn.deflate(), None);
    conn.send_text("plain").unwrap();
    let mut out = Vec::new();
    let _ = conn.poll_transmit(&mut out);
    assert_eq!(parse_frames(&out)[0].0, sent(FIN | TEXT, b"plain"));
    // Without the agreement RSV1 is a violation again.
    conn.handle_input(Instant::ZERO, &rfc6455_frame(FIN | RSV1 | TEXT, &HELLO, None));
    assert_eq!(conn.poll_event(), Some(Event::Error(protocol(ProtocolError::ReservedBits))));
}

#[test]
fn deflate_no_context_takeover_negotiated_and_honoured() {
    let message = "no context takeover, no context takeover, no context takeover";
    // Server: the client asks for server_no_context_takeover.
    let offer = "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover\r\n";
    let mut conn = Connection::server(Instant::ZERO, with_deflate());
    conn.handle_input(Instant::ZERO, request_with(offer).as_bytes());
    let _ = conn.poll_event();
    conn.accept(Accept::default()).unwrap();
    assert_eq!(conn.poll_event(), Some(Event::Open));
    let mut out = Vec::new();
    let _ = conn.poll_transmit(&mut out);
    let response = String::from_utf8(out).unwrap();
    let agreed = header_value(&response, "Sec-WebSocket-Extensions").unwrap();
    assert!(agreed.starts_with("permessage-deflate"), "{agreed}");
    assert!(agreed.contains("server_no_context_takeover"), "{agreed}");
    assert!(agreed.contains("client_no_context_takeover"), "{agreed}");
    let params = *conn.deflate().unwrap();
    assert!(params.server_no_context_takeover && params.client_no_context_takeover);
    let mut server = Peer { conn, role: Role::Server, masks: 0 };

    // Client: offers both and gets them.
    let config = Config {
        deflate: Some(DeflateConfig {
            server_no_context_takeover: true,
            client_no_context_takeover: true,
            ..DeflateConfig::default()
        }),
        ..rfc6455()
    };
    let (mut conn, request) = start_client(config, &[]);
    let offered = header_value(&request, "Sec-WebSocket-Extensions").unwrap();
    assert!(offered.contains("server_no_context_takeover"), "{offered}");
    assert!(offered.contains("client_no_context_takeover"), "{offered}");
    let answer = "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover\r\n";
    conn.handle_input(Instant::ZERO, response_101(&request, answer).as_bytes());
    assert_eq!(conn.poll_event(), Some(Event::Open));
    assert_eq!(conn.deflate(), Some(&params));
    let mut client = Peer { conn, role: Role::Client, masks: 0 };

    for p in [&mut server, &mut client] {
        let role = p.role;
        // Each message is compressed alone: a receiver with no history (a
        // fresh inflater for every message) reads each one.
        for _ in 0..3 {
            p.conn.send_text(message).unwrap();
        }
        let frames = p.sent();
        assert_eq!(frames.len(), 3);
        for (i, frame) in frames.iter().enumerate() {
            assert_eq!(frame.b0, FIN | RSV1 | TEXT);
            let mut out = Vec::new();
            let mut fresh = Decompressor::new(&params, other(role));
            fresh.decompress_message(&frame.payload, &mut out, 1 << 20).unwrap();
            assert_eq!(String::from_utf8_lossy(&out), message, "{role:?}: message {i} needs history");
        }
        // And it reads messages compressed without history.
        let frames = [p.frame(FIN | RSV1 | TEXT, &HELLO), p.frame(FIN | RSV1 | TEXT, &HELLO)].concat();
        p.feed(&frames);
        p.expect(&[Event::Text("Hello".into()), Event::Text("Hello".into())], &[], &format!("{role:?}"));
    }
}

/// Inflates one message with C zlib limited to a `2^bits` window. Output is
/// taken a few bytes at a time, so zlib keeps only its window as history and
/// refuses any back-reference further than that.
fn zlib_inflate(payload: &[u8], bits: u8) -> Result<Vec<u8>, flate2::DecompressError> {
    let mut inflater = flate2::Decompress::new_with_window_bits(false, bits);
    let input = [payload, &[0x00, 0x00, 0xff, 0xff][..]].concat();
    let mut out = Vec::new();
    let mut step = Vec::with_capacity(64);
    loop {
        step.clear();
        let consumed = inflater.total_in() as usize;
        inflater.decompress_vec(&input[consumed..], &mut step, flate2::FlushDecompress::Sync)?;
        out.extend_from_slice(&step);
        if step.is_empty() && inflater.total_in() as usize == input.len() {
            return Ok(out);
        }
    }
}

#[test]
fn deflate_small_window_negotiated_and_honoured() {
    // Autobahn 13.x: the window each side may compress with is negotiated.
    // A random kilobyte of letters, six times: only matches 1 KiB back.
    let block: Vec<u8> = incompressible(1024).iter().map(|b| b'a' + b % 26).collect();
    let message = String::from_utf8(block.repeat(6)).unwrap();
    // Control: with a 32 KiB window the repeats are used, and zlib with a
    // small window refuses them.
    assert!(zlib_inflate(&compress(Role::Client, message.as_bytes()), 9).is_err());
    for bits in [9u8, 10] {
        // Server: the client's offer limits the server's window.
        let offer =
            format!("Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits={bits}\r\n");
        let server = Peer::server(with_deflate(), &offer);
        assert_eq!(server.conn.deflate().unwrap().server_max_window_bits, bits);

        // Client: the server's answer limits the client's window.
        let (mut conn, request) = start_client(with_deflate(), &[]);
        let answer =
            format!("Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits={bits}\r\n");
        conn.handle_input(Instant::ZERO, response_101(&request, &answer).as_bytes());
        assert_eq!(conn.poll_event(), Some(Event::Open));
        assert_eq!(conn.deflate().unwrap().client_max_window_bits, bits);
        let client = Peer { conn, role: Role::Client, masks: 0 };

        for mut p in [server, client] {
            p.conn.send_text(&message).unwrap();
            p.conn.send_text(&message).unwrap();
            for (i, frame) in p.sent().iter().enumerate() {
                let out = zlib_inflate(&frame.payload, bits)
                    .unwrap_or_else(|e| panic!("{:?} window {bits} message {i}: {e}", p.role));
                assert!(out == message.as_bytes(), "{:?} window {bits} message {i}", p.role);
            }
        }
    }
}

#[test]
fn deflate_rfc7692_hello() {
    for role in ROLES {
        let mut p = open_deflate(role, with_deflate());
        let frame = p.frame(FIN | RSV1 | TEXT, &HELLO);
        if role == Role::Client {
            assert_eq!(frame, common::named(&rfc7692_examples(), "hello").bytes("frame"));
            assert_eq!(frame, [0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]);
        }
        p.feed(&frame);
        p.expect(&[Event::Text("Hello".into())], &[], &format!("{role:?}"));
        // The same bytes fed one at a time.
        let mut p = open_deflate(role, with_deflate());
        let frame = p.frame(FIN | RSV1 | TEXT, &HELLO);
        p.feed_bytewise(&frame);
        p.expect(&[Event::Text("Hello".into())], &[], &format!("{role:?} bytewise"));
    }
}

#[test]
fn deflate_rfc7692_hello_twice_with_context_takeover() {
    for role in ROLES {
        let mut p = open_deflate(role, with_deflate());
        let frames = [p.frame(FIN | RSV1 | TEXT, &HELLO), p.frame(FIN | RSV1 | TEXT, &HELLO_AGAIN)].concat();
        p.feed(&frames);
        p.expect(&[Event::Text("Hello".into()), Event::Text("Hello".into())], &[], &format!("{role:?}"));
    }
}

#[test]
fn deflate_rfc7692_other_encodings() {
    let examples = rfc7692_examples();
    let cases: Vec<(&str, Vec<u8>)> = ["stored block", "bfinal set", "two blocks"]
        .into_iter()
        .map(|name| (name, common::named(&examples, name).bytes("compressed")))
        .collect();
    for role in ROLES {
        for (name, payload) in &cases {
            let mut p = open_deflate(role, with_deflate());
            let frame = p.frame(FIN | RSV1 | TEXT, payload);
            p.feed(&frame);
            let text = common::named(&examples, name).text("text");
            p.expect(&[Event::Text(text.into())], &[], &format!("{role:?} {name}"));
        }
    }
}

#[test]
fn deflate_uncompressed_messages_still_allowed() {
    for role in ROLES {
        let mut p = open_deflate(role, with_deflate());
        let frames =
            [p.frame(FIN | TEXT, b"plain"), p.frame(FIN | RSV1 | TEXT, &HELLO), p.frame(FIN | BINARY, &[1])]
                .concat();
        p.feed(&frames);
        let events = [Event::Text("plain".into()), Event::Text("Hello".into()), Event::Binary(vec![1])];
        p.expect(&events, &[], &format!("{role:?}"));
    }
}

#[test]
fn deflate_rsv1_on_continuation_fails() {
    for role in ROLES {
        let mut p = open_deflate(role, with_deflate());
        let frames = [p.frame(RSV1 | TEXT, &HELLO[..3]), p.frame(FIN | RSV1 | CONT, &HELLO[3..])].concat();
        p.feed(&frames);
        let error = protocol(ProtocolError::ReservedBits);
        p.expect_failure(&[], &[], error, 1002, &format!("{role:?}"));
    }
}

#[test]
fn deflate_rsv1_on_control_frames_fails() {
    for role in ROLES {
        for (name, b0, payload) in [
            ("ping", FIN | PING, &b""[..]),
            ("pong", FIN | PONG, &b"x"[..]),
            ("close", FIN | CLOSE, &b"\x03\xe8"[..]),
        ] {
            let mut p = open_deflate(role, with_deflate());
            let frame = p.frame(b0 | RSV1, payload);
            p.feed(&frame);
            let error = protocol(ProtocolError::ReservedBits);
            p.expect_failure(&[], &[], error, 1002, &format!("{role:?} {name}"));
        }
    }
}

#[test]
fn deflate_rsv2_and_rsv3_still_fail() {
    for role in ROLES {
        for bits in [RSV2, RSV3, RSV1 | RSV2] {
            let mut p = open_deflate(role, with_deflate());
            let frame = p.frame(FIN | TEXT | bits, &HELLO);
            p.feed(&frame);
            let error = protocol(ProtocolError::ReservedBits);
            p.expect_failure(&[], &[], error, 1002, &format!("{role:?} {bits:#x}"));
        }
    }
}

#[test]
fn deflate_corrupt_data_fails_1007() {
    for role in ROLES {
        for (name, payload) in [
            ("reserved block type", &[0xff, 0xff, 0xff, 0xff][..]),
            ("stored block with bad NLEN", &[0x00, 0x05, 0x00, 0x00, 0x00, b'H', b'e', b'l', b'l', b'o'][..]),
        ] {
            let mut p = open_deflate(role, with_deflate());
            let frame = p.frame(FIN | RSV1 | TEXT, payload);
            p.feed(&frame);
            let error = protocol(ProtocolError::BadCompressedData);
            p.expect_failure(&[], &[], error, 1007, &format!("{role:?} {name}"));
        }
    }
}

#[test]
fn deflate_inflated_text_must_be_utf8() {
    for role in ROLES {
        let mut p = open_deflate(role, with_deflate());
        let frame = p.frame(FIN | RSV1 | TEXT, &compress(role, b"abc\xed\xa0\x80def"));
        p.feed(&frame);
        p.expect_failure(&[], &[], protocol(ProtocolError::InvalidUtf8), 1007, &format!("{role:?}"));
    }
}

#[test]
fn deflate_bomb_fails_1009() {
    const LIMIT: usize = 64 * 1024;
    for role in ROLES {
        let mut p = open_deflate(
            role,
            Config { limits: Limits { max_message_size: LIMIT, ..Limits::default() }, ..with_deflate() },
        );
        let bomb = compress(role, &vec![0; 1 << 20]);
        assert!(bomb.len() < 8 * 1024, "1 MiB of zeros compresses to {} bytes", bomb.len());
        let frame = p.frame(FIN | RSV1 | BINARY, &bomb);
        let largest = largest_allocation_in(|| p.feed(&frame));
        let error = Error::Limit(LimitError::MessageTooLarge { limit: LIMIT });
        p.expect_failure(&[], &[], error, 1009, &format!("{role:?}"));
        assert!(largest <= 4 * LIMIT, "{role:?}: inflating allocated {largest} bytes at once");
    }
}

const DEFLATE_LIMIT: usize = 64 * 1024;

fn deflate_limited(max_message_size: usize) -> Config {
    Config { limits: Limits { max_message_size, ..Limits::default() }, ..with_deflate() }
}

/// Bytes that do not compress, so the compressed form is about as long as
/// the message.
fn incompressible(len: usize) -> Vec<u8> {
    Seeded::new(0x9e37_79b9_7f4a_7c15).bytes(len)
}

/// How a compressed message reaches the connection.
#[derive(Clone, Copy, Debug)]
enum Delivery {
    OneFrame,
    TwoFrames,
    OneFrameByteByByte,
}

/// A compressed message whose inflated size is within max_message_size must
/// be delivered, however its frames and reads are cut.
fn deflate_within_limit(limit: usize, data: &[u8], delivery: Delivery) {
    for role in ROLES {
        let compressed = compress(role, data);
        let mut p = open_deflate(role, deflate_limited(limit));
        let bytes = match delivery {
            Delivery::OneFrame | Delivery::OneFrameByteByByte => p.frame(FIN | RSV1 | BINARY, &compressed),
            Delivery::TwoFrames => {
                let half = compressed.len() / 2;
                [p.frame(RSV1 | BINARY, &compressed[..half]), p.frame(FIN | CONT, &compressed[half..])]
                    .concat()
            }
        };
        match delivery {
            Delivery::OneFrameByteByByte => p.feed_bytewise(&bytes),
            _ => p.feed(&bytes),
        }
        let ctx =
            format!("{role:?}: {} bytes inflated, {} compressed, {delivery:?}", data.len(), compressed.len());
        p.expect(&[Event::Binary(data.to_vec())], &[], &ctx);
    }
}

#[test]
fn deflate_quarter_of_the_limit_inflates() {
    deflate_within_limit(DEFLATE_LIMIT, &binary_of_len(DEFLATE_LIMIT / 4), Delivery::OneFrame);
    deflate_within_limit(DEFLATE_LIMIT, &binary_of_len(DEFLATE_LIMIT / 4), Delivery::TwoFrames);
}

#[test]
fn deflate_half_the_limit_inflates() {
    deflate_within_limit(DEFLATE_LIMIT, &binary_of_len(DEFLATE_LIMIT / 2), Delivery::OneFrame);
    deflate_within_limit(DEFLATE_LIMIT, &binary_of_len(DEFLATE_LIMIT / 2), Delivery::TwoFrames);
}

#[test]
fn deflate_over_half_the_limit_in_one_frame_inflates() {
    deflate_within_limit(DEFLATE_LIMIT, &binary_of_len(DEFLATE_LIMIT / 2 + 1), Delivery::OneFrame);
}

#[test]
fn deflate_three_quarters_of_the_limit_in_two_frames_inflates() {
    deflate_within_limit(DEFLATE_LIMIT, &binary_of_len(3 * DEFLATE_LIMIT / 4), Delivery::TwoFrames);
}

#[test]
fn deflate_exactly_the_limit_in_one_frame_inflates() {
    deflate_within_limit(DEFLATE_LIMIT, &binary_of_len(DEFLATE_LIMIT), Delivery::OneFrame);
}

#[test]
fn deflate_incompressible_48_kib_in_one_frame_inflates() {
    // The compressed payload is longer than the reader's 32 KiB piece.
    deflate_within_limit(DEFLATE_LIMIT, &incompressible(48 * 1024), Delivery::OneFrame);
}

#[test]
fn deflate_under_half_the_limit_fed_one_byte_at_a_time_inflates() {
    // A small limit keeps this quick: every read is inflated on its own.
    deflate_within_limit(4096, &incompressible(1500), Delivery::OneFrameByteByByte);
}

#[test]
fn deflate_over_half_the_limit_fed_one_byte_at_a_time_inflates() {
    deflate_within_limit(4096, &incompressible(3000), Delivery::OneFrameByteByByte);
}

#[test]
fn deflate_9_mib_with_default_limits_inflates() {
    // The same with the default 16 MiB limit: any compressed message over
    // 8 MiB.
    let data = binary_of_len(9 << 20);
    for role in ROLES {
        let mut p = open_deflate(role, with_deflate());
        let frame = p.frame(FIN | RSV1 | BINARY, &compress(role, &data));
        p.feed(&frame);
        let events = p.events();
        assert!(
            events.len() == 1 && events[0] == Event::Binary(data.clone()),
            "{role:?}: {}",
            describe(&events)
        );
    }
}

#[test]
fn deflate_one_byte_over_the_limit_fails_1009() {
    for role in ROLES {
        for data in [binary_of_len(DEFLATE_LIMIT + 1), incompressible(DEFLATE_LIMIT + 1)] {
            let mut p = open_deflate(role, deflate_limited(DEFLATE_LIMIT));
            let frame = p.frame(FIN | RSV1 | BINARY, &compress(role, &data));
            p.feed(&frame);
            let error = Error::Limit(LimitError::MessageTooLarge { limit: DEFLATE_LIMIT });
            p.expect_failure(&[], &[], error, 1009, &format!("{role:?} one byte over"));
        }
    }
}

#[test]
fn deflate_fragmented_message() {
    for role in ROLES {
        let text = text_of_len(5000);
        let compressed = compress(role, text.as_bytes());
        for sizes in [&[1usize, 1, 1][..], &[3, 0, 5], &[1; 64]] {
            let mut p = open_deflate(role, with_deflate());
            let mut bytes = fragments(&mut p, TEXT, &compressed, sizes);
            bytes[0] |= RSV1;
            p.feed(&bytes);
            p.expect(&[Event::Text(text.clone())], &[], &format!("{role:?} {sizes:?}"));
        }
        // With a ping between the fragments.
        let mut p = open_deflate(role, with_deflate());
        let frames =
            [p.frame(RSV1 | TEXT, &HELLO[..2]), p.frame(FIN | PING, b"p"), p.frame(FIN | CONT, &HELLO[2..])]
                .concat();
        p.feed_bytewise(&frames);
        let events = [Event::Ping(b"p".to_vec()), Event::Text("Hello".into())];
        p.expect(&events, &[sent(FIN | PONG, b"p")], &format!("{role:?} ping between"));
    }
}

#[test]
fn deflate_own_sends_decode_with_context_takeover() {
    for role in ROLES {
        let mut p = open_deflate(role, with_deflate());
        let messages = [
            "A message that repeats itself.",
            "A message that repeats itself.",
            "A message that repeats itself!",
        ];
        for m in messages {
            p.conn.send_text(m).unwrap();
        }
        let frames = p.sent();
        assert_eq!(frames.len(), 3);
        let params = *p.conn.deflate().unwrap();
        let mut inflater = Decompressor::new(&params, other(role));
        let mut sizes = Vec::new();
        for (frame, m) in frames.iter().zip(messages) {
            assert_eq!(frame.b0, FIN | RSV1 | TEXT, "{role:?}: compressed messages carry RSV1");
            let mut out = Vec::new();
            inflater.decompress_message(&frame.payload, &mut out, 1 << 20).unwrap();
            assert_eq!(out, m.as_bytes(), "{role:?}");
            sizes.push(frame.payload.len());
        }
        // The history carried over: repeats compress to much less.
        assert!(sizes[1] < sizes[0] / 2 && sizes[2] < sizes[0] / 2, "{role:?}: sizes {sizes:?}");
        // And the peer side of this crate reads them.
        let mut q = open_deflate(other(role), with_deflate());
        for frame in &frames {
            let bytes = q.frame(frame.b0, &frame.payload);
            q.feed(&bytes);
        }
        let events: Vec<Event> = messages.iter().map(|m| Event::Text(m.to_string())).collect();
        q.expect(&events, &[], &format!("{role:?} read back"));
    }
}

#[test]
fn deflate_own_empty_and_binary_sends() {
    for role in ROLES {
        let mut p = open_deflate(role, with_deflate());
        p.conn.send_text("").unwrap();
        p.conn.send_binary(&binary_of_len(70_000)).unwrap();
        let frames = p.sent();
        let params = *p.conn.deflate().unwrap();
        let mut inflater = Decompressor::new(&params, other(role));
        let mut out = Vec::new();
        inflater.decompress_message(&frames[0].payload, &mut out, 1 << 20).unwrap();
        assert_eq!(out, b"");
        out.clear();
        inflater.decompress_message(&frames[1].payload, &mut out, 1 << 20).unwrap();
        assert_eq!(out, binary_of_len(70_000));
        assert_eq!(frames[1].b0, FIN | RSV1 | BINARY);
    }
}
