//! Which partition a stream's events go to.
//!
//! trawl picks the partition itself instead of leaving it to librdkafka, so that the
//! partition of a stream is known *before* anything is produced (a stream with no
//! checkpoint yet reads its partition back from the beginning) and so that every
//! producer, trawl's or a Java client's, agrees: it is Kafka's default partitioner,
//! `murmur2(key) & 0x7fffffff % partitions`, on the tenant id.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use rdkafka::client::{Client, ClientContext};

use crate::error::{classify, KafkaError};

/// Kafka's murmur2 (the Java client's `Utils.murmur2`).
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let mut h: u32 = SEED ^ data.len() as u32;
    let chunks = data.chunks_exact(4);
    let rest = chunks.remainder();
    for c in chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    if rest.len() >= 3 {
        h ^= u32::from(rest[2]) << 16;
    }
    if rest.len() >= 2 {
        h ^= u32::from(rest[1]) << 8;
    }
    if !rest.is_empty() {
        h ^= u32::from(rest[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// The partition of `key` among `partitions` (Kafka's default partitioner).
pub fn partition_for_key(key: &[u8], partitions: i32) -> i32 {
    (murmur2(key) & 0x7fff_ffff) % partitions.max(1)
}

/// Partition counts of topics, fetched once per topic. Adding partitions to an event
/// topic later moves streams to other partitions: don't (the position in a checkpoint
/// still names the old one, so nothing is lost, but order across the move is).
#[derive(Default)]
pub(crate) struct PartitionCounts {
    counts: Mutex<HashMap<String, i32>>,
}

impl PartitionCounts {
    pub(crate) fn cached(&self, topic: &str) -> Option<i32> {
        self.counts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(topic)
            .copied()
    }

    pub(crate) fn insert(&self, topic: &str, n: i32) {
        self.counts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(topic.to_string(), n);
    }
}

/// Asks the cluster how many partitions `topic` has (blocking: call off the runtime).
pub(crate) fn fetch_partition_count<C: ClientContext>(
    client: &Client<C>,
    topic: &str,
    timeout: Duration,
) -> Result<i32, KafkaError> {
    let md = client
        .fetch_metadata(Some(topic), timeout)
        .map_err(|e| classify("fetch metadata", &e, ""))?;
    let t = md
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .ok_or_else(|| {
            KafkaError::retryable("fetch metadata", format!("no metadata for topic {topic}"))
        })?;
    if let Some(err) = t.error() {
        let code = rdkafka::types::RDKafkaErrorCode::from(err);
        return Err(match code {
            rdkafka::types::RDKafkaErrorCode::UnknownTopicOrPartition
            | rdkafka::types::RDKafkaErrorCode::UnknownTopic => KafkaError::permanent(
                "fetch metadata",
                format!(
                    "topic {topic} does not exist (create it, or let trawl's ensure_topics do it)"
                ),
            ),
            other => classify(
                "fetch metadata",
                &rdkafka::error::KafkaError::MetadataFetch(other),
                "",
            ),
        });
    }
    match t.partitions().len() {
        0 => Err(KafkaError::retryable(
            "fetch metadata",
            format!("topic {topic} has no partitions yet"),
        )),
        n => Ok(n as i32),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Vectors from Kafka's own `UtilsTest.testMurmur2`.
    #[test]
    fn murmur2_matches_the_java_client() {
        let cases: [(&str, i32); 6] = [
            ("21", -973_932_308),
            ("foobar", -790_332_482),
            ("a-little-bit-long-string", -985_981_536),
            ("a-little-bit-longer-string", -1_486_304_829),
            (
                "lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
                -58_897_971,
            ),
            ("abc", 479_470_107),
        ];
        for (s, want) in cases {
            assert_eq!(murmur2(s.as_bytes()), want, "{s}");
        }
        assert!((0..6).contains(&partition_for_key(b"acme", 6)));
    }
}
