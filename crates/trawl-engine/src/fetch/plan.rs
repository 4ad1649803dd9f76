//! Which windows a stream fetches next: pure functions of its checkpoint and the time.
//!
//! Backfill walks from the watermark to "now" in steps cut at the API's midnights (Zoom's
//! logs are date-granular, so a day is the natural unit; its dates may be days of the
//! account's time zone, `Source::day_offset`), skipping windows already delivered out of
//! order and those in flight. Once the watermark is within a
//! poll interval of now, the stream is live: a poll reads `[watermark - reach, now)`,
//! where the reach is a short margin ([`LIVE_MARGIN`]) unless a tier of the tenant's
//! `recheck` schedule is due ([`due_tier`]): then it is that tier's age, up to the whole
//! lookback, so late records are found; the seen ids keep re-read records from going
//! out twice. Where the API's order is proven, the scan stops at the window's start, so
//! a margin poll costs the pages of its new records plus about one request.

use chrono::{DateTime, Duration, DurationRound, Utc};
use trawl_model::{Checkpoint, Window};

use crate::config::RecheckSchedule;

/// How far behind the watermark a live poll reads when no re-read is due: records that
/// show up a little after their time (indexing delay, a clock apart) still land in the
/// next poll, for a fraction of a page.
pub const LIVE_MARGIN: Duration = Duration::minutes(2);

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
/// `max` of them, covering only time neither done nor in `in_flight` (so windows cut at
/// other midnights earlier never overlap new ones). Windows are cut at the API's
/// midnights (UTC midnight minus `day_offset`) and are at most `step` long; the start is
/// moved forward to what the API still keeps.
pub fn next_backfill_windows(
    cp: &Checkpoint,
    until: DateTime<Utc>,
    step: Duration,
    day_offset: Duration,
    oldest: DateTime<Utc>,
    in_flight: &[Window],
    max: usize,
) -> Vec<Window> {
    let from = cp.watermark.max(oldest);
    let Some(span) = Window::new(from, until) else {
        return Vec::new();
    };
    let mut taken: Vec<Window> = cp.done.iter().chain(in_flight).copied().collect();
    taken.sort();
    let mut gaps = Vec::new();
    let mut at = span.start;
    for t in taken {
        if t.start > at {
            gaps.push(Window {
                start: at,
                end: t.start.min(span.end),
            });
        }
        at = at.max(t.end);
        if at >= span.end {
            break;
        }
    }
    if at < span.end {
        gaps.push(Window {
            start: at,
            end: span.end,
        });
    }
    gaps.into_iter()
        .filter(|g| g.start < g.end)
        .flat_map(|g| split_at_midnights(g, day_offset))
        .flat_map(|day| day.split(step))
        .take(max)
        .collect()
}

/// Cuts `span` at the instants `d 00:00Z - day_offset`, oldest first.
fn split_at_midnights(span: Window, day_offset: Duration) -> Vec<Window> {
    let shifted = Window {
        start: span.start + day_offset,
        end: span.end + day_offset,
    };
    shifted
        .split_days()
        .into_iter()
        .map(|w| Window {
            start: w.start - day_offset,
            end: w.end - day_offset,
        })
        .collect()
}

/// The span between the watermark and `oldest`, the oldest time the API still keeps,
/// when the watermark lies before it: what the stream can no longer fetch (a long outage,
/// a slow backfill near the API's maximum, a restart). The watermark is to move over it,
/// so that the windows planned from `oldest` on join it; a window starting after the
/// watermark would otherwise be kept in `done` forever.
pub fn behind_retention(cp: &Checkpoint, oldest: DateTime<Utc>) -> Option<Window> {
    Window::new(cp.watermark, oldest)
}

/// Whether the stream has caught up: its watermark is within `poll_interval` of now.
pub fn caught_up(cp: &Checkpoint, now: DateTime<Utc>, poll_interval: Duration) -> bool {
    now - cp.watermark <= poll_interval
}

