//! What the `field_*` end-to-end tests share: a simulated fleet built in code (each
//! account playing its own reading), the dead-letter topic read back, and Kafka compared
//! with the simulator's ground truth by content and multiplicity, never by trawl's ids
//! alone (an id scheme that merged two identical records would hide behind its own ids).

use std::collections::BTreeMap;
use std::time::Duration;

use crate::harness::{api_of, FleetTenant};
use chrono::{DateTime, Utc};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Headers, Message};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use serde_json::Value;
use trawl_model::{canonical_json, SourceKind, StreamKey};
use trawl_sim::{SimHandle, ZohoOrg, ZoomAccount};

/// A Zoom tenant of the harness's naming (`<id>-acct`, `<id>-client`, `<id>-secret`).
pub fn zoom(id: &str, phone: bool, per_day: u32, history_days: u32) -> (FleetTenant, ZoomAccount) {
    let mut a = ZoomAccount::new(&format!("{id}-acct"), trawl_sim::Plan::Pro, phone);
    a.client_id = format!("{id}-client");
    a.client_secret = format!("{id}-secret");
    a.records_per_day = per_day;
    a.phone_records_per_day = per_day / 3;
    a.history_days = history_days;
    let t = FleetTenant {
        id: id.to_string(),
        zoom: true,
        phone,
        records_per_day: per_day,
        shared_account: None,
    };
    (t, a)
}

/// A Zoho tenant of the harness's naming.
pub fn zoho(id: &str, per_day: u32, history_days: u32) -> (FleetTenant, ZohoOrg) {
    let mut o = ZohoOrg::new(&format!("{id}-acct"));
    o.client_id = format!("{id}-client");
    o.client_secret = format!("{id}-secret");
    o.refresh_token = format!("{id}-refresh");
    o.records_per_day = per_day;
    o.history_days = history_days;
    o.requests_per_minute = 600;
    let t = FleetTenant {
        id: id.to_string(),
        zoom: false,
        phone: false,
        records_per_day: per_day,
        shared_account: None,
    };
    (t, o)
}

/// Canonical texts, sorted: a multiset to compare.
pub fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// The records the simulator holds for a stream in `[from, to)`, as canonical texts;
/// those whose time cannot be read apart (they go to the dead-letter topic).
pub fn truth(
    sim: &SimHandle,
    t: &FleetTenant,
    kind: SourceKind,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> (Vec<String>, Vec<String>) {
    let (bad, good): (Vec<Value>, Vec<Value>) = sim
        .ground_truth(&t.account(), api_of(kind), from, to)
        .into_iter()
        .partition(unreadable);
    (
        sorted(good.iter().map(canonical_json).collect()),
        sorted(bad.iter().map(canonical_json).collect()),
    )
}

/// Whether a record's time is the simulator's unreadable one.
pub fn unreadable(r: &Value) -> bool {
    r.get("time").or_else(|| r.get("requestTime")) == Some(&Value::String("a while ago".into()))
}

/// Per stream: every published event as (time, canonical record).
pub type Published = BTreeMap<StreamKey, Vec<(DateTime<Utc>, String)>>;

/// Every published event per stream, from `topics`.
pub fn published(bootstrap: &str, topics: &[&str]) -> anyhow::Result<Published> {
    let mut out = Published::new();
    for topic in topics {
        for e in crate::read_topic_events(bootstrap, topic)? {
            out.entry(StreamKey::new(e.tenant.clone(), e.source))
                .or_default()
                .push((e.time, e.raw.as_str().to_string()));
        }
    }
    Ok(out)
}

/// The published records of a stream with time in `[from, to)`, as a multiset.
pub fn published_in(
    all: &Published,
    key: &StreamKey,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<String> {
    sorted(
        all.get(key)
            .map(|v| {
                v.iter()
                    .filter(|(t, _)| *t >= from && *t < to)
                    .map(|(_, r)| r.clone())
                    .collect()
            })
            .unwrap_or_default(),
    )
}

/// One record of the dead-letter topic.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    pub tenant: String,
    pub source: String,
    pub reason: String,
    pub body: String,
}

/// Every record of the dead-letter topic (blocking).
pub fn dead_letters(bootstrap: &str, topic: &str) -> anyhow::Result<Vec<DeadLetter>> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "trawl-field-dead-letters")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .set("isolation.level", "read_committed")
        .create()?;
    let md = consumer.fetch_metadata(Some(topic), Duration::from_secs(10))?;
    let partitions: Vec<i32> = md
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .map(|t| t.partitions().iter().map(|p| p.id()).collect())
        .unwrap_or_default();
    if partitions.is_empty() {
        return Ok(Vec::new());
    }
    let mut tpl = TopicPartitionList::new();
    for p in &partitions {
        tpl.add_partition_offset(topic, *p, Offset::Beginning)?;
    }
    consumer.assign(&tpl)?;
    let mut open = partitions.len();
    let mut out = Vec::new();
    let started = std::time::Instant::now();
    while open > 0 && started.elapsed() < Duration::from_secs(60) {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                let header = |name: &str| {
                    m.headers()
                        .and_then(|h| h.iter().find(|x| x.key == name))
                        .and_then(|x| x.value)
                        .map(|v| String::from_utf8_lossy(v).into_owned())
                        .unwrap_or_default()
                };
                out.push(DeadLetter {
                    tenant: header(trawl_kafka::HEADER_DL_TENANT),
                    source: header(trawl_kafka::HEADER_DL_SOURCE),
                    reason: header(trawl_kafka::HEADER_DL_REASON),
                    body: String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned(),
                });
            }
            Some(Err(KafkaError::PartitionEOF(_))) => open -= 1,
            Some(Err(e)) => eprintln!("reading {topic}: {e}"),
            None => {}
        }
    }
    Ok(out)
}
