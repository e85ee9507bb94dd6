//! An RFC 6455 client and an auto-detecting server driven against each other
//! in memory, with and without permessage-deflate.
//!
//! Each scenario is first played live: every command is followed by moving
//! bytes both ways until nothing more is queued, and both ends' events are
//! checked against what the script says must arrive. The two byte streams of
//! that run (client → server including the handshake, server → client) are
//! then fed again to fresh connections of the same configuration, cut at
//! every split point (a sample of them for the big messages) and one byte at
//! a time, and each replay must produce exactly the same events, in order,
//! and end in [`State::Closed`].

use std::fmt::Write as _;

use hybi_core::{
    Accept, ClientRequest, Close, Config, Connection, DeflateConfig, DeflateParams, Error, Event, Framing,
    HandshakeError, Instant, Misuse, Protocol, ProtocolSet, RequestKind, State, Target,
};

use hybi_core::testing::{drain_accepting, entropy, transmit, Pair, Seeded};

const T0: Instant = Instant::ZERO;

// ---------------------------------------------------------------------------
// Test data and configurations.
// ---------------------------------------------------------------------------

/// Random-ish bytes: compress poorly.
fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    Seeded::new(seed).bytes(len)
}

/// Repetitive bytes: compress very well.
fn repetitive_bytes(len: usize) -> Vec<u8> {
    b"all work and no play makes jack a dull boy. ".iter().copied().cycle().take(len).collect()
}

/// Random-ish text of exactly `len` bytes, mixing one- to four-byte characters.
fn random_text(len: usize, seed: u64) -> String {
    const CHARS: [char; 10] = ['a', 'Z', '7', ' ', 'é', 'ß', 'κ', '€', '日', '😀'];
    let mut rng = Seeded::new(seed);
    let mut text = String::with_capacity(len);
    loop {
        let c = CHARS[(rng.next_u64() % CHARS.len() as u64) as usize];
        if text.len() + c.len_utf8() > len {
            break;
        }
        text.push(c);
    }
    while text.len() < len {
        text.push('.');
    }
    text
}

/// Repetitive text of exactly `len` bytes, with multi-byte characters.
fn repetitive_text(len: usize) -> String {
    let unit = "Grüße, κόσμε! 日本語 😀 ";
    let mut text = String::with_capacity(len);
    for c in unit.chars().cycle() {
        if text.len() + c.len_utf8() > len {
            break;
        }
        text.push(c);
    }
    while text.len() < len {
        text.push('-');
    }
    text
}

fn target() -> Target {
    Target { host: "example.com".into(), port: None, resource: "/chat".into(), secure: false }
}

fn rfc6455_client() -> Config {
    Config { protocol: Protocol::Rfc6455, ..Config::default() }
}

/// The compression variants every scenario runs under, by name.
fn deflate_variants() -> Vec<(&'static str, Option<DeflateConfig>, Option<DeflateConfig>)> {
    let no_takeover = DeflateConfig {
        client_no_context_takeover: true,
        server_no_context_takeover: true,
        ..DeflateConfig::default()
    };
    let window_10 = DeflateConfig { server_max_window_bits: Some(10), ..DeflateConfig::default() };
    vec![
        ("no deflate", None, None),
        ("deflate", Some(DeflateConfig::default()), Some(DeflateConfig::default())),
        ("deflate, no context takeover", Some(no_takeover), Some(no_takeover)),
        ("deflate, server_max_window_bits=10", Some(window_10), Some(DeflateConfig::default())),
    ]
}

/// What the variants must agree on, or `None` without compression.
fn expected_params(name: &str) -> Option<DeflateParams> {
    match name {
        "no deflate" => None,
        "deflate" => Some(DeflateParams::default()),
        "deflate, no context takeover" => Some(DeflateParams {
            client_no_context_takeover: true,
            server_no_context_takeover: true,
            ..DeflateParams::default()
        }),
        "deflate, server_max_window_bits=10" => {
            Some(DeflateParams { server_max_window_bits: 10, ..DeflateParams::default() })
        }
        other => panic!("unknown variant {other}"),
    }
}

/// Everything needed to build the same pair again.
#[derive(Clone)]
struct Setup {
    client: Config,
    server: Config,
    subprotocols: Vec<String>,
    accept: Accept,
    seed: u64,
}

impl Setup {
    fn new(client_deflate: Option<DeflateConfig>, server_deflate: Option<DeflateConfig>) -> Setup {
        Setup {
            client: Config { deflate: client_deflate, ..rfc6455_client() },
            server: Config { deflate: server_deflate, ..Config::default() },
            subprotocols: Vec::new(),
            accept: Accept::default(),
            seed: 0x5eed_1234,
        }
    }

    /// A fresh client: same configuration and entropy, so the same request.
    fn client(&self) -> Connection {
        let mut request = ClientRequest::new(target());
        request.subprotocols = self.subprotocols.clone();
        Connection::client(T0, self.client.clone(), request, entropy(self.seed)).expect("client starts")
    }

    fn server(&self) -> Connection {
        Connection::server(T0, self.server.clone())
    }

    /// A fresh pair of both ends, nothing moved yet; the server accepts
    /// with `self.accept`.
    fn pair(&self) -> Pair {
        let mut request = ClientRequest::new(target());
        request.subprotocols = self.subprotocols.clone();
        let mut pair = Pair::new(self.client.clone(), request, self.server.clone(), self.seed);
        pair.accept = Some(self.accept.clone());
        pair
    }
}

// ---------------------------------------------------------------------------
// Scripts.
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    Client,
    Server,
}

#[derive(Clone, Debug)]
enum Op {
    Text(String),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Fragment { binary: bool, data: Vec<u8>, fin: bool },
    Close(Option<u16>, String),
}

type Script = Vec<(Side, Op)>;

