//! `Publisher`: the one owner of the Kafka producer and the checkpoint store.
//!
//! Owns: the `EventProducer`, the checkpoint store, the newest checkpoint of each stream.
//! Receives: [`Publish`] (a stream's new events and the checkpoint that covers them),
//! [`LoadCheckpoint`], [`DeadLetter`], [`Flush`]. Answers each `Publish` only after
//! Kafka acknowledged the events (and, when asked, the checkpoint was stored), with the
//! checkpoint as written, its `output` set to the partition position after the events.
//!
//! Idempotent mode: events first, checkpoint after their acks; publishes of different
//! streams run concurrently (the fetcher keeps one in flight per stream, which is what
//! makes "checkpoint position covers every earlier event" true).
//! Transactional mode: every pending publish is batched into one transaction (events and
//! checkpoints of many streams, committed together); the next batch starts when the
//! previous one ends, so the commit latency is paid per batch, not per page.

use std::collections::HashMap;
use std::sync::Arc;

use actix::prelude::*;
use tokio::sync::oneshot;
use trawl_kafka::{CheckpointStore, EventBatch, EventProducer, KafkaError};
use trawl_model::{Checkpoint, OutputPosition, StreamKey};

use crate::metrics::Metrics;

/// A stream's new events, already encoded as Kafka records by the fetcher (so this
/// actor's one thread only hands bytes to librdkafka), and, when it is time to store one,
/// its checkpoint after them (their ids already in `seen`; `output` is set here to the
/// position after them).
#[derive(Message)]
#[rtype(result = "Result<Published, KafkaError>")]
pub struct Publish {
    pub stream: StreamKey,
    pub events: Option<EventBatch>,
    pub checkpoint: Option<Checkpoint>,
}

#[derive(Debug, Clone)]
pub struct Published {
    /// The partition position after the last event (`None` when there were none).
    pub position: Option<OutputPosition>,
    /// The checkpoint as stored.
    pub checkpoint: Option<Checkpoint>,
}

/// The current end of a stream's partition: where a new stream's read-back starts.
#[derive(Message)]
#[rtype(result = "Result<OutputPosition, KafkaError>")]
pub struct StreamStart(pub StreamKey);

#[derive(Message)]
#[rtype(result = "Option<Checkpoint>")]
pub struct LoadCheckpoint(pub StreamKey);

#[derive(Message)]
#[rtype(result = "Result<(), KafkaError>")]
pub struct DeadLetter {
    pub stream: StreamKey,
    pub reason: String,
    pub body: Vec<u8>,
}

#[derive(Message)]
#[rtype(result = "Result<(), KafkaError>")]
pub struct Flush;

/// The next offset of a stream's partition: whether a read-back can find anything.
#[derive(Message)]
#[rtype(result = "Result<i64, KafkaError>")]
pub struct PartitionEnd(pub OutputPosition);

/// Remembers a checkpoint as written (called back by the publish futures).
#[derive(Message)]
#[rtype(result = "()")]
struct Stored(Checkpoint);

type Reply = oneshot::Sender<Result<Published, KafkaError>>;

pub struct Publisher {
    producer: EventProducer,
    store: Arc<dyn CheckpointStore>,
    checkpoints: HashMap<StreamKey, Checkpoint>,
    metrics: Arc<Metrics>,
    transactional: bool,
    pending: Vec<(Publish, Reply)>,
    batch_running: bool,
}

impl Publisher {
    /// `loaded`: what the store held at start.
    pub fn new(
        producer: EventProducer,
        store: Arc<dyn CheckpointStore>,
        loaded: HashMap<StreamKey, Checkpoint>,
        metrics: Arc<Metrics>,
    ) -> Self {
        let transactional = producer.settings().transactional;
        Self {
            producer,
            store,
            checkpoints: loaded,
            metrics,
            transactional,
            pending: Vec::new(),
            batch_running: false,
        }
    }

    fn start_batch(&mut self, ctx: &mut Context<Self>) {
        if self.batch_running || self.pending.is_empty() {
            return;
        }
        self.batch_running = true;
        let batch = std::mem::take(&mut self.pending);
        let producer = self.producer.clone();
        let metrics = self.metrics.clone();
        let fut = async move {
            let (msgs, replies): (Vec<Publish>, Vec<Reply>) = batch.into_iter().unzip();
            let result = run_transaction(&producer, msgs).await;
            let committed = result.is_ok();
            metrics
                .transactions
                .with_label_values(&[if committed { "committed" } else { "aborted" }])
                .inc();
            match result {
                Ok(published) => {
                    for (reply, p) in replies.into_iter().zip(published) {
                        let _ = reply.send(Ok(p));
                    }
                }
                Err(e) => {
                    metrics.kafka_delivery_errors.inc();
                    let text = e.to_string();
                    for reply in replies {
                        let _ = reply.send(Err(KafkaError::Aborted {
                            op: "batch",
                            reason: text.clone(),
                        }));
                    }
                }
            }
        };
        ctx.spawn(fut.into_actor(self).map(|_, act, ctx| {
            act.batch_running = false;
            act.start_batch(ctx);
        }));
    }
}

