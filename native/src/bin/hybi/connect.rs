//! `hybi connect URL`: stdin to messages, messages to stdout, with the
//! flags websocat and wscat users reach for (the README maps each habit to
//! its spelling here).

use std::io::{self, BufRead, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use clap::ValueEnum;
use hybi::{
    connect_with, Config, ConnectOptions, Connection, DeflateConfig, ErrorKind, Framing, Header, Message,
    Protocol, Timeouts,
};

use crate::{describe, seconds, FramingArg};

/// Examples and exit codes, shown by `hybi connect --help`.
const AFTER_HELP: &str = "\
Examples:
  hybi connect ws://127.0.0.1:8080/                 type lines, see replies
  echo hello | hybi connect -1 wss://echo.example/  one message, one reply, exit
  hybi connect -H 'Authorization: Bearer T' --origin https://app.example wss://api.example/ws
  hybi connect --subprotocol chat.v2 --subprotocol chat ws://host/chat
  head -c 16 /dev/urandom | hybi connect -1 -b ws://host/   binary, reply printed as hex
  hybi connect --ping-interval 5 ws://host/          pings every 5 s, prints pong times
  hybi connect -k wss://self-signed.test/            skip certificate checks (testing only)
  hybi connect --framing old ws://legacy.example/    the 2010 draft-76 protocol

Exit status:
  0  the connection closed cleanly (also when the server dropped TCP instead of
     answering our close: reported on stderr)
  1  another failure (bad URL, unreadable file, a flag the connection cannot honour)
  2  command-line usage error
  3  the server refused the handshake (HTTP status other than 101)
  4  protocol error (WebSocket or TLS), or a limit exceeded
  5  the connection could not be made, or was lost (I/O, end of stream, proxy)
  6  timeout";

/// `hybi connect`'s exit statuses (documented in [`AFTER_HELP`]).
mod exit {
    pub const CLEAN: u8 = 0;
    pub const FAILED: u8 = 1;
    pub const REFUSED: u8 = 3;
    pub const PROTOCOL: u8 = 4;
    pub const LOST: u8 = 5;
    pub const TIMEOUT: u8 = 6;
}

fn exit_code(kind: ErrorKind) -> u8 {
    match kind {
        ErrorKind::HandshakeRefused => exit::REFUSED,
        ErrorKind::Protocol | ErrorKind::LimitExceeded | ErrorKind::Tls => exit::PROTOCOL,
        ErrorKind::Io | ErrorKind::UnexpectedEof | ErrorKind::Closed | ErrorKind::Proxy => exit::LOST,
        ErrorKind::Timeout => exit::TIMEOUT,
        _ => exit::FAILED,
    }
}

#[derive(clap::Args)]
#[command(after_help = AFTER_HELP)]
pub(crate) struct ConnectArgs {
    /// ws:// or wss:// URL.
    url: String,
    /// Extra request header, `Name: value` (repeatable).
    #[arg(short = 'H', long = "header", value_name = "NAME: VALUE")]
    headers: Vec<String>,
    /// The Origin header to send.
    #[arg(long)]
    origin: Option<String>,
    /// Protocol to speak [default: rfc6455; draft76 when --framing is given].
    #[arg(long, value_enum)]
    protocol: Option<ClientProtocol>,
    /// Draft-76 framing [default: old]; implies --protocol draft76.
    #[arg(long, value_enum)]
    framing: Option<FramingArg>,
    /// Subprotocol to offer (repeatable, most preferred first; draft-76
    /// takes one).
    #[arg(long, value_name = "NAME")]
    subprotocol: Vec<String>,
    /// Offer RFC 6455 permessage-deflate (not with draft-76).
    #[arg(long)]
    deflate: bool,
    /// Send binary messages: each stdin line (without its line ending), or
    /// with -1 the whole of stdin, byte for byte (RFC 6455 only).
    #[arg(short = 'b', long)]
    binary: bool,
    /// How binary messages received are printed, one per line.
    #[arg(long, value_enum, default_value_t = BinaryFormat::Hex, value_name = "FORMAT")]
    binary_format: BinaryFormat,
    /// Write binary messages received to stdout as they are, with nothing
    /// added (for piping files); text messages still end with a newline.
    #[arg(long)]
    raw: bool,
    /// One message: send the whole of stdin as one message, print the first
    /// message received, close and exit.
    #[arg(short = '1', long)]
    one_message: bool,
    /// Send a ping every SECS seconds (decimals allowed; RFC 6455) and print
    /// each pong's round-trip time on stderr.
    #[arg(long, value_name = "SECS", value_parser = seconds)]
    ping_interval: Option<Duration>,
    /// At the end of stdin, do not close: keep printing what arrives until
    /// the server closes (websocat's -n).
    #[arg(short = 'n', long)]
    no_close: bool,
    /// The close code to send at the end of stdin (RFC 6455) [default: 1000].
    #[arg(long, value_name = "CODE")]
    close_code: Option<u16>,
    /// The close reason to send with it (RFC 6455).
    #[arg(long, value_name = "TEXT", default_value = "")]
    close_reason: String,
    /// Extra root certificates (PEM) to trust for wss://.
    #[arg(long, value_name = "FILE")]
    ca: Option<PathBuf>,
    /// wss://: accept any certificate (self-signed, expired, another
    /// name). Encrypted, but not authenticated: for testing only.
    #[arg(short = 'k', long)]
    insecure: bool,
    /// HTTP CONNECT proxy, `http://[user:password@]host[:port]`, or `none`
    /// [default: the environment's HTTP(S)_PROXY, minus NO_PROXY].
    #[arg(long, value_name = "URL")]
    proxy: Option<String>,
    /// Seconds the TCP connect may take, and then the TLS and WebSocket
    /// handshakes together (decimals allowed; 0: no limit).
    #[arg(long, value_name = "SECS", default_value = "30", value_parser = seconds)]
    handshake_timeout: Duration,
}

#[derive(Clone, Copy, ValueEnum)]
enum ClientProtocol {
    Draft76,
    Rfc6455,
}

#[derive(Clone, Copy, ValueEnum)]
enum BinaryFormat {
    Hex,
    Base64,
}

/// How received messages are written to stdout.
#[derive(Clone, Copy)]
struct Printer {
    format: BinaryFormat,
    raw: bool,
}

impl Printer {
    fn print(&self, message: &Message) {
        let mut out = io::stdout().lock();
        let _ = match message {
            Message::Text(text) => writeln!(out, "{text}"),
            Message::Binary(data) if self.raw => out.write_all(data),
            Message::Binary(data) => match self.format {
                BinaryFormat::Hex => {
                    let hex: String = data.iter().map(|b| format!("{b:02x}")).collect();
                    writeln!(out, "{hex}")
                }
                BinaryFormat::Base64 => {
                    writeln!(out, "{}", base64::engine::general_purpose::STANDARD.encode(data))
                }
            },
        };
        let _ = out.flush();
    }
}

/// The protocol `hybi connect`'s flags ask for: a flag that implies a
/// protocol selects it (`--framing` is draft-76's), and flags that
/// contradict each other are an error rather than one of them ignored.
fn client_protocol(args: &ConnectArgs) -> Result<Protocol, String> {
    let protocol = match (args.protocol, args.framing) {
        (Some(ClientProtocol::Rfc6455), Some(_)) => {
            return Err("--framing is draft-76's framing; it cannot go with --protocol rfc6455".into())
        }
        (Some(ClientProtocol::Rfc6455), None) => Protocol::Rfc6455,
        (Some(ClientProtocol::Draft76) | None, Some(framing)) => Protocol::Draft76(framing.into()),
        (Some(ClientProtocol::Draft76), None) => Protocol::Draft76(Framing::Old),
        (None, None) => Protocol::default(),
    };
    if protocol != Protocol::Rfc6455 {
        let rfc6455_only = [
            (args.deflate, "--deflate is RFC 6455's permessage-deflate"),
            (args.binary, "--binary sends binary messages, which draft-76 does not have"),
            (args.ping_interval.is_some(), "--ping-interval sends pings, which draft-76 does not have"),
            (
                args.close_code.is_some() || !args.close_reason.is_empty(),
                "--close-code and --close-reason are RFC 6455's",
            ),
        ];
        if let Some((_, why)) = rfc6455_only.iter().find(|(given, _)| *given) {
            return Err(format!("{why}; draft-76 (--protocol draft76 or --framing) cannot honour it"));
        }
    }
    if args.no_close && args.close_code.is_some() {
        return Err("--no-close sends no close, so --close-code has nothing to go with".into());
    }
    Ok(protocol)
}

/// What went wrong with a connection attempt, naming the flag to try when
/// the server may speak the other protocol (docs/PROTOCOLS.md §5.1).
fn connect_failure(url: &str, error: &hybi::Error) -> String {
    let hint = match error.suggested_protocol() {
        Some(Protocol::Rfc6455) => "; the server may speak only RFC 6455: try --protocol rfc6455",
        Some(Protocol::Draft76(_)) => {
            "; the server may speak only draft-76: try --protocol draft76 (and --framing new if 'old' fails)"
        }
        None => "",
    };
    match (error.core(), hint) {
        (Some(core), hint) if !hint.is_empty() => {
            let reason = error.response().filter(|r| r.status != 101 && !r.reason.is_empty());
            let reason = reason.map(|r| format!(" {}", r.reason)).unwrap_or_default();
            format!("cannot connect to {url}: {core}{reason}{hint}")
        }
        _ => format!("cannot connect to {url}: {error}"),
    }
}

fn options(args: &ConnectArgs) -> Result<ConnectOptions, String> {
    let handshake_timeout = Some(args.handshake_timeout).filter(|t| !t.is_zero());
    let mut options = ConnectOptions {
        config: Config {
            protocol: client_protocol(args)?,
            deflate: args.deflate.then(DeflateConfig::default),
            timeouts: Timeouts { handshake: handshake_timeout, ..Timeouts::default() },
            ..Config::default()
        },
        subprotocols: args.subprotocol.clone(),
        connect_timeout: handshake_timeout,
        ..ConnectOptions::default()
    };
    for header in &args.headers {
        let (name, value) =
            header.split_once(':').ok_or_else(|| format!("header {header:?} is not `Name: value`"))?;
        options.headers.push(Header::new(name.trim(), value.trim_start()));
    }
    if let Some(origin) = &args.origin {
        options.headers.push(Header::new("Origin", origin.as_str()));
    }
    match args.proxy.as_deref() {
        None => {}
        Some("none") => options.proxy = hybi::Proxy::None,
        Some(url) => {
            let url = hybi::url::Url::parse(url).map_err(|e| format!("--proxy {url:?}: {e}"))?;
            options.proxy = hybi::Proxy::Url(url);
        }
    }
    #[cfg(feature = "tls")]
    {
        if let Some(ca) = &args.ca {
            options.extra_roots_pem =
                std::fs::read(ca).map_err(|e| format!("reading {}: {e}", ca.display()))?;
        }
        options.danger_accept_invalid_certs = args.insecure;
    }
    #[cfg(not(feature = "tls"))]
    if args.ca.is_some() || args.insecure {
        return Err("--ca and --insecure need TLS: built without the `tls` feature".into());
    }
    Ok(options)
}

pub(crate) fn run(args: ConnectArgs) -> ExitCode {
    let options = match options(&args) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("hybi: {message}");
            return ExitCode::from(exit::FAILED);
        }
    };
    let conn = match connect_with(&args.url, options) {
        Ok(conn) => conn,
        Err(e) => {
            eprintln!("hybi: {}", connect_failure(&args.url, &e));
            return ExitCode::from(exit_code(e.kind()));
        }
    };
    match conn.subprotocol() {
        Some(subprotocol) => {
            eprintln!("connected to {} ({}, subprotocol {subprotocol})", args.url, describe(conn.protocol()))
        }
        None => eprintln!("connected to {} ({})", args.url, describe(conn.protocol())),
    }
    if let Some(interval) = args.ping_interval {
        start_pinging(&conn, interval);
    }
    let printer = Printer { format: args.binary_format, raw: args.raw };
    let code =
        if args.one_message { one_message(&conn, &args, printer) } else { lines(&conn, &args, printer) };
    ExitCode::from(code)
}

