//! Draft-76 failures, each with the exact `Error` it must produce: bad
//! requests fed to a server (with the HTTP status it must write), bad
//! responses fed to a client, bad frames, limits, early ends of stream,
//! timeouts and command misuse. Also the docs/PROTOCOLS.md §1.3 vectors at
//! the connection level, in both roles.

mod common;

use std::time::Duration;

use common::*;
use hybi_core::handshake::draft76;
use hybi_core::{
    Accept, ClientRequest, Close, Config, Connection, Error, Event, Framing, HandshakeError, Header,
    HttpResponse, Instant, InvalidUtf8, KeyName, KeyProblem, LimitError, Limits, Misuse, Protocol,
    ProtocolError, ProtocolSet, RequestKind, Stage, State, Timeouts, Timer,
};

fn key_error(key: KeyName, problem: KeyProblem) -> Error {
    Error::Handshake(HandshakeError::BadKey { key, problem })
}

/// The first vector's keys.
const KEY1: &str = "4 @1  46546xW%0l 1 5";
const KEY2: &str = "12998 5 Y3 1  .P00";
const KEY3: &[u8; 8] = b"^n:ds[4U";

/// The first vector's request with `edit` applied to its header list.
fn request_with(edit: impl FnOnce(&mut Vec<(&'static str, &'static str)>)) -> Vec<u8> {
    let mut headers = draft76_headers(KEY1, KEY2);
    edit(&mut headers);
    request_bytes("GET /demo HTTP/1.1", &headers, KEY3, "\r\n")
}

fn without(name: &'static str) -> impl FnOnce(&mut Vec<(&'static str, &'static str)>) {
    move |h| h.retain(|(n, _)| *n != name)
}

fn replace(name: &'static str, value: &'static str) -> impl FnOnce(&mut Vec<(&'static str, &'static str)>) {
    move |h| {
        for (n, v) in h.iter_mut() {
            if *n == name {
                *v = value;
            }
        }
    }
}

/// Checks that a server refused `input` with exactly `error` and answered
/// with an HTTP response of `status` whose framing is sound, under whole,
/// byte-by-byte and two-read delivery.
#[track_caller]
fn assert_refused(config: &Config, input: &[u8], error: &Error, status: u16, case: &str) {
    let mut chunkings = vec![Chunking::Whole, Chunking::OneByte];
    chunkings.extend((0..=input.len()).step_by(7).map(Chunking::SplitAt));
    for chunking in chunkings {
        let mut server = Connection::server(NOW, config.clone());
        let events = replay(&mut server, input, &chunking, true);
        assert_eq!(events, [Event::Error(error.clone())], "{case} {chunking:?}");
        assert_eq!(error.http_status(), Some(status), "{case}: status for {error:?}");
        assert_eq!(server.state(), State::Closed, "{case}");
        let wire = transmit(&mut server);
        let head = Head::parse(&wire);
        assert_eq!(head.status(), status, "{case}: {:?}", head.start);
        assert_eq!(head.get_str("Connection"), Some("close"), "{case}");
        let length: usize = head.get_str("Content-Length").expect("Content-Length").parse().unwrap();
        assert_eq!(head.rest.len(), length, "{case}: body matches Content-Length");
        if status == 405 {
            assert_eq!(head.get_str("Allow"), Some("GET"));
        }
        let response = server.response().expect("the refusal is the server's response");
        assert_eq!(response.status, status);
        // Nothing more, whatever comes next.
        server.handle_input(NOW, input);
        server.handle_eof();
        server.handle_timeout(Instant::from_millis(u64::MAX));
        assert_eq!(server.poll_event(), None, "{case}");
        assert_eq!(server.pending_transmit(), 0, "{case}");
    }
}

