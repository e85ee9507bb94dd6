//! HTTP heads at the connection level, whatever the protocol: a request that
//! cannot become valid is answered with 400 on the byte that makes it so,
//! never by the handshake deadline; a bare CR never starts a header line,
//! and a head whose lines all end in bare CRs is answered on its last byte;
//! a plain request over HTTP/1.0 is served, an upgrade over it is refused.

mod common;

use common::*;
use hybi_core::handshake::rfc6455::accept_key;
use hybi_core::{
    ClientRequest, Config, Connection, Error, Event, Framing, HandshakeError, HttpResponse, Protocol,
    RequestKind, State,
};

/// An RFC 6455 request with every line ending in `eol`.
fn rfc6455_request(version: &str, eol: &str) -> Vec<u8> {
    format!(
        "GET /chat {version}{eol}Host: example.com{eol}Upgrade: websocket{eol}Connection: Upgrade{eol}\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=={eol}Sec-WebSocket-Version: 13{eol}{eol}"
    )
    .into_bytes()
}

/// Feeds `input` to a fresh server in the reads `chunking` makes and checks
/// that it is refused with `error` and its status: the refusal is queued by
/// the read that brought the input's last byte (each case is cut right
/// after the byte that makes the request impossible), not by a deadline,
/// and no timer is left to wait for.
#[track_caller]
fn assert_refused_at_once(input: &[u8], error: &HandshakeError, status: u16, case: &str) {
    for chunking in [Chunking::Whole, Chunking::OneByte, Chunking::SplitAt(input.len() / 2)] {
        let context = format!("{case} {chunking:?}");
        let mut server = Connection::server(NOW, Config::default());
        let chunks = chunking.chunks(input);
        let (last, before) = chunks.split_last().unwrap();
        for chunk in before {
            server.handle_input(NOW, chunk);
            assert_eq!(drain(&mut server), [], "{context}: refused before its last byte");
            assert_eq!(server.pending_transmit(), 0, "{context}");
        }
        server.handle_input(NOW, last);
        let error = Error::Handshake(error.clone());
        assert_eq!(drain(&mut server), [Event::Error(error.clone())], "{context}");
        assert_eq!(error.http_status(), Some(status), "{context}");
        assert_eq!(server.state(), State::Closed, "{context}");
        assert_eq!(server.poll_timeout(), None, "{context}: nothing left to wait for");
        let wire = transmit(&mut server);
        let head = Head::parse(&wire);
        assert_eq!(head.status(), status, "{context}");
        assert_eq!(head.get_str("Connection"), Some("close"), "{context}");
        let length: usize = head.get_str("Content-Length").unwrap().parse().unwrap();
        assert_eq!(head.rest.len(), length, "{context}");
        assert_eq!(server.response().map(|r| r.status), Some(status), "{context}");
    }
}

