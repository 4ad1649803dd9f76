//! Kafka transactions: several streams' events and their checkpoints, all visible to
//! `read_committed` readers at once, or none of them.
//!
//! One producer runs one transaction at a time, so `begin` waits for the previous
//! [`Transaction`] to finish; the engine batches pages of several streams into one.
//! A transaction dropped without `commit` is aborted by the next `begin`.
//! [`EventProducer::take_over`] (at engine start, before anything is read back) or else
//! the first `begin` (and the first after a fatal error, which rebuilds the producer)
//! calls `init_transactions`, which fences an older instance with the same
//! `transactional.id` and aborts its open transaction. A fenced producer stays fenced.

use std::collections::BTreeMap;

use rdkafka::error::KafkaError as RdError;
use rdkafka::producer::Producer as _;

use tokio::sync::OwnedMutexGuard;
use trawl_model::checkpoint_records::{Bounds, CheckpointRecords, Record, SeenLayout};
use trawl_model::{Checkpoint, Event, OutputPosition, StreamKey};

use crate::checkpoints::send_tombstones;
use crate::client::Producer;
use crate::error::KafkaError;
use crate::producer::{Delivered, EventProducer, Inner};
use crate::records::EventBatch;
use crate::send::{send_all, Outgoing};

/// Per-producer transaction bookkeeping, guarded by the transaction lock.
#[derive(Debug, Default)]
pub(crate) struct TxnState {
    initialized: bool,
    needs_abort: bool,
}

/// An open transaction. Add events and checkpoints, then `commit` (or `abort`).
pub struct Transaction {
    inner: std::sync::Arc<Inner>,
    state: OwnedMutexGuard<TxnState>,
    producer: Producer,
    positions: BTreeMap<StreamKey, OutputPosition>,
    failed: Option<String>,
}

/// Runs a blocking librdkafka transaction call off the async runtime.
async fn blocking<F>(inner: &Inner, op: &'static str, f: F) -> Result<(), KafkaError>
where
    F: FnOnce() -> Result<(), RdError> + Send + 'static,
{
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(inner.fail(op, &e)),
        Err(e) => Err(KafkaError::retryable(op, e.to_string())),
    }
}

/// Longest `init_transactions` wait: the coordinator may first have to abort a
/// predecessor's open transaction.
const INIT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

impl EventProducer {
    /// Transactional mode: takes the `transactional.id` over now. `init_transactions`
    /// fences any older instance with the same id and ends its open transaction, so what
    /// is read from Kafka afterwards (checkpoints, read-backs) can no longer change under
    /// this instance. Call it before loading checkpoints. Idempotent mode: nothing to do.
    pub async fn take_over(&self) -> Result<(), KafkaError> {
        let inner = self.inner.clone();
        if !inner.settings.transactional {
            return Ok(());
        }
        inner.check_fenced()?;
        let mut state = inner.txn.clone().lock_owned().await;
        if !state.initialized {
            let p = inner.current();
            let timeout = inner.timeout.min(INIT_TIMEOUT);
            blocking(&inner, "init transactions", move || {
                p.init_transactions(timeout)
            })
            .await?;
            state.initialized = true;
            state.needs_abort = false;
        }
        Ok(())
    }

