//! Helpers shared by the integration tests, over the crate's test kit
//! (`hybi_core::testing`: seeded entropy, chunking, the in-memory `Pair`):
//! draft-76 configurations and frames, replay of a recorded byte stream
//! into a fresh connection, an independent MD5 and draft-76 answer (so
//! expected values never come from the code under test), RFC 6455 frames
//! built and read by hand, and a small HTTP head parser for what the
//! machines transmit.
#![allow(dead_code)]

use std::fmt::Write as _;

// Each test file takes what it needs of the kit through here.
#[allow(unused_imports)]
pub use hybi_core::testing::{
    drain, drain_accepting, entropy, every_chunking, sparse_splits, text_of, transmit, Chunking, Pair, Seeded,
};
use hybi_core::{
    Accept, ClientRequest, Config, Connection, DeflateParams, Event, Framing, Header, Instant, Protocol,
    Target,
};

/// Time for every test that does not need a clock.
pub const NOW: Instant = Instant::ZERO;

// ---------------------------------------------------------------------------
// Configurations
// ---------------------------------------------------------------------------

/// `ws://example.com/demo`, as in docs/PROTOCOLS.md §1.1.
pub fn target() -> Target {
    Target { host: "example.com".into(), port: None, resource: "/demo".into(), secure: false }
}

/// The Origin our test clients send.
pub const ORIGIN: &str = "http://example.com";

/// A draft-76 client configuration with the given framing.
pub fn client_config(framing: Framing) -> Config {
    Config { protocol: Protocol::Draft76(framing), ..Config::default() }
}

/// A server configuration whose draft-76 connections use `framing`.
pub fn server_config(framing: Framing) -> Config {
    Config { framing, ..Config::default() }
}

/// The request of [`target`] with an `Origin` header.
pub fn client_request() -> ClientRequest {
    ClientRequest { headers: vec![Header::new("Origin", ORIGIN)], ..ClientRequest::new(target()) }
}

/// A draft-76 client for [`client_request`], with entropy from `seed`.
pub fn new_client(framing: Framing, seed: u64) -> Connection {
    Connection::client(NOW, client_config(framing), client_request(), entropy(seed)).expect("client")
}

pub const FRAMINGS: [Framing; 2] = [Framing::Old, Framing::New];

/// The close frame of a framing ('auto' writes 'old').
pub fn close_frame(framing: Framing) -> Vec<u8> {
    match framing {
        Framing::Old | Framing::Auto => vec![0xff, 0x00],
        Framing::New => vec![0x00, 0, 0, 0, 0, 0, 0, 0, 0],
    }
}

/// A text frame of a framing, built by hand from docs/PROTOCOLS.md §2 and
/// §3 ('auto' writes 'old').
pub fn text_frame(framing: Framing, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 9);
    match framing {
        Framing::Old | Framing::Auto => {
            out.push(0x00);
            out.extend_from_slice(payload);
            out.push(0xff);
        }
        Framing::New => {
            out.push(0xff);
            out.extend_from_slice(&(payload.len() as u64).to_be_bytes());
            out.extend_from_slice(payload);
        }
    }
    out
}

// ---------------------------------------------------------------------------
// Chunking and feeding
// ---------------------------------------------------------------------------

/// Feeds `stream` to `conn` in the reads `chunking` makes, draining events
/// after each read as a driver does. With `accept`, a server accepts every
/// WebSocket request the moment its `Event::Request` comes out.
pub fn replay(conn: &mut Connection, stream: &[u8], chunking: &Chunking, accept: bool) -> Vec<Event> {
    let mut events = Vec::new();
    for chunk in chunking.chunks(stream) {
        conn.handle_input(NOW, chunk);
        drain_accepting(conn, accept.then_some(&Accept::default()), &mut events);
    }
    events
}

// ---------------------------------------------------------------------------
// A client and a server wired together (the kit's `Pair`)
// ---------------------------------------------------------------------------

/// A draft-76 pair with the same framing on both ends, the client sending
/// [`client_request`], entropy from seed 1.
pub fn draft76_pair(framing: Framing) -> Pair {
    Pair::new(client_config(framing), client_request(), server_config(framing), 1)
}

