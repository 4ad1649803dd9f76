//! `Supervisor`: starts, watches and restarts every tenant stream.
//!
//! Owns: the tenants (their token caches and rate limiters) and one slot per stream
//! (fetcher address, restart backoff). Receives: [`ApplyTenants`] (the wanted set of
//! tenants, at start and on reload: added ones start, removed ones stop with their
//! checkpoints kept, changed ones restart), [`FetcherExited`], [`StopAll`] and
//! [`GetLimiters`]. A heartbeat every [`HEARTBEAT`] restarts fetchers that died without
//! a word or stalled outside a legitimate wait. Failures are isolated: one tenant's wrong
//! password marks that tenant's streams failed (retried every `failed_retry`) and
//! touches nobody else.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use trawl_kafka::KafkaSettings;
use trawl_model::{SourceKind, StreamKey, TenantId};
use trawl_sources::{build_source, LimitKey, SourceSettings, ZohoCredentials, ZoomCredentials};

use super::fetcher::{FetcherExited, StopFetcher, StreamFetcher};
use super::publisher::Publisher;
use super::rate_limiter::{GetState, LimiterState, RateLimiter};
use crate::backoff::Backoff;
use crate::clock::Clock;
use crate::config::{TenantAccess, TenantSpec};
use crate::fetch::{Exit, FetcherDeps};
use crate::metrics::Metrics;
use crate::quota::QuotaSpec;
use crate::status::{StatusBoard, StreamState};

pub const HEARTBEAT: Duration = Duration::from_secs(30);

/// How the supervisor restarts streams.
#[derive(Debug, Clone)]
pub struct RestartPolicy {
    /// First delay after a transient failure; doubles up to `max`.
    pub initial: Duration,
    pub max: Duration,
    /// Delay before retrying a stream that failed for a reason a person must fix.
    pub failed_retry: Duration,
    /// A fetcher with no progress for this long, outside a legitimate wait, is restarted.
    pub stall_timeout: Duration,
}

impl Default for RestartPolicy {
    fn default() -> Self {
        Self {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(300),
            failed_retry: Duration::from_secs(900),
            stall_timeout: Duration::from_secs(900),
        }
    }
}

/// What every fetcher shares.
#[derive(Clone)]
pub struct SupervisorDeps {
    pub clock: Clock,
    pub metrics: Arc<Metrics>,
    pub status: StatusBoard,
    pub publisher: Addr<Publisher>,
    pub kafka: Arc<KafkaSettings>,
    pub http: reqwest::Client,
    /// Shared by every fetcher: API requests in flight in the whole process.
    pub requests: Arc<tokio::sync::Semaphore>,
    /// Threads to spread fetchers and limiters over.
    pub workers: Vec<ArbiterHandle>,
    pub restart: RestartPolicy,
    /// Create missing topics for streams added later (reload).
    pub create_topics: bool,
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
    limiters: HashMap<LimitKey, Addr<RateLimiter>>,
    /// The arbiter that runs all of this tenant's fetchers and limiters: their messages
    /// to each other stay on one thread, and tenants spread evenly over the workers.
    worker: Option<ArbiterHandle>,
}

struct Slot {
    fetcher: Option<Addr<StreamFetcher>>,
    backoff: Backoff,
    restart: Option<SpawnHandle>,
}

pub struct Supervisor {
    deps: SupervisorDeps,
    tenants: BTreeMap<TenantId, Tenant>,
    slots: HashMap<StreamKey, Slot>,
    next_worker: usize,
}

impl Supervisor {
    pub fn new(deps: SupervisorDeps) -> Self {
        Self {
            deps,
            tenants: BTreeMap::new(),
            slots: HashMap::new(),
            next_worker: 0,
        }
    }

    /// The next worker in turn, for a new tenant.
    fn next_worker(&mut self) -> Option<ArbiterHandle> {
        if self.deps.workers.is_empty() {
            return None;
        }
        self.next_worker = (self.next_worker + 1) % self.deps.workers.len();
        Some(self.deps.workers[self.next_worker].clone())
    }

    fn source_settings(&self, spec: &TenantSpec) -> SourceSettings {
        let http = self.deps.http.clone();
        match &spec.access {
            TenantAccess::Zoom {
                account_id,
                client_id,
                client_secret,
                api_base,
                oauth_base,
                category_type,
            } => {
                let creds = ZoomCredentials {
                    account_id: account_id.clone(),
                    client_id: client_id.clone(),
                    client_secret: client_secret.clone(),
                    oauth_base: oauth_base.clone(),
                };
                SourceSettings::zoom(
                    spec.id.clone(),
                    creds,
                    api_base.clone(),
                    category_type.clone(),
                    http,
                )
            }
            TenantAccess::Zoho {
                zoid,
                client_id,
                client_secret,
                refresh_token,
                mail_base,
                accounts_base,
                search_key,
            } => {
                let creds = ZohoCredentials {
                    zoid: zoid.clone(),
                    client_id: client_id.clone(),
                    client_secret: client_secret.clone(),
                    refresh_token: refresh_token.clone(),
                    accounts_base: accounts_base.clone(),
                };
                SourceSettings::zoho(
                    spec.id.clone(),
                    creds,
                    mail_base.clone(),
                    search_key.clone(),
                    http,
                )
            }
        }
    }

