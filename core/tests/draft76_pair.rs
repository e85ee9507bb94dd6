//! Draft-76 client and server `Connection`s driven against each other in
//! memory, in both framings: the handshake, messages of every shape under
//! every chunking of the byte stream, the close handshake (including the way
//! Racket's `net/websocket` ends connections), the request/response getters,
//! plain HTTP requests, Racket-style heads and pipelined input.

mod common;

use common::*;
use hybi_core::{
    Accept, ClientRequest, Close, Config, Connection, Error, Event, Framing, Header, HttpResponse,
    LimitError, Misuse, Protocol, RequestKind, Stage, State, Target,
};

// ---------------------------------------------------------------------------
// Recorded conversations replayed under every chunking
// ---------------------------------------------------------------------------

/// A conversation recorded once with whole reads: the bytes each way and
/// the messages they carry.
struct Recording {
    framing: Framing,
    seed: u64,
    /// Client → server: request and key3, then the client's frames.
    to_server: Vec<u8>,
    /// Server → client: response and answer, then the server's frames.
    to_client: Vec<u8>,
    request_len: usize,
    response_len: usize,
    from_client: Vec<String>,
    from_server: Vec<String>,
}

fn small_messages() -> Vec<String> {
    vec![
        String::new(),
        "hello".into(),
        "héllo wörld ✓ 😀".into(),
        String::new(),
        "\u{0}".into(),
        "x".repeat(300),
        "日本語のテキスト".into(),
        "last one".into(),
    ]
}

fn record(framing: Framing, from_client: Vec<String>, from_server: Vec<String>) -> Recording {
    let seed = 1;
    let mut pair = draft76_pair(framing);
    pair.handshake();
    let request_len = pair.to_server.len();
    let response_len = pair.to_client.len();
    for m in &from_client {
        pair.client.send_text(m).unwrap();
    }
    for m in &from_server {
        pair.server.send_text(m).unwrap();
    }
    pair.pump();
    assert_events(&pair.take_server_events(), &texts(&from_client), "server, whole reads");
    assert_events(&pair.take_client_events(), &texts(&from_server), "client, whole reads");

    // The frames on the wire are exactly the hand-built ones of
    // docs/PROTOCOLS.md §2 and §3.
    let frames = |messages: &[String]| -> Vec<u8> {
        messages.iter().flat_map(|m| text_frame(framing, m.as_bytes())).collect()
    };
    assert!(pair.to_server[request_len..] == frames(&from_client)[..], "client frames on the wire");
    assert!(pair.to_client[response_len..] == frames(&from_server)[..], "server frames on the wire");

    Recording {
        framing,
        seed,
        to_server: pair.to_server,
        to_client: pair.to_client,
        request_len,
        response_len,
        from_client,
        from_server,
    }
}

impl Recording {
    /// A fresh server fed the client's bytes in `chunking`'s reads gets the
    /// request, opens, gets every message in order, and answers with the
    /// same response bytes as in the recording.
    fn check_server(&self, chunking: &Chunking) {
        let mut server = Connection::server(NOW, server_config(self.framing));
        let events = replay(&mut server, &self.to_server, chunking, true);
        let mut expected =
            vec![Event::Request(RequestKind::WebSocket(Protocol::Draft76(self.framing))), Event::Open];
        expected.extend(texts(&self.from_client));
        assert_events(&events, &expected, &format!("server {:?} {}", self.framing, describe(chunking)));
        assert_eq!(server.state(), State::Open);
        let response = transmit(&mut server);
        assert!(
            response == self.to_client[..self.response_len],
            "server response differs under {}",
            describe(chunking)
        );
    }

    /// A fresh client with the same entropy, fed the server's bytes in
    /// `chunking`'s reads, opens and gets every message in order.
    fn check_client(&self, chunking: &Chunking) {
        let mut client = new_client(self.framing, self.seed);
        assert!(transmit(&mut client) == self.to_server[..self.request_len], "same seed, same request");
        let events = replay(&mut client, &self.to_client, chunking, false);
        let mut expected = vec![Event::Open];
        expected.extend(texts(&self.from_server));
        assert_events(&events, &expected, &format!("client {:?} {}", self.framing, describe(chunking)));
        assert_eq!(client.state(), State::Open);
        assert_eq!(client.pending_transmit(), 0, "a client only ever sends what it is told to");
    }
}

