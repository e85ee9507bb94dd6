//! The async driver (`hybi::tokio`, feature `tokio`): against itself over an
//! in-memory duplex, and against the blocking driver over loopback, both
//! roles, every protocol; recv futures dropped mid-wait lose nothing; the
//! closing model of the core (answers before the failing close) holds
//! through it.
#![cfg(feature = "tokio")]

mod common;

use std::time::Duration;

use common::{
    client_options, echo_server, local_options, messages, request, server_config, setups, ALL_PROTOCOLS,
};
use hybi::core::Config;
use hybi::tokio::{accept, client, WebSocket};
use hybi::{Framing, Message, Protocol};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

async fn echo<S: AsyncRead + AsyncWrite + Unpin>(mut ws: WebSocket<S>) {
    while let Ok(Some(message)) = ws.recv().await {
        ws.send(&message).await.expect("echo");
    }
}

async fn check_echoes<S: AsyncRead + AsyncWrite + Unpin>(ws: &mut WebSocket<S>, rfc6455: bool, name: &str) {
    for message in messages(rfc6455) {
        ws.send(&message).await.unwrap_or_else(|e| panic!("{name}: send: {e}"));
        let back = ws.recv().await.unwrap_or_else(|e| panic!("{name}: recv: {e}"));
        assert!(
            back.as_ref() == Some(&message),
            "{name}: a {} byte message came back changed",
            message.as_bytes().len()
        );
    }
}

#[tokio::test]
async fn async_client_and_server_over_a_duplex() {
    for (name, config) in setups() {
        let (a, b) = tokio::io::duplex(64 * 1024);
        let server_config = server_config(&config);
        let server = tokio::spawn(async move { echo(accept(b, server_config).await.expect("accept")).await });
        let mut ws = client(a, request("example.com"), config.clone()).await.expect("client");
        let rfc6455 = config.protocol == Protocol::Rfc6455;
        check_echoes(&mut ws, rfc6455, name).await;
        ws.close(rfc6455.then_some(1000), "").await.unwrap_or_else(|e| panic!("{name}: close: {e}"));
        assert_eq!(ws.recv().await.unwrap(), None, "{name}: the end, and forever after");
        server.await.unwrap();
    }
}

#[tokio::test]
async fn async_client_against_the_blocking_server() {
    let server = echo_server(local_options());
    let addr = server.local_addr();
    for (name, config) in setups().into_iter().filter(|(_, c)| c.protocol != Protocol::Draft76(Framing::New))
    {
        let stream = TcpStream::connect(addr).await.unwrap();
        let mut ws = client(stream, request(&addr.to_string()), config.clone()).await.expect("client");
        let rfc6455 = config.protocol == Protocol::Rfc6455;
        check_echoes(&mut ws, rfc6455, name).await;
        ws.close(None, "").await.unwrap_or_else(|e| panic!("{name}: close: {e}"));
    }
    server.stop();
}

#[tokio::test]
async fn blocking_client_against_the_async_server() {
    for protocol in ALL_PROTOCOLS {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let config = server_config(&Config { protocol, ..Config::default() });
        let server = tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            echo(accept(stream, config).await.expect("accept")).await;
        });
        let url = format!("ws://{addr}/echo");
        let client = tokio::task::spawn_blocking(move || {
            let conn = hybi::connect_with(&url, client_options(protocol)).expect("connect");
            for message in messages(protocol == Protocol::Rfc6455) {
                conn.send(&message).unwrap();
                assert_eq!(conn.recv().unwrap().as_ref(), Some(&message), "{protocol:?}");
            }
            conn.close().unwrap();
        });
        client.await.unwrap();
        server.await.unwrap();
    }
}

