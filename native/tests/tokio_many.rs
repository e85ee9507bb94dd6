//! Ten thousand concurrent connections to one async server on loopback:
//! a `tokio::net::TcpListener` accept loop spawning a task per connection
//! that runs `hybi::tokio::accept`. Every connection echoes messages,
//! each checked byte for byte, none lost; then the server stops with all
//! of them open, and every client sees its close, 1001 (going away).
//!
//! The stop is the test's own (each connection's task is told to close
//! with 1001 through the driver's `close`), standing in for a graceful
//! stop of an async `serve`.
#![cfg(all(feature = "tokio", unix))]

use std::io::{BufRead, BufReader};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hybi::core::{ClientRequest, Config, Target};
use hybi::Message;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

const CONNECTIONS: usize = 10_000;

/// Connections opened at once: the listener's backlog is 1,024, and a
/// SYN over it would wait a second for its retry.
const OPENING: usize = 500;

/// The messages connection `c` sends: binary and text, of sizes around
/// the 7-bit and 16-bit length encodings' edges, bytes that depend on
/// the connection, so an echo sent to the wrong one shows.
fn messages(c: usize) -> Vec<Message> {
    let bytes = |len: usize, salt: usize| (0..len).map(|i| ((i * 31 + c * 7 + salt) % 251) as u8).collect();
    vec![
        Message::Binary(bytes(16, 1)),
        Message::Text(format!("connection {c}: {}", "é".repeat(c % 100))),
        Message::Binary(bytes(126 + c % 64, 2)),
        // One connection in 50 also sends a message longer than 64 KiB.
        Message::Binary(bytes(if c.is_multiple_of(50) { 70_000 } else { 1000 }, 3)),
    ]
}

/// Lifts the descriptor limit to what one end of every connection needs.
fn raise_fd_limit(needed: u64) {
    // SAFETY: getrlimit/setrlimit only read and write the struct given.
    let (soft, hard) = unsafe {
        let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
        if limit.rlim_cur < needed {
            // Raising the hard limit needs privilege (CI runs as root);
            // without it, the soft limit goes as far as the hard one.
            let wanted = libc::rlimit { rlim_cur: needed, rlim_max: limit.rlim_max.max(needed) };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &wanted) != 0 {
                limit.rlim_cur = limit.rlim_max;
                libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
            }
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
        }
        (limit.rlim_cur, limit.rlim_max)
    };
    assert!(
        soft >= needed,
        "{needed} descriptors needed, the limit is {soft} (hard {hard}): run as root or raise it"
    );
}

/// What the server's side saw.
#[derive(Default)]
struct Counts {
    /// Connections open now (accepted and not yet ended).
    open: AtomicUsize,
    /// Messages echoed.
    echoed: AtomicUsize,
    /// Connections that closed with 1001 and saw the close answered.
    went_away: AtomicUsize,
}

/// One connection's task: echo until the stop, then close with 1001 and
/// wait for the answer.
async fn serve_one(stream: TcpStream, mut stop: watch::Receiver<bool>, counts: Arc<Counts>) {
    let mut ws = hybi::tokio::accept(stream, Config::default()).await.expect("accept");
    counts.open.fetch_add(1, Ordering::SeqCst);
    loop {
        tokio::select! {
            // `recv` is cancel-safe: a message half read when the stop
            // comes stays in the connection.
            message = ws.recv() => match message {
                Ok(Some(message)) => {
                    ws.queue(&message).expect("queue the echo");
                    counts.echoed.fetch_add(1, Ordering::SeqCst);
                }
                other => panic!("the connection ended before the stop: {other:?}"),
            },
            _ = stop.changed() => {
                ws.close(Some(1001), "server stopping").await.expect("the client answers the close");
                counts.went_away.fetch_add(1, Ordering::SeqCst);
                break;
            }
        }
    }
    counts.open.fetch_sub(1, Ordering::SeqCst);
}

async fn open(addr: std::net::SocketAddr) -> hybi::tokio::WebSocket<TcpStream> {
    let stream = TcpStream::connect(addr).await.expect("connect");
    let target = Target { host: addr.to_string(), port: None, resource: "/".into(), secure: false };
    hybi::tokio::client(stream, ClientRequest::new(target), Config::default()).await.expect("handshake")
}

/// Set in the child process that runs the clients, to the server's
/// address.
const CLIENTS_OF: &str = "HYBI_TEST_CLIENTS_OF";

