//! The engine's one door to Kafka: "publish these streams' events and checkpoints",
//! plus what a stream needs to recover (its stored checkpoint, a new stream's start
//! position, the read-back) and the dead-letter topic.
//!
//! [`Sink`] is the trait; the engine picks one implementation when it starts and never
//! asks "transactional or not" again:
//!
//! * [`IdempotentSink`]: the idempotent producer and a [`CheckpointStore`]. A write's
//!   events are published first; its checkpoint is stored once they are acknowledged,
//!   with `output` set to the position after them. Writes of different streams run
//!   concurrently ([`Batching::Each`]).
//! * [`TransactionalSink`]: every batch of writes (events and checkpoints of many
//!   streams) in one Kafka transaction, so `read_committed` readers see all of it or
//!   none; one batch at a time ([`Batching::Together`]). Checkpoints live on the
//!   compacted checkpoint topic, written inside the transaction.
//!
//! The caller (a stream's fetcher) owns its checkpoint: a write carries the checkpoint to
//! store, and the answer ([`Published`]) gives back only what the caller cannot know, the
//! position after its events. A sink remembers the newest checkpoint it loaded or stored
//! per stream ([`Sink::checkpoint`]), which is where a restarted stream starts.
//!
//! Fencing is final: once a transactional producer is fenced (another instance took its
//! `transactional.id` over), every later call answers [`KafkaError::Fenced`] without
//! touching Kafka, so nothing retries into the new owner.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use trawl_model::{Checkpoint, EventId, OutputPosition, StreamKey};

use crate::error::KafkaError;
use crate::producer::EventProducer;
use crate::records::EventBatch;

/// What one stream asks to have written.
#[derive(Debug)]
pub struct StreamWrite {
    pub stream: StreamKey,
    /// Its new events, in order (may be empty).
    pub events: EventBatch,
    /// The checkpoint to store once the events are acknowledged. Its `output` is set to
    /// the position after them (left as it is when there are none).
    pub checkpoint: Option<Checkpoint>,
}

/// What a write achieved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    /// The partition position after the last event (`None` when there were none).
    pub position: Option<OutputPosition>,
    /// Whether the write's checkpoint is stored (false when it had none).
    pub checkpoint_stored: bool,
}

/// How a publisher may group writes before handing them to [`Sink::publish`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Batching {
    /// Each write on its own, as soon as it comes; any number at once.
    Each,
    /// Everything pending in one call, one call at a time (one transaction per call).
    Together,
}

/// Publishing events and checkpoints of many streams, and recovering one stream.
#[async_trait]
pub trait Sink: Send + Sync + 'static {
    fn batching(&self) -> Batching;

    /// Writes `writes` (one per stream); one result per write, in the same order.
    async fn publish(&self, writes: Vec<StreamWrite>) -> Vec<Result<Published, KafkaError>>;

    /// Loads every stored checkpoint (at start); returns how many there are.
    async fn load(&self) -> Result<usize, KafkaError>;

    /// The newest checkpoint stored for `stream`: loaded at start or written since.
    async fn checkpoint(&self, stream: &StreamKey) -> Result<Option<Checkpoint>, KafkaError>;

    /// `stream`'s topic and partition at the partition's current end: where a new
    /// stream's read-back starts.
    async fn stream_start(&self, stream: &StreamKey) -> Result<OutputPosition, KafkaError>;

    /// The next offset to be written to `position`'s partition.
    async fn partition_end(&self, position: &OutputPosition) -> Result<i64, KafkaError>;

    /// The ids and times of `stream`'s events from `position` to the partition's end.
    async fn read_back(
        &self,
        position: &OutputPosition,
        stream: &StreamKey,
    ) -> Result<Vec<(EventId, DateTime<Utc>)>, KafkaError>;

    /// Sends a page that could not be processed to the dead-letter topic.
    async fn dead_letter(
        &self,
        stream: &StreamKey,
        reason: &str,
        body: &[u8],
    ) -> Result<(), KafkaError>;

    /// Waits until everything queued is acknowledged (for a graceful stop).
    async fn flush(&self) -> Result<(), KafkaError>;

    /// Why this sink stopped for good, if it did (it was fenced).
    fn fenced(&self) -> Option<KafkaError>;

    /// The largest record the producer sends (`message.max.bytes`): a larger event is
    /// refused by Kafka, so the engine dead-letters it instead of publishing it.
    fn max_message_bytes(&self) -> usize {
        DEFAULT_MESSAGE_MAX_BYTES
    }
}

