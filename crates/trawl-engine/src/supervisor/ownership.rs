//! The supervisor in a cluster: which tenants run on this member (those whose account's
//! coordination partition it owns), the [`Own`] and [`Disown`] messages that change
//! that from the group's assignments, and a fenced partition's stop, which ends that
//! partition's streams only.

use std::collections::BTreeSet;

use actix::prelude::*;
use trawl_model::{StreamKey, TenantId};

use super::{Supervisor, SupervisorDeps};
use crate::config::TenantSpec;
use crate::events::StreamStopped;
use crate::fetch::StopFetcher;

/// These coordination partitions are this member's now: start their accounts. Answers
/// the accounts it started.
#[derive(Message)]
#[rtype(result = "Vec<trawl_sources::AccountKey>")]
pub struct Own {
    pub partitions: BTreeSet<i32>,
    /// When the assignment was seen: new accounts' first requests observe the time
    /// since (`trawl_handover_seconds`).
    pub seen: tokio::time::Instant,
}

/// These coordination partitions are no longer this member's: their accounts' fetchers
/// are told to stop (answered once told; the sink's gate refuses their writes).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Disown(pub BTreeSet<i32>);

/// Stored day states of buckets (at start, and before an assignment's accounts start):
/// buckets made from now on continue their day.
#[derive(Message)]
#[rtype(result = "()")]
pub struct RestoreDays(pub std::collections::HashMap<String, crate::limiter::DayState>);

impl Handler<RestoreDays> for Supervisor {
    type Result = ();

    fn handle(&mut self, msg: RestoreDays, _: &mut Context<Self>) {
        self.accounts.set_days(msg.0);
    }
}

impl Supervisor {
    /// The cluster's account gauges after a change of what runs here.
    pub(super) fn report_ownership(&self) {
        if self.cluster.is_none() {
            return;
        }
        let owned: std::collections::HashSet<_> = self
            .tenants
            .values()
            .map(|t| t.spec.access.account())
            .collect();
        let all: std::collections::HashSet<_> =
            self.wanted.values().map(|t| t.access.account()).collect();
        let m = &self.deps.metrics.cluster;
        m.owned_accounts.set(owned.len() as i64);
        m.configured_accounts.set(all.len() as i64);
    }

    /// A cluster member's supervisor: runs only the accounts of the partitions it is
    /// told it owns ([`Own`], [`Disown`]), of a coordination topic of `partitions`.
    pub fn in_cluster(deps: SupervisorDeps, partitions: i32) -> Self {
        let mut s = Self::new(deps);
        s.cluster = Some((partitions, BTreeSet::new()));
        s
    }

    /// The coordination partition of `spec`'s account, in a cluster.
    pub(super) fn partition_of(&self, spec: &TenantSpec) -> Option<i32> {
        self.cluster
            .as_ref()
            .map(|(n, _)| tenant_partition(spec, *n))
    }

    /// Whether this process runs `spec` (always, outside a cluster).
    pub(super) fn runs_here(&self, spec: &TenantSpec) -> bool {
        match (&self.cluster, self.partition_of(spec)) {
            (Some((_, owned)), Some(p)) => owned.contains(&p),
            _ => true,
        }
    }

    /// In a cluster, the producer of `key`'s partition was fenced (another member took
    /// the partition over): stop the streams of that partition, each with the reason;
    /// they start again only if the partition is assigned here again.
    pub(super) fn stop_partition(
        &mut self,
        key: &StreamKey,
        reason: &str,
        ctx: &mut Context<Self>,
    ) {
        let Some(p) = self
            .tenants
            .get(&key.tenant)
            .and_then(|t| self.partition_of(&t.spec))
        else {
            return;
        };
        let stopped = format!("stopped with every stream of cluster partition {p}: {reason}");
        let keys: Vec<StreamKey> = self
            .tenants
            .values()
            .filter(|t| self.partition_of(&t.spec) == Some(p))
            .flat_map(|t| t.spec.stream_keys().collect::<Vec<_>>())
            .collect();
        for k in keys {
            let Some(slot) = self.slots.get_mut(&k) else {
                continue;
            };
            let pending = slot.restart.take().map(|h| ctx.cancel_future(h)).is_some();
            let running = slot
                .fetcher
                .take()
                .map(|f| f.do_send(StopFetcher))
                .is_some();
            if pending || running {
                slot.probe.emit(StreamStopped { reason: &stopped });
            }
        }
    }
}

impl Handler<Own> for Supervisor {
    type Result = Vec<trawl_sources::AccountKey>;

    fn handle(&mut self, msg: Own, ctx: &mut Context<Self>) -> Self::Result {
        let before: BTreeSet<TenantId> = self.tenants.keys().cloned().collect();
        if let Some((_, owned)) = &mut self.cluster {
            owned.extend(msg.partitions);
        }
        self.accounts.set_handover(Some(msg.seen));
        self.reconcile(ctx);
        self.accounts.set_handover(None);
        let started: std::collections::HashSet<_> = self
            .tenants
            .iter()
            .filter(|(id, _)| !before.contains(*id))
            .map(|(_, t)| t.spec.access.account())
            .collect();
        started.into_iter().collect()
    }
}

impl Handler<Disown> for Supervisor {
    type Result = ();

    fn handle(&mut self, msg: Disown, ctx: &mut Context<Self>) {
        if let Some((_, owned)) = &mut self.cluster {
            for p in &msg.0 {
                owned.remove(p);
            }
        }
        self.reconcile(ctx);
    }
}

/// The coordination partition of `spec`'s account among `partitions`.
pub fn tenant_partition(spec: &TenantSpec, partitions: i32) -> i32 {
    let account = spec.access.account();
    trawl_kafka::cluster::account_partition(&account.provider.to_string(), &account.id, partitions)
}
