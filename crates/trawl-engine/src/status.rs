//! What every stream is doing right now, for `/status`, `/readyz`, the demo summary and
//! the `trawl_streams{state}` gauge; and each stream's progress mark, which the
//! supervisor's heartbeat reads.
//!
//! Each stream has an entry of its own ([`StreamEntry`], its own lock), written by the
//! internal events ([`crate::events`]); the board's map lock is only taken to add,
//! remove and list entries, never on a fetcher's path. The state gauge stays consistent
//! because a state changes only through an entry, which moves the gauge, and an entry
//! removed from the board changes nothing any more (a stopped fetcher of a removed
//! tenant may still emit an event or two). The progress mark ([`Progress`]) is two
//! atomics the fetcher bumps: the heartbeat reads it without any lock.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::time::Instant;
use trawl_model::StreamKey;

use crate::metrics::Metrics;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StreamState {
    Starting,
    Backfilling,
    Live,
    /// Failed for a reason that may pass; restarting after a delay.
    BackingOff,
    /// Failed for a reason that needs a person (credentials, permissions, a fenced
    /// producer); retried slowly, or not at all when nothing but a restart can help.
    Failed,
    /// The API is not available to this account (no Zoom Phone plan): tried again every
    /// `disabled_recheck` (default daily).
    Disabled,
}

