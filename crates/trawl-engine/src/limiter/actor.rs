//! `RateLimiter`: one per (account, API family, label), shared by every stream (of every
//! tenant naming that account) whose requests that bucket pays for.
//!
//! Owns: the [`Bucket`] (pacing, daily cap, AIMD) and the queue of waiting requests.
//! Receives: [`Acquire`] (answered when the request may go), [`Feedback`] (how the API
//! answered: clean, 429 per-second, 429 daily, a lock-style throttle: no permit until the
//! lock ends, see [`super::throttle`]), [`Reconfigure`] (tenants joined or left)
//! and [`GetState`]. Sends nothing but the permits. Waiters are served live polls first,
//! then backfill, and round-robin by stream within each, so one stream's backfill cannot
//! starve another's live poll. Streams reach it through a
//! [`LimiterHandle`](super::LimiterHandle).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use chrono::{DateTime, Utc};
use tokio::sync::oneshot;
use tokio::time::Instant;
use trawl_model::StreamKey;

use super::bucket::{Bucket, BucketSpec, BucketState, Denied};
use super::throttle::{Lockout, ThrottleView, Throttled, STATED_SHARE};
use crate::clock::Clock;
use crate::metrics::{Gauge, Metrics};

/// Whether a request serves a live poll or a backfill.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Priority {
    Live,
    Backfill,
}

/// Asks for one permit; the answer (the instant it was granted) comes when the request
/// may be sent.
#[derive(Message)]
#[rtype(result = "Result<Instant, PermitRefused>")]
pub struct Acquire {
    pub stream: StreamKey,
    pub priority: Priority,
}

/// The limiter stopped before the permit could be granted.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("rate limiter stopped")]
pub struct PermitRefused;

/// How the API answered a request that held a permit.
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub enum Feedback {
    Ok,
    /// A per-second 429 for a request granted at `granted`, with the instant
    /// `Retry-After` named, if any.
    RateLimited {
        granted: Instant,
        retry_at: Option<DateTime<Utc>>,
    },
    /// A daily-cap 429: nothing more until `until` (or the next 00:00 UTC).
    DailyLimit {
        until: Option<DateTime<Utc>>,
    },
    /// A lock-style throttle (Zoho's): no request until the lock ends, then below the
    /// stated limit.
    Throttled(Throttled),
    /// The permit was dropped without an answer (the request failed before one came, or
    /// was never sent): the bucket learns nothing but that it is no longer in flight.
    Released,
}

/// How long a one-at-a-time bucket waits for a granted permit's answer before it
/// stops counting it as in flight (a permit lost with its cancelled caller).
pub const MAX_IN_FLIGHT: Duration = Duration::from_secs(120);

#[derive(Message)]
#[rtype(result = "LimiterState")]
pub struct GetState;

/// New numbers for the bucket, and the `trawl_daily_quota_remaining` gauges (one per
/// tenant using it) to keep up to date.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Reconfigure {
    pub spec: BucketSpec,
    pub daily_gauges: Vec<Gauge>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct LimiterState {
    /// The bucket: `account/family/label`, the same for every tenant naming the account.
    pub bucket: String,
    #[serde(rename = "quota")]
    pub state: BucketState,
    pub waiting: usize,
    /// When the daily cap is spent: until when.
    pub blocked_until: Option<DateTime<Utc>>,
    /// While a lock-style throttle lasts: no request to the account before this.
    pub throttled_until: Option<DateTime<Utc>>,
    /// The last throttle episode (lock, stated limit, count), if there was one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub throttle: Option<ThrottleView>,
}

type Waiter = oneshot::Sender<Result<Instant, PermitRefused>>;

#[derive(Default)]
struct Queue {
    order: VecDeque<StreamKey>,
    waiters: HashMap<StreamKey, VecDeque<Waiter>>,
}

impl Queue {
    fn push(&mut self, key: StreamKey, w: Waiter) {
        let q = self.waiters.entry(key.clone()).or_default();
        if q.is_empty() {
            self.order.push_back(key);
        }
        q.push_back(w);
    }

    /// The next live waiter, round-robin by stream; abandoned waiters are dropped.
    fn pop(&mut self) -> Option<Waiter> {
        while let Some(key) = self.order.pop_front() {
            let Some(q) = self.waiters.get_mut(&key) else {
                continue;
            };
            let mut found = None;
            while let Some(w) = q.pop_front() {
                if !w.is_closed() {
                    found = Some(w);
                    break;
                }
            }
            if q.is_empty() {
                self.waiters.remove(&key);
            } else {
                self.order.push_back(key);
            }
            if found.is_some() {
                return found;
            }
        }
        None
    }

    fn len(&self) -> usize {
        self.waiters.values().map(VecDeque::len).sum()
    }
}

