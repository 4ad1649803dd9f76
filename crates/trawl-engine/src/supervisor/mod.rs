//! `Supervisor`: starts, watches and restarts every tenant stream.
//!
//! Owns: the tenants (their token caches, in their `SourceSettings`), the accounts with
//! their buckets ([`Accounts`]) and one slot per stream (its probe, fetcher address,
//! restart backoff). Receives: [`ApplyTenants`] (the wanted set of tenants, at start and
//! on reload, their topics already created by the engine: added ones start, removed ones
//! stop with their checkpoints kept, changed ones restart), [`FetcherExited`],
//! [`StopAll`] and [`GetLimiters`]. What happens after a stream's loop ends is the
//! restart policy's one `match` ([`policy::decide`]). A heartbeat every [`HEARTBEAT`]
//! reads each stream's progress mark and restarts fetchers that died without a word or
//! stalled outside a legitimate wait. Failures are isolated: one tenant's wrong
//! password marks that tenant's streams failed (retried every `failed_retry`) and
//! touches nobody else; a fenced producer stops every stream that publishes through it.
//!
//! In a cluster ([`Supervisor::in_cluster`]) the wanted tenants are narrowed to those
//! whose account's coordination partition this member owns: [`Own`] and [`Disown`]
//! change that set (from the group's assignments) and start or stop exactly the
//! accounts that moved; a fenced partition stops that partition's streams only.

mod ownership;
pub mod policy;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use trawl_model::{StreamKey, TenantId};
use trawl_sources::{build_source, SourceSettings};

pub use ownership::{tenant_partition, Disown, Own, RestoreDays};
pub use policy::{Decision, RestartPolicy};

use crate::backoff::Backoff;
use crate::clock::Clock;
use crate::config::{StreamSettings, TenantSpec};
use crate::events::{StreamDisabled, StreamFailed, StreamProbe, StreamRestarting, StreamStopped};
use crate::fetch::{Cadence, Exit, FetcherDeps, FetcherExited, StopFetcher, StreamFetcher};
use crate::limiter::{Accounts, LimiterState};
use crate::metrics::Metrics;
use crate::publisher::PublisherHandle;
use crate::status::StatusBoard;

pub const HEARTBEAT: Duration = Duration::from_secs(30);

/// What every fetcher shares.
#[derive(Clone)]
pub struct SupervisorDeps {
    pub clock: Clock,
    pub metrics: Arc<Metrics>,
    pub status: StatusBoard,
    pub publisher: PublisherHandle,
    pub http: reqwest::Client,
    /// Shared by every fetcher: API requests in flight in the whole process.
    pub requests: Arc<tokio::sync::Semaphore>,
    /// Threads to spread accounts (their fetchers and limiters) over.
    pub workers: Vec<ArbiterHandle>,
    pub restart: RestartPolicy,
}

#[derive(Message)]
#[rtype(result = "()")]
pub struct ApplyTenants(pub Vec<TenantSpec>);

#[derive(Message)]
#[rtype(result = "()")]
pub struct StopAll;

#[derive(Message)]
#[rtype(result = "Vec<(String, LimiterState)>")]
pub struct GetLimiters;

struct Tenant {
    spec: TenantSpec,
    sources: SourceSettings,
}

struct Slot {
    probe: StreamProbe,
    fetcher: Option<Addr<StreamFetcher>>,
    backoff: Backoff,
    restart: Option<SpawnHandle>,
}

pub struct Supervisor {
    deps: SupervisorDeps,
    accounts: Accounts,
    tenants: BTreeMap<TenantId, Tenant>,
    slots: HashMap<StreamKey, Slot>,
    /// Set once the producer was fenced: nothing starts any more.
    stopped_for_good: Option<String>,
    /// Every tenant of the configuration (in a cluster, more than run here).
    wanted: BTreeMap<TenantId, TenantSpec>,
    /// In a cluster: the coordination topic's partition count and the owned ones.
    cluster: Option<(i32, BTreeSet<i32>)>,
}

impl Supervisor {
    pub fn new(deps: SupervisorDeps) -> Self {
        let accounts = Accounts::new(
            deps.clock.clone(),
            deps.metrics.clone(),
            deps.workers.clone(),
        );
        Self {
            deps,
            accounts,
            tenants: BTreeMap::new(),
            slots: HashMap::new(),
            stopped_for_good: None,
            wanted: BTreeMap::new(),
            cluster: None,
        }
    }

    /// The stream's slot, made (and its stream put on the board) if it has none.
    fn slot(&mut self, key: &StreamKey) -> &mut Slot {
        let deps = &self.deps;
        self.slots.entry(key.clone()).or_insert_with(|| Slot {
            probe: StreamProbe::new(key, &deps.metrics, &deps.status),
            fetcher: None,
            backoff: Backoff::new(deps.restart.initial, deps.restart.max),
            restart: None,
        })
    }

