//! A half-open span of time, `[start, end)`, that one series of page requests covers.
//!
//! Windows are whole seconds: event ids count identical records per second, so a window
//! must never split a second between two scans. Sources translate a window to what their
//! API takes (Zoom: dates or datetimes, Zoho: milliseconds).

use std::fmt;

use chrono::{DateTime, Duration, DurationRound, Utc};
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Window {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

impl Window {
    /// A window from `start` (rounded down to the second) to `end` (rounded up).
    /// Returns `None` when it would be empty.
    pub fn new(start: DateTime<Utc>, end: DateTime<Utc>) -> Option<Self> {
        let start = floor_second(start);
        let end = ceil_second(end);
        (start < end).then_some(Self { start, end })
    }

    pub fn duration(&self) -> Duration {
        self.end - self.start
    }

    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        self.start <= t && t < self.end
    }

    /// Cuts the window into consecutive pieces of at most `step`, oldest first.
    pub fn split(&self, step: Duration) -> Vec<Window> {
        assert!(
            step >= Duration::seconds(1),
            "window step must be at least a second"
        );
        let mut out = Vec::new();
        let mut at = self.start;
        while at < self.end {
            let next = (at + step).min(self.end);
            out.push(Window {
                start: at,
                end: next,
            });
            at = next;
        }
        out
    }

    /// Cuts the window at UTC midnights, oldest first: for date-granular APIs, each piece
    /// lies within one calendar day.
    pub fn split_days(&self) -> Vec<Window> {
        let mut out = Vec::new();
        let mut at = self.start;
        while at < self.end {
            let midnight = at
                .duration_trunc(Duration::days(1))
                .expect("day truncation of a valid time")
                + Duration::days(1);
            let next = midnight.min(self.end);
            out.push(Window {
                start: at,
                end: next,
            });
            at = next;
        }
        out
    }
}

fn floor_second(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(Duration::seconds(1)).unwrap_or(t)
}

fn ceil_second(t: DateTime<Utc>) -> DateTime<Utc> {
    let f = floor_second(t);
    if f == t {
        t
    } else {
        f + Duration::seconds(1)
    }
}

impl fmt::Debug for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "[{} .. {})",
            self.start.to_rfc3339(),
            self.end.to_rfc3339()
        )
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(d: u32, h: u32, m: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, d, h, m, s).unwrap()
    }

    #[test]
    fn rounds_outwards_to_whole_seconds() {
        let w = Window::new(
            t(1, 0, 0, 1) + Duration::milliseconds(700),
            t(1, 0, 0, 5) + Duration::milliseconds(1),
        )
        .unwrap();
        assert_eq!(w.start, t(1, 0, 0, 1));
        assert_eq!(w.end, t(1, 0, 0, 6));
        assert!(Window::new(t(2, 0, 0, 0), t(1, 0, 0, 0)).is_none());
    }

    #[test]
    fn splits_at_midnight() {
        let w = Window::new(t(1, 12, 0, 0), t(3, 6, 0, 0)).unwrap();
        let days = w.split_days();
        assert_eq!(days.len(), 3);
        assert_eq!(
            days[0],
            Window {
                start: t(1, 12, 0, 0),
                end: t(2, 0, 0, 0)
            }
        );
        assert_eq!(
            days[2],
            Window {
                start: t(3, 0, 0, 0),
                end: t(3, 6, 0, 0)
            }
        );
        let pieces = w.split(Duration::hours(24));
        assert_eq!(pieces.len(), 2);
        assert_eq!(pieces[1].end, w.end);
    }
}
