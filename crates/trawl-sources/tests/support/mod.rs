//! Shared pieces of the simulator tests: starting a simulator on a frozen clock,
//! building a tenant's sources against it, driving a scan to the end the way the engine
//! would (dedupe by id, restarts, retries, a simple pacing loop standing in for the rate
//! limiter), and the ground truth's ids recomputed with trawl-model's counter.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Duration, DurationRound, TimeZone, Utc};
use secrecy::SecretString;
use serde_json::Value;
use trawl_model::{
    Event, EventId, OccurrenceCounter, SourceKind, StreamKey, TenantId, Window, EVENT_SCHEMA_JSON,
};
use trawl_sim::{SimApi, SimConfig, SimHandle, Simulator};
use trawl_sources::{
    build_source, HttpClient, ScanStep, Source, SourceError, SourceSettings, WindowScan,
    ZohoCredentials, ZoomCredentials,
};
use url::Url;

/// The last whole UTC day before the simulated now.
pub fn yesterday(sim: &trawl_sim::SimHandle) -> Window {
    let today = sim.now().duration_trunc(Duration::days(1)).unwrap();
    Window::new(today - Duration::days(1), today).unwrap()
}

/// The simulated "now" every test starts at.
pub fn start_instant() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 15, 12, 0, 0).unwrap()
}

/// A config with a frozen clock (only `advance` moves it) and no rate limits.
pub fn frozen_unlimited() -> SimConfig {
    let mut c = SimConfig::default();
    c.clock.start = Some(start_instant());
    c.clock.speed = 0.0;
    c.unlimited = true;
    c
}

pub async fn start(config: SimConfig) -> SimHandle {
    Simulator::start(config, "127.0.0.1:0".parse().unwrap())
        .await
        .expect("simulator starts")
}

fn base(sim: &SimHandle) -> Url {
    Url::parse(&sim.base_url()).unwrap()
}

pub fn client() -> reqwest::Client {
    HttpClient::default().build().unwrap()
}

pub fn zoom_settings(sim: &SimHandle, tenant: &str, account_id: &str) -> SourceSettings {
    let creds = ZoomCredentials {
        account_id: account_id.into(),
        client_id: format!("{account_id}-client"),
        client_secret: SecretString::from(format!("{account_id}-fake-secret")),
        oauth_base: base(sim),
    };
    SourceSettings::zoom(
        TenantId::new(tenant).unwrap(),
        creds,
        base(sim),
        None,
        client(),
    )
}

pub fn zoho_settings(sim: &SimHandle, tenant: &str, zoid: &str) -> SourceSettings {
    let creds = ZohoCredentials {
        zoid: zoid.into(),
        client_id: format!("1000.{zoid}"),
        client_secret: SecretString::from(format!("{zoid}-fake-secret")),
        refresh_token: SecretString::from(format!("1000.{zoid}.fake-refresh")),
        accounts_base: base(sim),
    };
    SourceSettings::zoho(
        TenantId::new(tenant).unwrap(),
        creds,
        base(sim),
        None,
        client(),
    )
}

pub fn source(kind: SourceKind, settings: &SourceSettings) -> Arc<dyn Source> {
    build_source(kind, settings).expect("source builds")
}

/// What driving one scan to its end showed.
#[derive(Debug, Default)]
pub struct Driven {
    /// Every event, deduped by id (what the engine publishes).
    pub events: BTreeMap<EventId, Event>,
    pub pages: usize,
    /// Records that did not parse, as the scans handed them back.
    pub rejected: Vec<trawl_sources::RejectedRecord>,
    /// Late events (before their window, answered only there), by id.
    pub late: HashMap<EventId, Event>,
    pub restarts: Vec<String>,
    pub errors: Vec<SourceError>,
    /// Ids seen twice within one pass (between restarts): must stay empty.
    pub duplicates_within_a_pass: usize,
    /// Events the union would have held twice without the dedupe (restart re-reads).
    pub repeated_after_restart: usize,
}

impl Driven {
    /// Adds another scan's outcome, as the engine would: events deduped by id.
    pub fn absorb(&mut self, other: Driven) {
        self.pages += other.pages;
        self.rejected.extend(other.rejected);
        self.late.extend(other.late);
        self.restarts.extend(other.restarts);
        self.errors.extend(other.errors);
        self.duplicates_within_a_pass += other.duplicates_within_a_pass;
        for (id, e) in other.events {
            if self.events.insert(id, e).is_some() {
                self.repeated_after_restart += 1;
            }
        }
    }
}

/// Options of [`drive`].
pub struct Drive<'a> {
    pub sim: &'a SimHandle,
    /// Called after each page (index from 0): lets a test move the sim clock mid-scan.
    pub after_page: &'a (dyn Fn(usize) + Sync),
    /// Wall-clock gap between requests: the rate limiter's role.
    pub pacing: std::time::Duration,
    pub max_errors: usize,
}

