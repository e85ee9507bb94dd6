//! Property tests for draft-76 connections: arbitrary input in any chunking,
//! before and after the handshake, in both roles and framings, never panics,
//! never yields anything after the connection ended, and never goes past the
//! configured limits; and any text sent arrives intact.

mod common;

use common::*;
use hybi_core::{
    ClientRequest, Config, Connection, Event, Framing, HttpResponse, Instant, InvalidUtf8, Limits, Misuse,
    Protocol, RequestKind, State,
};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

fn proptest_config(cases: u32) -> ProptestConfig {
    // No regression files: a failure prints its minimal input instead.
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

/// The small limits of the brief, or the defaults.
fn limits() -> impl Strategy<Value = Limits> {
    prop_oneof![
        3 => Just(Limits { max_message_size: 1024, max_frame_size: 1024, max_handshake_bytes: 512, ..Limits::default() }),
        1 => Just(Limits::default()),
    ]
}

fn framing() -> impl Strategy<Value = Framing> {
    prop_oneof![Just(Framing::Old), Just(Framing::New)]
}

fn invalid_utf8() -> impl Strategy<Value = InvalidUtf8> {
    prop_oneof![Just(InvalidUtf8::Fail), Just(InvalidUtf8::Replace)]
}

/// Arbitrary bytes, any length up to 64 KiB, mostly short.
fn bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => vec(any::<u8>(), 0..256),
        2 => vec(any::<u8>(), 0..4096),
        1 => vec(any::<u8>(), 0..=64 * 1024),
    ]
}

/// Read sizes, cycled over the input.
fn chunking() -> impl Strategy<Value = Chunking> {
    prop_oneof![
        vec(1usize..8, 1..8).prop_map(Chunking::Sizes),
        vec(1usize..=4096, 1..8).prop_map(Chunking::Sizes),
        Just(Chunking::Whole),
    ]
}

/// Something a peer might send after the handshake: frames of either
/// framing, valid or not, around the limits, and noise.
fn piece() -> impl Strategy<Value = Vec<u8>> {
    let no_ff = |mut b: Vec<u8>| {
        b.retain(|&x| x != 0xff);
        b
    };
    prop_oneof![
        vec(any::<u8>(), 0..64),
        "\\PC{0,200}".prop_map(|s| text_frame(Framing::Old, s.as_bytes())),
        "\\PC{0,200}".prop_map(|s| text_frame(Framing::New, s.as_bytes())),
        (1000usize..1100).prop_map(|n| text_frame(Framing::Old, &vec![b'o'; n])),
        (1000usize..1100).prop_map(|n| text_frame(Framing::New, &vec![b'n'; n])),
        vec(any::<u8>(), 0..1100).prop_map(move |b| text_frame(Framing::Old, &no_ff(b))),
        vec(any::<u8>(), 0..1100).prop_map(|b| text_frame(Framing::New, &b)),
        // 'old' frames that are read and discarded.
        (1u8..0x80, vec(any::<u8>(), 0..1100)).prop_map(move |(t, b)| {
            let mut out = vec![t];
            out.extend(no_ff(b));
            out.push(0xff);
            out
        }),
        (0x80u8..=0xff, 0u64..1100).prop_map(|(t, len)| {
            let mut out = vec![t];
            let digits: Vec<u8> = if len == 0 {
                vec![0]
            } else {
                let mut d = Vec::new();
                let mut n = len;
                while n > 0 {
                    d.push((n % 128) as u8);
                    n /= 128;
                }
                d.reverse();
                d
            };
            let last = digits.len() - 1;
            out.extend(digits.iter().enumerate().map(|(i, &d)| if i < last { d | 0x80 } else { d }));
            out.extend(std::iter::repeat_n(0xaa, len as usize));
            out
        }),
        // 'new' headers declaring any length.
        (any::<u8>(), any::<u64>()).prop_map(|(t, len)| {
            let mut out = vec![t];
            out.extend_from_slice(&len.to_be_bytes());
            out
        }),
        Just(close_frame(Framing::Old)),
        Just(close_frame(Framing::New)),
    ]
}

fn frame_soup() -> impl Strategy<Value = Vec<u8>> {
    vec(piece(), 0..24).prop_map(|pieces| pieces.concat())
}

/// A connection under watch: every event is checked as it comes out.
struct Watch {
    conn: Connection,
    limits: Limits,
    /// Invalid UTF-8 is replaced rather than failed.
    replace: bool,
    events: Vec<Event>,
    /// A `Close` or `Error` came out, or the server answered with `respond`.
    ended: bool,
}

impl Watch {
    fn new(conn: Connection, limits: Limits) -> Watch {
        Watch { conn, limits, replace: false, events: Vec::new(), ended: false }
    }

    fn replacing(mut self, utf8: InvalidUtf8) -> Watch {
        self.replace = utf8 == InvalidUtf8::Replace;
        self
    }

