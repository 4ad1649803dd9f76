//! The event producer: one idempotent (optionally transactional) librdkafka producer
//! shared by every stream of the process.
//!
//! `publish` puts one stream's events on its partition and returns once all of them
//! are acknowledged, with the position after the last one: that position goes into the
//! stream's checkpoint. A producer that hit a fatal error is rebuilt on its next use;
//! one that was fenced (another instance took its `transactional.id`) never is: from
//! then on every publish answers [`KafkaError::Fenced`], and only a new process takes
//! the id back.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::{Duration, Instant};

use chrono::Utc;
use rdkafka::producer::Producer as _;
use tokio::sync::{Mutex, Semaphore};
use trawl_model::{Event, OutputPosition, StreamKey};

use crate::client::{create_producer, message_timeout, transaction_timeout, Heard, Producer};
use crate::config::KafkaSettings;
use crate::error::{classify, KafkaError};
use crate::partition::{fetch_partition_count, partition_for_key, PartitionCounts};
use crate::records::{dead_letter_headers, EventBatch};
use crate::send::{send_all, Outgoing};
use crate::txn::TxnState;

/// What a publish achieved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    /// The next offset after the last event published (None when there were none).
    pub position: Option<OutputPosition>,
    /// How many events were acknowledged.
    pub count: usize,
}

pub(crate) struct Inner {
    pub settings: KafkaSettings,
    producer: RwLock<Producer>,
    /// What the brokers said to the producer (kept across rebuilds).
    pub(crate) heard: Heard,
    needs_rebuild: AtomicBool,
    /// Why this producer was fenced, once it was: it stays fenced.
    pub(crate) fenced: OnceLock<String>,
    /// When the open transaction began (transactional mode).
    pub(crate) txn_began: std::sync::Mutex<Option<Instant>>,
    /// `transaction.timeout.ms`: the broker aborts a transaction open longer.
    pub(crate) txn_timeout: Duration,
    partitions: PartitionCounts,
    pub timeout: Duration,
    pub txn: Arc<Mutex<TxnState>>,
    lookups: Semaphore,
}

/// Most watermark lookups (each a blocked thread) in flight at once.
const MAX_LOOKUPS: usize = 8;

/// Publishes events (and, in transactional mode, checkpoints) to Kafka. Cheap to clone;
/// all clones share one librdkafka producer.
#[derive(Clone)]
pub struct EventProducer {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for EventProducer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventProducer")
            .field("settings", &self.inner.settings)
            .finish_non_exhaustive()
    }
}

impl EventProducer {
    /// Creates the producer. Nothing is sent yet; in transactional mode the first
    /// `begin` initializes transactions, which fences any older instance with the same
    /// `transactional.id`.
    pub fn new(settings: &KafkaSettings) -> Result<Self, KafkaError> {
        let heard = Heard::default();
        let producer = create_producer(settings, txn_id(settings), &heard)?;
        Ok(Self {
            inner: Arc::new(Inner {
                settings: settings.clone(),
                producer: RwLock::new(producer),
                heard,
                needs_rebuild: AtomicBool::new(false),
                fenced: OnceLock::new(),
                txn_began: std::sync::Mutex::new(None),
                txn_timeout: transaction_timeout(settings),
                partitions: PartitionCounts::default(),
                timeout: message_timeout(settings),
                txn: Arc::new(Mutex::new(TxnState::default())),
                lookups: Semaphore::new(MAX_LOOKUPS),
            }),
        })
    }

    pub fn settings(&self) -> &KafkaSettings {
        &self.inner.settings
    }

    /// Publishes one stream's events, in order, to its partition and waits until every
    /// one is acknowledged. In transactional mode this is a transaction of its own.
    ///
    /// On error, some of the events may be in the log: read back from the position
    /// before this call before publishing them again.
    pub async fn publish(
        &self,
        stream: &StreamKey,
        events: &[Event],
    ) -> Result<Delivered, KafkaError> {
        self.publish_batch(stream, EventBatch::encode(stream, events))
            .await
    }

