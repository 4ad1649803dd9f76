//! `[kafka]`: brokers, topic names, transactions, topic creation and extra properties.
//!
//! Topic names are checked the way Kafka checks them (legal characters, at most 249
//! bytes, not `.` or `..`), for the literal checkpoint and dead-letter topics here and for
//! every expanded event topic once the tenants are known ([`check_event_topics`]).
//! `[kafka.properties]` values may be secret references (then redacted like every
//! secret-named property); each property is checked by librdkafka itself, so an unknown
//! name or a bad value is refused here with its path; the properties that trawl sets
//! itself for exactly-once delivery cannot be overridden there. Transactions need the
//! checkpoints in Kafka: `transactional = true` with the file store is refused.

use figment::value::{Dict, Value};
use secrecy::ExposeSecret;
use trawl_engine::config::TenantSpec;
use trawl_kafka::{
    check_property, is_secret_property, KafkaSettings, TopicTemplate, DEFAULT_CHECKPOINT_TOPIC,
    DEFAULT_DEAD_LETTER_TOPIC,
};

use super::error::Problems;
use super::fields::{join, kind, or, real, whole, Table};
use super::secrets;

pub(crate) const KAFKA_KEYS: &[&str] = &[
    "brokers",
    "topic",
    "checkpoint_topic",
    "dead_letter_topic",
    "transactional",
    "transactional_id",
    "partitions",
    "replication",
    "create_topics",
    "properties",
];

/// Kafka's own limit on a topic name's length.
const MAX_TOPIC_LEN: usize = 249;

/// librdkafka properties that trawl owns, and what to set instead.
const RESERVED: &[(&str, &str)] = &[
    ("bootstrap.servers", "set kafka.brokers instead"),
    ("transactional.id", "set kafka.transactional_id instead"),
    (
        "enable.idempotence",
        "trawl always uses the idempotent producer (exactly-once delivery); remove it",
    ),
];

/// Why a literal topic name is not one Kafka accepts.
pub(crate) fn topic_name_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        Some("a topic name must not be empty".into())
    } else if name.len() > MAX_TOPIC_LEN {
        Some(format!(
            "topic name {name:?} is longer than {MAX_TOPIC_LEN} characters"
        ))
    } else if name == "." || name == ".." {
        Some(format!("{name:?} is not a valid topic name"))
    } else if name.contains(['{', '}']) {
        Some(format!(
            "{name:?}: this is one topic for all streams, placeholders such as {{tenant}} \
             are not allowed here"
        ))
    } else if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        Some(format!(
            "topic name {name:?} may only hold ASCII letters, digits, '.', '_' and '-'"
        ))
    } else {
        None
    }
}

