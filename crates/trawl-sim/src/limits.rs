//! Rate limits as the vendors enforce them, per account x API family x label.
//!
//! Zoom: a token bucket per (account, family, label) whose capacity is the plan's
//! per-second limit and which refills at that rate, plus a daily cap that resets at
//! 00:00 UTC of the simulated clock; a "neighbour app" eats a share of both, all the
//! time. Zoho: a sliding window (a minute, or as configured) of accepted requests, and a
//! lock period once exceeded, which every call during it may start over.
//! The limiter also keeps the per-key counters of [`LimitStats`].

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use crate::clock::{day_of, next_midnight_ms, DAY_MS};
use crate::config::{Plan, ZoomAccount};
use crate::stats::LimitStats;
use crate::SimFamily;

/// The limits that apply to one key.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum LimitSpec {
    Bucket {
        per_second: f64,
        daily: Option<u64>,
        share: f64,
    },
    PerMinute {
        per_minute: u32,
        /// The window `per_minute` counts over (60 000 for a minute).
        window_ms: i64,
        lock_ms: i64,
        /// A request during the lock starts it over.
        extends: bool,
    },
}

/// The plan table of API_FACTS (Heavy label; Free's Phone numbers are not published,
/// the main API's Free numbers stand in, and reports refuse Free accounts anyway).
pub(crate) fn zoom_spec(account: &ZoomAccount, family: SimFamily) -> LimitSpec {
    let (qps, daily) = match (family, account.plan) {
        (SimFamily::ZoomPhone, Plan::Pro) => (5.0, 15_000),
        (SimFamily::ZoomPhone, Plan::Business) => (10.0, 30_000),
        (_, Plan::Free) => (1.0, 1_000),
        (_, Plan::Pro) => (10.0, 30_000),
        (_, Plan::Business) => (40.0, 60_000),
    };
    let o = &account.limits;
    let (qps, daily) = if family == SimFamily::ZoomPhone {
        (
            o.phone_per_second.unwrap_or(qps),
            o.phone_daily.unwrap_or(daily),
        )
    } else {
        (o.per_second.unwrap_or(qps), o.daily.unwrap_or(daily))
    };
    LimitSpec::Bucket {
        per_second: qps,
        daily: Some(daily),
        share: account.neighbour_share,
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Verdict {
    /// Admitted; the daily cap and what remains of it, when there is one.
    Ok { daily: Option<(u64, u64)> },
    /// Per-second limit (or Zoho's lock): try again in `retry_ms` (a Zoho lock that
    /// extends on every call ends `retry_ms` after the last one).
    Qps { limit: f64, retry_ms: i64 },
    /// Daily cap reached: it resets at `reset_ms` (next 00:00 UTC).
    Daily { limit: u64, reset_ms: i64 },
}

struct KeyState {
    tokens: f64,
    at_ms: i64,
    day: i64,
    day_used: u64,
    recent: VecDeque<i64>,
    minute: VecDeque<i64>,
    lock_until: i64,
    stats: LimitStats,
}

pub(crate) struct Limiter {
    keys: Mutex<HashMap<(String, SimFamily), KeyState>>,
}

impl Limiter {
    pub fn new() -> Self {
        Limiter {
            keys: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one request from `account` and decides it; `None` = unlimited.
    pub fn check(
        &self,
        account: &str,
        family: SimFamily,
        now: i64,
        spec: Option<LimitSpec>,
    ) -> Verdict {
        let mut keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        let st = keys
            .entry((account.to_string(), family))
            .or_insert_with(|| KeyState {
                tokens: match spec {
                    Some(LimitSpec::Bucket { per_second, .. }) => per_second,
                    _ => 0.0,
                },
                at_ms: now,
                day: day_of(now),
                day_used: 0,
                recent: VecDeque::new(),
                minute: VecDeque::new(),
                lock_until: i64::MIN,
                stats: LimitStats {
                    account: account.to_string(),
                    family,
                    label: family.label().to_string(),
                    requests: 0,
                    ok: 0,
                    rate_limited_qps: 0,
                    rate_limited_daily: 0,
                    max_rate_1s: 0,
                    locks: 0,
                    locked_calls: 0,
                    lock_until_ms: None,
                },
            });
        st.stats.requests += 1;
        st.recent.push_back(now);
        while st.recent.front().is_some_and(|&t| t <= now - 1000) {
            st.recent.pop_front();
        }
        st.stats.max_rate_1s = st.stats.max_rate_1s.max(st.recent.len() as u64);
        let verdict = match spec {
            None => Verdict::Ok { daily: None },
            Some(LimitSpec::Bucket {
                per_second,
                daily,
                share,
            }) => bucket(st, now, per_second, daily, share),
            Some(LimitSpec::PerMinute {
                per_minute,
                window_ms,
                lock_ms,
                extends,
            }) => per_minute_window(st, now, (per_minute, window_ms), lock_ms, extends),
        };
        match verdict {
            Verdict::Ok { .. } => st.stats.ok += 1,
            Verdict::Qps { .. } => st.stats.rate_limited_qps += 1,
            Verdict::Daily { .. } => st.stats.rate_limited_daily += 1,
        }
        verdict
    }

    pub fn stats(&self) -> Vec<LimitStats> {
        let keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        let mut out: Vec<LimitStats> = keys.values().map(|k| k.stats.clone()).collect();
        out.sort_by(|a, b| (&a.account, a.family).cmp(&(&b.account, b.family)));
        out
    }
}

fn bucket(st: &mut KeyState, now: i64, per_second: f64, daily: Option<u64>, share: f64) -> Verdict {
    let rate = per_second * (1.0 - share);
    let elapsed = (now - st.at_ms).max(0) as f64 / 1000.0;
    st.tokens = (st.tokens + elapsed * rate).min(per_second);
    st.at_ms = now;
    let today = day_of(now);
    if st.day != today {
        st.day = today;
        st.day_used = 0;
    }
    let mut remaining = None;
    if let Some(cap) = daily {
        let into_day = (now - today * DAY_MS) as f64 / DAY_MS as f64;
        let neighbour = (share * cap as f64 * into_day).floor() as u64;
        let left = cap.saturating_sub(st.day_used + neighbour);
        if left == 0 {
            return Verdict::Daily {
                limit: cap,
                reset_ms: next_midnight_ms(now),
            };
        }
        remaining = Some((cap, left - 1));
    }
    if st.tokens < 1.0 {
        let retry_ms = if rate > 0.0 {
            ((1.0 - st.tokens) / rate * 1000.0).ceil() as i64
        } else {
            1000
        };
        return Verdict::Qps {
            limit: per_second,
            retry_ms: retry_ms.max(1),
        };
    }
    st.tokens -= 1.0;
    st.day_used += 1;
    Verdict::Ok { daily: remaining }
}

fn per_minute_window(
    st: &mut KeyState,
    now: i64,
    (per_window, window_ms): (u32, i64),
    lock_ms: i64,
    extends: bool,
) -> Verdict {
    let window_ms = window_ms.max(1);
    let limit = f64::from(per_window) * 1000.0 / window_ms as f64;
    if now < st.lock_until {
        st.stats.locked_calls += 1;
        if extends {
            st.lock_until = now + lock_ms.max(1);
            st.stats.lock_until_ms = Some(st.lock_until);
        }
        return Verdict::Qps {
            limit,
            retry_ms: st.lock_until - now,
        };
    }
    while st.minute.front().is_some_and(|&t| t <= now - window_ms) {
        st.minute.pop_front();
    }
    if st.minute.len() >= per_window as usize {
        st.lock_until = now + lock_ms.max(1);
        st.stats.locks += 1;
        st.stats.lock_until_ms = Some(st.lock_until);
        return Verdict::Qps {
            limit,
            retry_ms: lock_ms.max(1),
        };
    }
    st.minute.push_back(now);
    Verdict::Ok { daily: None }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PRO: LimitSpec = LimitSpec::Bucket {
        per_second: 10.0,
        daily: Some(30_000),
        share: 0.0,
    };

    #[test]
    fn bucket_admits_its_capacity_then_refills_at_its_rate() {
        let l = Limiter::new();
        let t0 = 1_700_000_000_000;
        for _ in 0..10 {
            assert!(matches!(
                l.check("a", SimFamily::ZoomMain, t0, Some(PRO)),
                Verdict::Ok { .. }
            ));
        }
        assert!(matches!(
            l.check("a", SimFamily::ZoomMain, t0, Some(PRO)),
            Verdict::Qps { retry_ms: 100, .. }
        ));
        assert!(matches!(
            l.check("a", SimFamily::ZoomMain, t0 + 100, Some(PRO)),
            Verdict::Ok { .. }
        ));
        let s = &l.stats()[0];
        assert_eq!(
            (s.requests, s.ok, s.rate_limited_qps, s.max_rate_1s),
            (12, 11, 1, 12)
        );
    }

    #[test]
    fn zoho_window_locks_after_the_minute_is_full() {
        let l = Limiter::new();
        let spec = Some(LimitSpec::PerMinute {
            per_minute: 3,
            window_ms: 60_000,
            lock_ms: 30_000,
            extends: false,
        });
        for i in 0..3 {
            assert!(matches!(
                l.check("z", SimFamily::ZohoMail, i, spec),
                Verdict::Ok { .. }
            ));
        }
        assert!(matches!(
            l.check("z", SimFamily::ZohoMail, 10, spec),
            Verdict::Qps { .. }
        ));
        // Locked even after the minute has passed, until the lock ends.
        assert!(matches!(
            l.check("z", SimFamily::ZohoMail, 30_009, spec),
            Verdict::Qps { .. }
        ));
        assert!(matches!(
            l.check("z", SimFamily::ZohoMail, 60_011, spec),
            Verdict::Ok { .. }
        ));
    }

    #[test]
    fn a_call_during_the_lock_starts_it_over_and_is_counted() {
        let l = Limiter::new();
        let spec = Some(LimitSpec::PerMinute {
            per_minute: 2,
            window_ms: 120_000,
            lock_ms: 22 * 60_000,
            extends: true,
        });
        for t in [0, 1] {
            assert!(matches!(
                l.check("z", SimFamily::ZohoMail, t, spec),
                Verdict::Ok { .. }
            ));
        }
        // The third within 2 minutes locks the organization for 22 minutes.
        assert!(matches!(
            l.check("z", SimFamily::ZohoMail, 100_000, spec),
            Verdict::Qps { .. }
        ));
        let lock_end = 100_000 + 22 * 60_000;
        // A probe a minute before the end starts the lock over.
        let probe = lock_end - 60_000;
        assert!(matches!(
            l.check("z", SimFamily::ZohoMail, probe, spec),
            Verdict::Qps { retry_ms, .. } if retry_ms == 22 * 60_000
        ));
        assert!(matches!(
            l.check("z", SimFamily::ZohoMail, lock_end + 1, spec),
            Verdict::Qps { .. }
        ));
        let s = &l.stats()[0];
        assert_eq!((s.locks, s.locked_calls), (1, 2));
        // Waited out from the last call: admitted.
        let end = lock_end + 1 + 22 * 60_000;
        assert!(matches!(
            l.check("z", SimFamily::ZohoMail, end, spec),
            Verdict::Ok { .. }
        ));
    }
}
