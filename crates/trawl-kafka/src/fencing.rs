//! Fencing is a stop: when another instance takes this producer's `transactional.id`
//! over, the producer answers [`KafkaError::Fenced`] to every later call and is never
//! rebuilt (a rebuild would call `init_transactions` and fence the new owner in turn).
//!
//! Fencing shows in several forms: `ProducerFenced`/`InvalidProducerEpoch` answers, or a
//! generic fatal error whose recorded cause (librdkafka's `fatal_error`) is fencing. One
//! look-alike is not fencing: the broker aborts a transaction open longer than
//! `transaction.timeout.ms` (a broker frozen or unreachable that long) and bumps the
//! epoch, which librdkafka reports in the same words; then the producer is rebuilt.

use std::time::{Duration, Instant};

use rdkafka::producer::Producer as _;

use crate::error::{classify, KafkaError};
use crate::producer::{txn_id, Inner};

impl Inner {
    /// How long the open transaction has been open.
    fn txn_age(&self) -> Option<Duration> {
        self.txn_began
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .map(|t| t.elapsed())
    }

    /// Records that a transaction began (`Some(now)`) or ended (`None`).
    pub(crate) fn set_txn_began(&self, at: Option<Instant>) {
        *self.txn_began.lock().unwrap_or_else(|p| p.into_inner()) = at;
    }

    /// `Fenced` once this producer was fenced.
    pub(crate) fn check_fenced(&self) -> Result<(), KafkaError> {
        match self.fenced.get() {
            Some(reason) => Err(KafkaError::Fenced {
                transactional_id: self.settings.transactional_id.clone(),
                reason: reason.clone(),
            }),
            None => Ok(()),
        }
    }

    /// Classifies an rdkafka error; remembers to rebuild after a fatal one, and that the
    /// producer is fenced after a fencing one. A transactional producer's fencing often
    /// surfaces as a generic fatal error (`_FATAL`, a purged message, an abortable state
    /// error): librdkafka's recorded fatal error tells the cause.
    pub(crate) fn fail(&self, op: &'static str, e: &rdkafka::error::KafkaError) -> KafkaError {
        let id = txn_id(&self.settings).unwrap_or("");
        let mut k = classify(op, e, id);
        if !id.is_empty() && !k.is_fenced() {
            if let Some((code, reason)) = self.current().client().fatal_error() {
                if crate::error::is_fencing(code) {
                    k = KafkaError::Fenced {
                        transactional_id: id.to_string(),
                        reason: format!("{reason} (during {op})"),
                    };
                }
            }
        }
        // The broker aborts a transaction open longer than its timeout (a broker frozen
        // or unreachable that long) and bumps the producer epoch; librdkafka reports that
        // exactly like a takeover. Then no other instance is there: rebuild, don't stop.
        if let KafkaError::Fenced { reason, .. } = &k {
            let age = self.txn_age();
            if age.is_some_and(|a| a >= self.txn_timeout) {
                let age = age.unwrap_or_default();
                tracing::warn!(open_for = ?age, timeout = ?self.txn_timeout, %reason,
                    "the Kafka transaction outlived transaction.timeout.ms and the broker aborted it; \
                     rebuilding the producer");
                k = KafkaError::Fatal {
                    op,
                    reason: format!(
                        "transaction open for {age:?}, longer than transaction.timeout.ms \
                         ({:?}), aborted by the broker: {reason}",
                        self.txn_timeout
                    ),
                };
            }
        }
        match &k {
            KafkaError::Fenced { reason, .. } if self.fenced.set(reason.clone()).is_ok() => {
                tracing::error!(transactional_id = id, %reason,
                    "Kafka producer fenced: another instance took over this transactional.id; \
                     this process publishes nothing more");
            }
            KafkaError::Fatal { .. } => self.mark_rebuild(),
            _ => {}
        }
        self.heard.explain(k)
    }
}
