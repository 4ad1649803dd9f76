//! Helpers shared by the crate's tests: Apache Kafka (the workspace's test fixture,
//! `tests/support/kafka.rs`, one broker per test binary) with a set of topics per test,
//! librdkafka's mock cluster where errors are injected, sample events, and a plain reader
//! of a topic with either isolation level.
#![allow(dead_code)]

#[path = "../../../../tests/support/kafka.rs"]
pub mod kafka;
#[path = "../../../../tests/support/process.rs"]
pub mod process;

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

/// Settings for the shared Apache Kafka broker with topics of this test's own:
/// `{label}.audit.{source}`, `{label}.checkpoints` (compacted) and `{label}.dead_letter`,
/// each with [`PARTITIONS`] partitions.
pub async fn kafka_bed(label: &str) -> KafkaSettings {
    let broker = kafka::KafkaBroker::shared();
    let mut s = KafkaSettings::new(broker.bootstrap());
    s.partitions = PARTITIONS;
    s.topic = trawl_kafka::TopicTemplate::new(format!("{label}.audit.{{source}}")).unwrap();
    s.checkpoint_topic = Some(format!("{label}.checkpoints"));
    s.dead_letter_topic = format!("{label}.dead_letter");
    let all = [
        stream("x", SourceKind::ZoomOperationLogs),
        stream("x", SourceKind::ZoomPhoneOperationLogs),
        stream("x", SourceKind::ZohoMailAudit),
    ];
    trawl_kafka::ensure_topics(&s, &all)
        .await
        .expect("creating the test's topics");
    s
}

/// The event topic of `source` in `s`.
pub fn topic(s: &KafkaSettings, source: SourceKind) -> String {
    s.topic_for(&stream("x", source))
}

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
    let md = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .unwrap();
    let partitions: Vec<i32> = md.topics()[0].partitions().iter().map(|p| p.id()).collect();
    assert!(!partitions.is_empty(), "topic {topic} has no partitions");
    let mut tpl = TopicPartitionList::new();
    for p in &partitions {
        tpl.add_partition_offset(topic, *p, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&tpl).unwrap();
    let mut open: HashSet<i32> = partitions.into_iter().collect();
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
