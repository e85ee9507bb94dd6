//! An open WebSocket connection (the seed's `ws-conn`): a core
//! [`hybi_core::Connection`] behind a mutex, a socket, and the loop that
//! moves bytes and time between them.
//!
//! # Threads and locks
//!
//! A [`Connection`] is a handle; clones share one connection, so one thread
//! can block in [`recv`](Connection::recv) while others send. Three locks,
//! never held across a blocking call on the socket except the one whose job
//! that is:
//!
//! - `reader`: held by the one thread reading the socket (in `recv` or
//!   `close`). It blocks in `read` holding only this lock.
//! - `writer`: held by the thread writing the socket. It blocks in `write`
//!   holding only this lock, so a slow peer makes senders wait (the write
//!   buffer is the socket's, bounded) and never the reader.
//! - `inner`: the core state machine and the events it produced; held for
//!   microseconds, to feed input or a command and take the output.
//!
//! Order: `reader`, then `writer`, then `inner`; a thread holding `writer`
//! never waits for `reader`. A reader that fed input which made the core
//! queue bytes (a pong, a close reply) writes them only if the writer lock is
//! free; otherwise it raises `needs_flush` and the thread holding the writer
//! writes them after its own. So a reader does not wait on a blocked writer
//! (unless a peer that does not read lets more than 256 KiB of replies pile
//! up), and the bytes the core queues go out in the order it queued them.

mod close;
mod pongs;
mod refused;
mod seed;
mod shared;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hybi_core::{Close, Headers, Protocol, State};

use crate::error::Error;
pub(crate) use close::After;
pub(crate) use refused::REFUSED_BODY_WAIT;
pub(crate) use shared::Shared;
use shared::{lock, End, WriteWhen};

/// A whole message received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// A text message.
    Text(String),
    /// A binary message (RFC 6455 only).
    Binary(Vec<u8>),
}

impl Message {
    /// The text, if this is a text message.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Message::Text(text) => Some(text),
            Message::Binary(_) => None,
        }
    }

    /// The payload bytes, text or binary.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Message::Text(text) => text.as_bytes(),
            Message::Binary(data) => data,
        }
    }
}

/// One WebSocket connection, open once you hold it (the seed's `ws-conn`).
///
/// Made by [`crate::connect`] on the client side and handed to the
/// [`crate::serve`] handler on the server side; the methods are the same for
/// both. Clones are handles to the same connection, so one thread can block
/// in [`recv`](Self::recv) while another sends (the two never wait on each
/// other). Messages and the calls that produce them:
///
/// | seed (Racket) | here |
/// | --- | --- |
/// | `ws-send!` | [`send_text`](Self::send_text), [`send_binary`](Self::send_binary), [`ping`](Self::ping) |
/// | `ws-recv` (string or eof) | [`recv`](Self::recv) (`Some(message)` or `None`) |
/// | `ws-close!` | [`close`](Self::close), [`close_with`](Self::close_with) |
/// | `ws-conn-line`, `ws-conn-headers` | [`line`](Self::line), [`headers`](Self::headers), as Node's `line` and `headers` (the whole heads: [`request`](Self::request), [`response`](Self::response)) |
/// | `ws-conn-closed?`, `open-ws-conn?` | [`is_closed`](Self::is_closed), [`is_open`](Self::is_open) |
///
/// Timers (the core's idle, keepalive and close deadlines) run while a
/// thread is inside `recv` or `close`: the socket's read timeout is set to
/// the next deadline. Pings are answered inside `recv`.
///
/// Dropping the last handle of a connection that is still open sends a
/// close (1001, going away, in RFC 6455) if the socket takes it at once, and
/// closes the socket; call [`close`](Self::close) to wait for the peer's
/// answer instead.
#[derive(Clone)]
pub struct Connection {
    shared: Arc<Shared>,
}

impl Connection {
    pub(crate) fn from_shared(shared: Arc<Shared>) -> Self {
        shared.record_opened();
        Connection { shared }
    }

    /// Sends a text message. Blocks while the socket's buffer is full (see
    /// [`set_write_timeout`](Self::set_write_timeout)).
    pub fn send_text(&self, text: &str) -> Result<(), Error> {
        self.write_message(false, text.as_bytes(), WriteWhen::Now, |core| core.send_text(text))
    }

