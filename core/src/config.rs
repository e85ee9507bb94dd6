//! Everything a connection can be told, in one place, with documented defaults.

use core::time::Duration;

/// Which end of the connection a machine plays.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// Sends the opening request (and, in RFC 6455, masks its frames).
    Client,
    /// Answers it.
    Server,
}

/// The draft-76 data framing. The handshake does not say which one
/// follows it (docs/PROTOCOLS.md §1.7): a client chooses, and a server
/// is told or, with [`Framing::Auto`], tells from the client's first bytes.
///
/// The default is 'old', what a draft-76 client speaks unless told
/// otherwise (Racket's default too); a server's [`Config::framing`]
/// defaults to [`Framing::Auto`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Framing {
    /// `0x00 text 0xFF` messages and the `0xFF 0x00` close: the draft-76
    /// framing every browser of that era spoke, and Racket's default.
    #[default]
    Old,
    /// Racket's reading of the August 2010 draft: a type byte, an 8-byte
    /// big-endian length and the payload.
    New,
    /// Server: 'old' or 'new', whichever the client's first bytes after the
    /// handshake show (docs/PROTOCOLS.md §3.1, [`crate::framing::auto`]).
    /// The connection holds those bytes (at most 10) until they decide, then
    /// reads them and everything after with the framing chosen;
    /// [`crate::Connection::protocol`] says `Draft76(Auto)` until then.
    ///
    /// Two prefixes are whole frames in one framing and the start of a
    /// frame in the other (an 'old' close `FF 00` sent at once, a 'new'
    /// close sent at once); when the client sends nothing more for
    /// [`Timeouts::framing_silence`], or its stream ends, they are taken as
    /// the close they look like. A client that sends nothing leaves it
    /// undecided: when the application sends, closes or goes away first,
    /// the connection commits to 'old'. **A server that speaks first to
    /// 'new' clients must set [`Framing::New`].** A client's first frame
    /// that breaks the framing chosen fails with
    /// [`crate::Error::FramingMismatch`], which names the other framing.
    ///
    /// A client has nothing to detect from, since it speaks first or waits:
    /// `Protocol::Draft76(Framing::Auto)` on a client speaks 'old'.
    Auto,
}

/// Which WebSocket protocol a connection speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// The 2010 draft-76 (hybi-00) handshake with the given framing.
    Draft76(Framing),
    /// RFC 6455, what every current browser and modern peer speaks.
    Rfc6455,
}

impl Default for Protocol {
    /// RFC 6455: what today's servers speak, and what the seed's successor
    /// (Racket's `rfc6455` package, which keeps `ws-connect`) connects
    /// with. The seed's draft-76 'old' is one field away:
    /// `Protocol::Draft76(Framing::Old)`.
    fn default() -> Self {
        Protocol::Rfc6455
    }
}

/// Which protocols a server accepts; each request says which one it speaks
/// (docs/PROTOCOLS.md §5), so a server can accept all of them on one port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProtocolSet {
    /// Accept draft-76 requests (`Sec-WebSocket-Key1`/`Key2`), with
    /// [`Config::framing`] as their framing.
    pub draft76: bool,
    /// Accept RFC 6455 requests: a request with any of
    /// `Sec-WebSocket-Key`, `Sec-WebSocket-Version` or `Upgrade: websocket`
    /// (and no draft-76 key) is taken as an RFC 6455 attempt and checked as
    /// one (docs/PROTOCOLS.md §5).
    pub rfc6455: bool,
}

impl Default for ProtocolSet {
    /// Every protocol: a server answers whatever its client speaks.
    fn default() -> Self {
        ProtocolSet { draft76: true, rfc6455: true }
    }
}

/// What to do with draft-76 text that is not valid UTF-8.
///
/// The draft tells a receiver to replace invalid sequences with U+FFFD;
/// Racket raises an error instead. Neither is wrong for every application,
/// so it is a choice; failing is the default because silently altered text
/// is the harder bug to find. (RFC 6455 leaves no choice: invalid text fails
/// the connection with close code 1007.)
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum InvalidUtf8 {
    /// Fail the connection with [`crate::ProtocolError::InvalidUtf8`].
    #[default]
    Fail,
    /// Deliver the text with each invalid sequence replaced by U+FFFD.
    Replace,
}

