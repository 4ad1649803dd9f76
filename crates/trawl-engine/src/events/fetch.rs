//! What happens in a stream's fetch loop. Every log line names `tenant` and `source`.

use std::time::Duration;

use chrono::{DateTime, Utc};
use trawl_model::Window;
use trawl_sources::HttpExchange;

use super::{InternalEvent, StreamProbe};
use crate::status::StreamState;

/// The loop started (or restarted) and is recovering.
pub struct StreamStarting;

impl InternalEvent for StreamStarting {
    fn emit(self, probe: &StreamProbe) {
        probe.entry.update(|s| s.state = StreamState::Starting);
    }
}

/// The stream knows where it stands: from its stored checkpoint (plus what the
/// read-back found) or, new, from the start of its backfill.
pub struct Recovered {
    /// `None`: a new stream, backfill starting at `from`.
    pub stored: Option<usize>,
    pub from: DateTime<Utc>,
}

impl InternalEvent for Recovered {
    fn emit(self, probe: &StreamProbe) {
        let key = probe.key();
        match self.stored {
            None => {
                tracing::info!(tenant = %key.tenant, source = %key.source, from = %self.from, "new stream: backfill starts")
            }
            Some(0) => {}
            Some(read_back) => {
                tracing::info!(tenant = %key.tenant, source = %key.source, events = read_back,
                "read back events published after the last checkpoint; they will not be published again")
            }
        }
    }
}

/// A stream without a checkpoint found events of its own in its partition: its
/// checkpoint was lost (the store switched, its directory or topic gone). They are not
/// published again; no checkpoint is stored until the backfill has passed `newest`.
pub struct PublishedWithoutCheckpoint {
    pub events: usize,
    pub newest: Option<DateTime<Utc>>,
}

impl InternalEvent for PublishedWithoutCheckpoint {
    fn emit(self, probe: &StreamProbe) {
        let key = probe.key();
        let newest = self.newest.map(|t| t.to_rfc3339()).unwrap_or_default();
        tracing::warn!(tenant = %key.tenant, source = %key.source, events = self.events, %newest,
            "no checkpoint, but the stream's partition already holds events of it (was the checkpoint store lost?): read back, they will not be published again");
    }
}

/// The stream's watermark lay before the oldest time the API still keeps: `lost` can no
/// longer be fetched (the API deleted it), and the stream moves on from what the API
/// holds. Counted in seconds, shown in `/status`, logged as a warning.
pub struct BehindRetention {
    pub lost: Window,
}

impl InternalEvent for BehindRetention {
    fn emit(self, probe: &StreamProbe) {
        let key = probe.key();
        let seconds = self.lost.duration().num_seconds().max(0) as u64;
        probe.metrics.retention_skipped.inc_by(seconds);
        probe.entry.update(|s| {
            s.behind_retention = Some(crate::status::RetentionGap {
                from: self.lost.start,
                to: self.lost.end,
            })
        });
        tracing::warn!(tenant = %key.tenant, source = %key.source, from = %self.lost.start, to = %self.lost.end,
            "the stream fell behind the API's retention: records of this span are no longer held by the API and cannot be fetched; it goes on from what the API still holds");
    }
}

/// The stream is behind by more than a poll interval and walks windows to catch up.
pub struct Backfilling;

impl InternalEvent for Backfilling {
    fn emit(self, probe: &StreamProbe) {
        probe.entry.update(|s| s.state = StreamState::Backfilling);
    }
}

/// Caught up: the next live poll is at `next_poll`.
pub struct LivePollScheduled {
    pub next_poll: DateTime<Utc>,
}

impl InternalEvent for LivePollScheduled {
    fn emit(self, probe: &StreamProbe) {
        probe.entry.update(|s| {
            s.state = StreamState::Live;
            s.next_poll = Some(self.next_poll);
        });
    }
}

/// A live poll woke `late` after its schedule.
pub struct LivePollWoke {
    pub late: Duration,
}

impl InternalEvent for LivePollWoke {
    fn emit(self, probe: &StreamProbe) {
        probe.engine.poll_delay.observe(self.late.as_secs_f64());
    }
}

/// The watermark (every record before it is in Kafka) as it is now.
pub struct WatermarkReported {
    pub watermark: DateTime<Utc>,
    pub now: DateTime<Utc>,
}

impl InternalEvent for WatermarkReported {
    fn emit(self, probe: &StreamProbe) {
        let lag = (self.now - self.watermark).num_seconds().max(0);
        probe.metrics.lag.set(lag);
        probe.entry.update(|s| {
            s.watermark = Some(self.watermark);
            s.lag_seconds = Some(lag);
        });
    }
}

/// A rate-limit permit came after `waited`.
pub struct PermitGranted {
    pub waited: Duration,
}

impl InternalEvent for PermitGranted {
    fn emit(self, probe: &StreamProbe) {
        probe.metrics.wait.observe(self.waited.as_secs_f64());
    }
}

/// One API request was answered (or got no answer: `status` is `None`).
pub struct RequestAnswered {
    pub exchange: HttpExchange,
}

