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
//!
//! The policy is written once here, as [`Account`], for both drivers: the
//! blocking connection and the async reader each keep one and call
//! [`Account::allow_input`] before feeding the core a read and
//! [`Account::settle`] after.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// What a connection may hold for data in transit without drawing on the
/// server's memory budget. Connections reserve from the budget before each
/// read what that read could make them hold (a 32 KiB deflate read may
/// inflate to 33 MiB), so while large senders read, the pool can be
/// reserved to its end for a moment; without a floor of its own, a client
/// sending small messages at that moment would be failed with 1009 for
/// what others hold. With it, small messages always fit, and the server's
/// bound grows by this much per connection (64 MiB at 1,024).
pub(crate) const UNBUDGETED: usize = 64 * 1024;

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

/// One connection's share of a server's [`MemoryBudget`]: what it has
/// charged, given back when the account is dropped with the connection.
#[derive(Debug)]
pub(crate) struct Account {
    budget: Arc<MemoryBudget>,
    charged: usize,
}

impl Account {
    pub(crate) fn new(budget: Arc<MemoryBudget>) -> Account {
        Account { budget, charged: 0 }
    }

    /// Before the core takes a read of `n` bytes, while the connection
    /// holds `held` for data in transit: reserves what the read could make
    /// the core hold (its `input_bound`) beyond what the connection may
    /// hold unbudgeted, or what is left of the pool, and gives the core
    /// that much allowance; input past it fails the connection with 1009
    /// before it is stored. [`settle`](Self::settle) afterwards returns
    /// what the read did not use.
    pub(crate) fn allow_input(&mut self, core: &mut hybi_core::Connection, held: usize, n: usize) {
        let unbudgeted = UNBUDGETED.saturating_sub(held);
        let reserved = self.budget.reserve_up_to(core.input_bound(n).saturating_sub(unbudgeted));
        self.charged += reserved;
        core.set_input_allowance(core.buffered_bytes() + unbudgeted + reserved);
    }

    /// Before the core is offered a spare buffer of `capacity` bytes to
    /// move its message into (`Connection::take_payload_buffer_reusing`,
    /// which moves only within the allowance): reserves that much more and
    /// lets the core hold it on top of what it holds, with `margin` for what
    /// the core keeps free. False if the pool cannot spare it all (then the
    /// spare is not offered; what was reserved goes back at
    /// [`settle`](Self::settle), which afterwards charges what the move
    /// took).
    #[cfg(feature = "tokio")]
    pub(crate) fn allow_spare(
        &mut self,
        core: &mut hybi_core::Connection,
        capacity: usize,
        margin: usize,
    ) -> bool {
        let want = capacity.saturating_add(margin);
        let reserved = self.budget.reserve_up_to(want);
        self.charged += reserved;
        if reserved < want {
            return false;
        }
        core.set_input_allowance(core.buffered_bytes().saturating_add(want));
        true
    }

    /// Brings the charge in line with what the connection holds now,
    /// `held`, beyond its unbudgeted floor.
    pub(crate) fn settle(&mut self, held: usize) {
        let charge = held.saturating_sub(UNBUDGETED);
        if charge > self.charged {
            self.budget.charge(charge - self.charged);
        } else {
            self.budget.release(self.charged - charge);
        }
        self.charged = charge;
    }
}

impl Drop for Account {
    fn drop(&mut self) {
        self.budget.release(std::mem::take(&mut self.charged));
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
