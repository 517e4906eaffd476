//! The router's seeded random source.
//!
//! A SplitMix64 generator: one `u64` of state, so it serialises with the router, replays bit-for-bit
//! from a journal, and never changes output across dependency upgrades (invariant 7, determinism).
//! It is used only by [`Strategy::Random`](crate::Strategy::Random); statistical quality is ample for
//! picking among candidates.

use serde::{Deserialize, Serialize};

/// A deterministic SplitMix64 pseudo-random generator.
///
/// # Example
/// ```
/// use switchboard::SeededRng;
/// let mut a = SeededRng::new(7);
/// let mut b = SeededRng::new(7);
/// assert_eq!(a.below(10), b.below(10));
/// assert!(a.below(3) < 3);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeededRng {
    state: u64,
}

impl SeededRng {
    /// A generator seeded with `seed`.
    #[must_use]
    pub const fn new(seed: u64) -> Self {
        SeededRng { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform integer in `0..n` (Lemire's multiply-shift; `n == 0` gives 0).
    pub fn below(&mut self, n: usize) -> usize {
        let x = u128::from(self.next_u64());
        // (x * n) >> 64 < n, so the result fits in usize.
        #[allow(clippy::cast_possible_truncation)]
        let r = ((x * n as u128) >> 64) as usize;
        r
    }
}