/// Bounds on what a peer can make a connection hold in memory or wait for.
///
/// Every limit is checked before memory is committed: a length the peer
/// merely declares is never allocated up front. The first four are kept by
/// the core; the last three are kept by drivers around it (the core does not
/// see sockets or the application's reading), and live here so that every
/// driver has the same defaults and users set them in one place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Most bytes an HTTP handshake head (request or response line, headers
    /// and the blank line) may take. Costs up to this much memory per
    /// connection while handshaking. Default 16 KiB.
    pub max_handshake_bytes: usize,
    /// Most header lines a handshake may carry. Default 64.
    pub max_headers: usize,
    /// Most bytes one message may hold once reassembled (and, with
    /// permessage-deflate, once inflated). Costs up to this much memory per
    /// connection. Default 16 MiB.
    pub max_message_size: usize,
    /// Most payload bytes one frame may declare, including the frames the
    /// draft-76 'old' framing tells a receiver to discard (which costs no
    /// memory but would otherwise keep a connection busy forever).
    /// Default 16 MiB.
    pub max_frame_size: usize,
    /// Drivers: most output bytes a connection may hold for a socket that
    /// does not take them (a peer that sends pings or messages to be echoed
    /// but does not read) before the driver stops reading that socket until
    /// the output drains. Automatic answers (pongs, the close echo) obey it
    /// too, so a ping flood meets the peer's own TCP window instead of our
    /// memory. Default 256 KiB.
    pub output_high_water: usize,
    /// Drivers: while our close waits for the peer's answer and the driver
    /// reads on its own (the application is not reading), most bytes of
    /// received messages kept for the application's next read; later ones
    /// are dropped, so a peer that keeps sending instead of answering the
    /// close cannot grow our memory. Default 16 MiB (one message of the
    /// default `max_message_size`).
    pub max_unread_while_closing: usize,
    /// Drivers: after a connection's end, most bytes of the peer's input
    /// read and dropped while lingering (see [`Timeouts::linger`]). Enough
    /// for the rest of a message a peer was failed in the middle of, at
    /// loopback speed. Default 4 MiB.
    pub max_linger_bytes: usize,
}

impl Limits {
    /// The defaults (see each field), usable in `const` items:
    /// `Limits { max_message_size: 1024, ..Limits::DEFAULT }`.
    pub const DEFAULT: Limits = Limits {
        max_handshake_bytes: 16 * 1024,
        max_headers: 64,
        max_message_size: 16 * 1024 * 1024,
        max_frame_size: 16 * 1024 * 1024,
        output_high_water: 256 * 1024,
        max_unread_while_closing: 16 * 1024 * 1024,
        max_linger_bytes: 4 * 1024 * 1024,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Limits::DEFAULT
    }
}

/// Deadlines the core keeps for the driver, measured on the driver's clock
/// (see [`crate::Instant`]), and the driver's own `linger`. `None` disables
/// a timer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// How long the opening handshake may take from the connection's start.
    /// Drivers with TLS count the TLS handshake in it too. Default 30 s.
    pub handshake: Option<Duration>,
    /// How long to wait for the peer's close frame (or end of stream) after
    /// sending ours. Default 5 s.
    pub close: Option<Duration>,
    /// Fail the connection when nothing at all arrives for this long.
    /// Default none (the servers of both drivers set the seed's one hour
    /// through their `timeout` option).
    pub idle: Option<Duration>,
    /// RFC 6455: send a ping after this long without input, to keep
    /// middleboxes from dropping a quiet connection and to notice a dead
    /// peer. Default none.
    pub keepalive: Option<Duration>,
    /// RFC 6455: after a keepalive ping, fail the connection if nothing
    /// arrives within this long. Default 30 s (active only with
    /// `keepalive`).
    pub keepalive_timeout: Option<Duration>,
    /// Drivers: after a connection's end, how long to keep reading and
    /// dropping the peer's input (at most [`Limits::max_linger_bytes`])
    /// before closing the socket. Closing a socket with input unread makes
    /// the kernel answer with a reset, which can destroy what was sent last
    /// (a close frame, an HTTP refusal) before the peer reads it. Default
    /// 2 s; `None`: close at once.
    pub linger: Option<Duration>,
    /// Draft-76 server with [`Framing::Auto`]: when the client's first
    /// bytes fit both framings as whole frames (an 'old' or a 'new' close
    /// sent at once, docs/PROTOCOLS.md §3.1), how long the client must send
    /// nothing more before they are taken as the close they look like (a
    /// client still sending a frame sends its rest at once). Default
    /// 500 ms; `None`: only more bytes or the end of the stream decide.
    pub framing_silence: Option<Duration>,
}