    fn start_stream(&mut self, key: StreamKey, ctx: &mut Context<Self>) {
        let Some(tenant) = self.tenants.get(&key.tenant) else {
            return;
        };
        if let Some(reason) = &self.stopped_for_good {
            let reason = reason.clone();
            self.slot(&key)
                .probe
                .emit(StreamStopped { reason: &reason });
            return;
        }
        let source = match build_source(key.source, &tenant.sources) {
            Ok(source) => source,
            Err(error) => {
                self.on_exit(key, Exit::Source(error), Duration::ZERO, ctx);
                return;
            }
        };
        let account = tenant.spec.access.account();
        let cadence = Cadence::from(&tenant.spec.settings);
        let Some(limiter) = self.accounts.limiter(&account, source.limit_key()) else {
            self.on_exit(key, Exit::LimiterGone, Duration::ZERO, ctx);
            return;
        };
        let worker = self.accounts.worker(&account);
        let (publisher, clock, requests) = (
            self.deps.publisher.clone(),
            self.deps.clock.clone(),
            self.deps.requests.clone(),
        );
        let me = ctx.address().recipient();
        let slot = self.slot(&key);
        let deps = FetcherDeps {
            source,
            limiter,
            publisher,
            cadence,
            clock,
            probe: slot.probe.clone(),
            requests,
        };
        let addr = match worker {
            Some(worker) => {
                StreamFetcher::start_in_arbiter(&worker, move |_| StreamFetcher::new(deps, me))
            }
            None => StreamFetcher::new(deps, me).start(),
        };
        slot.fetcher = Some(addr);
        slot.restart = None;
    }

    fn stop_stream(&mut self, key: &StreamKey, ctx: &mut Context<Self>) {
        if let Some(slot) = self.slots.remove(key) {
            if let Some(fetcher) = slot.fetcher {
                fetcher.do_send(StopFetcher);
            }
            if let Some(restart) = slot.restart {
                ctx.cancel_future(restart);
            }
        }
    }

    fn on_exit(&mut self, key: StreamKey, exit: Exit, ran_for: Duration, ctx: &mut Context<Self>) {
        let policy = self.deps.restart.clone();
        let decision = policy::decide(&exit);
        let recheck = self
            .tenants
            .get(&key.tenant)
            .map_or(StreamSettings::default().disabled_recheck, |t| {
                t.spec.settings.disabled_recheck
            });
        let reason = exit.to_string();
        let slot = self.slot(&key);
        slot.fetcher = None;
        let delay = match decision {
            Decision::Restart => {
                if ran_for > policy.max {
                    slot.backoff.reset();
                }
                let delay = slot.backoff.next_delay();
                slot.probe.emit(StreamRestarting {
                    reason: &reason,
                    delay,
                });
                Some(delay)
            }
            Decision::RetrySlowly => {
                slot.probe.emit(StreamFailed {
                    reason: &reason,
                    retry_in: policy.failed_retry,
                });
                Some(policy.failed_retry)
            }
            Decision::Disable => {
                slot.probe.emit(StreamDisabled {
                    reason: &reason,
                    recheck_in: recheck,
                });
                Some(recheck)
            }
            Decision::Stop => {
                slot.probe.emit(StreamStopped { reason: &reason });
                if self.cluster.is_some() {
                    self.stop_partition(&key, &reason, ctx);
                } else {
                    self.stop_for_good(&reason, ctx);
                }
                None
            }
        };
        if let Some(delay) = delay {
            let again = key.clone();
            let restart = ctx.run_later(delay, move |act, ctx| {
                if act.slots.contains_key(&again) {
                    act.start_stream(again, ctx);
                }
            });
            if let Some(slot) = self.slots.get_mut(&key) {
                slot.restart = Some(restart);
            }
        }
    }

    /// The producer every stream publishes through was fenced: stop them all, each
    /// failed with the reason, and start nothing again (a retry would fence the
    /// instance that took over). In cluster mode this becomes "the streams of the
    /// fenced producer's partition".
    fn stop_for_good(&mut self, reason: &str, ctx: &mut Context<Self>) {
        if self.stopped_for_good.is_some() {
            return;
        }
        self.stopped_for_good = Some(reason.to_string());
        let stopped = format!("stopped with every stream of this process: {reason}");
        for slot in self.slots.values_mut() {
            let pending = slot.restart.take().map(|h| ctx.cancel_future(h)).is_some();
            let running = slot
                .fetcher
                .take()
                .map(|f| f.do_send(StopFetcher))
                .is_some();
            // Streams already failed, disabled or stopped stay as they are.
            if pending || running {
                slot.probe.emit(StreamStopped { reason: &stopped });
            }
        }
    }

