//! RFC 6455 / RFC 7692 conformance, in memory, for both roles.
//!
//! The cases follow the categories of the Autobahn TestSuite (framing, pings,
//! reserved bits, opcodes, fragmentation, UTF-8, limits, close handling,
//! masking, compression, handshake). Each case runs against a server
//! `Connection` fed masked frames, as a client sends them, and against a
//! client `Connection` fed unmasked frames, as a server sends them. Every
//! case checks the exact events and the exact frames the machine transmits
//! (masked ones are parsed and unmasked first).

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::HashSet;
use std::fmt::Write as _;

use common::{rfc6455_frame, rfc6455_header};
use hybi_core::deflate::{Compressor, Decompressor, DeflateParams};
use hybi_core::framing::rfc6455::wire::{self, FrameHeader, OpCode};
use hybi_core::handshake::rfc6455::accept_key;
use hybi_core::{
    Accept, ClientRequest, Close, Config, Connection, DeflateConfig, Error, Event, HandshakeError, Instant,
    LimitError, Limits, Misuse, Protocol, ProtocolError, RequestKind, Role, Stage, State, Target,
};

// ---------------------------------------------------------------------------
// An allocator that remembers the largest single request made on this thread,
// to show that a length a peer merely declares is never allocated.
// ---------------------------------------------------------------------------

struct TrackingAlloc;

thread_local! {
    static LARGEST_ALLOCATION: Cell<usize> = const { Cell::new(0) };
}

fn note_allocation(size: usize) {
    let _ = LARGEST_ALLOCATION.try_with(|largest| {
        if size > largest.get() {
            largest.set(size);
        }
    });
}

// SAFETY: every call is forwarded unchanged to `System`; the bookkeeping only
// touches a thread-local `Cell` that needs no allocation and no destructor.
unsafe impl GlobalAlloc for TrackingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_allocation(layout.size());
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_allocation(layout.size());
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_allocation(new_size);
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: TrackingAlloc = TrackingAlloc;

/// The largest single allocation `f` made on this thread.
fn largest_allocation_in(f: impl FnOnce()) -> usize {
    LARGEST_ALLOCATION.with(|largest| largest.set(0));
    f();
    LARGEST_ALLOCATION.with(|largest| largest.get())
}

// ---------------------------------------------------------------------------
// Frames, built by hand.
// ---------------------------------------------------------------------------

const FIN: u8 = 0x80;
const RSV1: u8 = 0x40;
const RSV2: u8 = 0x20;
const RSV3: u8 = 0x10;
const CONT: u8 = 0x0;
const TEXT: u8 = 0x1;
const BINARY: u8 = 0x2;
const CLOSE: u8 = 0x8;
const PING: u8 = 0x9;
const PONG: u8 = 0xa;

const ROLES: [Role; 2] = [Role::Server, Role::Client];

/// A frame as it was transmitted: its first byte and its unmasked payload.
#[derive(Clone, PartialEq, Eq)]
struct Sent {
    b0: u8,
    payload: Vec<u8>,
}

impl std::fmt::Debug for Sent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.payload.len() > 64 {
            write!(f, "Sent({:#04x}, {} bytes)", self.b0, self.payload.len())
        } else {
            write!(f, "Sent({:#04x}, {:02x?})", self.b0, self.payload)
        }
    }
}

fn sent(b0: u8, payload: &[u8]) -> Sent {
    Sent { b0, payload: payload.to_vec() }
}

fn close_frame(code: u16) -> Sent {
    sent(FIN | CLOSE, &code.to_be_bytes())
}

/// Parses a transmitted byte stream into frames, with their masking keys.
/// Panics on anything that is not a sequence of whole, valid headers.
fn parse_frames(mut bytes: &[u8]) -> Vec<(Sent, Option<[u8; 4]>)> {
    let mut frames = Vec::new();
    while !bytes.is_empty() {
        let (header, used) = FrameHeader::parse(bytes)
            .expect("transmitted frame header is valid")
            .expect("transmitted frames are whole");
        let len = header.payload_len as usize;
        let mut payload = bytes[used..used + len].to_vec();
        if let Some(key) = header.mask {
            wire::apply_mask(&mut payload, key, 0);
        }
        let b0 = (u8::from(header.fin) << 7)
            | (u8::from(header.rsv1) << 6)
            | (u8::from(header.rsv2) << 5)
            | (u8::from(header.rsv3) << 4)
            | header.opcode.as_u4();
        frames.push((Sent { b0, payload }, header.mask));
        bytes = &bytes[used + len..];
    }
    frames
}

/// Deterministic entropy for clients (xorshift64*).
fn entropy(seed: u64) -> Box<dyn hybi_core::Entropy + Send> {
    let mut state = seed | 1;
    Box::new(move |buf: &mut [u8]| {
        for byte in buf {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            *byte = (state.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8;
        }
    })
}

fn rfc6455() -> Config {
    Config { protocol: Protocol::Rfc6455, ..Config::default() }
}

fn with_limits(max_message_size: usize, max_frame_size: usize) -> Config {
    Config { limits: Limits { max_message_size, max_frame_size, ..Limits::default() }, ..rfc6455() }
}

fn with_deflate() -> Config {
    Config { deflate: Some(DeflateConfig::default()), ..rfc6455() }
}

fn other(role: Role) -> Role {
    match role {
        Role::Client => Role::Server,
        Role::Server => Role::Client,
    }
}

/// Text of exactly `len` bytes mixing one- to four-byte characters.
fn text_of_len(len: usize) -> String {
    let chars = ['a', 'κ', '€', '😀', ' ', 'z'];
    let mut text = String::with_capacity(len);
    for c in chars.iter().cycle() {
        if text.len() + c.len_utf8() > len {
            break;
        }
        text.push(*c);
    }
    while text.len() < len {
        text.push('x');
    }
    text
}

fn binary_of_len(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 + 7) as u8).collect()
}

/// A short description of events, for assertion messages about big ones.
fn describe(events: &[Event]) -> String {
    let mut out = String::new();
    for event in events {
        let _ = match event {
            Event::Text(t) if t.len() > 64 => write!(out, "Text({} bytes) ", t.len()),
            Event::Binary(b) if b.len() > 64 => write!(out, "Binary({} bytes) ", b.len()),
            other => write!(out, "{other:?} "),
        };
    }
    out
}

// ---------------------------------------------------------------------------
// Handshakes.
// ---------------------------------------------------------------------------

const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

fn request_with(extra: &str) -> String {
    format!(
        "GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    )
}

fn target() -> Target {
    Target { host: "example.com".into(), port: None, resource: "/chat".into(), secure: false }
}

/// A client whose request has been taken from its transmit buffer.
fn start_client(config: Config, subprotocols: &[&str]) -> (Connection, String) {
    let mut request = ClientRequest::new(target());
    request.subprotocols = subprotocols.iter().map(|s| s.to_string()).collect();
    let mut conn = Connection::client(Instant::ZERO, config, request, entropy(0x5eed)).unwrap();
    let mut out = Vec::new();
    let _ = conn.poll_transmit(&mut out);
    (conn, String::from_utf8(out).expect("the request is text"))
}

/// The value of header `name` in an HTTP head, compared case-insensitively.
fn header_value<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.split("\r\n").skip(1).find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn response_101(request: &str, extra: &str) -> String {
    let key = header_value(request, "Sec-WebSocket-Key").expect("the request has a key");
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\n{extra}\r\n",
        accept_key(key.as_bytes())
    )
}

/// A connection under test and the peer's side of the wire, held by hand.
struct Peer {
    conn: Connection,
    role: Role,
    masks: u32,
}

impl Peer {
    fn open(role: Role, config: Config) -> Peer {
        match role {
            Role::Server => Peer::server(config, ""),
            Role::Client => Peer::client(config, ""),
        }
    }

    /// A server that accepted `request_with(extra)`.
    fn server(config: Config, extra: &str) -> Peer {
        let mut conn = Connection::server(Instant::ZERO, config);
        conn.handle_input(Instant::ZERO, request_with(extra).as_bytes());
        assert_eq!(conn.poll_event(), Some(Event::Request(RequestKind::WebSocket(Protocol::Rfc6455))));
        conn.accept(Accept::default()).unwrap();
        assert_eq!(conn.poll_event(), Some(Event::Open));
        assert_eq!(conn.poll_event(), None);
        let mut out = Vec::new();
        let _ = conn.poll_transmit(&mut out);
        let response = String::from_utf8(out).unwrap();
        assert!(response.starts_with("HTTP/1.1 101 Switching Protocols\r\n"), "{response}");
        assert_eq!(header_value(&response, "Sec-WebSocket-Accept"), Some(ACCEPT));
        assert_eq!(conn.state(), State::Open);
        Peer { conn, role: Role::Server, masks: 0 }
    }

    /// A client that received a 101 with `extra` headers.
    fn client(config: Config, extra: &str) -> Peer {
        let (mut conn, request) = start_client(config, &[]);
        conn.handle_input(Instant::ZERO, response_101(&request, extra).as_bytes());
        assert_eq!(conn.poll_event(), Some(Event::Open));
        assert_eq!(conn.poll_event(), None);
        assert_eq!(conn.pending_transmit(), 0);
        assert_eq!(conn.state(), State::Open);
        Peer { conn, role: Role::Client, masks: 0 }
    }

    /// The peer's next masking key: a client's frames are masked, each with
    /// its own key; a server's are not.
    fn mask(&mut self) -> Option<[u8; 4]> {
        if self.role == Role::Client {
            return None;
        }
        self.masks += 1;
        let n = self.masks.wrapping_mul(0x9e37_79b9);
        Some([0x37 ^ (n >> 24) as u8, 0xfa ^ (n >> 16) as u8, 0x21 ^ (n >> 8) as u8, 0x3d ^ n as u8])
    }