    /// [`publish`](Self::publish) of events already encoded (on the caller's thread).
    pub async fn publish_batch(
        &self,
        stream: &StreamKey,
        batch: EventBatch,
    ) -> Result<Delivered, KafkaError> {
        if batch.is_empty() {
            return Ok(Delivered {
                position: None,
                count: 0,
            });
        }
        self.inner.check_fenced()?;
        if self.inner.settings.transactional {
            let mut txn = self.begin().await?;
            let delivered = match txn.add_batch(stream, batch).await {
                Ok(d) => d,
                Err(e) => {
                    // Best effort: the next `begin` aborts if this does not.
                    let _ = txn.abort().await;
                    return Err(e);
                }
            };
            txn.commit().await?;
            return Ok(delivered);
        }
        self.rebuild_if_needed()?;
        let producer = self.inner.current();
        self.inner.send_events(&producer, stream, batch).await
    }

    /// Sends a page that could not be processed to the dead-letter topic: the raw body
    /// as value, the tenant as key, headers naming tenant, source and reason.
    pub async fn dead_letter(
        &self,
        stream: &StreamKey,
        reason: &str,
        body: &[u8],
    ) -> Result<(), KafkaError> {
        self.inner.check_fenced()?;
        if self.inner.settings.transactional {
            let mut txn = self.begin().await?;
            if let Err(e) = txn.add_dead_letter(stream, reason, body).await {
                let _ = txn.abort().await;
                return Err(e);
            }
            txn.commit().await?;
            return Ok(());
        }
        self.rebuild_if_needed()?;
        let producer = self.inner.current();
        self.inner
            .send_dead_letter(&producer, stream, reason, body)
            .await
    }

    /// The topic and partition a stream publishes to, at the partition's current end:
    /// where a new stream's read-back starts (the engine stores it as the stream's first
    /// checkpoint before publishing anything).
    pub async fn stream_start(&self, stream: &StreamKey) -> Result<OutputPosition, KafkaError> {
        let producer = self.inner.current();
        let topic = self.inner.settings.topic_for(stream);
        let partition = self
            .inner
            .partition(&producer, &topic, stream.tenant.as_str().as_bytes())
            .await?;
        // The partition's current end: a new stream has published nothing, so its
        // read-back never needs to look at what other streams wrote before it.
        let high = self
            .inner
            .high_watermark(producer, &topic, partition)
            .await?;
        Ok(OutputPosition {
            topic,
            partition,
            offset: high.max(0),
        })
    }

    /// The next offset to be written to `position`'s partition (its high watermark),
    /// asked through the producer's own connection: no new client, no new threads. A
    /// stream whose checkpoint position equals it has nothing to read back.
    pub async fn partition_end(&self, position: &OutputPosition) -> Result<i64, KafkaError> {
        let producer = self.inner.current();
        self.inner
            .high_watermark(producer, &position.topic, position.partition)
            .await
    }

    /// Waits until everything queued is acknowledged (for a graceful stop).
    pub async fn flush(&self) -> Result<(), KafkaError> {
        let producer = self.inner.current();
        let timeout = self.inner.timeout;
        tokio::task::spawn_blocking(move || producer.flush(timeout))
            .await
            .map_err(|e| KafkaError::retryable("flush", e.to_string()))?
            .map_err(|e| classify("flush", &e, ""))
    }

    /// Whether another instance fenced this producer (it never publishes again).
    pub fn is_fenced(&self) -> bool {
        self.inner.fenced.get().is_some()
    }

    fn rebuild_if_needed(&self) -> Result<(), KafkaError> {
        if self.inner.needs_rebuild.swap(false, Ordering::AcqRel) {
            if let Err(e) = self.inner.rebuild() {
                self.inner.needs_rebuild.store(true, Ordering::Release);
                return Err(e);
            }
        }
        Ok(())
    }
}

pub(crate) fn txn_id(settings: &KafkaSettings) -> Option<&str> {
    settings
        .transactional
        .then_some(settings.transactional_id.as_str())
}

