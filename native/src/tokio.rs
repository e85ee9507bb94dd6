//! The async driver (cargo feature `tokio`): the same core, over any
//! `AsyncRead + AsyncWrite + Unpin` stream the caller already holds (a
//! `TcpStream`, a TLS stream, a Unix socket, an in-memory duplex).
//!
//! Like the blocking driver it only moves bytes, time and entropy: the core
//! decides every frame, close and deadline (ARCHITECTURE.md, "Writing a
//! driver"). One task owns a [`WebSocket`]; its methods take `&mut self`.
//!
//! # Cancellation
//!
//! Every async method may be dropped at any await point without losing or
//! corrupting anything, because everything in flight lives in the
//! `WebSocket`, not in the future:
//! - [`recv`](WebSocket::recv): input already read is in the core and its
//!   messages in the `WebSocket`'s queue; a read that had not completed
//!   took nothing (tokio's `read` is cancel-safe). The next `recv` returns
//!   the next message.
//! - [`send`](WebSocket::send) and [`close`](WebSocket::close): the frame
//!   is queued in the core (or in the `WebSocket`'s output buffer, with how
//!   much of it the socket took) before the first await, so a dropped call
//!   has still sent its message whole; the next call (or
//!   [`flush`](WebSocket::flush)) writes what is left first.
//!
//! # Timers
//!
//! The core's deadlines (handshake, idle, keepalive, close) are kept while a
//! call is waiting on the socket: each wait is bounded by
//! `poll_timeout`, through `tokio::time`.

use std::collections::VecDeque;
use std::io;

use ::tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use hybi_core::{Accept, ClientRequest, Close, Config, Event, HttpResponse, RequestHead, RequestKind, State};

use crate::clock::Clock;
use crate::entropy::OsEntropy;
use crate::error::{Error, ErrorKind};
use crate::Message;

/// Bytes read from the stream at once.
const READ_BUF: usize = 32 * 1024;