impl InternalEvent for RequestAnswered {
    fn emit(self, probe: &StreamProbe) {
        probe.engine.http_request(probe.key(), self.exchange.status);
        probe
            .metrics
            .duration
            .observe(self.exchange.elapsed.as_secs_f64());
    }
}

/// A page was fetched and parsed.
pub struct PageFetched;

impl InternalEvent for PageFetched {
    fn emit(self, probe: &StreamProbe) {
        probe.metrics.pages.inc();
        probe.entry.update(|s| s.pages += 1);
    }
}

/// Records skipped because their ids were already published.
pub struct DuplicatesSkipped {
    pub count: u64,
}

impl InternalEvent for DuplicatesSkipped {
    fn emit(self, probe: &StreamProbe) {
        probe.metrics.duplicates.inc_by(self.count);
    }
}

/// New events were acknowledged by Kafka.
pub struct EventsPublished {
    pub count: u64,
}

impl InternalEvent for EventsPublished {
    fn emit(self, probe: &StreamProbe) {
        probe.metrics.events.inc_by(self.count);
        probe.entry.update(|s| s.events += self.count);
    }
}

/// The stream's checkpoint was stored.
pub struct CheckpointStored;

impl InternalEvent for CheckpointStored {
    fn emit(self, probe: &StreamProbe) {
        probe.engine.checkpoint_commits.inc();
    }
}

/// A window is delivered completely.
pub struct WindowCompleted {
    pub at: DateTime<Utc>,
}

impl InternalEvent for WindowCompleted {
    fn emit(self, probe: &StreamProbe) {
        probe.metrics.last_success.set(self.at.timestamp());
        probe.entry.update(|s| {
            s.last_success = Some(self.at);
            s.last_error = None;
        });
    }
}

/// The API answered 429.
pub struct RateLimited<'a> {
    /// The rate-limit label (`Heavy`, `Mail`, ...).
    pub label: &'a str,
    /// `qps`, `daily` or `unknown`.
    pub kind: &'static str,
}

impl InternalEvent for RateLimited<'_> {
    fn emit(self, probe: &StreamProbe) {
        let key = probe.key();
        probe.engine.rate_limited(key, self.label, self.kind);
        probe.entry.update(|s| s.rate_limited += 1);
        tracing::debug!(tenant = %key.tenant, source = %key.source, kind = self.kind, "rate limited (429)");
    }
}

/// The scan of a window starts over (page token expired, retention horizon moved).
pub struct ScanRestarted<'a> {
    pub window: Window,
    pub reason: &'a str,
}

impl InternalEvent for ScanRestarted<'_> {
    fn emit(self, probe: &StreamProbe) {
        let key = probe.key();
        tracing::info!(tenant = %key.tenant, source = %key.source, window = %self.window, reason = %self.reason, "window scan starts over");
    }
}

/// A page did not parse (it is retried; dead-lettered after repeated failures).
pub struct PageMalformed<'a> {
    pub window: Window,
    pub tries: u32,
    pub reason: &'a str,
}

impl InternalEvent for PageMalformed<'_> {
    fn emit(self, probe: &StreamProbe) {
        let key = probe.key();
        probe.metrics.malformed.inc();
        probe
            .entry
            .update(|s| s.last_error = Some(format!("malformed page: {}", self.reason)));
        tracing::warn!(tenant = %key.tenant, source = %key.source, window = %self.window, tries = self.tries, reason = %self.reason, "page did not parse; retrying");
    }
}

/// A page that failed to parse `tries` times went to the dead-letter topic.
pub struct DeadLettered<'a> {
    pub reason: &'a str,
    pub tries: u32,
}

impl InternalEvent for DeadLettered<'_> {
    fn emit(self, probe: &StreamProbe) {
        let key = probe.key();
        probe.metrics.dead_letters.inc();
        probe.entry.update(|s| s.degraded = true);
        tracing::error!(tenant = %key.tenant, source = %key.source, reason = %self.reason,
            "page failed to parse {} times: raw body sent to the dead-letter topic; the window is retried, not skipped", self.tries);
    }
}

/// One record of a good page did not parse: its raw text went to the dead-letter topic
/// (once), the rest of the page is published.
pub struct RecordRejected<'a> {
    pub window: Window,
    pub reason: &'a str,
}

impl InternalEvent for RecordRejected<'_> {
    fn emit(self, probe: &StreamProbe) {
        let key = probe.key();
        probe.metrics.malformed.inc();
        probe.metrics.dead_letters.inc();
        probe.entry.update(|s| {
            s.degraded = true;
            s.last_error = Some(format!("record did not parse: {}", self.reason));
        });
        tracing::error!(tenant = %key.tenant, source = %key.source, window = %self.window, reason = %self.reason,
            "a record did not parse: its raw text went to the dead-letter topic; the rest of its page is published");
    }
}

/// An event larger than Kafka takes went to the dead-letter topic instead (`reason`
/// says how large, the limit, and whether the raw record was cut).
pub struct EventTooLarge<'a> {
    pub reason: &'a str,
}

