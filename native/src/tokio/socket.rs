//! The connection: [`WebSocket`], and the [`Reader`] and [`Writer`] it
//! splits into. One loop, written once: the unsplit `WebSocket` is the two
//! halves held together.
//!
//! # Where the core lives
//!
//! The core sits in a `std::sync::Mutex` in the [`Shared`] both halves
//! hold; the lock is taken for core calls only (feed input, queue a
//! message, take output, read the deadline), microseconds each, and never
//! across an await. The stream is split with `tokio::io::split`: the reader
//! half reads it, and the output buffer with the stream's write half sits
//! in a second mutex, held only while a `poll_write` runs. So a writer
//! encoding a message and a reader decoding one contend only for those
//! moments, and neither waits on the other's socket. What each lock's
//! holder leaves queued is published when it lets go (see [`Locked`]), so
//! a `Sink`'s `poll_ready`, once per message, reads the queue's size
//! without taking either lock.
//!
//! The reader writes what its input made the core queue (pongs, close
//! answers) itself: it does not depend on the writer being polled. It
//! waits for the socket only once more than [`MAX_UNFLUSHED`] of its own
//! answers wait behind a slow write (a peer that does not read our pongs
//! stops being read); the writer's messages do not count, so two peers both
//! sending large messages keep reading each other.
//! The stream keeps one waker per direction, the last poller's; both halves
//! can wait to write, so a half whose write pends registers its waker in
//! [`WriteWakers`] and the stream is polled with a waker that wakes both.
//!
//! The timer and the end of the connection belong to the reader: only it
//! feeds the core input and time. A [`Writer`] whose reader is never polled
//! still sends, but nothing answers pings or keeps the deadlines.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::{poll_fn, Future};
use std::io::{self, IoSlice};
use std::ops::{Deref, DerefMut};
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::task::{ready, Context, Poll, Wake, Waker};
use std::time::Duration;

use futures_core::Stream;
use futures_sink::Sink;

use ::tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use bytes::BufMut;
use hybi_core::{Close, Event, Protocol, State};

use crate::budget::{Account, MemoryBudget};
use crate::clock::Clock;
use crate::error::{Error, ErrorKind};
use crate::opened::Opened;
use crate::Message;

use super::recycled::RECYCLED;

/// Bytes read from the stream at once, into [`READ_SPACE`]. 128 KiB, not
/// 32: each read costs a system call and, on TCP, a window update to the
/// peer, and at 1,000 connections × 16 KiB messages four times fewer of
/// them took ~20% less of the server's CPU per message (BENCHMARKS.md).
/// It is also the least a large frame must still have to come for the
/// core to lend its message buffer to read into
/// (`Connection::take_payload_buffer`): below that, one read here takes
/// the frame's end and what follows it together.
const READ_BUF: usize = 128 * 1024;

/// Bytes read at once, instead of [`READ_BUF`], by a connection that
/// inflates permessage-deflate under a server's memory budget: the
/// blocking driver's read size, so that a read reserves no more of the
/// budget than there (32 KiB × the core's 1032:1 worst case, 33 MiB). At
/// 128 KiB each read reserves 132 MiB: in the abuse suite's
/// `bomb-fairness` (four deflate bomb senders, a 256 MiB budget) the
/// server went to 212-234 MiB and its other clients waited over 500 ms.
const INFLATING_READ: usize = 32 * 1024;

thread_local! {
    /// The read buffer, one per thread: the core keeps what it needs of
    /// each read, so a buffer per connection would only be most of an idle
    /// connection's memory. Not on the stack: a 128 KiB frame is probed
    /// page by page on every poll, which cost ~8% at 64 × 16 B echoes.
    static READ_SPACE: RefCell<Box<[u8]>> = RefCell::new(vec![0; READ_BUF].into_boxed_slice());
}

/// What a connection under a memory budget reserves beyond a recycled
/// buffer's capacity before offering it: more than the core keeps free
/// when a message grows under an allowance (32 KiB), so that a buffer
/// that fits is taken.
const SPARE_MARGIN: usize = 64 * 1024;

/// A message sent through the `Sink` above this size is written from the
/// buffer it came in (after a header the core frames), where the protocol
/// sends payloads as they are, instead of being copied into the core's
/// transmit buffer; below it, the copy costs less than a segment of its
/// own.
const VERBATIM_ABOVE: usize = 4 * 1024;

/// Segments written at once (one vectored write): a header and a payload
/// for each of eight messages.
const WRITE_SEGMENTS: usize = 16;

/// Output a `Sink` user may queue before `poll_ready` waits for the socket.
const MAX_QUEUED: usize = 64 * 1024;

/// Answers (pongs, close replies, keepalive pings) the reader may have
/// queued behind a pending write before it stops reading and waits for the
/// socket: a peer that sends pings but does not read our pongs cannot grow
/// our memory past this. Only the reader's own output counts: messages the
/// writer queued are the application's, bounded by its own waiting, and
/// counting them would stop two peers that both send a lot from reading
/// each other, each waiting for the other to read.
const MAX_UNFLUSHED: usize = 256 * 1024;

/// An emptied segment up to this size is kept for the next one: an idle
/// connection holds at most this, whatever it sent before.
const MAX_SPARE: usize = 64 * 1024;

/// Which half is polling: each has its own slot in [`WriteWakers`].
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    Reader = 0,
    Writer = 1,
    /// A server's stop, writing a going-away close.
    Control = 2,
}

