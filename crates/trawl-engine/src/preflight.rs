//! Reading the first page of a stream as `trawl run` would, for `trawl preflight`.
//!
//! A preflight must be safe beside a running fleet, so its requests go through the same
//! pacing as the engine's: each one under a permit of the account's bucket (a
//! [`LimiterHandle`] from the same [`Accounts`](crate::limiter::Accounts) registry, so
//! the bucket has the plan's rate, the tenant's quota share and, when the day's stored
//! count was loaded, that count and any daily block), with the API's answer fed back to
//! it. At most [`MAX_REQUESTS`] API requests per stream: each
//! [`WindowScan::next_page`](trawl_sources::WindowScan::next_page) makes at most one, and
//! it is called at most that often. The read stops at the first page (it read and
//! parsed), at the first error that says what is wrong, or when the requests are spent
//! on answers that asked to start over (a token refused and refreshed, the Phone
//! report's date form). A per-second 429 is fed back and the next permit waits it out,
//! within the same budget. Token requests are the tenant's token cache's and are not
//! counted here.

use std::sync::Arc;
use std::time::Duration;

use trawl_model::Window;
use trawl_sources::{LimitType, ScanStep, Source, SourceError};

use crate::clock::Clock;
use crate::limiter::{LimiterHandle, Priority};

/// API requests one stream's check may make.
pub const MAX_REQUESTS: u32 = 3;

/// How a first-page read ended.
#[derive(Debug)]
pub enum Outcome {
    /// A page read and parsed: its records in the window, and those that did not parse.
    Page { events: usize, rejected: usize },
    /// The API (or the token endpoint) said what is wrong.
    Failed(SourceError),
    /// The bucket granted no permit within the wait (daily share spent, or paused).
    NoPermit { waited: Duration },
    /// Every request was answered with a reason to start over; the last one.
    OutOfRequests { last: String },
}

/// What one stream's first-page read came to.
#[derive(Debug)]
pub struct FirstPage {
    pub outcome: Outcome,
    /// API requests made (at most [`MAX_REQUESTS`]): those that got an answer or tried
    /// to connect.
    pub requests: u32,
    /// The HTTP status of each request made (`None`: no answer came).
    pub statuses: Vec<Option<u16>>,
}

/// Reads the first page of `window` through `source`, each request under a permit of
/// `limiter` (waiting at most `wait` for each).
pub async fn read_first_page(
    source: Arc<dyn Source>,
    window: Window,
    limiter: &LimiterHandle,
    clock: &Clock,
    wait: Duration,
) -> FirstPage {
    let key = source.stream().clone();
    let mut scan = source.scan(window);
    let mut statuses = Vec::new();
    let mut last = String::new();
    for _ in 0..MAX_REQUESTS {
        let asked = tokio::time::Instant::now();
        let permit = match tokio::time::timeout(wait, limiter.acquire(&key, Priority::Live)).await {
            Ok(Ok(p)) => p,
            Ok(Err(gone)) => {
                return end(
                    Outcome::Failed(SourceError::retryable(gone.to_string())),
                    statuses,
                )
            }
            Err(_) => {
                let waited = asked.elapsed();
                return end(Outcome::NoPermit { waited }, statuses);
            }
        };
        let result = scan.next_page(clock.now()).await;
        if let Some(exchange) = result.exchange {
            statuses.push(exchange.status);
        }
        match result.step {
            Ok(ScanStep::Page {
                events,
                rejected,
                late,
                ..
            }) => {
                permit.answered();
                let page = Outcome::Page {
                    events: events.len() + late.len(),
                    rejected: rejected.len(),
                };
                return end(page, statuses);
            }
            Ok(ScanStep::Restarted { reason }) => {
                permit.answered();
                last = reason;
            }
            Err(SourceError::RateLimited(info)) if info.kind != LimitType::Daily => {
                last = info.to_string();
                permit.rate_limited_by(&info);
            }
            Err(e) => {
                if let SourceError::RateLimited(info) = &e {
                    permit.daily_limit(info.retry_after.map(|r| r.at()));
                }
                // Any other error: the permit is dropped without feedback (the bucket
                // learns nothing from a refusal that is not about the rate).
                return end(Outcome::Failed(e), statuses);
            }
        }
    }
    end(Outcome::OutOfRequests { last }, statuses)
}

fn end(outcome: Outcome, statuses: Vec<Option<u16>>) -> FirstPage {
    FirstPage {
        outcome,
        requests: statuses.len() as u32,
        statuses,
    }
}

#[cfg(test)]
mod tests;
