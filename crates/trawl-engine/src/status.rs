//! What every stream is doing right now, for `/status`, `/readyz`, the demo summary,
//! the `trawl_streams{state}` gauge and the supervisor's heartbeat check.
//!
//! Fetchers write their own entry; everyone else reads snapshots. The board keeps the
//! state gauge consistent by being the only place a state changes.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

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
    /// Failed for a reason that needs a person (credentials, permissions); retried slowly.
    Failed,
    /// The API is not available to this account (no Zoom Phone plan): not retried.
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
    #[serde(skip)]
    pub last_progress: Option<Instant>,
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
            last_progress: Some(Instant::now()),
        }
    }
}

#[derive(Clone)]
pub struct StatusBoard {
    inner: Arc<RwLock<BTreeMap<StreamKey, StreamStatus>>>,
    metrics: Arc<Metrics>,
}

impl StatusBoard {
    pub fn new(metrics: Arc<Metrics>) -> Self {
        Self {
            inner: Arc::default(),
            metrics,
        }
    }

    fn gauge(&self, s: StreamState, delta: i64) {
        self.metrics
            .streams
            .with_label_values(&[s.as_str()])
            .add(delta);
    }

    /// Adds a stream in state `starting` (no-op when present).
    pub fn register(&self, key: &StreamKey) {
        let mut m = self.inner.write().expect("status lock");
        if !m.contains_key(key) {
            m.insert(key.clone(), StreamStatus::new(key));
            self.gauge(StreamState::Starting, 1);
        }
    }

    pub fn remove(&self, key: &StreamKey) {
        if let Some(s) = self.inner.write().expect("status lock").remove(key) {
            self.gauge(s.state, -1);
        }
    }

    /// Changes a stream's entry; a state change also moves the gauge.
    pub fn update(&self, key: &StreamKey, f: impl FnOnce(&mut StreamStatus)) {
        let mut m = self.inner.write().expect("status lock");
        let Some(s) = m.get_mut(key) else { return };
        let before = s.state;
        f(s);
        s.last_progress = Some(Instant::now());
        if s.state != before {
            self.gauge(before, -1);
            self.gauge(s.state, 1);
        }
    }

    pub fn get(&self, key: &StreamKey) -> Option<StreamStatus> {
        self.inner.read().expect("status lock").get(key).cloned()
    }

    pub fn snapshot(&self) -> Vec<StreamStatus> {
        self.inner
            .read()
            .expect("status lock")
            .values()
            .cloned()
            .collect()
    }

    pub fn keys(&self) -> Vec<StreamKey> {
        self.inner
            .read()
            .expect("status lock")
            .keys()
            .cloned()
            .collect()
    }
}
