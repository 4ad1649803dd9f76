//! Building blocks for end-to-end tests: a fleet of simulated tenants, the simulator and
//! engine configurations that match it, the ids the simulator's ground truth should
//! produce, and polling for a condition instead of sleeping a fixed time.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::time::Duration;

use chrono::{DateTime, DurationRound, Utc};
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
    /// The account this tenant names when it shares one with other tenants (see
    /// [`sharing`]); `None`: an account of its own, `<id>-acct`.
    pub shared_account: Option<String>,
}

impl FleetTenant {
    pub fn account(&self) -> String {
        match &self.shared_account {
            Some(a) => a.clone(),
            None => format!("{}-acct", self.id),
        }
    }

    /// The stem of the credentials: the simulator has one client per account, so
    /// tenants sharing an account use the account's (`<stem>-client`, `<stem>-secret`).
    pub fn credentials(&self) -> &str {
        self.shared_account.as_deref().unwrap_or(&self.id)
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
            shared_account: None,
        })
        .chain((0..zoho).map(|i| FleetTenant {
            id: format!("zoho{i:02}"),
            zoom: false,
            phone: false,
            records_per_day,
            shared_account: None,
        }))
        .collect()
}

/// Zoom tenants `ids` (Pro, with Phone) that all name the one account `account`: each
/// must get every record of it, each once, and together they share its quota.
pub fn sharing(ids: &[&str], account: &str, records_per_day: u32) -> Vec<FleetTenant> {
    ids.iter()
        .map(|id| FleetTenant {
            id: id.to_string(),
            zoom: true,
            phone: true,
            records_per_day,
            shared_account: Some(account.to_string()),
        })
        .collect()
}

pub fn api_of(kind: SourceKind) -> SimApi {
    match kind {
        SourceKind::ZoomOperationLogs => SimApi::ZoomOperationLogs,
        SourceKind::ZoomPhoneOperationLogs => SimApi::ZoomPhoneOperationLogs,
        SourceKind::ZohoMailAudit => SimApi::ZohoMailAudit,
    }
}

/// Simulator TOML for the fleet (one account per account id, however many tenants name
/// it); `extra` is appended at the top level (before tables).
pub fn sim_toml(fleet: &[FleetTenant], history_days: u32, extra: &str) -> String {
    let mut s = format!("seed = 11\n{extra}\n");
    let mut seen = HashSet::new();
    for t in fleet {
        if !seen.insert(t.account()) {
            continue;
        }
        if t.zoom {
            let _ = write!(
                s,
                "[[zoom_accounts]]\naccount_id = \"{a}\"\nclient_id = \"{id}-client\"\nclient_secret = \"{id}-secret\"\n\
                 plan = \"pro\"\nphone = {p}\nrecords_per_day = {r}\nphone_records_per_day = {pr}\nhistory_days = {h}\n",
                a = t.account(), id = t.credentials(), p = t.phone, r = t.records_per_day, pr = t.records_per_day / 3, h = history_days
            );
        } else {
            let _ = write!(
                s,
                "[[zoho_orgs]]\nzoid = \"{a}\"\nclient_id = \"{id}-client\"\nclient_secret = \"{id}-secret\"\n\
                 refresh_token = \"{id}-refresh\"\nrecords_per_day = {r}\nhistory_days = {h}\nrequests_per_minute = 600\n",
                a = t.account(), id = t.credentials(), r = t.records_per_day, h = history_days
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
                 client_id = \"{c}-client\"\nclient_secret = \"{c}-secret\"\napi_base = \"{base}\"\noauth_base = \"{base}\"\n",
                id = t.id, st = streams.join(", "), a = t.account(), c = t.credentials()
            );
        } else {
            let _ = write!(
                s,
                "[[tenants]]\nid = \"{id}\"\nprovider = \"zoho\"\nzoid = \"{a}\"\nclient_id = \"{c}-client\"\n\
                 client_secret = \"{c}-secret\"\nrefresh_token = \"{c}-refresh\"\nmail_base = \"{base}\"\naccounts_base = \"{base}\"\n\
                 rate_limits.mail_audit = {{ per_second = 8.0 }}\n",
                id = t.id, a = t.account(), c = t.credentials()
            );
        }
    }
    s
}

/// The first instant of a `days`-day backfill begun now: `days` ago, floored to a UTC
/// midnight (the engine's rule, README "backfill"). Called before the engine starts, so
/// the expected window is fixed beforehand and a run that crosses 00:00 UTC compares
/// with the window the engine was given. Within a minute of a UTC midnight it first
/// waits for the midnight to pass, so that the engine, starting right after, floors to
/// the same day.
pub async fn backfill_start(days: i64) -> DateTime<Utc> {
    let day = chrono::Duration::days(1);
    let now = Utc::now();
    let next_midnight = now.duration_trunc(day).expect("a day fits") + day;
    if next_midnight - now < chrono::Duration::seconds(60) {
        let wait = next_midnight - now + chrono::Duration::seconds(1);
        tokio::time::sleep(wait.to_std().expect("positive")).await;
    }
    (Utc::now() - chrono::Duration::days(days))
        .duration_trunc(day)
        .expect("a day fits")
}

