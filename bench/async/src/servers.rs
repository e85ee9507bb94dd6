//! The three echo servers, each in its usual shape: a
//! `tokio::net::TcpListener` accept loop spawning one task per connection
//! on tokio's multi-threaded runtime, echoing text and binary messages.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Serves `kind` on 127.0.0.1 (a free port, printed as `listening on
/// ADDR`) until killed.
pub fn run(kind: &str) {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        println!("listening on {}", listener.local_addr().unwrap());
        if kind == "hybi-serve" {
            return hybi_serve(listener).await;
        }
        loop {
            let (stream, _) = listener.accept().await.expect("accept");
            stream.set_nodelay(true).unwrap();
            match kind {
                "hybi" => tokio::spawn(hybi(stream)),
                "tungstenite" => tokio::spawn(tungstenite(stream)),
                "fastws" => tokio::spawn(fastws(stream)),
                other => panic!("no server {other:?}: hybi, hybi-serve, tungstenite or fastws"),
            };
        }
    });
}

/// hybi's async driver with its defaults. Each echo is fed to its `Sink`
/// (queued, not flushed: the next `recv` writes everything queued before
/// it waits for input, so the echoes of all that one read brought leave in
/// one write; a large message goes out from its own buffer).
async fn hybi(stream: TcpStream) {
    use futures_util::SinkExt;
    let Ok(mut ws) = hybi::tokio::accept(stream, hybi::core::Config::default()).await else { return };
    while let Ok(Some(message)) = ws.recv().await {
        if ws.feed(message).await.is_err() {
            break;
        }
    }
}

/// `hybi::tokio::serve` (`--only hybi-serve`, not in the default run):
/// the server API with its defaults, among them a 256 MiB memory budget
/// (a large message moves into a recycled buffer only once its capacity
/// is reserved from it); only the connection caps are raised to the
/// bench's load (10,000 from one address). The same echo loop as
/// [`hybi`].
async fn hybi_serve(listener: TcpListener) {
    use futures_util::SinkExt;
    let options = hybi::ServeOptions {
        max_connections: 20_000,
        max_connections_per_ip: 20_000,
        ..hybi::ServeOptions::default()
    };
    let handler = |mut ws: hybi::tokio::WebSocket<hybi::tokio::MaybeTls>, ()| async move {
        while let Ok(Some(message)) = ws.recv().await {
            if ws.feed(message).await.is_err() {
                break;
            }
        }
    };
    let server = hybi::tokio::serve(listener, handler, options).await.expect("serve");
    server.wait().await;
}

/// tokio-tungstenite with its defaults, as its own echo-server example
/// has it: the stream of data messages forwarded into the sink, which
/// flushes whenever the stream has nothing ready.
async fn tungstenite(stream: TcpStream) {
    use futures_util::{future, StreamExt, TryStreamExt};
    let Ok(ws) = tokio_tungstenite::accept_async(stream).await else { return };
    let (write, read) = ws.split();
    let _ = read.try_filter(|m| future::ready(m.is_text() || m.is_binary())).forward(write).await;
}

/// fastwebsockets with its defaults (automatic close and pong answers,
/// vectored writes, unmasked as a server) and its `FragmentCollector`, so
/// that it hands out whole messages as the other two do. Each echo is one
/// write; it has no way to queue. The opening handshake is done here, on
/// the plain socket (its `upgrade` feature would bring hyper in for it).
async fn fastws(mut stream: TcpStream) {
    use fastwebsockets::{FragmentCollector, OpCode, Role, WebSocket};
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte).await {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    let head = String::from_utf8_lossy(&head);
    let Some(key) = head.lines().find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.eq_ignore_ascii_case("sec-websocket-key").then(|| value.trim())
    }) else {
        return;
    };
    let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {accept}\r\n\r\n"
    );
    if stream.write_all(response.as_bytes()).await.is_err() {
        return;
    }
    let mut ws = FragmentCollector::new(WebSocket::after_handshake(stream, Role::Server));
    while let Ok(frame) = ws.read_frame().await {
        let data = matches!(frame.opcode, OpCode::Text | OpCode::Binary);
        if frame.opcode == OpCode::Close || data && ws.write_frame(frame).await.is_err() {
            break;
        }
    }
}
