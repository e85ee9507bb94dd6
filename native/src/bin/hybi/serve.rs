//! `hybi serve`: an echo server, a chat room (`--broadcast`), or stdin to
//! every client and clients to stdout (`--stdin`, websocat's `-s` habit),
//! with a flag for every server setting.

use std::collections::HashMap;
use std::io::{self, BufRead, Write};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::ValueEnum;
use hybi::{
    serve, Config, Connection, DeflateConfig, InvalidUtf8, Limits, Message, ProtocolSet, ServeOptions,
    Timeouts,
};

use crate::{describe, seconds, ServeFramingArg};

/// Examples, shown by `hybi serve --help`.
const AFTER_HELP: &str = "\
Examples:
  hybi serve                                   echo server on 127.0.0.1:8080, page at http://127.0.0.1:8080/
  hybi serve --host :: --port 9000             every interface (IPv6 and IPv4), port 9000
  hybi serve --broadcast                       a chat room: every message to every client
  hybi serve --stdin                           stdin lines to every client, clients' messages to stdout
  hybi serve --protocol rfc6455 --deflate      RFC 6455 only, with permessage-deflate
  hybi serve --tls-cert cert.pem --tls-key key.pem --port 8443   wss://
  hybi serve --protocol draft76 --framing new  Racket's 'new' draft-76 framing only (a server that speaks first)
  hybi serve --max-message-size 65536 --idle-timeout 60 --keepalive 20
  hybi serve --async                           the same echo server on the async driver (hybi::tokio::serve)";

#[derive(clap::Args)]
#[command(after_help = AFTER_HELP)]
pub(crate) struct ServeArgs {
    /// Address to listen on (`::` for every interface, IPv6 and IPv4).
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
    /// Port to listen on (0: any free port; see the `listening on` line).
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// A chat room: every message goes to every open connection.
    #[arg(long, conflicts_with = "stdin")]
    broadcast: bool,
    /// Each line of stdin goes to every open connection as a text message;
    /// every message from a client is printed on stdout, one per line
    /// (websocat's -s). Nothing is echoed.
    #[arg(long)]
    stdin: bool,
    /// Protocols to accept (each request says which it speaks).
    #[arg(long, value_enum, default_value_t = ServeProtocol::Any)]
    protocol: ServeProtocol,
    /// Draft-76 framing (the request cannot say which): `auto` tells 'old'
    /// from 'new' by each client's first bytes, and commits to 'old' when
    /// the server sends first (--stdin, --broadcast): serving 'new' clients
    /// that wait for the server takes `--framing new`.
    #[arg(long, value_enum, default_value_t = ServeFramingArg::Auto)]
    framing: ServeFramingArg,
    /// TLS certificate chain (PEM); serves wss:// with --tls-key.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Accept RFC 6455 permessage-deflate.
    #[arg(long)]
    deflate: bool,
    /// permessage-deflate: reset our compressor after every message (and
    /// tell the client so).
    #[arg(long, requires = "deflate")]
    deflate_server_no_context_takeover: bool,
    /// permessage-deflate: oblige the client to reset its compressor after
    /// every message.
    #[arg(long, requires = "deflate")]
    deflate_client_no_context_takeover: bool,
    /// permessage-deflate: the largest window (2^N bytes, 8 to 15) we
    /// compress with.
    #[arg(long, value_name = "N", requires = "deflate", value_parser = clap::value_parser!(u8).range(8..=15))]
    deflate_server_max_window_bits: Option<u8>,
    /// permessage-deflate: the largest window (2^N bytes, 8 to 15) the
    /// client may compress with.
    #[arg(long, value_name = "N", requires = "deflate", value_parser = clap::value_parser!(u8).range(8..=15))]
    deflate_client_max_window_bits: Option<u8>,
    /// permessage-deflate: our compression level, 0 (none) to 9 (best).
    #[arg(long, value_name = "LEVEL", requires = "deflate", default_value_t = DeflateConfig::default().compression_level,
          value_parser = clap::value_parser!(u8).range(0..=9))]
    deflate_level: u8,
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
    /// Largest opening request head (request line and headers), in bytes;
    /// larger ones get HTTP 431.
    #[arg(long, value_name = "BYTES", default_value_t = Limits::default().max_handshake_bytes)]
    max_handshake_bytes: usize,
    /// Most header lines in an opening request; more get HTTP 431.
    #[arg(long, value_name = "N", default_value_t = Limits::default().max_headers)]
    max_headers: usize,
    /// Seconds to wait for a client's answer to our close (decimals
    /// allowed; 0: no limit).
    #[arg(long, value_name = "SECS", default_value = "5", value_parser = seconds)]
    close_timeout: Duration,
    /// RFC 6455: ping a client after this many seconds without input
    /// (decimals allowed; 0: never).
    #[arg(long, value_name = "SECS", default_value = "0", value_parser = seconds)]
    keepalive: Duration,
    /// RFC 6455: after a keepalive ping, close a client that sends nothing
    /// for this many seconds (decimals allowed; 0: no limit).
    #[arg(long, value_name = "SECS", default_value = "30", value_parser = seconds)]
    keepalive_timeout: Duration,
    /// Draft-76 text that is not UTF-8: close the connection, or replace
    /// each bad sequence with U+FFFD.
    #[arg(long, value_enum, default_value_t = Utf8Arg::Fail, value_name = "WHAT")]
    invalid_utf8: Utf8Arg,
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
    /// Echo on the async driver (`hybi::tokio::serve` on a multi-threaded
    /// tokio runtime, a worker per core) instead of a thread per
    /// connection; every other flag means the same.
    #[arg(long = "async", conflicts_with_all = ["broadcast", "stdin"])]
    async_driver: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum Utf8Arg {
    Fail,
    Replace,
}