#[test]
fn bad_requests_are_refused_with_their_status() {
    let config = Config::default();
    let big = "a".repeat(20_000);
    let big: &'static str = Box::leak(big.into_boxed_str());
    let cases: Vec<(&str, Vec<u8>, Error, u16)> = vec![
        (
            "missing Key1",
            request_with(without("Sec-WebSocket-Key1")),
            HandshakeError::MissingHeader("Sec-WebSocket-Key1").into(),
            400,
        ),
        (
            "missing Key2",
            request_with(without("Sec-WebSocket-Key2")),
            HandshakeError::MissingHeader("Sec-WebSocket-Key2").into(),
            400,
        ),
        (
            "duplicate Key2",
            request_with(|h| h.push(("Sec-WebSocket-Key2", KEY2))),
            HandshakeError::DuplicateHeader("Sec-WebSocket-Key2").into(),
            400,
        ),
        (
            "duplicate Key1, other case",
            request_with(|h| h.push(("sec-websocket-key1", KEY1))),
            HandshakeError::DuplicateHeader("Sec-WebSocket-Key1").into(),
            400,
        ),
        (
            "Key1 without spaces",
            request_with(replace("Sec-WebSocket-Key1", "12345x")),
            key_error(KeyName::Key1, KeyProblem::NoSpaces),
            400,
        ),
        (
            "Key2 number not a multiple of its spaces",
            request_with(replace("Sec-WebSocket-Key2", "2 L785 8o% s9Sy9@V. 4<1P5")),
            key_error(KeyName::Key2, KeyProblem::NotMultiple),
            400,
        ),
        (
            "Key1 over 2^32-1",
            request_with(replace("Sec-WebSocket-Key1", "42949 67296")),
            key_error(KeyName::Key1, KeyProblem::NumberTooLarge),
            400,
        ),
        (
            "Key2 of 40 digits",
            request_with(replace("Sec-WebSocket-Key2", "1234567890 1234567890 1234567890 1234567890")),
            key_error(KeyName::Key2, KeyProblem::NumberTooLarge),
            400,
        ),
        (
            "Key1 without digits or spaces",
            request_with(replace("Sec-WebSocket-Key1", "abc")),
            key_error(KeyName::Key1, KeyProblem::NoSpaces),
            400,
        ),
        (
            "Upgrade wrong",
            request_with(replace("Upgrade", "WebSocket2")),
            HandshakeError::BadUpgrade.into(),
            400,
        ),
        (
            "Upgrade missing",
            request_with(without("Upgrade")),
            HandshakeError::MissingHeader("Upgrade").into(),
            400,
        ),
        (
            "Connection wrong",
            request_with(replace("Connection", "keep-alive")),
            HandshakeError::BadConnection.into(),
            400,
        ),
        (
            "Connection missing",
            request_with(without("Connection")),
            HandshakeError::MissingHeader("Connection").into(),
            400,
        ),
        ("Host missing", request_with(without("Host")), HandshakeError::MissingHeader("Host").into(), 400),
        (
            "POST",
            request_bytes("POST /demo HTTP/1.1", &draft76_headers(KEY1, KEY2), KEY3, "\r\n"),
            HandshakeError::MethodNotGet.into(),
            405,
        ),
        (
            "HTTP/1.0",
            request_bytes("GET /demo HTTP/1.0", &draft76_headers(KEY1, KEY2), KEY3, "\r\n"),
            HandshakeError::UnsupportedHttpVersion.into(),
            505,
        ),
        (
            "request line without version",
            request_bytes("GET /demo", &draft76_headers(KEY1, KEY2), KEY3, "\r\n"),
            HandshakeError::MalformedRequestLine.into(),
            400,
        ),
        (
            "header line without a colon",
            request_with(|h| h.insert(1, ("X-Broken no colon here", ""))),
            HandshakeError::MalformedHeader.into(),
            400,
        ),
        (
            "folded header line",
            request_with(|h| h.insert(1, (" folded", "value"))),
            HandshakeError::ObsoleteLineFolding.into(),
            400,
        ),
        (
            "oversized head",
            request_with(|h| h.insert(0, ("X-Big", big))),
            LimitError::HandshakeTooLarge { limit: 16 * 1024 }.into(),
            431,
        ),
        (
            "65 headers",
            request_with(|h| h.extend((0..59).map(|_| ("X-Filler", "1")))),
            LimitError::TooManyHeaders { limit: 64 }.into(),
            431,
        ),
    ];
    for (case, input, error, status) in &cases {
        assert_refused(&config, input, error, *status, case);
    }

    // A server that does not speak draft-76 refuses it, also with a status.
    let config = Config { accept: ProtocolSet { draft76: false, rfc6455: true }, ..Config::default() };
    let input = request_with(|_| {});
    assert_refused(
        &config,
        &input,
        &HandshakeError::ProtocolNotAccepted.into(),
        400,
        "draft-76 not accepted",
    );
}

#[test]
fn header_limits_are_exact() {
    // 64 header lines pass; the 65th is refused (above).
    let input = request_with(|h| h.extend((0..58).map(|_| ("X-Filler", "1"))));
    let mut server = Connection::server(NOW, Config::default());
    assert_eq!(replay(&mut server, &input, &Chunking::Whole, true).last(), Some(&Event::Open));
    assert_eq!(server.request().unwrap().headers.len(), 64);

    // A head of exactly max_handshake_bytes passes; one byte more does not.
    let base = request_with(|h| h.push(("X-Pad", "")));
    let head_len = base.len() - KEY3.len();
    let limits = Limits { max_handshake_bytes: 512, ..Limits::default() };
    let config = Config { limits, ..Config::default() };
    for (pad, ok) in [(512 - head_len, true), (512 - head_len + 1, false)] {
        let padding: &'static str = Box::leak("p".repeat(pad).into_boxed_str());
        let input = request_with(|h| h.push(("X-Pad", padding)));
        assert_eq!(input.len() - KEY3.len(), if ok { 512 } else { 513 });
        if ok {
            let mut server = Connection::server(NOW, config.clone());
            let events = replay(&mut server, &input, &Chunking::OneByte, true);
            assert_eq!(events.last(), Some(&Event::Open), "512-byte head");
        } else {
            let error = LimitError::HandshakeTooLarge { limit: 512 }.into();
            assert_refused(&config, &input, &error, 431, "513-byte head");
        }
    }
}

#[test]
fn head_of_exactly_the_limit_passes_with_lf_and_bare_cr_endings() {
    // Racket's server reads lines ending in CR, LF or CRLF; so does ours
    // (each head in one style). A 512-byte head must pass with a 512-byte
    // limit whatever its line endings, in one read (key3 right behind it)
    // or byte by byte. A head in bare CRs ends on its last CR, without a
    // look at the next byte, which is key3's.
    let limits = Limits { max_handshake_bytes: 512, ..Limits::default() };
    let config = Config { limits, ..Config::default() };
    for eol in ["\n", "\r"] {
        let mut headers = draft76_headers(KEY1, KEY2);
        headers.push(("X-Pad", ""));
        let unpadded = request_bytes("GET /demo HTTP/1.1", &headers, KEY3, eol).len() - KEY3.len();
        let padding = "p".repeat(512 - unpadded);
        headers.pop();
        headers.push(("X-Pad", &padding));
        let input = request_bytes("GET /demo HTTP/1.1", &headers, KEY3, eol);
        assert_eq!(input.len() - KEY3.len(), 512);
        for chunking in [Chunking::Whole, Chunking::OneByte] {
            let mut server = Connection::server(NOW, config.clone());
            let events = replay(&mut server, &input, &chunking, true);
            assert_eq!(events.last(), Some(&Event::Open), "512-byte head, {eol:?} {chunking:?}: {events:?}");
        }
    }
}

