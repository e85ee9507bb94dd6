//! The `hybi` command end to end: `hybi serve` on a free port, `hybi
//! connect` with lines on stdin.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use hybi::{connect_with, ConnectOptions, Message, Protocol, Proxy};

const HYBI: &str = env!("CARGO_BIN_EXE_hybi");

/// A `hybi serve` child; killed when dropped. Its stderr lines arrive on
/// `log`.
struct Server {
    child: Child,
    addr: String,
    log: mpsc::Receiver<String>,
}

impl Server {
    fn start(args: &[&str]) -> Server {
        let mut child = Command::new(HYBI)
            .args(["serve", "--host", "127.0.0.1", "--port", "0"])
            .args(args)
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("hybi serve starts");
        let (tx, log) = mpsc::channel();
        let stderr = BufReader::new(child.stderr.take().unwrap());
        std::thread::spawn(move || {
            for line in stderr.lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let first = log.recv_timeout(Duration::from_secs(20)).expect("server prints its address");
        let addr = first
            .strip_prefix("listening on ")
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
            .to_string();
        Server { child, addr, log }
    }

    /// Waits for a log line containing `needle`.
    fn expect_log(&self, needle: &str) -> String {
        loop {
            let line = self
                .log
                .recv_timeout(Duration::from_secs(10))
                .unwrap_or_else(|_| panic!("no log {needle:?}"));
            if line.contains(needle) {
                return line;
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `hybi connect` as a person would: types each line of `input` and
/// waits for its echo before the next, then ends stdin. Returns (exit ok,
/// stdout, stderr).
fn run_connect(args: &[&str], input: &str) -> (bool, String, String) {
    let mut child = Command::new(HYBI)
        .arg("connect")
        .args(args)
        .env_remove("http_proxy")
        .env_remove("HTTP_PROXY")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("hybi connect starts");
    let (line_tx, lines) = mpsc::channel();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    std::thread::spawn(move || {
        for line in stdout.lines() {
            let Ok(line) = line else { break };
            let _ = line_tx.send(line);
        }
    });
    let (err_tx, stderr) = mpsc::channel();
    let mut child_stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut child_stderr, &mut text);
        let _ = err_tx.send(text);
    });
    let mut stdin = child.stdin.take().unwrap();
    let mut printed = String::new();
    for line in input.lines() {
        if stdin.write_all(format!("{line}\n").as_bytes()).and_then(|()| stdin.flush()).is_err() {
            break;
        }
        match lines.recv_timeout(Duration::from_secs(10)) {
            Ok(echo) => printed.push_str(&format!("{echo}\n")),
            Err(_) => break,
        }
    }
    drop(stdin);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait());
    });
    let status = rx.recv_timeout(Duration::from_secs(30)).expect("hybi connect exits").unwrap();
    // Anything printed after the end of stdin, until the close completed.
    while let Ok(line) = lines.recv_timeout(Duration::from_millis(100)) {
        printed.push_str(&format!("{line}\n"));
    }
    let stderr = stderr.recv_timeout(Duration::from_secs(10)).unwrap_or_default();
    (status.success(), printed, stderr)
}

#[test]
fn serve_and_connect_echo_every_protocol() {
    echo_every_protocol(&[]);
}

/// `hybi serve --async`: the same echoes and logs from the async driver.
#[test]
fn serve_async_and_connect_echo_every_protocol() {
    echo_every_protocol(&["--async"]);
}

