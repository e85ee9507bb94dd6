//! The server's options and lifecycle, and connections under stress: stop
//! with open connections, refusals, limits, vanishing and slow peers,
//! timeouts, two threads on one connection, a CONNECT proxy.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use hybi::{
    connect_with, serve, Accept, Config, ConnectOptions, ErrorKind, Framing, HttpResponse, Message, Protocol,
    Proxy, ServeOptions, ServerHandle, Timeouts,
};

#[test]
fn confirm_channel_reports_the_port_picked_for_port_zero() {
    let (tx, rx) = mpsc::channel();
    let server = echo_server(ServeOptions { confirm: Some(tx), ..local_options() });
    let addr = rx.recv_timeout(Duration::from_secs(5)).unwrap().unwrap();
    assert_ne!(addr.port(), 0);
    assert_eq!(addr, server.local_addr());
    let conn = connect_with(&format!("ws://{addr}/"), client_options(Protocol::Rfc6455)).unwrap();
    conn.send_text("ok").unwrap();
    assert_eq!(conn.recv().unwrap(), Some(Message::Text("ok".into())));
    conn.close().unwrap();
    server.stop();
}

#[test]
fn bind_error_goes_to_the_confirm_channel_and_the_result() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    let options: ServeOptions = ServeOptions { port, confirm: Some(tx), ..local_options() };
    let error = serve(|conn, ()| echo(conn), options).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Io);
    assert!(error.to_string().contains(&port.to_string()), "{error}");
    let confirmed = rx.recv_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(confirmed.unwrap_err().kind(), std::io::ErrorKind::AddrInUse);
}

#[test]
fn conn_headers_can_refuse_with_a_status() {
    let options = local_options::<()>().with_conn_headers(|request| {
        if request.path() == "/private" {
            Err(HttpResponse::text(403, "not for you\n"))
        } else {
            Ok((Accept::default(), ()))
        }
    });
    let server = serve(|conn, ()| echo(conn), options).unwrap();
    for protocol in OLD_SERVER_PROTOCOLS {
        let url = format!("ws://{}/private", server.local_addr());
        let error = connect_with(&url, client_options(protocol)).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::HandshakeRefused, "{protocol:?}: {error}");
        assert_eq!(error.status(), Some(403));
        assert!(error.to_string().contains("403"), "{error}");
        // The same server accepts other paths.
        let url = format!("ws://{}/public", server.local_addr());
        connect_with(&url, client_options(protocol)).unwrap().close().unwrap();
    }
    server.stop();
}

