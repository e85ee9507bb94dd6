//! Native client against native server over loopback: every protocol and
//! framing, with TLS and without, with compression for RFC 6455.

mod common;

use std::sync::mpsc;
use std::time::Duration;

use common::*;
#[cfg(feature = "tls")]
use hybi::ServerTls;
use hybi::{
    connect_with, serve, Accept, Config, DeflateConfig, ErrorKind, Framing, Header, Message, Protocol,
    ServeOptions,
};

/// What the server's handler saw, sent back to the test.
#[derive(Debug)]
struct Seen {
    protocol: Protocol,
    path: String,
    request_line: String,
    client_header: Option<String>,
    response_header: Option<String>,
    subprotocol: Option<String>,
    ended_cleanly: bool,
    close_code: Option<u16>,
}

#[cfg_attr(not(feature = "tls"), allow(unused_mut, unused_variables))]
fn exercise(protocol: Protocol, deflate: bool, tls: bool) {
    #[cfg(not(feature = "tls"))]
    assert!(!tls, "TLS tests need the `tls` feature");
    let pki = tls.then(test_pki);
    let framing = match protocol {
        Protocol::Draft76(framing) => framing,
        Protocol::Rfc6455 => Framing::Old,
    };
    let mut options: ServeOptions = ServeOptions {
        config: Config { framing, deflate: deflate.then(DeflateConfig::default), ..Config::default() },
        ..local_options()
    };
    #[cfg(feature = "tls")]
    if let Some(pki) = &pki {
        options.tls = Some(ServerTls::from_pem(pki.cert_pem.as_bytes(), pki.key_pem.as_bytes()).unwrap());
    }
    let options = options.with_conn_headers(|request| {
        let offered = hybi::core::handshake::rfc6455::offered_subprotocols(request);
        let subprotocol = offered.contains(&"chat").then(|| "chat".to_string());
        Ok((
            Accept { subprotocol, headers: vec![Header::new("X-Hybi-Test", "yes")] },
            request.path().to_string(),
        ))
    });
    let (seen_tx, seen_rx) = mpsc::channel();
    let server = serve(
        move |conn, path: String| {
            let protocol = conn.protocol();
            let request_line = conn.request_line().to_string();
            let client_header = conn.request_headers().get_str("X-Client").map(str::to_owned);
            let response_header = conn.response_headers().get_str("X-Hybi-Test").map(str::to_owned);
            let subprotocol = conn.subprotocol().map(str::to_owned);
            let mut ended_cleanly = false;
            loop {
                match conn.recv() {
                    Ok(Some(message)) => conn.send(&message).unwrap(),
                    Ok(None) => {
                        ended_cleanly = true;
                        break;
                    }
                    Err(_) => break,
                }
            }
            let close_code = conn.close_status().and_then(|c| c.code);
            let _ = seen_tx.send(Seen {
                protocol,
                path,
                request_line,
                client_header,
                response_header,
                subprotocol,
                ended_cleanly,
                close_code,
            });
        },
        options,
    )
    .unwrap();

    let mut client = client_options(protocol).header("X-Client", "native");
    client.subprotocols = vec!["chat".into()];
    client.config.deflate = deflate.then(DeflateConfig::default);
    #[cfg(feature = "tls")]
    if let Some(pki) = &pki {
        client.extra_roots_pem = pki.ca_pem.clone().into_bytes();
    }
    let url = if tls {
        format!("wss://localhost:{}/echo?x=1", server.local_addr().port())
    } else {
        format!("ws://{}/echo?x=1", server.local_addr())
    };
    let conn = within(Duration::from_secs(20), move || connect_with(&url, client)).unwrap();
    assert_eq!(conn.protocol(), protocol);
    assert_eq!(conn.request_line(), "GET /echo?x=1 HTTP/1.1");
    assert!(conn.response_line().starts_with("HTTP/1.1 101 "), "{}", conn.response_line());
    assert_eq!(conn.response_headers().get_str("X-Hybi-Test"), Some("yes"));
    assert_eq!(conn.response_headers().get_str("Sec-WebSocket-Protocol"), Some("chat"));
    if protocol == Protocol::Rfc6455 {
        // hybi-core records a draft-76 client's agreed subprotocol nowhere
        // (reported); the header above is checked by the core all the same.
        assert_eq!(conn.subprotocol(), Some("chat"));
    }
    assert_eq!(conn.deflate().is_some(), deflate);
    assert!(conn.is_open() && !conn.is_closed());

    let big = "wxyz".repeat(50_000);
    let texts = ["hello", "", "ünïcödé ✓ 😀", big.as_str()];
    for text in texts {
        conn.send_text(text).unwrap();
        assert_eq!(conn.recv().unwrap(), Some(Message::Text(text.to_string())));
    }
    match protocol {
        Protocol::Rfc6455 => {
            let bytes: Vec<u8> = (0..1_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
            for data in [vec![0u8, 1, 2, 255], Vec::new(), bytes] {
                conn.send_binary(&data).unwrap();
                assert_eq!(conn.recv().unwrap(), Some(Message::Binary(data)));
            }
            conn.ping(b"are you there").unwrap();
            conn.send_text("after ping").unwrap();
            assert_eq!(conn.recv().unwrap(), Some(Message::Text("after ping".into())));
        }
        Protocol::Draft76(_) => {
            assert_eq!(conn.send_binary(b"x").unwrap_err().kind(), ErrorKind::Misuse);
            assert_eq!(conn.ping(b"x").unwrap_err().kind(), ErrorKind::Misuse);
        }
    }

    conn.close().unwrap();
    assert!(conn.is_closed() && !conn.is_open());
    assert_eq!(conn.recv().unwrap(), None);
    assert_eq!(conn.recv().unwrap(), None, "end of stream stays");
    assert_eq!(conn.send_text("late").unwrap_err().kind(), ErrorKind::Closed);

    let seen = seen_rx.recv_timeout(Duration::from_secs(10)).expect("handler finished");
    assert_eq!(seen.protocol, protocol);
    assert_eq!(seen.path, "/echo");
    assert_eq!(seen.request_line, "GET /echo?x=1 HTTP/1.1");
    assert_eq!(seen.client_header.as_deref(), Some("native"));
    assert_eq!(seen.response_header.as_deref(), Some("yes"));
    assert_eq!(seen.subprotocol.as_deref(), Some("chat"));
    assert!(seen.ended_cleanly, "server saw a clean end: {seen:?}");
    let expected_code = (protocol == Protocol::Rfc6455).then_some(1000);
    assert_eq!(seen.close_code, expected_code);
    server.stop();
}

#[test]
fn draft76_old() {
    exercise(Protocol::Draft76(Framing::Old), false, false);
}

#[cfg(feature = "tls")]
#[test]
fn draft76_old_tls() {
    exercise(Protocol::Draft76(Framing::Old), false, true);
}

#[test]
fn draft76_new() {
    exercise(Protocol::Draft76(Framing::New), false, false);
}

#[cfg(feature = "tls")]
#[test]
fn draft76_new_tls() {
    exercise(Protocol::Draft76(Framing::New), false, true);
}

#[test]
fn rfc6455() {
    exercise(Protocol::Rfc6455, false, false);
}

#[cfg(feature = "tls")]
#[test]
fn rfc6455_tls() {
    exercise(Protocol::Rfc6455, false, true);
}

#[test]
fn rfc6455_deflate() {
    exercise(Protocol::Rfc6455, true, false);
}

#[cfg(feature = "tls")]
#[test]
fn rfc6455_deflate_tls() {
    exercise(Protocol::Rfc6455, true, true);
}

/// The server ends the conversation: the client reads the last message,
/// then the end of the stream, with the server's code and reason.
#[test]
fn server_initiated_close() {
    for protocol in ALL_PROTOCOLS {
        let framing = match protocol {
            Protocol::Draft76(framing) => framing,
            Protocol::Rfc6455 => Framing::Old,
        };
        let server = serve(
            move |conn, ()| {
                conn.send_text("last words").unwrap();
                match conn.protocol() {
                    Protocol::Rfc6455 => conn.close_with(Some(4000), "bye").unwrap(),
                    Protocol::Draft76(_) => conn.close().unwrap(),
                }
            },
            ServeOptions { config: Config { framing, ..Config::default() }, ..local_options() },
        )
        .unwrap();
        let url = ws_url(&server, false);
        let conn = connect_with(&url, client_options(protocol)).unwrap();
        let result = within(Duration::from_secs(10), move || {
            let first = conn.recv().unwrap();
            let end = conn.recv().unwrap();
            (first, end, conn.close_status(), conn.is_closed())
        });
        assert_eq!(result.0, Some(Message::Text("last words".into())), "{protocol:?}");
        assert_eq!(result.1, None, "{protocol:?}");
        assert!(result.3);
        let status = result.2.expect("clean close");
        match protocol {
            Protocol::Rfc6455 => assert_eq!((status.code, status.reason.as_str()), (Some(4000), "bye")),
            Protocol::Draft76(_) => assert_eq!(status.code, None),
        }
        server.stop();
    }
}

/// A wss client that does not trust the server's CA fails with a TLS error.
#[cfg(feature = "tls")]
#[test]
fn untrusted_certificate_is_a_tls_error() {
    let pki = test_pki();
    let options = ServeOptions {
        tls: Some(ServerTls::from_pem(pki.cert_pem.as_bytes(), pki.key_pem.as_bytes()).unwrap()),
        ..local_options()
    };
    let server = echo_server(options);
    let url = format!("wss://localhost:{}/", server.local_addr().port());
    let error = connect_with(&url, client_options(Protocol::Rfc6455)).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Tls, "{error}");
    assert!(error.to_string().contains("certificate"), "{error}");
    server.stop();
}

