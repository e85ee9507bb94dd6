//! `interop-agent`: our drivers' side of the interop suite
//! (`tests/interop/README.md`). It uses only the public API of the `hybi`
//! crate, as an application would, so a cell that fails here fails for a
//! user too: the blocking driver by default (`blocking.rs`), the async one
//! (`hybi::tokio`, `tokio_driver.rs`) with `--driver tokio`. Both run the
//! same script with the same options and report in the same shape, so
//! run.py checks them with one set of rules.
//!
//! ```text
//! interop-agent [--driver native|tokio] server --script FILE [--deflate [--deflate-tuned]]
//!     [--framing old|new|auto] [--protocols any|draft76|rfc6455] [--allow-origin ORIGIN]
//!     [--close-after N]
//! interop-agent [--driver native|tokio] client --script FILE --url URL --protocol draft76|rfc6455
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

mod blocking;
mod report;
mod script;
mod tokio_driver;

use std::io::{BufRead, Write};
use std::process::ExitCode;
use std::time::Duration;

use hybi::{
    Accept, Config, ConnectOptions, DeflateConfig, Error, ErrorKind, Framing, HttpResponse, Protocol,
    ProtocolSet, ServeOptions,
};
use serde_json::{json, Value};

use crate::script::{load_script, Script};

/// Close code the client sends when it closes (RFC 6455): distinct from the
/// server's so a peer that reports a fixed code (or 1005) is caught.
const CLIENT_CLOSE_CODE: u16 = 4000;
/// Close code the server sends when it closes.
const SERVER_CLOSE_CODE: u16 = 4001;
/// Reason sent with either close, so reasons (and their UTF-8) are checked too.
const CLOSE_REASON: &str = "bye ✓";
/// How long the client waits for an echo or the server's close: a stuck
/// peer must fail the cell, not hang the suite.
const CLIENT_WAIT: Duration = Duration::from_secs(30);

/// The code and reason our side closes with: draft-76 closes carry none.
fn close_args(protocol: Protocol, code: u16) -> (Option<u16>, &'static str) {
    match protocol {
        Protocol::Rfc6455 => (Some(code), CLOSE_REASON),
        Protocol::Draft76(_) => (None, ""),
    }
}

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

/// Which of our drivers runs the script.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Driver {
    /// The blocking `hybi` API (`serve`, `connect_with`, `Connection`).
    Native,
    /// `hybi::tokio` (`serve`, `connect`, `WebSocket`).
    Tokio,
}

impl Driver {
    /// The name reports carry as `impl`.
    fn implementation(self) -> &'static str {
        match self {
            Driver::Native => "hybi-native",
            Driver::Tokio => "hybi-tokio",
        }
    }
}

/// What the server side needs, the same for both drivers.
struct ServerSetup {
    script: Script,
    close_after: Option<usize>,
    /// With the Origin-checking `conn_headers` hook (the refusal row).
    options: ServeOptions<()>,
}

fn server_setup(args: &Args) -> Result<ServerSetup, String> {
    let script = load_script(args.value("--script").ok_or("--script is required")?)?;
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
    Ok(ServerSetup { script, close_after, options })
}

/// What the client side needs, the same for both drivers.
struct ClientSetup {
    script: Script,
    url: String,
    protocol: Protocol,
    /// The client starts the close (`--closer client`), or awaits the server's.
    closes: bool,
    /// `--expect-status`: the server must refuse the handshake.
    expect_refusal: bool,
    options: ConnectOptions,
}

fn client_setup(args: &Args) -> Result<ClientSetup, String> {
    let script = load_script(args.value("--script").ok_or("--script is required")?)?;
    let url = args.value("--url").ok_or("--url is required")?.to_owned();
    let protocol = match args.value("--protocol").unwrap_or("rfc6455") {
        "rfc6455" => Protocol::Rfc6455,
        "draft76" => Protocol::Draft76(args.framing()?),
        other => return Err(format!("--protocol {other:?}")),
    };
    let closes = match args.value("--closer").unwrap_or("client") {
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
    Ok(ClientSetup {
        script,
        url,
        protocol,
        closes,
        expect_refusal: args.value("--expect-status").is_some(),
        options,
    })
}

/// The client's report when the handshake failed: a refusal test expects
/// exactly this, with the status.
fn refused_report(driver: Driver, expect_refusal: bool, error: &Error) -> Value {
    json!({
        "impl": driver.implementation(),
        "role": "client",
        "refused": {"status": error.status(), "refused_kind": error.kind() == ErrorKind::HandshakeRefused},
        "errors": if expect_refusal { vec![] } else { vec![format!("connect: {error}")] },
    })
}

/// Runs `then` once stdin ends (the orchestrator closing it, or dying), so
/// a server is always stopped.
fn on_stdin_end(then: impl FnOnce() + Send + 'static) {
    std::thread::spawn(move || {
        let mut line = String::new();
        while std::io::stdin().lock().read_line(&mut line).is_ok_and(|n| n > 0) {
            line.clear();
        }
        then();
    });
}

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut driver = Ok(Driver::Native);
    if args.first().map(String::as_str) == Some("--driver") {
        driver = match args.get(1).map(String::as_str) {
            Some("native") => Ok(Driver::Native),
            Some("tokio") => Ok(Driver::Tokio),
            other => Err(format!("--driver {other:?}: expected native or tokio")),
        };
        args.drain(..2.min(args.len()));
    }
    let implementation = driver.as_ref().map_or("hybi", |d| d.implementation());
    let result = driver.and_then(|driver| {
        let rest = Args(args.get(1..).unwrap_or_default().to_vec());
        match (args.first().map(String::as_str), driver) {
            (Some("server"), Driver::Native) => blocking::run_server(server_setup(&rest)?),
            (Some("client"), Driver::Native) => blocking::run_client(client_setup(&rest)?),
            (Some("server"), Driver::Tokio) => tokio_driver::run_server(server_setup(&rest)?),
            (Some("client"), Driver::Tokio) => tokio_driver::run_client(client_setup(&rest)?),
            _ => Err("usage: interop-agent [--driver native|tokio] server|client --script FILE ... (see the source)"
                .into()),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            print(&json!({"impl": implementation, "errors": [e]}));
            ExitCode::FAILURE
        }
    }
}
