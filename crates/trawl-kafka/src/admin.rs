//! Creating trawl's topics when they are missing.
//!
//! Some brokers (tansu among them) don't create topics on first use, and a compacted
//! checkpoint topic must be created as such anyway. Creating a topic that exists is not
//! an error. Unless `kafka.replication` says otherwise, topics get the broker's default
//! replication factor: managed clusters know what they need (Confluent Cloud refuses 1).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::config::ClientConfig;
use rdkafka::producer::Producer as _;
use rdkafka::types::RDKafkaErrorCode;
use trawl_model::StreamKey;

use crate::client::{create_producer, created, Heard, Producer, TrawlContext};
use crate::config::KafkaSettings;
use crate::error::{classify, classify_code, KafkaError};

/// Creates, when missing, the event topics of `streams` (via the topic template), the
/// checkpoint topic (when `checkpoint_topic` is set; `cleanup.policy=compact`) and the
/// dead-letter topic, each with `partitions` partitions and `replication` replicas.
/// Returns the names of the topics it created.
pub async fn ensure_topics(
    settings: &KafkaSettings,
    streams: &[StreamKey],
) -> Result<Vec<String>, KafkaError> {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", &settings.brokers)
        // Looking topics up must not create them with the broker's defaults.
        .set("allow.auto.create.topics", "false");
    for (k, v) in &settings.properties {
        if !is_client_specific(k) {
            config.set(k, v);
        }
    }
    let heard = Heard::default();
    let admin: AdminClient<TrawlContext> = created(
        settings,
        "create admin client",
        config.create_with_context(TrawlContext::new(settings, heard.clone())),
        "",
    )?;
    // Topics are listed through a producer: unlike the admin client it polls its
    // events, so its context hears a refused login (and the error can say so).
    let lister = Arc::new(create_producer(settings, None, &heard)?);
    ensure(settings, streams, &admin, &lister)
        .await
        .map_err(|e| heard.explain(e))
}

async fn ensure(
    settings: &KafkaSettings,
    streams: &[StreamKey],
    admin: &AdminClient<TrawlContext>,
    lister: &Arc<Producer>,
) -> Result<Vec<String>, KafkaError> {
    let mut wanted: BTreeSet<String> = streams.iter().map(|s| settings.topic_for(s)).collect();
    if let Some(cp) = &settings.checkpoint_topic {
        wanted.insert(cp.clone());
    }
    wanted.insert(settings.dead_letter_topic.clone());
    // Only ask for what is missing: brokers without CreateTopics (librdkafka's mock
    // cluster) or ACLs without Create are fine as long as the topics exist.
    let existing = existing_topics(lister).await?;
    let missing: Vec<&String> = wanted.iter().filter(|t| !existing.contains(*t)).collect();
    if missing.is_empty() {
        return Ok(Vec::new());
    }
    // -1: the broker's default.replication.factor (CreateTopics v4+, Kafka 2.4+).
    let replicas = settings.replication.map_or(-1, i32::from);
    let replication = || TopicReplication::Fixed(replicas);
    let topics: Vec<NewTopic<'_>> = missing
        .iter()
        .map(|t| {
            let topic = NewTopic::new(t, settings.partitions, replication());
            if Some(t.as_str()) == settings.checkpoint_topic.as_deref() {
                topic.set("cleanup.policy", "compact")
            } else {
                topic
            }
        })
        .collect();
    let opts = AdminOptions::new()
        .operation_timeout(Some(Duration::from_secs(30)))
        .request_timeout(Some(Duration::from_secs(30)));
    let results = admin
        .create_topics(topics.iter(), &opts)
        .await
        .map_err(|e| classify("create topics", &e, ""))?;
    let mut created = Vec::new();
    for r in results {
        match r {
            Ok(name) => created.push(name),
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => {
                return Err(classify_code(
                    "create topics",
                    code,
                    format!("topic {name}: {code}"),
                    "",
                ));
            }
        }
    }
    if !created.is_empty() {
        wait_until_listed(lister, &created).await?;
        tracing::info!(topics = ?created, "created Kafka topics");
    }
    Ok(created)
}

/// How long a created topic may take to show up in the brokers' metadata.
const PROPAGATION: Duration = Duration::from_secs(30);

/// Waits until the brokers list every topic of `names` with its partitions. A KRaft
/// controller answers CreateTopics once the topic is committed; the brokers learn it a
/// moment later, and until then a metadata lookup says "unknown topic" (which trawl
/// takes for a misconfiguration).
async fn wait_until_listed(lister: &Arc<Producer>, names: &[String]) -> Result<(), KafkaError> {
    let deadline = tokio::time::Instant::now() + PROPAGATION;
    loop {
        let listed = existing_topics(lister).await?;
        if names.iter().all(|n| listed.contains(n)) {
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            return Err(KafkaError::retryable(
                "create topics",
                format!(
                    "created topics {names:?} not in the cluster's metadata after {PROPAGATION:?}"
                ),
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The names of the topics the cluster has.
async fn existing_topics(lister: &Arc<Producer>) -> Result<BTreeSet<String>, KafkaError> {
    let lister = lister.clone();
    let md = tokio::task::spawn_blocking(move || {
        lister
            .client()
            .fetch_metadata(None, Duration::from_secs(30))
    })
    .await
    .map_err(|e| KafkaError::retryable("list topics", e.to_string()))?
    .map_err(|e| classify("list topics", &e, ""))?;
    Ok(md
        .topics()
        .iter()
        .filter(|t| t.error().is_none() && !t.partitions().is_empty())
        .map(|t| t.name().to_string())
        .collect())
}

/// Producer or consumer properties that an admin client would only warn about.
fn is_client_specific(k: &str) -> bool {
    [
        "linger",
        "queue.buffering",
        "batch.",
        "message.timeout",
        "delivery.timeout",
        "compression",
        "transaction",
        "acks",
        "enable.idempotence",
        "isolation.level",
        "group.",
        "auto.offset",
        "enable.auto",
    ]
    .iter()
    .any(|p| k.starts_with(p))
}
