//! A new user's first connection (issue 18): the defaults speak RFC 6455,
//! and a handshake that fails because the server speaks the other protocol
//! says so and names the option (docs/PROTOCOLS.md §5.1).

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;

use common::{client_options, echo_server, local_options, within, ws_url};
use hybi::{
    connect_with, ConnectOptions, ErrorKind, Framing, Message, Protocol, ProtocolSet, ServeOptions,
    ServerHandle,
};

/// A local echo server that accepts only the protocols of `accept`.
fn echo_server_accepting(accept: ProtocolSet) -> ServerHandle {
    echo_server(ServeOptions {
        config: hybi::Config { accept, ..hybi::Config::default() },
        ..local_options()
    })
}

#[test]
fn the_default_client_speaks_rfc6455() {
    assert_eq!(ConnectOptions::default().config.protocol, Protocol::Rfc6455);
    assert_eq!(hybi::core::Config::default().protocol, Protocol::Rfc6455);
    // Against a server that takes RFC 6455 only, as today's servers do.
    let server = echo_server_accepting(ProtocolSet { draft76: false, rfc6455: true });
    let url = ws_url(&server, false);
    within(Duration::from_secs(10), move || {
        let conn = hybi::connect(&url, &[]).expect("the default connects to an RFC 6455 server");
        assert_eq!(conn.protocol(), Protocol::Rfc6455);
        conn.send_binary(&[1, 2]).unwrap();
        assert_eq!(conn.recv().unwrap(), Some(Message::Binary(vec![1, 2])));
        conn.close().unwrap();
    });
    server.stop();
}

#[test]
fn a_draft76_client_refused_by_an_rfc6455_server_is_told_to_use_rfc6455() {
    let server = echo_server_accepting(ProtocolSet { draft76: false, rfc6455: true });
    let url = ws_url(&server, false);
    let error = within(Duration::from_secs(10), move || {
        connect_with(&url, client_options(Protocol::Draft76(Framing::Old))).unwrap_err()
    });
    assert_eq!(error.kind(), ErrorKind::HandshakeRefused);
    assert_eq!(error.status(), Some(400));
    assert_eq!(error.suggested_protocol(), Some(Protocol::Rfc6455));
    let response = error.response().expect("the refusal's head is kept");
    assert_eq!(response.status, 400);
    assert!(response.line.starts_with("HTTP/1.1 400"), "{}", response.line);
    let message = error.to_string();
    assert!(message.contains("server refused the handshake with 400"), "{message}");
    assert!(message.contains("may speak only RFC 6455"), "{message}");
    assert!(message.contains("Protocol::Rfc6455"), "{message}");
    server.stop();
}

#[test]
fn an_rfc6455_client_refused_by_a_draft76_server_is_told_to_use_draft76() {
    let server = echo_server_accepting(ProtocolSet { draft76: true, rfc6455: false });
    let url = ws_url(&server, false);
    let error = within(Duration::from_secs(10), move || {
        connect_with(&url, client_options(Protocol::Rfc6455)).unwrap_err()
    });
    assert_eq!(error.kind(), ErrorKind::HandshakeRefused);
    assert_eq!(error.suggested_protocol(), Some(Protocol::Draft76(Framing::Old)));
    let message = error.to_string();
    assert!(message.contains("may speak only draft-76"), "{message}");
    assert!(message.contains("Protocol::Draft76(Framing::Old)"), "{message}");
    server.stop();
}

/// A server that answers whatever it is sent with `answer`, then holds the
/// connection until the client goes.
fn answering_server(answer: &'static str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let (mut socket, _) = listener.accept().unwrap();
        let mut head = Vec::new();
        let mut byte = [0];
        while !head.ends_with(b"\r\n\r\n") && socket.read(&mut byte).unwrap_or(0) == 1 {
            head.push(byte[0]);
        }
        socket.write_all(answer.as_bytes()).unwrap();
        let _ = socket.read(&mut [0; 64]);
    });
    format!("ws://{addr}/")
}

