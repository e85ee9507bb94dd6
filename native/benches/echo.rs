//! Echo over loopback, hybi against tungstenite in the same run: each
//! library's client drives its own thread-per-connection echo server with
//! the same load (RFC 6455, binary messages, up to 32 in flight per
//! connection). Then the memory of 1,000 idle connections on a `hybi serve`
//! process.
//!
//! Two ways of writing, each a row:
//! - `send`: every message is its own write (and flush), on both sides of
//!   both libraries: hybi's `send`, tungstenite's `send`. Like for like.
//! - `queued`: each library's way of writing many messages at once. The
//!   clients write a window of messages with one flush (hybi's `queue` then
//!   `recv`, which writes before it waits; tungstenite's `write` then
//!   `flush`). The servers echo as they read: hybi's `queue`, which leaves
//!   the write to `recv` once it has no more buffered input to return;
//!   tungstenite's `send`, because its API cannot tell whether the next
//!   `read` will block (a `write` without a flush would leave the echo
//!   waiting on the client while the client waits on it).
//!
//! `cargo bench -p hybi --bench echo` (add `-- --quick` for a short run,
//! `-- --test` for a smoke run without the memory figure). `ECHO_ONLY=hybi`
//! or `ECHO_ONLY=tungstenite` and `ECHO_LOAD=0|1|2` narrow it for
//! profiling.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use hybi::{connect_with, serve, ConnectOptions, Message, Protocol, Proxy, ServeOptions};

struct Load {
    name: &'static str,
    connections: usize,
    size: usize,
    messages: usize,
}

/// Messages a client sends before it reads their echoes: up to 32, and at
/// most 1 MiB. A client that writes more than the two sockets' buffers hold
/// before it reads blocks while the server blocks writing the echoes back,
/// until the kernel grows the buffers: with two 4 MiB messages in flight
/// the same library measured 140 or 280 messages/s from run to run. So a
/// 4 MiB message is one request, one answer.
fn window(size: usize) -> usize {
    (1024 * 1024 / size).clamp(1, 32)
}

#[derive(Clone, Copy, PartialEq)]
enum Writes {
    /// One write per message.
    Send,
    /// Many messages per write.
    Queued,
}

fn hybi_server(writes: Writes) -> hybi::ServerHandle {
    serve(
        move |conn, ()| {
            while let Ok(Some(message)) = conn.recv() {
                let echoed = match writes {
                    Writes::Send => conn.send(&message),
                    Writes::Queued => conn.queue(&message),
                };
                if echoed.is_err() {
                    break;
                }
            }
        },
        ServeOptions {
            port: 0,
            listen_ip: Some([127, 0, 0, 1].into()),
            max_waiting: 128,
            ..ServeOptions::default()
        },
    )
    .expect("hybi server")
}

fn hybi_client(addr: SocketAddr, load: &Load, writes: Writes) {
    let options =
        ConnectOptions { proxy: Proxy::None, ..ConnectOptions::default() }.protocol(Protocol::Rfc6455);
    let conn = connect_with(&format!("ws://{addr}/"), options).expect("hybi connects");
    let payload = vec![0x5a; load.size];
    let window = window(load.size);
    let mut sent = 0;
    while sent < load.messages {
        let batch = window.min(load.messages - sent);
        for _ in 0..batch {
            match writes {
                Writes::Send => conn.send_binary(&payload).unwrap(),
                // Written by the first `recv` below.
                Writes::Queued => conn.queue_binary(&payload).unwrap(),
            }
        }
        for _ in 0..batch {
            match conn.recv().unwrap() {
                Some(Message::Binary(data)) => assert_eq!(data.len(), load.size),
                other => panic!("unexpected {other:?}"),
            }
        }
        sent += batch;
    }
    conn.close().unwrap();
}

fn tungstenite_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            thread::spawn(move || {
                stream.set_nodelay(true).unwrap();
                let Ok(mut ws) = tungstenite::accept(stream) else { return };
                while let Ok(message) = ws.read() {
                    if (message.is_binary() || message.is_text()) && ws.send(message).is_err() {
                        break;
                    }
                }
            });
        }
    });
    addr
}

fn tungstenite_client(addr: SocketAddr, load: &Load, writes: Writes) {
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_nodelay(true).unwrap();
    let (mut ws, _) = tungstenite::client(format!("ws://{addr}/"), stream).expect("tungstenite connects");
    let payload = tungstenite::Bytes::from(vec![0x5a; load.size]);
    let window = window(load.size);
    let mut sent = 0;
    while sent < load.messages {
        let batch = window.min(load.messages - sent);
        for _ in 0..batch {
            let message = tungstenite::Message::Binary(payload.clone());
            match writes {
                // Write and flush, as hybi's `send_binary` does.
                Writes::Send => ws.send(message).unwrap(),
                Writes::Queued => ws.write(message).unwrap(),
            }
        }
        if writes == Writes::Queued {
            ws.flush().unwrap();
        }
        let mut got = 0;
        while got < batch {
            if let tungstenite::Message::Binary(data) = ws.read().unwrap() {
                assert_eq!(data.len(), load.size);
                got += 1;
            }
        }
        sent += batch;
    }
    let _ = ws.close(None);
    while ws.read().is_ok() {}
}