#[test]
fn valid_edge_case_requests_are_answered_correctly() {
    let cases: Vec<(&str, &str, &str)> = vec![
        // Racket's client: spaces at the very end of the value count.
        ("trailing spaces", "1x 8 ", "6 0  "),
        // The largest number a key may carry, with one space.
        ("number 2^32-1", "42949 67295", "3 3"),
        // Leading zeros are digits like any other.
        ("leading zeros", "0000000000000000000012 3", "0 0"),
        // The refused vector's digits, but with 5 spaces: 2785899415 / 5.
        ("five spaces", "2 L785 8o% s9Sy9@V. 4<1P5 ", "1 1"),
    ];
    for (case, key1, key2) in cases {
        let expected = answer(key1.as_bytes(), key2.as_bytes(), KEY3).expect(case);
        let input = request_bytes("GET /demo HTTP/1.1", &draft76_headers(key1, key2), KEY3, "\r\n");
        for chunking in [Chunking::Whole, Chunking::OneByte] {
            let mut server = Connection::server(NOW, Config::default());
            let events = replay(&mut server, &input, &chunking, true);
            assert_eq!(events.last(), Some(&Event::Open), "{case}: {events:?}");
            let wire = transmit(&mut server);
            assert_eq!(Head::parse(&wire).status(), 101);
            assert_eq!(wire[wire.len() - 16..], expected, "{case}");
        }
    }
    assert_eq!(key_part(b"42949 67295"), Some(u32::MAX));
    assert_eq!(key_part(b"2 L785 8o% s9Sy9@V. 4<1P5 "), Some(2785899415 / 5));
}

// ---------------------------------------------------------------------------
// docs/PROTOCOLS.md §1.3 vectors
// ---------------------------------------------------------------------------

#[test]
fn md5_matches_rfc_1321() {
    let suite: [(&str, &str); 7] = [
        ("", "d41d8cd98f00b204e9800998ecf8427e"),
        ("a", "0cc175b9c0f1b6a831c399e269772661"),
        ("abc", "900150983cd24fb0d6963f7d28e17f72"),
        ("message digest", "f96b697d7cb7938d525a2f31aaf161d0"),
        ("abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b"),
        (
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
            "d174ab98d277d9f5a5611c2c9f419d9f",
        ),
        (
            "12345678901234567890123456789012345678901234567890123456789012345678901234567890",
            "57edf4a22be3c955ac49da2e2107b67a",
        ),
    ];
    for (input, digest) in suite {
        assert_eq!(md5(input.as_bytes()).to_vec(), hex(digest), "MD5({input:?})");
    }
}

#[test]
fn vectors_hold_for_the_test_answer_and_the_library() {
    for (key1, key2, key3, expected) in vectors() {
        assert_eq!(answer(key1.as_bytes(), key2.as_bytes(), &key3).unwrap().to_vec(), expected);
        let key3: [u8; 8] = key3.try_into().unwrap();
        assert_eq!(
            draft76::answer_for_keys(key1.as_bytes(), key2.as_bytes(), &key3).unwrap().to_vec(),
            expected
        );
    }
    // The second vector's Key2 has a backtick before its last space and no
    // space at either end.
    let key2 = vectors()[1].1;
    assert!(key2.contains("` 0") && !key2.starts_with(' ') && !key2.ends_with(' '));
    assert_eq!(key_part(b"2 L785 8o% s9Sy9@V. 4<1P5"), None);
    assert_eq!(
        draft76::key_part(b"2 L785 8o% s9Sy9@V. 4<1P5"),
        Err(KeyProblem::NotMultiple),
        "2785899415 is not a multiple of 4"
    );
}

#[test]
fn vectors_hold_for_a_server_connection() {
    for (key1, key2, key3, expected) in vectors() {
        let input = request_bytes("GET /demo HTTP/1.1", &draft76_headers(key1, key2), &key3, "\r\n");
        let mut chunkings = vec![Chunking::Whole, Chunking::OneByte];
        chunkings.extend((0..=input.len()).map(Chunking::SplitAt));
        for framing in FRAMINGS {
            for chunking in &chunkings {
                let mut server = Connection::server(NOW, server_config(framing));
                let events = replay(&mut server, &input, chunking, true);
                assert_eq!(
                    events,
                    [Event::Request(RequestKind::WebSocket(Protocol::Draft76(framing))), Event::Open]
                );
                let wire = transmit(&mut server);
                assert_eq!(wire[wire.len() - 16..], expected, "{key1:?} {chunking:?}");
                let head = Head::parse(&wire);
                assert_eq!(head.rest, expected, "the answer is all that follows the head");
                assert_eq!(head.start, "HTTP/1.1 101 WebSocket Protocol Handshake");
                assert_eq!(head.get_str("Sec-WebSocket-Location"), Some("ws://example.com/demo"));
                assert_eq!(head.get_str("Sec-WebSocket-Origin"), Some("http://example.com"));
            }
        }
    }
}

#[test]
fn clients_open_on_the_right_answer_and_fail_on_any_other() {
    for seed in 0..200u64 {
        let framing = FRAMINGS[seed as usize % 2];
        let mut client = new_client(framing, seed);
        let request = transmit(&mut client);
        // The keys follow the draft's generation rules.
        let head = Head::parse(&request);
        for name in ["Sec-WebSocket-Key1", "Sec-WebSocket-Key2"] {
            let key = head.get(name).unwrap();
            let spaces = key.iter().filter(|&&b| b == b' ').count();
            let noise = key.iter().filter(|b| !b.is_ascii_digit() && **b != b' ').count();
            assert!((1..=12).contains(&spaces), "{seed}: {key:?}");
            assert!((1..=12).contains(&noise), "{seed}: {key:?}");
            assert!(key[0] != b' ' && key[key.len() - 1] != b' ', "{seed}: {key:?}");
            assert!(key.iter().all(|b| (0x20..0x7f).contains(b)), "{seed}: {key:?}");
            assert!(key_part(key).is_some(), "{seed}: {key:?} must be answerable");
        }
        let good = racket_response(&request, &[], "\r\n");
        let mut bad = good.clone();
        let at = bad.len() - 16 + (seed as usize % 16);
        bad[at] ^= 1 << (seed % 8);

        let mut twin = new_client(framing, seed);
        assert_eq!(transmit(&mut twin), request, "same seed, same request");
        client.handle_input(NOW, &good);
        assert_eq!(drain(&mut client), [Event::Open], "seed {seed}");
        assert_eq!(client.state(), State::Open);
        twin.handle_input(NOW, &bad);
        assert_eq!(drain(&mut twin), [Event::Error(HandshakeError::AnswerMismatch.into())], "seed {seed}");
        assert_eq!(twin.state(), State::Closed);
        assert_eq!(twin.pending_transmit(), 0);
    }
}

