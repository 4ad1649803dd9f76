//! librdkafka client configurations: trawl's defaults, then the user's properties.
//!
//! Every producer and consumer of the crate is made here so that the settings that make
//! exactly-once work (idempotence, `acks=all`, `read_committed`) are set in one place,
//! and so that user properties (security, tuning) apply everywhere alike.

use std::time::Duration;

use rdkafka::client::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, ConsumerContext};
use rdkafka::error::KafkaError as RdKafkaError;
use rdkafka::producer::FutureProducer;

use crate::config::KafkaSettings;
use crate::error::{classify, KafkaError};

/// librdkafka's default `message.timeout.ms`: how long a record may wait for a broker.
const DEFAULT_MESSAGE_TIMEOUT_MS: u64 = 300_000;

fn base(settings: &KafkaSettings) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &settings.brokers)
        .set("client.id", "trawl");
    c
}

fn apply_user(c: &mut ClientConfig, settings: &KafkaSettings, producer: bool) {
    for (k, v) in &settings.properties {
        // Producer tuning in a consumer (and back) only makes librdkafka warn; skip the
        // obvious ones so logs stay clean.
        let producer_only = k.starts_with("linger")
            || k.starts_with("queue.buffering")
            || k.starts_with("batch.")
            || k.starts_with("message.timeout")
            || k.starts_with("delivery.timeout")
            || k.starts_with("compression")
            || k.starts_with("transaction")
            || k.starts_with("acks");
        if producer || !producer_only {
            c.set(k, v);
        }
    }
}

/// An idempotent producer (`acks=all`), transactional when `transactional_id` is given.
pub(crate) fn producer_config(
    settings: &KafkaSettings,
    transactional_id: Option<&str>,
) -> ClientConfig {
    let mut c = base(settings);
    c.set("enable.idempotence", "true")
        .set("acks", "all")
        .set("max.in.flight.requests.per.connection", "5")
        .set("linger.ms", "5")
        // Bounded memory: at most this much waits in librdkafka's queue; beyond it the
        // producer waits for acknowledgements before queueing more.
        .set("queue.buffering.max.messages", "100000")
        .set("queue.buffering.max.kbytes", "65536");
    if let Some(id) = transactional_id {
        c.set("transactional.id", id);
    }
    apply_user(&mut c, settings, true);
    c
}

pub(crate) fn create_producer(
    settings: &KafkaSettings,
    transactional_id: Option<&str>,
) -> Result<FutureProducer, KafkaError> {
    producer_config(settings, transactional_id)
        .create()
        .map_err(|e| classify("create producer", &e, transactional_id.unwrap_or("")))
}

/// The context of trawl's readers: reaching the end of a partition is how a read-back
/// knows it is done, not an error, so it is not logged as one (librdkafka reports it
/// through the error callback, which the default context logs at ERROR).
pub(crate) struct ReaderContext;

impl ClientContext for ReaderContext {
    fn error(&self, error: RdKafkaError, reason: &str) {
        match error {
            RdKafkaError::PartitionEOF(_) => tracing::trace!(reason, "end of partition"),
            e => tracing::warn!(error = %e, reason, "kafka reader error"),
        }
    }
}

impl ConsumerContext for ReaderContext {}

/// A read-only consumer of trawl's own topics.
pub(crate) type Reader = BaseConsumer<ReaderContext>;

/// A consumer that only reads committed records and reports the end of each partition.
/// It never joins a group or commits offsets: callers assign partitions explicitly.
pub(crate) fn create_reader(settings: &KafkaSettings) -> Result<Reader, KafkaError> {
    let mut c = base(settings);
    c.set("group.id", "trawl-reader")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "true")
        .set("isolation.level", "read_committed")
        .set("auto.offset.reset", "earliest");
    apply_user(&mut c, settings, false);
    c.create_with_context(ReaderContext)
        .map_err(|e| classify("create consumer", &e, ""))
}

/// How long a record may wait for the broker before its send fails (the user's
/// `message.timeout.ms`/`delivery.timeout.ms`, else librdkafka's default of 5 minutes).
pub(crate) fn message_timeout(settings: &KafkaSettings) -> Duration {
    let ms = ["message.timeout.ms", "delivery.timeout.ms"]
        .iter()
        .find_map(|k| settings.properties.get(*k))
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_MESSAGE_TIMEOUT_MS);
    Duration::from_millis(ms)
}
