//! Reading what trawl wrote: every event of a topic, as a `read_committed` consumer
//! sees it (or a `read_uncommitted` one, [`Isolation`]), with its key and headers, so
//! tests can compare with the ground truth.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use rdkafka::client::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::message::{Headers, Message};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use trawl_model::Event;

/// One record of an event topic.
#[derive(Debug, Clone)]
pub struct TopicRecord {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<String>,
    pub headers: BTreeMap<String, String>,
    pub event: Event,
}

/// Every event of `topic`, partition by partition in offset order (committed only).
pub fn read_topic_events(bootstrap: &str, topic: &str) -> anyhow::Result<Vec<Event>> {
    Ok(read_topic_records(bootstrap, topic)?
        .into_iter()
        .map(|r| r.event)
        .collect())
}

/// The context of the test's readers: reaching the end of a partition is how they know
/// they are done, not an error to log (the default context logs it at ERROR, which
/// would pollute the log checks of a clean run).
pub struct QuietReader;

impl ClientContext for QuietReader {
    fn error(&self, error: KafkaError, reason: &str) {
        if !matches!(
            error.rdkafka_error_code(),
            Some(rdkafka::types::RDKafkaErrorCode::PartitionEOF)
        ) {
            eprintln!("test reader: {error}: {reason}");
        }
    }
}

impl ConsumerContext for QuietReader {}

/// How a reader treats records of transactions: `read_committed` skips aborted ones
/// (and waits for open ones); `read_uncommitted` sees every record in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isolation {
    ReadCommitted,
    ReadUncommitted,
}

impl Isolation {
    pub fn as_str(self) -> &'static str {
        match self {
            Isolation::ReadCommitted => "read_committed",
            Isolation::ReadUncommitted => "read_uncommitted",
        }
    }
}

/// A topic the broker does not have (no partitions in its metadata).
#[derive(Debug)]
pub struct MissingTopic(pub String);

impl std::fmt::Display for MissingTopic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "topic {} has no partitions (does it exist?)", self.0)
    }
}

impl std::error::Error for MissingTopic {}

/// Like [`read_topic_events`], with partition, offset, key and headers. Blocking.
pub fn read_topic_records(bootstrap: &str, topic: &str) -> anyhow::Result<Vec<TopicRecord>> {
    read_topic_records_as(bootstrap, topic, Isolation::ReadCommitted)
}

/// [`read_topic_records`] with the given isolation level.
pub fn read_topic_records_as(
    bootstrap: &str,
    topic: &str,
    isolation: Isolation,
) -> anyhow::Result<Vec<TopicRecord>> {
    let consumer: BaseConsumer<QuietReader> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "trawl-suite-reader")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .set("isolation.level", isolation.as_str())
        .create_with_context(QuietReader)?;
    let md = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .context("metadata")?;
    let partitions: Vec<i32> = md
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .map(|t| t.partitions().iter().map(|p| p.id()).collect())
        .unwrap_or_default();
    if partitions.is_empty() {
        return Err(MissingTopic(topic.to_string()).into());
    }
    let mut tpl = TopicPartitionList::new();
    for p in &partitions {
        tpl.add_partition_offset(topic, *p, Offset::Beginning)?;
    }
    consumer.assign(&tpl)?;
    let mut open: HashSet<i32> = partitions.into_iter().collect();
    let mut out = Vec::new();
    let mut last = Instant::now();
    while !open.is_empty() {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                last = Instant::now();
                let payload = m.payload().unwrap_or_default();
                let event: Event = serde_json::from_slice(payload).with_context(|| {
                    format!("record {}:{} is not an event", m.partition(), m.offset())
                })?;
                let headers = m
                    .headers()
                    .map(|h| {
                        h.iter()
                            .map(|h| {
                                let v = h.value.map(String::from_utf8_lossy).unwrap_or_default();
                                (h.key.to_string(), v.into_owned())
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                out.push(TopicRecord {
                    partition: m.partition(),
                    offset: m.offset(),
                    key: m.key().map(|k| String::from_utf8_lossy(k).into_owned()),
                    headers,
                    event,
                });
            }
            Some(Err(KafkaError::PartitionEOF(p))) => {
                last = Instant::now();
                open.remove(&p);
            }
            Some(Err(e)) => eprintln!("reading {topic}: {e}"),
            None => {}
        }
        if last.elapsed() > Duration::from_secs(30) {
            bail!("reading {topic}: no progress for 30 s");
        }
    }
    Ok(out)
}

/// The payloads of every record of `topic` as text, partition by partition (any
/// payload, not only events). Blocking.
pub fn read_topic_payloads(bootstrap: &str, topic: &str) -> anyhow::Result<Vec<String>> {
    let consumer: BaseConsumer<QuietReader> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "trawl-suite-reader")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .create_with_context(QuietReader)?;
    let md = consumer.fetch_metadata(Some(topic), Duration::from_secs(10))?;
    let partitions: Vec<i32> = md.topics()[0].partitions().iter().map(|p| p.id()).collect();
    let mut tpl = TopicPartitionList::new();
    for p in &partitions {
        tpl.add_partition_offset(topic, *p, Offset::Beginning)?;
    }
    consumer.assign(&tpl)?;
    let mut open: HashSet<i32> = partitions.into_iter().collect();
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !open.is_empty() {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                out.push(String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned())
            }
            Some(Err(KafkaError::PartitionEOF(p))) => {
                open.remove(&p);
            }
            Some(Err(e)) => eprintln!("reading {topic}: {e}"),
            None => {}
        }
        if Instant::now() > deadline {
            bail!("reading {topic}: not done after 30 s");
        }
    }
    Ok(out)
}
