//! Time as a dependency: rules that depend on time (login lockouts, token
//! expiry, rate limits) read a [`Clock`], the real one in production and a
//! [`ManualClock`] in tests, so no test sleeps for a rule to fire.

use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A source of wall-clock time, in unix milliseconds.
pub trait Clock: Send + Sync + fmt::Debug {
    /// Now, as unix milliseconds.
    fn now_ms(&self) -> i64;
}

/// A shared clock handle.
pub type SharedClock = Arc<dyn Clock>;

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl SystemClock {
    /// A shared handle on the system clock.
    pub fn shared() -> SharedClock {
        Arc::new(SystemClock)
    }
}

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        crate::util::now_ms()
    }
}

/// A clock that only moves when told to (tests, simulations). Clones share
/// the same time.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    /// A clock stopped at `now_ms`.
    pub fn at(now_ms: i64) -> ManualClock {
        ManualClock(Arc::new(AtomicI64::new(now_ms)))
    }

    /// A clock stopped at the current system time.
    pub fn starting_now() -> ManualClock {
        ManualClock::at(crate::util::now_ms())
    }

    /// Move the clock forward.
    pub fn advance(&self, by: Duration) {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.0.fetch_add(ms, Ordering::SeqCst);
    }

    /// A shared handle on this clock.
    pub fn shared(&self) -> SharedClock {
        Arc::new(self.clone())
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// Adapter so that `governor` rate limiters read a [`Clock`] (their time is
/// then fake in tests too).
#[derive(Debug, Clone)]
pub struct GovernorClock(pub SharedClock);

impl governor::clock::Clock for GovernorClock {
    type Instant = governor::nanos::Nanos;

    fn now(&self) -> Self::Instant {
        // Nanoseconds since the epoch: fits u64 until the year 2554.
        let ms = u64::try_from(self.0.now_ms()).unwrap_or(0);
        governor::nanos::Nanos::from(ms.saturating_mul(1_000_000))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told_and_clones_share_time() {
        let c = ManualClock::at(1_000);
        let shared = c.shared();
        assert_eq!(shared.now_ms(), 1_000);
        c.advance(Duration::from_secs(2));
        assert_eq!(shared.now_ms(), 3_000);
        let g = GovernorClock(shared);
        assert_eq!(
            u64::from(governor::clock::Clock::now(&g)),
            3_000 * 1_000_000
        );
    }

    #[test]
    fn system_clock_is_close_to_now() {
        let d = (SystemClock.now_ms() - crate::util::now_ms()).abs();
        assert!(d < 5_000);
    }
}
