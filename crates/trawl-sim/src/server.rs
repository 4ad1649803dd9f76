//! Starting, serving and stopping the simulator, and the handle tests hold.
//!
//! The HTTP server runs on its own thread with its own actix `System`, so
//! [`Simulator::start`] works the same from a `#[tokio::test]`, from inside an actix
//! System and from the binary. All five vendor endpoints and `/_sim/` share one listener.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use actix_web::dev::ServerHandle;
use actix_web::web::{self, Bytes};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer};
use anyhow::Context;
use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};
use tokio::sync::oneshot;
use tracing::{debug, info};

use crate::config::{Faults, SimConfig};
use crate::faults::Style;
use crate::reply::Reply;
use crate::state::Sim;
use crate::stats::SimStats;
use crate::{introspect, oauth, zoho, zoom, SimApi};

/// Entry point: `Simulator::start(config, "127.0.0.1:0".parse()?)`.
pub struct Simulator;

impl Simulator {
    /// Binds `listen` and serves in the background until [`SimHandle::stop`] (or until
    /// the last handle is dropped).
    pub async fn start(config: SimConfig, listen: SocketAddr) -> anyhow::Result<SimHandle> {
        config.validate()?;
        let workers = config.workers.max(1);
        let sim = Arc::new(Sim::new(config));
        let listener =
            std::net::TcpListener::bind(listen).with_context(|| format!("binding {listen}"))?;
        let addr = listener.local_addr()?;
        let (ready_tx, ready_rx) = oneshot::channel::<std::io::Result<ServerHandle>>();
        let (done_tx, done_rx) = oneshot::channel::<()>();
        let app_sim = sim.clone();
        std::thread::Builder::new()
            .name("trawl-sim".into())
            .spawn(move || {
                let system = actix_rt::System::new();
                system.block_on(async move {
                    let data = web::Data::from(app_sim);
                    let server = HttpServer::new(move || {
                        App::new().app_data(data.clone()).configure(routes)
                    })
                    .workers(workers)
                    .disable_signals()
                    .shutdown_timeout(1)
                    .listen(listener);
                    match server {
                        Ok(server) => {
                            let server = server.run();
                            let _ = ready_tx.send(Ok(server.handle()));
                            if let Err(e) = server.await {
                                tracing::error!(error = %e, "simulator server failed");
                            }
                        }
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                        }
                    }
                });
                let _ = done_tx.send(());
            })
            .context("spawning the simulator thread")?;
        let server = ready_rx.await.context("simulator thread ended early")??;
        info!(%addr, "trawl-sim listening");
        Ok(SimHandle {
            inner: Arc::new(Inner {
                sim,
                server,
                addr,
                done: Mutex::new(Some(done_rx)),
            }),
        })
    }
}

struct Inner {
    sim: Arc<Sim>,
    server: ServerHandle,
    addr: SocketAddr,
    done: Mutex<Option<oneshot::Receiver<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // The stop command is sent eagerly; nobody waits for it here.
        drop(self.server.stop(false));
    }
}

/// A running simulator. Cheap to clone; all clones see the same simulator.
#[derive(Clone)]
pub struct SimHandle {
    inner: Arc<Inner>,
}

