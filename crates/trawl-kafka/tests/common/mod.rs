//! Helpers shared by the mock-cluster tests: a mock cluster with topics, settings
//! pointing at it, sample events, and a plain `read_committed` reader of a topic.
#![allow(dead_code)]

use std::collections::HashSet;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError as RdError;
use rdkafka::message::{Headers, Message};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use serde_json::json;
use trawl_kafka::KafkaSettings;
use trawl_model::{
    Event, EventId, Outcome, RawJson, SourceKind, StreamKey, TenantId, EVENT_SCHEMA,
};

pub type Cluster = MockCluster<'static, DefaultProducerContext>;

pub const PARTITIONS: i32 = 3;

/// A one-broker mock cluster with trawl's topics for the default template.
pub fn cluster() -> Cluster {
    let c = MockCluster::new(1).expect("mock cluster");
    for t in [
        "audit.zoom.operation_logs",
        "audit.zoom.phone_operation_logs",
        "audit.zoho.mail_audit",
        "trawl.checkpoints",
        "trawl.dead_letter",
    ] {
        c.create_topic(t, PARTITIONS, 1).expect("create topic");
    }
    c
}

pub fn settings(c: &Cluster) -> KafkaSettings {
    let mut s = KafkaSettings::new(c.bootstrap_servers());
    s.partitions = PARTITIONS;
    s
}

pub fn stream(tenant: &str, source: SourceKind) -> StreamKey {
    StreamKey::new(TenantId::new(tenant).unwrap(), source)
}

pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap()
}

/// `n` distinct events of `stream`, numbered from `from`, one second apart.
pub fn events(stream: &StreamKey, from: usize, n: usize) -> Vec<Event> {
    (from..from + n)
        .map(|i| {
            let time = t0() + chrono::Duration::seconds(i as i64);
            let raw = json!({"time": time.to_rfc3339(), "action": "Update", "n": i});
            Event {
                schema: EVENT_SCHEMA.into(),
                id: EventId::compute(stream, &raw, 0),
                tenant: stream.tenant.clone(),
                source: stream.source,
                time,
                observed_at: t0(),
                actor: Some("admin@example.com".into()),
                action: "update".into(),
                category: Some("User".into()),
                target: None,
                detail: None,
                outcome: Outcome::Success,
                client_ip: None,
                raw: RawJson::from_value(&raw),
            }
        })
        .collect()
}

/// One record as a reader sees it.
#[derive(Debug, Clone)]
pub struct Rec {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub payload: Option<Vec<u8>>,
    pub headers: Vec<(String, String)>,
}

impl Rec {
    pub fn header(&self, k: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
    }

    pub fn event(&self) -> Event {
        serde_json::from_slice(self.payload.as_deref().unwrap()).unwrap()
    }
}

/// Every record of `topic` from the beginning, with the given isolation level.
pub fn read_all(bootstrap: &str, topic: &str, isolation: &str) -> Vec<Rec> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "test-reader")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .set("isolation.level", isolation)
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&tpl).unwrap();
    let mut open: HashSet<i32> = (0..PARTITIONS).collect();
    let mut out = Vec::new();
    let start = Instant::now();
    while !open.is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "reading {topic} stalled"
        );
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => out.push(Rec {
                partition: m.partition(),
                offset: m.offset(),
                key: m.key().map(<[u8]>::to_vec),
                payload: m.payload().map(<[u8]>::to_vec),
                headers: m
                    .headers()
                    .map(|h| {
                        h.iter()
                            .map(|h| {
                                let v = String::from_utf8_lossy(h.value.unwrap_or_default());
                                (h.key.to_string(), v.into_owned())
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
            }),
            Some(Err(RdError::PartitionEOF(p))) => {
                open.remove(&p);
            }
            Some(Err(e)) => eprintln!("reader: {e}"),
            None => {}
        }
    }
    out
}

/// Ids of the events in `recs`.
pub fn ids(recs: &[Rec]) -> Vec<EventId> {
    recs.iter().map(|r| r.event().id).collect()
}