fn http_get(addr: std::net::SocketAddr, request: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

#[test]
fn plain_http_requests_are_answered() {
    let server = echo_server(local_options());
    let page = http_get(server.local_addr(), "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(page.starts_with("HTTP/1.1 200 "), "{page}");
    assert!(page.contains("hybi"), "{page}");
    let post = http_get(server.local_addr(), "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
    assert!(post.starts_with("HTTP/1.1 405 "), "{post}");
    server.stop();

    let options = ServeOptions {
        http_handler: Some(Box::new(|request| HttpResponse::text(404, &format!("no {}\n", request.path())))),
        ..local_options()
    };
    let server = echo_server(options);
    let page = http_get(server.local_addr(), "GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(page.starts_with("HTTP/1.1 404 ") && page.ends_with("no /nothing\n"), "{page}");
    // A broken request is answered with a status too, not dropped.
    let bad = http_get(server.local_addr(), "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\n");
    assert!(bad.starts_with("HTTP/1.1 4"), "{bad}");
    server.stop();
}

#[test]
fn http_1_0_gets_the_page_and_its_upgrades_are_refused() {
    // Only an upgrade needs HTTP/1.1: a plain GET over HTTP/1.0 (curl -0,
    // old tools) gets the page `hybi serve` answers with.
    let options = ServeOptions { http_handler: Some(Box::new(hybi::page::respond)), ..local_options() };
    let server = echo_server(options);
    for request in ["GET / HTTP/1.0\r\n\r\n", "GET / HTTP/1.0\r\nHost: x\r\n\r\n"] {
        let page = http_get(server.local_addr(), request);
        let (head, body) = page.split_once("\r\n\r\n").expect("a whole response");
        assert!(head.starts_with("HTTP/1.1 200 "), "{request:?}: {head}");
        let (_, expected) = hybi::page::asset("/").unwrap();
        assert_eq!(body.as_bytes(), expected, "{request:?}: the page itself");
    }
    let upgrade = http_get(
        server.local_addr(),
        "GET / HTTP/1.0\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    );
    assert!(upgrade.starts_with("HTTP/1.1 505 "), "{upgrade}");
    server.stop();
}

#[test]
fn connections_over_the_limit_get_503() {
    let server = echo_server(ServeOptions { max_connections: 1, ..local_options() });
    let url = ws_url(&server, false);
    let first = connect_with(&url, client_options(Protocol::Rfc6455)).unwrap();
    let error = connect_with(&url, client_options(Protocol::Rfc6455)).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::HandshakeRefused, "{error}");
    assert_eq!(error.status(), Some(503));
    first.close().unwrap();
    // Once the first connection's thread is done, there is room again.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match connect_with(&url, client_options(Protocol::Rfc6455)) {
            Ok(conn) => break conn.close().unwrap(),
            Err(e) if e.status() == Some(503) && Instant::now() < deadline => {
                thread::sleep(Duration::from_millis(20))
            }
            Err(e) => panic!("{e}"),
        }
    }
    server.stop();
}

#[test]
fn stop_closes_open_connections_and_joins_every_thread() {
    let finished = Arc::new(AtomicUsize::new(0));
    let handlers = Arc::clone(&finished);
    let server = serve(
        move |conn, ()| {
            if conn.request().path() == "/idle" {
                // A handler that does not read: stop still ends it.
                while conn.is_open() {
                    thread::sleep(Duration::from_millis(5));
                }
            } else {
                echo(conn);
            }
            handlers.fetch_add(1, Ordering::SeqCst);
        },
        local_options(),
    )
    .unwrap();
    let addr = server.local_addr();
    let mut clients = Vec::new();
    for (i, protocol) in OLD_SERVER_PROTOCOLS.iter().cycle().take(6).enumerate() {
        let path = if i == 5 { "idle" } else { "echo" };
        let conn = connect_with(&format!("ws://{addr}/{path}"), client_options(*protocol)).unwrap();
        if path == "echo" {
            conn.send_text("before stop").unwrap();
            assert_eq!(conn.recv().unwrap(), Some(Message::Text("before stop".into())));
        }
        clients.push(conn);
    }
    // Each client reads until the end of the stream, as an application would.
    let readers: Vec<_> = clients
        .into_iter()
        .map(|conn| {
            thread::spawn(move || {
                let end = conn.recv();
                (conn.protocol(), end.map_err(|e| e.to_string()), conn.close_status())
            })
        })
        .collect();
    // And a client stuck before its handshake: it is cut, not waited for.
    let mut silent = TcpStream::connect(addr).unwrap();
    silent.write_all(b"GET / HTTP/1.1\r\n").unwrap();
    // Stop only once the server has taken it in (six clients and this one),
    // so that it is cut mid-handshake rather than refused from the backlog.
    wait_for(Duration::from_secs(5), || server.connections() == 7, "the silent client is accepted");
    let start = Instant::now();
    within(Duration::from_secs(15), move || server.stop());
    assert!(start.elapsed() < Duration::from_secs(3), "stop took {:?}", start.elapsed());
    assert_eq!(finished.load(Ordering::SeqCst), 6, "every handler returned");
    let mut rest = Vec::new();
    silent.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    // Cut: the end of the stream (or a reset), not a wait.
    if let Err(e) = silent.read_to_end(&mut rest) {
        assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}");
    }
    for reader in readers {
        let (protocol, end, status) = reader.join().unwrap();
        assert_eq!(end, Ok(None), "{protocol:?}");
        if protocol == Protocol::Rfc6455 {
            assert_eq!(status.and_then(|s| s.code), Some(1001));
        }
    }
    assert!(TcpStream::connect(addr).is_err(), "listener is closed");
}

#[test]
fn a_peer_vanishing_mid_frame_is_an_error_not_a_hang() {
    // The server told the client's framing, or telling it itself ('auto').
    let cases = [
        (Framing::Old, Framing::Old),
        (Framing::New, Framing::New),
        (Framing::Old, Framing::Auto),
        (Framing::New, Framing::Auto),
    ];
    for (framing, told) in cases {
        let (tx, rx) = mpsc::channel();
        let server = serve(
            move |conn, ()| {
                let _ = tx.send((conn.protocol(), conn.recv().map_err(|e| e.kind())));
            },
            ServeOptions { config: Config { framing: told, ..Config::default() }, ..local_options() },
        )
        .unwrap();
        let addr = server.local_addr();

        // RFC 6455: a masked text frame declaring 100 bytes, 10 sent.
        let mut stream = raw_rfc6455(addr);
        stream.write_all(&[0x81, 0x80 | 100, 1, 2, 3, 4]).unwrap();
        stream.write_all(&[0x55; 10]).unwrap();
        drop(stream);
        let (protocol, result) = rx.recv_timeout(Duration::from_secs(5)).expect("handler returned");
        assert_eq!(protocol, Protocol::Rfc6455);
        assert_eq!(result, Err(ErrorKind::UnexpectedEof));

        // Draft-76: a frame started and never ended.
        let mut stream = raw_draft76(addr);
        match framing {
            Framing::Old => stream.write_all(b"\x00half a mess").unwrap(),
            Framing::New => stream.write_all(b"\xff\x00\x00\x00\x00\x00\x00\x00\x64only ten b").unwrap(),
            Framing::Auto => unreachable!("a client speaks 'old' or 'new'"),
        }
        drop(stream);
        let (protocol, result) = rx.recv_timeout(Duration::from_secs(5)).expect("handler returned");
        // As the connection opened: 'auto' before the client's bytes.
        assert_eq!(protocol, Protocol::Draft76(told));
        assert_eq!(result, Err(ErrorKind::UnexpectedEof), "{framing:?}");
        server.stop();
    }
}

#[test]
fn idle_timeout_fails_a_silent_peer() {
    let (tx, rx) = mpsc::channel();
    let server = serve(
        move |conn, ()| {
            let start = Instant::now();
            let result = conn.recv().map_err(|e| (e.kind(), e.to_string()));
            let _ = tx.send((result, start.elapsed()));
        },
        ServeOptions { timeout: Duration::from_millis(200), ..local_options() },
    )
    .unwrap();
    for protocol in [Protocol::Rfc6455, Protocol::Draft76(Framing::Old)] {
        let conn = connect_with(&ws_url(&server, false), client_options(protocol)).unwrap();
        let (result, waited) = rx.recv_timeout(Duration::from_secs(5)).expect("idle timeout fired");
        let (kind, message) = result.unwrap_err();
        assert_eq!(kind, ErrorKind::Timeout, "{message}");
        assert!(message.contains("idle"), "{message}");
        assert!(waited >= Duration::from_millis(190) && waited < Duration::from_secs(3), "{waited:?}");
        // The client learns the connection is over rather than hanging; in
        // RFC 6455 the server said goodbye with 1001 (going away).
        let (end, status) = within(Duration::from_secs(5), move || {
            let end = conn.recv().map(|m| m.is_none());
            (end, conn.close_status())
        });
        if protocol == Protocol::Rfc6455 {
            assert!(matches!(end, Ok(true)), "{end:?}");
            assert_eq!(status.and_then(|s| s.code), Some(1001));
        } else {
            assert!(end.unwrap_or(true));
        }
    }
    server.stop();
}

#[test]
fn keepalive_fails_a_peer_that_stops_answering_and_keeps_one_that_answers() {
    let (tx, rx) = mpsc::channel();
    let timeouts = Timeouts {
        keepalive: Some(Duration::from_millis(50)),
        keepalive_timeout: Some(Duration::from_millis(300)),
        ..Timeouts::default()
    };
    let server = serve(
        move |conn, ()| {
            let result = conn.recv().map_err(|e| e.to_string());
            let _ = tx.send(result);
        },
        ServeOptions { config: Config { timeouts, ..Config::default() }, ..local_options() },
    )
    .unwrap();
    // A client that never calls recv never answers the pings.
    let silent = connect_with(&ws_url(&server, false), client_options(Protocol::Rfc6455)).unwrap();
    let result = rx.recv_timeout(Duration::from_secs(5)).expect("keepalive timeout fired");
    assert!(result.unwrap_err().contains("keepalive"));
    drop(silent);

    // A client inside recv answers them: the server keeps waiting for a
    // message, which then arrives.
    let conn = connect_with(&ws_url(&server, false), client_options(Protocol::Rfc6455)).unwrap();
    conn.set_read_timeout(Some(Duration::from_millis(800)));
    assert_eq!(conn.recv().unwrap_err().kind(), ErrorKind::Timeout);
    assert!(conn.is_open(), "a read timeout leaves the connection open");
    conn.send_text("still here").unwrap();
    let result = rx.recv_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(result, Ok(Some(Message::Text("still here".into()))));
    // The handler returned and closed; our close meets its close.
    conn.close().unwrap();
    server.stop();
}

/// The core's whole `Config` reaches both ends through `config`:
/// `auto_pong: false` leaves pings unanswered (the default answers them),
/// while `streaming`, which this driver sets itself, cannot make `recv`
/// return pieces of a message.
#[test]
fn the_cores_config_reaches_the_server_and_the_client() {
    let pongs_from = |server_config: Config| {
        within(Duration::from_secs(10), move || {
            let server = echo_server(ServeOptions {
                config: Config { streaming: true, ..server_config },
                ..local_options()
            });
            let mut options = client_options(Protocol::Rfc6455);
            options.config.streaming = true;
            let conn = connect_with(&ws_url(&server, false), options).unwrap();
            let pongs = Arc::new(AtomicUsize::new(0));
            let counter = Arc::clone(&pongs);
            assert!(conn.on_pong(move |_| {
                counter.fetch_add(1, Ordering::SeqCst);
            }));
            conn.ping(b"anyone?").unwrap();
            // 100 KB in frames of the peer's choosing: whole, however it came.
            let big = "x".repeat(100_000);
            conn.send_text(&big).unwrap();
            // The echo comes after the ping's answer, if there is one.
            assert_eq!(conn.recv().unwrap(), Some(Message::Text(big)));
            conn.close().unwrap();
            assert_eq!(conn.recv().unwrap(), None);
            server.stop();
            pongs.load(Ordering::SeqCst)
        })
    };
    assert_eq!(pongs_from(Config::default()), 1, "the default answers pings");
    assert_eq!(pongs_from(Config { auto_pong: false, ..Config::default() }), 0, "auto_pong: false");
}

#[test]
fn recv_and_send_on_two_threads_at_once() {
    let server = echo_server(ServeOptions {
        config: Config { framing: Framing::New, ..Config::default() },
        ..local_options()
    });
    for protocol in [Protocol::Rfc6455, Protocol::Draft76(Framing::New)] {
        let conn = connect_with(&ws_url(&server, false), client_options(protocol)).unwrap();
        const COUNT: usize = 300;
        let message = |i: usize| format!("{i:05}").repeat(16 * 1024 / 5);
        let sender = conn.clone();
        // Both directions full at once: the echo server blocks writing to
        // us unless we read while we write.
        let sending = thread::spawn(move || {
            for i in 0..COUNT {
                sender.send_text(&message(i)).unwrap();
            }
        });
        within(Duration::from_secs(60), move || {
            for i in 0..COUNT {
                assert_eq!(conn.recv().unwrap(), Some(Message::Text(message(i))), "message {i}");
            }
            conn.close().unwrap();
        });
        sending.join().unwrap();
    }
    server.stop();
}

/// A server whose handler never reads: it holds every connection until the
/// returned sender is dropped (or 30 s pass).
fn never_reading_server() -> (ServerHandle, mpsc::Sender<()>) {
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let release_rx = Arc::new(std::sync::Mutex::new(release_rx));
    let server = serve(
        move |_conn, ()| {
            let _ = release_rx.lock().unwrap().recv_timeout(Duration::from_secs(30));
        },
        local_options(),
    )
    .unwrap();
    (server, release_tx)
}

#[test]
fn a_write_timeout_fails_a_send_to_a_peer_that_does_not_read() {
    let (server, release_tx) = never_reading_server();
    let options = ConnectOptions {
        write_timeout: Some(Duration::from_millis(300)),
        ..client_options(Protocol::Rfc6455)
    };
    let conn = connect_with(&ws_url(&server, false), options).unwrap();
    let error = within(Duration::from_secs(60), move || {
        let chunk = vec![7u8; 256 * 1024];
        loop {
            if let Err(e) = conn.send_binary(&chunk) {
                return (e, conn.is_closed());
            }
        }
    });
    assert_eq!(error.0.kind(), ErrorKind::Timeout, "{}", error.0);
    assert!(error.1, "a half-written frame ends the connection");
    drop(release_tx);
    server.stop();
}

#[test]
fn clients_go_through_an_http_connect_proxy() {
    let server = echo_server(local_options());
    let (proxy_addr, requests) = test_proxy("HTTP/1.1 200 Connection established\r\n\r\n");
    let proxy = hybi::url::Url::parse(&format!("http://user:p%40ss@{proxy_addr}")).unwrap();
    let options = ConnectOptions { proxy: Proxy::Url(proxy), ..client_options(Protocol::Rfc6455) };
    let conn = connect_with(&ws_url(&server, false), options).unwrap();
    conn.send_text("through the tunnel").unwrap();
    assert_eq!(conn.recv().unwrap(), Some(Message::Text("through the tunnel".into())));
    conn.close().unwrap();
    let head = requests.recv().unwrap();
    let target = server.local_addr();
    assert!(head.starts_with(&format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n")), "{head}");
    // user:p@ss in base64.
    assert!(head.contains("Proxy-Authorization: Basic dXNlcjpwQHNz\r\n"), "{head}");

    let (proxy_addr, _) =
        test_proxy("HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n");
    let proxy = hybi::url::Url::parse(&format!("http://{proxy_addr}")).unwrap();
    let options = ConnectOptions { proxy: Proxy::Url(proxy), ..client_options(Protocol::Rfc6455) };
    let error = connect_with(&ws_url(&server, false), options).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Proxy);
    assert!(error.to_string().contains("407"), "{error}");
    server.stop();
}

#[test]
fn connect_errors_name_their_cause() {
    let error = connect_with("http://example.com/", ConnectOptions::default()).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidUrl);
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = closed.local_addr().unwrap();
    drop(closed);
    let error = connect_with(&format!("ws://{addr}/"), client_options(Protocol::Rfc6455)).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Io);
    assert!(error.to_string().contains(&addr.to_string()), "{error}");
}