    /// Sends a binary message (RFC 6455 only: draft-76 has none, and the
    /// error says so).
    pub fn send_binary(&self, data: &[u8]) -> Result<(), Error> {
        self.write_message(true, data, WriteWhen::Now, |core| core.send_binary(data))
    }

    /// Sends a message, text or binary.
    pub fn send(&self, message: &Message) -> Result<(), Error> {
        match message {
            Message::Text(text) => self.send_text(text),
            Message::Binary(data) => self.send_binary(data),
        }
    }

    /// Queues a message to be written later, with whatever is queued after
    /// it, in as few writes as possible: by [`flush`](Self::flush), by any
    /// send or [`close`](Self::close), by [`recv`](Self::recv) before it
    /// waits for the peer, or by this call once more than 64 KiB is queued.
    ///
    /// For a connection that answers messages as it reads them (an echo, a
    /// request/response server): `recv` returns messages that arrived
    /// together without touching the socket, the answers queue up, and they
    /// leave in one write when `recv` has to read again. Nothing queued
    /// waits on the peer: the write happens before `recv` blocks. That
    /// holds for the thread that calls `recv`; a thread that queues while
    /// another one is already waiting in `recv`, or that queues and then
    /// stops calling `recv`, must `flush`.
    pub fn queue(&self, message: &Message) -> Result<(), Error> {
        match message {
            Message::Text(text) => self.queue_text(text),
            Message::Binary(data) => self.queue_binary(data),
        }
    }

    /// Queues a text message (see [`queue`](Self::queue)).
    pub fn queue_text(&self, text: &str) -> Result<(), Error> {
        self.write_message(false, text.as_bytes(), WriteWhen::Queued, |core| core.send_text(text))
    }

    /// Queues a binary message (RFC 6455 only; see [`queue`](Self::queue)).
    pub fn queue_binary(&self, data: &[u8]) -> Result<(), Error> {
        self.write_message(true, data, WriteWhen::Queued, |core| core.send_binary(data))
    }

    /// One message out through `send` on the core, written now or queued;
    /// one too large for the spare write buffer is written now in either
    /// case, straight from `payload` where the protocol sends it as it is.
    fn write_message(
        &self,
        binary: bool,
        payload: &[u8],
        when: WriteWhen,
        send: impl FnOnce(&mut hybi_core::Connection) -> Result<(), hybi_core::Misuse>,
    ) -> Result<(), Error> {
        if self.shared.send_verbatim(binary, payload)? {
            return Ok(());
        }
        match when {
            WriteWhen::Now => self.shared.command(send),
            WriteWhen::Queued => self.shared.enqueue(send),
        }
    }

    /// Writes every queued message (see [`queue`](Self::queue)). Blocks
    /// while the socket's buffer is full, like a send.
    pub fn flush(&self) -> Result<(), Error> {
        self.shared.command(|_| Ok(()))
    }

    /// Sends a ping with up to 125 bytes of payload (RFC 6455 only). The
    /// peer's pong is taken in by `recv`.
    pub fn ping(&self, payload: &[u8]) -> Result<(), Error> {
        self.shared.command(|core| core.send_ping(payload))
    }

    /// Waits for the next message: `Ok(Some(message))`, or `Ok(None)` once
    /// the connection has ended cleanly (the seed's eof: the peer's close
    /// arrived, or ours was answered), and forever after. An `Err` reports
    /// how it ended otherwise (a protocol violation, a timeout, the peer
    /// vanishing) once; later calls return `Ok(None)`.
    ///
    /// With a read timeout set, an `Err` of kind
    /// [`ErrorKind::Timeout`](crate::ErrorKind::Timeout) may also just mean
    /// no message came in time; the connection stays usable then
    /// ([`is_open`](Self::is_open) tells).
    pub fn recv(&self) -> Result<Option<Message>, Error> {
        self.shared.recv()
    }

    /// Closes the connection normally (RFC 6455 code 1000): sends the close
    /// and waits for the peer's answer, or the end of its stream, up to the
    /// close timeout. Messages arriving meanwhile stay queued for
    /// [`recv`](Self::recv) (up to 16 MiB of them; later ones are dropped).
    /// If another thread is inside `recv`, that thread reads the answer and
    /// `close` waits for it. `Ok` if the connection was already over or
    /// ended cleanly.
    pub fn close(&self) -> Result<(), Error> {
        self.close_with(Some(1000), "")
    }

