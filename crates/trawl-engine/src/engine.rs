//! Starting and stopping the whole engine: what `trawl run` and `trawl demo` call.
//!
//! Start: choose the sink once (idempotent producer + checkpoint store, or
//! transactional), create missing topics and load every stored checkpoint (waiting,
//! with backoff, while the broker is unreachable: nothing else could work), start the
//! `Publisher`, worker threads and the `Supervisor`, and hand it the tenants. A reload
//! ([`Engine::apply_tenants`]) creates the new tenants' topics first, then hands the
//! supervisor the new set; reloads are applied in order, the newest winning.
//! Stop: stop every fetcher, then flush the producer so every acknowledged-or-pending
//! event is out before the process exits.
//!
//! With `[cluster]` the sink is a [`ClusterSink`], the supervisor runs only what the
//! group assigns to this member ([`crate::cluster`]), and a stop first leaves the group,
//! handing every account over.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use tokio::sync::mpsc;
use trawl_kafka::cluster::{ClusterSink, Gate};
use trawl_kafka::{
    EventProducer, FileCheckpointStore, IdempotentSink, KafkaCheckpointStore, KafkaError,
    KafkaSettings, Sink, TransactionalSink,
};
use trawl_model::StreamKey;

use crate::backoff::Backoff;
use crate::clock::Clock;
use crate::cluster::{ClusterView, Member};
use crate::config::{CheckpointSettings, EngineConfig, TenantSpec};
use crate::limiter::{LimiterState, QuotaKeeper};
use crate::metrics::Metrics;
use crate::publisher::{Flush, Publisher, PublisherHandle};
use crate::status::StatusBoard;
use crate::supervisor::{
    ApplyTenants, GetLimiters, RestartPolicy, RestoreDays, StopAll, Supervisor, SupervisorDeps,
};

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("cannot set up Kafka: {0}")]
    Kafka(#[from] KafkaError),
    #[error("cannot build the HTTP client: {0}")]
    Http(String),
    #[error("configuration the engine cannot run: {0}")]
    Config(String),
}

/// Knobs that are not user configuration.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    pub clock: Clock,
    /// Worker threads for fetchers and limiters (default: the number of cores).
    pub workers: usize,
    pub restart: RestartPolicy,
    /// Metrics registry to use (a fresh one when `None`).
    pub metrics: Option<Arc<Metrics>>,
    /// Create missing topics (off for clusters where the app may not, and for
    /// librdkafka's mock cluster, which has no CreateTopics).
    pub create_topics: bool,
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self {
            clock: Clock::System,
            workers: std::thread::available_parallelism().map_or(2, |n| n.get()),
            restart: RestartPolicy::default(),
            metrics: None,
            create_topics: true,
        }
    }
}

/// A running engine. Cheap to clone.
#[derive(Clone)]
pub struct Engine {
    pub supervisor: Addr<Supervisor>,
    pub publisher: Addr<Publisher>,
    pub status: StatusBoard,
    pub metrics: Arc<Metrics>,
    sink: Arc<dyn Sink>,
    reloads: mpsc::UnboundedSender<Vec<TenantSpec>>,
    workers: Vec<ArbiterHandle>,
    member: Option<Arc<Member>>,
    /// The buckets' day states beside the checkpoints (with the Kafka checkpoint store).
    quota: Option<Arc<QuotaKeeper>>,
}

/// The one sink of the engine, chosen from the configuration.
fn open_sink(config: &EngineConfig) -> Result<Arc<dyn Sink>, EngineError> {
    let kafka = &config.kafka;
    if config.cluster.is_some() {
        return Err(EngineError::Config(
            "a cluster member opens a cluster sink".into(),
        ));
    }
    let producer = EventProducer::new(kafka)?;
    Ok(match (&config.checkpoints, kafka.transactional) {
        (CheckpointSettings::Kafka, true) => Arc::new(TransactionalSink::new(
            producer,
            KafkaCheckpointStore::new(kafka)?,
        )?),
        (CheckpointSettings::File { .. }, true) => {
            return Err(EngineError::Config(
                "kafka.transactional = true writes each checkpoint inside its transaction, to \
                 the checkpoint topic: it needs checkpoints.store = \"kafka\" (with the file \
                 store a restart would forget every stream)"
                    .into(),
            ))
        }
        (CheckpointSettings::Kafka, false) => Arc::new(IdempotentSink::new(
            producer,
            Arc::new(KafkaCheckpointStore::new(kafka)?),
        )),
        (CheckpointSettings::File { dir }, false) => Arc::new(IdempotentSink::new(
            producer,
            Arc::new(FileCheckpointStore::new(dir.clone())?),
        )),
    })
}

