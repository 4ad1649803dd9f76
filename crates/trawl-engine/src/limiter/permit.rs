//! The handle a stream holds on its bucket's `RateLimiter`: [`LimiterHandle::acquire`]
//! waits for a [`Permit`]; the permit carries the API's answer back
//! ([`Permit::answered`], [`Permit::rate_limited_by`]: a per-second or daily 429, or a
//! lock-style throttle). A permit
//! dropped without an answer (the request failed before one came) tells the bucket only
//! that it is no longer in flight.

use actix::Addr;
use chrono::{DateTime, Utc};
use tokio::time::Instant;
use trawl_model::StreamKey;

use trawl_sources::{LimitType, RateLimitInfo};

use super::actor::{Acquire, Feedback, Priority, RateLimiter};
use super::throttle::Throttled;

/// The limiter stopped before granting a permit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("rate limiter stopped")]
pub struct LimiterGone;

/// A stream's way to its bucket. Cheap to clone.
#[derive(Clone)]
pub struct LimiterHandle {
    addr: Addr<RateLimiter>,
}

impl LimiterHandle {
    pub fn new(addr: Addr<RateLimiter>) -> Self {
        Self { addr }
    }

    /// Waits until one request of `stream` may go.
    pub async fn acquire(
        &self,
        stream: &StreamKey,
        priority: Priority,
    ) -> Result<Permit, LimiterGone> {
        let granted = self
            .addr
            .send(Acquire {
                stream: stream.clone(),
                priority,
            })
            .await
            .map_err(|_| LimiterGone)?
            .map_err(|_| LimiterGone)?;
        Ok(Permit {
            granted,
            stream: stream.clone(),
            limiter: self.addr.clone(),
            answered: false,
        })
    }
}

/// Leave to send one request; say how the API answered.
pub struct Permit {
    granted: Instant,
    stream: StreamKey,
    limiter: Addr<RateLimiter>,
    /// Feedback was sent (else dropping it says [`Feedback::Released`]).
    answered: bool,
}

impl Drop for Permit {
    fn drop(&mut self) {
        if !self.answered {
            self.limiter.do_send(Feedback::Released);
        }
    }
}

impl Permit {
    pub fn granted(&self) -> Instant {
        self.granted
    }

    /// A clean answer (the bucket probes a little higher).
    pub fn answered(self) {
        self.tell(Feedback::Ok);
    }

    fn tell(mut self, feedback: Feedback) {
        self.answered = true;
        self.limiter.do_send(feedback);
    }

    /// A per-second 429, with the instant `Retry-After` named, if any.
    pub fn rate_limited(self, retry_at: Option<DateTime<Utc>>) {
        let granted = self.granted;
        self.tell(Feedback::RateLimited { granted, retry_at });
    }

    /// A daily-cap 429: nothing more until `until` (or the next 00:00 UTC).
    pub fn daily_limit(self, until: Option<DateTime<Utc>>) {
        self.tell(Feedback::DailyLimit { until });
    }

    /// Any rate-limit answer, by what it was: a daily cap, a lock-style throttle (no
    /// request to the account until the lock ends), or a per-second 429.
    pub fn rate_limited_by(self, info: &RateLimitInfo) {
        let at = info.retry_after.map(|r| r.at());
        match (info.kind, info.throttle.as_deref()) {
            (LimitType::Daily, _) => self.daily_limit(at),
            (_, Some(t)) => {
                let throttled = Throttled {
                    stream: self.stream.clone(),
                    granted: self.granted,
                    until: at,
                    lock: t.lock,
                    limit: t.limit,
                };
                self.tell(Feedback::Throttled(throttled));
            }
            _ => self.rate_limited(at),
        }
    }
}