/// The events each end must see when `script` is played: (client, server).
fn expected_events(script: &Script) -> (Vec<Event>, Vec<Event>) {
    let mut client = vec![Event::Open];
    let mut server = vec![Event::Request(RequestKind::WebSocket(Protocol::Rfc6455)), Event::Open];
    let mut pending: [Vec<u8>; 2] = [Vec::new(), Vec::new()];
    for (side, op) in script {
        let (me, peer) = match side {
            Side::Client => (&mut client, &mut server),
            Side::Server => (&mut server, &mut client),
        };
        match op {
            Op::Text(t) => peer.push(Event::Text(t.clone())),
            Op::Binary(b) => peer.push(Event::Binary(b.clone())),
            Op::Ping(p) => {
                peer.push(Event::Ping(p.clone()));
                me.push(Event::Pong(p.clone()));
            }
            Op::Fragment { binary, data, fin } => {
                let buf = &mut pending[*side as usize];
                buf.extend_from_slice(data);
                if *fin {
                    let whole = std::mem::take(buf);
                    peer.push(if *binary {
                        Event::Binary(whole)
                    } else {
                        Event::Text(String::from_utf8(whole).expect("script text is UTF-8"))
                    });
                }
            }
            Op::Close(code, reason) => {
                peer.push(Event::Close(Close { code: *code, reason: reason.clone() }));
                // The peer echoes the code and sends no reason.
                me.push(Event::Close(Close { code: *code, reason: String::new() }));
            }
        }
    }
    (client, server)
}

fn apply(conn: &mut Connection, op: &Op) {
    let result = match op {
        Op::Text(t) => conn.send_text(t),
        Op::Binary(b) => conn.send_binary(b),
        Op::Ping(p) => conn.send_ping(p),
        Op::Fragment { binary, data, fin } => conn.send_fragment(*binary, data, *fin),
        Op::Close(code, reason) => conn.close(T0, *code, reason),
    };
    result.unwrap_or_else(|e| panic!("{op:?} refused: {e}"));
}

/// The byte streams and events of one live run.
struct Recording {
    c2s: Vec<u8>,
    s2c: Vec<u8>,
    client_events: Vec<Event>,
    server_events: Vec<Event>,
    /// Stream offsets (c2s, s2c) after the handshake and after each command.
    marks: Vec<(usize, usize)>,
}

/// Plays `script` live and checks what each end saw.
fn record(setup: &Setup, script: &Script) -> Recording {
    let (pair, marks) = drive(setup, script);
    assert_eq!(pair.client.deflate(), pair.server.deflate(), "both ends agree on compression");
    let (client_expected, server_expected) = expected_events(script);
    assert_same_events(&pair.client_events, &client_expected, "live client");
    assert_same_events(&pair.server_events, &server_expected, "live server");
    assert_eq!(pair.client.state(), State::Closed, "live client closed");
    assert_eq!(pair.server.state(), State::Closed, "live server closed");
    assert_eq!(pair.client.poll_timeout(), None);
    assert_eq!(pair.server.poll_timeout(), None);
    Recording {
        c2s: pair.to_server,
        s2c: pair.to_client,
        client_events: pair.client_events,
        server_events: pair.server_events,
        marks,
    }
}

/// A short description of events, for assertion messages about big ones.
fn describe(events: &[Event]) -> String {
    let mut out = String::new();
    for event in events {
        let _ = match event {
            Event::Text(t) if t.len() > 48 => write!(out, "Text({} bytes) ", t.len()),
            Event::Binary(b) if b.len() > 48 => write!(out, "Binary({} bytes) ", b.len()),
            Event::TextFragment { text, fin } if text.len() > 48 => {
                write!(out, "TextFragment({} bytes, fin={fin}) ", text.len())
            }
            Event::BinaryFragment { data, fin } if data.len() > 48 => {
                write!(out, "BinaryFragment({} bytes, fin={fin}) ", data.len())
            }
            other => write!(out, "{other:?} "),
        };
    }
    out
}

fn assert_same_events(actual: &[Event], expected: &[Event], context: &str) {
    if actual == expected {
        return;
    }
    let first =
        actual.iter().zip(expected).position(|(a, e)| a != e).unwrap_or(actual.len().min(expected.len()));
    panic!(
        "{context}: events differ from index {first}\n  actual:   {}\n  expected: {}",
        describe(&actual[first..]),
        describe(&expected[first..])
    );
}

// ---------------------------------------------------------------------------
// Replays.
// ---------------------------------------------------------------------------

/// Which end a replay feeds.
#[derive(Clone, Copy, Debug)]
enum Receiver {
    Client,
    Server,
}

/// Feeds `stream` to a fresh end of `setup`, cut at `cuts` (ascending), and
/// returns its events and final state.
fn replay(setup: &Setup, receiver: Receiver, stream: &[u8], cuts: &[usize]) -> (Vec<Event>, State) {
    let mut conn = match receiver {
        Receiver::Client => {
            let mut client = setup.client();
            let mut request = Vec::new();
            let _ = client.poll_transmit(&mut request);
            client
        }
        Receiver::Server => setup.server(),
    };
    let mut events = Vec::new();
    let mut start = 0;
    // Reads alternate between the two ways of taking input, starting with
    // either (by the first cut), so each replay also checks that events a
    // read leaves queued come out first through the lending one.
    let mut lend = cuts.first().is_some_and(|c| c % 2 == 0);
    for &cut in cuts.iter().chain(std::iter::once(&stream.len())) {
        let cut = cut.min(stream.len());
        if cut <= start {
            continue;
        }
        if lend {
            let before = events.len();
            conn.handle_input_with(T0, &stream[start..cut], &mut |event| events.push(event.into_owned()));
            // A request cannot be accepted from inside the callback; the
            // server keeps what follows it until it is.
            if events[before..].iter().any(|e| matches!(e, Event::Request(RequestKind::WebSocket(_)))) {
                conn.accept(setup.accept.clone()).expect("accept");
            }
            if events[before..].iter().any(|e| matches!(e, Event::Close(_) | Event::Error(_))) {
                conn.finish();
            }
        } else {
            conn.handle_input(T0, &stream[start..cut]);
        }
        drain_accepting(&mut conn, Some(&setup.accept), &mut events);
        lend = !lend;
        start = cut;
    }
    (events, conn.state())
}

fn check_replay(setup: &Setup, rec: &Recording, receiver: Receiver, cuts: &[usize], context: &str) {
    let (stream, expected) = match receiver {
        Receiver::Client => (&rec.s2c, &rec.client_events),
        Receiver::Server => (&rec.c2s, &rec.server_events),
    };
    let (events, state) = replay(setup, receiver, stream, cuts);
    let shown: Vec<usize> = cuts.iter().copied().take(4).collect();
    let context = format!("{context}, {receiver:?} fed {} bytes cut at {shown:?}…", stream.len());
    assert_same_events(&events, expected, &context);
    assert_eq!(state, State::Closed, "{context}: state");
}