/// `recv` futures dropped at their await point, hundreds of times, while
/// messages arrive in pieces: every message comes out once, in order.
#[tokio::test]
async fn dropped_recv_futures_lose_nothing() {
    let (a, b) = tokio::io::duplex(256);
    let config = Config { protocol: Protocol::Rfc6455, ..Config::default() };
    let server_config = server_config(&config);
    let sender = tokio::spawn(async move {
        let mut ws = accept(b, server_config).await.expect("accept");
        for i in 0..500u32 {
            ws.send(&Message::Text(format!("message {i} {}", "x".repeat(i as usize % 700)))).await.unwrap();
            if i % 50 == 0 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        ws.close(Some(1000), "done").await.unwrap();
    });
    let mut ws = client(a, request("example.com"), config).await.expect("client");
    let (mut got, mut dropped) = (0u32, 0u32);
    loop {
        match tokio::time::timeout(Duration::from_micros(20), ws.recv()).await {
            Err(_) => dropped += 1,
            Ok(Ok(Some(Message::Text(text)))) => {
                let expected = format!("message {got} {}", "x".repeat(got as usize % 700));
                assert_eq!(text, expected, "message {got} after {dropped} dropped futures");
                got += 1;
            }
            Ok(Ok(None)) => break,
            Ok(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(got, 500);
    assert!(dropped > 0, "the test dropped no future: it proves nothing");
    assert_eq!(ws.close_status().and_then(|c| c.code), Some(1000));
    sender.await.unwrap();
}

/// A valid message and a bad frame in one segment: the async echo server
/// echoes the message, then closes with 1002 (the core's closing model,
/// which this driver only follows).
#[tokio::test]
async fn answers_go_before_the_failing_close() {
    let (mut raw, b) = tokio::io::duplex(4096);
    let server = tokio::spawn(async move { echo(accept(b, Config::default()).await.expect("accept")).await });
    raw.write_all(
        b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .await
    .unwrap();
    // A masked (zero key) text "valid", then a text frame with RSV1 set.
    raw.write_all(b"\x81\x85\0\0\0\0valid\xc1\x81\0\0\0\0x").await.unwrap();
    let mut back = Vec::new();
    raw.read_to_end(&mut back).await.unwrap();
    let frames = &back[back.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4..];
    assert_eq!(frames, b"\x81\x05valid\x88\x02\x03\xea");
    server.await.unwrap();
}

/// The `Stream` and `Sink` sides, driven by hand (no combinator crate):
/// messages both ways, then `poll_close` closes and the peer's stream ends.
#[tokio::test]
async fn stream_and_sink_carry_messages_and_close() {
    use futures_core::Stream;
    use futures_sink::Sink;
    use std::future::poll_fn;
    use std::pin::Pin;

    let (a, b) = tokio::io::duplex(1024);
    let config = Config { protocol: Protocol::Rfc6455, ..Config::default() };
    let server_config = server_config(&config);
    let server = tokio::spawn(async move {
        let mut ws = accept(b, server_config).await.expect("accept");
        let mut seen = Vec::new();
        while let Some(message) = poll_fn(|cx| Pin::new(&mut ws).poll_next(cx)).await {
            seen.push(message.expect("a message"));
        }
        (seen, ws.close_status().cloned())
    });
    let mut ws = client(a, request("example.com"), config).await.expect("client");
    let sent: Vec<Message> = (0..200).map(|i| Message::Binary(vec![i as u8; i * 37])).collect();
    for message in &sent {
        poll_fn(|cx| Pin::new(&mut ws).poll_ready(cx)).await.unwrap();
        Pin::new(&mut ws).start_send(message.clone()).unwrap();
    }
    poll_fn(|cx| Pin::new(&mut ws).poll_flush(cx)).await.unwrap();
    poll_fn(|cx| Pin::new(&mut ws).poll_close(cx)).await.unwrap();
    let (seen, status) = server.await.unwrap();
    assert_eq!(seen, sent);
    assert_eq!(status.and_then(|c| c.code), Some(1000));
}

/// The core's idle deadline runs on tokio's clock while `recv` waits.
#[tokio::test]
async fn a_silent_peer_meets_the_idle_deadline() {
    let (a, b) = tokio::io::duplex(1024);
    let config = Config { protocol: Protocol::Rfc6455, ..Config::default() };
    let mut idle = server_config(&config);
    idle.timeouts.idle = Some(Duration::from_millis(200));
    let server = tokio::spawn(async move {
        let mut ws = accept(b, idle).await.expect("accept");
        let started = std::time::Instant::now();
        let result = ws.recv().await;
        let waited = started.elapsed();
        // Reported once; then the end, forever.
        assert_eq!(ws.recv().await.unwrap(), None);
        assert_eq!(ws.recv().await.unwrap(), None);
        (result.map_err(|e| e.kind()), waited)
    });
    let mut ws = client(a, request("example.com"), config).await.expect("client");
    // The client reads (the server's close 1001) but never sends.
    assert_eq!(ws.recv().await.unwrap(), None);
    assert_eq!(ws.close_status().and_then(|c| c.code), Some(1001));
    let (result, waited) = server.await.unwrap();
    assert_eq!(result, Err(hybi::ErrorKind::Timeout));
    assert!(waited >= Duration::from_millis(190) && waited < Duration::from_secs(2), "{waited:?}");
}

/// A server's large messages sent through the `Sink` leave from their own
/// buffers, after the header the core frames (no copy into the core):
/// mixed with small ones, in order, whole, over a duplex that takes a few
/// KiB per write (no vectored writes) and over TCP (vectored writes).
#[tokio::test]
async fn large_messages_through_the_sink_arrive_whole_and_in_order() {
    use futures_sink::Sink;
    use std::future::poll_fn;
    use std::pin::Pin;

    async fn send_all<S: AsyncRead + AsyncWrite + Unpin>(mut ws: WebSocket<S>, sent: Vec<Message>) {
        for message in sent {
            poll_fn(|cx| Pin::new(&mut ws).poll_ready(cx)).await.unwrap();
            Pin::new(&mut ws).start_send(message).unwrap();
        }
        poll_fn(|cx| Pin::new(&mut ws).poll_close(cx)).await.unwrap();
    }
    async fn receive_all<S: AsyncRead + AsyncWrite + Unpin>(mut ws: WebSocket<S>) -> Vec<Message> {
        let mut got = Vec::new();
        while let Some(message) = ws.recv().await.expect("a message") {
            got.push(message);
        }
        got
    }

    let bytes = |len: usize, salt: usize| (0..len).map(|i| ((i * 7 + salt) % 251) as u8).collect::<Vec<u8>>();
    let sent = vec![
        Message::Binary(bytes(10, 1)),
        Message::Binary(bytes(70_000, 2)),
        Message::Text("small".into()),
        Message::Text("ünïcode ".repeat(100_000)),
        Message::Binary(bytes(100, 3)),
        Message::Binary(bytes(65_537, 4)),
        Message::Binary(bytes(65_536, 5)),
        Message::Binary(bytes(4096, 6)),
        Message::Binary(bytes(4097, 7)),
        Message::Binary(bytes(3 << 20, 8)),
    ];
    let config = Config { protocol: Protocol::Rfc6455, ..Config::default() };

    let (a, b) = tokio::io::duplex(4096);
    let (theirs, messages) = (server_config(&config), sent.clone());
    let server =
        tokio::spawn(async move { send_all(accept(b, theirs).await.expect("accept"), messages).await });
    let ws = client(a, request("example.com"), config.clone()).await.expect("client");
    assert!(receive_all(ws).await == sent, "over a duplex: the messages differ");
    server.await.unwrap();

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (theirs, messages) = (server_config(&config), sent.clone());
    let server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        send_all(accept(stream, theirs).await.expect("accept"), messages).await
    });
    let stream = TcpStream::connect(addr).await.unwrap();
    let ws = client(stream, request(&addr.to_string()), config).await.expect("client");
    assert!(receive_all(ws).await == sent, "over TCP: the messages differ");
    server.await.unwrap();
}

#[tokio::test]
async fn large_messages_echoed_from_recycled_buffers_arrive_whole() {
    // An echo through the sink writes each large message from its own
    // buffer; the buffer, written, is kept on this (only) thread for the
    // next large message read to move into. Sizes below, at and above the
    // last one's, so that a kept buffer is sometimes too small, sometimes
    // fits, sometimes is more than twice the message.
    use futures_sink::Sink;
    use std::future::poll_fn;
    use std::pin::Pin;

    let sizes = [300_000, 1 << 20, 600_000, (1 << 20) + 1, 2 << 20, 200_000, 150_000, 3 << 20, 1 << 20];
    let message =
        |i: usize, len: usize| Message::Binary((0..len).map(|j| ((j * 13 + i * 101) % 251) as u8).collect());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let config = Config { protocol: Protocol::Rfc6455, ..Config::default() };
    let theirs = server_config(&config);
    let server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let mut ws = accept(stream, theirs).await.expect("accept");
        // Queued, not flushed (`SinkExt::feed`): the next `recv` writes it.
        while let Ok(Some(message)) = ws.recv().await {
            poll_fn(|cx| Pin::new(&mut ws).poll_ready(cx)).await.expect("ready");
            Pin::new(&mut ws).start_send(message).expect("echo");
        }
    });
    let stream = TcpStream::connect(addr).await.unwrap();
    let mut ws = client(stream, request(&addr.to_string()), config).await.expect("client");
    for round in 0..3 {
        for (i, &len) in sizes.iter().enumerate() {
            let sent = message(round * sizes.len() + i, len);
            ws.send(&sent).await.expect("send");
            let back = ws.recv().await.expect("recv").expect("a message");
            assert!(back == sent, "round {round}, {len} bytes: the echo differs");
        }
    }
    ws.close(Some(1000), "").await.expect("close");
    server.await.unwrap();
}
