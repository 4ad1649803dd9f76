//! [`TransactionalSink`]: every batch of writes, events and checkpoints of many streams,
//! in one Kafka transaction; checkpoints ride in it to the checkpoint topic and are
//! loaded from there. One batch at a time.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use trawl_model::checkpoint_records::CheckpointRecords;
use trawl_model::{Checkpoint, EventId, OutputPosition, StreamKey};

use super::{cover, Batching, Common, Published, Sink, StreamWrite};
use crate::checkpoints::{CheckpointStore, KafkaCheckpointStore};
use crate::error::KafkaError;
use crate::producer::EventProducer;

/// Transactional producer; checkpoints ride in the transaction to the checkpoint topic
/// and are loaded from it. See the module doc.
pub struct TransactionalSink {
    common: Common,
    /// Reads the checkpoint topic (`read_committed`) at start (shared by a cluster
    /// member's per-partition sinks).
    loader: Arc<KafkaCheckpointStore>,
}

impl TransactionalSink {
    /// Fails when `producer` is not transactional.
    pub fn new(
        producer: EventProducer,
        loader: impl Into<Arc<KafkaCheckpointStore>>,
    ) -> Result<Self, KafkaError> {
        if !producer.settings().transactional {
            return Err(KafkaError::permanent(
                "open transactional sink",
                "kafka.transactional is off",
            ));
        }
        Ok(Self {
            common: Common::new(producer),
            loader: loader.into(),
        })
    }

    /// One transaction for all of `writes`. On failure, the write whose step failed gets
    /// that error and the others [`KafkaError::Aborted`] (none of the batch is visible);
    /// a fencing error goes to every write.
    async fn transaction(&self, writes: Vec<StreamWrite>) -> Vec<Result<Published, KafkaError>> {
        let n = writes.len();
        let mut txn = match self.common.producer.begin().await {
            Ok(t) => t,
            Err(e) => return spread(e, None, n),
        };
        let mut out = Vec::with_capacity(n);
        let mut stored = Vec::new();
        // Checkpoint records added to the transaction, to settle once it ends.
        let mut plans = Vec::new();
        for (i, w) in writes.into_iter().enumerate() {
            let step = async {
                let position = if w.events.is_empty() {
                    None
                } else {
                    txn.add_batch(&w.stream, w.events).await?.position
                };
                let mut checkpoint = w.checkpoint;
                if let Some(cp) = &mut checkpoint {
                    cover(cp, &position);
                    let plan = self.loader.layouts.plan(cp)?;
                    let added = txn.add_checkpoint_records(&plan).await;
                    plans.push((cp.stream.clone(), plan));
                    added.map_err(|e| {
                        let (stream, plan) = plans.last().expect("just pushed");
                        crate::segmented::with_numbers(e, stream, plan)
                    })?;
                }
                Ok::<_, KafkaError>((position, checkpoint))
            }
            .await;
            match step {
                Ok((position, checkpoint)) => {
                    out.push(Published {
                        position,
                        checkpoint_stored: checkpoint.is_some(),
                    });
                    stored.extend(checkpoint);
                }
                Err(e) => {
                    let _ = txn.abort().await;
                    self.settle(&plans, false);
                    return spread(e, Some(i), n);
                }
            }
        }
        let committed = txn.commit().await;
        self.settle(&plans, committed.is_ok());
        if let Err(e) = committed {
            return spread(e, None, n);
        }
        for cp in &stored {
            self.common.book.remember(cp);
        }
        out.into_iter().map(Ok).collect()
    }
}

impl TransactionalSink {
    /// Records what the checkpoint topic holds after a transaction: its segments when
    /// it committed, unknown otherwise (an abort is not known to have happened until
    /// the next transaction starts, so the next save rewrites them).
    fn settle(&self, plans: &[(StreamKey, CheckpointRecords)], committed: bool) {
        for (stream, plan) in plans {
            self.loader.layouts.settle(stream, plan, committed);
        }
    }
}

