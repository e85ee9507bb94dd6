//! RFC 6455 throughput of `hybi-core` next to `tungstenite`, on the same
//! bytes in the same run (see BENCHMARKS.md at the repository root).
//!
//! Every hybi case has a tungstenite twin that decodes or encodes the same
//! message, except permessage-deflate, which tungstenite 0.30 lacks. Inputs
//! are built here, not by either library, and both libraries' results are
//! checked against them once before timing.
//!
//! Run: `cargo bench -p hybi-core --bench rfc6455`

use std::hint::black_box;
use std::io::{self, Cursor, Read, Write};
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{
    criterion_group, criterion_main, BatchSize, BenchmarkGroup, Criterion, SamplingMode, Throughput,
};
use hybi_core::testing::{entropy, text_of, Seeded};
use hybi_core::{
    Accept, ClientRequest, Config, Connection, DeflateConfig, Event, EventRef, Instant, Limits, Protocol,
    RequestKind, Target,
};
use tungstenite::protocol::{Role as TRole, WebSocket, WebSocketConfig};
use tungstenite::{Message, Utf8Bytes};

const MIB: usize = 1024 * 1024;
const KIB: usize = 1024;
/// Frames in the small-frame case.
const SMALL_FRAMES: usize = 4096;
/// Payload bytes of each small frame.
const SMALL_LEN: usize = 16;
/// Both libraries get the same limits: tungstenite's defaults.
const MAX_MESSAGE: usize = 64 * MIB;
const MAX_FRAME: usize = 16 * MIB;

const NOW: Instant = Instant::ZERO;

// ----- inputs -----------------------------------------------------------------

/// Text of `len` bytes, mostly ASCII with some two- and three-byte
/// characters, so UTF-8 validation cannot take an all-ASCII shortcut
/// everywhere. Always ends on a character boundary.
fn mixed_text(len: usize) -> String {
    let words = ["hello ", "world ", "caf\u{e9} ", "na\u{ef}ve ", "\u{20ac}5 ", "websocket ", "frame\n"];
    text_of(&words, len)
}

/// Repetitive JSON-like text of `len` bytes, as an API might stream.
fn json_text(len: usize) -> String {
    let mut rng = Seeded::new(0x1234_5678_9abc_def1);
    let mut s = String::with_capacity(len + 256);
    s.push('[');
    let mut id = 0u64;
    while s.len() < len {
        let r = rng.next_u64();
        s.push_str(&format!(
            "{{\"id\":{id},\"name\":\"user{}\",\"email\":\"user{}@example.com\",\"active\":{},\"score\":{}.{},\"tags\":[\"{}\",\"{}\"]}},\n",
            r % 10_000,
            r % 10_000,
            r & 1 == 0,
            (r >> 8) % 100,
            (r >> 16) % 10,
            ["red", "green", "blue", "admin", "guest"][((r >> 24) % 5) as usize],
            ["eu", "us", "apac"][((r >> 32) % 3) as usize],
        ));
        id += 1;
    }
    s.truncate(len);
    s
}

/// One masked FIN text frame, written by hand (RFC 6455 §5.2, §5.3).
fn masked_text_frame(out: &mut Vec<u8>, payload: &[u8], key: [u8; 4]) {
    out.push(0x81);
    match payload.len() {
        n @ 0..=125 => out.push(0x80 | n as u8),
        n @ 126..=0xffff => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&key);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
}

// ----- hybi setup -------------------------------------------------------------

fn limits() -> Limits {
    Limits { max_message_size: MAX_MESSAGE, max_frame_size: MAX_FRAME, ..Limits::default() }
}

fn hybi_config(deflate: Option<DeflateConfig>) -> Config {
    Config { protocol: Protocol::Rfc6455, limits: limits(), deflate, ..Config::default() }
}

/// A hand-written RFC 6455 opening request (the §1.3 example key).
const REQUEST: &[u8] = b"GET /chat HTTP/1.1\r\n\
Host: example.com\r\n\
Upgrade: websocket\r\n\
Connection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
Sec-WebSocket-Version: 13\r\n\
\r\n";

