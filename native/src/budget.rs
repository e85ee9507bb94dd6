//! A server-wide memory budget: one pool of bytes that every connection of
//! a server draws on for what it buffers (messages being received and
//! inflated, events not yet read, output queued), so that many connections
//! each holding a large message cannot together exhaust memory.
//!
//! The pool is charged before memory is committed, not after: before each
//! input a connection reserves what that input could make it hold (the
//! core's `input_bound`, or what is left of the pool), gives the core that
//! much more allowance (`set_input_allowance`), and returns what the input
//! did not use. Reservations are taken with compare-and-swap, so
//! connections reading at the same time cannot jointly overshoot; a
//! connection whose input does not fit is failed by the core with close
//! code 1009, and the others are unaffected.

use std::sync::atomic::{AtomicUsize, Ordering};

/// The pool: `limit` bytes, of which `used` are charged to connections.
#[derive(Debug)]
pub(crate) struct MemoryBudget {
    limit: usize,
    used: AtomicUsize,
}

impl MemoryBudget {
    pub(crate) fn new(limit: usize) -> MemoryBudget {
        MemoryBudget { limit, used: AtomicUsize::new(0) }
    }

    /// Bytes charged now.
    pub(crate) fn used(&self) -> usize {
        self.used.load(Ordering::Acquire)
    }

    /// Takes up to `want` bytes, as many as are free; returns how many.
    pub(crate) fn reserve_up_to(&self, want: usize) -> usize {
        let mut used = self.used.load(Ordering::Acquire);
        loop {
            let take = want.min(self.limit.saturating_sub(used));
            if take == 0 {
                return 0;
            }
            match self.used.compare_exchange_weak(used, used + take, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return take,
                Err(now) => used = now,
            }
        }
    }

    /// Charges `bytes` whether or not they fit: memory already committed
    /// that no reservation covered (output the application queued, which
    /// then leaves less room for input).
    pub(crate) fn charge(&self, bytes: usize) {
        self.used.fetch_add(bytes, Ordering::AcqRel);
    }

    /// Gives back `bytes` reserved or charged earlier.
    pub(crate) fn release(&self, bytes: usize) {
        self.used.fetch_sub(bytes, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn reservations_never_exceed_the_limit_together() {
        let budget = Arc::new(MemoryBudget::new(1_000_000));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let budget = Arc::clone(&budget);
                std::thread::spawn(move || (0..20_000).map(|_| budget.reserve_up_to(7)).sum::<usize>())
            })
            .collect();
        let taken: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
        assert_eq!(taken, 1_000_000);
        assert_eq!(budget.used(), 1_000_000);
        assert_eq!(budget.reserve_up_to(1), 0);
        budget.release(10);
        assert_eq!(budget.reserve_up_to(100), 10);
    }
}
