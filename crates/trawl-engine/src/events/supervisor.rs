//! What the supervisor decides about a stream whose loop ended.

use std::time::Duration;

use super::{InternalEvent, StreamProbe};
use crate::status::StreamState;

/// Failed for a reason that may pass: restarted after `delay`.
pub struct StreamRestarting<'a> {
    pub reason: &'a str,
    pub delay: Duration,
}

impl InternalEvent for StreamRestarting<'_> {
    fn emit(self, probe: &StreamProbe) {
        let key = probe.key();
        probe.metrics.restarts.inc();
        probe.entry.update(|s| {
            s.state = StreamState::BackingOff;
            s.last_error = Some(self.reason.to_string());
            s.restarts += 1;
        });
        tracing::warn!(tenant = %key.tenant, source = %key.source, reason = %self.reason, restart_in = ?self.delay, "stream failed; restarting after a pause");
    }
}

/// Failed for a reason a person must fix: retried every `retry_in`.
pub struct StreamFailed<'a> {
    pub reason: &'a str,
    pub retry_in: Duration,
}

impl InternalEvent for StreamFailed<'_> {
    fn emit(self, probe: &StreamProbe) {
        let key = probe.key();
        probe.metrics.restarts.inc();
        probe.entry.update(|s| {
            s.state = StreamState::Failed;
            s.last_error = Some(self.reason.to_string());
            s.restarts += 1;
        });
        tracing::error!(tenant = %key.tenant, source = %key.source, reason = %self.reason, retry_in = ?self.retry_in,
            "stream failed and needs attention (credentials, permissions, plan or Kafka access); retrying slowly");
    }
}

/// The API is not available to this account: the stream is off.
pub struct StreamDisabled<'a> {
    pub reason: &'a str,
    /// When the stream is tried again (`disabled_recheck`).
    pub recheck_in: std::time::Duration,
}

impl InternalEvent for StreamDisabled<'_> {
    fn emit(self, probe: &StreamProbe) {
        let key = probe.key();
        probe.engine.forget_lag(key);
        probe.entry.update(|s| {
            s.state = StreamState::Disabled;
            s.last_error = Some(self.reason.to_string());
            s.lag_seconds = None;
        });
        tracing::warn!(tenant = %key.tenant, source = %key.source, reason = %self.reason, recheck_in = ?self.recheck_in,
            "stream disabled: the API is not available to this account; checked again later (disabled_recheck)");
    }
}

/// Stopped for good: nothing but a restart of trawl can help (the producer was fenced:
/// another instance publishes these streams now).
pub struct StreamStopped<'a> {
    pub reason: &'a str,
}

impl InternalEvent for StreamStopped<'_> {
    fn emit(self, probe: &StreamProbe) {
        let key = probe.key();
        probe.entry.update(|s| {
            s.state = StreamState::Failed;
            s.last_error = Some(self.reason.to_string());
        });
        tracing::error!(tenant = %key.tenant, source = %key.source, reason = %self.reason, "stream stopped for good; not restarted");
    }
}
