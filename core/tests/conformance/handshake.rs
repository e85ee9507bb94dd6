//! Handshake (RFC 6455 §4): requests and responses split anywhere, header
//! variants, every reason to refuse.

use crate::harness::*;

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
        assert_eq!(header_value(&response, "Sec-WebSocket-Accept"), Some(*ACCEPT));
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
    assert_eq!(header_value(std::str::from_utf8(&out).unwrap(), "Sec-WebSocket-Accept"), Some(*ACCEPT));
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
        ("key of 10 bytes", *KEY, "AQIDBAUGBwgJCg==", HandshakeError::InvalidNonce, "400 Bad Request"),
        ("key not base64", *KEY, "!!!!not-base64!!!!!!!!!!", HandshakeError::InvalidNonce, "400 Bad Request"),
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
             Sec-WebSocket-Accept: {accept}\r\n\r\n",
            accept = *ACCEPT
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
    use hybi_core::handshake::deflate::Parameter;
    use hybi_core::NegotiationError;
    let cases = [
        ("permessage-deflate; foo", NegotiationError::UnknownParameter),
        ("permessage-deflate, permessage-deflate", NegotiationError::DuplicateExtension),
        (
            "permessage-deflate; server_max_window_bits=16",
            NegotiationError::InvalidWindowBits(Parameter::ServerMaxWindowBits),
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