/// What both halves share.
pub(super) struct Shared<S> {
    core: Mutex<hybi_core::Connection>,
    output: Mutex<Output<S>>,
    /// The core's `pending_transmit` when its lock was last let go.
    pending: AtomicUsize,
    /// `Output::unwritten` when its lock was last let go.
    unwritten: AtomicUsize,
    wakers: Arc<WriteWakers>,
    clock: Clock,
    /// The handshake's outcome, once open.
    opened: OnceLock<Opened>,
    /// What dropping the last half does (see `go_away_on_drop`): set where
    /// `S`'s bounds are known, since a `Drop` impl cannot ask for them.
    on_drop: fn(&mut Shared<S>),
}

impl<S> Drop for Shared<S> {
    fn drop(&mut self) {
        (self.on_drop)(self);
    }
}

/// The last half of a connection still open was dropped: a going-away
/// close (RFC 6455 1001) if the stream takes it at once, then the end of
/// our direction, as the blocking driver's last handle does.
fn go_away_on_drop<S: AsyncRead + AsyncWrite>(shared: &mut Shared<S>) {
    let now = shared.clock.now();
    let out = shared.output.get_mut().unwrap_or_else(PoisonError::into_inner);
    // Gone: the stream was given back (`into_inner`).
    let Some(mut io) = out.io.take() else { return };
    let core = shared.core.get_mut().unwrap_or_else(PoisonError::into_inner);
    if !matches!(core.state(), State::Open | State::Ending) || core.go_away(now, "").is_err() {
        return;
    }
    out.take_transmit(core);
    let mut cx = Context::from_waker(Waker::noop());
    while let Some(segment) = out.segments.front() {
        match Pin::new(&mut io).poll_write(&mut cx, &segment[out.written..]) {
            Poll::Ready(Ok(n)) if n > 0 => out.advance(n),
            _ => return,
        }
    }
    let _ = Pin::new(&mut io).poll_shutdown(&mut cx);
}

/// The output side: the stream's write half, and what was taken from the
/// core and not yet all written, in order: bytes the core framed, and the
/// payloads of large messages sent as they are, each after the header the
/// core framed for it. `written` bytes of the first segment are out.
struct Output<S> {
    /// Taken only by `WebSocket::into_inner` (a `Shared` cannot be taken
    /// apart: it has a `Drop`).
    io: Option<::tokio::io::WriteHalf<S>>,
    segments: VecDeque<Vec<u8>>,
    written: usize,
    /// Bytes of `segments` not yet written.
    unwritten: usize,
    /// An emptied segment, kept for the next one (no allocation per write).
    spare: Vec<u8>,
    /// Our direction of the stream is shut.
    shut: bool,
}

impl<S> Output<S> {
    /// Moves what the core queued to the end of `segments`, as a segment
    /// of its own; false if it queued nothing.
    fn take_transmit(&mut self, core: &mut hybi_core::Connection) -> bool {
        let mut segment = std::mem::take(&mut self.spare);
        segment.clear();
        // Into an empty buffer the core hands over its own (no copy).
        if core.poll_transmit(&mut segment) == 0 {
            self.spare = segment;
            return false;
        }
        self.push(segment);
        true
    }

    /// Queues a segment after the others.
    fn push(&mut self, segment: Vec<u8>) {
        self.unwritten += segment.len();
        self.segments.push_back(segment);
    }

    /// `n` more bytes are written: finished segments go (a small one is
    /// kept as the spare).
    fn advance(&mut self, mut n: usize) {
        self.unwritten -= n;
        while n > 0 {
            let first = self.segments[0].len() - self.written;
            if n < first {
                self.written += n;
                return;
            }
            n -= first;
            self.written = 0;
            let done = self.segments.pop_front().expect("bytes written were queued");
            if done.capacity() <= MAX_SPARE {
                self.spare = done;
            } else {
                RECYCLED.keep(done);
            }
        }
    }

    /// Output taken from the core and not yet written.
    fn unwritten(&self) -> usize {
        self.unwritten
    }
}

/// What a lock's holder may leave queued for the socket.
trait Queued {
    fn queued(&self) -> usize;
}

impl Queued for hybi_core::Connection {
    fn queued(&self) -> usize {
        self.pending_transmit()
    }
}

impl<S> Queued for Output<S> {
    fn queued(&self) -> usize {
        self.unwritten()
    }
}

/// The core or the output, locked; letting go publishes what it holds
/// queued (a plain store: only the lock's holder writes it), so that
/// [`Shared::queued`] reads both without locking. A reader sees the value
/// of the last release, as it would have seen by taking the lock then.
struct Locked<'a, T: Queued> {
    guard: MutexGuard<'a, T>,
    published: &'a AtomicUsize,
}

impl<T: Queued> Deref for Locked<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.guard
    }
}

impl<T: Queued> DerefMut for Locked<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.guard
    }
}

impl<T: Queued> Drop for Locked<'_, T> {
    fn drop(&mut self) {
        self.published.store(self.guard.queued(), Ordering::Relaxed);
    }
}

/// The tasks waiting for the stream to take output, one per half (see the
/// module docs).
#[derive(Default)]
struct WriteWakers {
    slots: Mutex<[Option<Waker>; 3]>,
}