/// One WebSocket connection over an async stream `S`, open once you hold
/// it. Made by [`accept`] or [`client`].
pub struct WebSocket<S> {
    io: S,
    core: hybi_core::Connection,
    clock: Clock,
    read_buf: Box<[u8]>,
    /// Output taken from the core and not yet all written: `out[written..]`
    /// goes first on the next write.
    out: Vec<u8>,
    written: usize,
    /// Events taken from the core, for `recv`.
    events: VecDeque<Event>,
    /// The stream ended or failed: nothing more is read.
    input_done: bool,
    /// Our direction of the stream is shut.
    shut: bool,
    /// The peer's close, once it arrived.
    close_status: Option<Close>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> WebSocket<S> {
    fn new(io: S, core: hybi_core::Connection, clock: Clock) -> Self {
        WebSocket {
            io,
            core,
            clock,
            read_buf: vec![0; READ_BUF].into_boxed_slice(),
            out: Vec::new(),
            written: 0,
            events: VecDeque::new(),
            input_done: false,
            shut: false,
            close_status: None,
        }
    }

    /// The next message: `Ok(Some(message))`, or `Ok(None)` once the
    /// connection has ended cleanly, and forever after. An `Err` reports how
    /// it ended otherwise (a protocol violation, a timeout, the peer
    /// vanishing) once; later calls return `Ok(None)`. Reaching the end
    /// sends the close the core owes, after every answer queued before.
    /// Cancel-safe (see the module docs).
    pub async fn recv(&mut self) -> Result<Option<Message>, Error> {
        loop {
            while let Some(event) = self.events.pop_front() {
                match event {
                    Event::Text(text) => return Ok(Some(Message::Text(text))),
                    Event::Binary(data) => return Ok(Some(Message::Binary(data))),
                    Event::Close(_) => {
                        self.core.finish();
                        self.flush().await?;
                        return Ok(None);
                    }
                    Event::Error(error) => {
                        self.core.finish();
                        // The error is what the caller needs to know; a
                        // failing write of the close adds nothing to it.
                        let _ = self.flush().await;
                        return Err(error.into());
                    }
                    _ => {}
                }
            }
            if self.core.state() == State::Closed {
                self.flush().await?;
                return Ok(None);
            }
            self.turn().await?;
        }
    }

    /// Sends a message; completes once the socket has taken its bytes.
    pub async fn send(&mut self, message: &Message) -> Result<(), Error> {
        match message {
            Message::Text(text) => self.core.send_text(text)?,
            Message::Binary(data) => self.core.send_binary(data)?,
        }
        self.flush().await
    }

    /// Sends a ping (RFC 6455 only); `recv` takes in the pong.
    pub async fn ping(&mut self, payload: &[u8]) -> Result<(), Error> {
        self.core.send_ping(payload)?;
        self.flush().await
    }

    /// Closes with `code` and `reason` (RFC 6455; draft-76 closes carry
    /// none, so only `None` or 1000 with no reason fit it) and waits for
    /// the peer's answer or the close deadline. Messages that arrive
    /// meanwhile stay queued for [`recv`](Self::recv). If the peer closed
    /// first, this is the answer.
    pub async fn close(&mut self, code: Option<u16>, reason: &str) -> Result<(), Error> {
        if matches!(self.core.state(), State::Open | State::Ending) {
            self.core.close(self.clock.now(), code, reason)?;
        }
        while self.core.state() != State::Closed {
            self.turn().await?;
        }
        self.flush().await?;
        match self.events.iter().find_map(|e| if let Event::Error(e) = e { Some(e.clone()) } else { None }) {
            Some(error) => Err(error.into()),
            None => Ok(()),
        }
    }

    /// Writes whatever is queued (a call dropped mid-write left some).
    pub async fn flush(&mut self) -> Result<(), Error> {
        loop {
            if self.written == self.out.len() {
                self.out.clear();
                self.written = 0;
                if self.core.poll_transmit(&mut self.out) == 0 {
                    break;
                }
            }
            match self.io.write(&self.out[self.written..]).await {
                Ok(0) => return Err(io::Error::from(io::ErrorKind::WriteZero).into()),
                Ok(n) => self.written += n,
                Err(e) => return Err(e.into()),
            }
        }
        self.io.flush().await?;
        if self.core.state() == State::Closed && !self.shut {
            // Everything the protocol sends is out: end our direction.
            self.shut = true;
            let _ = self.io.shutdown().await;
        }
        Ok(())
    }

    /// The peer's close code and reason, once it closed cleanly.
    pub fn close_status(&self) -> Option<&Close> {
        self.close_status.as_ref()
    }

    /// The core connection, for what this type does not wrap (the
    /// handshake's request and response, the protocol, the subprotocol).
    pub fn core(&self) -> &hybi_core::Connection {
        &self.core
    }

    /// The stream, given back.
    pub fn into_inner(self) -> S {
        self.io
    }

    /// One turn of the loop: write what is queued, then wait for input or
    /// the core's next deadline, and feed the core what came; its events go
    /// to the queue.
    async fn turn(&mut self) -> Result<(), Error> {
        self.flush().await?;
        let deadline = self.core.poll_timeout();
        if self.input_done {
            // Only the core's timers can move it on.
            let Some(at) = deadline else {
                return Err(Error::new(ErrorKind::Closed, "the stream ended and nothing is awaited"));
            };
            ::tokio::time::sleep(self.clock.until(at)).await;
            self.core.handle_timeout(self.clock.now());
        } else {
            let read = self.io.read(&mut self.read_buf);
            let result = match deadline {
                Some(at) => ::tokio::time::timeout(self.clock.until(at), read).await.ok(),
                None => Some(read.await),
            };
            match result {
                None => self.core.handle_timeout(self.clock.now()),
                Some(Ok(0)) => {
                    self.input_done = true;
                    self.core.handle_eof();
                }
                Some(Ok(n)) => self.core.handle_input(self.clock.now(), &self.read_buf[..n]),
                Some(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                Some(Err(e)) => {
                    self.input_done = true;
                    return Err(e.into());
                }
            }
        }
        self.take_events();
        Ok(())
    }

    /// Moves the core's events to the queue, noting the peer's close.
    fn take_events(&mut self) {
        while let Some(event) = self.core.poll_event() {
            if let Event::Close(close) = &event {
                self.close_status = Some(close.clone());
            }
            self.events.push_back(event);
        }
    }

    /// Runs the loop until the handshake ends: `Ok` once open (messages
    /// that came with the handshake stay queued for `recv`).
    async fn handshake(mut self) -> Result<Self, Error> {
        loop {
            let end = self.events.iter().position(|e| matches!(e, Event::Open | Event::Error(_)));
            if let Some(at) = end {
                match self.events.remove(at) {
                    Some(Event::Error(error)) => {
                        let _ = self.flush().await;
                        return Err(error.into());
                    }
                    _ => return Ok(self),
                }
            }
            if self.core.state() == State::Closed {
                let _ = self.flush().await;
                return Err(Error::closed());
            }
            self.turn().await?;
        }
    }
}

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
    S: AsyncRead + AsyncWrite + Unpin,
{
    let clock = Clock::new();
    let mut ws = WebSocket::new(io, hybi_core::Connection::server(clock.start(), config), clock);
    let kind = loop {
        if let Some(Event::Request(kind)) = ws.events.front() {
            let kind = *kind;
            ws.events.pop_front();
            break kind;
        }
        if let Some(Event::Error(error)) = ws.events.front() {
            let error = error.clone();
            let _ = ws.flush().await;
            return Err(error.into());
        }
        ws.turn().await?;
    };
    let request = ws.core.request().expect("a request event comes with its request").clone();
    match decide(kind, &request) {
        Ok(accept) if kind != RequestKind::Http => ws.core.accept(accept)?,
        Ok(_) => {
            ws.core.respond(HttpResponse::text(404, "not a WebSocket request\n"))?;
            let _ = ws.flush().await;
            return Err(Error::new(ErrorKind::HandshakeRefused, "a plain HTTP request, answered 404"));
        }
        Err(response) => {
            let status = response.status;
            ws.core.respond(response)?;
            let _ = ws.flush().await;
            return Err(Error::new(ErrorKind::HandshakeRefused, format!("refused with {status}")));
        }
    }
    ws.take_events();
    ws.handshake().await
}

/// [`accept_with`] accepting every WebSocket request as it is (no extra
/// headers, no subprotocol) and answering plain HTTP requests with 404.
pub async fn accept<S>(io: S, config: Config) -> Result<WebSocket<S>, Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    accept_with(io, config, |_, _| Ok(Accept::default())).await
}

/// Client side of the opening handshake over `io` (already connected to
/// the server, and through TLS if `request.target.secure`): sends
/// `request`, checks the answer, and returns the open connection. Masking
/// keys and nonces come from the operating system.
pub async fn client<S>(io: S, request: ClientRequest, config: Config) -> Result<WebSocket<S>, Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let clock = Clock::new();
    let core = hybi_core::Connection::client(clock.start(), config, request, Box::new(OsEntropy::new()))?;
    WebSocket::new(io, core, clock).handshake().await
}
