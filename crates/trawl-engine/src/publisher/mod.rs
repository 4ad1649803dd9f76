//! `Publisher`: batches and orders the streams' writes to Kafka.
//!
//! Owns: the [`Sink`] chosen at start and the writes waiting for it. Receives:
//! [`Publish`] (one stream's events and, when it is time, the checkpoint that covers
//! them), answered once the sink has them acknowledged (and the checkpoint stored), and
//! [`Flush`]. How writes are grouped is the sink's to say ([`Batching`]): each at once
//! and concurrently (idempotent), or everything pending in one call, one call at a time
//! (one transaction per batch, so the commit latency is paid per batch, not per page).
//! Within a batch writes keep their arrival order; a stream has one write in flight at
//! a time (its fetcher waits for the answer), so a stored position always covers every
//! earlier acknowledged event of the stream.
//!
//! A stream's writes are tracked until the sink answered them, even when the fetcher that
//! sent them was dropped meanwhile (a stall restart, a tenant change): [`Settled`]
//! answers once none is left, and a new fetcher of the stream asks it before it loads
//! its checkpoint and reads back, so a write of its predecessor cannot land after its
//! read-back unseen.
//!
//! Streams reach it through a [`PublisherHandle`], which also gives them the sink's
//! recovery calls (checkpoint, stream start, read-back, dead letters) directly: those
//! need no batching.

use std::collections::HashMap;
use std::sync::Arc;

use actix::prelude::*;
use tokio::sync::oneshot;
use trawl_kafka::{Batching, KafkaError, Published, Sink, StreamWrite};
use trawl_model::StreamKey;

use crate::events::{InternalEvent, PublishFailed, TransactionEnded};
use crate::metrics::Metrics;

/// One stream's write; the answer comes once Kafka acknowledged it.
#[derive(Message)]
#[rtype(result = "Result<Published, KafkaError>")]
pub struct Publish(pub StreamWrite);

/// Waits until everything queued is acknowledged (for a graceful stop).
#[derive(Message)]
#[rtype(result = "Result<(), KafkaError>")]
pub struct Flush;

/// Answers once no write of the stream is waiting for the sink.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Settled(pub StreamKey);

type Reply = oneshot::Sender<Result<Published, KafkaError>>;

/// A stream's writes not answered yet, and who waits for them to end.
#[derive(Default)]
struct InFlight {
    writes: usize,
    waiters: Vec<oneshot::Sender<()>>,
}

pub struct Publisher {
    sink: Arc<dyn Sink>,
    metrics: Arc<Metrics>,
    pending: Vec<(StreamWrite, Reply)>,
    batch_running: bool,
    in_flight: HashMap<StreamKey, InFlight>,
}

impl Publisher {
    pub fn new(sink: Arc<dyn Sink>, metrics: Arc<Metrics>) -> Self {
        Self {
            sink,
            metrics,
            pending: Vec::new(),
            batch_running: false,
            in_flight: HashMap::new(),
        }
    }

    /// One more write of `key` is waiting for the sink.
    fn begun(&mut self, key: &StreamKey) {
        self.in_flight.entry(key.clone()).or_default().writes += 1;
    }

    /// A write of `key` was answered; the last one wakes those waiting.
    fn ended(&mut self, key: &StreamKey) {
        if let Some(f) = self.in_flight.get_mut(key) {
            f.writes = f.writes.saturating_sub(1);
            if f.writes == 0 {
                for w in self.in_flight.remove(key).expect("present").waiters {
                    let _ = w.send(());
                }
            }
        }
    }

