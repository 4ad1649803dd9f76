//! Which windows a stream fetches next: pure functions of its checkpoint and the time.
//!
//! Backfill walks from the watermark to "now" in steps cut at UTC midnights (Zoom's
//! account logs are date-granular, so a day is the natural unit), skipping windows
//! already delivered out of order and those in flight. Once the watermark is within a
//! poll interval of now, the stream is live: each poll reads `[watermark - lookback, now)`
//! so late records are found, and the seen ids keep re-read records from going out twice.

use chrono::{DateTime, Duration, DurationRound, Utc};
use trawl_model::{Checkpoint, Window};

/// The start of a new stream's backfill: `backfill` ago, floored to a UTC midnight, and
/// never earlier than the API keeps data (with a day's margin).
pub fn backfill_start(
    now: DateTime<Utc>,
    backfill: Duration,
    retention: Duration,
) -> DateTime<Utc> {
    let wanted = now - backfill;
    let oldest = now - retention + Duration::days(1);
    let start = wanted.max(oldest);
    let floored = start.duration_trunc(Duration::days(1)).unwrap_or(start);
    if floored < oldest {
        start.duration_trunc(Duration::seconds(1)).unwrap_or(start)
    } else {
        floored
    }
}

/// The next backfill windows between the watermark and `until`, oldest first, at most
/// `max` of them, none already done or in `in_flight`. Windows are cut at UTC midnights
/// and at most `step` long; the start is moved forward to what the API still keeps.
pub fn next_backfill_windows(
    cp: &Checkpoint,
    until: DateTime<Utc>,
    step: Duration,
    oldest: DateTime<Utc>,
    in_flight: &[Window],
    max: usize,
) -> Vec<Window> {
    let from = cp.watermark.max(oldest);
    let Some(span) = Window::new(from, until) else {
        return Vec::new();
    };
    span.split_days()
        .into_iter()
        .flat_map(|day| day.split(step))
        .filter(|w| !cp.is_done(w) && !in_flight.iter().any(|f| overlaps(f, w)))
        .take(max)
        .collect()
}

fn overlaps(a: &Window, b: &Window) -> bool {
    a.start < b.end && b.start < a.end
}

/// Whether the stream has caught up: its watermark is within `poll_interval` of now.
pub fn caught_up(cp: &Checkpoint, now: DateTime<Utc>, poll_interval: Duration) -> bool {
    now - cp.watermark <= poll_interval
}

/// The window of a live poll: from `lookback` before the watermark to now.
pub fn live_window(
    cp: &Checkpoint,
    now: DateTime<Utc>,
    lookback: Duration,
    oldest: DateTime<Utc>,
) -> Option<Window> {
    Window::new((cp.watermark - lookback).max(oldest), now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use trawl_model::{SourceKind, StreamKey, TenantId};

    fn at(d: u32, h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, d, h, 0, 0).unwrap()
    }

    fn cp(wm: DateTime<Utc>) -> Checkpoint {
        let key = StreamKey::new(TenantId::new("t").unwrap(), SourceKind::ZoomOperationLogs);
        Checkpoint::new(key, wm, wm)
    }

    #[test]
    fn backfill_starts_at_a_midnight_within_retention() {
        let now = at(31, 15);
        assert_eq!(
            backfill_start(now, Duration::days(30), Duration::days(182)),
            at(1, 0)
        );
        let far = backfill_start(now, Duration::days(400), Duration::days(182));
        assert!(far >= now - Duration::days(181));
    }

    #[test]
    fn windows_are_days_skipping_done_and_in_flight() {
        let mut c = cp(at(1, 0));
        c.complete_window(Window::new(at(3, 0), at(4, 0)).unwrap());
        let in_flight = [Window::new(at(1, 0), at(2, 0)).unwrap()];
        let w = next_backfill_windows(&c, at(5, 12), Duration::days(1), at(1, 0), &in_flight, 10);
        assert_eq!(
            w,
            vec![
                Window::new(at(2, 0), at(3, 0)).unwrap(),
                Window::new(at(4, 0), at(5, 0)).unwrap(),
                Window::new(at(5, 0), at(5, 12)).unwrap(),
            ]
        );
        let w = next_backfill_windows(&c, at(5, 12), Duration::days(1), at(1, 0), &in_flight, 1);
        assert_eq!(w.len(), 1);
    }

    #[test]
    fn live_after_catching_up() {
        let c = cp(at(5, 12));
        assert!(caught_up(
            &c,
            at(5, 12) + Duration::minutes(4),
            Duration::minutes(5)
        ));
        assert!(!caught_up(&c, at(5, 13), Duration::minutes(5)));
        let w = live_window(&c, at(5, 13), Duration::hours(6), at(1, 0)).unwrap();
        assert_eq!(w, Window::new(at(5, 6), at(5, 13)).unwrap());
    }
}