/// Rounds of each protocol in `close_while_another_thread_receives`.
const ROUNDS: usize = 10;

#[test]
fn close_while_another_thread_receives() {
    let server = echo_server(local_options());
    // Which thread reads the answer to our close depends on how fast it
    // comes back (the receiving thread, or close itself when the answer
    // is already in by the time it waits): several rounds, so that the
    // first way is taken in some of them.
    for (round, protocol) in OLD_SERVER_PROTOCOLS.iter().copied().cycle().take(3 * ROUNDS).enumerate() {
        let protocol_round = format!("{protocol:?} round {round}");
        let conn = connect_with(&ws_url(&server, false), client_options(protocol)).unwrap();
        let receiver = conn.clone();
        let (received_tx, received_rx) = mpsc::channel();
        let receiving = thread::spawn(move || {
            let mut messages = Vec::new();
            loop {
                match receiver.recv() {
                    Ok(Some(message)) => {
                        messages.push(message);
                        // Goes straight back into recv, where nothing more
                        // can arrive until our close is answered.
                        received_tx.send(()).unwrap();
                    }
                    Ok(None) => return Ok(messages),
                    Err(e) => return Err(e.to_string()),
                }
            }
        });
        conn.send_text("one").unwrap();
        // The echo arrived through the other thread, which goes back into
        // recv at once and holds the socket's reading half when close
        // starts: close must wait for that thread to see the answer, and
        // must not return before it does.
        received_rx.recv_timeout(Duration::from_secs(5)).expect("the echo arrives");
        let (closed, is_closed, status) = within(Duration::from_secs(5), move || {
            let closed = conn.close().map_err(|e| e.to_string());
            (closed, conn.is_closed(), conn.close_status())
        });
        assert_eq!(closed, Ok(()), "{protocol_round}");
        // close returns when the closing handshake is over, not before:
        // the peer's answer, read by the other thread, was handed to it.
        assert!(is_closed, "{protocol_round}: close returned before the handshake was over");
        let code = (protocol == Protocol::Rfc6455).then_some(1000);
        assert_eq!(status.map(|s| s.code), Some(code), "{protocol_round}: the peer's answer");
        let messages = receiving.join().unwrap().unwrap();
        assert_eq!(messages, vec![Message::Text("one".into())], "{protocol_round}");
    }
    server.stop();
}