/// The server in this process, the clients in a child process (this test
/// binary again, running this test with [`CLIENTS_OF`] set): a process's
/// descriptor limit may not hold both ends of 10,000 connections (it is
/// 20,000 on the project's machines, and raising the hard limit needs a
/// privilege containers drop).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_connections_echo_then_the_server_stops_with_all_open() {
    raise_fd_limit(CONNECTIONS as u64 + 1000);
    if let Ok(addr) = std::env::var(CLIENTS_OF) {
        return clients(addr.parse().unwrap()).await;
    }
    let started = Instant::now();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = watch::channel(false);
    let counts = Arc::new(Counts::default());
    let server = {
        let counts = counts.clone();
        let mut stopped = stopped.clone();
        tokio::spawn(async move {
            let mut connections = JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        let (stream, _) = accepted.expect("accept");
                        connections.spawn(serve_one(stream, stopped.clone(), counts.clone()));
                    }
                    _ = stopped.changed() => break,
                }
            }
            // The listener is closed; every connection's task ends.
            drop(listener);
            while let Some(ended) = connections.join_next().await {
                ended.expect("a connection's task");
            }
        })
    };

    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["ten_thousand_connections_echo_then_the_server_stops_with_all_open", "--exact", "--nocapture"])
        .env(CLIENTS_OF, addr.to_string())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("the clients' process");
    // Its lines, from a thread (std's pipe blocks).
    let (line_tx, mut lines) = tokio::sync::mpsc::unbounded_channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let _ = line_tx.send(line.unwrap());
        }
    });
    let mut report = async |what: &str| loop {
        let line = tokio::time::timeout(Duration::from_secs(120), lines.recv())
            .await
            .unwrap_or_else(|_| panic!("no '{what}' from the clients within 2 minutes"))
            .unwrap_or_else(|| panic!("the clients ended before '{what}'"));
        if let Some(n) = line.strip_prefix(what) {
            break n.trim().parse::<usize>().unwrap();
        }
    };

    let expected: usize = (0..CONNECTIONS).map(|c| messages(c).len()).sum();
    assert_eq!(report("echoes checked:").await, expected, "echoes checked by the clients");
    let echoed = started.elapsed();
    assert_eq!(counts.echoed.load(Ordering::SeqCst), expected, "echoes sent by the server");
    assert_eq!(counts.open.load(Ordering::SeqCst), CONNECTIONS, "all open when the server stops");

    stop.send(true).unwrap();
    assert_eq!(report("closed with 1001:").await, CONNECTIONS, "closes seen by the clients");
    tokio::time::timeout(Duration::from_secs(60), server)
        .await
        .expect("the server ends within a minute of its stop")
        .expect("the server");
    assert!(child.wait().unwrap().success(), "the clients' process failed");
    assert_eq!(counts.went_away.load(Ordering::SeqCst), CONNECTIONS);
    assert_eq!(counts.open.load(Ordering::SeqCst), 0);
    eprintln!(
        "{CONNECTIONS} connections: {expected} echoes checked by {echoed:?}, all closed with 1001 by {:?}",
        started.elapsed()
    );
}

/// The clients' side: every connection opens before any echoes (so all
/// are open at once); each sends its messages, checks their echoes, and
/// waits for the server's close. Reports on stdout.
async fn clients(addr: std::net::SocketAddr) {
    let mut conns = Vec::with_capacity(CONNECTIONS);
    while conns.len() < CONNECTIONS {
        let mut opening = JoinSet::new();
        for _ in 0..OPENING.min(CONNECTIONS - conns.len()) {
            opening.spawn(open(addr));
        }
        while let Some(ws) = opening.join_next().await {
            conns.push(ws.unwrap());
        }
    }
    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel();
    let mut clients = JoinSet::new();
    for (c, mut ws) in conns.into_iter().enumerate() {
        let done = done_tx.clone();
        clients.spawn(async move {
            let sent = messages(c);
            for message in &sent {
                ws.queue(message).unwrap();
            }
            ws.flush().await.unwrap();
            for (i, message) in sent.iter().enumerate() {
                let back = ws.recv().await.unwrap_or_else(|e| panic!("connection {c}, echo {i}: {e}"));
                assert!(back.as_ref() == Some(message), "connection {c}: echo {i} differs");
            }
            done.send(sent.len()).unwrap();
            // The server's close: the clean end, then the end forever.
            assert_eq!(ws.recv().await.unwrap(), None, "connection {c}: only the close is left");
            let close = ws.close_status().cloned();
            assert_eq!(close.as_ref().and_then(|c| c.code), Some(1001), "connection {c}: {close:?}");
            assert_eq!(ws.recv().await.unwrap(), None);
        });
    }
    drop(done_tx);
    let mut echoes = 0;
    for _ in 0..CONNECTIONS {
        echoes += done_rx.recv().await.expect("every client reports");
    }
    println!("echoes checked: {echoes}");
    let mut closed = 0;
    while let Some(client) = clients.join_next().await {
        client.expect("a client");
        closed += 1;
    }
    println!("closed with 1001: {closed}");
}