/// A server past the handshake, with its 101 response drained.
fn hybi_server() -> Connection {
    let mut server = Connection::server(NOW, hybi_config(None));
    server.handle_input(NOW, REQUEST);
    assert_eq!(server.poll_event(), Some(Event::Request(RequestKind::WebSocket(Protocol::Rfc6455))));
    server.accept(Accept::default()).expect("accept");
    assert_eq!(server.poll_event(), Some(Event::Open));
    let mut response = Vec::new();
    let _ = server.poll_transmit(&mut response);
    assert!(response.starts_with(b"HTTP/1.1 101"));
    server
}

/// Moves everything `from` queued into `to`.
fn pump(from: &mut Connection, to: &mut Connection, wire: &mut Vec<u8>) {
    wire.clear();
    if from.poll_transmit(wire) > 0 {
        to.handle_input(NOW, wire);
    }
}

/// A client and a server connected to each other, both open.
fn hybi_pair(deflate: Option<DeflateConfig>) -> (Connection, Connection) {
    hybi_pair_streaming(deflate, false)
}

/// As [`hybi_pair`], the server in streaming mode (as the wasm driver runs it) if `streaming`.
fn hybi_pair_streaming(deflate: Option<DeflateConfig>, streaming: bool) -> (Connection, Connection) {
    let target = Target { host: "example.com".into(), port: None, resource: "/chat".into(), secure: false };
    let mut client = Connection::client(NOW, hybi_config(deflate), ClientRequest::new(target), entropy(7))
        .expect("client");
    let mut server = Connection::server(NOW, Config { streaming, ..hybi_config(deflate) });
    let mut wire = Vec::new();
    pump(&mut client, &mut server, &mut wire);
    assert!(matches!(server.poll_event(), Some(Event::Request(_))));
    server.accept(Accept::default()).expect("accept");
    assert_eq!(server.poll_event(), Some(Event::Open));
    pump(&mut server, &mut client, &mut wire);
    assert_eq!(client.poll_event(), Some(Event::Open));
    assert_eq!(client.deflate().is_some(), deflate.is_some());
    (client, server)
}

/// Feeds `input` to a streaming server in reads of `read` bytes (the wasm
/// driver feeds permessage-deflate input 2 KiB at a time) and returns the
/// bytes of text pieces it handed out and the largest piece.
fn hybi_stream_text(server: &mut Connection, input: &[u8], read: usize) -> (usize, usize) {
    let (mut total, mut largest) = (0, 0);
    for chunk in input.chunks(read) {
        server.handle_input(NOW, chunk);
        while let Some(event) = server.poll_event() {
            match event {
                Event::TextFragment { text, .. } => {
                    total += text.len();
                    largest = largest.max(text.len());
                }
                other => panic!("expected text pieces, got {other:?}"),
            }
        }
    }
    (total, largest)
}

/// Feeds `input` to a server and returns the one text message it holds.
fn hybi_decode_one(server: &mut Connection, input: &[u8]) -> String {
    server.handle_input(NOW, input);
    match server.poll_event() {
        Some(Event::Text(text)) => text,
        other => panic!("expected a text message, got {other:?}"),
    }
}

// ----- tungstenite setup ------------------------------------------------------

fn tungstenite_config() -> WebSocketConfig {
    WebSocketConfig::default().max_message_size(Some(MAX_MESSAGE)).max_frame_size(Some(MAX_FRAME))
}

/// A transport that reads `data` (from the start again after `rewind`) and
/// discards writes.
struct Replay<'a> {
    data: &'a [u8],
    at: usize,
}

impl<'a> Replay<'a> {
    fn new(data: &'a [u8]) -> Self {
        Replay { data, at: 0 }
    }
}

