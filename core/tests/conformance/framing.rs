//! Framing (Autobahn 1, 3, 4): every length encoding, several messages per read,
//! frames pipelined with the handshake, reserved bits and reserved opcodes.

use crate::harness::*;
use hybi_core::testing::{every_chunking, sparse_splits, Chunking};

const LENGTHS: [usize; 7] = [0, 125, 126, 127, 128, 65535, 65536];

#[test]
fn framing_encoder_agrees_with_hand_built_frames() {
    let key = [0x37, 0xfa, 0x21, 0x3d];
    for len in LENGTHS {
        let payload = binary_of_len(len);
        for mask in [None, Some(key)] {
            let mut encoded = Vec::new();
            wire::encode_frame(&mut encoded, true, false, OpCode::Binary, &payload, mask);
            assert_eq!(encoded, rfc6455_frame(FIN | BINARY, &payload, mask), "len {len} mask {mask:?}");
        }
    }
    // The three length encodings at their boundaries.
    assert_eq!(rfc6455_header(0x81, 125, None), [0x81, 0x7d]);
    assert_eq!(rfc6455_header(0x81, 126, None), [0x81, 0x7e, 0x00, 0x7e]);
    assert_eq!(rfc6455_header(0x81, 65535, None), [0x81, 0x7e, 0xff, 0xff]);
    assert_eq!(rfc6455_header(0x81, 65536, None), [0x81, 0x7f, 0, 0, 0, 0, 0, 0x01, 0, 0]);
    // RFC 6455 §5.7.
    assert_eq!(
        rfc6455_frame(0x81, b"Hello", Some(key)),
        [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]
    );
    // Every §5.7 example (core/testdata/rfc6455_examples.txt), built by hand
    // and by the crate's encoder.
    let mut frames = 0;
    for example in rfc6455_examples().iter().filter(|v| v.has("b0")) {
        let name = example.text("name");
        let b0 = example.bytes("b0")[0];
        let mask = example.has("mask").then(|| <[u8; 4]>::try_from(example.bytes("mask")).unwrap());
        if example.has("frame") {
            let payload = example.bytes("payload");
            let frame = example.bytes("frame");
            assert_eq!(rfc6455_frame(b0, &payload, mask), frame, "{name}");
            let opcode = OpCode::from_u4(b0);
            let mut encoded = Vec::new();
            wire::encode_frame(&mut encoded, b0 & FIN != 0, false, opcode, &payload, mask);
            assert_eq!(encoded, frame, "{name}: the crate's encoder");
            frames += 1;
        } else {
            let len = example.bytes("length").iter().fold(0u64, |n, &b| n << 8 | u64::from(b));
            assert_eq!(rfc6455_header(b0, len, mask), example.bytes("header"), "{name}");
        }
    }
    assert_eq!(frames, 6, "every whole §5.7 frame was checked");
}

fn deliver_each_length(binary: bool, bytewise: bool) {
    for role in ROLES {
        let mut p = Peer::open(role, rfc6455());
        for len in LENGTHS {
            let (b0, event, payload) = if binary {
                let data = binary_of_len(len);
                (FIN | BINARY, Event::Binary(data.clone()), data)
            } else {
                let text = text_of_len(len);
                (FIN | TEXT, Event::Text(text.clone()), text.into_bytes())
            };
            let frame = p.frame(b0, &payload);
            if bytewise {
                p.feed_bytewise(&frame);
            } else {
                p.feed(&frame);
            }
            p.expect(&[event], &[], &format!("{role:?} len {len} binary {binary} bytewise {bytewise}"));
            assert_eq!(p.conn.state(), State::Open);
        }
    }
}

#[test]
fn framing_text_of_each_length_delivered_intact() {
    deliver_each_length(false, false);
}

#[test]
fn framing_binary_of_each_length_delivered_intact() {
    deliver_each_length(true, false);
}

#[test]
fn framing_text_of_each_length_fed_one_byte_at_a_time() {
    deliver_each_length(false, true);
}

#[test]
fn framing_binary_of_each_length_fed_one_byte_at_a_time() {
    deliver_each_length(true, true);
}

