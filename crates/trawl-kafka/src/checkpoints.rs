//! Where stream checkpoints live between runs: a compacted Kafka topic, or files.
//!
//! A checkpoint is saved only after the events it covers are acknowledged (the engine's
//! rule); the store only has to keep the newest one per stream and give all of them back
//! at start-up. The Kafka store keys records `tenant/source` so compaction keeps the
//! newest; the file store writes one file per stream atomically. A stream with many
//! seen ids has them in segments beside its main record (`tenant/source/seen/...`,
//! see `trawl_model::checkpoint_records`): written first, and deleted (tombstones)
//! once the main record no longer needs them, so every record stays under
//! `RECORD_MAX_BYTES` whatever the volume.

use std::collections::HashMap;

use async_trait::async_trait;
use rdkafka::message::{Message, OwnedHeaders};
use rdkafka::producer::FutureRecord;
use rdkafka::topic_partition_list::Offset;
use trawl_model::checkpoint_records::{CheckpointRecords, Record};
use trawl_model::{Checkpoint, StreamKey};

use crate::client::{create_producer, create_reader, Heard, Producer};
use crate::config::KafkaSettings;
use crate::error::{classify, KafkaError};
use crate::partition::{fetch_partition_count, partition_for_key};
use crate::readback::{read_to_end, IDLE_TIMEOUT};
use crate::segmented::{assemble_all, with_numbers, Layouts};
use crate::send::{send_all, Outgoing};

pub use crate::file_store::FileCheckpointStore;

/// Keys of the records kept beside the checkpoints for the rate-limit buckets' day
/// state ([`KafkaCheckpointStore::load_quotas`]): `quota:{account}/{family}/{label}`. A
/// tenant id cannot contain `:`, so no stream's key starts like this.
pub const QUOTA_PREFIX: &str = "quota:";

/// Keeps the newest checkpoint of each stream.
#[async_trait]
pub trait CheckpointStore: Send + Sync {
    /// Every stored checkpoint, newest per stream.
    async fn load_all(&self) -> Result<HashMap<StreamKey, Checkpoint>, KafkaError>;
    /// Stores `cp`, replacing the stream's previous one; returns once it is durable.
    async fn save(&self, cp: &Checkpoint) -> Result<(), KafkaError>;
}

/// Checkpoints on a compacted topic (`kafka.checkpoint_topic`), one record per save,
/// keyed `tenant/source`, value the checkpoint's JSON. Uses its own idempotent producer
/// (in transactional mode the engine writes checkpoints through its `Transaction`
/// instead, and still loads them here: this store reads `read_committed`).
pub struct KafkaCheckpointStore {
    settings: KafkaSettings,
    topic: String,
    producer: Producer,
    heard: Heard,
    partitions: tokio::sync::OnceCell<i32>,
    /// Each stream's segments on the topic (as loaded, then as written).
    pub(crate) layouts: Layouts,
}

impl std::fmt::Debug for KafkaCheckpointStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaCheckpointStore")
            .field("topic", &self.topic)
            .finish_non_exhaustive()
    }
}

impl KafkaCheckpointStore {
    pub fn new(settings: &KafkaSettings) -> Result<Self, KafkaError> {
        let heard = Heard::default();
        Ok(Self {
            settings: settings.clone(),
            topic: settings.checkpoint_topic().to_string(),
            producer: create_producer(settings, None, &heard)?,
            heard,
            partitions: tokio::sync::OnceCell::new(),
            layouts: Layouts::default(),
        })
    }

    async fn partition_count(&self) -> Result<i32, KafkaError> {
        self.partitions
            .get_or_try_init(|| async {
                let p = self.producer.clone();
                let topic = self.topic.clone();
                tokio::task::spawn_blocking(move || {
                    fetch_partition_count(
                        rdkafka::producer::Producer::client(&p),
                        &topic,
                        IDLE_TIMEOUT,
                    )
                })
                .await
                .map_err(|e| KafkaError::retryable("fetch metadata", e.to_string()))?
                .map_err(|e| self.heard.explain(e))
            })
            .await
            .copied()
    }
}

#[async_trait]
impl CheckpointStore for KafkaCheckpointStore {
    async fn load_all(&self) -> Result<HashMap<StreamKey, Checkpoint>, KafkaError> {
        let settings = self.settings.clone();
        let topic = self.topic.clone();
        let n = self.partition_count().await?;
        let latest = tokio::task::spawn_blocking(move || -> Result<_, KafkaError> {
            let (consumer, heard) = create_reader(&settings)?;
            let starts: Vec<(i32, Offset)> = (0..n).map(|p| (p, Offset::Beginning)).collect();
            let mut latest: HashMap<String, Option<Vec<u8>>> = HashMap::new();
            read_to_end(&consumer, &topic, &starts, |m| {
                if let Some(k) = m.key().and_then(|k| std::str::from_utf8(k).ok()) {
                    // Other records kept with the checkpoints (the buckets' day state).
                    if !k.starts_with(QUOTA_PREFIX) {
                        latest.insert(k.to_string(), m.payload().map(<[u8]>::to_vec));
                    }
                }
            })
            .map_err(|e| heard.explain(e))?;
            Ok(latest)
        })
        .await
        .map_err(|e| KafkaError::retryable("load checkpoints", e.to_string()))??;
        // A tombstone (null value) deletes the key.
        let (out, layouts) = assemble_all(latest.into_iter().filter_map(|(k, v)| Some((k, v?))))?;
        self.layouts.replace(layouts);
        Ok(out)
    }

