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

use std::collections::VecDeque;
use std::io;
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError, TryLockError};
use std::time::{Duration, Instant};

use hybi_core::{Close, DeflateParams, Event, Headers, Protocol, RequestHead, ResponseHead, State};

use crate::budget::MemoryBudget;
use crate::clock::Clock;
use crate::error::{Error, ErrorKind};
use crate::transport::{ReadHalf, WriteHalf};

/// Bytes [`Connection::queue`] lets pile up before it writes them itself:
/// past this, a write costs little next to the copying, and memory stays
/// bounded.
const MAX_QUEUED: usize = 64 * 1024;

/// When a message is written: by the call that sends it, or later with
/// others (`Connection::queue`).
#[derive(Clone, Copy)]
enum WriteWhen {
    Now,
    Queued,
}

/// Bytes read from the socket at once.
const READ_BUF: usize = 32 * 1024;

/// Output the core may hold for a blocked writer before the reader stops
/// reading and waits for the writer: a peer that sends pings but does not
/// read our pongs cannot grow our memory past this.
const MAX_UNFLUSHED: usize = 256 * 1024;

/// Largest write buffer kept for the next send: an idle connection holds
/// at most this (twice: one with the core), whatever it sent before.
const MAX_SPARE: usize = 64 * 1024;

/// How often a thread closing a connection that another thread reads
/// checks whether that thread still reads.
const TAKE_OVER_POLL: Duration = Duration::from_millis(50);

/// Messages `close` keeps for a later `recv` while it reads the socket itself.
const MAX_QUEUED_WHILE_CLOSING: usize = 16 * 1024 * 1024;

/// What a connection may hold for data in transit without drawing on the
/// server's memory budget. Connections reserve from the budget before each
/// read what that read could make them hold (a 32 KiB deflate read may
/// inflate to 33 MiB), so while large senders read, the pool can be
/// reserved to its end for a moment; without a floor of its own, a client
/// sending small messages at that moment would be failed with 1009 for
/// what others hold. With it, small messages always fit, and the server's
/// bound grows by this much per connection (64 MiB at 1,024).
const UNBUDGETED: usize = 64 * 1024;

/// Most bytes read and dropped after a plain HTTP answer before the socket
/// closes (see `Shared::linger`).
const LINGER_HTTP_BYTES: usize = 64 * 1024;

/// Most bytes read and dropped after a connection's end before the socket
/// closes (see `Shared::linger_after_end`): enough for the rest of a
/// message a peer was failed in the middle of, at loopback speed, within
/// the two seconds.
const LINGER_END_BYTES: usize = 4 * 1024 * 1024;

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
/// | `ws-conn-line`, `ws-conn-headers` | [`request_line`](Self::request_line), [`request_headers`](Self::request_headers), [`response_line`](Self::response_line), [`response_headers`](Self::response_headers) |
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

/// What every handle shares.
pub(crate) struct Shared {
    inner: Mutex<Inner>,
    /// Signalled when the connection ends (`Inner::end` set).
    ended: Condvar,
    reader: Mutex<Reader>,
    writer: Mutex<WriteHalf>,
    /// A reader queued output it could not write (the writer was busy).
    needs_flush: AtomicBool,
    /// The socket, for shutdown and timeouts from any thread.
    control: TcpStream,
    clock: Clock,
    peer_addr: SocketAddr,
    local_addr: SocketAddr,
    info: OnceLock<Info>,
    /// The server's memory budget, which this connection draws on.
    budget: OnceLock<Arc<MemoryBudget>>,
}

/// The handshake's outcome, fixed once the connection is open.
struct Info {
    request: RequestHead,
    response: ResponseHead,
    subprotocol: Option<String>,
    protocol: Protocol,
    deflate: Option<DeflateParams>,
}

struct Inner {
    core: hybi_core::Connection,
    /// Events for `recv`, oldest first (pings and pongs are dropped).
    events: VecDeque<Event>,
    /// What the payloads of `events` hold.
    event_bytes: usize,
    /// The last message `recv` returned: counted against the budget until
    /// the next `recv`, since the application holds it until then (an echo
    /// server sends it back).
    lent: usize,
    /// What this connection has charged to the budget.
    charged: usize,
    /// How the connection ended, once it has.
    end: Option<End>,
    /// The socket failed or was shut: nothing more goes through it.
    dead: bool,
    read_timeout: Option<Duration>,
}

