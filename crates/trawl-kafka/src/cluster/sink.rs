//! [`ClusterSink`]: the [`Sink`] of a cluster member.
//!
//! Every write passes the [`Gate`] first (refused when the stream's account is not this
//! member's, counted in flight otherwise). Checkpoints come from the checkpoint topic,
//! loaded when partitions are assigned ([`ClusterSink::take`]): the previous owner
//! stored them before it let the partitions go. Idempotent mode publishes through one
//! [`IdempotentSink`]; transactional mode keeps a [`TransactionalSink`] per owned
//! partition with its own `transactional.id` (`{kafka.transactional_id}-{partition}`),
//! initialized when the partition is assigned (which fences a zombie predecessor for
//! exactly those accounts, and aborts its open transaction) and closed after its
//! streams stopped. A fenced partition fails only its own writes.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use trawl_model::{Checkpoint, EventId, OutputPosition, StreamKey};

use super::Gate;
use crate::checkpoints::{CheckpointStore, KafkaCheckpointStore};
use crate::config::KafkaSettings;
use crate::error::KafkaError;
use crate::producer::EventProducer;
use crate::sink::{Batching, IdempotentSink, Published, Sink, StreamWrite, TransactionalSink};

enum Mode {
    Idempotent(IdempotentSink),
    /// One sink per owned partition.
    Transactional(Mutex<HashMap<i32, Arc<TransactionalSink>>>),
}

/// See the module doc.
pub struct ClusterSink {
    settings: KafkaSettings,
    gate: Gate,
    store: Arc<KafkaCheckpointStore>,
    mode: Mode,
    /// Checkpoints loaded at assignment, until this member stores a newer one.
    fresh: Mutex<HashMap<StreamKey, Checkpoint>>,
}

