//! The per-stream and per-bucket series, kept compact.
//!
//! A large fleet has hundreds of thousands of such series, and the prometheus crate
//! stores each labelled series with its own copy of the metric's description and label
//! pairs (what that cost: `benches/RESULTS.md`). Here a stream's counters and gauges are
//! plain atomics in one small struct, found once by the fetcher, and [`SeriesTable`] (a
//! custom collector) turns them into metric families at scrape time. Without the tenant
//! label, all streams of a source share one struct.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use prometheus::core::{Collector, Desc};
use prometheus::proto::{self, LabelPair, Metric, MetricFamily, MetricType};
use trawl_model::{SourceKind, StreamKey, TenantId};

/// A value meaning "no such series" for gauges (a disabled stream has no lag).
const ABSENT: i64 = i64::MIN;

/// Counters of a stream (indexes into [`StreamSeries::counters`]).
#[derive(Clone, Copy)]
pub(crate) enum C {
    Pages,
    Events,
    Duplicates,
    Malformed,
    DeadLetters,
    Restarts,
    RetentionSkipped,
    LateDropped,
    ThrottleEpisodes,
}

/// Gauges of a stream (indexes into [`StreamSeries::gauges`]).
#[derive(Clone, Copy)]
pub(crate) enum G {
    Lag,
    LastSuccess,
    PollInterval,
    Gaps,
}

const COUNTERS: [(C, &str, &str); 9] = [
    (C::Pages, "trawl_pages_fetched_total", "Source API pages fetched and parsed (one per successful page request)."),
    (C::Events, "trawl_events_published_total", "Events published to Kafka and acknowledged (new records only; duplicates are skipped)."),
    (C::Duplicates, "trawl_duplicates_skipped_total", "Records skipped because their id was already published (re-read lookback, restarted windows, read-back after a crash)."),
    (C::Malformed, "trawl_malformed_pages_total", "Pages that did not parse (retried; dead-lettered after repeated failures)."),
    (C::DeadLetters, "trawl_dead_letters_total", "Raw pages sent to the dead-letter topic."),
    (C::Restarts, "trawl_fetcher_restarts_total", "Stream fetchers restarted by the supervisor after a failure."),
    (C::RetentionSkipped, "trawl_retention_skipped_seconds_total", "Seconds of the stream's period the API no longer held when the stream reached them (its watermark fell behind the API's retention)."),
    (C::LateDropped, "trawl_late_records_dropped_total", "Records the API answered later than the stream's lookback allows (their time lies before every window still to be read): not published."),
    (C::ThrottleEpisodes, "trawl_throttle_episodes_total", "Lock-style throttles (Zoho's) met by the stream's requests: each episode once, however many answers it took (its account's bucket made no request until the lock ended)."),
];

const GAUGES: [(G, &str, &str); 4] = [
    (
        G::Lag,
        "trawl_lag_seconds",
        "Now minus the stream's watermark (every record before it is in Kafka).",
    ),
    (
        G::LastSuccess,
        "trawl_last_success_timestamp_seconds",
        "Unix time of the stream's last completed window.",
    ),
    (
        G::PollInterval,
        "trawl_poll_interval_seconds",
        "The stream's configured live poll interval (alerts compare freshness with it).",
    ),
    (
        G::Gaps,
        "trawl_gaps",
        "Windows of the stream given up on for now (an answer that kept failing): the stream went on past them and retries each on a slow schedule (gap_retry) until it succeeds or leaves the API's retention.",
    ),
];

const HTTP: (&str, &str) = (
    "trawl_http_requests_total",
    "Requests to the source APIs by HTTP status (\"error\" when no answer came).",
);
const RATE_LIMITED: (&str, &str) = (
    "trawl_rate_limited_total",
    "Answers 429 from the source APIs, by rate-limit label and type (qps, daily, unknown).",
);
const QUOTA_REMAINING: (&str, &str) = (
    "trawl_daily_quota_remaining",
    "Requests left today (UTC) of the share of the account's daily cap trawl may use.",
);
const QUOTA_LIMIT: (&str, &str) = (
    "trawl_daily_quota_limit",
    "Requests per UTC day trawl may use of the account's daily cap (the cap times quota_share).",
);

/// One stream's values (or one source's, without the tenant label).
pub(crate) struct StreamSeries {
    counters: [AtomicU64; COUNTERS.len()],
    gauges: [AtomicI64; GAUGES.len()],
    /// Requests by HTTP status (`None`: no answer).
    http: Mutex<Vec<(Option<u16>, u64)>>,
    /// 429s by rate-limit label and type.
    rate_limited: Mutex<Vec<(String, String, u64)>>,
}

impl Default for StreamSeries {
    fn default() -> Self {
        Self {
            counters: Default::default(),
            gauges: [const { AtomicI64::new(ABSENT) }; GAUGES.len()],
            http: Mutex::new(Vec::new()),
            rate_limited: Mutex::new(Vec::new()),
        }
    }
}

/// A counter of one stream: an atomic add.
#[derive(Clone)]
pub struct Counter(Arc<StreamSeries>, C);