impl WriteWakers {
    /// Wakes the others if they wait for the stream to take output.
    fn wake_other(&self, role: Role) {
        let waiting: Vec<Waker> = {
            let mut slots = lock(&self.slots);
            let mine = role as usize;
            slots.iter_mut().enumerate().filter(|(i, _)| *i != mine).filter_map(|(_, w)| w.take()).collect()
        };
        for waker in waiting {
            waker.wake();
        }
    }
}

impl Wake for WriteWakers {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let slots = std::mem::take(&mut *lock(&self.slots));
        for waker in slots.into_iter().flatten() {
            waker.wake();
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere leaves the data as consistent as an error would.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<S: AsyncRead + AsyncWrite> Shared<S> {
    /// The core, locked (see [`Locked`]).
    fn lock_core(&self) -> Locked<'_, hybi_core::Connection> {
        Locked { guard: lock(&self.core), published: &self.pending }
    }

    /// The output, locked (see [`Locked`]).
    fn lock_output(&self) -> Locked<'_, Output<S>> {
        Locked { guard: lock(&self.output), published: &self.unwritten }
    }

    /// Runs `f` on the core.
    fn core<T>(&self, f: impl FnOnce(&mut hybi_core::Connection) -> T) -> T {
        f(&mut self.lock_core())
    }

    /// Output queued and not yet taken by the socket, as the locks' last
    /// holders left it (no lock taken: once per message sent).
    fn queued(&self) -> usize {
        self.unwritten.load(Ordering::Relaxed) + self.pending.load(Ordering::Relaxed)
    }

