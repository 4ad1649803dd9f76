//! Walking one window page by page: a permit per request, one of the process's request
//! slots while it is in flight, then the answer: a page is published, a 429 goes back
//! to the bucket, a page that does not parse is retried (and dead-lettered after
//! [`MALFORMED_TRIES`]), a record that does not parse is dead-lettered once while the
//! rest of its page goes on, a failure that may pass is retried with backoff (the stream
//! gives up after [`TRANSIENT_TRIES`] in a row), and anything else ends the loop with
//! the error for the supervisor to judge.

use std::time::Duration;

use tokio::time::Instant;
use trawl_model::Event;
use trawl_model::Window;
use trawl_sources::{RejectedRecord, ScanStep, SourceError};

use super::run::StreamLoop;
use super::Exit;
use crate::backoff::Backoff;
use crate::events::{
    DeadLetterFailed, DeadLettered, LateRecordsDropped, LateRecordsHeld, PageFetched,
    PageMalformed, PermitGranted, RateLimited, RecordRejected, RequestAnswered, RequestFailed,
    ScanRestarted,
};
use crate::limiter::Priority;

/// Tries of a page that does not parse before its body goes to the dead-letter topic.
pub const MALFORMED_TRIES: u32 = 3;
/// Consecutive transient failures of one window before the fetcher gives up and lets
/// the supervisor restart it.
pub const TRANSIENT_TRIES: u32 = 8;
/// How many dead-lettered record fingerprints a loop remembers (then it starts over;
/// the checkpoint's seen set still holds those of the lookback).
const DEAD_LETTERED_MEMORY: usize = 100_000;
/// How a window's scan ended.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Scanned {
    /// Walked to its end: every record of it is published.
    Complete,
    /// A page of it kept failing (its body dead-lettered): given up on for now, with
    /// the reason. The caller records it as a gap of the stream ([`StreamLoop::gap`]).
    GaveUp(String),
}

impl StreamLoop {
    /// Walks one window to its end, or gives up on it after a page failed
    /// [`MALFORMED_TRIES`] times. `Err` ends the stream's loop.
    pub(super) async fn scan_window(
        &self,
        window: Window,
        priority: Priority,
    ) -> Result<Scanned, Exit> {
        let probe = &self.deps.probe;
        let mut scan = self.deps.source.clone().scan(window);
        let mut retry = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
        let mut malformed_tries = 0u32;
        loop {
            let asked = Instant::now();
            let permit = probe
                .waiting(self.deps.limiter.acquire(self.key(), priority))
                .await?;
            probe.emit(PermitGranted {
                waited: asked.elapsed(),
            });
            let result = {
                let _slot = self
                    .deps
                    .requests
                    .acquire()
                    .await
                    .map_err(|_| Exit::RequestSlotsClosed)?;
                scan.next_page(self.deps.clock.now()).await
            };
            if let Some(exchange) = result.exchange {
                probe.emit(RequestAnswered { exchange });
            }
            match result.step {
                Ok(ScanStep::Page {
                    mut events,
                    rejected,
                    late,
                    done,
                }) => {
                    permit.answered();
                    if result.exchange.is_some() {
                        probe.emit(PageFetched);
                    }
                    retry.reset();
                    malformed_tries = 0;
                    for record in rejected {
                        self.reject(window, record).await;
                    }
                    self.take_late(window, &mut events, late);
                    // The original window is complete even when the scan moved its start
                    // past the API's retention: what lies before is gone from the API.
                    self.publish_page(events, done.then_some(window)).await?;
                    if done {
                        return Ok(Scanned::Complete);
                    }
                }
                Ok(ScanStep::Restarted { reason }) => {
                    permit.answered();
                    probe.emit(ScanRestarted {
                        window,
                        reason: &reason,
                    });
                }
                Err(SourceError::RateLimited(info)) => {
                    let label = info
                        .label
                        .clone()
                        .unwrap_or_else(|| self.deps.source.limit_key().label.to_string());
                    probe.emit(RateLimited {
                        label: &label,
                        kind: info.kind.as_str(),
                    });
                    permit.rate_limited_by(&info);
                }
                Err(SourceError::Malformed { reason, body }) => {
                    malformed_tries += 1;
                    probe.emit(PageMalformed {
                        window,
                        tries: malformed_tries,
                        reason: &reason,
                    });
                    if malformed_tries >= MALFORMED_TRIES {
                        // One broken date costs that date, not the stream: its body
                        // goes to the dead-letter topic and the window becomes a gap.
                        if !self.retrying_gap.get() {
                            self.dead_letter(&reason, body, malformed_tries).await;
                        }
                        return Ok(Scanned::GaveUp(reason));
                    }
                    self.pause(retry.next_delay()).await;
                }
                Err(e @ SourceError::Retryable { .. }) => {
                    if retry.attempts() >= TRANSIENT_TRIES {
                        return Err(Exit::Source(e));
                    }
                    let delay = retry.next_delay();
                    probe.emit(RequestFailed {
                        error: &e,
                        retry_in: delay,
                    });
                    self.pause(delay).await;
                }
                // Credentials, permissions, an API the account lacks: the supervisor's
                // restart policy decides.
                Err(e) => return Err(Exit::Source(e)),
            }
        }
    }

