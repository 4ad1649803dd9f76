//! Every Prometheus metric trawl exports, as one struct of typed handles.
//!
//! Call sites never name a metric by string: a fetcher gets a [`StreamMetrics`] with its
//! label values resolved once, so the hot path is an atomic add. Labels are bounded:
//! `tenant` (droppable with `metrics.tenant_label = false` for very large fleets),
//! `source` (3 values), `status` (HTTP codes seen), `label`/`type` (rate-limit labels),
//! `state` and `result` (fixed sets).

use prometheus::core::Collector;
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};
use trawl_model::{SourceKind, StreamKey};

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
    pub pages_fetched: IntCounterVec,
    pub events_published: IntCounterVec,
    pub duplicates_skipped: IntCounterVec,
    pub http_requests: IntCounterVec,
    pub rate_limited: IntCounterVec,
    pub lag_seconds: IntGaugeVec,
    pub last_success: IntGaugeVec,
    pub request_duration: HistogramVec,
    pub rate_limit_wait: HistogramVec,
    pub poll_delay: Histogram,
    pub daily_quota_remaining: IntGaugeVec,
    pub malformed_pages: IntCounterVec,
    pub dead_letters: IntCounterVec,
    pub kafka_delivery_errors: IntCounter,
    pub transactions: IntCounterVec,
    pub fetcher_restarts: IntCounterVec,
    pub streams: IntGaugeVec,
    pub checkpoint_commits: IntCounter,
    pub poll_interval: IntGaugeVec,
    pub daily_quota_limit: IntGaugeVec,
    pub build_info: IntGaugeVec,
}

