//! Errors, sorted by who caused them.
//!
//! Following rustls: what the peer did wrong ([`HandshakeError`],
//! [`ProtocolError`], [`LimitError`], an early end of stream, a missed
//! deadline) is kept apart from what the application did wrong ([`Misuse`]),
//! which untrusted input can never cause. Every peer error knows what goes on
//! the wire because of it: an HTTP status during the handshake
//! ([`Error::http_status`]) or a close code afterwards ([`Error::close_code`]).
//! There is no I/O variant: the core does no I/O, and drivers wrap it.

use alloc::boxed::Box;
use core::fmt;

use crate::config::Framing;
use crate::handshake::deflate::Parameter;

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
    Timeout(Timer),
    /// The application asked for something the connection cannot do now.
    Misuse(Misuse),
    /// A draft-76 server with [`Framing::Auto`] took the client for
    /// `detected` from its first bytes (docs/PROTOCOLS.md §3.1), and the
    /// client's first frame then broke that framing with `cause`: the
    /// client most likely speaks the other framing, which the server must
    /// then be told. The message names the setting.
    FramingMismatch {
        /// The framing the first bytes were taken for.
        detected: Framing,
        /// The error the first frame failed with in that framing.
        cause: Box<Error>,
    },
}

impl Error {
    /// The HTTP status a server answers with when this error fails an opening
    /// handshake, if it is one the peer should be told about.
    pub fn http_status(&self) -> Option<u16> {
        match self {
            Error::Handshake(e) => Some(e.http_status()),
            Error::Limit(LimitError::HandshakeTooLarge { .. }) => Some(431),
            Error::Limit(LimitError::TooManyHeaders { .. }) => Some(431),
            // The request did not arrive in time.
            Error::Timeout(Timer::Handshake) => Some(408),
            _ => None,
        }
    }

    /// The RFC 6455 close code this error sends, where the protocol has
    /// codes (1002 protocol error, 1007 invalid data, 1009 too big, 1001
    /// going away when an idle or keepalive deadline gives up on the peer).
    pub fn close_code(&self) -> Option<u16> {
        match self {
            Error::FramingMismatch { cause, .. } => cause.close_code(),
            Error::Timeout(Timer::Idle | Timer::Keepalive) => Some(1001),
            Error::Protocol(ProtocolError::InvalidUtf8 | ProtocolError::BadCompressedData) => Some(1007),
            Error::Protocol(_) => Some(1002),
            Error::Limit(
                LimitError::MessageTooLarge { .. }
                | LimitError::FrameTooLarge { .. }
                | LimitError::OverAllowance { .. },
            ) => Some(1009),
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
    /// Between frames, before any closing handshake (RFC 6455 calls an end
    /// here abnormal closure, 1006).
    Open,
    /// While waiting for the peer's answer to our close.
    Closing,
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stage::Handshake => "the opening handshake",
            Stage::Frame => "a frame",
            Stage::Open => "an open connection",
            Stage::Closing => "the closing handshake",
        })
    }
}

/// Which deadline from [`crate::Timeouts`] passed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Timer {
    /// The opening handshake took too long.
    Handshake,
    /// The peer did not answer our close in time.
    Close,
    /// Nothing arrived for the idle timeout.
    Idle,
    /// Nothing arrived after a keepalive ping.
    Keepalive,
}

impl fmt::Display for Timer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Timer::Handshake => "opening handshake took too long",
            Timer::Close => "peer did not answer the close in time",
            Timer::Idle => "connection idle for too long",
            Timer::Keepalive => "peer did not answer a keepalive ping in time",
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