#[test]
fn a_draft76_answer_to_an_rfc6455_client_suggests_draft76() {
    let url = answering_server(
        "HTTP/1.1 101 WebSocket Protocol Handshake\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Origin: http://localhost\r\nSec-WebSocket-Location: ws://localhost/\r\n\r\n",
    );
    let error = within(Duration::from_secs(10), move || {
        connect_with(&url, client_options(Protocol::Rfc6455)).unwrap_err()
    });
    assert_eq!(error.kind(), ErrorKind::Protocol);
    assert_eq!(error.suggested_protocol(), Some(Protocol::Draft76(Framing::Old)));
    assert_eq!(error.response().map(|r| r.status), Some(101));
    assert!(error.to_string().contains("may speak only draft-76"), "{error}");
}

#[test]
fn a_refusal_that_says_nothing_of_the_protocol_suggests_nothing() {
    let url =
        answering_server("HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Length: 0\r\n\r\n");
    let error = within(Duration::from_secs(10), move || {
        connect_with(&url, client_options(Protocol::Rfc6455)).unwrap_err()
    });
    assert_eq!(error.status(), Some(503));
    assert_eq!(error.suggested_protocol(), None);
    let response = error.response().expect("the head is kept");
    assert_eq!(response.headers.get_str("Retry-After"), Some("1"));
    assert_eq!(error.to_string(), "server refused the handshake with 503 Service Unavailable");
}

#[test]
fn wait_serves_until_a_stopper_stops_the_server() {
    // A handler that only reads: a stopping server closes a connection
    // whose writer is busy by cutting it (`try_go_away`), which this
    // test is not about.
    let (tx, rx) = std::sync::mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let server = hybi::serve(
        move |conn, ()| {
            while let Ok(Some(message)) = conn.recv() {
                tx.lock().unwrap().send(message).unwrap();
            }
        },
        local_options(),
    )
    .unwrap();
    let url = ws_url(&server, false);
    let stopper = server.stopper();
    let client = std::thread::spawn(move || {
        let conn = connect_with(&url, client_options(Protocol::Rfc6455)).unwrap();
        conn.send_text("still serving").unwrap();
        let received = rx.recv_timeout(Duration::from_secs(10)).unwrap();
        // An open connection when the server stops gets going-away.
        stopper.stop();
        let end = conn.recv();
        (received, end.map_err(|e| e.to_string()), conn.close_status().and_then(|c| c.code), url)
    });
    within(Duration::from_secs(20), move || server.wait());
    let (received, end, code, url) = client.join().unwrap();
    assert_eq!(received, Message::Text("still serving".into()));
    assert_eq!(end, Ok(None));
    assert_eq!(code, Some(1001));
    // Stopped for good: nothing listens there any more.
    let error = connect_with(&url, client_options(Protocol::Rfc6455)).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Io, "{error}");
}

#[test]
fn with_conn_headers_from_the_default_options_needs_no_annotation() {
    // The documented path (it failed with E0283 before): the state type
    // comes from the hook alone.
    let serve_options = ServeOptions::default().with_conn_headers(|request| {
        let offered = hybi::offered_subprotocols(request);
        match offered.iter().find(|p| **p == "chat") {
            Some(chosen) => Ok((
                hybi::Accept { subprotocol: Some((*chosen).into()), ..hybi::Accept::default() },
                offered.len(),
            )),
            None => Err(hybi::HttpResponse::text(403, "chat only\n")),
        }
    });
    let serve_options = ServeOptions { port: 0, listen_ip: Some([127, 0, 0, 1].into()), ..serve_options };
    let (tx, rx) = std::sync::mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let server =
        hybi::serve(move |_conn, offered: usize| tx.lock().unwrap().send(offered).unwrap(), serve_options)
            .unwrap();
    let url = ws_url(&server, false);
    let offer =
        ConnectOptions { subprotocols: vec!["x".into(), "chat".into()], ..client_options(Protocol::Rfc6455) };
    let conn = connect_with(&url, offer).unwrap();
    assert_eq!(conn.subprotocol(), Some("chat"));
    assert_eq!(rx.recv_timeout(Duration::from_secs(10)).unwrap(), 2);
    // Answers the close the server sent when its handler returned, so that
    // stopping does not wait out its close timeout.
    conn.close().unwrap();
    let refused = connect_with(&url, client_options(Protocol::Rfc6455)).unwrap_err();
    assert_eq!(refused.status(), Some(403));
    server.stop();
}