    async fn pause(&self, delay: Duration) {
        self.deps.probe.waiting(tokio::time::sleep(delay)).await;
    }

    async fn dead_letter(&self, reason: &str, body: String, tries: u32) {
        let sink = self.deps.publisher.sink();
        match sink.dead_letter(self.key(), reason, body.as_bytes()).await {
            Ok(()) => self.deps.probe.emit(DeadLettered { reason, tries }),
            Err(error) => self.deps.probe.emit(DeadLetterFailed { error: &error }),
        }
    }

    /// A record of a good page that does not parse: its raw text goes to the
    /// dead-letter topic once (its fingerprint remembered past any re-read of its date,
    /// and kept in the checkpoint's seen set across restarts); the page goes on.
    async fn reject(&self, window: Window, record: RejectedRecord) {
        let fingerprint = record.id;
        let first_time = {
            let mut done = self.dead_lettered.borrow_mut();
            if done.len() >= DEAD_LETTERED_MEMORY {
                done.clear();
            }
            done.insert(fingerprint)
        };
        if !first_time || self.checkpoint.borrow().seen.contains(&fingerprint) {
            return;
        }
        let sink = self.deps.publisher.sink();
        match sink
            .dead_letter(self.key(), &record.reason, record.raw.as_bytes())
            .await
        {
            Ok(()) => {
                self.deps.probe.emit(RecordRejected {
                    window,
                    reason: &record.reason,
                });
                self.checkpoint
                    .borrow_mut()
                    .seen
                    .insert(&fingerprint, window.end + chrono::Duration::days(2));
            }
            Err(error) => {
                // Not remembered: a later read of the window tries it again.
                self.dead_lettered.borrow_mut().remove(&fingerprint);
                self.deps.probe.emit(DeadLetterFailed { error: &error });
            }
        }
    }

    /// Records indexed late, answered for this window though their time lies before it:
    /// published when no later live window can answer them again (their ids would be
    /// pruned by their old time, so a later read could not tell them from new ones);
    /// otherwise left to the live window that covers their time (the next poll reaches
    /// back to them, whatever the `recheck` schedule says), and said. Those whose
    /// time lies before the next live window's start (`watermark - lookback`) arrived
    /// later than the lookback allows: no window will take them, so they are counted
    /// as dropped, each once (the tenant's `lookback` is the remedy).
    fn take_late(&self, window: Window, events: &mut Vec<Event>, late: Vec<Event>) {
        if late.is_empty() {
            return;
        }
        let lookback = self.deps.cadence.lookback;
        let horizon = window.end + lookback + chrono::Duration::hours(1);
        if horizon < self.deps.clock.now() {
            events.extend(late);
            return;
        }
        let reach = self.checkpoint.borrow().watermark - lookback;
        let (held, gone): (Vec<Event>, Vec<Event>) =
            late.into_iter().partition(|e| e.time >= reach);
        if !held.is_empty() {
            // The next poll reaches back to them, whatever the `recheck` schedule says.
            let oldest = held.iter().map(|e| e.time).min();
            let from = match (self.held_from.get(), oldest) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            self.held_from.set(from);
            self.deps.probe.emit(LateRecordsHeld {
                window,
                records: held.len(),
            });
        }
        let dropped = {
            let cp = self.checkpoint.borrow();
            let mut known = self.late_dropped.borrow_mut();
            if known.len() >= DEAD_LETTERED_MEMORY {
                known.clear();
            }
            gone.iter()
                .filter(|e| !cp.seen.contains(&e.id) && known.insert(e.id))
                .count()
        };
        if dropped > 0 {
            self.deps.probe.emit(LateRecordsDropped {
                window,
                records: dropped,
                lookback,
            });
        }
    }
}
