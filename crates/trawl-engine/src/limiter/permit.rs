//! The handle a stream holds on its bucket's `RateLimiter`: [`LimiterHandle::acquire`]
//! waits for a [`Permit`]; the permit carries the API's answer back
//! ([`Permit::answered`], [`Permit::rate_limited`], [`Permit::daily_limit`]). A permit
//! dropped without an answer (the request failed before one came) tells the bucket
//! nothing.

use actix::Addr;
use chrono::{DateTime, Utc};
use tokio::time::Instant;
use trawl_model::StreamKey;

use super::actor::{Acquire, Feedback, Priority, RateLimiter};

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
            limiter: self.addr.clone(),
        })
    }
}

/// Leave to send one request; say how the API answered.
pub struct Permit {
    granted: Instant,
    limiter: Addr<RateLimiter>,
}

impl Permit {
    pub fn granted(&self) -> Instant {
        self.granted
    }

    /// A clean answer (the bucket probes a little higher).
    pub fn answered(self) {
        self.limiter.do_send(Feedback::Ok);
    }

    /// A per-second 429, with the instant `Retry-After` named, if any.
    pub fn rate_limited(self, retry_at: Option<DateTime<Utc>>) {
        self.limiter.do_send(Feedback::RateLimited {
            granted: self.granted,
            retry_at,
        });
    }

    /// A daily-cap 429: nothing more until `until` (or the next 00:00 UTC).
    pub fn daily_limit(self, until: Option<DateTime<Utc>>) {
        self.limiter.do_send(Feedback::DailyLimit { until });
    }
}