/// Pings every `interval`, each carrying the microseconds since the first,
/// and prints each pong's round-trip time from that.
fn start_pinging(conn: &Connection, interval: Duration) {
    let start = Instant::now();
    conn.on_pong(move |payload| {
        if let Ok(sent) = <[u8; 8]>::try_from(payload) {
            let sent = Duration::from_micros(u64::from_be_bytes(sent));
            let rtt = start.elapsed().saturating_sub(sent);
            eprintln!("pong: {:.1} ms", rtt.as_secs_f64() * 1000.0);
        }
    });
    let conn = conn.clone();
    std::thread::spawn(move || loop {
        std::thread::sleep(interval);
        let now = u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX);
        if conn.ping(&now.to_be_bytes()).is_err() {
            break;
        }
    });
}

/// `-1`: the whole of stdin as one message, then the first reply.
fn one_message(conn: &Connection, args: &ConnectArgs, printer: Printer) -> u8 {
    let mut input = Vec::new();
    if let Err(e) = io::stdin().read_to_end(&mut input) {
        eprintln!("hybi: reading stdin: {e}");
        return exit::FAILED;
    }
    let sent = if args.binary {
        conn.send_binary(&input)
    } else {
        // `echo hello | hybi connect -1` sends `hello`, not `hello\n`.
        let text = String::from_utf8_lossy(&input);
        conn.send_text(text.strip_suffix('\n').map(|t| t.strip_suffix('\r').unwrap_or(t)).unwrap_or(&text))
    };
    let outcome = match sent.and_then(|()| conn.recv()) {
        Ok(Some(message)) => {
            printer.print(&message);
            finish(conn, args)
        }
        Ok(None) => Ok(()),
        Err(e) => Err(e),
    };
    report(conn, outcome, true)
}

