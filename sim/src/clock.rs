//! The simulator's clock: real time plus an offset that only moves forward.
//!
//! Every expiry, quota and rate-limit window reads this clock, so tests can jump over a 5-minute code
//! lifetime or a 30-day refresh token without sleeping.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds added to Beijing's UTC offset when deciding which "day" a daily quota belongs to:
/// WeChat's counters roll over at midnight China time.
const BEIJING_OFFSET_SECS: i64 = 8 * 3600;

#[derive(Debug, Default)]
pub(crate) struct Clock {
    offset_secs: AtomicI64,
}

impl Clock {
    /// Unix time in seconds, as the simulated world sees it.
    pub(crate) fn now(&self) -> i64 {
        let real = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        real.saturating_add(self.offset_secs.load(Ordering::Relaxed))
    }

    /// Moves simulated time forward; returns the new `now`.
    pub(crate) fn advance(&self, seconds: u64) -> i64 {
        let delta = i64::try_from(seconds).unwrap_or(i64::MAX);
        self.offset_secs.fetch_add(delta, Ordering::Relaxed);
        self.now()
    }
}

/// Index of the Beijing calendar day containing `unix`, the key of daily quotas.
pub(crate) fn beijing_day(unix: i64) -> i64 {
    (unix + BEIJING_OFFSET_SECS).div_euclid(86_400)
}

/// Index of the wall-clock minute containing `unix`, the key of per-minute quotas.
pub(crate) fn minute(unix: i64) -> i64 {
    unix.div_euclid(60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advance_moves_now_forward() {
        let clock = Clock::default();
        let before = clock.now();
        let after = clock.advance(3600);
        assert!(after >= before + 3600);
    }

    #[test]
    fn beijing_day_rolls_over_at_16_utc() {
        // 2024-01-01 15:59:59 UTC is 23:59:59 in Beijing; one second later is the next day there.
        let last_second = 1_704_124_799;
        assert_eq!(beijing_day(last_second) + 1, beijing_day(last_second + 1));
    }
}
