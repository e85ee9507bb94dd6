//! Helpers shared by the integration tests: servers on 127.0.0.1 port 0,
//! certificates made at test time, and a guard against hangs.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc;
use std::time::Duration;

use hybi::core::{ClientRequest, Config, Target};
use hybi::{
    serve, ConnectOptions, Connection, DeflateConfig, Framing, Message, Protocol, ServeOptions, ServerHandle,
};

/// Options for a server on 127.0.0.1 with a port the OS picks.
pub fn local_options<S: Default + 'static>() -> ServeOptions<S> {
    ServeOptions { port: 0, listen_ip: Some([127, 0, 0, 1].into()), ..ServeOptions::default() }
}

/// Echoes every message until the connection ends.
pub fn echo(conn: Connection) {
    while let Ok(Some(message)) = conn.recv() {
        if conn.send(&message).is_err() {
            break;
        }
    }
}

/// Echoes every message by queueing it: the echoes leave when `recv` must
/// read again.
pub fn queued_echo(conn: Connection) {
    while let Ok(Some(message)) = conn.recv() {
        if conn.queue(&message).is_err() {
            break;
        }
    }
}

/// An echo server that queues its echoes.
pub fn queued_echo_server(options: ServeOptions) -> ServerHandle {
    serve(|conn, ()| queued_echo(conn), options).expect("server starts")
}

/// An echo server.
pub fn echo_server(options: ServeOptions) -> ServerHandle {
    serve(|conn, ()| echo(conn), options).expect("server starts")
}

pub fn ws_url(server: &ServerHandle, secure: bool) -> String {
    format!("{}://{}/echo", if secure { "wss" } else { "ws" }, server.local_addr())
}

pub fn client_options(protocol: Protocol) -> ConnectOptions {
    ConnectOptions { proxy: hybi::Proxy::None, ..ConnectOptions::default() }.protocol(protocol)
}

/// What a server with the default ('old') draft-76 framing can talk to.
pub const OLD_SERVER_PROTOCOLS: [Protocol; 2] = [Protocol::Draft76(Framing::Old), Protocol::Rfc6455];

pub const ALL_PROTOCOLS: [Protocol; 3] =
    [Protocol::Draft76(Framing::Old), Protocol::Draft76(Framing::New), Protocol::Rfc6455];

/// Waits until `ready` holds, for at most `limit`: for a state another
/// thread reaches, instead of sleeping and hoping it did.
#[track_caller]
pub fn wait_for(limit: Duration, mut ready: impl FnMut() -> bool, what: &str) {
    let deadline = std::time::Instant::now() + limit;
    while !ready() {
        assert!(std::time::Instant::now() < deadline, "not within {limit:?}: {what}");
        std::thread::yield_now();
    }
}

/// Runs `f` on a thread and fails the test if it takes longer than `limit`
/// (a hang is a failure, not a stuck test run).
pub fn within<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    let thread = std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(limit) {
        Ok(value) => {
            thread.join().unwrap();
            value
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            // The closure panicked: surface its message.
            match thread.join() {
                Err(panic) => std::panic::resume_unwind(panic),
                Ok(()) => unreachable!("sent nothing yet returned"),
            }
        }
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("did not finish within {limit:?}"),
    }
}

/// A test CA and a certificate for `localhost` and 127.0.0.1 signed by it.
pub struct TestPki {
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
}

pub fn test_pki() -> TestPki {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(rcgen::DnType::CommonName, "hybi test CA");
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let params = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
    let cert = params.signed_by(&key, &ca).unwrap();
    TestPki { ca_pem: ca.pem(), cert_pem: cert.pem(), key_pem: key.serialize_pem() }
}

/// Writes an RFC 6455 opening request by hand and reads the 101.
pub fn raw_rfc6455(addr: SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .write_all(
            b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        )
        .unwrap();
    read_head(&mut stream);
    stream
}

/// A client's unfinished binary message: the first frame (FIN clear) of
/// `len` bytes of 0x5a, masked with a zero key.
pub fn unfinished_frame(len: usize) -> Vec<u8> {
    let mut frame = vec![0x02, 0xff];
    frame.extend_from_slice(&(len as u64).to_be_bytes());
    frame.extend_from_slice(&[0; 4]);
    frame.resize(frame.len() + len, 0x5a);
    frame
}

/// Ends the message `unfinished_frame(len)` began with a one-byte final
/// frame, and checks that the echo comes back whole (an echo server's).
pub fn finish_unfinished(stream: &mut TcpStream, len: usize) {
    stream.write_all(&[0x80, 0x81, 0, 0, 0, 0, b'!']).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut head = [0u8; 10];
    stream.read_exact(&mut head).unwrap();
    assert_eq!(head[..2], [0x82, 0x7f], "an unmasked binary frame with a 64-bit length");
    let echoed = u64::from_be_bytes(head[2..].try_into().unwrap()) as usize;
    assert_eq!(echoed, len + 1);
    let mut payload = vec![0u8; echoed];
    stream.read_exact(&mut payload).unwrap();
    assert!(payload[..len].iter().all(|&b| b == 0x5a) && payload[len] == b'!');
}