impl Inner {
    pub(crate) fn current(&self) -> Producer {
        self.producer
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Replaces the producer with a fresh one (after a fatal error, never after fencing).
    pub(crate) fn rebuild(&self) -> Result<Producer, KafkaError> {
        self.check_fenced()?;
        tracing::warn!("rebuilding the Kafka producer after a fatal error");
        let fresh = create_producer(&self.settings, txn_id(&self.settings), &self.heard)?;
        *self.producer.write().unwrap_or_else(|p| p.into_inner()) = fresh.clone();
        Ok(fresh)
    }

    pub(crate) fn mark_rebuild(&self) {
        if self.fenced.get().is_none() {
            self.needs_rebuild.store(true, Ordering::Release);
        }
    }

    pub(crate) fn take_rebuild(&self) -> bool {
        self.needs_rebuild.swap(false, Ordering::AcqRel)
    }

    /// The partition of `key` in `topic`.
    pub(crate) async fn partition(
        &self,
        producer: &Producer,
        topic: &str,
        key: &[u8],
    ) -> Result<i32, KafkaError> {
        let n = match self.partitions.cached(topic) {
            Some(n) => n,
            None => {
                // Many streams may miss at once: they queue for a lookup slot, and all
                // but the first find the count cached when they get one.
                let _permit = self
                    .lookups
                    .acquire()
                    .await
                    .map_err(|e| KafkaError::retryable("fetch metadata", e.to_string()))?;
                if let Some(n) = self.partitions.cached(topic) {
                    return Ok(partition_for_key(key, n));
                }
                let p = producer.clone();
                let t = topic.to_string();
                let timeout = self.timeout.min(Duration::from_secs(60));
                let n = tokio::task::spawn_blocking(move || {
                    fetch_partition_count(p.client(), &t, timeout)
                })
                .await
                .map_err(|e| KafkaError::retryable("fetch metadata", e.to_string()))?
                .map_err(|e| self.heard.explain(e))?;
                self.partitions.insert(topic, n);
                n
            }
        };
        Ok(partition_for_key(key, n))
    }

    /// The next offset to be written to `topic`/`partition`. librdkafka's lookup blocks
    /// a thread for a broker round trip; at most [`MAX_LOOKUPS`] run at once, so 15,000
    /// streams starting together queue here instead of each holding a blocking-pool
    /// thread (hundreds of threads whose memory stayed mapped after start-up).
    pub(crate) async fn high_watermark(
        &self,
        producer: Producer,
        topic: &str,
        partition: i32,
    ) -> Result<i64, KafkaError> {
        let _permit = self
            .lookups
            .acquire()
            .await
            .map_err(|e| KafkaError::retryable("fetch watermarks", e.to_string()))?;
        let t = topic.to_string();
        let timeout = self.timeout.min(Duration::from_secs(30));
        let (_low, high) = tokio::task::spawn_blocking(move || {
            crate::client::watermarks(producer.client(), &t, partition, timeout)
        })
        .await
        .map_err(|e| KafkaError::retryable("fetch watermarks", e.to_string()))?
        .map_err(|e| self.heard.explain(classify("fetch watermarks", &e, "")))?;
        Ok(high)
    }

    pub(crate) async fn send_events(
        &self,
        producer: &Producer,
        stream: &StreamKey,
        batch: EventBatch,
    ) -> Result<Delivered, KafkaError> {
        let topic = self.settings.topic_for(stream);
        let key = stream.tenant.as_str().as_bytes();
        let partition = self.partition(producer, &topic, key).await?;
        let count = batch.len();
        let last = send_all(producer, &topic, partition, key, batch.records)
            .await
            .map_err(|e| self.fail("produce events", &e))?;
        Ok(Delivered {
            position: last.map(|o| OutputPosition {
                topic,
                partition,
                offset: o + 1,
            }),
            count,
        })
    }

    pub(crate) async fn send_dead_letter(
        &self,
        producer: &Producer,
        stream: &StreamKey,
        reason: &str,
        body: &[u8],
    ) -> Result<(), KafkaError> {
        let topic = self.settings.dead_letter_topic.clone();
        let key = stream.tenant.as_str().as_bytes();
        let partition = self.partition(producer, &topic, key).await?;
        let record = Outgoing {
            payload: body.to_vec(),
            headers: dead_letter_headers(stream, reason, Utc::now()),
        };
        send_all(producer, &topic, partition, key, [record])
            .await
            .map_err(|e| self.fail("produce dead letter", &e))?;
        Ok(())
    }
}