    /// A frame as the peer would send it.
    fn frame(&mut self, b0: u8, payload: &[u8]) -> Vec<u8> {
        let mask = self.mask();
        rfc6455_frame(b0, payload, mask)
    }

    /// A frame built with the crate's own encoder (RSV2/RSV3 clear).
    fn encoded(&mut self, fin: bool, rsv1: bool, opcode: OpCode, payload: &[u8]) -> Vec<u8> {
        let mask = self.mask();
        let mut out = Vec::new();
        wire::encode_frame(&mut out, fin, rsv1, opcode, payload, mask);
        out
    }

    /// Only the header of a frame, declaring `len` payload bytes.
    fn header(&mut self, b0: u8, len: u64) -> Vec<u8> {
        let mask = self.mask();
        rfc6455_header(b0, len, mask)
    }

    fn feed(&mut self, bytes: &[u8]) {
        self.conn.handle_input(Instant::ZERO, bytes);
    }

    fn feed_bytewise(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.conn.handle_input(Instant::ZERO, std::slice::from_ref(byte));
        }
    }

    /// Every event, as an application that reads to the end takes them:
    /// reaching the close or the error finishes the connection.
    fn events(&mut self) -> Vec<Event> {
        let events: Vec<Event> = std::iter::from_fn(|| self.conn.poll_event()).collect();
        if matches!(events.last(), Some(Event::Close(_) | Event::Error(_))) {
            self.conn.finish();
        }
        events
    }

    fn transmitted(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        let _ = self.conn.poll_transmit(&mut out);
        out
    }

    /// The frames transmitted since the last call. A server's must be
    /// unmasked, a client's masked, every one with the shortest length
    /// encoding (checked by rebuilding the exact bytes).
    fn sent(&mut self) -> Vec<Sent> {
        let raw = self.transmitted();
        self.check_sent(&raw)
    }

    /// Parses transmitted bytes, checking the masking rule for our role and
    /// the shortest length encoding.
    fn check_sent(&self, raw: &[u8]) -> Vec<Sent> {
        let frames = parse_frames(raw);
        let mut rebuilt = Vec::new();
        for (frame, mask) in &frames {
            match self.role {
                Role::Server => assert_eq!(*mask, None, "a server masked {frame:?}"),
                Role::Client => assert!(mask.is_some(), "a client sent {frame:?} unmasked"),
            }
            rebuilt.extend(rfc6455_frame(frame.b0, &frame.payload, *mask));
        }
        assert!(raw == rebuilt, "{:?}: transmitted bytes are not minimally encoded", self.role);
        frames.into_iter().map(|(frame, _)| frame).collect()
    }

    fn expect(&mut self, events: &[Event], frames: &[Sent], ctx: &str) {
        let got = self.events();
        assert!(got == events, "{ctx}: events {} expected {}", describe(&got), describe(events));
        assert_eq!(self.sent(), frames, "{ctx}: transmitted frames");
    }

    /// The connection failed with `error` after `events` (which stay): it
    /// sent exactly the close frame with `code` (after `frames`), is closed,
    /// and ignores whatever comes next.
    fn expect_failure(&mut self, events: &[Event], frames: &[Sent], error: Error, code: u16, ctx: &str) {
        assert_eq!(error.close_code(), Some(code), "{ctx}: close code of {error:?}");
        let got = self.events();
        let mut expected = events.to_vec();
        expected.push(Event::Error(error));
        assert!(got == expected, "{ctx}: events {} expected {}", describe(&got), describe(&expected));
        let raw = self.transmitted();
        if self.role == Role::Server && frames.is_empty() {
            assert_eq!(raw, [0x88, 0x02, (code >> 8) as u8, code as u8], "{ctx}: close frame bytes");
        }
        let got_frames = self.check_sent(&raw);
        let mut expected_frames = frames.to_vec();
        expected_frames.push(close_frame(code));
        assert_eq!(got_frames, expected_frames, "{ctx}: transmitted frames");
        self.expect_dead(ctx);
    }

    /// Closed for good: no more events or bytes, whatever arrives.
    fn expect_dead(&mut self, ctx: &str) {
        assert_eq!(self.conn.state(), State::Closed, "{ctx}: state");
        let more = [self.frame(FIN | TEXT, b"ignored"), self.frame(FIN | PING, b"p")].concat();
        self.feed(&more);
        self.conn.handle_eof();
        assert_eq!(self.events(), [], "{ctx}: events after the end");
        assert_eq!(self.transmitted(), [], "{ctx}: bytes after the end");
        assert_eq!(self.conn.send_text("late"), Err(Misuse::NotOpen), "{ctx}");
    }
}

fn protocol(e: ProtocolError) -> Error {
    Error::Protocol(e)
}

// ===========================================================================
// 1. Framing
// ===========================================================================

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

// ===========================================================================
// 2. Pings and pongs
// ===========================================================================

#[test]
fn ping_empty_answered_with_identical_pong() {
    for role in ROLES {
        let mut p = Peer::open(role, rfc6455());
        let frame = p.frame(FIN | PING, b"");
        p.feed(&frame);
        assert_eq!(p.events(), [Event::Ping(vec![])]);
        let raw = p.transmitted();
        match role {
            Role::Server => assert_eq!(raw, [0x8a, 0x00]),
            Role::Client => {
                assert_eq!(raw.len(), 6, "{raw:02x?}");
                assert_eq!(raw[..2], [0x8a, 0x80]);
            }
        }
    }
}

#[test]
fn ping_125_bytes_answered_with_identical_pong() {
    for role in ROLES {
        let mut p = Peer::open(role, rfc6455());
        let payload = binary_of_len(125);
        let frame = p.frame(FIN | PING, &payload);
        p.feed(&frame);
        p.expect(&[Event::Ping(payload.clone())], &[sent(FIN | PONG, &payload)], &format!("{role:?}"));
        if role == Role::Server {
            let frame = p.frame(FIN | PING, &payload);
            p.feed(&frame);
            let _ = p.events();
            let mut expected = vec![0x8a, 0x7d];
            expected.extend_from_slice(&payload);
            assert_eq!(p.transmitted(), expected);
        }
    }
}

#[test]
fn ping_with_binary_payload_answered() {
    let payload = [0x00, 0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0x00, 0xff];
    for role in ROLES {
        let mut p = Peer::open(role, rfc6455());
        let frame = p.frame(FIN | PING, &payload);
        p.feed_bytewise(&frame);
        p.expect(&[Event::Ping(payload.to_vec())], &[sent(FIN | PONG, &payload)], &format!("{role:?}"));
    }
}

#[test]
fn ping_126_bytes_fails_control_frame_too_long() {
    for role in ROLES {
        let mut p = Peer::open(role, rfc6455());
        let frame = p.frame(FIN | PING, &[0x61; 126]);
        p.feed(&frame);
        let error = protocol(ProtocolError::ControlFrameTooLong);
        p.expect_failure(&[], &[], error, 1002, &format!("{role:?}"));
    }
}

#[test]
fn control_frames_over_125_bytes_fail_on_the_header() {
    for role in ROLES {
        for (name, b0) in [("ping", FIN | PING), ("pong", FIN | PONG), ("close", FIN | CLOSE)] {
            let mut p = Peer::open(role, rfc6455());
            let header = p.header(b0, 126);
            p.feed_bytewise(&header);
            let error = protocol(ProtocolError::ControlFrameTooLong);
            p.expect_failure(&[], &[], error, 1002, &format!("{role:?} {name}"));
        }
    }
}

#[test]
fn ping_fragmented_fails() {
    for role in ROLES {
        for (name, b0) in [("ping", PING), ("pong", PONG), ("close", CLOSE)] {
            let mut p = Peer::open(role, rfc6455());
            let frame = [p.frame(b0, b"ab"), p.frame(FIN | CONT, b"cd")].concat();
            p.feed(&frame);
            let error = protocol(ProtocolError::FragmentedControlFrame);
            p.expect_failure(&[], &[], error, 1002, &format!("{role:?} {name}"));
        }
    }
}

#[test]
fn pong_unsolicited_delivered_without_reply() {
    for role in ROLES {
        let mut p = Peer::open(role, rfc6455());
        let frames = [p.frame(FIN | PONG, b""), p.frame(FIN | PONG, b"unsolicited pong payload")].concat();
        p.feed(&frames);
        let events = [Event::Pong(vec![]), Event::Pong(b"unsolicited pong payload".to_vec())];
        p.expect(&events, &[], &format!("{role:?}"));
    }
}

#[test]
fn pong_unsolicited_then_ping_answers_only_the_ping() {
    for role in ROLES {
        let mut p = Peer::open(role, rfc6455());
        let frames = [p.frame(FIN | PONG, b"unsolicited"), p.frame(FIN | PING, b"ping payload")].concat();
        p.feed(&frames);
        let events = [Event::Pong(b"unsolicited".to_vec()), Event::Ping(b"ping payload".to_vec())];
        p.expect(&events, &[sent(FIN | PONG, b"ping payload")], &format!("{role:?}"));
    }
}

#[test]
fn ping_not_answered_with_auto_pong_off() {
    for role in ROLES {
        let mut p = Peer::open(role, Config { auto_pong: false, ..rfc6455() });
        let frame = p.frame(FIN | PING, b"hello");
        p.feed(&frame);
        p.expect(&[Event::Ping(b"hello".to_vec())], &[], &format!("{role:?}"));
        // The application may answer by hand.
        p.conn.send_pong(b"hello").unwrap();
        p.expect(&[], &[sent(FIN | PONG, b"hello")], &format!("{role:?} manual pong"));
    }
}

