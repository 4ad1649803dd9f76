//! How a stream's loop ended, keeping the library error, so the supervisor's restart
//! policy can decide in one `match` (`supervisor::policy`): a fenced producer is a stop,
//! a broker blip a restart, wrong credentials a slow retry, a missing API "disabled".

use std::fmt;
use std::time::Duration;

use trawl_kafka::KafkaError;
use trawl_sources::SourceError;

use crate::limiter::LimiterGone;
use crate::publisher::PublishError;

#[derive(Debug)]
pub enum Exit {
    /// The API failed or refused: retryable after too many tries, permanent (credentials,
    /// permissions), or not enabled for the account.
    Source(SourceError),
    /// Kafka failed while the stream was `during` something.
    Kafka {
        during: &'static str,
        error: KafkaError,
    },
    /// The stream's rate limiter stopped.
    LimiterGone,
    /// The publisher actor stopped.
    PublisherGone,
    /// The process-wide request slots were closed (the engine is stopping).
    RequestSlotsClosed,
    /// No progress outside a legitimate wait for this long (the supervisor's heartbeat).
    Stalled(Duration),
    /// The fetcher stopped without reporting (the supervisor's heartbeat).
    Vanished,
}

impl Exit {
    /// Kafka failed `during` something (or the publisher is gone).
    pub fn publishing(during: &'static str) -> impl FnOnce(PublishError) -> Exit {
        move |e| match e {
            PublishError::Kafka(error) => Exit::Kafka { during, error },
            PublishError::Gone => Exit::PublisherGone,
        }
    }

    /// Kafka failed `during` something.
    pub fn kafka(during: &'static str) -> impl FnOnce(KafkaError) -> Exit {
        move |error| Exit::Kafka { during, error }
    }
}

impl From<LimiterGone> for Exit {
    fn from(_: LimiterGone) -> Self {
        Exit::LimiterGone
    }
}

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Exit::Source(e) => write!(f, "{e}"),
            Exit::Kafka { during, error } => write!(f, "{during} failed: {error}"),
            Exit::LimiterGone => f.write_str("rate limiter stopped"),
            Exit::PublisherGone => f.write_str("publisher unavailable"),
            Exit::RequestSlotsClosed => f.write_str("engine stopping: request slots closed"),
            Exit::Stalled(d) => write!(f, "no progress for {d:?}"),
            Exit::Vanished => f.write_str("fetcher stopped without reporting"),
        }
    }
}
