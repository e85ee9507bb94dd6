//! Draft-76 throughput: the 'old' and 'new' framing codecs on their own
//! (`hybi_core::framing::{old, new}`), and whole `Connection`s in memory.
//!
//! Message sizes are 16 B, 16 KiB and 1 MiB of text mixing one- to
//! four-byte characters. Every iteration works on 64 KiB of payload or one
//! message, whichever is more (4096 × 16 B, 4 × 16 KiB, 1 × 1 MiB), so the
//! per-call overhead of small messages shows per message. Throughput is in
//! payload bytes. The codecs do not check UTF-8 (the connection does), so
//! the difference between the `codec` and `connection` groups is UTF-8
//! validation, event queueing and the state machine.
//!
//! Run: `cargo bench -p hybi-core --bench framing` (about a minute and a
//! half); add `-- --quick` for a rough figure in a fraction of that.

use std::hint::black_box;
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, BenchmarkId, Criterion, Throughput};
use hybi_core::framing::{new, old, Draft76Frame};
use hybi_core::testing::{entropy, text_of};
use hybi_core::{
    Accept, ClientRequest, Config, Connection, Event, Framing, Instant, Limits, Protocol, RequestKind, Target,
};

const KIB: usize = 1024;
const MIB: usize = 1024 * KIB;
/// Payload bytes per iteration, at least.
const BATCH: usize = 64 * KIB;
const SIZES: [(&str, usize); 3] = [("16B", 16), ("16KiB", 16 * KIB), ("1MiB", MIB)];
const FRAMINGS: [(&str, Framing); 2] = [("old", Framing::Old), ("new", Framing::New)];
const LIMIT: usize = 16 * MIB;
const NOW: Instant = Instant::ZERO;

// ----- inputs -----------------------------------------------------------------

/// `len` bytes of text mixing one- to four-byte characters, ending on a
/// character boundary.
fn text(len: usize) -> String {
    text_of(&["hello ", "wörld ", "✓ ", "😀 ", "websocket ", "frame\n"], len)
}

/// The messages of one iteration for a message size.
fn batch(len: usize) -> Vec<String> {
    let count = (BATCH / len).max(1);
    (0..count).map(|_| text(len)).collect()
}

fn encode(framing: Framing, messages: &[String], out: &mut Vec<u8>) {
    for m in messages {
        match framing {
            Framing::Old => old::encode_text(m, out),
            Framing::New => new::encode_text(m, out),
            Framing::Auto => unreachable!("FRAMINGS is 'old' and 'new'"),
        }
    }
}

/// A decoder of either framing.
enum Decoder {
    Old(old::Decoder),
    New(new::Decoder),
}

impl Decoder {
    fn new(framing: Framing) -> Self {
        match framing {
            Framing::Old => Decoder::Old(old::Decoder::new(LIMIT, LIMIT)),
            Framing::New => Decoder::New(new::Decoder::new(LIMIT, LIMIT)),
            Framing::Auto => unreachable!("FRAMINGS is 'old' and 'new'"),
        }
    }

    /// Decodes every frame in `input`; returns the payload bytes seen.
    fn decode_all(&mut self, mut input: &[u8]) -> usize {
        let mut bytes = 0;
        loop {
            let frame = match self {
                Decoder::Old(d) => d.decode(&mut input),
                Decoder::New(d) => d.decode(&mut input),
            };
            match frame.expect("valid input") {
                Some(Draft76Frame::Text(payload)) => bytes += black_box(payload).len(),
                Some(Draft76Frame::Close) => unreachable!("no close in the input"),
                Some(Draft76Frame::TextPiece { .. }) => unreachable!("the decoders do not stream"),
                None => return bytes,
            }
        }
    }
}

// ----- connections ------------------------------------------------------------

