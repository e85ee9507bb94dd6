//! The server's limits against clients that take more than their share:
//! connections per address, refusals past the limit that come back at once,
//! and one handshake deadline from `accept` that a slow TLS client cannot
//! stretch.

mod common;

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use hybi::{ServeOptions, ServerHandle, Timeouts};

const REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
    Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

/// Waits until the server counts `n` connections (they are counted on its
/// accept thread, a moment after `connect` returns).
fn wait_for_connections(server: &ServerHandle, n: usize) {
    wait_for(Duration::from_secs(5), || server.connections() == n, &format!("{n} connections"));
}

/// Sends an opening request on `stream` and reads the answer's head.
fn ask(stream: &mut TcpStream) -> String {
    stream.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    stream.write_all(REQUEST).unwrap();
    read_http_head(stream)
}

/// A client from `source` that sends the opening request: the answer's head,
/// and how long it took from `connect`.
fn probe(source: [u8; 4], addr: SocketAddr) -> (TcpStream, String, Duration) {
    let start = Instant::now();
    let mut stream = connect_from(source, addr);
    let head = ask(&mut stream);
    (stream, head, start.elapsed())
}

/// Waits for the server to close `stream` (end of stream or a reset; any
/// bytes before it are read and dropped); how long after `start` it did.
/// Fails the test if it is still open at `start + limit`.
fn closed_after(stream: &mut TcpStream, start: Instant, limit: Duration) -> Duration {
    let mut sink = [0u8; 4096];
    loop {
        let left = (start + limit).saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "still open after {limit:?}");
        stream.set_read_timeout(Some(left)).unwrap();
        match stream.read(&mut sink) {
            Ok(0) => return start.elapsed(),
            Ok(_) => {}
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {}
            Err(_) => return start.elapsed(),
        }
    }
}

#[test]
fn one_address_cannot_take_every_slot() {
    let server = echo_server(ServeOptions { max_connections_per_ip: 2, ..local_options() });
    let addr = server.local_addr();
    // Two connections from 127.0.0.1 still in their handshake (they send
    // nothing) hold its two slots.
    let first = connect_from([127, 0, 0, 1], addr);
    let _second = connect_from([127, 0, 0, 1], addr);
    wait_for_connections(&server, 2);

    let (mut third, head, took) = probe([127, 0, 0, 1], addr);
    assert!(head.starts_with("HTTP/1.1 503 "), "{head}");
    assert!(took < Duration::from_millis(500), "the 503 took {took:?}");
    let mut body = String::new();
    third.read_to_string(&mut body).unwrap();
    assert!(body.contains("too many connections from your address"), "{body}");

    // Another address is served as usual.
    let (other, head, _) = probe([127, 0, 0, 2], addr);
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");

    // A connection that ends gives its address's slot back.
    drop(first);
    let deadline = Instant::now() + Duration::from_secs(5);
    let again = loop {
        let (again, head, _) = probe([127, 0, 0, 1], addr);
        if head.starts_with("HTTP/1.1 101 ") {
            break again;
        }
        assert!(head.starts_with("HTTP/1.1 503 ") && Instant::now() < deadline, "{head}");
        thread::sleep(Duration::from_millis(10));
    };
    // Clients that leave, so that `stop` need not wait out the close
    // timeout for their answers.
    drop((other, again));
    server.stop();
}

#[test]
fn refusals_past_the_limit_come_back_at_once() {
    let server = echo_server(ServeOptions { max_connections: 1, ..local_options() });
    let addr = server.local_addr();
    let _holder = connect_from([127, 0, 0, 1], addr);
    wait_for_connections(&server, 1);
    // Probes that stay open after their answer, as a slow or hostile client
    // does: none may delay the next one's answer.
    let mut probes = Vec::new();
    for i in 0..20 {
        let (mut stream, head, took) = probe([127, 0, 0, 2], addr);
        assert!(head.starts_with("HTTP/1.1 503 "), "probe {i}: {head}");
        assert!(took < Duration::from_millis(100), "probe {i}: the 503 took {took:?}");
        // The answer is whole and ends in an orderly close, not a reset.
        let start = Instant::now();
        let mut body = String::new();
        stream.read_to_string(&mut body).unwrap();
        assert!(body.contains("connection limit"), "probe {i}: {body}");
        assert!(
            start.elapsed() < Duration::from_millis(100),
            "probe {i}: the end took {:?}",
            start.elapsed()
        );
        probes.push(stream);
    }
    server.stop();
}

#[cfg(feature = "tls")]
mod tls {
    use std::sync::Arc;

