//! Every Prometheus metric trawl exports, as one struct of typed handles.
//!
//! Call sites never name a metric by string: a fetcher gets a [`StreamMetrics`] with its
//! label values resolved once, so the hot path is an atomic add. Labels are bounded:
//! `tenant` (droppable with `metrics.tenant_label = false` for very large fleets),
//! `source` (3 values), `status` (HTTP codes seen), `label`/`type` (rate-limit labels),
//! `state` and `result` (fixed sets). The per-stream and per-bucket series live in
//! [`streams`] (compact atomics, exported by a collector of their own); the rest are
//! the prometheus crate's own types.

pub mod cluster;
mod streams;

use std::sync::Arc;

use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec, Opts,
    Registry, TextEncoder,
};
use trawl_model::{SourceKind, StreamKey};

pub use streams::{Counter, Gauge};
use streams::{SeriesTable, C, G};

/// States a stream can be in (`trawl_streams{state}` and `/status`).
pub const STREAM_STATES: [&str; 6] = [
    "starting",
    "backfilling",
    "live",
    "backing_off",
    "failed",
    "disabled",
];

pub struct Metrics {
    registry: Registry,
    tenant_label: bool,
    table: Arc<SeriesTable>,
    pub request_duration: HistogramVec,
    pub rate_limit_wait: HistogramVec,
    pub poll_delay: Histogram,
    pub kafka_delivery_errors: IntCounter,
    pub transactions: IntCounterVec,
    pub streams: IntGaugeVec,
    pub checkpoint_commits: IntCounter,
    pub build_info: IntGaugeVec,
    pub cluster: cluster::ClusterMetrics,
}

/// Registers the shared series table with the registry.
struct TableCollector(Arc<SeriesTable>);

impl Collector for TableCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.0.desc()
    }
    fn collect(&self) -> Vec<MetricFamily> {
        self.0.collect()
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics")
            .field("tenant_label", &self.tenant_label)
            .finish_non_exhaustive()
    }
}

impl Metrics {
    pub fn new(tenant_label: bool) -> Self {
        let registry = Registry::new();
        fn reg<C: Collector + Clone + 'static>(r: &Registry, c: C) -> C {
            r.register(Box::new(c.clone()))
                .expect("metric names are unique");
            c
        }
        let counter = |name: &str, help: &str, l: &[&str]| {
            reg(
                &registry,
                IntCounterVec::new(Opts::new(name, help), l).expect("valid metric"),
            )
        };
        let gauge = |name: &str, help: &str, l: &[&str]| {
            reg(
                &registry,
                IntGaugeVec::new(Opts::new(name, help), l).expect("valid metric"),
            )
        };
        let secs = vec![
            0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
        ];
        let table = Arc::new(SeriesTable::new(tenant_label));
        registry
            .register(Box::new(TableCollector(table.clone())))
            .expect("metric names are unique");
        let m = Self {
            request_duration: reg(&registry, HistogramVec::new(HistogramOpts::new("trawl_request_duration_seconds", "Duration of source API requests, from sending to the parsed answer.").buckets(secs.clone()), &["source"]).expect("valid metric")),
            rate_limit_wait: reg(&registry, HistogramVec::new(HistogramOpts::new("trawl_rate_limit_wait_seconds", "Time a request waited for its rate-limit permit.").buckets(secs), &["source"]).expect("valid metric")),
            poll_delay: reg(&registry, Histogram::with_opts(HistogramOpts::new("trawl_poll_delay_seconds", "How late a live poll woke up against its schedule (the watermark plus the poll interval).").buckets(vec![0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0])).expect("valid metric")),
            kafka_delivery_errors: reg(&registry, IntCounter::new("trawl_kafka_delivery_errors_total", "Kafka publishes that failed (the stream restarts from its checkpoint).").expect("valid metric")),
            transactions: counter("trawl_transactions_total", "Kafka transactions by result (committed, aborted).", &["result"]),
            streams: gauge("trawl_streams", "Tenant streams by state (starting, backfilling, live, backing_off, failed, disabled).", &["state"]),
            checkpoint_commits: reg(&registry, IntCounter::new("trawl_checkpoint_commits_total", "Stream checkpoints written (after their events were acknowledged).").expect("valid metric")),
            cluster: cluster::ClusterMetrics::new(&registry),
            build_info: gauge("trawl_build_info", "Always 1; the running trawl version as a label.", &["version"]),
            registry,
            tenant_label,
            table,
        };
        for s in STREAM_STATES {
            m.streams.with_label_values(&[s]).set(0);
        }
        // Series that exist from the start, so dashboards and alerts see 0, not nothing.
        for r in ["committed", "aborted"] {
            m.transactions.with_label_values(&[r]);
        }
        m.build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);
        m
    }

    /// Handles with this stream's series resolved.
    pub fn stream(&self, key: &StreamKey) -> StreamMetrics {
        let src = key.source.as_str();
        let t = &self.table;
        let m = StreamMetrics {
            key: key.clone(),
            pages: t.counter(key, C::Pages),
            events: t.counter(key, C::Events),
            duplicates: t.counter(key, C::Duplicates),
            lag: t.gauge(key, G::Lag),
            last_success: t.gauge(key, G::LastSuccess),
            gaps: t.gauge(key, G::Gaps),
            malformed: t.counter(key, C::Malformed),
            dead_letters: t.counter(key, C::DeadLetters),
            restarts: t.counter(key, C::Restarts),
            retention_skipped: t.counter(key, C::RetentionSkipped),
            late_dropped: t.counter(key, C::LateDropped),
            duration: self.request_duration.with_label_values(&[src]),
            wait: self.rate_limit_wait.with_label_values(&[src]),
        };
        // Series a running stream always has, so dashboards see 0, not nothing.
        for g in [&m.lag, &m.last_success, &m.gaps] {
            if g.get() == i64::MIN {
                g.set(0);
            }
        }
        m
    }

    pub fn http_request(&self, key: &StreamKey, status: Option<u16>) {
        self.table.http_request(key, status);
    }

    pub fn rate_limited(&self, key: &StreamKey, label: &str, kind: &str) {
        self.table.rate_limited(key, label, kind);
    }

    /// A throttle episode met by `key`'s request (`trawl_throttle_episodes_total`).
    pub fn throttle_episode(&self, key: &StreamKey) {
        self.table.counter(key, C::ThrottleEpisodes).inc();
    }

    /// `trawl_daily_quota_remaining` of a stream's bucket.
    pub fn daily_quota(&self, key: &StreamKey, family: &'static str, label: &'static str) -> Gauge {
        self.table.bucket_gauge(key, family, label, false)
    }

    /// Records a stream's configured poll interval (`trawl_poll_interval_seconds`).
    pub fn set_poll_interval(&self, key: &StreamKey, interval: std::time::Duration) {
        let secs = i64::try_from(interval.as_secs()).unwrap_or(i64::MAX);
        self.table.gauge(key, G::PollInterval).set(secs);
    }

    /// The `trawl_daily_quota_limit` gauge of a stream's bucket.
    pub fn daily_quota_limit(
        &self,
        key: &StreamKey,
        family: &'static str,
        label: &'static str,
    ) -> Gauge {
        self.table.bucket_gauge(key, family, label, true)
    }

    /// Drops a stream's lag series: a disabled stream (its API is not available to the
    /// account) has no data to be late with, and must not trip lag alerts.
    pub fn forget_lag(&self, key: &StreamKey) {
        self.table.forget_lag(key);
    }

    /// Drops a removed stream's series so dashboards do not show it frozen.
    pub fn forget_stream(&self, key: &StreamKey) {
        let limit = trawl_sources::LimitKey::of(key.source);
        self.table
            .forget_stream(key, limit.family.as_str(), limit.label);
    }

    /// The text exposition format for `/metrics`.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buf)
            .expect("text encoding to a Vec cannot fail");
        String::from_utf8(buf).expect("prometheus text is UTF-8")
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }
}

