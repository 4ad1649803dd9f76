//! Typed Kafka settings, as the `[kafka]` section of trawl's config parses into them.
//!
//! The config crate does the TOML/env parsing and secret resolution; this module only
//! holds the result and the few rules that belong to Kafka itself: how a stream's topic
//! name is derived from the `{tenant}`/`{source}` template, and which librdkafka
//! properties must never appear in logs, errors or Debug output ([`KafkaSettings::redact`]).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use trawl_model::StreamKey;

/// Default event topic template.
pub const DEFAULT_TOPIC: &str = "audit.{source}";
/// Default compacted checkpoint topic.
pub const DEFAULT_CHECKPOINT_TOPIC: &str = "trawl.checkpoints";
/// Default dead-letter topic.
pub const DEFAULT_DEAD_LETTER_TOPIC: &str = "trawl.dead_letter";

/// Why a topic template was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("topic template must not be empty")]
    Empty,
    #[error(
        "topic template {0:?} has an unknown placeholder {1:?}; expected {{tenant}} or {{source}}"
    )]
    UnknownPlaceholder(String, String),
    #[error("topic template {0:?} has an unclosed '{{'")]
    Unclosed(String),
    #[error(
        "topic template {0:?} may only hold ASCII letters, digits, '.', '_', '-' and placeholders"
    )]
    BadChar(String),
}

/// An event topic name with `{tenant}` and `{source}` placeholders, e.g. `audit.{source}`
/// or `audit.{tenant}.{source}`. Tenant ids and source names are already restricted to
/// `[A-Za-z0-9._-]`, so every expansion is a legal Kafka topic name (up to its length).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct TopicTemplate(String);

impl TopicTemplate {
    pub fn new(s: impl Into<String>) -> Result<Self, TemplateError> {
        let s = s.into();
        if s.is_empty() {
            return Err(TemplateError::Empty);
        }
        let mut rest = s.as_str();
        while let Some(i) = rest.find(|c: char| !(c.is_ascii_alphanumeric() || ".-_".contains(c))) {
            if !rest[i..].starts_with('{') {
                return Err(TemplateError::BadChar(s.clone()));
            }
            let close = rest[i..]
                .find('}')
                .ok_or_else(|| TemplateError::Unclosed(s.clone()))?;
            let name = &rest[i + 1..i + close];
            if name != "tenant" && name != "source" {
                return Err(TemplateError::UnknownPlaceholder(
                    s.clone(),
                    name.to_string(),
                ));
            }
            rest = &rest[i + close + 1..];
        }
        Ok(Self(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The topic of one stream.
    pub fn topic_for(&self, stream: &StreamKey) -> String {
        self.0
            .replace("{tenant}", stream.tenant.as_str())
            .replace("{source}", stream.source.as_str())
    }

    /// Whether different tenants share a topic (the template has no `{tenant}`).
    pub fn is_shared_by_tenants(&self) -> bool {
        !self.0.contains("{tenant}")
    }
}

impl Default for TopicTemplate {
    fn default() -> Self {
        Self(DEFAULT_TOPIC.to_string())
    }
}

impl std::str::FromStr for TopicTemplate {
    type Err = TemplateError;
    fn from_str(s: &str) -> Result<Self, TemplateError> {
        Self::new(s)
    }
}

impl fmt::Display for TopicTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for TopicTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TopicTemplate({:?})", self.0)
    }
}

/// Everything trawl needs to talk to Kafka.
#[derive(Clone)]
pub struct KafkaSettings {
    /// `bootstrap.servers`, e.g. `"localhost:9092"`.
    pub brokers: String,
    pub topic: TopicTemplate,
    /// `None` when checkpoints live in files: no checkpoint topic is created then.
    pub checkpoint_topic: Option<String>,
    pub dead_letter_topic: String,
    /// Events and checkpoints in one Kafka transaction (brokers that support them).
    pub transactional: bool,
    /// `transactional.id`; only used when `transactional`.
    pub transactional_id: String,
    /// Partitions of topics that `ensure_topics` creates.
    pub partitions: i32,
    /// Replication factor of topics that `ensure_topics` creates; `None`: the broker's
    /// `default.replication.factor` (Confluent Cloud refuses 1; MSK takes 1 for a
    /// single-replica checkpoint topic without a word).
    pub replication: Option<i16>,
    /// Create missing topics at start (off where the app may not create topics, or the
    /// broker has no CreateTopics, like librdkafka's mock cluster).
    pub create_topics: bool,
    /// Extra librdkafka properties (`security.protocol`, `sasl.*`, ...), applied last so
    /// they override trawl's own defaults. Values of secret properties never print.
    pub properties: BTreeMap<String, String>,
    /// Properties whose value came from a secret reference (`{ env = .. }`, `{ file = .. }`),
    /// redacted like the secret-named ones whatever their name.
    pub secret_properties: BTreeSet<String>,
}

impl KafkaSettings {
    /// Settings with the documented defaults for everything but the broker list.
    pub fn new(brokers: impl Into<String>) -> Self {
        Self {
            brokers: brokers.into(),
            topic: TopicTemplate::default(),
            checkpoint_topic: Some(DEFAULT_CHECKPOINT_TOPIC.to_string()),
            dead_letter_topic: DEFAULT_DEAD_LETTER_TOPIC.to_string(),
            transactional: false,
            transactional_id: "trawl-1".to_string(),
            partitions: 6,
            replication: None,
            create_topics: true,
            properties: BTreeMap::new(),
            secret_properties: BTreeSet::new(),
        }
    }

