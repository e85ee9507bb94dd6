//! The blocking driver over streams the caller holds (`hybi::accept`,
//! `hybi::client`): a TCP socket accepted by hand, a Unix socket pair, and
//! a stream with none of a socket's extras (one handle, no timeouts), every
//! protocol.
#![cfg(unix)]

mod common;

use std::io::{self, Read, Write};
use std::net::TcpListener;
use std::os::unix::net::UnixStream;
use std::thread;

use common::{messages, request, server_config, setups, within};
use hybi::Connection;

/// A stream that is only `Read + Write`: no clone, no timeouts, no
/// shutdown, no address.
struct Bare(UnixStream);

impl Read for Bare {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl Write for Bare {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

impl hybi::Stream for Bare {}

fn echo(conn: Connection) {
    while let Ok(Some(message)) = conn.recv() {
        conn.send(&message).expect("echo");
    }
}

/// Sends every message, checking each echo, then closes.
fn check_echoes(conn: &Connection, name: &str, rfc6455: bool) {
    for message in messages(rfc6455) {
        conn.send(&message).unwrap_or_else(|e| panic!("{name}: send: {e}"));
        let back = conn.recv().unwrap_or_else(|e| panic!("{name}: recv: {e}"));
        assert!(
            back.as_ref() == Some(&message),
            "{name}: a {} byte message changed",
            message.as_bytes().len()
        );
    }
    conn.close().unwrap_or_else(|e| panic!("{name}: close: {e}"));
    assert_eq!(conn.recv().unwrap(), None, "{name}");
}

#[test]
fn accept_and_client_over_streams_the_caller_holds() {
    within(std::time::Duration::from_secs(60), || {
        for (name, config) in setups() {
            let rfc6455 = config.protocol == hybi::Protocol::Rfc6455;
            // TCP, accepted and connected by hand.
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let server_side = server_config(&config);
            let server = thread::spawn(move || {
                let (stream, _) = listener.accept().unwrap();
                let conn = hybi::accept(stream, server_side).expect("accept");
                assert_eq!(conn.line(), "GET /echo HTTP/1.1");
                echo(conn);
            });
            let stream = std::net::TcpStream::connect(addr).unwrap();
            let conn = hybi::client(stream, request(&addr.to_string()), config.clone()).expect("client");
            assert_eq!(conn.peer_addr(), addr);
            check_echoes(&conn, &format!("{name} over TCP"), rfc6455);
            server.join().unwrap();

            // A Unix socket pair (clonable, with timeouts), and bare streams
            // (neither): the same conversation.
            for bare in [false, true] {
                let (a, b) = UnixStream::pair().unwrap();
                let server_side = server_config(&config);
                let server = thread::spawn(move || {
                    let conn =
                        if bare { hybi::accept(Bare(b), server_side) } else { hybi::accept(b, server_side) };
                    echo(conn.expect("accept"));
                });
                let conn = if bare {
                    hybi::client(Bare(a), request("example.com"), config.clone())
                } else {
                    hybi::client(a, request("example.com"), config.clone())
                }
                .expect("client");
                assert_eq!(conn.peer_addr(), std::net::SocketAddr::from(([0, 0, 0, 0], 0)));
                check_echoes(&conn, &format!("{name} over a Unix socket (bare: {bare})"), rfc6455);
                server.join().unwrap();
            }
        }
    });
}

/// A refused request is answered and reported as `HandshakeRefused`, and
/// the client sees the status.
#[test]
fn accept_with_refuses_with_the_hooks_answer() {
    within(std::time::Duration::from_secs(20), || {
        let (a, b) = UnixStream::pair().unwrap();
        let server = thread::spawn(move || {
            hybi::accept_with(b, hybi::core::Config::default(), |_, _| {
                Err(hybi::HttpResponse::text(403, "no entry\n"))
            })
            .map(|_| ())
            .map_err(|e| e.kind())
        });
        let e = hybi::client(a, request("example.com"), hybi::core::Config::default()).unwrap_err();
        assert_eq!(e.status(), Some(403));
        assert_eq!(server.join().unwrap(), Err(hybi::ErrorKind::HandshakeRefused));
    });
}
