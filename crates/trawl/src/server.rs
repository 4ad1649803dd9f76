//! The HTTP endpoints operators and orchestrators use: `GET /metrics` (Prometheus text
//! format 0.0.4), `/healthz` (the engine is not wedged: supervisor, publisher and worker
//! threads answer within [`LIVENESS_TIMEOUT`]), `/readyz` (configuration loaded, Kafka
//! reachable, supervisor running) and `/status` (every tenant stream and rate limiter,
//! as JSON, behind a bearer token: see [`status`]).
//!
//! The server starts before the engine (which waits for Kafka at start), so `/healthz`
//! answers at once and `/readyz` says why the process is not ready yet. The broker check
//! is a metadata request with a short timeout, run on a blocking thread, at most one at
//! a time and cached for [`PROBE_TTL`], so a scraping storm cannot hammer the brokers.
//! Nothing served here holds a secret: the status board and the metrics carry tenant
//! ids, stream names, counts and error texts, and error texts never include credentials.
//! `/metrics`, `/healthz` and `/readyz` are open (scrapers and probes); `/status` lists
//! the provider's customers and needs `[server] status_token`.

mod status;

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use actix_web::dev::ServerHandle;
use actix_web::http::StatusCode;
use actix_web::{web, App, HttpResponse, HttpServer};
use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseProducer, Producer};
use serde::Serialize;
use trawl_engine::Engine;
use trawl_kafka::KafkaSettings;

use crate::config::ServerSettings;
pub use status::{StatusAccess, SNAPSHOT_TTL};

/// How long a broker check result is reused.
pub const PROBE_TTL: Duration = Duration::from_secs(3);
/// How long a broker check waits for metadata.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long `/healthz` waits for the supervisor, the publisher and each worker thread.
pub const LIVENESS_TIMEOUT: Duration = Duration::from_secs(3);

/// What the endpoints read: the engine once it runs, the broker probe, reload results,
/// who may read `/status` and its cached document.
pub struct AppState {
    engine: OnceLock<Engine>,
    probe: BrokerProbe,
    reload: std::sync::Mutex<ReloadInfo>,
    status: status::StatusPage,
}

/// The outcome of the latest configuration reload, shown in `/status`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ReloadInfo {
    pub reloads: u64,
    pub last_reload: Option<chrono::DateTime<chrono::Utc>>,
    /// Every problem of the last reload: all of them when it was refused, those of the
    /// tenant files it left out when it was applied without them (`None` after a clean
    /// one).
    pub last_error: Option<String>,
    /// Tenant files left out of the last reload (the rest of it was applied), with why.
    pub rejected_files: Vec<RejectedFile>,
}

/// A tenant file a reload left out: its path and its problems.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RejectedFile {
    pub path: String,
    pub errors: Vec<String>,
}

impl AppState {
    /// State for a loaded configuration whose engine is not started yet.
    pub fn new(kafka: &KafkaSettings, server: &ServerSettings) -> Arc<Self> {
        Arc::new(Self {
            engine: OnceLock::new(),
            probe: BrokerProbe::new(kafka),
            reload: std::sync::Mutex::default(),
            status: status::StatusPage::new(StatusAccess::of(server)),
        })
    }

    /// Publishes the running engine to the endpoints (once).
    pub fn set_engine(&self, engine: Engine) {
        let _ = self.engine.set(engine);
    }

    pub fn engine(&self) -> Option<&Engine> {
        self.engine.get()
    }

    /// Records a reload outcome (`Err` holds the problems, already free of secrets) and
    /// the tenant files it left out.
    pub fn record_reload(&self, result: Result<(), String>, rejected: Vec<RejectedFile>) {
        let mut r = self.reload.lock().expect("reload info lock");
        r.reloads += 1;
        r.last_reload = Some(chrono::Utc::now());
        r.last_error = result.err();
        r.rejected_files = rejected;
    }

    pub fn reload_info(&self) -> ReloadInfo {
        self.reload.lock().expect("reload info lock").clone()
    }

    /// How many times the `/status` document was built (it is cached for
    /// [`SNAPSHOT_TTL`], however often it is asked for).
    pub fn status_builds(&self) -> u64 {
        self.status.builds()
    }
}

/// A cached "can I get metadata from a broker" check.
struct BrokerProbe {
    config: ClientConfig,
    /// Redacts secret property values from librdkafka's messages.
    kafka: KafkaSettings,
    client: OnceLock<Result<Arc<BaseProducer>, String>>,
    last: tokio::sync::Mutex<Option<(Instant, Result<(), String>)>>,
}