/// Why a draft-76 key cannot be answered (docs/PROTOCOLS.md §1.2).
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
    /// A CR or LF inside a head line instead of at its end. A head's lines
    /// end the way its start line does, in CRLF or LF, or in a bare CR (as
    /// Racket's server reads them); a bare CR within a CRLF head, or an LF
    /// within a CR head, would start a new header line for some readers and
    /// not for others (RFC 9112 §2.2 asks to reject or replace it).
    BareLineEnding,
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
    /// The request carries both draft-76 keys (`Sec-WebSocket-Key1`/`Key2`)
    /// and an RFC 6455 `Sec-WebSocket-Key`: no one protocol can answer it
    /// (docs/PROTOCOLS.md §5), and reading it as draft-76 would wait for a key3
    /// the client never sends.
    MixedProtocolKeys,
    /// The server's 16-byte draft-76 answer is not the one our keys call for.
    AnswerMismatch,
    /// `Sec-WebSocket-Origin` differs from the `Origin` we sent.
    OriginMismatch,
    /// `Sec-WebSocket-Location` differs from the URL we asked for.
    LocationMismatch,
    /// The server chose a subprotocol we did not offer.
    SubprotocolMismatch,
    /// `Sec-WebSocket-Version` is absent or not 13 (answered with 426 and
    /// the version we speak).
    UnsupportedWebSocketVersion,
    /// `Sec-WebSocket-Key` is not 16 bytes in base64.
    InvalidNonce,
    /// `Sec-WebSocket-Accept` is not the one our key calls for.
    AcceptMismatch,
    /// The server accepted an extension we did not offer.
    ExtensionNotOffered,
    /// The server's permessage-deflate parameters break RFC 7692 or what
    /// we offered.
    Extension(NegotiationError),
}

impl HandshakeError {
    /// The status a server answers a request failing this way with.
    pub fn http_status(&self) -> u16 {
        match self {
            HandshakeError::MethodNotGet => 405,
            HandshakeError::UnsupportedHttpVersion => 505,
            HandshakeError::UnsupportedWebSocketVersion => 426,
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
            HandshakeError::ObsoleteLineFolding => f.write_str("header line folding is not allowed"),
            HandshakeError::BareLineEnding => f.write_str("bare CR or LF inside an HTTP head line"),
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
            HandshakeError::MixedProtocolKeys => {
                f.write_str("request carries both draft-76 and RFC 6455 WebSocket keys")
            }
            HandshakeError::ProtocolNotAccepted => {
                f.write_str("WebSocket protocol of this request is not accepted here")
            }
            HandshakeError::AnswerMismatch => f.write_str("draft-76 answer does not match our keys"),
            HandshakeError::OriginMismatch => f.write_str("Sec-WebSocket-Origin does not match our Origin"),
            HandshakeError::LocationMismatch => {
                f.write_str("Sec-WebSocket-Location does not match the requested URL")
            }
            HandshakeError::SubprotocolMismatch => {
                f.write_str("server chose a subprotocol that was not offered")
            }
            HandshakeError::UnsupportedWebSocketVersion => {
                f.write_str("Sec-WebSocket-Version is missing or not 13")
            }
            HandshakeError::InvalidNonce => f.write_str("Sec-WebSocket-Key is not 16 bytes of base64"),
            HandshakeError::AcceptMismatch => f.write_str("Sec-WebSocket-Accept does not match our key"),
            HandshakeError::ExtensionNotOffered => {
                f.write_str("server accepted an extension that was not offered")
            }
            HandshakeError::Extension(e) => write!(f, "bad permessage-deflate response: {e}"),
        }
    }
}

/// Why a server's permessage-deflate response was refused. Each one means the
/// client must fail the connection (RFC 7692 §5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NegotiationError {
    /// The header value does not follow the `Sec-WebSocket-Extensions`
    /// grammar.
    Syntax,
    /// The response does not name `permessage-deflate`.
    Missing,
    /// The response names `permessage-deflate` more than once.
    DuplicateExtension,
    /// A parameter that permessage-deflate does not define.
    UnknownParameter,
    /// The parameter appears more than once.
    DuplicateParameter(Parameter),
    /// The parameter takes no value but has one.
    UnexpectedValue(Parameter),
    /// The parameter needs a value but has none.
    MissingValue(Parameter),
    /// The value is not a decimal integer from 8 to 15 without leading
    /// zeros.
    InvalidWindowBits(Parameter),
    /// The response limits the client's window although the offer did not
    /// include `client_max_window_bits`.
    ClientWindowBitsNotOffered,
    /// The response's `server_max_window_bits` is larger than the offered
    /// one.
    ServerWindowBitsTooLarge,
    /// The offer had `server_max_window_bits` and the response does not.
    ServerWindowBitsMissing,
    /// The offer had `server_no_context_takeover` and the response does not.
    ServerNoContextTakeoverMissing,
}

