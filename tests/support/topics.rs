//! Reading what trawl wrote: every event of a topic, as a `read_committed` consumer
//! sees it, with its key and headers, so tests can compare with the ground truth.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
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

/// Like [`read_topic_events`], with partition, offset, key and headers. Blocking.
pub fn read_topic_records(bootstrap: &str, topic: &str) -> anyhow::Result<Vec<TopicRecord>> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "trawl-suite-reader")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .set("isolation.level", "read_committed")
        .create()?;
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
        bail!("topic {topic} has no partitions (does it exist?)");
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
