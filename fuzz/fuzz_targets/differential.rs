//! Encoders against decoders, and both against the letter of the specs.
//!
//! For each message: one end of a connected pair sends it
//! (`send_text`/`send_binary`); its bytes must be exactly what a reference
//! encoder written here from the spec produces ('old': 00 text FF; 'new':
//! FF, 8-byte length, text; RFC 6455: one minimal frame, masked iff sent by
//! the client, RSV1 iff compressed, the payload inflating back to the
//! message), the framing's own decoder must read them back, and the other
//! end must deliver exactly that message. Then the message is framed again
//! by the reference encoder, cut into fuzzer-chosen fragments (RFC 6455) or
//! wrapped in frames a receiver must skip (draft-76), and the receiving end
//! must deliver the same message.
//!
//! Besides: RFC 6455 frame headers round-trip (encode → parse, and parse →
//! encode → parse for arbitrary bytes, every prefix partial), close
//! payloads round-trip, and masking matches its definition.
#![no_main]

use arbitrary::Arbitrary;
use hybi_core::framing::rfc6455::deflate::Decompressor;
use hybi_core::framing::rfc6455::wire::{self, FrameHeader, OpCode, MAX_HEADER_LEN};
use hybi_core::framing::{new, old, Draft76Frame};
use hybi_core::{Connection, Event, Instant, Role};
use hybi_fuzz::{chunks, data_opcode, pair, reference_frame, PairProtocol, Watch};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Proto {
    Old,
    New,
    Rfc6455,
    Deflate(u8),
}

