//! The `hybi` command: `hybi serve` (an echo server or, with `--broadcast`,
//! a chat room) and `hybi connect URL` (lines from stdin out, messages to
//! stdout, like wscat).

use std::collections::HashMap;
use std::io::{self, BufRead, Write};
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use hybi::{
    connect_with, serve, ConnectOptions, Connection, DeflateConfig, Framing, Header, Limits, Message,
    Protocol, ProtocolSet, ServeOptions, Timeouts,
};

#[derive(Parser)]
#[command(
    name = "hybi",
    version,
    about = "WebSocket server and client: draft-76 ('old' and 'new' framing) and RFC 6455"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve WebSocket connections: echo every message back, or with
    /// --broadcast send it to every open connection. A plain GET of `/`
    /// gets a page with a live console and a frame inspector. Logs
    /// connections to stderr, starting with `listening on ADDR`.
    Serve(ServeArgs),
    /// Connect to a WebSocket server: each line of stdin is sent as a text
    /// message, each message received is printed as a line. At the end of
    /// stdin, closes and exits 0 on a clean close.
    Connect(ConnectArgs),
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
    /// Port to listen on (0: any free port; see the `listening on` line).
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// A chat room: every message goes to every open connection.
    #[arg(long)]
    broadcast: bool,
    /// Protocols to accept (each request says which it speaks).
    #[arg(long, value_enum, default_value_t = ServeProtocol::Any)]
    protocol: ServeProtocol,
    /// Draft-76 framing (the request cannot say which).
    #[arg(long, value_enum, default_value_t = FramingArg::Old)]
    framing: FramingArg,
    /// TLS certificate chain (PEM); serves wss:// with --tls-key.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Accept RFC 6455 permessage-deflate.
    #[arg(long)]
    deflate: bool,
    /// Most connections at once, handshakes included; past it, new ones
    /// get HTTP 503.
    #[arg(long, value_name = "N", default_value_t = ServeOptions::<()>::default().max_connections)]
    max_connections: usize,
    /// Most connections at once from one client address; past it, its new
    /// ones get HTTP 503. Behind a reverse proxy every client has the
    /// proxy's address: raise this to --max-connections there.
    #[arg(long, value_name = "N", default_value_t = ServeOptions::<()>::default().max_connections_per_ip)]
    max_per_ip: usize,
    /// Listen backlog: connections the OS holds until they are accepted,
    /// room for a burst (the library's default is the seed's 4).
    #[arg(long, value_name = "N", default_value_t = 128)]
    backlog: u32,
    /// Seconds a connection may stay silent before it is closed (decimals
    /// allowed; 0: no limit).
    #[arg(long, value_name = "SECS", default_value = "3600", value_parser = seconds)]
    idle_timeout: Duration,
    /// Seconds from accepting a connection to the end of its TLS and
    /// WebSocket handshakes together, however slowly the client sends
    /// (decimals allowed; 0: no limit).
    #[arg(long, value_name = "SECS", default_value = "30", value_parser = seconds)]
    handshake_timeout: Duration,
    /// Largest message a client may send, in bytes; larger ones close the
    /// connection (RFC 6455 code 1009).
    #[arg(long, value_name = "BYTES", default_value_t = Limits::default().max_message_size)]
    max_message_size: usize,
    /// Largest frame a client may send, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = Limits::default().max_frame_size)]
    max_frame_size: usize,
    /// Most memory all connections together may hold for messages being
    /// received, messages not yet echoed and output queued, beyond the
    /// first 64 KiB of each, in MiB; a connection whose input would go past
    /// it is closed (RFC 6455: with code 1009) (0: no budget).
    #[arg(long, value_name = "MIB", default_value_t = ServeOptions::<()>::default().memory_budget >> 20)]
    memory_budget: usize,
    /// Where the page's frame inspector (the core as wasm, from
    /// ./scripts/build-page) is read from, at every request: it may appear
    /// while the server runs. Default: www/page/pkg of the repository this
    /// binary was built from.
    #[arg(long, value_name = "DIR", default_value = hybi::page::DEFAULT_INSPECTOR_DIR)]
    inspector_dir: PathBuf,
}