/// librdkafka's default `message.max.bytes`.
pub const DEFAULT_MESSAGE_MAX_BYTES: usize = 1_000_000;

/// The producer's `message.max.bytes` as configured (librdkafka's default otherwise).
pub(crate) fn message_max_bytes(settings: &crate::config::KafkaSettings) -> usize {
    settings
        .properties
        .get("message.max.bytes")
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(DEFAULT_MESSAGE_MAX_BYTES)
}

/// The newest checkpoint per stream, as loaded or stored.
#[derive(Debug, Default)]
struct Book(Mutex<HashMap<StreamKey, Checkpoint>>);

impl Book {
    fn replace(&self, all: HashMap<StreamKey, Checkpoint>) -> usize {
        let n = all.len();
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = all;
        n
    }

    /// Keeps `cp` unless a newer one of its stream is already kept.
    fn remember(&self, cp: &Checkpoint) {
        let mut book = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match book.get(&cp.stream) {
            Some(old) if old.updated_at > cp.updated_at => {}
            _ => {
                book.insert(cp.stream.clone(), cp.clone());
            }
        }
    }

    fn get(&self, stream: &StreamKey) -> Option<Checkpoint> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(stream)
            .cloned()
    }
}

/// What both sinks share: the producer, the book, the fencing latch.
pub(crate) struct Common {
    producer: EventProducer,
    book: Book,
    /// `(transactional id, reason)` of the fencing error, once fenced.
    fence: OnceLock<(String, String)>,
    /// Read-backs running at once: each opens a Kafka reader (a client and its
    /// threads), and streams without a checkpoint read their partition from its
    /// beginning, so a fleet starting on a switched checkpoint store must queue.
    read_backs: tokio::sync::Semaphore,
}

/// Read-backs a sink runs at once (see `Common::read_backs`).
pub const READ_BACKS_AT_ONCE: usize = 8;

impl Common {
    fn new(producer: EventProducer) -> Self {
        Self {
            producer,
            book: Book::default(),
            fence: OnceLock::new(),
            read_backs: tokio::sync::Semaphore::new(READ_BACKS_AT_ONCE),
        }
    }

    fn max_message_bytes(&self) -> usize {
        message_max_bytes(self.producer.settings())
    }

    fn fenced(&self) -> Option<KafkaError> {
        self.fence.get().map(|(id, reason)| KafkaError::Fenced {
            transactional_id: id.clone(),
            reason: reason.clone(),
        })
    }

    /// Fails at once when fenced.
    fn check(&self) -> Result<(), KafkaError> {
        self.fenced().map_or(Ok(()), Err)
    }

    /// Latches a fencing error; passes every error through.
    fn watch<T>(&self, r: Result<T, KafkaError>) -> Result<T, KafkaError> {
        if let Err(KafkaError::Fenced {
            transactional_id,
            reason,
        }) = &r
        {
            if self
                .fence
                .set((transactional_id.clone(), reason.clone()))
                .is_ok()
            {
                tracing::error!(transactional_id = %transactional_id, %reason,
                    "Kafka producer fenced: another instance took over; this one stops publishing");
            }
        }
        r
    }

    async fn dead_letter(
        &self,
        stream: &StreamKey,
        reason: &str,
        body: &[u8],
    ) -> Result<(), KafkaError> {
        self.check()?;
        self.watch(self.producer.dead_letter(stream, reason, body).await)
    }

    async fn stream_start(&self, stream: &StreamKey) -> Result<OutputPosition, KafkaError> {
        self.check()?;
        self.producer.stream_start(stream).await
    }

    async fn read_back(
        &self,
        position: &OutputPosition,
        stream: &StreamKey,
    ) -> Result<Vec<(EventId, DateTime<Utc>)>, KafkaError> {
        let _turn = self
            .read_backs
            .acquire()
            .await
            .map_err(|_| KafkaError::retryable("read back", "sink closed".to_string()))?;
        crate::readback::read_back(self.producer.settings(), position, stream).await
    }
}

/// Sets a checkpoint's output to the position after its events, when there were any.
pub(crate) fn cover(cp: &mut Checkpoint, position: &Option<OutputPosition>) {
    if position.is_some() {
        cp.output = position.clone();
    }
}

mod idempotent;
mod transactional;

pub use idempotent::IdempotentSink;
pub use transactional::TransactionalSink;

#[cfg(test)]
mod tests;