/// Messages echoed per second under `load`.
fn run(load: &Load, writes: Writes, addr: SocketAddr, client: fn(SocketAddr, &Load, Writes)) -> f64 {
    let start = Instant::now();
    thread::scope(|scope| {
        for _ in 0..load.connections {
            scope.spawn(|| client(addr, load, writes));
        }
    });
    (load.connections * load.messages) as f64 / start.elapsed().as_secs_f64()
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// RSS of a `hybi serve` process per idle connection, with 1,000 open.
fn idle_memory() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hybi"))
        // All 1,001 connections come from 127.0.0.1: lift the per-address
        // cap (64 by default) to the connection cap.
        .args(["serve", "--port", "0", "--max-per-ip", "1024"])
        .stderr(Stdio::piped())
        .spawn()
        .expect("hybi serve");
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    let addr =
        line.trim().strip_prefix("listening on ").unwrap().split_whitespace().next().unwrap().to_string();
    // Keep draining the log so the server never blocks on it.
    thread::spawn(move || for _ in stderr.lines() {});
    let url = format!("ws://{addr}/");
    // Warm up: one connection, so one-time allocations are not counted.
    let options =
        || ConnectOptions { proxy: Proxy::None, ..ConnectOptions::default() }.protocol(Protocol::Rfc6455);
    let first = connect_with(&url, options()).unwrap();
    first.send_text("warm").unwrap();
    first.recv().unwrap();
    thread::sleep(Duration::from_millis(200));
    let before = rss_kib(child.id());
    let conns: Vec<_> = (0..1000)
        .map(|_| {
            let conn = connect_with(&url, options()).unwrap();
            conn.send_text("hello").unwrap();
            conn.recv().unwrap();
            conn
        })
        .collect();
    thread::sleep(Duration::from_millis(500));
    let after = rss_kib(child.id());
    println!(
        "idle connections: 1000 open, server RSS {before} KiB -> {after} KiB, {:.1} KiB per connection",
        after.saturating_sub(before) as f64 / 1000.0
    );
    drop(conns);
    let _ = child.kill();
    let _ = child.wait();
}

fn main() {
    // `--test` (as `cargo bench -- --test` passes) runs each load once,
    // briefly, to show the benchmark works; `--quick` is the same plus the
    // idle-memory figure.
    let smoke = std::env::args().any(|a| a == "--test");
    let quick = smoke || std::env::args().any(|a| a == "--quick");
    let scale = if quick { 20 } else { 1 };
    let loads = [
        Load { name: "4 x 16 B", connections: 4, size: 16, messages: 100_000 / scale },
        Load { name: "4 x 16 KiB", connections: 4, size: 16 * 1024, messages: 20_000 / scale },
        Load { name: "2 x 4 MiB", connections: 2, size: 4 * 1024 * 1024, messages: (100 / scale).max(2) },
    ];
    // `ECHO_ONLY=hybi` or `=tungstenite` runs one side (for profiling),
    // `ECHO_WRITES=send` or `=queued` one way of writing.
    let only = std::env::var("ECHO_ONLY").unwrap_or_default();
    let only_writes = std::env::var("ECHO_WRITES").unwrap_or_default();
    // `ECHO_LOAD=1` runs the second load only, and so on.
    let pick = std::env::var("ECHO_LOAD").ok().and_then(|v| v.parse::<usize>().ok());
    let tung = tungstenite_server();
    println!("{:<12} {:<7} {:>12} {:>12} {:>7}", "load", "writes", "hybi msg/s", "tungstenite", "ratio");
    for (i, load) in loads.iter().enumerate() {
        if pick.is_some_and(|p| p != i) {
            continue;
        }
        for (writes, name) in [(Writes::Send, "send"), (Writes::Queued, "queued")] {
            if !only_writes.is_empty() && only_writes != name {
                continue;
            }
            let hybi = hybi_server(writes);
            // Alternate, best of three each, so neither gets a warmer
            // machine.
            let (mut best_h, mut best_t) = (0f64, 0f64);
            for _ in 0..if quick { 1 } else { 3 } {
                if only != "tungstenite" {
                    best_h = best_h.max(run(load, writes, hybi.local_addr(), hybi_client));
                }
                if only != "hybi" {
                    best_t = best_t.max(run(load, writes, tung, tungstenite_client));
                }
            }
            hybi.stop();
            println!(
                "{:<12} {:<7} {:>12.0} {:>12.0} {:>6.2}x",
                load.name,
                name,
                best_h,
                best_t,
                best_h / best_t
            );
        }
    }
    if only.is_empty() && !smoke {
        idle_memory();
    }
}