#[test]
fn close_keeps_its_deadline_while_another_thread_receives() {
    // A handler that never reads: nobody answers the client's close.
    let (server, release_tx) = never_reading_server();
    let timeouts = Timeouts { close: Some(Duration::from_millis(300)), ..Timeouts::default() };
    let mut options = client_options(Protocol::Rfc6455);
    options.config.timeouts = timeouts;
    let conn = connect_with(&ws_url(&server, false), options).unwrap();
    let receiver = conn.clone();
    let (receiving_tx, receiving_rx) = mpsc::channel();
    let receiving = thread::spawn(move || {
        receiving_tx.send(()).unwrap();
        receiver.recv().map_err(|e| e.kind())
    });
    // The other thread is on its way into recv, where nothing can arrive
    // (the handler neither sends nor answers); close must keep its own
    // deadline whichever of the two reads the socket.
    receiving_rx.recv().unwrap();
    let start = Instant::now();
    let error = within(Duration::from_secs(5), move || conn.close()).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Timeout, "{error}");
    assert!(error.to_string().contains("close"), "{error}");
    assert!(start.elapsed() >= Duration::from_millis(290), "{:?}", start.elapsed());
    // The receiving thread was woken, not left blocked.
    let received = within(Duration::from_secs(5), move || receiving.join().unwrap());
    assert!(matches!(received, Err(ErrorKind::Timeout) | Ok(None)), "{received:?}");
    drop(release_tx);
    server.stop();
}

