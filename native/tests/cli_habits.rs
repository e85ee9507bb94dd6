//! `hybi connect` and `hybi serve` against websocat and wscat habits
//! (issue 18; the README's table maps each habit to these flags): one test
//! per flag, each driving the built binary against a server in this
//! process (or a raw socket where a misbehaving peer is the point).

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::sync::Mutex;
use std::time::Duration;

use common::{local_options, within};
use hybi::{connect_with, serve, Accept, ConnectOptions, Connection, Message, Proxy, ServeOptions};

const HYBI: &str = env!("CARGO_BIN_EXE_hybi");

/// What a finished `hybi` run left.
struct Run {
    code: i32,
    stdout: Vec<u8>,
    stderr: String,
}

impl Run {
    fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
}

/// Runs `hybi ARGS` with `stdin` as its whole input, and waits (at most
/// 30 s) for it to exit.
fn hybi(args: &[&str], stdin: &[u8]) -> Run {
    let mut child = Command::new(HYBI)
        .args(args)
        .env_remove("http_proxy")
        .env_remove("HTTP_PROXY")
        .env_remove("https_proxy")
        .env_remove("HTTPS_PROXY")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("hybi starts");
    let mut input = child.stdin.take().unwrap();
    let stdin = stdin.to_vec();
    std::thread::spawn(move || {
        let _ = input.write_all(&stdin);
    });
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let output = rx.recv_timeout(Duration::from_secs(30)).expect("hybi exits within 30 s").unwrap();
    Run {
        code: output.status.code().expect("exited, not killed"),
        stdout: output.stdout,
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn connect(args: &[&str], stdin: &[u8]) -> Run {
    let mut all = vec!["connect"];
    all.extend_from_slice(args);
    hybi(&all, stdin)
}

/// An in-process server whose handler's findings arrive on the channel.
fn server_reporting<T: Send + 'static>(
    options: ServeOptions<Vec<hybi::Header>>,
    handler: impl Fn(Connection, Vec<hybi::Header>) -> T + Send + Sync + 'static,
) -> (hybi::ServerHandle, String, mpsc::Receiver<T>) {
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    // A test that ignores the findings drops the receiver: not an error.
    let server = serve(
        move |conn, headers| {
            let found = handler(conn, headers);
            let _ = tx.lock().unwrap_or_else(std::sync::PoisonError::into_inner).send(found);
        },
        options,
    )
    .expect("server starts");
    let url = format!("ws://{}/", server.local_addr());
    (server, url, rx)
}

/// Options whose hook hands the handler the request's headers.
fn request_headers_to_handler() -> ServeOptions<Vec<hybi::Header>> {
    let options = ServeOptions::default()
        .with_conn_headers(|request| Ok((Accept::default(), request.headers.0.clone())));
    ServeOptions { port: 0, listen_ip: Some([127, 0, 0, 1].into()), ..options }
}

fn header<'a>(headers: &'a [hybi::Header], name: &str) -> Option<&'a str> {
    headers.iter().find(|h| h.name.eq_ignore_ascii_case(name)).and_then(|h| h.value_str())
}

fn echo(conn: &Connection) {
    while let Ok(Some(message)) = conn.recv() {
        if conn.send(&message).is_err() {
            break;
        }
    }
}