    /// Polls the stream with the caller's waker; when that pends, with one
    /// that wakes both halves (the stream keeps only the last one).
    fn poll_both<T>(
        &self,
        role: Role,
        cx: &mut Context<'_>,
        mut f: impl FnMut(&mut Context<'_>) -> Poll<T>,
    ) -> Poll<T> {
        if let Poll::Ready(value) = f(cx) {
            return Poll::Ready(value);
        }
        {
            let mut slots = lock(&self.wakers.slots);
            match &mut slots[role as usize] {
                Some(waker) if waker.will_wake(cx.waker()) => {}
                slot => *slot = Some(cx.waker().clone()),
            }
        }
        let waker = Waker::from(Arc::clone(&self.wakers));
        f(&mut Context::from_waker(&waker))
    }

    /// Writes what the core queued, resuming where a dropped call left
    /// off; ends our direction of the stream once the core is closed and
    /// everything is out.
    pub(super) fn poll_write_out(&self, role: Role, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let result = ready!(self.poll_write_all(role, cx));
        // The other half may be waiting for this very output (its write
        // pended, and we finished it): it would wait for a wake the stream
        // no longer owes anyone.
        self.wakers.wake_other(role);
        Poll::Ready(result)
    }

    fn poll_write_all(&self, role: Role, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let mut guard = self.lock_output();
        let out = &mut *guard;
        let closed = loop {
            if out.segments.is_empty() {
                let mut core = self.lock_core();
                if !out.take_transmit(&mut core) {
                    break core.state() == State::Closed;
                }
            }
            let Output { io, segments, written, .. } = out;
            let io = io.as_mut().expect("taken only by into_inner");
            let vectored = segments.len() > 1 && io.is_write_vectored();
            let result = ready!(self.poll_both(role, cx, |cx| {
                if vectored {
                    let mut slices = [IoSlice::new(&[]); WRITE_SEGMENTS];
                    let mut rest = segments.iter();
                    let first = rest.next().expect("not empty");
                    slices[0] = IoSlice::new(&first[*written..]);
                    let mut count = 1;
                    for (slice, segment) in slices[1..].iter_mut().zip(rest) {
                        *slice = IoSlice::new(segment);
                        count += 1;
                    }
                    Pin::new(&mut *io).poll_write_vectored(cx, &slices[..count])
                } else {
                    Pin::new(&mut *io).poll_write(cx, &segments[0][*written..])
                }
            }));
            match result {
                Ok(0) => return Poll::Ready(Err(io::Error::from(io::ErrorKind::WriteZero).into())),
                Ok(n) => out.advance(n),
                Err(e) => return Poll::Ready(Err(e.into())),
            }
        };
        let io = out.io.as_mut().expect("taken only by into_inner");
        ready!(self.poll_both(role, cx, |cx| Pin::new(&mut *io).poll_flush(cx)))?;
        if closed && !out.shut {
            // Everything the protocol sends is out: end our direction.
            ready!(self.poll_both(role, cx, |cx| Pin::new(&mut *io).poll_shutdown(cx))).ok();
            out.shut = true;
        }
        Poll::Ready(Ok(()))
    }

    /// Queues a message in the core.
    fn queue(&self, message: &Message) -> Result<(), Error> {
        self.core(|core| match message {
            Message::Text(text) => core.send_text(text),
            Message::Binary(data) => core.send_binary(data),
        })?;
        Ok(())
    }

    /// Queues an owned message: a large one whose payload the protocol
    /// sends as it is goes out from its own buffer after the header the
    /// core frames; any other is queued as [`queue`](Self::queue) does.
    fn queue_owned(&self, message: Message) -> Result<(), Error> {
        let (binary, len) = match &message {
            Message::Text(text) => (false, text.len()),
            Message::Binary(data) => (true, data.len()),
        };
        if len <= VERBATIM_ABOVE {
            return self.queue(&message);
        }
        // Output before core: the order every writer takes the locks in.
        let mut out = self.lock_output();
        let mut core = self.lock_core();
        if !core.send_verbatim_header(binary, len)? {
            drop((core, out));
            return self.queue(&message);
        }
        // The header (and all the core queued before it) goes first, then
        // exactly the payload, before anything queued later.
        out.take_transmit(&mut core);
        out.push(match message {
            Message::Text(text) => text.into_bytes(),
            Message::Binary(data) => data,
        });
        Ok(())
    }

    /// Starts the closing handshake (or answers a peer that is done) if
    /// the connection is open; draft-76 closes carry no code, so 1000 with
    /// no reason is sent as its plain close.
    fn begin_close(&self, code: Option<u16>, reason: &str) -> Result<(), Error> {
        let now = self.clock.now();
        self.core(|core| {
            if !matches!(core.state(), State::Open | State::Ending) {
                return Ok(());
            }
            let code = match core.protocol() {
                Some(Protocol::Draft76(_)) if code == Some(1000) && reason.is_empty() => None,
                _ => code,
            };
            core.close(now, code, reason)
        })?;
        Ok(())
    }

    /// A server stopping: queues the core's going-away close (RFC 6455
    /// 1001 with `reason`). False for a connection still in its handshake
    /// (nothing to close politely: the caller cuts it); true if closing or
    /// over already. The caller writes it (`poll_write_out`).
    pub(super) fn go_away(&self, reason: &str) -> bool {
        let now = self.clock.now();
        self.core(|core| match core.state() {
            State::Open | State::Ending => core.go_away(now, reason).is_ok(),
            State::Closing | State::Closed => true,
            _ => false,
        })
    }

    fn opened(&self) -> &Opened {
        self.opened.get().expect("a WebSocket is handed out only once open")
    }

    /// The core's protocol, live (see `opened_getters!`).
    fn protocol(&self) -> Protocol {
        self.core(|core| core.protocol()).expect("a WebSocket is handed out only once open")
    }
}

/// One WebSocket connection over an async stream `S`, open once you hold
/// it. Made by [`accept`](super::accept), [`client`](super::client) or
/// [`connect`](super::connect); [`split`](Self::split) it to receive in one
/// task and send in another.
pub struct WebSocket<S> {
    reader: Reader<S>,
    writer: Writer<S>,
}

/// The receiving half of a [`WebSocket`]: messages, the timers, the end.
/// It answers pings and the peer's close on its own, whether or not the
/// [`Writer`] is busy or idle.
pub struct Reader<S> {
    io: ::tokio::io::ReadHalf<S>,
    shared: Arc<Shared<S>>,
    /// Events taken from the core, for `recv`.
    events: VecDeque<Event>,
    /// The stream ended or failed: nothing more is read.
    input_done: bool,
    /// The peer's close, once it arrived.
    close_status: Option<Close>,
    /// The one timer, at the core's next deadline once armed.
    timer: Option<Pin<Box<::tokio::time::Sleep>>>,
    /// The core deadline `timer` is armed for.
    timer_at: Option<hybi_core::Instant>,
    /// `recv` has reported the end (`Ok(None)` or the error): later calls
    /// give `Ok(None)`.
    end_reported: bool,
    /// Bytes of answers this reader's input made the core queue since the
    /// output was last all written (see `MAX_UNFLUSHED`).
    answers: usize,
    /// Its share of a server's memory budget, if it draws on one (see
    /// `crate::budget`): the reader's, since only the reader feeds the core
    /// input.
    account: Option<Account>,
    /// The payload of the message `recv` returned last: counted against
    /// the budget until the next `recv`, since the application holds it
    /// until then (an echo server sends it back).
    lent: usize,
    /// The core's message buffer, lent for the next read (see
    /// `Connection::take_payload_buffer`); back in the core before any
    /// other input.
    payload: Option<hybi_core::PayloadBuffer>,
}

/// What a read brought.
enum Input<'a> {
    /// Bytes read into this thread's read buffer.
    Read(&'a [u8]),
    /// A count of bytes read into the buffer the core lent.
    Lent(usize),
}

/// The sending half of a [`WebSocket`]. Its [`close`](Self::close) sends
/// the close and returns: the [`Reader`] sees the answer (or the close
/// deadline) and ends.
pub struct Writer<S> {
    shared: Arc<Shared<S>>,
}

impl<S: AsyncRead + AsyncWrite> WebSocket<S> {
    pub(super) fn new(io: S, core: hybi_core::Connection, clock: Clock) -> Self {
        let (read, write) = ::tokio::io::split(io);
        let shared = Arc::new(Shared {
            core: Mutex::new(core),
            output: Mutex::new(Output {
                io: Some(write),
                segments: VecDeque::new(),
                written: 0,
                unwritten: 0,
                spare: Vec::new(),
                shut: false,
            }),
            pending: AtomicUsize::new(0),
            unwritten: AtomicUsize::new(0),
            wakers: Arc::default(),
            clock,
            opened: OnceLock::new(),
            on_drop: go_away_on_drop::<S>,
        });
        WebSocket {
            reader: Reader {
                io: read,
                shared: Arc::clone(&shared),
                events: VecDeque::new(),
                input_done: false,
                close_status: None,
                timer: None,
                timer_at: None,
                end_reported: false,
                answers: 0,
                account: None,
                lent: 0,
                payload: None,
            },
            writer: Writer { shared },
        }
    }