    /// The event topic of a stream.
    pub fn topic_for(&self, stream: &StreamKey) -> String {
        self.topic.topic_for(stream)
    }

    /// The checkpoint topic, defaulted.
    pub fn checkpoint_topic(&self) -> &str {
        self.checkpoint_topic
            .as_deref()
            .unwrap_or(DEFAULT_CHECKPOINT_TOPIC)
    }

    /// Whether the value of property `key` is a secret (by its name, or because it was
    /// given as a secret reference).
    pub fn is_secret(&self, key: &str) -> bool {
        is_secret_property(key) || self.secret_properties.contains(key)
    }

    /// `text` with the value of every secret property replaced by `[redacted]`: for
    /// librdkafka's messages, which may quote property values.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for (k, v) in &self.properties {
            if !v.is_empty() && self.is_secret(k) {
                out = out.replace(v.as_str(), "[redacted]");
            }
        }
        out
    }
}

/// Whether a librdkafka property holds a secret (its value is never shown).
pub fn is_secret_property(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    [
        "password",
        "secret",
        "token",
        "key.pem",
        "private",
        "credential",
        "jaas",
        // librdkafka's unsecured-JWT settings: the claims of a static token.
        "oauthbearer.config",
    ]
    .iter()
    .any(|s| k.contains(s))
        || k == "ssl.key.password"
}

impl fmt::Debug for KafkaSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let props: BTreeMap<&str, &str> = self
            .properties
            .iter()
            .map(|(k, v)| {
                let shown = if self.is_secret(k) {
                    "[redacted]"
                } else {
                    v.as_str()
                };
                (k.as_str(), shown)
            })
            .collect();
        f.debug_struct("KafkaSettings")
            .field("brokers", &self.brokers)
            .field("topic", &self.topic)
            .field("checkpoint_topic", &self.checkpoint_topic)
            .field("dead_letter_topic", &self.dead_letter_topic)
            .field("transactional", &self.transactional)
            .field("transactional_id", &self.transactional_id)
            .field("partitions", &self.partitions)
            .field("replication", &self.replication)
            .field("create_topics", &self.create_topics)
            .field("properties", &props)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use trawl_model::{SourceKind, TenantId};

    #[test]
    fn templates_expand_and_refuse_unknown_placeholders() {
        let k = StreamKey::new(TenantId::new("acme").unwrap(), SourceKind::ZohoMailAudit);
        assert_eq!(
            TopicTemplate::default().topic_for(&k),
            "audit.zoho.mail_audit"
        );
        let t = TopicTemplate::new("audit.{tenant}.{source}").unwrap();
        assert_eq!(t.topic_for(&k), "audit.acme.zoho.mail_audit");
        assert!(!t.is_shared_by_tenants());
        assert!(matches!(
            TopicTemplate::new("audit.{tenat}"),
            Err(TemplateError::UnknownPlaceholder(_, p)) if p == "tenat"
        ));
        assert!(matches!(
            TopicTemplate::new("a.{source"),
            Err(TemplateError::Unclosed(_))
        ));
        assert!(matches!(
            TopicTemplate::new("a b"),
            Err(TemplateError::BadChar(_))
        ));
        assert!(matches!(TopicTemplate::new(""), Err(TemplateError::Empty)));
    }

    #[test]
    fn debug_and_redact_hide_secret_properties() {
        let mut s = KafkaSettings::new("b:9092");
        s.properties
            .insert("sasl.password".into(), "hunter2".into());
        s.properties
            .insert("security.protocol".into(), "SASL_SSL".into());
        // A secret reference for a property whose name says nothing.
        s.properties
            .insert("sasl.oauthbearer.extensions".into(), "key=opaque-7".into());
        s.secret_properties
            .insert("sasl.oauthbearer.extensions".into());
        let d = format!("{s:?}");
        assert!(!d.contains("hunter2") && !d.contains("opaque-7"), "{d}");
        assert!(d.contains("SASL_SSL"));
        let said = "Invalid value \"hunter2\" (near key=opaque-7) for SASL_SSL";
        assert_eq!(
            s.redact(said),
            "Invalid value \"[redacted]\" (near [redacted]) for SASL_SSL"
        );
    }
}