/// The watermarks [`wait_all_live`] returns, by stream key, for `tenants`' streams.
pub fn by_stream(
    tenants: &[FleetTenant],
    watermarks: &BTreeMap<(String, String), DateTime<Utc>>,
) -> HashMap<StreamKey, DateTime<Utc>> {
    tenants
        .iter()
        .flat_map(|t| t.streams().into_iter().map(move |k| t.key(k)))
        .map(|k| {
            let wm = watermarks[&(k.tenant.to_string(), k.source.to_string())];
            (k, wm)
        })
        .collect()
}

/// The same instant `at` as every stream's watermark (for comparing up to a moment).
pub fn all_at(tenants: &[FleetTenant], at: DateTime<Utc>) -> HashMap<StreamKey, DateTime<Utc>> {
    tenants
        .iter()
        .flat_map(|t| t.streams().into_iter().map(move |k| (t.key(k), at)))
        .collect()
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

/// Every event id per stream found in `topics` (`read_committed`), with how often each
/// occurs.
pub fn published_ids(bootstrap: &str, topics: &[&str]) -> anyhow::Result<PublishedIds> {
    published_ids_as(bootstrap, topics, crate::topics::Isolation::ReadCommitted)
}

/// [`published_ids`] with the given isolation level.
pub fn published_ids_as(
    bootstrap: &str,
    topics: &[&str],
    isolation: crate::topics::Isolation,
) -> anyhow::Result<PublishedIds> {
    let mut out = PublishedIds::new();
    for topic in topics {
        for r in crate::topics::read_topic_records_as(bootstrap, topic, isolation)? {
            let e = r.event;
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

/// Every tenant's rate limit per stream, requests per second.
#[derive(Debug, Clone, Copy)]
pub struct Rates {
    pub operation_logs: f64,
    pub phone_operation_logs: f64,
    pub mail_audit: f64,
}

impl Rates {
    /// Slow enough that a 30-day backfill of 400 records a day lasts about half a
    /// minute: crashes and outages land in its middle.
    pub const SLOW: Rates = Rates {
        operation_logs: 2.0,
        phone_operation_logs: 1.0,
        mail_audit: 3.0,
    };
}

/// trawl's config for the fleet on `bed`, a 30-day backfill with each stream slowed
/// down to `rates`, the HTTP endpoints on a free port.
pub fn slow_fleet_toml(
    tenants: &[FleetTenant],
    base: &str,
    bed: &crate::Bed,
    rates: &Rates,
) -> String {
    let toml = engine_toml(
        tenants,
        base,
        &bed.brokers,
        &bed.kafka_toml(),
        "poll_interval = \"2s\"\nbackfill = \"30d\"\nlookback = \"1h\"\n",
    );
    let oauth = format!("oauth_base = \"{base}\"\n");
    let toml = toml
        .replace(
            &oauth,
            &format!(
                "{oauth}rate_limits.operation_logs = {{ per_second = {:?} }}\n\
                 rate_limits.phone_operation_logs = {{ per_second = {:?} }}\n",
                rates.operation_logs, rates.phone_operation_logs
            ),
        )
        .replace(
            "per_second = 8.0",
            &format!("per_second = {:?}", rates.mail_audit),
        );
    // The rewriting above depends on engine_toml's layout: check it took.
    assert_eq!(
        toml.matches("rate_limits.").count(),
        tenants.iter().map(|t| t.streams().len()).sum::<usize>(),
        "every stream's rate limit set:\n{toml}"
    );
    format!("{toml}\n[server]\nlisten = \"127.0.0.1:0\"\n")
}

/// Every stream's stored watermark, as a restarted trawl would load it (none while the
/// checkpoint topic does not exist yet or cannot be read).
pub async fn stored_watermarks(
    settings: &trawl_kafka::KafkaSettings,
) -> std::collections::HashMap<StreamKey, DateTime<Utc>> {
    use trawl_kafka::CheckpointStore;
    let store = trawl_kafka::KafkaCheckpointStore::new(settings).expect("checkpoint reader");
    match store.load_all().await {
        Ok(cps) => cps.into_iter().map(|(k, cp)| (k, cp.watermark)).collect(),
        Err(e) => {
            eprintln!("reading the checkpoint topic: {e}");
            Default::default()
        }
    }
}
