//! One error type for everything Kafka, sorted by what the caller should do about it.
//!
//! librdkafka reports hundreds of codes; the engine only needs to know whether to wait
//! and retry (broker down, timeouts), redo a batch (transaction aborted), stop because
//! another instance took over (fenced), or give up on a misconfiguration. [`classify`]
//! makes that call in one place.

use std::path::PathBuf;

use rdkafka::error::{KafkaError as RdError, RDKafkaErrorCode as Code};

#[derive(Debug, thiserror::Error)]
pub enum KafkaError {
    /// Broker unreachable, request timed out, leader moving, local queue full: nothing
    /// is lost, but whether the records of the failed call reached the log is unknown.
    /// Read back from the last known position before producing them again.
    #[error("kafka {op} failed, try again later: {reason}")]
    Retryable { op: &'static str, reason: String },
    /// The transaction was aborted: none of its records or checkpoints is visible to a
    /// `read_committed` reader. Redo the whole batch.
    #[error("kafka transaction aborted during {op}: {reason}")]
    Aborted { op: &'static str, reason: String },
    /// Another instance started with the same `transactional.id` and fenced this one.
    /// This instance must stop publishing; retrying would fence the other in turn, so
    /// the producer is never rebuilt: every later call answers `Fenced` too.
    #[error("kafka producer fenced by a newer instance with transactional.id {transactional_id:?}: {reason}")]
    Fenced {
        transactional_id: String,
        reason: String,
    },
    /// The producer hit a fatal error (idempotence or transaction state lost). It is
    /// rebuilt on the next call; the outcome of the failed call is unknown (read back).
    #[error("kafka producer failed fatally during {op} (rebuilt on next use): {reason}")]
    Fatal { op: &'static str, reason: String },
    /// Retrying cannot help: bad configuration, authentication or authorization
    /// failure, unknown topic, record too large.
    #[error("kafka {op} refused: {reason}")]
    Permanent { op: &'static str, reason: String },
    /// A stored checkpoint does not parse.
    #[error("checkpoint {key:?} is unreadable: {reason}")]
    CorruptCheckpoint { key: String, reason: String },
    /// The file checkpoint store could not read or write.
    #[error("checkpoint file {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl KafkaError {
    /// Whether calling again later (after reading back) can succeed. True for
    /// retryable, aborted, fatal (the producer is rebuilt) and I/O errors.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            KafkaError::Retryable { .. }
                | KafkaError::Aborted { .. }
                | KafkaError::Fatal { .. }
                | KafkaError::Io { .. }
        )
    }

    /// Whether another instance took over this producer's `transactional.id`.
    pub fn is_fenced(&self) -> bool {
        matches!(self, KafkaError::Fenced { .. })
    }

    /// The same error with its reason passed through `f` (redacting secret values).
    pub(crate) fn map_reason(self, f: impl Fn(&str) -> String) -> Self {
        use KafkaError::*;
        match self {
            Retryable { op, reason } => Retryable {
                op,
                reason: f(&reason),
            },
            Aborted { op, reason } => Aborted {
                op,
                reason: f(&reason),
            },
            Fenced {
                transactional_id,
                reason,
            } => Fenced {
                transactional_id,
                reason: f(&reason),
            },
            Fatal { op, reason } => Fatal {
                op,
                reason: f(&reason),
            },
            Permanent { op, reason } => Permanent {
                op,
                reason: f(&reason),
            },
            CorruptCheckpoint { key, reason } => CorruptCheckpoint {
                key,
                reason: f(&reason),
            },
            io @ Io { .. } => io,
        }
    }

    pub(crate) fn retryable(op: &'static str, reason: impl Into<String>) -> Self {
        KafkaError::Retryable {
            op,
            reason: reason.into(),
        }
    }

    pub(crate) fn permanent(op: &'static str, reason: impl Into<String>) -> Self {
        KafkaError::Permanent {
            op,
            reason: reason.into(),
        }
    }
}

/// Codes meaning a newer producer with the same transactional.id exists. (Not
/// `TransactionCoordinatorFenced`: that is a coordinator moving, and retriable.)
pub(crate) fn is_fencing(code: Code) -> bool {
    matches!(
        code,
        Code::Fenced | Code::ProducerFenced | Code::InvalidProducerEpoch
    )
}

/// Codes that no retry can fix.
fn is_permanent(code: Code) -> bool {
    matches!(
        code,
        Code::MessageSizeTooLarge
            | Code::InvalidMessageSize
            | Code::UnknownTopic
            | Code::TopicAuthorizationFailed
            | Code::ClusterAuthorizationFailed
            | Code::TransactionalIdAuthorizationFailed
            | Code::GroupAuthorizationFailed
            | Code::Authentication
            | Code::SaslAuthenticationFailed
            | Code::InvalidArgument
            | Code::InvalidConfig
            | Code::InvalidTransactionTimeout
            | Code::UnsupportedVersion
            | Code::UnsupportedFeature
            | Code::InvalidReplicationFactor
            | Code::InvalidPartitions
            | Code::InvalidTopic
            | Code::PolicyViolation
            | Code::UnsupportedCompressionType
    )
}

/// Codes after which an idempotent or transactional producer is unusable.
fn is_fatal(code: Code) -> bool {
    matches!(
        code,
        Code::Fatal | Code::OutOfOrderSequenceNumber | Code::UnknownProducerId
    )
}

/// What an rdkafka error says, without the property value a configuration error quotes
/// (it may be a password).
pub(crate) fn describe(e: &RdError) -> String {
    match e {
        RdError::ClientConfig(_, desc, key, value) => {
            let desc = if value.is_empty() {
                desc.clone()
            } else {
                desc.replace(value.as_str(), "[value not shown]")
            };
            format!("invalid client configuration (property {key:?}): {desc}")
        }
        other => other.to_string(),
    }
}

/// Sorts an rdkafka error. `transactional_id` names the producer in a fencing error.
pub(crate) fn classify(op: &'static str, e: &RdError, transactional_id: &str) -> KafkaError {
    let reason = describe(e);
    let fenced = || KafkaError::Fenced {
        transactional_id: transactional_id.to_string(),
        reason: reason.clone(),
    };
    match e {
        RdError::Transaction(t) => {
            if is_fencing(t.code()) {
                fenced()
            } else if t.is_fatal() {
                KafkaError::Fatal { op, reason }
            } else if t.txn_requires_abort() {
                KafkaError::Aborted { op, reason }
            } else if t.is_retriable() || !is_permanent(t.code()) {
                KafkaError::Retryable { op, reason }
            } else {
                KafkaError::Permanent { op, reason }
            }
        }
        RdError::ClientConfig(..) | RdError::ClientCreation(_) | RdError::Nul(_) => {
            KafkaError::Permanent { op, reason }
        }
        other => match other.rdkafka_error_code() {
            Some(code) => classify_code(op, code, reason, transactional_id),
            None => KafkaError::Retryable { op, reason },
        },
    }
}

/// Sorts a bare error code (admin results, delivery reports).
pub(crate) fn classify_code(
    op: &'static str,
    code: Code,
    reason: String,
    transactional_id: &str,
) -> KafkaError {
    if is_fencing(code) && !transactional_id.is_empty() {
        KafkaError::Fenced {
            transactional_id: transactional_id.to_string(),
            reason,
        }
    } else if is_fatal(code) || is_fencing(code) {
        KafkaError::Fatal { op, reason }
    } else if is_permanent(code) {
        KafkaError::Permanent { op, reason }
    } else {
        KafkaError::Retryable { op, reason }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_outages_as_retryable_and_misconfiguration_as_permanent() {
        let down = RdError::MessageProduction(Code::MessageTimedOut);
        assert!(classify("produce", &down, "").is_retryable());
        let all_down = RdError::MetadataFetch(Code::AllBrokersDown);
        assert!(classify("metadata", &all_down, "").is_retryable());
        let big = RdError::MessageProduction(Code::MessageSizeTooLarge);
        let e = classify("produce", &big, "");
        assert!(!e.is_retryable() && matches!(e, KafkaError::Permanent { .. }));
        let fatal = RdError::MessageProduction(Code::Fatal);
        assert!(matches!(
            classify("produce", &fatal, ""),
            KafkaError::Fatal { .. }
        ));
        let fenced = RdError::MessageProduction(Code::ProducerFenced);
        let e = classify("produce", &fenced, "trawl-1");
        assert!(e.is_fenced() && !e.is_retryable());
        assert!(e.to_string().contains("trawl-1"));
        // A coordinator that moved is not this producer being fenced.
        let moved = RdError::MessageProduction(Code::TransactionCoordinatorFenced);
        assert!(classify("produce", &moved, "trawl-1").is_retryable());
    }

    #[test]
    fn configuration_errors_do_not_quote_the_value() {
        let e = RdError::ClientConfig(
            rdkafka::types::RDKafkaConfRes::RD_KAFKA_CONF_INVALID,
            "Invalid value \"pw-hunter2\" for configuration property \"sasl.password\"".into(),
            "sasl.password".into(),
            "pw-hunter2".into(),
        );
        let k = classify("create producer", &e, "");
        let text = k.to_string();
        assert!(!text.contains("pw-hunter2"), "{text}");
        assert!(text.contains("sasl.password"), "{text}");
        assert!(matches!(k, KafkaError::Permanent { .. }));
    }
}
