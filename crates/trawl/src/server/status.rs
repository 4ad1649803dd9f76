//! `GET /status`: every tenant stream, every rate limiter and the last reload, as JSON.
//!
//! It lists the provider's customers and their errors, so it is not open like the
//! probes: with `[server] status_token` set it needs `Authorization: Bearer <token>`
//! (401 otherwise); without one it is served only on a loopback listener (403 on any
//! other). The document is built at most once per [`SNAPSHOT_TTL`] and shared by every
//! request in that second, so a polling storm costs one snapshot of the board and one
//! round of limiter questions, not one per request. Error texts in it are cut to
//! [`MAX_ERROR_TEXT`] characters (an API may put anything in its messages); they never
//! hold a token or an answer body, which no error text carries.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use sha2::{Digest, Sha256};
use trawl_engine::limiter::LimiterState;
use trawl_engine::status::StreamStatus;

use super::{AppState, ReloadInfo};
use crate::config::ServerSettings;

/// How long one built document is served.
pub const SNAPSHOT_TTL: Duration = Duration::from_secs(1);
/// The longest error text shown, in characters.
pub const MAX_ERROR_TEXT: usize = 500;

/// Who may read `/status`.
pub enum StatusAccess {
    /// Requests with this bearer token (its SHA-256: the token itself is not kept twice).
    Token([u8; 32]),
    /// Anyone who can reach the loopback listener.
    Loopback,
    /// Nobody: a non-loopback listener without a token.
    Refused,
}

impl StatusAccess {
    pub fn of(server: &ServerSettings) -> Self {
        match &server.status_token {
            Some(t) => StatusAccess::Token(digest(t)),
            None if server.listen.ip().is_loopback() => StatusAccess::Loopback,
            None => StatusAccess::Refused,
        }
    }
}

fn digest(token: &SecretString) -> [u8; 32] {
    Sha256::digest(token.expose_secret().as_bytes()).into()
}

/// Compares the digests without an early exit, so timing says nothing about the token.
fn same(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The access rule and the cached document.
pub(super) struct StatusPage {
    access: StatusAccess,
    cache: tokio::sync::Mutex<Option<(Instant, web::Bytes)>>,
    builds: AtomicU64,
}

impl StatusPage {
    pub(super) fn new(access: StatusAccess) -> Self {
        Self {
            access,
            cache: tokio::sync::Mutex::new(None),
            builds: AtomicU64::new(0),
        }
    }

    pub(super) fn builds(&self) -> u64 {
        self.builds.load(Ordering::Relaxed)
    }

    /// `None` when `req` may read the page, else the refusal to send.
    fn refusal(&self, req: &HttpRequest) -> Option<HttpResponse> {
        match &self.access {
            StatusAccess::Loopback => None,
            StatusAccess::Refused => Some(
                HttpResponse::Forbidden()
                    .content_type("text/plain; charset=utf-8")
                    .body(
                        "/status lists every tenant: set [server] status_token to serve it on \
                         a non-loopback listener\n",
                    ),
            ),
            StatusAccess::Token(want) => {
                let given = req
                    .headers()
                    .get(header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.strip_prefix("Bearer "))
                    .map(|t| Sha256::digest(t.trim().as_bytes()).into());
                match given {
                    Some(g) if same(&g, want) => None,
                    _ => Some(
                        HttpResponse::Unauthorized()
                            .insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"trawl\""))
                            .content_type("text/plain; charset=utf-8")
                            .body("/status needs Authorization: Bearer <[server] status_token>\n"),
                    ),
                }
            }
        }
    }
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
    /// This member, its partitions and accounts (only in a cluster).
    #[serde(skip_serializing_if = "Option::is_none")]
    cluster: Option<trawl_engine::cluster::ClusterView>,
}

/// `text` cut to [`MAX_ERROR_TEXT`] characters, saying how much was cut.
pub fn bounded(text: &str) -> String {
    match text.char_indices().nth(MAX_ERROR_TEXT) {
        None => text.to_string(),
        Some((end, _)) => format!("{}… ({} more bytes)", &text[..end], text.len() - end),
    }
}

async fn build(state: &AppState) -> web::Bytes {
    state.status.builds.fetch_add(1, Ordering::Relaxed);
    let cluster = state.engine().and_then(|e| e.cluster());
    let (mut streams, limiters, engine_running) = match state.engine() {
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
    for s in &mut streams {
        if let Some(e) = &mut s.last_error {
            *e = bounded(e);
        }
    }
    let mut config = state.reload_info();
    config.last_error = config.last_error.as_deref().map(bounded);
    for f in &mut config.rejected_files {
        for e in &mut f.errors {
            *e = bounded(e);
        }
    }
    let doc = Status {
        engine_running,
        streams,
        limiters,
        config,
        cluster,
    };
    serde_json::to_vec(&doc).map_or_else(|_| web::Bytes::from_static(b"{}"), web::Bytes::from)
}

pub(super) async fn status(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    if let Some(refused) = state.status.refusal(&req) {
        return refused;
    }
    let body = {
        // Held while building: concurrent requests wait for this build, then share it.
        let mut cache = state.status.cache.lock().await;
        match &*cache {
            Some((at, body)) if at.elapsed() < SNAPSHOT_TTL => body.clone(),
            _ => {
                let body = build(&state).await;
                *cache = Some((Instant::now(), body.clone()));
                body
            }
        }
    };
    HttpResponse::Ok()
        .content_type("application/json")
        .body(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_texts_are_cut_on_a_character_and_say_so() {
        assert_eq!(bounded("short"), "short");
        let long = "é".repeat(MAX_ERROR_TEXT + 10);
        let cut = bounded(&long);
        assert!(cut.starts_with(&"é".repeat(MAX_ERROR_TEXT)));
        assert!(cut.ends_with("… (20 more bytes)"), "{cut}");
    }

    #[test]
    fn tokens_compare_by_digest() {
        let a = digest(&SecretString::from("t0ken"));
        assert!(same(&a, &digest(&SecretString::from("t0ken"))));
        assert!(!same(&a, &digest(&SecretString::from("t0kem"))));
    }
}