#[test]
fn framing_frames_built_by_the_crate_encoder_are_delivered() {
    for role in ROLES {
        let mut p = Peer::open(role, rfc6455());
        let bytes = [
            p.encoded(true, false, OpCode::Text, "héllo".as_bytes()),
            p.encoded(true, false, OpCode::Binary, &[0, 1, 2]),
            p.encoded(false, false, OpCode::Text, b"ab"),
            p.encoded(true, false, OpCode::Continuation, b"cd"),
        ]
        .concat();
        p.feed(&bytes);
        let events = [Event::Text("héllo".into()), Event::Binary(vec![0, 1, 2]), Event::Text("abcd".into())];
        p.expect(&events, &[], &format!("{role:?}"));
    }
}

#[test]
fn framing_own_sends_of_each_length_are_exact() {
    for role in ROLES {
        let mut p = Peer::open(role, rfc6455());
        for len in LENGTHS {
            let text = text_of_len(len);
            p.conn.send_text(&text).unwrap();
            let data = binary_of_len(len);
            p.conn.send_binary(&data).unwrap();
            p.expect(
                &[],
                &[sent(FIN | TEXT, text.as_bytes()), sent(FIN | BINARY, &data)],
                &format!("{role:?} {len}"),
            );
        }
    }
}

/// A server's header for a payload the driver writes itself, followed by
/// that payload, is byte for byte what `send_text` / `send_binary` queue.
#[test]
fn framing_verbatim_header_plus_payload_is_the_whole_frame() {
    let mut p = Peer::open(Role::Server, rfc6455());
    for len in LENGTHS {
        let text = text_of_len(len);
        let data = binary_of_len(len);
        for (binary, payload) in [(false, text.as_bytes()), (true, &data[..])] {
            assert_eq!(p.conn.send_verbatim_header(binary, len), Ok(true), "{len}");
            let mut direct = p.transmitted();
            direct.extend_from_slice(payload);
            if binary {
                p.conn.send_binary(&data).unwrap();
            } else {
                p.conn.send_text(&text).unwrap();
            }
            assert!(direct == p.transmitted(), "{len} bytes, binary: {binary}");
        }
    }
    // Not while a fragmented message is being sent: its fragments would
    // be interleaved with another message.
    p.conn.send_fragment(false, b"part", false).unwrap();
    let _ = p.transmitted();
    assert_eq!(p.conn.send_verbatim_header(true, 10), Err(Misuse::MessageInProgress));
    assert_eq!(p.transmitted(), []);
}

/// Where the payload is not sent as it is, `send_verbatim_header` queues
/// nothing and says so: a client masks, deflate compresses (draft-76: in
/// `draft76_errors.rs`). Once closed it is not open, as for any send.
#[test]
fn framing_verbatim_header_only_where_the_payload_goes_verbatim() {
    let mut client = Peer::open(Role::Client, rfc6455());
    assert_eq!(client.conn.send_verbatim_header(true, 1000), Ok(false));
    assert_eq!(client.transmitted(), []);
    let mut deflating = open_deflate(Role::Server, with_deflate());
    assert_eq!(deflating.conn.send_verbatim_header(false, 1000), Ok(false));
    assert_eq!(deflating.transmitted(), []);
    let mut server = Peer::open(Role::Server, rfc6455());
    server.conn.close(Instant::ZERO, Some(1000), "").unwrap();
    assert_eq!(server.conn.send_verbatim_header(true, 1), Err(Misuse::NotOpen));
}

/// A client's message sent as a header from `send_masked_header` and its
/// payload masked in place in parts cut at `cuts`: the wire bytes.
fn masked_in_parts(client: &mut Peer, binary: bool, payload: &[u8], cuts: &[usize]) -> Vec<u8> {
    assert_eq!(client.conn.send_masked_header(binary, payload.len()), Ok(true));
    let mut wire = client.transmitted();
    let mut at = 0;
    for end in cuts.iter().map(|&c| c.min(payload.len())).chain([payload.len()]) {
        let mut part = payload[at..end.max(at)].to_vec();
        assert_eq!(client.conn.mask_payload(&mut part), part.len(), "part {at}..{end}");
        wire.extend_from_slice(&part);
        at = end.max(at);
    }
    assert_eq!(client.transmitted(), [], "nothing queued while masking");
    wire
}

