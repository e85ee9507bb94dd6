//! Errors, sorted by who caused them.
//!
//! Following rustls: what the peer did wrong ([`HandshakeError`],
//! [`ProtocolError`], [`LimitError`], an early end of stream, a missed
//! deadline) is kept apart from what the application did wrong ([`Misuse`]),
//! which untrusted input can never cause. Every peer error knows what goes on
//! the wire because of it: an HTTP status during the handshake
//! ([`Error::http_status`]) or a close code afterwards ([`Error::close_code`]).
//! There is no I/O variant: the core does no I/O, and drivers wrap it.

use core::fmt;

/// Anything that can end a connection or refuse a command.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The peer's opening handshake broke the protocol's rules.
    Handshake(HandshakeError),
    /// The peer broke the framing rules after the handshake.
    Protocol(ProtocolError),
    /// The peer went past a limit in [`crate::Limits`].
    Limit(LimitError),
    /// The server answered the opening handshake with a status other than
    /// 101; the whole response is available from
    /// [`crate::Connection::response`].
    Rejected {
        /// The response's status code.
        status: u16,
    },
    /// The transport ended where the protocol does not allow it to.
    UnexpectedEof(Stage),
    /// A deadline from [`crate::Timeouts`] passed.
    Timeout(Stage),
    /// The application asked for something the connection cannot do now.
    Misuse(Misuse),
}

impl Error {
    /// The HTTP status a server answers with when this error fails an opening
    /// handshake, if it is one the peer should be told about.
    pub fn http_status(&self) -> Option<u16> {
        match self {
            Error::Handshake(e) => Some(e.http_status()),
            Error::Limit(LimitError::HandshakeTooLarge { .. }) => Some(431),
            Error::Limit(LimitError::TooManyHeaders { .. }) => Some(431),
            _ => None,
        }
    }

    /// The RFC 6455 close code this error sends, where the protocol has
    /// codes (1002 protocol error, 1007 invalid data, 1009 too big).
    pub fn close_code(&self) -> Option<u16> {
        match self {
            Error::Protocol(ProtocolError::InvalidUtf8) => Some(1007),
            Error::Protocol(_) => Some(1002),
            Error::Limit(LimitError::MessageTooLarge { .. } | LimitError::FrameTooLarge { .. }) => {
                Some(1009)
            }
            _ => None,
        }
    }
}

/// Where in a connection's life something happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Stage {
    /// During the opening handshake.
    Handshake,
    /// Inside a frame or a fragmented message.
    Frame,
    /// While waiting for the peer's answer to our close.
    Closing,
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stage::Handshake => "the opening handshake",
            Stage::Frame => "a frame",
            Stage::Closing => "the closing handshake",
        })
    }
}

/// Which of the two draft-76 keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyName {
    /// `Sec-WebSocket-Key1`.
    Key1,
    /// `Sec-WebSocket-Key2`.
    Key2,
}

impl KeyName {
    /// The header that carries this key.
    pub fn header(self) -> &'static str {
        match self {
            KeyName::Key1 => "Sec-WebSocket-Key1",
            KeyName::Key2 => "Sec-WebSocket-Key2",
        }
    }
}

/// Why a draft-76 key cannot be answered (PROTOCOLS.md §1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyProblem {
    /// The key has no U+0020 space, so there is nothing to divide by.
    NoSpaces,
    /// The key's digits read as a number above 4,294,967,295.
    NumberTooLarge,
    /// The key's number is not an exact multiple of its space count.
    NotMultiple,
}

/// A malformed or unacceptable opening handshake.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HandshakeError {
    /// The request line is not `METHOD SP target SP HTTP/x.y`.
    MalformedRequestLine,
    /// The status line is not `HTTP/x.y SP code [SP reason]`.
    MalformedStatusLine,
    /// A header line has no colon, an empty or non-token name, or
    /// whitespace before the colon.
    MalformedHeader,
    /// A header line starts with whitespace (obsolete line folding).
    ObsoleteLineFolding,
    /// The HTTP version is not 1.1 (or later 1.x).
    UnsupportedHttpVersion,
    /// An upgrade request that does not use `GET`.
    MethodNotGet,
    /// A required header is absent.
    MissingHeader(&'static str),
    /// A header that must appear once appears more than once.
    DuplicateHeader(&'static str),
    /// `Upgrade` does not name `WebSocket`.
    BadUpgrade,
    /// `Connection` does not list the `Upgrade` token.
    BadConnection,
    /// A draft-76 key that cannot be answered.
    BadKey {
        /// Which key.
        key: KeyName,
        /// What is wrong with it.
        problem: KeyProblem,
    },
    /// The request is a WebSocket handshake of a protocol this server was
    /// configured not to accept.
    ProtocolNotAccepted,
    /// The server's 16-byte draft-76 answer is not the one our keys call for.
    AnswerMismatch,
    /// `Sec-WebSocket-Origin` differs from the `Origin` we sent.
    OriginMismatch,
    /// `Sec-WebSocket-Location` differs from the URL we asked for.
    LocationMismatch,
    /// The server chose a subprotocol we did not offer.
    SubprotocolMismatch,
}

impl HandshakeError {
    /// The status a server answers a request failing this way with.
    pub fn http_status(&self) -> u16 {
        match self {
            HandshakeError::MethodNotGet => 405,
            HandshakeError::UnsupportedHttpVersion => 505,
            _ => 400,
        }
    }
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HandshakeError::MalformedRequestLine => f.write_str("malformed HTTP request line"),
            HandshakeError::MalformedStatusLine => f.write_str("malformed HTTP status line"),
            HandshakeError::MalformedHeader => f.write_str("malformed HTTP header line"),
            HandshakeError::ObsoleteLineFolding => {
                f.write_str("header line folding is not allowed")
            }
            HandshakeError::UnsupportedHttpVersion => f.write_str("HTTP version is not 1.1"),
            HandshakeError::MethodNotGet => f.write_str("upgrade request method is not GET"),
            HandshakeError::MissingHeader(name) => write!(f, "missing {name} header"),
            HandshakeError::DuplicateHeader(name) => write!(f, "duplicate {name} header"),
            HandshakeError::BadUpgrade => f.write_str("Upgrade header does not name WebSocket"),
            HandshakeError::BadConnection => f.write_str("Connection header does not list Upgrade"),
            HandshakeError::BadKey { key, problem } => {
                let why = match problem {
                    KeyProblem::NoSpaces => "has no spaces",
                    KeyProblem::NumberTooLarge => "number exceeds 4294967295",
                    KeyProblem::NotMultiple => "number is not a multiple of its space count",
                };
                write!(f, "{} {why}", key.header())
            }
            HandshakeError::ProtocolNotAccepted => {
                f.write_str("WebSocket protocol of this request is not accepted here")
            }
            HandshakeError::AnswerMismatch => {
                f.write_str("draft-76 answer does not match our keys")
            }
            HandshakeError::OriginMismatch => {
                f.write_str("Sec-WebSocket-Origin does not match our Origin")
            }
            HandshakeError::LocationMismatch => {
                f.write_str("Sec-WebSocket-Location does not match the requested URL")
            }
            HandshakeError::SubprotocolMismatch => {
                f.write_str("server chose a subprotocol that was not offered")
            }
        }
    }
}

