//! Caller-supplied time.
//!
//! The router never reads a clock. Every call takes a [`Time`]: milliseconds since an epoch the host
//! chooses (Unix time, process start, simulation start — anything monotonic). Durations in
//! configuration are plain milliseconds (`u64`).

use serde::{Deserialize, Serialize};
use std::fmt;

/// A point in time, in milliseconds since a host-chosen epoch.
///
/// # Example
/// ```
/// use switchboard::Time;
/// let t = Time::from_secs(90);
/// assert_eq!(t.as_millis(), 90_000);
/// assert_eq!(t.plus_millis(500), Time::from_millis(90_500));
/// assert_eq!(Time::from_secs_f64(1.5), Some(Time::from_millis(1500)));
/// assert_eq!(Time::from_secs_f64(f64::NAN), None);
/// ```
#[derive(
    Copy, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Time(pub u64);

impl Time {
    /// The epoch.
    pub const ZERO: Time = Time(0);

    /// A time `ms` milliseconds after the epoch.
    #[must_use]
    pub const fn from_millis(ms: u64) -> Self {
        Time(ms)
    }

    /// A time `s` whole seconds after the epoch (saturating).
    #[must_use]
    pub const fn from_secs(s: u64) -> Self {
        Time(s.saturating_mul(1000))
    }

    /// A time from fractional seconds; `None` for negative, NaN, infinite or out-of-range input.
    #[must_use]
    pub fn from_secs_f64(s: f64) -> Option<Self> {
        let ms = (s * 1000.0).round();
        if ms.is_finite() && (0.0..1.8e19).contains(&ms) {
            // In range of u64 and integral after round(): the cast is exact.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            Some(Time(ms as u64))
        } else {
            None
        }
    }

    /// Milliseconds since the epoch.
    #[must_use]
    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// Seconds since the epoch as a float.
    #[must_use]
    #[allow(clippy::cast_precision_loss)]
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1000.0
    }

    /// This time plus `ms` milliseconds (saturating).
    #[must_use]
    pub const fn plus_millis(self, ms: u64) -> Self {
        Time(self.0.saturating_add(ms))
    }

    /// Milliseconds from `earlier` to `self`, or 0 if `earlier` is later.
    #[must_use]
    pub const fn millis_since(self, earlier: Time) -> u64 {
        self.0.saturating_sub(earlier.0)
    }
}

impl fmt::Display for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:03}s", self.0 / 1000, self.0 % 1000)
    }
}