fn describe(chunking: &Chunking) -> String {
    match chunking {
        Chunking::Sizes(s) if s.len() > 8 => format!("Sizes({} sizes)", s.len()),
        other => format!("{other:?}"),
    }
}

#[test]
fn small_messages_at_every_split_point() {
    for framing in FRAMINGS {
        let mut reversed = small_messages();
        reversed.reverse();
        let rec = record(framing, small_messages(), reversed);
        // The whole stream in one read includes the client's frames pipelined
        // behind its request: they wait for `accept`.
        rec.check_server(&Chunking::Whole);
        rec.check_client(&Chunking::Whole);
        for at in 0..=rec.to_server.len() {
            rec.check_server(&Chunking::SplitAt(at));
        }
        for at in 0..=rec.to_client.len() {
            rec.check_client(&Chunking::SplitAt(at));
        }
    }
}

#[test]
fn small_messages_one_byte_at_a_time_and_in_odd_sizes() {
    for framing in FRAMINGS {
        let rec = record(framing, small_messages(), small_messages());
        for chunking in [
            Chunking::OneByte,
            Chunking::Sizes(vec![2]),
            Chunking::Sizes(vec![3, 1, 4, 1, 5, 9, 2, 6]),
            Chunking::Sizes(vec![7, 13, 64]),
        ] {
            rec.check_server(&chunking);
            rec.check_client(&chunking);
        }
    }
}

const MIB: usize = 1024 * 1024;

/// Messages around a large one, so that a split falls in every part.
fn with_large(len: usize) -> Vec<String> {
    vec!["before".into(), mixed_text(len), String::new(), "after ✓".into()]
}

#[test]
fn one_mib_message_at_sparse_split_points() {
    for framing in FRAMINGS {
        let rec = record(framing, with_large(MIB), with_large(MIB));
        // A real client sends nothing before it has the server's answer, so
        // its request and its first message never share a read: pipelined
        // input is capped at `max_handshake_bytes` while the application
        // decides (see `pipelined_input_over_the_handshake_limit_is_refused`).
        // Each split of the client stream is therefore combined with a cut
        // after key3.
        for at in sparse_splits(rec.to_server.len(), 4099, 20) {
            rec.check_server(&Chunking::SplitsAt(vec![at, rec.request_len]));
        }
        for at in sparse_splits(rec.to_client.len(), 4099, 20) {
            rec.check_client(&Chunking::SplitAt(at));
        }
    }
}

#[test]
fn one_mib_message_one_byte_at_a_time() {
    // One megabyte fed byte by byte, both ways, both framings, takes about
    // a second in a debug build.
    for framing in FRAMINGS {
        let rec = record(framing, with_large(MIB), with_large(MIB));
        rec.check_server(&Chunking::OneByte);
        rec.check_client(&Chunking::OneByte);
    }
}

#[test]
fn echo_conversation_in_one_byte_reads() {
    for framing in FRAMINGS {
        let mut pair = draft76_pair(framing).chunked(Chunking::OneByte);
        pair.handshake();
        for message in small_messages().iter().chain([&mixed_text(5000)]) {
            pair.client.send_text(message).unwrap();
            pair.pump();
            let got = pair.take_server_events();
            assert_events(&got, &texts(&[message]), "server");
            pair.server.send_text(&format!("echo: {message}")).unwrap();
            pair.pump();
            assert_events(&pair.take_client_events(), &texts(&[format!("echo: {message}")]), "client");
        }
        assert_eq!((pair.client.state(), pair.server.state()), (State::Open, State::Open));
        assert_eq!((pair.client.poll_timeout(), pair.server.poll_timeout()), (None, None));
    }
}