/// A client's masked header and its payload masked in parts, cut anywhere,
/// is one whole masked frame with FIN set, and its own fresh key.
#[test]
fn framing_masked_header_plus_parts_is_one_masked_frame() {
    let mut p = Peer::open(Role::Client, rfc6455());
    let mut keys = HashSet::new();
    for len in LENGTHS {
        let text = text_of_len(len);
        let data = binary_of_len(len);
        for cuts in [vec![], vec![1], vec![3, 7, 8], vec![len / 2], vec![0, 0, len, len]] {
            for (binary, payload) in [(false, text.as_bytes()), (true, &data[..])] {
                let wire = masked_in_parts(&mut p, binary, payload, &cuts);
                let frames = parse_frames(&wire);
                assert_eq!(frames.len(), 1, "{len} bytes cut at {cuts:?}");
                let (frame, key) = &frames[0];
                assert_eq!(
                    frame,
                    &sent(FIN | if binary { BINARY } else { TEXT }, payload),
                    "{len} at {cuts:?}"
                );
                keys.insert(key.expect("a client masks"));
            }
        }
    }
    assert!(keys.len() > LENGTHS.len() * 9, "fresh keys: {}", keys.len());
}

/// Until the last payload byte is masked, nothing else may be sent (no
/// frame may come inside another); a part longer than what is left is
/// masked only up to the payload's end; with nothing announced, nothing is
/// masked.
#[test]
fn framing_masked_payload_holds_every_other_send_until_done() {
    let mut p = Peer::open(Role::Client, rfc6455());
    let mut nothing = *b"abcd";
    assert_eq!(p.conn.mask_payload(&mut nothing), 0);
    assert_eq!(&nothing, b"abcd");
    assert_eq!(p.conn.send_masked_header(true, 6), Ok(true));
    let header = p.transmitted();
    let mut first = *b"xyz";
    assert_eq!(p.conn.mask_payload(&mut first), 3);
    assert_eq!(p.conn.send_binary(b"other"), Err(Misuse::MessageInProgress));
    assert_eq!(p.conn.send_ping(b""), Err(Misuse::MessageInProgress));
    assert_eq!(p.conn.send_fragment(true, b"f", false), Err(Misuse::MessageInProgress));
    assert_eq!(p.conn.send_masked_header(true, 1), Err(Misuse::MessageInProgress));
    assert_eq!(p.conn.close(Instant::ZERO, Some(1000), ""), Err(Misuse::MessageInProgress));
    assert_eq!(p.transmitted(), []);
    let mut rest = *b"uvwTAIL";
    assert_eq!(p.conn.mask_payload(&mut rest), 3);
    assert_eq!(&rest[3..], b"TAIL", "bytes after the payload are left alone");
    let wire = [&header[..], &first, &rest[..3]].concat();
    assert_eq!(parse_frames(&wire)[0].0, sent(FIN | BINARY, b"xyzuvw"));
    assert_eq!(p.conn.mask_payload(&mut nothing), 0);
    // Done: sending goes on as usual.
    p.conn.send_binary(b"next").unwrap();
    assert_eq!(parse_frames(&p.transmitted())[0].0, sent(FIN | BINARY, b"next"));
    // An empty payload is done with its header.
    assert_eq!(p.conn.send_masked_header(false, 0), Ok(true));
    p.conn.send_text("after").unwrap();
    let frames: Vec<Sent> = parse_frames(&p.transmitted()).into_iter().map(|(f, _)| f).collect();
    assert_eq!(frames, [sent(FIN | TEXT, b""), sent(FIN | TEXT, b"after")]);
}

