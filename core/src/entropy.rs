//! Randomness as an input.
//!
//! A client needs unpredictable bytes: draft-76 keys, RFC 6455's
//! `Sec-WebSocket-Key` nonce and a fresh masking key for every frame it sends.
//! The core has no random source of its own; the driver hands one in
//! (`getrandom`, `crypto.getRandomValues`, a seeded generator in tests).

/// A source of random bytes supplied by the driver.
///
/// RFC 6455 §10.3 requires masking keys that the application cannot predict,
/// so production drivers should back this with a cryptographically secure
/// generator.
pub trait Entropy {
    /// Fills `buf` entirely with random bytes.
    fn fill(&mut self, buf: &mut [u8]);
}

impl<F: FnMut(&mut [u8])> Entropy for F {
    fn fill(&mut self, buf: &mut [u8]) {
        self(buf)
    }
}

/// Draws a uniformly distributed number in `0..bound` (`bound > 0`).
///
/// Uses rejection sampling so that no value is favoured, which matters for
/// draft-76 keys: a biased space count would make keys easier to guess.
pub(crate) fn uniform_below(entropy: &mut dyn Entropy, bound: u32) -> u32 {
    debug_assert!(bound > 0);
    // The largest multiple of `bound` that fits: values at or above it would
    // bias the low results, so they are drawn again.
    let zone = u32::MAX - (u32::MAX % bound);
    loop {
        let mut bytes = [0u8; 4];
        entropy.fill(&mut bytes);
        let value = u32::from_le_bytes(bytes);
        if value < zone {
            return value % bound;
        }
    }
}