impl SimHandle {
    /// "http://127.0.0.1:PORT", no trailing slash: the api, oauth, mail and accounts base.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.inner.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.inner.addr
    }

    /// The simulated clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.inner.sim.clock.now()
    }

    /// Moves the simulated clock forward (negative durations are ignored).
    pub fn advance(&self, d: Duration) {
        self.inner.sim.clock.advance(d);
    }

    pub fn stats(&self) -> SimStats {
        self.inner.sim.stats()
    }

    /// Every record the API holds now for the account (Zoom account id or Zoho zoid)
    /// with time in [from, to), as served, oldest first.
    pub fn ground_truth(
        &self,
        account: &str,
        api: SimApi,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Vec<Value> {
        self.inner.sim.ground_truth(account, api, from, to)
    }

    /// [`SimHandle::ground_truth`] with the instant each record became visible: later
    /// than its time for a late record (tests tell records late beyond a lookback apart).
    pub fn ground_truth_seen(
        &self,
        account: &str,
        api: SimApi,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Vec<(Value, DateTime<Utc>)> {
        self.inner.sim.ground_truth_seen(account, api, from, to)
    }

    /// Adds `n` records with time = now and `late` records with time = now - `age`,
    /// all visible from now on.
    pub fn inject(&self, account: &str, api: SimApi, n: usize, late: usize, age: Duration) {
        let sim = &self.inner.sim;
        sim.store.inject(
            api,
            account,
            sim.clock.now_ms(),
            n,
            late,
            age.num_milliseconds(),
        );
    }

    /// Buys (`true`) or cancels Zoom Phone for a Zoom account while the simulator runs;
    /// `false` for an unknown account.
    pub fn set_phone(&self, account: &str, enabled: bool) -> bool {
        let sim = &self.inner.sim;
        sim.zoom_by_id
            .get(account)
            .map(|&i| sim.set_phone(i, enabled))
            .is_some()
    }

    /// Another holder of a Zoom account's app credentials takes a token now, voiding
    /// every token issued before; `false` for an unknown account.
    pub fn void_tokens(&self, account: &str) -> bool {
        let sim = &self.inner.sim;
        sim.zoom_by_id
            .get(account)
            .map(|&i| sim.void_tokens(i, sim.clock.now_ms()))
            .is_some()
    }

    /// Replaces the faults in force (rates are clamped to [0, 1]).
    pub fn set_faults(&self, mut faults: Faults) {
        for r in [
            &mut faults.server_error_rate,
            &mut faults.html_error_rate,
            &mut faults.malformed_rate,
            &mut faults.dropped_connection_rate,
            &mut faults.slow_body_rate,
        ] {
            *r = if r.is_nan() { 0.0 } else { r.clamp(0.0, 1.0) };
        }
        self.inner.sim.faults.set(faults);
    }

    /// Stops serving and waits until the server thread has ended.
    pub async fn stop(self) {
        self.inner.server.stop(false).await;
        let done = self
            .inner
            .done
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(done) = done {
            let _ = done.await;
        }
    }
}

fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/oauth/token", web::post().to(zoom_token))
        .route("/oauth/v2/token", web::post().to(zoho_token))
        .route("/v2/report/operationlogs", web::get().to(zoom_main))
        .route("/v2/phone/reports/operationlogs", web::get().to(zoom_phone))
        .route(
            "/api/organization/{zoid}/activity",
            web::get().to(zoho_activity),
        )
        .configure(introspect::routes)
        .default_service(web::to(not_found));
}

/// Latency first (the network), then the handler, then body faults.
async fn serve(sim: &Sim, style: Style, oauth: bool, f: impl FnOnce() -> Reply) -> HttpResponse {
    if let Some(delay) = sim.faults.latency(oauth) {
        tokio::time::sleep(delay).await;
    }
    let reply = if oauth {
        sim.faults.before(style, true).unwrap_or_else(f)
    } else {
        f()
    };
    if let Reply::Http(r) = &reply {
        debug!(status = r.status, "answer");
    }
    sim.faults.respond(reply)
}

async fn zoom_token(sim: web::Data<Sim>, req: HttpRequest, body: Bytes) -> HttpResponse {
    serve(&sim, Style::Zoom, true, || {
        oauth::zoom_token(&sim, &req, &body)
    })
    .await
}

async fn zoho_token(sim: web::Data<Sim>, req: HttpRequest, body: Bytes) -> HttpResponse {
    serve(&sim, Style::Zoho, true, || {
        oauth::zoho_token(&sim, &req, &body)
    })
    .await
}

async fn zoom_main(sim: web::Data<Sim>, req: HttpRequest) -> HttpResponse {
    serve(&sim, Style::Zoom, false, || {
        zoom::report(&sim, &req, SimApi::ZoomOperationLogs)
    })
    .await
}

async fn zoom_phone(sim: web::Data<Sim>, req: HttpRequest) -> HttpResponse {
    serve(&sim, Style::Zoom, false, || {
        zoom::report(&sim, &req, SimApi::ZoomPhoneOperationLogs)
    })
    .await
}

async fn zoho_activity(
    sim: web::Data<Sim>,
    req: HttpRequest,
    zoid: web::Path<String>,
) -> HttpResponse {
    serve(&sim, Style::Zoho, false, || {
        zoho::activity(&sim, &req, &zoid)
    })
    .await
}

async fn not_found(req: HttpRequest) -> HttpResponse {
    HttpResponse::NotFound().json(json!({"code": 404, "message": format!("No such endpoint: {} {}", req.method(), req.path())}))
}