impl Timeouts {
    /// The defaults (see each field), usable in `const` items.
    pub const DEFAULT: Timeouts = Timeouts {
        handshake: Some(Duration::from_secs(30)),
        close: Some(Duration::from_secs(5)),
        idle: None,
        keepalive: None,
        keepalive_timeout: Some(Duration::from_secs(30)),
        linger: Some(Duration::from_secs(2)),
        framing_silence: Some(Duration::from_millis(500)),
    };
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts::DEFAULT
    }
}

/// Configuration of one connection, for either role. Build it from the
/// default: `Config { streaming: true, ..Config::default() }`.
///
/// Every driver takes this whole (the native drivers' `ConnectOptions` and
/// `ServeOptions` hold one as `config`; the npm package's options spread its
/// fields), so each setting means the same everywhere and has one default.
/// Two fields describe the driver rather than the application, and each
/// driver sets them itself, whatever they hold: `secure` (whether the
/// driver serves over TLS), `streaming` (whether the driver hands the
/// application pieces or whole messages). `protocol` means nothing to a server and `accept` and
/// `framing` nothing to a client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Client: the protocol to speak. Ignored by servers, which follow the
    /// request (see [`Config::accept`]). Default RFC 6455.
    pub protocol: Protocol,
    /// Server: the protocols to accept. Default all of them.
    pub accept: ProtocolSet,
    /// Server: the draft-76 framing used when a request turns out to be
    /// draft-76 (the request cannot say). Default [`Framing::Auto`]: told
    /// from the client's first bytes; a server that sends before its
    /// 'new' clients do must set [`Framing::New`].
    pub framing: Framing,
    /// Server: whether the transport is TLS, so that the default
    /// `Sec-WebSocket-Location` says `wss://`. Default `false`.
    pub secure: bool,
    /// Draft-76 text that is not UTF-8. Default: fail.
    pub invalid_utf8: InvalidUtf8,
    /// Memory and size bounds.
    pub limits: Limits,
    /// Handshake, close, idle and keepalive deadlines.
    pub timeouts: Timeouts,
    /// RFC 6455 permessage-deflate: a client offers it, a server accepts a
    /// client's offer, with these parameters. Default none: compression
    /// costs some 300 KiB per connection and CPU for every message.
    pub deflate: Option<DeflateConfig>,
    /// RFC 6455: answer each ping with a pong automatically. Default true.
    pub auto_pong: bool,
    /// Deliver text and binary data as it arrives
    /// ([`crate::Event::TextFragment`], [`crate::Event::BinaryFragment`])
    /// instead of reassembling whole messages, so a message of any size
    /// costs no more memory than one read. RFC 6455: `max_message_size`
    /// does not apply then; `max_frame_size` still does. Draft-76 text, in
    /// either framing, comes in `TextFragment`s too, checked (or replaced)
    /// per [`Config::invalid_utf8`] as it arrives, and there
    /// `max_message_size` still holds over a message's pieces together.
    /// [`crate::Connection::handle_input_with`] still lends a small RFC
    /// 6455 message that arrives whole in one frame as a whole message
    /// ([`crate::EventRef::Text`] / [`crate::EventRef::Binary`]): it is its
    /// own last piece, and a driver that streams takes it without the
    /// allocation of a piece. Default false.
    pub streaming: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            protocol: Protocol::default(),
            accept: ProtocolSet::default(),
            framing: Framing::Auto,
            secure: false,
            invalid_utf8: InvalidUtf8::default(),
            limits: Limits::default(),
            timeouts: Timeouts::default(),
            deflate: None,
            auto_pong: true,
            streaming: false,
        }
    }
}