/// Parses seconds, decimals allowed, into a duration.
fn seconds(text: &str) -> Result<Duration, String> {
    let secs: f64 = text.parse().map_err(|_| format!("{text:?} is not a number of seconds"))?;
    Duration::try_from_secs_f64(secs).map_err(|_| format!("{text:?} is not a number of seconds"))
}

#[derive(clap::Args)]
struct ConnectArgs {
    /// ws:// or wss:// URL.
    url: String,
    /// Extra request header, `Name: value` (repeatable).
    #[arg(short = 'H', long = "header")]
    headers: Vec<String>,
    /// Protocol to speak [default: rfc6455; draft76 when --framing is given].
    #[arg(long, value_enum)]
    protocol: Option<ClientProtocol>,
    /// Draft-76 framing [default: old]; implies --protocol draft76.
    #[arg(long, value_enum)]
    framing: Option<FramingArg>,
    /// Subprotocol to offer (repeatable; draft-76 takes one).
    #[arg(long)]
    subprotocol: Vec<String>,
    /// Offer RFC 6455 permessage-deflate (not with draft-76).
    #[arg(long)]
    deflate: bool,
    /// Extra root certificates (PEM) to trust for wss://.
    #[arg(long)]
    ca: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
enum ServeProtocol {
    Any,
    Draft76,
    Rfc6455,
}

#[derive(Clone, Copy, ValueEnum)]
enum ClientProtocol {
    Draft76,
    Rfc6455,
}

#[derive(Clone, Copy, ValueEnum)]
enum FramingArg {
    Old,
    New,
}

impl From<FramingArg> for Framing {
    fn from(framing: FramingArg) -> Self {
        match framing {
            FramingArg::Old => Framing::Old,
            FramingArg::New => Framing::New,
        }
    }
}

/// Keeps glibc from holding on to the memory of large messages once they
/// are freed. glibc serves a large block with its own mapping, returned to
/// the system when freed, but after the first such free it raises that
/// threshold (up to 32 MiB) to the block's size, so later 16 MiB messages
/// come from the heap of the thread's arena, whose freed pages stay with
/// the process: measured, three deflate connections that each echoed 16 MiB
/// messages left the server at 77.5 MiB when idle instead of 5.6 MiB. A
/// fixed threshold (glibc's default, 128 KiB) keeps large blocks in their
/// own mappings. Same as `MALLOC_MMAP_THRESHOLD_=131072`, which still wins
/// if set.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn tune_allocator() {
    if std::env::var_os("MALLOC_MMAP_THRESHOLD_").is_none() {
        // SAFETY: mallopt only sets a malloc parameter; called before any
        // other thread exists.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
        }
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn tune_allocator() {}

fn main() -> ExitCode {
    tune_allocator();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => run_serve(args),
        Command::Connect(args) => run_connect(args),
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("hybi: {message}");
            ExitCode::FAILURE
        }
    }
}

fn describe(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::Draft76(Framing::Old) => "draft-76 'old'",
        Protocol::Draft76(Framing::New) => "draft-76 'new'",
        Protocol::Rfc6455 => "RFC 6455",
    }
}

/// A timeout as the `limits:` line shows it.
fn describe_timeout(timeout: Duration) -> String {
    if timeout.is_zero() {
        "none".into()
    } else {
        format!("{} s", timeout.as_secs_f64())
    }
}

/// The open connections of a chat room.
#[derive(Default)]
struct Room {
    next: AtomicU64,
    members: Mutex<HashMap<u64, Connection>>,
}

impl Room {
    fn broadcast(&self, message: &Message) {
        let members: Vec<Connection> = self.members.lock().unwrap().values().cloned().collect();
        for member in members {
            // Draft-76 members cannot take binary messages; skip them.
            let _ = member.send(message);
        }
    }
}

