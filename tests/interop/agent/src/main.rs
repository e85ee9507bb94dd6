//! `interop-agent`: the native driver's side of the interop suite
//! (`tests/interop/README.md`). It uses only the public API of the `hybi`
//! crate, as an application would, so a cell that fails here fails for a
//! user too.
//!
//! ```text
//! interop-agent server --script FILE [--deflate [--deflate-tuned]] [--framing old|new|auto]
//!     [--protocols any|draft76|rfc6455] [--allow-origin ORIGIN] [--close-after N]
//! interop-agent client --script FILE --url URL --protocol draft76|rfc6455
//!     [--framing old|new] [--deflate [--deflate-tuned]] [--closer client|server] [--origin ORIGIN]
//!     [--expect-status N]
//! ```
//!
//! The server prints `{"listening":PORT}`, echoes the first WebSocket
//! connection's messages (pinging before every `ping_every`-th echo), closes
//! it itself after `--close-after` messages if asked, prints that
//! connection's report and exits. It also exits when its stdin ends, so the
//! orchestrator can always stop it. The client runs the script in lockstep
//! (send, await the echo, compare), pinging before every `ping_every`-th
//! message, closes or waits for the server's close, and prints its report.
//!
//! Reports are one JSON line each, in the shape every peer of the suite
//! uses: what arrived (checked against the script by the side that got it),
//! pings, the close code seen, and errors.

use std::io::{BufRead, Write};
use std::process::ExitCode;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use hybi::{
    connect_with, serve, Accept, Config, ConnectOptions, Connection, DeflateConfig, ErrorKind, Framing,
    HttpResponse, Message, Protocol, ProtocolSet, ServeOptions,
};
use serde_json::{json, Value};

/// Close code the client sends when it closes (RFC 6455): distinct from the
/// server's so a peer that reports a fixed code (or 1005) is caught.
const CLIENT_CLOSE_CODE: u16 = 4000;
/// Close code the server sends when it closes.
const SERVER_CLOSE_CODE: u16 = 4001;
/// Reason sent with either close, so reasons (and their UTF-8) are checked too.
const CLOSE_REASON: &str = "bye ✓";

/// `--deflate-tuned`: every permessage-deflate parameter asked for, with
/// small windows (9 is the smallest zlib-based peers honour; see
/// `DeflateConfig::client_max_window_bits`), so negotiation and
/// no-context-takeover compression are tested against real peers.
fn deflate_config(args: &Args) -> Option<DeflateConfig> {
    if args.flag("--deflate-tuned") {
        Some(DeflateConfig {
            server_no_context_takeover: true,
            client_no_context_takeover: true,
            server_max_window_bits: Some(10),
            client_max_window_bits: Some(9),
            ..DeflateConfig::default()
        })
    } else {
        args.flag("--deflate").then(DeflateConfig::default)
    }
}

/// One message of the exchange script (`script-*.json`, written by run.py).
#[derive(Clone, Debug)]
struct Step {
    binary: bool,
    payload: Vec<u8>,
    label: String,
}

struct Script {
    steps: Vec<Step>,
    ping_every: usize,
}

/// Generates a payload exactly as the other implementations of the suite
/// do (run.py, peers/*.py, peers/*.mjs): every side derives the expected
/// message from the script alone, so nothing but the peer can corrupt it.
fn generate(gen: &str, len: usize) -> Result<Vec<u8>, String> {
    match gen {
        "ascii" => Ok((0..len).map(|i| 0x20 + ((i * 7 + len) % 95) as u8).collect()),
        "utf8" => {
            // 1, 2, 3 and 4-byte characters, repeated; padded with ASCII.
            let unit = "aé€𝄞".as_bytes();
            let mut out = Vec::with_capacity(len);
            while out.len() + unit.len() <= len {
                out.extend_from_slice(unit);
            }
            out.resize(len, b'a');
            Ok(out)
        }
        "bytes" => Ok((0..len).map(|i| ((i * 31 + len * 7 + 11) & 0xff) as u8).collect()),
        other => Err(format!("unknown generator {other:?}")),
    }
}

