//! What happens in the publisher: engine-wide, not per stream.

use super::InternalEvent;
use crate::metrics::Metrics;

/// A Kafka transaction (one batch of writes) ended.
pub struct TransactionEnded {
    pub committed: bool,
}

impl InternalEvent<Metrics> for TransactionEnded {
    fn emit(self, metrics: &Metrics) {
        let result = if self.committed {
            "committed"
        } else {
            "aborted"
        };
        metrics.transactions.with_label_values(&[result]).inc();
    }
}

/// A publish failed (its stream restarts from its checkpoint).
pub struct PublishFailed;

impl InternalEvent<Metrics> for PublishFailed {
    fn emit(self, metrics: &Metrics) {
        metrics.kafka_delivery_errors.inc();
    }
}
