//! A bucket: trawl's pacing state for one account's rate limit (one API family and
//! label): a request pacer for the per-second limit, a counter for the daily cap, and
//! the AIMD response to 429s. Pure and synchronous; the `RateLimiter` actor wraps it
//! with a waiting queue and timers.
//!
//! Pacing: permits are spaced evenly at `1 / rate` (a GCRA with a burst of one), so no
//! one-second window ever holds more than the vendor's limit, whatever their bucket
//! shape. `rate` starts at the ceiling (plan limit x configured share x a small safety
//! margin for network jitter). A per-second 429 (other apps eat the same quota) pauses
//! until `Retry-After` and multiplies the rate by 0.7 (once per episode: 429s for requests
//! granted before the last decrease say nothing new); every clean answer adds back
//! 1/5000 of the ceiling, so once the rate is under what other apps leave, probing back
//! up to it takes hundreds of requests: well under 1 % of requests answered 429, and
//! about 95 % of what is left used.
//!
//! Daily cap: counted per UTC day; when spent (or when the API says so), the bucket
//! waits for the next 00:00 UTC.
//!
//! A lock-style throttle (Zoho's, see [`super::throttle`]) shuts the bucket until the
//! lock ends ([`Bucket::lock`]) and caps the ceiling below the limit the answer stated
//! ([`Bucket::pace_below`]) for the rest of the bucket's life.

use std::time::Duration;

use chrono::{DateTime, Duration as ChronoDuration, DurationRound, NaiveDate, Utc};
use tokio::time::Instant;
use trawl_model::SourceKind;
use trawl_sources::{plan_rate_limits, LimitKey};

use crate::config::TenantSpec;

/// Fraction of the plan rate used by default, for jitter between our send time and the
/// vendor's receive time.
pub const SAFETY: f64 = 0.97;
const DECREASE: f64 = 0.7;
const INCREASE_SHARE: f64 = 1.0 / 5000.0;
const FLOOR_SHARE: f64 = 0.05;

/// What a bucket paces to: the account's rate limits and trawl's share of them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BucketSpec {
    /// Requests per second the vendor allows this account on this family and label.
    pub per_second: f64,
    /// Requests per UTC day, if capped.
    pub daily: Option<u32>,
    /// The share of the account's quota trawl may use, in (0, 1].
    pub share: f64,
}

impl BucketSpec {
    /// What one tenant asks of its stream's bucket: the plan's rate limits for the
    /// stream's API family, the tenant's `rate_limits` override on top, and the tenant's
    /// `quota_share`.
    pub fn for_stream(tenant: &TenantSpec, kind: SourceKind) -> Self {
        let mut limits = plan_rate_limits(LimitKey::of(kind).family, tenant.plan);
        if let Some(o) = tenant.rate_limits.get(&kind) {
            limits.per_second = o.per_second.unwrap_or(limits.per_second);
            limits.daily = o.daily.or(limits.daily);
        }
        Self {
            per_second: limits.per_second,
            daily: limits.daily,
            share: tenant.settings.quota_share,
        }
    }

    /// The spec that satisfies both: tenants naming one account share its bucket, and
    /// the smaller of their numbers is the one that avoids 429s.
    pub fn narrowest(self, other: Self) -> Self {
        let daily = match (self.daily, other.daily) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        Self {
            per_second: self.per_second.min(other.per_second),
            daily,
            share: self.share.min(other.share),
        }
    }

    /// Requests per UTC day trawl may make: the daily cap times the share.
    pub fn daily_cap(&self) -> Option<u32> {
        self.daily
            .map(|d| (f64::from(d) * self.share).floor() as u32)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    /// Try again at this instant (pacing or a 429 pause).
    Until(Instant),
    /// The daily cap is spent until this UTC time.
    DailyCapUntil(DateTime<Utc>),
}

#[derive(Debug, Clone)]
pub struct Bucket {
    spec: BucketSpec,
    ceiling: f64,
    rate: f64,
    /// Earliest instant the next permit may be granted.
    next_at: Instant,
    paused_until: Option<Instant>,
    day: NaiveDate,
    used_today: u32,
    daily_blocked_until: Option<DateTime<Utc>>,
    /// When the rate was last lowered.
    last_decrease: Option<Instant>,
    /// The rate a lock-style throttle's stated limit allows (times its margin).
    stated: Option<f64>,
}

/// A snapshot for `/status` and metrics.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct BucketState {
    /// The UTC day `used_today` counts.
    pub day: NaiveDate,
    pub rate: f64,
    pub ceiling: f64,
    pub used_today: u32,
    pub daily_cap: Option<u32>,
    pub daily_remaining: Option<u32>,
    pub paused: bool,
}