/// The results of a failed transaction of `n` writes. When one write's step failed
/// (`culprit`), it gets the error and the others learn the batch was aborted; when the
/// transaction as a whole failed (begin, commit), every write gets the error. A fencing
/// error goes to every write.
fn spread(
    error: KafkaError,
    culprit: Option<usize>,
    n: usize,
) -> Vec<Result<Published, KafkaError>> {
    let aborted = || KafkaError::Aborted {
        op: "batch",
        reason: error.to_string(),
    };
    (0..n)
        .map(|i| {
            let everyone = culprit.is_none() || error.is_fenced();
            Err(if everyone || culprit == Some(i) {
                same(&error)
            } else {
                aborted()
            })
        })
        .collect()
}

/// A copy of `e` (`KafkaError` holds an `io::Error`, which is not `Clone`).
fn same(e: &KafkaError) -> KafkaError {
    match e {
        KafkaError::Retryable { op, reason } => KafkaError::Retryable {
            op,
            reason: reason.clone(),
        },
        KafkaError::Aborted { op, reason } => KafkaError::Aborted {
            op,
            reason: reason.clone(),
        },
        KafkaError::Fenced {
            transactional_id,
            reason,
        } => KafkaError::Fenced {
            transactional_id: transactional_id.clone(),
            reason: reason.clone(),
        },
        KafkaError::Fatal { op, reason } => KafkaError::Fatal {
            op,
            reason: reason.clone(),
        },
        KafkaError::Permanent { op, reason } => KafkaError::Permanent {
            op,
            reason: reason.clone(),
        },
        KafkaError::CorruptCheckpoint { key, reason } => KafkaError::CorruptCheckpoint {
            key: key.clone(),
            reason: reason.clone(),
        },
        KafkaError::Io { path, source } => KafkaError::Io {
            path: path.clone(),
            source: std::io::Error::new(source.kind(), source.to_string()),
        },
    }
}

#[async_trait]
impl Sink for TransactionalSink {
    fn batching(&self) -> Batching {
        Batching::Together
    }

    async fn publish(&self, writes: Vec<StreamWrite>) -> Vec<Result<Published, KafkaError>> {
        if let Err(e) = self.common.check() {
            return spread(e, None, writes.len());
        }
        let results = self.transaction(writes).await;
        results.into_iter().map(|r| self.common.watch(r)).collect()
    }

    async fn load(&self) -> Result<usize, KafkaError> {
        // Fence an older instance with this transactional.id and end its open
        // transaction before reading what it wrote (a read_committed read would
        // otherwise wait on that transaction until the broker times it out).
        self.common.producer.take_over().await?;
        Ok(self.common.book.replace(self.loader.load_all().await?))
    }

    async fn checkpoint(&self, stream: &StreamKey) -> Result<Option<Checkpoint>, KafkaError> {
        Ok(self.common.book.get(stream))
    }

    async fn stream_start(&self, stream: &StreamKey) -> Result<OutputPosition, KafkaError> {
        self.common.stream_start(stream).await
    }

    async fn partition_end(&self, position: &OutputPosition) -> Result<i64, KafkaError> {
        self.common.producer.partition_end(position).await
    }

    async fn read_back(
        &self,
        position: &OutputPosition,
        stream: &StreamKey,
    ) -> Result<Vec<(EventId, DateTime<Utc>)>, KafkaError> {
        self.common.read_back(position, stream).await
    }

    async fn dead_letter(
        &self,
        stream: &StreamKey,
        reason: &str,
        body: &[u8],
    ) -> Result<(), KafkaError> {
        self.common.dead_letter(stream, reason, body).await
    }

    async fn flush(&self) -> Result<(), KafkaError> {
        self.common.producer.flush().await
    }

    fn max_message_bytes(&self) -> usize {
        self.common.max_message_bytes()
    }

    fn fenced(&self) -> Option<KafkaError> {
        self.common.fenced()
    }
}