    /// The limiter of a tenant's bucket, started on first use.
    fn limiter(
        &mut self,
        tenant: &TenantId,
        kind: SourceKind,
        limit: LimitKey,
    ) -> Addr<RateLimiter> {
        if let Some(l) = self
            .tenants
            .get(tenant)
            .and_then(|t| t.limiters.get(&limit))
        {
            return l.clone();
        }
        let t = self.tenants.get_mut(tenant).expect("tenant exists");
        let worker = t.worker.clone();
        let spec = QuotaSpec::for_stream(&t.spec, kind);
        let name = format!("{}/{}/{}", tenant, limit.family.as_str(), limit.label);
        let key = StreamKey::new(tenant.clone(), kind);
        let gauge = spec.daily.map(|_| {
            self.deps
                .metrics
                .daily_quota(&key, limit.family.as_str(), limit.label)
        });
        let clock = self.deps.clock.clone();
        let make = move || RateLimiter::new(name, spec, clock, gauge);
        let addr = match worker {
            Some(w) => RateLimiter::start_in_arbiter(&w, move |_| make()),
            None => make().start(),
        };
        t.limiters.insert(limit, addr.clone());
        addr
    }

    fn start_stream(&mut self, key: StreamKey, ctx: &mut Context<Self>) {
        let Some(t) = self.tenants.get(&key.tenant) else {
            return;
        };
        let settings = t.spec.settings;
        let worker = t.worker.clone();
        let source = match build_source(key.source, &t.sources) {
            Ok(s) => s,
            Err(e) => {
                self.on_exit(key, Exit::Permanent(e.to_string()), Duration::ZERO, ctx);
                return;
            }
        };
        let limiter = self.limiter(&key.tenant, key.source, source.limit_key());
        let deps = FetcherDeps {
            key: key.clone(),
            source,
            limiter,
            publisher: self.deps.publisher.clone(),
            kafka: self.deps.kafka.clone(),
            settings,
            clock: self.deps.clock.clone(),
            metrics: self.deps.metrics.clone(),
            status: self.deps.status.clone(),
            requests: self.deps.requests.clone(),
        };
        self.deps.status.register(&key);
        let me = ctx.address().recipient();
        let addr = match worker {
            Some(w) => StreamFetcher::start_in_arbiter(&w, move |_| StreamFetcher::new(deps, me)),
            None => StreamFetcher::new(deps, me).start(),
        };
        let slot = self.slots.entry(key).or_insert_with(|| Slot {
            fetcher: None,
            backoff: Backoff::new(self.deps.restart.initial, self.deps.restart.max),
            restart: None,
        });
        slot.fetcher = Some(addr);
        slot.restart = None;
    }

    fn stop_stream(&mut self, key: &StreamKey, ctx: &mut Context<Self>) {
        if let Some(slot) = self.slots.remove(key) {
            if let Some(f) = slot.fetcher {
                f.do_send(StopFetcher);
            }
            if let Some(h) = slot.restart {
                ctx.cancel_future(h);
            }
        }
    }

    fn on_exit(&mut self, key: StreamKey, exit: Exit, ran_for: Duration, ctx: &mut Context<Self>) {
        let policy = self.deps.restart.clone();
        let status = self.deps.status.clone();
        status.register(&key);
        let slot = self.slots.entry(key.clone()).or_insert_with(|| Slot {
            fetcher: None,
            backoff: Backoff::new(policy.initial, policy.max),
            restart: None,
        });
        slot.fetcher = None;
        let delay = match &exit {
            Exit::Transient(reason) => {
                if ran_for > policy.max {
                    slot.backoff.reset();
                }
                let d = slot.backoff.next_delay();
                tracing::warn!(tenant = %key.tenant, source = %key.source, %reason, restart_in = ?d, "stream failed; restarting after a pause");
                status.update(&key, |s| {
                    s.state = StreamState::BackingOff;
                    s.last_error = Some(reason.clone());
                    s.restarts += 1;
                });
                Some(d)
            }
            Exit::Permanent(reason) => {
                tracing::error!(tenant = %key.tenant, source = %key.source, %reason, retry_in = ?policy.failed_retry,
                    "stream failed and needs attention (credentials, permissions or plan); retrying slowly");
                status.update(&key, |s| {
                    s.state = StreamState::Failed;
                    s.last_error = Some(reason.clone());
                    s.restarts += 1;
                });
                Some(policy.failed_retry)
            }
            Exit::Disabled(reason) => {
                tracing::warn!(tenant = %key.tenant, source = %key.source, %reason, "stream disabled: the API is not available to this account");
                status.update(&key, |s| {
                    s.state = StreamState::Disabled;
                    s.last_error = Some(reason.clone());
                    s.lag_seconds = None;
                });
                self.deps.metrics.forget_lag(&key);
                None
            }
        };
        if let Some(d) = delay {
            self.deps.metrics.stream(&key).restarts.inc();
            let k = key.clone();
            let h = ctx.run_later(d, move |act, ctx| {
                if act.slots.contains_key(&k) {
                    act.start_stream(k, ctx);
                }
            });
            if let Some(slot) = self.slots.get_mut(&key) {
                slot.restart = Some(h);
            }
        }
    }