/// Where the payload is not masked as given, `send_masked_header` queues
/// nothing and says so: a server does not mask, deflate compresses
/// (draft-76: in `draft76_errors.rs`); not inside a fragmented message;
/// once closed it is not open, as for any send.
#[test]
fn framing_masked_header_only_where_the_client_masks_as_given() {
    let mut server = Peer::open(Role::Server, rfc6455());
    assert_eq!(server.conn.send_masked_header(true, 1000), Ok(false));
    assert_eq!(server.transmitted(), []);
    let mut deflating = open_deflate(Role::Client, with_deflate());
    assert_eq!(deflating.conn.send_masked_header(false, 1000), Ok(false));
    assert_eq!(deflating.transmitted(), []);
    let mut client = Peer::open(Role::Client, rfc6455());
    client.conn.send_fragment(false, b"part", false).unwrap();
    let _ = client.transmitted();
    assert_eq!(client.conn.send_masked_header(true, 10), Err(Misuse::MessageInProgress));
    assert_eq!(client.transmitted(), []);
    let mut closed = Peer::open(Role::Client, rfc6455());
    closed.conn.close(Instant::ZERO, Some(1000), "").unwrap();
    assert_eq!(closed.conn.send_masked_header(true, 1), Err(Misuse::NotOpen));
}

/// A message masked in parts arrives whole at a server however the wire
/// bytes are cut into reads: at every chunking for a short one, at a
/// sample of cuts for one longer than 64 KiB.
#[test]
fn framing_masked_in_parts_reaches_a_server_at_every_chunking() {
    let mut client = Peer::open(Role::Client, rfc6455());
    let cases = [
        (false, text_of_len(300).into_bytes(), vec![1, 100, 299]),
        (true, binary_of_len(70_000), vec![65_536]),
    ];
    for (binary, payload, cuts) in cases {
        let wire = masked_in_parts(&mut client, binary, &payload, &cuts);
        let chunkings: Vec<Chunking> = if wire.len() < 1000 {
            every_chunking(&wire)
        } else {
            let mut c: Vec<Chunking> =
                sparse_splits(wire.len(), 997, 20).into_iter().map(Chunking::SplitAt).collect();
            c.push(Chunking::Sizes(vec![1, 4096, 7]));
            c
        };
        let expected = if binary {
            Event::Binary(payload.clone())
        } else {
            Event::Text(String::from_utf8(payload.clone()).unwrap())
        };
        for chunking in chunkings {
            let mut server = Peer::open(Role::Server, rfc6455());
            for chunk in chunking.chunks(&wire) {
                server.feed(chunk);
            }
            assert_eq!(
                server.events(),
                std::slice::from_ref(&expected),
                "{} bytes, {chunking:?}",
                payload.len()
            );
        }
    }
}

#[test]
fn framing_several_messages_in_one_input_split_at_every_point() {
    for role in ROLES {
        for split in 0..=40 {
            let mut p = Peer::open(role, rfc6455());
            let stream = [
                p.frame(FIN | TEXT, b"one"),
                p.frame(FIN | BINARY, &[0xff, 0x00, 0x80]),
                p.frame(TEXT, "tw".as_bytes()),
                p.frame(FIN | CONT, "ö".as_bytes()),
                p.frame(FIN | TEXT, b""),
            ]
            .concat();
            let split = split.min(stream.len());
            p.feed(&stream[..split]);
            p.feed(&stream[split..]);
            let events = [
                Event::Text("one".into()),
                Event::Binary(vec![0xff, 0x00, 0x80]),
                Event::Text("twö".into()),
                Event::Text(String::new()),
            ];
            p.expect(&events, &[], &format!("{role:?} split {split}"));
        }
    }
}

