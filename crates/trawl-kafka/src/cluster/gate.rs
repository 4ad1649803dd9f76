//! [`Gate`]: which coordination partitions this member owns right now, which partition
//! each stream belongs to, and how many writes of each partition are in flight.
//!
//! Every write of a member passes the gate ([`Gate::enter`]): a stream whose account's
//! partition is not owned is refused before anything reaches Kafka. Closing partitions
//! ([`Gate::close`]) is synchronous, so the membership thread can stop publishing for
//! lost partitions at once, before it tells anyone; a revocation then waits
//! ([`Gate::drained`]) until the writes that passed before are answered.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use trawl_model::StreamKey;

use crate::error::KafkaError;

#[derive(Default)]
struct State {
    owned: BTreeSet<i32>,
    streams: HashMap<StreamKey, i32>,
    in_flight: HashMap<i32, usize>,
}

/// See the module doc. Cheap to clone.
#[derive(Clone, Default)]
pub struct Gate {
    state: Arc<Mutex<State>>,
    changed: Arc<tokio::sync::Notify>,
}

/// A write that passed the gate; counted in flight until dropped.
pub(crate) struct Pass {
    gate: Gate,
    partition: i32,
}

impl Drop for Pass {
    fn drop(&mut self) {
        {
            let mut s = self.gate.lock();
            if let Some(n) = s.in_flight.get_mut(&self.partition) {
                *n = n.saturating_sub(1);
            }
        }
        self.gate.changed.notify_waiters();
    }
}

impl Gate {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Replaces the stream -> partition map (at start and on every reload).
    pub fn set_streams(&self, streams: HashMap<StreamKey, i32>) {
        self.lock().streams = streams;
    }

    pub fn partition_of(&self, stream: &StreamKey) -> Option<i32> {
        self.lock().streams.get(stream).copied()
    }

    /// The streams of `partitions`.
    pub fn streams_of(&self, partitions: &BTreeSet<i32>) -> Vec<StreamKey> {
        self.lock()
            .streams
            .iter()
            .filter(|(_, p)| partitions.contains(p))
            .map(|(k, _)| k.clone())
            .collect()
    }

    pub fn open(&self, partitions: &BTreeSet<i32>) {
        self.lock().owned.extend(partitions.iter().copied());
    }

    /// From now on, writes of `partitions` are refused.
    pub fn close(&self, partitions: &BTreeSet<i32>) {
        let mut s = self.lock();
        for p in partitions {
            s.owned.remove(p);
        }
    }

    pub fn owned(&self) -> BTreeSet<i32> {
        self.lock().owned.clone()
    }

    /// Lets a write of `stream` through when its partition is owned.
    pub(crate) fn enter(&self, stream: &StreamKey) -> Result<Pass, KafkaError> {
        let mut s = self.lock();
        let partition = match s.streams.get(stream) {
            Some(p) if s.owned.contains(p) => *p,
            Some(p) => {
                return Err(KafkaError::retryable(
                    "publish",
                    format!(
                        "stream {stream}: this member does not own its account's cluster \
                         partition {p} (moved to another member)"
                    ),
                ))
            }
            None => {
                return Err(KafkaError::retryable(
                    "publish",
                    format!("stream {stream}: not a stream of this member's configuration"),
                ))
            }
        };
        *s.in_flight.entry(partition).or_default() += 1;
        Ok(Pass {
            gate: self.clone(),
            partition,
        })
    }

    fn in_flight(&self, partitions: &BTreeSet<i32>) -> usize {
        let s = self.lock();
        partitions
            .iter()
            .map(|p| s.in_flight.get(p).copied().unwrap_or(0))
            .sum()
    }

    /// Waits until no write of `partitions` is in flight, at most `timeout`; returns how
    /// many still were when it gave up (0: drained).
    pub async fn drained(&self, partitions: &BTreeSet<i32>, timeout: Duration) -> usize {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.changed.notified();
            let n = self.in_flight(partitions);
            if n == 0 {
                return 0;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.in_flight(partitions);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use trawl_model::{SourceKind, TenantId};

    fn key(t: &str) -> StreamKey {
        StreamKey::new(TenantId::new(t).unwrap(), SourceKind::ZohoMailAudit)
    }

    #[tokio::test(start_paused = true)]
    async fn refuses_unowned_partitions_and_waits_for_writes_in_flight() {
        let gate = Gate::default();
        gate.set_streams([(key("a"), 1), (key("b"), 2)].into_iter().collect());
        let one: BTreeSet<i32> = [1].into();
        assert!(gate.enter(&key("a")).is_err(), "nothing owned yet");
        gate.open(&one);
        let pass = gate.enter(&key("a")).expect("owned");
        let err = gate.enter(&key("b")).err().unwrap().to_string();
        assert!(err.contains("partition 2"), "{err}");
        assert!(gate.enter(&key("c")).is_err());
        gate.close(&one);
        assert!(gate.enter(&key("a")).is_err(), "closed at once");
        assert_eq!(gate.drained(&one, Duration::from_secs(1)).await, 1);
        let waiter = {
            let gate = gate.clone();
            tokio::spawn(async move { gate.drained(&[1].into(), Duration::from_secs(60)).await })
        };
        tokio::time::sleep(Duration::from_secs(5)).await;
        drop(pass);
        assert_eq!(waiter.await.unwrap(), 0);
    }
}