#[test]
fn requests_that_cannot_become_valid_are_refused_at_once() {
    let draft76_and_rfc6455 = {
        let mut request = rfc6455_request("HTTP/1.1", "\r\n");
        let end = request.len() - 2;
        request.splice(
            end..end,
            b"Sec-WebSocket-Key1: 4 @1  46546xW%0l 1 5\r\nSec-WebSocket-Key2: 12998 5 Y3 1  .P00\r\n"
                .iter()
                .copied(),
        );
        request
    };
    let cases: Vec<(&str, Vec<u8>, HandshakeError)> = vec![
        // A TLS ClientHello's record header on the plain port.
        ("TLS ClientHello", vec![0x16], HandshakeError::MalformedRequestLine),
        ("binary", vec![0x00], HandshakeError::MalformedRequestLine),
        ("binary after a method", b"GET\xff".to_vec(), HandshakeError::MalformedRequestLine),
        ("empty line then binary", b"\r\n\x80".to_vec(), HandshakeError::MalformedRequestLine),
        ("tab after the method", b"GET\t".to_vec(), HandshakeError::MalformedRequestLine),
        ("method not a token", b"GE(".to_vec(), HandshakeError::MalformedRequestLine),
        ("control byte in the target", b"GET /a\x07".to_vec(), HandshakeError::MalformedRequestLine),
        ("DEL in the target", b"GET /a\x7f".to_vec(), HandshakeError::MalformedRequestLine),
        ("no version", b"GET /chat\r\n".to_vec(), HandshakeError::MalformedRequestLine),
        ("no version, LF", b"GET /chat\n".to_vec(), HandshakeError::MalformedRequestLine),
        ("garbled version", b"GET /chat HTTQ".to_vec(), HandshakeError::MalformedRequestLine),
        ("HTTP/2", b"GET /chat HTTP/2".to_vec(), HandshakeError::MalformedRequestLine),
        ("junk after the version", b"GET /chat HTTP/1.1x".to_vec(), HandshakeError::MalformedRequestLine),
        ("cut version", b"GET /chat HTTP/1\r\n".to_vec(), HandshakeError::MalformedRequestLine),
        ("target not UTF-8", b"GET /\xc3( HTTP/1.1\r\n".to_vec(), HandshakeError::MalformedRequestLine),
        ("binary header line", b"GET / HTTP/1.1\r\n\x16".to_vec(), HandshakeError::MalformedHeader),
        ("header without colon", b"GET / HTTP/1.1\r\nHost\r\n".to_vec(), HandshakeError::MalformedHeader),
        ("NUL in a value", b"GET / HTTP/1.1\r\nHost: a\x00".to_vec(), HandshakeError::MalformedHeader),
        ("folded header", b"GET / HTTP/1.1\r\nHost: a\r\n ".to_vec(), HandshakeError::ObsoleteLineFolding),
        // A bare CR inside a CRLF (or LF) head: never a second header.
        ("bare CR in a value", b"GET / HTTP/1.1\r\nX-A: a\rU".to_vec(), HandshakeError::BareLineEnding),
        ("bare CR in an LF head", b"GET / HTTP/1.1\nX-A: a\rU".to_vec(), HandshakeError::BareLineEnding),
        (
            "bare CR as the empty line of a CRLF head",
            b"GET / HTTP/1.1\r\nHost: h\r\n\rK".to_vec(),
            HandshakeError::BareLineEnding,
        ),
        ("LF in a CR head", b"GET / HTTP/1.1\rHost: h\n".to_vec(), HandshakeError::BareLineEnding),
        // Both protocols' keys: no key3 is coming; answered on the head's end.
        ("draft-76 and RFC 6455 keys", draft76_and_rfc6455, HandshakeError::MixedProtocolKeys),
    ];
    for (case, input, error) in &cases {
        assert_refused_at_once(input, error, 400, case);
    }
}

#[test]
fn valid_requests_are_not_refused_early() {
    // Every prefix of a valid request is still only incomplete: the early
    // checks refuse nothing that could become valid.
    let (key1, key2, key3, _) = vectors().remove(0);
    let mut requests = vec![
        rfc6455_request("HTTP/1.1", "\r\n"),
        rfc6455_request("HTTP/1.1", "\n"),
        rfc6455_request("HTTP/1.1", "\r"),
        b"\r\n\r\nGET /page?q=%20#x HTTP/1.0\r\nX-Empty:\r\nX-Tab:\tv\t\r\nX-Utf8: \xc3\xa9\r\n\r\n".to_vec(),
        b"OPTIONS * HTTP/1.1\nHost: h\n\n".to_vec(),
    ];
    for eol in ["\r\n", "\n", "\r"] {
        requests.push(request_bytes("GET /demo HTTP/1.1", &draft76_headers(key1, key2), &key3, eol));
    }
    for request in requests {
        let mut server = Connection::server(NOW, Config::default());
        for (at, byte) in request.iter().enumerate() {
            server.handle_input(NOW, std::slice::from_ref(byte));
            if let Some(event) = server.poll_event() {
                assert!(matches!(event, Event::Request(_)), "{request:?} at {at}: {event:?}");
                break;
            }
        }
        assert_eq!(server.state(), State::Handshaking, "{request:?}");
    }
}

#[test]
fn a_request_in_bare_crs_is_answered_on_its_last_byte() {
    // RFC 6455: the empty line's CR ends the head; nothing more comes until
    // the server answers, and it answers.
    let request = rfc6455_request("HTTP/1.1", "\r");
    for chunking in [Chunking::Whole, Chunking::OneByte] {
        let mut server = Connection::server(NOW, Config::default());
        let events = replay(&mut server, &request, &chunking, true);
        assert_eq!(events, [Event::Request(RequestKind::WebSocket(Protocol::Rfc6455)), Event::Open]);
        assert_eq!(Head::parse(&transmit(&mut server)).status(), 101);
    }
}