#[test]
fn ping_ten_in_one_input_answered_in_order() {
    for role in ROLES {
        for bytewise in [false, true] {
            let mut p = Peer::open(role, rfc6455());
            let payloads: Vec<Vec<u8>> = (0..10).map(|i| format!("ping {i}").into_bytes()).collect();
            let input: Vec<u8> = payloads.iter().flat_map(|pl| p.frame(FIN | PING, pl)).collect();
            if bytewise {
                p.feed_bytewise(&input);
            } else {
                p.feed(&input);
            }
            let events: Vec<Event> = payloads.iter().map(|pl| Event::Ping(pl.clone())).collect();
            let pongs: Vec<Sent> = payloads.iter().map(|pl| sent(FIN | PONG, pl)).collect();
            p.expect(&events, &pongs, &format!("{role:?} bytewise {bytewise}"));
        }
    }
}

#[test]
fn ping_send_api() {
    for role in ROLES {
        let mut p = Peer::open(role, rfc6455());
        p.conn.send_ping(b"").unwrap();
        p.conn.send_ping(&[7; 125]).unwrap();
        assert_eq!(p.conn.send_ping(&[7; 126]), Err(Misuse::ControlTooLong));
        assert_eq!(p.conn.send_pong(&[7; 126]), Err(Misuse::ControlTooLong));
        p.expect(&[], &[sent(FIN | PING, b""), sent(FIN | PING, &[7; 125])], &format!("{role:?}"));
        assert_eq!(p.conn.state(), State::Open);
    }
}

// ===========================================================================
// 3. Reserved bits
// ===========================================================================

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

// ===========================================================================
// 4. Opcodes
// ===========================================================================

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

// ===========================================================================
// 5. Fragmentation
// ===========================================================================