fn labels(tenant_label: bool, rest: &[&'static str]) -> Vec<&'static str> {
    let mut v = if tenant_label { vec!["tenant"] } else { vec![] };
    v.extend_from_slice(rest);
    v
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
        let t = |rest: &[&'static str]| labels(tenant_label, rest);
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
        let m = Self {
            pages_fetched: counter("trawl_pages_fetched_total", "Source API pages fetched and parsed (one per successful page request).", &t(&["source"])),
            events_published: counter("trawl_events_published_total", "Events published to Kafka and acknowledged (new records only; duplicates are skipped).", &t(&["source"])),
            duplicates_skipped: counter("trawl_duplicates_skipped_total", "Records skipped because their id was already published (re-read lookback, restarted windows, read-back after a crash).", &t(&["source"])),
            http_requests: counter("trawl_http_requests_total", "Requests to the source APIs by HTTP status (\"error\" when no answer came).", &t(&["source", "status"])),
            rate_limited: counter("trawl_rate_limited_total", "Answers 429 from the source APIs, by rate-limit label and type (qps, daily, unknown).", &t(&["source", "label", "type"])),
            lag_seconds: gauge("trawl_lag_seconds", "Now minus the stream's watermark (every record before it is in Kafka).", &t(&["source"])),
            last_success: gauge("trawl_last_success_timestamp_seconds", "Unix time of the stream's last completed window.", &t(&["source"])),
            request_duration: reg(&registry, HistogramVec::new(HistogramOpts::new("trawl_request_duration_seconds", "Duration of source API requests, from sending to the parsed answer.").buckets(secs.clone()), &["source"]).expect("valid metric")),
            rate_limit_wait: reg(&registry, HistogramVec::new(HistogramOpts::new("trawl_rate_limit_wait_seconds", "Time a request waited for its rate-limit permit.").buckets(secs), &["source"]).expect("valid metric")),
            poll_delay: reg(&registry, Histogram::with_opts(HistogramOpts::new("trawl_poll_delay_seconds", "How late a live poll woke up against its schedule (the watermark plus the poll interval).").buckets(vec![0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0])).expect("valid metric")),
            daily_quota_remaining: gauge("trawl_daily_quota_remaining", "Requests left today (UTC) of the share of the account's daily cap trawl may use.", &t(&["family", "label"])),
            malformed_pages: counter("trawl_malformed_pages_total", "Pages that did not parse (retried; dead-lettered after repeated failures).", &t(&["source"])),
            dead_letters: counter("trawl_dead_letters_total", "Raw pages sent to the dead-letter topic.", &t(&["source"])),
            kafka_delivery_errors: reg(&registry, IntCounter::new("trawl_kafka_delivery_errors_total", "Kafka publishes that failed (the stream restarts from its checkpoint).").expect("valid metric")),
            transactions: counter("trawl_transactions_total", "Kafka transactions by result (committed, aborted).", &["result"]),
            fetcher_restarts: counter("trawl_fetcher_restarts_total", "Stream fetchers restarted by the supervisor after a failure.", &t(&["source"])),
            streams: gauge("trawl_streams", "Tenant streams by state (starting, backfilling, live, backing_off, failed, disabled).", &["state"]),
            checkpoint_commits: reg(&registry, IntCounter::new("trawl_checkpoint_commits_total", "Stream checkpoints written (after their events were acknowledged).").expect("valid metric")),
            poll_interval: gauge("trawl_poll_interval_seconds", "The stream's configured live poll interval (alerts compare freshness with it).", &t(&["source"])),
            daily_quota_limit: gauge("trawl_daily_quota_limit", "Requests per UTC day trawl may use of the account's daily cap (the cap times quota_share).", &t(&["family", "label"])),
            build_info: gauge("trawl_build_info", "Always 1; the running trawl version as a label.", &["version"]),
            registry,
            tenant_label,
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

    /// The label values of a stream, tenant first when the tenant label is on.
    fn values<'a>(&self, key: &'a StreamKey, rest: &[&'a str]) -> Vec<&'a str> {
        let mut v = if self.tenant_label {
            vec![key.tenant.as_str()]
        } else {
            vec![]
        };
        v.extend_from_slice(rest);
        v
    }

    /// Handles with this stream's labels resolved.
    pub fn stream(&self, key: &StreamKey) -> StreamMetrics {
        let src = key.source.as_str();
        let v = self.values(key, &[src]);
        StreamMetrics {
            key: key.clone(),
            pages: self.pages_fetched.with_label_values(&v),
            events: self.events_published.with_label_values(&v),
            duplicates: self.duplicates_skipped.with_label_values(&v),
            lag: self.lag_seconds.with_label_values(&v),
            last_success: self.last_success.with_label_values(&v),
            malformed: self.malformed_pages.with_label_values(&v),
            dead_letters: self.dead_letters.with_label_values(&v),
            restarts: self.fetcher_restarts.with_label_values(&v),
            duration: self.request_duration.with_label_values(&[src]),
            wait: self.rate_limit_wait.with_label_values(&[src]),
        }
    }

    pub fn http_request(&self, key: &StreamKey, status: Option<u16>) {
        let status = status.map_or_else(|| "error".to_string(), |s| s.to_string());
        let v = self.values(key, &[key.source.as_str(), &status]);
        self.http_requests.with_label_values(&v).inc();
    }

    pub fn rate_limited(&self, key: &StreamKey, label: &str, kind: &str) {
        let v = self.values(key, &[key.source.as_str(), label, kind]);
        self.rate_limited.with_label_values(&v).inc();
    }

    pub fn daily_quota(&self, key: &StreamKey, family: &str, label: &str) -> IntGauge {
        self.daily_quota_remaining
            .with_label_values(&self.values(key, &[family, label]))
    }

    /// Records a stream's configured poll interval (`trawl_poll_interval_seconds`).
    pub fn set_poll_interval(&self, key: &StreamKey, interval: std::time::Duration) {
        let v = self.values(key, &[key.source.as_str()]);
        let secs = i64::try_from(interval.as_secs()).unwrap_or(i64::MAX);
        self.poll_interval.with_label_values(&v).set(secs);
    }

    /// The `trawl_daily_quota_limit` gauge of a stream's bucket.
    pub fn daily_quota_limit(&self, key: &StreamKey, family: &str, label: &str) -> IntGauge {
        self.daily_quota_limit
            .with_label_values(&self.values(key, &[family, label]))
    }

    /// Drops a stream's lag series: a disabled stream (its API is not available to the
    /// account) has no data to be late with, and must not trip lag alerts.
    pub fn forget_lag(&self, key: &StreamKey) {
        let v = self.values(key, &[key.source.as_str()]);
        let _ = self.lag_seconds.remove_label_values(&v);
    }

    /// Drops a removed stream's series so dashboards do not show it frozen.
    pub fn forget_stream(&self, key: &StreamKey) {
        if !self.tenant_label {
            return;
        }
        let v = self.values(key, &[key.source.as_str()]);
        for vec in [
            &self.pages_fetched,
            &self.events_published,
            &self.duplicates_skipped,
            &self.malformed_pages,
            &self.dead_letters,
            &self.fetcher_restarts,
        ] {
            let _ = vec.remove_label_values(&v);
        }
        let _ = self.lag_seconds.remove_label_values(&v);
        let _ = self.last_success.remove_label_values(&v);
        let _ = self.poll_interval.remove_label_values(&v);
        let limit = trawl_sources::LimitKey::of(key.source);
        let v = self.values(key, &[limit.family.as_str(), limit.label]);
        let _ = self.daily_quota_remaining.remove_label_values(&v);
        let _ = self.daily_quota_limit.remove_label_values(&v);
        // Series with further labels (status; label and type): every one of the stream.
        for vec in [&self.http_requests, &self.rate_limited] {
            remove_stream_series(vec, key);
        }
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

/// Removes every series of `vec` whose `tenant` and `source` are the stream's.
fn remove_stream_series(vec: &IntCounterVec, key: &StreamKey) {
    let (tenant, source) = (key.tenant.as_str(), key.source.as_str());
    for family in vec.collect() {
        for m in family.get_metric() {
            let labels: std::collections::HashMap<&str, &str> = m
                .get_label()
                .iter()
                .map(|l| (l.name(), l.value()))
                .collect();
            if labels.get("tenant") == Some(&tenant) && labels.get("source") == Some(&source) {
                let _ = vec.remove(&labels);
            }
        }
    }
}

/// One stream's metric handles.
#[derive(Clone)]
pub struct StreamMetrics {
    pub key: StreamKey,
    pub pages: IntCounter,
    pub events: IntCounter,
    pub duplicates: IntCounter,
    pub lag: IntGauge,
    pub last_success: IntGauge,
    pub malformed: IntCounter,
    pub dead_letters: IntCounter,
    pub restarts: IntCounter,
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
