//! The fetch loop with no broker and no HTTP server: a scripted API, an in-memory sink
//! behind the real `Publisher`, a real `RateLimiter`, and tokio's paused clock. What is
//! checked is what a user would see: the records in "Kafka" against the API's ground
//! truth (each once), the checkpoints stored and when, the metrics and the status.

mod faults;
mod flow;
mod recovery;
mod retention;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use actix::prelude::*;
use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::json;
use trawl_model::{EventId, SourceKind, StreamKey, TenantId};

use super::{run_stream, Cadence, Exit, FetcherDeps};
use crate::clock::Clock;
use crate::events::StreamProbe;
use crate::limiter::{BucketSpec, LimiterHandle, RateLimiter};
use crate::metrics::Metrics;
use crate::publisher::{Publisher, PublisherHandle};
use crate::status::{StatusBoard, StreamStatus};
use crate::test_support::{ApiRecord, MemorySink, ScriptedApi, ScriptedSource};

/// "Now" when a test starts.
fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 10, 12, 0, 0).unwrap()
}

fn midnight(day: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, day, 0, 0, 0).unwrap()
}

fn key() -> StreamKey {
    StreamKey::new(
        TenantId::new("acme").unwrap(),
        SourceKind::ZoomOperationLogs,
    )
}

/// The id trawl gives an API record (one record per second: occurrence 0).
fn id_of(r: &ApiRecord) -> EventId {
    EventId::compute(&key(), &json!({"time": r.time.to_rfc3339(), "n": r.n}), 0)
}

fn cadence(backfill_days: i64) -> Cadence {
    Cadence {
        poll_interval: Duration::minutes(5),
        backfill: Duration::days(backfill_days),
        lookback: Duration::hours(1),
        max_windows: 2,
        recheck: crate::config::RecheckSchedule::every_poll(),
        gap_retry: Duration::hours(1),
    }
}

struct Bed {
    api: ScriptedApi,
    sink: Arc<MemorySink>,
    metrics: Arc<Metrics>,
    status: StatusBoard,
    deps: FetcherDeps,
}

/// Must run inside an actix System with tokio's clock paused.
fn bed(api: ScriptedApi, cadence: Cadence, sink: MemorySink) -> Bed {
    let clock = Clock::following_tokio(t0());
    let metrics = Arc::new(Metrics::new(true));
    let status = StatusBoard::new(metrics.clone());
    let sink = Arc::new(sink);
    let publisher = Publisher::new(sink.clone(), metrics.clone()).start();
    let spec = BucketSpec {
        per_second: 20.0,
        daily: None,
        share: 1.0,
    };
    let limiter = RateLimiter::new("zoom:acct/zoom/Heavy", spec, clock.clone(), Vec::new()).start();
    let deps = FetcherDeps {
        source: Arc::new(ScriptedSource {
            stream: key(),
            api: api.clone(),
        }),
        limiter: LimiterHandle::new(limiter),
        publisher: PublisherHandle::new(publisher, sink.clone()),
        cadence,
        clock,
        probe: StreamProbe::new(&key(), &metrics, &status),
        requests: Arc::new(tokio::sync::Semaphore::new(4)),
    };
    Bed {
        api,
        sink,
        metrics,
        status,
        deps,
    }
}

impl Bed {
    fn start(&self) -> tokio::task::JoinHandle<Exit> {
        actix::spawn(run_stream(self.deps.clone()))
    }

    fn status(&self) -> StreamStatus {
        self.status.get(&key()).unwrap()
    }

    /// Waits (in paused time) until `done` holds, for at most `within`.
    async fn until(&self, what: &str, within: StdDuration, done: impl Fn(&StreamStatus) -> bool) {
        let deadline = tokio::time::Instant::now() + within;
        while !done(&self.status()) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{what}: {:#?}",
                self.status()
            );
            tokio::time::sleep(StdDuration::from_millis(500)).await;
        }
    }

    /// How often each id is in the sink.
    fn published(&self) -> BTreeMap<EventId, usize> {
        let mut out = BTreeMap::new();
        self.sink.with(|s| {
            for (_, id, _) in &s.log {
                *out.entry(*id).or_default() += 1;
            }
        });
        out
    }

    /// The ids of the API's records at or after `from`, once each.
    fn truth(&self, from: DateTime<Utc>) -> BTreeMap<EventId, usize> {
        self.api.with(|a| {
            a.records
                .iter()
                .filter(|r| r.time >= from)
                .map(|r| (id_of(r), 1))
                .collect()
        })
    }

    /// The value of one of this stream's series in `/metrics`.
    fn metric(&self, name: &str) -> f64 {
        let series = format!("{name}{{source=\"zoom.operation_logs\",tenant=\"acme\"}} ");
        let text = self.metrics.render();
        text.lines()
            .find_map(|l| l.strip_prefix(series.as_str()))
            .unwrap_or_else(|| panic!("no {series} in:\n{text}"))
            .parse()
            .unwrap()
    }
}