/// Frames given as (first byte, payload).
type Frames<'a> = &'a [(u8, &'a [u8])];

/// Builds input for a peer.
type BuildInput = fn(&mut Peer) -> Vec<u8>;

/// The frames of `payload` cut into fragments of `sizes` bytes, first with
/// opcode `op`, the rest continuations, the last (taking what is left)
/// with FIN.
fn fragments(p: &mut Peer, op: u8, payload: &[u8], sizes: &[usize]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = payload;
    for (i, &size) in sizes.iter().enumerate() {
        let last = i + 1 == sizes.len();
        let size = if last { rest.len() } else { size.min(rest.len()) };
        let (piece, tail) = rest.split_at(size);
        rest = tail;
        let b0 = if i == 0 { op } else { CONT } | if last { FIN } else { 0 };
        out.extend(p.frame(b0, piece));
    }
    out
}

#[test]
fn fragmented_text_in_two_fragments() {
    for role in ROLES {
        let mut p = Peer::open(role, rfc6455());
        let frames = [p.frame(TEXT, b"fragment1"), p.frame(FIN | CONT, b"fragment2")].concat();
        p.feed(&frames);
        p.expect(&[Event::Text("fragment1fragment2".into())], &[], &format!("{role:?}"));
    }
}

#[test]
fn fragmented_messages_in_many_fragments() {
    for role in ROLES {
        let mut p = Peer::open(role, rfc6455());
        let text = text_of_len(3000);
        let data = binary_of_len(3000);
        for sizes in [&[1usize, 2, 3][..], &[1000, 1000, 1000], &[7; 500], &[2999, 1], &[0, 3000]] {
            let frames = fragments(&mut p, TEXT, text.as_bytes(), sizes);
            p.feed(&frames);
            let frames = fragments(&mut p, BINARY, &data, sizes);
            p.feed(&frames);
            let events = [Event::Text(text.clone()), Event::Binary(data.clone())];
            p.expect(&events, &[], &format!("{role:?} sizes {:?}", &sizes[..sizes.len().min(4)]));
        }
    }
}

#[test]
fn fragmented_with_pings_interleaved() {
    for role in ROLES {
        let mut p = Peer::open(role, rfc6455());
        let first = [p.frame(TEXT, b"fragment1"), p.frame(FIN | PING, b"ping1")].concat();
        p.feed(&first);
        // The pong goes out in the middle of the message.
        p.expect(&[Event::Ping(b"ping1".to_vec())], &[sent(FIN | PONG, b"ping1")], &format!("{role:?} mid"));
        let rest = [
            p.frame(CONT, b"fragment2"),
            p.frame(FIN | PING, b""),
            p.frame(FIN | PONG, b"pong"),
            p.frame(FIN | CONT, b"fragment3"),
        ]
        .concat();
        p.feed_bytewise(&rest);
        let events = [
            Event::Ping(vec![]),
            Event::Pong(b"pong".to_vec()),
            Event::Text("fragment1fragment2fragment3".into()),
        ];
        p.expect(&events, &[sent(FIN | PONG, b"")], &format!("{role:?} end"));
    }
}

#[test]
fn fragmented_message_interrupted_by_close_ends_cleanly() {
    for role in ROLES {
        let mut p = Peer::open(role, rfc6455());
        let frames =
            [p.frame(TEXT, b"never"), p.frame(FIN | CLOSE, &[0x03, 0xe8]), p.frame(FIN | CONT, b"ends")]
                .concat();
        p.feed(&frames);
        let close = Event::Close(Close { code: Some(1000), reason: String::new() });
        p.expect(&[close], &[close_frame(1000)], &format!("{role:?}"));
        p.expect_dead(&format!("{role:?}"));
    }
}

#[test]
fn continuation_without_message_fails() {
    for role in ROLES {
        let cases: [(&str, Frames); 4] = [
            ("final continuation", &[(FIN | CONT, b"x")]),
            ("non-final continuation", &[(CONT, b"x"), (FIN | CONT, b"y")]),
            ("empty continuation", &[(FIN | CONT, b"")]),
            ("continuation after a whole message", &[(FIN | TEXT, b"done"), (FIN | CONT, b"x")]),
        ];
        for (name, frames) in cases {
            let mut p = Peer::open(role, rfc6455());
            let bytes: Vec<u8> = frames.iter().flat_map(|(b0, pl)| p.frame(*b0, pl)).collect();
            p.feed(&bytes);
            let before: &[Event] =
                if frames.len() == 2 && frames[0].0 & FIN != 0 { &[Event::Text("done".into())] } else { &[] };
            let error = protocol(ProtocolError::UnexpectedContinuation);
            p.expect_failure(before, &[], error, 1002, &format!("{role:?} {name}"));
        }
    }
}

#[test]
fn new_message_while_fragmented_fails() {
    for role in ROLES {
        for (name, first, second) in [
            ("text after text", TEXT, FIN | TEXT),
            ("binary after text", TEXT, FIN | BINARY),
            ("text after binary", BINARY, FIN | TEXT),
            ("non-final text after text", TEXT, TEXT),
        ] {
            let mut p = Peer::open(role, rfc6455());
            let bytes =
                [p.frame(first, b"one"), p.frame(second, b"two"), p.frame(FIN | CONT, b"three")].concat();
            p.feed(&bytes);
            let error = protocol(ProtocolError::ExpectedContinuation);
            p.expect_failure(&[], &[], error, 1002, &format!("{role:?} {name}"));
        }
    }
}

#[test]
fn fragmented_with_empty_fragments() {
    for role in ROLES {
        let mut p = Peer::open(role, rfc6455());
        let cases: [(Frames, Event); 4] = [
            (&[(TEXT, b""), (CONT, b""), (FIN | CONT, b"abc")], Event::Text("abc".into())),
            (&[(TEXT, b"abc"), (CONT, b""), (FIN | CONT, b"")], Event::Text("abc".into())),
            (&[(TEXT, b""), (CONT, b""), (FIN | CONT, b"")], Event::Text(String::new())),
            (&[(BINARY, b""), (CONT, b""), (FIN | CONT, b"")], Event::Binary(vec![])),
        ];
        for (frames, event) in cases {
            let bytes: Vec<u8> = frames.iter().flat_map(|(b0, pl)| p.frame(*b0, pl)).collect();
            p.feed(&bytes);
            p.expect(&[event], &[], &format!("{role:?} {frames:?}"));
        }
    }
}

#[test]
fn fragmented_4_kib_in_one_byte_fragments() {
    for role in ROLES {
        let mut p = Peer::open(role, rfc6455());
        let text = text_of_len(4096);
        let frames = fragments(&mut p, TEXT, text.as_bytes(), &[1; 4096]);
        p.feed(&frames);
        let data = binary_of_len(4096);
        let frames = fragments(&mut p, BINARY, &data, &[1; 4096]);
        p.feed(&frames);
        p.expect(&[Event::Text(text), Event::Binary(data)], &[], &format!("{role:?}"));
    }
}

#[test]
fn fragmented_message_split_at_every_point() {
    for role in ROLES {
        let probe = {
            let mut p = Peer::open(role, rfc6455());
            fragments(&mut p, TEXT, "Hello-µ@ßöäüàá-UTF-8!!".as_bytes(), &[5, 5, 5, 5]).len()
        };
        for split in 0..=probe {
            let mut p = Peer::open(role, rfc6455());
            let bytes = fragments(&mut p, TEXT, "Hello-µ@ßöäüàá-UTF-8!!".as_bytes(), &[5, 5, 5, 5]);
            p.feed(&bytes[..split]);
            p.feed(&bytes[split..]);
            p.expect(
                &[Event::Text("Hello-µ@ßöäüàá-UTF-8!!".into())],
                &[],
                &format!("{role:?} split {split}"),
            );
        }
    }
}

#[test]
fn fragmented_send_api() {
    for role in ROLES {
        let mut p = Peer::open(role, rfc6455());
        p.conn.send_fragment(false, b"Hel", false).unwrap();
        assert_eq!(p.conn.send_text("no"), Err(Misuse::MessageInProgress));
        assert_eq!(p.conn.send_fragment(true, b"x", true), Err(Misuse::FragmentTypeChanged));
        p.conn.send_ping(b"mid").unwrap();
        p.conn.send_fragment(false, b"lo", true).unwrap();
        let frames = [sent(TEXT, b"Hel"), sent(FIN | PING, b"mid"), sent(FIN | CONT, b"lo")];
        p.expect(&[], &frames, &format!("{role:?}"));
    }
}

// ===========================================================================
// 6. UTF-8
// ===========================================================================

const VALID_TEXTS: [&str; 8] = [
    "Hello-µ@ßöäüàá-UTF-8!!",
    "κόσμε",
    "\u{0}\u{7f}\u{80}\u{7ff}\u{800}\u{d7ff}\u{e000}\u{fffd}\u{fffe}\u{ffff}\u{10000}\u{10ffff}",
    "日本語のテキスト",
    "😀🎉🦀",
    "\u{feff}BOM",
    "a\u{0}b",
    "",
];

#[test]
fn utf8_valid_texts_in_one_frame() {
    for role in ROLES {
        let mut p = Peer::open(role, rfc6455());
        for text in VALID_TEXTS {
            let frame = p.frame(FIN | TEXT, text.as_bytes());
            p.feed(&frame);
            let frame = p.frame(FIN | TEXT, text.as_bytes());
            p.feed_bytewise(&frame);
            let event = Event::Text(text.into());
            p.expect(&[event.clone(), event], &[], &format!("{role:?} {text:?}"));
        }
    }
}

#[test]
fn utf8_valid_texts_in_every_two_fragment_split() {
    for role in ROLES {
        let mut p = Peer::open(role, rfc6455());
        for text in VALID_TEXTS {
            for cut in 0..=text.len() {
                let frames = fragments(&mut p, TEXT, text.as_bytes(), &[cut, 0]);
                p.feed(&frames);
                p.expect(&[Event::Text(text.into())], &[], &format!("{role:?} {text:?} cut {cut}"));
            }
        }
    }
}

#[test]
fn utf8_valid_texts_in_one_byte_fragments() {
    for role in ROLES {
        let mut p = Peer::open(role, rfc6455());
        for text in VALID_TEXTS {
            let sizes = vec![1; text.len().max(1)];
            let frames = fragments(&mut p, TEXT, text.as_bytes(), &sizes);
            p.feed_bytewise(&frames);
            p.expect(&[Event::Text(text.into())], &[], &format!("{role:?} {text:?}"));
        }
    }
}

#[test]
fn utf8_character_split_across_frames_succeeds() {
    for role in ROLES {
        let mut p = Peer::open(role, rfc6455());
        for c in ['µ', '€', '😀', '\u{10ffff}', '\u{800}'] {
            let text = format!("a{c}b");
            let bytes = text.as_bytes();
            // Every way of cutting the character into up to three frames.
            for i in 1..bytes.len() {
                for j in i..bytes.len() {
                    let frames = [
                        p.frame(TEXT, &bytes[..i]),
                        p.frame(CONT, &bytes[i..j]),
                        p.frame(FIN | CONT, &bytes[j..]),
                    ]
                    .concat();
                    p.feed(&frames);
                    p.expect(&[Event::Text(text.clone())], &[], &format!("{role:?} {c:?} cuts {i} {j}"));
                }
            }
        }
    }
}

/// Invalid UTF-8, after the families of Autobahn's 6.x cases.
const INVALID_UTF8: [(&str, &[u8]); 36] = [
    ("surrogate inside text (6.3)", b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited"),
    ("5-byte sequence", b"\xf8\x88\x80\x80\x80"),
    ("6-byte sequence", b"\xfc\x84\x80\x80\x80\x80"),
    ("first code point above U+10FFFF", b"\xf4\x90\x80\x80"),
    ("largest 4-byte pattern", b"\xf7\xbf\xbf\xbf"),
    ("lead byte F5", b"\xf5\x80\x80\x80"),
    ("lone continuation 0x80", b"\x80"),
    ("lone continuation 0xBF", b"\xbf"),
    ("continuations after text", b"ab\x80\xbf"),
    ("all 64 continuation bytes", b"\x80\x81\x82\x83\x84\x85\x86\x87\x88\x89\x8a\x8b\x8c\x8d\x8e\x8f\x90\x91\x92\x93\x94\x95\x96\x97\x98\x99\x9a\x9b\x9c\x9d\x9e\x9f\xa0\xa1\xa2\xa3\xa4\xa5\xa6\xa7\xa8\xa9\xaa\xab\xac\xad\xae\xaf\xb0\xb1\xb2\xb3\xb4\xb5\xb6\xb7\xb8\xb9\xba\xbb\xbc\xbd\xbe\xbf"),
    ("lonely 2-byte start then space", b"\xc0 \xc1 \xc2 \xdf "),
    ("lonely 3-byte start then space", b"\xe0 \xef "),
    ("lonely 4-byte start then space", b"\xf0 \xf4 "),
    ("2-byte sequence missing its last byte", b"\xdf"),
    ("3-byte sequence missing its last byte", b"\xef\xbf"),
    ("4-byte sequence missing its last byte", b"\xf4\x8f\xbf"),
    ("truncated at message end after text", b"abc\xe2\x82"),
    ("concatenated incomplete sequences", b"\xc0\xe0\x80\xf0\x80\x80\xdf\xef\xbf"),
    ("impossible byte FE", b"\xfe"),
    ("impossible byte FF", b"\xff"),
    ("impossible bytes FEFEFFFF", b"\xfe\xfe\xff\xff"),
    ("overlong slash, 2 bytes", b"\xc0\xaf"),
    ("overlong slash, 3 bytes", b"\xe0\x80\xaf"),
    ("overlong slash, 4 bytes", b"\xf0\x80\x80\xaf"),
    ("maximum overlong, 2 bytes", b"\xc1\xbf"),
    ("maximum overlong, 3 bytes", b"\xe0\x9f\xbf"),
    ("maximum overlong, 4 bytes", b"\xf0\x8f\xbf\xbf"),
    ("overlong NUL, 2 bytes", b"\xc0\x80"),
    ("overlong NUL, 3 bytes", b"\xe0\x80\x80"),
    ("single surrogate U+D800", b"\xed\xa0\x80"),
    ("single surrogate U+DB7F", b"\xed\xad\xbf"),
    ("single surrogate U+DC00", b"\xed\xb0\x80"),
    ("single surrogate U+DFFF", b"\xed\xbf\xbf"),
    ("paired surrogates U+D800 U+DC00", b"\xed\xa0\x80\xed\xb0\x80"),
    ("paired surrogates U+DBFF U+DFFF", b"\xed\xaf\xbf\xed\xbf\xbf"),
    ("surrogate after valid 4-byte", b"\xf0\x9f\x98\x80\xed\xa0\x80"),
];

#[test]
fn utf8_invalid_in_one_frame_fails_1007() {
    for role in ROLES {
        for (name, bytes) in INVALID_UTF8 {
            for bytewise in [false, true] {
                let mut p = Peer::open(role, rfc6455());
                let frame = p.frame(FIN | TEXT, bytes);
                if bytewise {
                    p.feed_bytewise(&frame);
                } else {
                    p.feed(&frame);
                }
                let error = protocol(ProtocolError::InvalidUtf8);
                p.expect_failure(&[], &[], error, 1007, &format!("{role:?} {name} bytewise {bytewise}"));
            }
        }
    }
}

#[test]
fn utf8_invalid_in_one_byte_fragments_fails_1007() {
    for role in ROLES {
        for (name, bytes) in INVALID_UTF8 {
            let mut p = Peer::open(role, rfc6455());
            let frames = fragments(&mut p, TEXT, bytes, &vec![1; bytes.len()]);
            p.feed(&frames);
            let error = protocol(ProtocolError::InvalidUtf8);
            p.expect_failure(&[], &[], error, 1007, &format!("{role:?} {name}"));
        }
    }
}

#[test]
fn utf8_fail_fast_in_first_fragment() {
    // The first fragment alone is already invalid: the connection fails
    // before the final fragment exists (Autobahn 6.4.1).
    for role in ROLES {
        for (name, bytes) in INVALID_UTF8 {
            // Sequences that are only incomplete cannot fail before the end.
            if name.contains("missing") || name.contains("truncated") || name.contains("concatenated") {
                continue;
            }
            let mut p = Peer::open(role, rfc6455());
            let frame = p.frame(TEXT, bytes);
            p.feed(&frame);
            let error = protocol(ProtocolError::InvalidUtf8);
            p.expect_failure(&[], &[], error, 1007, &format!("{role:?} {name}"));
        }
    }
}

#[test]
fn utf8_fail_fast_autobahn_6_4() {
    let kosme = "κόσμε".as_bytes();
    for role in ROLES {
        // 6.4.1: valid fragment, invalid fragment (not final): fails on it.
        let mut p = Peer::open(role, rfc6455());
        let frames = [p.frame(TEXT, kosme), p.frame(CONT, b"\xf4\x90\x80\x80")].concat();
        p.feed(&frames);
        let error = protocol(ProtocolError::InvalidUtf8);
        p.expect_failure(&[], &[], error.clone(), 1007, &format!("{role:?} 6.4.1"));

        // 6.4.2: the bad byte starts a fragment after a valid lead byte.
        let mut p = Peer::open(role, rfc6455());
        let frames = [p.frame(TEXT, &[kosme, b"\xf4"].concat()), p.frame(CONT, b"\x90\x80\x80")].concat();
        p.feed(&frames);
        p.expect_failure(&[], &[], error.clone(), 1007, &format!("{role:?} 6.4.2"));

        // 6.4.3/6.4.4: one frame, delivered up to the bad byte only.
        for prefix in [&b"\xf4\x90"[..], b"\xf4\x90\x80\x80edited"] {
            let mut p = Peer::open(role, rfc6455());
            let payload = [kosme, b"\xf4\x90\x80\x80edited"].concat();
            let frame = p.frame(FIN | TEXT, &payload);
            let header_len = frame.len() - payload.len();
            let upto = header_len + kosme.len() + prefix.len().min(2);
            p.feed(&frame[..upto]);
            p.expect_failure(&[], &[], error.clone(), 1007, &format!("{role:?} 6.4.3 {}", prefix.len()));
        }
    }
}

#[test]
fn utf8_close_reason_invalid_fails_1007() {
    for role in ROLES {
        for (name, bytes) in INVALID_UTF8.iter().take(8) {
            let mut p = Peer::open(role, rfc6455());
            let payload = [&[0x03, 0xe8][..], bytes].concat();
            let frame = p.frame(FIN | CLOSE, &payload[..payload.len().min(125)]);
            p.feed(&frame);
            let error = protocol(ProtocolError::InvalidUtf8);
            p.expect_failure(&[], &[], error, 1007, &format!("{role:?} {name}"));
        }
    }
}

#[test]
fn utf8_binary_messages_are_not_validated() {
    for role in ROLES {
        let mut p = Peer::open(role, rfc6455());
        for (_, bytes) in INVALID_UTF8 {
            let frame = p.frame(FIN | BINARY, bytes);
            p.feed(&frame);
            p.expect(&[Event::Binary(bytes.to_vec())], &[], &format!("{role:?}"));
        }
    }
}

// ===========================================================================
// 7. Limits
// ===========================================================================

#[test]
fn limit_message_size_fails_on_the_declaring_header() {
    for role in ROLES {
        for b0 in [FIN | TEXT, FIN | BINARY, TEXT] {
            let mut p = Peer::open(role, with_limits(64 * 1024, 16 << 20));
            let header = p.header(b0, 64 * 1024 + 1);
            p.feed_bytewise(&header);
            let error = Error::Limit(LimitError::MessageTooLarge { limit: 64 * 1024 });
            p.expect_failure(&[], &[], error, 1009, &format!("{role:?} {b0:#x}"));
        }
    }
}

#[test]
fn limit_fragmented_message_growing_past_the_limit() {
    for role in ROLES {
        let mut p = Peer::open(role, with_limits(1000, 16 << 20));
        let frames =
            [p.frame(BINARY, &[1; 600]), p.frame(FIN | PING, b"mid"), p.frame(CONT, &[2; 400])].concat();
        p.feed(&frames);
        p.expect(&[Event::Ping(b"mid".to_vec())], &[sent(FIN | PONG, b"mid")], &format!("{role:?} at 1000"));
        // One more byte than the limit, declared by the next header.
        let header = p.header(FIN | CONT, 1);
        p.feed(&header);
        let error = Error::Limit(LimitError::MessageTooLarge { limit: 1000 });
        p.expect_failure(&[], &[], error, 1009, &format!("{role:?} past 1000"));
    }
}

#[test]
fn limit_fragmented_message_exactly_at_the_limit() {
    for role in ROLES {
        let mut p = Peer::open(role, with_limits(1000, 16 << 20));
        let text = text_of_len(1000);
        let frames = fragments(&mut p, TEXT, text.as_bytes(), &[333, 333, 0, 334]);
        p.feed(&frames);
        p.expect(&[Event::Text(text)], &[], &format!("{role:?}"));
    }
}

#[test]
fn limit_frame_size() {
    for role in ROLES {
        let mut p = Peer::open(role, with_limits(16 << 20, 100));
        let data = binary_of_len(300);
        let frames = fragments(&mut p, BINARY, &data, &[100, 100, 100]);
        p.feed(&frames);
        p.expect(&[Event::Binary(data)], &[], &format!("{role:?} frames at the limit"));
        let header = p.header(FIN | BINARY, 101);
        p.feed(&header);
        let error = Error::Limit(LimitError::FrameTooLarge { limit: 100 });
        p.expect_failure(&[], &[], error, 1009, &format!("{role:?} frame over the limit"));
    }
}

#[test]
fn limit_declared_2_pow_62_fails_at_once() {
    for role in ROLES {
        let mut p = Peer::open(role, rfc6455());
        let mut frame = p.header(FIN | BINARY, 1 << 62);
        frame.extend_from_slice(b"some payload");
        let largest = largest_allocation_in(|| p.feed(&frame));
        let error = Error::Limit(LimitError::FrameTooLarge { limit: 16 << 20 });
        p.expect_failure(&[], &[], error, 1009, &format!("{role:?}"));
        assert!(largest < 64 * 1024, "{role:?}: allocated {largest} bytes for a declared length");
    }
}

#[test]
fn limit_64_bit_length_with_top_bit_set_fails() {
    for role in ROLES {
        let mut p = Peer::open(role, rfc6455());
        let mut frame = vec![FIN | BINARY, if role == Role::Server { 0xff } else { 0x7f }];
        frame.extend_from_slice(&(1u64 << 63).to_be_bytes());
        if role == Role::Server {
            frame.extend_from_slice(&[1, 2, 3, 4]);
        }
        p.feed(&frame);
        let error = protocol(ProtocolError::BadLength);
        p.expect_failure(&[], &[], error, 1002, &format!("{role:?}"));
    }
}

#[test]
fn limit_declared_length_is_not_allocated() {
    // Control: the tracking allocator sees a large allocation.
    assert!(largest_allocation_in(|| drop(std::hint::black_box(vec![0u8; 2 << 20]))) >= 2 << 20);
    for role in ROLES {
        let mut p = Peer::open(role, with_limits(1 << 40, 1 << 40));
        let mut input = p.header(FIN | BINARY, 1 << 30);
        input.extend(vec![0x55; 4096]);
        let largest = largest_allocation_in(|| p.feed(&input));
        assert!(largest < 1 << 20, "{role:?}: a 1 GiB declaration allocated {largest} bytes");
        p.expect(&[], &[], &format!("{role:?}"));
        assert_eq!(p.conn.state(), State::Open);
    }
}

// ===========================================================================
// 8. Close handling
// ===========================================================================

#[test]
fn close_without_payload_answered_with_empty_close() {
    for role in ROLES {
        let mut p = Peer::open(role, rfc6455());
        let frame = p.frame(FIN | CLOSE, b"");
        p.feed(&frame);
        assert_eq!(p.events(), [Event::Close(Close { code: None, reason: String::new() })]);
        let raw = p.transmitted();
        if role == Role::Server {
            assert_eq!(raw, [0x88, 0x00]);
        }
        assert_eq!(p.check_sent(&raw), [sent(FIN | CLOSE, b"")], "{role:?}");
        p.expect_dead(&format!("{role:?}"));
    }
}

#[test]
fn close_1000_with_reason_echoes_the_code() {
    for role in ROLES {
        let mut p = Peer::open(role, rfc6455());
        let frame = p.frame(FIN | CLOSE, b"\x03\xe8Normal closure");
        p.feed(&frame);
        let close = Event::Close(Close { code: Some(1000), reason: "Normal closure".into() });
        p.expect(&[close], &[close_frame(1000)], &format!("{role:?}"));
        assert_eq!(p.conn.state(), State::Closed);
    }
}

#[test]
fn close_invalid_codes_fail_1002() {
    for role in ROLES {
        for code in [0u16, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535] {
            let mut p = Peer::open(role, rfc6455());
            let frame = p.frame(FIN | CLOSE, &code.to_be_bytes());
            p.feed(&frame);
            let error = protocol(ProtocolError::InvalidClosePayload);
            p.expect_failure(&[], &[], error, 1002, &format!("{role:?} code {code}"));
        }
    }
}

#[test]
fn close_valid_codes_accepted_and_echoed() {
    let codes =
        [1000u16, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999];
    for role in ROLES {
        for code in codes {
            let mut p = Peer::open(role, rfc6455());
            let frame = p.frame(FIN | CLOSE, &[&code.to_be_bytes()[..], b"why"].concat());
            p.feed(&frame);
            let close = Event::Close(Close { code: Some(code), reason: "why".into() });
            p.expect(&[close], &[close_frame(code)], &format!("{role:?} code {code}"));
            assert_eq!(p.conn.state(), State::Closed);
        }
    }
}

#[test]
fn close_one_byte_payload_fails_1002() {
    for role in ROLES {
        let mut p = Peer::open(role, rfc6455());
        let frame = p.frame(FIN | CLOSE, &[0x03]);
        p.feed(&frame);
        let error = protocol(ProtocolError::InvalidClosePayload);
        p.expect_failure(&[], &[], error, 1002, &format!("{role:?}"));
    }
}

#[test]
fn close_reason_of_123_bytes_accepted() {
    for role in ROLES {
        let mut p = Peer::open(role, rfc6455());
        let reason = text_of_len(123);
        let frame = p.frame(FIN | CLOSE, &[&[0x03, 0xe8][..], reason.as_bytes()].concat());
        p.feed_bytewise(&frame);
        let close = Event::Close(Close { code: Some(1000), reason });
        p.expect(&[close], &[close_frame(1000)], &format!("{role:?}"));
    }
}

#[test]
fn close_then_further_input_ignored() {
    for role in ROLES {
        // In the same read as the close, and in later reads.
        let mut p = Peer::open(role, rfc6455());
        let bytes =
            [p.frame(FIN | CLOSE, &[0x03, 0xe8]), p.frame(FIN | TEXT, b"after"), p.frame(FIN | PING, b"x")]
                .concat();
        p.feed(&bytes);
        let close = Event::Close(Close { code: Some(1000), reason: String::new() });
        p.expect(&[close], &[close_frame(1000)], &format!("{role:?}"));
        // Even garbage that would otherwise fail the connection.
        p.feed(&[0xff; 32]);
        p.expect(&[], &[], &format!("{role:?} garbage"));
        p.expect_dead(&format!("{role:?}"));
    }
}

#[test]
fn close_data_after_own_close_delivered_until_peer_close() {
    for role in ROLES {
        let mut p = Peer::open(role, rfc6455());
        p.conn.close(Instant::ZERO, Some(1000), "bye").unwrap();
        assert_eq!(p.conn.state(), State::Closing);
        p.expect(&[], &[sent(FIN | CLOSE, b"\x03\xe8bye")], &format!("{role:?} our close"));
        assert!(p.conn.poll_timeout().is_some(), "{role:?}: a close deadline is armed");

        let bytes =
            [p.frame(FIN | TEXT, b"still"), p.frame(BINARY, &[1]), p.frame(FIN | CONT, &[2])].concat();
        p.feed(&bytes);
        let events = [Event::Text("still".into()), Event::Binary(vec![1, 2])];
        p.expect(&events, &[], &format!("{role:?} data while closing"));
        assert_eq!(p.conn.state(), State::Closing);

        let frame = p.frame(FIN | CLOSE, &[0x03, 0xe8]);
        p.feed(&frame);
        let close = Event::Close(Close { code: Some(1000), reason: String::new() });
        // Our close was already sent: no second one.
        p.expect(&[close], &[], &format!("{role:?} peer close"));
        p.expect_dead(&format!("{role:?}"));
    }
}

#[test]
fn close_protocol_error_while_closing_sends_no_second_close() {
    for role in ROLES {
        let mut p = Peer::open(role, rfc6455());
        p.conn.close(Instant::ZERO, None, "").unwrap();
        p.expect(&[], &[sent(FIN | CLOSE, b"")], &format!("{role:?}"));
        let frame = p.frame(FIN | 3, b"");
        p.feed(&frame);
        p.expect(&[Event::Error(protocol(ProtocolError::ReservedOpcode(3)))], &[], &format!("{role:?}"));
        assert_eq!(p.conn.state(), State::Closed);
    }
}

#[test]
fn close_api_validation() {
    let cases: [(&str, Option<u16>, String, Misuse); 9] = [
        ("code 1005", Some(1005), String::new(), Misuse::InvalidCloseCode),
        ("code 1006", Some(1006), String::new(), Misuse::InvalidCloseCode),
        ("code 1015", Some(1015), String::new(), Misuse::InvalidCloseCode),
        ("code 1004", Some(1004), String::new(), Misuse::InvalidCloseCode),
        ("code 999", Some(999), String::new(), Misuse::InvalidCloseCode),
        ("code 5000", Some(5000), String::new(), Misuse::InvalidCloseCode),
        ("code 0", Some(0), String::new(), Misuse::InvalidCloseCode),
        ("reason of 124 bytes", Some(1000), "r".repeat(124), Misuse::CloseReasonTooLong),
        ("reason without code", None, "why".into(), Misuse::InvalidCloseCode),
    ];
    for role in ROLES {
        let mut p = Peer::open(role, rfc6455());
        for (name, code, reason, misuse) in &cases {
            assert_eq!(p.conn.close(Instant::ZERO, *code, reason), Err(*misuse), "{role:?} {name}");
            // A refused command changes nothing.
            assert_eq!(p.conn.state(), State::Open, "{role:?} {name}");
            p.expect(&[], &[], &format!("{role:?} {name}"));
        }
        let reason = "r".repeat(123);
        p.conn.close(Instant::ZERO, Some(4999), &reason).unwrap();
        let payload = [&4999u16.to_be_bytes()[..], reason.as_bytes()].concat();
        p.expect(&[], &[sent(FIN | CLOSE, &payload)], &format!("{role:?} 123-byte reason"));
    }
}

#[test]
fn close_api_exact_bytes_from_server() {
    let mut p = Peer::open(Role::Server, rfc6455());
    p.conn.close(Instant::ZERO, Some(1002), "").unwrap();
    assert_eq!(p.transmitted(), [0x88, 0x02, 0x03, 0xea]);
    let mut p = Peer::open(Role::Server, rfc6455());
    p.conn.close(Instant::ZERO, None, "").unwrap();
    assert_eq!(p.transmitted(), [0x88, 0x00]);
}

#[test]
fn send_after_close_is_not_open() {
    for role in ROLES {
        for peer_closed in [false, true] {
            let mut p = Peer::open(role, rfc6455());
            if peer_closed {
                let frame = p.frame(FIN | CLOSE, b"");
                p.feed(&frame);
            } else {
                p.conn.close(Instant::ZERO, Some(1000), "").unwrap();
            }
            let _ = (p.events(), p.transmitted());
            let not_open = Err(Misuse::NotOpen);
            let ctx = format!("{role:?} peer closed {peer_closed}");
            assert_eq!(p.conn.send_text("x"), not_open, "{ctx}");
            assert_eq!(p.conn.send_binary(b"x"), not_open, "{ctx}");
            assert_eq!(p.conn.send_ping(b"x"), not_open, "{ctx}");
            assert_eq!(p.conn.send_pong(b"x"), not_open, "{ctx}");
            assert_eq!(p.conn.send_fragment(false, b"x", true), not_open, "{ctx}");
            assert_eq!(p.conn.close(Instant::ZERO, Some(1000), ""), not_open, "{ctx}");
            assert_eq!(p.transmitted(), [], "{ctx}");
        }
    }
}

#[test]
fn eof_without_close_is_abnormal() {
    for role in ROLES {
        let mut p = Peer::open(role, rfc6455());
        let frame = p.frame(FIN | TEXT, b"last words");
        p.feed(&frame);
        p.conn.handle_eof();
        let events = [Event::Text("last words".into()), Event::Error(Error::UnexpectedEof(Stage::Open))];
        // Nobody is left to read a close frame.
        p.expect(&events, &[], &format!("{role:?}"));
        p.expect_dead(&format!("{role:?}"));
    }
}

#[test]
fn eof_inside_a_frame_or_message() {
    for role in ROLES {
        let cases: [(&str, BuildInput); 4] = [
            ("inside a header", |p| p.frame(FIN | BINARY, &[0; 200])[..3].to_vec()),
            ("inside a payload", |p| {
                let frame = p.frame(FIN | BINARY, &[0; 200]);
                frame[..frame.len() - 1].to_vec()
            }),
            ("between fragments", |p| p.frame(TEXT, b"half")),
            ("inside a control frame", |p| p.frame(FIN | PING, b"ping")[..3].to_vec()),
        ];
        for (name, build) in cases {
            let mut p = Peer::open(role, rfc6455());
            let bytes = build(&mut p);
            p.feed(&bytes);
            p.conn.handle_eof();
            p.expect(&[Event::Error(Error::UnexpectedEof(Stage::Frame))], &[], &format!("{role:?} {name}"));
            p.expect_dead(&format!("{role:?} {name}"));
        }
    }
}

#[test]
fn eof_after_own_close_is_closing_stage() {
    for role in ROLES {
        let mut p = Peer::open(role, rfc6455());
        p.conn.close(Instant::ZERO, Some(1000), "").unwrap();
        let _ = p.transmitted();
        p.conn.handle_eof();
        p.expect(&[Event::Error(Error::UnexpectedEof(Stage::Closing))], &[], &format!("{role:?}"));
        assert_eq!(p.conn.state(), State::Closed);
    }
}

#[test]
fn eof_after_close_handshake_is_silent() {
    for role in ROLES {
        let mut p = Peer::open(role, rfc6455());
        let frame = p.frame(FIN | CLOSE, b"");
        p.feed(&frame);
        let _ = (p.events(), p.transmitted());
        p.conn.handle_eof();
        p.expect(&[], &[], &format!("{role:?}"));
    }
}

#[test]
fn close_unanswered_times_out() {
    for role in ROLES {
        let mut p = Peer::open(role, rfc6455());
        p.conn.close(Instant::from_millis(1000), Some(1000), "").unwrap();
        let _ = p.transmitted();
        // The default close timeout is 5 s from our close.
        assert_eq!(p.conn.poll_timeout(), Some(Instant::from_millis(6000)), "{role:?}");
        p.conn.handle_timeout(Instant::from_millis(5999));
        p.expect(&[], &[], &format!("{role:?} before the deadline"));
        p.conn.handle_timeout(Instant::from_millis(6000));
        let error = Error::Timeout(hybi_core::Timer::Close);
        p.expect(&[Event::Error(error)], &[], &format!("{role:?} at the deadline"));
        assert_eq!(p.conn.state(), State::Closed);
    }
}

// ===========================================================================
// 9. Masking
// ===========================================================================

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

// ===========================================================================
// 10. Compression (RFC 7692)
// ===========================================================================

/// RFC 7692 §7.2.3.1: "Hello" compressed.
const HELLO: &[u8] = &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
/// §7.2.3.2: the second "Hello" with the first one's history.
const HELLO_AGAIN: &[u8] = &[0xf2, 0x00, 0x11, 0x00, 0x00];

fn open_deflate(role: Role, config: Config) -> Peer {
    match role {
        Role::Server => {
            let p = Peer::server(config, "Sec-WebSocket-Extensions: permessage-deflate\r\n");
            assert_eq!(p.conn.deflate(), Some(&DeflateParams::default()));
            p
        }
        Role::Client => {
            let p = Peer::client(config, "Sec-WebSocket-Extensions: permessage-deflate\r\n");
            assert_eq!(p.conn.deflate(), Some(&DeflateParams::default()));
            p
        }
    }
}

/// A whole message compressed as the peer would.
fn compress(role: Role, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    Compressor::new(&DeflateParams::default(), other(role), 6).compress_message(payload, &mut out);
    out
}

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
    conn.handle_input(Instant::ZERO, &rfc6455_frame(FIN | RSV1 | TEXT, HELLO, None));
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
        let frames = [p.frame(FIN | RSV1 | TEXT, HELLO), p.frame(FIN | RSV1 | TEXT, HELLO)].concat();
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
        let frame = p.frame(FIN | RSV1 | TEXT, HELLO);
        if role == Role::Client {
            assert_eq!(frame, [0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]);
        }
        p.feed(&frame);
        p.expect(&[Event::Text("Hello".into())], &[], &format!("{role:?}"));
        // The same bytes fed one at a time.
        let mut p = open_deflate(role, with_deflate());
        let frame = p.frame(FIN | RSV1 | TEXT, HELLO);
        p.feed_bytewise(&frame);
        p.expect(&[Event::Text("Hello".into())], &[], &format!("{role:?} bytewise"));
    }
}

#[test]
fn deflate_rfc7692_hello_twice_with_context_takeover() {
    for role in ROLES {
        let mut p = open_deflate(role, with_deflate());
        let frames = [p.frame(FIN | RSV1 | TEXT, HELLO), p.frame(FIN | RSV1 | TEXT, HELLO_AGAIN)].concat();
        p.feed(&frames);
        p.expect(&[Event::Text("Hello".into()), Event::Text("Hello".into())], &[], &format!("{role:?}"));
    }
}

#[test]
fn deflate_rfc7692_other_encodings() {
    let cases: [(&str, &[u8]); 3] = [
        ("stored block (7.2.3.3)", &[0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00]),
        ("BFINAL set (7.2.3.4)", &[0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00]),
        (
            "two blocks (7.2.3.5)",
            &[0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00],
        ),
    ];
    for role in ROLES {
        for (name, payload) in cases {
            let mut p = open_deflate(role, with_deflate());
            let frame = p.frame(FIN | RSV1 | TEXT, payload);
            p.feed(&frame);
            p.expect(&[Event::Text("Hello".into())], &[], &format!("{role:?} {name}"));
        }
    }
}

#[test]
fn deflate_uncompressed_messages_still_allowed() {
    for role in ROLES {
        let mut p = open_deflate(role, with_deflate());
        let frames =
            [p.frame(FIN | TEXT, b"plain"), p.frame(FIN | RSV1 | TEXT, HELLO), p.frame(FIN | BINARY, &[1])]
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
            let frame = p.frame(FIN | TEXT | bits, HELLO);
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

/// Bytes that do not compress (xorshift), so the compressed form is about as
/// long as the message.
fn incompressible(len: usize) -> Vec<u8> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 32) as u8
        })
        .collect()
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

