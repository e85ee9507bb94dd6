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
    let server = Server::start(&[]);
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
            assert!(open.contains("draft-76 'old'"), "{open}");
        }
    }

    let framed = Server::start(&["--framing", "new", "--deflate"]);
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
fn broadcast_sends_every_message_to_every_connection() {
    let server = Server::start(&["--broadcast"]);
    let url = format!("ws://{}/room", server.addr);
    let options =
        || ConnectOptions { protocol: Protocol::Rfc6455, proxy: Proxy::None, ..ConnectOptions::default() };
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
