//! Each event moves what it names: the `/metrics` series and the `/status` fields it
//! stands for, together (so they cannot drift), and marks the stream's progress.

use std::time::Duration;

use chrono::{TimeZone, Utc};
use trawl_model::{SourceKind, TenantId, Window};
use trawl_sources::HttpExchange;

use super::*;
use crate::status::{StreamState, StreamStatus};

struct Bed {
    metrics: Arc<Metrics>,
    status: StatusBoard,
    probe: StreamProbe,
}

fn bed() -> Bed {
    let metrics = Arc::new(Metrics::new(true));
    let status = StatusBoard::new(metrics.clone());
    let key = StreamKey::new(
        TenantId::new("acme").unwrap(),
        SourceKind::ZoomOperationLogs,
    );
    let probe = StreamProbe::new(&key, &metrics, &status);
    Bed {
        metrics,
        status,
        probe,
    }
}

impl Bed {
    fn status(&self) -> StreamStatus {
        self.status.get(self.probe.key()).unwrap()
    }

    /// The value of the series `name{labels}` of this stream (`source`, `tenant` added).
    fn metric(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let mut all = vec![("source", "zoom.operation_logs"), ("tenant", "acme")];
        all.extend_from_slice(labels);
        all.sort();
        let pairs: Vec<String> = all.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
        self.engine_metric(&format!("{name}{{{}}}", pairs.join(",")))
    }

    fn engine_metric(&self, series: &str) -> f64 {
        let text = self.metrics.render();
        let found = text
            .lines()
            .find_map(|l| l.strip_prefix(series).and_then(|r| r.strip_prefix(' ')));
        found
            .unwrap_or_else(|| panic!("no {series} in:\n{text}"))
            .parse()
            .unwrap()
    }
}

fn at(h: u32) -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, h, 0, 0).unwrap()
}

#[test]
fn counting_events_move_metric_and_status_together() {
    let b = bed();
    for _ in 0..3 {
        b.probe.emit(PageFetched);
    }
    assert_eq!(b.metric("trawl_pages_fetched_total", &[]), 3.0);
    assert_eq!(b.status().pages, 3);

    b.probe.emit(EventsPublished { count: 7 });
    b.probe.emit(EventsPublished { count: 5 });
    assert_eq!(b.metric("trawl_events_published_total", &[]), 12.0);
    assert_eq!(b.status().events, 12);

    b.probe.emit(RateLimited {
        label: "Heavy",
        kind: "qps",
    });
    assert!(b.metrics.render().contains(
        r#"trawl_rate_limited_total{label="Heavy",source="zoom.operation_logs",tenant="acme",type="qps"} 1"#
    ));
    assert_eq!(b.status().rate_limited, 1);

    b.probe.emit(DuplicatesSkipped { count: 4 });
    assert_eq!(b.metric("trawl_duplicates_skipped_total", &[]), 4.0);
}

#[test]
fn progress_events_move_gauges_and_status_together() {
    let b = bed();
    b.probe.emit(WatermarkReported {
        watermark: at(10),
        now: at(12),
    });
    assert_eq!(b.metric("trawl_lag_seconds", &[]), 7200.0);
    assert_eq!(b.status().lag_seconds, Some(7200));
    assert_eq!(b.status().watermark, Some(at(10)));

    b.probe.emit(PageMalformed {
        window: Window::new(at(0), at(1)).unwrap(),
        tries: 1,
        reason: "not JSON",
    });
    assert_eq!(b.metric("trawl_malformed_pages_total", &[]), 1.0);
    assert_eq!(
        b.status().last_error.as_deref(),
        Some("malformed page: not JSON")
    );
    b.probe.emit(DeadLettered {
        reason: "not JSON",
        tries: 3,
    });
    assert_eq!(b.metric("trawl_dead_letters_total", &[]), 1.0);
    assert!(b.status().degraded);

    b.probe.emit(WindowCompleted { at: at(12) });
    assert_eq!(
        b.metric("trawl_last_success_timestamp_seconds", &[]),
        at(12).timestamp() as f64
    );
    assert_eq!(b.status().last_success, Some(at(12)));
    assert_eq!(
        b.status().last_error,
        None,
        "a completed window clears the error"
    );

    b.probe.emit(RequestAnswered {
        exchange: HttpExchange {
            status: Some(429),
            elapsed: Duration::from_millis(20),
        },
    });
    assert_eq!(
        b.metric("trawl_http_requests_total", &[("status", "429")]),
        1.0
    );
    b.probe.emit(CheckpointStored);
    assert_eq!(b.engine_metric("trawl_checkpoint_commits_total"), 1.0);
}