    /// The next message: `Ok(Some(message))`, or `Ok(None)` once the
    /// connection has ended cleanly, and forever after. An `Err` reports how
    /// it ended otherwise (a protocol violation, a timeout, the peer
    /// vanishing) once; later calls return `Ok(None)`. Reaching the end
    /// sends the close the core owes, after every answer queued before.
    ///
    /// Cancel-safe: dropped before it completes, it has taken no message
    /// (what it read is in the core or the queue, for the next call).
    pub async fn recv(&mut self) -> Result<Option<Message>, Error> {
        self.reader.recv().await
    }

    /// [`recv`](Self::recv) as a poll function: what `Stream::poll_next`
    /// runs.
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<Message>, Error>> {
        self.reader.poll_recv(cx)
    }

    /// Sends a message; completes once the socket has taken its bytes.
    ///
    /// Cancel-safe in the sense that matters: the message is queued whole
    /// before the first await, so a dropped call has still sent it, and
    /// the next call (or [`flush`](Self::flush), or `recv`) writes what is
    /// left of it first. Nothing is sent twice or cut.
    pub async fn send(&mut self, message: &Message) -> Result<(), Error> {
        self.writer.send(message).await
    }

    /// Queues a message without writing it: the next
    /// [`flush`](Self::flush), send, `recv` or close writes it, with
    /// whatever was queued after it, in as few writes as the socket takes.
    /// Not async: nothing to cancel.
    pub fn queue(&mut self, message: &Message) -> Result<(), Error> {
        self.writer.queue(message)
    }

    /// Sends a ping (RFC 6455 only); `recv` takes in the pong. Cancel-safe
    /// as [`send`](Self::send) is.
    pub async fn ping(&mut self, payload: &[u8]) -> Result<(), Error> {
        self.writer.ping(payload).await
    }

    /// Writes whatever is queued (a call dropped mid-write left some).
    /// Cancel-safe: a dropped flush leaves the rest for the next one.
    pub async fn flush(&mut self) -> Result<(), Error> {
        self.writer.flush().await
    }

    /// Closes with `code` and `reason` (RFC 6455; draft-76 closes carry
    /// none, so only `None` or 1000 with no reason fit it) and waits for
    /// the peer's answer or the close deadline. Messages that arrive
    /// meanwhile stay queued for [`recv`](Self::recv). If the peer closed
    /// first, this is the answer.
    ///
    /// Cancel-safe: the close is queued before the first await; a dropped
    /// call has started the closing handshake, and `recv` (or another
    /// `close`) finishes it.
    pub async fn close(&mut self, code: Option<u16>, reason: &str) -> Result<(), Error> {
        self.writer.shared.begin_close(code, reason)?;
        poll_fn(|cx| self.reader.poll_closed(cx)).await
    }

    /// The peer's close code and reason, once it closed cleanly.
    pub fn close_status(&self) -> Option<&Close> {
        self.reader.close_status()
    }

    crate::opened::opened_getters!(reader.shared);

    /// Splits into a [`Reader`] and a [`Writer`] for two tasks: the reader
    /// receives (and answers pings and the close on its own), the writer
    /// sends. See the module docs for how they share the connection.
    pub fn split(self) -> (Reader<S>, Writer<S>) {
        (self.reader, self.writer)
    }

    /// Puts the halves of one connection back together; gives them back
    /// if they are not of the same connection.
    #[allow(clippy::type_complexity)]
    pub fn reunite(reader: Reader<S>, writer: Writer<S>) -> Result<Self, Box<(Reader<S>, Writer<S>)>> {
        if Arc::ptr_eq(&reader.shared, &writer.shared) {
            Ok(WebSocket { reader, writer })
        } else {
            Err(Box::new((reader, writer)))
        }
    }

    /// The stream, given back (what was read and not yet handed out is
    /// lost with the connection).
    pub fn into_inner(self) -> S
    where
        S: Unpin,
    {
        let WebSocket { reader, writer } = self;
        drop(writer);
        let Reader { io, shared, .. } = reader;
        let write = lock(&shared.output).io.take().expect("taken once");
        io.unsplit(write)
    }

    /// Makes the connection draw on a server's memory budget; before the
    /// handshake. A message that moves into a buffer from [`RECYCLED`] is
    /// charged for the buffer's capacity, reserved before it is offered
    /// (see `take_input`); the kept buffers themselves are outside every
    /// budget, within the pool's own bounds.
    pub(super) fn set_budget(&mut self, budget: Arc<MemoryBudget>) {
        self.reader.account = Some(Account::new(budget));
    }

    /// What the halves share: for a server to reach an open connection.
    pub(super) fn shared(&self) -> &Arc<Shared<S>> {
        &self.writer.shared
    }

    /// Runs `f` on the core and takes the events it made: for the
    /// handshake, which happens before the connection is handed out.
    pub(super) fn with_core<T>(&mut self, f: impl FnOnce(&mut hybi_core::Connection) -> T) -> T {
        let reader = &mut self.reader;
        let mut core = reader.shared.lock_core();
        let value = f(&mut core);
        take_events(&mut core, &mut reader.events, &mut reader.close_status);
        value
    }

    /// Writes what the core queued, as far as the socket takes it.
    pub(super) async fn write_out(&mut self) -> Result<(), Error> {
        self.writer.flush().await
    }

    /// The events the handshake waits for.
    pub(super) fn events(&mut self) -> &mut VecDeque<Event> {
        &mut self.reader.events
    }