// ---------------------------------------------------------------------------
// Comparing events without printing megabytes
// ---------------------------------------------------------------------------

/// An event shortened for messages: long texts become their length, first
/// characters and a checksum.
pub fn summary(event: &Event) -> String {
    match event {
        Event::Text(text) if text.len() > 64 => {
            let head: String = text.chars().take(16).collect();
            let sum = text.bytes().fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
            format!("Text({} bytes, {head:?}…, sum {sum:x})", text.len())
        }
        other => format!("{other:?}"),
    }
}

/// Asserts two event lists are equal, reporting the first difference.
#[track_caller]
pub fn assert_events(actual: &[Event], expected: &[Event], context: &str) {
    if actual == expected {
        return;
    }
    let mut report = String::new();
    for i in 0..actual.len().max(expected.len()) {
        let a = actual.get(i).map_or("-".into(), summary);
        let e = expected.get(i).map_or("-".into(), summary);
        let mark = if actual.get(i) == expected.get(i) { " " } else { "!" };
        let _ = writeln!(report, "{mark} #{i}: got {a}\n        want {e}");
    }
    panic!("{context}: events differ\n{report}");
}

/// The texts as `Event::Text`s.
pub fn texts<S: AsRef<str>>(messages: &[S]) -> Vec<Event> {
    messages.iter().map(|m| Event::Text(m.as_ref().to_owned())).collect()
}

/// About `len` bytes of text mixing one- to four-byte characters (ending on
/// a character boundary, exactly `len` bytes).
pub fn mixed_text(len: usize) -> String {
    text_of(&["héllo wörld ✓ 😀 ", "plain ascii words ", "€uro ", "\u{0}nul ", "日本語 "], len)
}

// ---------------------------------------------------------------------------
// MD5 (RFC 1321) and the draft-76 answer, written independently of the
// library so that expected answers do not come from the code under test.
// ---------------------------------------------------------------------------

const MD5_K: [u32; 64] = [
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
    0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
    0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
    0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
    0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
    0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
    0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
];

const MD5_S: [u32; 16] = [7, 12, 17, 22, 5, 9, 14, 20, 4, 11, 16, 23, 6, 10, 15, 21];

/// MD5 of `input`.
pub fn md5(input: &[u8]) -> [u8; 16] {
    let mut message = input.to_vec();
    message.push(0x80);
    while message.len() % 64 != 56 {
        message.push(0);
    }
    message.extend_from_slice(&((input.len() as u64).wrapping_mul(8)).to_le_bytes());
    let mut state: [u32; 4] = [0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476];
    for block in message.chunks_exact(64) {
        let m: Vec<u32> = block.chunks_exact(4).map(|w| u32::from_le_bytes(w.try_into().unwrap())).collect();
        let [mut a, mut b, mut c, mut d] = state;
        for i in 0..64 {
            let (f, g) = match i / 16 {
                0 => ((b & c) | (!b & d), i),
                1 => ((d & b) | (!d & c), (5 * i + 1) % 16),
                2 => (b ^ c ^ d, (3 * i + 5) % 16),
                _ => (c ^ (b | !d), (7 * i) % 16),
            };
            let f = f.wrapping_add(a).wrapping_add(MD5_K[i]).wrapping_add(m[g]);
            a = d;
            d = c;
            c = b;
            b = b.wrapping_add(f.rotate_left(MD5_S[(i / 16) * 4 + i % 4]));
        }
        for (s, v) in state.iter_mut().zip([a, b, c, d]) {
            *s = s.wrapping_add(v);
        }
    }
    let mut out = [0u8; 16];
    for (i, word) in state.iter().enumerate() {
        out[i * 4..i * 4 + 4].copy_from_slice(&word.to_le_bytes());
    }
    out
}

/// A draft-76 key's part, per docs/PROTOCOLS.md §1.2, or `None` if it is refused.
pub fn key_part(key: &[u8]) -> Option<u32> {
    let digits: String = key.iter().filter(|b| b.is_ascii_digit()).map(|&b| b as char).collect();
    let spaces = key.iter().filter(|&&b| b == b' ').count() as u64;
    // Leading zeros are harmless; more than 10 digits after them exceed
    // 4,294,967,295 (and might not fit a u64).
    let trimmed = digits.trim_start_matches('0');
    let number: u64 = if trimmed.is_empty() {
        0
    } else if trimmed.len() > 10 {
        return None;
    } else {
        trimmed.parse().ok()?
    };
    if spaces == 0 || number > u64::from(u32::MAX) || !number.is_multiple_of(spaces) {
        return None;
    }
    Some((number / spaces) as u32)
}

