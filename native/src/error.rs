//! One error type for everything the driver does: what the core reports,
//! what the socket and TLS report, and what the driver itself checks (URLs,
//! proxies).

use std::fmt;
use std::io;

use hybi_core::{Protocol, ResponseHead};

/// What kind of failure an [`Error`] is, for callers that branch on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The socket failed (connection refused or reset, address in use, ...).
    Io,
    /// The server answered the opening handshake with an HTTP status other
    /// than 101 ([`Error::status`] says which), or a server's `conn_headers`
    /// hook refused the request.
    HandshakeRefused,
    /// The peer broke the WebSocket protocol, in the handshake or after it.
    Protocol,
    /// The peer went past a configured limit ([`hybi_core::Limits`]).
    LimitExceeded,
    /// The TLS layer failed: bad certificate, handshake failure, alert.
    Tls,
    /// The connection is closed: nothing more can be sent on it.
    Closed,
    /// The transport ended without the protocol's closing handshake (the
    /// peer vanished, possibly in the middle of a frame).
    UnexpectedEof,
    /// A deadline passed: the handshake, close, idle or keepalive timer of
    /// the core, a read timeout, a write timeout or the connect timeout.
    Timeout,
    /// The URL is not a usable `ws://` or `wss://` URL.
    InvalidUrl,
    /// The HTTP CONNECT proxy could not be reached or refused the tunnel.
    Proxy,
    /// The application asked for something the connection cannot do (a
    /// binary message or a ping in draft-76, a close code that may not be
    /// sent, an invalid header); never caused by the peer.
    Misuse,
}

/// An error from a connection, a client connect or a server.
///
/// [`kind`](Error::kind) says what failed; `Display` says why, naming the
/// cause. The core's own error (a protocol violation with its close code,
/// a refused handshake, a timer) is kept whole in [`core`](Error::core).
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
    repr: Repr,
}

#[derive(Debug)]
enum Repr {
    Core(hybi_core::Error),
    /// A client's opening handshake that failed with the server's answer
    /// in hand.
    Handshake(Box<FailedHandshake>),
    Io(io::Error),
    Message(String),
}

#[derive(Debug)]
struct FailedHandshake {
    error: hybi_core::Error,
    response: Option<ResponseHead>,
    /// A refusal's body, as far as it was read.
    body: Vec<u8>,
    /// The protocol the server may speak instead (docs/PROTOCOLS.md §5.1).
    suggested: Option<Protocol>,
}

impl Error {
    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The core's error, when the WebSocket layer is what failed.
    pub fn core(&self) -> Option<&hybi_core::Error> {
        match &self.repr {
            Repr::Core(e) => Some(e),
            Repr::Handshake(failed) => Some(&failed.error),
            _ => None,
        }
    }

    /// The server's answer to a client's failed opening handshake (status
    /// line, status, reason and headers), when one arrived: what a refused
    /// handshake ([`ErrorKind::HandshakeRefused`]) or an answer the
    /// protocol does not allow was.
    pub fn response(&self) -> Option<&ResponseHead> {
        match &self.repr {
            Repr::Handshake(failed) => failed.response.as_ref(),
            _ => None,
        }
    }

    /// The protocol the server may speak instead of the one asked for, when
    /// the failed handshake suggests one (a 400 or 426 to a draft-76
    /// request, a 4xx or a draft-76 answer to an RFC 6455 one:
    /// docs/PROTOCOLS.md §5.1). `Display` names the option to set.
    pub fn suggested_protocol(&self) -> Option<Protocol> {
        match &self.repr {
            Repr::Handshake(failed) => failed.suggested,
            _ => None,
        }
    }

    /// A client's failed opening handshake: the core's `error`, the
    /// server's `response` if one arrived, and what it suggests about the
    /// server's protocol given the one `asked`.
    pub(crate) fn handshake_failed(
        error: hybi_core::Error,
        asked: Protocol,
        response: Option<ResponseHead>,
        body: Vec<u8>,
    ) -> Self {
        let suggested = hybi_core::handshake::mismatch::suggested_protocol(asked, &error, response.as_ref());
        let kind = Error::from(error.clone()).kind;
        Error { kind, repr: Repr::Handshake(Box::new(FailedHandshake { error, response, body, suggested })) }
    }

    /// The body of a refused handshake's response ([`ErrorKind::HandshakeRefused`]),
    /// up to its `Content-Length` and 64 KiB (empty when it had none); with
    /// [`response`](Self::response), the whole refusal.
    pub fn response_body(&self) -> Option<&[u8]> {
        match &self.repr {
            Repr::Handshake(failed) if failed.response.is_some() => Some(&failed.body),
            _ => None,
        }
    }

    /// The I/O error, when the socket (or TLS, reported through it) failed.
    pub fn io(&self) -> Option<&io::Error> {
        match &self.repr {
            Repr::Io(e) => Some(e),
            _ => None,
        }
    }

    /// The HTTP status of a refused handshake ([`ErrorKind::HandshakeRefused`]).
    pub fn status(&self) -> Option<u16> {
        match self.core() {
            Some(hybi_core::Error::Rejected { status }) => Some(*status),
            _ => None,
        }
    }

    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error { kind, repr: Repr::Message(message.into()) }
    }

    pub(crate) fn closed() -> Self {
        Error::new(ErrorKind::Closed, "connection is closed")
    }

    pub(crate) fn invalid_url(url: &str, why: impl fmt::Display) -> Self {
        Error::new(ErrorKind::InvalidUrl, format!("invalid WebSocket URL {url:?}: {why}"))
    }

    pub(crate) fn proxy(why: impl fmt::Display) -> Self {
        Error::new(ErrorKind::Proxy, format!("proxy: {why}"))
    }

    /// An I/O error with a kind chosen by the caller (e.g. a TLS setup
    /// failure reported as [`ErrorKind::Tls`]).
    pub(crate) fn io_as(kind: ErrorKind, error: io::Error) -> Self {
        Error { kind, repr: Repr::Io(error) }
    }

    /// A TLS handshake that failed, on either side: a timeout stays a
    /// timeout; anything else is a TLS error whose message says so.
    #[cfg(feature = "tls")]
    pub(crate) fn tls_handshake(error: io::Error) -> Self {
        let error = Error::from(error);
        match error.kind() {
            ErrorKind::Timeout => error,
            _ => Error::io_as(ErrorKind::Tls, io::Error::other(format!("TLS handshake failed: {error}"))),
        }
    }
}