/// Creates the missing topics of `tenants`' streams, retrying with backoff while Kafka
/// cannot (broker down); logs what it created.
async fn create_topics(kafka: &KafkaSettings, tenants: &[TenantSpec]) {
    let keys: Vec<StreamKey> = tenants.iter().flat_map(|t| t.stream_keys()).collect();
    let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
    loop {
        match trawl_kafka::ensure_topics(kafka, &keys).await {
            Ok(_) => return,
            Err(error) => {
                let delay = backoff.next_delay();
                tracing::warn!(%error, retry_in = ?delay, "cannot create Kafka topics yet; new streams wait");
                tokio::time::sleep(delay).await;
            }
        }
    }
}

impl Engine {
    /// Starts the engine inside the current actix System.
    pub async fn start(config: EngineConfig, opts: EngineOptions) -> Result<Engine, EngineError> {
        let metrics = opts
            .metrics
            .unwrap_or_else(|| Arc::new(Metrics::new(config.metrics.tenant_label)));
        let cluster_sink = match (&config.cluster, &config.checkpoints) {
            (Some(_), CheckpointSettings::Kafka) => {
                Some(Arc::new(ClusterSink::new(&config.kafka, Gate::default())?))
            }
            (Some(_), CheckpointSettings::File { .. }) => {
                return Err(EngineError::Config(
                    "[cluster] needs checkpoints.store = \"kafka\": the member that takes an \
                     account over reads its checkpoints from the checkpoint topic (files stay \
                     on the machine that wrote them)"
                        .into(),
                ))
            }
            (None, _) => None,
        };
        let sink: Arc<dyn Sink> = match &cluster_sink {
            Some(s) => s.clone(),
            None => open_sink(&config)?,
        };
        let keys: Vec<StreamKey> = config
            .tenants
            .iter()
            .flat_map(|t| t.stream_keys())
            .collect();
        // Both must allow it: the caller (tests, the demo) and the user (`kafka.create_topics`).
        let create = opts.create_topics && config.kafka.create_topics;
        let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(30));
        let loaded = loop {
            let attempt = async {
                if create {
                    trawl_kafka::ensure_topics(&config.kafka, &keys).await?;
                }
                sink.load().await
            };
            match attempt.await {
                Ok(n) => break n,
                Err(error) if error.is_retryable() => {
                    let delay = backoff.next_delay();
                    tracing::warn!(%error, retry_in = ?delay, "Kafka not reachable at start; waiting");
                    tokio::time::sleep(delay).await;
                }
                Err(error) => return Err(error.into()),
            }
        };
        tracing::info!(
            checkpoints = loaded,
            streams = keys.len(),
            "checkpoints loaded"
        );
        let publisher = Publisher::new(sink.clone(), metrics.clone()).start();
        let http = config
            .http
            .build()
            .map_err(|e| EngineError::Http(e.to_string()))?;
        let workers: Vec<ArbiterHandle> = (0..opts.workers.max(1))
            .map(|_| Arbiter::new().handle())
            .collect();
        let status = StatusBoard::new(metrics.clone());
        let member = match (&config.cluster, cluster_sink) {
            (Some(cluster), Some(sink)) => Some(loop {
                match Member::join(cluster, sink.clone(), &config.tenants).await {
                    Ok(joined) => break joined,
                    Err(error) if error.is_retryable() => {
                        let delay = backoff.next_delay();
                        tracing::warn!(%error, retry_in = ?delay, "cannot join the cluster yet; waiting");
                        tokio::time::sleep(delay).await;
                    }
                    Err(error) => return Err(error.into()),
                }
            }),
            _ => None,
        };
        let deps = SupervisorDeps {
            clock: opts.clock,
            metrics: metrics.clone(),
            status: status.clone(),
            publisher: PublisherHandle::new(publisher.clone(), sink.clone()),
            http,
            requests: Arc::new(tokio::sync::Semaphore::new(
                crate::fetch::MAX_REQUESTS_IN_FLIGHT,
            )),
            workers: workers.clone(),
            restart: opts.restart,
        };
        let supervisor = match &member {
            Some((m, _)) => Supervisor::in_cluster(deps, m.partitions),
            None => Supervisor::new(deps),
        }
        .start();
        record_poll_intervals(&metrics, &config.tenants);
        let quota = match config.checkpoints {
            CheckpointSettings::Kafka => {
                Some(QuotaKeeper::new(KafkaCheckpointStore::new(&config.kafka)?))
            }
            CheckpointSettings::File { .. } => None,
        };
        if let (Some(q), None) = (&quota, &member) {
            // A cluster member loads them at each assignment instead.
            match q.load().await {
                Ok(days) => supervisor.do_send(RestoreDays(days)),
                Err(error) => {
                    tracing::warn!(%error, "cannot load the day's quota state: buckets start a fresh count")
                }
            }
        }
        supervisor.do_send(ApplyTenants(config.tenants));
        let member = member.map(|(m, events)| {
            let m = Arc::new(m);
            let timeout = config
                .cluster
                .as_ref()
                .map_or(Duration::from_secs(30), |c| c.handover_timeout);
            m.spawn(
                events,
                supervisor.clone(),
                metrics.clone(),
                timeout,
                quota.clone(),
            );
            m
        });
        let reloads = spawn_reloads(
            supervisor.clone(),
            create.then_some(config.kafka),
            member.clone(),
        );
        Ok(Engine {
            supervisor,
            publisher,
            status,
            metrics,
            sink,
            reloads,
            workers,
            member,
            quota: quota.clone(),
        })
        .inspect(|engine| {
            if let Some(q) = quota {
                spawn_quota_saves(engine.supervisor.clone(), q);
            }
        })
    }

    /// This member of a cluster, for `/status` (`None` outside a cluster).
    pub fn cluster(&self) -> Option<ClusterView> {
        self.member
            .as_ref()
            .map(|m| m.view.lock().unwrap_or_else(|p| p.into_inner()).clone())
    }

    /// Replaces the set of tenants (config reload): their topics are created first.
    pub fn apply_tenants(&self, tenants: Vec<TenantSpec>) {
        record_poll_intervals(&self.metrics, &tenants);
        if self.reloads.send(tenants).is_err() {
            tracing::warn!("engine stopped: reload not applied");
        }
    }

    pub async fn limiters(&self) -> Vec<(String, LimiterState)> {
        self.supervisor.send(GetLimiters).await.unwrap_or_default()
    }

    /// Whether the supervisor actor is alive (for `/readyz`).
    pub fn is_running(&self) -> bool {
        self.supervisor.connected()
    }

    /// Whether the supervisor, the publisher and the worker threads answer within
    /// `timeout` (for `/healthz`); see [`crate::liveness`].
    pub async fn liveness(&self, timeout: Duration) -> Result<(), Vec<String>> {
        crate::liveness::check(&self.supervisor, &self.publisher, &self.workers, timeout).await
    }

    /// Why publishing stopped for good, if it did: another instance fenced this one's
    /// producer (for `/readyz` and the exit code).
    pub fn fenced(&self) -> Option<String> {
        self.sink.fenced().map(|e| e.to_string())
    }

    /// Stops every stream and flushes the producer; a cluster member first leaves the
    /// group, handing its accounts over.
    pub async fn stop(&self) {
        if let Some(m) = &self.member {
            m.leave().await;
        }
        if let Some(q) = &self.quota {
            q.save(&self.limiters().await).await;
        }
        let _ = self.supervisor.send(StopAll).await;
        match self.publisher.send(Flush).await {
            Ok(Ok(())) => tracing::info!("Kafka producer flushed"),
            Ok(Err(e)) => tracing::warn!(error = %e, "Kafka producer flush incomplete"),
            Err(e) => tracing::warn!(error = %e, "publisher gone before flush"),
        }
        for w in &self.workers {
            w.stop();
        }
    }
}