    /// Starts a transaction (transactional mode only). Waits while another is open.
    pub async fn begin(&self) -> Result<Transaction, KafkaError> {
        let inner = self.inner.clone();
        if !inner.settings.transactional {
            return Err(KafkaError::permanent(
                "begin transaction",
                "kafka.transactional is off",
            ));
        }
        inner.check_fenced()?;
        let mut state = inner.txn.clone().lock_owned().await;
        let timeout = inner.timeout;
        let mut producer = inner.current();
        if inner.take_rebuild() {
            producer = inner.rebuild().inspect_err(|_| inner.mark_rebuild())?;
            state.initialized = false;
            state.needs_abort = false;
            inner.set_txn_began(None);
        }
        if state.initialized && state.needs_abort {
            let p = producer.clone();
            // An abort refused here (librdkafka refuses it as a conflicting call after a
            // commit timed out) would be refused again by every later `begin`: the next
            // `begin` rebuilds the producer instead, whose `init_transactions` ends the
            // open transaction at the coordinator.
            blocking(&inner, "abort transaction", move || {
                p.abort_transaction(timeout)
            })
            .await
            .inspect_err(|_| inner.mark_rebuild())?;
            state.needs_abort = false;
            inner.set_txn_began(None);
        }
        if !state.initialized {
            let p = producer.clone();
            let timeout = timeout.min(INIT_TIMEOUT);
            blocking(&inner, "init transactions", move || {
                p.init_transactions(timeout)
            })
            .await?;
            state.initialized = true;
        }
        producer
            .begin_transaction()
            .map_err(|e| inner.fail("begin transaction", &e))?;
        inner.set_txn_began(Some(std::time::Instant::now()));
        state.needs_abort = true;
        Ok(Transaction {
            inner,
            state,
            producer,
            positions: BTreeMap::new(),
            failed: None,
        })
    }
}

impl Transaction {
    /// Produces one stream's events in this transaction and waits for their
    /// acknowledgements (they stay invisible to `read_committed` until `commit`).
    /// Returns the position after the last one: put it in the stream's checkpoint.
    pub async fn add_events(
        &mut self,
        stream: &StreamKey,
        events: &[Event],
    ) -> Result<Delivered, KafkaError> {
        self.add_batch(stream, EventBatch::encode(stream, events))
            .await
    }

    /// [`add_events`](Self::add_events) of events already encoded.
    pub async fn add_batch(
        &mut self,
        stream: &StreamKey,
        batch: EventBatch,
    ) -> Result<Delivered, KafkaError> {
        self.check()?;
        let r = self.inner.send_events(&self.producer, stream, batch).await;
        match r {
            Ok(d) => {
                if let Some(p) = &d.position {
                    self.positions.insert(stream.clone(), p.clone());
                }
                Ok(d)
            }
            Err(e) => Err(self.poison(e)),
        }
    }

    /// Writes a stream's checkpoint to the checkpoint topic in this transaction, all of
    /// its seen ids included (no segment of an earlier save is reused or deleted: the
    /// transactional sink uses [`add_checkpoint_records`](Self::add_checkpoint_records)).
    pub async fn add_checkpoint(&mut self, cp: &Checkpoint) -> Result<(), KafkaError> {
        let plan = CheckpointRecords::plan(cp, &SeenLayout::default(), Bounds::default())
            .map_err(|e| KafkaError::permanent("save checkpoint", e.to_string()))?;
        self.add_checkpoint_records(&plan).await
    }