fn echo_every_protocol(serve_flags: &[&str]) {
    let server = Server::start(serve_flags);
    let url = format!("ws://{}/cli", server.addr);
    let input = "one\ntwo words\n\nünïcödé\n";
    for protocol in ["rfc6455", "draft76"] {
        let (ok, stdout, stderr) = run_connect(&[&url, "--protocol", protocol, "-H", "X-Test: 1"], input);
        assert!(ok, "{protocol}: {stderr}");
        assert_eq!(stdout, input, "{protocol}: {stderr}");
        let open = server.expect_log("open:");
        assert!(open.contains("GET /cli HTTP/1.1"), "{open}");
        let closed = server.expect_log("closed");
        if protocol == "rfc6455" {
            assert!(open.contains("RFC 6455"), "{open}");
            assert!(closed.ends_with("closed: code 1000"), "{closed}");
        } else {
            // The default server opens before the client's first bytes
            // tell its framing.
            assert!(open.contains("draft-76 'auto'"), "{open}");
        }
    }

    // The default server answers a 'new' client too (it tells the framing
    // from the client's first bytes).
    let (ok, stdout, stderr) = run_connect(&[&url, "--framing", "new"], input);
    assert!(ok, "'new' against the default server: {stderr}");
    assert_eq!(stdout, input, "'new' against the default server: {stderr}");
    let open = server.expect_log("open:");
    assert!(open.contains("draft-76 'auto'"), "{open}");

    let framed = Server::start(&[serve_flags, &["--framing", "new", "--deflate"]].concat());
    let url = format!("ws://{}/", framed.addr);
    let (ok, stdout, stderr) = run_connect(&[&url, "--protocol", "draft76", "--framing", "new"], "a\nb\n");
    assert!(ok && stdout == "a\nb\n", "{stdout:?} {stderr}");
    let (ok, stdout, stderr) = run_connect(&[&url, "--deflate"], "compressed\n");
    assert!(ok && stdout == "compressed\n", "{stdout:?} {stderr}");
}

#[test]
fn connect_failures_exit_nonzero_with_the_reason() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = closed.local_addr().unwrap();
    drop(closed);
    let (ok, stdout, stderr) = run_connect(&[&format!("ws://{addr}/")], "hello\n");
    assert!(!ok);
    assert!(stdout.is_empty());
    assert!(stderr.contains(&addr.to_string()) && stderr.contains("I/O"), "{stderr}");

    let (ok, _, stderr) = run_connect(&["http://example.com/"], "");
    assert!(!ok);
    assert!(stderr.contains("not ws or wss"), "{stderr}");
}

#[test]
fn connect_defaults_to_rfc6455_and_names_the_flag_for_the_other_protocol() {
    let rfc6455_only = Server::start(&["--protocol", "rfc6455"]);
    let url = format!("ws://{}/", rfc6455_only.addr);
    let (ok, stdout, stderr) = run_connect(&[&url], "hi\n");
    assert!(ok && stdout == "hi\n", "{stdout:?} {stderr}");
    assert!(stderr.contains("(RFC 6455)"), "{stderr}");
    let (ok, stdout, stderr) = run_connect(&[&url, "--protocol", "draft76"], "hi\n");
    assert!(!ok && stdout.is_empty(), "{stdout:?}");
    assert!(stderr.contains("refused the handshake with 400"), "{stderr}");
    assert!(stderr.contains("may speak only RFC 6455: try --protocol rfc6455"), "{stderr}");

    let draft76_only = Server::start(&["--protocol", "draft76"]);
    let url = format!("ws://{}/", draft76_only.addr);
    let (ok, _, stderr) = run_connect(&[&url], "hi\n");
    assert!(!ok);
    assert!(stderr.contains("may speak only draft-76: try --protocol draft76"), "{stderr}");
}

#[test]
fn a_flag_that_implies_a_protocol_selects_it() {
    // `--framing new` alone speaks draft-76 'new': a 'new' server echoes it.
    let framed = Server::start(&["--framing", "new"]);
    let url = format!("ws://{}/", framed.addr);
    let (ok, stdout, stderr) = run_connect(&[&url, "--framing", "new"], "a\nb\n");
    assert!(ok && stdout == "a\nb\n", "{stdout:?} {stderr}");
    assert!(stderr.contains("(draft-76 'new')"), "{stderr}");
    let open = framed.expect_log("open:");
    assert!(open.contains("draft-76 'new'"), "{open}");
}