/// Every single split point of both streams, then both streams one byte at
/// a time.
fn check_every_split(setup: &Setup, rec: &Recording, context: &str) {
    for receiver in [Receiver::Server, Receiver::Client] {
        let len = match receiver {
            Receiver::Client => rec.s2c.len(),
            Receiver::Server => rec.c2s.len(),
        };
        for cut in 1..len {
            check_replay(setup, rec, receiver, &[cut], context);
        }
        let every: Vec<usize> = (1..len).collect();
        check_replay(setup, rec, receiver, &every, &format!("{context}, byte by byte"));
    }
}

/// A cut at the end of the client's request, for a server fed a big stream.
///
/// A server holds what arrives after the request while the application
/// decides, but at most `max_handshake_bytes` (16 KiB) of it: more fails the
/// connection with `LimitError::HandshakeTooLarge`. A real client cannot send
/// frames before the 101 anyway (RFC 6455 §4.1), so big replays feed the
/// request by itself first; small streams fit and are cut anywhere.
fn handshake_cut(rec: &Recording, receiver: Receiver) -> Option<usize> {
    match receiver {
        Receiver::Server => Some(rec.marks[0].0),
        Receiver::Client => None,
    }
}

/// For big streams: single cuts around every command's boundary, and one
/// replay cut at every 997th byte plus at every one of the first and last 30
/// bytes of each command's stretch of the stream.
fn check_sampled_splits(setup: &Setup, rec: &Recording, single_cuts: bool, context: &str) {
    for receiver in [Receiver::Server, Receiver::Client] {
        let (len, marks): (usize, Vec<usize>) = match receiver {
            Receiver::Client => (rec.s2c.len(), rec.marks.iter().map(|m| m.1).collect()),
            Receiver::Server => (rec.c2s.len(), rec.marks.iter().map(|m| m.0).collect()),
        };
        let mut boundaries = vec![0];
        boundaries.extend(marks);
        boundaries.dedup();
        for &b in boundaries.iter().filter(|_| single_cuts) {
            for cut in [b.saturating_sub(1), b + 1, b + 7] {
                if cut > 0 && cut < len {
                    let mut cuts: Vec<usize> = handshake_cut(rec, receiver).into_iter().collect();
                    cuts.push(cut);
                    cuts.sort_unstable();
                    check_replay(setup, rec, receiver, &cuts, context);
                }
            }
        }
        let mut cuts: Vec<usize> = (1..len).filter(|i| i % 997 == 0).collect();
        for pair in boundaries.windows(2) {
            let (from, to) = (pair[0], pair[1]);
            cuts.extend((from..to).take(30));
            cuts.extend((from..to).rev().take(30));
        }
        cuts.retain(|&c| c > 0 && c < len);
        cuts.extend(handshake_cut(rec, receiver));
        cuts.sort_unstable();
        cuts.dedup();
        check_replay(setup, rec, receiver, &cuts, &format!("{context}, sampled cuts"));
    }
}

/// Small messages of every kind, pings and fragmented messages, the same
/// from each side, then the client closes.
fn script_small() -> Script {
    let mut script = Script::new();
    let snowman = "héllo wörld ☃ 😀 日本語";
    let all_bytes: Vec<u8> = (0..=255).collect();
    for side in [Side::Client, Side::Server] {
        let ops = vec![
            Op::Text(String::new()),
            Op::Binary(Vec::new()),
            Op::Text("Hello, world".into()),
            Op::Ping(b"ping 1".to_vec()),
            Op::Text(snowman.into()),
            Op::Binary(all_bytes.clone()),
            Op::Ping(Vec::new()),
            Op::Text(repetitive_text(125)),
            Op::Text(random_text(126, 3)),
            Op::Binary(random_bytes(125, 4)),
            Op::Binary(repetitive_bytes(126)),
            Op::Ping(vec![0xAB; 125]),
            // A text message in fragments, cut inside characters, with
            // pings between them and an empty fragment.
            Op::Fragment { binary: false, data: snowman.as_bytes()[..2].to_vec(), fin: false },
            Op::Ping(b"between".to_vec()),
            Op::Fragment { binary: false, data: snowman.as_bytes()[2..15].to_vec(), fin: false },
            Op::Fragment { binary: false, data: Vec::new(), fin: false },
            Op::Ping(b"again".to_vec()),
            Op::Fragment { binary: false, data: snowman.as_bytes()[15..].to_vec(), fin: true },
            Op::Fragment { binary: true, data: all_bytes[..100].to_vec(), fin: false },
            Op::Ping(vec![1, 2, 3]),
            Op::Fragment { binary: true, data: all_bytes[100..].to_vec(), fin: true },
            // A one-fragment message, and one ending in an empty fragment.
            Op::Fragment { binary: true, data: vec![9; 10], fin: true },
            Op::Fragment { binary: false, data: b"tail".to_vec(), fin: false },
            Op::Fragment { binary: false, data: Vec::new(), fin: true },
            Op::Text("after the fragments".into()),
        ];
        script.extend(ops.into_iter().map(|op| (side, op)));
    }
    script.push((Side::Client, Op::Close(Some(1000), "bye".into())));
    script
}

/// A few messages each way, then the server closes with a code of its own
/// and a multi-byte reason.
fn script_server_closes() -> Script {
    vec![
        (Side::Client, Op::Text("κόσμε".into())),
        (Side::Server, Op::Binary(vec![0, 255, 1, 254])),
        (Side::Client, Op::Ping(b"p".to_vec())),
        (Side::Server, Op::Fragment { binary: false, data: "日本".as_bytes().to_vec(), fin: false }),
        (Side::Server, Op::Ping(b"q".to_vec())),
        (Side::Server, Op::Fragment { binary: false, data: "語".as_bytes().to_vec(), fin: true }),
        (Side::Server, Op::Close(Some(4001), "server going away ☃".into())),
    ]
}

