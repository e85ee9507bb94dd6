//! What every conformance file shares: the allocator that catches
//! allocations of declared lengths, frames built by hand, and `Peer`, one
//! connection under test with the other end played by hand (so the bytes
//! it is fed never come from the crate's own encoder unless a test says so).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
pub use std::collections::HashSet;
use std::fmt::Write as _;
pub use std::sync::LazyLock;

pub(crate) use crate::common::{self, rfc6455_examples, rfc6455_frame, rfc6455_header, rfc7692_examples};
pub use hybi_core::framing::rfc6455::deflate::{Compressor, Decompressor};
pub use hybi_core::framing::rfc6455::wire::{self, FrameHeader, OpCode};
pub use hybi_core::handshake::rfc6455::accept_key;
pub use hybi_core::testing::{drain, entropy, transmit, Seeded};
pub use hybi_core::{
    Accept, ClientRequest, Close, Config, Connection, DeflateConfig, DeflateParams, Error, Event,
    HandshakeError, Instant, LimitError, Limits, Misuse, Protocol, ProtocolError, RequestKind, Role, Stage,
    State, Target,
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
pub fn largest_allocation_in(f: impl FnOnce()) -> usize {
    LARGEST_ALLOCATION.with(|largest| largest.set(0));
    f();
    LARGEST_ALLOCATION.with(|largest| largest.get())
}

// ---------------------------------------------------------------------------
// Frames, built by hand.
// ---------------------------------------------------------------------------

pub const FIN: u8 = 0x80;
pub const RSV1: u8 = 0x40;
pub const RSV2: u8 = 0x20;
pub const RSV3: u8 = 0x10;
pub const CONT: u8 = 0x0;
pub const TEXT: u8 = 0x1;
pub const BINARY: u8 = 0x2;
pub const CLOSE: u8 = 0x8;
pub const PING: u8 = 0x9;
pub const PONG: u8 = 0xa;

pub const ROLES: [Role; 2] = [Role::Server, Role::Client];

/// A frame as it was transmitted: its first byte and its unmasked payload.
#[derive(Clone, PartialEq, Eq)]
pub struct Sent {
    pub b0: u8,
    pub payload: Vec<u8>,
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

pub fn sent(b0: u8, payload: &[u8]) -> Sent {
    Sent { b0, payload: payload.to_vec() }
}

pub fn close_frame(code: u16) -> Sent {
    sent(FIN | CLOSE, &code.to_be_bytes())
}

/// Parses a transmitted byte stream into frames, with their masking keys.
/// Panics on anything that is not a sequence of whole, valid headers.
pub fn parse_frames(mut bytes: &[u8]) -> Vec<(Sent, Option<[u8; 4]>)> {
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

pub fn rfc6455() -> Config {
    Config { protocol: Protocol::Rfc6455, ..Config::default() }
}

pub fn with_limits(max_message_size: usize, max_frame_size: usize) -> Config {
    Config { limits: Limits { max_message_size, max_frame_size, ..Limits::default() }, ..rfc6455() }
}

pub fn with_deflate() -> Config {
    Config { deflate: Some(DeflateConfig::default()), ..rfc6455() }
}

pub fn other(role: Role) -> Role {
    match role {
        Role::Client => Role::Server,
        Role::Server => Role::Client,
    }
}

/// Text of exactly `len` bytes mixing one- to four-byte characters.
pub fn text_of_len(len: usize) -> String {
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

pub fn binary_of_len(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 + 7) as u8).collect()
}

/// A short description of events, for assertion messages about big ones.
pub fn describe(events: &[Event]) -> String {
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

/// RFC 6455 §1.3's nonce (`core/testdata/rfc6455_examples.txt`).
pub static KEY: LazyLock<&str> =
    LazyLock::new(|| common::named(&rfc6455_examples(), "opening handshake").text("key"));
/// RFC 6455 §1.3's `Sec-WebSocket-Accept` for [`KEY`].
pub static ACCEPT: LazyLock<&str> =
    LazyLock::new(|| common::named(&rfc6455_examples(), "opening handshake").text("accept"));

pub fn request_with(extra: &str) -> String {
    format!(
        "GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n",
        key = *KEY
    )
}

pub fn target() -> Target {
    Target { host: "example.com".into(), port: None, resource: "/chat".into(), secure: false }
}

/// A client whose request has been taken from its transmit buffer.
pub fn start_client(config: Config, subprotocols: &[&str]) -> (Connection, String) {
    let mut request = ClientRequest::new(target());
    request.subprotocols = subprotocols.iter().map(|s| s.to_string()).collect();
    let mut conn = Connection::client(Instant::ZERO, config, request, entropy(0x5eed)).unwrap();
    let mut out = Vec::new();
    let _ = conn.poll_transmit(&mut out);
    (conn, String::from_utf8(out).expect("the request is text"))
}

/// The value of header `name` in an HTTP head, compared case-insensitively.
pub fn header_value<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.split("\r\n").skip(1).find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

pub fn response_101(request: &str, extra: &str) -> String {
    let key = header_value(request, "Sec-WebSocket-Key").expect("the request has a key");
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\n{extra}\r\n",
        accept_key(key.as_bytes())
    )
}

/// A connection under test and the peer's side of the wire, held by hand.
pub struct Peer {
    pub conn: Connection,
    pub role: Role,
    pub masks: u32,
}

impl Peer {
    pub fn open(role: Role, config: Config) -> Peer {
        match role {
            Role::Server => Peer::server(config, ""),
            Role::Client => Peer::client(config, ""),
        }
    }

    /// A server that accepted `request_with(extra)`.
    pub fn server(config: Config, extra: &str) -> Peer {
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
        assert_eq!(header_value(&response, "Sec-WebSocket-Accept"), Some(*ACCEPT));
        assert_eq!(conn.state(), State::Open);
        Peer { conn, role: Role::Server, masks: 0 }
    }

    /// A client that received a 101 with `extra` headers.
    pub fn client(config: Config, extra: &str) -> Peer {
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
    pub fn mask(&mut self) -> Option<[u8; 4]> {
        if self.role == Role::Client {
            return None;
        }
        self.masks += 1;
        let n = self.masks.wrapping_mul(0x9e37_79b9);
        Some([0x37 ^ (n >> 24) as u8, 0xfa ^ (n >> 16) as u8, 0x21 ^ (n >> 8) as u8, 0x3d ^ n as u8])
    }

    /// A frame as the peer would send it.
    pub fn frame(&mut self, b0: u8, payload: &[u8]) -> Vec<u8> {
        let mask = self.mask();
        rfc6455_frame(b0, payload, mask)
    }

    /// A frame built with the crate's own encoder (RSV2/RSV3 clear).
    pub fn encoded(&mut self, fin: bool, rsv1: bool, opcode: OpCode, payload: &[u8]) -> Vec<u8> {
        let mask = self.mask();
        let mut out = Vec::new();
        wire::encode_frame(&mut out, fin, rsv1, opcode, payload, mask);
        out
    }

    /// Only the header of a frame, declaring `len` payload bytes.
    pub fn header(&mut self, b0: u8, len: u64) -> Vec<u8> {
        let mask = self.mask();
        rfc6455_header(b0, len, mask)
    }

    pub fn feed(&mut self, bytes: &[u8]) {
        self.conn.handle_input(Instant::ZERO, bytes);
    }

    pub fn feed_bytewise(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.conn.handle_input(Instant::ZERO, std::slice::from_ref(byte));
        }
    }

    /// Every event, as an application that reads to the end takes them:
    /// reaching the close or the error finishes the connection.
    pub fn events(&mut self) -> Vec<Event> {
        drain(&mut self.conn)
    }

    pub fn transmitted(&mut self) -> Vec<u8> {
        transmit(&mut self.conn)
    }

    /// The frames transmitted since the last call. A server's must be
    /// unmasked, a client's masked, every one with the shortest length
    /// encoding (checked by rebuilding the exact bytes).
    pub fn sent(&mut self) -> Vec<Sent> {
        let raw = self.transmitted();
        self.check_sent(&raw)
    }

    /// Parses transmitted bytes, checking the masking rule for our role and
    /// the shortest length encoding.
    pub fn check_sent(&self, raw: &[u8]) -> Vec<Sent> {
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

    pub fn expect(&mut self, events: &[Event], frames: &[Sent], ctx: &str) {
        let got = self.events();
        assert!(got == events, "{ctx}: events {} expected {}", describe(&got), describe(events));
        assert_eq!(self.sent(), frames, "{ctx}: transmitted frames");
    }

    /// The connection failed with `error` after `events` (which stay): it
    /// sent exactly the close frame with `code` (after `frames`), is closed,
    /// and ignores whatever comes next.
    pub fn expect_failure(&mut self, events: &[Event], frames: &[Sent], error: Error, code: u16, ctx: &str) {
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
    pub fn expect_dead(&mut self, ctx: &str) {
        assert_eq!(self.conn.state(), State::Closed, "{ctx}: state");
        let more = [self.frame(FIN | TEXT, b"ignored"), self.frame(FIN | PING, b"p")].concat();
        self.feed(&more);
        self.conn.handle_eof();
        assert_eq!(self.events(), [], "{ctx}: events after the end");
        assert_eq!(self.transmitted(), [], "{ctx}: bytes after the end");
        assert_eq!(self.conn.send_text("late"), Err(Misuse::NotOpen), "{ctx}");
    }
}

pub fn protocol(e: ProtocolError) -> Error {
    Error::Protocol(e)
}

// ---------------------------------------------------------------------------
// Fragments and compressed messages, for every file that needs them.
// ---------------------------------------------------------------------------

/// Frames given as (first byte, payload).
pub type Frames<'a> = &'a [(u8, &'a [u8])];

/// Builds input for a peer.
pub type BuildInput = fn(&mut Peer) -> Vec<u8>;

/// The frames of `payload` cut into fragments of `sizes` bytes, first with
/// opcode `op`, the rest continuations, the last (taking what is left)
/// with FIN.
pub fn fragments(p: &mut Peer, op: u8, payload: &[u8], sizes: &[usize]) -> Vec<u8> {
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

pub fn open_deflate(role: Role, config: Config) -> Peer {
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
pub fn compress(role: Role, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    Compressor::new(&DeflateParams::default(), other(role), 6).compress_message(payload, &mut out);
    out
}