#[test]
fn supervisor_events_move_restarts_state_and_gauge_together() {
    let b = bed();
    let streams = |state: StreamState| {
        b.engine_metric(&format!("trawl_streams{{state=\"{}\"}}", state.as_str()))
    };
    assert_eq!(streams(StreamState::Starting), 1.0);
    b.probe.emit(StreamRestarting {
        reason: "broker down",
        delay: Duration::from_secs(1),
    });
    assert_eq!(b.metric("trawl_fetcher_restarts_total", &[]), 1.0);
    let s = b.status();
    assert_eq!((s.state, s.restarts), (StreamState::BackingOff, 1));
    assert_eq!(s.last_error.as_deref(), Some("broker down"));
    assert_eq!(streams(StreamState::BackingOff), 1.0);
    assert_eq!(streams(StreamState::Starting), 0.0);

    b.probe.emit(StreamFailed {
        reason: "invalid client",
        retry_in: Duration::from_secs(900),
    });
    assert_eq!(b.metric("trawl_fetcher_restarts_total", &[]), 2.0);
    assert_eq!(b.status().restarts, 2);
    assert_eq!(streams(StreamState::Failed), 1.0);

    b.probe.emit(StreamStopped { reason: "fenced" });
    assert_eq!(
        b.metric("trawl_fetcher_restarts_total", &[]),
        2.0,
        "not a restart"
    );
    assert_eq!(b.status().state, StreamState::Failed);
    assert_eq!(b.status().last_error.as_deref(), Some("fenced"));

    b.probe.emit(WatermarkReported {
        watermark: at(10),
        now: at(11),
    });
    b.probe.emit(StreamDisabled {
        reason: "no Phone",
        recheck_in: std::time::Duration::from_secs(86400),
    });
    assert_eq!(b.status().state, StreamState::Disabled);
    assert_eq!(b.status().lag_seconds, None);
    assert!(
        !b.metrics.render().contains("trawl_lag_seconds{"),
        "a disabled stream has no lag series"
    );
    assert_eq!(streams(StreamState::Disabled), 1.0);
    assert_eq!(streams(StreamState::Failed), 0.0);
}

#[test]
fn publisher_events_count_engine_wide() {
    let b = bed();
    TransactionEnded { committed: true }.emit(b.metrics.as_ref());
    TransactionEnded { committed: false }.emit(b.metrics.as_ref());
    PublishFailed.emit(b.metrics.as_ref());
    assert_eq!(
        b.engine_metric(r#"trawl_transactions_total{result="committed"}"#),
        1.0
    );
    assert_eq!(
        b.engine_metric(r#"trawl_transactions_total{result="aborted"}"#),
        1.0
    );
    assert_eq!(b.engine_metric("trawl_kafka_delivery_errors_total"), 1.0);
}

#[tokio::test(start_paused = true)]
async fn every_event_is_progress_and_waiting_is_not_a_stall() {
    let b = bed();
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(b.probe.progress().idle_for(), Duration::from_secs(60));
    b.probe.emit(PageFetched);
    assert_eq!(b.probe.progress().idle_for(), Duration::ZERO);
    let waited = b
        .probe
        .waiting(async {
            assert!(b.status().waiting);
            tokio::time::sleep(Duration::from_secs(5)).await;
            7
        })
        .await;
    assert_eq!(waited, 7);
    assert!(!b.status().waiting);
}