    /// Hands every pending write to the sink in one call, unless a call is running; the
    /// next starts when it ends.
    fn start_batch(&mut self, ctx: &mut Context<Self>) {
        if self.batch_running || self.pending.is_empty() {
            return;
        }
        self.batch_running = true;
        let (writes, replies): (Vec<StreamWrite>, Vec<Reply>) =
            std::mem::take(&mut self.pending).into_iter().unzip();
        let keys: Vec<StreamKey> = writes.iter().map(|w| w.stream.clone()).collect();
        let (sink, metrics) = (self.sink.clone(), self.metrics.clone());
        let batch = async move {
            let results = sink.publish(writes).await;
            let committed = results.iter().all(Result::is_ok);
            TransactionEnded { committed }.emit(&metrics);
            if !committed {
                PublishFailed.emit(&metrics);
            }
            for (reply, result) in replies.into_iter().zip(results) {
                let _ = reply.send(result);
            }
        };
        ctx.spawn(batch.into_actor(self).map(move |_, act, ctx| {
            act.batch_running = false;
            for key in &keys {
                act.ended(key);
            }
            act.start_batch(ctx);
        }));
    }
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
        self.begun(&msg.0.stream);
        match self.sink.batching() {
            Batching::Together => {
                self.pending.push((msg.0, tx));
                self.start_batch(ctx);
            }
            Batching::Each => {
                let (sink, metrics) = (self.sink.clone(), self.metrics.clone());
                let key = msg.0.stream.clone();
                let write = async move {
                    let result = sink.publish(vec![msg.0]).await.pop().unwrap_or_else(|| {
                        Err(KafkaError::Retryable {
                            op: "publish",
                            reason: "the sink gave no answer".into(),
                        })
                    });
                    if result.is_err() {
                        PublishFailed.emit(&metrics);
                    }
                    let _ = tx.send(result);
                };
                ctx.spawn(write.into_actor(self).map(move |_, act, _| act.ended(&key)));
            }
        }
        Box::pin(async move {
            rx.await.unwrap_or(Err(KafkaError::Retryable {
                op: "publish",
                reason: "publisher stopped".into(),
            }))
        })
    }
}

impl Handler<Settled> for Publisher {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, msg: Settled, _: &mut Context<Self>) -> Self::Result {
        let Some(f) = self.in_flight.get_mut(&msg.0) else {
            return Box::pin(async {});
        };
        let (tx, rx) = oneshot::channel();
        f.waiters.push(tx);
        Box::pin(async move {
            let _ = rx.await;
        })
    }
}

impl Handler<Flush> for Publisher {
    type Result = ResponseFuture<Result<(), KafkaError>>;

    fn handle(&mut self, _: Flush, _: &mut Context<Self>) -> Self::Result {
        let sink = self.sink.clone();
        Box::pin(async move { sink.flush().await })
    }
}

/// Why a write got no answer from Kafka.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("{0}")]
    Kafka(#[from] KafkaError),
    #[error("publisher unavailable")]
    Gone,
}

/// A stream's way to the publisher and the sink. Cheap to clone.
#[derive(Clone)]
pub struct PublisherHandle {
    addr: Addr<Publisher>,
    sink: Arc<dyn Sink>,
}

impl PublisherHandle {
    pub fn new(addr: Addr<Publisher>, sink: Arc<dyn Sink>) -> Self {
        Self { addr, sink }
    }

    /// Writes one stream's events (and checkpoint); answers once acknowledged.
    pub async fn publish(&self, write: StreamWrite) -> Result<Published, PublishError> {
        Ok(self
            .addr
            .send(Publish(write))
            .await
            .map_err(|_| PublishError::Gone)??)
    }

    /// Waits until no write of `key` is waiting for the sink (writes of a fetcher that
    /// was dropped included).
    pub async fn settled(&self, key: &StreamKey) -> Result<(), PublishError> {
        self.addr
            .send(Settled(key.clone()))
            .await
            .map_err(|_| PublishError::Gone)
    }

    /// The sink's calls that need no batching: the stored checkpoint, a new stream's
    /// start, the read-back, dead letters.
    pub fn sink(&self) -> &dyn Sink {
        self.sink.as_ref()
    }
}
