//! The cluster's metrics: how many members the group has, how many accounts this member
//! owns (and how many the configuration names, so a dashboard or alert can tell when
//! some account is owned by nobody), rebalances seen, and how long handovers take.
//! Registered in every mode; only a cluster member sets them.

use prometheus::{Histogram, HistogramOpts, IntCounterVec, IntGauge, Opts, Registry};

pub struct ClusterMetrics {
    /// `trawl_cluster_members`
    pub members: IntGauge,
    /// `trawl_owned_accounts`
    pub owned_accounts: IntGauge,
    /// `trawl_cluster_accounts`
    pub configured_accounts: IntGauge,
    /// `trawl_cluster_partitions_owned`
    pub owned_partitions: IntGauge,
    /// `trawl_rebalances_total{kind}`: assigned, revoked, lost.
    pub rebalances: IntCounterVec,
    /// `trawl_handover_seconds`
    pub handover: Histogram,
}

/// What a rebalance did to this member (`kind` label).
pub const REBALANCE_KINDS: [&str; 3] = ["assigned", "revoked", "lost"];

impl ClusterMetrics {
    pub(super) fn new(r: &Registry) -> Self {
        let gauge = |name: &str, help: &str| {
            let g = IntGauge::new(name, help).expect("valid metric");
            r.register(Box::new(g.clone()))
                .expect("metric names are unique");
            g
        };
        let rebalances = IntCounterVec::new(
            Opts::new(
                "trawl_rebalances_total",
                "Cluster rebalances that changed this member's partitions, by kind (assigned, revoked, lost).",
            ),
            &["kind"],
        )
        .expect("valid metric");
        r.register(Box::new(rebalances.clone()))
            .expect("metric names are unique");
        for k in REBALANCE_KINDS {
            rebalances.with_label_values(&[k]);
        }
        let handover = Histogram::with_opts(
            HistogramOpts::new(
                "trawl_handover_seconds",
                "Time from the assignment of an account's cluster partition to this member to its first API request here.",
            )
            .buckets(vec![0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0]),
        )
        .expect("valid metric");
        r.register(Box::new(handover.clone()))
            .expect("metric names are unique");
        Self {
            members: gauge(
                "trawl_cluster_members",
                "Members of this trawl cluster's consumer group, as its coordinator lists them.",
            ),
            owned_accounts: gauge(
                "trawl_owned_accounts",
                "Accounts this member runs (the accounts of its cluster partitions).",
            ),
            configured_accounts: gauge(
                "trawl_cluster_accounts",
                "Accounts the configuration names, which the cluster's members share.",
            ),
            owned_partitions: gauge(
                "trawl_cluster_partitions_owned",
                "Partitions of the coordination topic assigned to this member.",
            ),
            rebalances,
            handover,
        }
    }
}