// ===========================================================================
// 11. Handshake
// ===========================================================================

#[test]
fn handshake_server_accepts_a_valid_request_split_anywhere() {
    let request = request_with("Sec-WebSocket-Protocol: chat, superchat\r\n");
    for split in 0..=request.len() {
        let mut conn = Connection::server(Instant::ZERO, rfc6455());
        conn.handle_input(Instant::ZERO, &request.as_bytes()[..split]);
        conn.handle_input(Instant::ZERO, &request.as_bytes()[split..]);
        assert_eq!(
            conn.poll_event(),
            Some(Event::Request(RequestKind::WebSocket(Protocol::Rfc6455))),
            "{split}"
        );
        assert_eq!(conn.request().unwrap().target, "/chat");
        conn.accept(Accept { subprotocol: Some("superchat".into()), ..Accept::default() }).unwrap();
        assert_eq!(conn.poll_event(), Some(Event::Open));
        assert_eq!(conn.subprotocol(), Some("superchat"));
        let mut out = Vec::new();
        let _ = conn.poll_transmit(&mut out);
        let response = String::from_utf8(out).unwrap();
        assert!(response.starts_with("HTTP/1.1 101 Switching Protocols\r\n"), "{response}");
        assert!(response.ends_with("\r\n\r\n"), "{response}");
        assert_eq!(header_value(&response, "Upgrade"), Some("websocket"));
        assert_eq!(header_value(&response, "Connection"), Some("Upgrade"));
        assert_eq!(header_value(&response, "Sec-WebSocket-Accept"), Some(ACCEPT));
        assert_eq!(header_value(&response, "Sec-WebSocket-Protocol"), Some("superchat"));
    }
}