#[test]
fn many_messages_interleaved_both_ways() {
    for framing in FRAMINGS {
        for chunking in [Chunking::Whole, Chunking::Sizes(vec![1, 2, 3, 5, 8, 13, 21])] {
            let mut pair = draft76_pair(framing).chunked(chunking.clone());
            pair.handshake();
            let mut sent_c = Vec::new();
            let mut sent_s = Vec::new();
            for i in 0..200 {
                let c = format!("c{i} {}", "é".repeat(i % 7));
                let s = format!("s{i} {}", "😀".repeat(i % 5));
                pair.client.send_text(&c).unwrap();
                pair.server.send_text(&s).unwrap();
                sent_c.push(c);
                sent_s.push(s);
                if i % 17 == 0 {
                    pair.pump();
                }
            }
            pair.pump();
            assert_events(&pair.take_server_events(), &texts(&sent_c), &format!("server {chunking:?}"));
            assert_events(&pair.take_client_events(), &texts(&sent_s), &format!("client {chunking:?}"));
        }
    }
}

// ---------------------------------------------------------------------------
// Closing
// ---------------------------------------------------------------------------

#[test]
fn client_closes_server_answers_both_closed() {
    for framing in FRAMINGS {
        for chunking in [Chunking::Whole, Chunking::OneByte] {
            let mut pair = draft76_pair(framing).chunked(chunking);
            pair.handshake();
            pair.client.send_text("bye").unwrap();
            pair.client.close(NOW, None, "").unwrap();
            assert_eq!(pair.client.state(), State::Closing);
            assert!(pair.client.poll_timeout().is_some(), "a close deadline is armed");
            assert_eq!(pair.client.send_text("late"), Err(Misuse::NotOpen));

            let sent = pair.to_server.len();
            pair.client_to_server();
            let mut expected = text_frame(framing, b"bye");
            expected.extend(close_frame(framing));
            assert_eq!(pair.to_server[sent..], expected[..], "client's close frame");
            assert_events(
                &pair.take_server_events(),
                &[Event::Text("bye".into()), Event::Close(Close::default())],
                "server",
            );
            assert_eq!(pair.server.state(), State::Closed);
            // The server's reply close frame is queued for the driver to flush.
            assert_eq!(pair.server.pending_transmit(), close_frame(framing).len());

            let received = pair.to_client.len();
            pair.server_to_client();
            assert_eq!(pair.to_client[received..], close_frame(framing)[..], "server's reply");
            assert_events(&pair.take_client_events(), &[Event::Close(Close::default())], "client");
            assert_eq!(pair.client.state(), State::Closed);
            // Nothing more goes out, and no timer is left.
            assert_eq!((pair.client.pending_transmit(), pair.server.pending_transmit()), (0, 0));
            assert_eq!((pair.client.poll_timeout(), pair.server.poll_timeout()), (None, None));
            // A closed connection ignores whatever else comes.
            pair.client.handle_input(NOW, &text_frame(framing, b"x"));
            pair.client.handle_eof();
            assert_eq!(pair.client.poll_event(), None);
        }
    }
}

#[test]
fn server_closes_client_answers_both_closed() {
    for framing in FRAMINGS {
        let mut pair = draft76_pair(framing);
        pair.handshake();
        // Code 1000 with no reason is the same plain close in draft-76.
        pair.server.close(NOW, Some(1000), "").unwrap();
        assert_eq!(pair.server.state(), State::Closing);
        pair.server_to_client();
        assert_events(&pair.take_client_events(), &[Event::Close(Close::default())], "client");
        assert_eq!(pair.client.state(), State::Closed);
        assert_eq!(pair.client.pending_transmit(), close_frame(framing).len());
        pair.client_to_server();
        assert_events(&pair.take_server_events(), &[Event::Close(Close::default())], "server");
        assert_eq!(pair.server.state(), State::Closed);
        assert_eq!(pair.server.pending_transmit(), 0, "no second close frame");
    }
}

