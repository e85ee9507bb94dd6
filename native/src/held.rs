//! Connections over a stream the caller already holds (the blocking
//! counterparts of `hybi::tokio::{accept, client}`): for a socket accepted
//! or connected elsewhere, a TLS stream set up by hand, a test pipe. What a
//! stream that is not a socket can and cannot do is in [`Stream`]'s docs.

use hybi_core::{Accept, ClientRequest, Config, Event, HttpResponse, RequestHead, RequestKind};

use crate::clock::Clock;
use crate::conn::{Connection, Shared};
use crate::entropy::OsEntropy;
use crate::error::{Error, ErrorKind};
use crate::stream::{handles, Stream};
use crate::transport;

/// Server side of the opening handshake over `stream`: reads the request,
/// asks `decide` (the seed's `conn-headers`: accept with extra headers and
/// a subprotocol, or answer with an HTTP response, as for a plain
/// request), and returns the open connection. A refused request is
/// answered, and reported as an error of kind `HandshakeRefused`.
///
/// ```no_run
/// use std::net::TcpListener;
/// let listener = TcpListener::bind("127.0.0.1:8080")?;
/// let (stream, _) = listener.accept()?;
/// let conn = hybi::accept(stream, hybi::core::Config::default())?;
/// while let Some(message) = conn.recv()? {
///     conn.send(&message)?;
/// }
/// # Ok::<(), hybi::Error>(())
/// ```
pub fn accept_with<S: Stream>(
    stream: S,
    config: Config,
    decide: impl FnOnce(RequestKind, &RequestHead) -> Result<Accept, HttpResponse>,
) -> Result<Connection, Error> {
    let clock = Clock::new();
    let [read, write, control] = handles(Box::new(stream))?;
    let core = hybi_core::Connection::server(clock.start(), config);
    let shared = Shared::new(core, clock, transport::plain(read, write), control)?;
    let kind = match shared.next_handshake_event()? {
        Event::Request(kind) => kind,
        Event::Error(e) => return Err(e.into()),
        other => {
            return Err(Error::new(ErrorKind::Protocol, format!("unexpected handshake event {other:?}")))
        }
    };
    let request = shared.request().expect("a request event comes with its request");
    match decide(kind, &request) {
        Ok(accept) if kind != RequestKind::Http => {
            shared.set_accepted_headers(accept.headers.clone());
            shared.command(|core| core.accept(accept))?;
        }
        Ok(_) => {
            shared.command(|core| core.respond(HttpResponse::text(404, "not a WebSocket request\n")))?;
            return Err(Error::new(ErrorKind::HandshakeRefused, "a plain HTTP request, answered 404"));
        }
        Err(response) => {
            let status = response.status;
            shared.command(|core| core.respond(response))?;
            return Err(Error::new(ErrorKind::HandshakeRefused, format!("refused with {status}")));
        }
    }
    match shared.next_handshake_event()? {
        Event::Open => Ok(Connection::from_shared(shared)),
        Event::Error(e) => Err(e.into()),
        other => Err(Error::new(ErrorKind::Protocol, format!("unexpected handshake event {other:?}"))),
    }
}

/// [`accept_with`] accepting every WebSocket request as it is (no extra
/// headers, no subprotocol) and answering plain HTTP requests with 404.
pub fn accept<S: Stream>(stream: S, config: Config) -> Result<Connection, Error> {
    accept_with(stream, config, |_, _| Ok(Accept::default()))
}

/// Client side of the opening handshake over `stream` (already connected
/// to the server, and through TLS if `request.target.secure`): sends
/// `request`, checks the answer, and returns the open connection, with the
/// same errors as [`connect_with`](crate::connect_with) (a refusal's
/// status, headers and body; the other protocol suggested).
pub fn client<S: Stream>(stream: S, request: ClientRequest, config: Config) -> Result<Connection, Error> {
    let clock = Clock::new();
    let protocol = config.protocol;
    let [read, write, control] = handles(Box::new(stream))?;
    let core = hybi_core::Connection::client(clock.start(), config, request, Box::new(OsEntropy::new()))?;
    let shared = Shared::new(core, clock, transport::plain(read, write), control)?;
    crate::client::open(shared, protocol)
}
