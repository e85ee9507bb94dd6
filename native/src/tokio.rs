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
use std::future::{poll_fn, Future};
use std::io::{self, IoSlice};
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use futures_core::Stream;
use futures_sink::Sink;

use ::tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use hybi_core::{Accept, ClientRequest, Close, Config, Event, HttpResponse, RequestHead, RequestKind, State};

use crate::clock::Clock;
use crate::entropy::OsEntropy;
use crate::error::{Error, ErrorKind};
use crate::Message;

/// Bytes read from the stream at once, into a buffer on the stack of the
/// poll that reads (the core keeps what it needs of them): a buffer per
/// connection would be most of an idle connection's memory.
const READ_BUF: usize = 32 * 1024;

/// Output a `Sink` user may queue before `poll_ready` waits for the socket.
const MAX_QUEUED: usize = 64 * 1024;

/// A message sent through the `Sink` above this size is written from the
/// buffer it came in (after a header the core frames), where the protocol
/// sends payloads as they are, instead of being copied into the core's
/// transmit buffer; below it, the copy costs less than a segment of its
/// own.
const VERBATIM_ABOVE: usize = 4 * 1024;

/// An emptied segment up to this size is kept for the next one.
const MAX_SPARE: usize = 64 * 1024;

/// Segments written at once (one vectored write): a header and a payload
/// for each of eight messages.
const WRITE_SEGMENTS: usize = 16;

/// One WebSocket connection over an async stream `S`, open once you hold
/// it. Made by [`accept`] or [`client`].
pub struct WebSocket<S> {
    io: S,
    core: hybi_core::Connection,
    clock: Clock,
    /// Output taken from the core and not yet all written, in order: bytes
    /// the core framed, and the payloads of large messages sent as they
    /// are, each after the header the core framed for it. `written` bytes
    /// of the first segment are out.
    out: VecDeque<Vec<u8>>,
    written: usize,
    /// An emptied segment, kept for the next one (no allocation per write).
    spare: Vec<u8>,
    /// Events taken from the core, for `recv`.
    events: VecDeque<Event>,
    /// The stream ended or failed: nothing more is read.
    input_done: bool,
    /// Our direction of the stream is shut.
    shut: bool,
    /// The peer's close, once it arrived.
    close_status: Option<Close>,
    /// The one timer, at the core's next deadline once armed.
    timer: Option<Pin<Box<::tokio::time::Sleep>>>,
    /// The core deadline `timer` is armed for.
    timer_at: Option<hybi_core::Instant>,
    /// `recv` has reported the end (`Ok(None)` or the error): later calls
    /// give `Ok(None)`.
    end_reported: bool,
}

impl<S: AsyncRead + AsyncWrite + Unpin> WebSocket<S> {
    fn new(io: S, core: hybi_core::Connection, clock: Clock) -> Self {
        WebSocket {
            io,
            core,
            clock,
            out: VecDeque::new(),
            written: 0,
            spare: Vec::new(),
            events: VecDeque::new(),
            input_done: false,
            shut: false,
            close_status: None,
            timer: None,
            timer_at: None,
            end_reported: false,
        }
    }

