//! The simulated clock every decision of the simulator reads.
//!
//! Token expiry, page-token expiry, rate buckets, daily caps at 00:00 UTC, the 6-month
//! horizon and which records are visible all depend on "now". Tests freeze it
//! (`speed = 0`) and move it with `advance`, so none of them has to sleep.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Instant;

use chrono::{DateTime, Duration, TimeZone, Utc};

use crate::config::ClockConfig;

pub(crate) struct SimClock {
    start_ms: i64,
    speed: f64,
    wall_start: Instant,
    advanced_ms: AtomicI64,
    /// Never answer an instant older than one already answered (wall clock jitter).
    last_ms: AtomicI64,
}

impl SimClock {
    pub(crate) fn new(cfg: &ClockConfig) -> Self {
        let start = cfg.start.unwrap_or_else(Utc::now);
        SimClock {
            start_ms: start.timestamp_millis(),
            speed: cfg.speed,
            wall_start: Instant::now(),
            advanced_ms: AtomicI64::new(0),
            last_ms: AtomicI64::new(i64::MIN),
        }
    }

    /// The simulated instant at start-up.
    pub(crate) fn start_ms(&self) -> i64 {
        self.start_ms
    }

    /// Now, in milliseconds since the epoch.
    pub(crate) fn now_ms(&self) -> i64 {
        let wall = self.wall_start.elapsed().as_secs_f64() * 1000.0 * self.speed;
        let now = self.start_ms + wall as i64 + self.advanced_ms.load(Ordering::SeqCst);
        let prev = self.last_ms.fetch_max(now, Ordering::SeqCst);
        now.max(prev)
    }

    pub(crate) fn now(&self) -> DateTime<Utc> {
        from_ms(self.now_ms())
    }

    /// Moves the clock forward; negative durations are ignored (time never goes back).
    pub(crate) fn advance(&self, d: Duration) {
        let ms = d.num_milliseconds();
        if ms > 0 {
            self.advanced_ms.fetch_add(ms, Ordering::SeqCst);
        }
    }
}

pub(crate) const DAY_MS: i64 = 86_400_000;

pub(crate) fn from_ms(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// Days since the epoch of the UTC day holding `ms`.
pub(crate) fn day_of(ms: i64) -> i64 {
    ms.div_euclid(DAY_MS)
}

/// The next 00:00 UTC strictly after `ms`.
pub(crate) fn next_midnight_ms(ms: i64) -> i64 {
    (day_of(ms) + 1) * DAY_MS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frozen_clock_moves_only_when_advanced() {
        let start = Utc.with_ymd_and_hms(2025, 3, 1, 23, 59, 0).unwrap();
        let c = SimClock::new(&ClockConfig {
            start: Some(start),
            speed: 0.0,
        });
        assert_eq!(c.now(), start);
        c.advance(Duration::seconds(90));
        assert_eq!(c.now(), start + Duration::seconds(90));
        assert_eq!(
            from_ms(next_midnight_ms(c.now_ms())),
            Utc.with_ymd_and_hms(2025, 3, 3, 0, 0, 0).unwrap()
        );
    }
}
