//! A cluster member's side of the engine: what it does when the group moves partitions.
//!
//! [`Membership`] reports [`Ownership`] events; one task here handles them in order:
//!
//! * assigned: the [`ClusterSink`] takes the partitions (transactional producers
//!   initialized, fencing predecessors; checkpoints the previous owner stored loaded;
//!   the gate opened), then the supervisor starts their accounts ([`Own`]);
//! * revoked: the supervisor stops their accounts' fetchers ([`Disown`]), the sink
//!   waits for their writes in flight and closes their producers, and only then is
//!   the membership thread told to let the rebalance complete;
//! * lost: the gate is already closed (by the membership thread); the fetchers stop.
//!
//! What this member owns is on `/status` ([`ClusterView`]) and in the cluster metrics.
//! For tests, `TRAWL_OWNERSHIP_LOG` names a file this member appends one line to per
//! account when it starts owning it (before anything of it can be published) and when
//! it stops (after its last write was answered): `<CLOCK_MONOTONIC ns> <member>
//! acquire|release|lost <provider/account>`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::prelude::*;
use serde::Serialize;
use tokio::sync::mpsc;
use trawl_kafka::cluster::{ClusterSettings, ClusterSink, Membership, Ownership};
use trawl_model::StreamKey;

use crate::backoff::Backoff;
use crate::config::TenantSpec;
use crate::limiter::QuotaKeeper;
use crate::metrics::Metrics;
use crate::supervisor::{tenant_partition, Disown, GetLimiters, Own, RestoreDays, Supervisor};

/// The environment variable naming the ownership log (tests).
pub const OWNERSHIP_LOG_ENV: &str = "TRAWL_OWNERSHIP_LOG";

/// This member as `/status` shows it.
#[derive(Debug, Clone, Serialize, Default)]
pub struct ClusterView {
    pub member: String,
    pub group: String,
    pub members: usize,
    /// The coordination topic's partitions, and those this member owns.
    pub partitions: i32,
    pub owned_partitions: Vec<i32>,
    /// The accounts this member runs (`provider:id`).
    pub accounts: Vec<String>,
}

/// Stream -> partition and partition -> accounts of a tenant set.
pub(crate) struct Layout {
    pub streams: HashMap<StreamKey, i32>,
    pub accounts: BTreeMap<i32, BTreeSet<String>>,
}

impl Layout {
    pub(crate) fn of(tenants: &[TenantSpec], partitions: i32) -> Self {
        let mut streams = HashMap::new();
        let mut accounts: BTreeMap<i32, BTreeSet<String>> = BTreeMap::new();
        for t in tenants {
            let p = tenant_partition(t, partitions);
            accounts
                .entry(p)
                .or_default()
                .insert(t.access.account().to_string());
            for k in t.stream_keys() {
                streams.insert(k, p);
            }
        }
        Self { streams, accounts }
    }
}

/// A running member: its membership (left on stop) and what `/status` shows.
pub(crate) struct Member {
    pub sink: Arc<ClusterSink>,
    pub view: Arc<Mutex<ClusterView>>,
    pub layout: Arc<Mutex<Layout>>,
    membership: tokio::sync::Mutex<Option<Membership>>,
    pub partitions: i32,
}

impl Member {
    /// Joins the group; the events are handled by a task driving `supervisor`.
    pub(crate) async fn join(
        cluster: &ClusterSettings,
        sink: Arc<ClusterSink>,
        tenants: &[TenantSpec],
    ) -> Result<(Self, mpsc::UnboundedReceiver<Ownership>), trawl_kafka::KafkaError> {
        let (membership, events) =
            Membership::join(sink.settings(), cluster, sink.gate().clone()).await?;
        let partitions = membership.partitions;
        let layout = Layout::of(tenants, partitions);
        sink.gate().set_streams(layout.streams.clone());
        let view = ClusterView {
            member: cluster.member.clone(),
            group: cluster.group.clone(),
            partitions,
            ..ClusterView::default()
        };
        Ok((
            Self {
                sink,
                view: Arc::new(Mutex::new(view)),
                layout: Arc::new(Mutex::new(layout)),
                membership: tokio::sync::Mutex::new(Some(membership)),
                partitions,
            },
            events,
        ))
    }

    /// A reload: new streams' partitions, and the checkpoints of streams new here.
    pub(crate) async fn apply(&self, tenants: &[TenantSpec]) {
        let layout = Layout::of(tenants, self.partitions);
        let added: Vec<StreamKey> = {
            let old = lock(&self.layout);
            layout
                .streams
                .keys()
                .filter(|k| !old.streams.contains_key(*k))
                .cloned()
                .collect()
        };
        self.sink.gate().set_streams(layout.streams.clone());
        *lock(&self.layout) = layout;
        if !added.is_empty() {
            if let Err(error) = self.sink.reload_checkpoints(&added).await {
                tracing::warn!(%error, "cannot load the checkpoints of added streams; they start from the read-back");
            }
        }
    }

