//! The harness the fuzz targets share: configurations with small limits,
//! deterministic entropy, fixed valid handshakes for both roles, a splitter
//! that cuts input at fuzzer-chosen points, and [`Watch`], which checks the
//! event invariants every target asserts.
//!
//! Frame-level targets take input as `[flags, split, frames...]`: `flags`
//! picks the options below ([`Knobs`]), `split` how the frames are cut into
//! reads ([`chunks`]); the rest is the byte stream after the handshake.

use std::collections::VecDeque;

use hybi_core::framing::rfc6455::wire::{self, FrameHeader, OpCode};
use hybi_core::handshake::{draft76, rfc6455 as hs6455};
use hybi_core::{
    Accept, ClientRequest, Config, Connection, DeflateConfig, Error, Event, Framing, Instant, InvalidUtf8,
    Limits, Protocol, RequestKind, Role, State, Target,
};

/// Limits small enough that reaching them is cheap, as the brief asks
/// (64 KiB messages and frames).
pub const SMALL: Limits = Limits {
    max_handshake_bytes: 4096,
    max_headers: 32,
    max_message_size: 64 * 1024,
    max_frame_size: 64 * 1024,
    ..Limits::DEFAULT
};

/// Limits so small that fuzz inputs of a few hundred bytes cross them.
pub const TINY: Limits = Limits {
    max_handshake_bytes: 1024,
    max_headers: 12,
    max_message_size: 1024,
    max_frame_size: 512,
    ..Limits::DEFAULT
};

/// No size limits (the handshake keeps a bound: it is buffered whole), as
/// an application that wants none configures them.
pub const UNLIMITED: Limits = Limits {
    max_handshake_bytes: 64 * 1024,
    max_headers: 1024,
    max_message_size: usize::MAX,
    max_frame_size: usize::MAX,
    ..Limits::DEFAULT
};

/// Largest piece a streamed compressed message may come in, whatever the
/// limits: the reader hands out inflated output once 32 KiB built up, and
/// feeds the inflater a few bytes at a time so that one step adds little.
pub const STREAM_INFLATE_PIECE: usize = 64 * 1024;

/// A deterministic entropy source (the core's test kit, xorshift64*), so a
/// client's keys, nonce and masks are the same for the same seed and seeds
/// can carry the matching answers.
pub use hybi_core::testing::entropy;

/// The seed of every client's entropy in the targets.
pub const CLIENT_SEED: u64 = 0x5eed_cafe;

/// The target every client asks for.
pub fn target() -> Target {
    Target { host: "example.com".into(), port: None, resource: "/chat".into(), secure: false }
}

// ---------------------------------------------------------------------------
// Cutting input into reads
// ---------------------------------------------------------------------------

/// Splits `data` into reads whose sizes come from `split`: 0 gives one read;
/// 1..=127 reads of 1..=split bytes; 128..=255 reads of up to
/// `(split - 127) * 128` bytes. Sizes vary pseudo-randomly but
/// deterministically.
pub fn chunks(data: &[u8], split: u8) -> Chunks<'_> {
    let max = match split {
        0 => 0,
        1..=127 => usize::from(split),
        _ => usize::from(split - 127) * 128,
    };
    Chunks { rest: data, max, state: u32::from(split).wrapping_mul(2_654_435_761) | 1 }
}

/// Iterator returned by [`chunks`].
pub struct Chunks<'a> {
    rest: &'a [u8],
    max: usize,
    state: u32,
}

impl<'a> Iterator for Chunks<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.rest.is_empty() {
            return None;
        }
        let n = if self.max == 0 {
            self.rest.len()
        } else {
            self.state = self.state.wrapping_mul(1_103_515_245).wrapping_add(12345);
            1 + (self.state >> 8) as usize % self.max
        };
        let (head, tail) = self.rest.split_at(n.min(self.rest.len()));
        self.rest = tail;
        Some(head)
    }
}

// ---------------------------------------------------------------------------
// Options of the frame-level targets
// ---------------------------------------------------------------------------