/// A framing rule broken by the peer after the handshake.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProtocolError {
    /// A text message is not valid UTF-8.
    InvalidUtf8,
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtocolError::InvalidUtf8 => f.write_str("text message is not valid UTF-8"),
        }
    }
}

/// A configured limit the peer went past; `limit` is the configured value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LimitError {
    /// The handshake head is longer than `max_handshake_bytes`.
    HandshakeTooLarge {
        /// The configured limit.
        limit: usize,
    },
    /// The handshake has more than `max_headers` header lines.
    TooManyHeaders {
        /// The configured limit.
        limit: usize,
    },
    /// A message grew past `max_message_size`.
    MessageTooLarge {
        /// The configured limit.
        limit: usize,
    },
    /// A frame declared (or, in 'old' framing, ran) past `max_frame_size`.
    FrameTooLarge {
        /// The configured limit.
        limit: usize,
    },
}

impl fmt::Display for LimitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LimitError::HandshakeTooLarge { limit } => {
                write!(f, "handshake exceeds {limit} bytes")
            }
            LimitError::TooManyHeaders { limit } => write!(f, "handshake has over {limit} headers"),
            LimitError::MessageTooLarge { limit } => write!(f, "message exceeds {limit} bytes"),
            LimitError::FrameTooLarge { limit } => write!(f, "frame exceeds {limit} bytes"),
        }
    }
}

/// A command the connection refused; never caused by the peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Misuse {
    /// Sending needs an open connection (handshake done, no close sent).
    NotOpen,
    /// `accept` or `respond` outside the server's wait for a decision.
    NoPendingRequest,
    /// The protocol in use has no binary messages (draft-76).
    BinaryUnsupported,
    /// The protocol in use has no ping or pong frames (draft-76).
    PingUnsupported,
    /// The protocol in use has no close codes or reasons (draft-76 closes
    /// carry none; only a plain close or code 1000 with no reason fits).
    CloseCodeUnsupported,
    /// A header name or value would break the HTTP head (CR, LF, or an
    /// empty or non-token name).
    InvalidHeader,
    /// A response status outside 100..=599, or 101 given to `respond`.
    InvalidStatus,
    /// The configuration asks for a protocol this build cannot speak yet.
    ProtocolUnavailable,
}

impl fmt::Display for Misuse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Misuse::NotOpen => "connection is not open for sending",
            Misuse::NoPendingRequest => "no handshake request is waiting for an answer",
            Misuse::BinaryUnsupported => "this protocol cannot carry binary messages",
            Misuse::PingUnsupported => "this protocol has no ping or pong",
            Misuse::CloseCodeUnsupported => "this protocol cannot carry a close code or reason",
            Misuse::InvalidHeader => "header name or value is not valid in an HTTP head",
            Misuse::InvalidStatus => "invalid HTTP status for this response",
            Misuse::ProtocolUnavailable => "protocol not available in this build",
        })
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Handshake(e) => write!(f, "handshake failed: {e}"),
            Error::Protocol(e) => write!(f, "protocol violation: {e}"),
            Error::Limit(e) => write!(f, "limit exceeded: {e}"),
            Error::Rejected { status } => write!(f, "server refused the handshake with {status}"),
            Error::UnexpectedEof(stage) => write!(f, "connection ended in the middle of {stage}"),
            Error::Timeout(stage) => write!(f, "timed out during {stage}"),
            Error::Misuse(e) => write!(f, "{e}"),
        }
    }
}

impl core::error::Error for Error {}
impl core::error::Error for HandshakeError {}
impl core::error::Error for ProtocolError {}
impl core::error::Error for LimitError {}
impl core::error::Error for Misuse {}

impl From<HandshakeError> for Error {
    fn from(e: HandshakeError) -> Self {
        Error::Handshake(e)
    }
}

impl From<ProtocolError> for Error {
    fn from(e: ProtocolError) -> Self {
        Error::Protocol(e)
    }
}

impl From<LimitError> for Error {
    fn from(e: LimitError) -> Self {
        Error::Limit(e)
    }
}

impl From<Misuse> for Error {
    fn from(e: Misuse) -> Self {
        Error::Misuse(e)
    }
}