async fn run_transaction(
    producer: &EventProducer,
    msgs: Vec<Publish>,
) -> Result<Vec<Published>, KafkaError> {
    let mut txn = producer.begin().await?;
    let mut out = Vec::with_capacity(msgs.len());
    for m in msgs {
        let added = async {
            let mut position = None;
            if let Some(batch) = m.events.filter(|b| !b.is_empty()) {
                position = txn.add_batch(&m.stream, batch).await?.position;
            }
            let mut checkpoint = m.checkpoint;
            if let Some(cp) = &mut checkpoint {
                if position.is_some() {
                    cp.output = position.clone();
                }
                txn.add_checkpoint(cp).await?;
            }
            Ok::<_, KafkaError>(Published {
                position,
                checkpoint,
            })
        }
        .await;
        match added {
            Ok(p) => out.push(p),
            Err(e) => {
                let _ = txn.abort().await;
                return Err(e);
            }
        }
    }
    txn.commit().await?;
    Ok(out)
}

impl Actor for Publisher {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(1 << 20);
    }
}

impl Handler<Publish> for Publisher {
    type Result = ResponseFuture<Result<Published, KafkaError>>;

    fn handle(&mut self, msg: Publish, ctx: &mut Context<Self>) -> Self::Result {
        let (tx, rx) = oneshot::channel();
        if self.transactional {
            self.pending.push((msg, tx));
            self.start_batch(ctx);
        } else {
            let producer = self.producer.clone();
            let store = self.store.clone();
            let metrics = self.metrics.clone();
            actix::spawn(async move {
                let result = publish_idempotent(&producer, store.as_ref(), msg).await;
                if result.is_err() {
                    metrics.kafka_delivery_errors.inc();
                }
                let _ = tx.send(result);
            });
        }
        let me = ctx.address();
        Box::pin(async move {
            let result = rx.await.unwrap_or(Err(KafkaError::Retryable {
                op: "publish",
                reason: "publisher stopped".into(),
            }));
            if let Ok(p) = &result {
                if let Some(cp) = &p.checkpoint {
                    me.do_send(Stored(cp.clone()));
                }
            }
            result
        })
    }
}

async fn publish_idempotent(
    producer: &EventProducer,
    store: &dyn CheckpointStore,
    msg: Publish,
) -> Result<Published, KafkaError> {
    let mut position = None;
    if let Some(batch) = msg.events.filter(|b| !b.is_empty()) {
        position = producer.publish_batch(&msg.stream, batch).await?.position;
    }
    let mut checkpoint = msg.checkpoint;
    if let Some(cp) = &mut checkpoint {
        if position.is_some() {
            cp.output = position.clone();
        }
        store.save(cp).await?;
    }
    Ok(Published {
        position,
        checkpoint,
    })
}

impl Handler<PartitionEnd> for Publisher {
    type Result = ResponseFuture<Result<i64, KafkaError>>;

    fn handle(&mut self, msg: PartitionEnd, _: &mut Context<Self>) -> Self::Result {
        let producer = self.producer.clone();
        Box::pin(async move { producer.partition_end(&msg.0).await })
    }
}

impl Handler<StreamStart> for Publisher {
    type Result = ResponseFuture<Result<OutputPosition, KafkaError>>;

    fn handle(&mut self, msg: StreamStart, _: &mut Context<Self>) -> Self::Result {
        let producer = self.producer.clone();
        Box::pin(async move { producer.stream_start(&msg.0).await })
    }
}

impl Handler<Stored> for Publisher {
    type Result = ();

    fn handle(&mut self, msg: Stored, _: &mut Context<Self>) {
        let cp = msg.0;
        match self.checkpoints.get(&cp.stream) {
            Some(old) if old.updated_at > cp.updated_at => {}
            _ => {
                self.checkpoints.insert(cp.stream.clone(), cp);
            }
        }
    }
}

impl Handler<LoadCheckpoint> for Publisher {
    type Result = MessageResult<LoadCheckpoint>;

    fn handle(&mut self, msg: LoadCheckpoint, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.checkpoints.get(&msg.0).cloned())
    }
}

impl Handler<DeadLetter> for Publisher {
    type Result = ResponseFuture<Result<(), KafkaError>>;

    fn handle(&mut self, msg: DeadLetter, _: &mut Context<Self>) -> Self::Result {
        let producer = self.producer.clone();
        Box::pin(async move {
            producer
                .dead_letter(&msg.stream, &msg.reason, &msg.body)
                .await
        })
    }
}

impl Handler<Flush> for Publisher {
    type Result = ResponseFuture<Result<(), KafkaError>>;

    fn handle(&mut self, _: Flush, _: &mut Context<Self>) -> Self::Result {
        let producer = self.producer.clone();
        Box::pin(async move { producer.flush().await })
    }
}