#[test]
fn close_frame_then_eof_is_a_clean_close_racket_style() {
    // Racket's `ws-close!` writes its close frame and hangs up at once.
    for framing in FRAMINGS {
        for role in ["server", "client"] {
            for same_read in [true, false] {
                let mut conn = match role {
                    "server" => open_server(server_config(framing)),
                    _ => open_client(client_config(framing), 3),
                };
                let mut bytes = text_frame(framing, b"last words");
                bytes.extend(close_frame(framing));
                if same_read {
                    conn.handle_input(NOW, &bytes);
                } else {
                    for b in &bytes {
                        conn.handle_input(NOW, std::slice::from_ref(b));
                    }
                }
                conn.handle_eof();
                assert_events(
                    &drain(&mut conn),
                    &[Event::Text("last words".into()), Event::Close(Close::default())],
                    &format!("{role} {framing:?}"),
                );
                assert_eq!(conn.state(), State::Closed);
                // Our answering close frame is queued; flushing it into a
                // closed socket is harmless.
                assert_eq!(transmit(&mut conn), close_frame(framing));
            }
        }
    }
}

#[test]
fn our_close_answered_by_eof_alone_is_clean_racket_style() {
    // Racket receiving a close returns eof to its application and sends
    // nothing back: the TCP connection just ends.
    for framing in FRAMINGS {
        let mut pair = draft76_pair(framing);
        pair.handshake();
        pair.client.close(NOW, None, "").unwrap();
        assert_eq!(transmit(&mut pair.client), close_frame(framing));
        pair.client.handle_eof();
        assert_events(&drain(&mut pair.client), &[Event::Close(Close::default())], "client");
        assert_eq!(pair.client.state(), State::Closed);
        assert_eq!(pair.client.pending_transmit(), 0);
    }
}

#[test]
fn eof_between_frames_without_close_is_a_clean_close() {
    for framing in FRAMINGS {
        let mut pair = draft76_pair(framing);
        pair.handshake();
        pair.client.send_text("one").unwrap();
        pair.client_to_server();
        pair.server.handle_eof();
        pair.server_events.extend(drain(&mut pair.server));
        assert_events(
            &pair.take_server_events(),
            &[Event::Text("one".into()), Event::Close(Close::default())],
            "server",
        );
        assert_eq!(pair.server.state(), State::Closed);
        // Draft-76 has no reply to an end of stream.
        assert_eq!(pair.server.pending_transmit(), 0);
        pair.client.handle_eof();
        assert_events(&drain(&mut pair.client), &[Event::Close(Close::default())], "client");
    }
}

#[test]
fn eof_mid_frame_is_an_error() {
    let cases: Vec<(Framing, Vec<u8>)> = vec![
        (Framing::Old, vec![0x00]),
        (Framing::Old, vec![0x00, b'a', b'b']),
        (Framing::Old, vec![0x05, b'x']),    // a discarded sentinel frame
        (Framing::Old, vec![0x80]),          // a length-prefixed frame, length unfinished
        (Framing::Old, vec![0x80, 0x83]),    // ...still
        (Framing::Old, vec![0x80, 0x03, 1]), // ...payload unfinished
        (Framing::Old, vec![0xff]),          // half a close frame
        (Framing::New, vec![0xff]),          // type only
        (Framing::New, vec![0xff, 0, 0, 0]), // length unfinished
        (Framing::New, vec![0xff, 0, 0, 0, 0, 0, 0, 0, 3, b'a']), // payload unfinished
        (Framing::New, vec![0x00, 0, 0, 0, 0]), // half a close frame
    ];
    for (framing, bytes) in cases {
        for role in ["server", "client"] {
            let mut conn = match role {
                "server" => open_server(server_config(framing)),
                _ => open_client(client_config(framing), 4),
            };
            let mut wire = text_frame(framing, b"ok");
            wire.extend_from_slice(&bytes);
            conn.handle_input(NOW, &wire);
            conn.handle_eof();
            assert_events(
                &drain(&mut conn),
                &[Event::Text("ok".into()), Event::Error(Error::UnexpectedEof(Stage::Frame))],
                &format!("{role} {framing:?} {bytes:?}"),
            );
            assert_eq!(conn.state(), State::Closed);
            assert_eq!(conn.pending_transmit(), 0, "nothing is sent on a broken stream");
        }
    }
}

// ---------------------------------------------------------------------------
// Getters
// ---------------------------------------------------------------------------