impl Bucket {
    pub fn new(spec: BucketSpec, now: Instant, today: DateTime<Utc>) -> Self {
        let ceiling = ceiling_of(&spec);
        Self {
            spec,
            ceiling,
            rate: ceiling,
            next_at: now,
            paused_until: None,
            day: today.date_naive(),
            used_today: 0,
            daily_blocked_until: None,
            last_decrease: None,
            stated: None,
        }
    }

    fn daily_cap(&self) -> Option<u32> {
        self.spec.daily_cap()
    }

    /// Continues a day stored by an earlier owner of the bucket (a restart, a reload, a
    /// handover): its count if it is today's, its AIMD rate, and a daily block not over.
    pub fn restore(&mut self, day: &super::DayState, utc: DateTime<Utc>) {
        if day.day == utc.date_naive() {
            self.day = day.day;
            self.used_today = self.used_today.max(day.used);
        }
        self.rate = (self.ceiling * day.rate_share).clamp(self.ceiling * FLOOR_SHARE, self.ceiling);
        if let Some(t) = day.blocked_until.filter(|t| *t > utc) {
            self.daily_blocked_until = Some(t);
        }
    }

    /// New numbers for a running bucket (a tenant joined or left, a reload changed its
    /// rate limits). The day's count stays; the rate keeps its place under the ceiling.
    pub fn reconfigure(&mut self, spec: BucketSpec) {
        let ceiling = self
            .stated
            .map_or(ceiling_of(&spec), |s| ceiling_of(&spec).min(s));
        self.rate = (self.rate / self.ceiling * ceiling).min(ceiling);
        self.ceiling = ceiling;
        self.spec = spec;
    }

    fn roll_day(&mut self, utc: DateTime<Utc>) {
        let d = utc.date_naive();
        if d != self.day {
            self.day = d;
            self.used_today = 0;
        }
        if self.daily_blocked_until.is_some_and(|t| utc >= t) {
            self.daily_blocked_until = None;
        }
    }

    /// Takes a permit now, or says when to ask again.
    pub fn try_acquire(&mut self, now: Instant, utc: DateTime<Utc>) -> Result<(), Denied> {
        self.roll_day(utc);
        if let Some(t) = self.daily_blocked_until {
            return Err(Denied::DailyCapUntil(t));
        }
        if let Some(cap) = self.daily_cap() {
            if self.used_today >= cap {
                let t = next_midnight(utc);
                self.daily_blocked_until = Some(t);
                return Err(Denied::DailyCapUntil(t));
            }
        }
        if let Some(p) = self.paused_until {
            if now < p {
                return Err(Denied::Until(p));
            }
            self.paused_until = None;
        }
        if now < self.next_at {
            return Err(Denied::Until(self.next_at));
        }
        let interval = Duration::from_secs_f64(1.0 / self.rate);
        // Keep the schedule when a timer fires a little late, but never bank permits
        // over idle time: the next permit is at most a hair less than an interval away.
        let slack = Duration::from_millis(2).min(interval / 4);
        self.next_at = (self.next_at + interval).max(now + interval - slack);
        self.used_today += 1;
        Ok(())
    }

    /// A clean answer: probe a little higher.
    pub fn on_success(&mut self) {
        self.rate = (self.rate + self.ceiling * INCREASE_SHARE).min(self.ceiling);
    }

    /// A per-second 429 for a request granted at `granted`: pause until `retry_at`, and
    /// slow down unless the rate was already lowered after that request was sent.
    pub fn on_rate_limited(&mut self, now: Instant, granted: Instant, retry_at: Option<Instant>) {
        let until = retry_at.unwrap_or(now + Duration::from_secs(1)).max(now);
        self.paused_until = Some(self.paused_until.map_or(until, |p| p.max(until)));
        self.next_at = self.next_at.max(until);
        if self.last_decrease.is_none_or(|d| granted > d) {
            self.rate = (self.rate * DECREASE).max(self.ceiling * FLOOR_SHARE);
            self.last_decrease = Some(now);
        }
    }