/// A server writes large messages straight from the caller's buffer after
/// a header from the core, holding the writer between the two. Another
/// thread sending small messages and pings at the same time must never get
/// between them: the client receives every message whole, each thread's in
/// its order.
#[test]
fn large_sends_stay_whole_while_another_thread_sends() {
    const LARGE: usize = 20;
    const SMALL: usize = 2000;
    let large = |i: usize| -> Vec<u8> { (0..1_000_000 + i).map(|b| (b * 31 + i) as u8).collect() };
    let (sending_tx, sending_rx) = std::sync::mpsc::channel::<()>();
    let server = serve(
        move |conn, ()| {
            // Made before the small sender starts, so that the two overlap.
            let larges: Vec<Vec<u8>> = (0..LARGE).map(large).collect();
            let other = conn.clone();
            let sending = sending_tx.clone();
            let small = std::thread::spawn(move || {
                // Both senders are running now (its first send may already
                // wait for a large one: it cannot signal after it).
                let _ = sending.send(());
                for i in 0..SMALL {
                    other.send_text(&format!("small {i}")).unwrap();
                    if i % 10 == 0 {
                        other.ping(b"between").unwrap();
                    }
                }
            });
            for (i, data) in larges.into_iter().enumerate() {
                if i % 2 == 0 {
                    conn.send_binary(&data).unwrap();
                } else {
                    conn.queue(&Message::Binary(data)).unwrap();
                }
            }
            small.join().unwrap();
            // Until the client closes.
            while let Ok(Some(_)) = conn.recv() {}
        },
        local_options(),
    )
    .unwrap();
    let url = ws_url(&server, false);
    within(Duration::from_secs(30), move || {
        let conn = connect_with(&url, client_options(Protocol::Rfc6455)).unwrap();
        // Not reading until both of the server's senders are running: its
        // 20 MB cannot all fit in the socket, so its writes block, with the
        // two threads contending for the writer, whenever we start reading.
        sending_rx.recv().unwrap();
        let (mut larges, mut smalls) = (0, 0);
        while larges + smalls < LARGE + SMALL {
            match conn.recv().unwrap() {
                Some(Message::Binary(data)) => {
                    assert!(data == large(larges), "large message {larges} arrived whole");
                    larges += 1;
                }
                Some(Message::Text(text)) => {
                    assert_eq!(text, format!("small {smalls}"));
                    smalls += 1;
                }
                None => panic!("ended after {larges} large and {smalls} small messages"),
            }
        }
        conn.close().unwrap();
    });
    server.stop();
}
