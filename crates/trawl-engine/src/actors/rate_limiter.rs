//! `RateLimiter`: one per (account, API family, label), shared by every stream whose
//! requests that bucket pays for.
//!
//! Owns: the bucket's [`Quota`] (pacing, daily cap, AIMD) and the queue of waiting
//! requests. Receives: [`Acquire`] (answered when the request may go), [`Feedback`] (how
//! the API answered: clean, 429 per-second, 429 daily) and [`GetState`]. Sends nothing
//! but the permits. Waiters are served live polls first, then backfill, and round-robin
//! by stream within each, so one stream's backfill cannot starve another's live poll.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use chrono::{DateTime, Utc};
use tokio::sync::oneshot;
use tokio::time::Instant;
use trawl_model::StreamKey;

use crate::clock::Clock;
use crate::quota::{Denied, Quota, QuotaSpec, QuotaState};

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
#[derive(Message, Debug, Clone, Copy)]
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
}

#[derive(Message)]
#[rtype(result = "LimiterState")]
pub struct GetState;

#[derive(Debug, Clone, serde::Serialize)]
pub struct LimiterState {
    pub quota: QuotaState,
    pub waiting: usize,
    /// When the daily cap is spent: until when.
    pub blocked_until: Option<DateTime<Utc>>,
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
    quota: Quota,
    live: Queue,
    backfill: Queue,
    wake: Option<SpawnHandle>,
    blocked_until: Option<DateTime<Utc>>,
    daily_gauge: Option<crate::metrics::Gauge>,
}

impl RateLimiter {
    /// `name` is for logs (`tenant/family/label`); `daily_gauge` mirrors the daily
    /// quota left into `trawl_daily_quota_remaining`.
    pub fn new(
        name: impl Into<Arc<str>>,
        spec: QuotaSpec,
        clock: Clock,
        daily_gauge: Option<crate::metrics::Gauge>,
    ) -> Self {
        let quota = Quota::new(spec, Instant::now(), clock.now());
        Self {
            name: name.into(),
            clock,
            quota,
            live: Queue::default(),
            backfill: Queue::default(),
            wake: None,
            blocked_until: None,
            daily_gauge,
        }
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
            match self.quota.try_acquire(now, self.clock.now()) {
                Ok(()) => {
                    self.blocked_until = None;
                    match self.next_waiter() {
                        Some(w) => {
                            // A waiter that vanished between pop and send loses its
                            // permit; the request was never sent, which only costs pace.
                            let _ = w.send(Ok(now));
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
        if let (Some(g), Some(left)) = (
            &self.daily_gauge,
            self.quota.state(Instant::now()).daily_remaining,
        ) {
            g.set(i64::from(left));
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
        match msg {
            Feedback::Ok => self.quota.on_success(),
            Feedback::RateLimited { granted, retry_at } => {
                let at = retry_at.map(|t| self.clock.instant_at(t));
                self.quota.on_rate_limited(Instant::now(), granted, at);
                tracing::debug!(limiter = %self.name, rate = self.quota.state(Instant::now()).rate, "429 per-second: slowing down");
            }
            Feedback::DailyLimit { until } => {
                self.quota.on_daily_limit(self.clock.now(), until);
            }
        }
        if !matches!(msg, Feedback::Ok) {
            self.pump(ctx);
        }
    }
}

impl Handler<GetState> for RateLimiter {
    type Result = MessageResult<GetState>;

    fn handle(&mut self, _: GetState, _: &mut Context<Self>) -> Self::Result {
        MessageResult(LimiterState {
            quota: self.quota.state(Instant::now()),
            waiting: self.live.len() + self.backfill.len(),
            blocked_until: self.blocked_until,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use trawl_model::{SourceKind, TenantId};

    fn key(t: &str) -> StreamKey {
        StreamKey::new(TenantId::new(t).unwrap(), SourceKind::ZoomOperationLogs)
    }

    fn limiter(per_second: f64, daily: Option<u32>) -> Addr<RateLimiter> {
        let clock = Clock::following_tokio(Utc.with_ymd_and_hms(2026, 3, 1, 23, 59, 0).unwrap());
        RateLimiter::new(
            "t/zoom_main/Heavy",
            QuotaSpec {
                per_second,
                daily,
                share: 1.0,
            },
            clock,
            None,
        )
        .start()
    }

    #[actix::test]
    async fn paces_permits_at_the_plan_rate() {
        tokio::time::pause();
        let l = limiter(10.0, None);
        let start = Instant::now();
        for _ in 0..21 {
            l.send(Acquire {
                stream: key("a"),
                priority: Priority::Backfill,
            })
            .await
            .unwrap()
            .unwrap();
        }
        let took = start.elapsed().as_secs_f64();
        // 20 intervals of 1 / (10 * SAFETY) seconds.
        assert!((2.0..2.2).contains(&took), "21 permits took {took} s");
    }

    #[actix::test]
    async fn live_goes_first_and_streams_take_turns() {
        tokio::time::pause();
        let l = limiter(1.0, None);
        // Take the first permit so the rest queue up.
        l.send(Acquire {
            stream: key("a"),
            priority: Priority::Backfill,
        })
        .await
        .unwrap()
        .unwrap();
        let order = Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for (name, prio) in [
            ("a", Priority::Backfill),
            ("a", Priority::Backfill),
            ("b", Priority::Backfill),
            ("c", Priority::Live),
        ] {
            let (l, order) = (l.clone(), order.clone());
            tasks.push(actix::spawn(async move {
                l.send(Acquire {
                    stream: key(name),
                    priority: prio,
                })
                .await
                .unwrap()
                .unwrap();
                order.lock().unwrap().push(name);
            }));
            tokio::task::yield_now().await;
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(*order.lock().unwrap(), vec!["c", "a", "b", "a"]);
    }

    #[actix::test]
    async fn a_daily_cap_holds_requests_until_midnight_utc() {
        tokio::time::pause();
        let l = limiter(100.0, Some(2));
        let start = Instant::now();
        for _ in 0..3 {
            l.send(Acquire {
                stream: key("a"),
                priority: Priority::Live,
            })
            .await
            .unwrap()
            .unwrap();
        }
        // The clock started at 23:59:00: the third permit waits for 00:00 UTC.
        let waited = start.elapsed().as_secs();
        assert!((60..=61).contains(&waited), "waited {waited} s");
    }

    #[actix::test]
    async fn a_429_pauses_until_retry_after() {
        tokio::time::pause();
        let l = limiter(10.0, None);
        let granted = l
            .send(Acquire {
                stream: key("a"),
                priority: Priority::Live,
            })
            .await
            .unwrap()
            .unwrap();
        let now = Utc.with_ymd_and_hms(2026, 3, 1, 23, 59, 0).unwrap();
        l.send(Feedback::RateLimited {
            granted,
            retry_at: Some(now + chrono::Duration::seconds(5)),
        })
        .await
        .unwrap();
        let start = Instant::now();
        l.send(Acquire {
            stream: key("a"),
            priority: Priority::Live,
        })
        .await
        .unwrap()
        .unwrap();
        let waited = start.elapsed().as_secs_f64();
        assert!((4.9..5.2).contains(&waited), "waited {waited} s");
        let state = l.send(GetState).await.unwrap();
        assert!(state.quota.rate < state.quota.ceiling);
    }
}
