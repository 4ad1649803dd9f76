//! Zoom's two operation-log reports: `GET /v2/report/operationlogs` and
//! `GET /v2/phone/reports/operationlogs`.
//!
//! A request goes through what Zoom does, in order: bearer token (401 code 124: expired,
//! unknown, or voided by another holder of the same app credentials), the token's scopes
//! (400 code 4711), the account's rate limits (429, with whichever headers are
//! configured), plan and Phone checks (400 code 200; no Phone as 404 code 124, 403 code
//! 2031 or 400 code 300), then one page of the listing ([`crate::zoom_listing`]).

use std::collections::HashMap;

use actix_web::HttpRequest;
use serde_json::json;

use crate::clock::from_ms;
use crate::config::{LimitHeaders, NoPhone, Plan, RetryAfterFormat, VoidMessage};
use crate::data::hash_parts;
use crate::faults::Style;
use crate::limits::{self, Verdict};
use crate::oauth::{Principal, TokenCheck};
use crate::reply::{Reply, Resp};
use crate::state::{AccountEvent, Sim};
use crate::SimApi;

/// Every scope a Zoom token of the simulator can hold: the classic and the granular
/// scope of each report.
pub(crate) const KNOWN_SCOPES: [&str; 4] = [
    "report:read:admin",
    "report:read:operation_logs:admin",
    "phone:read:admin",
    "phone:read:operation_logs:admin",
];

/// The scopes any one of which opens `api`.
fn scopes_of(api: SimApi) -> &'static [&'static str] {
    match api {
        SimApi::ZoomPhoneOperationLogs => &KNOWN_SCOPES[2..],
        _ => &KNOWN_SCOPES[..2],
    }
}

pub(crate) fn err(status: u16, code: u32, message: &str) -> Reply {
    Resp::json(status, &json!({"code": code, "message": message})).into()
}

pub(crate) fn query_map(req: &HttpRequest) -> Option<HashMap<String, String>> {
    let pairs = serde_urlencoded::from_str::<Vec<(String, String)>>(req.query_string()).ok()?;
    Some(pairs.into_iter().rev().collect())
}

pub(crate) fn token_of<'a>(req: &'a HttpRequest, scheme: &str) -> Option<&'a str> {
    let v = req.headers().get("authorization")?.to_str().ok()?;
    let (s, t) = v.split_once(' ')?;
    s.eq_ignore_ascii_case(scheme).then(|| t.trim())
}

const INVALID: &str = "Invalid access token.";
const EXPIRED: &str = "Access token is expired.";

/// The account index a bearer token opens now, or the 401 to answer.
fn authorize(sim: &Sim, req: &HttpRequest, now: i64) -> Result<usize, Reply> {
    let token = token_of(req, "Bearer");
    let (account, message) = match token.map(|t| sim.tokens.check(t, now)) {
        Some(TokenCheck::Valid {
            principal: Principal::Zoom(i),
            issued_ms,
        }) => {
            if issued_ms >= sim.voided_before(i, now) {
                return Ok(i);
            }
            let a = &sim.config.zoom_accounts[i];
            let expired = match a.void_message {
                VoidMessage::Invalid => false,
                VoidMessage::Expired => true,
                VoidMessage::Mixed => hash_parts(0, &[token.unwrap_or("").as_bytes()]) & 1 == 1,
            };
            (
                a.account_id.as_str(),
                if expired { EXPIRED } else { INVALID },
            )
        }
        Some(TokenCheck::Expired(Principal::Zoom(i))) => {
            (sim.config.zoom_accounts[i].account_id.as_str(), EXPIRED)
        }
        _ => ("", INVALID),
    };
    sim.count(account, AccountEvent::Unauthorized);
    Err(err(401, 124, message))
}

