//! Writes the seed corpora under `fuzz/seeds/<target>/` from the spec test
//! vectors: the handshakes of docs/PROTOCOLS.md §1 and RFC 6455 §1.3/§4,
//! the frames of RFC 6455 §5.7 and RFC 7692 §7.2.3, and 'old'/'new' frames.
//! Deterministic: rerun after changing a target's input format with
//! `cargo run --example make_seeds` (from `fuzz/`), and commit the result.
//!
//! Frame-level seeds start with the target's option bytes (see
//! `hybi_fuzz::Knobs`); each frame stream is written with a few option
//! combinations. `pair_script` and `differential` decode their input with
//! `arbitrary`, which has no encoder: their seeds are fixed pseudo-random
//! bytes, from which libFuzzer's mutations take over.

use std::fs;
use std::path::{Path, PathBuf};

use hybi_core::framing::rfc6455::deflate::Compressor;
use hybi_core::framing::rfc6455::wire::{encode_frame, OpCode};
use hybi_core::DeflateParams;
use hybi_core::{Accept, ClientRequest, Config, Connection, DeflateConfig, Event, Header, Instant, Role};
use hybi_fuzz::{client, deflate_config, draft76_request, rfc6455_request, target, DEFLATE_OFFERS};

// The core's test vectors (core/testdata), read by the core's own parser.
#[path = "../../core/tests/common/mod.rs"]
mod common;

const FIN: u8 = 0x80;

fn dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds").join(name);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("create the seed directory");
    dir
}

struct Seeds {
    dir: PathBuf,
    count: usize,
}

impl Seeds {
    fn new(name: &str) -> Seeds {
        Seeds { dir: dir(name), count: 0 }
    }

    fn add(&mut self, label: &str, bytes: &[u8]) {
        self.count += 1;
        fs::write(self.dir.join(format!("{:03}-{label}", self.count)), bytes).expect("write a seed");
    }

    /// The same frames behind several option prefixes.
    fn frames(&mut self, label: &str, prefixes: &[&[u8]], frames: &[u8]) {
        for prefix in prefixes {
            let mut bytes = prefix.to_vec();
            bytes.extend_from_slice(frames);
            let tag: String = prefix.iter().map(|b| format!("{b:02x}")).collect();
            self.add(&format!("{label}-{tag}"), &bytes);
        }
    }
}

fn frame(b0: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut out = Vec::new();
    let opcode = OpCode::from_u4(b0);
    encode_frame(&mut out, b0 & FIN != 0, b0 & 0x40 != 0, opcode, payload, mask);
    out
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// A server's answer to one of our clients, made by a real server.
fn served(request: &[u8], config: Config, accept: Accept) -> Vec<u8> {
    let mut server = Connection::server(Instant::ZERO, config);
    server.handle_input(Instant::ZERO, request);
    assert!(matches!(server.poll_event(), Some(Event::Request(_))));
    server.accept(accept).expect("accept our own client");
    let mut out = Vec::new();
    let _ = server.poll_transmit(&mut out);
    out
}

fn pseudo_random(seeds: &mut Seeds, label: &str, n: usize) {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    for i in 0..n {
        let len = 32 + (i * 97) % 1500;
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 24) as u8
            })
            .collect();
        seeds.add(&format!("{label}-{i}"), &bytes);
    }
}