fn load_script(path: &str) -> Result<Script, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("reading {path}: {e}"))?;
    let value: Value = serde_json::from_str(&text).map_err(|e| format!("parsing {path}: {e}"))?;
    let ping_every = value["ping_every"].as_u64().unwrap_or(0) as usize;
    let mut steps = Vec::new();
    for m in value["messages"].as_array().ok_or("script has no messages")? {
        let kind = m["type"].as_str().ok_or("message without type")?;
        let gen = m["gen"].as_str().ok_or("message without gen")?;
        let len = m["len"].as_u64().ok_or("message without len")? as usize;
        steps.push(Step {
            binary: kind == "binary",
            payload: generate(gen, len)?,
            label: format!("{kind}/{gen}/{len}"),
        });
    }
    Ok(Script { steps, ping_every })
}

fn message_of(step: &Step) -> Message {
    if step.binary {
        Message::Binary(step.payload.clone())
    } else {
        Message::Text(String::from_utf8(step.payload.clone()).expect("text generators make UTF-8"))
    }
}

/// What one side saw, as JSON (see the README for the fields).
struct Report {
    role: &'static str,
    protocol: Option<String>,
    deflate: Option<bool>,
    deflate_params: Value,
    received: Vec<Value>,
    pings_sent: usize,
    close: Option<Value>,
    errors: Vec<String>,
}

impl Report {
    fn new(role: &'static str) -> Report {
        Report {
            role,
            protocol: None,
            deflate: None,
            deflate_params: Value::Null,
            received: Vec::new(),
            pings_sent: 0,
            close: None,
            errors: Vec::new(),
        }
    }

    fn opened(&mut self, conn: &Connection) {
        self.protocol = Some(match conn.protocol() {
            Protocol::Rfc6455 => "rfc6455".into(),
            Protocol::Draft76(Framing::Old) => "draft76-old".into(),
            Protocol::Draft76(Framing::New) => "draft76-new".into(),
            // A server with `--framing auto`, opened before the client's
            // first bytes.
            Protocol::Draft76(Framing::Auto) => "draft76-auto".into(),
        });
        self.deflate = Some(conn.deflate().is_some());
        self.deflate_params = conn.deflate().map_or(Value::Null, |p| {
            json!({
                "server_no_context_takeover": p.server_no_context_takeover,
                "client_no_context_takeover": p.client_no_context_takeover,
                "server_max_window_bits": p.server_max_window_bits,
                "client_max_window_bits": p.client_max_window_bits,
            })
        });
    }

    /// Records message `index` against the script; false when it differs.
    fn received(&mut self, script: &Script, message: &Message) -> bool {
        let index = self.received.len();
        let (kind, bytes) = match message {
            Message::Text(t) => ("text", t.as_bytes()),
            Message::Binary(b) => ("binary", b.as_slice()),
        };
        let ok =
            script.steps.get(index).is_some_and(|s| s.binary == (kind == "binary") && s.payload == bytes);
        if !ok {
            let want = script.steps.get(index).map_or("nothing".into(), |s| s.label.clone());
            self.errors.push(format!(
                "message {index}: got {kind} of {} bytes, expected {want}{}",
                bytes.len(),
                first_difference(script.steps.get(index).map(|s| s.payload.as_slice()), bytes)
            ));
        }
        self.received.push(json!({"type": kind, "len": bytes.len(), "ok": ok}));
        ok
    }

    fn closed(&mut self, conn: &Connection) {
        self.close = conn.close_status().map(|c| json!({"code": c.code, "reason": c.reason}));
    }

    fn to_json(&self) -> Value {
        json!({
            "impl": "hybi-native",
            "role": self.role,
            "protocol": self.protocol,
            "deflate": self.deflate,
            "deflate_params": self.deflate_params,
            "received": self.received,
            "pings_sent": self.pings_sent,
            "pongs_received": Value::Null,
            "pings_received": Value::Null,
            "close": self.close,
            "errors": self.errors,
        })
    }
}

/// Where two payloads first differ, to make a failing cell's log useful.
fn first_difference(want: Option<&[u8]>, got: &[u8]) -> String {
    let Some(want) = want else { return String::new() };
    match want.iter().zip(got).position(|(a, b)| a != b) {
        Some(i) => format!(" (first difference at byte {i}: got {:#04x}, expected {:#04x})", got[i], want[i]),
        None => format!(" (lengths {} vs {} agree on the common prefix)", got.len(), want.len()),
    }
}

