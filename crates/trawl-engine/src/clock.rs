//! The one place the engine reads the time.
//!
//! Everything time-dependent (windows, lag, daily quota resets, backoff, poll schedules)
//! asks a [`Clock`]. In production it is the wall clock; in tests it is anchored to a
//! start instant and advanced by tokio's clock, so a test under `start_paused` can run a
//! day of polling in milliseconds and stay deterministic.

use chrono::{DateTime, Utc};
use tokio::time::Instant;

#[derive(Debug, Clone)]
pub enum Clock {
    /// `Utc::now()`.
    System,
    /// `anchor` plus the time tokio's clock has moved since `at`.
    Tokio { anchor: DateTime<Utc>, at: Instant },
}

impl Clock {
    /// A clock that reads `start` now and follows tokio's (possibly paused) clock.
    pub fn following_tokio(start: DateTime<Utc>) -> Self {
        Clock::Tokio {
            anchor: start,
            at: Instant::now(),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        match self {
            Clock::System => Utc::now(),
            Clock::Tokio { anchor, at } => {
                *anchor + chrono::Duration::from_std(at.elapsed()).unwrap_or_default()
            }
        }
    }

    /// The tokio instant at which the clock will read `t` (now, if `t` has passed).
    pub fn instant_at(&self, t: DateTime<Utc>) -> Instant {
        let now = Instant::now();
        match (t - self.now()).to_std() {
            Ok(d) => now + d,
            Err(_) => now,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[tokio::test(start_paused = true)]
    async fn follows_the_paused_tokio_clock() {
        let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let c = Clock::following_tokio(start);
        assert_eq!(c.now(), start);
        tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
        assert_eq!(c.now(), start + chrono::Duration::hours(1));
        let at = c.instant_at(start + chrono::Duration::hours(2));
        assert_eq!(at - Instant::now(), std::time::Duration::from_secs(3600));
    }
}