/// One stream's metric handles.
#[derive(Clone)]
pub struct StreamMetrics {
    pub key: StreamKey,
    pub pages: Counter,
    pub events: Counter,
    pub duplicates: Counter,
    pub lag: Gauge,
    pub last_success: Gauge,
    /// Open gaps of the stream.
    pub gaps: Gauge,
    pub malformed: Counter,
    pub dead_letters: Counter,
    pub restarts: Counter,
    /// Seconds of the stream's period skipped because the API no longer held them.
    pub retention_skipped: Counter,
    /// Records that came later than the lookback allows and were not published.
    pub late_dropped: Counter,
    pub duration: Histogram,
    pub wait: Histogram,
}

/// The `source` label value of a kind (for tests and dashboards).
pub fn source_label(k: SourceKind) -> &'static str {
    k.as_str()
}

#[cfg(test)]
mod tests {
    use super::*;
    use trawl_model::TenantId;

    #[test]
    fn stream_handles_and_tenant_switch() {
        let key = StreamKey::new(
            TenantId::new("acme").unwrap(),
            SourceKind::ZoomOperationLogs,
        );
        let m = Metrics::new(true);
        m.stream(&key).pages.inc_by(3);
        m.http_request(&key, Some(429));
        m.rate_limited(&key, "Heavy", "qps");
        let text = m.render();
        assert!(
            text.contains(
                r#"trawl_pages_fetched_total{source="zoom.operation_logs",tenant="acme"} 3"#
            ),
            "{text}"
        );
        assert!(text.contains(r#"trawl_rate_limited_total{label="Heavy",source="zoom.operation_logs",tenant="acme",type="qps"} 1"#));
        assert!(text.contains(r#"trawl_streams{state="live"} 0"#));
        m.forget_stream(&key);
        assert!(
            !m.render().contains("acme"),
            "every series of the stream goes"
        );

        let m = Metrics::new(false);
        m.stream(&key).pages.inc();
        assert!(m
            .render()
            .contains(r#"trawl_pages_fetched_total{source="zoom.operation_logs"} 1"#));
        assert!(!m.render().contains("acme"));
    }

    #[test]
    fn series_that_exist_from_the_start_and_config_gauges() {
        let m = Metrics::new(true);
        let text = m.render();
        assert!(text.contains(r#"trawl_transactions_total{result="aborted"} 0"#));
        assert!(text.contains(r#"trawl_transactions_total{result="committed"} 0"#));
        assert!(text.contains("trawl_kafka_delivery_errors_total 0"));
        assert!(text.contains("trawl_build_info{version="));
        let key = StreamKey::new(TenantId::new("acme").unwrap(), SourceKind::ZohoMailAudit);
        m.set_poll_interval(&key, std::time::Duration::from_secs(300));
        m.daily_quota_limit(&key, "zoho_mail", "Mail").set(1000);
        m.daily_quota(&key, "zoho_mail", "Mail").set(10);
        let text = m.render();
        assert!(text.contains(
            r#"trawl_poll_interval_seconds{source="zoho.mail_audit",tenant="acme"} 300"#
        ));
        assert!(text.contains(
            r#"trawl_daily_quota_limit{family="zoho_mail",label="Mail",tenant="acme"} 1000"#
        ));
        m.forget_stream(&key);
        assert!(!m.render().contains("acme"));
    }
}
