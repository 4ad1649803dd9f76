//! librdkafka client configurations: trawl's defaults, then the user's properties.
//!
//! Every producer and consumer of the crate is made here so that the settings that make
//! exactly-once work (idempotence, `acks=all`, `read_committed`) are set in one place,
//! and so that user properties (security, tuning) apply everywhere alike. Every client
//! gets a [`TrawlContext`] (logging, what the brokers said).

use std::time::Duration;

use rdkafka::client::{Client, ClientContext};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::BaseConsumer;
use rdkafka::error::{KafkaError as RdError, KafkaResult, RDKafkaErrorCode};
use rdkafka::producer::FutureProducer;

use crate::config::KafkaSettings;
pub(crate) use crate::context::{Heard, TrawlContext};
use crate::error::{classify, KafkaError};

/// trawl's producer type.
pub(crate) type Producer = FutureProducer<TrawlContext>;

/// librdkafka's default `message.timeout.ms`: how long a record may wait for a broker.
const DEFAULT_MESSAGE_TIMEOUT_MS: u64 = 300_000;

pub(crate) fn base(settings: &KafkaSettings) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &settings.brokers)
        .set("client.id", "trawl")
        // Brokers close idle connections (connections.max.idle.ms); that is not an error.
        .set("log.connection.close", "false");
    c
}

pub(crate) fn apply_user(c: &mut ClientConfig, settings: &KafkaSettings, producer: bool) {
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
        .set("queue.buffering.max.kbytes", "65536")
        // The producer also answers where a partition ends (`high_watermark`, before a
        // restart decides whether to read back). librdkafka asks that with the client's
        // isolation level, `read_committed` by default even for a producer, and then the
        // broker answers the last stable offset: with another producer's transaction
        // open, that lies before records committed since, and the read-back they need
        // would be skipped. The high watermark is the end that counts.
        .set("isolation.level", "read_uncommitted");
    if let Some(id) = transactional_id {
        c.set("transactional.id", id);
    }
    apply_user(&mut c, settings, true);
    c
}

/// A client creation result as trawl's error, with secret property values removed from
/// librdkafka's message (it may quote them).
pub(crate) fn created<T>(
    settings: &KafkaSettings,
    op: &'static str,
    r: KafkaResult<T>,
    transactional_id: &str,
) -> Result<T, KafkaError> {
    r.map_err(|e| classify(op, &e, transactional_id).map_reason(|t| settings.redact(t)))
}

/// A producer whose context reports what the brokers say to `heard`.
pub(crate) fn create_producer(
    settings: &KafkaSettings,
    transactional_id: Option<&str>,
    heard: &Heard,
) -> Result<Producer, KafkaError> {
    let r = producer_config(settings, transactional_id)
        .create_with_context(TrawlContext::new(settings, heard.clone()));
    created(
        settings,
        "create producer",
        r,
        transactional_id.unwrap_or(""),
    )
}

/// A read-only consumer of trawl's own topics: `records` reads committed records only
/// and reports the end of each partition; `ends` measures where partitions end. A
/// `read_committed` client's watermark query answers the last stable offset, which an
/// open transaction of any producer holds back (records committed after it began lie
/// beyond it), so the end is measured by a `read_uncommitted` client. Neither joins a
/// group or commits offsets: callers assign partitions explicitly.
pub(crate) struct Reader {
    pub(crate) records: BaseConsumer<TrawlContext>,
    pub(crate) ends: BaseConsumer<TrawlContext>,
}

pub(crate) fn create_reader(settings: &KafkaSettings) -> Result<(Reader, Heard), KafkaError> {
    let heard = Heard::default();
    let consumer = |isolation: &str, eof: &str| {
        let mut c = base(settings);
        c.set("group.id", "trawl-reader")
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("enable.partition.eof", eof)
            .set("isolation.level", isolation)
            .set("auto.offset.reset", "earliest");
        apply_user(&mut c, settings, false);
        let context = TrawlContext::new(settings, heard.clone());
        created(
            settings,
            "create consumer",
            c.create_with_context(context),
            "",
        )
    };
    let records = consumer("read_committed", "true")?;
    let ends = consumer("read_uncommitted", "false")?;
    Ok((Reader { records, ends }, heard))
}

/// librdkafka's default `transaction.timeout.ms`.
const DEFAULT_TRANSACTION_TIMEOUT_MS: u64 = 60_000;

/// How long a transaction may stay open before the broker aborts it (the user's
/// `transaction.timeout.ms`, else librdkafka's default of a minute).
pub(crate) fn transaction_timeout(settings: &KafkaSettings) -> Duration {
    let ms = settings
        .properties
        .get("transaction.timeout.ms")
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_TRANSACTION_TIMEOUT_MS);
    Duration::from_millis(ms)
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

/// `client`'s low and high watermarks of `topic`/`partition`, asked again for up to
/// `timeout` while the cluster has no leader for the partition yet (a topic created a
/// moment ago, a leader being elected). Blocking.
pub(crate) fn watermarks<C: ClientContext>(
    client: &Client<C>,
    topic: &str,
    partition: i32,
    timeout: Duration,
) -> KafkaResult<(i64, i64)> {
    let began = std::time::Instant::now();
    loop {
        match client.fetch_watermarks(topic, partition, timeout) {
            Err(RdError::MetadataFetch(
                RDKafkaErrorCode::NotLeaderForPartition
                | RDKafkaErrorCode::LeaderNotAvailable
                | RDKafkaErrorCode::UnknownTopicOrPartition,
            )) if began.elapsed() < timeout => std::thread::sleep(Duration::from_millis(100)),
            other => return other,
        }
    }
}
