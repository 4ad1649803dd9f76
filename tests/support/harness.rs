//! Building blocks for end-to-end tests: a fleet of simulated tenants, the simulator and
//! engine configurations that match it, the ids the simulator's ground truth should
//! produce, and polling for a condition instead of sleeping a fixed time.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::time::Duration;

use chrono::{DateTime, Utc};
use trawl_model::{EventId, OccurrenceCounter, SourceKind, StreamKey, TenantId};
use trawl_sim::{SimApi, SimHandle};

/// One simulated customer account and the tenant trawl knows it as.
#[derive(Debug, Clone)]
pub struct FleetTenant {
    pub id: String,
    pub zoom: bool,
    /// Zoom only: whether the account has Zoom Phone.
    pub phone: bool,
    pub records_per_day: u32,
}

impl FleetTenant {
    pub fn account(&self) -> String {
        format!("{}-acct", self.id)
    }

    pub fn streams(&self) -> Vec<SourceKind> {
        if !self.zoom {
            vec![SourceKind::ZohoMailAudit]
        } else if self.phone {
            vec![
                SourceKind::ZoomOperationLogs,
                SourceKind::ZoomPhoneOperationLogs,
            ]
        } else {
            vec![SourceKind::ZoomOperationLogs]
        }
    }

    pub fn key(&self, kind: SourceKind) -> StreamKey {
        StreamKey::new(TenantId::new(self.id.clone()).expect("valid id"), kind)
    }
}

/// `zoom` Zoom tenants (Pro, with Phone) and `zoho` Zoho tenants.
pub fn fleet(zoom: usize, zoho: usize, records_per_day: u32) -> Vec<FleetTenant> {
    (0..zoom)
        .map(|i| FleetTenant {
            id: format!("zoom{i:02}"),
            zoom: true,
            phone: true,
            records_per_day,
        })
        .chain((0..zoho).map(|i| FleetTenant {
            id: format!("zoho{i:02}"),
            zoom: false,
            phone: false,
            records_per_day,
        }))
        .collect()
}

pub fn api_of(kind: SourceKind) -> SimApi {
    match kind {
        SourceKind::ZoomOperationLogs => SimApi::ZoomOperationLogs,
        SourceKind::ZoomPhoneOperationLogs => SimApi::ZoomPhoneOperationLogs,
        SourceKind::ZohoMailAudit => SimApi::ZohoMailAudit,
    }
}

/// Simulator TOML for the fleet; `extra` is appended at the top level (before tables).
pub fn sim_toml(fleet: &[FleetTenant], history_days: u32, extra: &str) -> String {
    let mut s = format!("seed = 11\n{extra}\n");
    for t in fleet {
        if t.zoom {
            let _ = write!(
                s,
                "[[zoom_accounts]]\naccount_id = \"{a}\"\nclient_id = \"{id}-client\"\nclient_secret = \"{id}-secret\"\n\
                 plan = \"pro\"\nphone = {p}\nrecords_per_day = {r}\nphone_records_per_day = {pr}\nhistory_days = {h}\n",
                a = t.account(), id = t.id, p = t.phone, r = t.records_per_day, pr = t.records_per_day / 3, h = history_days
            );
        } else {
            let _ = write!(
                s,
                "[[zoho_orgs]]\nzoid = \"{a}\"\nclient_id = \"{id}-client\"\nclient_secret = \"{id}-secret\"\n\
                 refresh_token = \"{id}-refresh\"\nrecords_per_day = {r}\nhistory_days = {h}\nrequests_per_minute = 600\n",
                a = t.account(), id = t.id, r = t.records_per_day, h = history_days
            );
        }
    }
    s
}