pub struct RateLimiter {
    name: Arc<str>,
    clock: Clock,
    bucket: Bucket,
    live: Queue,
    backfill: Queue,
    wake: Option<SpawnHandle>,
    blocked_until: Option<DateTime<Utc>>,
    daily_gauges: Vec<Gauge>,
    /// In a cluster, for a bucket made when its account moved here: observes the time
    /// from the assignment to the account's first granted request (once per account).
    handover: Option<Handover>,
    lockout: Lockout,
    /// Counts throttle episodes (`trawl_throttle_episodes_total`).
    metrics: Option<Arc<Metrics>>,
    /// One request in flight at a time (an API whose every call during a lock extends
    /// it: a second request sent before the first one's throttle answer came back would).
    one_at_a_time: bool,
    /// When the permit still unanswered was granted.
    in_flight: Option<Instant>,
}

/// See [`RateLimiter::with_handover`].
#[derive(Clone)]
pub struct Handover {
    pub since: Instant,
    /// Shared by the account's new buckets: the first grant among them observes.
    pub observed: Arc<std::sync::atomic::AtomicBool>,
    pub histogram: prometheus::Histogram,
}

impl RateLimiter {
    /// Observes the account's handover time at the first permit granted.
    pub fn with_handover(mut self, handover: Option<Handover>) -> Self {
        self.handover = handover;
        self
    }

    /// Grants the next permit only once the last one is answered (or dropped).
    pub fn one_at_a_time(mut self, on: bool) -> Self {
        self.one_at_a_time = on;
        self
    }

    /// Counts throttle episodes into `metrics`.
    pub fn with_metrics(mut self, metrics: Option<Arc<Metrics>>) -> Self {
        self.metrics = metrics;
        self
    }

    /// Continues the bucket's stored day (see [`super::day`]).
    pub fn with_day(mut self, day: Option<super::DayState>) -> Self {
        if let Some(d) = day {
            self.bucket.restore(&d, self.clock.now());
            tracing::info!(limiter = %self.name, used_today = d.used, "continuing the day's quota count");
        }
        self
    }

    /// `name` is the bucket's (`account/family/label`), for logs and `/status`;
    /// `daily_gauges` mirror the daily quota left into `trawl_daily_quota_remaining`.
    pub fn new(
        name: impl Into<Arc<str>>,
        spec: BucketSpec,
        clock: Clock,
        daily_gauges: Vec<Gauge>,
    ) -> Self {
        let bucket = Bucket::new(spec, Instant::now(), clock.now());
        Self {
            name: name.into(),
            clock,
            bucket,
            live: Queue::default(),
            backfill: Queue::default(),
            wake: None,
            blocked_until: None,
            daily_gauges,
            handover: None,
            lockout: Lockout::default(),
            metrics: None,
            one_at_a_time: false,
            in_flight: None,
        }
    }

    /// A lock-style throttle: shut the bucket until the lock ends; on a new episode,
    /// pace below the stated limit (or slow down, when none was stated), say so once at
    /// INFO and count it.
    fn throttled(&mut self, t: Throttled) {
        let (now, utc) = (Instant::now(), self.clock.now());
        let v = self.lockout.on_throttle(&t, now, utc);
        let resume = self.clock.instant_at(v.resume);
        match t.limit {
            Some(l) => {
                self.bucket.lock(resume);
                self.bucket.pace_below(l.requests, l.per, STATED_SHARE);
            }
            None => self.bucket.on_rate_limited(now, t.granted, Some(resume)),
        }
        if !v.new_episode {
            return;
        }
        if let Some(m) = &self.metrics {
            m.throttle_episode(&t.stream);
        }
        let lock = t.lock.map_or_else(
            || "not stated".to_string(),
            |l| format!("{} s", l.as_secs()),
        );
        let limit = t
            .limit
            .map_or_else(|| "not stated".to_string(), |l| l.to_string());
        tracing::info!(
            tenant = %t.stream.tenant,
            source = %t.stream.source,
            limiter = %self.name,
            until = %v.resume,
            %lock,
            %limit,
            "throttled by the API: no request to this account until the lock ends, then below the stated limit"
        );
    }

    fn next_waiter(&mut self) -> Option<Waiter> {
        self.live.pop().or_else(|| self.backfill.pop())
    }

    fn has_waiters(&self) -> bool {
        self.live.len() + self.backfill.len() > 0
    }