impl Counter {
    pub fn inc(&self) {
        self.inc_by(1);
    }
    pub fn inc_by(&self, n: u64) {
        self.0.counters[self.1 as usize].fetch_add(n, Ordering::Relaxed);
    }
    pub fn get(&self) -> u64 {
        self.0.counters[self.1 as usize].load(Ordering::Relaxed)
    }
}

/// A gauge of one stream or bucket.
#[derive(Clone)]
pub struct Gauge(GaugeCell);

#[derive(Clone)]
enum GaugeCell {
    Stream(Arc<StreamSeries>, G),
    Bucket(Arc<BucketSeries>, usize),
}

impl Gauge {
    fn cell(&self) -> &AtomicI64 {
        match &self.0 {
            GaugeCell::Stream(s, g) => &s.gauges[*g as usize],
            GaugeCell::Bucket(b, i) => &b.0[*i],
        }
    }
    pub fn set(&self, v: i64) {
        // ABSENT is reserved for "no series"; no real value comes near it.
        self.cell().store(v.max(ABSENT + 1), Ordering::Relaxed);
    }
    pub fn get(&self) -> i64 {
        self.cell().load(Ordering::Relaxed)
    }
}

/// A rate-limit bucket's daily quota gauges: remaining, limit.
pub(crate) struct BucketSeries([AtomicI64; 2]);

type StreamId = (Option<TenantId>, SourceKind);
type BucketId = (Option<TenantId>, &'static str, &'static str);

/// Every stream's and bucket's series; registered once as a collector.
pub(crate) struct SeriesTable {
    tenant_label: bool,
    streams: RwLock<BTreeMap<StreamId, Arc<StreamSeries>>>,
    buckets: RwLock<BTreeMap<BucketId, Arc<BucketSeries>>>,
    descs: Vec<Desc>,
}

impl SeriesTable {
    pub fn new(tenant_label: bool) -> Self {
        let with_tenant = |rest: &[&str]| {
            let mut v: Vec<String> = rest.iter().map(|s| s.to_string()).collect();
            if tenant_label {
                v.push("tenant".into());
            }
            v
        };
        let mut descs = Vec::new();
        let mut add = |(name, help): (&str, &str), labels: Vec<String>| {
            descs.push(
                Desc::new(name.into(), help.into(), labels, Default::default())
                    .expect("valid metric"),
            );
        };
        for (_, name, help) in COUNTERS {
            add((name, help), with_tenant(&["source"]));
        }
        for (_, name, help) in GAUGES {
            add((name, help), with_tenant(&["source"]));
        }
        add(HTTP, with_tenant(&["source", "status"]));
        add(RATE_LIMITED, with_tenant(&["source", "label", "type"]));
        add(QUOTA_REMAINING, with_tenant(&["family", "label"]));
        add(QUOTA_LIMIT, with_tenant(&["family", "label"]));
        Self {
            tenant_label,
            streams: RwLock::default(),
            buckets: RwLock::default(),
            descs,
        }
    }

    fn tenant(&self, key: &StreamKey) -> Option<TenantId> {
        self.tenant_label.then(|| key.tenant.clone())
    }

    pub fn stream(&self, key: &StreamKey) -> Arc<StreamSeries> {
        let id = (self.tenant(key), key.source);
        if let Some(s) = self
            .streams
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&id)
        {
            return s.clone();
        }
        let mut w = self.streams.write().unwrap_or_else(|p| p.into_inner());
        w.entry(id).or_default().clone()
    }

    pub fn counter(&self, key: &StreamKey, c: C) -> Counter {
        Counter(self.stream(key), c)
    }

    pub fn gauge(&self, key: &StreamKey, g: G) -> Gauge {
        Gauge(GaugeCell::Stream(self.stream(key), g))
    }

    pub fn bucket_gauge(
        &self,
        key: &StreamKey,
        family: &'static str,
        label: &'static str,
        limit: bool,
    ) -> Gauge {
        let id = (self.tenant(key), family, label);
        let b = {
            let mut w = self.buckets.write().unwrap_or_else(|p| p.into_inner());
            w.entry(id)
                .or_insert_with(|| Arc::new(BucketSeries([const { AtomicI64::new(ABSENT) }; 2])))
                .clone()
        };
        Gauge(GaugeCell::Bucket(b, usize::from(limit)))
    }

    pub fn http_request(&self, key: &StreamKey, status: Option<u16>) {
        let s = self.stream(key);
        let mut h = s.http.lock().unwrap_or_else(|p| p.into_inner());
        match h.iter_mut().find(|(st, _)| *st == status) {
            Some((_, n)) => *n += 1,
            None => h.push((status, 1)),
        }
    }

    pub fn rate_limited(&self, key: &StreamKey, label: &str, kind: &str) {
        let s = self.stream(key);
        let mut r = s.rate_limited.lock().unwrap_or_else(|p| p.into_inner());
        match r.iter_mut().find(|(l, k, _)| l == label && k == kind) {
            Some((_, _, n)) => *n += 1,
            None => r.push((label.to_string(), kind.to_string(), 1)),
        }
    }

    /// Drops a stream's lag series (the gauge reads as absent until set again).
    pub fn forget_lag(&self, key: &StreamKey) {
        self.gauge(key, G::Lag).0.clear();
    }

    /// Drops every series of a stream and of its bucket (tenant label on only).
    pub fn forget_stream(&self, key: &StreamKey, family: &'static str, label: &'static str) {
        if !self.tenant_label {
            return;
        }
        let tenant = Some(key.tenant.clone());
        let mut w = self.streams.write().unwrap_or_else(|p| p.into_inner());
        w.remove(&(tenant.clone(), key.source));
        drop(w);
        let mut w = self.buckets.write().unwrap_or_else(|p| p.into_inner());
        w.remove(&(tenant, family, label));
    }
}