    /// One turn of the loop (see [`Reader::poll_turn`]).
    pub(super) async fn turn(&mut self) -> Result<(), Error> {
        poll_fn(|cx| self.reader.poll_turn(cx)).await
    }

    /// Runs the loop until the handshake ends: `Ok` once open (messages
    /// that came with the handshake stay queued for `recv`).
    /// A client's failure carries the response and what it suggests
    /// about the server's protocol (`asked`), as the blocking `connect`'s.
    pub(super) async fn handshake(mut self, asked: Option<Protocol>) -> Result<Self, Error> {
        loop {
            let end = self.reader.events.iter().position(|e| matches!(e, Event::Open | Event::Error(_)));
            if let Some(at) = end {
                match self.reader.events.remove(at) {
                    Some(Event::Error(error)) => {
                        let _ = self.write_out().await;
                        return Err(match asked {
                            Some(asked) => {
                                let (response, body) = self.with_core(|core| {
                                    (core.response().cloned(), core.refused_body().to_vec())
                                });
                                Error::handshake_failed(error, asked, response, body)
                            }
                            None => error.into(),
                        });
                    }
                    _ => {
                        // A server's 101 goes out whole before the
                        // connection is handed over: its task may not poll
                        // it again until it has something to send.
                        self.write_out().await?;
                        self.record_opened();
                        return Ok(self);
                    }
                }
            }
            if self.with_core(|core| core.state()) == State::Closed {
                let _ = self.write_out().await;
                return Err(Error::closed());
            }
            self.turn().await?;
        }
    }