/// Each stdin line a message; every message received printed, on a thread
/// of its own, until the connection ends.
fn lines(conn: &Connection, args: &ConnectArgs, printer: Printer) -> u8 {
    let stdin_done = Arc::new(AtomicBool::new(false));
    let receiver = {
        let conn = conn.clone();
        let stdin_done = Arc::clone(&stdin_done);
        std::thread::spawn(move || {
            let outcome = print_messages(&conn, printer);
            if !stdin_done.load(Ordering::SeqCst) {
                // The server ended it while we still read stdin.
                std::process::exit(report(&conn, outcome, false).into());
            }
            outcome
        })
    };
    for line in io::stdin().lock().split(b'\n') {
        let Ok(mut line) = line else { break };
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        let sent = if args.binary {
            conn.send_binary(&line)
        } else {
            conn.send_text(&String::from_utf8_lossy(&line))
        };
        if sent.is_err() {
            // The receiving side reports why.
            break;
        }
    }
    stdin_done.store(true, Ordering::SeqCst);
    let closed = finish(conn, args);
    let received = receiver
        .join()
        .unwrap_or_else(|_| Err(hybi::Error::from(io::Error::other("the receiving thread panicked"))));
    let closing = !args.no_close;
    report(conn, received.and(closed), closing)
}

