//! Everything a connection can be told, in one place, with documented defaults.

use core::time::Duration;

pub use crate::deflate::DeflateConfig;

/// Which end of the connection a machine plays.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// Sends the opening request (and, in RFC 6455, masks its frames).
    Client,
    /// Answers it.
    Server,
}

/// The draft-76 data framing, chosen per connection on both sides because
/// nothing on the wire says which one a peer uses (docs/PROTOCOLS.md §1.7).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Framing {
    /// `0x00 text 0xFF` messages and the `0xFF 0x00` close: the draft-76
    /// framing every browser of that era spoke, and Racket's default.
    #[default]
    Old,
    /// Racket's reading of the August 2010 draft: a type byte, an 8-byte
    /// big-endian length and the payload.
    New,
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
/// merely declares is never allocated up front.
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
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_handshake_bytes: 16 * 1024,
            max_headers: 64,
            max_message_size: 16 * 1024 * 1024,
            max_frame_size: 16 * 1024 * 1024,
        }
    }
}

/// Deadlines the core keeps for the driver, measured on the driver's clock
/// (see [`crate::Instant`]). `None` disables a timer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// How long the opening handshake may take from the connection's start.
    /// Default 30 s.
    pub handshake: Option<Duration>,
    /// How long to wait for the peer's close frame (or end of stream) after
    /// sending ours. Default 5 s.
    pub close: Option<Duration>,
    /// Fail the connection when nothing at all arrives for this long.
    /// Default none (the native server sets the seed's one hour).
    pub idle: Option<Duration>,
    /// RFC 6455: send a ping after this long without input, to keep
    /// middleboxes from dropping a quiet connection and to notice a dead
    /// peer. Default none.
    pub keepalive: Option<Duration>,
    /// RFC 6455: after a keepalive ping, fail the connection if nothing
    /// arrives within this long. Default 30 s (active only with
    /// `keepalive`).
    pub keepalive_timeout: Option<Duration>,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            handshake: Some(Duration::from_secs(30)),
            close: Some(Duration::from_secs(5)),
            idle: None,
            keepalive: None,
            keepalive_timeout: Some(Duration::from_secs(30)),
        }
    }
}

/// Configuration of one connection, for either role. Build it from the
/// default: `Config { streaming: true, ..Config::default() }`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Client: the protocol to speak. Ignored by servers, which follow the
    /// request (see [`Config::accept`]). Default RFC 6455.
    pub protocol: Protocol,
    /// Server: the protocols to accept. Default all of them.
    pub accept: ProtocolSet,
    /// Server: the draft-76 framing used when a request turns out to be
    /// draft-76 (the request cannot say). Default 'old'.
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
            framing: Framing::default(),
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