impl Read for Replay<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min(self.data.len() - self.at);
        buf[..n].copy_from_slice(&self.data[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

impl Write for Replay<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn tungstenite_reader(data: &[u8]) -> WebSocket<Replay<'_>> {
    WebSocket::from_raw_socket(Replay::new(data), TRole::Server, Some(tungstenite_config()))
}

fn tungstenite_writer(role: TRole) -> WebSocket<Cursor<Vec<u8>>> {
    WebSocket::from_raw_socket(Cursor::new(Vec::new()), role, Some(tungstenite_config()))
}

fn tungstenite_text(ws: &mut WebSocket<Replay<'_>>) -> Utf8Bytes {
    match ws.read().expect("tungstenite read") {
        Message::Text(text) => text,
        other => panic!("expected a text message, got {other:?}"),
    }
}

/// Sends one message and returns the bytes written, the cursor rewound for
/// the next.
fn tungstenite_send(ws: &mut WebSocket<Cursor<Vec<u8>>>, text: &Utf8Bytes) -> usize {
    ws.get_mut().set_position(0);
    ws.send(Message::Text(text.clone())).expect("tungstenite send");
    ws.get_ref().position() as usize
}

fn group<'a>(c: &'a mut Criterion, name: &str) -> BenchmarkGroup<'a, WallTime> {
    let mut g = c.benchmark_group(name);
    g.sample_size(20).warm_up_time(Duration::from_millis(700)).measurement_time(Duration::from_secs(2));
    g
}

// ----- 1. one masked 1 MiB text frame -------------------------------------------

