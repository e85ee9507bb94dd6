//! Buffers of large payloads already written, kept for large messages yet
//! to be read: an echo or a proxy of 4 MiB messages then neither copies
//! each message as it grows (a reallocation copies all that arrived) nor
//! faults fresh pages in for it (`Connection::take_payload_buffer_reusing`).
//!
//! One pool for the process, not one per thread: a runtime moves tasks
//! between its threads, so a buffer written on one thread is as likely to
//! be wanted on another. Per-thread pools under one shared cap measured
//! worse (BENCHMARKS.md): one thread's pool sat full, dropping what it was
//! given, while another's was empty and its connections grew their
//! messages by reallocation.
//!
//! Bounded three ways: [`MAX_RECYCLED`] in all; each buffer at most
//! [`MAX_UNUSED`] unused, after which a task of the runtime drops it (so a
//! server whose large messages stopped gives the memory back, as the abuse
//! suite's `idle-after-large-unbudgeted` checks from outside); and, for a
//! connection under a server's memory budget, offered only once the
//! budget has the buffer's capacity reserved for the move
//! (`Account::allow_spare`): a kept buffer is outside every budget, a
//! message in one is charged for it.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError, TryLockError};
use std::time::Duration;

use ::tokio::runtime::Handle;
use ::tokio::time::{sleep, Instant};

/// The capacity the pool keeps in all: memory the process held a moment
/// ago for messages, kept for large messages that may not come. Enough for
/// sixteen 4 MiB messages between the write of one and the read of the
/// next, across all connections.
pub(super) const MAX_RECYCLED: usize = 64 << 20;

/// How long a buffer is kept unused: a server whose large messages have
/// stopped gives their memory back within twice this, as one that never
/// recycled would (the abuse suite's `idle-after-large-unbudgeted` checks
/// it from outside). Under load a buffer waits microseconds to milliseconds.
pub(super) const MAX_UNUSED: Duration = Duration::from_millis(500);

/// The process's pool ([`Recycled::keep`], [`Recycled::offer`]).
pub(super) static RECYCLED: Recycled = Recycled::new(MAX_RECYCLED, MAX_UNUSED);

/// Emptied buffers, the capacity they hold in all, and what bounds both.
pub(super) struct Recycled {
    kept: Mutex<Kept>,
    /// Capacity of the kept buffers, in all: changed under the lock, read
    /// without it so that a read with nothing kept takes no lock.
    bytes: AtomicUsize,
    limit: usize,
    unused: Duration,
}

#[derive(Default)]
struct Kept {
    /// Buffers and when each was kept, oldest first.
    buffers: Vec<(Vec<u8>, Instant)>,
    /// A task drops what has been kept too long ([`Recycled::sweep`]).
    swept: bool,
}