/// This machine's name, for the default `transactional.id` (`trawl-<hostname>`).
fn hostname() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .chain(std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .find(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

/// In a cluster the default `transactional_id` prefix is the group's (`trawl-<group>`),
/// not the host's: a member's ids are `<prefix>-<partition>`, so the member that takes a
/// partition over uses its predecessor's id, fences it and ends its open transaction. With
/// a prefix per host (pods each have their own name) nothing would fence the old owner.
pub(crate) fn cluster_transactional_id(k: &mut KafkaSettings, tree: &Dict, group: &str) {
    let explicit = tree
        .get("kafka")
        .and_then(|v| v.as_dict())
        .is_some_and(|d| d.contains_key("transactional_id"));
    if !explicit {
        k.transactional_id = format!("trawl-{group}");
    }
}

/// Reads `[kafka]`. `checkpoints_in_kafka` is false for the file checkpoint store, which
/// needs no checkpoint topic.
pub(crate) fn kafka(
    t: Option<Table<'_>>,
    checkpoints_in_kafka: bool,
    p: &mut Problems,
) -> KafkaSettings {
    let mut k = KafkaSettings::new(String::new());
    k.transactional_id = format!("trawl-{}", hostname());
    if !checkpoints_in_kafka {
        k.checkpoint_topic = None;
    }
    let Some(t) = t else {
        p.error(
            "kafka.brokers",
            "is required, e.g. \"kafka-1:9092,kafka-2:9092\"",
        );
        return k;
    };

    match t.string("brokers", p) {
        Ok(Some(b))
            if b.split(',')
                .any(|h| h.trim().is_empty() || h.trim().contains(' ')) =>
        {
            p.error(
                t.at("brokers"),
                format!("{b:?} is not a comma-separated list of host:port"),
            );
        }
        Ok(Some(b)) => k.brokers = b,
        Ok(None) => {
            p.error(
                t.at("brokers"),
                "is required, e.g. \"kafka-1:9092,kafka-2:9092\"",
            );
        }
        Err(_) => {}
    }

    if let Ok(Some(s)) = t.string("topic", p) {
        match TopicTemplate::new(s) {
            Ok(tpl) => {
                if !tpl.as_str().contains("{source}") {
                    p.warn(
                        t.at("topic"),
                        "has no {source}: events of different sources share a topic",
                    );
                }
                k.topic = tpl;
            }
            Err(e) => {
                p.error(t.at("topic"), e.to_string());
            }
        }
    }

    let literal = |key: &str, default: &str, p: &mut Problems| -> String {
        match t.string(key, p) {
            Ok(Some(name)) => match topic_name_problem(&name) {
                None => name,
                Some(reason) => {
                    p.error(t.at(key), reason);
                    default.to_string()
                }
            },
            _ => default.to_string(),
        }
    };
    let checkpoint_topic = literal("checkpoint_topic", DEFAULT_CHECKPOINT_TOPIC, p);
    if checkpoints_in_kafka {
        k.checkpoint_topic = Some(checkpoint_topic);
    } else if t.raw("checkpoint_topic").is_some() {
        p.warn(
            t.at("checkpoint_topic"),
            "has no effect: checkpoints.store is \"file\"",
        );
    }
    k.dead_letter_topic = literal("dead_letter_topic", DEFAULT_DEAD_LETTER_TOPIC, p);

    k.transactional = or(t.bool("transactional", p), k.transactional);
    k.transactional_id = or(t.string("transactional_id", p), k.transactional_id);
    if k.transactional && !checkpoints_in_kafka {
        p.error(
            t.at("transactional"),
            "needs checkpoints.store = \"kafka\": a transaction writes the checkpoints to the \
             checkpoint topic together with the events (so a new owner of the transactional.id \
             finds them); with the file store nothing would be saved and a restart would \
             forget every stream. Use the Kafka store, or transactional = false (the read-back \
             keeps delivery exactly-once without transactions)",
        );
    }

    if let Ok(Some(n)) = t.int("partitions", p) {
        match i32::try_from(n) {
            Ok(n) if n >= 1 => k.partitions = n,
            _ => {
                p.error(
                    t.at("partitions"),
                    format!("{n} is not between 1 and {}", i32::MAX),
                );
            }
        }
    }
    if let Ok(Some(n)) = t.int("replication", p) {
        match i16::try_from(n) {
            Ok(n) if n >= 1 => k.replication = Some(n),
            _ => {
                p.error(
                    t.at("replication"),
                    format!("{n} is not between 1 and {}", i16::MAX),
                );
            }
        }
    }

    k.create_topics = or(t.bool("create_topics", p), k.create_topics);

    if let Some(props) = t.raw("properties") {
        let path = t.at("properties");
        match props {
            Value::Dict(_, dict) => properties(dict, &path, "", &mut k, p),
            other => {
                p.error(path, format!("expected a table, found {}", kind(other)));
            }
        }
    }
    k
}

/// A table that is a secret reference rather than a group of dotted property keys.
fn is_secret_ref(v: &Value) -> bool {
    matches!(v, Value::Dict(_, d) if !d.is_empty() && d.keys().all(|k| k == "env" || k == "file"))
}

/// Flattens `[kafka.properties]` (dotted keys may arrive nested, from TOML's bare dotted
/// keys or from `TRAWL_KAFKA__PROPERTIES__...`) into librdkafka's `key = value` strings,
/// each checked by librdkafka; secret references are remembered as secret properties.
fn properties(dict: &Dict, path: &str, prefix: &str, k: &mut KafkaSettings, p: &mut Problems) {
    for (key, value) in dict {
        let name = format!("{prefix}{key}");
        let at = join(path, &name);
        if let Some((_, instead)) = RESERVED.iter().find(|(r, _)| *r == name) {
            p.error(at, format!("is set by trawl; {instead}"));
            continue;
        }
        let secret_key = is_secret_property(&name);
        let mut secret = secret_key;
        let text = match value {
            v if is_secret_ref(v) || (secret_key && matches!(v, Value::String(..))) => {
                secret = true;
                match secrets::resolve(v, at.clone(), p) {
                    Ok(s) => s.expose_secret().to_string(),
                    Err(_) => continue,
                }
            }
            Value::Dict(_, nested) => {
                properties(nested, path, &format!("{name}."), k, p);
                continue;
            }
            Value::String(_, s) => s.clone(),
            Value::Char(_, c) => c.to_string(),
            Value::Bool(_, b) => b.to_string(),
            Value::Num(_, n) => whole(n).map_or_else(|| real(n).to_string(), |i| i.to_string()),
            other => {
                p.error(
                    at,
                    format!(
                        "expected a string, number, boolean or secret reference, found {}",
                        kind(other)
                    ),
                );
                continue;
            }
        };
        if let Err(problem) = check_property(&name, &text, secret) {
            p.error(at, problem.to_string());
            continue;
        }
        if secret {
            k.secret_properties.insert(name.clone());
        }
        k.properties.insert(name, text);
    }
}

/// Checks every event topic the tenants' streams expand to: a legal name, and not the
/// checkpoint or dead-letter topic (the checkpoint topic is compacted: events there would
/// be lost to compaction).
pub(crate) fn check_event_topics(k: &KafkaSettings, tenants: &[TenantSpec], p: &mut Problems) {
    let mut seen = std::collections::BTreeSet::new();
    for key in tenants.iter().flat_map(TenantSpec::stream_keys) {
        let topic = k.topic_for(&key);
        if !seen.insert(topic.clone()) {
            continue;
        }
        let reason = topic_name_problem(&topic).or_else(|| {
            let clash = [
                k.checkpoint_topic.as_deref(),
                Some(k.dead_letter_topic.as_str()),
            ];
            clash
                .contains(&Some(topic.as_str()))
                .then(|| format!("{topic:?} is also the checkpoint or dead-letter topic"))
        });
        if let Some(reason) = reason {
            p.error("kafka.topic", format!("for stream {key}: {reason}"));
        }
    }
}
