//! `hybi::tokio::{connect, serve}`: against the blocking driver and
//! against each other, every protocol, TLS in both roles, a graceful stop
//! with connections open (each sees 1001), and the caps (503).
#![cfg(all(feature = "tokio", feature = "tls"))]

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{client_options, echo_server, local_options, messages, test_pki, ALL_PROTOCOLS};
use hybi::core::Config;
use hybi::tokio::{connect, serve, MaybeTls, ServerHandle, WebSocket};
use hybi::{ConnectOptions, Framing, Protocol, ServeOptions, ServerTls};

fn server_options(protocol: Protocol) -> ServeOptions {
    let framing = match protocol {
        Protocol::Draft76(framing) => framing,
        _ => Framing::Old,
    };
    ServeOptions { config: Config { framing, ..Config::default() }, ..local_options() }
}

async fn echo(mut ws: WebSocket<MaybeTls>) {
    while let Ok(Some(message)) = ws.recv().await {
        if ws.send(&message).await.is_err() {
            break;
        }
    }
}

async fn async_echo_server(options: ServeOptions) -> ServerHandle {
    let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
    serve(addr, |ws, ()| echo(ws), options).await.expect("serve")
}

async fn check_async_client(url: &str, options: ConnectOptions, name: &str) {
    let rfc6455 = options.config.protocol == Protocol::Rfc6455;
    // Both servers accept the offer (`with_deflate`): the agreement shows.
    let offered = options.config.deflate.is_some();
    let mut ws = connect(url, options).await.unwrap_or_else(|e| panic!("{name}: connect: {e}"));
    assert_eq!(ws.deflate().is_some(), offered, "{name}: the deflate agreement");
    for message in messages(rfc6455) {
        ws.send(&message).await.unwrap_or_else(|e| panic!("{name}: send: {e}"));
        let back = ws.recv().await.unwrap_or_else(|e| panic!("{name}: recv: {e}"));
        assert!(
            back.as_ref() == Some(&message),
            "{name}: a {} byte message changed",
            message.as_bytes().len()
        );
    }
    ws.close(rfc6455.then_some(1000), "").await.unwrap_or_else(|e| panic!("{name}: close: {e}"));
}

fn check_blocking_client(url: &str, options: ConnectOptions, name: &str) {
    let rfc6455 = options.config.protocol == Protocol::Rfc6455;
    let conn = hybi::connect_with(url, options).unwrap_or_else(|e| panic!("{name}: connect: {e}"));
    for message in messages(rfc6455) {
        conn.send(&message).unwrap();
        assert!(conn.recv().unwrap().as_ref() == Some(&message), "{name}: message changed");
    }
    conn.close().unwrap();
}

/// Every protocol, with and without permessage-deflate where it exists.
fn client_setups() -> Vec<(String, ConnectOptions)> {
    let mut out = Vec::new();
    for protocol in ALL_PROTOCOLS {
        out.push((format!("{protocol:?}"), client_options(protocol)));
    }
    let mut deflate = client_options(Protocol::Rfc6455);
    deflate.config.deflate = Some(hybi::DeflateConfig::default());
    out.push(("RFC 6455 + deflate".into(), deflate));
    out
}

