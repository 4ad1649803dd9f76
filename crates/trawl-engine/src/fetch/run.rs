//! The fetch loop of one stream: recover ([`super::recover`]), backfill, then poll
//! live, forever.
//!
//! After recovery the seen set holds every id published for the stream's open period.
//! From then on a record goes to Kafka only if its id is not in the set, and
//! its id joins the set only after Kafka acknowledged it: the set never claims more than
//! was delivered, so no crash at any point can lose or duplicate a record.
//!
//! One publish per stream is in flight at a time, so a stored position always covers
//! every earlier acknowledged event. Checkpoints are stored when a window completes and
//! at most every [`SAVE_EVERY`] otherwise; the read-back covers the rest.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use actix::Addr;
use chrono::{DateTime, Duration, Utc};
use futures::stream::{FuturesUnordered, StreamExt};
use tokio::time::Instant;
use trawl_kafka::{EventBatch, KafkaSettings};
use trawl_model::{Checkpoint, Event, StreamKey, Window};
use trawl_sources::{LimitType, ScanStep, Source, SourceError};

use super::plan;
use crate::actors::publisher::{DeadLetter, Publish, Published, Publisher};
use crate::actors::rate_limiter::{Acquire, Feedback, Priority, RateLimiter};
use crate::backoff::Backoff;
use crate::clock::Clock;
use crate::config::StreamDefaults;
use crate::metrics::{Metrics, StreamMetrics};
use crate::status::{StatusBoard, StreamState};

/// The longest a stream goes without storing its checkpoint while pages flow.
pub const SAVE_EVERY: StdDuration = StdDuration::from_secs(5);
/// How often a stream whose polls find nothing new stores its moved watermark. After a
/// restart the first live window starts this much earlier: still one request, and the
/// stored seen ids drop what it finds again. At fleet scale (10,000 tenants polling
/// every minute) a checkpoint record per poll was most of the idle cost.
pub const IDLE_SAVE_EVERY: StdDuration = StdDuration::from_secs(600);
/// Tries of a page that does not parse before its body goes to the dead-letter topic.
pub const MALFORMED_TRIES: u32 = 3;
/// Consecutive transient failures of one window before the fetcher gives up and lets
/// the supervisor restart it.
pub const TRANSIENT_TRIES: u32 = 8;

/// How a fetch loop ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exit {
    /// Something that may pass (API down, broker down): restart after a backoff.
    Transient(String),
    /// Something a person must fix (credentials, permissions): retry slowly.
    Permanent(String),
    /// The API is not available to this account: do not retry.
    Disabled(String),
}

/// Everything a stream's loop needs; cheap to clone.
#[derive(Clone)]
pub struct FetcherDeps {
    pub key: StreamKey,
    pub source: Arc<dyn Source>,
    pub limiter: Addr<RateLimiter>,
    pub publisher: Addr<Publisher>,
    pub kafka: Arc<KafkaSettings>,
    pub settings: StreamDefaults,
    pub clock: Clock,
    pub metrics: Arc<Metrics>,
    pub status: StatusBoard,
    /// Process-wide bound on API requests in flight (see [`MAX_REQUESTS_IN_FLIGHT`]).
    pub requests: Arc<tokio::sync::Semaphore>,
}

/// API requests of all streams in flight at once. Pacing is per account (the rate
/// limiters); this bounds the process: when thousands of tenants start together, their
/// first requests would otherwise each open a connection at the same moment (10,000
/// connections and their buffers at start-up in the fleet bench). Taken after the rate
/// limiter's grant, so a stream waiting for its account's quota holds no slot.
pub const MAX_REQUESTS_IN_FLIGHT: usize = 256;

struct Shared {
    deps: FetcherDeps,
    m: StreamMetrics,
    cp: RefCell<Checkpoint>,
    publish_lock: tokio::sync::Mutex<()>,
    last_save: RefCell<Instant>,
    /// The watermark of the checkpoint last stored.
    saved_watermark: RefCell<DateTime<Utc>>,
}

pub(super) fn dur(d: StdDuration) -> Duration {
    Duration::from_std(d).unwrap_or(Duration::MAX)
}