impl fmt::Display for NegotiationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NegotiationError::Syntax => f.write_str("malformed Sec-WebSocket-Extensions value"),
            NegotiationError::Missing => f.write_str("response does not accept permessage-deflate"),
            NegotiationError::DuplicateExtension => {
                f.write_str("response accepts permessage-deflate more than once")
            }
            NegotiationError::UnknownParameter => f.write_str("unknown permessage-deflate parameter"),
            NegotiationError::DuplicateParameter(p) => write!(f, "duplicate {p} parameter"),
            NegotiationError::UnexpectedValue(p) => write!(f, "{p} must not have a value"),
            NegotiationError::MissingValue(p) => write!(f, "{p} needs a value"),
            NegotiationError::InvalidWindowBits(p) => {
                write!(f, "{p} is not an integer from 8 to 15")
            }
            NegotiationError::ClientWindowBitsNotOffered => {
                f.write_str("response sets client_max_window_bits, which the offer did not include")
            }
            NegotiationError::ServerWindowBitsTooLarge => {
                f.write_str("response's server_max_window_bits is larger than offered")
            }
            NegotiationError::ServerWindowBitsMissing => {
                f.write_str("response lacks the offered server_max_window_bits")
            }
            NegotiationError::ServerNoContextTakeoverMissing => {
                f.write_str("response lacks the offered server_no_context_takeover")
            }
        }
    }
}

/// A framing rule broken by the peer after the handshake.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProtocolError {
    /// A text message (or close reason) is not valid UTF-8.
    InvalidUtf8,
    /// RSV1, RSV2 or RSV3 set without an extension that defines it.
    ReservedBits,
    /// An opcode RFC 6455 reserves (3–7, 11–15).
    ReservedOpcode(u8),
    /// A client sent a frame without a mask (RFC 6455 §5.1).
    UnmaskedFrame,
    /// A server sent a masked frame (RFC 6455 §5.1).
    MaskedFrame,
    /// A control frame with more than 125 payload bytes.
    ControlFrameTooLong,
    /// A control frame without FIN.
    FragmentedControlFrame,
    /// A 64-bit payload length with its most significant bit set.
    BadLength,
    /// A continuation frame with no message to continue.
    UnexpectedContinuation,
    /// A new text or binary frame while a fragmented message is unfinished.
    ExpectedContinuation,
    /// A close payload of one byte, or with a code not allowed on the wire.
    InvalidClosePayload,
    /// A compressed message that does not inflate.
    BadCompressedData,
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtocolError::InvalidUtf8 => f.write_str("text is not valid UTF-8"),
            ProtocolError::ReservedBits => f.write_str("reserved bits set in a frame header"),
            ProtocolError::ReservedOpcode(op) => write!(f, "reserved opcode {op:#x}"),
            ProtocolError::UnmaskedFrame => f.write_str("client frame is not masked"),
            ProtocolError::MaskedFrame => f.write_str("server frame is masked"),
            ProtocolError::ControlFrameTooLong => f.write_str("control frame payload exceeds 125 bytes"),
            ProtocolError::FragmentedControlFrame => f.write_str("control frame is fragmented"),
            ProtocolError::BadLength => f.write_str("64-bit payload length has its top bit set"),
            ProtocolError::UnexpectedContinuation => {
                f.write_str("continuation frame outside a fragmented message")
            }
            ProtocolError::ExpectedContinuation => {
                f.write_str("new message started before the fragmented one ended")
            }
            ProtocolError::InvalidClosePayload => f.write_str("invalid close frame payload"),
            ProtocolError::BadCompressedData => f.write_str("compressed message does not inflate"),
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
    /// Storing what arrived would take the connection's buffers past the
    /// allowance its driver set ([`crate::Connection::set_input_allowance`]),
    /// typically its share of a server-wide memory budget. Close code 1009,
    /// as for a message too big.
    OverAllowance {
        /// The allowance in force, in bytes.
        allowance: usize,
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
            LimitError::OverAllowance { allowance } => {
                write!(f, "buffered input would exceed the connection's allowance of {allowance} bytes")
            }
        }
    }
}