#[test]
fn refused_key_is_answered_with_400_not_dropped() {
    let input = request_with(replace("Sec-WebSocket-Key1", "2 L785 8o% s9Sy9@V. 4<1P5"));
    let mut server = Connection::server(NOW, Config::default());
    server.handle_input(NOW, &input);
    assert_eq!(drain(&mut server), [Event::Error(key_error(KeyName::Key1, KeyProblem::NotMultiple))]);
    let wire = transmit(&mut server);
    assert!(wire.starts_with(b"HTTP/1.1 400 Bad Request\r\n"), "{:?}", String::from_utf8_lossy(&wire));
    assert!(!Head::parse(&wire).rest.is_empty(), "the refusal says why");
}

// ---------------------------------------------------------------------------
// Bad responses to a client
// ---------------------------------------------------------------------------

/// A client's request and a response built from it by `make`, fed to a
/// fresh twin client, whole and byte by byte: the exact error, no bytes
/// sent, closed.
#[track_caller]
fn assert_client_fails(
    config: &Config,
    make: &dyn Fn(&[u8]) -> Vec<u8>,
    error: &Error,
    case: &str,
) -> Connection {
    let mut last = None;
    for chunking in [Chunking::Whole, Chunking::OneByte, Chunking::Sizes(vec![5, 11])] {
        let mut client =
            Connection::client(NOW, config.clone(), client_request(), entropy(77)).expect("client");
        let request = transmit(&mut client);
        let events = replay(&mut client, &make(&request), &chunking, false);
        assert_eq!(events, [Event::Error(error.clone())], "{case} {chunking:?}");
        assert_eq!(client.state(), State::Closed, "{case}");
        assert_eq!(client.pending_transmit(), 0, "{case}: a client sends nothing on failure");
        client.handle_input(NOW, b"more");
        client.handle_eof();
        assert_eq!(client.poll_event(), None, "{case}");
        last = Some(client);
    }
    last.unwrap()
}

/// Builds a response from the client's request bytes.
type MakeResponse = Box<dyn Fn(&[u8]) -> Vec<u8>>;

#[test]
fn bad_responses_fail_the_client() {
    let config = client_config(Framing::Old);
    let with = |extra: &'static [(&'static str, &'static str)]| {
        move |request: &[u8]| racket_response(request, extra, "\r\n")
    };
    let raw = |head: &'static str| move |_: &[u8]| head.as_bytes().to_vec();
    let cases: Vec<(&str, MakeResponse, Error)> = vec![
        (
            "Sec-WebSocket-Origin differs",
            Box::new(with(&[("Sec-WebSocket-Origin", "http://evil.example")])),
            HandshakeError::OriginMismatch.into(),
        ),
        (
            "Sec-WebSocket-Location differs",
            Box::new(with(&[("Sec-WebSocket-Location", "wss://example.com/demo")])),
            HandshakeError::LocationMismatch.into(),
        ),
        (
            "two Sec-WebSocket-Location",
            Box::new(with(&[
                ("Sec-WebSocket-Location", "ws://example.com/demo"),
                ("Sec-WebSocket-Location", "ws://example.com/demo"),
            ])),
            HandshakeError::DuplicateHeader("Sec-WebSocket-Location").into(),
        ),
        (
            "subprotocol not offered",
            Box::new(with(&[("Sec-WebSocket-Protocol", "chat")])),
            HandshakeError::SubprotocolMismatch.into(),
        ),
        (
            "Upgrade wrong",
            Box::new(|request: &[u8]| {
                let mut out =
                    b"HTTP/1.1 101 WebSocket Protocol Handshake\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n"
                        .to_vec();
                out.extend_from_slice(&answer_to_request(request));
                out
            }),
            HandshakeError::BadUpgrade.into(),
        ),
        (
            "Upgrade missing",
            Box::new(raw("HTTP/1.1 101 WebSocket Protocol Handshake\r\nConnection: Upgrade\r\n\r\n")),
            HandshakeError::MissingHeader("Upgrade").into(),
        ),
        (
            "Connection wrong",
            Box::new(raw("HTTP/1.1 101 WebSocket Protocol Handshake\r\nUpgrade: WebSocket\r\nConnection: close\r\n\r\n")),
            HandshakeError::BadConnection.into(),
        ),
        (
            "Connection missing",
            Box::new(raw("HTTP/1.1 101 WebSocket Protocol Handshake\r\nUpgrade: WebSocket\r\n\r\n")),
            HandshakeError::MissingHeader("Connection").into(),
        ),
        (
            "status line malformed",
            Box::new(raw("HTTP/1.1 1O1 Typo\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\n\r\n")),
            HandshakeError::MalformedStatusLine.into(),
        ),
        (
            "not HTTP/1.x",
            Box::new(raw("HTTP/2 101 Nope\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\n\r\n")),
            HandshakeError::MalformedStatusLine.into(),
        ),
        (
            "header without colon",
            Box::new(raw("HTTP/1.1 101 WebSocket Protocol Handshake\r\nUpgrade WebSocket\r\n\r\n")),
            HandshakeError::MalformedHeader.into(),
        ),
        (
            "oversized head",
            Box::new(|_: &[u8]| {
                let mut out = b"HTTP/1.1 101 WebSocket Protocol Handshake\r\nX-Big: ".to_vec();
                out.extend(std::iter::repeat_n(b'a', 20_000));
                out
            }),
            LimitError::HandshakeTooLarge { limit: 16 * 1024 }.into(),
        ),
        (
            "too many headers",
            Box::new(|_: &[u8]| {
                let mut out = b"HTTP/1.1 101 WebSocket Protocol Handshake\r\n".to_vec();
                for _ in 0..65 {
                    out.extend_from_slice(b"X-Filler: 1\r\n");
                }
                out.extend_from_slice(b"\r\n");
                out
            }),
            LimitError::TooManyHeaders { limit: 64 }.into(),
        ),
    ];
    for (case, make, error) in &cases {
        assert_client_fails(&config, make.as_ref(), error, case);
    }
}