/// Messages and the close in one segment: the echo server reads them all at
/// once and must still echo every message before it answers the close,
/// whether it sends each echo or queues them.
#[test]
fn echo_server_answers_messages_that_arrive_with_the_close() {
    for server in [echo_server(local_options()), queued_echo_server(local_options())] {
        echoes_messages_that_arrive_with_the_close(server);
    }
}

fn echoes_messages_that_arrive_with_the_close(server: hybi::ServerHandle) {
    let addr = server.local_addr();
    within(Duration::from_secs(10), move || {
        // RFC 6455, masked with a zero key: payloads are sent as they are.
        let mut stream = raw_rfc6455(addr);
        let mut wire = Vec::new();
        for text in [&b"one"[..], b"two", b"three"] {
            wire.extend_from_slice(&[0x81, 0x80 | text.len() as u8, 0, 0, 0, 0]);
            wire.extend_from_slice(text);
        }
        wire.extend_from_slice(&[0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8]);
        stream.write_all(&wire).unwrap();
        let mut back = Vec::new();
        stream.read_to_end(&mut back).unwrap();
        assert_eq!(back, b"\x81\x03one\x81\x03two\x81\x05three\x88\x02\x03\xe8");

        // Draft-76 'old' (the server's default framing).
        let mut stream = raw_draft76(addr);
        stream.write_all(b"\x00one\xff\x00two\xff\xff\x00").unwrap();
        let mut back = Vec::new();
        stream.read_to_end(&mut back).unwrap();
        assert_eq!(back, b"\x00one\xff\x00two\xff\xff\x00");
    });
    server.stop();
}

