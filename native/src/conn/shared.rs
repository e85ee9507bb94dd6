//! [`Shared`]: what every handle of a connection shares, and the I/O loop
//! that moves bytes and time between the socket and the core (see the
//! parent module for the threads and locks).

use std::collections::VecDeque;
use std::io;
use std::net::{Shutdown, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError, TryLockError};
use std::time::{Duration, Instant};

use hybi_core::{Close, Event, Header, Protocol, RequestHead, ResponseHead, State};

use super::Message;
use crate::budget::{Account, MemoryBudget};
use crate::clock::Clock;
use crate::error::{Error, ErrorKind};
use crate::opened::Opened;
use crate::stream::Stream;
use crate::transport::{ReadHalf, WriteHalf};

/// Bytes [`Connection::queue`] lets pile up before it writes them itself:
/// past this, a write costs little next to the copying, and memory stays
/// bounded.
const MAX_QUEUED: usize = 64 * 1024;

/// When a message is written: by the call that sends it, or later with
/// others (`Connection::queue`).
#[derive(Clone, Copy)]
pub(super) enum WriteWhen {
    Now,
    Queued,
}

/// Bytes read from the socket at once, into the reader's own buffer; also
/// the least a large frame must still have to come for the core to lend
/// its message buffer to read into instead (`take_payload_buffer`).
const READ_BUF: usize = 32 * 1024;

/// Largest write buffer kept for the next send: an idle connection holds
/// at most this (twice: one with the core), whatever it sent before.
const MAX_SPARE: usize = 64 * 1024;

/// What every handle shares.
pub(crate) struct Shared {
    pub(super) inner: Mutex<Inner>,
    /// Signalled when the connection ends (`Inner::end` set).
    pub(super) ended: Condvar,
    pub(super) reader: Mutex<Reader>,
    pub(super) writer: Mutex<WriteHalf>,
    /// A reader queued output it could not write (the writer was busy).
    pub(super) needs_flush: AtomicBool,
    /// The stream, for shutdown and timeouts from any thread (locked only
    /// for those calls, which do not block).
    pub(super) control: Mutex<Box<dyn Stream>>,
    pub(super) clock: Clock,
    pub(super) peer_addr: SocketAddr,
    pub(super) local_addr: SocketAddr,
    pub(super) opened: OnceLock<Opened>,
    /// The connection draws on a server's memory budget (`Inner::account`
    /// is set): known without taking the lock.
    pub(super) budgeted: AtomicBool,
    /// Server: the headers `conn_headers` accepted with (see `seed`).
    pub(super) accepted_headers: OnceLock<Vec<Header>>,
    /// Told of each pong (see `pongs`).
    pub(super) pong_hook: OnceLock<super::pongs::PongHook>,
}

pub(super) struct Inner {
    pub(super) core: hybi_core::Connection,
    /// Events for `recv`, oldest first (pings and pongs are dropped).
    pub(super) events: VecDeque<Event>,
    /// What the payloads of `events` hold.
    pub(super) event_bytes: usize,
    /// The last message `recv` returned: counted against the budget until
    /// the next `recv`, since the application holds it until then (an echo
    /// server sends it back).
    pub(super) lent: usize,
    /// Its share of the server's memory budget, if it draws on one.
    pub(super) account: Option<Account>,
    /// How the connection ended, once it has.
    pub(super) end: Option<End>,
    /// The socket failed or was shut: nothing more goes through it.
    pub(super) dead: bool,
    pub(super) read_timeout: Option<Duration>,
}

#[derive(Clone, Debug)]
pub(super) enum End {
    /// The closing handshake completed (or a draft-76 peer hung up).
    Clean(Close),
    /// The core failed the connection.
    Failed(hybi_core::Error),
    /// The socket failed.
    Transport(ErrorKind, String),
}

pub(super) struct Reader {
    pub(super) half: ReadHalf,
    pub(super) buf: Vec<u8>,
    /// The core's message buffer, lent for the next read (see
    /// `Connection::take_payload_buffer`): a large frame's payload is read
    /// into it, not into `buf` and copied. Back in the core before any
    /// other input.
    pub(super) payload: Option<hybi_core::PayloadBuffer>,
}

/// What one turn of [`Shared::pump`] came to.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Pumped {
    /// Input, end of stream or a timer was handled.
    Progress,
    /// The caller's own deadline passed first.
    GaveUp,
}

pub(super) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic in another thread holding a lock leaves the data as
    // consistent as any error would: keep going.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn is_message(event: &Event) -> bool {
    matches!(event, Event::Text(_) | Event::Binary(_))
}