impl InternalEvent for EventTooLarge<'_> {
    fn emit(self, probe: &StreamProbe) {
        let key = probe.key();
        probe.metrics.dead_letters.inc();
        probe.entry.update(|s| {
            s.degraded = true;
            s.last_error = Some(self.reason.to_string());
        });
        tracing::error!(tenant = %key.tenant, source = %key.source, reason = %self.reason,
            "an event too large for Kafka went to the dead-letter topic; the rest of its page is published");
    }
}

/// Records answered for `window` lie before it (indexed late); a later live window
/// covers their time and publishes them.
pub struct LateRecordsHeld {
    pub window: Window,
    pub records: usize,
}

impl InternalEvent for LateRecordsHeld {
    fn emit(self, probe: &StreamProbe) {
        let key = probe.key();
        tracing::info!(tenant = %key.tenant, source = %key.source, window = %self.window, records = self.records,
            "records answered for this window lie before it (indexed late); the live window covering their time publishes them");
    }
}

/// Records came later than the lookback allows: their time lies before every window
/// still to be read, so they are not published. Counted, shown in `/status`.
pub struct LateRecordsDropped {
    pub window: Window,
    pub records: usize,
    pub lookback: chrono::Duration,
}

impl InternalEvent for LateRecordsDropped {
    fn emit(self, probe: &StreamProbe) {
        let key = probe.key();
        probe.metrics.late_dropped.inc_by(self.records as u64);
        probe
            .entry
            .update(|s| s.late_dropped += self.records as u64);
        let lookback = self.lookback.to_std().unwrap_or_default();
        tracing::warn!(tenant = %key.tenant, source = %key.source, window = %self.window, records = self.records, ?lookback,
            "records arrived later than the lookback allows and are not published; raise this tenant's lookback to take them");
    }
}

/// The dead letter could not be written (the window is retried all the same).
pub struct DeadLetterFailed<'a> {
    pub error: &'a dyn std::fmt::Display,
}

impl InternalEvent for DeadLetterFailed<'_> {
    fn emit(self, probe: &StreamProbe) {
        let key = probe.key();
        probe.entry.update(|s| s.degraded = true);
        tracing::error!(tenant = %key.tenant, source = %key.source, error = %self.error, "could not write the dead letter");
    }
}

/// A request failed in a way that may pass; it is retried after `retry_in`.
pub struct RequestFailed<'a> {
    pub error: &'a dyn std::fmt::Display,
    pub retry_in: Duration,
}

impl InternalEvent for RequestFailed<'_> {
    fn emit(self, probe: &StreamProbe) {
        let key = probe.key();
        probe
            .entry
            .update(|s| s.last_error = Some(self.error.to_string()));
        tracing::warn!(tenant = %key.tenant, source = %key.source, error = %self.error, retry_in = ?self.retry_in, "request failed; retrying");
    }
}

/// A window kept failing and was given up on for now (`gap`): the stream goes on past
/// it and tries it again at `gap.next_try`. Shown in `/status` and `trawl_gaps`, logged
/// as a warning each time.
pub struct GapRecorded<'a> {
    pub gap: &'a trawl_model::Gap,
    pub open: usize,
}

impl InternalEvent for GapRecorded<'_> {
    fn emit(self, probe: &StreamProbe) {
        let key = probe.key();
        let g = self.gap;
        probe.metrics.gaps.set(self.open as i64);
        probe.entry.update(|s| {
            s.gaps.retain(|o| o.window != g.window);
            s.gaps.push(g.clone());
            s.gaps.sort_by_key(|o| o.window);
        });
        tracing::warn!(tenant = %key.tenant, source = %key.source, from = %g.window.start,
            to = %g.window.end, tries = g.tries, next_try = %g.next_try, reason = %g.reason,
            "a window of the stream keeps failing: recorded as a gap, the stream goes on past it and tries it again later");
    }
}

/// A gap ended: its window was fetched, or it left the API's retention (`lost`).
pub struct GapClosed {
    pub window: Window,
    pub lost: bool,
    pub open: usize,
}

impl InternalEvent for GapClosed {
    fn emit(self, probe: &StreamProbe) {
        let key = probe.key();
        probe.metrics.gaps.set(self.open as i64);
        probe
            .entry
            .update(|s| s.gaps.retain(|o| o.window != self.window));
        if self.lost {
            tracing::warn!(tenant = %key.tenant, source = %key.source, from = %self.window.start,
                to = %self.window.end,
                "a gap of the stream left the API's retention before it could be fetched: its records are lost");
        } else {
            tracing::info!(tenant = %key.tenant, source = %key.source, from = %self.window.start,
                to = %self.window.end, "a gap of the stream was fetched: closed");
        }
    }
}

/// The stream started with gaps from its checkpoint: `/status` and `trawl_gaps` show them
/// at once (each was logged when it was recorded).
pub struct GapsLoaded<'a> {
    pub gaps: &'a [trawl_model::Gap],
}

impl InternalEvent for GapsLoaded<'_> {
    fn emit(self, probe: &StreamProbe) {
        probe.metrics.gaps.set(self.gaps.len() as i64);
        probe.entry.update(|s| {
            s.gaps = self.gaps.to_vec();
            s.gaps.sort_by_key(|g| g.window);
        });
    }
}