/// trawl TOML for the fleet against the simulator at `base`; `defaults` goes in
/// `[defaults]`, `kafka` in `[kafka]` (after `brokers`).
pub fn engine_toml(
    fleet: &[FleetTenant],
    base: &str,
    brokers: &str,
    kafka: &str,
    defaults: &str,
) -> String {
    let mut s = format!(
        "[kafka]\nbrokers = \"{brokers}\"\npartitions = 3\n{kafka}\n[defaults]\n{defaults}\n"
    );
    for t in fleet {
        let streams: Vec<String> = t
            .streams()
            .iter()
            .map(|k| format!("\"{}\"", k.stream_name()))
            .collect();
        if t.zoom {
            let _ = write!(
                s,
                "[[tenants]]\nid = \"{id}\"\nprovider = \"zoom\"\nplan = \"pro\"\nstreams = [{st}]\naccount_id = \"{a}\"\n\
                 client_id = \"{id}-client\"\nclient_secret = \"{id}-secret\"\napi_base = \"{base}\"\noauth_base = \"{base}\"\n",
                id = t.id, st = streams.join(", "), a = t.account()
            );
        } else {
            let _ = write!(
                s,
                "[[tenants]]\nid = \"{id}\"\nprovider = \"zoho\"\nzoid = \"{a}\"\nclient_id = \"{id}-client\"\n\
                 client_secret = \"{id}-secret\"\nrefresh_token = \"{id}-refresh\"\nmail_base = \"{base}\"\naccounts_base = \"{base}\"\n\
                 rate_limits.mail_audit = {{ per_second = 8.0 }}\n",
                id = t.id, a = t.account()
            );
        }
    }
    s
}

/// The time of a record as the API serves it, to the second.
pub fn record_second(kind: SourceKind, raw: &serde_json::Value) -> i64 {
    match kind {
        SourceKind::ZohoMailAudit => raw["requestTime"]
            .as_i64()
            .expect("requestTime")
            .div_euclid(1000),
        _ => DateTime::parse_from_rfc3339(raw["time"].as_str().expect("time"))
            .expect("rfc3339")
            .timestamp(),
    }
}

/// The ids trawl must publish for the simulator's records of `[from, to)`.
pub fn expected_ids(
    sim: &SimHandle,
    t: &FleetTenant,
    kind: SourceKind,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> HashSet<EventId> {
    let key = t.key(kind);
    let mut counter = OccurrenceCounter::new();
    sim.ground_truth(&t.account(), api_of(kind), from, to)
        .iter()
        .map(|raw| counter.assign(&key, raw, record_second(kind, raw)))
        .collect()
}

/// Per stream: every published id, how often it occurs and its record time.
pub type PublishedIds = BTreeMap<StreamKey, BTreeMap<EventId, (usize, DateTime<Utc>)>>;

/// Every event id per stream found in `topics`, with how often each occurs.
pub fn published_ids(bootstrap: &str, topics: &[&str]) -> anyhow::Result<PublishedIds> {
    let mut out = PublishedIds::new();
    for topic in topics {
        for e in crate::read_topic_events(bootstrap, topic)? {
            let entry = out
                .entry(StreamKey::new(e.tenant.clone(), e.source))
                .or_default()
                .entry(e.id)
                .or_insert((0, e.time));
            entry.0 += 1;
        }
    }
    Ok(out)
}

/// Polls `f` every 200 ms until it returns `Some`, or fails after `timeout`.
pub async fn wait_for<T>(timeout: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

pub const EVENT_TOPICS: [&str; 3] = [
    "audit.zoom.operation_logs",
    "audit.zoom.phone_operation_logs",
    "audit.zoho.mail_audit",
];

/// Waits until `streams` streams are all live, failing after `timeout` with the status of
/// those that are not; returns each stream's watermark by `(tenant, source)`.
pub async fn wait_all_live(
    engine: &trawl_engine::Engine,
    streams: usize,
    timeout: Duration,
) -> BTreeMap<(String, String), DateTime<Utc>> {
    use trawl_engine::status::StreamState;
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let s = engine.status.snapshot();
        if s.len() == streams && s.iter().all(|r| r.state == StreamState::Live) {
            return s
                .into_iter()
                .map(|r| {
                    (
                        (r.tenant, r.source),
                        r.watermark.expect("a live stream has a watermark"),
                    )
                })
                .collect();
        }
        let behind: Vec<_> = s.iter().filter(|r| r.state != StreamState::Live).collect();
        assert!(
            tokio::time::Instant::now() < deadline,
            "streams not live after {timeout:?}: {behind:#?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}