/// The 16-byte answer to two keys and key3, or `None` if a key is refused.
pub fn answer(key1: &[u8], key2: &[u8], key3: &[u8]) -> Option<[u8; 16]> {
    let mut input = Vec::with_capacity(16);
    input.extend_from_slice(&key_part(key1)?.to_be_bytes());
    input.extend_from_slice(&key_part(key2)?.to_be_bytes());
    input.extend_from_slice(key3);
    Some(md5(&input))
}

/// Bytes from lowercase hex.
pub fn hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

/// The vectors of docs/PROTOCOLS.md §1.3 (`core/testdata/draft76_answers.txt`):
/// Key1, Key2, key3, answer.
pub fn vectors() -> Vec<(&'static str, &'static str, Vec<u8>, Vec<u8>)> {
    testdata(include_str!("../../testdata/draft76_answers.txt"))
        .iter()
        .map(|v| (v.text("key1"), v.text("key2"), v.bytes("key3"), v.bytes("answer")))
        .collect()
}

/// permessage-deflate terms the same both ways: one window size and one
/// context-takeover choice for the server's messages and the client's.
pub fn deflate_params(no_context_takeover: bool, window_bits: u8) -> DeflateParams {
    DeflateParams {
        server_no_context_takeover: no_context_takeover,
        client_no_context_takeover: no_context_takeover,
        server_max_window_bits: window_bits,
        client_max_window_bits: window_bits,
    }
}

// ---------------------------------------------------------------------------
// Vectors from core/testdata
// ---------------------------------------------------------------------------

/// One vector of a `core/testdata/*.txt` file: its `name = value` lines.
#[derive(Debug)]
pub struct Vector {
    pub fields: Vec<(&'static str, &'static str)>,
}

impl Vector {
    fn raw(&self, name: &str) -> Option<&'static str> {
        self.fields.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
    }

    /// Whether the vector has a field `name`.
    pub fn has(&self, name: &str) -> bool {
        self.raw(name).is_some()
    }

    /// A quoted field, without its quotes, byte for byte.
    #[track_caller]
    pub fn text(&self, name: &str) -> &'static str {
        let raw = self.raw(name).unwrap_or_else(|| panic!("no {name} in {self:?}"));
        raw.strip_prefix('"')
            .and_then(|r| r.strip_suffix('"'))
            .unwrap_or_else(|| panic!("{name} is not quoted"))
    }

    /// A field's bytes: a quoted one as it is, a hex one decoded.
    #[track_caller]
    pub fn bytes(&self, name: &str) -> Vec<u8> {
        let raw = self.raw(name).unwrap_or_else(|| panic!("no {name} in {self:?}"));
        if raw.starts_with('"') {
            self.text(name).as_bytes().to_vec()
        } else {
            hex(raw)
        }
    }
}

/// The vectors of a testdata file: blocks separated by blank lines, each
/// line `name = value` (the value "quoted", byte for byte, or hex); lines
/// starting with `#` are comments.
pub fn testdata(text: &'static str) -> Vec<Vector> {
    let mut vectors = Vec::new();
    let mut fields = Vec::new();
    for line in text.lines().chain([""]) {
        if line.starts_with('#') {
            continue;
        }
        if line.trim().is_empty() {
            if !fields.is_empty() {
                vectors.push(Vector { fields: std::mem::take(&mut fields) });
            }
            continue;
        }
        let (name, value) = line.split_once(" = ").unwrap_or_else(|| panic!("not `name = value`: {line:?}"));
        fields.push((name.trim(), value));
    }
    vectors
}

/// The vectors of `core/testdata/rfc6455_examples.txt` (RFC 6455 §1.3, §5.7).
pub fn rfc6455_examples() -> Vec<Vector> {
    testdata(include_str!("../../testdata/rfc6455_examples.txt"))
}