/// One partition's share of a batch: its sink, the writes' passes, the writes with
/// their places in the batch.
type Group = (
    Arc<TransactionalSink>,
    Vec<super::gate::Pass>,
    Vec<(usize, StreamWrite)>,
);

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl ClusterSink {
    pub fn new(settings: &KafkaSettings, gate: Gate) -> Result<Self, KafkaError> {
        let store = Arc::new(KafkaCheckpointStore::new(settings)?);
        let mode = if settings.transactional {
            Mode::Transactional(Mutex::new(HashMap::new()))
        } else {
            Mode::Idempotent(IdempotentSink::new(
                EventProducer::new(settings)?,
                store.clone(),
            ))
        };
        Ok(Self {
            settings: settings.clone(),
            gate,
            store,
            mode,
            fresh: Mutex::new(HashMap::new()),
        })
    }

    pub fn gate(&self) -> &Gate {
        &self.gate
    }

    pub fn settings(&self) -> &KafkaSettings {
        &self.settings
    }

    /// Loads the stored checkpoints of `streams` (added to the configuration while
    /// their partitions were already owned).
    pub async fn reload_checkpoints(&self, streams: &[StreamKey]) -> Result<(), KafkaError> {
        let all = self.store.load_all().await?;
        let mut fresh = lock(&self.fresh);
        for s in streams {
            if let Some(cp) = all.get(s) {
                fresh.insert(s.clone(), cp.clone());
            }
        }
        Ok(())
    }

    /// The transactional id of `partition`'s producer.
    pub fn transactional_id(&self, partition: i32) -> String {
        format!("{}-{partition}", self.settings.transactional_id)
    }

    /// Makes `partitions` this member's: in transactional mode their producers are
    /// initialized (fencing any predecessor), then their streams' checkpoints are
    /// loaded, then the gate opens for them.
    pub async fn take(&self, partitions: &BTreeSet<i32>) -> Result<(), KafkaError> {
        if let Mode::Transactional(sinks) = &self.mode {
            let opened = futures::future::join_all(partitions.iter().map(|p| async move {
                let mut settings = self.settings.clone();
                settings.transactional_id = self.transactional_id(*p);
                let producer = EventProducer::new(&settings)?;
                producer.take_over().await?;
                Ok::<_, KafkaError>((*p, TransactionalSink::new(producer, self.store.clone())?))
            }))
            .await;
            let mut sinks = lock(sinks);
            for r in opened {
                let (p, sink) = r?;
                sinks.insert(p, Arc::new(sink));
            }
        }
        let all = self.store.load_all().await?;
        let streams = self.gate.streams_of(partitions);
        {
            let mut fresh = lock(&self.fresh);
            for s in streams {
                match all.get(&s) {
                    Some(cp) => fresh.insert(s, cp.clone()),
                    None => fresh.remove(&s),
                };
            }
        }
        self.gate.open(partitions);
        Ok(())
    }

    /// Gives `partitions` up: closed in the gate, then waits (at most `timeout`) for
    /// their writes in flight, then closes their producers. Returns how many writes
    /// were still in flight when it gave up waiting (0: all answered).
    pub async fn release(&self, partitions: &BTreeSet<i32>, timeout: Duration) -> usize {
        self.gate.close(partitions);
        let left = self.gate.drained(partitions, timeout).await;
        self.forget(partitions);
        left
    }

    /// Partitions lost: closed at once; their producers are dropped (the next owner
    /// fences them anyway).
    pub fn lost(&self, partitions: &BTreeSet<i32>) {
        self.gate.close(partitions);
        self.forget(partitions);
    }

    fn forget(&self, partitions: &BTreeSet<i32>) {
        if let Mode::Transactional(sinks) = &self.mode {
            let mut sinks = lock(sinks);
            for p in partitions {
                sinks.remove(p);
            }
        }
        let mut fresh = lock(&self.fresh);
        for s in self.gate.streams_of(partitions) {
            fresh.remove(&s);
        }
    }

    /// The transactional sink of `stream`'s partition, when it is owned.
    fn partition_sink(&self, stream: &StreamKey) -> Result<Arc<TransactionalSink>, KafkaError> {
        let Mode::Transactional(sinks) = &self.mode else {
            unreachable!("transactional mode only");
        };
        let p = self.gate.partition_of(stream);
        p.and_then(|p| lock(sinks).get(&p).cloned()).ok_or_else(|| {
            KafkaError::retryable(
                "publish",
                format!("stream {stream}: its cluster partition {p:?} is not this member's"),
            )
        })
    }

    fn stored(&self, stream: &StreamKey) {
        lock(&self.fresh).remove(stream);
    }

    async fn publish_transactional(
        &self,
        writes: Vec<StreamWrite>,
    ) -> Vec<Result<Published, KafkaError>> {
        let n = writes.len();
        let mut out: Vec<Option<Result<Published, KafkaError>>> = (0..n).map(|_| None).collect();
        // Per partition: its sink, the passes and the writes (with their places).
        let mut groups: HashMap<i32, Group> = HashMap::new();
        for (i, w) in writes.into_iter().enumerate() {
            let entered = self.gate.enter(&w.stream).and_then(|pass| {
                let sink = self.partition_sink(&w.stream)?;
                Ok((pass, sink))
            });
            match entered {
                Ok((pass, sink)) => {
                    let p = self.gate.partition_of(&w.stream).unwrap_or_default();
                    let g = groups
                        .entry(p)
                        .or_insert_with(|| (sink, Vec::new(), Vec::new()));
                    g.1.push(pass);
                    g.2.push((i, w));
                }
                Err(e) => out[i] = Some(Err(e)),
            }
        }
        let done =
            futures::future::join_all(groups.into_values().map(|(sink, passes, ws)| async move {
                let (places, ws): (Vec<usize>, Vec<StreamWrite>) = ws.into_iter().unzip();
                let streams: Vec<StreamKey> = ws.iter().map(|w| w.stream.clone()).collect();
                let results = sink.publish(ws).await;
                drop(passes);
                (places, streams, results)
            }))
            .await;
        for (places, streams, results) in done {
            for ((i, s), r) in places.into_iter().zip(streams).zip(results) {
                if matches!(&r, Ok(p) if p.checkpoint_stored) {
                    self.stored(&s);
                }
                out[i] = Some(r);
            }
        }
        out.into_iter()
            .map(|r| r.unwrap_or_else(|| Err(KafkaError::retryable("publish", "no answer"))))
            .collect()
    }
}