/// A draft-76 client and server in `framing`, both open, transmit drained.
fn pair(framing: Framing) -> (Connection, Connection) {
    let limits = Limits { max_message_size: LIMIT, max_frame_size: LIMIT, ..Limits::default() };
    let target = Target { host: "example.com".into(), port: None, resource: "/bench".into(), secure: false };
    let client_config = Config { protocol: Protocol::Draft76(framing), limits, ..Config::default() };
    let mut client =
        Connection::client(NOW, client_config, ClientRequest::new(target), entropy(7)).expect("client");
    let mut server = Connection::server(NOW, Config { framing, limits, ..Config::default() });
    let mut wire = Vec::new();
    let _ = client.poll_transmit(&mut wire);
    server.handle_input(NOW, &wire);
    assert_eq!(server.poll_event(), Some(Event::Request(RequestKind::WebSocket(Protocol::Draft76(framing)))));
    server.accept(Accept::default()).expect("accept");
    assert_eq!(server.poll_event(), Some(Event::Open));
    wire.clear();
    let _ = server.poll_transmit(&mut wire);
    client.handle_input(NOW, &wire);
    assert_eq!(client.poll_event(), Some(Event::Open));
    (client, server)
}

/// Feeds `wire` to `server` and drains its events; returns the text bytes.
fn receive(server: &mut Connection, wire: &[u8]) -> usize {
    server.handle_input(NOW, wire);
    let mut bytes = 0;
    while let Some(event) = server.poll_event() {
        match event {
            Event::Text(text) => bytes += black_box(text).len(),
            other => panic!("unexpected {other:?}"),
        }
    }
    bytes
}

// ----- benchmarks ---------------------------------------------------------------

fn group<'a>(c: &'a mut Criterion, name: &str) -> BenchmarkGroup<'a, WallTime> {
    let mut g = c.benchmark_group(name);
    g.sample_size(20).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2));
    g
}

fn codec(c: &mut Criterion) {
    for (name, framing) in FRAMINGS {
        let mut g = group(c, &format!("codec_{name}"));
        for (label, len) in SIZES {
            let messages = batch(len);
            let payload: usize = messages.iter().map(String::len).sum();
            let mut wire = Vec::new();
            encode(framing, &messages, &mut wire);
            // Checked once: the decoder gives back every payload byte.
            assert_eq!(Decoder::new(framing).decode_all(&wire), payload);
            g.throughput(Throughput::Bytes(payload as u64));

            let mut decoder = Decoder::new(framing);
            g.bench_with_input(BenchmarkId::new("decode", label), &wire, |b, wire| {
                b.iter(|| decoder.decode_all(black_box(wire)))
            });
            let mut out = Vec::with_capacity(wire.len());
            g.bench_with_input(BenchmarkId::new("encode", label), &messages, |b, messages| {
                b.iter(|| {
                    out.clear();
                    encode(framing, black_box(messages), &mut out);
                    black_box(out.len())
                })
            });
        }
        g.finish();
    }
}

fn connection(c: &mut Criterion) {
    for (name, framing) in FRAMINGS {
        let mut g = group(c, &format!("connection_{name}"));
        for (label, len) in SIZES {
            let messages = batch(len);
            let payload: usize = messages.iter().map(String::len).sum();
            let (mut client, mut server) = pair(framing);
            let mut wire = Vec::new();
            for m in &messages {
                client.send_text(m).expect("send");
            }
            let _ = client.poll_transmit(&mut wire);
            assert_eq!(receive(&mut server, &wire), payload);
            g.throughput(Throughput::Bytes(payload as u64));

            let mut out = Vec::with_capacity(wire.len());
            g.bench_with_input(BenchmarkId::new("send_text", label), &messages, |b, messages| {
                b.iter(|| {
                    for m in messages {
                        client.send_text(black_box(m)).expect("send");
                    }
                    out.clear();
                    black_box(client.poll_transmit(&mut out))
                })
            });
            g.bench_with_input(BenchmarkId::new("receive", label), &wire, |b, wire| {
                b.iter(|| receive(&mut server, black_box(wire)))
            });
        }
        g.finish();
    }
}

criterion_group!(benches, codec, connection);
criterion_main!(benches);