#[test]
fn handshake_server_accepts_header_variants() {
    // Header names and tokens are case-insensitive, Connection is a list,
    // and whitespace around values is not part of them.
    let request = "GET /chat HTTP/1.1\r\nhost: server.example.com\r\nupgrade: WebSocket\r\n\
                   connection: keep-alive, Upgrade\r\nsec-websocket-key:   dGhlIHNhbXBsZSBub25jZQ==  \r\n\
                   SEC-WEBSOCKET-VERSION: 13 \r\n\r\n";
    let mut conn = Connection::server(Instant::ZERO, rfc6455());
    conn.handle_input(Instant::ZERO, request.as_bytes());
    assert_eq!(conn.poll_event(), Some(Event::Request(RequestKind::WebSocket(Protocol::Rfc6455))));
    conn.accept(Accept::default()).unwrap();
    assert_eq!(conn.poll_event(), Some(Event::Open));
    let mut out = Vec::new();
    let _ = conn.poll_transmit(&mut out);
    assert_eq!(header_value(std::str::from_utf8(&out).unwrap(), "Sec-WebSocket-Accept"), Some(ACCEPT));
}

#[test]
fn handshake_server_refuses_subprotocol_not_offered() {
    let mut conn = Connection::server(Instant::ZERO, rfc6455());
    conn.handle_input(Instant::ZERO, request_with("Sec-WebSocket-Protocol: chat\r\n").as_bytes());
    let _ = conn.poll_event();
    let accept = Accept { subprotocol: Some("other".into()), ..Accept::default() };
    assert_eq!(conn.accept(accept), Err(Misuse::SubprotocolNotOffered));
    assert_eq!(conn.state(), State::Handshaking);
    conn.accept(Accept::default()).unwrap();
    assert_eq!(conn.poll_event(), Some(Event::Open));
}

