//! The supervisor's restart policy: how long it waits, and one `match` over how a
//! stream's loop ended ([`decide`]).

use std::time::Duration;

use trawl_kafka::KafkaError;
use trawl_sources::SourceError;

use crate::fetch::Exit;

/// How the supervisor restarts streams.
#[derive(Debug, Clone)]
pub struct RestartPolicy {
    /// First delay after a transient failure; doubles up to `max`.
    pub initial: Duration,
    pub max: Duration,
    /// Delay before retrying a stream that failed for a reason a person must fix.
    pub failed_retry: Duration,
    /// A fetcher with no progress for this long, outside a legitimate wait, is restarted.
    pub stall_timeout: Duration,
}

impl Default for RestartPolicy {
    fn default() -> Self {
        Self {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(300),
            failed_retry: Duration::from_secs(900),
            stall_timeout: Duration::from_secs(900),
        }
    }
}

/// What to do about a stream whose loop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Something that may pass (API or broker down, a stall): restart after a backoff.
    Restart,
    /// Something a person must fix (credentials, permissions, Kafka access, a corrupt
    /// checkpoint): state `failed`, retried every `failed_retry`.
    RetrySlowly,
    /// The API is not available to this account: state `disabled`, tried again every
    /// `disabled_recheck` (a plan can be bought; a 404 can be transient).
    Disable,
    /// Nothing but a restart of trawl can help, and retrying would do harm: another
    /// instance fenced this one's producer. State `failed`, never retried; every stream
    /// publishing through that producer stops with it.
    Stop,
}

pub fn decide(exit: &Exit) -> Decision {
    match exit {
        Exit::Source(SourceError::NotEnabled { .. }) => Decision::Disable,
        Exit::Source(SourceError::Permanent { .. }) => Decision::RetrySlowly,
        Exit::Source(_) => Decision::Restart,
        Exit::Kafka { error, .. } => match error {
            KafkaError::Fenced { .. } => Decision::Stop,
            KafkaError::Permanent { .. } | KafkaError::CorruptCheckpoint { .. } => {
                Decision::RetrySlowly
            }
            KafkaError::Retryable { .. }
            | KafkaError::Aborted { .. }
            | KafkaError::Fatal { .. }
            | KafkaError::Io { .. } => Decision::Restart,
        },
        Exit::LimiterGone
        | Exit::PublisherGone
        | Exit::RequestSlotsClosed
        | Exit::Stalled(_)
        | Exit::Vanished => Decision::Restart,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_exit_has_its_decision() {
        let kafka = |error| Exit::Kafka {
            during: "publishing to Kafka",
            error,
        };
        let fenced = kafka(KafkaError::Fenced {
            transactional_id: "trawl-1".into(),
            reason: "ProducerFenced".into(),
        });
        assert_eq!(decide(&fenced), Decision::Stop);
        let blip = kafka(KafkaError::Retryable {
            op: "produce",
            reason: "all brokers down".into(),
        });
        assert_eq!(decide(&blip), Decision::Restart);
        let acl = kafka(KafkaError::Permanent {
            op: "produce",
            reason: "topic authorization failed".into(),
        });
        assert_eq!(decide(&acl), Decision::RetrySlowly);
        let creds = Exit::Source(SourceError::permanent("tenant a: invalid client"));
        assert_eq!(decide(&creds), Decision::RetrySlowly);
        let phone = Exit::Source(SourceError::not_enabled("no Zoom Phone"));
        assert_eq!(decide(&phone), Decision::Disable);
        let down = Exit::Source(SourceError::retryable("HTTP 503"));
        assert_eq!(decide(&down), Decision::Restart);
        assert_eq!(
            decide(&Exit::Stalled(Duration::from_secs(900))),
            Decision::Restart
        );
        assert!(fenced.to_string().contains("trawl-1"), "{fenced}");
    }
}