    /// A lock-style throttle: no permit before `until`.
    pub fn lock(&mut self, until: Instant) {
        self.paused_until = Some(self.paused_until.map_or(until, |p| p.max(until)));
        self.next_at = self.next_at.max(until);
    }

    /// From now on at most `share` of `requests` per `per` (the limit a throttle stated),
    /// spaced evenly, so no window of `per` ever holds more than the share.
    pub fn pace_below(&mut self, requests: u32, per: Duration, share: f64) {
        if per.is_zero() || requests == 0 {
            return;
        }
        let stated = (f64::from(requests) * share / per.as_secs_f64()).max(1e-4);
        let stated = self.stated.map_or(stated, |s| s.min(stated));
        self.stated = Some(stated);
        self.ceiling = self.ceiling.min(stated);
        self.rate = self.rate.min(self.ceiling);
    }

    /// A daily 429: nothing more today (until `until`, or the next 00:00 UTC).
    pub fn on_daily_limit(&mut self, utc: DateTime<Utc>, until: Option<DateTime<Utc>>) {
        let t = until
            .filter(|t| *t > utc)
            .unwrap_or_else(|| next_midnight(utc));
        self.daily_blocked_until = Some(t);
    }

    pub fn state(&self, now: Instant) -> BucketState {
        let cap = self.daily_cap();
        BucketState {
            day: self.day,
            rate: self.rate,
            ceiling: self.ceiling,
            used_today: self.used_today,
            daily_cap: cap,
            daily_remaining: match (cap, self.daily_blocked_until) {
                (_, Some(_)) => Some(0),
                (Some(c), None) => Some(c.saturating_sub(self.used_today)),
                (None, None) => None,
            },
            paused: self.paused_until.is_some_and(|p| p > now),
        }
    }
}

/// The highest rate a bucket of `spec` paces to.
fn ceiling_of(spec: &BucketSpec) -> f64 {
    (spec.per_second * spec.share * SAFETY).max(1e-3)
}