#[test]
fn framing_message_size_limit_boundary() {
    const LIMIT: usize = 1000;
    for role in ROLES {
        let mut p = Peer::open(role, with_limits(LIMIT, 16 << 20));
        let text = text_of_len(LIMIT);
        let frame = p.frame(FIN | TEXT, text.as_bytes());
        p.feed(&frame);
        let data = binary_of_len(LIMIT);
        let frame = p.frame(FIN | BINARY, &data);
        p.feed_bytewise(&frame);
        p.expect(&[Event::Text(text), Event::Binary(data)], &[], &format!("{role:?} at the limit"));

        for b0 in [FIN | TEXT, FIN | BINARY] {
            let mut p = Peer::open(role, with_limits(LIMIT, 16 << 20));
            // The header alone is enough to refuse it.
            let header = p.header(b0, LIMIT as u64 + 1);
            p.feed(&header);
            let error = Error::Limit(LimitError::MessageTooLarge { limit: LIMIT });
            p.expect_failure(&[], &[], error, 1009, &format!("{role:?} {b0:#x} one byte over"));
        }
    }
}

#[test]
fn framing_default_limit_boundary_is_16_mib() {
    const MIB16: u64 = 16 << 20;
    for role in ROLES {
        let mut p = Peer::open(role, rfc6455());
        let header = p.header(FIN | BINARY, MIB16);
        p.feed(&header);
        p.feed(&[0; 1000]);
        p.expect(&[], &[], &format!("{role:?} 16 MiB declared"));
        assert_eq!(p.conn.state(), State::Open);

        let mut p = Peer::open(role, rfc6455());
        let header = p.header(FIN | BINARY, MIB16 + 1);
        p.feed(&header);
        let error = Error::Limit(LimitError::FrameTooLarge { limit: 16 << 20 });
        p.expect_failure(&[], &[], error, 1009, &format!("{role:?} 16 MiB + 1 declared"));
    }
}

#[test]
fn framing_server_takes_frames_pipelined_with_the_request() {
    let mut conn = Connection::server(Instant::ZERO, rfc6455());
    let mut input = request_with("").into_bytes();
    input.extend(rfc6455_frame(FIN | TEXT, b"early", Some([1, 2, 3, 4])));
    input.extend(rfc6455_frame(FIN | PING, b"p", Some([5, 6, 7, 8])));
    conn.handle_input(Instant::ZERO, &input);
    assert_eq!(conn.poll_event(), Some(Event::Request(RequestKind::WebSocket(Protocol::Rfc6455))));
    assert_eq!(conn.poll_event(), None);
    conn.accept(Accept::default()).unwrap();
    let events: Vec<Event> = std::iter::from_fn(|| conn.poll_event()).collect();
    assert_eq!(events, [Event::Open, Event::Text("early".into()), Event::Ping(b"p".to_vec())]);
    let mut out = Vec::new();
    let _ = conn.poll_transmit(&mut out);
    assert!(out.ends_with(&[0x8a, 0x01, b'p']), "{out:02x?}");
    assert!(out.starts_with(b"HTTP/1.1 101 Switching Protocols\r\n"));
}

#[test]
fn framing_client_takes_frames_in_the_same_read_as_the_101() {
    let (mut conn, request) = start_client(rfc6455(), &[]);
    let mut input = response_101(&request, "").into_bytes();
    input.extend(rfc6455_frame(FIN | TEXT, b"welcome", None));
    input.extend(rfc6455_frame(FIN | BINARY, &[9, 9], None));
    conn.handle_input(Instant::ZERO, &input);
    let events: Vec<Event> = std::iter::from_fn(|| conn.poll_event()).collect();
    assert_eq!(events, [Event::Open, Event::Text("welcome".into()), Event::Binary(vec![9, 9])]);
}

const RSV_CASES: [(&str, u8); 7] = [
    ("RSV1", RSV1),
    ("RSV2", RSV2),
    ("RSV3", RSV3),
    ("RSV1+RSV2", RSV1 | RSV2),
    ("RSV1+RSV3", RSV1 | RSV3),
    ("RSV2+RSV3", RSV2 | RSV3),
    ("all", RSV1 | RSV2 | RSV3),
];

#[test]
fn reserved_bits_without_extension_fail() {
    let opcodes = [
        ("text", FIN | TEXT),
        ("binary", FIN | BINARY),
        ("ping", FIN | PING),
        ("pong", FIN | PONG),
        ("close", FIN | CLOSE),
    ];
    for role in ROLES {
        for (bits_name, bits) in RSV_CASES {
            for (op_name, b0) in opcodes {
                let mut p = Peer::open(role, rfc6455());
                let frame = p.frame(b0 | bits, b"Hello");
                p.feed(&frame);
                let error = protocol(ProtocolError::ReservedBits);
                p.expect_failure(&[], &[], error, 1002, &format!("{role:?} {bits_name} on {op_name}"));
            }
        }
    }
}