/// Runs the stream until it fails; never returns `Ok` (it is stopped by cancellation).
pub async fn run_stream(deps: FetcherDeps) -> Exit {
    let key = deps.key.clone();
    deps.status.update(&key, |s| {
        s.state = StreamState::Starting;
    });
    // The recovery, the backfill and each live window run as boxed futures of their own,
    // allocated while they run: a stream that sleeps until its next poll then holds only
    // this loop's small state, not the largest state of an HTTP request (2.2 KB per
    // stream, 30 MB for a fleet of 15,000 streams).
    let cp = match Box::pin(super::recover::recover(&deps)).await {
        Ok(cp) => cp,
        Err(e) => return e,
    };
    let m = deps.metrics.stream(&key);
    let shared = Rc::new(Shared {
        m,
        saved_watermark: RefCell::new(cp.watermark),
        cp: RefCell::new(cp),
        publish_lock: tokio::sync::Mutex::new(()),
        last_save: RefCell::new(Instant::now()),
        deps,
    });
    shared.report_watermark();
    loop {
        if let Err(e) = Box::pin(backfill(&shared)).await {
            return e;
        }
        if let Err(e) = poll_live(&shared).await {
            return e;
        }
    }
}

impl Shared {
    fn key(&self) -> &StreamKey {
        &self.deps.key
    }

    fn oldest(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now - self.deps.source.retention() + Duration::days(1)
    }

    fn report_watermark(&self) {
        let now = self.deps.clock.now();
        let wm = self.cp.borrow().watermark;
        let lag = (now - wm).num_seconds().max(0);
        self.m.lag.set(lag);
        self.deps.status.update(self.key(), |s| {
            s.watermark = Some(wm);
            s.lag_seconds = Some(lag);
        });
    }

    /// Dedupes a page against the seen set, publishes what is new and, when the window
    /// is complete or it is time, stores the checkpoint. One at a time per stream.
    async fn publish_page(
        &self,
        events: Vec<Event>,
        completed: Option<Window>,
    ) -> Result<(), Exit> {
        let _guard = self.publish_lock.lock().await;
        let total = events.len();
        let fresh: Vec<Event> = {
            let cp = self.cp.borrow();
            events
                .into_iter()
                .filter(|e| !cp.seen.contains(&e.id))
                .collect()
        };
        self.m.duplicates.inc_by((total - fresh.len()) as u64);
        let since = self.last_save.borrow().elapsed();
        let save = match (fresh.is_empty(), completed.is_some()) {
            (true, false) => return Ok(()),
            (false, false) => since >= SAVE_EVERY,
            (false, true) => true,
            // A window that found nothing new: the watermark moves in memory at once.
            // It is stored now and then while it creeps (idle live polls: a restart in
            // between only re-reads those minutes), at once when it leaps (a backfill
            // window whose records were all read back after a crash).
            (true, true) => {
                let unsaved =
                    completed.map_or(Duration::zero(), |w| w.end - *self.saved_watermark.borrow());
                since >= IDLE_SAVE_EVERY || unsaved.to_std().unwrap_or_default() >= IDLE_SAVE_EVERY
            }
        };
        let lookback = dur(self.deps.settings.lookback);
        let advance = |cp: &mut Checkpoint, fresh: &[(trawl_model::EventId, DateTime<Utc>)]| {
            for (id, t) in fresh {
                cp.seen.insert(id, *t);
            }
            if let Some(w) = completed {
                cp.complete_window(w);
                cp.prune_seen(lookback);
            }
        };
        let n = fresh.len() as u64;
        let times: Vec<_> = fresh.iter().map(|e| (e.id, e.time)).collect();
        // Serialized here, on this fetcher's worker thread, not on the publisher's.
        let batch = (!fresh.is_empty()).then(|| EventBatch::encode(self.key(), &fresh));
        drop(fresh);
        let checkpoint = save.then(|| {
            let mut cp = self.cp.borrow().clone();
            advance(&mut cp, &times);
            cp.updated_at = self.deps.clock.now();
            cp
        });
        let published = if batch.is_none() && checkpoint.is_none() {
            Published {
                position: None,
                checkpoint: None,
            }
        } else {
            self.deps
                .publisher
                .send(Publish {
                    stream: self.key().clone(),
                    events: batch,
                    checkpoint,
                })
                .await
                .map_err(|e| Exit::Transient(format!("publisher unavailable: {e}")))?
                .map_err(|e| Exit::Transient(format!("publishing to Kafka failed: {e}")))?
        };
        match published.checkpoint {
            Some(cp) => {
                *self.saved_watermark.borrow_mut() = cp.watermark;
                *self.cp.borrow_mut() = cp;
                *self.last_save.borrow_mut() = Instant::now();
                self.deps.metrics.checkpoint_commits.inc();
            }
            None => {
                let mut cp = self.cp.borrow_mut();
                advance(&mut cp, &times);
                if published.position.is_some() {
                    cp.output = published.position;
                }
            }
        }
        self.m.events.inc_by(n);
        self.deps.status.update(self.key(), |s| s.events += n);
        if completed.is_some() {
            let now = self.deps.clock.now();
            self.m.last_success.set(now.timestamp());
            self.deps.status.update(self.key(), |s| {
                s.last_success = Some(now);
                s.last_error = None;
            });
        }
        self.report_watermark();
        Ok(())
    }