#[derive(Clone, Copy, ValueEnum)]
enum ServeProtocol {
    Any,
    Draft76,
    Rfc6455,
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

/// A timeout as the `limits:` line shows it.
fn describe_timeout(timeout: Duration) -> String {
    if timeout.is_zero() {
        "none".into()
    } else {
        format!("{} s", timeout.as_secs_f64())
    }
}

/// What the server does with each message.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Sends it back (the default).
    Echo,
    /// Sends it to every open connection (`--broadcast`).
    Broadcast,
    /// Prints it; stdin's lines go to every connection (`--stdin`).
    Stdin,
}

/// `--stdin`: a client's message on stdout, one per line (binary as hex,
/// as `hybi connect` prints it).
fn print_message(message: &Message) {
    let mut out = io::stdout().lock();
    let _ = match message {
        Message::Text(text) => writeln!(out, "{text}"),
        Message::Binary(data) => {
            let hex: String = data.iter().map(|b| format!("{b:02x}")).collect();
            writeln!(out, "{hex}")
        }
    };
    let _ = out.flush();
}

/// The open connections of a chat room (or of `--stdin`).
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
pub(crate) fn run(args: ServeArgs) -> Result<ExitCode, String> {
    // First, before any thread exists (see its SAFETY note).
    tune_allocator();
    let page = hybi::page::Page::new(&args.inspector_dir);
    let mut options = ServeOptions {
        port: args.port,
        listen_ip: Some(args.host),
        config: Config {
            framing: args.framing.into(),
            accept: match args.protocol {
                ServeProtocol::Any => ProtocolSet::default(),
                ServeProtocol::Draft76 => ProtocolSet { draft76: true, rfc6455: false },
                ServeProtocol::Rfc6455 => ProtocolSet { draft76: false, rfc6455: true },
            },
            deflate: args.deflate.then_some(DeflateConfig {
                server_no_context_takeover: args.deflate_server_no_context_takeover,
                client_no_context_takeover: args.deflate_client_no_context_takeover,
                server_max_window_bits: args.deflate_server_max_window_bits,
                client_max_window_bits: args
                    .deflate_client_max_window_bits
                    .or(DeflateConfig::default().client_max_window_bits),
                compression_level: args.deflate_level,
            }),
            timeouts: Timeouts {
                handshake: Some(args.handshake_timeout).filter(|t| !t.is_zero()),
                close: Some(args.close_timeout).filter(|t| !t.is_zero()),
                keepalive: Some(args.keepalive).filter(|t| !t.is_zero()),
                keepalive_timeout: Some(args.keepalive_timeout).filter(|t| !t.is_zero()),
                ..Timeouts::default()
            },
            limits: Limits {
                max_message_size: args.max_message_size,
                max_frame_size: args.max_frame_size,
                max_handshake_bytes: args.max_handshake_bytes,
                max_headers: args.max_headers,
                ..Limits::default()
            },
            invalid_utf8: match args.invalid_utf8 {
                Utf8Arg::Fail => InvalidUtf8::Fail,
                Utf8Arg::Replace => InvalidUtf8::Replace,
            },
            ..Config::default()
        },
        max_waiting: args.backlog,
        max_connections: args.max_connections,
        max_connections_per_ip: args.max_per_ip,
        timeout: args.idle_timeout,
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
    let announce = |addr: SocketAddr| announce(&args, &page, addr);
    if args.async_driver {
        return serve_async(options, announce);
    }
    let room = Arc::new(Room::default());
    let mode = match (args.broadcast, args.stdin) {
        (true, _) => Mode::Broadcast,
        (false, true) => Mode::Stdin,
        (false, false) => Mode::Echo,
    };
    if mode == Mode::Stdin {
        let room = Arc::clone(&room);
        std::thread::spawn(move || {
            for line in io::stdin().lock().lines() {
                let Ok(line) = line else { break };
                room.broadcast(&Message::Text(line));
            }
        });
    }
    let handler = move |conn: Connection, ()| {
        let peer = conn.peer_addr();
        let id = room.next.fetch_add(1, Ordering::Relaxed);
        if mode != Mode::Echo {
            room.members.lock().unwrap().insert(id, conn.clone());
        }
        eprintln!("{peer} open: {} ({})", describe(conn.protocol()), conn.request_line());
        let outcome = loop {
            match conn.recv() {
                Ok(Some(message)) if mode == Mode::Broadcast => room.broadcast(&message),
                Ok(Some(message)) if mode == Mode::Stdin => print_message(&message),
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
    announce(server.local_addr());
    server.wait();
    Ok(ExitCode::SUCCESS)
}

/// What the server says once it listens: where, the page, its limits.
fn announce(args: &ServeArgs, page: &hybi::page::Page, addr: SocketAddr) {
    let scheme = if args.tls_cert.is_some() { "wss" } else { "ws" };
    eprintln!("listening on {} ({scheme}://{}/)", addr, addr);
    let http = if args.tls_cert.is_some() { "https" } else { "http" };
    let inspector = match page.inspector_state() {
        hybi::page::InspectorState::Ready => String::new(),
        state => format!("; inspector {} in {}", state.name(), page.inspector_dir().display()),
    };
    eprintln!("page at {http}://{}/ (console and frame inspector{inspector})", addr);
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
}

/// `--async`: the echo server on `hybi::tokio::serve`. Each echo is
/// queued through the connection's `Sink` (waiting only while more than
/// its queue's bound is unwritten), so the echoes of all that one read
/// brought leave together when `recv` next waits, as the blocking echo's
/// `queue` does.
fn serve_async(options: ServeOptions<()>, announce: impl FnOnce(SocketAddr)) -> Result<ExitCode, String> {
    use futures_sink::Sink;
    use std::pin::Pin;

    let runtime = ::tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the tokio runtime: {e}"))?;
    let addr = SocketAddr::new(options.listen_ip.unwrap_or(IpAddr::from([127, 0, 0, 1])), options.port);
    runtime.block_on(async move {
        // The async connection does not carry its peer's address: each is
        // named by its number instead.
        let next = Arc::new(AtomicU64::new(1));
        let handler = move |mut ws: hybi::tokio::WebSocket<hybi::tokio::MaybeTls>, ()| {
            let peer = format!("#{}", next.fetch_add(1, Ordering::Relaxed));
            async move {
                eprintln!("{peer} open: {} ({})", describe(ws.protocol()), ws.request().line);
                let outcome = loop {
                    match ws.recv().await {
                        Ok(Some(message)) => {
                            let queued =
                                match std::future::poll_fn(|cx| Pin::new(&mut ws).poll_ready(cx)).await {
                                    Ok(()) => Pin::new(&mut ws).start_send(message),
                                    Err(e) => Err(e),
                                };
                            match queued {
                                // The peer's close came with this message: its
                                // end follows.
                                Err(e) if e.kind() == hybi::ErrorKind::Closed => {}
                                Err(e) => break Err(e),
                                Ok(()) => {}
                            }
                        }
                        Ok(None) => break Ok(()),
                        Err(e) => break Err(e),
                    }
                };
                match outcome {
                    Ok(()) => match ws.close_status().and_then(|c| c.code) {
                        Some(code) => eprintln!("{peer} closed: code {code}"),
                        None => eprintln!("{peer} closed"),
                    },
                    Err(e) => eprintln!("{peer} failed: {e}"),
                }
            }
        };
        let server = hybi::tokio::serve(addr, handler, options).await.map_err(|e| e.to_string())?;
        announce(server.local_addr());
        server.wait().await;
        Ok(ExitCode::SUCCESS)
    })
}