#[test]
fn handshake_server_rejects_invalid_requests() {
    let good = request_with("");
    let cases: [(&str, &str, &str, HandshakeError, &str); 12] = [
        (
            "missing Host",
            "Host: server.example.com\r\n",
            "",
            HandshakeError::MissingHeader("Host"),
            "400 Bad Request",
        ),
        (
            "missing Upgrade",
            "Upgrade: websocket\r\n",
            "",
            HandshakeError::MissingHeader("Upgrade"),
            "400 Bad Request",
        ),
        (
            "Upgrade not websocket",
            "Upgrade: websocket",
            "Upgrade: h2c",
            HandshakeError::BadUpgrade,
            "400 Bad Request",
        ),
        (
            "missing Connection",
            "Connection: Upgrade\r\n",
            "",
            HandshakeError::MissingHeader("Connection"),
            "400 Bad Request",
        ),
        (
            "Connection without Upgrade",
            "Connection: Upgrade",
            "Connection: keep-alive",
            HandshakeError::BadConnection,
            "400 Bad Request",
        ),
        (
            "version 8",
            "Version: 13",
            "Version: 8",
            HandshakeError::UnsupportedWebSocketVersion,
            "426 Upgrade Required",
        ),
        (
            "missing version",
            "Sec-WebSocket-Version: 13\r\n",
            "",
            HandshakeError::UnsupportedWebSocketVersion,
            "426 Upgrade Required",
        ),
        ("key of 10 bytes", KEY, "AQIDBAUGBwgJCg==", HandshakeError::InvalidNonce, "400 Bad Request"),
        ("key not base64", KEY, "!!!!not-base64!!!!!!!!!!", HandshakeError::InvalidNonce, "400 Bad Request"),
        (
            "missing key",
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n",
            "",
            HandshakeError::MissingHeader("Sec-WebSocket-Key"),
            "400 Bad Request",
        ),
        ("POST", "GET /chat", "POST /chat", HandshakeError::MethodNotGet, "405 Method Not Allowed"),
        (
            "HTTP/1.0",
            "HTTP/1.1\r\n",
            "HTTP/1.0\r\n",
            HandshakeError::UnsupportedHttpVersion,
            "505 HTTP Version Not Supported",
        ),
    ];
    for (name, from, to, error, status_line) in cases {
        let request = good.replacen(from, to, 1);
        assert_ne!(request, good, "{name}");
        let mut conn = Connection::server(Instant::ZERO, rfc6455());
        conn.handle_input(Instant::ZERO, request.as_bytes());
        let events: Vec<Event> = std::iter::from_fn(|| conn.poll_event()).collect();
        assert_eq!(events, [Event::Error(Error::Handshake(error.clone()))], "{name}");
        assert_eq!(conn.state(), State::Closed, "{name}");
        let mut out = Vec::new();
        let _ = conn.poll_transmit(&mut out);
        let response = String::from_utf8(out).unwrap();
        assert!(response.starts_with(&format!("HTTP/1.1 {status_line}\r\n")), "{name}: {response}");
        let status: u16 = status_line[..3].parse().unwrap();
        assert_eq!(conn.response().map(|r| r.status), Some(status), "{name}");
        assert_eq!(Error::Handshake(error).http_status(), Some(status), "{name}");
        match status {
            426 => assert_eq!(header_value(&response, "Sec-WebSocket-Version"), Some("13"), "{name}"),
            405 => assert_eq!(header_value(&response, "Allow"), Some("GET"), "{name}"),
            _ => {}
        }
        assert_eq!(header_value(&response, "Sec-WebSocket-Accept"), None, "{name}");
    }
}