/// Reads up to the close frame the server sends and returns its code.
pub fn close_code(stream: &mut TcpStream) -> u16 {
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut head = [0u8; 4];
    stream.read_exact(&mut head).unwrap();
    assert_eq!(head[..2], [0x88, 0x02], "not a close frame with a code: {head:?}");
    u16::from_be_bytes([head[2], head[3]])
}

/// Writes the draft's own example request (docs/PROTOCOLS.md §1.1) and reads the
/// head and 16-byte answer.
pub fn raw_draft76(addr: SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .write_all(
            b"GET /demo HTTP/1.1\r\nHost: example.com\r\nConnection: Upgrade\r\nUpgrade: WebSocket\r\n\
              Sec-WebSocket-Key1: 4 @1  46546xW%0l 1 5\r\nSec-WebSocket-Key2: 12998 5 Y3 1  .P00\r\n\
              Origin: http://example.com\r\n\r\n^n:ds[4U",
        )
        .unwrap();
    read_head(&mut stream);
    let mut answer = [0u8; 16];
    stream.read_exact(&mut answer).unwrap();
    assert_eq!(&answer, b"8jKS'y:G*Co,Wxa-");
    stream
}

/// Reads an HTTP head, up to and including its blank line, byte by byte
/// (nothing after it is consumed).
pub fn read_http_head(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8];
    while !head.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    String::from_utf8(head).unwrap()
}

/// Reads a response head that must be a 101.
pub fn read_head(stream: &mut TcpStream) -> String {
    let head = read_http_head(stream);
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    head
}

/// A TCP connection to `addr` from the loopback address `source` (any port),
/// so that one test can be several clients: Linux routes all of 127/8 to
/// the loopback interface.
pub fn connect_from(source: [u8; 4], addr: SocketAddr) -> TcpStream {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP)).unwrap();
    socket.bind(&SocketAddr::from((source, 0)).into()).unwrap();
    socket.connect(&addr.into()).unwrap();
    socket.into()
}

/// Every protocol the drivers speak, with and without permessage-deflate.
pub fn setups() -> Vec<(&'static str, Config)> {
    let protocol = |protocol| Config { protocol, ..Config::default() };
    vec![
        ("draft-76 old", protocol(Protocol::Draft76(Framing::Old))),
        ("draft-76 new", protocol(Protocol::Draft76(Framing::New))),
        ("RFC 6455", protocol(Protocol::Rfc6455)),
        (
            "RFC 6455 + deflate",
            Config { deflate: Some(DeflateConfig::default()), ..protocol(Protocol::Rfc6455) },
        ),
    ]
}

/// The server's config for a client's: the draft-76 framing cannot be read
/// from a request, so the server is told.
pub fn server_config(client: &Config) -> Config {
    let framing = match client.protocol {
        Protocol::Draft76(framing) => framing,
        _ => Framing::Old,
    };
    Config { framing, deflate: client.deflate, ..Config::default() }
}

pub fn request(host: &str) -> ClientRequest {
    ClientRequest::new(Target { host: host.into(), port: None, resource: "/echo".into(), secure: false })
}

/// Messages of every size class (the length encodings' edges, a large
/// one), text and binary where the protocol has binary.
pub fn messages(rfc6455: bool) -> Vec<Message> {
    let mut out = Vec::new();
    for len in [0, 1, 125, 126, 127, 65535, 65536, 1 << 20] {
        let text: String = (0..len).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
        out.push(Message::Text(text));
        if rfc6455 {
            out.push(Message::Binary((0..len).map(|i| (i * 31 % 251) as u8).collect()));
        }
    }
    out.push(Message::Text("héllo, ☃, 日本語".into()));
    out
}

/// A minimal HTTP CONNECT proxy for one tunnel, answering `answer`;
/// reports the request head it received.
pub fn test_proxy(answer: &'static str) -> (SocketAddr, mpsc::Receiver<String>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let (mut client, _) = listener.accept().unwrap();
        let head = read_http_head(&mut client);
        let line = head.lines().next().unwrap().to_string();
        let _ = tx.send(head.clone());
        client.write_all(answer.as_bytes()).unwrap();
        if !answer.starts_with("HTTP/1.1 200") {
            return;
        }
        let target = line.split(' ').nth(1).unwrap().to_string();
        let upstream = TcpStream::connect(target).unwrap();
        let (mut up_read, mut up_write) = (upstream.try_clone().unwrap(), upstream);
        let (mut down_read, mut down_write) = (client.try_clone().unwrap(), client);
        let forward = std::thread::spawn(move || {
            let _ = std::io::copy(&mut down_read, &mut up_write);
            let _ = up_write.shutdown(std::net::Shutdown::Write);
        });
        let _ = std::io::copy(&mut up_read, &mut down_write);
        let _ = down_write.shutdown(std::net::Shutdown::Write);
        let _ = forward.join();
    });
    (addr, rx)
}