#[cfg_attr(not(feature = "tls"), allow(unused_mut))]
fn run_serve(args: ServeArgs) -> Result<ExitCode, String> {
    let page = hybi::page::Page::new(&args.inspector_dir);
    let mut options = ServeOptions {
        port: args.port,
        listen_ip: Some(args.host),
        framing: args.framing.into(),
        protocols: match args.protocol {
            ServeProtocol::Any => ProtocolSet::default(),
            ServeProtocol::Draft76 => ProtocolSet { draft76: true, rfc6455: false },
            ServeProtocol::Rfc6455 => ProtocolSet { draft76: false, rfc6455: true },
        },
        deflate: args.deflate.then(DeflateConfig::default),
        max_waiting: args.backlog,
        max_connections: args.max_connections,
        max_connections_per_ip: args.max_per_ip,
        timeout: args.idle_timeout,
        timeouts: Timeouts {
            handshake: Some(args.handshake_timeout).filter(|t| !t.is_zero()),
            ..Timeouts::default()
        },
        limits: Limits {
            max_message_size: args.max_message_size,
            max_frame_size: args.max_frame_size,
            ..Limits::default()
        },
        memory_budget: match args.memory_budget {
            0 => usize::MAX,
            mib => mib.saturating_mul(1 << 20),
        },
        // A plain GET of `/` gets the console and frame inspector page.
        http_handler: Some(Box::new({
            let page = page.clone();
            move |request| page.respond(request)
        })),
        on_error: Some(Box::new(|peer, error| eprintln!("{peer} failed: {error}"))),
        ..ServeOptions::default()
    };
    if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
        #[cfg(feature = "tls")]
        {
            let read =
                |path: &PathBuf| std::fs::read(path).map_err(|e| format!("reading {}: {e}", path.display()));
            let tls = hybi::ServerTls::from_pem(&read(cert)?, &read(key)?).map_err(|e| e.to_string())?;
            options.tls = Some(tls);
        }
        #[cfg(not(feature = "tls"))]
        return Err(format!(
            "cannot serve {} and {}: built without the `tls` feature",
            cert.display(),
            key.display()
        ));
    }
    let room = Arc::new(Room::default());
    let broadcast = args.broadcast;
    let handler = move |conn: Connection, ()| {
        let peer = conn.peer_addr();
        let id = room.next.fetch_add(1, Ordering::Relaxed);
        if broadcast {
            room.members.lock().unwrap().insert(id, conn.clone());
        }
        eprintln!("{peer} open: {} ({})", describe(conn.protocol()), conn.request_line());
        let outcome = loop {
            match conn.recv() {
                Ok(Some(message)) if broadcast => room.broadcast(&message),
                // Queued: echoes of messages that arrived together leave
                // in one write, when `recv` has no more to return.
                Ok(Some(message)) => match conn.queue(&message) {
                    // The peer's close came with this message: its end
                    // follows.
                    Err(e) if e.kind() == hybi::ErrorKind::Closed => {}
                    Err(e) => break Err(e),
                    Ok(()) => {}
                },
                Ok(None) => break Ok(()),
                Err(e) => break Err(e),
            }
        };
        room.members.lock().unwrap().remove(&id);
        match outcome {
            Ok(()) => match conn.close_status().and_then(|c| c.code) {
                Some(code) => eprintln!("{peer} closed: code {code}"),
                None => eprintln!("{peer} closed"),
            },
            Err(e) => eprintln!("{peer} failed: {e}"),
        }
    };
    let server = serve(handler, options).map_err(|e| e.to_string())?;
    let scheme = if args.tls_cert.is_some() { "wss" } else { "ws" };
    eprintln!("listening on {} ({scheme}://{}/)", server.local_addr(), server.local_addr());
    let http = if args.tls_cert.is_some() { "https" } else { "http" };
    let inspector = match page.inspector_state() {
        hybi::page::InspectorState::Ready => String::new(),
        state => format!("; inspector {} in {}", state.name(), page.inspector_dir().display()),
    };
    eprintln!("page at {http}://{}/ (console and frame inspector{inspector})", server.local_addr());
    eprintln!(
        "limits: {} connections, {} per address, backlog {}, handshake {}, idle {}, \
         messages {} B, frames {} B",
        args.max_connections,
        args.max_per_ip,
        args.backlog,
        describe_timeout(args.handshake_timeout),
        describe_timeout(args.idle_timeout),
        args.max_message_size,
        args.max_frame_size,
    );
    match args.memory_budget {
        0 => eprintln!("memory budget: none"),
        mib => eprintln!("memory budget: {mib} MiB for messages in transit, all connections together"),
    }
    server.wait();
    Ok(ExitCode::SUCCESS)
}