#[test]
fn header_and_origin_flags_reach_the_server() {
    let (_server, url, seen) = server_reporting(request_headers_to_handler(), |conn, headers| {
        echo(&conn);
        headers
    });
    let run = connect(
        &[&url, "-H", "X-Token: abc", "--header", "X-Two:2", "--origin", "https://app.example"],
        b"hi\n",
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let headers = seen.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(header(&headers, "X-Token"), Some("abc"));
    assert_eq!(header(&headers, "X-Two"), Some("2"));
    assert_eq!(header(&headers, "Origin"), Some("https://app.example"));
}

#[test]
fn subprotocol_flags_are_offered_in_order_and_the_choice_shown() {
    let options = ServeOptions::default().with_conn_headers(|request| {
        let offered: Vec<String> =
            hybi::offered_subprotocols(request).into_iter().map(String::from).collect();
        let accept = Accept { subprotocol: offered.last().cloned(), ..Accept::default() };
        Ok((accept, offered))
    });
    let options = ServeOptions { port: 0, listen_ip: Some([127, 0, 0, 1].into()), ..options };
    let (tx, seen) = mpsc::channel();
    let tx = Mutex::new(tx);
    let server = serve(move |_conn, offered| tx.lock().unwrap().send(offered).unwrap(), options).unwrap();
    let url = format!("ws://{}/", server.local_addr());
    let run = connect(&[&url, "--subprotocol", "chat.v2", "--subprotocol", "chat"], b"");
    assert_eq!(seen.recv_timeout(Duration::from_secs(10)).unwrap(), ["chat.v2", "chat"]);
    assert!(run.stderr.contains("(RFC 6455, subprotocol chat)"), "{}", run.stderr);
}

#[test]
fn binary_lines_go_out_as_binary_and_come_back_as_hex_base64_or_raw() {
    let (_server, url, kinds) = server_reporting(request_headers_to_handler(), |conn, _| {
        let mut kinds = Vec::new();
        while let Ok(Some(message)) = conn.recv() {
            kinds.push(matches!(message, Message::Binary(_)));
            if conn.send(&message).is_err() {
                break;
            }
        }
        kinds
    });
    let run = connect(&[&url, "-b"], b"\x01\x02\xff\nAB\n");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout(), "0102ff\n4142\n");
    assert_eq!(kinds.recv_timeout(Duration::from_secs(10)).unwrap(), [true, true]);
    let run = connect(&[&url, "--binary", "--binary-format", "base64"], b"\x01\x02\xff\n");
    assert_eq!(run.stdout(), "AQL/\n");
    let run = connect(&[&url, "-b", "--raw"], b"\x00raw\xfe\n");
    assert_eq!(run.stdout, b"\x00raw\xfe");
    // `-1 -b`: the whole of stdin, newlines included, as one message.
    let run = connect(&[&url, "-1", "-b"], b"a\nb\n");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout(), "610a620a\n");
}

#[test]
fn one_message_sends_stdin_prints_one_reply_and_exits() {
    let (_server, url, _) = server_reporting(request_headers_to_handler(), |conn, _| {
        if let Ok(Some(message)) = conn.recv() {
            let _ = conn.send(&message);
            let _ = conn.send_text("a second reply, not printed");
        }
        while let Ok(Some(_)) = conn.recv() {}
    });
    let run = connect(&[&url, "-1"], b"hello\n");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout(), "hello\n");
    assert!(run.stderr.contains("closed: code 1000"), "{}", run.stderr);
}

#[test]
fn ping_interval_prints_each_pongs_round_trip() {
    let (_server, url, _) = server_reporting(request_headers_to_handler(), |conn, _| {
        conn.set_read_timeout(Some(Duration::from_secs(10)));
        // Reads (answering pings) until the client's close.
        while let Ok(Some(_)) = conn.recv() {}
    });
    // Stdin stays open for a second so that pings go out meanwhile.
    let mut child = Command::new(HYBI)
        .args(["connect", &url, "--ping-interval", "0.1"])
        .env_remove("http_proxy")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdin = child.stdin.take().unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let pongs = within(Duration::from_secs(20), move || {
        let mut pongs = Vec::new();
        let mut line = String::new();
        while pongs.len() < 3 && stderr.read_line(&mut line).unwrap_or(0) > 0 {
            if let Some(ms) = line.trim().strip_prefix("pong: ").and_then(|t| t.strip_suffix(" ms")) {
                pongs.push(ms.parse::<f64>().expect("a number of milliseconds"));
            }
            line.clear();
        }
        // Go on reading: a closed stderr would fail the pong lines still
        // to come.
        std::thread::spawn(move || for _ in stderr.lines() {});
        pongs
    });
    drop(stdin);
    assert_eq!(child.wait().unwrap().code(), Some(0));
    assert_eq!(pongs.len(), 3, "{pongs:?}");
    assert!(pongs.iter().all(|ms| (0.0..1000.0).contains(ms)), "{pongs:?}");
}

#[test]
fn close_code_and_reason_are_sent_and_the_servers_are_printed() {
    let (_server, url, closes) = server_reporting(request_headers_to_handler(), |conn, _| {
        while let Ok(Some(_)) = conn.recv() {}
        conn.close_status()
    });
    let run = connect(&[&url, "--close-code", "4000", "--close-reason", "bye now"], b"x\n");
    assert_eq!(run.code, 0, "{}", run.stderr);
    let close = closes.recv_timeout(Duration::from_secs(10)).unwrap().expect("a close arrived");
    assert_eq!((close.code, close.reason.as_str()), (Some(4000), "bye now"));

    // The server closes first: its code and reason are printed.
    let (_server, url, _) = server_reporting(request_headers_to_handler(), |conn, _| {
        let _ = conn.recv();
        let _ = conn.close_with(Some(4001), "done here");
    });
    let run = hybi(&["connect", &url], b"x\n");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("closed: code 4001, reason \"done here\""), "{}", run.stderr);
}