#[test]
fn reserved_bits_on_continuation_fail() {
    for role in ROLES {
        for (bits_name, bits) in RSV_CASES {
            let mut p = Peer::open(role, rfc6455());
            let frames = [p.frame(TEXT, b"Hel"), p.frame(FIN | CONT | bits, b"lo")].concat();
            p.feed(&frames);
            let error = protocol(ProtocolError::ReservedBits);
            p.expect_failure(&[], &[], error, 1002, &format!("{role:?} {bits_name}"));
        }
    }
}

#[test]
fn reserved_bits_after_valid_message_keep_the_message() {
    for role in ROLES {
        for (bits_name, bits) in RSV_CASES {
            let mut p = Peer::open(role, rfc6455());
            // Autobahn 3.4: a message, the bad frame, then a ping that must
            // not be answered.
            let frames = [
                p.frame(FIN | TEXT, b"Hello"),
                p.frame(FIN | PING, b"before"),
                p.frame(FIN | TEXT | bits, b"Hello"),
                p.frame(FIN | PING, b"after"),
            ]
            .concat();
            p.feed(&frames);
            let events = [Event::Text("Hello".into()), Event::Ping(b"before".to_vec())];
            let error = protocol(ProtocolError::ReservedBits);
            let pong = [sent(FIN | PONG, b"before")];
            p.expect_failure(&events, &pong, error, 1002, &format!("{role:?} {bits_name}"));
        }
    }
}

#[test]
fn reserved_bits_fail_before_payload_arrives() {
    for role in ROLES {
        let mut p = Peer::open(role, rfc6455());
        let header = p.header(FIN | RSV2 | BINARY, 1000);
        p.feed(&header);
        let error = protocol(ProtocolError::ReservedBits);
        p.expect_failure(&[], &[], error, 1002, &format!("{role:?}"));
    }
}

const RESERVED_OPCODES: [u8; 10] = [3, 4, 5, 6, 7, 11, 12, 13, 14, 15];

#[test]
fn reserved_opcodes_fail() {
    for role in ROLES {
        for op in RESERVED_OPCODES {
            for payload in [&b""[..], b"reserved opcode payload"] {
                let mut p = Peer::open(role, rfc6455());
                let frame = p.frame(FIN | op, payload);
                p.feed(&frame);
                let error = protocol(ProtocolError::ReservedOpcode(op));
                p.expect_failure(
                    &[],
                    &[],
                    error,
                    1002,
                    &format!("{role:?} opcode {op} len {}", payload.len()),
                );
            }
        }
    }
}

#[test]
fn reserved_opcode_after_valid_message_keeps_the_message() {
    for role in ROLES {
        for op in RESERVED_OPCODES {
            let mut p = Peer::open(role, rfc6455());
            let frames =
                [p.frame(FIN | TEXT, b"Hello"), p.frame(FIN | op, b""), p.frame(FIN | PING, b"")].concat();
            p.feed(&frames);
            let error = protocol(ProtocolError::ReservedOpcode(op));
            p.expect_failure(
                &[Event::Text("Hello".into())],
                &[],
                error,
                1002,
                &format!("{role:?} opcode {op}"),
            );
        }
    }
}

#[test]
fn reserved_opcode_inside_fragmented_message_fails() {
    for role in ROLES {
        for op in RESERVED_OPCODES {
            let mut p = Peer::open(role, rfc6455());
            let frames = [p.frame(TEXT, b"Hel"), p.frame(FIN | op, b""), p.frame(FIN | CONT, b"lo")].concat();
            p.feed(&frames);
            let error = protocol(ProtocolError::ReservedOpcode(op));
            p.expect_failure(&[], &[], error, 1002, &format!("{role:?} opcode {op}"));
        }
    }
}