    async fn save(&self, cp: &Checkpoint) -> Result<(), KafkaError> {
        let plan = self.layouts.plan(cp)?;
        let r = self.write(&plan).await;
        self.layouts.settle(&cp.stream, &plan, r.is_ok());
        r.map_err(|e| with_numbers(self.heard.explain(e), &cp.stream, &plan))
    }
}

impl KafkaCheckpointStore {
    /// Writes a save's records in order: segments, main record, tombstones.
    async fn write(&self, plan: &CheckpointRecords) -> Result<(), KafkaError> {
        let n = self.partition_count().await?;
        let put = |r: &Record| {
            let partition = partition_for_key(r.key.as_bytes(), n);
            let rec = Outgoing {
                payload: r.value.clone(),
                headers: OwnedHeaders::new(),
            };
            let (producer, topic, key) = (&self.producer, &self.topic, r.key.clone());
            async move {
                send_all(producer, topic, partition, key.as_bytes(), [rec])
                    .await
                    .map_err(|e| classify("save checkpoint", &e, ""))
            }
        };
        let segments = futures::future::join_all(plan.segments.iter().map(&put)).await;
        segments.into_iter().collect::<Result<Vec<_>, _>>()?;
        put(&plan.main).await?;
        let deletes: Vec<(String, i32)> = plan
            .tombstones
            .iter()
            .map(|k| (k.clone(), partition_for_key(k.as_bytes(), n)))
            .collect();
        send_tombstones(&self.producer, &self.topic, &deletes)
            .await
            .map_err(|e| classify("delete checkpoint segments", &e, ""))
    }
}

/// Deletes `keys` (each with its partition) from the compacted `topic`: a record with
/// a key and no value each; waits for every acknowledgement.
pub(crate) async fn send_tombstones(
    producer: &Producer,
    topic: &str,
    keys: &[(String, i32)],
) -> Result<(), rdkafka::error::KafkaError> {
    let mut pending = Vec::with_capacity(keys.len());
    for (key, partition) in keys {
        let record: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(topic)
            .partition(*partition)
            .key(key.as_bytes());
        match producer.send_result(record) {
            Ok(f) => pending.push(f),
            Err((e, _)) => return Err(e),
        }
    }
    for f in pending {
        match f.await {
            Ok(Ok(_)) => {}
            Ok(Err((e, _))) => return Err(e),
            Err(_) => return Err(rdkafka::error::KafkaError::Canceled),
        }
    }
    Ok(())
}

impl KafkaCheckpointStore {
    /// Every bucket's stored day state (`quota:` records), newest per bucket, by the
    /// bucket's name; the value is the caller's (JSON).
    pub async fn load_quotas(&self) -> Result<HashMap<String, Vec<u8>>, KafkaError> {
        let settings = self.settings.clone();
        let topic = self.topic.clone();
        let n = self.partition_count().await?;
        tokio::task::spawn_blocking(move || -> Result<_, KafkaError> {
            let (consumer, heard) = create_reader(&settings)?;
            let starts: Vec<(i32, Offset)> = (0..n).map(|p| (p, Offset::Beginning)).collect();
            let mut latest = HashMap::new();
            read_to_end(&consumer, &topic, &starts, |m| {
                let key = m.key().and_then(|k| std::str::from_utf8(k).ok());
                if let (Some(name), Some(v)) =
                    (key.and_then(|k| k.strip_prefix(QUOTA_PREFIX)), m.payload())
                {
                    latest.insert(name.to_string(), v.to_vec());
                }
            })
            .map_err(|e| heard.explain(e))?;
            Ok(latest)
        })
        .await
        .map_err(|e| KafkaError::retryable("load quota state", e.to_string()))?
    }

    /// Stores bucket `name`'s day state (replacing the previous one); returns once durable.
    pub async fn save_quota(&self, name: &str, value: Vec<u8>) -> Result<(), KafkaError> {
        let key = format!("{QUOTA_PREFIX}{name}");
        let partition = partition_for_key(key.as_bytes(), self.partition_count().await?);
        let rec = Outgoing {
            payload: value,
            headers: OwnedHeaders::new(),
        };
        send_all(
            &self.producer,
            &self.topic,
            partition,
            key.as_bytes(),
            [rec],
        )
        .await
        .map_err(|e| self.heard.explain(classify("save quota state", &e, "")))?;
        Ok(())
    }
}
