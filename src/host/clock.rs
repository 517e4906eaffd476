//! Clocks for the [`Driver`](crate::Driver). The pure [`Router`](crate::Router) never reads one.

use crate::Time;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// A source of the current time.
///
/// # Contract
/// `now` must never go backwards between calls on the same clock (the router refuses time that
/// does; the driver clamps to the router's last time as a safety net).
pub trait Clock {
    /// The current time.
    fn now(&self) -> Time;
}

/// Wall-clock time: milliseconds since the Unix epoch (clamped to be monotonic).
///
/// # Example
/// ```
/// use switchboard::{Clock, SystemClock};
/// let c = SystemClock::default();
/// assert!(c.now().as_millis() > 1_600_000_000_000);
/// ```
#[derive(Debug, Default)]
pub struct SystemClock {
    last: AtomicU64,
}

impl Clock for SystemClock {
    fn now(&self) -> Time {
        let ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        Time(self.last.fetch_max(ms, Ordering::Relaxed).max(ms))
    }
}

/// A clock moved by hand: for tests, simulations and replays. Clones share the same time.
///
/// # Example
/// ```
/// use switchboard::{Clock, ManualClock, Time};
/// let c = ManualClock::new(Time::from_secs(5));
/// let shared = c.clone();
/// c.advance_millis(1500);
/// assert_eq!(shared.now(), Time::from_millis(6500));
/// ```
#[derive(Debug, Clone, Default)]
pub struct ManualClock(Arc<AtomicU64>);

impl ManualClock {
    /// A clock reading `t`.
    #[must_use]
    pub fn new(t: Time) -> Self {
        ManualClock(Arc::new(AtomicU64::new(t.as_millis())))
    }
    /// Sets the time (ignored if earlier than the current reading).
    pub fn set(&self, t: Time) {
        self.0.fetch_max(t.as_millis(), Ordering::Relaxed);
    }
    /// Moves the time forward.
    pub fn advance_millis(&self, ms: u64) {
        self.0.fetch_add(ms, Ordering::Relaxed);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Time {
        Time(self.0.load(Ordering::Relaxed))
    }
}
