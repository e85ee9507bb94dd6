//! The load client: plain tokio sockets, a fixed opening handshake, frames
//! built once per load, echoes checked byte for byte as they arrive. It
//! parses only what an echo server may send back to a binary message: one
//! unmasked binary frame, or a binary frame and continuations.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinSet;

pub struct Load {
    pub connections: usize,
    pub size: usize,
    /// Messages per connection.
    pub messages: usize,
}

/// Messages one connection keeps in flight: up to 32, and at most 1 MiB
/// (a client that writes far more than the sockets' buffers hold before it
/// reads would only measure how the kernel grows them).
fn window(size: usize) -> usize {
    (1024 * 1024 / size).clamp(1, 32)
}

/// Connections opened at once: tokio's listener backlog is 1,024.
const OPENING: usize = 500;

const REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
    Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

/// Opens `count` WebSocket connections to `addr` (the handshake done).
pub async fn open_all(addr: SocketAddr, count: usize) -> Vec<TcpStream> {
    let mut conns = Vec::with_capacity(count);
    while conns.len() < count {
        let mut set = JoinSet::new();
        for _ in 0..OPENING.min(count - conns.len()) {
            set.spawn(open(addr));
        }
        while let Some(conn) = set.join_next().await {
            conns.push(conn.unwrap());
        }
    }
    conns
}

async fn open(addr: SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.set_nodelay(true).unwrap();
    stream.write_all(REQUEST).await.unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 256];
    while !head.ends_with(b"\r\n\r\n") {
        // The server sends nothing after its response until we do, so
        // reading past its end cannot happen; byte by byte keeps that
        // obvious at no cost that is timed.
        let n = stream.read(&mut byte[..1]).await.unwrap();
        assert!(n == 1, "the server closed during the handshake");
        head.push(byte[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101"), "refused: {}", String::from_utf8_lossy(&head));
    stream
}

/// The payload of every message of a load: bytes that differ from one
/// offset to the next, so a shifted or mixed echo shows.
fn payload(size: usize) -> Vec<u8> {
    (0..size).map(|i| (i * 31 % 251) as u8).collect()
}

/// One masked binary frame carrying `payload`.
fn masked_frame(payload: &[u8]) -> Vec<u8> {
    const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];
    let mut frame = vec![0x82];
    match payload.len() {
        n if n < 126 => frame.push(0x80 | n as u8),
        n if n < 1 << 16 => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            frame.push(0x80 | 127);
            frame.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(&KEY);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ KEY[i % 4]));
    frame
}

/// Reads echoes, checking them against the payload sent.
struct Echoes {
    stream: TcpStream,
    buf: Box<[u8]>,
    start: usize,
    end: usize,
}

impl Echoes {
    fn new(stream: TcpStream, buffer: usize) -> Echoes {
        Echoes { stream, buf: vec![0; buffer].into_boxed_slice(), start: 0, end: 0 }
    }

    /// At least `n` bytes buffered (n ≤ 14).
    async fn want(&mut self, n: usize) {
        while self.end - self.start < n {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            let got = self.stream.read(&mut self.buf[self.end..]).await.expect("read");
            assert!(got > 0, "the server closed mid-load");
            self.end += got;
        }
    }

    /// One echoed message, compared with `expected` as it arrives.
    async fn expect(&mut self, expected: &[u8]) {
        let mut at = 0;
        let mut first = true;
        loop {
            self.want(2).await;
            let (b0, b1) = (self.buf[self.start], self.buf[self.start + 1]);
            let opcode = b0 & 0x0f;
            assert_eq!(opcode, if first { 2 } else { 0 }, "an echo's frame: {b0:#x}");
            assert_eq!(b1 & 0x80, 0, "a server's frame is not masked");
            let (len, head) = match b1 & 0x7f {
                126 => {
                    self.want(4).await;
                    let s = self.start;
                    (u16::from_be_bytes([self.buf[s + 2], self.buf[s + 3]]) as usize, 4)
                }
                127 => {
                    self.want(10).await;
                    let s = self.start;
                    (u64::from_be_bytes(self.buf[s + 2..s + 10].try_into().unwrap()) as usize, 10)
                }
                n => (n as usize, 2),
            };
            self.start += head;
            assert!(at + len <= expected.len(), "an echo longer than the message");
            let mut left = len;
            while left > 0 {
                if self.start == self.end {
                    self.want(1).await;
                }
                let n = left.min(self.end - self.start);
                assert!(
                    self.buf[self.start..self.start + n] == expected[at..at + n],
                    "an echo's bytes differ"
                );
                self.start += n;
                at += n;
                left -= n;
            }
            first = false;
            if b0 & 0x80 != 0 {
                break;
            }
        }
        assert_eq!(at, expected.len(), "an echo shorter than the message");
    }
}

/// Runs `load` on every connection at once; the time from the first write
/// to the last echo checked.
pub async fn echo_all(conns: Vec<TcpStream>, load: &Load) -> Duration {
    let expected: &'static [u8] = payload(load.size).leak();
    let window = window(load.size);
    let batch: &'static [u8] = masked_frame(expected).repeat(window).leak();
    let frame_len = batch.len() / window;
    let messages = load.messages;
    let started = Instant::now();
    let mut set = JoinSet::new();
    for stream in conns {
        set.spawn(async move {
            let mut echoes = Echoes::new(stream, 64 * 1024);
            let mut sent = 0;
            while sent < messages {
                let n = window.min(messages - sent);
                echoes.stream.write_all(&batch[..n * frame_len]).await.expect("write");
                for _ in 0..n {
                    echoes.expect(expected).await;
                }
                sent += n;
            }
        });
    }
    while let Some(done) = set.join_next().await {
        done.expect("a connection's load");
    }
    started.elapsed()
}

/// One message in flight per connection, `load.messages` times each: every
/// round trip's time.
pub async fn round_trips(conns: Vec<TcpStream>, load: &Load) -> Vec<Duration> {
    let expected: &'static [u8] = payload(load.size).leak();
    let frame: &'static [u8] = masked_frame(expected).leak();
    let messages = load.messages;
    let mut set = JoinSet::new();
    for stream in conns {
        set.spawn(async move {
            let mut echoes = Echoes::new(stream, 64 * 1024);
            let mut times = Vec::with_capacity(messages);
            for _ in 0..messages {
                let started = Instant::now();
                echoes.stream.write_all(frame).await.expect("write");
                echoes.expect(expected).await;
                times.push(started.elapsed());
            }
            times
        });
    }
    let mut all = Vec::new();
    while let Some(times) = set.join_next().await {
        all.extend(times.expect("a connection's round trips"));
    }
    all
}

/// One 16 B echo on every connection; the connections, kept open.
pub async fn echo_once(conns: Vec<TcpStream>) -> Vec<TcpStream> {
    let expected: &'static [u8] = payload(16).leak();
    let frame: &'static [u8] = masked_frame(expected).leak();
    let mut kept = Vec::with_capacity(conns.len());
    let mut set = JoinSet::new();
    for stream in conns {
        set.spawn(async move {
            let mut echoes = Echoes::new(stream, 64);
            echoes.stream.write_all(frame).await.expect("write");
            echoes.expect(expected).await;
            echoes.stream
        });
    }
    while let Some(stream) = set.join_next().await {
        kept.push(stream.expect("an echo"));
    }
    kept
}