#[test]
fn contradicting_flags_are_an_error() {
    // Checked before connecting: no server needed, and none is reached.
    for (args, needle) in [
        (&["--protocol", "draft76", "--deflate"][..], "--deflate is RFC 6455's"),
        (&["--framing", "old", "--deflate"][..], "--deflate is RFC 6455's"),
        (&["--protocol", "rfc6455", "--framing", "new"][..], "cannot go with --protocol rfc6455"),
        // A client has nothing to tell the server's framing from.
        (&["--framing", "auto"][..], "invalid value 'auto'"),
    ] {
        let mut all = vec!["ws://127.0.0.1:9/"];
        all.extend_from_slice(args);
        let (ok, stdout, stderr) = run_connect(&all, "");
        assert!(!ok && stdout.is_empty(), "{args:?}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert!(!stderr.contains("cannot connect"), "{args:?} tried to connect: {stderr}");
    }
}

#[test]
fn broadcast_sends_every_message_to_every_connection() {
    let server = Server::start(&["--broadcast"]);
    let url = format!("ws://{}/room", server.addr);
    let options =
        || ConnectOptions { proxy: Proxy::None, ..ConnectOptions::default() }.protocol(Protocol::Rfc6455);
    let alice = connect_with(&url, options()).unwrap();
    let bob = connect_with(&url, options()).unwrap();
    // A failure here must not hang the test run.
    alice.set_read_timeout(Some(Duration::from_secs(10)));
    bob.set_read_timeout(Some(Duration::from_secs(10)));
    server.expect_log("open:");
    server.expect_log("open:");
    alice.send_text("hello room").unwrap();
    assert_eq!(bob.recv().unwrap(), Some(Message::Text("hello room".into())));
    assert_eq!(alice.recv().unwrap(), Some(Message::Text("hello room".into())));
    alice.close().unwrap();
    bob.close().unwrap();
}

#[cfg(feature = "tls")]
#[test]
fn serve_and_connect_over_tls() {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["localhost".to_string()]).unwrap().signed_by(&key, &ca).unwrap();
    let dir = std::env::temp_dir().join(format!("hybi-cli-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let write = |name: &str, text: String| {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_string()
    };
    let (ca_path, cert_path, key_path) =
        (write("ca.pem", ca.pem()), write("cert.pem", cert.pem()), write("key.pem", key.serialize_pem()));

    let server = Server::start(&["--tls-cert", &cert_path, "--tls-key", &key_path]);
    let port = server.addr.rsplit(':').next().unwrap().to_string();
    let url = format!("wss://localhost:{port}/secure");
    let (ok, stdout, stderr) = run_connect(&[&url, "--ca", &ca_path], "over tls\n");
    assert!(ok && stdout == "over tls\n", "{stdout:?} {stderr}");
    // Without the CA the certificate is not trusted.
    let (ok, _, stderr) = run_connect(&[&url], "x\n");
    assert!(!ok && stderr.contains("TLS"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// An RFC 6455 client frame (masked with a zero key, so the payload reads as
/// it is), payload under 126 bytes.
fn client_frame(first_byte: u8, payload: &[u8]) -> Vec<u8> {
    let mut frame = vec![first_byte, 0x80 | u8::try_from(payload.len()).unwrap(), 0, 0, 0, 0];
    frame.extend_from_slice(payload);
    frame
}

/// A raw RFC 6455 client from loopback address `source`, past the 101;
/// or the refusal's whole text.
fn raw_client(source: [u8; 4], addr: &str) -> Result<std::net::TcpStream, String> {
    use socket2::{Domain, Protocol, Socket, Type};
    use std::io::Read;
    let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP)).unwrap();
    socket.bind(&std::net::SocketAddr::from((source, 0)).into()).unwrap();
    socket.connect(&addr.parse::<std::net::SocketAddr>().unwrap().into()).unwrap();
    let mut stream: std::net::TcpStream = socket.into();
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    stream
        .write_all(
            b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        )
        .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8];
    while !head.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    if head.starts_with(b"HTTP/1.1 101 ") {
        return Ok(stream);
    }
    let _ = stream.read_to_end(&mut head);
    Err(String::from_utf8_lossy(&head).into_owned())
}

/// The close code of the close frame the server sends next (unmasked,
/// short), skipping nothing.
fn close_code(stream: &mut std::net::TcpStream) -> u16 {
    use std::io::Read;
    let mut head = [0u8; 4];
    stream.read_exact(&mut head).unwrap();
    assert_eq!(head[0], 0x88, "not a close frame: {head:?}");
    u16::from_be_bytes([head[2], head[3]])
}

/// How long until the server ends `stream` (a close frame and the end of
/// the stream, or a reset), from `start`.
fn ended_after(stream: &mut std::net::TcpStream, start: std::time::Instant) -> Duration {
    use std::io::Read;
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut sink = [0u8; 256];
    loop {
        match stream.read(&mut sink) {
            Ok(0) | Err(_) => return start.elapsed(),
            Ok(_) => {}
        }
    }
}

#[test]
fn serve_applies_its_limit_flags() {
    use std::time::Instant;
    let server = Server::start(&[
        "--max-connections",
        "2",
        "--max-per-ip",
        "1",
        "--backlog",
        "16",
        "--handshake-timeout",
        "0.3",
        "--idle-timeout",
        "0.6",
        "--max-message-size",
        "10",
        "--max-frame-size",
        "8",
    ]);
    let limits = server.expect_log("limits:");
    assert!(
        limits.ends_with(
            "limits: 2 connections, 1 per address, backlog 16, handshake 0.3 s, idle 0.6 s, \
             messages 10 B, frames 8 B"
        ),
        "{limits}"
    );
    let addr = server.addr.as_str();

    // --max-per-ip: a second connection from 127.0.0.1 is refused while the
    // first is open.
    let start = Instant::now();
    let mut first = raw_client([127, 0, 0, 1], addr).unwrap();
    let refused = raw_client([127, 0, 0, 1], addr).unwrap_err();
    assert!(refused.starts_with("HTTP/1.1 503 ") && refused.contains("your address"), "{refused}");
    // --max-connections: with 127.0.0.2 in too, 127.0.0.3 finds it full.
    let mut second = raw_client([127, 0, 0, 2], addr).unwrap();
    let refused = raw_client([127, 0, 0, 3], addr).unwrap_err();
    assert!(refused.starts_with("HTTP/1.1 503 ") && refused.contains("connection limit"), "{refused}");

    // --max-frame-size: a 9-byte frame is over 8 (RFC 6455 1009, too big).
    first.write_all(&client_frame(0x81, b"123456789")).unwrap();
    assert_eq!(close_code(&mut first), 1009);
    // --max-message-size: two frames of 6 bytes make a message over 10.
    second.write_all(&client_frame(0x01, b"123456")).unwrap();
    second.write_all(&client_frame(0x80, b"789012")).unwrap();
    assert_eq!(close_code(&mut second), 1009);
    assert!(start.elapsed() < Duration::from_millis(600), "too slow to test the limits");
    drop((first, second));

    // --idle-timeout: an open connection that stays silent is ended.
    let start = Instant::now();
    let mut silent = (0..100)
        .find_map(|_| {
            // The two above may not be gone yet.
            raw_client([127, 0, 0, 4], addr).map_err(|_| std::thread::sleep(Duration::from_millis(20))).ok()
        })
        .expect("room again");
    let ended = ended_after(&mut silent, start);
    assert!(ended >= Duration::from_millis(500) && ended < Duration::from_secs(3), "ended after {ended:?}");

    // --handshake-timeout: a connection that never sends its request is
    // closed.
    let start = Instant::now();
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    let closed = ended_after(&mut stream, start);
    assert!(
        closed >= Duration::from_millis(200) && closed < Duration::from_secs(2),
        "closed after {closed:?}"
    );
}
