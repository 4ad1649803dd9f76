//! A trawl cluster: members share the accounts through one Kafka consumer group.
//!
//! Kafka is the only coordination system. Every member joins the consumer group
//! `[cluster] group` on the coordination topic (created by trawl: compacted, a fixed
//! number of partitions) with the cooperative-sticky assignor; the group's assignment
//! *is* the ownership: an account belongs to the coordination partition its
//! `provider/account` hashes to ([`account_partition`], Kafka's murmur2 partitioner),
//! and a member runs exactly the accounts of the partitions it is assigned. The topic
//! carries no records trawl depends on.
//!
//! [`Membership`] (`member.rs`) is the consumer and its polling thread: it reports
//! assignments, revocations (blocking the rebalance, bounded, until the engine has
//! handed the accounts over) and lost partitions as [`Ownership`] events.
//! [`ClusterSink`] (`sink.rs`) is the [`crate::Sink`] of a member: it refuses writes of
//! accounts the member does not own (closed at once when partitions are lost), counts
//! the writes in flight per partition so a handover can wait for them, serves the
//! checkpoints the previous owner stored, and in transactional mode keeps one producer
//! per owned partition (`{kafka.transactional_id}-{partition}`, as KIP-618 gives each
//! source task its own) so a new owner fences a zombie predecessor for exactly those
//! accounts.

mod gate;
mod member;
mod sink;

use std::time::Duration;

pub use gate::Gate;
pub use member::{Membership, Ownership};
pub use sink::ClusterSink;

use crate::partition::partition_for_key;

/// The coordination topic's default name.
pub const DEFAULT_CLUSTER_TOPIC: &str = "trawl.cluster";
/// Its default number of partitions (the most members that can share the work).
pub const DEFAULT_CLUSTER_PARTITIONS: i32 = 64;

/// `[cluster]`: how this member joins the others.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterSettings {
    /// The consumer group every member joins.
    pub group: String,
    /// The coordination topic (created when missing).
    pub topic: String,
    /// Its partitions, used only when trawl creates it.
    pub partitions: i32,
    /// This member's name in `/status`, logs and the ownership log.
    pub member: String,
    /// `session.timeout.ms`: how long the group waits for a silent member before its
    /// accounts move (a member cut off that long stops publishing for them).
    pub session_timeout: Duration,
    /// How long a revocation may take to stop the accounts' streams and let their
    /// publishes finish before the rebalance completes anyway (below the rebalance
    /// timeout, `max.poll.interval.ms`).
    pub handover_timeout: Duration,
}

impl ClusterSettings {
    pub fn new(group: impl Into<String>) -> Self {
        Self {
            group: group.into(),
            topic: DEFAULT_CLUSTER_TOPIC.to_string(),
            partitions: DEFAULT_CLUSTER_PARTITIONS,
            member: default_member_name(),
            session_timeout: Duration::from_secs(45),
            handover_timeout: Duration::from_secs(30),
        }
    }
}

/// The host name and process id: unique among the members, readable in `/status`.
pub fn default_member_name() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_string())
        })
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "trawl".to_string());
    format!("{host}-{}", std::process::id())
}

/// The coordination partition that owns `provider/account` among `partitions`: Kafka's
/// default partitioner (murmur2), so it is the same in every member and every version.
pub fn account_partition(provider: &str, account: &str, partitions: i32) -> i32 {
    partition_for_key(format!("{provider}/{account}").as_bytes(), partitions)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accounts_map_to_partitions_stably_and_spread() {
        // Fixed vectors: a change would move every account at an upgrade.
        assert_eq!(account_partition("zoom", "acct-1", 64), 2);
        assert_eq!(account_partition("zoho", "57047751", 64), 5);
        assert_eq!(account_partition("zoom", "zoom00-acct", 64), 12);
        let mut hit = std::collections::BTreeSet::new();
        for i in 0..200 {
            let p = account_partition("zoom", &format!("acct-{i}"), 8);
            assert!((0..8).contains(&p));
            hit.insert(p);
        }
        assert_eq!(hit.len(), 8, "200 accounts reach every one of 8 partitions");
        // Provider is part of the key: the same id of two providers is two accounts.
        let same = (0..50)
            .filter(|i| {
                account_partition("zoom", &i.to_string(), 64)
                    == account_partition("zoho", &i.to_string(), 64)
            })
            .count();
        assert!(same < 10);
    }
}