/// The window of a live poll: from `reach` before the watermark to now.
pub fn live_window(
    cp: &Checkpoint,
    now: DateTime<Utc>,
    reach: Duration,
    oldest: DateTime<Utc>,
) -> Option<Window> {
    Window::new((cp.watermark - reach).max(oldest), now)
}

/// The deepest tier of `schedule` due at `now`, given when each tier last ran (`None`:
/// not since the loop started, so due: a restart may have missed late records).
pub fn due_tier(
    schedule: &RecheckSchedule,
    last: &[Option<DateTime<Utc>>],
    now: DateTime<Utc>,
) -> Option<usize> {
    let chrono = |d: std::time::Duration| Duration::from_std(d).unwrap_or(Duration::MAX);
    schedule
        .tiers()
        .iter()
        .enumerate()
        .rev()
        .find(|(i, t)| match last.get(*i).copied().flatten() {
            None => true,
            Some(at) => now - at >= chrono(t.every),
        })
        .map(|(i, _)| i)
}

/// How far behind the watermark a live poll reads: the age of the tier it re-reads
/// (the whole lookback for a tier without one, never more), else [`LIVE_MARGIN`].
pub fn live_reach(schedule: &RecheckSchedule, tier: Option<usize>, lookback: Duration) -> Duration {
    let age = tier.and_then(|i| schedule.tiers().get(i)).map(|t| {
        t.age
            .map_or(lookback, |a| Duration::from_std(a).unwrap_or(lookback))
    });
    age.unwrap_or(LIVE_MARGIN).min(lookback)
}