#[derive(Clone, Debug)]
enum End {
    /// The closing handshake completed (or a draft-76 peer hung up).
    Clean(Close),
    /// The core failed the connection.
    Failed(hybi_core::Error),
    /// The socket failed.
    Transport(ErrorKind, String),
}

struct Reader {
    half: ReadHalf,
    buf: Vec<u8>,
}

/// What one turn of [`Shared::pump`] came to.
#[derive(Debug, PartialEq, Eq)]
enum Pumped {
    /// Input, end of stream or a timer was handled.
    Progress,
    /// The caller's own deadline passed first.
    GaveUp,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic in another thread holding a lock leaves the data as
    // consistent as any error would: keep going.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn is_message(event: &Event) -> bool {
    matches!(event, Event::Text(_) | Event::Binary(_))
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut)
}

impl Shared {
    /// A connection around a core machine (handshake not yet done) and the
    /// two halves of its transport. `control` is another handle to the
    /// socket.
    pub(crate) fn new(
        core: hybi_core::Connection,
        clock: Clock,
        (read, write): (ReadHalf, WriteHalf),
        control: TcpStream,
    ) -> io::Result<Arc<Shared>> {
        Ok(Arc::new(Shared {
            inner: Mutex::new(Inner {
                core,
                events: VecDeque::new(),
                event_bytes: 0,
                lent: 0,
                charged: 0,
                end: None,
                dead: false,
                read_timeout: None,
            }),
            ended: Condvar::new(),
            reader: Mutex::new(Reader { half: read, buf: Vec::new() }),
            writer: Mutex::new(write),
            needs_flush: AtomicBool::new(false),
            peer_addr: control.peer_addr()?,
            local_addr: control.local_addr()?,
            control,
            clock,
            info: OnceLock::new(),
            budget: OnceLock::new(),
        }))
    }

    /// Makes the connection draw on a server's memory budget (see
    /// `crate::budget`); before the handshake, once.
    pub(crate) fn set_budget(&self, budget: Arc<MemoryBudget>) {
        let _ = self.budget.set(budget);
    }

    /// Brings the connection's charge to the budget in line with what it
    /// holds now: the core's buffers, the events waiting for `recv`, the
    /// message `recv` last returned.
    fn settle(&self, inner: &mut Inner) {
        let Some(budget) = self.budget.get() else { return };
        let charge = Self::held(inner).saturating_sub(UNBUDGETED);
        if charge > inner.charged {
            budget.charge(charge - inner.charged);
        } else {
            budget.release(inner.charged - charge);
        }
        inner.charged = charge;
    }

    /// What the connection holds for data in transit: the core's buffers,
    /// the events waiting for `recv`, the message `recv` last returned.
    fn held(inner: &Inner) -> usize {
        inner.core.buffered_bytes()
            + inner.event_bytes
            + inner.events.capacity() * std::mem::size_of::<Event>()
            + inner.lent
    }

    /// Runs `f` on the core (a command such as `accept`), then writes what
    /// it queued.
    pub(crate) fn command<T>(
        &self,
        f: impl FnOnce(&mut hybi_core::Connection) -> Result<T, hybi_core::Misuse>,
    ) -> Result<T, Error> {
        let mut writer = lock(&self.writer);
        let mut inner = lock(&self.inner);
        if inner.dead {
            return Err(self.dead_error(&inner));
        }
        let value = f(&mut inner.core)?;
        self.drain(&mut inner);
        self.settle(&mut inner);
        self.flush_locked(&mut writer, inner)?;
        drop(writer);
        self.flush_if_needed()?;
        Ok(value)
    }

    /// Sends a message too large for the spare write buffer without copying
    /// it: the core queues the frame's header, and the payload is written
    /// after it straight from `payload`. `Ok(false)` (nothing done) where
    /// the protocol does not send the payload as it is (see
    /// `send_verbatim_header`): the caller sends it the usual way.
    fn send_verbatim(&self, binary: bool, payload: &[u8]) -> Result<bool, Error> {
        if payload.len() <= MAX_SPARE {
            return Ok(false);
        }
        // Holding the writer from the header to the payload's last byte:
        // whatever another thread queues meanwhile is written after it.
        let mut writer = lock(&self.writer);
        let mut inner = lock(&self.inner);
        if inner.dead {
            return Err(self.dead_error(&inner));
        }
        if !inner.core.send_verbatim_header(binary, payload.len())? {
            return Ok(false);
        }
        self.flush_locked_then(&mut writer, inner, payload)?;
        drop(writer);
        self.flush_if_needed()?;
        Ok(true)
    }