/// The options a frame-level target reads from its first byte.
#[derive(Clone, Copy, Debug)]
pub struct Knobs {
    /// bit 0: play the client (targets that serve both roles).
    pub client: bool,
    /// bit 1: [`Config::streaming`].
    pub streaming: bool,
    /// bit 2: replace invalid draft-76 text instead of failing.
    pub replace_utf8: bool,
    /// bit 3: no automatic pongs.
    pub no_auto_pong: bool,
    /// bit 4: end the stream after the input.
    pub eof: bool,
    /// bit 5: try commands between reads.
    pub commands: bool,
    /// bit 6: [`TINY`] limits instead of [`SMALL`].
    pub tiny: bool,
    /// bit 7: no size limits at all (`usize::MAX`), as an application
    /// that wants none would configure: what a peer declares must still
    /// never be allocated up front, nor overflow any size arithmetic.
    pub unlimited: bool,
}

impl Knobs {
    /// Reads the bits of `flags`.
    pub fn from_byte(flags: u8) -> Knobs {
        let bit = |n: u8| flags & (1 << n) != 0;
        Knobs {
            client: bit(0),
            streaming: bit(1),
            replace_utf8: bit(2),
            no_auto_pong: bit(3),
            eof: bit(4),
            commands: bit(5),
            tiny: bit(6),
            unlimited: bit(7),
        }
    }

    /// A configuration with these options.
    pub fn config(&self) -> Config {
        let limits = match (self.unlimited, self.tiny) {
            (true, _) => UNLIMITED,
            (false, true) => TINY,
            (false, false) => SMALL,
        };
        Config {
            limits,
            streaming: self.streaming,
            invalid_utf8: if self.replace_utf8 { InvalidUtf8::Replace } else { InvalidUtf8::Fail },
            auto_pong: !self.no_auto_pong,
            ..Config::default()
        }
    }
}

// ---------------------------------------------------------------------------
// Event invariants
// ---------------------------------------------------------------------------

/// Checks every event a connection emits:
/// - nothing after `Event::Error` or `Event::Close`, and the state is then
///   `Ending` (the peer is done, the application may still answer) or
///   `Closed`; unless [`Watch::hold_end`] is set, reaching the end finishes
///   the connection as an application that reads to the end does, and the
///   state must then be `Closed`;
/// - no text or binary payload over the bound (the configured
///   `max_message_size`; in streaming mode a piece is bounded by what one
///   frame carries instead, as `Config::streaming` documents);
///   streamed compressed messages come in pieces of at most
///   [`STREAM_INFLATE_PIECE`], however far a read inflates;
/// - control payloads within 125 bytes, close reasons within 123;
/// - peer input never causes `Misuse`;
/// - at most one `Request` and one `Open`.
#[derive(Debug)]
pub struct Watch {
    /// Largest payload an event may carry.
    pub max_payload: usize,
    /// The event that ended the connection, once one did.
    pub finished: Option<Event>,
    /// `Event::Open` was seen.
    pub opened: bool,
    /// `Event::Request` was seen.
    pub requested: bool,
    /// How many events were seen.
    pub count: usize,
    /// Leave a connection whose peer is done in `State::Ending` (the
    /// application has not reached the end yet) instead of finishing it
    /// when its last event is drained.
    pub hold_end: bool,
}

impl Watch {
    /// A watch for a connection configured with `config`.
    pub fn new(config: &Config) -> Watch {
        let limits = config.limits;
        let max_payload = if config.streaming {
            // Whole characters only: up to 3 bytes of a character held back
            // from an earlier frame may join a piece.
            let frame = limits.max_frame_size.saturating_add(3).max(limits.max_message_size);
            if config.deflate.is_some() {
                frame.max(STREAM_INFLATE_PIECE)
            } else {
                frame
            }
        } else {
            limits.max_message_size
        };
        Watch { max_payload, finished: None, opened: false, requested: false, count: 0, hold_end: false }
    }

    /// Drains and checks every pending event.
    pub fn drain(&mut self, conn: &mut Connection) -> Vec<Event> {
        let mut out = Vec::new();
        while let Some(event) = conn.poll_event() {
            self.check(&event);
            out.push(event);
        }
        if self.finished.is_some() {
            if !self.hold_end {
                conn.finish();
            }
            let state = conn.state();
            let held = self.hold_end && state == State::Ending;
            assert!(held || state == State::Closed, "finished by {:?} but {state:?}", self.finished);
        }
        out
    }