impl GaugeCell {
    fn clear(&self) {
        match self {
            GaugeCell::Stream(s, g) => s.gauges[*g as usize].store(ABSENT, Ordering::Relaxed),
            GaugeCell::Bucket(b, i) => b.0[*i].store(ABSENT, Ordering::Relaxed),
        }
    }
}

fn pair(name: &str, value: &str) -> LabelPair {
    let mut p = LabelPair::default();
    p.set_name(name.to_string());
    p.set_value(value.to_string());
    p
}

/// Label pairs sorted by name, as the prometheus crate writes them.
fn labels(tenant: &Option<TenantId>, rest: &[(&str, &str)]) -> Vec<LabelPair> {
    let mut v: Vec<LabelPair> = rest.iter().map(|(n, val)| pair(n, val)).collect();
    if let Some(t) = tenant {
        v.push(pair("tenant", t.as_str()));
    }
    v.sort_by(|a, b| a.name().cmp(b.name()));
    v
}

fn family(desc: &Desc, t: MetricType, metrics: Vec<Metric>) -> MetricFamily {
    let mut mf = MetricFamily::default();
    mf.set_name(desc.fq_name.clone());
    mf.set_help(desc.help.clone());
    mf.set_field_type(t);
    mf.set_metric(metrics);
    mf
}

fn counter(labels: Vec<LabelPair>, v: u64) -> Metric {
    let mut c = proto::Counter::default();
    c.set_value(v as f64);
    let mut m = Metric::from_label(labels);
    m.set_counter(c);
    m
}

fn gauge(labels: Vec<LabelPair>, v: i64) -> Metric {
    let mut g = proto::Gauge::default();
    g.set_value(v as f64);
    let mut m = Metric::from_label(labels);
    m.set_gauge(g);
    m
}

impl Collector for SeriesTable {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let streams = self.streams.read().unwrap_or_else(|p| p.into_inner());
        let mut out = Vec::with_capacity(self.descs.len());
        let mut d = self.descs.iter();
        for (c, _, _) in COUNTERS {
            let ms = streams
                .iter()
                .map(|((t, src), s)| {
                    let v = s.counters[c as usize].load(Ordering::Relaxed);
                    counter(labels(t, &[("source", src.as_str())]), v)
                })
                .collect();
            out.push(family(
                d.next().expect("a desc per family"),
                MetricType::COUNTER,
                ms,
            ));
        }
        for (g, _, _) in GAUGES {
            let ms = streams
                .iter()
                .filter_map(|((t, src), s)| {
                    let v = s.gauges[g as usize].load(Ordering::Relaxed);
                    (v != ABSENT).then(|| gauge(labels(t, &[("source", src.as_str())]), v))
                })
                .collect();
            out.push(family(
                d.next().expect("a desc per family"),
                MetricType::GAUGE,
                ms,
            ));
        }
        let mut http = Vec::new();
        let mut limited = Vec::new();
        for ((t, src), s) in streams.iter() {
            for (status, n) in s.http.lock().unwrap_or_else(|p| p.into_inner()).iter() {
                let status = status.map_or_else(|| "error".to_string(), |s| s.to_string());
                http.push(counter(
                    labels(t, &[("source", src.as_str()), ("status", &status)]),
                    *n,
                ));
            }
            for (label, kind, n) in s
                .rate_limited
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
            {
                let l = labels(
                    t,
                    &[("source", src.as_str()), ("label", label), ("type", kind)],
                );
                limited.push(counter(l, *n));
            }
        }
        drop(streams);
        out.push(family(
            d.next().expect("a desc per family"),
            MetricType::COUNTER,
            http,
        ));
        out.push(family(
            d.next().expect("a desc per family"),
            MetricType::COUNTER,
            limited,
        ));
        let buckets = self.buckets.read().unwrap_or_else(|p| p.into_inner());
        for i in 0..2 {
            let ms = buckets
                .iter()
                .filter_map(|((t, family, label), b)| {
                    let v = b.0[i].load(Ordering::Relaxed);
                    (v != ABSENT)
                        .then(|| gauge(labels(t, &[("family", family), ("label", label)]), v))
                })
                .collect();
            out.push(family(
                d.next().expect("a desc per family"),
                MetricType::GAUGE,
                ms,
            ));
        }
        out
    }
}