/// One 64 KiB message each way, for the byte-at-a-time replays.
fn script_64k_byte_by_byte() -> Script {
    vec![
        (Side::Client, Op::Text(random_text(65536, 31))),
        (Side::Server, Op::Binary(random_bytes(65536, 32))),
        (Side::Client, Op::Close(Some(1000), String::new())),
    ]
}

/// The 64 KiB boundaries (16-bit and 64-bit lengths), both ways.
fn script_64k() -> Script {
    let mut script = Script::new();
    for side in [Side::Client, Side::Server] {
        script.push((side, Op::Text(random_text(65535, 11))));
        script.push((side, Op::Ping(b"p".to_vec())));
        script.push((side, Op::Binary(random_bytes(65536, 12))));
        script.push((side, Op::Binary(repetitive_bytes(65535))));
        script.push((side, Op::Text(repetitive_text(65536))));
    }
    script.push((Side::Server, Op::Close(Some(1001), "done".into())));
    script
}

/// 1 MiB messages, random-ish and repetitive, text and binary, both ways.
fn script_1m() -> Script {
    const MIB: usize = 1 << 20;
    let mut script = Script::new();
    for side in [Side::Client, Side::Server] {
        script.push((side, Op::Text(random_text(MIB, 21))));
        script.push((side, Op::Binary(random_bytes(MIB, 22))));
        script.push((side, Op::Ping(b"mid".to_vec())));
        script.push((side, Op::Text(repetitive_text(MIB))));
        script.push((side, Op::Binary(repetitive_bytes(MIB))));
    }
    script.push((Side::Client, Op::Close(Some(3000), "big ones done".into())));
    script
}

// ---------------------------------------------------------------------------
// The pair, over every split.
// ---------------------------------------------------------------------------

fn run_every_split(script: &Script, context: &str) {
    for (name, client_deflate, server_deflate) in deflate_variants() {
        let setup = Setup::new(client_deflate, server_deflate);
        let rec = record(&setup, script);
        check_every_split(&setup, &rec, &format!("{name}, {context}"));
    }
}

#[test]
fn small_messages_every_split_client_closes() {
    run_every_split(&script_small(), "client closes");
}

#[test]
fn every_split_server_closes() {
    run_every_split(&script_server_closes(), "server closes");
}

#[test]
fn negotiated_deflate_parameters() {
    for (name, client_deflate, server_deflate) in deflate_variants() {
        let setup = Setup::new(client_deflate, server_deflate);
        let mut pair = open_pair(&setup);
        assert_eq!(pair.client.deflate().copied(), expected_params(name), "{name}: client");
        assert_eq!(pair.server.deflate().copied(), expected_params(name), "{name}: server");
        // Compression actually happens: a repetitive message shrinks on the wire.
        let before = pair.to_server.len();
        pair.client.send_text(&repetitive_text(10_000)).unwrap();
        pair.pump();
        let on_wire = pair.to_server.len() - before;
        if expected_params(name).is_some() {
            assert!(on_wire < 2_000, "{name}: 10000 repetitive bytes took {on_wire} on the wire");
        } else {
            assert_eq!(on_wire, 10_000 + 4 + 4, "{name}: header, mask and payload");
        }
        assert_eq!(pair.server_events.last(), Some(&Event::Text(repetitive_text(10_000))));
    }
}

#[test]
fn boundary_64k_sampled_splits() {
    for (name, client_deflate, server_deflate) in deflate_variants() {
        let setup = Setup::new(client_deflate, server_deflate);
        let rec = record(&setup, &script_64k());
        check_sampled_splits(&setup, &rec, true, name);
    }
}

#[test]
fn message_64k_byte_by_byte() {
    for (name, client_deflate, server_deflate) in deflate_variants() {
        let setup = Setup::new(client_deflate, server_deflate);
        let rec = record(&setup, &script_64k_byte_by_byte());
        for receiver in [Receiver::Server, Receiver::Client] {
            let len = match receiver {
                Receiver::Client => rec.s2c.len(),
                Receiver::Server => rec.c2s.len(),
            };
            let every: Vec<usize> = (1..len).collect();
            check_replay(&setup, &rec, receiver, &every, &format!("{name}, byte by byte"));
        }
    }
}

#[test]
fn one_mebibyte_messages_sampled_splits() {
    for (name, client_deflate, server_deflate) in deflate_variants() {
        let setup = Setup::new(client_deflate, server_deflate);
        let rec = record(&setup, &script_1m());
        check_sampled_splits(&setup, &rec, false, name);
    }
}

// ---------------------------------------------------------------------------
// Streaming mode.
// ---------------------------------------------------------------------------

/// An open pair of `setup`, with whatever events the handshake left.
fn open_pair(setup: &Setup) -> Pair {
    let mut pair = setup.pair();
    pair.pump();
    assert_eq!((pair.client.state(), pair.server.state()), (State::Open, State::Open));
    pair
}

/// An open pair of `setup` driven by hand: `ops` run in order, bytes moved
/// after each. Returns it and the stream offsets (client → server, server
/// → client) after the handshake and after each op.
fn drive(setup: &Setup, ops: &[(Side, Op)]) -> (Pair, Vec<(usize, usize)>) {
    let mut pair = open_pair(setup);
    let mut marks = vec![(pair.to_server.len(), pair.to_client.len())];
    for (side, op) in ops {
        match side {
            Side::Client => apply(&mut pair.client, op),
            Side::Server => apply(&mut pair.server, op),
        }
        pair.pump();
        marks.push((pair.to_server.len(), pair.to_client.len()));
    }
    (pair, marks)
}

/// The sender runs `ops`; its bytes go to the receiver in `chunk`-byte
/// reads (through `handle_input_with` if `lend`, events made owned).
/// Returns, for each read, its length and the events it produced.
fn stream_to(setup: &Setup, sender: Side, ops: &[Op], chunk: usize, lend: bool) -> Vec<(usize, Vec<Event>)> {
    let mut pair = open_pair(setup);
    let (from, to) = match sender {
        Side::Client => (&mut pair.client, &mut pair.server),
        Side::Server => (&mut pair.server, &mut pair.client),
    };
    for op in ops {
        apply(from, op);
    }
    let mut wire = Vec::new();
    let _ = from.poll_transmit(&mut wire);
    let mut reads = Vec::new();
    for piece in wire.chunks(chunk) {
        let mut events = Vec::new();
        if lend {
            to.handle_input_with(T0, piece, &mut |event| events.push(event.into_owned()));
        } else {
            to.handle_input(T0, piece);
        }
        drain_accepting(to, Some(&setup.accept), &mut events);
        reads.push((piece.len(), events));
    }
    reads
}