    fn feed(&mut self, input: &[u8], chunking: &Chunking) -> Result<(), TestCaseError> {
        for chunk in chunking.chunks(input) {
            self.conn.handle_input(NOW, chunk);
            self.check()?;
        }
        Ok(())
    }

    /// Drains and checks events, answering requests as an application does,
    /// and flushes what the connection queued after checking its size.
    fn check(&mut self) -> Result<(), TestCaseError> {
        while let Some(event) = self.conn.poll_event() {
            prop_assert!(
                !self.ended,
                "{:?} after the end (earlier: {:?})",
                summary(&event),
                self.summaries()
            );
            match &event {
                Event::Text(text) => {
                    // Each invalid byte replaced by U+FFFD (3 bytes) can triple
                    // a message: `replaced_text_is_bounded_by_max_message_size`
                    // in draft76_errors.rs holds the limit itself to account.
                    let factor = if self.replace { 3 } else { 1 };
                    prop_assert!(
                        text.len() <= self.limits.max_message_size * factor,
                        "text of {} bytes",
                        text.len()
                    )
                }
                Event::Request(RequestKind::WebSocket(protocol)) => {
                    prop_assert!(matches!(protocol, Protocol::Draft76(_) | Protocol::Rfc6455));
                    let head = self.conn.request().expect("request").line.len();
                    prop_assert!(head <= self.limits.max_handshake_bytes);
                    let result = self.conn.accept(Default::default());
                    self.answered(result)?;
                }
                Event::Request(RequestKind::Http) => {
                    let result = self.conn.respond(HttpResponse::text(404, "no"));
                    if self.answered(result)? {
                        prop_assert_eq!(self.conn.state(), State::Closed);
                        self.ended = true;
                    }
                }
                Event::Open => prop_assert!(self.events.iter().all(|e| *e != Event::Open), "opened twice"),
                Event::Close(_) | Event::Error(_) => {
                    // Read to the end: the connection may finish.
                    self.conn.finish();
                    self.ended = true;
                }
                // Fragments, binary, pings: only RFC 6455 makes them, and
                // random bytes cannot be an RFC 6455 handshake that also
                // passes; were one accepted, the checks above still hold.
                _ => {}
            }
            self.events.push(event);
        }
        if self.ended {
            prop_assert_eq!(self.conn.state(), State::Closed);
        }
        let pending = self.conn.pending_transmit();
        prop_assert!(pending < 4096, "{} bytes pending", pending);
        let _ = transmit(&mut self.conn);
        Ok(())
    }

    /// Whether `accept` or `respond` worked. Input that arrived behind the
    /// request in the same read may already have failed the connection, in
    /// which case the request is no longer pending and an `Error` follows.
    fn answered(&self, result: Result<(), Misuse>) -> Result<bool, TestCaseError> {
        match result {
            Ok(()) => Ok(true),
            Err(e) => {
                prop_assert_eq!(e, Misuse::NoPendingRequest);
                prop_assert_eq!(self.conn.state(), State::Closed);
                Ok(false)
            }
        }
    }

    /// After the input: whatever else happens, the connection ends exactly
    /// once, and nothing comes after.
    fn finish(&mut self, more: &[u8]) -> Result<(), TestCaseError> {
        if !self.ended {
            self.conn.handle_eof();
            self.check()?;
            prop_assert!(self.ended, "an end of stream ends it: {:?}", self.summaries());
        }
        let count = self.events.len();
        self.conn.handle_input(NOW, more);
        self.conn.handle_input(NOW, &close_frame(Framing::Old));
        self.conn.handle_eof();
        self.conn.handle_timeout(Instant::from_millis(u64::MAX));
        self.check()?;
        prop_assert_eq!(self.events.len(), count, "events after the end");
        prop_assert_eq!(self.conn.poll_timeout(), None);
        let ends = self.events.iter().filter(|e| matches!(e, Event::Close(_) | Event::Error(_))).count();
        prop_assert!(ends <= 1, "{:?}", self.summaries());
        Ok(())
    }

    fn summaries(&self) -> Vec<String> {
        self.events.iter().map(summary).collect()
    }
}

fn config(limits: Limits, framing: Framing, invalid_utf8: InvalidUtf8) -> Config {
    Config { limits, framing, protocol: Protocol::Draft76(framing), invalid_utf8, ..Config::default() }
}

/// The first vector's request, as a server receives it.
fn valid_request() -> Vec<u8> {
    let (key1, key2, key3, _) = vectors().remove(0);
    request_bytes("GET /demo HTTP/1.1", &draft76_headers(key1, key2), &key3, "\r\n")
}

