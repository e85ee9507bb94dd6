//! `queue`: messages held back and written together, by `flush`, by the next
//! send or close, by `recv` before it waits, or once 64 KiB pile up.

mod common;

use std::io::{ErrorKind as IoErrorKind, Read};
use std::net::TcpStream;
use std::sync::mpsc;
use std::time::Duration;

use common::*;
use hybi::{connect_with, serve, Message, Protocol, ServeOptions};

/// Whether anything arrives within `wait`.
fn silent_for(stream: &mut TcpStream, wait: Duration) -> bool {
    stream.set_read_timeout(Some(wait)).unwrap();
    let mut byte = [0u8];
    let silent = match stream.read(&mut byte) {
        Err(e) => matches!(e.kind(), IoErrorKind::WouldBlock | IoErrorKind::TimedOut),
        Ok(_) => false,
    };
    stream.set_read_timeout(None).unwrap();
    silent
}

#[test]
fn queued_messages_wait_for_flush() {
    let (queued_tx, queued_rx) = mpsc::channel();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let go_rx = std::sync::Mutex::new(go_rx);
    let server = serve(
        move |conn, ()| {
            conn.queue_text("a").unwrap();
            conn.queue_binary(b"b").unwrap();
            queued_tx.send(()).unwrap();
            go_rx.lock().unwrap().recv().unwrap();
            conn.flush().unwrap();
            let _ = conn.recv();
        },
        local_options(),
    )
    .unwrap();
    let addr = server.local_addr();
    within(Duration::from_secs(10), move || {
        let mut stream = raw_rfc6455(addr);
        queued_rx.recv().unwrap();
        assert!(
            silent_for(&mut stream, Duration::from_millis(300)),
            "queued bytes were written before flush"
        );
        go_tx.send(()).unwrap();
        let mut frames = [0u8; 6];
        stream.read_exact(&mut frames).unwrap();
        assert_eq!(&frames, b"\x81\x01a\x82\x01b");
    });
    server.stop();
}

#[test]
fn queue_writes_by_itself_past_64_kib() {
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let done_rx = std::sync::Mutex::new(done_rx);
    let server = serve(
        move |conn, ()| {
            conn.queue_text("small").unwrap();
            assert!(conn.queue_binary(&[7; 70_000]).is_ok());
            // Neither flush nor recv: only the size wrote them.
            let _ = done_rx.lock().unwrap().recv();
        },
        local_options(),
    )
    .unwrap();
    let addr = server.local_addr();
    within(Duration::from_secs(10), move || {
        let mut stream = raw_rfc6455(addr);
        let mut small = [0u8; 7];
        stream.read_exact(&mut small).unwrap();
        assert_eq!(&small, b"\x81\x05small");
        let mut header = [0u8; 10];
        stream.read_exact(&mut header).unwrap();
        let mut expected = vec![0x82, 127];
        expected.extend_from_slice(&70_000u64.to_be_bytes());
        assert_eq!(header[..], expected[..]);
        let mut payload = vec![0u8; 70_000];
        stream.read_exact(&mut payload).unwrap();
        assert!(payload.iter().all(|&b| b == 7));
    });
    drop(done_tx);
    server.stop();
}

/// A client that queues and then waits in `recv` gets its answers: `recv`
/// writes what is queued before it blocks, in every protocol.
#[test]
fn recv_writes_what_is_queued_before_it_waits() {
    let server = echo_server(local_options());
    let url = ws_url(&server, false);
    within(Duration::from_secs(20), move || {
        for protocol in OLD_SERVER_PROTOCOLS {
            let conn = connect_with(&url, client_options(protocol)).unwrap();
            for i in 0..50 {
                conn.queue_text(&format!("message {i}")).unwrap();
            }
            for i in 0..50 {
                assert_eq!(conn.recv().unwrap(), Some(Message::Text(format!("message {i}"))), "{protocol:?}");
            }
            conn.close().unwrap();
        }
    });
    server.stop();
}

/// Pipelined clients (up to 32 messages in flight) against a queueing echo
/// server, over every protocol it speaks, with and without TLS is covered
/// elsewhere; here every echo is checked in order, including messages that
/// cross the 64 KiB mark.
#[test]
fn pipelined_clients_get_every_echo_from_a_queueing_server() {
    let server = queued_echo_server(ServeOptions { max_waiting: 64, ..local_options() });
    let url = ws_url(&server, false);
    within(Duration::from_secs(60), move || {
        let clients: Vec<_> = (0..8)
            .map(|c| {
                let url = url.clone();
                std::thread::spawn(move || {
                    let protocol = if c % 2 == 0 { Protocol::Rfc6455 } else { OLD_SERVER_PROTOCOLS[0] };
                    let conn = connect_with(&url, client_options(protocol)).unwrap();
                    let message = |i: usize| {
                        format!("{c}:{i}:{}", "y".repeat(if i.is_multiple_of(97) { 70_000 } else { i % 300 }))
                    };
                    let mut sent = 0;
                    while sent < 500 {
                        let batch = 32.min(500 - sent);
                        for i in sent..sent + batch {
                            conn.send_text(&message(i)).unwrap();
                        }
                        for i in sent..sent + batch {
                            assert_eq!(conn.recv().unwrap(), Some(Message::Text(message(i))));
                        }
                        sent += batch;
                    }
                    conn.close().unwrap();
                })
            })
            .collect();
        for client in clients {
            client.join().unwrap();
        }
    });
    server.stop();
}