/// Whether [`Shared::flush`] may wait for a writer another thread holds.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Flush {
    /// Only what other threads queued while this one held the writer
    /// (`needs_flush`): for a thread that just wrote its own output.
    Noted,
    /// Write now unless another thread is writing (it writes ours next).
    IfFree,
    /// Wait for the writer: the caller must not go on with the bytes
    /// unwritten (a reader over `limits.output_high_water`, a queue over `MAX_QUEUED`).
    Wait,
}

pub(super) fn is_timeout(e: &io::Error) -> bool {
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
        control: Box<dyn Stream>,
    ) -> io::Result<Arc<Shared>> {
        // A stream without addresses (see `Stream`) reports the unspecified one.
        let unknown = SocketAddr::from(([0, 0, 0, 0], 0));
        Ok(Arc::new(Shared {
            inner: Mutex::new(Inner {
                core,
                events: VecDeque::new(),
                event_bytes: 0,
                lent: 0,
                account: None,
                end: None,
                dead: false,
                read_timeout: None,
            }),
            ended: Condvar::new(),
            reader: Mutex::new(Reader { half: read, buf: Vec::new(), payload: None }),
            writer: Mutex::new(write),
            needs_flush: AtomicBool::new(false),
            peer_addr: control.peer_addr().unwrap_or(unknown),
            local_addr: control.local_addr().unwrap_or(unknown),
            control: Mutex::new(control),
            clock,
            opened: OnceLock::new(),
            budgeted: AtomicBool::new(false),
            accepted_headers: OnceLock::new(),
            pong_hook: OnceLock::new(),
        }))
    }

    /// Makes the connection draw on a server's memory budget (see
    /// `crate::budget`); before the handshake, once.
    pub(crate) fn set_budget(&self, budget: Arc<MemoryBudget>) {
        lock(&self.inner).account = Some(Account::new(budget));
        self.budgeted.store(true, Ordering::SeqCst);
    }

    /// Brings the connection's charge to the budget in line with what it
    /// holds now: the core's buffers, the events waiting for `recv`, the
    /// message `recv` last returned.
    pub(super) fn settle(&self, inner: &mut Inner) {
        let held = Self::held(inner);
        if let Some(account) = &mut inner.account {
            account.settle(held);
        }
    }

    /// What the connection holds for data in transit: the core's buffers,
    /// the events waiting for `recv`, the message `recv` last returned.
    pub(super) fn held(inner: &Inner) -> usize {
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
        self.write_out(&mut writer, inner, &[])?;
        drop(writer);
        self.flush(Flush::Noted)?;
        Ok(value)
    }

    /// Sends a message too large for the spare write buffer without copying
    /// it: the core queues the frame's header, and the payload is written
    /// after it straight from `payload`. `Ok(false)` (nothing done) where
    /// the protocol does not send the payload as it is (see
    /// `send_verbatim_header`): the caller sends it the usual way.
    pub(super) fn send_verbatim(&self, binary: bool, payload: &[u8]) -> Result<bool, Error> {
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
        self.write_out(&mut writer, inner, payload)?;
        drop(writer);
        self.flush(Flush::Noted)?;
        Ok(true)
    }

    /// Runs `f` on the core (a send) and leaves what it queued there for a
    /// later write, unless that makes more than `MAX_QUEUED` bytes.
    pub(super) fn enqueue(
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
            self.flush(Flush::Wait)?;
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
    pub(crate) fn record_opened(&self) {
        let inner = lock(&self.inner);
        let _ = self.opened.set(Opened::of(&inner.core));
    }

    pub(crate) fn request(&self) -> Option<RequestHead> {
        lock(&self.inner).core.request().cloned()
    }

    pub(crate) fn response(&self) -> Option<ResponseHead> {
        lock(&self.inner).core.response().cloned()
    }

    pub(super) fn opened(&self) -> &Opened {
        self.opened.get().expect("a Connection is handed out only once open")
    }

    /// The core's protocol, live (see `opened_getters!`).
    pub(super) fn protocol(&self) -> Protocol {
        lock(&self.inner).core.protocol().expect("a Connection is handed out only once open")
    }

    /// Reads once (or times out once) and feeds the result to the core:
    /// bytes, end of stream, or the time. `give_up` is the caller's own
    /// deadline (a read timeout), which ends the wait without touching the
    /// core.
    pub(super) fn pump(
        &self,
        reader: &mut MutexGuard<'_, Reader>,
        give_up: Option<Instant>,
    ) -> Result<Pumped, Error> {
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
            _ => reader.half.arm(wait).and_then(|()| match &mut reader.payload {
                Some(payload) => reader.half.read(payload.room()),
                None => reader.half.read(&mut reader.buf),
            }),
        };
        let mut inner = lock(&self.inner);
        let mut lent = reader.payload.take();
        if !matches!(result, Ok((n, _)) if n > 0) {
            if let Some(payload) = lent.take() {
                // Nothing was read into it: back unfilled, before the core
                // takes anything else.
                inner.core.handle_payload(self.clock.now(), payload, 0);
            }
        }
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
                // Reserved before any of the input is stored; `settle`
                // below returns what it did not use.
                let held = Self::held(&inner);
                let inner = &mut *inner;
                if let Some(account) = &mut inner.account {
                    account.allow_input(&mut inner.core, held, n);
                }
                match lent {
                    Some(payload) => inner.core.handle_payload(now, payload, n),
                    None => inner.core.handle_input(now, &reader.buf[..n]),
                }
                // Taken within this input's allowance, before the charge
                // settles.
                reader.payload = inner.core.take_payload_buffer(READ_BUF);
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
        let high_water = inner.core.config().limits.output_high_water;
        let closed = inner.core.state() == State::Closed || inner.dead;
        drop(inner);
        if unflushed > 0 || tls_output || closed {
            // Past the core's `limits.output_high_water` the reader waits
            // for the writer: a peer that does not read our pongs stops
            // being read, and cannot grow our memory.
            self.flush(if unflushed > high_water { Flush::Wait } else { Flush::IfFree })?;
        }
        Ok(if gave_up && lock(&self.inner).end.is_none() { Pumped::GaveUp } else { Pumped::Progress })
    }

    /// Moves the core's events to our queue, noting how it ended. Taking
    /// them answers nothing: the close owed to a peer that is done waits
    /// until `recv` hands its application the end (`finish`), so answers
    /// to the messages before it go first.
    pub(super) fn drain(&self, inner: &mut Inner) {
        let was_ended = inner.end.is_some();
        while let Some(event) = inner.core.poll_event() {
            match &event {
                Event::Pong(payload) => {
                    self.pong_arrived(payload);
                    continue;
                }
                Event::Ping(_) => continue,
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

    /// Writes what the core queued, then `payload` (the rest of the frame
    /// whose header the core queued last, see `send_verbatim`; usually
    /// empty), holding the writer; `inner` is released before the
    /// (possibly blocking) write. Ends our direction of the stream once the
    /// core is closed and everything is out.
    pub(super) fn write_out(
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
        if self.budgeted.load(Ordering::Relaxed) {
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

    /// Writes what the core queued. `Flush::IfFree` leaves it to the
    /// thread that holds the writer, if one does: it writes what others
    /// queued meanwhile when it is done (`Flush::Noted`), so bytes go out in
    /// the order the core queued them and a reader never waits on a
    /// blocked writer. `Flush::Wait` waits for the writer.
    pub(super) fn flush(&self, how: Flush) -> Result<(), Error> {
        match how {
            Flush::Noted => {}
            Flush::IfFree => self.needs_flush.store(true, Ordering::SeqCst),
            Flush::Wait => {
                let mut writer = lock(&self.writer);
                self.needs_flush.store(false, Ordering::SeqCst);
                self.write_out(&mut writer, lock(&self.inner), &[])?;
            }
        }
        while self.needs_flush.load(Ordering::SeqCst) {
            let mut writer = match self.writer.try_lock() {
                Ok(writer) => writer,
                Err(TryLockError::Poisoned(p)) => p.into_inner(),
                Err(TryLockError::WouldBlock) => return Ok(()),
            };
            self.needs_flush.store(false, Ordering::SeqCst);
            self.write_out(&mut writer, lock(&self.inner), &[])?;
        }
        Ok(())
    }

    /// The socket failed: the connection is over. Wakes every thread.
    pub(super) fn transport_failed(&self, e: io::Error) -> Error {
        let error = Error::from(e);
        let mut inner = lock(&self.inner);
        inner.dead = true;
        if inner.end.is_none() {
            inner.end = Some(End::Transport(error.kind(), error.to_string()));
            self.ended.notify_all();
        }
        drop(inner);
        let _ = lock(&self.control).shutdown(Shutdown::Both);
        error
    }

    pub(super) fn dead_error(&self, inner: &Inner) -> Error {
        match &inner.end {
            Some(End::Transport(kind, message)) => Error::new(*kind, message.clone()),
            _ => Error::closed(),
        }
    }

    /// `Connection::recv`: the next message, reading as needed; the end
    /// finishes the core (see `Connection::recv`).
    pub(super) fn recv(&self) -> Result<Option<Message>, Error> {
        let shared = self;
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
                    shared.flush(Flush::IfFree)?;
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
                shared.flush(Flush::IfFree)?;
            }
            gave_up = shared.pump(&mut reader, give_up)? == Pumped::GaveUp;
        }
    }
}