impl Recycled {
    const fn new(limit: usize, unused: Duration) -> Self {
        Self {
            kept: Mutex::new(Kept { buffers: Vec::new(), swept: false }),
            bytes: AtomicUsize::new(0),
            limit,
            unused,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Kept> {
        self.kept.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Keeps `buffer`, emptied, unless that would pass the limit or no
    /// tokio runtime is there to sweep it later (then it is dropped).
    pub(super) fn keep(&'static self, mut buffer: Vec<u8>) {
        let capacity = buffer.capacity();
        let mut kept = self.lock();
        let held = self.bytes.load(Ordering::Relaxed);
        if held.saturating_add(capacity) > self.limit {
            return;
        }
        if !kept.swept {
            let Ok(runtime) = Handle::try_current() else { return };
            kept.swept = true;
            runtime.spawn(self.sweep());
        }
        buffer.clear();
        kept.buffers.push((buffer, Instant::now()));
        self.bytes.store(held + capacity, Ordering::Relaxed);
    }

    /// Drops the buffers kept longer than `unused`, every `unused`, until
    /// none is left. If its runtime ends first, the task is dropped (run
    /// or not) and takes every kept buffer with it, so that a pool is
    /// never left without a sweeper.
    fn sweep(&'static self) -> impl Future<Output = ()> + Send + 'static {
        struct Sweeper(&'static Recycled);
        impl Drop for Sweeper {
            fn drop(&mut self) {
                let mut kept = self.0.lock();
                kept.buffers.clear();
                kept.swept = false;
                self.0.bytes.store(0, Ordering::Relaxed);
            }
        }
        // Made before the task first runs, so that dropping it unrun
        // drops this too.
        let sweeper = Sweeper(self);
        async move {
            loop {
                sleep(self.unused).await;
                let mut kept = self.lock();
                let now = Instant::now();
                let stale = kept.buffers.partition_point(|(_, at)| now.duration_since(*at) >= self.unused);
                let freed: usize = kept.buffers.drain(..stale).map(|(buffer, _)| buffer.capacity()).sum();
                self.bytes.fetch_sub(freed, Ordering::Relaxed);
                if kept.buffers.is_empty() {
                    // Done, not dropped: the next buffer kept starts the
                    // next sweeper.
                    kept.swept = false;
                    drop(kept);
                    std::mem::forget(sweeper);
                    return;
                }
            }
        }
    }

    /// The core's `take_payload_buffer(at_least)`, offered the buffer kept
    /// last, in place: no change unless the message moves into it, and
    /// then it is no longer kept and what comes back in its place (the
    /// message's old, smaller buffer) goes. Asked after every read, so it
    /// never waits for the lock: a read that finds it taken goes without.
    /// `allow(core, capacity)` is asked first, with the offered buffer's
    /// capacity; false, it is not offered (a connection under a memory
    /// budget reserves the capacity there: `Account::allow_spare`).
    pub(super) fn offer(
        &self,
        core: &mut hybi_core::Connection,
        at_least: usize,
        allow: impl FnOnce(&mut hybi_core::Connection, usize) -> bool,
    ) -> Option<hybi_core::PayloadBuffer> {
        if self.bytes.load(Ordering::Relaxed) == 0 {
            return core.take_payload_buffer(at_least);
        }
        let mut kept = match self.kept.try_lock() {
            Ok(kept) => kept,
            Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(TryLockError::WouldBlock) => return core.take_payload_buffer(at_least),
        };
        let Some((spare, _)) = kept.buffers.last_mut() else {
            return core.take_payload_buffer(at_least);
        };
        let (offered, capacity) = (spare.as_ptr(), spare.capacity());
        if !allow(core, capacity) {
            return core.take_payload_buffer(at_least);
        }
        let lent = core.take_payload_buffer_reusing(at_least, spare);
        if spare.as_ptr() != offered {
            kept.buffers.pop();
            self.bytes.fetch_sub(capacity, Ordering::Relaxed);
        }
        lent
    }

    #[cfg(test)]
    fn held(&self) -> (usize, usize) {
        (self.lock().buffers.len(), self.bytes.load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hybi_core::testing::{drain, transmit, Pair};
    use hybi_core::{ClientRequest, Config, Event, Protocol, Target};

    const BUFFER: usize = 4 << 20;
    const READ: usize = 128 << 10;

    fn pool(buffers: usize, unused: Duration) -> &'static Recycled {
        Box::leak(Box::new(Recycled::new(buffers * BUFFER, unused)))
    }

    fn written() -> Vec<u8> {
        let mut buffer = Vec::with_capacity(BUFFER);
        buffer.extend_from_slice(b"written");
        buffer
    }

    #[tokio::test]
    async fn kept_buffers_stay_within_the_limit_and_are_kept_empty() {
        let pool = pool(3, Duration::from_secs(60));
        for _ in 0..5 {
            pool.keep(written());
        }
        assert_eq!(pool.held(), (3, 3 * BUFFER), "the two that did not fit were dropped");
        assert!(pool.lock().buffers.iter().all(|(buffer, _)| buffer.is_empty()));
    }

    #[tokio::test]
    async fn buffers_kept_unused_go_and_so_do_those_of_a_runtime_that_ends() {
        let unused = Duration::from_millis(100);
        let pool = pool(4, unused);
        let kept = std::time::Instant::now();
        pool.keep(written());
        ::tokio::time::sleep(unused / 2).await;
        pool.keep(written());
        assert_eq!(pool.held(), (2, 2 * BUFFER));
        while pool.held().0 == 2 {
            ::tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(kept.elapsed() >= unused, "not before it was unused that long");
        assert_eq!(pool.held(), (1, BUFFER), "the older one first");
        while pool.held().0 == 1 {
            assert!(kept.elapsed() < Duration::from_secs(5), "the younger one goes too");
            ::tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(pool.held(), (0, 0));

        // Kept under a runtime that then ends: gone with it, and the next
        // runtime's buffers are swept by a sweeper of its own.
        let pool = pool_in_a_runtime_that_ends();
        assert_eq!(pool.held(), (0, 0));
        pool.keep(written());
        assert_eq!(pool.held(), (1, BUFFER));
        assert!(pool.lock().swept, "a new sweeper");
    }

    fn pool_in_a_runtime_that_ends() -> &'static Recycled {
        let pool = pool(4, Duration::from_secs(60));
        std::thread::spawn(move || {
            let runtime = ::tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
            runtime.block_on(async { pool.keep(written()) });
            assert_eq!(pool.held(), (1, BUFFER));
        })
        .join()
        .unwrap();
        pool
    }

    #[test]
    fn without_a_runtime_nothing_is_kept() {
        let pool = pool(4, Duration::from_secs(60));
        pool.keep(written());
        assert_eq!(pool.held(), (0, 0), "no sweeper could give it back");
    }

    /// A connection under a budget: its allowance covers the read at hand
    /// only, so a kept buffer is taken only once its capacity is reserved
    /// from the budget (`Account::allow_spare`), and then charged.
    #[tokio::test]
    async fn under_a_budget_a_kept_buffer_is_taken_once_reserved() {
        use crate::budget::{Account, MemoryBudget};
        use std::sync::Arc;
        for (limit, moves) in [(64 << 20, true), (BUFFER / 2, false)] {
            let pool = pool(1, Duration::from_secs(60));
            pool.keep(Vec::with_capacity(BUFFER));
            let mut pair = open_pair();
            pair.client.send_binary(&vec![7; BUFFER - 64]).unwrap();
            let frame = transmit(&mut pair.client);
            let budget = Arc::new(MemoryBudget::new(limit));
            let mut account = Account::new(Arc::clone(&budget));
            // As the driver feeds a read: the allowance covers it, no more.
            account.allow_input(&mut pair.server, 0, READ);
            pair.server.handle_input(pair.now, &frame[..READ]);
            let wanted = pair.server.spare_wanted(READ).expect("a spare would be taken");
            assert!(wanted.contains(&BUFFER) && *wanted.start() > READ, "{wanted:?}");
            // Without the reservation, the allowance keeps it out (and
            // may keep the message from growing to lend at all).
            if let Some(lent) = pool.offer(&mut pair.server, READ, |_, _| true) {
                pair.server.handle_payload(pair.now, lent, 0);
            }
            assert_eq!(pool.held().0, 1, "not moved within a read's allowance");
            let lent = pool.offer(&mut pair.server, READ, |core, capacity| {
                wanted.contains(&capacity) && account.allow_spare(core, capacity, 64 << 10)
            });
            assert_eq!(pool.held().0 == 0, moves, "limit {limit}");
            if let Some(lent) = lent {
                pair.server.handle_payload(pair.now, lent, 0);
            }
            account.settle(pair.server.buffered_bytes());
            let charged = budget.used();
            if moves {
                assert!(charged >= BUFFER - (64 << 10), "the moved-into buffer is charged: {charged}");
            } else {
                assert!(charged <= limit, "{charged}");
            }
        }
    }

    fn open_pair() -> Pair {
        let target = Target { host: "example.com".into(), port: None, resource: "/".into(), secure: false };
        let client = Config { protocol: Protocol::Rfc6455, ..Config::default() };
        let mut pair = Pair::new(client, ClientRequest::new(target), Config::default(), 1);
        pair.handshake();
        pair
    }

    #[tokio::test]
    async fn a_message_that_moves_into_a_kept_buffer_leaves_the_pool() {
        let pool = pool(2, Duration::from_secs(60));
        pool.keep(Vec::with_capacity(BUFFER));
        pool.keep(Vec::with_capacity(BUFFER));
        let mut pair = open_pair();
        // Nothing to lend between frames: the pool is untouched.
        assert!(pool.offer(&mut pair.server, READ, |_, _| true).is_none());
        assert_eq!(pool.held(), (2, 2 * BUFFER));
        // A 4 MiB binary frame, its header and first 128 KiB read: the
        // message must grow past what arrived to lend the next read.
        pair.client.send_binary(&vec![7; BUFFER - 64]).unwrap();
        let frame = transmit(&mut pair.client);
        pair.server.handle_input(pair.now, &frame[..READ]);
        let last_kept = pool.lock().buffers[1].0.as_ptr();
        let mut lent =
            pool.offer(&mut pair.server, READ, |_, _| true).expect("a binary frame in progress is lent");
        assert_eq!(pool.held(), (1, BUFFER), "taken out of the pool and of its count");
        // The rest of the frame, read into the kept buffer: the message
        // arrives whole, in it.
        let rest = &frame[READ..];
        let n = lent.room_len();
        lent.append_to().extend_from_slice(&rest[..n]);
        pair.server.handle_payload(pair.now, lent, n);
        pair.server.handle_input(pair.now, &rest[n..]);
        let events = drain(&mut pair.server);
        let [Event::Binary(message)] = &events[..] else { panic!("one binary message") };
        assert_eq!(message.as_ptr(), last_kept, "the message is the buffer kept last");
        assert!(message.len() == BUFFER - 64 && message.iter().all(|&b| b == 7), "arrived whole");
    }
}