#[test]
fn draft76_key3_after_a_head_in_bare_crs_may_begin_with_lf() {
    // Key3 follows the head at once and may begin with LF (or CR LF): it is
    // key3's, not the end of a CRLF.
    let (key1, key2) = ("4 @1  46546xW%0l 1 5", "12998 5 Y3 1  .P00");
    for key3 in [*b"\n^n:ds[4", *b"\r\n:ds[4U", *b"^n:ds[4U"] {
        let expected = answer(key1.as_bytes(), key2.as_bytes(), &key3).unwrap();
        for framing in [Framing::Old, Framing::New] {
            let request = request_bytes("GET /demo HTTP/1.1", &draft76_headers(key1, key2), &key3, "\r");
            for chunking in [Chunking::Whole, Chunking::OneByte, Chunking::SplitAt(request.len() - 8)] {
                let mut server = Connection::server(NOW, server_config(framing));
                let events = replay(&mut server, &request, &chunking, true);
                let context = format!("{key3:?} {framing:?} {chunking:?}");
                assert_eq!(
                    events,
                    [Event::Request(RequestKind::WebSocket(Protocol::Draft76(framing))), Event::Open],
                    "{context}"
                );
                let wire = transmit(&mut server);
                assert_eq!(wire[wire.len() - 16..], expected, "{context}");
            }
        }
    }
}

#[test]
fn draft76_answer_after_a_head_in_bare_crs_may_begin_with_lf() {
    // The 16-byte answer follows the head at once; one that begins with LF
    // is the answer's, not the end of a CRLF.
    let seed = (0..100_000)
        .find(|&seed| {
            let mut client = new_client(Framing::Old, seed);
            answer_to_request(&transmit(&mut client))[0] == b'\n'
        })
        .expect("some seed's answer begins with LF");
    for chunking in [Chunking::Whole, Chunking::OneByte] {
        let mut client = new_client(Framing::Old, seed);
        let request = transmit(&mut client);
        let wire = racket_response(&request, &[], "\r");
        assert_eq!(wire[wire.len() - 17..wire.len() - 15], *b"\r\n");
        assert_eq!(replay(&mut client, &wire, &chunking, false), [Event::Open], "{chunking:?}");
    }
}

#[test]
fn a_response_in_bare_crs_opens_the_client_on_its_last_byte() {
    // RFC 6455: frames right behind the 101 are the peer's.
    let config = Config { protocol: Protocol::Rfc6455, ..Config::default() };
    let mut client = Connection::client(NOW, config, ClientRequest::new(target()), entropy(5)).unwrap();
    let request = transmit(&mut client);
    let key = Head::parse(&request).get_str("Sec-WebSocket-Key").unwrap().to_string();
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\rUpgrade: websocket\rConnection: Upgrade\r\
         Sec-WebSocket-Accept: {}\r\r",
        accept_key(key.as_bytes())
    );
    client.handle_input(NOW, response.as_bytes());
    assert_eq!(drain(&mut client), [Event::Open]);
    client.handle_input(NOW, b"\x81\x02hi");
    assert_eq!(drain(&mut client), [Event::Text("hi".into())]);
    assert_eq!(client.response().unwrap().headers.len(), 3);
}

#[test]
fn a_bare_cr_inside_a_response_line_fails_the_client() {
    // `Connection: Upgrade` hidden behind a bare CR in a CRLF head: read as
    // a header line of its own, it would make the 101 acceptable.
    for framing in [Framing::Old, Framing::New] {
        for chunking in [Chunking::Whole, Chunking::OneByte] {
            let mut client = new_client(framing, 9);
            let request = transmit(&mut client);
            let wire = racket_response(&request, &[], "\r\n");
            let at = wire.windows(21).position(|w| w == b"\r\nConnection: Upgrade").unwrap() + 2;
            let mut smuggled = wire[..at].to_vec();
            smuggled.extend_from_slice(b"X-A: a\r");
            smuggled.extend_from_slice(&wire[at..]);
            let events = replay(&mut client, &smuggled, &chunking, false);
            assert_eq!(events, [Event::Error(HandshakeError::BareLineEnding.into())], "{chunking:?}");
            assert_eq!(client.state(), State::Closed);
        }
    }
}

