//! Internal events: one typed struct per thing that happens (a page fetched, events
//! published, a 429, a window completed, a stream restarted, a dead letter...), whose
//! [`InternalEvent::emit`] updates the metric, the status board and the log together, as
//! Vector's `internal_events` do. A call site emits one event and records nothing
//! itself, so `/metrics`, `/status` and the log cannot drift apart.
//!
//! Stream events are emitted through the stream's [`StreamProbe`] (its metric handles,
//! its status entry and its progress mark; every event is progress). Engine-wide events
//! (transactions, delivery errors) are emitted to the [`Metrics`].

mod fetch;
mod publish;
mod supervisor;

#[cfg(test)]
mod tests;

use std::future::Future;
use std::sync::Arc;

use trawl_model::StreamKey;

pub use fetch::*;
pub use publish::*;
pub use supervisor::*;

use crate::metrics::{Metrics, StreamMetrics};
use crate::status::{Progress, StatusBoard, StreamEntry};

/// Something that happened, recorded everywhere it shows by [`emit`](Self::emit).
pub trait InternalEvent<Probe: ?Sized = StreamProbe> {
    fn emit(self, to: &Probe);
}

/// Where one stream's events go: its metric handles (labels resolved once), its status
/// entry and its progress mark. Cheap to clone.
#[derive(Clone)]
pub struct StreamProbe {
    metrics: StreamMetrics,
    engine: Arc<Metrics>,
    entry: StreamEntry,
}

impl StreamProbe {
    /// The probe of `key`, registering it on the board.
    pub fn new(key: &StreamKey, metrics: &Arc<Metrics>, status: &StatusBoard) -> Self {
        Self {
            metrics: metrics.stream(key),
            engine: metrics.clone(),
            entry: status.register(key),
        }
    }

    pub fn key(&self) -> &StreamKey {
        &self.metrics.key
    }

    /// Records `event` and marks progress.
    pub fn emit(&self, event: impl InternalEvent) {
        event.emit(self);
        self.entry.progress().bump();
    }

    pub fn progress(&self) -> &Progress {
        self.entry.progress()
    }

    /// Runs `f` marked as a legitimate wait (a permit, a poll time, a retry pause).
    pub async fn waiting<T>(&self, f: impl Future<Output = T>) -> T {
        self.progress().set_waiting(true);
        let out = f.await;
        self.progress().set_waiting(false);
        out
    }
}