impl From<hybi_core::Error> for Error {
    fn from(error: hybi_core::Error) -> Self {
        use hybi_core::{Error as E, Misuse};
        let kind = match &error {
            E::Handshake(_) | E::Protocol(_) => ErrorKind::Protocol,
            E::Limit(_) => ErrorKind::LimitExceeded,
            E::Rejected { .. } => ErrorKind::HandshakeRefused,
            E::UnexpectedEof(_) => ErrorKind::UnexpectedEof,
            E::Timeout(_) => ErrorKind::Timeout,
            E::Misuse(Misuse::NotOpen) => ErrorKind::Closed,
            E::Misuse(_) => ErrorKind::Misuse,
            _ => ErrorKind::Protocol,
        };
        Error { kind, repr: Repr::Core(error) }
    }
}

impl From<hybi_core::Misuse> for Error {
    fn from(misuse: hybi_core::Misuse) -> Self {
        hybi_core::Error::from(misuse).into()
    }
}

impl From<io::Error> for Error {
    fn from(error: io::Error) -> Self {
        let kind = match error.kind() {
            io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => ErrorKind::Timeout,
            io::ErrorKind::UnexpectedEof => ErrorKind::UnexpectedEof,
            _ if is_tls(&error) => ErrorKind::Tls,
            _ => ErrorKind::Io,
        };
        Error { kind, repr: Repr::Io(error) }
    }
}

#[cfg(feature = "tls")]
fn is_tls(error: &io::Error) -> bool {
    error.get_ref().is_some_and(|inner| inner.is::<rustls::Error>())
}

#[cfg(not(feature = "tls"))]
fn is_tls(_: &io::Error) -> bool {
    false
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.repr, self.kind) {
            (Repr::Core(e), _) => write!(f, "{e}"),
            (Repr::Handshake(failed), _) => {
                write!(f, "{}", failed.error)?;
                if let Some(response) = failed.response.as_ref().filter(|r| r.status != 101) {
                    if !response.reason.is_empty() {
                        write!(f, " {}", response.reason)?;
                    }
                }
                match failed.suggested {
                    Some(Protocol::Rfc6455) => f.write_str(
                        "; the server may speak only RFC 6455: connect with \
                         `ConnectOptions::new().protocol(Protocol::Rfc6455)`",
                    ),
                    Some(Protocol::Draft76(_)) => f.write_str(
                        "; the server may speak only draft-76: connect with \
                         `ConnectOptions::new().protocol(Protocol::Draft76(Framing::Old))` \
                         (or `Framing::New`)",
                    ),
                    None => Ok(()),
                }
            }
            (Repr::Io(e), ErrorKind::Tls) => write!(f, "TLS: {e}"),
            (Repr::Io(e), ErrorKind::Timeout) => write!(f, "timed out: {e}"),
            (Repr::Io(e), _) => write!(f, "I/O: {e}"),
            (Repr::Message(m), _) => f.write_str(m),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.repr {
            Repr::Core(e) => Some(e),
            Repr::Handshake(failed) => Some(&failed.error),
            Repr::Io(e) => Some(e),
            Repr::Message(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hybi_core::{Misuse, Stage, Timer};

    #[test]
    fn core_errors_map_to_kinds() {
        let kind = |e: hybi_core::Error| Error::from(e).kind();
        assert_eq!(kind(hybi_core::Error::Rejected { status: 403 }), ErrorKind::HandshakeRefused);
        assert_eq!(Error::from(hybi_core::Error::Rejected { status: 403 }).status(), Some(403));
        assert_eq!(kind(hybi_core::Error::Timeout(Timer::Idle)), ErrorKind::Timeout);
        assert_eq!(kind(hybi_core::Error::UnexpectedEof(Stage::Frame)), ErrorKind::UnexpectedEof);
        assert_eq!(kind(Misuse::NotOpen.into()), ErrorKind::Closed);
        assert_eq!(kind(Misuse::BinaryUnsupported.into()), ErrorKind::Misuse);
        assert_eq!(kind(hybi_core::ProtocolError::InvalidUtf8.into()), ErrorKind::Protocol);
    }

    #[test]
    fn io_errors_map_to_kinds_and_name_the_cause() {
        let e = Error::from(io::Error::new(io::ErrorKind::TimedOut, "write timed out"));
        assert_eq!(e.kind(), ErrorKind::Timeout);
        assert_eq!(e.to_string(), "timed out: write timed out");
        let e = Error::from(io::Error::from(io::ErrorKind::ConnectionRefused));
        assert_eq!(e.kind(), ErrorKind::Io);
        assert!(e.to_string().starts_with("I/O: "), "{e}");
    }

    #[cfg(feature = "tls")]
    #[test]
    fn rustls_errors_inside_io_are_tls() {
        let inner = rustls::Error::General("bad".into());
        let e = Error::from(io::Error::new(io::ErrorKind::InvalidData, inner));
        assert_eq!(e.kind(), ErrorKind::Tls);
    }
}