#[test]
fn every_interface_means_ipv6_and_ipv4() {
    // `listen_ip: None`: one dual-stack socket. This machine has both
    // loopbacks; where IPv6 is off the server falls back to 0.0.0.0 and
    // this test would fail on ::1, which is what it is for.
    let server = echo_server(ServeOptions { port: 0, listen_ip: None, ..ServeOptions::default() });
    assert!(server.local_addr().is_ipv6(), "{}", server.local_addr());
    let port = server.local_addr().port();
    for host in ["127.0.0.1", "[::1]"] {
        let url = format!("ws://{host}:{port}/");
        let text = format!("over {host}");
        within(Duration::from_secs(10), move || {
            let conn = connect_with(&url, client_options(Protocol::Rfc6455))
                .unwrap_or_else(|e| panic!("{url}: {e}"));
            conn.send_text(&text).unwrap();
            assert_eq!(conn.recv().unwrap(), Some(Message::Text(text)));
            conn.close().unwrap();
        });
    }
    server.stop();
}

#[test]
fn line_and_headers_are_the_seeds_in_both_roles() {
    let (tx, rx) = std::sync::mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let serve_options = ServeOptions::default().with_conn_headers(|_request| {
        let accept =
            hybi::Accept { headers: vec![hybi::Header::new("X-Hook", "1")], ..hybi::Accept::default() };
        Ok((accept, ()))
    });
    let serve_options = ServeOptions { port: 0, listen_ip: Some([127, 0, 0, 1].into()), ..serve_options };
    let server = hybi::serve(
        move |conn, ()| {
            let seen = (conn.line().to_owned(), conn.headers().to_vec(), conn.response_headers().len());
            tx.lock().unwrap().send(seen).unwrap();
        },
        serve_options,
    )
    .unwrap();
    let url = format!("ws://{}/chat", server.local_addr());
    let conn = connect_with(&url, client_options(Protocol::Rfc6455)).unwrap();
    // Client: the response's status line and headers, all of them.
    assert_eq!(conn.line(), "HTTP/1.1 101 Switching Protocols");
    assert_eq!(conn.headers(), &conn.response_headers().0[..]);
    assert!(conn.headers().iter().any(|h| h.name == "X-Hook"));
    assert!(conn.headers().iter().any(|h| h.name.eq_ignore_ascii_case("Sec-WebSocket-Accept")));
    // Server: the request line, and only what the hook returned.
    let (line, headers, sent) = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(line, "GET /chat HTTP/1.1");
    assert_eq!(headers, vec![hybi::Header::new("X-Hook", "1")]);
    assert!(sent > 1, "the 101 carried the handshake's headers too");
    conn.close().unwrap();
    server.stop();
}

/// A server that answers any request with `head`, then each of `parts`
/// in its own write a little later, then closes.
fn refusing_server(head: &'static str, parts: Vec<Vec<u8>>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let (mut socket, _) = listener.accept().unwrap();
        common::read_http_head(&mut socket);
        socket.write_all(head.as_bytes()).unwrap();
        for part in parts {
            std::thread::sleep(Duration::from_millis(20));
            if socket.write_all(&part).is_err() {
                return;
            }
        }
    });
    format!("ws://{addr}/")
}