    /// Runs `f` on the core (a send) and leaves what it queued there for a
    /// later write, unless that makes more than `MAX_QUEUED` bytes.
    fn enqueue(
        &self,
        f: impl FnOnce(&mut hybi_core::Connection) -> Result<(), hybi_core::Misuse>,
    ) -> Result<(), Error> {
        let mut inner = lock(&self.inner);
        if inner.dead {
            return Err(self.dead_error(&inner));
        }
        f(&mut inner.core)?;
        self.settle(&mut inner);
        let queued = inner.core.pending_transmit();
        drop(inner);
        if queued > MAX_QUEUED {
            self.flush_blocking()?;
        }
        Ok(())
    }

    /// The next handshake event (`Request`, `Open` or `Error`), reading as
    /// needed; other events stay queued for `recv`.
    pub(crate) fn next_handshake_event(&self) -> Result<Event, Error> {
        let mut reader = lock(&self.reader);
        loop {
            {
                let mut inner = lock(&self.inner);
                if let Some(i) = inner
                    .events
                    .iter()
                    .position(|e| matches!(e, Event::Request(_) | Event::Open | Event::Error(_)))
                {
                    let event = inner.events.remove(i).expect("position is in range");
                    inner.event_bytes -= event.buffered_bytes();
                    return Ok(event);
                }
                if inner.dead {
                    return Err(self.dead_error(&inner));
                }
                if inner.end.is_some() {
                    return Err(Error::closed());
                }
            }
            self.pump(&mut reader, None)?;
        }
    }

    /// Records what the core said about the handshake, once it is open.
    pub(crate) fn opened(&self) {
        let inner = lock(&self.inner);
        let core = &inner.core;
        let _ = self.info.set(Info {
            request: core.request().cloned().expect("an open connection has a request"),
            response: core.response().cloned().expect("an open connection has a response"),
            subprotocol: core.subprotocol().map(str::to_owned),
            protocol: core.protocol().expect("an open connection has a protocol"),
            deflate: core.deflate().cloned(),
        });
    }

    pub(crate) fn request(&self) -> Option<RequestHead> {
        lock(&self.inner).core.request().cloned()
    }

    fn info(&self) -> &Info {
        self.info.get().expect("a Connection is handed out only once open")
    }

