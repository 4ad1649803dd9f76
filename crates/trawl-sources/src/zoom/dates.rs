//! Which dates to ask Zoom for, when nobody knows whether it reads `from`/`to` as UTC
//! days or as days of the account's time zone.
//!
//! A Zoom date `d` covers `[S(d), S(d+1))` where `S(d)`, its midnight, is `d 00:00Z`
//! (UTC reading) or `d 00:00Z - offset` (account reading, the offset anywhere from
//! UTC-12 to UTC+14). Whatever the reading, consecutive dates tile the time line, and
//! every midnight is a whole number of quarter hours from UTC (every zone in use is).
//! Records carry their UTC time, so an answer bounds the dates it covered: the dates
//! `[first, last]` hold every record of the answer, hence `S(first) <= floor15(earliest)`
//! and `S(last + 1) >= floor15(latest) + 15 min` (a quarter-hour midnight after a record
//! is at least the next quarter hour).
//!
//! To cover a window `[a, b)` a scan asks the dates the window spans under the best
//! estimate of the offset, then proves each edge covered: the start when
//! `S(first) <= a` (the estimate of the evidence or of the bounds), the end when
//! `S(last + 1) >= b`. An edge it cannot prove gets the next date on that side, asked
//! alone, until it can. Records outside the window are dropped: they belong to the
//! neighbouring windows, which prove their own edges. A window that reaches the present
//! also asks, in the same request, the dates up to `now + 14 h` (today in every zone;
//! those not yet begun hold no records and cost nothing).
//!
//! Dense accounts prove their edges from the first answer (a record within a quarter
//! hour of each end); sparse ones may need an extra date, which holds few records. Once
//! an answer of one date spans nearly a day, its first record gives the account's
//! midnight, and windows are then cut at it (`Source::day_offset`): one date per window.

use chrono::{DateTime, Duration, DurationRound, NaiveDate, Utc};
use trawl_model::Window;

/// UTC-12, the westernmost zone: a date's midnight is at most this late.
pub const MAX_BEHIND: Duration = Duration::hours(12);
/// UTC+14, the easternmost zone: a date's midnight is at most this early.
pub const MAX_AHEAD: Duration = Duration::hours(14);
/// A window ending within this of now reaches the present.
pub const LIVE_EDGE: Duration = Duration::hours(1);
/// Extra dates asked on one side of a window before giving up proving it (bounds alone
/// prove any edge after two).
pub const MAX_EXTRA_DATES: u32 = 3;

fn quarter() -> Duration {
    Duration::minutes(15)
}

fn floor15(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(quarter()).unwrap_or(t)
}

/// `d 00:00Z`.
pub fn utc_midnight(d: NaiveDate) -> DateTime<Utc> {
    d.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc()
}

/// The date whose day, `offset` ahead of UTC, holds `t`.
pub fn date_of(t: DateTime<Utc>, offset: Duration) -> NaiveDate {
    (t + offset).date_naive()
}

/// The earliest and latest record times seen in the answers for a window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Evidence {
    pub earliest: Option<DateTime<Utc>>,
    pub latest: Option<DateTime<Utc>>,
}

impl Evidence {
    pub fn observe(&mut self, t: DateTime<Utc>) {
        self.earliest = Some(self.earliest.map_or(t, |e| e.min(t)));
        self.latest = Some(self.latest.map_or(t, |l| l.max(t)));
    }
}

/// The latest `S(first)` can be, given the answers for dates `first..`.
pub fn latest_start(first: NaiveDate, seen: &Evidence) -> DateTime<Utc> {
    let bound = utc_midnight(first) + MAX_BEHIND;
    seen.earliest.map_or(bound, |t| bound.min(floor15(t)))
}

/// The earliest `S(last + 1)` can be, given the answers for dates `..=last`.
pub fn earliest_end(last: NaiveDate, seen: &Evidence) -> DateTime<Utc> {
    let bound = utc_midnight(last) + Duration::days(1) - MAX_AHEAD;
    seen.latest
        .map_or(bound, |t| bound.max(floor15(t) + quarter()))
}