impl<'a> Drive<'a> {
    pub fn new(sim: &'a SimHandle) -> Self {
        Self {
            sim,
            after_page: &|_| {},
            pacing: std::time::Duration::ZERO,
            max_errors: 5,
        }
    }
}

/// Calls `next_page` until done, as the engine would.
pub async fn drive(scan: &mut WindowScan, opts: &Drive<'_>) -> Driven {
    let mut out = Driven::default();
    let mut pass: HashSet<EventId> = HashSet::new();
    loop {
        if !opts.pacing.is_zero() {
            tokio::time::sleep(opts.pacing).await;
        }
        let now = opts.sim.now();
        match scan.next_page(now).await.step {
            Ok(ScanStep::Page {
                events,
                rejected,
                late,
                done,
            }) => {
                out.rejected.extend(rejected);
                for e in late {
                    out.late.insert(e.id, e);
                }
                for e in events {
                    assert_eq!(e.observed_at, now);
                    if !pass.insert(e.id) {
                        out.duplicates_within_a_pass += 1;
                    }
                    if out.events.insert(e.id, e).is_some() {
                        out.repeated_after_restart += 1;
                    }
                }
                (opts.after_page)(out.pages);
                out.pages += 1;
                if done {
                    return out;
                }
            }
            Ok(ScanStep::Restarted { reason }) => {
                pass.clear();
                out.restarts.push(reason);
            }
            Err(e) => {
                assert!(
                    !matches!(
                        e,
                        SourceError::Permanent { .. } | SourceError::NotEnabled { .. }
                    ),
                    "unexpected permanent error: {e}"
                );
                out.errors.push(e);
                assert!(
                    out.errors.len() <= opts.max_errors,
                    "too many errors: {:?}",
                    out.errors
                );
            }
        }
    }
}

/// The ids of the simulator's ground truth for `window`, computed with trawl-model's
/// counter (identical records of one second get indexes 0, 1, ...).
pub fn truth_ids(
    sim: &SimHandle,
    account: &str,
    api: SimApi,
    stream: &StreamKey,
    window: Window,
) -> (Vec<EventId>, Vec<Value>) {
    let records = sim.ground_truth(account, api, window.start, window.end);
    let mut counter = OccurrenceCounter::new();
    let ids = records
        .iter()
        .map(|r| counter.assign(stream, r, record_second(r)))
        .collect();
    (ids, records)
}

fn record_second(r: &Value) -> i64 {
    if let Some(t) = r.get("time").and_then(Value::as_str) {
        return DateTime::parse_from_rfc3339(t).unwrap().timestamp();
    }
    let ms = match &r["requestTime"] {
        Value::Number(n) => n.as_i64().unwrap(),
        Value::String(s) => s.parse().unwrap(),
        other => panic!("no time in {other}"),
    };
    ms.div_euclid(1000)
}

/// Asserts that the scan's union equals the ground truth exactly, by id.
pub fn assert_exact(driven: &Driven, truth: &[EventId]) {
    let truth_set: HashSet<EventId> = truth.iter().copied().collect();
    assert_eq!(
        truth_set.len(),
        truth.len(),
        "ground truth ids are distinct"
    );
    let got: HashSet<EventId> = driven.events.keys().copied().collect();
    let missing = truth_set.difference(&got).count();
    let extra = got.difference(&truth_set).count();
    assert_eq!(
        (missing, extra),
        (0, 0),
        "missing / extra events against the ground truth"
    );
    assert_eq!(driven.duplicates_within_a_pass, 0);
}

/// The events' records as a multiset of canonical JSON texts (content and multiplicity,
/// independent of trawl's ids).
pub fn content(events: impl IntoIterator<Item = impl std::borrow::Borrow<Event>>) -> Vec<String> {
    let mut v: Vec<String> = events
        .into_iter()
        .map(|e| e.borrow().raw.as_str().to_string())
        .collect();
    v.sort();
    v
}

/// The records as the same multiset.
pub fn content_of(records: &[Value]) -> Vec<String> {
    let mut v: Vec<String> = records.iter().map(trawl_model::canonical_json).collect();
    v.sort();
    v
}

/// How many ground-truth records have an identical twin in the same second.
pub fn identical_twins(records: &[Value]) -> usize {
    let mut seen: HashMap<String, usize> = HashMap::new();
    for r in records {
        *seen.entry(trawl_model::canonical_json(r)).or_default() += 1;
    }
    seen.values().filter(|n| **n > 1).count()
}

pub fn assert_schema_valid<'a>(events: impl IntoIterator<Item = &'a Event>) {
    let schema: Value = serde_json::from_str(EVENT_SCHEMA_JSON).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    for e in events {
        let v = serde_json::to_value(e).unwrap();
        assert!(validator.is_valid(&v), "invalid event {v}");
    }
}