    /// Walks one window to its end. `Err` ends the stream's loop.
    async fn scan_window(&self, window: Window, priority: Priority) -> Result<(), Exit> {
        let key = self.key().clone();
        let mut scan = self.deps.source.clone().scan(window);
        let mut transient = Backoff::new(StdDuration::from_secs(1), StdDuration::from_secs(60));
        let mut malformed_tries = 0u32;
        loop {
            let asked = Instant::now();
            self.waiting(true);
            let granted = self
                .deps
                .limiter
                .send(Acquire {
                    stream: key.clone(),
                    priority,
                })
                .await
                .map_err(|_| Exit::Transient("rate limiter stopped".into()))?
                .map_err(|_| Exit::Transient("rate limiter stopped".into()))?;
            self.waiting(false);
            self.m.wait.observe(asked.elapsed().as_secs_f64());
            let result = {
                let _slot =
                    self.deps.requests.acquire().await.map_err(|_| {
                        Exit::Transient("engine stopping: request slots closed".into())
                    })?;
                scan.next_page(self.deps.clock.now()).await
            };
            if let Some(x) = result.exchange {
                self.deps.metrics.http_request(&key, x.status);
                self.m.duration.observe(x.elapsed.as_secs_f64());
            }
            match result.step {
                Ok(ScanStep::Page { events, done }) => {
                    self.deps.limiter.do_send(Feedback::Ok);
                    if result.exchange.is_some() {
                        self.m.pages.inc();
                        self.deps.status.update(&key, |s| s.pages += 1);
                    }
                    transient.reset();
                    malformed_tries = 0;
                    // The original window is complete even when the scan moved its start
                    // past the API's retention: what lies before is gone from the API.
                    self.publish_page(events, done.then_some(window)).await?;
                    if done {
                        return Ok(());
                    }
                }
                Ok(ScanStep::Restarted { reason }) => {
                    self.deps.limiter.do_send(Feedback::Ok);
                    tracing::info!(tenant = %key.tenant, source = %key.source, %window, %reason, "window scan starts over");
                }
                Err(SourceError::RateLimited(info)) => {
                    let label = info
                        .label
                        .clone()
                        .unwrap_or_else(|| self.deps.source.limit_key().label.to_string());
                    self.deps
                        .metrics
                        .rate_limited(&key, &label, info.kind.as_str());
                    self.deps.status.update(&key, |s| s.rate_limited += 1);
                    let at = info.retry_after.map(|r| r.at());
                    self.deps.limiter.do_send(match info.kind {
                        LimitType::Daily => Feedback::DailyLimit { until: at },
                        _ => Feedback::RateLimited {
                            granted,
                            retry_at: at,
                        },
                    });
                    tracing::debug!(tenant = %key.tenant, source = %key.source, kind = info.kind.as_str(), "rate limited (429)");
                }
                Err(SourceError::Malformed { reason, body }) => {
                    self.m.malformed.inc();
                    malformed_tries += 1;
                    tracing::warn!(tenant = %key.tenant, source = %key.source, %window, tries = malformed_tries, %reason, "page did not parse; retrying");
                    let delay = if malformed_tries >= MALFORMED_TRIES {
                        self.dead_letter(&reason, body).await;
                        StdDuration::from_secs(300)
                    } else {
                        transient.next_delay()
                    };
                    self.set_error(
                        format!("malformed page: {reason}"),
                        malformed_tries >= MALFORMED_TRIES,
                    );
                    self.pause(delay).await;
                }
                Err(e @ SourceError::Retryable { .. }) => {
                    if transient.attempts() >= TRANSIENT_TRIES {
                        return Err(Exit::Transient(e.to_string()));
                    }
                    let delay = transient.next_delay();
                    tracing::warn!(tenant = %key.tenant, source = %key.source, error = %e, retry_in = ?delay, "request failed; retrying");
                    self.set_error(e.to_string(), false);
                    self.pause(delay).await;
                }
                Err(e @ SourceError::Permanent { .. }) => {
                    return Err(Exit::Permanent(e.to_string()))
                }
                Err(e @ SourceError::NotEnabled { .. }) => {
                    return Err(Exit::Disabled(e.to_string()))
                }
            }
        }
    }