/// The next 00:00 UTC strictly after `t`.
pub fn next_midnight(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(ChronoDuration::days(1)).unwrap_or(t) + ChronoDuration::days(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn spec(per_second: f64, daily: Option<u32>, share: f64) -> BucketSpec {
        BucketSpec {
            per_second,
            daily,
            share,
        }
    }

    fn noon() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()
    }

    /// Grants as many permits as it can in `secs` seconds, polling every millisecond.
    fn grants_in(q: &mut Bucket, start: Instant, secs: u64) -> Vec<Instant> {
        let mut out = Vec::new();
        for ms in 0..secs * 1000 {
            let now = start + Duration::from_millis(ms);
            if q.try_acquire(now, noon()).is_ok() {
                out.push(now);
            }
        }
        out
    }

    #[test]
    fn never_more_than_the_limit_in_any_second() {
        let start = Instant::now();
        let mut q = Bucket::new(spec(10.0, None, 1.0), start, noon());
        let g = grants_in(&mut q, start, 10);
        assert!(
            g.len() >= 96 && g.len() <= 100,
            "{} grants in 10 s",
            g.len()
        );
        for (i, t) in g.iter().enumerate() {
            let in_window = g[i..]
                .iter()
                .take_while(|u| **u < *t + Duration::from_secs(1))
                .count();
            assert!(in_window <= 10, "{in_window} grants within a second");
        }
    }

    #[test]
    fn share_scales_the_rate() {
        let start = Instant::now();
        let mut q = Bucket::new(spec(10.0, None, 0.5), start, noon());
        let g = grants_in(&mut q, start, 10);
        assert!(g.len() >= 47 && g.len() <= 50, "{}", g.len());
    }

    #[test]
    fn daily_cap_blocks_until_midnight_then_resets() {
        let start = Instant::now();
        let mut q = Bucket::new(spec(1000.0, Some(10), 1.0), start, noon());
        let mut now = start;
        for _ in 0..10 {
            now += Duration::from_secs(1);
            q.try_acquire(now, noon()).unwrap();
        }
        let tomorrow = Utc.with_ymd_and_hms(2026, 3, 2, 0, 0, 0).unwrap();
        assert_eq!(
            q.try_acquire(now, noon()),
            Err(Denied::DailyCapUntil(tomorrow))
        );
        assert_eq!(q.state(now).daily_remaining, Some(0));
        now += Duration::from_secs(1);
        assert!(q.try_acquire(now, tomorrow).is_ok());
        assert_eq!(q.state(now).daily_remaining, Some(9));
    }

    #[test]
    fn a_429_pauses_and_slows_then_recovers() {
        let start = Instant::now();
        let mut q = Bucket::new(spec(10.0, None, 1.0), start, noon());
        q.try_acquire(start, noon()).unwrap();
        let resume = start + Duration::from_secs(2);
        q.on_rate_limited(start, start, Some(resume));
        // A second 429 for a request sent before the slow-down changes nothing more.
        q.on_rate_limited(start + Duration::from_millis(1), start, Some(resume));
        assert_eq!(
            q.try_acquire(start + Duration::from_secs(1), noon()),
            Err(Denied::Until(resume))
        );
        assert!(q.try_acquire(resume, noon()).is_ok());
        let slowed = q.state(resume).rate;
        assert!((slowed - 10.0 * SAFETY * DECREASE).abs() < 1e-9);
        for _ in 0..10_000 {
            q.on_success();
        }
        assert!((q.state(resume).rate - 10.0 * SAFETY).abs() < 1e-9);
    }

    #[test]
    fn a_shared_bucket_takes_the_narrowest_numbers_and_keeps_its_day() {
        let a = spec(10.0, Some(30_000), 1.0);
        let b = spec(40.0, None, 0.5);
        assert_eq!(a.narrowest(b), spec(10.0, Some(30_000), 0.5));
        let start = Instant::now();
        let mut q = Bucket::new(a, start, noon());
        q.try_acquire(start, noon()).unwrap();
        q.reconfigure(a.narrowest(b));
        let state = q.state(start);
        assert!((state.ceiling - 5.0 * SAFETY).abs() < 1e-9);
        assert_eq!(state.rate, state.ceiling);
        assert_eq!((state.used_today, state.daily_cap), (1, Some(15_000)));
    }

    #[test]
    fn a_lock_shuts_the_bucket_and_a_stated_limit_caps_it_for_good() {
        let start = Instant::now();
        let mut q = Bucket::new(spec(10.0, None, 1.0), start, noon());
        q.try_acquire(start, noon()).unwrap();
        let end = start + Duration::from_secs(22 * 60);
        q.lock(end);
        q.lock(start + Duration::from_secs(60));
        assert_eq!(
            q.try_acquire(end - Duration::from_millis(1), noon()),
            Err(Denied::Until(end))
        );
        q.pace_below(100, Duration::from_secs(120), 0.9);
        let g = grants_in(&mut q, end, 240);
        // 90 per 2 minutes, evenly: never more than 91 in any 2 minutes.
        assert!((179..=181).contains(&g.len()), "{}", g.len());
        for (i, t) in g.iter().enumerate() {
            let n = g[i..]
                .iter()
                .take_while(|u| **u < *t + Duration::from_secs(120))
                .count();
            assert!(n <= 91, "{n} in 2 minutes");
        }
        for _ in 0..10_000 {
            q.on_success();
        }
        q.reconfigure(spec(20.0, None, 1.0));
        assert!((q.state(end).ceiling - 0.75).abs() < 1e-9, "the cap stays");
    }

    #[test]
    fn a_daily_429_waits_for_the_given_instant() {
        let start = Instant::now();
        let mut q = Bucket::new(spec(10.0, Some(30_000), 1.0), start, noon());
        let until = Utc.with_ymd_and_hms(2026, 3, 2, 0, 0, 0).unwrap();
        q.on_daily_limit(noon(), Some(until));
        assert_eq!(
            q.try_acquire(start, noon()),
            Err(Denied::DailyCapUntil(until))
        );
        assert!(q.try_acquire(start, until).is_ok());
    }
}