impl StreamState {
    pub fn as_str(self) -> &'static str {
        match self {
            StreamState::Starting => "starting",
            StreamState::Backfilling => "backfilling",
            StreamState::Live => "live",
            StreamState::BackingOff => "backing_off",
            StreamState::Failed => "failed",
            StreamState::Disabled => "disabled",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct StreamStatus {
    pub tenant: String,
    pub source: String,
    pub state: StreamState,
    pub watermark: Option<DateTime<Utc>>,
    pub lag_seconds: Option<i64>,
    pub last_success: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    /// A page failed to parse repeatedly and went to the dead-letter topic; the window is
    /// retried, not skipped.
    pub degraded: bool,
    pub next_poll: Option<DateTime<Utc>>,
    pub pages: u64,
    pub events: u64,
    pub restarts: u64,
    /// Answers 429 this stream got.
    pub rate_limited: u64,
    /// Waiting for a rate-limit permit, a poll time or a retry: not stalled.
    pub waiting: bool,
    /// The last span the stream could not fetch because the API no longer held it (its
    /// watermark had fallen behind the API's retention); `None` if that never happened.
    pub behind_retention: Option<RetentionGap>,
    /// Windows given up on for now (see `trawl_gaps`): time range, reason, first seen,
    /// tries and the next try.
    pub gaps: Vec<trawl_model::Gap>,
    /// Records the API answered later than the lookback allows, not published (see
    /// `trawl_late_records_dropped_total`).
    pub late_dropped: u64,
}

/// A span of a stream's period the API had deleted before the stream reached it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RetentionGap {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

impl StreamStatus {
    fn new(key: &StreamKey) -> Self {
        Self {
            tenant: key.tenant.to_string(),
            source: key.source.to_string(),
            state: StreamState::Starting,
            watermark: None,
            lag_seconds: None,
            last_success: None,
            last_error: None,
            degraded: false,
            next_poll: None,
            pages: 0,
            events: 0,
            restarts: 0,
            rate_limited: 0,
            waiting: false,
            behind_retention: None,
            gaps: Vec::new(),
            late_dropped: 0,
        }
    }
}

/// When a stream last did something, and whether it is waiting legitimately.
#[derive(Debug)]
pub struct Progress {
    origin: Instant,
    /// Milliseconds from `origin` to the last bump.
    last: AtomicU64,
    waiting: AtomicBool,
}

impl Progress {
    fn new() -> Self {
        Self {
            origin: Instant::now(),
            last: AtomicU64::new(0),
            waiting: AtomicBool::new(false),
        }
    }

    /// Something happened now.
    pub fn bump(&self) {
        let ms = u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last.store(ms, Ordering::Relaxed);
    }

    /// Waiting for a permit, a poll time or a retry (or not any more); either is progress.
    pub fn set_waiting(&self, waiting: bool) {
        self.waiting.store(waiting, Ordering::Relaxed);
        self.bump();
    }

    pub fn is_waiting(&self) -> bool {
        self.waiting.load(Ordering::Relaxed)
    }

    /// How long since the last bump.
    pub fn idle_for(&self) -> Duration {
        let last = Duration::from_millis(self.last.load(Ordering::Relaxed));
        self.origin.elapsed().saturating_sub(last)
    }
}

struct Slot {
    status: StreamStatus,
    /// Taken off the board: updates are ignored.
    removed: bool,
}

struct Entry {
    slot: Mutex<Slot>,
    progress: Progress,
    metrics: Arc<Metrics>,
}

/// One stream's entry on the board. Cheap to clone.
#[derive(Clone)]
pub struct StreamEntry(Arc<Entry>);

impl StreamEntry {
    /// Changes the entry; a state change also moves the gauge. Ignored once removed.
    pub fn update(&self, f: impl FnOnce(&mut StreamStatus)) {
        let mut slot = self.0.slot.lock().unwrap_or_else(|p| p.into_inner());
        if slot.removed {
            return;
        }
        let before = slot.status.state;
        f(&mut slot.status);
        let after = slot.status.state;
        if after != before {
            gauge(&self.0.metrics, before, -1);
            gauge(&self.0.metrics, after, 1);
        }
    }

    pub fn progress(&self) -> &Progress {
        &self.0.progress
    }

    /// A copy of the entry as it is now.
    pub fn get(&self) -> StreamStatus {
        let slot = self.0.slot.lock().unwrap_or_else(|p| p.into_inner());
        let mut s = slot.status.clone();
        s.waiting = self.0.progress.is_waiting();
        s
    }

    fn remove(&self) {
        let mut slot = self.0.slot.lock().unwrap_or_else(|p| p.into_inner());
        if !slot.removed {
            slot.removed = true;
            gauge(&self.0.metrics, slot.status.state, -1);
        }
    }
}

fn gauge(metrics: &Metrics, s: StreamState, delta: i64) {
    metrics.streams.with_label_values(&[s.as_str()]).add(delta);
}

#[derive(Clone)]
pub struct StatusBoard {
    entries: Arc<RwLock<BTreeMap<StreamKey, StreamEntry>>>,
    metrics: Arc<Metrics>,
}

impl StatusBoard {
    pub fn new(metrics: Arc<Metrics>) -> Self {
        Self {
            entries: Arc::default(),
            metrics,
        }
    }

    /// The stream's entry; a new one in state `starting` if it has none.
    pub fn register(&self, key: &StreamKey) -> StreamEntry {
        if let Some(e) = self.read().get(key) {
            return e.clone();
        }
        let mut map = self.entries.write().unwrap_or_else(|p| p.into_inner());
        map.entry(key.clone())
            .or_insert_with(|| {
                gauge(&self.metrics, StreamState::Starting, 1);
                StreamEntry(Arc::new(Entry {
                    slot: Mutex::new(Slot {
                        status: StreamStatus::new(key),
                        removed: false,
                    }),
                    progress: Progress::new(),
                    metrics: self.metrics.clone(),
                }))
            })
            .clone()
    }

    pub fn remove(&self, key: &StreamKey) {
        let removed = self
            .entries
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
        if let Some(e) = removed {
            e.remove();
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<StreamKey, StreamEntry>> {
        self.entries.read().unwrap_or_else(|p| p.into_inner())
    }

    pub fn get(&self, key: &StreamKey) -> Option<StreamStatus> {
        self.read().get(key).map(StreamEntry::get)
    }

    pub fn snapshot(&self) -> Vec<StreamStatus> {
        self.read().values().map(StreamEntry::get).collect()
    }

    pub fn keys(&self) -> Vec<StreamKey> {
        self.read().keys().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use trawl_model::{SourceKind, TenantId};

    use super::*;

    fn key(t: &str) -> StreamKey {
        StreamKey::new(TenantId::new(t).unwrap(), SourceKind::ZohoMailAudit)
    }

    fn gauge_of(m: &Metrics, s: StreamState) -> i64 {
        m.streams.with_label_values(&[s.as_str()]).get()
    }

    #[test]
    fn states_move_the_gauge_and_a_removed_entry_moves_nothing() {
        let m = Arc::new(Metrics::new(true));
        let board = StatusBoard::new(m.clone());
        let a = board.register(&key("a"));
        let again = board.register(&key("a"));
        assert_eq!(
            gauge_of(&m, StreamState::Starting),
            1,
            "one entry per stream"
        );
        again.update(|s| s.state = StreamState::Live);
        assert_eq!(gauge_of(&m, StreamState::Starting), 0);
        assert_eq!(gauge_of(&m, StreamState::Live), 1);
        board.remove(&key("a"));
        assert_eq!(gauge_of(&m, StreamState::Live), 0);
        a.update(|s| s.state = StreamState::Failed);
        assert_eq!(
            gauge_of(&m, StreamState::Failed),
            0,
            "a stale fetcher's update"
        );
        assert!(board.get(&key("a")).is_none());
        let b = board.register(&key("a"));
        assert_eq!(b.get().state, StreamState::Starting, "a fresh entry");
    }

    #[tokio::test(start_paused = true)]
    async fn progress_is_a_mark_the_heartbeat_reads() {
        let board = StatusBoard::new(Arc::new(Metrics::new(true)));
        let e = board.register(&key("a"));
        tokio::time::sleep(Duration::from_secs(40)).await;
        assert_eq!(e.progress().idle_for(), Duration::from_secs(40));
        e.progress().set_waiting(true);
        assert_eq!(e.progress().idle_for(), Duration::ZERO);
        assert!(board.get(&key("a")).unwrap().waiting);
    }
}