    /// Reads once (or times out once) and feeds the result to the core:
    /// bytes, end of stream, or the time. `give_up` is the caller's own
    /// deadline (a read timeout), which ends the wait without touching the
    /// core.
    fn pump(&self, reader: &mut MutexGuard<'_, Reader>, give_up: Option<Instant>) -> Result<Pumped, Error> {
        let core_wait = lock(&self.inner).core.poll_timeout().map(|at| self.clock.until(at));
        let app_wait = give_up.map(|at| at.saturating_duration_since(Instant::now()));
        let wait = match (core_wait, app_wait) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let reader = &mut **reader;
        if reader.buf.is_empty() {
            reader.buf = vec![0; READ_BUF];
        }
        let result = match wait {
            Some(wait) if wait.is_zero() => Err(io::ErrorKind::TimedOut.into()),
            _ => reader.half.arm(wait).and_then(|()| reader.half.read(&mut reader.buf)),
        };
        let mut inner = lock(&self.inner);
        let mut gave_up = false;
        let tls_output = match result {
            Ok((0, tls_output)) => {
                inner.core.handle_eof();
                if inner.core.state() != State::Closed {
                    // Only a server deciding on a request defers the end;
                    // nothing reads then. Never spin on a finished stream.
                    inner.dead = true;
                }
                tls_output
            }
            Ok((n, tls_output)) => {
                let now = self.clock.now();
                if let Some(budget) = self.budget.get() {
                    // Reserve what this input could make the core hold (or
                    // what is left), before any of it is stored, beyond
                    // what the connection may hold unbudgeted; `settle`
                    // below returns what it did not use.
                    let unbudgeted = UNBUDGETED.saturating_sub(Self::held(&inner));
                    let reserved = budget.reserve_up_to(inner.core.input_bound(n).saturating_sub(unbudgeted));
                    inner.charged += reserved;
                    let allowance = inner.core.buffered_bytes() + unbudgeted + reserved;
                    inner.core.set_input_allowance(allowance);
                }
                inner.core.handle_input(now, &reader.buf[..n]);
                tls_output
            }
            Err(e) if is_timeout(&e) => {
                inner.core.handle_timeout(self.clock.now());
                gave_up = give_up.is_some_and(|at| Instant::now() >= at);
                false
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => false,
            Err(e) => {
                drop(inner);
                if e.kind() == io::ErrorKind::InvalidData {
                    // A TLS failure: send the alert that says why, if the
                    // writer is free, before the socket goes.
                    if let Ok(mut writer) = self.writer.try_lock() {
                        let _ = writer.flush_tls();
                    }
                }
                return Err(self.transport_failed(e));
            }
        };
        self.drain(&mut inner);
        self.settle(&mut inner);
        let unflushed = inner.core.pending_transmit();
        let closed = inner.core.state() == State::Closed || inner.dead;
        drop(inner);
        if unflushed > 0 || tls_output || closed {
            self.needs_flush.store(true, Ordering::SeqCst);
            if unflushed > MAX_UNFLUSHED {
                self.flush_blocking()?;
            } else {
                self.flush_if_needed()?;
            }
        }
        Ok(if gave_up && lock(&self.inner).end.is_none() { Pumped::GaveUp } else { Pumped::Progress })
    }

    /// Moves the core's events to our queue, noting how it ended. Taking
    /// them answers nothing: the close owed to a peer that is done waits
    /// until `recv` hands its application the end (`finish`), so answers
    /// to the messages before it go first.
    fn drain(&self, inner: &mut Inner) {
        let was_ended = inner.end.is_some();
        while let Some(event) = inner.core.poll_event() {
            match &event {
                Event::Ping(_) | Event::Pong(_) => continue,
                Event::Close(close) if inner.end.is_none() => inner.end = Some(End::Clean(close.clone())),
                Event::Error(e) if inner.end.is_none() => inner.end = Some(End::Failed(e.clone())),
                _ => {}
            }
            inner.event_bytes += event.buffered_bytes();
            inner.events.push_back(event);
        }
        if inner.events.is_empty() && inner.events.capacity() * std::mem::size_of::<Event>() > 64 * 1024 {
            inner.events = VecDeque::new();
        }
        if !was_ended && inner.end.is_some() {
            self.ended.notify_all();
        }
    }

    /// Writes what the core queued, holding the writer; `inner` is released
    /// before the (possibly blocking) write.
    fn flush_locked(&self, writer: &mut WriteHalf, inner: MutexGuard<'_, Inner>) -> Result<(), Error> {
        self.flush_locked_then(writer, inner, &[])
    }

    /// [`flush_locked`](Self::flush_locked), then `payload`, the rest of the
    /// frame whose header the core queued last (see `send_verbatim`).
    fn flush_locked_then(
        &self,
        writer: &mut WriteHalf,
        mut inner: MutexGuard<'_, Inner>,
        payload: &[u8],
    ) -> Result<(), Error> {
        if inner.dead {
            return Ok(());
        }
        // The core's buffer and ours trade places (no copy), so in steady
        // state no send allocates.
        let mut out = std::mem::take(&mut writer.spare);
        out.clear();
        let _ = inner.core.poll_transmit(&mut out);
        let closed = inner.core.state() == State::Closed;
        drop(inner);
        let result = (|| {
            if !payload.is_empty() {
                writer.write_all_two(&out, payload)?;
            } else if !out.is_empty() {
                writer.write_all(&out)?;
            }
            if writer.tls_pending() {
                writer.flush_tls()?;
            }
            Ok(())
        })();
        if out.capacity() <= MAX_SPARE {
            writer.spare = out;
        }
        if self.budget.get().is_some() {
            // The written bytes are gone from the core since `poll_transmit`
            // but were held until now.
            self.settle(&mut lock(&self.inner));
        }
        if let Err(e) = result {
            return Err(self.transport_failed(e));
        }
        if closed && !writer.is_shut() {
            // Everything the protocol sends is out: end our direction. The
            // peer sees the end of the stream; its last bytes still arrive.
            writer.shutdown_write();
        }
        Ok(())
    }

    /// Notes that the core queued output (or ended) and writes it, unless
    /// another thread holds the writer (it writes it when it is done).
    fn flush_queued(&self) -> Result<(), Error> {
        self.needs_flush.store(true, Ordering::SeqCst);
        self.flush_if_needed()
    }

    /// Writes output a reader queued, unless another thread holds the
    /// writer (it writes them when it is done).
    fn flush_if_needed(&self) -> Result<(), Error> {
        while self.needs_flush.load(Ordering::SeqCst) {
            let mut writer = match self.writer.try_lock() {
                Ok(writer) => writer,
                Err(TryLockError::Poisoned(p)) => p.into_inner(),
                Err(TryLockError::WouldBlock) => return Ok(()),
            };
            self.needs_flush.store(false, Ordering::SeqCst);
            let inner = lock(&self.inner);
            self.flush_locked(&mut writer, inner)?;
        }
        Ok(())
    }

    fn flush_blocking(&self) -> Result<(), Error> {
        let mut writer = lock(&self.writer);
        self.needs_flush.store(false, Ordering::SeqCst);
        let inner = lock(&self.inner);
        self.flush_locked(&mut writer, inner)?;
        drop(writer);
        self.flush_if_needed()
    }

    /// The socket failed: the connection is over. Wakes every thread.
    fn transport_failed(&self, e: io::Error) -> Error {
        let error = Error::from(e);
        let mut inner = lock(&self.inner);
        inner.dead = true;
        if inner.end.is_none() {
            inner.end = Some(End::Transport(error.kind(), error.to_string()));
            self.ended.notify_all();
        }
        drop(inner);
        let _ = self.control.shutdown(Shutdown::Both);
        error
    }

    fn dead_error(&self, inner: &Inner) -> Error {
        match &inner.end {
            Some(End::Transport(kind, message)) => Error::new(*kind, message.clone()),
            _ => Error::closed(),
        }
    }

    /// Shuts the socket in both directions: blocked reads and writes return.
    pub(crate) fn abort(&self) {
        let mut inner = lock(&self.inner);
        inner.dead = true;
        if inner.end.is_none() {
            inner.end = Some(End::Transport(ErrorKind::Closed, "connection aborted".into()));
            self.ended.notify_all();
        }
        drop(inner);
        let _ = self.control.shutdown(Shutdown::Both);
    }

    /// Starts the closing handshake if the connection is open, or answers
    /// a peer that is done (with this code and reason); returns whether it
    /// did.
    pub(crate) fn begin_close(&self, code: Option<u16>, reason: &str) -> Result<bool, Error> {
        let mut writer = lock(&self.writer);
        let mut inner = lock(&self.inner);
        if inner.dead || !matches!(inner.core.state(), State::Open | State::Ending) {
            return Ok(false);
        }
        inner.core.close(self.clock.now(), code, reason)?;
        self.flush_locked(&mut writer, inner)?;
        drop(writer);
        self.flush_if_needed()?;
        Ok(true)
    }

    /// Closes as the core's `go_away` does (RFC 6455 1001 with `reason`,
    /// the draft-76 close otherwise) if no other thread is writing (a
    /// server stopping must not wait on a stuck peer). Returns whether the
    /// close went out (or the connection was closing or over already);
    /// `false` for a connection still in its handshake.
    pub(crate) fn try_go_away(&self, reason: &str) -> bool {
        let mut writer = match self.writer.try_lock() {
            Ok(writer) => writer,
            Err(TryLockError::Poisoned(p)) => p.into_inner(),
            Err(TryLockError::WouldBlock) => return false,
        };
        let mut inner = lock(&self.inner);
        if inner.dead {
            return true;
        }
        if inner.core.go_away(self.clock.now(), reason).is_err() {
            // Nothing to close politely yet: the caller cuts it.
            return false;
        }
        let sent = self.flush_locked(&mut writer, inner).is_ok();
        drop(writer);
        sent && self.flush_if_needed().is_ok()
    }

    /// After a plain HTTP answer: reads and drops what the client still
    /// sends, for up to two seconds, so that closing the socket does not
    /// reset the connection before the client has read the answer.
    pub(crate) fn linger(&self) {
        self.linger_over(&mut lock(&self.reader), LINGER_HTTP_BYTES);
    }

    /// After the connection's end, whatever it was: reads and drops what
    /// the peer still sends (up to two seconds and [`LINGER_END_BYTES`])
    /// before the socket is closed. A peer failed in the middle of a large
    /// message (1009) or a bomb is still sending; closing with its bytes
    /// unread makes the kernel answer with a reset, and a reset can destroy
    /// our close frame before the peer has read it. Returns at once when
    /// the peer has ended its side too, or when another thread holds the
    /// reading half (it sees the end itself).
    pub(crate) fn linger_after_end(&self) {
        if lock(&self.inner).dead {
            return;
        }
        if let Ok(mut reader) = self.reader.try_lock() {
            self.linger_over(&mut reader, LINGER_END_BYTES);
        }
    }

    fn linger_over(&self, reader: &mut Reader, max_bytes: usize) {
        let deadline = Instant::now() + Duration::from_secs(2);
        let mut sink = [0u8; 4096];
        let mut total = 0usize;
        while total < max_bytes {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || reader.half.arm(Some(left)).is_err() {
                break;
            }
            match reader.half.read(&mut sink) {
                Ok((0, _)) | Err(_) => break,
                Ok((n, _)) => total += n,
            }
        }
    }

    /// Waits until the connection has ended: reads the socket itself if no
    /// other thread does, otherwise waits for the thread that does, keeping
    /// the core's close deadline either way.
    pub(crate) fn wait_closed(&self) -> Result<(), Error> {
        loop {
            let reader = {
                let mut inner = lock(&self.inner);
                // The peer's answer may be in the core already.
                self.drain(&mut inner);
                if inner.end.is_some() || inner.dead {
                    break;
                }
                match self.reader.try_lock() {
                    Ok(reader) => Some(reader),
                    Err(TryLockError::Poisoned(p)) => Some(p.into_inner()),
                    Err(TryLockError::WouldBlock) => None,
                }
            };
            if let Some(mut reader) = reader {
                self.pump(&mut reader, None)?;
                self.trim_queue();
                continue;
            }
            // Another thread is reading and will see the answer. Wait for
            // it a little at a time: its read was set up before our close,
            // so the close deadline is kept here, and if it stops reading
            // we take over.
            let mut inner = lock(&self.inner);
            if inner.end.is_some() || inner.dead {
                break;
            }
            let wait = inner.core.poll_timeout().map(|at| self.clock.until(at));
            if wait.is_some_and(|w| w.is_zero()) {
                inner.core.handle_timeout(self.clock.now());
                self.drain(&mut inner);
                if matches!(inner.end, Some(End::Failed(_))) {
                    // The peer is not answering: wake the reading thread.
                    drop(inner);
                    let _ = self.control.shutdown(Shutdown::Both);
                }
                continue;
            }
            let slice = wait.map_or(TAKE_OVER_POLL, |w| w.min(TAKE_OVER_POLL));
            drop(self.ended.wait_timeout(inner, slice).unwrap_or_else(PoisonError::into_inner));
        }
        // Over: end our direction of the stream if it is still open.
        self.flush_queued()?;
        match &lock(&self.inner).end {
            Some(End::Clean(_)) | None => Ok(()),
            Some(End::Failed(e)) => Err(e.clone().into()),
            Some(End::Transport(kind, message)) => Err(Error::new(*kind, message.clone())),
        }
    }

    /// While `close` reads on its own, keeps at most `MAX_QUEUED_WHILE_CLOSING`
    /// bytes of messages for a later `recv`: a peer that keeps sending
    /// instead of answering the close cannot grow our memory.
    fn trim_queue(&self) {
        let mut inner = lock(&self.inner);
        let mut total = 0usize;
        inner.events.retain(|event| match event {
            Event::Text(text) => {
                total = total.saturating_add(text.len());
                total <= MAX_QUEUED_WHILE_CLOSING
            }
            Event::Binary(data) => {
                total = total.saturating_add(data.len());
                total <= MAX_QUEUED_WHILE_CLOSING
            }
            _ => true,
        });
        inner.event_bytes = inner.events.iter().map(Event::buffered_bytes).sum();
        self.settle(&mut inner);
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        let inner = self.inner.get_mut().unwrap_or_else(PoisonError::into_inner);
        if let Some(budget) = self.budget.get() {
            budget.release(std::mem::take(&mut inner.charged));
        }
        if inner.dead || !matches!(inner.core.state(), State::Open | State::Ending) {
            return;
        }
        // Going away: a close the socket takes at once, then the end.
        if inner.core.go_away(self.clock.now(), "").is_ok() {
            let mut out = Vec::new();
            let _ = inner.core.poll_transmit(&mut out);
            let writer = self.writer.get_mut().unwrap_or_else(PoisonError::into_inner);
            if self.control.set_nonblocking(true).is_ok() {
                let _ = writer.write_all(&out);
            }
            writer.shutdown_write();
        }
    }
}

impl Connection {
    pub(crate) fn from_shared(shared: Arc<Shared>) -> Self {
        shared.opened();
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
        let shared = &*self.shared;
        let mut reader = lock(&shared.reader);
        let give_up = lock(&shared.inner).read_timeout.map(|t| Instant::now() + t);
        let mut gave_up = false;
        {
            // The application is done with the message the last call
            // returned.
            let mut inner = lock(&shared.inner);
            if inner.lent > 0 {
                inner.lent = 0;
                shared.settle(&mut inner);
            }
        }
        loop {
            loop {
                let mut inner = lock(&shared.inner);
                let queued = inner.core.pending_transmit();
                if inner.events.is_empty() {
                    shared.drain(&mut inner);
                }
                let event = inner.events.pop_front();
                let end = matches!(event, Some(Event::Close(_) | Event::Error(_)));
                if end {
                    // The application reached the end: the close we owe
                    // goes out now, after every answer it queued, written
                    // here (with what `queue` left).
                    inner.core.finish();
                }
                if let Some(event) = &event {
                    let bytes = event.buffered_bytes();
                    inner.event_bytes -= bytes;
                    if is_message(event) {
                        // Still charged, now as the application's (`lent`).
                        inner.lent = bytes;
                    } else {
                        shared.settle(&mut inner);
                    }
                }
                let answer = inner.core.pending_transmit() > queued || end;
                let ended = inner.end.is_some() || inner.dead;
                drop(inner);
                if answer {
                    shared.flush_queued()?;
                }
                match event {
                    Some(Event::Text(text)) => return Ok(Some(Message::Text(text))),
                    Some(Event::Binary(data)) => return Ok(Some(Message::Binary(data))),
                    Some(Event::Close(_)) => return Ok(None),
                    Some(Event::Error(e)) => return Err(e.into()),
                    Some(_) => {}
                    None if ended => return Ok(None),
                    None => break,
                }
            }
            if gave_up {
                return Err(Error::new(ErrorKind::Timeout, "no message arrived within the read timeout"));
            }
            if lock(&shared.inner).core.pending_transmit() > 0 {
                // Never wait on the peer with queued bytes unsent: it may be
                // waiting for them.
                shared.flush_queued()?;
            }
            gave_up = shared.pump(&mut reader, give_up)? == Pumped::GaveUp;
        }
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
        &self.shared.info().request.line
    }