/// A command the connection refused; never caused by the peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Misuse {
    /// Sending needs an open connection (handshake done, no close sent).
    NotOpen,
    /// `accept` or `respond` outside the server's wait for a decision, or
    /// `handle_request_head` on a connection that is not a server yet to
    /// read its request.
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
    /// The protocol in use cannot send a message in fragments (draft-76).
    FragmentsUnsupported,
    /// Draft-76 offers at most one subprotocol; it has no list.
    SubprotocolList,
    /// A ping or pong payload over 125 bytes.
    ControlTooLong,
    /// A fragmented message we send is unfinished: a whole message or a
    /// new fragmented one cannot start until its last fragment.
    MessageInProgress,
    /// A fragment of another type (text or binary) than the fragmented
    /// message it would continue.
    FragmentTypeChanged,
    /// A close code that may not be sent (RFC 6455 §7.4: 1005, 1006, 1015,
    /// and anything outside 1000–1003, 1007–1014, 3000–4999).
    InvalidCloseCode,
    /// A close reason over 123 bytes (it must fit a control frame).
    CloseReasonTooLong,
    /// The server chose a subprotocol the client did not offer.
    SubprotocolNotOffered,
    /// A payload buffer (`take_payload_buffer`) misused: other input while
    /// it was lent out, a buffer handed back that is not the one lent, or
    /// more bytes than its room.
    PayloadBuffer,
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
            Misuse::ControlTooLong => "ping or pong payload exceeds 125 bytes",
            Misuse::InvalidCloseCode => "close code may not be sent",
            Misuse::FragmentsUnsupported => "this protocol cannot send a message in fragments",
            Misuse::SubprotocolList => "draft-76 can offer at most one subprotocol",
            Misuse::MessageInProgress => "a fragmented message is still being sent",
            Misuse::FragmentTypeChanged => "fragment is not of the type of the message being sent",
            Misuse::CloseReasonTooLong => "close reason exceeds 123 bytes",
            Misuse::SubprotocolNotOffered => "subprotocol was not offered by the client",
            Misuse::PayloadBuffer => "payload buffer misused",
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
            Error::UnexpectedEof(Stage::Open) => f.write_str("connection ended without a close frame"),
            Error::UnexpectedEof(stage) => write!(f, "connection ended in the middle of {stage}"),
            Error::Timeout(timer) => write!(f, "timed out: {timer}"),
            Error::Misuse(e) => write!(f, "{e}"),
            Error::FramingMismatch { detected, cause } => {
                let (seen, other) = match detected {
                    Framing::New => ("new", "old"),
                    _ => ("old", "new"),
                };
                write!(
                    f,
                    "the client's first bytes looked like draft-76 '{seen}' framing, but its first \
                     frame breaks it ({cause}); if the client speaks '{other}', set the server's \
                     framing to '{other}'"
                )
            }
        }
    }
}

impl core::error::Error for Error {}
impl core::error::Error for HandshakeError {}
impl core::error::Error for NegotiationError {}
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

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::{String, ToString};
    use alloc::vec::Vec;

    #[test]
    fn negotiation_error_texts() {
        let p = Parameter::ServerMaxWindowBits;
        let all = [
            NegotiationError::Syntax,
            NegotiationError::Missing,
            NegotiationError::DuplicateExtension,
            NegotiationError::UnknownParameter,
            NegotiationError::DuplicateParameter(p),
            NegotiationError::UnexpectedValue(p),
            NegotiationError::MissingValue(p),
            NegotiationError::InvalidWindowBits(p),
            NegotiationError::ClientWindowBitsNotOffered,
            NegotiationError::ServerWindowBitsTooLarge,
            NegotiationError::ServerWindowBitsMissing,
            NegotiationError::ServerNoContextTakeoverMissing,
        ];
        let texts: Vec<String> = all.iter().map(|e| e.to_string()).collect();
        for (i, t) in texts.iter().enumerate() {
            assert!(t.starts_with(|c: char| c.is_ascii_lowercase()), "{t}");
            assert!(!texts[..i].contains(t), "{t} twice");
        }
        assert_eq!(texts[7], "server_max_window_bits is not an integer from 8 to 15");
    }
}
