//! The two OAuth servers: Zoom Server-to-Server (`POST /oauth/token`) and Zoho
//! (`POST /oauth/v2/token`), and the registry of the access tokens they issued.
//!
//! Tokens expire on the simulated clock. Zoom can play either reading of whether a new
//! token revokes the previous ones (and another holder of the same credentials voiding
//! them, see `zoom.rs`); a Zoom token holds the scopes the app has. Zoho answers its
//! errors with HTTP 200 (`invalid_client` for a client id this data center does not
//! know, as a refresh sent to the wrong data center gets; `invalid_code` for a wrong
//! refresh token or secret) and allows at most 10 tokens per 10 minutes per refresh
//! token, keeping at most 15 active.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use actix_web::HttpRequest;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use rand::RngCore;
use serde_json::json;
use tracing::{debug, info};

use crate::reply::{Reply, Resp};
use crate::state::{AccountEvent, Sim};

/// Who a token speaks for: an index into the config's Zoom accounts or Zoho orgs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Principal {
    Zoom(usize),
    Zoho(usize),
}

const ZOHO_TOKENS_PER_WINDOW: usize = 10;
const ZOHO_WINDOW_MS: i64 = 10 * 60_000;
const ZOHO_MAX_ACTIVE: usize = 15;

/// What a presented access token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenCheck {
    Valid {
        principal: Principal,
        issued_ms: i64,
    },
    Expired(Principal),
    /// Never issued, or revoked by a newer one.
    Unknown,
}

#[derive(Default)]
struct Registry {
    /// token -> (principal, issued at, expires at)
    tokens: HashMap<String, (Principal, i64, i64)>,
    /// Per principal, the tokens issued (issue instant, token), oldest first.
    issued: HashMap<Principal, VecDeque<(i64, String)>>,
}

pub(crate) struct Tokens {
    reg: Mutex<Registry>,
}

impl Tokens {
    pub fn new() -> Self {
        Tokens {
            reg: Mutex::new(Registry::default()),
        }
    }

    pub fn check(&self, token: &str, now: i64) -> TokenCheck {
        let reg = self.reg.lock().unwrap_or_else(|e| e.into_inner());
        match reg.tokens.get(token) {
            None => TokenCheck::Unknown,
            Some(&(p, _, exp)) if exp <= now => TokenCheck::Expired(p),
            Some(&(principal, issued_ms, _)) => TokenCheck::Valid {
                principal,
                issued_ms,
            },
        }
    }

    /// Zoho's rule: tokens issued to this principal within the last 10 minutes.
    fn recent(&self, p: Principal, now: i64) -> usize {
        let reg = self.reg.lock().unwrap_or_else(|e| e.into_inner());
        reg.issued.get(&p).map_or(0, |q| {
            q.iter().filter(|(t, _)| *t > now - ZOHO_WINDOW_MS).count()
        })
    }

    /// Registers a new token; `keep` = how many earlier ones stay valid.
    fn issue(&self, p: Principal, token: String, now: i64, ttl_ms: i64, keep: usize) {
        let mut reg = self.reg.lock().unwrap_or_else(|e| e.into_inner());
        let reg = &mut *reg;
        let q = reg.issued.entry(p).or_default();
        // Forget what has expired and is outside Zoho's 10-minute window.
        while q
            .front()
            .is_some_and(|(t, _)| *t + ttl_ms.max(ZOHO_WINDOW_MS) <= now)
        {
            if let Some((_, old)) = q.pop_front() {
                reg.tokens.remove(&old);
            }
        }
        let live: Vec<String> = q
            .iter()
            .map(|(_, t)| t.clone())
            .filter(|t| reg.tokens.contains_key(t))
            .collect();
        if live.len() > keep {
            for old in &live[..live.len() - keep] {
                reg.tokens.remove(old);
            }
        }
        q.push_back((now, token.clone()));
        reg.tokens.insert(token, (p, now, now + ttl_ms));
    }
}

fn random_b64(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    rand::thread_rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

fn form(bytes: &[u8]) -> HashMap<String, String> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(bytes)
        .unwrap_or_default()
        .into_iter()
        .rev()
        .collect()
}

fn zoom_error(status: u16, error: &str, reason: &str) -> Reply {
    Resp::json(status, &json!({"reason": reason, "error": error})).into()
}