/// Writes the buckets' changed day states every [`crate::limiter::day::SAVE_EVERY`].
fn spawn_quota_saves(supervisor: Addr<Supervisor>, quota: Arc<QuotaKeeper>) {
    actix::spawn(async move {
        let mut every = tokio::time::interval(crate::limiter::day::SAVE_EVERY);
        every.tick().await;
        loop {
            every.tick().await;
            match supervisor.send(GetLimiters).await {
                Ok(limiters) => quota.save(&limiters).await,
                Err(_) => return,
            }
        }
    });
}

/// The task that applies reloads in order: topics first (when the engine creates
/// them), then the supervisor. Reloads that queued up meanwhile collapse to the newest.
fn spawn_reloads(
    supervisor: Addr<Supervisor>,
    kafka: Option<KafkaSettings>,
    member: Option<Arc<Member>>,
) -> mpsc::UnboundedSender<Vec<TenantSpec>> {
    let (tx, mut rx) = mpsc::unbounded_channel::<Vec<TenantSpec>>();
    actix::spawn(async move {
        while let Some(mut tenants) = rx.recv().await {
            while let Ok(newer) = rx.try_recv() {
                tenants = newer;
            }
            if let Some(kafka) = &kafka {
                create_topics(kafka, &tenants).await;
            }
            if let Some(m) = &member {
                m.apply(&tenants).await;
            }
            supervisor.do_send(ApplyTenants(tenants));
        }
    });
    tx
}

/// `trawl_poll_interval_seconds` of every stream of `tenants` (removed streams lose the
/// series through `Metrics::forget_stream`). The buckets' daily-quota gauges are the
/// accounts registry's.
fn record_poll_intervals(metrics: &Metrics, tenants: &[TenantSpec]) {
    for t in tenants {
        for key in t.stream_keys() {
            metrics.set_poll_interval(&key, t.settings.poll_interval);
        }
    }
}
