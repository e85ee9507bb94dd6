//! 64 concurrent connections × 1,000 messages each, every echo checked:
//! half against a server that sends each echo, half against one that
//! queues them, and half of each with a client that queues its messages in
//! bursts on a second thread while the first waits in `recv`.

mod common;

use std::thread;
use std::time::{Duration, Instant};

use common::*;
use hybi::{connect_with, Message, Protocol, ServeOptions};

const CONNECTIONS: usize = 64;
const MESSAGES: usize = 1000;

/// Messages a queueing client sends with one flush.
const BURST: usize = 16;

#[test]
fn sixty_four_connections_a_thousand_messages_each() {
    let server = echo_server(ServeOptions { max_waiting: 128, ..local_options() });
    let queueing = queued_echo_server(ServeOptions { max_waiting: 128, ..local_options() });
    let urls = [ws_url(&server, false), ws_url(&queueing, false)];
    let start = Instant::now();
    within(Duration::from_secs(120), move || {
        let clients: Vec<_> = (0..CONNECTIONS)
            .map(|c| {
                let url = urls[(c / 2) % 2].clone();
                let bursts = (c / 4) % 2 == 1;
                thread::spawn(move || {
                    // Half speak RFC 6455, half draft-76 'old'.
                    let protocol = OLD_SERVER_PROTOCOLS[c % 2];
                    let conn = connect_with(&url, client_options(protocol)).unwrap();
                    let message =
                        move |i: usize| format!("connection {c} message {i} {}", "x".repeat(i % 200));
                    // Sends run ahead of the echoes on a second thread.
                    let sender = conn.clone();
                    let sending = thread::spawn(move || {
                        for i in 0..MESSAGES {
                            if bursts {
                                // The receiving thread is waiting in
                                // `recv`, which cannot write these: flush.
                                sender.queue_text(&message(i)).unwrap();
                                if (i + 1) % BURST == 0 || i + 1 == MESSAGES {
                                    sender.flush().unwrap();
                                }
                            } else {
                                sender.send_text(&message(i)).unwrap();
                            }
                        }
                    });
                    for i in 0..MESSAGES {
                        assert_eq!(conn.recv().unwrap(), Some(Message::Text(message(i))), "connection {c}");
                    }
                    sending.join().unwrap();
                    conn.close().unwrap();
                    assert_eq!(conn.recv().unwrap(), None);
                    protocol
                })
            })
            .collect();
        let protocols: Vec<Protocol> = clients.into_iter().map(|c| c.join().unwrap()).collect();
        assert_eq!(protocols.iter().filter(|p| **p == Protocol::Rfc6455).count(), CONNECTIONS / 2);
    });
    eprintln!("{} echoes in {:?}", CONNECTIONS * MESSAGES, start.elapsed());
    server.stop();
    queueing.stop();
}