#[test]
fn request_and_response_getters_in_both_roles() {
    for framing in FRAMINGS {
        let mut pair = draft76_pair(framing);
        assert_eq!(pair.client.response(), None);
        assert_eq!(pair.server.request(), None);
        pair.handshake();

        // Server: the request it received, byte-exact.
        let wire = Head::parse(&pair.to_server);
        let request = pair.server.request().expect("server has the request");
        assert_eq!(request.line, "GET /demo HTTP/1.1");
        assert_eq!(wire.start, request.line);
        assert_eq!((request.method.as_str(), request.target.as_str()), ("GET", "/demo"));
        assert_eq!(request.minor_version, 1);
        assert_eq!(request.path(), "/demo");
        assert_eq!(request.headers.len(), wire.headers.len());
        for (name, value) in &wire.headers {
            assert_eq!(request.headers.get(name), Some(&value[..]), "{name}");
        }
        assert_eq!(request.headers.get_str("origin"), Some(ORIGIN));
        assert_eq!(request.headers.get_str("Host"), Some("example.com"));

        // Server: the response it sent, with the derived draft-76 headers.
        let response = pair.server.response().expect("server has its response");
        assert_eq!(response.status, 101);
        assert_eq!(response.line, "HTTP/1.1 101 WebSocket Protocol Handshake");
        let names: Vec<&str> = response.headers.iter().map(|h| h.name.as_str()).collect();
        assert_eq!(
            names,
            ["Upgrade", "Connection", "Sec-WebSocket-Origin", "Sec-WebSocket-Location"],
            "response header order"
        );
        assert_eq!(response.headers.get_str("Upgrade"), Some("WebSocket"));
        assert_eq!(response.headers.get_str("Connection"), Some("Upgrade"));
        assert_eq!(response.headers.get_str("Sec-WebSocket-Origin"), Some(ORIGIN));
        assert_eq!(response.headers.get_str("Sec-WebSocket-Location"), Some("ws://example.com/demo"));

        // What went on the wire is what the getter says, then the answer.
        let sent = Head::parse(&pair.to_client);
        assert_eq!(sent.start, response.line);
        assert_eq!(sent.headers.len(), response.headers.len());
        for h in response.headers.iter() {
            assert_eq!(sent.get(&h.name), Some(&h.value[..]));
        }
        assert_eq!(sent.rest, answer_to_request(&pair.to_server));

        // Client: the request it sent (its own headers, not the handshake's)
        // and the response it received, equal to the one the server sent.
        let sent_request = pair.client.request().expect("client has its request");
        assert_eq!(sent_request.line, "GET /demo HTTP/1.1");
        assert_eq!(sent_request.target, "/demo");
        assert_eq!(sent_request.headers.get_str("Origin"), Some(ORIGIN));
        assert!(!sent_request.headers.contains("Sec-WebSocket-Key1"));
        assert_eq!(pair.client.response(), pair.server.response());
        assert_eq!(pair.client.protocol(), Some(Protocol::Draft76(framing)));
        assert_eq!(pair.server.protocol(), Some(Protocol::Draft76(framing)));
    }
}

#[test]
fn location_follows_host_port_and_tls_and_origin_only_when_sent() {
    let cases = [
        (Some(8080), false, "ws://example.com:8080/demo?room=1"),
        (Some(80), false, "ws://example.com/demo?room=1"),
        (None, true, "wss://example.com/demo?room=1"),
    ];
    for (port, secure, location) in cases {
        let target = Target { host: "example.com".into(), port, resource: "/demo?room=1".into(), secure };
        let server_config = Config { secure, ..server_config(Framing::Old) };
        let mut pair = Pair::new(client_config(Framing::Old), ClientRequest::new(target), server_config, 9);
        pair.handshake();
        let response = pair.client.response().unwrap();
        assert_eq!(response.headers.get_str("Sec-WebSocket-Location"), Some(location));
        assert!(!response.headers.contains("Sec-WebSocket-Origin"), "no Origin, no Sec-WebSocket-Origin");
        assert_eq!(pair.server.request().unwrap().target, "/demo?room=1");
    }
}

