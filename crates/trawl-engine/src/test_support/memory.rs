//! [`MemorySink`]: one in-memory partition per process, holding every event any stream
//! published (offset = index), the checkpoints stored, the dead letters, and a queue of
//! errors the next publishes answer with.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio::time::Instant;
use trawl_kafka::{Batching, KafkaError, Published, Sink, StreamWrite};
use trawl_model::{Checkpoint, EventId, OutputPosition, StreamKey};

pub const TOPIC: &str = "memory";

#[derive(Default)]
pub struct State {
    /// Every event published, in order: the partition.
    pub log: Vec<(StreamKey, EventId, DateTime<Utc>)>,
    /// Every checkpoint stored, in order, with the (tokio) instant it was stored.
    pub stored: Vec<(Instant, Checkpoint)>,
    pub dead_letters: Vec<(StreamKey, String)>,
    pub read_backs: usize,
    /// Writes handed to `publish`, failed ones included.
    pub writes: usize,
    /// What the next publishes answer instead of writing.
    pub failures: VecDeque<KafkaError>,
    /// Once set, every call answers it (a fenced producer).
    pub fenced: Option<String>,
    /// The sink's `max_message_bytes` (0: the default).
    pub max_message_bytes: usize,
}

#[derive(Default)]
pub struct MemorySink {
    pub state: Mutex<State>,
    /// When set, each publish first takes a permit of it (a test holds writes in flight).
    pub gate: Mutex<Option<std::sync::Arc<tokio::sync::Semaphore>>>,
}

fn fenced(reason: &str) -> KafkaError {
    KafkaError::Fenced {
        transactional_id: "trawl-test".into(),
        reason: reason.into(),
    }
}

impl MemorySink {
    pub fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut self.state.lock().unwrap())
    }

    fn position(offset: usize) -> OutputPosition {
        OutputPosition {
            topic: TOPIC.into(),
            partition: 0,
            offset: offset as i64,
        }
    }

    /// The newest stored checkpoint of each stream.
    fn book(state: &State) -> HashMap<StreamKey, Checkpoint> {
        let mut book = HashMap::new();
        for (_, cp) in &state.stored {
            book.insert(cp.stream.clone(), cp.clone());
        }
        book
    }
}

#[async_trait]
impl Sink for MemorySink {
    fn batching(&self) -> Batching {
        Batching::Each
    }

    async fn publish(&self, writes: Vec<StreamWrite>) -> Vec<Result<Published, KafkaError>> {
        let gate = self.gate.lock().unwrap().clone();
        if let Some(gate) = gate {
            let _pass = gate.acquire().await;
        }
        let mut s = self.state.lock().unwrap();
        writes
            .into_iter()
            .map(|w| {
                s.writes += 1;
                if let Some(reason) = &s.fenced {
                    return Err(fenced(reason));
                }
                if let Some(e) = s.failures.pop_front() {
                    if let KafkaError::Fenced { reason, .. } = &e {
                        s.fenced = Some(reason.clone());
                    }
                    return Err(e);
                }
                for (id, time) in w.events.ids() {
                    s.log.push((w.stream.clone(), *id, *time));
                }
                let position = (!w.events.is_empty()).then(|| Self::position(s.log.len()));
                let stored = w.checkpoint.is_some();
                if let Some(mut cp) = w.checkpoint {
                    if position.is_some() {
                        cp.output = position.clone();
                    }
                    s.stored.push((Instant::now(), cp));
                }
                Ok(Published {
                    position,
                    checkpoint_stored: stored,
                })
            })
            .collect()
    }

    async fn load(&self) -> Result<usize, KafkaError> {
        Ok(Self::book(&self.state.lock().unwrap()).len())
    }

    async fn checkpoint(&self, stream: &StreamKey) -> Result<Option<Checkpoint>, KafkaError> {
        Ok(Self::book(&self.state.lock().unwrap()).remove(stream))
    }

    async fn stream_start(&self, _: &StreamKey) -> Result<OutputPosition, KafkaError> {
        let s = self.state.lock().unwrap();
        match &s.fenced {
            Some(reason) => Err(fenced(reason)),
            None => Ok(Self::position(s.log.len())),
        }
    }

    async fn partition_end(&self, _: &OutputPosition) -> Result<i64, KafkaError> {
        Ok(self.state.lock().unwrap().log.len() as i64)
    }

    async fn read_back(
        &self,
        position: &OutputPosition,
        stream: &StreamKey,
    ) -> Result<Vec<(EventId, DateTime<Utc>)>, KafkaError> {
        let mut s = self.state.lock().unwrap();
        s.read_backs += 1;
        let from = usize::try_from(position.offset).unwrap_or(0);
        Ok(s.log
            .iter()
            .skip(from)
            .filter(|(k, _, _)| k == stream)
            .map(|(_, id, t)| (*id, *t))
            .collect())
    }

    async fn dead_letter(
        &self,
        stream: &StreamKey,
        reason: &str,
        _: &[u8],
    ) -> Result<(), KafkaError> {
        let mut s = self.state.lock().unwrap();
        s.dead_letters.push((stream.clone(), reason.to_string()));
        Ok(())
    }

    async fn flush(&self) -> Result<(), KafkaError> {
        Ok(())
    }

    fn fenced(&self) -> Option<KafkaError> {
        self.state.lock().unwrap().fenced.as_deref().map(fenced)
    }

    fn max_message_bytes(&self) -> usize {
        match self.state.lock().unwrap().max_message_bytes {
            0 => trawl_kafka::DEFAULT_MESSAGE_MAX_BYTES,
            n => n,
        }
    }
}