proptest! {
    #![proptest_config(proptest_config(96))]

    #[test]
    fn server_before_handshake(input in bytes(), more in bytes(), chunking in chunking(), limits in limits(),
                               framing in framing()) {
        let mut w = Watch::new(Connection::server(NOW, config(limits, framing, InvalidUtf8::Fail)), limits);
        w.feed(&input, &chunking)?;
        w.finish(&more)?;
    }

    #[test]
    fn server_with_a_cut_request_then_anything(cut in 0usize..300, input in bytes(), more in bytes(),
                                               chunking in chunking(), limits in limits(), framing in framing()) {
        let request = valid_request();
        let mut stream = request[..cut.min(request.len())].to_vec();
        stream.extend_from_slice(&input);
        let mut w = Watch::new(Connection::server(NOW, config(limits, framing, InvalidUtf8::Fail)), limits);
        w.feed(&stream, &chunking)?;
        w.finish(&more)?;
    }

    #[test]
    fn client_before_handshake(input in bytes(), more in bytes(), chunking in chunking(), limits in limits(),
                               framing in framing(), seed in any::<u64>()) {
        let config = config(limits, framing, InvalidUtf8::Fail);
        let mut client = Connection::client(NOW, config, client_request(), entropy(seed)).unwrap();
        let _ = transmit(&mut client);
        let mut w = Watch::new(client, limits);
        w.feed(&input, &chunking)?;
        w.finish(&more)?;
    }

    #[test]
    fn client_with_a_cut_response_then_anything(cut in 0usize..200, input in bytes(), more in bytes(),
                                                chunking in chunking(), limits in limits(), framing in framing()) {
        let config = config(limits, framing, InvalidUtf8::Fail);
        let mut client = Connection::client(NOW, config, client_request(), entropy(5)).unwrap();
        let response = racket_response(&transmit(&mut client), &[], "\r\n");
        let mut stream = response[..cut.min(response.len())].to_vec();
        stream.extend_from_slice(&input);
        let mut w = Watch::new(client, limits);
        w.feed(&stream, &chunking)?;
        w.finish(&more)?;
    }

    #[test]
    fn open_connections_take_random_bytes(input in bytes(), more in bytes(), chunking in chunking(),
                                          limits in limits(), framing in framing(), server in any::<bool>()) {
        let config = config(limits, framing, InvalidUtf8::Fail);
        let conn = if server { open_server(config) } else { open_client(config, 6) };
        let mut w = Watch::new(conn, limits);
        w.feed(&input, &chunking)?;
        w.finish(&more)?;
    }

    #[test]
    fn open_connections_take_frame_soup(input in frame_soup(), more in frame_soup(), chunking in chunking(),
                                        limits in limits(), framing in framing(), server in any::<bool>(),
                                        utf8 in invalid_utf8()) {
        let config = config(limits, framing, utf8);
        let conn = if server { open_server(config) } else { open_client(config, 7) };
        let mut w = Watch::new(conn, limits).replacing(utf8);
        w.feed(&input, &chunking)?;
        w.finish(&more)?;
        // Whole reads and the chosen chunking tell the same story.
        let config = self::config(limits, framing, utf8);
        let conn = if server { open_server(config) } else { open_client(config, 7) };
        let mut whole = Watch::new(conn, limits).replacing(utf8);
        whole.feed(&input, &Chunking::Whole)?;
        whole.finish(&more)?;
        prop_assert_eq!(whole.summaries(), w.summaries());
    }

    #[test]
    fn server_accepting_then_frame_soup(input in frame_soup(), chunking in chunking(), framing in framing()) {
        // The request and whatever follows it in the same stream.
        let limits = Limits { max_message_size: 1024, max_frame_size: 1024, ..Limits::default() };
        let mut stream = valid_request();
        stream.extend_from_slice(&input);
        let mut w = Watch::new(Connection::server(NOW, config(limits, framing, InvalidUtf8::Fail)), limits);
        w.feed(&stream, &chunking)?;
        prop_assert!(matches!(w.events.first(), Some(Event::Request(_))), "{:?}", w.summaries());
        w.finish(&[])?;
    }
}

proptest! {
    #![proptest_config(proptest_config(128))]

    #[test]
    fn any_text_arrives_identical(from_client in vec(any::<String>(), 0..12),
                                  from_server in vec(any::<String>(), 0..12),
                                  framing in framing(), chunking in chunking(), seed in any::<u64>()) {
        let mut pair = Pair::new(
            Config { protocol: Protocol::Draft76(framing), ..Config::default() },
            ClientRequest::new(target()),
            Config { framing, ..Config::default() },
            seed,
        )
        .chunked(chunking);
        pair.handshake();
        for m in &from_client {
            pair.client.send_text(m).unwrap();
        }
        for m in &from_server {
            pair.server.send_text(m).unwrap();
        }
        pair.pump();
        prop_assert_eq!(pair.take_server_events(), texts(&from_client));
        prop_assert_eq!(pair.take_client_events(), texts(&from_server));
        // And the close handshake still completes.
        pair.client.close(NOW, None, "").unwrap();
        pair.pump();
        prop_assert_eq!(pair.take_server_events(), vec![Event::Close(Default::default())]);
        prop_assert_eq!(pair.take_client_events(), vec![Event::Close(Default::default())]);
        prop_assert_eq!((pair.client.state(), pair.server.state()), (State::Closed, State::Closed));
    }
}