pub(crate) fn report(sim: &Sim, req: &HttpRequest, api: SimApi) -> Reply {
    sim.requests
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let now = sim.clock.now_ms();
    let idx = match authorize(sim, req, now) {
        Ok(i) => i,
        Err(reply) => return reply,
    };
    let acct = &sim.config.zoom_accounts[idx];
    let scopes = scopes_of(api);
    if scopes
        .iter()
        .all(|s| acct.missing_scopes.iter().any(|m| m == s))
    {
        return err(
            400,
            4711,
            &format!(
                "Invalid access token, does not contain scopes:[{}].",
                scopes.join(", ")
            ),
        );
    }
    let family = api.family();
    let spec = (!sim.config.unlimited).then(|| limits::zoom_spec(acct, family));
    let daily = match sim.limiter.check(&acct.account_id, family, now, spec) {
        Verdict::Ok { daily } => daily,
        refused => return too_many(sim, refused, now),
    };
    if let Some(fault) = sim.faults.before(Style::Zoom, false) {
        return fault;
    }
    if api == SimApi::ZoomPhoneOperationLogs && !sim.phone_enabled(idx) {
        return match acct.no_phone {
            NoPhone::NotFound => err(404, 124, "Account does not exist."),
            NoPhone::Forbidden => err(
                403,
                2031,
                "Zoom Phone has not been enabled for this account.",
            ),
            NoPhone::NotEnrolled => err(400, 300, "Account is not enrolled in Zoom Phone."),
        };
    }
    if acct.plan == Plan::Free {
        return err(400, 200, "No permission.");
    }
    if !acct.poisoned_dates.is_empty() {
        let from = query_map(req).and_then(|q| q.get("from").cloned());
        if let Some(day) = from.as_deref().and_then(|f| f.get(..10)) {
            if acct.poisoned_dates.iter().any(|d| d == day) {
                // The shape of an answer cut short by a proxy: it never parses.
                return Resp::text(
                    200,
                    "application/json",
                    "{\"page_size\":300,\"operation_logs\":[{\"time\"",
                )
                .data_page()
                .into();
            }
        }
    }
    let reply = crate::zoom_listing::page(sim, req, api, idx, now);
    match (reply, daily) {
        (Reply::Http(r), Some((limit, remaining))) => r
            .header("X-RateLimit-Category", "Heavy")
            .header("X-RateLimit-Limit", limit.to_string())
            .header("X-RateLimit-Remaining", remaining.to_string())
            .into(),
        (reply, _) => reply,
    }
}

/// 429 with Zoom's body and the configured headers.
fn too_many(sim: &Sim, verdict: Verdict, now: i64) -> Reply {
    let cfg = &sim.config.rate_limits;
    let rfc = |ms: i64| from_ms(ms).format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let secs = |ms: i64| ((ms + 999) / 1000).max(1).to_string();
    let (kind, message, limit, retry, forms) = match verdict {
        Verdict::Qps { limit, retry_ms } => (
            "QPS",
            "You have reached the maximum per-second rate limit for this API. Try again later.",
            limit.to_string(),
            match cfg.retry_after {
                // Rounded up to the second, never earlier than the bucket allows.
                RetryAfterFormat::Rfc3339 => rfc((now + retry_ms + 999) / 1000 * 1000),
                _ => secs(retry_ms),
            },
            cfg.qps_headers,
        ),
        Verdict::Daily { limit, reset_ms } => (
            "Daily-limit",
            "You have reached the maximum daily rate limit for this API. Try again later.",
            limit.to_string(),
            match cfg.retry_after {
                RetryAfterFormat::Seconds => secs(reset_ms - now),
                _ => rfc(reset_ms),
            },
            cfg.daily_headers,
        ),
        Verdict::Ok { .. } => ("QPS", "", String::new(), String::new(), cfg.qps_headers),
    };
    let retry = match cfg.retry_after {
        RetryAfterFormat::FarFuture => rfc(now + 5 * 365 * 86_400_000),
        RetryAfterFormat::Unparseable => "after the storm".to_string(),
        _ => retry,
    };
    let mut r = Resp::json(429, &json!({"code": 429, "message": message}));
    let headers: Vec<(&'static str, String)> = match forms {
        LimitHeaders::All => vec![
            ("X-RateLimit-Category", "Heavy".to_string()),
            ("X-RateLimit-Type", kind.to_string()),
            ("X-RateLimit-Limit", limit),
            ("X-RateLimit-Remaining", "0".to_string()),
            ("Retry-After", retry),
        ],
        LimitHeaders::Bare => vec![
            ("X-RateLimit-Category", "Heavy".to_string()),
            ("X-RateLimit-Limit", limit),
            ("X-RateLimit-Remaining", "0".to_string()),
        ],
        // The remaining count of another limit: it says nothing about this one.
        LimitHeaders::ForeignRemaining => vec![
            ("X-RateLimit-Category", "Heavy".to_string()),
            ("X-RateLimit-Limit", "10".to_string()),
            ("X-RateLimit-Remaining", "8".to_string()),
        ],
        LimitHeaders::None => Vec::new(),
    };
    for (k, v) in headers {
        if sim.faults.keep(cfg.drop_header_rate) {
            r = r.header(k, v);
        }
    }
    r.into()
}
