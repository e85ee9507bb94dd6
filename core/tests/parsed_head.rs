//! `Connection::handle_request_head`: a server given a request head that
//! another HTTP parser read (Node's `'upgrade'` event) behaves as one fed
//! the head's bytes. The same request, fed as bytes to one server and as a
//! parsed head plus what followed it to another, gives the same events,
//! the same answer byte for byte and the same state, for both protocols;
//! a bad head is refused with the status its bytes would get; the limits
//! on heads hold; and a server that has read bytes already refuses a head.

mod common;

use common::*;
use hybi_core::{
    Accept, ClientRequest, Config, Connection, Error, Event, Framing, HandshakeError, Header, Headers,
    LimitError, Limits, Misuse, Protocol, State,
};

/// A client's request as (request line, headers, bytes after the head).
fn split(request: &[u8]) -> (String, Headers, Vec<u8>) {
    let head = Head::parse(request);
    let headers = head.headers.iter().map(|(name, value)| Header::new(name.clone(), value.clone())).collect();
    (head.start, Headers(headers), head.rest)
}

/// The opening request a client of `config` writes.
fn client_request_bytes(config: Config) -> Vec<u8> {
    let mut client = Connection::client(NOW, config, client_request(), entropy(7)).expect("client");
    transmit(&mut client)
}

/// Both servers' events (accepting with `accept`) and output, from the
/// request as bytes and from it as a parsed head.
fn both_ways(config: &Config, request: &[u8], accept: &Accept) -> [(Vec<Event>, Vec<u8>, State); 2] {
    let mut fed = Connection::server(NOW, config.clone());
    fed.handle_input(NOW, request);
    let mut fed_events = Vec::new();
    drain_accepting(&mut fed, Some(accept), &mut fed_events);

    let (line, headers, rest) = split(request);
    let mut parsed = Connection::server(NOW, config.clone());
    parsed.handle_request_head(NOW, &line, headers).expect("a fresh server takes a head");
    parsed.handle_input(NOW, &rest);
    let mut parsed_events = Vec::new();
    drain_accepting(&mut parsed, Some(accept), &mut parsed_events);
    [(fed_events, transmit(&mut fed), fed.state()), (parsed_events, transmit(&mut parsed), parsed.state())]
}

#[test]
fn a_parsed_head_is_answered_as_its_bytes_are() {
    let accept = Accept { subprotocol: None, headers: vec![Header::new("X-Seen", "yes")] };
    let rfc6455 = Config { protocol: Protocol::Rfc6455, ..Config::default() };
    for (name, config) in [
        ("rfc6455", rfc6455),
        ("draft76 old", client_config(Framing::Old)),
        ("draft76 new", client_config(Framing::New)),
    ] {
        let framing = match config.protocol {
            Protocol::Draft76(framing) => framing,
            Protocol::Rfc6455 => Framing::Old,
        };
        let mut request = client_request_bytes(config);
        // An early frame after the head (draft-76: after its key3) comes
        // out as a message either way.
        if matches!(name, "draft76 old" | "draft76 new") {
            request.extend_from_slice(&text_frame(framing, b"early"));
        }
        let [fed, parsed] = both_ways(&server_config(framing), &request, &accept);
        assert_eq!(parsed, fed, "{name}");
        assert_eq!(parsed.2, State::Open, "{name}");
        let head = Head::parse(&parsed.1);
        assert_eq!(head.status(), 101, "{name}");
        assert_eq!(head.get_str("X-Seen"), Some("yes"), "{name}");
    }
}

#[test]
fn a_bad_parsed_head_is_refused_with_its_status() {
    let request = client_request_bytes(Config { protocol: Protocol::Rfc6455, ..Config::default() });
    let (line, headers, _) = split(&request);
    let without_key = Headers(headers.0.iter().filter(|h| h.name != "Sec-WebSocket-Key").cloned().collect());
    let mut bad_name = headers.clone();
    bad_name.0.push(Header::new("Bad Name", "x"));
    let cases: [(&str, Headers, Error, u16); 4] = [
        ("POST /demo HTTP/1.1", headers.clone(), Error::Handshake(HandshakeError::MethodNotGet), 405),
        ("GET  /demo HTTP/1.1", headers.clone(), Error::Handshake(HandshakeError::MalformedRequestLine), 400),
        (&line, bad_name, Error::Handshake(HandshakeError::MalformedHeader), 400),
        (&line, without_key, Error::Handshake(HandshakeError::MissingHeader("Sec-WebSocket-Key")), 400),
    ];
    for (line, headers, error, status) in cases {
        let mut server = Connection::server(NOW, Config::default());
        server.handle_request_head(NOW, line, headers).expect("a fresh server takes a head");
        assert_eq!(drain(&mut server), [Event::Error(error.clone())], "{line}");
        assert_eq!(error.http_status(), Some(status), "{line}");
        assert_eq!(Head::parse(&transmit(&mut server)).status(), status, "{line}");
        assert_eq!(server.state(), State::Closed, "{line}");
    }
}

#[test]
fn the_limits_on_heads_hold_for_a_parsed_one() {
    let request = client_request_bytes(Config { protocol: Protocol::Rfc6455, ..Config::default() });
    let (line, headers, _) = split(&request);
    let count = headers.len();
    let size = request.len();
    let cases = [
        (
            Limits { max_headers: count - 1, ..Limits::default() },
            LimitError::TooManyHeaders { limit: count - 1 },
        ),
        (
            Limits { max_handshake_bytes: size - 1, ..Limits::default() },
            LimitError::HandshakeTooLarge { limit: size - 1 },
        ),
    ];
    for (limits, error) in cases {
        let mut server = Connection::server(NOW, Config { limits, ..Config::default() });
        server.handle_request_head(NOW, &line, headers.clone()).expect("a fresh server takes a head");
        assert_eq!(drain(&mut server), [Event::Error(Error::Limit(error))], "{error:?}");
        assert_eq!(Head::parse(&transmit(&mut server)).status(), 431, "{error:?}");
    }
    // At the limits exactly, the head is taken: its size is counted as its
    // bytes are.
    let limits = Limits { max_headers: count, max_handshake_bytes: size, ..Limits::default() };
    let mut server = Connection::server(NOW, Config { limits, ..Config::default() });
    server.handle_request_head(NOW, &line, headers).expect("a fresh server takes a head");
    assert!(matches!(drain(&mut server)[..], [Event::Request(_)]));
}

#[test]
fn only_a_server_yet_to_read_takes_a_head() {
    let request = client_request_bytes(Config { protocol: Protocol::Rfc6455, ..Config::default() });
    let (line, headers, _) = split(&request);
    let mut started = Connection::server(NOW, Config::default());
    started.handle_input(NOW, b"GET ");
    assert_eq!(started.handle_request_head(NOW, &line, headers.clone()), Err(Misuse::NoPendingRequest));
    // Nothing changed: the rest of the bytes still make the request.
    started.handle_input(NOW, &request[4..]);
    assert!(matches!(drain(&mut started)[..], [Event::Request(_)]));

    let mut client =
        Connection::client(NOW, Config::default(), ClientRequest::new(target()), entropy(1)).expect("client");
    assert_eq!(client.handle_request_head(NOW, &line, headers), Err(Misuse::NoPendingRequest));
}