#[test]
fn wrong_answer_bytes_fail_the_client() {
    let config = client_config(Framing::New);
    for (case, answer) in [("zeros", [0u8; 16]), ("the draft's example answer", *b"8jKS'y:G*Co,Wxa-")] {
        let make = move |_: &[u8]| {
            let mut out =
                b"HTTP/1.1 101 WebSocket Protocol Handshake\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\n\r\n"
                    .to_vec();
            out.extend_from_slice(&answer);
            out
        };
        assert_client_fails(&config, &make, &HandshakeError::AnswerMismatch.into(), case);
    }
}

#[test]
fn non_101_status_is_rejected_with_the_response_available() {
    for status in [200u16, 302, 400, 403, 404, 426, 500, 503] {
        let make = move |_: &[u8]| {
            format!("HTTP/1.1 {status} Because\r\nX-Reason: policy\r\nContent-Length: 3\r\n\r\nno!")
                .into_bytes()
        };
        let client =
            assert_client_fails(&Config::default(), &make, &Error::Rejected { status }, "non-101 status");
        let response = client.response().expect("the refusal is available");
        assert_eq!(response.status, status);
        assert_eq!(response.line, format!("HTTP/1.1 {status} Because"));
        assert_eq!(response.reason, "Because");
        assert_eq!(response.headers.get_str("X-Reason"), Some("policy"));
        assert_eq!(response.headers.get_str("content-length"), Some("3"));
    }
}

// ---------------------------------------------------------------------------
// Frames
// ---------------------------------------------------------------------------

/// An open connection in `role` with `config` (its framing on both ends).
fn open(role: &str, framing: Framing, config: Config) -> Connection {
    match role {
        "server" => open_server(Config { framing, ..config }),
        _ => open_client(Config { protocol: Protocol::Draft76(framing), ..config }, 8),
    }
}

const ROLES: [&str; 2] = ["server", "client"];

#[test]
fn invalid_utf8_fails_by_default_and_is_replaced_on_request() {
    let payloads: [&[u8]; 6] = [
        &[0xc3, 0x28],             // a lead byte without its continuation
        &[b'a', 0xe2, 0x82],       // truncated at the end
        &[0xed, 0xa0, 0x80],       // a surrogate
        &[0xc0, 0x80],             // overlong NUL
        &[0x80, b'x'],             // a lone continuation byte
        &[0xf4, 0x90, 0x80, 0x80], // above U+10FFFF
    ];
    for framing in FRAMINGS {
        for role in ROLES {
            for payload in payloads {
                let mut wire = text_frame(framing, b"fine");
                wire.extend(text_frame(framing, payload));
                wire.extend(text_frame(framing, b"never seen"));

                let mut conn = open(role, framing, Config::default());
                conn.handle_input(NOW, &wire);
                assert_eq!(
                    drain(&mut conn),
                    [Event::Text("fine".into()), Event::Error(Error::Protocol(ProtocolError::InvalidUtf8))],
                    "{role} {framing:?} {payload:?}"
                );
                assert_eq!(conn.state(), State::Closed);

                let config = Config { invalid_utf8: InvalidUtf8::Replace, ..Config::default() };
                let mut conn = open(role, framing, config);
                for b in &wire {
                    conn.handle_input(NOW, std::slice::from_ref(b));
                }
                let replaced = String::from_utf8_lossy(payload).into_owned();
                assert!(replaced.contains('\u{fffd}'));
                assert_eq!(
                    drain(&mut conn),
                    [Event::Text("fine".into()), Event::Text(replaced), Event::Text("never seen".into())],
                    "{role} {framing:?} {payload:?} replaced"
                );
            }
        }
    }
}

#[test]
fn replaced_text_is_bounded_by_max_message_size() {
    // `Limits::max_message_size` is "most bytes one message may hold once
    // reassembled" and "costs up to this much memory per connection". With
    // `InvalidUtf8::Replace`, each invalid byte becomes U+FFFD, three bytes:
    // 1024 bytes on the wire, all invalid, make 3072 bytes of text. The
    // delivered text must stay within the limit (or the message fail with
    // MessageTooLarge).
    let limit = 1024;
    let config = Config {
        invalid_utf8: InvalidUtf8::Replace,
        limits: Limits { max_message_size: limit, max_frame_size: limit, ..Limits::default() },
        ..Config::default()
    };
    for framing in FRAMINGS {
        for role in ROLES {
            let mut conn = open(role, framing, config.clone());
            conn.handle_input(NOW, &text_frame(framing, &[0x80; 1024]));
            for event in drain(&mut conn) {
                match event {
                    Event::Text(text) => {
                        assert!(text.len() <= limit, "{role} {framing:?}: {} bytes of text", text.len())
                    }
                    Event::Error(e) => assert_eq!(e, LimitError::MessageTooLarge { limit }.into()),
                    other => panic!("{other:?}"),
                }
            }
        }
    }
}