impl Config {
    /// The default configuration: see each field.
    pub fn new() -> Self {
        Self::default()
    }
}

// ----- permessage-deflate ----------------------------------------------------

/// The smallest LZ77 window RFC 7692 allows, as a base-2 logarithm (256 bytes).
pub const MIN_WINDOW_BITS: u8 = 8;

/// The largest LZ77 window RFC 7692 allows, as a base-2 logarithm (32 KiB).
pub const MAX_WINDOW_BITS: u8 = 15;

/// A window size brought into the range RFC 7692 allows.
pub(crate) fn clamp_window_bits(bits: u8) -> u8 {
    bits.clamp(MIN_WINDOW_BITS, MAX_WINDOW_BITS)
}

/// The compression level [`DeflateConfig::default`] uses.
pub const DEFAULT_COMPRESSION_LEVEL: u8 = 6;

/// What we are willing to offer (as a client) or to accept (as a server).
///
/// The default restricts nothing and compresses at level 6. Window sizes are
/// base-2 logarithms; a value outside `8..=15` is clamped into that range.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DeflateConfig {
    /// Whether the server must forget its compression history after each
    /// message.
    ///
    /// * Client: offer `server_no_context_takeover`; a response that does not
    ///   grant it is refused.
    /// * Server: reset our compressor after every message and say so in the
    ///   response, whether or not the client asked.
    ///
    /// Default `false`.
    pub server_no_context_takeover: bool,
    /// Whether the client must forget its compression history after each
    /// message.
    ///
    /// * Client: offer `client_no_context_takeover` (a promise) and reset our
    ///   compressor after every message.
    /// * Server: put `client_no_context_takeover` in the response, which
    ///   obliges the client to reset after every message.
    ///
    /// Default `false`.
    pub client_no_context_takeover: bool,
    /// The largest window the server may compress with.
    ///
    /// * Client: `Some(n)` offers `server_max_window_bits=n`; a response
    ///   without the parameter or with a larger value is refused. `None`
    ///   leaves the server free (up to 15).
    /// * Server: `Some(n)` compresses with at most a `2^n` byte window and
    ///   says so in the response; the offer's `server_max_window_bits` may
    ///   lower it further. `None` uses what the offer allows (15 without one).
    ///
    /// Default `None`.
    pub server_max_window_bits: Option<u8>,
    /// The largest window the client may compress with.
    ///
    /// * Client: `None` leaves `client_max_window_bits` out of the offer, so
    ///   the server cannot limit our window. `Some(15)` offers the bare
    ///   parameter: we accept any limit the server sets. `Some(n)` with
    ///   `n < 15` offers `client_max_window_bits=n`: we promise never to use
    ///   more than `2^n` bytes, and the server may lower it further.
    /// * Server: `Some(n)` with `n < 15` asks the client for at most `2^n`
    ///   bytes when the offer carries `client_max_window_bits` (the RFC
    ///   allows nothing else); an offer without it is still accepted, because
    ///   our [`Decompressor`](crate::framing::rfc6455::deflate::Decompressor)
    ///   always has a 32 KiB window. `None` and
    ///   `Some(15)` ask nothing.
    ///
    /// Default `Some(15)`: the bare parameter in offers, as browsers send.
    ///
    /// Asking a peer for 8 (either window) is valid but zlib-based peers
    /// cannot compress with a 256-byte window: they decline or use 512
    /// bytes. 9 is the safe minimum to ask for; our own compressor honours 8.
    pub client_max_window_bits: Option<u8>,
    /// The DEFLATE level our
    /// [`Compressor`](crate::framing::rfc6455::deflate::Compressor) uses: 0 stores without
    /// compressing, 1 is fastest, 9 compresses best; larger values count as
    /// 9. Not negotiated. Default 6.
    pub compression_level: u8,
}

impl Default for DeflateConfig {
    fn default() -> Self {
        DeflateConfig {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: None,
            client_max_window_bits: Some(MAX_WINDOW_BITS),
            compression_level: DEFAULT_COMPRESSION_LEVEL,
        }
    }
}