/// A streamed message put back together.
#[derive(Debug, PartialEq)]
enum Streamed {
    Text(String),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
}

/// Reassembles streamed events, checking that every piece of a message has
/// the same type, that only the last has `fin`, and that no piece is bigger
/// than `bound(read length)`. Returns the messages and the piece counts.
fn reassemble(
    reads: &[(usize, Vec<Event>)],
    bound: impl Fn(usize, bool, bool) -> usize,
    context: &str,
) -> Vec<(Streamed, usize)> {
    let mut out = Vec::new();
    let mut text: Option<(String, usize)> = None;
    let mut binary: Option<(Vec<u8>, usize)> = None;
    for (read, events) in reads {
        for event in events {
            match event {
                Event::TextFragment { text: piece, fin } => {
                    assert!(binary.is_none(), "text piece inside a binary message");
                    let limit = bound(*read, true, *fin);
                    assert!(
                        piece.len() <= limit,
                        "{context}: text piece of {} bytes from a {read}-byte read",
                        piece.len()
                    );
                    let (buf, n) = text.get_or_insert_with(Default::default);
                    buf.push_str(piece);
                    *n += 1;
                    if *fin {
                        let (buf, n) = text.take().unwrap();
                        out.push((Streamed::Text(buf), n));
                    }
                }
                Event::BinaryFragment { data, fin } => {
                    assert!(text.is_none(), "binary piece inside a text message");
                    let limit = bound(*read, false, *fin);
                    assert!(
                        data.len() <= limit,
                        "{context}: binary piece of {} bytes from a {read}-byte read",
                        data.len()
                    );
                    let (buf, n) = binary.get_or_insert_with(Default::default);
                    buf.extend_from_slice(data);
                    *n += 1;
                    if *fin {
                        let (buf, n) = binary.take().unwrap();
                        out.push((Streamed::Binary(buf), n));
                    }
                }
                Event::Ping(p) => out.push((Streamed::Ping(p.clone()), 1)),
                // Lent (`handle_input_with`), a small message whole in one
                // frame comes whole: its one piece.
                Event::Text(whole) if text.is_none() && binary.is_none() => {
                    out.push((Streamed::Text(whole.clone()), 1))
                }
                Event::Binary(whole) if text.is_none() && binary.is_none() => {
                    out.push((Streamed::Binary(whole.clone()), 1))
                }
                other => {
                    panic!("unexpected event while streaming: {}", describe(std::slice::from_ref(other)))
                }
            }
        }
    }
    assert!(text.is_none() && binary.is_none(), "a streamed message never got its fin");
    out
}

fn streaming_ops() -> (Vec<Op>, Vec<Streamed>) {
    streaming_ops_of(1 << 20)
}

/// [`streaming_ops`] with messages of `size` bytes (fragments of a tenth).
fn streaming_ops_of(size: usize) -> (Vec<Op>, Vec<Streamed>) {
    let part = size / 10;
    let fragmented = random_bytes(3 * part, 41);
    let ops = vec![
        Op::Text(random_text(size, 42)),
        Op::Binary(random_bytes(size, 43)),
        Op::Text(repetitive_text(size)),
        Op::Binary(repetitive_bytes(size)),
        Op::Fragment { binary: true, data: fragmented[..part].to_vec(), fin: false },
        Op::Ping(b"in between".to_vec()),
        Op::Fragment { binary: true, data: fragmented[part..2 * part].to_vec(), fin: false },
        Op::Fragment { binary: true, data: fragmented[2 * part..].to_vec(), fin: true },
        Op::Text(String::new()),
        // Text fragments cut inside characters, a ping between them.
        Op::Fragment { binary: false, data: "日本語".as_bytes()[..1].to_vec(), fin: false },
        Op::Ping(b"mid-character".to_vec()),
        Op::Fragment { binary: false, data: "日本語".as_bytes()[1..5].to_vec(), fin: false },
        Op::Fragment { binary: false, data: "日本語".as_bytes()[5..].to_vec(), fin: true },
    ];
    let expected = vec![
        Streamed::Text(random_text(size, 42)),
        Streamed::Binary(random_bytes(size, 43)),
        Streamed::Text(repetitive_text(size)),
        Streamed::Binary(repetitive_bytes(size)),
        Streamed::Ping(b"in between".to_vec()),
        Streamed::Binary(fragmented),
        Streamed::Text(String::new()),
        Streamed::Ping(b"mid-character".to_vec()),
        Streamed::Text("日本語".into()),
    ];
    (ops, expected)
}

/// Streams [`streaming_ops`] from `sender` in 16 KiB reads and checks the
/// reassembled messages, each piece against `bound`; with `several`, each
/// 1 MiB message must come in more than one piece.
fn check_streaming(
    setup: &Setup,
    sender: Side,
    bound: impl Fn(usize, bool, bool) -> usize,
    several: bool,
    context: &str,
) {
    const CHUNK: usize = 16 * 1024;
    let (ops, expected) = streaming_ops();
    let reads = stream_to(setup, sender, &ops, CHUNK, false);
    let messages = reassemble(&reads, bound, context);
    let (got, counts): (Vec<Streamed>, Vec<usize>) = messages.into_iter().unzip();
    assert!(got == expected, "{context}: streamed messages differ (pieces per message: {counts:?})");
    if several {
        for (i, n) in counts.iter().enumerate().take(4) {
            assert!(*n > 1, "{context}: 1 MiB message {i} arrived in {n} piece(s)");
        }
    }
}

fn streaming_setup(
    client_deflate: Option<DeflateConfig>,
    server_deflate: Option<DeflateConfig>,
    sender: Side,
) -> Setup {
    let mut setup = Setup::new(client_deflate, server_deflate);
    match sender {
        Side::Client => setup.server.streaming = true,
        Side::Server => setup.client.streaming = true,
    }
    setup
}