/// The dates `[first, last]` to ask first for `w` under the offset estimate, `to`
/// stretched to today in every zone when the window reaches the present.
pub fn first_dates(w: Window, estimate: Duration, now: DateTime<Utc>) -> (NaiveDate, NaiveDate) {
    let first = date_of(w.start, estimate);
    let mut last = date_of(w.end - Duration::seconds(1), estimate).max(first);
    if w.end >= now - LIVE_EDGE {
        last = last.max(date_of(now, MAX_AHEAD));
    }
    (first, last)
}

/// Whether Zoom takes `from`..`to` in one request: at most one calendar month.
pub fn fits_one_request(first: NaiveDate, last: NaiveDate) -> bool {
    first
        .checked_add_months(chrono::Months::new(1))
        .is_some_and(|limit| last <= limit)
}

/// The offset a single date's answer shows, when it spans nearly the whole day (so its
/// first record lies within the first quarter hour of that date's midnight).
pub fn offset_shown(date: NaiveDate, seen: &Evidence) -> Option<Duration> {
    let (earliest, latest) = (seen.earliest?, seen.latest?);
    if latest - earliest < Duration::hours(23) {
        return None;
    }
    let offset = utc_midnight(date) - floor15(earliest);
    (-MAX_BEHIND..=MAX_AHEAD)
        .contains(&offset)
        .then_some(offset)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn at(day: u32, h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, day, h, m, 0).unwrap()
    }

    fn seen(times: &[DateTime<Utc>]) -> Evidence {
        let mut e = Evidence::default();
        for t in times {
            e.observe(*t);
        }
        e
    }

    #[test]
    fn edges_are_proven_by_records_near_them_or_by_the_zone_bounds() {
        // UTC reading, dense: the first record 20 s after midnight proves the start.
        let e = seen(&[at(5, 0, 0) + Duration::seconds(20), at(5, 23, 59)]);
        assert!(latest_start(d("2026-03-05"), &e) <= at(5, 0, 0));
        assert!(earliest_end(d("2026-03-05"), &e) >= at(6, 0, 0));
        // A sparse date proves neither edge of its UTC day.
        let e = seen(&[at(5, 3, 0), at(5, 20, 0)]);
        assert!(latest_start(d("2026-03-05"), &e) > at(5, 0, 0));
        assert!(earliest_end(d("2026-03-05"), &e) < at(6, 0, 0));
        // An empty date proves only what the bounds say: its midnight lies within
        // [d - 14 h, d + 12 h].
        let none = Evidence::default();
        assert_eq!(latest_start(d("2026-03-05"), &none), at(5, 12, 0));
        assert_eq!(earliest_end(d("2026-03-05"), &none), at(5, 10, 0));
        // UTC+13: the date holds 11:00Z the day before to 11:00Z.
        let e = seen(&[at(4, 11, 0) + Duration::seconds(5), at(5, 10, 58)]);
        assert_eq!(offset_shown(d("2026-03-05"), &e), Some(Duration::hours(13)));
        assert!(
            earliest_end(d("2026-03-05"), &e) < at(6, 0, 0),
            "the end needs the next date"
        );
    }

    #[test]
    fn the_first_dates_follow_the_estimate_and_reach_today_everywhere_when_live() {
        let w = Window::new(at(5, 0, 0), at(6, 0, 0)).unwrap();
        let now = at(20, 12, 0);
        assert_eq!(
            first_dates(w, Duration::zero(), now),
            (d("2026-03-05"), d("2026-03-05"))
        );
        let w13 = Window::new(at(4, 11, 0), at(5, 11, 0)).unwrap();
        assert_eq!(
            first_dates(w13, Duration::hours(13), now),
            (d("2026-03-05"), d("2026-03-05"))
        );
        // Live: up to the date it already is at UTC+14.
        let live = Window::new(at(20, 11, 0), at(20, 12, 0)).unwrap();
        assert_eq!(
            first_dates(live, Duration::zero(), now),
            (d("2026-03-20"), d("2026-03-21"))
        );
        assert!(fits_one_request(d("2026-01-31"), d("2026-02-28")));
        assert!(!fits_one_request(d("2026-01-31"), d("2026-03-01")));
    }
}