    /// Checks one event.
    pub fn check(&mut self, event: &Event) {
        self.count += 1;
        if let Some(end) = &self.finished {
            panic!("event {event:?} after the connection finished with {end:?}");
        }
        let max = self.max_payload;
        match event {
            Event::Request(_) => {
                assert!(!self.requested, "a second Event::Request");
                assert!(!self.opened, "Event::Request after Event::Open");
                self.requested = true;
            }
            Event::Open => {
                assert!(!self.opened, "a second Event::Open");
                self.opened = true;
            }
            Event::Text(text) => assert!(text.len() <= max, "text of {} bytes over {max}", text.len()),
            Event::Binary(data) => assert!(data.len() <= max, "binary of {} bytes over {max}", data.len()),
            Event::TextFragment { text, .. } => {
                assert!(text.len() <= max, "text piece of {} bytes over {max}", text.len())
            }
            Event::BinaryFragment { data, .. } => {
                assert!(data.len() <= max, "binary piece of {} bytes over {max}", data.len())
            }
            Event::Ping(p) | Event::Pong(p) => assert!(p.len() <= 125, "control payload of {}", p.len()),
            Event::Close(close) => {
                assert!(close.reason.len() <= 123, "close reason of {} bytes", close.reason.len());
                if let Some(code) = close.code {
                    assert!(wire::is_valid_close_code(code), "close event with code {code}");
                }
                self.finished = Some(event.clone());
            }
            Event::Error(error) => {
                assert!(!matches!(error, Error::Misuse(_)), "peer input caused {error:?}");
                self.finished = Some(event.clone());
            }
            other => panic!("unknown event {other:?}"),
        }
    }
}

// ---------------------------------------------------------------------------
// Handshakes
// ---------------------------------------------------------------------------

/// The RFC 6455 §1.3 nonce.
pub const RFC6455_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

/// A valid RFC 6455 request, with an extension offer if given.
pub fn rfc6455_request(extensions: Option<&str>) -> Vec<u8> {
    let mut out = format!(
        "GET /chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {RFC6455_KEY}\r\nSec-WebSocket-Version: 13\r\n"
    );
    if let Some(ext) = extensions {
        out.push_str(&format!("Sec-WebSocket-Extensions: {ext}\r\n"));
    }
    out.push_str("\r\n");
    out.into_bytes()
}

/// The draft's own request (docs/PROTOCOLS.md §1.1), key3 included.
pub fn draft76_request() -> Vec<u8> {
    b"GET /demo HTTP/1.1\r\nHost: example.com\r\nConnection: Upgrade\r\nUpgrade: WebSocket\r\n\
      Sec-WebSocket-Key1: 4 @1  46546xW%0l 1 5\r\nSec-WebSocket-Key2: 12998 5 Y3 1  .P00\r\n\
      Origin: http://example.com\r\n\r\n^n:ds[4U"
        .to_vec()
}

/// Splits a head into `(name, value)` pairs (value after `": "`) and
/// returns what follows the blank line.
pub fn parse_head(bytes: &[u8]) -> (Vec<(String, Vec<u8>)>, &[u8]) {
    let end = bytes.windows(4).position(|w| w == b"\r\n\r\n").expect("a complete head");
    let head = &bytes[..end];
    let mut headers = Vec::new();
    for line in head.split(|&b| b == b'\n').skip(1) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if let Some(colon) = line.iter().position(|&b| b == b':') {
            let value = &line[colon + 1..];
            let value = value.strip_prefix(b" ").unwrap_or(value);
            headers.push((String::from_utf8_lossy(&line[..colon]).into_owned(), value.to_vec()));
        }
    }
    (headers, &bytes[end + 4..])
}

fn header<'a>(headers: &'a [(String, Vec<u8>)], name: &str) -> Option<&'a [u8]> {
    headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| &v[..])
}