/// The protocol `hybi connect`'s flags ask for: a flag that implies a
/// protocol selects it (`--framing` is draft-76's), and flags that
/// contradict each other are an error rather than one of them ignored.
fn client_protocol(
    protocol: Option<ClientProtocol>,
    framing: Option<FramingArg>,
    deflate: bool,
) -> Result<Protocol, String> {
    let protocol = match (protocol, framing) {
        (Some(ClientProtocol::Rfc6455), Some(_)) => {
            return Err("--framing is draft-76's framing; it cannot go with --protocol rfc6455".into())
        }
        (Some(ClientProtocol::Rfc6455), None) => Protocol::Rfc6455,
        (Some(ClientProtocol::Draft76) | None, Some(framing)) => Protocol::Draft76(framing.into()),
        (Some(ClientProtocol::Draft76), None) => Protocol::Draft76(Framing::Old),
        (None, None) => Protocol::default(),
    };
    if deflate && protocol != Protocol::Rfc6455 {
        return Err("--deflate is RFC 6455's permessage-deflate; draft-76 (--protocol draft76 or --framing) has no compression".into());
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

fn run_connect(args: ConnectArgs) -> Result<ExitCode, String> {
    let mut options = ConnectOptions {
        protocol: client_protocol(args.protocol, args.framing, args.deflate)?,
        subprotocols: args.subprotocol,
        deflate: args.deflate.then(DeflateConfig::default),
        ..ConnectOptions::default()
    };
    for header in &args.headers {
        let (name, value) =
            header.split_once(':').ok_or_else(|| format!("header {header:?} is not `Name: value`"))?;
        options.headers.push(Header::new(name.trim(), value.trim_start()));
    }
    if let Some(ca) = &args.ca {
        #[cfg(feature = "tls")]
        {
            options.extra_roots_pem =
                std::fs::read(ca).map_err(|e| format!("reading {}: {e}", ca.display()))?;
        }
        #[cfg(not(feature = "tls"))]
        return Err(format!("cannot use {}: built without the `tls` feature", ca.display()));
    }
    let conn = connect_with(&args.url, options).map_err(|e| connect_failure(&args.url, &e))?;
    eprintln!("connected to {} ({})", args.url, describe(conn.protocol()));

    let closing = Arc::new(AtomicBool::new(false));
    let receiver = {
        let conn = conn.clone();
        let closing = Arc::clone(&closing);
        std::thread::spawn(move || {
            let outcome = print_messages(&conn);
            if !closing.load(Ordering::SeqCst) {
                // The server ended it while we still read stdin.
                std::process::exit(report(&conn, &outcome));
            }
            outcome
        })
    };

    let stdin = io::stdin();
    for line in stdin.lock().split(b'\n') {
        let Ok(mut line) = line else { break };
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        if conn.send_text(&String::from_utf8_lossy(&line)).is_err() {
            // The receiving side reports why.
            break;
        }
    }
    closing.store(true, Ordering::SeqCst);
    let closed = conn.close();
    let outcome = receiver.join().unwrap_or_else(|_| Err("receiving thread panicked".into()));
    let outcome = outcome.and(closed.map_err(|e| e.to_string()));
    Ok(ExitCode::from(u8::try_from(report(&conn, &outcome)).unwrap_or(1)))
}

/// Prints every message as a line until the connection ends.
fn print_messages(conn: &Connection) -> Result<(), String> {
    let stdout = io::stdout();
    loop {
        match conn.recv() {
            Ok(Some(message)) => {
                let mut out = stdout.lock();
                let _ = out.write_all(message.as_bytes());
                let _ = out.write_all(b"\n");
                let _ = out.flush();
            }
            Ok(None) => return Ok(()),
            Err(e) => return Err(e.to_string()),
        }
    }
}

/// Says how the connection ended; the exit code.
fn report(conn: &Connection, outcome: &Result<(), String>) -> i32 {
    let _ = io::stdout().flush();
    match outcome {
        Ok(()) => {
            if let Some(code) = conn.close_status().and_then(|c| c.code) {
                eprintln!("closed: code {code}");
            }
            0
        }
        Err(reason) => {
            eprintln!("hybi: connection failed: {reason}");
            1
        }
    }
}
