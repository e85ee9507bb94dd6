//! Time for the core: `std::time::Instant` as milliseconds since the
//! connection's start.

use std::time::{Duration, Instant};

/// A connection's clock: its epoch is the moment it was made.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Clock {
    epoch: Instant,
}

impl Clock {
    pub(crate) fn new() -> Self {
        Clock::since(Instant::now())
    }

    /// A clock whose epoch is `epoch`: for a server, the moment `accept`
    /// returned, so that the handshake deadline counts the time the
    /// connection waited for its thread and for TLS too.
    pub(crate) fn since(epoch: Instant) -> Self {
        Clock { epoch }
    }

    /// The epoch itself, as the core counts time (its zero).
    pub(crate) fn start(&self) -> hybi_core::Instant {
        self.at(self.epoch)
    }

    /// The std instant `after` the epoch, for deadlines kept outside the
    /// core (the TLS handshake's); `None` for no deadline.
    pub(crate) fn deadline(&self, after: Option<Duration>) -> Option<Instant> {
        after.and_then(|after| self.epoch.checked_add(after))
    }

    /// Now, as the core counts time.
    pub(crate) fn now(&self) -> hybi_core::Instant {
        self.at(Instant::now())
    }

    pub(crate) fn at(&self, instant: Instant) -> hybi_core::Instant {
        let millis = instant.saturating_duration_since(self.epoch).as_millis();
        hybi_core::Instant::from_millis(u64::try_from(millis).unwrap_or(u64::MAX))
    }

    /// How long from now until `deadline` (zero if it has passed).
    pub(crate) fn until(&self, deadline: hybi_core::Instant) -> Duration {
        deadline.saturating_duration_since(self.now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_milliseconds_from_the_epoch() {
        let clock = Clock::new();
        let later = clock.epoch + Duration::from_millis(1500);
        assert_eq!(clock.at(later).as_millis(), 1500);
        assert_eq!(clock.at(clock.epoch - Duration::from_millis(5)).as_millis(), 0);
        let deadline = clock.now() + Duration::from_secs(10);
        let left = clock.until(deadline);
        assert!(left <= Duration::from_secs(10) && left >= Duration::from_secs(9));
    }
}