#[test]
fn no_close_leaves_the_close_to_the_server() {
    let (_server, url, closed_by_client) = server_reporting(request_headers_to_handler(), |conn, _| {
        assert_eq!(conn.recv().unwrap(), Some(Message::Text("last".into())));
        // A client that closed at the end of its stdin would be heard now.
        conn.set_read_timeout(Some(Duration::from_millis(500)));
        let heard = conn.recv();
        let client_closed = matches!(heard, Ok(None));
        if !client_closed {
            conn.send_text("after your input").unwrap();
            conn.close_with(Some(4002), "").unwrap();
        }
        client_closed
    });
    let run = connect(&[&url, "--no-close"], b"last\n");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!closed_by_client.recv_timeout(Duration::from_secs(10)).unwrap(), "the client sent a close");
    assert_eq!(run.stdout(), "after your input\n");
    assert!(run.stderr.contains("closed: code 4002"), "{}", run.stderr);
}

/// A raw RFC 6455 server: answers the handshake, sends `hi`, and when the
/// client's close frame arrives drops the TCP connection without answering
/// it (as some servers do).
fn server_dropping_on_close() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let (mut socket, _) = listener.accept().unwrap();
        let head = common::read_http_head(&mut socket);
        let key = head
            .lines()
            .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
            .expect("an RFC 6455 request")
            .trim()
            .to_string();
        let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
        let answer = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {accept}\r\n\r\n"
        );
        socket.write_all(answer.as_bytes()).unwrap();
        socket.write_all(&[0x81, 2, b'h', b'i']).unwrap();
        let mut byte = [0];
        // The client's frames are masked: a close starts 0x88.
        while socket.read(&mut byte).unwrap_or(0) == 1 {
            if byte[0] == 0x88 {
                break;
            }
        }
        drop(socket);
    });
    format!("ws://{addr}/")
}

#[test]
fn a_server_dropping_tcp_instead_of_answering_our_close_is_reported_and_exit_0() {
    let url = server_dropping_on_close();
    let run = within(Duration::from_secs(20), move || {
        // Stdin ends once `hi` is in: the close goes out after it.
        connect(&[&url], b"")
    });
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("without answering our close"), "{}", run.stderr);
}

#[test]
fn exit_statuses_tell_the_failures_apart() {
    // 3: refused (an RFC 6455 request to a draft-76-only server).
    let server = serve(
        |_, ()| {},
        ServeOptions {
            config: hybi::Config {
                accept: hybi::ProtocolSet { draft76: true, rfc6455: false },
                ..hybi::Config::default()
            },
            ..local_options()
        },
    )
    .unwrap();
    let run = connect(&[&format!("ws://{}/", server.local_addr())], b"");
    assert_eq!(run.code, 3, "{}", run.stderr);

    // 4: protocol error (a 101 with a wrong Sec-WebSocket-Accept).
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let (mut socket, _) = listener.accept().unwrap();
        common::read_http_head(&mut socket);
        let _ = socket.write_all(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Accept: d3Jvbmcgd3Jvbmcgd3Jvbmc=\r\n\r\n",
        );
        let _ = socket.read(&mut [0; 16]);
    });
    let run = connect(&[&format!("ws://{addr}/")], b"");
    assert_eq!(run.code, 4, "{}", run.stderr);

    // 5: the connection cannot be made (nothing listens).
    let closed = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let run = connect(&[&format!("ws://{closed}/")], b"");
    assert_eq!(run.code, 5, "{}", run.stderr);

    // 5: lost (the server vanishes mid-connection, while we read stdin).
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let (mut socket, _) = listener.accept().unwrap();
        let head = common::read_http_head(&mut socket);
        let key =
            head.lines().find_map(|l| l.strip_prefix("Sec-WebSocket-Key: ")).unwrap().trim().to_string();
        let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
        let answer = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {accept}\r\n\r\n"
        );
        socket.write_all(answer.as_bytes()).unwrap();
        // Half a frame, then gone.
        socket.write_all(&[0x81, 10, b'h']).unwrap();
    });
    let mut child = Command::new(HYBI)
        .args(["connect", &format!("ws://{addr}/")])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdin = child.stdin.take().unwrap();
    let code = within(Duration::from_secs(20), move || child.wait().unwrap().code());
    drop(stdin);
    assert_eq!(code, Some(5));

    // 6: timeout (a server that accepts and never answers).
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let run =
        connect(&[&format!("ws://{}/", silent.local_addr().unwrap()), "--handshake-timeout", "0.3"], b"");
    assert_eq!(run.code, 6, "{}", run.stderr);
    drop(silent);

    // 2: usage (clap's own).
    assert_eq!(connect(&["--no-such-flag"], b"").code, 2);
    // 1: other failures (an invalid URL).
    assert_eq!(connect(&["http://example.com/"], b"").code, 1);
}