    /// Leaves the group, handing every partition over (the event task must run).
    pub(crate) async fn leave(&self) {
        if let Some(m) = self.membership.lock().await.take() {
            m.leave().await;
        }
    }

    /// Handles the membership's events until it is gone.
    pub(crate) fn spawn(
        self: &Arc<Self>,
        mut events: mpsc::UnboundedReceiver<Ownership>,
        supervisor: Addr<Supervisor>,
        metrics: Arc<Metrics>,
        handover_timeout: Duration,
        quota: Option<Arc<QuotaKeeper>>,
    ) {
        let me = self.clone();
        let log = OwnershipLog::from_env(&lock(&self.view).member);
        actix::spawn(async move {
            while let Some(event) = events.recv().await {
                let m = &metrics.cluster;
                match event {
                    Ownership::Assigned(ps) => {
                        let seen = tokio::time::Instant::now();
                        m.rebalances.with_label_values(&["assigned"]).inc();
                        log.write("acquire", &me.accounts_of(&ps));
                        let mut backoff =
                            Backoff::new(Duration::from_secs(1), Duration::from_secs(30));
                        while let Err(error) = me.sink.take(&ps).await {
                            let delay = backoff.next_delay();
                            tracing::warn!(%error, partitions = ?ps, retry_in = ?delay, "cannot take over cluster partitions yet");
                            tokio::time::sleep(delay).await;
                        }
                        // The day's quota the previous owner stored at the handover.
                        if let Some(q) = &quota {
                            match q.load().await {
                                Ok(days) => supervisor.do_send(RestoreDays(days)),
                                Err(error) => {
                                    tracing::warn!(%error, "cannot load the day's quota state: the accounts' buckets start a fresh count")
                                }
                            }
                        }
                        let started = supervisor
                            .send(Own {
                                partitions: ps.clone(),
                                seen,
                            })
                            .await
                            .unwrap_or_default();
                        tracing::info!(partitions = ?ps, accounts = started.len(), "cluster partitions taken over: their accounts started");
                        me.owned_changed(&metrics);
                    }
                    Ownership::Revoked {
                        partitions: ps,
                        done,
                    } => {
                        m.rebalances.with_label_values(&["revoked"]).inc();
                        // The day's quota, for the next owner (before the buckets go).
                        if let (Some(q), Ok(limiters)) =
                            (&quota, supervisor.send(GetLimiters).await)
                        {
                            q.save(&limiters).await;
                        }
                        let _ = supervisor.send(Disown(ps.clone())).await;
                        let left = me.sink.release(&ps, handover_timeout).await;
                        if left > 0 {
                            tracing::warn!(partitions = ?ps, writes = left, "revoked cluster partitions given up with writes still in flight");
                        }
                        log.write("release", &me.accounts_of(&ps));
                        let _ = done.send(());
                        me.owned_changed(&metrics);
                    }
                    Ownership::Lost(ps) => {
                        m.rebalances.with_label_values(&["lost"]).inc();
                        me.sink.lost(&ps);
                        log.write("lost", &me.accounts_of(&ps));
                        let _ = supervisor.send(Disown(ps)).await;
                        me.owned_changed(&metrics);
                    }
                    Ownership::Members(n) => {
                        m.members.set(n as i64);
                        lock(&me.view).members = n;
                    }
                }
            }
        });
    }

    fn accounts_of(&self, ps: &BTreeSet<i32>) -> Vec<String> {
        let layout = lock(&self.layout);
        ps.iter()
            .filter_map(|p| layout.accounts.get(p))
            .flatten()
            .cloned()
            .collect()
    }

    fn owned_changed(&self, metrics: &Metrics) {
        let owned = self.sink.gate().owned();
        let accounts = self.accounts_of(&owned);
        metrics.cluster.owned_partitions.set(owned.len() as i64);
        let mut v = lock(&self.view);
        v.owned_partitions = owned.into_iter().collect();
        v.accounts = accounts;
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The ownership log of `TRAWL_OWNERSHIP_LOG` (see the module doc); off without it.
struct OwnershipLog {
    file: Option<Mutex<std::fs::File>>,
    member: String,
}

impl OwnershipLog {
    fn from_env(member: &str) -> Self {
        let file = std::env::var_os(OWNERSHIP_LOG_ENV).and_then(|path| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| tracing::warn!(error = %e, "cannot open the ownership log"))
                .ok()
        });
        Self {
            file: file.map(Mutex::new),
            member: member.to_string(),
        }
    }

    fn write(&self, what: &str, accounts: &[String]) {
        let Some(file) = &self.file else {
            return;
        };
        let now = monotonic_ns();
        let mut text = String::new();
        for a in accounts {
            text.push_str(&format!("{now} {} {what} {a}\n", self.member));
        }
        // One write per event, so lines of members appending at once never interleave.
        let _ = lock(file).write_all(text.as_bytes());
    }
}

/// CLOCK_MONOTONIC in nanoseconds: one clock for every process of the machine.
fn monotonic_ns() -> u128 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the struct we pass.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u128 * 1_000_000_000 + ts.tv_nsec as u128
}