/// A valid message and a frame that fails the connection in one segment:
/// the echo server still echoes the message, and only then closes with the
/// error's code (1002 for a reserved bit, opcode or a stray continuation,
/// 1007 for text that is not UTF-8), whether it sends or queues its echoes.
#[test]
fn echo_server_answers_messages_before_a_bad_frame() {
    for server in [echo_server(local_options()), queued_echo_server(local_options())] {
        let addr = server.local_addr();
        within(Duration::from_secs(10), move || {
            let bad: [(&[u8], u16); 4] = [
                (&[0xc1, 0x81, 0, 0, 0, 0, b'x'], 1002),
                (&[0x83, 0x81, 0, 0, 0, 0, b'x'], 1002),
                (&[0x80, 0x81, 0, 0, 0, 0, b'x'], 1002),
                (&[0x81, 0x82, 0, 0, 0, 0, 0xc3, 0x28], 1007),
            ];
            for (frame, code) in bad {
                // Masked with a zero key: payloads are sent as they are.
                let mut stream = raw_rfc6455(addr);
                let mut wire = vec![0x81, 0x85, 0, 0, 0, 0];
                wire.extend_from_slice(b"valid");
                wire.extend_from_slice(frame);
                stream.write_all(&wire).unwrap();
                let mut back = Vec::new();
                stream.read_to_end(&mut back).unwrap();
                let mut expected = b"\x81\x05valid\x88\x02".to_vec();
                expected.extend_from_slice(&code.to_be_bytes());
                assert_eq!(back, expected, "after {frame:02x?}");
            }
        });
        server.stop();
    }
}