    async fn pause(&self, delay: StdDuration) {
        self.waiting(true);
        tokio::time::sleep(delay).await;
        self.waiting(false);
    }

    fn waiting(&self, waiting: bool) {
        self.deps.status.update(self.key(), |s| s.waiting = waiting);
    }

    fn set_error(&self, error: String, degraded: bool) {
        self.deps.status.update(self.key(), |s| {
            s.last_error = Some(error);
            s.degraded |= degraded;
        });
    }

    async fn dead_letter(&self, reason: &str, body: String) {
        let key = self.key().clone();
        let sent = self
            .deps
            .publisher
            .send(DeadLetter {
                stream: key.clone(),
                reason: reason.to_string(),
                body: body.into_bytes(),
            })
            .await;
        match sent {
            Ok(Ok(())) => {
                self.m.dead_letters.inc();
                tracing::error!(tenant = %key.tenant, source = %key.source, %reason,
                    "page failed to parse {MALFORMED_TRIES} times: raw body sent to the dead-letter topic; the window is retried, not skipped");
            }
            Ok(Err(e)) => {
                tracing::error!(tenant = %key.tenant, source = %key.source, error = %e, "could not write the dead letter")
            }
            Err(e) => {
                tracing::error!(tenant = %key.tenant, source = %key.source, error = %e, "publisher unavailable for the dead letter")
            }
        }
    }
}

/// Fetches every window between the watermark and now, several at once, until caught up.
async fn backfill(shared: &Rc<Shared>) -> Result<(), Exit> {
    let s = &shared.deps.settings;
    let poll = dur(s.poll_interval);
    let max = s.max_concurrent_windows.get();
    loop {
        let now = shared.deps.clock.now();
        if plan::caught_up(&shared.cp.borrow(), now, poll) {
            return Ok(());
        }
        shared
            .deps
            .status
            .update(shared.key(), |st| st.state = StreamState::Backfilling);
        let step = shared.deps.source.backfill_step();
        let oldest = shared.oldest(now);
        let mut in_flight: Vec<Window> = Vec::new();
        let mut running = FuturesUnordered::new();
        loop {
            let room = max - in_flight.len();
            if room > 0 {
                let next = plan::next_backfill_windows(
                    &shared.cp.borrow(),
                    now,
                    step,
                    oldest,
                    &in_flight,
                    room,
                );
                for w in next {
                    in_flight.push(w);
                    let sh = shared.clone();
                    let priority = if now - w.end < poll * 2 {
                        Priority::Live
                    } else {
                        Priority::Backfill
                    };
                    running.push(async move { (w, sh.scan_window(w, priority).await) });
                }
            }
            match running.next().await {
                None => break,
                Some((w, result)) => {
                    result?;
                    in_flight.retain(|f| *f != w);
                }
            }
        }
    }
}

/// Waits for the next poll time, then reads `[watermark - lookback, now)`.
async fn poll_live(shared: &Rc<Shared>) -> Result<(), Exit> {
    let s = &shared.deps.settings;
    let next = shared.cp.borrow().watermark + dur(s.poll_interval);
    shared.deps.status.update(shared.key(), |st| {
        st.state = StreamState::Live;
        st.next_poll = Some(next);
    });
    shared.waiting(true);
    tokio::time::sleep_until(shared.deps.clock.instant_at(next)).await;
    shared.waiting(false);
    let now = shared.deps.clock.now();
    let late = (now - next).to_std().unwrap_or_default();
    shared.deps.metrics.poll_delay.observe(late.as_secs_f64());
    let Some(w) = plan::live_window(
        &shared.cp.borrow(),
        now,
        dur(s.lookback),
        shared.oldest(now),
    ) else {
        return Ok(());
    };
    Box::pin(shared.scan_window(w, Priority::Live)).await?;
    shared.report_watermark();
    Ok(())
}
