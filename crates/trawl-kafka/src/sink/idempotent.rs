//! [`IdempotentSink`]: the idempotent producer and a checkpoint store (topic or files).
//! A write's events go first; its checkpoint is stored once they are acknowledged.
//! Writes of different streams run concurrently.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use trawl_model::{Checkpoint, EventId, OutputPosition, StreamKey};

use super::{cover, Batching, Common, Published, Sink, StreamWrite};
use crate::checkpoints::CheckpointStore;
use crate::error::KafkaError;
use crate::producer::EventProducer;

/// Idempotent producer plus a checkpoint store (topic or files). See the module doc.
pub struct IdempotentSink {
    common: Common,
    store: Arc<dyn CheckpointStore>,
}

impl IdempotentSink {
    pub fn new(producer: EventProducer, store: Arc<dyn CheckpointStore>) -> Self {
        Self {
            common: Common::new(producer),
            store,
        }
    }

    async fn write(&self, w: StreamWrite) -> Result<Published, KafkaError> {
        let position = self
            .common
            .producer
            .publish_batch(&w.stream, w.events)
            .await?
            .position;
        let mut stored = false;
        if let Some(mut cp) = w.checkpoint {
            cover(&mut cp, &position);
            self.store.save(&cp).await?;
            self.common.book.remember(&cp);
            stored = true;
        }
        Ok(Published {
            position,
            checkpoint_stored: stored,
        })
    }
}

#[async_trait]
impl Sink for IdempotentSink {
    fn batching(&self) -> Batching {
        Batching::Each
    }

    async fn publish(&self, writes: Vec<StreamWrite>) -> Vec<Result<Published, KafkaError>> {
        futures::future::join_all(writes.into_iter().map(|w| self.write(w))).await
    }

    async fn load(&self) -> Result<usize, KafkaError> {
        Ok(self.common.book.replace(self.store.load_all().await?))
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