#[test]
fn a_refusal_keeps_its_whole_response_body_included() {
    // Content-Length, the body arriving after the head in two writes.
    let url = refusing_server(
        "HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 16\r\n\r\nno entry",
        vec![b" for yo".to_vec(), b"u\n".to_vec()],
    );
    let error = within(Duration::from_secs(10), move || {
        connect_with(&url, client_options(Protocol::Rfc6455)).unwrap_err()
    });
    assert_eq!(error.status(), Some(403));
    assert_eq!(error.response().unwrap().headers.get_str("Content-Type"), Some("text/plain"));
    assert_eq!(error.response_body(), Some(&b"no entry for you\n"[..16]));

    // No Content-Length: until the server closes.
    let url = refusing_server("HTTP/1.0 400 Bad Request\r\n\r\n", vec![b"speak ".to_vec(), b"13".to_vec()]);
    let error = within(Duration::from_secs(10), move || {
        connect_with(&url, client_options(Protocol::Rfc6455)).unwrap_err()
    });
    assert_eq!(error.response_body(), Some(&b"speak 13"[..]));

    // At most 64 KiB of a longer one.
    let url =
        refusing_server("HTTP/1.1 500 Oops\r\nContent-Length: 100000\r\n\r\n", vec![vec![b'z'; 100_000]]);
    let error = within(Duration::from_secs(10), move || {
        connect_with(&url, client_options(Protocol::Rfc6455)).unwrap_err()
    });
    assert_eq!(error.response_body().map(<[u8]>::len), Some(64 * 1024));

    // Errors that are not refusals have no response body.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let error = connect_with(&format!("ws://{closed}/"), client_options(Protocol::Rfc6455)).unwrap_err();
    assert_eq!(error.response_body(), None);
}

/// The default server tells a draft-76 client's framing from its first
/// bytes (`Framing::Auto`, docs/PROTOCOLS.md §3.1): clients of either
/// framing get their own messages back whole. (Told 'old', as the default
/// once was, a server read a 'new' client's messages as closes and sent
/// it empty echoes.)
#[test]
fn the_default_server_answers_draft76_clients_of_either_framing() {
    assert_eq!(ServeOptions::<()>::default().config.framing, Framing::Auto);
    let server = echo_server(local_options());
    let url = ws_url(&server, false);
    within(Duration::from_secs(20), move || {
        for framing in [Framing::Old, Framing::New] {
            for first in ["", "\0\0\0\0\0\0\0\0", "hello"] {
                let conn = connect_with(&url, client_options(Protocol::Draft76(framing))).unwrap();
                let messages = [first, "héllo wörld ✓", "", "last"];
                for m in messages {
                    conn.send_text(m).unwrap();
                }
                for m in messages {
                    let echo = conn.recv().unwrap();
                    assert_eq!(echo, Some(Message::Text(m.into())), "{framing:?}, first {first:?}");
                }
                conn.close().unwrap();
            }
            // A client that closes at once: its close is whole in both
            // framings, taken as what it looks like after a short silence,
            // and answered.
            let conn = connect_with(&url, client_options(Protocol::Draft76(framing))).unwrap();
            conn.close().expect("the server answers a close sent at once");
        }
    });
    server.stop();
}

/// On a default server, `protocol()` says `Draft76(Auto)` while the
/// framing is not known (the handler starts before the client's first
/// bytes) and the framing decided once they came.
#[test]
fn protocol_tells_the_framing_once_the_default_server_knows_it() {
    let (tx, rx) = std::sync::mpsc::channel();
    let server = hybi::serve(
        move |conn, ()| {
            let at_open = conn.protocol();
            let message = conn.recv().unwrap();
            let _ = tx.send((at_open, conn.protocol(), message));
        },
        local_options(),
    )
    .unwrap();
    let url = ws_url(&server, false);
    for framing in [Framing::Old, Framing::New] {
        let url = url.clone();
        let conn = within(Duration::from_secs(10), move || {
            let conn = connect_with(&url, client_options(Protocol::Draft76(framing))).unwrap();
            conn.send_text("first").unwrap();
            conn
        });
        let (at_open, after, message) = rx.recv_timeout(Duration::from_secs(10)).unwrap();
        assert_eq!(at_open, Protocol::Draft76(Framing::Auto));
        assert_eq!(after, Protocol::Draft76(framing));
        assert_eq!(message, Some(Message::Text("first".into())));
        drop(conn);
    }
    server.stop();
}