#[test]
fn http_1_0_page_requests_are_served_and_upgrades_refused() {
    for request in [&b"GET / HTTP/1.0\r\n\r\n"[..], b"GET /index.html HTTP/1.0\r\nHost: example.com\r\n\r\n"]
    {
        for chunking in [Chunking::Whole, Chunking::OneByte] {
            let mut server = Connection::server(NOW, Config::default());
            let events = replay(&mut server, request, &chunking, false);
            assert_eq!(events, [Event::Request(RequestKind::Http)], "{request:?} {chunking:?}");
            assert_eq!(server.request().unwrap().minor_version, 0);
            server.respond(HttpResponse::text(200, "page\n")).unwrap();
            let wire = transmit(&mut server);
            let head = Head::parse(&wire);
            assert_eq!((head.status(), &head.rest[..]), (200, &b"page\n"[..]));
            assert_eq!(server.state(), State::Closed);
        }
    }
    // An upgrade needs HTTP/1.1, in either protocol.
    let (key1, key2, key3, _) = vectors().remove(0);
    let upgrades = [
        rfc6455_request("HTTP/1.0", "\r\n"),
        request_bytes("GET /demo HTTP/1.0", &draft76_headers(key1, key2), &key3, "\r\n"),
    ];
    for request in upgrades {
        let end = request.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        assert_refused_at_once(
            &request[..end],
            &HandshakeError::UnsupportedHttpVersion,
            505,
            "HTTP/1.0 upgrade",
        );
    }
}

/// The same through the lending input path (`handle_input_with`, which
/// the wasm driver uses): it kept nothing before both paths shared
/// `failed_on_input`.
#[test]
fn a_refused_clients_core_keeps_the_body_start_on_the_lending_path_too() {
    let config = Config { protocol: Protocol::Rfc6455, ..Config::default() };
    let mut client = Connection::client(NOW, config, ClientRequest::new(target()), entropy(7)).unwrap();
    transmit(&mut client);
    let mut events = Vec::new();
    client.handle_input_with(NOW, b"HTTP/1.1 403 Forbidden\r\nContent-Length: 6\r\n\r\nno way", &mut |e| {
        events.push(format!("{e:?}"))
    });
    assert_eq!(events.len(), 1, "{events:?}");
    assert!(events[0].contains("Rejected"), "{events:?}");
    assert_eq!(client.refused_body(), b"no way");
}

#[test]
fn a_refused_clients_core_keeps_what_followed_the_head() {
    // The start of the refusal's body, for the driver to show (issue 18):
    // what came in the read that completed the head, up to the handshake
    // limit; a later read adds nothing.
    let config = Config {
        protocol: Protocol::Rfc6455,
        limits: hybi_core::Limits { max_handshake_bytes: 256, ..hybi_core::Limits::default() },
        ..Config::default()
    };
    let mut client = Connection::client(NOW, config, ClientRequest::new(target()), entropy(5)).unwrap();
    transmit(&mut client);
    let body = "x".repeat(300);
    let response = format!("HTTP/1.1 403 Forbidden\r\nContent-Length: 300\r\n\r\n{body}");
    client.handle_input(NOW, response.as_bytes());
    assert_eq!(drain(&mut client), [Event::Error(Error::Rejected { status: 403 })]);
    assert_eq!(client.refused_body(), &body.as_bytes()[..256]);
    client.handle_input(NOW, b"more");
    assert_eq!(client.refused_body().len(), 256);

    // Nothing follows the head: nothing kept.
    let config = Config { protocol: Protocol::Rfc6455, ..Config::default() };
    let mut client = Connection::client(NOW, config, ClientRequest::new(target()), entropy(6)).unwrap();
    transmit(&mut client);
    client.handle_input(NOW, b"HTTP/1.1 404 Not Found\r\n\r\n");
    assert_eq!(drain(&mut client), [Event::Error(Error::Rejected { status: 404 })]);
    assert_eq!(client.refused_body(), b"");
}
