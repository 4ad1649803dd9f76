//! `[cluster]`: run as one member of a trawl cluster. `group` turns it on; every member
//! runs with the same tenants and joins that consumer group on the coordination topic.
//! Without the section one process runs every tenant, as before.

use std::time::Duration;

use trawl_engine::config::CheckpointSettings;
use trawl_kafka::cluster::{ClusterSettings, DEFAULT_CLUSTER_PARTITIONS};

use super::error::Problems;
use super::fields::{show_duration, Table};

pub(crate) const CLUSTER_KEYS: &[&str] = &[
    "group",
    "topic",
    "partitions",
    "member",
    "session_timeout",
    "handover_timeout",
];

/// The bounds of `session_timeout` (Kafka's group.min/max.session.timeout.ms defaults).
const MIN_SESSION: Duration = Duration::from_secs(6);
const MAX_SESSION: Duration = Duration::from_secs(1800);
/// The rebalance waits at most `max.poll.interval.ms` (5 minutes) for a revocation.
const MAX_HANDOVER: Duration = Duration::from_secs(240);

pub(crate) fn cluster(
    t: Option<Table<'_>>,
    checkpoints: &CheckpointSettings,
    p: &mut Problems,
) -> Option<ClusterSettings> {
    let t = t?;
    let group = match t.string("group", p) {
        Ok(Some(g)) if !g.trim().is_empty() => g,
        Ok(_) => {
            p.error(
                t.at("group"),
                "is required in [cluster]: the consumer group every member joins",
            );
            return None;
        }
        Err(_) => return None,
    };
    let mut c = ClusterSettings::new(group);
    if let Ok(Some(topic)) = t.string("topic", p) {
        c.topic = topic;
    }
    if let Ok(Some(member)) = t.string("member", p) {
        c.member = member;
    }
    if let Ok(Some(n)) = t.int("partitions", p) {
        match i32::try_from(n) {
            Ok(n) if (1..=10_000).contains(&n) => c.partitions = n,
            _ => {
                p.error(
                    t.at("partitions"),
                    format!(
                        "{n} is not between 1 and 10000 (default {DEFAULT_CLUSTER_PARTITIONS}; \
                         the most members that can share the work; fixed when the topic is \
                         created)"
                    ),
                );
            }
        }
    }
    if let Ok(Some(d)) = t.duration("session_timeout", p) {
        if (MIN_SESSION..=MAX_SESSION).contains(&d) {
            c.session_timeout = d;
        } else {
            p.error(
                t.at("session_timeout"),
                format!(
                    "{} is not between {} and {} (the brokers' group session bounds)",
                    show_duration(d),
                    show_duration(MIN_SESSION),
                    show_duration(MAX_SESSION)
                ),
            );
        }
    }
    if let Ok(Some(d)) = t.duration("handover_timeout", p) {
        if d >= Duration::from_secs(1) && d <= MAX_HANDOVER {
            c.handover_timeout = d;
        } else {
            p.error(
                t.at("handover_timeout"),
                format!(
                    "{} is not between 1s and {} (below the rebalance timeout)",
                    show_duration(d),
                    show_duration(MAX_HANDOVER)
                ),
            );
        }
    }
    if !matches!(checkpoints, CheckpointSettings::Kafka) {
        p.error(
            t.at("group"),
            "[cluster] needs checkpoints.store = \"kafka\": the member that takes an account \
             over reads its checkpoints from the checkpoint topic",
        );
    }
    Some(c)
}

#[cfg(test)]
mod tests {
    use crate::config::load_str;

    const BASE: &str = "[kafka]\nbrokers = \"127.0.0.1:9092\"\n";

    #[test]
    fn cluster_section_reads_with_defaults_and_bounds() {
        let c = load_str(&format!("{BASE}[cluster]\ngroup = \"trawl-prod\"\n")).unwrap();
        // The group names the transactional ids (every member takes over the same ids),
        // unless they are set.
        assert_eq!(c.engine.kafka.transactional_id, "trawl-trawl-prod");
        let set = load_str(&format!(
            "{BASE}transactional_id = \"ours\"\n[cluster]\ngroup = \"trawl-prod\"\n"
        ))
        .unwrap();
        assert_eq!(set.engine.kafka.transactional_id, "ours");
        let cl = c.engine.cluster.expect("cluster on");
        assert_eq!(cl.group, "trawl-prod");
        assert_eq!(cl.partitions, 64);
        assert_eq!(cl.topic, "trawl.cluster");
        assert!(
            load_str(BASE).unwrap().engine.cluster.is_none(),
            "off without [cluster]"
        );
        let err = load_str(&format!(
            "{BASE}[cluster]\ngroup = \"g\"\npartitions = 0\nsession_timeout = \"1s\"\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(err.contains("cluster.partitions"), "{err}");
        assert!(err.contains("cluster.session_timeout"), "{err}");
        let err = load_str(&format!("{BASE}[cluster]\ntopic = \"x\"\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("cluster.group"), "{err}");
        let err = load_str(&format!(
            "{BASE}[checkpoints]\nstore = \"file\"\ndir = \"/tmp/x\"\n[cluster]\ngroup = \"g\"\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(err.contains("checkpoints.store"), "{err}");
    }
}