    /// The next message: `Ok(Some(message))`, or `Ok(None)` once the
    /// connection has ended cleanly, and forever after. An `Err` reports how
    /// it ended otherwise (a protocol violation, a timeout, the peer
    /// vanishing) once; later calls return `Ok(None)`. Reaching the end
    /// sends the close the core owes, after every answer queued before.
    /// Cancel-safe (see the module docs).
    pub async fn recv(&mut self) -> Result<Option<Message>, Error> {
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// [`recv`](Self::recv) as a poll function: what `Stream::poll_next`
    /// runs.
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<Message>, Error>> {
        loop {
            while let Some(event) = self.events.pop_front() {
                match event {
                    Event::Text(text) => return Poll::Ready(Ok(Some(Message::Text(text)))),
                    Event::Binary(data) => return Poll::Ready(Ok(Some(Message::Binary(data)))),
                    // The application reached the end: the close the core
                    // owes goes out (the next poll writes it).
                    Event::Close(_) => self.core.finish(),
                    Event::Error(error) => {
                        self.core.finish();
                        self.end_reported = true;
                        // Written as far as the socket takes it now; the
                        // error is what the caller needs to know.
                        let _ = self.poll_write_out(cx);
                        return Poll::Ready(Err(error.into()));
                    }
                    _ => {}
                }
            }
            if self.core.state() == State::Closed {
                let written = ready!(self.poll_write_out(cx));
                // After the peer's close our answer is a courtesy (a peer
                // already gone does not make the end unclean), and an end
                // already reported is not reported again.
                let quiet = self.end_reported || self.close_status.is_some();
                self.end_reported = true;
                return Poll::Ready(if quiet { Ok(None) } else { written.map(|()| None) });
            }
            ready!(self.poll_turn(cx))?;
        }
    }

    /// Sends a message; completes once the socket has taken its bytes.
    pub async fn send(&mut self, message: &Message) -> Result<(), Error> {
        self.queue(message)?;
        self.flush().await
    }

    /// Queues a message in the core without writing it: the next
    /// [`flush`](Self::flush), send, `recv` or close writes it, with
    /// whatever was queued after it, in as few writes as the socket takes.
    pub fn queue(&mut self, message: &Message) -> Result<(), Error> {
        match message {
            Message::Text(text) => self.core.send_text(text)?,
            Message::Binary(data) => self.core.send_binary(data)?,
        }
        Ok(())
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
        poll_fn(|cx| self.poll_closed(cx)).await
    }

    /// Drives the connection until the core is closed and everything is
    /// written: what `close` waits on once its close is queued.
    fn poll_closed(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        while self.core.state() != State::Closed {
            ready!(self.poll_turn(cx))?;
        }
        ready!(self.poll_write_out(cx))?;
        let failed =
            self.events.iter().find_map(|e| if let Event::Error(e) = e { Some(e.clone()) } else { None });
        Poll::Ready(failed.map_or(Ok(()), |error| Err(error.into())))
    }

    /// Writes whatever is queued (a call dropped mid-write left some).
    pub async fn flush(&mut self) -> Result<(), Error> {
        poll_fn(|cx| self.poll_write_out(cx)).await
    }

    /// Writes what the core queued, resuming where a dropped call left
    /// off; ends our direction of the stream once the core is closed and
    /// everything is out.
    fn poll_write_out(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        loop {
            if self.out.is_empty() && !self.take_transmit() {
                break;
            }
            let written = if self.out.len() > 1 && self.io.is_write_vectored() {
                let mut slices = [IoSlice::new(&[]); WRITE_SEGMENTS];
                let mut segments = self.out.iter();
                let first = segments.next().expect("not empty");
                slices[0] = IoSlice::new(&first[self.written..]);
                let mut count = 1;
                for (slice, segment) in slices[1..].iter_mut().zip(segments) {
                    *slice = IoSlice::new(segment);
                    count += 1;
                }
                ready!(Pin::new(&mut self.io).poll_write_vectored(cx, &slices[..count]))
            } else {
                ready!(Pin::new(&mut self.io).poll_write(cx, &self.out[0][self.written..]))
            };
            match written {
                Ok(0) => return Poll::Ready(Err(io::Error::from(io::ErrorKind::WriteZero).into())),
                Ok(n) => self.advance(n),
                Err(e) => return Poll::Ready(Err(e.into())),
            }
        }
        ready!(Pin::new(&mut self.io).poll_flush(cx))?;
        if self.core.state() == State::Closed && !self.shut {
            // Everything the protocol sends is out: end our direction.
            ready!(Pin::new(&mut self.io).poll_shutdown(cx)).ok();
            self.shut = true;
        }
        Poll::Ready(Ok(()))
    }

    /// Moves what the core queued to the end of `out`, as a segment of its
    /// own; false if it queued nothing.
    fn take_transmit(&mut self) -> bool {
        let mut segment = std::mem::take(&mut self.spare);
        segment.clear();
        // Into an empty buffer the core hands over its own (no copy).
        if self.core.poll_transmit(&mut segment) == 0 {
            self.spare = segment;
            return false;
        }
        self.out.push_back(segment);
        true
    }

    /// `n` more bytes of `out` are written: finished segments go (the
    /// last small one is kept as the spare).
    fn advance(&mut self, mut n: usize) {
        while n > 0 {
            let first = self.out[0].len() - self.written;
            if n < first {
                self.written += n;
                return;
            }
            n -= first;
            self.written = 0;
            let done = self.out.pop_front().expect("bytes written were queued");
            if done.capacity() <= MAX_SPARE {
                self.spare = done;
            }
        }
    }

    /// Output taken from the core and not yet written.
    fn unwritten(&self) -> usize {
        self.out.iter().map(Vec::len).sum::<usize>() - self.written
    }

    /// Queues an owned message: a large one whose payload the protocol
    /// sends as it is goes out from its own buffer after the header the
    /// core frames; any other is queued as [`queue`](Self::queue) does.
    fn queue_owned(&mut self, message: Message) -> Result<(), Error> {
        let (binary, len) = match &message {
            Message::Text(text) => (false, text.len()),
            Message::Binary(data) => (true, data.len()),
        };
        if len <= VERBATIM_ABOVE || !self.core.send_verbatim_header(binary, len)? {
            return self.queue(&message);
        }
        // The header (and all the core queued before it) goes first, then
        // exactly the payload, before anything queued later.
        self.take_transmit();
        self.out.push_back(match message {
            Message::Text(text) => text.into_bytes(),
            Message::Binary(data) => data,
        });
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

    /// One turn of the loop: write what is queued, then input or the core's
    /// next deadline, fed to the core; its events go to the queue. Pending
    /// while the socket takes no more output (so a peer that does not read
    /// our pongs stops being read) or has nothing to give and no deadline
    /// has passed. One timer per connection, re-armed only when the core's
    /// deadline moves.
    fn poll_turn(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        ready!(self.poll_write_out(cx))?;
        if let Some(at) = self.core.poll_timeout() {
            // Re-armed only when the core's deadline moved (re-arming on
            // every poll would push a due timer forward forever). +1 ms:
            // the core counts whole milliseconds, and a timer that fires a
            // hair early would only be re-armed.
            if self.timer_at != Some(at) {
                let when = ::tokio::time::Instant::now() + self.clock.until(at) + Duration::from_millis(1);
                match &mut self.timer {
                    Some(timer) => timer.as_mut().reset(when),
                    None => self.timer = Some(Box::pin(::tokio::time::sleep_until(when))),
                }
                self.timer_at = Some(at);
            }
            let timer = self.timer.as_mut().expect("armed above");
            if timer.as_mut().poll(cx).is_ready() {
                // Due (the core fires it) or not quite (it re-arms below).
                self.timer_at = None;
                self.core.handle_timeout(self.clock.now());
                self.take_events();
                return Poll::Ready(Ok(()));
            }
        }
        if self.input_done {
            return match self.core.poll_timeout() {
                // The timer above wakes us.
                Some(_) => Poll::Pending,
                None => {
                    Poll::Ready(Err(Error::new(ErrorKind::Closed, "the stream ended and nothing is awaited")))
                }
            };
        }
        // Not initialised: a reader writes before anything reads, and
        // `ReadBuf` hands out only what was written.
        let mut storage = [MaybeUninit::<u8>::uninit(); READ_BUF];
        let mut buf = ReadBuf::uninit(&mut storage);
        match ready!(Pin::new(&mut self.io).poll_read(cx, &mut buf)) {
            Ok(()) if buf.filled().is_empty() => {
                self.input_done = true;
                self.core.handle_eof();
            }
            Ok(()) => {
                self.core.handle_input(self.clock.now(), buf.filled());
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                self.input_done = true;
                return Poll::Ready(Err(e.into()));
            }
        }
        self.take_events();
        Poll::Ready(Ok(()))
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
            poll_fn(|cx| self.poll_turn(cx)).await?;
        }
    }
}

/// Messages until the end: `None` after a clean end, one `Err` for any
/// other (then `None`). Reaching the end sends the close owed, as
/// [`WebSocket::recv`] does.
impl<S: AsyncRead + AsyncWrite + Unpin> Stream for WebSocket<S> {
    type Item = Result<Message, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_recv(cx).map(Result::transpose)
    }
}

/// Sending: `start_send` queues a message in the core (a server's message
/// over 4 KiB is not copied: it is written from its own buffer, which the
/// `Sink` owns); `poll_flush` writes; `poll_ready` waits while more than
/// 64 KiB wait for the socket, so a slow peer holds back the sender instead
/// of growing memory; `poll_close` closes (1000 in RFC 6455) and waits for
/// the answer.
impl<S: AsyncRead + AsyncWrite + Unpin> Sink<Message> for WebSocket<S> {
    type Error = Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let this = self.get_mut();
        if this.core.pending_transmit() + this.unwritten() > MAX_QUEUED {
            ready!(this.poll_write_out(cx))?;
        }
        Poll::Ready(Ok(()))
    }

    fn start_send(self: Pin<&mut Self>, message: Message) -> Result<(), Error> {
        self.get_mut().queue_owned(message)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.get_mut().poll_write_out(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let this = self.get_mut();
        if matches!(this.core.state(), State::Open | State::Ending) {
            let code = (this.core.protocol() == Some(hybi_core::Protocol::Rfc6455)).then_some(1000);
            this.core.close(this.clock.now(), code, "")?;
        }
        this.poll_closed(cx)
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
        poll_fn(|cx| ws.poll_turn(cx)).await?;
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