/// A CONNECT proxy that tunnels one connection and reports the target it
/// was asked for.
fn connect_proxy() -> (String, mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let (mut client, _) = listener.accept().unwrap();
        let head = common::read_http_head(&mut client);
        let target = head.split_whitespace().nth(1).unwrap().to_string();
        tx.send(head.lines().next().unwrap().to_string()).unwrap();
        let mut upstream = TcpStream::connect(&target).unwrap();
        client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n").unwrap();
        let (mut client_read, mut upstream_write) =
            (client.try_clone().unwrap(), upstream.try_clone().unwrap());
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut client_read, &mut upstream_write);
            let _ = upstream_write.shutdown(std::net::Shutdown::Write);
        });
        let _ = std::io::copy(&mut upstream, &mut client);
        let _ = client.shutdown(std::net::Shutdown::Write);
    });
    (format!("http://{addr}"), rx)
}

#[test]
fn proxy_flag_tunnels_through_a_connect_proxy() {
    let (_server, url, _) = server_reporting(request_headers_to_handler(), |conn, _| echo(&conn));
    let (proxy, requests) = connect_proxy();
    let run = connect(&[&url, "--proxy", &proxy], b"through\n");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout(), "through\n");
    let request = requests.recv_timeout(Duration::from_secs(10)).unwrap();
    let authority = url.trim_start_matches("ws://").trim_end_matches('/');
    assert_eq!(request, format!("CONNECT {authority} HTTP/1.1"));
    // `--proxy none` goes direct even when the environment names a proxy.
    let mut child = Command::new(HYBI)
        .args(["connect", &url, "--proxy", "none"])
        .env("http_proxy", "http://127.0.0.1:9")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"direct\n").unwrap();
    let output = within(Duration::from_secs(20), move || child.wait_with_output().unwrap());
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(output.stdout, b"direct\n");
}

#[cfg(feature = "tls")]
#[test]
fn insecure_accepts_a_certificate_nobody_vouches_for() {
    let pki = common::test_pki();
    let tls = hybi::ServerTls::from_pem(pki.cert_pem.as_bytes(), pki.key_pem.as_bytes()).unwrap();
    let options = ServeOptions { tls: Some(tls), ..request_headers_to_handler() };
    let (server, _, _) = server_reporting(options, |conn, _| echo(&conn));
    let url = format!("wss://localhost:{}/", server.local_addr().port());
    let run = connect(&[&url], b"x\n");
    assert_eq!(run.code, 4, "an unknown CA is a TLS failure: {}", run.stderr);
    let run = connect(&[&url, "-k"], b"trusted anyway\n");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout(), "trusted anyway\n");
    let run = connect(&[&url, "--insecure"], b"x\n");
    assert_eq!(run.code, 0, "{}", run.stderr);
}

/// Starts `hybi serve ARGS` on a free port; returns it, its address and
/// its stderr lines.
fn hybi_serve(args: &[&str]) -> (ServeChild, String) {
    let mut child = Command::new(HYBI)
        .args(["serve", "--host", "127.0.0.1", "--port", "0"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("hybi serve starts");
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut first = String::new();
    stderr.read_line(&mut first).unwrap();
    let addr = first
        .strip_prefix("listening on ")
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
        .to_string();
    std::thread::spawn(move || for _ in stderr.lines() {});
    (ServeChild(child), addr)
}

/// Killed when dropped.
struct ServeChild(std::process::Child);

impl Drop for ServeChild {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn client(url: &str) -> Connection {
    let conn = connect_with(url, ConnectOptions { proxy: Proxy::None, ..ConnectOptions::default() }).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)));
    conn
}