fn main() {
    // ---- handshake_server: [flags, split, more] + request ----------------
    let mut s = Seeds::new("handshake_server");
    let draft76 = draft76_request();
    let rfc = rfc6455_request(None);
    let vector2 = b"GET /demo HTTP/1.1\r\nHost: example.com\r\nConnection: Upgrade\r\nUpgrade: WebSocket\r\n\
        Sec-WebSocket-Key1: 18x 6]8vM;54 *(5:  {   U1]8  z [  8\r\n\
        Sec-WebSocket-Key2: 1_ tx7X d  <  nw  334J702) 7]o}` 0\r\n\r\nTm[K T2u";
    let mut vector3 =
        b"GET /demo HTTP/1.1\r\nHost: example.com\r\nConnection: Upgrade\r\nUpgrade: WebSocket\r\n\
        Sec-WebSocket-Key1: 1   38 wZ3f9 23O0 3l 0r\r\nSec-WebSocket-Key2: 27   0E 6 2  1665:< ;U 1H\r\n\r\n"
            .to_vec();
    vector3.extend_from_slice(&[0x91, 0x25, 0x3e, 0xd3, 0xa9, 0xe7, 0x6a, 0x88]);
    let refused = b"GET /demo HTTP/1.1\r\nHost: example.com\r\nConnection: Upgrade\r\nUpgrade: WebSocket\r\n\
        Sec-WebSocket-Key1: 2 L785 8o% s9Sy9@V. 4<1P5\r\nSec-WebSocket-Key2: 12998 5 Y3 1  .P00\r\n\r\n^n:ds[4U";
    let rfc_full = b"GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n\
        Connection: keep-alive, Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
        Origin: http://example.com\r\nSec-WebSocket-Protocol: chat, superchat\r\nSec-WebSocket-Version: 13\r\n\r\n";
    let old_version =
        b"GET /chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
        Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n";
    let requests: Vec<(&str, Vec<u8>)> = vec![
        ("draft76-v1", draft76.clone()),
        ("draft76-v2", vector2.to_vec()),
        ("draft76-v3", vector3.clone()),
        ("draft76-refused-key", refused.to_vec()),
        ("draft76-lf", String::from_utf8_lossy(&draft76).replace("\r\n", "\n").into_bytes()),
        ("rfc6455", rfc.clone()),
        ("rfc6455-subprotocols", rfc_full.to_vec()),
        ("rfc6455-version8", old_version.to_vec()),
        ("rfc6455-deflate", rfc6455_request(Some(DEFLATE_OFFERS[3]))),
        ("rfc6455-deflate-two", rfc6455_request(Some(DEFLATE_OFFERS[5]))),
        ("http-get", b"GET /index.html HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n".to_vec()),
        (
            "http-post",
            b"POST /chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nContent-Length: 0\r\n\r\n"
                .to_vec(),
        ),
        ("http10", b"GET / HTTP/1.0\r\n\r\n".to_vec()),
        ("bare-cr", b"GET /a HTTP/1.1\rHost: h\r\r".to_vec()),
        ("folded", b"GET / HTTP/1.1\r\nA: x\r\n folded\r\n\r\n".to_vec()),
    ];
    for (label, request) in &requests {
        // All protocols, default limits, accept at once.
        s.add(&format!("{label}-accept"), &cat(&[&[0x00, 0x00, 0x00], request]));
        // Small limits, byte by byte, subprotocol, deflate, late decision.
        s.add(&format!("{label}-split"), &cat(&[&[0x29, 0x03, 0x01], request]));
        // Respond instead, end of stream.
        s.add(&format!("{label}-respond"), &cat(&[&[0x14, 0x00, 0x00], request]));
    }
    // Requests followed by frames in their protocol.
    let after = |request: &[u8], frames: &[u8]| cat(&[request, frames]);
    let masked_hello = frame(FIN | 0x1, b"Hello", Some([0x37, 0xfa, 0x21, 0x3d]));
    let masked_close = frame(FIN | 0x8, &[0x03, 0xe8], Some([0, 0, 0, 0]));
    s.add(
        "rfc6455-frames",
        &cat(&[&[0x00, 0x00, 0x00], &after(&rfc, &cat(&[&masked_hello, &masked_close]))]),
    );
    s.add(
        "rfc6455-frames-late",
        &cat(&[&[0x10, 0x05, 0x01], &after(&rfc, &cat(&[&masked_hello, &masked_close]))]),
    );
    s.add("draft76-frames", &cat(&[&[0x00, 0x00, 0x00], &after(&draft76, b"\x00Hi\xff\xff\x00")]));
    s.add(
        "draft76-new-frames",
        &cat(&[
            &[0x02, 0x00, 0x00],
            &after(&draft76, b"\xff\x00\x00\x00\x00\x00\x00\x00\x02Hi\x00\x00\x00\x00\x00\x00\x00\x00\x00"),
        ]),
    );
    s.add("draft76-frames-late-eof", &cat(&[&[0x10, 0x07, 0x01], &after(&draft76, b"\x00Hi\xff")]));

    // ---- handshake_client: [flags, split, variant] + response ------------
    let mut s = Seeds::new("handshake_client");
    for flags in [0x00u8, 0x01, 0x02, 0x03, 0x04 | 0x08, 0x05 | 0x08, 0x06, 0x07, 0x13, 0x82] {
        for variant in [0u8, 1, 2, 3] {
            if flags & 3 != 3 && variant > 0 {
                continue;
            }
            let protocol = match flags & 3 {
                0 => hybi_core::Protocol::Draft76(hybi_core::Framing::Old),
                1 => hybi_core::Protocol::Draft76(hybi_core::Framing::New),
                _ => hybi_core::Protocol::Rfc6455,
            };
            let mut config = Config { protocol, ..Config::default() };
            let draft = flags & 3 < 2;
            if flags & 3 == 3 {
                config.deflate = Some(deflate_config(variant));
            }
            let mut request = ClientRequest::new(target());
            if flags & 4 != 0 {
                request.subprotocols =
                    if draft { vec!["chat".into()] } else { vec!["chat".into(), "superchat".into()] };
            }
            if flags & 8 != 0 {
                request.headers.push(Header::new("Origin", "http://example.com"));
            }
            let chosen = request.subprotocols.first().cloned();
            let (_, request_bytes) = client(config.clone(), request);
            let server_config = Config {
                framing: if flags & 3 == 1 { hybi_core::Framing::New } else { hybi_core::Framing::Old },
                deflate: Some(DeflateConfig::default()),
                ..Config::default()
            };
            let response =
                served(&request_bytes, server_config, Accept { subprotocol: chosen, headers: vec![] });
            let frames: &[u8] = match flags & 3 {
                0 => b"\x00Hi\xff\xff\x00",
                1 => b"\xff\x00\x00\x00\x00\x00\x00\x00\x02Hi\x00\x00\x00\x00\x00\x00\x00\x00\x00",
                2 => b"\x81\x05Hello\x88\x02\x03\xe8",
                _ => &[0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x88, 0x00],
            };
            let prefix = [flags, 0x00, variant];
            s.add(&format!("ok-{flags:02x}-{variant}"), &cat(&[&prefix, &response]));
            s.add(&format!("ok-frames-{flags:02x}-{variant}"), &cat(&[&prefix, &response, frames]));
            s.add(
                &format!("ok-split-{flags:02x}-{variant}"),
                &cat(&[&[flags, 0x02, variant], &response, frames]),
            );
        }
    }
    s.add("rejected", b"\x02\x00\x00HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n");
    s.add("rejected-draft", b"\x00\x00\x00HTTP/1.1 404 Not Found\r\n\r\n");
    s.add("bad-accept", b"\x02\x00\x00HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n");

    // ---- frames_old: [flags, split] + 'old' frames ------------------------
    let prefixes: &[&[u8]] = &[&[0x00, 0x00], &[0x01, 0x00], &[0x10, 0x03], &[0x21, 0x01], &[0x44, 0x00]];
    let mut s = Seeds::new("frames_old");
    s.frames("hi-close", prefixes, b"\x00Hi\xff\xff\x00");
    s.frames("hello-twice", prefixes, "\x00h\u{e9}llo\u{ff}".as_bytes());
    s.frames("utf8", prefixes, &cat(&[b"\x00", "h\u{e9}llo \u{1f600}".as_bytes(), b"\xff"]));
    s.frames("skipped", prefixes, b"\x05xy\xff\x80\x02\x01\x02\xfe\x81\x00\x00\xff\x00\x00\xff\xff\x00");
    s.frames("invalid-utf8", prefixes, b"\x00\xc3\x28\xff");
    s.frames("unterminated", prefixes, b"\x00abc");
    s.frames("long-length", prefixes, b"\xff\x88\x80\x80\x80\x80\x80\x00");
    s.frames("racket-close", prefixes, b"\xff\x00");

    // ---- frames_new: [flags, split] + 'new' frames -----------------------
    let mut s = Seeds::new("frames_new");
    let new_text = |t: &[u8]| cat(&[&[0xff], &(t.len() as u64).to_be_bytes(), t]);
    let new_close = cat(&[&[0x00], &0u64.to_be_bytes()]);
    s.frames("hi-close", prefixes, &cat(&[&new_text(b"Hi"), &new_close]));
    s.frames(
        "empty-and-other-type",
        prefixes,
        &cat(&[&new_text(b""), &[0x42, 0, 0, 0, 0, 0, 0, 0, 1, b'x']]),
    );
    s.frames("close-with-payload", prefixes, &[0x00, 0, 0, 0, 0, 0, 0, 0, 2, 9, 9]);
    s.frames("huge-length", prefixes, &[0xff, 0x40, 0, 0, 0, 0, 0, 0, 0, b'a']);
    s.frames("invalid-utf8", prefixes, &new_text(b"\xc3\x28"));

    // ---- RFC 6455 frames, §5.7 and more ----------------------------------
    let rfc_prefixes: &[&[u8]] = &[&[0x00, 0x00], &[0x02, 0x04], &[0x10, 0x00], &[0x28, 0x01], &[0x40, 0x00]];
    for (name, mask) in
        [("frames_rfc6455_server", Some([0x37, 0xfa, 0x21, 0x3d])), ("frames_rfc6455_client", None)]
    {
        let zero = mask.map(|_| [0u8; 4]);
        let mut s = Seeds::new(name);
        let f = |b0: u8, p: &[u8]| frame(b0, p, mask);
        let z = |b0: u8, p: &[u8]| frame(b0, p, zero);
        s.frames("hello", rfc_prefixes, &f(FIN | 0x1, b"Hello"));
        s.frames("hello-zero-mask", rfc_prefixes, &z(FIN | 0x1, b"Hello"));
        s.frames("fragmented", rfc_prefixes, &cat(&[&f(0x1, b"Hel"), &f(FIN | 0x9, b"x"), &f(FIN, b"lo")]));
        s.frames("ping-pong", rfc_prefixes, &cat(&[&f(FIN | 0x9, b"Hello"), &f(FIN | 0xa, b"Hello")]));
        s.frames("binary-256", rfc_prefixes, &z(FIN | 0x2, &[0x5a; 256]));
        s.frames("close-1000", rfc_prefixes, &z(FIN | 0x8, b"\x03\xe8bye"));
        s.frames("close-empty", rfc_prefixes, &z(FIN | 0x8, b""));
        s.frames("close-1005", rfc_prefixes, &z(FIN | 0x8, b"\x03\xed"));
        s.frames("utf8-split", rfc_prefixes, &cat(&[&z(0x1, b"\xce\xba\xe1"), &z(FIN, b"\xbd\xb9")]));
        s.frames(
            "invalid-utf8",
            rfc_prefixes,
            &z(FIN | 0x1, b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80"),
        );
        s.frames("reserved-opcode", rfc_prefixes, &z(FIN | 0x3, b""));
        s.frames("rsv-bits", rfc_prefixes, &z(FIN | 0x70 | 0x1, b"x"));
        s.frames("continuation-first", rfc_prefixes, &z(FIN, b"x"));
        s.frames(
            "wrong-masking",
            rfc_prefixes,
            &frame(FIN | 0x1, b"x", if mask.is_some() { None } else { Some([1, 2, 3, 4]) }),
        );
        let mut big = vec![FIN | 0x2, 0x7f | if mask.is_some() { 0x80 } else { 0 }];
        big.extend_from_slice(&(1u64 << 62).to_be_bytes());
        big.extend_from_slice(&[0; 4]);
        s.frames("declared-2-62", rfc_prefixes, &big);
        let mut msb = vec![FIN | 0x2, 0x7f];
        msb.extend_from_slice(&u64::MAX.to_be_bytes());
        s.frames("length-msb", rfc_prefixes, &msb);
        let mut long = vec![FIN | 0x2, 0x7e | if mask.is_some() { 0x80 } else { 0 }, 0x01, 0x00];
        if mask.is_some() {
            long.extend_from_slice(&[0; 4]);
        }
        long.extend_from_slice(&[0x61; 256]);
        s.frames("len16", rfc_prefixes, &long);
        s.frames("ping-126", rfc_prefixes, &[FIN | 0x9, 0x7e, 0x00, 0x7e]);
    }

    // ---- frames_rfc6455_deflate: [flags, split, variant] + frames --------
    let mut s = Seeds::new("frames_rfc6455_deflate");
    let examples = common::rfc7692_examples();
    let example = |name| common::named(&examples, name).bytes("compressed");
    let hello = example("hello");
    let hello_again = example("hello again");
    let hello_stored = example("stored block");
    let hello_bfinal = example("bfinal set");
    let hello_two_blocks = example("two blocks");
    for client_role in [false, true] {
        let mask = if client_role { None } else { Some([0u8; 4]) };
        let f = |b0: u8, p: &[u8]| frame(b0, p, mask);
        let role = if client_role { "client" } else { "server" };
        let prefixes: Vec<Vec<u8>> = [0x00u8, 0x02, 0x10, 0x20]
            .iter()
            .flat_map(|&flags| [0u8, 3, 9].map(|v| vec![flags | u8::from(client_role), 0x00, v]))
            .collect();
        let prefixes: Vec<&[u8]> = prefixes.iter().map(|p| &p[..]).collect();
        s.frames(
            &format!("{role}-hello-again"),
            &prefixes,
            &cat(&[&f(FIN | 0x41, &hello), &f(FIN | 0x41, &hello_again)]),
        );
        s.frames(&format!("{role}-stored"), &prefixes, &f(FIN | 0x41, &hello_stored));
        s.frames(
            &format!("{role}-bfinal"),
            &prefixes,
            &cat(&[&f(FIN | 0x41, &hello_bfinal), &f(FIN | 0x41, &hello_again)]),
        );
        s.frames(&format!("{role}-two-blocks"), &prefixes, &f(FIN | 0x41, &hello_two_blocks));
        s.frames(
            &format!("{role}-fragmented"),
            &prefixes,
            &cat(&[&f(0x41, &hello[..3]), &f(FIN | 0x9, b""), &f(FIN, &hello[3..])]),
        );
        s.frames(
            &format!("{role}-uncompressed"),
            &prefixes,
            &cat(&[&f(FIN | 0x1, b"Hello"), &f(FIN | 0x8, b"\x03\xe8")]),
        );
        s.frames(
            &format!("{role}-rsv1-on-continuation"),
            &prefixes,
            &cat(&[&f(0x41, &hello[..3]), &f(FIN | 0x40, &hello[3..])]),
        );
        s.frames(&format!("{role}-corrupt"), &prefixes, &f(FIN | 0x42, &[0xff, 0xff, 0xff]));
        // An inflate bomb: 1 MiB of zeros compresses to about a kilobyte.
        let peer = if client_role { Role::Server } else { Role::Client };
        let mut bomb = Vec::new();
        Compressor::new(&DeflateParams::default(), peer, 9).compress_message(&vec![0u8; 1 << 20], &mut bomb);
        s.frames(&format!("{role}-bomb"), &prefixes, &f(FIN | 0x42, &bomb));
        let mut over = Vec::new();
        Compressor::new(&DeflateParams::default(), peer, 6).compress_message(&vec![b'a'; 70_000], &mut over);
        s.frames(&format!("{role}-just-over"), &prefixes, &f(FIN | 0x41, &over));
    }

    // ---- arbitrary-driven targets ----------------------------------------
    let mut s = Seeds::new("pair_script");
    pseudo_random(&mut s, "random", 24);
    let mut s = Seeds::new("differential");
    pseudo_random(&mut s, "random", 24);
    // Some plain text too: arbitrary reads strings from it.
    s.add("text", "Hello \u{e9}\u{1f600} world, some text for the strings ... ".repeat(8).as_bytes());

    println!("seeds written under {}", Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds").display());
}