fn small_limits() -> Config {
    Config {
        limits: Limits { max_message_size: 1024, max_frame_size: 1024, ..Limits::default() },
        ..Config::default()
    }
}

#[test]
fn new_framing_declared_lengths_over_the_limit_fail_at_once() {
    for role in ROLES {
        // Exactly at the limit: fine.
        let mut conn = open(role, Framing::New, small_limits());
        conn.handle_input(NOW, &text_frame(Framing::New, &[b'a'; 1024]));
        assert_eq!(drain(&mut conn), [Event::Text("a".repeat(1024))], "{role}");

        for declared in [1025u64, 1 << 32, u64::MAX] {
            // Only the header arrives: the declaration alone fails it.
            let mut header = vec![0xff];
            header.extend_from_slice(&declared.to_be_bytes());
            let mut conn = open(role, Framing::New, small_limits());
            conn.handle_input(NOW, &header);
            assert_eq!(
                drain(&mut conn),
                [Event::Error(LimitError::MessageTooLarge { limit: 1024 }.into())],
                "{role} {declared}"
            );
            assert_eq!(conn.state(), State::Closed);

            // Any other type byte is text too (as Racket reads it).
            header[0] = 0x42;
            let mut conn = open(role, Framing::New, small_limits());
            conn.handle_input(NOW, &header);
            assert_eq!(drain(&mut conn), [Event::Error(LimitError::MessageTooLarge { limit: 1024 }.into())]);

            // A close frame with a payload is bounded by the frame limit.
            header[0] = 0x00;
            let mut conn = open(role, Framing::New, small_limits());
            conn.handle_input(NOW, &header);
            assert_eq!(drain(&mut conn), [Event::Error(LimitError::FrameTooLarge { limit: 1024 }.into())]);
        }
    }
}

#[test]
fn old_framing_runs_over_the_limit_fail() {
    for role in ROLES {
        // Exactly at the limit: fine, in any reads.
        let mut conn = open(role, Framing::Old, small_limits());
        let wire = text_frame(Framing::Old, &[b'b'; 1024]);
        for chunk in wire.chunks(100) {
            conn.handle_input(NOW, chunk);
        }
        assert_eq!(drain(&mut conn), [Event::Text("b".repeat(1024))], "{role}");

        let over = |first: &[u8], fill: u8| {
            let mut v = first.to_vec();
            v.extend(std::iter::repeat_n(fill, 1025));
            v
        };
        let cases: Vec<(&str, Vec<u8>, LimitError)> = vec![
            ("unterminated text", over(&[0x00], b'c'), LimitError::MessageTooLarge { limit: 1024 }),
            ("unterminated discarded frame", over(&[0x01], b'c'), LimitError::FrameTooLarge { limit: 1024 }),
            // 0x88 0x01 = 8 * 128 + 1 = 1025 declared bytes.
            ("length-prefixed frame", vec![0x80, 0x88, 0x01], LimitError::FrameTooLarge { limit: 1024 }),
            (
                "endless length digits",
                std::iter::once(0x80).chain(std::iter::repeat_n(0xff, 100)).collect(),
                LimitError::FrameTooLarge { limit: 1024 },
            ),
        ];
        for (case, input, error) in cases {
            for chunking in [Chunking::Whole, Chunking::OneByte] {
                let mut conn = open(role, Framing::Old, small_limits());
                let events = replay(&mut conn, &input, &chunking, false);
                assert_eq!(events, [Event::Error(error.into())], "{role} {case} {chunking:?}");
                assert_eq!(conn.state(), State::Closed);
            }
        }
        // A length-prefixed frame within the limit is skipped.
        let mut conn = open(role, Framing::Old, small_limits());
        let mut input = vec![0x80, 0x88, 0x00];
        input.extend([0xaa; 1024]);
        input.extend(text_frame(Framing::Old, b"after"));
        conn.handle_input(NOW, &input);
        assert_eq!(drain(&mut conn), [Event::Text("after".into())], "{role}");
    }
}