    /// Records the handshake's outcome.
    fn record_opened(&mut self) {
        let opened = self.with_core(|core| Opened::of(core));
        let _ = self.reader.shared.opened.set(opened);
    }
}

impl<S: AsyncRead + AsyncWrite> Reader<S> {
    /// The next message; see [`WebSocket::recv`]. Cancel-safe.
    pub async fn recv(&mut self) -> Result<Option<Message>, Error> {
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// [`recv`](Self::recv) as a poll function.
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<Message>, Error>> {
        // The application is done with the message the last call returned
        // (the next read settles the account).
        self.lent = 0;
        loop {
            while let Some(event) = self.events.pop_front() {
                if self.account.is_some() && matches!(event, Event::Text(_) | Event::Binary(_)) {
                    self.lent = event.buffered_bytes();
                }
                match event {
                    Event::Text(text) => return Poll::Ready(Ok(Some(Message::Text(text)))),
                    Event::Binary(data) => return Poll::Ready(Ok(Some(Message::Binary(data)))),
                    // The application reached the end: the close the core
                    // owes goes out (the next poll writes it).
                    Event::Close(_) => self.shared.core(|core| core.finish()),
                    Event::Error(error) => {
                        self.shared.core(|core| core.finish());
                        self.end_reported = true;
                        // Written as far as the socket takes it now; the
                        // error is what the caller needs to know.
                        let _ = self.shared.poll_write_out(Role::Reader, cx);
                        return Poll::Ready(Err(error.into()));
                    }
                    _ => {}
                }
            }
            if self.shared.core(|core| core.state()) == State::Closed {
                let written = ready!(self.shared.poll_write_out(Role::Reader, cx));
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

    /// Drives the connection until the core is closed and everything is
    /// written: what `close` waits on once its close is queued.
    fn poll_closed(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        while self.shared.core(|core| core.state()) != State::Closed {
            ready!(self.poll_turn(cx))?;
        }
        ready!(self.shared.poll_write_out(Role::Reader, cx))?;
        let failed =
            self.events.iter().find_map(|e| if let Event::Error(e) = e { Some(e.clone()) } else { None });
        Poll::Ready(failed.map_or(Ok(()), |error| Err(error.into())))
    }

    /// One turn of the loop: write what is queued, then input or the core's
    /// next deadline, fed to the core; its events go to the queue. Pending
    /// while the stream has nothing to give and no deadline has passed, or
    /// while more than `MAX_UNFLUSHED` waits for the socket. One timer per
    /// connection, re-armed only when the core's deadline moves.
    fn poll_turn(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        match self.shared.poll_write_out(Role::Reader, cx) {
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Ready(Ok(())) => {
                self.answers = 0;
                // What was written, and the message the application
                // finished with, are no longer held.
                self.settle();
            }
            // Its waker is registered: wait for the socket.
            Poll::Pending if self.answers > MAX_UNFLUSHED => return Poll::Pending,
            Poll::Pending => {}
        }
        let clock = self.shared.clock;
        if let Some(at) = self.shared.core(|core| core.poll_timeout()) {
            // Re-armed only when the core's deadline moved (re-arming on
            // every poll would push a due timer forward forever). +1 ms:
            // the core counts whole milliseconds, and a timer that fires a
            // hair early would only be re-armed.
            if self.timer_at != Some(at) {
                let when = ::tokio::time::Instant::now() + clock.until(at) + Duration::from_millis(1);
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
                self.feed(|core| core.handle_timeout(clock.now()));
                return Poll::Ready(Ok(()));
            }
        }
        if self.input_done {
            return match self.shared.core(|core| core.poll_timeout()) {
                // The timer above wakes us.
                Some(_) => Poll::Pending,
                None => {
                    Poll::Ready(Err(Error::new(ErrorKind::Closed, "the stream ended and nothing is awaited")))
                }
            };
        }
        // In the middle of a large frame, the core lends the message's own
        // buffer: the payload is read into it and unmasked where it lands,
        // instead of being read here and copied into it. Appended into the
        // capacity the core reserved, which nobody zeroes first (`bytes`
        // writes a `Vec`'s spare capacity for tokio's `read_buf`; the
        // limit keeps the next frame's bytes out).
        let result = match &mut self.payload {
            Some(buffer) => {
                let room = buffer.room_len();
                let mut room = BufMut::limit(buffer.append_to(), room);
                ready!(pin!(self.io.read_buf(&mut room)).poll(cx))
            }
            None => match ready!(self.poll_read_own(cx)) {
                Ok(n) if n > 0 => return Poll::Ready(Ok(())),
                other => other,
            },
        };
        match result {
            Ok(0) => {
                self.input_done = true;
                self.feed(|core| core.handle_eof());
            }
            Ok(n) => self.take_input(Input::Lent(n)),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                self.input_done = true;
                // The lent buffer goes back before the end is reported.
                self.feed(|_| {});
                return Poll::Ready(Err(e.into()));
            }
        }
        Poll::Ready(Ok(()))
    }

    /// Reads into this thread's read buffer (see [`READ_SPACE`]) and feeds
    /// what came to the core; the count, 0 at the end of the stream.
    fn poll_read_own(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        // Under a budget, a deflate connection reads less at once: each
        // read reserves what it could inflate to (`input_bound`, about a
        // thousand times the read), and 128 KiB would reserve 132 MiB.
        let inflating =
            self.account.is_some() && self.shared.opened.get().is_some_and(|opened| opened.deflate.is_some());
        let len = if inflating { INFLATING_READ } else { READ_BUF };
        READ_SPACE.with(|space| match space.try_borrow_mut() {
            Ok(mut space) => self.poll_read_into(cx, &mut space[..len]),
            // Only if a stream's read polled another connection on this
            // thread (none of tokio's do): a buffer of its own.
            Err(_) => self.poll_read_into(cx, &mut vec![0; len]),
        })
    }

    fn poll_read_into(&mut self, cx: &mut Context<'_>, space: &mut [u8]) -> Poll<io::Result<usize>> {
        let mut buf = ReadBuf::new(space);
        ready!(Pin::new(&mut self.io).poll_read(cx, &mut buf))?;
        let n = buf.filled().len();
        if n > 0 {
            self.take_input(Input::Read(buf.filled()));
        }
        Poll::Ready(Ok(n))
    }

    /// Feeds the core bytes read (into the thread's buffer, or into the
    /// buffer it lent), under the budget if the connection has one, takes
    /// its events, and takes the core's buffer for the next read if it
    /// lends one.
    fn take_input(&mut self, input: Input<'_>) {
        let clock = self.shared.clock;
        let n = match input {
            Input::Read(bytes) => bytes.len(),
            Input::Lent(n) => n,
        };
        // Output before core: the order every writer takes the locks in
        // (and neither is held across the other's call).
        let unwritten = self.unwritten_if_budgeted();
        let mut core = self.shared.lock_core();
        if let Some(account) = &mut self.account {
            // Reserved before any of the input is stored; `settle` below
            // returns what it did not use.
            let held = held(&core, &self.events, self.lent) + unwritten;
            account.allow_input(&mut core, held, n);
        }
        let before = core.pending_transmit();
        match input {
            Input::Read(bytes) => core.handle_input(clock.now(), bytes),
            Input::Lent(n) => {
                let buffer = self.payload.take().expect("read into a lent buffer");
                core.handle_payload(clock.now(), buffer, n);
            }
        }
        // Taken within this input's allowance, before the charge settles.
        self.payload = match &mut self.account {
            None => RECYCLED.offer(&mut core, READ_BUF, |_, _| true),
            // Under a budget a spare is offered only when the message
            // would move into it, its capacity reserved first (the move
            // happens only within the allowance).
            Some(account) => RECYCLED.offer(&mut core, READ_BUF, |core, capacity| {
                core.spare_wanted(READ_BUF).is_some_and(|wanted| wanted.contains(&capacity))
                    && account.allow_spare(core, capacity, SPARE_MARGIN)
            }),
        };
        self.answers += core.pending_transmit().saturating_sub(before);
        take_events(&mut core, &mut self.events, &mut self.close_status);
        if let Some(account) = &mut self.account {
            account.settle(held(&core, &self.events, self.lent) + unwritten);
        }
    }

    /// Runs an input on the core and takes its events; a buffer the core
    /// lent goes back first, unfilled (the core takes no other input while
    /// it is out).
    fn feed(&mut self, f: impl FnOnce(&mut hybi_core::Connection)) {
        let mut core = self.shared.lock_core();
        if let Some(buffer) = self.payload.take() {
            core.handle_payload(self.shared.clock.now(), buffer, 0);
        }
        let before = core.pending_transmit();
        f(&mut core);
        self.answers += core.pending_transmit().saturating_sub(before);
        take_events(&mut core, &mut self.events, &mut self.close_status);
        drop(core);
        self.settle();
    }

    /// Output taken from the core and not yet written, if the connection
    /// draws on a budget (the lock is not taken otherwise).
    fn unwritten_if_budgeted(&self) -> usize {
        if self.account.is_some() {
            self.shared.lock_output().unwritten()
        } else {
            0
        }
    }

    /// Brings the budget's charge in line with what the connection holds
    /// now. Output a [`Writer`] queued is counted here, on the reader's
    /// next turn, before its next read reserves anything: it leaves less
    /// room for input, as in the blocking driver.
    fn settle(&mut self) {
        if self.account.is_none() {
            return;
        }
        let unwritten = self.unwritten_if_budgeted();
        let core = self.shared.lock_core();
        let held = held(&core, &self.events, self.lent) + unwritten;
        drop(core);
        if let Some(account) = &mut self.account {
            account.settle(held);
        }
    }

    /// The peer's close code and reason, once it closed cleanly.
    pub fn close_status(&self) -> Option<&Close> {
        self.close_status.as_ref()
    }

    crate::opened::opened_getters!(shared);
}

/// What a connection holds for data in transit, as the budget counts it:
/// the core's buffers, the events waiting for `recv`, the message `recv`
/// returned last (output taken from the core and not yet written is added
/// by the caller, which cannot take that lock while it holds the core's).
fn held(core: &hybi_core::Connection, events: &VecDeque<Event>, lent: usize) -> usize {
    core.buffered_bytes()
        + events.iter().map(Event::buffered_bytes).sum::<usize>()
        + events.capacity() * std::mem::size_of::<Event>()
        + lent
}

/// Moves the core's events to the queue, noting the peer's close.
fn take_events(core: &mut hybi_core::Connection, events: &mut VecDeque<Event>, close: &mut Option<Close>) {
    while let Some(event) = core.poll_event() {
        if let Event::Close(status) = &event {
            *close = Some(status.clone());
        }
        events.push_back(event);
    }
}

impl<S: AsyncRead + AsyncWrite> Writer<S> {
    /// Sends a message; see [`WebSocket::send`]. Cancel-safe as it is.
    pub async fn send(&mut self, message: &Message) -> Result<(), Error> {
        self.queue(message)?;
        self.flush().await
    }

    /// Queues a message without writing it; see [`WebSocket::queue`].
    pub fn queue(&mut self, message: &Message) -> Result<(), Error> {
        self.shared.queue(message)
    }

    /// Sends a ping (RFC 6455 only); the [`Reader`] takes in the pong.
    pub async fn ping(&mut self, payload: &[u8]) -> Result<(), Error> {
        self.shared.core(|core| core.send_ping(payload))?;
        self.flush().await
    }

    /// Writes whatever is queued. Cancel-safe.
    pub async fn flush(&mut self) -> Result<(), Error> {
        poll_fn(|cx| self.shared.poll_write_out(Role::Writer, cx)).await
    }

    /// Sends a close with `code` and `reason` (see [`WebSocket::close`])
    /// and returns once it is written: the [`Reader`] receives the answer
    /// and then ends (`Ok(None)`), or fails at the close deadline.
    /// Cancel-safe: the close is queued before the first await.
    pub async fn close(&mut self, code: Option<u16>, reason: &str) -> Result<(), Error> {
        self.shared.begin_close(code, reason)?;
        self.flush().await
    }
}

/// Messages until the end: `None` after a clean end, one `Err` for any
/// other (then `None`). Reaching the end sends the close owed, as
/// [`WebSocket::recv`] does.
impl<S: AsyncRead + AsyncWrite> Stream for WebSocket<S> {
    type Item = Result<Message, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_recv(cx).map(Result::transpose)
    }
}

/// As for [`WebSocket`].
impl<S: AsyncRead + AsyncWrite> Stream for Reader<S> {
    type Item = Result<Message, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_recv(cx).map(Result::transpose)
    }
}

/// Sending: `start_send` queues a message in the core (a server's message
/// over 4 KiB is not copied: it is written from its own buffer, which the
/// `Sink` owns); `poll_flush` writes;
/// `poll_ready` waits while more than 64 KiB wait for the socket, so a slow
/// peer holds back the sender instead of growing memory; `poll_close`
/// closes (1000 in RFC 6455) and waits for the answer.
impl<S: AsyncRead + AsyncWrite> Sink<Message> for WebSocket<S> {
    type Error = Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Pin::new(&mut self.get_mut().writer).poll_ready(cx)
    }

    fn start_send(self: Pin<&mut Self>, message: Message) -> Result<(), Error> {
        self.get_mut().writer.shared.queue_owned(message)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.get_mut().writer.shared.poll_write_out(Role::Writer, cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let this = self.get_mut();
        this.writer.shared.begin_close(Some(1000), "")?;
        this.reader.poll_closed(cx)
    }
}

/// As for [`WebSocket`], except `poll_close`: it sends the close (1000 in
/// RFC 6455) and completes once it is written; the [`Reader`] sees the end.
impl<S: AsyncRead + AsyncWrite> Sink<Message> for Writer<S> {
    type Error = Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let this = self.get_mut();
        if this.shared.queued() > MAX_QUEUED {
            ready!(this.shared.poll_write_out(Role::Writer, cx))?;
        }
        Poll::Ready(Ok(()))
    }

    fn start_send(self: Pin<&mut Self>, message: Message) -> Result<(), Error> {
        self.get_mut().shared.queue_owned(message)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.get_mut().shared.poll_write_out(Role::Writer, cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let this = self.get_mut();
        this.shared.begin_close(Some(1000), "")?;
        this.shared.poll_write_out(Role::Writer, cx)
    }
}
