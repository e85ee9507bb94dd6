//! The `hybi` command: `hybi serve` (an echo server, a chat room with
//! `--broadcast`, or stdin to every client with `--stdin`) and `hybi
//! connect URL` (stdin to messages, messages to stdout, like websocat and
//! wscat).

mod connect;
mod serve;

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use hybi::{Framing, Protocol};

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
    /// --broadcast send it to every open connection, or with --stdin send
    /// stdin's lines to every client and print what clients send. A plain
    /// GET of `/` gets a page with a live console and a frame inspector.
    /// Logs connections to stderr, starting with `listening on ADDR`.
    Serve(serve::ServeArgs),
    /// Connect to a WebSocket server: each line of stdin is sent as a text
    /// message, each message received is printed as a line. At the end of
    /// stdin, closes and exits 0 on a clean close (see the exit statuses
    /// below).
    Connect(connect::ConnectArgs),
}

/// Parses seconds, decimals allowed, into a duration.
fn seconds(text: &str) -> Result<Duration, String> {
    let secs: f64 = text.parse().map_err(|_| format!("{text:?} is not a number of seconds"))?;
    Duration::try_from_secs_f64(secs).map_err(|_| format!("{text:?} is not a number of seconds"))
}

/// A client's draft-76 framing. There is no `auto`: a client has nothing
/// to tell the server's framing from (it speaks first, or waits).
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

/// A server's draft-76 framing: `auto` tells it from each client's first
/// bytes.
#[derive(Clone, Copy, ValueEnum)]
enum ServeFramingArg {
    Auto,
    Old,
    New,
}

impl From<ServeFramingArg> for Framing {
    fn from(framing: ServeFramingArg) -> Self {
        match framing {
            ServeFramingArg::Auto => Framing::Auto,
            ServeFramingArg::Old => Framing::Old,
            ServeFramingArg::New => Framing::New,
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => match serve::run(args) {
            Ok(code) => code,
            Err(message) => {
                eprintln!("hybi: {message}");
                ExitCode::FAILURE
            }
        },
        Command::Connect(args) => connect::run(args),
    }
}

/// A protocol as the logs name it.
fn describe(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::Draft76(Framing::Old) => "draft-76 'old'",
        Protocol::Draft76(Framing::New) => "draft-76 'new'",
        // A server that has not yet seen its client's first bytes.
        Protocol::Draft76(Framing::Auto) => "draft-76 'auto'",
        Protocol::Rfc6455 => "RFC 6455",
    }
}