/// `POST /oauth/token`, grant `account_credentials`, Basic client auth, form body.
pub(crate) fn zoom_token(sim: &Sim, req: &HttpRequest, body: &[u8]) -> Reply {
    let now = sim.clock.now_ms();
    let creds = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Basic ")
                .or_else(|| v.strip_prefix("basic "))
        })
        .and_then(|b| STANDARD.decode(b.trim()).ok())
        .and_then(|b| String::from_utf8(b).ok());
    let params = form(body);
    let account_id = params.get("account_id").cloned().unwrap_or_default();
    let refuse = |status, error, reason| {
        sim.count(&account_id, AccountEvent::TokenRefused);
        debug!(account = %account_id, error, "zoom token refused");
        zoom_error(status, error, reason)
    };
    let Some((client_id, secret)) = creds.as_deref().and_then(|c| c.split_once(':')) else {
        return refuse(401, "invalid_client", "Invalid client_id or client_secret");
    };
    // Since 2024 the grant must be in the body; the query-string form is refused.
    if params.get("grant_type").map(String::as_str) != Some("account_credentials") {
        return refuse(400, "unsupported_grant_type", "Unsupported grant type");
    }
    let Some(&idx) = sim.zoom_by_id.get(&account_id) else {
        return refuse(400, "invalid_request", "Invalid account_id");
    };
    let acct = &sim.config.zoom_accounts[idx];
    if acct.client_id != client_id || acct.client_secret != secret {
        return refuse(401, "invalid_client", "Invalid client_id or client_secret");
    }
    let token = format!(
        "eyJzdiI6IjAwMDAwMiIsImFsZyI6IkhTNTEyIiwidiI6IjIuMCJ9.{}",
        random_b64(96)
    );
    let ttl = sim.config.token_ttl_secs as i64;
    let keep = if sim.config.zoom_new_token_revokes_old {
        0
    } else {
        usize::MAX
    };
    sim.tokens
        .issue(Principal::Zoom(idx), token.clone(), now, ttl * 1000, keep);
    sim.count(&acct.account_id, AccountEvent::TokenIssued);
    info!(account = %acct.account_id, "zoom token issued");
    let scope = crate::zoom::KNOWN_SCOPES
        .iter()
        .filter(|s| sim.phone_enabled(idx) || !s.starts_with("phone:"))
        .filter(|s| !acct.missing_scopes.iter().any(|m| m == *s))
        .copied()
        .collect::<Vec<_>>()
        .join(" ");
    Resp::json(
        200,
        &json!({"access_token": token, "token_type": "bearer", "expires_in": ttl, "scope": scope}),
    )
    .into()
}

/// `POST /oauth/v2/token`, grant `refresh_token`; parameters in the body or the query.
pub(crate) fn zoho_token(sim: &Sim, req: &HttpRequest, body: &[u8]) -> Reply {
    let now = sim.clock.now_ms();
    let mut params = form(req.query_string().as_bytes());
    params.extend(form(body));
    let get = |k: &str| params.get(k).map(String::as_str).unwrap_or("");
    let found = sim.zoho_by_refresh.get(get("refresh_token")).copied();
    let zoid = found.map_or("", |i| sim.config.zoho_orgs[i].zoid.as_str());
    let refuse = |body: serde_json::Value| {
        sim.count(zoid, AccountEvent::TokenRefused);
        debug!(zoid, %body, "zoho token refused");
        Reply::from(Resp::json(200, &body))
    };
    if get("grant_type") != "refresh_token" {
        return refuse(json!({"error": "unsupported_grant_type"}));
    }
    // Clients are registered in one data center: another's accounts host (another
    // simulator) does not know the client id at all.
    if !sim
        .config
        .zoho_orgs
        .iter()
        .any(|o| o.client_id == get("client_id"))
    {
        return refuse(json!({"error": "invalid_client"}));
    }
    let Some(idx) = found else {
        return refuse(json!({"error": "invalid_code"}));
    };
    let org = &sim.config.zoho_orgs[idx];
    if org.client_id != get("client_id") || org.client_secret != get("client_secret") {
        return refuse(json!({"error": "invalid_code"}));
    }
    if sim.tokens.recent(Principal::Zoho(idx), now) >= ZOHO_TOKENS_PER_WINDOW {
        return refuse(json!({
            "error": "Access Denied",
            "error_description": "You have made too many requests continuously. Please try again after some time."
        }));
    }
    let token = format!(
        "1000.{}.{}",
        hex::encode(&random_b64(16).as_bytes()[..16]),
        hex::encode(&random_b64(16).as_bytes()[..16])
    );
    let ttl = sim.config.token_ttl_secs as i64;
    sim.tokens.issue(
        Principal::Zoho(idx),
        token.clone(),
        now,
        ttl * 1000,
        ZOHO_MAX_ACTIVE - 1,
    );
    sim.count(&org.zoid, AccountEvent::TokenIssued);
    info!(zoid = %org.zoid, "zoho token issued");
    Resp::json(
        200,
        &json!({"access_token": token, "expires_in": ttl, "api_domain": "https://www.zohoapis.com", "token_type": "Bearer"}),
    )
    .into()
}
