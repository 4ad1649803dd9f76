//! A lock-style throttle (Zoho's): the API locks the whole organization out for a stated
//! time, and every call made during the lock extends it, so the bucket must make no call
//! at all until the lock ends, then pace below the limit the answer stated. This module
//! keeps the episodes: when one begins (logged and counted once), until when the bucket
//! stays shut (the stated lock plus a margin, or, when no lock could be read, growing
//! steps from one minute), and what `/status` shows of it.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::time::Instant;
use trawl_model::StreamKey;
use trawl_sources::StatedLimit;

/// The share of a stated limit the bucket paces to after a lock ("100 per 2 minutes"
/// becomes 90 per 2 minutes): the vendor's window and ours never line up exactly.
pub const STATED_SHARE: f64 = 0.9;
/// The first wait when the answer states no lock; each further episode doubles it.
pub const FIRST_STEP: Duration = Duration::from_secs(60);
/// The longest such wait (longer than the 15-22 minute locks reported).
pub const MAX_STEP: Duration = Duration::from_secs(30 * 60);

/// The wait past a stated lock: its end is stated in whole minutes (or seconds) from an
/// instant we do not know exactly, and coming back early would start it over.
pub fn margin(lock: Duration) -> Duration {
    Duration::from_secs(1) + lock / 20
}

/// A throttle episode as `/status` shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ThrottleView {
    /// The stream whose request met the lock first.
    pub tenant: String,
    pub source: String,
    pub since: DateTime<Utc>,
    /// No request before this instant.
    pub until: DateTime<Utc>,
    /// The lock as the API stated it (`None`: not stated; waiting in growing steps).
    pub lock_seconds: Option<u64>,
    /// The limit the API stated, paced below from then on.
    pub stated_limit: Option<LimitView>,
    /// Episodes of this bucket so far.
    pub episodes: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LimitView {
    pub requests: u32,
    pub per_seconds: u64,
}

/// One throttle answer, as the permit reported it.
#[derive(Debug, Clone)]
pub struct Throttled {
    pub stream: StreamKey,
    pub granted: Instant,
    /// The lock's end the answer stated (its `Retry-After`), bounded by the source.
    pub until: Option<DateTime<Utc>>,
    pub lock: Option<Duration>,
    pub limit: Option<StatedLimit>,
}

/// What an answer did to the episodes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Verdict {
    /// No request before this instant.
    pub resume: DateTime<Utc>,
    /// The answer began a new episode (log it, count it).
    pub new_episode: bool,
}

#[derive(Debug, Default)]
pub struct Lockout {
    last: Option<ThrottleView>,
    /// Permits granted before this instant were in flight when the episode began.
    began: Option<Instant>,
    /// Episodes in a row whose lock could not be read (the step doubles with each).
    unread: u32,
}

impl Lockout {
    /// A throttle answer met at `now` / `utc`.
    pub fn on_throttle(&mut self, t: &Throttled, now: Instant, utc: DateTime<Utc>) -> Verdict {
        let ongoing = match (&self.last, self.began) {
            (Some(e), Some(began)) => utc < e.until || t.granted < began,
            _ => false,
        };
        if !ongoing && t.until.is_none() {
            self.unread = self.unread.saturating_add(1);
        }
        let resume = match (t.until, t.lock) {
            (Some(at), lock) => at + chrono_of(margin(lock.unwrap_or_default())),
            (None, _) => utc + chrono_of(self.step()),
        };
        let limit = t.limit.map(|l| LimitView {
            requests: l.requests,
            per_seconds: l.per.as_secs(),
        });
        let lock_seconds = t.lock.map(|l| l.as_secs());
        match (&mut self.last, ongoing) {
            (Some(e), true) => {
                e.until = e.until.max(resume);
                e.stated_limit = limit.or(e.stated_limit);
                e.lock_seconds = lock_seconds.or(e.lock_seconds);
                Verdict {
                    resume: e.until,
                    new_episode: false,
                }
            }
            _ => {
                let episodes = self.last.as_ref().map_or(0, |e| e.episodes) + 1;
                self.began = Some(now);
                self.last = Some(ThrottleView {
                    tenant: t.stream.tenant.to_string(),
                    source: t.stream.source.to_string(),
                    since: utc,
                    until: resume,
                    lock_seconds,
                    stated_limit: limit,
                    episodes,
                });
                Verdict {
                    resume,
                    new_episode: true,
                }
            }
        }
    }

    /// A clean answer: once the lock is over, the next unreadable one starts at a minute.
    pub fn on_ok(&mut self, utc: DateTime<Utc>) {
        if self.until(utc).is_none() {
            self.unread = 0;
        }
    }

    /// The wait of the current unreadable episode: 1, 2, 4 ... minutes, capped.
    fn step(&self) -> Duration {
        let doublings = self.unread.saturating_sub(1).min(16);
        FIRST_STEP.saturating_mul(1 << doublings).min(MAX_STEP)
    }

    /// While locked: until when.
    pub fn until(&self, utc: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.last.as_ref().map(|e| e.until).filter(|u| *u > utc)
    }

    /// The last episode, if any.
    pub fn view(&self) -> Option<&ThrottleView> {
        self.last.as_ref()
    }
}

fn chrono_of(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::days(1))
}

#[cfg(test)]
mod tests;