    /// Writes a checkpoint's records (segments, main record, tombstones; see
    /// `trawl_model::checkpoint_records`) to the checkpoint topic in this transaction.
    pub async fn add_checkpoint_records<'a>(
        &mut self,
        plan: &'a CheckpointRecords,
    ) -> Result<(), KafkaError> {
        self.check()?;
        let topic = self.inner.settings.checkpoint_topic().to_string();
        let r = async {
            let mut placed = Vec::with_capacity(plan.segments.len() + 1);
            for rec in plan.segments.iter().chain([&plan.main]) {
                let partition = self
                    .inner
                    .partition(&self.producer, &topic, rec.key.as_bytes())
                    .await?;
                placed.push((rec, partition));
            }
            let (main, segments) = placed.split_last().expect("the main record");
            let producer = &self.producer;
            let topic = topic.as_str();
            let send = |rec: &'a Record, partition: i32| {
                let out = Outgoing {
                    payload: rec.value.clone(),
                    headers: rdkafka::message::OwnedHeaders::new(),
                };
                send_all(producer, topic, partition, rec.key.as_bytes(), [out])
            };
            let sent = futures::future::join_all(segments.iter().map(|(r, p)| send(r, *p))).await;
            for r in sent {
                r.map_err(|e| self.inner.fail("produce checkpoint", &e))?;
            }
            send(main.0, main.1)
                .await
                .map_err(|e| self.inner.fail("produce checkpoint", &e))?;
            let mut deletes = Vec::with_capacity(plan.tombstones.len());
            for key in &plan.tombstones {
                let partition = self
                    .inner
                    .partition(&self.producer, topic, key.as_bytes())
                    .await?;
                deletes.push((key.clone(), partition));
            }
            send_tombstones(&self.producer, topic, &deletes)
                .await
                .map_err(|e| self.inner.fail("delete checkpoint segments", &e))
        }
        .await;
        r.map(|_| ()).map_err(|e| self.poison(e))
    }

    /// Sends a dead letter in this transaction (see [`EventProducer::dead_letter`]).
    pub async fn add_dead_letter(
        &mut self,
        stream: &StreamKey,
        reason: &str,
        body: &[u8],
    ) -> Result<(), KafkaError> {
        self.check()?;
        let r = self
            .inner
            .send_dead_letter(&self.producer, stream, reason, body)
            .await;
        r.map_err(|e| self.poison(e))
    }

    /// The positions of the streams published so far in this transaction.
    pub fn positions(&self) -> &BTreeMap<StreamKey, OutputPosition> {
        &self.positions
    }

    /// Commits; returns each stream's position after its last event. If anything
    /// added failed, aborts instead and returns [`KafkaError::Aborted`]. A
    /// [`KafkaError::Retryable`] here means the outcome is unknown: read back.
    pub async fn commit(mut self) -> Result<BTreeMap<StreamKey, OutputPosition>, KafkaError> {
        if let Some(reason) = self.failed.take() {
            self.abort_now().await?;
            return Err(KafkaError::Aborted {
                op: "commit",
                reason,
            });
        }
        let mut tries = 0;
        loop {
            tries += 1;
            let p = self.producer.clone();
            let timeout = self.inner.timeout;
            match blocking(&self.inner, "commit transaction", move || {
                p.commit_transaction(timeout)
            })
            .await
            {
                Ok(()) => {
                    self.state.needs_abort = false;
                    self.inner.set_txn_began(None);
                    return Ok(std::mem::take(&mut self.positions));
                }
                Err(e @ KafkaError::Retryable { .. }) if tries < 2 => {
                    tracing::warn!(error = %e, "commit failed, retrying once");
                }
                Err(e @ (KafkaError::Aborted { .. } | KafkaError::Retryable { .. })) => {
                    if let Err(abort) = self.abort_now().await {
                        // Twice timed out and the abort refused (a commit still in
                        // flight): the outcome is unknown. The producer is rebuilt
                        // before the next transaction (its `init_transactions` aborts
                        // this one if it is still open); the caller reads back.
                        return Err(KafkaError::retryable(
                            "commit transaction",
                            format!("outcome unknown: {e}; the abort failed too: {abort}"),
                        ));
                    }
                    return Err(match e {
                        KafkaError::Retryable { reason, .. } => KafkaError::Aborted {
                            op: "commit",
                            reason,
                        },
                        other => other,
                    });
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Aborts: nothing added becomes visible to `read_committed` readers.
    pub async fn abort(mut self) -> Result<(), KafkaError> {
        self.abort_now().await
    }

    async fn abort_now(&mut self) -> Result<(), KafkaError> {
        let p = self.producer.clone();
        let timeout = self.inner.timeout;
        let inner = self.inner.clone();
        blocking(&self.inner, "abort transaction", move || {
            p.abort_transaction(timeout)
        })
        .await
        // Refused aborts are not retried on this producer (see `begin`): rebuild it.
        .inspect_err(|_| inner.mark_rebuild())?;
        self.state.needs_abort = false;
        self.inner.set_txn_began(None);
        Ok(())
    }

    fn check(&self) -> Result<(), KafkaError> {
        self.inner.check_fenced()?;
        match &self.failed {
            Some(reason) => Err(KafkaError::Aborted {
                op: "add to transaction",
                reason: format!("an earlier step failed: {reason}"),
            }),
            None => Ok(()),
        }
    }

    fn poison(&mut self, e: KafkaError) -> KafkaError {
        self.failed = Some(e.to_string());
        e
    }
}