#[test]
fn handshake_server_request_without_upgrade_is_plain_http() {
    let mut conn = Connection::server(Instant::ZERO, rfc6455());
    conn.handle_input(Instant::ZERO, b"GET /index.html HTTP/1.1\r\nHost: example.com\r\n\r\n");
    assert_eq!(conn.poll_event(), Some(Event::Request(RequestKind::Http)));
    assert_eq!(conn.accept(Accept::default()), Err(Misuse::NoPendingRequest));
}

#[test]
fn handshake_client_request_is_well_formed() {
    let (_, request) = start_client(rfc6455(), &["chat", "superchat"]);
    assert!(request.starts_with("GET /chat HTTP/1.1\r\n"), "{request}");
    assert!(request.ends_with("\r\n\r\n"), "{request}");
    assert_eq!(header_value(&request, "Host"), Some("example.com"));
    assert_eq!(header_value(&request, "Upgrade"), Some("websocket"));
    assert_eq!(header_value(&request, "Connection"), Some("Upgrade"));
    assert_eq!(header_value(&request, "Sec-WebSocket-Version"), Some("13"));
    assert_eq!(header_value(&request, "Sec-WebSocket-Protocol"), Some("chat, superchat"));
    assert_eq!(header_value(&request, "Sec-WebSocket-Extensions"), None);
    // 16 bytes in base64: 22 characters and "==".
    let key = header_value(&request, "Sec-WebSocket-Key").unwrap();
    assert_eq!(key.len(), 24, "{key}");
    assert!(key.ends_with("=="), "{key}");
    assert!(key[..22].bytes().all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/'), "{key}");
    // Two clients draw two keys.
    let mut other_request = ClientRequest::new(target());
    other_request.subprotocols = vec!["chat".into()];
    let mut conn = Connection::client(Instant::ZERO, rfc6455(), other_request, entropy(7)).unwrap();
    let mut out = Vec::new();
    let _ = conn.poll_transmit(&mut out);
    let other_key =
        header_value(std::str::from_utf8(&out).unwrap(), "Sec-WebSocket-Key").unwrap().to_string();
    assert_ne!(key, other_key);
}

#[test]
fn handshake_client_response_split_anywhere() {
    let (_, request) = start_client(rfc6455(), &[]);
    let response = response_101(&request, "");
    for split in 0..=response.len() {
        let (mut conn, request) = start_client(rfc6455(), &[]);
        let response = response_101(&request, "");
        conn.handle_input(Instant::ZERO, &response.as_bytes()[..split]);
        conn.handle_input(Instant::ZERO, &response.as_bytes()[split..]);
        assert_eq!(conn.poll_event(), Some(Event::Open), "split {split}");
        assert_eq!(conn.response().unwrap().status, 101);
    }
}

fn client_fails(config: Config, subprotocols: &[&str], response: impl Fn(&str) -> String, error: Error) {
    let (mut conn, request) = start_client(config, subprotocols);
    conn.handle_input(Instant::ZERO, response(&request).as_bytes());
    let events: Vec<Event> = std::iter::from_fn(|| conn.poll_event()).collect();
    assert_eq!(events, [Event::Error(error.clone())], "{error:?}");
    assert_eq!(conn.state(), State::Closed);
    assert_eq!(conn.pending_transmit(), 0, "a client has nothing to say to a bad response");
    assert_eq!(conn.send_text("x"), Err(Misuse::NotOpen));
}

#[test]
fn handshake_client_accept_mismatch() {
    let wrong = |_: &str| {
        format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {ACCEPT}\r\n\r\n"
        )
    };
    client_fails(rfc6455(), &[], wrong, Error::Handshake(HandshakeError::AcceptMismatch));
    let missing = |_: &str| {
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n".into()
    };
    client_fails(
        rfc6455(),
        &[],
        missing,
        Error::Handshake(HandshakeError::MissingHeader("Sec-WebSocket-Accept")),
    );
}

#[test]
fn handshake_client_subprotocol_not_offered() {
    let chosen = |request: &str| response_101(request, "Sec-WebSocket-Protocol: superchat\r\n");
    client_fails(rfc6455(), &["chat"], chosen, Error::Handshake(HandshakeError::SubprotocolMismatch));
    client_fails(rfc6455(), &[], chosen, Error::Handshake(HandshakeError::SubprotocolMismatch));
}

/// A client offering "chat", fed a 101 built by `build(accept value)`.
fn client_with_response(build: impl Fn(&str) -> String) -> Connection {
    let (mut conn, request) = start_client(rfc6455(), &["chat"]);
    let key = header_value(&request, "Sec-WebSocket-Key").unwrap();
    conn.handle_input(Instant::ZERO, build(&accept_key(key.as_bytes())).as_bytes());
    conn
}

#[test]
fn handshake_client_accepts_case_insensitive_names_and_tokens() {
    let mut conn = client_with_response(|accept| {
        format!(
            "HTTP/1.1 101 Switching Protocols\r\nupgrade: WebSocket\r\nCONNECTION: upgrade\r\n\
             sec-websocket-accept: {accept}\r\nsec-websocket-protocol: chat\r\n\r\n"
        )
    });
    assert_eq!(conn.poll_event(), Some(Event::Open));
    assert_eq!(conn.subprotocol(), Some("chat"));
}

#[test]
fn handshake_client_ignores_whitespace_around_accept() {
    // RFC 7230 §3.2: `header-field = field-name ":" OWS field-value OWS`;
    // the whitespace after the value is not part of it.
    let mut conn = client_with_response(|accept| {
        format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {accept} \r\n\r\n"
        )
    });
    assert_eq!(conn.poll_event(), Some(Event::Open));
}

#[test]
fn handshake_client_ignores_whitespace_around_subprotocol() {
    let mut conn = client_with_response(|accept| {
        format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {accept}\r\nSec-WebSocket-Protocol: chat\t\r\n\r\n"
        )
    });
    assert_eq!(conn.poll_event(), Some(Event::Open));
    assert_eq!(conn.subprotocol(), Some("chat"));
}

#[test]
fn handshake_client_bad_deflate_response() {
    use hybi_core::deflate::NegotiationError;
    let cases = [
        ("permessage-deflate; foo", NegotiationError::UnknownParameter),
        ("permessage-deflate, permessage-deflate", NegotiationError::DuplicateExtension),
        (
            "permessage-deflate; server_max_window_bits=16",
            NegotiationError::InvalidWindowBits(hybi_core::deflate::Parameter::ServerMaxWindowBits),
        ),
    ];
    for (value, error) in cases {
        let header = format!("Sec-WebSocket-Extensions: {value}\r\n");
        let response = move |request: &str| response_101(request, &header);
        client_fails(with_deflate(), &[], response, Error::Handshake(HandshakeError::Extension(error)));
    }
}

#[test]
fn handshake_client_subprotocol_agreed() {
    let (mut conn, request) = start_client(rfc6455(), &["chat", "superchat"]);
    conn.handle_input(
        Instant::ZERO,
        response_101(&request, "Sec-WebSocket-Protocol: superchat\r\n").as_bytes(),
    );
    assert_eq!(conn.poll_event(), Some(Event::Open));
    assert_eq!(conn.subprotocol(), Some("superchat"));
}

#[test]
fn handshake_client_extension_not_offered() {
    let deflate = |request: &str| response_101(request, "Sec-WebSocket-Extensions: permessage-deflate\r\n");
    client_fails(rfc6455(), &[], deflate, Error::Handshake(HandshakeError::ExtensionNotOffered));
    let other = |request: &str| response_101(request, "Sec-WebSocket-Extensions: x-webkit-deflate-frame\r\n");
    client_fails(rfc6455(), &[], other, Error::Handshake(HandshakeError::ExtensionNotOffered));
}

#[test]
fn handshake_client_missing_upgrade_headers() {
    let no_upgrade = |request: &str| response_101(request, "").replacen("Upgrade: websocket\r\n", "", 1);
    client_fails(rfc6455(), &[], no_upgrade, Error::Handshake(HandshakeError::MissingHeader("Upgrade")));
    let no_connection = |request: &str| response_101(request, "").replacen("Connection: Upgrade\r\n", "", 1);
    client_fails(
        rfc6455(),
        &[],
        no_connection,
        Error::Handshake(HandshakeError::MissingHeader("Connection")),
    );
}

#[test]
fn handshake_client_rejected_exposes_the_response() {
    let (mut conn, _) = start_client(rfc6455(), &[]);
    conn.handle_input(
        Instant::ZERO,
        b"HTTP/1.1 403 Forbidden\r\nX-Reason: not you\r\nContent-Length: 0\r\n\r\n",
    );
    assert_eq!(conn.poll_event(), Some(Event::Error(Error::Rejected { status: 403 })));
    assert_eq!(conn.poll_event(), None);
    assert_eq!(conn.state(), State::Closed);
    let response = conn.response().expect("the refusal is kept");
    assert_eq!(response.status, 403);
    assert_eq!(response.reason, "Forbidden");
    assert_eq!(response.headers.get_str("X-Reason"), Some("not you"));
    assert_eq!(response.headers.get_str("content-length"), Some("0"));
}