#[async_trait]
impl Sink for ClusterSink {
    fn batching(&self) -> Batching {
        match &self.mode {
            Mode::Idempotent(_) => Batching::Each,
            Mode::Transactional(_) => Batching::Together,
        }
    }

    async fn publish(&self, writes: Vec<StreamWrite>) -> Vec<Result<Published, KafkaError>> {
        match &self.mode {
            Mode::Idempotent(inner) => {
                futures::future::join_all(writes.into_iter().map(|w| async move {
                    let _pass = self.gate.enter(&w.stream)?;
                    let stream = w.stream.clone();
                    let r = inner.publish(vec![w]).await.pop().unwrap_or_else(|| {
                        Err(KafkaError::retryable("publish", "the sink gave no answer"))
                    });
                    if matches!(&r, Ok(p) if p.checkpoint_stored) {
                        self.stored(&stream);
                    }
                    r
                }))
                .await
            }
            Mode::Transactional(_) => self.publish_transactional(writes).await,
        }
    }

    /// Nothing at start: checkpoints are loaded per assignment ([`ClusterSink::take`]).
    async fn load(&self) -> Result<usize, KafkaError> {
        Ok(0)
    }

    async fn checkpoint(&self, stream: &StreamKey) -> Result<Option<Checkpoint>, KafkaError> {
        if let Some(cp) = lock(&self.fresh).get(stream) {
            return Ok(Some(cp.clone()));
        }
        match &self.mode {
            Mode::Idempotent(inner) => inner.checkpoint(stream).await,
            Mode::Transactional(_) => match self.partition_sink(stream) {
                Ok(sink) => sink.checkpoint(stream).await,
                Err(_) => Ok(None),
            },
        }
    }

    async fn stream_start(&self, stream: &StreamKey) -> Result<OutputPosition, KafkaError> {
        match &self.mode {
            Mode::Idempotent(inner) => inner.stream_start(stream).await,
            Mode::Transactional(_) => self.partition_sink(stream)?.stream_start(stream).await,
        }
    }

    async fn partition_end(&self, position: &OutputPosition) -> Result<i64, KafkaError> {
        match &self.mode {
            Mode::Idempotent(inner) => inner.partition_end(position).await,
            Mode::Transactional(sinks) => {
                let any = lock(sinks).values().next().cloned();
                match any {
                    Some(sink) => sink.partition_end(position).await,
                    None => Err(KafkaError::retryable(
                        "partition end",
                        "this member owns no cluster partition",
                    )),
                }
            }
        }
    }

    async fn read_back(
        &self,
        position: &OutputPosition,
        stream: &StreamKey,
    ) -> Result<Vec<(EventId, DateTime<Utc>)>, KafkaError> {
        crate::readback::read_back(&self.settings, position, stream).await
    }

    async fn dead_letter(
        &self,
        stream: &StreamKey,
        reason: &str,
        body: &[u8],
    ) -> Result<(), KafkaError> {
        let _pass = self.gate.enter(stream)?;
        match &self.mode {
            Mode::Idempotent(inner) => inner.dead_letter(stream, reason, body).await,
            Mode::Transactional(_) => {
                self.partition_sink(stream)?
                    .dead_letter(stream, reason, body)
                    .await
            }
        }
    }

    async fn flush(&self) -> Result<(), KafkaError> {
        match &self.mode {
            Mode::Idempotent(inner) => inner.flush().await,
            Mode::Transactional(sinks) => {
                let all: Vec<_> = lock(sinks).values().cloned().collect();
                for s in all {
                    s.flush().await?;
                }
                Ok(())
            }
        }
    }

    /// Never for the whole member: a fenced partition fails its own writes only.
    fn max_message_bytes(&self) -> usize {
        crate::sink::message_max_bytes(&self.settings)
    }

    fn fenced(&self) -> Option<KafkaError> {
        None
    }
}
