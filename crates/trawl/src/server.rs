//! The HTTP endpoints operators and orchestrators use: `GET /metrics` (Prometheus text
//! format 0.0.4), `/healthz` (the process answers), `/readyz` (configuration loaded,
//! Kafka reachable, supervisor running) and `/status` (every tenant stream and rate
//! limiter, as JSON).
//!
//! The server starts before the engine (which waits for Kafka at start), so `/healthz`
//! answers at once and `/readyz` says why the process is not ready yet. The broker check
//! is a metadata request with a short timeout, run on a blocking thread, at most one at
//! a time and cached for [`PROBE_TTL`], so a scraping storm cannot hammer the brokers.
//! Nothing served here holds a secret: the status board and the metrics carry tenant
//! ids, stream names, counts and error texts, and error texts never include credentials.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use actix_web::dev::ServerHandle;
use actix_web::http::StatusCode;
use actix_web::{web, App, HttpResponse, HttpServer};
use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseProducer, Producer};
use serde::Serialize;
use trawl_engine::actors::LimiterState;
use trawl_engine::status::StreamStatus;
use trawl_engine::Engine;
use trawl_kafka::KafkaSettings;

/// How long a broker check result is reused.
pub const PROBE_TTL: Duration = Duration::from_secs(3);
/// How long a broker check waits for metadata.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// What the endpoints read: the engine once it runs, the broker probe, reload results.
pub struct AppState {
    engine: OnceLock<Engine>,
    probe: BrokerProbe,
    reload: std::sync::Mutex<ReloadInfo>,
}

/// The outcome of the latest configuration reload, shown in `/status`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ReloadInfo {
    pub reloads: u64,
    pub last_reload: Option<chrono::DateTime<chrono::Utc>>,
    /// Every problem of the last refused reload (`None` after a good one).
    pub last_error: Option<String>,
}

impl AppState {
    /// State for a loaded configuration whose engine is not started yet.
    pub fn new(kafka: &KafkaSettings) -> Arc<Self> {
        Arc::new(Self {
            engine: OnceLock::new(),
            probe: BrokerProbe::new(kafka),
            reload: std::sync::Mutex::default(),
        })
    }

    /// Publishes the running engine to the endpoints (once).
    pub fn set_engine(&self, engine: Engine) {
        let _ = self.engine.set(engine);
    }

    pub fn engine(&self) -> Option<&Engine> {
        self.engine.get()
    }

    /// Records a reload outcome (`Err` holds the problems, already free of secrets).
    pub fn record_reload(&self, result: Result<(), String>) {
        let mut r = self.reload.lock().expect("reload info lock");
        r.reloads += 1;
        r.last_reload = Some(chrono::Utc::now());
        r.last_error = result.err();
    }

    fn reload_info(&self) -> ReloadInfo {
        self.reload.lock().expect("reload info lock").clone()
    }
}

/// A cached "can I get metadata from a broker" check.
struct BrokerProbe {
    config: ClientConfig,
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
                    .map_err(|e| format!("cannot create a Kafka client: {e}"))
            })
            .clone();
        let result = match client {
            Ok(c) => tokio::task::spawn_blocking(move || {
                c.client()
                    .fetch_metadata(None, PROBE_TIMEOUT)
                    .map(|_| ())
                    .map_err(|e| format!("Kafka not reachable: {e}"))
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
        .route("/status", web::get().to(status));
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

async fn healthz() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body("ok\n")
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
        Some(_) => {}
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

#[derive(Serialize)]
struct Limiter {
    name: String,
    #[serde(flatten)]
    state: LimiterState,
}

#[derive(Serialize)]
struct Status {
    engine_running: bool,
    streams: Vec<StreamStatus>,
    limiters: Vec<Limiter>,
    config: ReloadInfo,
}

async fn status(state: web::Data<AppState>) -> HttpResponse {
    let (streams, limiters, engine_running) = match state.engine() {
        Some(e) => {
            let limiters = e
                .limiters()
                .await
                .into_iter()
                .map(|(name, state)| Limiter { name, state })
                .collect();
            (e.status.snapshot(), limiters, e.is_running())
        }
        None => (Vec::new(), Vec::new(), false),
    };
    HttpResponse::Ok().json(Status {
        engine_running,
        streams,
        limiters,
        config: state.reload_info(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test;

    #[actix_web::test]
    async fn without_an_engine_alive_but_not_ready() {
        // Nothing listens on port 1: the probe fails fast.
        let state = AppState::new(&KafkaSettings::new("127.0.0.1:1"));
        let app = test::init_service(
            App::new()
                .app_data(web::Data::from(state))
                .configure(routes),
        )
        .await;
        let res =
            test::call_service(&app, test::TestRequest::get().uri("/healthz").to_request()).await;
        assert_eq!(res.status(), StatusCode::OK);
        let res =
            test::call_service(&app, test::TestRequest::get().uri("/readyz").to_request()).await;
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
        let body: serde_json::Value = test::read_body_json(res).await;
        assert_eq!(body["ready"], false);
        let reasons = body["reasons"].as_array().unwrap();
        assert!(reasons[0].as_str().unwrap().contains("engine starting"));
        assert!(reasons[1].as_str().unwrap().contains("Kafka not reachable"));
        let res =
            test::call_service(&app, test::TestRequest::get().uri("/metrics").to_request()).await;
        assert_eq!(
            res.headers().get("content-type").unwrap(),
            "text/plain; version=0.0.4; charset=utf-8"
        );
        let res =
            test::call_service(&app, test::TestRequest::get().uri("/status").to_request()).await;
        let body: serde_json::Value = test::read_body_json(res).await;
        assert_eq!(body["engine_running"], false);
        assert_eq!(body["streams"], serde_json::json!([]));
    }
}
