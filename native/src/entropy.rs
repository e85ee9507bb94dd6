//! Randomness for the core: the operating system's generator, buffered.
//!
//! An RFC 6455 client needs four fresh bytes for every frame it sends. One
//! `getrandom` call per frame would put a system call on every send, so the
//! pool draws 4 KiB at a time and hands it out in pieces: one call per 1,024
//! masks. Every byte is used once.

use hybi_core::Entropy;

/// How many bytes one refill draws from the operating system.
const POOL_SIZE: usize = 4096;

/// The OS generator (`getrandom`) behind a 4 KiB pool, as the core's
/// [`Entropy`]. The pool is allocated on first use, so a connection that
/// never draws (a server's) costs nothing.
#[derive(Default)]
pub struct OsEntropy {
    pool: Vec<u8>,
    /// Bytes of `pool` already handed out.
    used: usize,
    /// How many times the OS was asked (for tests).
    refills: u64,
}

impl OsEntropy {
    /// An empty pool; the first draw fills it.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many times the pool asked the operating system for bytes.
    pub fn refills(&self) -> u64 {
        self.refills
    }

    fn os_fill(&mut self, buf: &mut [u8]) {
        self.refills += 1;
        // Failure of the OS generator leaves nothing safe to mask with; on
        // the platforms std supports it does not happen after boot.
        getrandom::fill(buf).expect("the operating system's random number generator failed");
    }
}

impl Entropy for OsEntropy {
    fn fill(&mut self, buf: &mut [u8]) {
        if buf.len() > POOL_SIZE / 4 {
            // Large draws gain nothing from the pool.
            return self.os_fill(buf);
        }
        if self.pool.len() - self.used < buf.len() {
            let mut pool = std::mem::take(&mut self.pool);
            pool.resize(POOL_SIZE, 0);
            self.os_fill(&mut pool);
            self.pool = pool;
            self.used = 0;
        }
        let end = self.used + buf.len();
        buf.copy_from_slice(&self.pool[self.used..end]);
        // Handed out once: a copy left in memory would be a key to replay.
        self.pool[self.used..end].fill(0);
        self.used = end;
    }
}

impl std::fmt::Debug for OsEntropy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OsEntropy").field("left", &(self.pool.len() - self.used)).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_refill_per_thousand_masks() {
        let mut entropy = OsEntropy::new();
        let mut masks = std::collections::HashSet::new();
        for _ in 0..1024 {
            let mut mask = [0u8; 4];
            entropy.fill(&mut mask);
            masks.insert(mask);
        }
        assert_eq!(entropy.refills(), 1);
        // 1,024 draws of 32 bits: a repeat is a one-in-8-million event.
        assert!(masks.len() >= 1023, "masks repeat: {}", masks.len());
        let mut mask = [0u8; 4];
        entropy.fill(&mut mask);
        assert_eq!(entropy.refills(), 2);
    }

    #[test]
    fn large_draws_bypass_the_pool() {
        let mut entropy = OsEntropy::new();
        let mut big = [0u8; 2048];
        entropy.fill(&mut big);
        assert!(big.iter().any(|&b| b != 0));
        assert_eq!(entropy.refills(), 1);
        let mut small = [0u8; 16];
        entropy.fill(&mut small);
        assert_eq!(entropy.refills(), 2);
    }
}
