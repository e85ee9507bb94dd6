//! The async driver (cargo feature `tokio`): the same core, over any
//! `AsyncRead + AsyncWrite` stream the caller already holds (a `TcpStream`,
//! a TLS stream, a Unix socket, an in-memory duplex).
//!
//! Like the blocking driver it only moves bytes, time and entropy: the core
//! decides every frame, close and deadline (ARCHITECTURE.md, "Writing a
//! driver"). One task owns a [`WebSocket`]; its methods take `&mut self`.
//! To receive in one task and send in another, [`split`](WebSocket::split)
//! it into a [`Reader`] and a [`Writer`] (how they share the connection is
//! in the source of `socket.rs`: the core behind a lock held only for core
//! calls, never across an await; the reader answers pings and the close
//! itself, whether the writer is busy or idle).
//!
//! # Cancellation
//!
//! Every async method may be dropped at any await point without losing or
//! corrupting anything, because everything in flight lives in the
//! connection, not in the future:
//! - [`recv`](WebSocket::recv): input already read is in the core and its
//!   messages in the connection's queue; a read that had not completed
//!   took nothing (tokio's `read` is cancel-safe). The next `recv` returns
//!   the next message. So `recv` can be a branch of `tokio::select!`.
//! - [`send`](WebSocket::send), [`ping`](WebSocket::ping) and
//!   [`close`](WebSocket::close): the frame is queued in the core (or in
//!   the connection's output buffer, with how much of it the socket took)
//!   before the first await, so a dropped call has still sent its message
//!   whole; the next call (or [`flush`](WebSocket::flush), or `recv`)
//!   writes what is left first. A dropped `close` has started the closing
//!   handshake; `recv` finishes it.
//!
//! # Timers
//!
//! The core's deadlines (handshake, idle, keepalive, close) are kept while a
//! call is waiting on the socket: each wait is bounded by
//! `poll_timeout`, through `tokio::time` (one timer per connection,
//! re-armed only when the deadline moves). They run while the
//! [`Reader`] (or the unsplit `WebSocket`'s `recv` or `close`) is polled.
//! So the runtime needs its time driver (`enable_time` or `enable_all`),
//! which also sweeps the buffers of large payloads written that are kept
//! for the next large message read (at most 64 MiB, each at most half a
//! second unused).
//!
//! # Racket's `ws-conn` as an event, in tokio
//!
//! In the seed (Racket's `net/websocket`) a `ws-conn` is a synchronizable
//! event: `(sync conn other-evt ...)` waits for whichever is ready first, a
//! message or anything else. Here a connection's `recv` future (or the
//! connection itself, as a `futures::Stream`) is that event, and
//! `tokio::select!` is `sync`: since `recv` is cancel-safe, the branch that
//! loses the race loses nothing, as a Racket event not chosen by `sync` is
//! not consumed.
//!
//! ```no_run
//! # async fn run(mut ws: hybi::tokio::WebSocket<tokio::net::TcpStream>) -> Result<(), hybi::Error> {
//! use std::time::Duration;
//! let mut ticker = tokio::time::interval(Duration::from_secs(1));
//! loop {
//!     tokio::select! {
//!         message = ws.recv() => match message? {
//!             Some(message) => println!("got {message:?}"),
//!             None => break,
//!         },
//!         _ = ticker.tick() => ws.send(&hybi::Message::Text("tick".into())).await?,
//!     }
//! }
//! # Ok(()) }
//! ```
//! `native/examples/` has that client whole, an echo server and a chat
//! (broadcast) server.

mod connect;
mod recycled;
mod serve;
mod socket;
mod stream;

use std::sync::Arc;

use ::tokio::io::{AsyncRead, AsyncWrite};
use hybi_core::{Accept, ClientRequest, Config, Event, HttpResponse, RequestHead, RequestKind};

use crate::budget::MemoryBudget;
use crate::clock::Clock;
use crate::entropy::OsEntropy;
use crate::error::{Error, ErrorKind};
pub use connect::connect;
pub use serve::{serve, Listen, ServerHandle, ServerStopper};
pub use socket::{Reader, WebSocket, Writer};
pub use stream::MaybeTls;