/// At the end of input: the close, as the flags say (or none with
/// `--no-close`, leaving it to the server).
fn finish(conn: &Connection, args: &ConnectArgs) -> Result<(), hybi::Error> {
    if args.no_close {
        return Ok(());
    }
    conn.close_with(Some(args.close_code.unwrap_or(1000)), &args.close_reason)
}

/// Prints every message until the connection ends.
fn print_messages(conn: &Connection, printer: Printer) -> Result<(), hybi::Error> {
    loop {
        match conn.recv() {
            Ok(Some(message)) => printer.print(&message),
            Ok(None) => return Ok(()),
            Err(e) => return Err(e),
        }
    }
}

/// Says how the connection ended, with the close code and reason received;
/// returns the exit status. `we_closed`: our close went out first, so a
/// server that then drops TCP without answering it has still taken every
/// message (websocat tolerates it too): reported, and a clean exit.
fn report(conn: &Connection, outcome: Result<(), hybi::Error>, we_closed: bool) -> u8 {
    let _ = io::stdout().flush();
    match outcome {
        Ok(()) => {
            match conn.close_status() {
                Some(close) => match close.code {
                    Some(code) if close.reason.is_empty() => eprintln!("closed: code {code}"),
                    Some(code) => eprintln!("closed: code {code}, reason {:?}", close.reason),
                    None => eprintln!("closed"),
                },
                None => eprintln!("closed"),
            }
            exit::CLEAN
        }
        Err(e) if we_closed && matches!(e.kind(), ErrorKind::UnexpectedEof | ErrorKind::Io) => {
            eprintln!("closed: the server ended the connection without answering our close ({e})");
            exit::CLEAN
        }
        Err(e) => {
            eprintln!("hybi: connection failed: {e}");
            exit_code(e.kind())
        }
    }
}
