//! Exponential back-off with jitter, per target; time is passed in.

use std::time::Duration;

use chrono::{DateTime, Utc};

/// When a target may be tried again.
///
/// ```
/// use std::time::Duration;
/// use cr_storage::Backoff;
/// let now = chrono::Utc::now();
/// let mut b = Backoff::new(Duration::from_secs(10), Duration::from_secs(600));
/// assert!(b.due(now));
/// let next = b.on_failure(now, 0.5);
/// assert!(!b.due(now));
/// assert_eq!(next - now, chrono::Duration::seconds(7) + chrono::Duration::milliseconds(500));
/// b.on_success();
/// assert!(b.due(now));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backoff {
    base: Duration,
    max: Duration,
    failures: u32,
    next_at: Option<DateTime<Utc>>,
}

impl Backoff {
    /// First retry after about `base`, doubling per failure up to `max`.
    pub fn new(base: Duration, max: Duration) -> Self {
        Self { base, max, failures: 0, next_at: None }
    }

    /// Whether an attempt may start at `now`.
    pub fn due(&self, now: DateTime<Utc>) -> bool {
        self.next_at.is_none_or(|t| now >= t)
    }

    /// The earliest time of the next attempt (`None`: now).
    pub fn next_at(&self) -> Option<DateTime<Utc>> {
        self.next_at
    }

    /// Failures in a row.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Records a failure at `now`; `jitter` in `[0, 1)` spreads the delay over
    /// `[delay/2, delay)`. Returns the time of the next attempt.
    pub fn on_failure(&mut self, now: DateTime<Utc>, jitter: f64) -> DateTime<Utc> {
        let exp = self.failures.min(30);
        self.failures = self.failures.saturating_add(1);
        let delay = self.base.saturating_mul(1u32 << exp.min(20)).min(self.max);
        let j = jitter.clamp(0.0, 1.0);
        let delay = delay.mul_f64(0.5 + 0.5 * j);
        let next = now + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::MAX);
        self.next_at = Some(next);
        next
    }

    /// Records a success: the next attempt may start at once.
    pub fn on_success(&mut self) {
        self.failures = 0;
        self.next_at = None;
    }
}

/// A deterministic pseudo-random number in `[0, 1)` from `seed` (splitmix64).
pub(crate) fn jitter(seed: u64) -> f64 {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn doubles_and_caps() {
        let t0 = Utc::now();
        let mut b = Backoff::new(Duration::from_secs(10), Duration::from_secs(60));
        let d: Vec<i64> = (0..5).map(|_| (b.on_failure(t0, 0.999_999) - t0).num_seconds()).collect();
        assert_eq!(d, [9, 19, 39, 59, 59]);
        assert_eq!(b.failures(), 5);
    }

    #[test]
    fn jitter_spreads() {
        let v: Vec<f64> = (0..1000).map(jitter).collect();
        assert!(v.iter().all(|x| (0.0..1.0).contains(x)));
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        assert!((0.4..0.6).contains(&mean), "{mean}");
    }
}