#[test]
fn application_headers_replace_the_derived_ones() {
    let mut server = Connection::server(NOW, server_config(Framing::Old));
    let mut client = new_client(Framing::Old, 5);
    let request = transmit(&mut client);
    server.handle_input(NOW, &request);
    assert_eq!(drain(&mut server), [Event::Request(RequestKind::WebSocket(Protocol::Draft76(Framing::Old)))]);
    let headers = vec![
        Header::new("sec-websocket-origin", "http://example.com"),
        Header::new("Sec-WebSocket-Location", "ws://example.com/demo"),
        Header::new("X-Served-By", "test"),
    ];
    server.accept(Accept { headers: headers.clone(), ..Accept::default() }).unwrap();
    assert_eq!(drain(&mut server), [Event::Open]);
    let response = server.response().unwrap();
    let expected: Vec<Header> = [Header::new("Upgrade", "WebSocket"), Header::new("Connection", "Upgrade")]
        .into_iter()
        .chain(headers)
        .collect();
    assert_eq!(response.headers.0, expected);
    let wire = transmit(&mut server);
    let head = Head::parse(&wire);
    assert_eq!(head.get_str("Sec-WebSocket-Origin"), Some("http://example.com"));
    assert_eq!(head.get_str("X-Served-By"), Some("test"));
    assert_eq!(head.rest, answer_to_request(&request));
    client.handle_input(NOW, &wire);
    assert_eq!(drain(&mut client), [Event::Open]);
    assert_eq!(client.response().unwrap().headers.get_str("x-served-by"), Some("test"));

    // A replacement the client did not ask for fails the client.
    for (name, value, error) in [
        ("Sec-WebSocket-Origin", "http://evil.example", hybi_core::HandshakeError::OriginMismatch),
        ("Sec-WebSocket-Location", "ws://example.com/other", hybi_core::HandshakeError::LocationMismatch),
    ] {
        let mut server = Connection::server(NOW, server_config(Framing::Old));
        let mut client = new_client(Framing::Old, 6);
        server.handle_input(NOW, &transmit(&mut client));
        let _ = drain(&mut server);
        server.accept(Accept { headers: vec![Header::new(name, value)], ..Accept::default() }).unwrap();
        let head = Head::parse(&transmit(&mut server));
        assert_eq!(head.get_str(name), Some(value), "replaced, not added");
        client.handle_input(NOW, &head.to_bytes());
        assert_eq!(drain(&mut client), [Event::Error(Error::Handshake(error))]);
    }
}

#[test]
fn draft76_subprotocol_is_agreed_on_both_ends() {
    for framing in FRAMINGS {
        let request = ClientRequest { subprotocols: vec!["chat".into()], ..client_request() };
        let mut pair = Pair::new(client_config(framing), request, server_config(framing), 11);
        pair.accept = None;
        pair.client_to_server();
        assert_eq!(
            pair.take_server_events(),
            [Event::Request(RequestKind::WebSocket(Protocol::Draft76(framing)))]
        );
        let offered = pair.server.request().unwrap().headers.get_str("Sec-WebSocket-Protocol");
        assert_eq!(offered, Some("chat"));
        pair.server.accept(Accept { subprotocol: Some("chat".into()), ..Accept::default() }).unwrap();
        pair.server_events.extend(drain(&mut pair.server));
        pair.server_to_client();
        assert_eq!(pair.take_client_events(), [Event::Open]);
        assert_eq!(pair.client.response().unwrap().headers.get_str("Sec-WebSocket-Protocol"), Some("chat"));
        assert_eq!(pair.server.subprotocol(), Some("chat"), "server");
        assert_eq!(
            pair.client.subprotocol(),
            Some("chat"),
            "client: \"the subprotocol both ends agreed on\""
        );
    }
}

// ---------------------------------------------------------------------------
// Plain HTTP
// ---------------------------------------------------------------------------

