//! `/_sim/`: the simulator's truth and controls over HTTP, for tests in other
//! processes and for people poking at a running binary.
//!
//! GET stats, GET ground_truth, GET now, GET/POST faults, POST inject, POST advance,
//! POST phone (buy or cancel Zoom Phone), POST void_tokens (another holder of the app
//! credentials takes a token): the same things `SimHandle` offers in-process.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use serde_json::json;

use crate::config::Faults;
use crate::state::Sim;
use crate::SimApi;

pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/_sim")
            .route("/stats", web::get().to(stats))
            .route("/now", web::get().to(now))
            .route("/ground_truth", web::get().to(ground_truth))
            .route("/faults", web::get().to(get_faults))
            .route("/faults", web::post().to(set_faults))
            .route("/inject", web::post().to(inject))
            .route("/advance", web::post().to(advance))
            .route("/phone", web::post().to(phone))
            .route("/void_tokens", web::post().to(void_tokens)),
    );
}

fn bad(msg: String) -> HttpResponse {
    HttpResponse::BadRequest().json(json!({"error": msg}))
}

async fn stats(sim: web::Data<Sim>) -> HttpResponse {
    HttpResponse::Ok().json(sim.stats())
}

async fn now(sim: web::Data<Sim>) -> HttpResponse {
    HttpResponse::Ok().json(json!({"now": sim.clock.now()}))
}

#[derive(Deserialize)]
struct TruthQuery {
    account: String,
    api: String,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
}

async fn ground_truth(sim: web::Data<Sim>, q: web::Query<TruthQuery>) -> HttpResponse {
    match q.api.parse::<SimApi>() {
        Ok(api) => HttpResponse::Ok().json(sim.ground_truth(&q.account, api, q.from, q.to)),
        Err(e) => bad(e),
    }
}

async fn get_faults(sim: web::Data<Sim>) -> HttpResponse {
    HttpResponse::Ok().json(sim.faults.get())
}

async fn set_faults(sim: web::Data<Sim>, f: web::Json<Faults>) -> HttpResponse {
    match f.check() {
        Ok(()) => {
            tracing::info!(faults = ?f.0, "faults changed");
            sim.faults.set(f.into_inner());
            HttpResponse::Ok().json(sim.faults.get())
        }
        Err(e) => bad(e),
    }
}

#[derive(Deserialize)]
struct Inject {
    account: String,
    api: SimApi,
    #[serde(default)]
    n: usize,
    #[serde(default)]
    late: usize,
    #[serde(default)]
    age_seconds: i64,
}

async fn inject(sim: web::Data<Sim>, body: web::Json<Inject>) -> HttpResponse {
    let now = sim.clock.now_ms();
    sim.store.inject(
        body.api,
        &body.account,
        now,
        body.n,
        body.late,
        body.age_seconds * 1000,
    );
    HttpResponse::Ok().json(json!({"injected": body.n + body.late}))
}

#[derive(Deserialize)]
struct Advance {
    seconds: f64,
}

async fn advance(sim: web::Data<Sim>, q: web::Query<Advance>) -> HttpResponse {
    if !(q.seconds.is_finite() && q.seconds >= 0.0) {
        return bad("seconds must be >= 0".into());
    }
    sim.clock
        .advance(Duration::milliseconds((q.seconds * 1000.0) as i64));
    HttpResponse::Ok().json(json!({"now": sim.clock.now()}))
}

#[derive(Deserialize)]
struct PhoneQuery {
    account: String,
    enabled: bool,
}

async fn phone(sim: web::Data<Sim>, q: web::Query<PhoneQuery>) -> HttpResponse {
    match sim.zoom_by_id.get(&q.account) {
        Some(&idx) => {
            sim.set_phone(idx, q.enabled);
            tracing::info!(account = %q.account, enabled = q.enabled, "zoom phone switched");
            HttpResponse::Ok().json(json!({"account": q.account, "phone": q.enabled}))
        }
        None => bad(format!("unknown zoom account {:?}", q.account)),
    }
}

#[derive(Deserialize)]
struct AccountQuery {
    account: String,
}

async fn void_tokens(sim: web::Data<Sim>, q: web::Query<AccountQuery>) -> HttpResponse {
    match sim.zoom_by_id.get(&q.account) {
        Some(&idx) => {
            sim.void_tokens(idx, sim.clock.now_ms());
            HttpResponse::Ok().json(json!({"account": q.account, "voided": true}))
        }
        None => bad(format!("unknown zoom account {:?}", q.account)),
    }
}