/// Server side of the opening handshake over `io`: reads the request,
/// asks `decide` (the seed's `conn-headers`: accept with extra headers and
/// a subprotocol, or answer with an HTTP response, as for a plain request),
/// and returns the open connection. A refused request is answered, and
/// reported as an error of kind `HandshakeRefused`.
pub async fn accept_with<S>(
    io: S,
    config: Config,
    decide: impl FnOnce(RequestKind, &RequestHead) -> Result<Accept, HttpResponse>,
) -> Result<WebSocket<S>, Error>
where
    S: AsyncRead + AsyncWrite,
{
    accept_at(io, config, Clock::new(), None, decide).await
}

/// [`accept_with`] on `clock`, whose start is where the handshake deadline
/// counts from (for `serve`: the moment `accept` returned, before TLS),
/// drawing on `budget` if given (a server's).
async fn accept_at<S>(
    io: S,
    config: Config,
    clock: Clock,
    budget: Option<Arc<MemoryBudget>>,
    decide: impl FnOnce(RequestKind, &RequestHead) -> Result<Accept, HttpResponse>,
) -> Result<WebSocket<S>, Error>
where
    S: AsyncRead + AsyncWrite,
{
    let mut ws = WebSocket::new(io, hybi_core::Connection::server(clock.start(), config), clock);
    if let Some(budget) = budget {
        ws.set_budget(budget);
    }
    let kind = loop {
        if let Some(Event::Request(kind)) = ws.events().front() {
            let kind = *kind;
            ws.events().pop_front();
            break kind;
        }
        if let Some(Event::Error(error)) = ws.events().front() {
            let error = error.clone();
            let _ = ws.write_out().await;
            return Err(error.into());
        }
        ws.turn().await?;
    };
    let request =
        ws.with_core(|core| core.request().cloned()).expect("a request event comes with its request");
    match decide(kind, &request) {
        Ok(accept) if kind != RequestKind::Http => ws.with_core(|core| core.accept(accept))?,
        Ok(_) => {
            ws.with_core(|core| core.respond(HttpResponse::text(404, "not a WebSocket request\n")))?;
            let _ = ws.write_out().await;
            return Err(Error::new(ErrorKind::HandshakeRefused, "a plain HTTP request, answered 404"));
        }
        Err(response) => {
            let status = response.status;
            ws.with_core(|core| core.respond(response))?;
            let _ = ws.write_out().await;
            return Err(Error::new(ErrorKind::HandshakeRefused, format!("refused with {status}")));
        }
    }
    ws.handshake(None).await
}

/// [`accept_with`] accepting every WebSocket request as it is (no extra
/// headers, no subprotocol) and answering plain HTTP requests with 404.
pub async fn accept<S>(io: S, config: Config) -> Result<WebSocket<S>, Error>
where
    S: AsyncRead + AsyncWrite,
{
    accept_with(io, config, |_, _| Ok(Accept::default())).await
}

/// Client side of the opening handshake over `io` (already connected to
/// the server, and through TLS if `request.target.secure`): sends
/// `request`, checks the answer, and returns the open connection. Masking
/// keys and nonces come from the operating system.
pub async fn client<S>(io: S, request: ClientRequest, config: Config) -> Result<WebSocket<S>, Error>
where
    S: AsyncRead + AsyncWrite,
{
    client_at(io, request, config, Clock::new()).await
}

/// [`client`] on `clock`, whose start is where the handshake deadline
/// counts from (for `connect`: before the TLS handshake).
async fn client_at<S>(
    io: S,
    request: ClientRequest,
    config: Config,
    clock: Clock,
) -> Result<WebSocket<S>, Error>
where
    S: AsyncRead + AsyncWrite,
{
    let asked = config.protocol;
    let core = hybi_core::Connection::client(clock.start(), config, request, Box::new(OsEntropy::new()))?;
    WebSocket::new(io, core, clock).handshake(Some(asked)).await
}