impl BrokerProbe {
    fn new(kafka: &KafkaSettings) -> Self {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &kafka.brokers)
            .set("client.id", "trawl-readyz")
            .set("log_level", "2");
        // Security settings apply; producer tuning is harmless on a probe.
        for (k, v) in &kafka.properties {
            if !k.starts_with("transaction") {
                config.set(k, v);
            }
        }
        Self {
            config,
            kafka: kafka.clone(),
            client: OnceLock::new(),
            last: tokio::sync::Mutex::new(None),
        }
    }

    async fn check(&self) -> Result<(), String> {
        let mut last = self.last.lock().await;
        if let Some((at, r)) = &*last {
            if at.elapsed() < PROBE_TTL {
                return r.clone();
            }
        }
        let client = self
            .client
            .get_or_init(|| {
                self.config
                    .create::<BaseProducer>()
                    .map(Arc::new)
                    .map_err(|e| {
                        self.kafka
                            .redact(&format!("cannot create a Kafka client: {e}"))
                    })
            })
            .clone();
        let redact = self.kafka.clone();
        let result = match client {
            Ok(c) => tokio::task::spawn_blocking(move || {
                c.client()
                    .fetch_metadata(None, PROBE_TIMEOUT)
                    .map(|_| ())
                    .map_err(|e| format!("Kafka not reachable: {e}"))
                    .map_err(|e| redact.redact(&e))
            })
            .await
            .unwrap_or_else(|e| Err(format!("broker check failed: {e}"))),
            Err(e) => Err(e),
        };
        *last = Some((Instant::now(), result.clone()));
        result
    }
}

/// A started server: where it listens and how to stop it.
pub struct RunningServer {
    pub addr: SocketAddr,
    pub handle: ServerHandle,
}

impl RunningServer {
    pub async fn stop(&self) {
        self.handle.stop(true).await;
    }
}

/// Binds `listen` (port 0 picks a free one), starts serving on the current actix
/// System and returns the bound address.
pub fn start(listen: SocketAddr, state: Arc<AppState>) -> std::io::Result<RunningServer> {
    let data = web::Data::from(state);
    let server = HttpServer::new(move || App::new().app_data(data.clone()).configure(routes))
        .workers(1)
        .disable_signals()
        .shutdown_timeout(5)
        .bind(listen)?;
    let addr = server
        .addrs()
        .first()
        .copied()
        .ok_or_else(|| std::io::Error::other("no address bound"))?;
    let server = server.run();
    let handle = server.handle();
    actix_web::rt::spawn(server);
    tracing::info!(%addr, "HTTP endpoints listening: /metrics /healthz /readyz /status");
    Ok(RunningServer { addr, handle })
}

/// The routes, also for `actix_web::test` in unit tests.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/metrics", web::get().to(metrics))
        .route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz))
        .route("/status", web::get().to(status::status));
}

async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let body = state
        .engine()
        .map(|e| e.metrics.render())
        .unwrap_or_default();
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(body)
}

/// 200 while the engine answers (or is still starting: the start waits for Kafka, which
/// `/readyz` reports); 503 with what did not answer once it is wedged.
async fn healthz(state: web::Data<AppState>) -> HttpResponse {
    let text = |code: StatusCode, body: String| {
        HttpResponse::build(code)
            .content_type("text/plain; charset=utf-8")
            .body(body)
    };
    let Some(engine) = state.engine() else {
        return text(StatusCode::OK, "ok (engine starting)\n".into());
    };
    match engine.liveness(LIVENESS_TIMEOUT).await {
        Ok(()) => text(StatusCode::OK, "ok\n".into()),
        Err(problems) => {
            tracing::error!(problems = %problems.join("; "), "liveness check failed: the engine is wedged");
            text(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("engine wedged: {}\n", problems.join("; ")),
            )
        }
    }
}

#[derive(Serialize)]
struct Readiness {
    ready: bool,
    /// Why not, one line per failed check.
    reasons: Vec<String>,
}

async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let mut reasons = Vec::new();
    match state.engine() {
        None => reasons.push("engine starting: waiting for Kafka to load checkpoints".into()),
        Some(e) if !e.is_running() => reasons.push("supervisor not running".into()),
        Some(e) => {
            // Fenced is for good: this process publishes nothing more, and it must not
            // take the id back (that would fence the instance that took over). Not
            // ready, so an orchestrator shows it and routes nothing to it.
            if let Some(why) = e.fenced() {
                reasons.push(format!("stopped publishing: {why}"));
            }
        }
    }
    if let Err(e) = state.probe.check().await {
        reasons.push(e);
    }
    let ready = reasons.is_empty();
    let code = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    HttpResponse::build(code).json(Readiness { ready, reasons })
}

#[cfg(test)]
mod tests;
