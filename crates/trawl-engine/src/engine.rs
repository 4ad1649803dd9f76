//! Starting and stopping the whole engine: what `trawl run` and `trawl demo` call.
//!
//! Start: build the producer and the checkpoint store, load every stored checkpoint
//! (waiting, with backoff, while the broker is unreachable: nothing else could work),
//! start the `Publisher`, worker threads and the `Supervisor`, and hand it the tenants.
//! Stop: stop every fetcher, then flush the producer so every acknowledged-or-pending
//! event is out before the process exits.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use trawl_kafka::{
    CheckpointStore, EventProducer, FileCheckpointStore, KafkaCheckpointStore, KafkaError,
};

use crate::actors::publisher::Flush;
use trawl_sources::LimitKey;

use crate::quota::QuotaSpec;

use crate::actors::supervisor::{
    ApplyTenants, GetLimiters, RestartPolicy, StopAll, Supervisor, SupervisorDeps,
};
use crate::actors::{LimiterState, Publisher};
use crate::backoff::Backoff;
use crate::clock::Clock;
use crate::config::{CheckpointSettings, EngineConfig, TenantSpec};
use crate::metrics::Metrics;
use crate::status::StatusBoard;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("cannot set up Kafka: {0}")]
    Kafka(#[from] KafkaError),
    #[error("cannot build the HTTP client: {0}")]
    Http(String),
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
    workers: Vec<ArbiterHandle>,
}

impl Engine {
    /// Starts the engine inside the current actix System.
    pub async fn start(config: EngineConfig, opts: EngineOptions) -> Result<Engine, EngineError> {
        let metrics = opts
            .metrics
            .unwrap_or_else(|| Arc::new(Metrics::new(config.metrics.tenant_label)));
        let producer = EventProducer::new(&config.kafka)?;
        let store: Arc<dyn CheckpointStore> = match &config.checkpoints {
            CheckpointSettings::Kafka => Arc::new(KafkaCheckpointStore::new(&config.kafka)?),
            CheckpointSettings::File { dir } => Arc::new(FileCheckpointStore::new(dir.clone())?),
        };
        let keys: Vec<_> = config
            .tenants
            .iter()
            .flat_map(|t| t.stream_keys())
            .collect();
        // Both must allow it: the caller (tests, the demo) and the user (`kafka.create_topics`).
        let create_topics = opts.create_topics && config.kafka.create_topics;
        let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(30));
        let loaded = loop {
            let attempt = async {
                if create_topics {
                    trawl_kafka::ensure_topics(&config.kafka, &keys).await?;
                }
                store.load_all().await
            };
            match attempt.await {
                Ok(l) => break l,
                Err(e) if e.is_retryable() => {
                    let d = backoff.next_delay();
                    tracing::warn!(error = %e, retry_in = ?d, "Kafka not reachable at start; waiting");
                    tokio::time::sleep(d).await;
                }
                Err(e) => return Err(e.into()),
            }
        };
        tracing::info!(
            checkpoints = loaded.len(),
            streams = keys.len(),
            "checkpoints loaded"
        );
        let publisher = Publisher::new(producer, store, loaded, metrics.clone()).start();
        let http = trawl_sources::HttpClient::default()
            .build()
            .map_err(|e| EngineError::Http(e.to_string()))?;
        let workers: Vec<ArbiterHandle> = (0..opts.workers.max(1))
            .map(|_| Arbiter::new().handle())
            .collect();
        let status = StatusBoard::new(metrics.clone());
        let supervisor = Supervisor::new(SupervisorDeps {
            clock: opts.clock,
            metrics: metrics.clone(),
            status: status.clone(),
            publisher: publisher.clone(),
            kafka: Arc::new(config.kafka.clone()),
            http,
            requests: Arc::new(tokio::sync::Semaphore::new(
                crate::fetch::MAX_REQUESTS_IN_FLIGHT,
            )),
            workers: workers.clone(),
            restart: opts.restart,
            create_topics,
        })
        .start();
        record_poll_intervals(&metrics, &config.tenants);
        supervisor.do_send(ApplyTenants(config.tenants));
        Ok(Engine {
            supervisor,
            publisher,
            status,
            metrics,
            workers,
        })
    }

    /// Replaces the set of tenants (config reload).
    pub fn apply_tenants(&self, tenants: Vec<TenantSpec>) {
        record_poll_intervals(&self.metrics, &tenants);
        self.supervisor.do_send(ApplyTenants(tenants));
    }

    pub async fn limiters(&self) -> Vec<(String, LimiterState)> {
        self.supervisor.send(GetLimiters).await.unwrap_or_default()
    }

    /// Whether the supervisor actor is alive (for `/readyz`).
    pub fn is_running(&self) -> bool {
        self.supervisor.connected()
    }

    /// Stops every stream and flushes the producer.
    pub async fn stop(&self) {
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

/// `trawl_poll_interval_seconds` of every stream of `tenants` (removed streams lose the
/// series through `Metrics::forget_stream`) and `trawl_daily_quota_limit` of their
/// buckets: the plan's daily cap with the tenant's override, times its quota share, as
/// the rate limiter computes it.
fn record_poll_intervals(metrics: &Metrics, tenants: &[TenantSpec]) {
    for t in tenants {
        for key in t.stream_keys() {
            metrics.set_poll_interval(&key, t.settings.poll_interval);
            let limit = LimitKey::of(key.source);
            if let Some(cap) = QuotaSpec::for_stream(t, key.source).daily_cap() {
                metrics
                    .daily_quota_limit(&key, limit.family.as_str(), limit.label)
                    .set(i64::from(cap));
            }
        }
    }
}