/// The vectors of `core/testdata/rfc7692_examples.txt` (RFC 7692 §7.2.3).
pub fn rfc7692_examples() -> Vec<Vector> {
    testdata(include_str!("../../testdata/rfc7692_examples.txt"))
}

/// The one vector of `vectors` named `name`.
#[track_caller]
pub fn named<'a>(vectors: &'a [Vector], name: &str) -> &'a Vector {
    vectors
        .iter()
        .find(|v| v.raw("name") == Some(&format!("\"{name}\"")[..]))
        .unwrap_or_else(|| panic!("no vector {name}"))
}

// ---------------------------------------------------------------------------
// HTTP heads as bytes
// ---------------------------------------------------------------------------

/// A parsed HTTP head: start line, header (name, value) pairs with the
/// value taken after exactly one optional space, and what followed it.
#[derive(Debug)]
pub struct Head {
    pub start: String,
    pub headers: Vec<(String, Vec<u8>)>,
    pub rest: Vec<u8>,
}

impl Head {
    /// Parses CRLF-terminated `bytes` up to the blank line.
    pub fn parse(bytes: &[u8]) -> Head {
        let end = bytes.windows(4).position(|w| w == b"\r\n\r\n").expect("head ends with a blank line");
        let text = &bytes[..end];
        let mut lines = text.split(|&b| b == b'\n').map(|l| l.strip_suffix(b"\r").unwrap_or(l));
        let start = String::from_utf8(lines.next().unwrap().to_vec()).expect("start line is UTF-8");
        let headers = lines
            .map(|line| {
                let colon = line.iter().position(|&b| b == b':').expect("header has a colon");
                let value = &line[colon + 1..];
                let value = value.strip_prefix(b" ").unwrap_or(value);
                (String::from_utf8(line[..colon].to_vec()).unwrap(), value.to_vec())
            })
            .collect();
        Head { start, headers, rest: bytes[end + 4..].to_vec() }
    }

    /// The value of the only header named `name`.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        let mut found = self.headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name));
        let first = found.next().map(|(_, v)| &v[..]);
        assert!(found.next().is_none(), "{name} appears more than once");
        first
    }

    pub fn get_str(&self, name: &str) -> Option<&str> {
        self.get(name).map(|v| std::str::from_utf8(v).expect("UTF-8 header value"))
    }

    /// The status code of a response head.
    pub fn status(&self) -> u16 {
        let mut parts = self.start.splitn(3, ' ');
        assert_eq!(parts.next(), Some("HTTP/1.1"), "status line {:?}", self.start);
        parts.next().and_then(|c| c.parse().ok()).expect("status code")
    }

    /// The head written back with CRLF line endings, then what followed.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = format!("{}\r\n", self.start).into_bytes();
        for (name, value) in &self.headers {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&self.rest);
        out
    }

    pub fn names(&self) -> Vec<&str> {
        self.headers.iter().map(|(n, _)| n.as_str()).collect()
    }
}

/// The answer a server must send to a client's request bytes (head, then
/// key3), computed from the request alone.
pub fn answer_to_request(request: &[u8]) -> [u8; 16] {
    let head = Head::parse(request);
    assert_eq!(head.rest.len(), 8, "key3 is 8 bytes");
    answer(head.get("Sec-WebSocket-Key1").unwrap(), head.get("Sec-WebSocket-Key2").unwrap(), &head.rest)
        .expect("the client's keys are answerable")
}

/// A response the way Racket's server writes it: the 101 line, `Upgrade`,
/// `Connection`, the extra header lines, a blank line and the answer.
pub fn racket_response(request: &[u8], extra: &[(&str, &str)], line_end: &str) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 101 WebSocket Protocol Handshake{line_end}Upgrade: WebSocket{line_end}Connection: Upgrade{line_end}"
    );
    for (name, value) in extra {
        let _ = write!(out, "{name}: {value}{line_end}");
    }
    out.push_str(line_end);
    let mut out = out.into_bytes();
    out.extend_from_slice(&answer_to_request(request));
    out
}

/// A draft-76 request as bytes: the request line, the given header lines
/// in order (each `Name: value`), a blank line and key3, with `eol` as the
/// line ending.
pub fn request_bytes(line: &str, headers: &[(&str, &str)], key3: &[u8], eol: &str) -> Vec<u8> {
    let mut out = format!("{line}{eol}");
    for (name, value) in headers {
        let _ = write!(out, "{name}: {value}{eol}");
    }
    out.push_str(eol);
    let mut out = out.into_bytes();
    out.extend_from_slice(key3);
    out
}