/// A valid server response to a client's request bytes: draft-76 (answer
/// computed from the keys) or RFC 6455 (accept computed from the nonce),
/// with `extensions` as the RFC 6455 `Sec-WebSocket-Extensions` value and
/// `subprotocol` chosen if given.
pub fn response_for(request: &[u8], extensions: Option<&str>, subprotocol: Option<&str>) -> Vec<u8> {
    let (headers, rest) = parse_head(request);
    let mut out = Vec::new();
    if let (Some(key1), Some(key2)) =
        (header(&headers, "Sec-WebSocket-Key1"), header(&headers, "Sec-WebSocket-Key2"))
    {
        let key3: [u8; 8] = rest[..8].try_into().expect("key3");
        let answer = draft76::answer_for_keys(key1, key2, &key3).expect("our own keys are answerable");
        out.extend_from_slice(
            b"HTTP/1.1 101 WebSocket Protocol Handshake\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\n",
        );
        if let Some(origin) = header(&headers, "Origin") {
            out.extend_from_slice(b"Sec-WebSocket-Origin: ");
            out.extend_from_slice(origin);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"Sec-WebSocket-Location: ws://example.com/chat\r\n");
        if let Some(p) = subprotocol {
            out.extend_from_slice(format!("Sec-WebSocket-Protocol: {p}\r\n").as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&answer);
    } else {
        let key = header(&headers, "Sec-WebSocket-Key").expect("an RFC 6455 request has a key");
        out.extend_from_slice(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n",
        );
        out.extend_from_slice(format!("Sec-WebSocket-Accept: {}\r\n", hs6455::accept_key(key)).as_bytes());
        if let Some(p) = subprotocol {
            out.extend_from_slice(format!("Sec-WebSocket-Protocol: {p}\r\n").as_bytes());
        }
        if let Some(ext) = extensions {
            out.extend_from_slice(format!("Sec-WebSocket-Extensions: {ext}\r\n").as_bytes());
        }
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// A client for `config` with its request as sent.
pub fn client(config: Config, request: ClientRequest) -> (Connection, Vec<u8>) {
    let mut conn = Connection::client(Instant::ZERO, config, request, entropy(CLIENT_SEED))
        .expect("a valid client request");
    let mut sent = Vec::new();
    let _ = conn.poll_transmit(&mut sent);
    (conn, sent)
}

/// A client that completed a valid handshake; RFC 6455 responses carry
/// `extensions` when given. Its transmit buffer is empty.
pub fn open_client(config: Config, extensions: Option<&str>, watch: &mut Watch) -> Connection {
    let (mut conn, request) = client(config, ClientRequest::new(target()));
    let response = response_for(&request, extensions, None);
    conn.handle_input(Instant::ZERO, &response);
    let events = watch.drain(&mut conn);
    assert_eq!(events, [Event::Open], "valid handshake response refused");
    conn
}

/// A server that read `request` and accepted it. Its transmit buffer is
/// empty.
pub fn open_server(config: Config, request: &[u8], watch: &mut Watch) -> Connection {
    let mut conn = Connection::server(Instant::ZERO, config);
    conn.handle_input(Instant::ZERO, request);
    let events = watch.drain(&mut conn);
    assert!(matches!(events[..], [Event::Request(RequestKind::WebSocket(_))]), "{events:?}");
    conn.accept(Accept::default()).expect("accept a valid request");
    let events = watch.drain(&mut conn);
    assert_eq!(events, [Event::Open]);
    let mut sent = Vec::new();
    let _ = conn.poll_transmit(&mut sent);
    conn
}

/// A client and a server connected through their own handshake, both open
/// and with nothing queued.
pub fn pair(client_config: Config, server_config: Config) -> (Connection, Connection) {
    let (mut c, request) = client(client_config, ClientRequest::new(target()));
    let mut s = Connection::server(Instant::ZERO, server_config);
    s.handle_input(Instant::ZERO, &request);
    assert!(matches!(s.poll_event(), Some(Event::Request(RequestKind::WebSocket(_)))));
    s.accept(Accept::default()).expect("accept our own client");
    assert_eq!(s.poll_event(), Some(Event::Open));
    let mut response = Vec::new();
    let _ = s.poll_transmit(&mut response);
    c.handle_input(Instant::ZERO, &response);
    assert_eq!(c.poll_event(), Some(Event::Open), "client refused our own server");
    assert_eq!(c.deflate(), s.deflate(), "both ends agree on compression");
    (c, s)
}

/// The deflate configurations the targets choose from by index.
pub fn deflate_config(choice: u8) -> DeflateConfig {
    let base = DeflateConfig::default();
    match choice % 8 {
        0 => base,
        1 => DeflateConfig { client_no_context_takeover: true, server_no_context_takeover: true, ..base },
        2 => DeflateConfig { client_max_window_bits: Some(9), server_max_window_bits: Some(9), ..base },
        3 => DeflateConfig { client_max_window_bits: Some(8), server_max_window_bits: Some(8), ..base },
        4 => DeflateConfig { compression_level: 0, ..base },
        5 => DeflateConfig { compression_level: 9, server_max_window_bits: Some(12), ..base },
        6 => DeflateConfig { client_max_window_bits: None, ..base },
        _ => DeflateConfig { server_no_context_takeover: true, client_max_window_bits: Some(10), ..base },
    }
}

/// RFC 6455 `Sec-WebSocket-Extensions` values the deflate target negotiates:
/// as a server offer (the client's request) and as the client's response.
pub const DEFLATE_OFFERS: [&str; 8] = [
    "permessage-deflate",
    "permessage-deflate; client_max_window_bits",
    "permessage-deflate; client_no_context_takeover; server_no_context_takeover",
    "permessage-deflate; server_max_window_bits=9; client_max_window_bits=8",
    "permessage-deflate; server_max_window_bits=8",
    "x-webkit-deflate-frame, permessage-deflate; client_max_window_bits=15",
    "permessage-deflate; server_no_context_takeover",
    "permessage-deflate; client_no_context_takeover",
];

/// Responses a client configured with `deflate_config(0)` (it offers
/// `client_max_window_bits` bare) accepts.
pub const DEFLATE_RESPONSES: [&str; 8] = [
    "permessage-deflate",
    "permessage-deflate; client_max_window_bits=15",
    "permessage-deflate; client_no_context_takeover; server_no_context_takeover",
    "permessage-deflate; server_max_window_bits=9; client_max_window_bits=8",
    "permessage-deflate; server_max_window_bits=8",
    "permessage-deflate; client_max_window_bits=10",
    "permessage-deflate; server_no_context_takeover",
    "permessage-deflate; client_no_context_takeover",
];

// ---------------------------------------------------------------------------
// Feeding frames
// ---------------------------------------------------------------------------

/// Feeds `data` (cut by `split`, every other read through
/// `handle_input_with`, every third first into room the connection lends
/// with `take_payload_buffer_reusing`, offered a spare buffer) to an open connection and checks, after every read: the event invariants ([`Watch`]); that a closed connection
/// takes no input (no event, nothing queued); that what is queued for the
/// peer stays within three times the input plus what our own commands
/// queued. With `knobs.commands`, commands are tried between reads and must
/// succeed exactly while the connection is open (for draft-76: only text).
/// Then the stream ends if `knobs.eof`, and the clock jumps an hour ahead.
pub fn feed_frames(conn: &mut Connection, watch: &mut Watch, data: &[u8], split: u8, knobs: &Knobs) {
    let mut fed = 0usize;
    let mut own = 0usize;
    let rfc6455 = conn.protocol() == Some(Protocol::Rfc6455);
    let now = Instant::ZERO;
    // With commands, the application answers while the peer is done and
    // finishes only at the end of the input.
    watch.hold_end = knobs.commands;
    for (i, mut chunk) in chunks(data, split).enumerate() {
        // Once closed or ending, nothing more is read.
        let closed = matches!(conn.state(), State::Closed | State::Ending);
        let before = conn.pending_transmit();
        fed += chunk.len();
        // Every third read (which ones, by `split`) goes as far as it can
        // into room the connection lends, as a driver reads a large
        // frame's payload straight into the message; the rest as usual.
        if (i + usize::from(split)) % 3 == 2 {
            let at_least = 1 + usize::from(split) % 64;
            // A spare buffer for the message to move into, of a size the
            // input picks (none, smaller or larger than what arrived).
            let spare_len = (fed * usize::from(split % 5)).min(1 << 20);
            let mut spare = Vec::with_capacity(spare_len);
            loop {
                // A move happens only where `spare_wanted` (what a
                // budgeted driver reserves by) said it would, into a
                // spare of a capacity in its range.
                let wanted = conn.spare_wanted(at_least);
                let (offered, capacity) = (spare.as_ptr(), spare.capacity());
                let Some(mut buffer) = conn.take_payload_buffer_reusing(at_least, &mut spare) else { break };
                if spare.as_ptr() != offered {
                    assert!(
                        wanted.as_ref().is_some_and(|w| w.contains(&capacity)),
                        "moved into {capacity} B, wanted {wanted:?}"
                    );
                }
                assert!(!closed, "a closed connection lent room");
                assert!(buffer.room_len() >= at_least, "lent {} bytes, asked {at_least}", buffer.room_len());
                let n = buffer.room_len().min(chunk.len());
                // Both ways a driver fills it, every other lending read.
                if i % 2 == 0 {
                    buffer.room()[..n].copy_from_slice(&chunk[..n]);
                } else {
                    buffer.append_to().extend_from_slice(&chunk[..n]);
                }
                conn.handle_payload(now, buffer, n);
                chunk = &chunk[n..];
                if chunk.is_empty() {
                    break;
                }
            }
        }
        // Every other read (which ones, by `split`) hands its events over
        // as they happen, messages lent, instead of queueing them.
        let events = if (i + usize::from(split)) % 2 == 1 {
            let mut lent = Vec::new();
            conn.handle_input_with(now, chunk, &mut |event| lent.push(event.into_owned()));
            assert!(conn.peek_event().is_none(), "handle_input_with left {:?} queued", conn.peek_event());
            for event in &lent {
                watch.check(event);
            }
            watch.drain(conn);
            lent
        } else {
            conn.handle_input(now, chunk);
            watch.drain(conn)
        };
        if closed {
            assert!(events.is_empty(), "closed connection emitted {events:?}");
            assert_eq!(conn.pending_transmit(), before, "closed connection queued bytes after input");
        }
        let bound = 3 * fed + own + 64;
        assert!(
            conn.pending_transmit() <= bound,
            "{} bytes queued for {fed} bytes of input",
            conn.pending_transmit()
        );
        if knobs.commands {
            own += try_commands(conn, rfc6455);
        }
    }
    if watch.hold_end && conn.state() == State::Ending {
        let before = conn.pending_transmit();
        watch.hold_end = false;
        conn.finish();
        assert_eq!(conn.state(), State::Closed, "finish left the connection {:?}", conn.state());
        // At most one close frame: RFC 6455 with a code (2 header bytes, a
        // client's 4-byte mask, 2 code bytes; finish echoes no reason),
        // draft-76 'old' (2 bytes) or 'new' (a type byte and an 8-byte
        // zero length: 9).
        let close_len = conn.pending_transmit() - before;
        assert!(close_len <= 9, "finish queued {close_len} bytes: more than a close");
    }
    watch.hold_end = false;
    if knobs.eof {
        let closed = conn.state() == State::Closed;
        let before = conn.pending_transmit();
        conn.handle_eof();
        let events = watch.drain(conn);
        if closed {
            assert!(events.is_empty(), "closed connection emitted {events:?} at end of stream");
            assert_eq!(conn.pending_transmit(), before);
        } else {
            assert_eq!(conn.state(), State::Closed, "end of stream left the connection {:?}", conn.state());
            assert!(watch.finished.is_some(), "end of stream closed without an event");
        }
    }
    let later = Instant::from_millis(3_600_000);
    let state = conn.state();
    conn.handle_timeout(later);
    watch.drain(conn);
    if state == State::Closing {
        assert_eq!(conn.state(), State::Closed, "close deadline did not end a closing connection");
    }
}

/// Sends a text (and, in RFC 6455, a ping); both must succeed exactly when
/// the connection is open, and a refusal must queue nothing. Returns the
/// bytes queued.
fn try_commands(conn: &mut Connection, rfc6455: bool) -> usize {
    // While the peer is done, the application may still answer.
    let open = matches!(conn.state(), State::Open | State::Ending);
    let before = conn.pending_transmit();
    let text = conn.send_text("ok");
    assert_eq!(text.is_ok(), open, "send_text in {:?}: {text:?}", conn.state());
    let ping = conn.send_ping(b"p");
    assert_eq!(ping.is_ok(), open && rfc6455, "send_ping in {:?}: {ping:?}", conn.state());
    let binary = conn.send_binary(b"b");
    assert_eq!(binary.is_ok(), open && rfc6455, "send_binary in {:?}: {binary:?}", conn.state());
    // An empty payload: the header alone is the whole frame.
    let at = conn.pending_transmit();
    let verbatim = conn.send_verbatim_header(true, 0);
    assert_eq!(verbatim.is_ok(), open, "send_verbatim_header in {:?}: {verbatim:?}", conn.state());
    if verbatim != Ok(true) {
        assert_eq!(conn.pending_transmit(), at, "send_verbatim_header queued bytes: {verbatim:?}");
    }
    // A client's masked header for an empty payload is a whole frame too,
    // with nothing left to mask; anywhere else it queues nothing.
    let at = conn.pending_transmit();
    let masked = conn.send_masked_header(true, 0);
    assert_eq!(masked.is_ok(), open, "send_masked_header in {:?}: {masked:?}", conn.state());
    if masked != Ok(true) {
        assert_eq!(conn.pending_transmit(), at, "send_masked_header queued bytes: {masked:?}");
    }
    assert_eq!(conn.mask_payload(&mut [0; 4]), 0, "an empty payload left bytes to mask");
    let queued = conn.pending_transmit() - before;
    if !open {
        assert_eq!(queued, 0, "refused commands queued bytes");
    }
    queued
}

// ---------------------------------------------------------------------------
// Reference codecs for the differential target
// ---------------------------------------------------------------------------

/// Parses one RFC 6455 frame by the letter of §5.2: header, then the
/// payload unmasked byte by byte. Returns the header, the payload and the
/// bytes used.
pub fn reference_frame(bytes: &[u8]) -> Option<(FrameHeader, Vec<u8>, usize)> {
    let (header, used) = FrameHeader::parse(bytes).ok()??;
    let len = usize::try_from(header.payload_len).ok()?;
    let payload = bytes.get(used..used.checked_add(len)?)?;
    let payload = match header.mask {
        Some(key) => payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]).collect(),
        None => payload.to_vec(),
    };
    Some((header, payload, used + len))
}

/// The opcode of a data message.
pub fn data_opcode(binary: bool) -> OpCode {
    if binary {
        OpCode::Binary
    } else {
        OpCode::Text
    }
}

/// Which protocol a pair speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PairProtocol {
    /// Draft-76 with framing 'old'.
    Old,
    /// Draft-76 with framing 'new'.
    New,
    /// RFC 6455.
    Rfc6455,
    /// RFC 6455 with permessage-deflate, configured by [`deflate_config`].
    Deflate(u8),
}