fn decode_large(c: &mut Criterion) {
    let text = mixed_text(MIB);
    let mut input = Vec::new();
    masked_text_frame(&mut input, text.as_bytes(), [0x37, 0xfa, 0x21, 0x3d]);

    // Both decode the input to the text it was made from.
    assert_eq!(hybi_decode_one(&mut hybi_server(), &input), text);
    assert_eq!(tungstenite_text(&mut tungstenite_reader(&input)).as_str(), text);

    let mut g = group(c, "decode_masked_1MiB_text");
    g.throughput(Throughput::Bytes(text.len() as u64));
    g.bench_function("hybi", |b| {
        b.iter_batched(
            hybi_server,
            |mut server| {
                let text = hybi_decode_one(&mut server, black_box(&input));
                (server, text)
            },
            BatchSize::LargeInput,
        )
    });
    g.bench_function("tungstenite", |b| {
        b.iter_batched(
            || tungstenite_reader(&input),
            |mut ws| {
                let text = tungstenite_text(&mut ws);
                (ws, text)
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

// ----- 2. 4096 masked 16-byte text frames -----------------------------------------

fn decode_small(c: &mut Criterion) {
    let mut rng = Seeded::new(0x9e37_79b9_7f4a_7c15);
    let texts: Vec<String> = (0..SMALL_FRAMES).map(|i| format!("msg {i:>11} ")).collect();
    let mut input = Vec::new();
    for text in &texts {
        assert_eq!(text.len(), SMALL_LEN);
        masked_text_frame(&mut input, text.as_bytes(), (rng.next_u64() as u32).to_le_bytes());
    }

    let mut server = hybi_server();
    server.handle_input(NOW, &input);
    for text in &texts {
        assert_eq!(server.poll_event().as_ref(), Some(&Event::Text(text.clone())));
    }
    assert_eq!(server.poll_event(), None);
    let mut ws = tungstenite_reader(&input);
    for text in &texts {
        assert_eq!(tungstenite_text(&mut ws).as_str(), text);
    }

    let mut g = group(c, "decode_4096_masked_16B_text");
    g.throughput(Throughput::Elements(SMALL_FRAMES as u64));
    // Both connections stay open across iterations: the steady state of a
    // busy connection.
    g.bench_function("hybi", |b| {
        b.iter(|| {
            server.handle_input(NOW, black_box(&input));
            let mut n = 0;
            while let Some(event) = server.poll_event() {
                black_box(&event);
                n += 1;
            }
            assert_eq!(n, SMALL_FRAMES);
        })
    });
    // The same input handed over as it is decoded, messages lent instead
    // of allocated (`handle_input_with`): what a consumer that parses each
    // message in place pays.
    let mut lent = hybi_server();
    let mut n = 0;
    lent.handle_input_with(NOW, &input, &mut |event| {
        assert_eq!(event, EventRef::Text(&texts[n]));
        n += 1;
    });
    assert_eq!(n, SMALL_FRAMES);
    g.bench_function("hybi_lent", |b| {
        b.iter(|| {
            let mut n = 0;
            lent.handle_input_with(NOW, black_box(&input), &mut |event| {
                black_box(&event);
                n += 1;
            });
            assert_eq!(n, SMALL_FRAMES);
        })
    });
    g.bench_function("tungstenite", |b| {
        b.iter(|| {
            ws.get_mut().at = 0;
            for _ in 0..SMALL_FRAMES {
                black_box(tungstenite_text(&mut ws));
            }
        })
    });
    g.finish();
}

// ----- 3. encoding ----------------------------------------------------------------

fn encode(c: &mut Criterion) {
    for (label, len) in [("16B", 16), ("16KiB", 16 * KIB), ("1MiB", MIB)] {
        encode_case(c, "server", label, len);
    }
    for (label, len) in [("16B", 16), ("1MiB", MIB)] {
        encode_case(c, "client", label, len);
    }
}

fn encode_case(c: &mut Criterion, role: &str, label: &str, len: usize) {
    let text = mixed_text(len);
    let shared = Utf8Bytes::from(text.clone());
    let (client, server) = hybi_pair(None);
    let (mut conn, trole) = match role {
        "server" => (server, TRole::Server),
        _ => (client, TRole::Client),
    };
    let mut ws = tungstenite_writer(trole);

    // Same frame from both: identical bytes from a server, and the same
    // length (different masks) from a client.
    let mut out = Vec::new();
    conn.send_text(&text).expect("send");
    let n = conn.poll_transmit(&mut out);
    let m = tungstenite_send(&mut ws, &shared);
    assert_eq!(n, m);
    if trole == TRole::Server {
        assert_eq!(out, ws.get_ref().get_ref()[..m]);
    }

    let mut g = group(c, &format!("encode_{role}_{label}_text"));
    g.throughput(Throughput::Bytes(len as u64));
    g.bench_function("hybi", |b| {
        b.iter(|| {
            out.clear();
            conn.send_text(black_box(&text)).expect("send");
            black_box(conn.poll_transmit(&mut out))
        })
    });
    g.bench_function("tungstenite", |b| b.iter(|| black_box(tungstenite_send(&mut ws, black_box(&shared)))));
    g.finish();
}

// ----- 4. permessage-deflate (hybi only) -------------------------------------------

fn deflate(c: &mut Criterion) {
    // The client forgets its history after each message, so every iteration
    // compresses (and the server inflates) the same message from scratch
    // rather than as a repeat of the previous one.
    let cfg = DeflateConfig { client_no_context_takeover: true, ..DeflateConfig::default() };
    for (label, len) in [("16KiB", 16 * KIB), ("1MiB", MIB)] {
        let text = json_text(len);
        let (mut client, mut server) = hybi_pair(Some(cfg));
        let mut wire = Vec::new();
        client.send_text(&text).expect("send");
        let _ = client.poll_transmit(&mut wire);
        let compressed = wire.clone();
        assert_eq!(hybi_decode_one(&mut server, &compressed), text);

        let mut g = group(c, &format!("deflate_json_{label}"));
        g.throughput(Throughput::Bytes(len as u64));
        if len >= MIB {
            g.sampling_mode(SamplingMode::Flat);
        }
        eprintln!("deflate_json_{label}: {len} B of text compress to a {} B frame", compressed.len());
        g.bench_function("hybi_round_trip", |b| {
            b.iter(|| {
                wire.clear();
                client.send_text(black_box(&text)).expect("send");
                let _ = client.poll_transmit(&mut wire);
                hybi_decode_one(&mut server, &wire)
            })
        });
        g.bench_function("hybi_compress", |b| {
            b.iter(|| {
                wire.clear();
                client.send_text(black_box(&text)).expect("send");
                client.poll_transmit(&mut wire)
            })
        });
        g.bench_function("hybi_inflate", |b| b.iter(|| hybi_decode_one(&mut server, black_box(&compressed))));
        // The path the Node package takes: streaming mode, 2 KiB reads.
        let (_client, mut streaming) = hybi_pair_streaming(Some(cfg), true);
        let (total, largest) = hybi_stream_text(&mut streaming, &compressed, 2 * KIB);
        assert_eq!(total, len);
        eprintln!("deflate_json_{label}: streamed in pieces of at most {largest} B");
        g.bench_function("hybi_inflate_streaming", |b| {
            b.iter(|| hybi_stream_text(&mut streaming, black_box(&compressed), 2 * KIB))
        });
        g.finish();
    }
}

criterion_group!(benches, decode_large, decode_small, encode, deflate);
criterion_main!(benches);