#[test]
fn plain_http_get_is_a_request_answered_with_a_response() {
    for chunking in [Chunking::Whole, Chunking::OneByte] {
        let mut server = Connection::server(NOW, Config::default());
        let events = replay(
            &mut server,
            b"GET /index.html HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n",
            &chunking,
            true,
        );
        assert_eq!(events, [Event::Request(RequestKind::Http)]);
        assert_eq!(server.request().unwrap().target, "/index.html");
        assert_eq!(server.protocol(), None);
        assert_eq!(server.accept(Accept::default()), Err(Misuse::NoPendingRequest));
        server.respond(HttpResponse::text(200, "hi")).unwrap();
        assert_eq!(server.state(), State::Closed);

        let wire = transmit(&mut server);
        let head = Head::parse(&wire);
        assert_eq!(head.start, "HTTP/1.1 200 OK");
        assert_eq!(head.status(), 200);
        assert_eq!(head.get_str("Content-Length"), Some("2"));
        assert_eq!(head.get_str("Connection"), Some("close"));
        assert_eq!(head.get_str("Content-Type"), Some("text/plain; charset=utf-8"));
        assert_eq!(head.rest, b"hi");
        let response = server.response().unwrap();
        assert_eq!((response.status, response.line.as_str()), (200, "HTTP/1.1 200 OK"));

        // Nothing more: no events, no bytes, no timer, no second answer.
        server.handle_input(NOW, b"GET / HTTP/1.1\r\n\r\n");
        server.handle_eof();
        assert_eq!(server.poll_event(), None);
        assert_eq!(server.pending_transmit(), 0);
        assert_eq!(server.poll_timeout(), None);
        assert_eq!(server.respond(HttpResponse::text(200, "again")), Err(Misuse::NoPendingRequest));
    }
}

// ---------------------------------------------------------------------------
// Racket-style heads
// ---------------------------------------------------------------------------

#[test]
fn racket_style_requests_with_trailing_spaces_and_any_line_ending() {
    // Spaces at the very end of a key count: "1x 8 " is 18 / 2 = 9 (trimmed
    // it would be 18 / 1), "6 0  " is 60 / 3 = 20 (trimmed, 60 / 1).
    let (key1, key2, key3) = ("1x 8 ", "6 0  ", b"Tm[K T2u");
    assert_eq!((key_part(key1.as_bytes()), key_part(key2.as_bytes())), (Some(9), Some(20)));
    let expected_answer = answer(key1.as_bytes(), key2.as_bytes(), key3).unwrap();
    let headers = [
        ("Host", "localhost"),
        ("Connection", "Upgrade"),
        ("Upgrade", "WebSocket"),
        ("Sec-WebSocket-Key1", key1),
        ("Sec-WebSocket-Key2", key2),
    ];
    for eol in ["\r\n", "\n", "\r"] {
        let request = request_bytes("GET /demo HTTP/1.1", &headers, key3, eol);
        let mut chunkings = vec![Chunking::Whole, Chunking::OneByte];
        chunkings.extend((0..=request.len()).map(Chunking::SplitAt));
        for chunking in chunkings {
            for framing in FRAMINGS {
                let mut server = Connection::server(NOW, server_config(framing));
                let events = replay(&mut server, &request, &chunking, true);
                assert_eq!(
                    events,
                    [Event::Request(RequestKind::WebSocket(Protocol::Draft76(framing))), Event::Open],
                    "{eol:?} {chunking:?}"
                );
                let got = server.request().unwrap();
                assert_eq!(got.headers.get("Sec-WebSocket-Key1"), Some(key1.as_bytes()), "kept byte-exact");
                assert_eq!(got.headers.get("Sec-WebSocket-Key2"), Some(key2.as_bytes()));
                let wire = transmit(&mut server);
                assert_eq!(wire[wire.len() - 16..], expected_answer, "{eol:?} {chunking:?}");
                let head = Head::parse(&wire);
                assert_eq!(head.get_str("Sec-WebSocket-Location"), Some("ws://localhost/demo"));
                assert_eq!(head.get("Sec-WebSocket-Origin"), None);
                // And the connection works in the configured framing.
                server.handle_input(NOW, &text_frame(framing, "ça marche".as_bytes()));
                assert_eq!(drain(&mut server), [Event::Text("ça marche".into())]);
            }
        }
    }
}