/// After tier `ran` re-read its age at `at`, every tier no deeper is done too.
pub fn mark_rechecked(
    schedule: &RecheckSchedule,
    last: &mut [Option<DateTime<Utc>>],
    ran: usize,
    at: DateTime<Utc>,
) {
    let reach = schedule.tiers().get(ran).map(|t| t.age);
    for (i, t) in schedule.tiers().iter().enumerate() {
        let within = match (t.age, reach) {
            (_, Some(None)) => true,
            (Some(a), Some(Some(r))) => a <= r,
            _ => false,
        };
        if within {
            if let Some(slot) = last.get_mut(i) {
                *slot = Some(at);
            }
        }
    }
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
        let zero = Duration::zero();
        let w = next_backfill_windows(
            &c,
            at(5, 12),
            Duration::days(1),
            zero,
            at(1, 0),
            &in_flight,
            10,
        );
        assert_eq!(
            w,
            vec![
                Window::new(at(2, 0), at(3, 0)).unwrap(),
                Window::new(at(4, 0), at(5, 0)).unwrap(),
                Window::new(at(5, 0), at(5, 12)).unwrap(),
            ]
        );
        let w = next_backfill_windows(
            &c,
            at(5, 12),
            Duration::days(1),
            zero,
            at(1, 0),
            &in_flight,
            1,
        );
        assert_eq!(w.len(), 1);
    }

    #[test]
    fn windows_are_cut_at_the_apis_midnights() {
        // Zoom reading dates in UTC+13: its days begin at 11:00Z.
        let c = cp(at(1, 0));
        let w = next_backfill_windows(
            &c,
            at(3, 12),
            Duration::days(1),
            Duration::hours(13),
            at(1, 0),
            &[],
            10,
        );
        assert_eq!(
            w,
            vec![
                Window::new(at(1, 0), at(1, 11)).unwrap(),
                Window::new(at(1, 11), at(2, 11)).unwrap(),
                Window::new(at(2, 11), at(3, 11)).unwrap(),
                Window::new(at(3, 11), at(3, 12)).unwrap(),
            ]
        );
        // UTC-8: at 08:00Z.
        let w = next_backfill_windows(
            &c,
            at(2, 12),
            Duration::days(1),
            Duration::hours(-8),
            at(1, 0),
            &[],
            10,
        );
        assert_eq!(w[0], Window::new(at(1, 0), at(1, 8)).unwrap());
        assert_eq!(w[1], Window::new(at(1, 8), at(2, 8)).unwrap());
        // Learned while UTC days were in flight or done: the new cuts leave them alone.
        let mut c = cp(at(1, 0));
        c.complete_window(Window::new(at(2, 0), at(3, 0)).unwrap());
        let in_flight = [Window::new(at(1, 0), at(2, 0)).unwrap()];
        let w = next_backfill_windows(
            &c,
            at(4, 12),
            Duration::days(1),
            Duration::hours(13),
            at(1, 0),
            &in_flight,
            10,
        );
        assert_eq!(
            w,
            vec![
                Window::new(at(3, 0), at(3, 11)).unwrap(),
                Window::new(at(3, 11), at(4, 11)).unwrap(),
                Window::new(at(4, 11), at(4, 12)).unwrap(),
            ]
        );
    }

    #[test]
    fn a_watermark_behind_retention_moves_to_what_the_api_keeps() {
        // A restart in a backfill near the maximum: the horizon passed the watermark.
        let mut c = cp(at(1, 0));
        c.complete_window(Window::new(at(2, 0), at(3, 0)).unwrap());
        let oldest = at(1, 6);
        let gap = behind_retention(&c, oldest).unwrap();
        assert_eq!(gap, Window::new(at(1, 0), at(1, 6)).unwrap());
        c.complete_window(gap);
        assert_eq!(c.watermark, oldest);
        // The windows planned from there join the watermark and the done one.
        let w = next_backfill_windows(
            &c,
            at(3, 12),
            Duration::days(1),
            Duration::zero(),
            oldest,
            &[],
            10,
        );
        assert_eq!(w[0].start, oldest);
        c.complete_window(w[0]);
        assert_eq!(c.watermark, at(3, 0));
        assert!(c.done.is_empty());
        assert_eq!(behind_retention(&c, oldest), None);
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

    #[test]
    fn a_live_poll_reads_a_margin_unless_a_recheck_tier_is_due() {
        use crate::config::RecheckTier;
        let mins = |m: u64| std::time::Duration::from_secs(m * 60);
        // The last hour every 15 minutes, the lookback every 6 hours.
        let s = RecheckSchedule::new(&[
            RecheckTier {
                age: None,
                every: mins(360),
            },
            RecheckTier {
                age: Some(mins(60)),
                every: mins(15),
            },
        ]);
        let lookback = Duration::hours(24);
        let mut last = vec![None; 2];
        // Nothing ran since the start: the whole lookback.
        let t = due_tier(&s, &last, at(5, 12));
        assert_eq!(t, Some(1));
        assert_eq!(live_reach(&s, t, lookback), lookback);
        mark_rechecked(&s, &mut last, 1, at(5, 12));
        assert_eq!(last, vec![Some(at(5, 12)); 2]);
        // Five minutes later: only what is new, and a margin.
        let t = due_tier(&s, &last, at(5, 12) + Duration::minutes(5));
        assert_eq!(t, None);
        assert_eq!(live_reach(&s, t, lookback), LIVE_MARGIN);
        // 15 minutes on: the last hour, which leaves the deep tier's time alone.
        let now = at(5, 12) + Duration::minutes(15);
        let t = due_tier(&s, &last, now);
        assert_eq!(t, Some(0));
        assert_eq!(live_reach(&s, t, lookback), Duration::hours(1));
        mark_rechecked(&s, &mut last, 0, now);
        assert_eq!(last, vec![Some(now), Some(at(5, 12))]);
        // Six hours on, both are due: the deeper one runs.
        assert_eq!(due_tier(&s, &last, at(5, 18)), Some(1));
        // A tier's age never goes past the lookback; a zero period is every poll.
        assert_eq!(
            live_reach(&s, Some(0), Duration::minutes(30)),
            Duration::minutes(30)
        );
        let every = RecheckSchedule::every_poll();
        let mut l = vec![None];
        mark_rechecked(&every, &mut l, 0, at(5, 12));
        assert_eq!(due_tier(&every, &l, at(5, 12)), Some(0));
        assert_eq!(live_reach(&every, Some(0), lookback), lookback);
    }
}