fn with_deflate(mut options: ServeOptions) -> ServeOptions {
    options.config.deflate = Some(hybi::DeflateConfig::default());
    options
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_pairing_of_the_drivers_every_protocol() {
    for (name, client) in client_setups() {
        let protocol = client.config.protocol;
        // Async client, blocking server.
        let blocking = echo_server(with_deflate(server_options(protocol)));
        let url = format!("ws://{}/echo", blocking.local_addr());
        check_async_client(&url, client.clone(), &format!("{name}: async to blocking")).await;
        blocking.stop();
        // Blocking and async clients, async server.
        let server = async_echo_server(with_deflate(server_options(protocol))).await;
        let url = format!("ws://{}/echo", server.local_addr());
        let (u, c, n) = (url.clone(), client.clone(), format!("{name}: blocking to async"));
        tokio::task::spawn_blocking(move || check_blocking_client(&u, c, &n)).await.unwrap();
        check_async_client(&url, client, &format!("{name}: async to async")).await;
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_in_both_roles() {
    let pki = test_pki();
    let identity = ServerTls::from_pem(pki.cert_pem.as_bytes(), pki.key_pem.as_bytes()).unwrap();
    let tls_options = |protocol| ServeOptions { tls: Some(identity.clone()), ..server_options(protocol) };
    let client = |protocol| ConnectOptions {
        extra_roots_pem: pki.ca_pem.clone().into_bytes(),
        ..client_options(protocol)
    };
    for protocol in [Protocol::Rfc6455, Protocol::Draft76(Framing::Old)] {
        let server = async_echo_server(tls_options(protocol)).await;
        let url = format!("wss://localhost:{}/echo", server.local_addr().port());
        check_async_client(&url, client(protocol), "wss: async to async").await;
        let (u, c) = (url.clone(), client(protocol));
        tokio::task::spawn_blocking(move || check_blocking_client(&u, c, "wss: blocking to async"))
            .await
            .unwrap();
        server.stop().await;
        let blocking = echo_server(tls_options(protocol));
        let url = format!("wss://localhost:{}/echo", blocking.local_addr().port());
        check_async_client(&url, client(protocol), "wss: async to blocking").await;
        blocking.stop();
    }
    // A client that does not trust the server's CA fails in TLS.
    let server = async_echo_server(tls_options(Protocol::Rfc6455)).await;
    let url = format!("wss://localhost:{}/echo", server.local_addr().port());
    let e = connect(&url, client_options(Protocol::Rfc6455)).await.map(|_| ()).unwrap_err();
    assert_eq!(e.kind(), hybi::ErrorKind::Tls, "{e}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_sends_1001_to_open_connections_and_waits_for_handlers() {
    let server = async_echo_server(server_options(Protocol::Rfc6455)).await;
    let url = format!("ws://{}/echo", server.local_addr());
    let mut clients = Vec::new();
    for _ in 0..5 {
        let mut ws = connect(&url, client_options(Protocol::Rfc6455)).await.unwrap();
        ws.send(&hybi::Message::Text("hi".into())).await.unwrap();
        assert!(ws.recv().await.unwrap().is_some());
        clients.push(ws);
    }
    assert_eq!(server.connections(), 5);
    let waiting = tokio::spawn(async move {
        let mut codes = Vec::new();
        for mut ws in clients {
            assert_eq!(ws.recv().await.unwrap(), None, "a clean end");
            codes.push(ws.close_status().and_then(|c| c.code));
        }
        codes
    });
    tokio::time::timeout(Duration::from_secs(5), server.stop()).await.expect("stop waits for handlers only");
    assert_eq!(waiting.await.unwrap(), vec![Some(1001); 5]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_caps_are_answered_503() {
    let options = ServeOptions { max_connections: 2, ..server_options(Protocol::Rfc6455) };
    let server = async_echo_server(options).await;
    let url = format!("ws://{}/echo", server.local_addr());
    let _a = connect(&url, client_options(Protocol::Rfc6455)).await.unwrap();
    let _b = connect(&url, client_options(Protocol::Rfc6455)).await.unwrap();
    let e = connect(&url, client_options(Protocol::Rfc6455)).await.map(|_| ()).unwrap_err();
    assert_eq!(e.status(), Some(503), "{e}");
    drop(_a);
    common::wait_for(Duration::from_secs(5), || server.connections() < 2, "a slot frees");
    connect(&url, client_options(Protocol::Rfc6455)).await.expect("a freed slot is taken");
    let options = ServeOptions { max_connections_per_ip: 1, ..server_options(Protocol::Rfc6455) };
    let per_ip = async_echo_server(options).await;
    let url = format!("ws://{}/echo", per_ip.local_addr());
    let _c = connect(&url, client_options(Protocol::Rfc6455)).await.unwrap();
    let e = connect(&url, client_options(Protocol::Rfc6455)).await.map(|_| ()).unwrap_err();
    assert_eq!(e.status(), Some(503), "{e}");
    server.stop().await;
    per_ip.stop().await;
}

/// What each connection holds without drawing on the budget (the
/// drivers' `UNBUDGETED`).
const UNBUDGETED: usize = 64 * 1024;

/// Waits until the server's charge to its budget satisfies `ok`; its value.
async fn settles(server: &ServerHandle, ok: impl Fn(usize) -> bool) -> usize {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let held = server.buffered_bytes().expect("a budget is set");
        if ok(held) || tokio::time::Instant::now() > deadline {
            return held;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connection_that_would_exceed_the_budget_fails_with_1009_and_the_others_go_on() {
    use std::io::Write;

    const BUDGET: usize = 8 << 20;
    const PARTIAL: usize = 3 << 20;
    let server = async_echo_server(ServeOptions { memory_budget: BUDGET, ..local_options() }).await;
    let addr = server.local_addr();
    // Two connections each hold an unfinished 3 MiB message.
    let mut holders = Vec::new();
    for n in 1..=2 {
        let stream = tokio::task::spawn_blocking(move || {
            let mut stream = common::raw_rfc6455(addr);
            stream.write_all(&common::unfinished_frame(PARTIAL)).unwrap();
            stream
        })
        .await
        .unwrap();
        let held = settles(&server, |held| held >= n * (PARTIAL - UNBUDGETED)).await;
        assert!(held >= n * (PARTIAL - UNBUDGETED) && held <= BUDGET, "{n} unfinished: {held} bytes held");
        holders.push(stream);
    }
    // The third would take the server past its budget: 1009, for it alone.
    let code = tokio::task::spawn_blocking(move || {
        let mut third = common::raw_rfc6455(addr);
        let mut writer = third.try_clone().unwrap();
        // The server stops reading (and closes) partway: errors are
        // expected here.
        let sending = std::thread::spawn(move || {
            let _ = writer.write_all(&common::unfinished_frame(PARTIAL));
        });
        let code = common::close_code(&mut third);
        let _ = sending.join();
        code
    })
    .await
    .unwrap();
    assert_eq!(code, 1009);
    assert!(server.buffered_bytes().unwrap() <= BUDGET);
    // A fourth client's small messages still echo.
    let url = format!("ws://{addr}/");
    let mut small = connect(&url, client_options(Protocol::Rfc6455)).await.unwrap();
    for i in 0..100 {
        let text = hybi::Message::Text(format!("small {i}"));
        small.send(&text).await.unwrap();
        assert_eq!(small.recv().await.unwrap(), Some(text));
    }
    small.close(Some(1000), "").await.unwrap();
    // The first two finish their messages and get them back whole; then
    // nothing stays charged.
    tokio::task::spawn_blocking(move || {
        for mut stream in holders {
            common::finish_unfinished(&mut stream, PARTIAL);
        }
    })
    .await
    .unwrap();
    let held = settles(&server, |held| held == 0).await;
    assert_eq!(held, 0, "charged after every connection is idle or gone");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_async_client_goes_through_an_http_connect_proxy() {
    let server = async_echo_server(local_options()).await;
    let target = server.local_addr();
    let url = format!("ws://{target}/");
    let (proxy_addr, requests) = common::test_proxy("HTTP/1.1 200 Connection established\r\n\r\n");
    let proxy = hybi::url::Url::parse(&format!("http://user:p%40ss@{proxy_addr}")).unwrap();
    let options = ConnectOptions { proxy: hybi::Proxy::Url(proxy), ..client_options(Protocol::Rfc6455) };
    let mut ws = connect(&url, options).await.unwrap();
    let message = hybi::Message::Text("through the tunnel".into());
    ws.send(&message).await.unwrap();
    assert_eq!(ws.recv().await.unwrap(), Some(message));
    ws.close(Some(1000), "").await.unwrap();
    let head = requests.recv_timeout(Duration::from_secs(5)).unwrap();
    assert!(head.starts_with(&format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n")), "{head}");
    // user:p@ss in base64.
    assert!(head.contains("Proxy-Authorization: Basic dXNlcjpwQHNz\r\n"), "{head}");

    // A proxy that refuses: a proxy error naming its answer.
    let (proxy_addr, _) =
        common::test_proxy("HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n");
    let proxy = hybi::url::Url::parse(&format!("http://{proxy_addr}")).unwrap();
    let options = ConnectOptions { proxy: hybi::Proxy::Url(proxy), ..client_options(Protocol::Rfc6455) };
    let error = match connect(&url, options).await {
        Ok(_) => panic!("connected through a proxy that answered 407"),
        Err(error) => error,
    };
    assert_eq!(error.kind(), hybi::ErrorKind::Proxy);
    assert!(error.to_string().contains("407"), "{error}");
    server.stop().await;
}