#[test]
fn racket_style_response_with_only_upgrade_and_connection_opens_the_client() {
    for framing in FRAMINGS {
        // A head in bare CRs too: it ends on its last CR (http_heads.rs
        // has an answer that begins with LF).
        for eol in ["\r\n", "\n", "\r"] {
            for chunking in [Chunking::Whole, Chunking::OneByte] {
                let mut client = new_client(framing, 21);
                let request = transmit(&mut client);
                let mut wire = racket_response(&request, &[], eol);
                wire.extend(text_frame(framing, "from racket".as_bytes()));
                let events = replay(&mut client, &wire, &chunking, false);
                assert_eq!(events, [Event::Open, Event::Text("from racket".into())], "{eol:?} {chunking:?}");
                let response = client.response().unwrap();
                assert_eq!(response.line, "HTTP/1.1 101 WebSocket Protocol Handshake");
                assert_eq!(response.headers.len(), 2);
                // Racket's hook may add headers of its own: they are kept.
                let mut client = new_client(framing, 22);
                let request = transmit(&mut client);
                let wire = racket_response(&request, &[("X-Hook", "value ")], eol);
                client.handle_input(NOW, &wire);
                assert_eq!(drain(&mut client), [Event::Open]);
                assert_eq!(client.response().unwrap().headers.get_str("X-Hook"), Some("value "));
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Pipelined input
// ---------------------------------------------------------------------------

#[test]
fn input_before_accept_is_delivered_after_accept() {
    for framing in FRAMINGS {
        let mut client = new_client(framing, 31);
        let mut wire = transmit(&mut client);
        wire.extend(text_frame(framing, b"early"));
        wire.extend(text_frame(framing, "second ✓".as_bytes()));
        for chunking in [Chunking::Whole, Chunking::OneByte] {
            let mut server = Connection::server(NOW, server_config(framing));
            // The application does not answer until all input is in.
            let events = replay(&mut server, &wire, &chunking, false);
            assert_eq!(events, [Event::Request(RequestKind::WebSocket(Protocol::Draft76(framing)))]);
            assert_eq!(server.state(), State::Handshaking);
            assert_eq!(server.pending_transmit(), 0, "no answer before the application decides");
            // More of it, and the end of the stream, while still deciding.
            server.handle_input(NOW, &close_frame(framing));
            server.handle_eof();
            assert_eq!(server.poll_event(), None);
            server.accept(Accept::default()).unwrap();
            assert_events(
                &drain(&mut server),
                &[
                    Event::Open,
                    Event::Text("early".into()),
                    Event::Text("second ✓".into()),
                    Event::Close(Close::default()),
                ],
                &format!("{framing:?} {chunking:?}"),
            );
            let out = transmit(&mut server);
            assert!(out.ends_with(&close_frame(framing)), "the close is answered after the 101");
            assert_eq!(server.state(), State::Closed);
        }
    }
}

#[test]
fn eof_before_accept_after_frames_is_a_clean_close_after_accept() {
    for framing in FRAMINGS {
        let mut client = new_client(framing, 32);
        let mut wire = transmit(&mut client);
        wire.extend(text_frame(framing, b"hi"));
        let mut server = Connection::server(NOW, server_config(framing));
        server.handle_input(NOW, &wire);
        server.handle_eof();
        assert_eq!(drain(&mut server), [Event::Request(RequestKind::WebSocket(Protocol::Draft76(framing)))]);
        server.accept(Accept::default()).unwrap();
        assert_eq!(
            drain(&mut server),
            [Event::Open, Event::Text("hi".into()), Event::Close(Close::default())]
        );
    }
}

#[test]
fn pipelined_input_over_the_handshake_limit_is_refused() {
    // Input that arrives while the application decides is held, up to
    // `max_handshake_bytes`; a client that pipelines more is refused (431).
    let mut client = new_client(Framing::Old, 33);
    let mut wire = transmit(&mut client);
    let limit = Config::default().limits.max_handshake_bytes;
    wire.extend(text_frame(Framing::Old, mixed_text(limit).as_bytes()));
    let mut server = Connection::server(NOW, server_config(Framing::Old));
    server.handle_input(NOW, &wire);
    assert_eq!(
        drain(&mut server),
        [
            Event::Request(RequestKind::WebSocket(Protocol::Draft76(Framing::Old))),
            Event::Error(Error::Limit(LimitError::HandshakeTooLarge { limit })),
        ]
    );
    assert_eq!(Head::parse(&transmit(&mut server)).status(), 431);
    assert_eq!(server.accept(Accept::default()), Err(Misuse::NoPendingRequest));
}