#[test]
fn serve_stdin_sends_lines_to_every_client_and_prints_theirs() {
    let (mut server, addr) = hybi_serve(&["--stdin"]);
    let url = format!("ws://{addr}/");
    let (alice, bob) = (client(&url), client(&url));
    // Both are in the room once the server has answered each: a message
    // from each, printed, says so.
    alice.send_text("alice here").unwrap();
    bob.send_text("bob here").unwrap();
    let mut stdout = BufReader::new(server.0.stdout.take().unwrap());
    let printed = within(Duration::from_secs(10), move || {
        let mut lines = Vec::new();
        for _ in 0..2 {
            let mut line = String::new();
            stdout.read_line(&mut line).unwrap();
            lines.push(line);
        }
        lines.sort();
        lines
    });
    assert_eq!(printed, ["alice here\n", "bob here\n"]);
    let stdin = server.0.stdin.as_mut().unwrap();
    stdin.write_all(b"to everyone\n").unwrap();
    stdin.flush().unwrap();
    assert_eq!(alice.recv().unwrap(), Some(Message::Text("to everyone".into())));
    assert_eq!(bob.recv().unwrap(), Some(Message::Text("to everyone".into())));
}

#[test]
fn serve_has_a_flag_for_each_setting() {
    // Deflate parameters: the window the server compresses with.
    let (_server, addr) =
        hybi_serve(&["--deflate", "--deflate-server-max-window-bits", "9", "--deflate-level", "1"]);
    let options = ConnectOptions {
        config: hybi::Config { deflate: Some(hybi::DeflateConfig::default()), ..hybi::Config::default() },
        proxy: Proxy::None,
        ..ConnectOptions::default()
    };
    let conn = connect_with(&format!("ws://{addr}/"), options).unwrap();
    assert_eq!(conn.deflate().map(|d| d.server_max_window_bits), Some(9));
    conn.close().unwrap();

    // Handshake limits: a request with more headers than --max-headers gets 431.
    let (_server, addr) = hybi_serve(&["--max-headers", "8"]);
    let many: Vec<(String, String)> = (0..10).map(|i| (format!("X-{i}"), "x".into())).collect();
    let mut options = ConnectOptions { proxy: Proxy::None, ..ConnectOptions::default() };
    for (name, value) in &many {
        options = options.header(name, value);
    }
    let error = connect_with(&format!("ws://{addr}/"), options).unwrap_err();
    assert_eq!(error.status(), Some(431), "{error}");

    // Keepalive: the server pings a client that has been quiet for
    // --keepalive (a raw one here, to see the ping itself).
    let (_server, addr) = hybi_serve(&["--keepalive", "0.1", "--invalid-utf8", "replace"]);
    let mut raw = common::raw_rfc6455(addr.parse().unwrap());
    raw.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut first = [0; 1];
    raw.read_exact(&mut first).unwrap();
    assert_eq!(first[0], 0x89, "a ping, unasked");

    // And a draft-76 client's invalid UTF-8 is replaced rather than fatal.
    let mut socket = common::raw_draft76(addr.parse().unwrap());
    socket.write_all(b"\x00a\xc3b\xff").unwrap();
    socket.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut echo = [0; 7];
    socket.read_exact(&mut echo).unwrap();
    assert_eq!(&echo, b"\x00a\xef\xbf\xbdb\xff", "the bad byte came back as U+FFFD");
}

#[test]
fn help_shows_examples_and_exit_statuses() {
    let serve_help = hybi(&["serve", "--help"], b"");
    assert_eq!(serve_help.code, 0);
    let text = serve_help.stdout();
    assert!(text.contains("Examples:") && text.contains("hybi serve --stdin"), "{text}");
    for flag in
        ["--keepalive", "--close-timeout", "--max-headers", "--invalid-utf8", "--deflate-level", "--stdin"]
    {
        assert!(text.contains(flag), "{flag} missing from serve --help");
    }
    let connect_help = hybi(&["connect", "--help"], b"");
    let text = connect_help.stdout();
    assert!(text.contains("Examples:") && text.contains("Exit status:"), "{text}");
    for flag in [
        "--origin",
        "--binary",
        "--raw",
        "--ping-interval",
        "--insecure",
        "--proxy",
        "--close-code",
        "--one-message",
        "--no-close",
    ] {
        assert!(text.contains(flag), "{flag} missing from connect --help");
    }
}