    /// The opening request's headers: those received (server) or those we
    /// added to the ones the handshake itself needs (client).
    pub fn request_headers(&self) -> &Headers {
        &self.shared.info().request.headers
    }

    /// The whole opening request.
    pub fn request(&self) -> &RequestHead {
        &self.shared.info().request
    }

    /// The 101 response's status line (on a client, the seed's
    /// `ws-conn-line`).
    pub fn response_line(&self) -> &str {
        &self.shared.info().response.line
    }

    /// The 101 response's headers: those received (client) or sent (server;
    /// the seed's `ws-conn-headers`, including what `conn_headers` added).
    pub fn response_headers(&self) -> &Headers {
        &self.shared.info().response.headers
    }

    /// The whole 101 response.
    pub fn response(&self) -> &ResponseHead {
        &self.shared.info().response
    }

    /// The subprotocol both ends agreed on, if any.
    pub fn subprotocol(&self) -> Option<&str> {
        self.shared.info().subprotocol.as_deref()
    }

    /// The protocol spoken (a server detects it from each request).
    pub fn protocol(&self) -> Protocol {
        self.shared.info().protocol
    }

    /// The permessage-deflate agreement, if messages are compressed.
    pub fn deflate(&self) -> Option<&DeflateParams> {
        self.shared.info().deflate.as_ref()
    }

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
        Ok(self.shared.control.set_write_timeout(timeout.filter(|t| !t.is_zero()))?)
    }
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("peer", &self.shared.peer_addr)
            .field("protocol", &self.shared.info.get().map(|i| i.protocol))
            .field("closed", &self.is_closed())
            .finish()
    }
}