    /// Runs what is wanted here: the wanted tenants, narrowed to the owned partitions
    /// in a cluster. Added ones start, gone ones stop with their checkpoints kept,
    /// changed ones restart.
    fn reconcile(&mut self, ctx: &mut Context<Self>) {
        let wanted: BTreeMap<TenantId, TenantSpec> = self
            .wanted
            .iter()
            .filter(|(_, t)| self.runs_here(t))
            .map(|(id, t)| (id.clone(), t.clone()))
            .collect();
        let gone: Vec<TenantId> = self
            .tenants
            .iter()
            .filter(|(id, t)| wanted.get(*id) != Some(&t.spec))
            .map(|(id, _)| id.clone())
            .collect();
        for id in gone {
            let tenant = self.tenants.remove(&id).expect("listed above");
            let removed = !wanted.contains_key(&id);
            let moved = removed && self.wanted.contains_key(&id);
            for key in tenant.spec.stream_keys() {
                self.stop_stream(&key, ctx);
                if removed {
                    self.deps.status.remove(&key);
                    self.deps.metrics.forget_stream(&key);
                }
            }
            let what = if moved {
                "handed to another cluster member: streams stopped"
            } else if removed {
                "removed: streams stopped, checkpoints kept"
            } else {
                "changed: restarting its streams"
            };
            tracing::info!(tenant = %id, "tenant {what}");
        }
        // Buckets follow the wanted set: an account still named keeps its buckets (and
        // their day's count) through a changed tenant's restart.
        self.accounts.apply(wanted.values());
        let mut started = Vec::new();
        for (id, spec) in wanted {
            if self.tenants.contains_key(&id) {
                continue;
            }
            let sources =
                SourceSettings::new(spec.id.clone(), &spec.access, self.deps.http.clone());
            started.extend(spec.stream_keys());
            self.tenants.insert(id, Tenant { spec, sources });
        }
        for key in started {
            self.start_stream(key, ctx);
        }
        self.report_ownership();
    }

    fn heartbeat(&mut self, ctx: &mut Context<Self>) {
        let stall = self.deps.restart.stall_timeout;
        let mut dead = Vec::new();
        for (key, slot) in &self.slots {
            let Some(fetcher) = &slot.fetcher else {
                continue;
            };
            if !fetcher.connected() {
                dead.push((key.clone(), Exit::Vanished));
                continue;
            }
            let progress = slot.probe.progress();
            if !progress.is_waiting() && progress.idle_for() > stall {
                fetcher.do_send(StopFetcher);
                dead.push((key.clone(), Exit::Stalled(stall)));
            }
        }
        for (key, exit) in dead {
            self.on_exit(key, exit, Duration::ZERO, ctx);
        }
    }
}

impl Actor for Supervisor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(1 << 20);
        ctx.run_interval(HEARTBEAT, |act, ctx| act.heartbeat(ctx));
    }
}

impl Handler<ApplyTenants> for Supervisor {
    type Result = ();

    fn handle(&mut self, msg: ApplyTenants, ctx: &mut Context<Self>) {
        self.wanted = msg.0.into_iter().map(|t| (t.id.clone(), t)).collect();
        self.reconcile(ctx);
    }
}

impl Handler<FetcherExited> for Supervisor {
    type Result = ();

    fn handle(&mut self, msg: FetcherExited, ctx: &mut Context<Self>) {
        // A fetcher stopped on purpose (tenant removed or changed, fenced, stalled and
        // already replaced) may still report: only the stream's current one counts, or a
        // late report would start a second fetcher beside the running one.
        let running = self
            .slots
            .get(&msg.key)
            .is_some_and(|s| s.fetcher.as_ref() == Some(&msg.fetcher));
        if !running {
            return;
        }
        self.on_exit(msg.key, msg.exit, msg.ran_for, ctx);
    }
}

impl Handler<StopAll> for Supervisor {
    type Result = ();

    fn handle(&mut self, _: StopAll, ctx: &mut Context<Self>) {
        let keys: Vec<StreamKey> = self.slots.keys().cloned().collect();
        for key in keys {
            self.stop_stream(&key, ctx);
        }
        self.tenants.clear();
        self.wanted.clear();
        self.accounts.apply([]);
    }
}

impl Handler<GetLimiters> for Supervisor {
    type Result = ResponseFuture<Vec<(String, LimiterState)>>;

    fn handle(&mut self, _: GetLimiters, _: &mut Context<Self>) -> Self::Result {
        Box::pin(self.accounts.states())
    }
}