fn print(value: &Value) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{value}");
    let _ = out.flush();
}

/// Command-line options, `--name value` or `--flag`.
struct Args(Vec<String>);

impl Args {
    fn value(&self, name: &str) -> Option<&str> {
        self.0.iter().position(|a| a == name).and_then(|i| self.0.get(i + 1)).map(String::as_str)
    }

    fn flag(&self, name: &str) -> bool {
        self.0.iter().any(|a| a == name)
    }

    fn framing(&self) -> Result<Framing, String> {
        match self.value("--framing").unwrap_or("old") {
            "old" => Ok(Framing::Old),
            "new" => Ok(Framing::New),
            "auto" => Ok(Framing::Auto),
            other => Err(format!("--framing {other:?}: expected old, new or auto")),
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("server") => run_server(&Args(args[1..].to_vec())),
        Some("client") => run_client(&Args(args[1..].to_vec())),
        _ => Err("usage: interop-agent server|client --script FILE ... (see the source)".into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            print(&json!({"impl": "hybi-native", "errors": [e]}));
            ExitCode::FAILURE
        }
    }
}

fn run_server(args: &Args) -> Result<(), String> {
    let script = Arc::new(load_script(args.value("--script").ok_or("--script is required")?)?);
    let close_after: Option<usize> = match args.value("--close-after") {
        Some(n) => Some(n.parse().map_err(|e| format!("--close-after: {e}"))?),
        None => None,
    };
    let protocols = match args.value("--protocols").unwrap_or("any") {
        "any" => ProtocolSet::default(),
        "draft76" => ProtocolSet { draft76: true, rfc6455: false },
        "rfc6455" => ProtocolSet { draft76: false, rfc6455: true },
        other => return Err(format!("--protocols {other:?}")),
    };
    let allow_origin = args.value("--allow-origin").map(str::to_owned);
    // The handler and the stdin watcher each tell main to stop.
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let stdin_done = done_tx.clone();
    let done = std::sync::Mutex::new(done_tx);

    let options = ServeOptions::<()> {
        port: 0,
        listen_ip: Some([127, 0, 0, 1].into()),
        config: Config {
            framing: args.framing()?,
            accept: protocols,
            deflate: deflate_config(args),
            ..Config::default()
        },
        ..ServeOptions::default()
    }
    // The seed's conn-headers hook decides on the Origin: a refusal is an
    // HTTP response, which the peer must see as such.
    .with_conn_headers(move |request| {
        let origin = request.headers.get_str("Origin").map(str::to_owned);
        match (&allow_origin, &origin) {
            (Some(allowed), Some(origin)) if allowed == origin => Ok((Accept::default(), ())),
            (Some(_), _) => {
                print(&json!({"refused": {"origin": origin, "status": 403}}));
                Err(HttpResponse::text(403, "origin not allowed\n"))
            }
            (None, _) => Ok((Accept::default(), ())),
        }
    });
    let handler_script = Arc::clone(&script);
    let server = serve(
        move |conn, ()| {
            let report = serve_one(&conn, &handler_script, close_after);
            print(&report.to_json());
            let _ = done.lock().map(|d| d.send(()));
        },
        options,
    )
    .map_err(|e| format!("serve: {e}"))?;
    print(&json!({"listening": server.local_addr().port()}));

    // Stdin ending (the orchestrator closing it, or dying) stops us too.
    std::thread::spawn(move || {
        let mut line = String::new();
        while std::io::stdin().lock().read_line(&mut line).is_ok_and(|n| n > 0) {
            line.clear();
        }
        let _ = stdin_done.send(());
    });
    let _ = done_rx.recv();
    server.stop();
    Ok(())
}

fn serve_one(conn: &Connection, script: &Script, close_after: Option<usize>) -> Report {
    let mut report = Report::new("server");
    report.opened(conn);
    let rfc6455 = conn.protocol() == Protocol::Rfc6455;
    loop {
        match conn.recv() {
            Ok(Some(message)) => {
                let index = report.received.len();
                report.received(script, &message);
                if rfc6455 && script.ping_every > 0 && index % script.ping_every == 2 {
                    match conn.ping(format!("s{index}").as_bytes()) {
                        Ok(()) => report.pings_sent += 1,
                        Err(e) => report.errors.push(format!("ping before echo {index}: {e}")),
                    }
                }
                if let Err(e) = conn.send(&message) {
                    report.errors.push(format!("echo {index}: {e}"));
                    break;
                }
                if close_after == Some(index + 1) {
                    let code = if rfc6455 { Some(SERVER_CLOSE_CODE) } else { None };
                    let reason = if rfc6455 { CLOSE_REASON } else { "" };
                    if let Err(e) = conn.close_with(code, reason) {
                        report.errors.push(format!("close: {e}"));
                    }
                    break;
                }
            }
            Ok(None) => break,
            Err(e) => {
                report.errors.push(format!("recv after {} messages: {e}", report.received.len()));
                break;
            }
        }
    }
    report.closed(conn);
    report
}

fn run_client(args: &Args) -> Result<(), String> {
    let script = load_script(args.value("--script").ok_or("--script is required")?)?;
    let url = args.value("--url").ok_or("--url is required")?;
    let protocol = match args.value("--protocol").unwrap_or("rfc6455") {
        "rfc6455" => Protocol::Rfc6455,
        "draft76" => Protocol::Draft76(args.framing()?),
        other => return Err(format!("--protocol {other:?}")),
    };
    let closer_is_us = match args.value("--closer").unwrap_or("client") {
        "client" => true,
        "server" => false,
        other => return Err(format!("--closer {other:?}")),
    };
    let origin = args.value("--origin").unwrap_or("http://127.0.0.1");
    let options = ConnectOptions {
        config: Config { protocol, deflate: deflate_config(args), ..Config::default() },
        ..ConnectOptions::default()
    }
    .header("Origin", origin);

    let mut report = Report::new("client");
    let conn = match connect_with(url, options) {
        Ok(conn) => conn,
        Err(e) => {
            // A refusal test expects exactly this, with the status.
            print(&json!({
                "impl": "hybi-native",
                "role": "client",
                "refused": {"status": e.status(), "refused_kind": e.kind() == ErrorKind::HandshakeRefused},
                "errors": if args.value("--expect-status").is_some() { vec![] } else { vec![format!("connect: {e}")] },
            }));
            return Ok(());
        }
    };
    if args.value("--expect-status").is_some() {
        report.errors.push("connected, but the server was expected to refuse".into());
    }
    // A stuck peer must fail the cell, not hang the suite.
    conn.set_read_timeout(Some(Duration::from_secs(30)));
    report.opened(&conn);
    let rfc6455 = protocol == Protocol::Rfc6455;
    let mut ok = true;
    for (index, step) in script.steps.iter().enumerate() {
        if rfc6455 && script.ping_every > 0 && index % script.ping_every == 1 {
            match conn.ping(format!("c{index}").as_bytes()) {
                Ok(()) => report.pings_sent += 1,
                Err(e) => report.errors.push(format!("ping before message {index}: {e}")),
            }
        }
        if let Err(e) = conn.send(&message_of(step)) {
            report.errors.push(format!("send {index} ({}): {e}", step.label));
            ok = false;
            break;
        }
        match conn.recv() {
            Ok(Some(message)) => {
                report.received(&script, &message);
            }
            Ok(None) => {
                report.errors.push(format!("connection ended awaiting echo {index}"));
                ok = false;
                break;
            }
            Err(e) => {
                report.errors.push(format!("awaiting echo {index}: {e}"));
                ok = false;
                break;
            }
        }
    }
    if ok {
        if closer_is_us {
            let code = if rfc6455 { Some(CLIENT_CLOSE_CODE) } else { None };
            let reason = if rfc6455 { CLOSE_REASON } else { "" };
            if let Err(e) = conn.close_with(code, reason) {
                report.errors.push(format!("close: {e}"));
            }
        } else {
            // Anything before the close is recorded (and fails the check
            // as "expected nothing"); the orchestrator decides.
            loop {
                match conn.recv() {
                    Ok(None) => break,
                    Ok(Some(m)) => {
                        report.received(&script, &m);
                    }
                    Err(e) => {
                        report.errors.push(format!("awaiting the server's close: {e}"));
                        break;
                    }
                }
            }
        }
    }
    report.closed(&conn);
    print(&report.to_json());
    Ok(())
}