    /// Grants permits while the quota allows and someone waits; then sleeps until the
    /// quota allows the next one.
    fn pump(&mut self, ctx: &mut Context<Self>) {
        if let Some(h) = self.wake.take() {
            ctx.cancel_future(h);
        }
        while self.has_waiters() {
            let now = Instant::now();
            if let Some(t) = self.in_flight.filter(|_| self.one_at_a_time) {
                if now < t + MAX_IN_FLIGHT {
                    // Its answer pumps again.
                    self.sleep_until(ctx, t + MAX_IN_FLIGHT);
                    break;
                }
                self.in_flight = None;
            }
            match self.bucket.try_acquire(now, self.clock.now()) {
                Ok(()) => {
                    self.blocked_until = None;
                    if let Some(h) = self.handover.take() {
                        if !h.observed.swap(true, std::sync::atomic::Ordering::SeqCst) {
                            h.histogram.observe(h.since.elapsed().as_secs_f64());
                        }
                    }
                    match self.next_waiter() {
                        Some(w) => {
                            // A waiter that vanished between pop and send loses its
                            // permit; the request was never sent, which only costs pace.
                            if w.send(Ok(now)).is_ok() {
                                self.in_flight = Some(now);
                            }
                        }
                        None => break,
                    }
                }
                Err(Denied::Until(at)) => {
                    self.sleep_until(ctx, at);
                    break;
                }
                Err(Denied::DailyCapUntil(t)) => {
                    if self.blocked_until != Some(t) {
                        tracing::warn!(limiter = %self.name, until = %t, "daily API quota spent; waiting for the reset");
                    }
                    self.blocked_until = Some(t);
                    // Re-check at least every minute, so a clock that jumps is noticed.
                    let at = self.clock.instant_at(t).min(now + Duration::from_secs(60));
                    self.sleep_until(ctx, at);
                    break;
                }
            }
        }
        self.update_gauge();
    }

    fn sleep_until(&mut self, ctx: &mut Context<Self>, at: Instant) {
        let delay = at.saturating_duration_since(Instant::now());
        self.wake = Some(ctx.run_later(delay, |act, ctx| {
            act.wake = None;
            act.pump(ctx);
        }));
    }

    fn update_gauge(&self) {
        if let Some(left) = self.bucket.state(Instant::now()).daily_remaining {
            for g in &self.daily_gauges {
                g.set(i64::from(left));
            }
        }
    }
}

impl Actor for RateLimiter {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        // A limiter serves thousands of waiters: never let its mailbox apply backpressure.
        ctx.set_mailbox_capacity(1 << 20);
        self.update_gauge();
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        while let Some(w) = self.next_waiter() {
            let _ = w.send(Err(PermitRefused));
        }
    }
}

impl Handler<Acquire> for RateLimiter {
    type Result = ResponseFuture<Result<Instant, PermitRefused>>;

    fn handle(&mut self, msg: Acquire, ctx: &mut Context<Self>) -> Self::Result {
        let (tx, rx) = oneshot::channel();
        match msg.priority {
            Priority::Live => self.live.push(msg.stream, tx),
            Priority::Backfill => self.backfill.push(msg.stream, tx),
        }
        if self.wake.is_none() {
            self.pump(ctx);
        }
        Box::pin(async move { rx.await.unwrap_or(Err(PermitRefused)) })
    }
}

impl Handler<Feedback> for RateLimiter {
    type Result = ();

    fn handle(&mut self, msg: Feedback, ctx: &mut Context<Self>) {
        // A clean answer changes nothing a sleeping pump waits for, unless the bucket
        // waited for that answer (one at a time).
        let quiet = matches!(msg, Feedback::Ok | Feedback::Released) && !self.one_at_a_time;
        self.in_flight = None;
        match msg {
            Feedback::Released => {}
            Feedback::Ok => {
                self.bucket.on_success();
                self.lockout.on_ok(self.clock.now());
            }
            Feedback::Throttled(t) => self.throttled(t),
            Feedback::RateLimited { granted, retry_at } => {
                let at = retry_at.map(|t| self.clock.instant_at(t));
                self.bucket.on_rate_limited(Instant::now(), granted, at);
                tracing::debug!(limiter = %self.name, rate = self.bucket.state(Instant::now()).rate, "429 per-second: slowing down");
            }
            Feedback::DailyLimit { until } => {
                self.bucket.on_daily_limit(self.clock.now(), until);
            }
        }
        if !quiet {
            self.pump(ctx);
        }
    }
}

impl Handler<Reconfigure> for RateLimiter {
    type Result = ();

    fn handle(&mut self, msg: Reconfigure, ctx: &mut Context<Self>) {
        self.bucket.reconfigure(msg.spec);
        self.daily_gauges = msg.daily_gauges;
        self.pump(ctx);
    }
}

impl Handler<GetState> for RateLimiter {
    type Result = MessageResult<GetState>;

    fn handle(&mut self, _: GetState, _: &mut Context<Self>) -> Self::Result {
        MessageResult(LimiterState {
            bucket: self.name.to_string(),
            state: self.bucket.state(Instant::now()),
            waiting: self.live.len() + self.backfill.len(),
            blocked_until: self.blocked_until,
            throttled_until: self.lockout.until(self.clock.now()),
            throttle: self.lockout.view().cloned(),
        })
    }
}

#[cfg(test)]
mod tests;