    use hybi::ServerTls;
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, ServerName};

    use super::*;

    fn tls_server(handshake: Duration) -> (ServerHandle, TestPki) {
        let pki = test_pki();
        let options = ServeOptions {
            tls: Some(ServerTls::from_pem(pki.cert_pem.as_bytes(), pki.key_pem.as_bytes()).unwrap()),
            config: hybi::Config {
                timeouts: Timeouts { handshake: Some(handshake), ..Timeouts::default() },
                ..hybi::Config::default()
            },
            ..local_options()
        };
        (echo_server(options), pki)
    }

    /// A rustls client session trusting the test CA.
    fn client_session(pki: &TestPki) -> rustls::ClientConnection {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(CertificateDer::from_pem_slice(pki.ca_pem.as_bytes()).unwrap()).unwrap();
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        rustls::ClientConnection::new(Arc::new(config), ServerName::try_from("localhost").unwrap()).unwrap()
    }

    #[test]
    fn a_client_hello_sent_a_byte_at_a_time_is_cut_at_the_deadline() {
        let (server, pki) = tls_server(Duration::from_millis(500));
        let mut hello = Vec::new();
        client_session(&pki).write_tls(&mut hello).unwrap();
        let start = Instant::now();
        let mut stream = TcpStream::connect(server.local_addr()).unwrap();
        let mut dribble = stream.try_clone().unwrap();
        // A byte every 100 ms: each read's timeout would start again with
        // every byte.
        thread::spawn(move || {
            for byte in hello {
                if dribble.write_all(&[byte]).is_err() {
                    break;
                }
                thread::sleep(Duration::from_millis(100));
            }
        });
        let closed = closed_after(&mut stream, start, Duration::from_secs(3));
        assert!(closed >= Duration::from_millis(400), "closed after {closed:?}");
        assert!(closed < Duration::from_millis(1500), "closed after {closed:?}");
        server.stop();
    }

    #[test]
    fn a_record_header_then_silence_is_cut_at_the_deadline() {
        let (server, _pki) = tls_server(Duration::from_millis(800));
        let start = Instant::now();
        let mut stream = TcpStream::connect(server.local_addr()).unwrap();
        // A handshake record of 200 bytes, announced and never sent.
        stream.write_all(&[0x16, 0x03, 0x01, 0x00, 0xc8]).unwrap();
        let closed = closed_after(&mut stream, start, Duration::from_secs(3));
        // A fresh timeout for each read closed it after two of them.
        assert!(closed >= Duration::from_millis(700), "closed after {closed:?}");
        assert!(closed < Duration::from_millis(1250), "closed after {closed:?}");
        server.stop();
    }

    #[test]
    fn the_websocket_handshake_has_what_tls_left_of_the_deadline() {
        let (server, pki) = tls_server(Duration::from_millis(600));
        let start = Instant::now();
        let mut stream = TcpStream::connect(server.local_addr()).unwrap();
        // TLS starts late and finishes; then the opening request never comes.
        thread::sleep(Duration::from_millis(400));
        let mut session = client_session(&pki);
        while session.is_handshaking() {
            session.complete_io(&mut stream).unwrap();
        }
        let closed = closed_after(&mut stream, start, Duration::from_secs(3));
        // From `accept`, not from the end of TLS (which would be 1,000 ms).
        assert!(closed >= Duration::from_millis(500), "closed after {closed:?}");
        assert!(closed < Duration::from_millis(850), "closed after {closed:?}");
        // The server lingers for what a client sends after a failed
        // handshake; hanging up ends that, so `stop` need not wait.
        drop(stream);
        server.stop();
    }
}

/// A client failed in the middle of what it is sending (a frame that
/// declares more than `max_frame_size`, then 1 MiB of its payload) can
/// finish its write and then read the server's close 1009: the server reads
/// and drops the rest of the client's input before closing the socket.
/// Closing with input unread makes the kernel answer with a reset, and the
/// client's write fails (or its unread close is lost) before it ever sees
/// why it was failed.
#[test]
fn a_client_failed_mid_message_reads_the_close_not_a_reset() {
    let mut options = local_options();
    options.config.limits.max_frame_size = 64 * 1024;
    options.config.limits.max_message_size = 64 * 1024;
    let server = echo_server(options);
    for round in 0..10 {
        let mut stream = raw_rfc6455(server.local_addr());
        let len = 1024 * 1024u64;
        let mut frame = vec![0x82, 0xff];
        frame.extend_from_slice(&len.to_be_bytes());
        frame.extend_from_slice(&[1, 2, 3, 4]);
        frame.extend(std::iter::repeat_n(0x55, len as usize));
        let wrote = stream.write_all(&frame);
        assert!(wrote.is_ok(), "round {round}: the write was cut: {wrote:?}");
        stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut close = [0u8; 4];
        let got = stream.read_exact(&mut close);
        assert!(got.is_ok(), "round {round}: no close frame, {got:?}");
        assert_eq!(close, [0x88, 0x02, 0x03, 0xf1], "round {round}: close 1009");
    }
}