/// The headers of docs/PROTOCOLS.md §1.1's example request with the given keys.
pub fn draft76_headers<'a>(key1: &'a str, key2: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("Host", "example.com"),
        ("Connection", "Upgrade"),
        ("Upgrade", "WebSocket"),
        ("Sec-WebSocket-Key1", key1),
        ("Sec-WebSocket-Key2", key2),
        ("Origin", "http://example.com"),
    ]
}

/// A draft-76 server that has received and accepted the first vector's
/// request, with its response drained: ready for frames.
pub fn open_server(config: Config) -> Connection {
    let (key1, key2, key3, _) = vectors().remove(0);
    let mut server = Connection::server(NOW, config);
    server
        .handle_input(NOW, &request_bytes("GET /demo HTTP/1.1", &draft76_headers(key1, key2), &key3, "\r\n"));
    let mut events = Vec::new();
    drain_accepting(&mut server, Some(&Accept::default()), &mut events);
    assert_eq!(events.last(), Some(&Event::Open), "server opened: {events:?}");
    let _ = transmit(&mut server);
    server
}

/// A draft-76 client (seed `seed`) that has received a valid response,
/// with its request drained: ready for frames.
pub fn open_client(config: Config, seed: u64) -> Connection {
    let mut client = Connection::client(NOW, config, client_request(), entropy(seed)).expect("client");
    let request = transmit(&mut client);
    client.handle_input(NOW, &racket_response(&request, &[], "\r\n"));
    assert_eq!(drain(&mut client), [Event::Open]);
    client
}

// ---------------------------------------------------------------------------
// RFC 6455 frames by hand (docs/PROTOCOLS.md §6), independent of the crate
// ---------------------------------------------------------------------------

/// A frame header: first byte `b0` (FIN, RSV and opcode bits as given), the
/// shortest length encoding of `len`, and the masking key if any.
pub fn rfc6455_header(b0: u8, len: u64, mask: Option<[u8; 4]>) -> Vec<u8> {
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    let mut out = vec![b0];
    if len < 126 {
        out.push(mask_bit | len as u8);
    } else if len <= 0xffff {
        out.push(mask_bit | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(mask_bit | 127);
        out.extend_from_slice(&len.to_be_bytes());
    }
    if let Some(key) = mask {
        out.extend_from_slice(&key);
    }
    out
}

/// A whole frame, its payload masked byte by byte when a key is given.
pub fn rfc6455_frame(b0: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut out = rfc6455_header(b0, payload.len() as u64, mask);
    match mask {
        Some(key) => out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4])),
        None => out.extend_from_slice(payload),
    }
    out
}

/// Splits transmitted bytes into RFC 6455 frames: each one's first byte,
/// its masking key if any, and its unmasked payload. Written from the
/// frame layout alone (no crate code), so that what the connection sends
/// is read by something it did not write. Panics on a cut frame.
pub fn rfc6455_frames(mut bytes: &[u8]) -> Vec<(u8, Option<[u8; 4]>, Vec<u8>)> {
    let mut frames = Vec::new();
    while !bytes.is_empty() {
        let (b0, b1) = (bytes[0], bytes[1]);
        let (len, mut at) = match b1 & 0x7f {
            126 => (u64::from(u16::from_be_bytes([bytes[2], bytes[3]])), 4),
            127 => (u64::from_be_bytes(bytes[2..10].try_into().unwrap()), 10),
            short => (u64::from(short), 2),
        };
        let mask = (b1 & 0x80 != 0).then(|| {
            at += 4;
            <[u8; 4]>::try_from(&bytes[at - 4..at]).unwrap()
        });
        let end = at + usize::try_from(len).unwrap();
        let mut payload = bytes[at..end].to_vec();
        if let Some(key) = mask {
            payload.iter_mut().enumerate().for_each(|(i, b)| *b ^= key[i % 4]);
        }
        frames.push((b0, mask, payload));
        bytes = &bytes[end..];
    }
    frames
}