#[test]
fn old_framing_length_digit_runs_are_bounded() {
    // 0xFF then 0x80 digits ("zero, more follow") never raise the declared
    // length, so the frame limit alone never ends them: a connection would
    // stay in one header for ever. Runs are bounded by the digits the frame
    // limit needs (1024: 2 digits; the default 16 MiB: 4); exactly that many,
    // zero padded, still read; one more fails as an over-long frame.
    use hybi_core::framing::old::max_length_digits;
    let default_limit = Limits::default().max_frame_size;
    for (config, limit) in [(small_limits(), 1024), (Config::default(), default_limit)] {
        let allowed = max_length_digits(limit);
        assert_eq!(allowed, if limit == 1024 { 2 } else { 4 });
        let run = |frame_type: u8, zeros: u32, last: &[u8]| {
            let mut wire = vec![frame_type];
            wire.extend(std::iter::repeat_n(0x80, zeros as usize));
            wire.extend_from_slice(last);
            wire
        };
        let too_large = Event::Error(LimitError::FrameTooLarge { limit }.into());
        for role in ROLES {
            for chunking in [Chunking::Whole, Chunking::OneByte] {
                let context = format!("{role} limit {limit} {chunking:?}");
                // Exactly the allowed run: a close, a discarded frame.
                let mut conn = open(role, Framing::Old, config.clone());
                let events = replay(&mut conn, &run(0xff, allowed - 1, &[0x00]), &chunking, false);
                assert_eq!(events, [Event::Close(Close::default())], "{context}");
                let mut conn = open(role, Framing::Old, config.clone());
                let mut wire = run(0x80, allowed - 1, &[0x00]);
                wire.extend(text_frame(Framing::Old, b"after"));
                let events = replay(&mut conn, &wire, &chunking, false);
                assert_eq!(events, [Event::Text("after".into())], "{context}");
                // One digit more, or an endless run: the frame limit's error.
                for wire in [run(0xff, allowed, &[0x00]), run(0x80, allowed, &[0x01]), run(0xff, 10_000, &[])]
                {
                    let mut conn = open(role, Framing::Old, config.clone());
                    let events = replay(&mut conn, &wire, &chunking, false);
                    assert_eq!(
                        events,
                        std::slice::from_ref(&too_large),
                        "{context} {:02x?}",
                        &wire[..wire.len().min(8)]
                    );
                    assert_eq!(conn.state(), State::Closed, "{context}");
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Ends of stream
// ---------------------------------------------------------------------------

#[test]
fn eof_mid_frame_fails_in_both_framings_and_roles() {
    for framing in FRAMINGS {
        for role in ROLES {
            let frame = text_frame(framing, b"cut short");
            for cut in 1..frame.len() {
                let mut conn = open(role, framing, Config::default());
                conn.handle_input(NOW, &frame[..cut]);
                conn.handle_eof();
                assert_eq!(
                    drain(&mut conn),
                    [Event::Error(Error::UnexpectedEof(Stage::Frame))],
                    "{role} {framing:?} cut at {cut}"
                );
            }
        }
    }
}

#[test]
fn eof_mid_handshake_fails() {
    let request = request_with(|_| {});
    let head_len = request.len() - KEY3.len();
    // Server: nothing at all, part of the head, the head without (all of) key3.
    for cut in [0, 1, 10, head_len - 1, head_len, head_len + 7] {
        let mut server = Connection::server(NOW, Config::default());
        server.handle_input(NOW, &request[..cut]);
        server.handle_eof();
        assert_eq!(
            drain(&mut server),
            [Event::Error(Error::UnexpectedEof(Stage::Handshake))],
            "server cut {cut}"
        );
        assert_eq!(server.state(), State::Closed);
        assert_eq!(server.pending_transmit(), 0, "nobody is left to answer");
    }
    // Client: nothing, part of the head, the head without (all of) the answer.
    let mut client = new_client(Framing::Old, 41);
    let response = racket_response(&transmit(&mut client), &[], "\r\n");
    let head_len = response.len() - 16;
    for cut in [0, 5, head_len - 1, head_len, head_len + 15] {
        let mut client = new_client(Framing::Old, 41);
        let _ = transmit(&mut client);
        client.handle_input(NOW, &response[..cut]);
        client.handle_eof();
        assert_eq!(
            drain(&mut client),
            [Event::Error(Error::UnexpectedEof(Stage::Handshake))],
            "client cut {cut}"
        );
        assert_eq!(client.state(), State::Closed);
    }
}

// ---------------------------------------------------------------------------
// Timeouts
// ---------------------------------------------------------------------------

fn ms(millis: u64) -> Instant {
    Instant::from_millis(millis)
}

#[test]
fn handshake_timeout_fires_at_the_deadline_and_not_before() {
    let start = ms(1_000);
    let timeouts = Timeouts { handshake: Some(Duration::from_secs(2)), ..Timeouts::default() };
    let config = Config { timeouts, ..Config::default() };
    let request = request_with(|_| {});

    // A server that got part of a request, and one waiting for the
    // application's decision: the deadline is from the start either way.
    for fed in [&request[..20], &request[..]] {
        let mut server = Connection::server(start, config.clone());
        server.handle_input(ms(2_500), fed);
        let _ = drain(&mut server);
        assert_eq!(server.poll_timeout(), Some(ms(3_000)));
        server.handle_timeout(ms(2_999));
        assert_eq!(server.poll_event(), None);
        assert_eq!(server.state(), State::Handshaking);
        server.handle_timeout(ms(3_000));
        assert_eq!(drain(&mut server), [Event::Error(Error::Timeout(Timer::Handshake))]);
        assert_eq!(server.state(), State::Closed);
        assert_eq!(server.poll_timeout(), None);
        server.handle_timeout(ms(10_000));
        assert_eq!(server.poll_event(), None);
    }

    // A client, default 30 s, checked late.
    let mut client =
        Connection::client(start, client_config(Framing::New), client_request(), entropy(3)).unwrap();
    assert_eq!(client.poll_timeout(), Some(ms(31_000)));
    client.handle_timeout(ms(40_000));
    assert_eq!(drain(&mut client), [Event::Error(Error::Timeout(Timer::Handshake))]);

    // Without a handshake timeout there is no deadline; once open, none either.
    let config =
        Config { timeouts: Timeouts { handshake: None, ..Timeouts::default() }, ..Config::default() };
    let server = Connection::server(start, config);
    assert_eq!(server.poll_timeout(), None);
    let server = open_server(Config::default());
    assert_eq!(server.poll_timeout(), None, "draft-76 has no keepalive");
}

#[test]
fn close_timeout_fires_when_the_peer_does_not_answer() {
    for framing in FRAMINGS {
        for role in ROLES {
            let mut conn = open(role, framing, Config::default());
            conn.close(ms(100_000), None, "").unwrap();
            assert_eq!(transmit(&mut conn), close_frame(framing));
            assert_eq!(conn.poll_timeout(), Some(ms(105_000)), "default 5 s");
            conn.handle_timeout(ms(104_999));
            assert_eq!(conn.poll_event(), None);
            // Messages may still arrive while closing.
            conn.handle_input(ms(104_999), &text_frame(framing, b"still here"));
            assert_eq!(drain(&mut conn), [Event::Text("still here".into())]);
            assert_eq!(conn.poll_timeout(), Some(ms(105_000)), "input does not extend it");
            conn.handle_timeout(ms(105_000));
            assert_eq!(drain(&mut conn), [Event::Error(Error::Timeout(Timer::Close))], "{role} {framing:?}");
            assert_eq!(conn.state(), State::Closed);
            assert_eq!(conn.poll_timeout(), None);
        }
    }
}

#[test]
fn idle_timeout_counts_from_the_last_input() {
    let timeouts = Timeouts { idle: Some(Duration::from_secs(10)), ..Timeouts::default() };
    let mut server = open_server(Config { timeouts, ..Config::default() });
    assert_eq!(server.poll_timeout(), Some(ms(10_000)));
    server.handle_input(ms(4_000), &text_frame(Framing::Old, b"x"));
    assert_eq!(drain(&mut server), [Event::Text("x".into())]);
    assert_eq!(server.poll_timeout(), Some(ms(14_000)));
    server.handle_timeout(ms(13_999));
    assert_eq!(server.poll_event(), None);
    server.handle_timeout(ms(14_000));
    assert_eq!(drain(&mut server), [Event::Error(Error::Timeout(Timer::Idle))]);
}

// ---------------------------------------------------------------------------
// Commands misused
// ---------------------------------------------------------------------------

fn misuse(e: Misuse) -> Result<(), Misuse> {
    Err(e)
}

#[test]
fn commands_that_draft76_cannot_carry_are_refused() {
    for framing in FRAMINGS {
        for role in ROLES {
            let mut conn = open(role, framing, Config::default());
            assert_eq!(conn.send_binary(b"\x00\x01"), misuse(Misuse::BinaryUnsupported));
            assert_eq!(conn.send_ping(b"p"), misuse(Misuse::PingUnsupported));
            assert_eq!(conn.send_pong(b"p"), misuse(Misuse::PingUnsupported));
            assert_eq!(conn.send_fragment(false, b"f", true), misuse(Misuse::FragmentsUnsupported));
            assert_eq!(conn.close(NOW, Some(1001), ""), misuse(Misuse::CloseCodeUnsupported));
            assert_eq!(conn.close(NOW, Some(1000), "reason"), misuse(Misuse::CloseCodeUnsupported));
            assert_eq!(conn.close(NOW, None, "reason"), misuse(Misuse::CloseCodeUnsupported));
            // Draft-76 frames are not a header and the payload as it is.
            assert_eq!(conn.send_verbatim_header(false, 10), Ok(false));
            assert_eq!(conn.send_masked_header(false, 10), Ok(false));
            // Refused commands change nothing.
            assert_eq!((conn.state(), conn.pending_transmit(), conn.poll_event()), (State::Open, 0, None));
            conn.send_text("still open").unwrap();
            assert_eq!(transmit(&mut conn), text_frame(framing, b"still open"));
            conn.close(NOW, None, "").unwrap();
            assert_eq!(conn.send_text("after close"), misuse(Misuse::NotOpen));
            assert_eq!(conn.close(NOW, None, ""), misuse(Misuse::NotOpen));
            assert_eq!(transmit(&mut conn), close_frame(framing), "one close frame");
        }
    }
}

#[test]
fn sending_before_open_is_refused() {
    // A client waiting for its answer.
    let mut client = new_client(Framing::Old, 51);
    assert_eq!(client.send_text("early"), misuse(Misuse::NotOpen));
    assert_eq!(client.close(NOW, None, ""), misuse(Misuse::NotOpen));
    assert_eq!(client.accept(Accept::default()), misuse(Misuse::NoPendingRequest));
    let request = transmit(&mut client);
    assert_eq!(client.send_text("early"), misuse(Misuse::NotOpen));
    // A server before any request, and while the application decides.
    let mut server = Connection::server(NOW, Config::default());
    assert_eq!(server.send_text("early"), misuse(Misuse::NotOpen));
    assert_eq!(server.accept(Accept::default()), misuse(Misuse::NoPendingRequest));
    assert_eq!(server.respond(HttpResponse::text(404, "no")), misuse(Misuse::NoPendingRequest));
    server.handle_input(NOW, &request);
    // The default server tells the framing from the client's first bytes.
    assert_eq!(
        drain(&mut server),
        [Event::Request(RequestKind::WebSocket(Protocol::Draft76(Framing::Auto)))]
    );
    assert_eq!(server.send_text("early"), misuse(Misuse::NotOpen));
    assert_eq!(server.pending_transmit(), 0);
    // Refused answers leave the request pending.
    assert_eq!(server.respond(HttpResponse::text(101, "")), misuse(Misuse::InvalidStatus));
    assert_eq!(server.respond(HttpResponse::text(600, "")), misuse(Misuse::InvalidStatus));
    let bad_header = Accept { headers: vec![Header::new("X-Bad", "a\r\nInjected: 1")], ..Accept::default() };
    assert_eq!(server.accept(bad_header), misuse(Misuse::InvalidHeader));
    let not_offered = Accept { subprotocol: Some("chat".into()), ..Accept::default() };
    assert_eq!(server.accept(not_offered), misuse(Misuse::SubprotocolNotOffered));
    assert_eq!(server.state(), State::Handshaking);
    server.accept(Accept::default()).unwrap();
    assert_eq!(drain(&mut server), [Event::Open]);
    assert_eq!(server.accept(Accept::default()), misuse(Misuse::NoPendingRequest));
}

#[test]
fn bad_client_requests_are_refused_up_front() {
    let config = client_config(Framing::Old);
    let two = ClientRequest { subprotocols: vec!["a".into(), "b".into()], ..client_request() };
    assert_eq!(
        Connection::client(NOW, config.clone(), two, entropy(1)).unwrap_err(),
        Error::Misuse(Misuse::SubprotocolList)
    );
    for header in [Header::new("X-Bad", "a\nb"), Header::new("Bad Name", "v"), Header::new("", "v")] {
        let request = ClientRequest { headers: vec![header], ..client_request() };
        assert_eq!(
            Connection::client(NOW, config.clone(), request, entropy(1)).unwrap_err(),
            Error::Misuse(Misuse::InvalidHeader)
        );
    }
}