impl PairProtocol {
    /// Client and server configurations for this protocol.
    pub fn configs(self, streaming: bool) -> (Config, Config) {
        let base = Config { limits: SMALL, streaming, ..Config::default() };
        let (protocol, framing, deflate) = match self {
            PairProtocol::Old => (Protocol::Draft76(Framing::Old), Framing::Old, None),
            PairProtocol::New => (Protocol::Draft76(Framing::New), Framing::New, None),
            PairProtocol::Rfc6455 => (Protocol::Rfc6455, Framing::Old, None),
            PairProtocol::Deflate(choice) => (Protocol::Rfc6455, Framing::Old, Some(deflate_config(choice))),
        };
        let client = Config { protocol, deflate, ..base.clone() };
        let server = Config { framing, deflate, ..base };
        (client, server)
    }

    /// Whether the protocol is RFC 6455.
    pub fn is_rfc6455(self) -> bool {
        matches!(self, PairProtocol::Rfc6455 | PairProtocol::Deflate(_))
    }
}

/// A FIFO of bytes on their way from one end to the other.
#[derive(Debug, Default)]
pub struct Wire(pub VecDeque<u8>);

impl Wire {
    /// Takes everything `from` has queued.
    pub fn collect(&mut self, from: &mut Connection) {
        let mut buf = Vec::new();
        if from.poll_transmit(&mut buf) > 0 {
            self.0.extend(buf);
        }
    }

    /// Removes up to `n` bytes from the front.
    pub fn take(&mut self, n: usize) -> Vec<u8> {
        let n = n.min(self.0.len());
        self.0.drain(..n).collect()
    }
}

/// Which way [`Role`] faces: the other end.
pub fn peer(role: Role) -> Role {
    match role {
        Role::Client => Role::Server,
        Role::Server => Role::Client,
    }
}