    /// Closes with a code and reason (RFC 6455; draft-76 closes carry none,
    /// so only `None` or 1000 with an empty reason fit it).
    pub fn close_with(&self, code: Option<u16>, reason: &str) -> Result<(), Error> {
        let code = match self.protocol() {
            Protocol::Draft76(_) if code == Some(1000) && reason.is_empty() => None,
            _ => code,
        };
        if self.shared.begin_close(code, reason)? {
            self.shared.wait_closed()
        } else {
            Ok(())
        }
    }

    /// Whether the connection is over (the seed's `ws-conn-closed?`). A
    /// connection whose peer closed is over once `recv` has returned the
    /// messages before the close and then `None` (or the close deadline
    /// passed): until then the application may still answer them.
    pub fn is_closed(&self) -> bool {
        let inner = lock(&self.shared.inner);
        inner.dead || inner.core.state() == State::Closed
    }

    /// Whether messages can still be sent (the seed's `open-ws-conn?`): open
    /// and no close sent, or the peer closed and `recv` has not reached its
    /// close yet.
    pub fn is_open(&self) -> bool {
        let inner = lock(&self.shared.inner);
        !inner.dead && matches!(inner.core.state(), State::Open | State::Ending)
    }

    /// The peer's close code and reason, once the connection ended cleanly.
    pub fn close_status(&self) -> Option<Close> {
        match &lock(&self.shared.inner).end {
            Some(End::Clean(close)) => Some(close.clone()),
            _ => None,
        }
    }

    /// The opening request's line, e.g. `GET /chat HTTP/1.1` (on a server,
    /// the seed's `ws-conn-line`).
    pub fn request_line(&self) -> &str {
        &self.shared.opened().request.line
    }

    /// The opening request's headers: those received (server) or those we
    /// added to the ones the handshake itself needs (client).
    pub fn request_headers(&self) -> &Headers {
        &self.shared.opened().request.headers
    }

    /// The 101 response's status line (on a client, the seed's
    /// `ws-conn-line`: see [`line`](Self::line)).
    pub fn response_line(&self) -> &str {
        &self.shared.opened().response.line
    }

    /// The 101 response's headers: those received (client) or sent (server:
    /// the handshake's own and what `conn_headers` added; the seed's
    /// `ws-conn-headers` is [`headers`](Self::headers)).
    pub fn response_headers(&self) -> &Headers {
        &self.shared.opened().response.headers
    }

    crate::opened::opened_getters!(shared);

    /// The peer's address.
    pub fn peer_addr(&self) -> SocketAddr {
        self.shared.peer_addr
    }

    /// Our end's address.
    pub fn local_addr(&self) -> SocketAddr {
        self.shared.local_addr
    }

    /// Makes [`recv`](Self::recv) give up after waiting this long for a
    /// message, with an error of kind
    /// [`ErrorKind::Timeout`](crate::ErrorKind::Timeout), leaving the
    /// connection open. `None` (the default) waits as long as the core's
    /// timers allow.
    pub fn set_read_timeout(&self, timeout: Option<Duration>) {
        lock(&self.shared.inner).read_timeout = timeout.filter(|t| !t.is_zero());
    }

    /// Makes a send that cannot finish within `timeout` (the peer reads too
    /// slowly and the socket's buffer is full) fail with
    /// [`ErrorKind::Timeout`](crate::ErrorKind::Timeout) instead of blocking.
    /// Part of a message may have gone out then, so the connection ends.
    pub fn set_write_timeout(&self, timeout: Option<Duration>) -> Result<(), Error> {
        Ok(lock(&self.shared.control).set_write_timeout(timeout.filter(|t| !t.is_zero()))?)
    }
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("peer", &self.shared.peer_addr)
            // Not `protocol()`: a Debug inside a pong hook holds the lock.
            .field("protocol", &self.shared.inner.try_lock().ok().and_then(|inner| inner.core.protocol()))
            .field("closed", &self.is_closed())
            .finish()
    }
}