    fn heartbeat(&mut self, ctx: &mut Context<Self>) {
        let stall = self.deps.restart.stall_timeout;
        let mut dead = Vec::new();
        for (key, slot) in &self.slots {
            let Some(f) = &slot.fetcher else { continue };
            if !f.connected() {
                dead.push((key.clone(), "fetcher stopped without reporting".to_string()));
                continue;
            }
            if let Some(s) = self.deps.status.get(key) {
                let stalled = !s.waiting
                    && s.last_progress.is_some_and(|p| p.elapsed() > stall)
                    && matches!(
                        s.state,
                        StreamState::Starting | StreamState::Backfilling | StreamState::Live
                    );
                if stalled {
                    f.do_send(StopFetcher);
                    dead.push((key.clone(), format!("no progress for {stall:?}")));
                }
            }
        }
        for (key, reason) in dead {
            self.on_exit(key, Exit::Transient(reason), Duration::ZERO, ctx);
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
        let wanted: BTreeMap<TenantId, TenantSpec> =
            msg.0.into_iter().map(|t| (t.id.clone(), t)).collect();
        let gone: Vec<TenantId> = self
            .tenants
            .iter()
            .filter(|(id, t)| wanted.get(*id) != Some(&t.spec))
            .map(|(id, _)| id.clone())
            .collect();
        for id in gone {
            let t = self.tenants.remove(&id).expect("listed above");
            let removed = !wanted.contains_key(&id);
            for key in t.spec.stream_keys() {
                self.stop_stream(&key, ctx);
                if removed {
                    self.deps.status.remove(&key);
                    self.deps.metrics.forget_stream(&key);
                }
            }
            // Its limiters stop when the last address (held by its fetchers) is dropped.
            tracing::info!(tenant = %id, "tenant {}", if removed { "removed: streams stopped, checkpoints kept" } else { "changed: restarting its streams" });
        }
        let mut started = Vec::new();
        for (id, spec) in wanted {
            if self.tenants.contains_key(&id) {
                continue;
            }
            let sources = self.source_settings(&spec);
            let keys: Vec<StreamKey> = spec.stream_keys().collect();
            let worker = self.next_worker();
            self.tenants.insert(
                id,
                Tenant {
                    spec,
                    sources,
                    limiters: HashMap::new(),
                    worker,
                },
            );
            started.extend(keys);
        }
        if started.is_empty() {
            return;
        }
        if !self.deps.create_topics {
            for key in started {
                self.start_stream(key, ctx);
            }
            return;
        }
        let kafka = self.deps.kafka.clone();
        let keys = started.clone();
        let fut = async move {
            let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
            loop {
                match trawl_kafka::ensure_topics(&kafka, &keys).await {
                    Ok(created) => {
                        if !created.is_empty() {
                            tracing::info!(topics = ?created, "created Kafka topics");
                        }
                        return;
                    }
                    Err(e) => {
                        let d = backoff.next_delay();
                        tracing::warn!(error = %e, retry_in = ?d, "cannot create Kafka topics yet; streams wait");
                        tokio::time::sleep(d).await;
                    }
                }
            }
        };
        ctx.wait(fut.into_actor(self).map(move |_, act, ctx| {
            for key in started {
                act.start_stream(key, ctx);
            }
        }));
    }
}

impl Handler<FetcherExited> for Supervisor {
    type Result = ();

    fn handle(&mut self, msg: FetcherExited, ctx: &mut Context<Self>) {
        if !self.slots.contains_key(&msg.key) {
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
    }
}

impl Handler<GetLimiters> for Supervisor {
    type Result = ResponseFuture<Vec<(String, LimiterState)>>;

    fn handle(&mut self, _: GetLimiters, _: &mut Context<Self>) -> Self::Result {
        let all: Vec<(String, Addr<RateLimiter>)> = self
            .tenants
            .iter()
            .flat_map(|(id, t)| {
                t.limiters.iter().map(move |(k, a)| {
                    (
                        format!("{}/{}/{}", id, k.family.as_str(), k.label),
                        a.clone(),
                    )
                })
            })
            .collect();
        Box::pin(async move {
            let mut out = Vec::with_capacity(all.len());
            for (name, a) in all {
                if let Ok(s) = a.send(GetState).await {
                    out.push((name, s));
                }
            }
            out
        })
    }
}