#[derive(Arbitrary, Debug, Clone)]
enum Payload {
    Text(String),
    Binary(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
struct Message {
    from_client: bool,
    payload: Payload,
    /// Fragment sizes for the reference framing (RFC 6455).
    fragments: Vec<u8>,
    /// A masking key for the reference framing (client to server).
    mask: [u8; 4],
    /// Draft-76: put a frame the receiver must skip before the message.
    skip_frame: bool,
}

#[derive(Arbitrary, Debug)]
struct HeaderSpec {
    fin: bool,
    rsv: u8,
    opcode: u8,
    mask: Option<[u8; 4]>,
    len: u64,
}

#[derive(Arbitrary, Debug)]
struct Input {
    proto: Proto,
    streaming: bool,
    split: u8,
    messages: Vec<Message>,
    headers: Vec<HeaderSpec>,
    raw_headers: Vec<Vec<u8>>,
    close_payloads: Vec<(u16, String, Vec<u8>)>,
    masking: Vec<([u8; 4], u8, Vec<u8>)>,
}

/// Reads whole messages from a receiving end, reassembling streamed pieces.
fn receive(conn: &mut Connection, watch: &mut Watch, bytes: &[u8], split: u8) -> Vec<Payload> {
    let mut out = Vec::new();
    let mut piece: Option<(bool, Vec<u8>)> = None;
    for chunk in chunks(bytes, split) {
        conn.handle_input(Instant::ZERO, chunk);
        for event in watch.drain(conn) {
            match event {
                Event::Text(t) => out.push(Payload::Text(t)),
                Event::Binary(b) => out.push(Payload::Binary(b)),
                Event::TextFragment { text, fin } => {
                    let (_, buf) = piece.get_or_insert((false, Vec::new()));
                    buf.extend_from_slice(text.as_bytes());
                    if fin {
                        let (_, buf) = piece.take().expect("a piece");
                        out.push(Payload::Text(String::from_utf8(buf).expect("whole characters")));
                    }
                }
                Event::BinaryFragment { data, fin } => {
                    let (_, buf) = piece.get_or_insert((true, Vec::new()));
                    buf.extend_from_slice(&data);
                    if fin {
                        out.push(Payload::Binary(piece.take().expect("a piece").1));
                    }
                }
                // The empty pongs the reference puts between fragments.
                Event::Pong(p) if p.is_empty() => {}
                other => panic!("valid frames gave {other:?}"),
            }
        }
    }
    assert!(piece.is_none(), "message left unfinished");
    out
}

fn same(a: &[Payload], b: &Payload) -> bool {
    match (a, b) {
        ([Payload::Text(x)], Payload::Text(y)) => x == y,
        ([Payload::Binary(x)], Payload::Binary(y)) => x == y,
        _ => false,
    }
}

fn check_encoding(
    proto: PairProtocol,
    from: Role,
    payload: &Payload,
    bytes: &[u8],
    inflater: &mut Option<Decompressor>,
) {
    let (binary, data) = match payload {
        Payload::Text(t) => (false, t.as_bytes()),
        Payload::Binary(b) => (true, &b[..]),
    };
    match proto {
        PairProtocol::Old => {
            let mut expected = vec![0x00];
            expected.extend_from_slice(data);
            expected.push(0xff);
            assert_eq!(bytes, expected, "'old' text frame");
            let mut decoder = old::Decoder::new(usize::MAX, usize::MAX);
            let mut input = bytes;
            assert_eq!(decoder.decode(&mut input).unwrap(), Some(Draft76Frame::Text(data.to_vec())));
            assert!(input.is_empty() && decoder.at_boundary());
        }
        PairProtocol::New => {
            let mut expected = vec![0xff];
            expected.extend_from_slice(&(data.len() as u64).to_be_bytes());
            expected.extend_from_slice(data);
            assert_eq!(bytes, expected, "'new' text frame");
            let mut decoder = new::Decoder::new(usize::MAX, usize::MAX);
            let mut input = bytes;
            assert_eq!(decoder.decode(&mut input).unwrap(), Some(Draft76Frame::Text(data.to_vec())));
            assert!(input.is_empty() && decoder.at_boundary());
        }
        PairProtocol::Rfc6455 | PairProtocol::Deflate(_) => {
            let (header, body, used) = reference_frame(bytes).expect("one whole frame");
            assert_eq!(used, bytes.len(), "one frame per message");
            assert!(header.fin && !header.rsv2 && !header.rsv3);
            assert_eq!(header.opcode, data_opcode(binary));
            assert_eq!(header.mask.is_some(), from == Role::Client, "masked iff sent by the client");
            assert_eq!(used - body.len(), header.encoded_len(), "length not in its shortest form");
            match inflater {
                Some(inflater) => {
                    assert!(header.rsv1, "compressed message without RSV1");
                    let mut out = Vec::new();
                    inflater
                        .decompress_message(&body, &mut out, usize::MAX)
                        .expect("our own deflate inflates");
                    assert_eq!(out, data, "deflate round trip");
                }
                None => {
                    assert!(!header.rsv1);
                    assert_eq!(body, data);
                }
            }
        }
    }
}

/// The message framed by the letter of the spec.
fn reference_frames(proto: PairProtocol, from: Role, msg: &Message) -> Vec<u8> {
    let (binary, data) = match &msg.payload {
        Payload::Text(t) => (false, t.as_bytes()),
        Payload::Binary(b) => (true, &b[..]),
    };
    let mut out = Vec::new();
    match proto {
        PairProtocol::Old => {
            if msg.skip_frame {
                // A length-prefixed frame (skipped) and a sentinel frame of
                // another type (skipped).
                out.extend_from_slice(&[0x80, 0x03, 0xff, 0x00, 0x41, 0x05, b'x', 0xff]);
            }
            out.push(0x00);
            out.extend_from_slice(data);
            out.push(0xff);
        }
        PairProtocol::New => {
            // Racket reads every type but 0x00 as text.
            out.push(if msg.skip_frame { 0x42 } else { 0xff });
            out.extend_from_slice(&(data.len() as u64).to_be_bytes());
            out.extend_from_slice(data);
        }
        PairProtocol::Rfc6455 | PairProtocol::Deflate(_) => {
            let mask = (from == Role::Client).then_some(msg.mask);
            let mut rest = data;
            let mut sizes = msg.fragments.iter().map(|&n| usize::from(n));
            let mut first = true;
            loop {
                let n = sizes.next().unwrap_or(rest.len()).min(rest.len());
                let (piece, tail) = rest.split_at(n);
                rest = tail;
                let fin = rest.is_empty();
                let opcode = if first { data_opcode(binary) } else { OpCode::Continuation };
                first = false;
                // Spec masking, byte by byte.
                let header = FrameHeader {
                    fin,
                    rsv1: false,
                    rsv2: false,
                    rsv3: false,
                    opcode,
                    mask,
                    payload_len: n as u64,
                };
                header.encode(&mut out);
                match mask {
                    Some(key) => out.extend(piece.iter().enumerate().map(|(i, b)| b ^ key[i % 4])),
                    None => out.extend_from_slice(piece),
                }
                if msg.skip_frame && !fin {
                    // A ping between fragments; it comes out as an event
                    // of its own, so only between, never instead.
                    let header = FrameHeader {
                        fin: true,
                        rsv1: false,
                        rsv2: false,
                        rsv3: false,
                        opcode: OpCode::Pong,
                        mask,
                        payload_len: 0,
                    };
                    header.encode(&mut out);
                }
                if fin {
                    break;
                }
            }
        }
    }
    out
}

fn check_header(spec: &HeaderSpec) {
    let opcode = OpCode::from_u4(spec.opcode);
    assert_eq!(OpCode::from_u4(opcode.as_u4()), opcode);
    let (fin, len) = if opcode.is_control() { (true, spec.len % 126) } else { (spec.fin, spec.len >> 1) };
    let header = FrameHeader {
        fin,
        rsv1: spec.rsv & 4 != 0,
        rsv2: spec.rsv & 2 != 0,
        rsv3: spec.rsv & 1 != 0,
        opcode,
        mask: spec.mask,
        payload_len: len,
    };
    let mut out = Vec::new();
    header.encode(&mut out);
    assert_eq!(out.len(), header.encoded_len());
    assert_eq!(FrameHeader::parse(&out), Ok(Some((header, out.len()))), "header round trip");
    for cut in 0..out.len() {
        assert_eq!(FrameHeader::parse(&out[..cut]), Ok(None), "prefix of {cut} bytes");
    }
}

fn check_raw_header(raw: &[u8]) {
    match FrameHeader::parse(raw) {
        Ok(Some((header, used))) => {
            assert!(used <= raw.len() && used <= MAX_HEADER_LEN);
            for cut in 0..used {
                assert_eq!(
                    FrameHeader::parse(&raw[..cut]),
                    Ok(None),
                    "prefix of {cut} bytes of a valid header"
                );
            }
            assert_eq!(FrameHeader::parse(&raw[..used]), Ok(Some((header, used))));
            let mut out = Vec::new();
            header.encode(&mut out);
            assert!(out.len() <= used, "re-encoding grew the header");
            assert_eq!(FrameHeader::parse(&out), Ok(Some((header, out.len()))));
            if out.len() == used {
                assert_eq!(out, raw[..used], "a minimal header re-encodes to itself");
            }
            if header.opcode.is_control() {
                assert!(header.fin && header.payload_len <= 125);
            }
            assert!(header.payload_len < 1 << 63);
        }
        Ok(None) => assert!(raw.len() < MAX_HEADER_LEN),
        Err(_) => {
            // An error stays an error however much more arrives.
            let mut longer = raw.to_vec();
            longer.extend_from_slice(&[0; MAX_HEADER_LEN]);
            assert!(FrameHeader::parse(&longer).is_err());
        }
    }
}

fn check_close_payload(code: u16, reason: &str, raw: &[u8]) {
    let mut out = Vec::new();
    if wire::encode_close_payload(code, reason, &mut out).is_ok() {
        assert_eq!(wire::parse_close_payload(&out), Ok(Some((code, reason))));
    } else {
        assert!(out.is_empty(), "a refused close payload was written");
    }
    match wire::parse_close_payload(raw) {
        Ok(None) => assert!(raw.is_empty()),
        Ok(Some((code, reason))) => {
            let mut again = Vec::new();
            wire::encode_close_payload(code, reason, &mut again).expect("a parsed payload re-encodes");
            assert_eq!(again, raw);
        }
        Err(_) => assert!(!raw.is_empty()),
    }
}

fn check_masking(key: [u8; 4], phase: u8, data: &[u8]) {
    let phase = usize::from(phase);
    let expected: Vec<u8> = data.iter().enumerate().map(|(i, b)| b ^ key[(i + phase) % 4]).collect();
    let mut in_place = data.to_vec();
    wire::apply_mask(&mut in_place, key, phase);
    assert_eq!(in_place, expected);
    let split = phase.min(data.len());
    let mut out = vec![7];
    wire::unmask_into(&mut out, &data[..split], key, phase);
    wire::unmask_into(&mut out, &data[split..], key, phase + split);
    assert_eq!(out[1..], expected[..]);
}

fuzz_target!(|input: Input| {
    for spec in input.headers.iter().take(64) {
        check_header(spec);
    }
    for raw in input.raw_headers.iter().take(64) {
        check_raw_header(raw);
    }
    for (code, reason, raw) in input.close_payloads.iter().take(64) {
        check_close_payload(*code, reason, raw);
    }
    for (key, phase, data) in input.masking.iter().take(16) {
        check_masking(*key, *phase, data);
    }

    let proto = match input.proto {
        Proto::Old => PairProtocol::Old,
        Proto::New => PairProtocol::New,
        Proto::Rfc6455 => PairProtocol::Rfc6455,
        Proto::Deflate(choice) => PairProtocol::Deflate(choice),
    };
    let (client_config, server_config) = proto.configs(input.streaming);
    let mut watches = [Watch::new(&client_config), Watch::new(&server_config)];
    let (c, s) = pair(client_config, server_config);
    let mut ends = [c, s];
    // Mirrors of each receiver's inflater, to check the sender's bytes.
    let mut inflaters = [Role::Server, Role::Client]
        .map(|receiver| ends[0].deflate().map(|p| Decompressor::new(p, receiver)));
    for msg in input.messages.iter().take(32) {
        let from = if msg.from_client { 0 } else { 1 };
        let role = if msg.from_client { Role::Client } else { Role::Server };
        let len = match &msg.payload {
            Payload::Text(t) => t.len(),
            Payload::Binary(b) => b.len(),
        };
        if len > 60 * 1024 {
            continue; // over the receivers' 64 KiB limit
        }
        let result = match &msg.payload {
            Payload::Text(t) => ends[from].send_text(t),
            Payload::Binary(b) => ends[from].send_binary(b),
        };
        let mut bytes = Vec::new();
        let _ = ends[from].poll_transmit(&mut bytes);
        if matches!(msg.payload, Payload::Binary(_)) && !proto.is_rfc6455() {
            assert!(result.is_err(), "draft-76 cannot carry binary");
            assert!(bytes.is_empty(), "a refused binary message was written");
            continue;
        }
        result.expect("an open end sends");
        check_encoding(proto, role, &msg.payload, &bytes, &mut inflaters[from]);
        let receiver = &mut ends[1 - from];
        let got = receive(receiver, &mut watches[1 - from], &bytes, input.split);
        assert!(same(&got, &msg.payload), "sent {:?}, received {got:?}", msg.payload);

        let reference = reference_frames(proto, role, msg);
        let got = receive(receiver, &mut watches[1 - from], &reference, input.split.rotate_left(3));
        assert!(same(&got, &msg.payload), "reference frames of {:?} read as {got:?}", msg.payload);
        // Pongs are answered by nothing; pings would be.
        let mut queued = Vec::new();
        let _ = receiver.poll_transmit(&mut queued);
        assert!(queued.is_empty(), "the receiver answered valid data frames with {queued:?}");
    }
});