/// Uncompressed: a piece is never bigger than the read that produced it
/// (text may carry up to three bytes of a character begun in the read before).
fn read_bound(read: usize, text: bool, _last: bool) -> usize {
    if text {
        read + 3
    } else {
        read
    }
}

#[test]
fn streaming_uncompressed_pieces_bounded_by_reads() {
    for sender in [Side::Client, Side::Server] {
        let setup = streaming_setup(None, None, sender);
        check_streaming(&setup, sender, read_bound, true, &format!("{sender:?} sends"));
    }
}

/// Lent (`handle_input_with`), binary pieces come straight from the read
/// or from one scratch buffer, at their own boundaries (a frame's end, 32
/// KiB of a masked payload): the same messages as the queued path, over
/// reads of every small size and around the header and piece sizes, each
/// piece still within its read.
#[test]
fn streaming_lent_pieces_reassemble_over_any_reads() {
    for sender in [Side::Client, Side::Server] {
        let setup = streaming_setup(None, None, sender);
        let (ops, expected) = streaming_ops_of(3000);
        for chunk in 1..=40 {
            let reads = stream_to(&setup, sender, &ops, chunk, true);
            let context = format!("{sender:?} sends, {chunk}-byte reads");
            let (got, _): (Vec<Streamed>, Vec<usize>) =
                reassemble(&reads, read_bound, &context).into_iter().unzip();
            assert!(got == expected, "{context}: streamed messages differ");
        }
        let (ops, expected) = streaming_ops();
        for chunk in [125, 126, 127, 4096, 32 * 1024 - 1, 32 * 1024 + 14, 65536, 200_000, 1 << 21] {
            let reads = stream_to(&setup, sender, &ops, chunk, true);
            let context = format!("{sender:?} sends, {chunk}-byte reads");
            let (got, _): (Vec<Streamed>, Vec<usize>) =
                reassemble(&reads, read_bound, &context).into_iter().unzip();
            assert!(got == expected, "{context}: streamed messages differ");
        }
    }
}

/// With compression the pieces still put the messages back together.
#[test]
fn streaming_compressed_reassembles() {
    // Both ways, except under server_max_window_bits, which only the
    // server's messages are subject to.
    for (name, client_deflate, server_deflate) in deflate_variants().into_iter().skip(1) {
        let senders: &[Side] =
            if name.contains("window") { &[Side::Server] } else { &[Side::Client, Side::Server] };
        for &sender in senders {
            let setup = streaming_setup(client_deflate, server_deflate, sender);
            check_streaming(
                &setup,
                sender,
                |_, _, _| usize::MAX,
                false,
                &format!("{name}, {sender:?} sends"),
            );
        }
    }
}

/// Compressed: an inflated piece is naturally bigger than the compressed
/// read it came from, but it must stay bounded, or streaming would not keep
/// its promise (`Config::streaming`: "a message of any size costs no more
/// memory than one read") and a small read could inflate to ~1000 times its
/// size in one event. The reader's piece is 32 KiB (text: plus a character
/// begun in the piece before), and the inflater stops when it is full,
/// whatever the ratio; a message's last piece may also carry what the
/// inflater still held when the frame's bytes ran out and what the end of
/// the message (RFC 7692's `00 00 FF FF`) gives back: at most its 32 KiB
/// window. (Until session 8 the reader fed the inflater 8 compressed bytes
/// at a time, and a piece of repetitive data grew past 32 KiB by what 8
/// bytes inflate to, up to 8 KiB: this bound fails for it.)
fn compressed_bound(_read: usize, text: bool, last: bool) -> usize {
    32 * 1024 + if text { 3 } else { 0 } + if last { 32 * 1024 } else { 0 }
}

#[test]
fn streaming_compressed_pieces_bounded() {
    for (name, client_deflate, server_deflate) in deflate_variants().into_iter().skip(1) {
        for sender in [Side::Client, Side::Server] {
            let setup = streaming_setup(client_deflate, server_deflate, sender);
            check_streaming(&setup, sender, compressed_bound, true, &format!("{name}, {sender:?} sends"));
        }
    }
}

// ---------------------------------------------------------------------------
// Subprotocols.
// ---------------------------------------------------------------------------

fn chat_setup() -> Setup {
    let mut setup = Setup::new(None, None);
    setup.subprotocols = vec!["chat".into(), "superchat".into()];
    setup.accept = Accept { subprotocol: Some("superchat".into()), headers: Vec::new() };
    setup
}

#[test]
fn subprotocol_negotiated() {
    let setup = chat_setup();
    let Pair { client, server, .. } = open_pair(&setup);
    let offered = hybi_core::handshake::rfc6455::offered_subprotocols(server.request().unwrap());
    assert_eq!(offered, ["chat", "superchat"]);
    assert_eq!(server.subprotocol(), Some("superchat"));
    assert_eq!(client.subprotocol(), Some("superchat"));
    assert_eq!(server.response().unwrap().headers.get_str("Sec-WebSocket-Protocol"), Some("superchat"));
    assert_eq!(client.response().unwrap().headers.get_str("Sec-WebSocket-Protocol"), Some("superchat"));
}

#[test]
fn subprotocol_pair_every_split() {
    for (name, client_deflate, server_deflate) in deflate_variants() {
        let setup = Setup { client: Config { deflate: client_deflate, ..rfc6455_client() }, ..chat_setup() };
        let setup = Setup { server: Config { deflate: server_deflate, ..Config::default() }, ..setup };
        let rec = record(&setup, &script_server_closes());
        check_every_split(&setup, &rec, &format!("{name}, subprotocol"));
    }
}

#[test]
fn no_subprotocol_chosen() {
    let setup = Setup { accept: Accept::default(), ..chat_setup() };
    let Pair { client, server, .. } = open_pair(&setup);
    assert_eq!(server.subprotocol(), None);
    assert_eq!(client.subprotocol(), None);
    assert_eq!(client.response().unwrap().headers.get("Sec-WebSocket-Protocol"), None);
}