/// A peer whose close arrives right behind a message, in the read that
/// finished the handshake, and which then hangs up without reading: our
/// `close` only answers a close we already have, so it succeeds at once,
/// and the message is still there for `recv`.
#[test]
fn close_after_the_peer_closed_behind_an_unread_message() {
    use hybi::core::{Config, Connection as Machine, Event, Instant as At};

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let peer = thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut machine = Machine::server(At::ZERO, Config::default());
        let mut buf = [0u8; 4096];
        while !matches!(machine.poll_event(), Some(Event::Request(_))) {
            let n = stream.read(&mut buf).unwrap();
            machine.handle_input(At::ZERO, &buf[..n]);
        }
        machine.accept(Accept::default()).unwrap();
        machine.send_text("hello").unwrap();
        machine.close(At::ZERO, Some(1000), "").unwrap();
        let mut wire = Vec::new();
        let _ = machine.poll_transmit(&mut wire);
        // 101, the message and the close in one write; then silent and
        // unread until the client is done (so that nothing but our close
        // can end its wait), then gone.
        stream.write_all(&wire).unwrap();
        let _ = done_rx.recv();
    });
    let url = format!("ws://{addr}/");
    let conn = connect_with(&url, client_options(Protocol::Rfc6455)).unwrap();
    let (closed, status, rest) = within(Duration::from_secs(5), move || {
        let started = Instant::now();
        let closed = conn.close().map_err(|e| e.to_string());
        assert!(started.elapsed() < Duration::from_millis(400), "close waited for the peer");
        let status = conn.close_status();
        let rest = (conn.recv().map_err(|e| e.to_string()), conn.recv().map_err(|e| e.to_string()));
        (closed, status, rest)
    });
    drop(done_tx);
    assert_eq!(closed, Ok(()));
    assert_eq!(status.and_then(|s| s.code), Some(1000));
    assert_eq!(rest, (Ok(Some(Message::Text("hello".into()))), Ok(None)));
    peer.join().unwrap();
}