#[test]
fn accepting_a_subprotocol_not_offered_is_misuse() {
    for offered in [vec![], vec!["chat".to_string(), "superchat".to_string()]] {
        let setup = Setup { subprotocols: offered.clone(), ..chat_setup() };
        let mut client = setup.client();
        let mut server = setup.server();
        let mut request = Vec::new();
        let _ = client.poll_transmit(&mut request);
        server.handle_input(T0, &request);
        assert_eq!(server.poll_event(), Some(Event::Request(RequestKind::WebSocket(Protocol::Rfc6455))));
        let wrong = Accept { subprotocol: Some("megachat".into()), headers: Vec::new() };
        assert_eq!(server.accept(wrong), Err(Misuse::SubprotocolNotOffered), "offered {offered:?}");
        // The refusal changed nothing: no event, no bytes, still waiting.
        assert_eq!(server.poll_event(), None);
        assert_eq!(server.pending_transmit(), 0);
        assert_eq!(server.state(), State::Handshaking);
        assert_eq!(server.subprotocol(), None);
        // A valid answer still goes through.
        let fine = Accept { subprotocol: offered.first().cloned(), headers: Vec::new() };
        server.accept(fine).expect("accept after a refused accept");
        assert_eq!(server.poll_event(), Some(Event::Open));
        let mut response = Vec::new();
        let _ = server.poll_transmit(&mut response);
        client.handle_input(T0, &response);
        assert_eq!(client.poll_event(), Some(Event::Open));
        assert_eq!(client.subprotocol(), offered.first().map(String::as_str));
        assert_eq!(server.subprotocol(), client.subprotocol());
    }
}

// ---------------------------------------------------------------------------
// One server configuration for every protocol.
// ---------------------------------------------------------------------------

#[test]
fn one_server_config_accepts_draft76_and_rfc6455() {
    let server_config = Config::default();
    let draft76 = Setup {
        client: Config { protocol: Protocol::Draft76(Framing::Old), ..Config::default() },
        server: server_config.clone(),
        ..Setup::new(None, None)
    };
    let rfc6455 = Setup { server: server_config, ..Setup::new(None, None) };
    let ops = [
        (Side::Client, Op::Text("hello from the client, ☃".into())),
        (Side::Server, Op::Text("hello from the server, 日本語".into())),
        (Side::Server, Op::Text(String::new())),
    ];
    // The draft-76 request is of framing 'auto' (the default server's);
    // the client's first frame decides 'old'.
    let auto = Protocol::Draft76(Framing::Auto);
    for (setup, protocol, requested) in [
        (draft76, Protocol::Draft76(Framing::Old), auto),
        (rfc6455.clone(), Protocol::Rfc6455, Protocol::Rfc6455),
    ] {
        let mut ops = ops.to_vec();
        ops.push((Side::Client, Op::Close(None, String::new())));
        let (pair, marks) = drive(&setup, &ops);
        assert_eq!(pair.server.protocol(), Some(protocol));
        assert_eq!(pair.client.protocol(), Some(protocol));
        let close = Event::Close(Close::default());
        assert_eq!(
            pair.server_events,
            [
                Event::Request(RequestKind::WebSocket(requested)),
                Event::Open,
                Event::Text("hello from the client, ☃".into()),
                close.clone(),
            ]
        );
        assert_eq!(
            pair.client_events,
            [
                Event::Open,
                Event::Text("hello from the server, 日本語".into()),
                Event::Text(String::new()),
                close,
            ]
        );
        assert_eq!((pair.client.state(), pair.server.state()), (State::Closed, State::Closed));
        let rec = Recording {
            c2s: pair.to_server,
            s2c: pair.to_client,
            client_events: pair.client_events,
            server_events: pair.server_events,
            marks,
        };
        check_every_split(&setup, &rec, &format!("{protocol:?}"));
    }
}

#[test]
fn server_refuses_draft76_when_not_accepted() {
    let server_config =
        Config { accept: ProtocolSet { draft76: false, ..ProtocolSet::default() }, ..Config::default() };
    let setup = Setup {
        client: Config { protocol: Protocol::Draft76(Framing::Old), ..Config::default() },
        server: server_config.clone(),
        ..Setup::new(None, None)
    };
    let mut client = setup.client();
    let mut request = Vec::new();
    let _ = client.poll_transmit(&mut request);
    // Cut anywhere, the request is refused the same way.
    for cut in 1..=request.len() {
        let mut server = setup.server();
        server.handle_input(T0, &request[..cut]);
        server.handle_input(T0, &request[cut..]);
        let events: Vec<Event> = std::iter::from_fn(|| server.poll_event()).collect();
        assert_eq!(
            events,
            [Event::Error(Error::Handshake(HandshakeError::ProtocolNotAccepted))],
            "cut {cut}"
        );
        assert_eq!(server.state(), State::Closed);
        assert_eq!(server.response().map(|r| r.status), Some(400));
        let mut response = Vec::new();
        let _ = server.poll_transmit(&mut response);
        assert!(response.starts_with(b"HTTP/1.1 400 "), "{}", String::from_utf8_lossy(&response));
        if cut == request.len() {
            client.handle_input(T0, &response);
            assert_eq!(client.poll_event(), Some(Event::Error(Error::Rejected { status: 400 })));
            assert_eq!(client.state(), State::Closed);
            assert_eq!(client.response().map(|r| r.status), Some(400));
        }
    }
    // The same configuration still accepts RFC 6455.
    let rfc6455 = Setup { server: server_config, ..Setup::new(None, None) };
    let Pair { client, server, .. } = open_pair(&rfc6455);
    assert_eq!((client.protocol(), server.protocol()), (Some(Protocol::Rfc6455), Some(Protocol::Rfc6455)));
}

#[test]
fn server_refuses_rfc6455_when_not_accepted() {
    let setup = Setup {
        server: Config {
            accept: ProtocolSet { rfc6455: false, ..ProtocolSet::default() },
            ..Config::default()
        },
        ..Setup::new(None, None)
    };
    let mut client = setup.client();
    let mut server = setup.server();
    let mut request = Vec::new();
    let _ = client.poll_transmit(&mut request);
    server.handle_input(T0, &request);
    assert_eq!(
        server.poll_event(),
        Some(Event::Error(Error::Handshake(HandshakeError::ProtocolNotAccepted)))
    );
    let mut response = Vec::new();
    let _ = server.poll_transmit(&mut response);
    assert!(response.starts_with(b"HTTP/1.1 400 "), "{}", String::from_utf8_lossy(&response));
    client.handle_input(T0, &response);
    assert_eq!(client.poll_event(), Some(Event::Error(Error::Rejected { status: 400 })));
}

// ---------------------------------------------------------------------------
// Closing details.
// ---------------------------------------------------------------------------

#[test]
fn close_reason_of_123_bytes_arrives_and_124_is_refused() {
    for (name, client_deflate, server_deflate) in deflate_variants() {
        let setup = Setup::new(client_deflate, server_deflate);
        let reason = "é".repeat(61) + "!";
        assert_eq!(reason.len(), 123);
        let mut client = open_pair(&setup).client;
        assert_eq!(
            client.close(T0, Some(1000), &(reason.clone() + "!")),
            Err(Misuse::CloseReasonTooLong),
            "{name}"
        );
        assert_eq!(client.state(), State::Open, "{name}: a refused close changes nothing");
        let script = vec![(Side::Server, Op::Close(Some(1011), reason))];
        let rec = record(&setup, &script);
        check_every_split(&setup, &rec, &format!("{name}, 123-byte reason"));
    }
}

#[test]
fn simultaneous_close() {
    let setup = Setup::new(None, None);
    let mut pair = open_pair(&setup);
    pair.client.send_text("last words").unwrap();
    pair.client.close(T0, Some(1000), "client done").unwrap();
    pair.server.close(T0, Some(1001), "server done").unwrap();
    assert_eq!((pair.client.state(), pair.server.state()), (State::Closing, State::Closing));
    // Neither may send once its close is out.
    assert_eq!(pair.client.send_text("late"), Err(Misuse::NotOpen));
    assert_eq!(pair.server.send_ping(b"late"), Err(Misuse::NotOpen));
    pair.pump();
    assert_eq!(
        pair.server_events[2..],
        [
            Event::Text("last words".into()),
            Event::Close(Close { code: Some(1000), reason: "client done".into() })
        ]
    );
    assert_eq!(
        pair.client_events[1..],
        [Event::Close(Close { code: Some(1001), reason: "server done".into() })]
    );
    assert_eq!((pair.client.state(), pair.server.state()), (State::Closed, State::Closed));
    // Each sent exactly one close frame: the streams end with them.
    assert_eq!(pair.to_client[pair.to_client.len() - 2 - 2 - 11..][..2], [0x88, 2 + 11]);
}

#[test]
fn sending_after_the_peer_closed_is_refused() {
    let setup = Setup::new(None, None);
    let mut pair = open_pair(&setup);
    pair.server.close(T0, Some(1000), "").unwrap();
    pair.pump();
    assert_eq!((pair.client.state(), pair.server.state()), (State::Closed, State::Closed));
    assert_eq!(pair.client.send_text("x"), Err(Misuse::NotOpen));
    assert_eq!(pair.client.send_binary(b"x"), Err(Misuse::NotOpen));
    assert_eq!(pair.client.send_fragment(true, b"x", true), Err(Misuse::NotOpen));
    assert_eq!(pair.client.close(T0, None, ""), Err(Misuse::NotOpen));
    assert_eq!(pair.server.send_text("x"), Err(Misuse::NotOpen));
}

#[test]
fn fragment_misuse() {
    let setup = Setup::new(Some(DeflateConfig::default()), Some(DeflateConfig::default()));
    let mut pair = open_pair(&setup);
    pair.client.send_fragment(false, b"one ", false).unwrap();
    assert_eq!(pair.client.send_text("whole"), Err(Misuse::MessageInProgress));
    assert_eq!(pair.client.send_binary(b"whole"), Err(Misuse::MessageInProgress));
    assert_eq!(pair.client.send_fragment(true, b"other type", true), Err(Misuse::FragmentTypeChanged));
    pair.client.send_ping(b"still fine").unwrap();
    pair.client.send_fragment(false, b"two", true).unwrap();
    pair.client.send_text("whole").unwrap();
    pair.pump();
    assert_eq!(
        pair.server_events[2..],
        [Event::Ping(b"still fine".to_vec()), Event::Text("one two".into()), Event::Text("whole".into())]
    );
    assert_eq!(pair.client_events[1..], [Event::Pong(b"still fine".to_vec())]);
}

/// What the server sends under `server_max_window_bits=10`, inflated by C
/// zlib with a 1 KiB window, which refuses any back-reference further away.
#[test]
fn server_window_of_10_bits_is_honoured() {
    use hybi_core::framing::rfc6455::wire::FrameHeader;
    let (_, client_deflate, server_deflate) = deflate_variants().pop().unwrap();
    let setup = Setup::new(client_deflate, server_deflate);
    let messages: Vec<Vec<u8>> = vec![
        repetitive_text(100_000).into_bytes(),
        random_text(70_000, 51).into_bytes(),
        repetitive_bytes(5_000),
        // Repeats of a 2 KiB block: a 32 KiB window would reach back to them.
        random_bytes(2048, 52).repeat(20),
        Vec::new(),
    ];
    let mut server = open_pair(&setup).server;
    for m in &messages {
        server.send_binary(m).unwrap();
    }
    let wire = transmit(&mut server);
    let mut rest = &wire[..];
    let mut zlib = flate2::Decompress::new_with_window_bits(false, 10);
    let mut got = Vec::new();
    while !rest.is_empty() {
        let (header, used) = FrameHeader::parse(rest).unwrap().unwrap();
        assert!(header.fin && header.rsv1 && header.mask.is_none());
        let len = header.payload_len as usize;
        let mut payload = rest[used..used + len].to_vec();
        payload.extend_from_slice(&[0, 0, 0xff, 0xff]);
        rest = &rest[used + len..];
        let mut out: Vec<u8> = Vec::with_capacity(1 << 16);
        let mut input = &payload[..];
        loop {
            out.reserve(1 << 16);
            let before = zlib.total_in();
            zlib.decompress_vec(input, &mut out, flate2::FlushDecompress::Sync)
                .expect("zlib with a 1 KiB window inflates the server's messages");
            input = &input[(zlib.total_in() - before) as usize..];
            if input.is_empty() && out.len() < out.capacity() {
                break;
            }
        }
        got.push(out);
    }
    assert!(got == messages, "zlib inflated {} messages differently", got.len());
}
