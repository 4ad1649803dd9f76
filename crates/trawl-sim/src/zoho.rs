//! Zoho Mail's organization audit records: `GET /api/organization/{zoid}/activity`.
//!
//! `Authorization: Zoho-oauthtoken <token>`; `startTime`/`endTime` in ms, selecting on
//! `requestTime` or on index time, `endTime` inclusive or not (`[zoho]` in the config);
//! `limit` 1..200 (default 10), `searchKey` criteria joined by `::`, and keyset paging by
//! index time with `lastIndexTime` + `lastEntityId` from the previous answer. Errors
//! answer in Zoho's envelope (`{"status":{..},"data":{..}}`); throttling as a 429
//! envelope, or as HTTP 400 or 200 with `URL_ROLLING_THROTTLES_LIMIT_EXCEEDED` and the
//! lock time only in the message, or in the field shape (HTTP 400, the code in `title`,
//! the limit and the lock in `error.details.message`).

use actix_web::HttpRequest;
use serde_json::{json, Value};

use crate::config::{Order, ZohoEnd, ZohoSelect, ZohoThrottle};
use crate::data::{zoho_code_matches, zoho_entity_id, zoho_index_time, Rec, Select};
use crate::faults::Style;
use crate::limits::{LimitSpec, Verdict};
use crate::oauth::{Principal, TokenCheck};
use crate::reply::{Reply, Resp};
use crate::state::{AccountEvent, Sim};
use crate::zoom::{query_map, token_of};
use crate::SimApi;

const API: SimApi = SimApi::ZohoMailAudit;
const SEARCH_KEYS: &[&str] = &[
    "category",
    "subCategory",
    "operationType",
    "performedBy",
    "performedFor",
    "performedOn",
    "status",
    "auditLogType",
];

fn err(status: u16, description: &str, code: &str, more: &str) -> Reply {
    Resp::json(
        status,
        &json!({"status": {"code": status, "description": description}, "data": {"errorCode": code, "moreInfo": more}}),
    )
    .into()
}

fn invalid(more: &str) -> Reply {
    err(400, "Invalid Input", "PATTERN_NOT_MATCHED", more)
}

pub(crate) fn activity(sim: &Sim, req: &HttpRequest, zoid: &str) -> Reply {
    sim.requests
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let now = sim.clock.now_ms();
    let idx = match token_of(req, "Zoho-oauthtoken").map(|t| sim.tokens.check(t, now)) {
        Some(TokenCheck::Valid {
            principal: Principal::Zoho(i),
            ..
        }) => i,
        other => {
            let org = match other {
                Some(TokenCheck::Expired(Principal::Zoho(i))) => {
                    sim.config.zoho_orgs[i].zoid.as_str()
                }
                _ => "",
            };
            sim.count(org, AccountEvent::Unauthorized);
            return err(
                401,
                "Invalid OAuth token",
                "INVALID_OAUTHTOKEN",
                "The access token is invalid or expired.",
            );
        }
    };
    let org = &sim.config.zoho_orgs[idx];
    let spec = (!sim.config.unlimited).then_some(LimitSpec::PerMinute {
        per_minute: org.requests_per_minute,
        window_ms: org.window_secs as i64 * 1000,
        lock_ms: org.lock_secs as i64 * 1000,
        extends: org.lock_extends,
    });
    match sim.limiter.check(&org.zoid, API.family(), now, spec) {
        Verdict::Ok { .. } => {}
        Verdict::Qps { retry_ms, .. }
        | Verdict::Daily {
            reset_ms: retry_ms, ..
        } => return throttled(org, retry_ms),
    }
    if let Some(fault) = sim.faults.before(Style::Zoho, false) {
        return fault;
    }
    if org.zoid != zoid {
        return err(
            403,
            "Access denied",
            "NO_PERMISSION",
            "The token does not belong to this organization.",
        );
    }
    page(sim, req, idx, now)
}

/// Zoho's way of saying a span: whole minutes (rounded up) from a minute on, else
/// seconds (tests use short ones).
fn span(ms: i64) -> String {
    if ms >= 60_000 {
        format!("{} minutes", (ms + 59_999) / 60_000)
    } else {
        format!("{} seconds", (ms + 999) / 1000)
    }
}

/// A throttled request, in the configured form; the lock's end only in the message.
fn throttled(org: &crate::config::ZohoOrg, retry_ms: i64) -> Reply {
    let status =
        match org.throttle {
            ZohoThrottle::Http429 => return err(
                429,
                "Too many requests",
                "TOO_MANY_REQUESTS",
                "You have made too many requests continuously. Please try again after some time.",
            ),
            ZohoThrottle::Http400 => 400,
            ZohoThrottle::Http200 => 200,
            ZohoThrottle::Field => {
                let window = org.window_secs as i64 * 1000;
                let message = format!(
                    "Cannot execute more than {} requests per API in {}. Try again after {}.",
                    org.requests_per_minute,
                    span(window),
                    span(retry_ms)
                );
                return Resp::json(
                    400,
                    &json!({"error": {
                        "status_code": 400,
                        "title": "URL_ROLLING_THROTTLES_LIMIT_EXCEEDED",
                        "details": {"message": message},
                    }}),
                )
                .into();
            }
        };
    Resp::json(
        status,
        &json!({"error": {
            "code": "URL_ROLLING_THROTTLES_LIMIT_EXCEEDED",
            "title": "URL_ROLLING_THROTTLES_LIMIT_EXCEEDED",
            "message": format!("You have exceeded the permitted number of API calls. Try again after {}.", span(retry_ms)),
        }}),
    )
    .into()
}

fn page(sim: &Sim, req: &HttpRequest, idx: usize, now: i64) -> Reply {
    let org = &sim.config.zoho_orgs[idx];
    let Some(q) = query_map(req) else {
        return invalid("query string");
    };
    let get = |k: &str| q.get(k).map(String::as_str).filter(|v| !v.is_empty());
    let num = |k: &str| {
        get(k)
            .map(|v| v.parse::<i64>().map_err(|_| k.to_string()))
            .transpose()
    };
    let (start, end, limit) = match (num("startTime"), num("endTime"), num("limit")) {
        (Ok(s), Ok(e), Ok(l)) => (s, e, l),
        (Err(k), _, _) | (_, Err(k), _) | (_, _, Err(k)) => {
            return invalid(&format!("Invalid value for {k}"))
        }
    };
    let limit = limit.unwrap_or(10);
    if !(1..=200).contains(&limit) {
        return err(
            400,
            "Invalid Input",
            "INVALID_PARAMETER",
            "limit must be between 1 and 200",
        );
    }
    let Some(spec) = sim.spec(&org.zoid, API) else {
        return err(404, "Organization not found", "ORG_NOT_FOUND", "");
    };
    let from = start.unwrap_or(i64::MIN / 4);
    let to = end.unwrap_or(now);
    if to < from {
        return err(
            400,
            "Invalid Input",
            "INVALID_PARAMETER",
            "startTime must not be after endTime",
        );
    }
    let criteria = match get("searchKey").map(parse_search_key).transpose() {
        Ok(c) => c.unwrap_or_default(),
        Err(e) => return invalid(&e),
    };
    let last = match (get("lastIndexTime"), get("lastEntityId")) {
        (None, None) => None,
        (Some(t), Some(_)) => match t.parse::<i128>() {
            Ok(t) => Some(t),
            Err(_) => return invalid("Invalid value for lastIndexTime"),
        },
        _ => return invalid("lastIndexTime and lastEntityId go together"),
    };
    let snap = sim.store.snapshot(now);
    let ctx = sim.store.ctx(API, &org.zoid);
    let newest_first = sim.config.order != Order::OldestFirst;
    let end = match sim.config.zoho.end_time {
        ZohoEnd::Inclusive => to.saturating_add(1),
        ZohoEnd::Exclusive => to,
    };
    let mut end_time = end;
    // Newest first, only what was indexed before the cursor needs reading (a record's
    // requestTime is never after its index time).
    if let Some(t) = last.and_then(|t| i64::try_from(t / 1000).ok()) {
        if newest_first {
            end_time = end_time.min(t.saturating_add(1));
        }
    }
    let select = match sim.config.zoho.select_on {
        ZohoSelect::RequestTime => Select::Time {
            from_ms: from,
            to_ms: end_time,
        },
        ZohoSelect::IndexTime => Select::Visible {
            from_ms: from,
            to_ms: end,
        },
    };
    let mut list: Vec<Rec> = sim.store.select(API, &org.zoid, spec, select, snap);
    // Keyset order: index time, then entity id.
    let key = |r: &Rec| (zoho_index_time(r), zoho_entity_id(&ctx, r));
    list.sort_by_cached_key(key);
    if newest_first {
        list.reverse();
    }
    let cursor = last.map(|t| (t, get("lastEntityId").unwrap_or("").to_string()));
    let mut audit = Vec::new();
    let mut last_rec = None;
    for rec in list.iter().filter(|r| match &cursor {
        None => true,
        Some(c) if newest_first => key(r) < *c,
        Some(c) => key(r) > *c,
    }) {
        let v = sim.store.render_one(API, &ctx, rec);
        if criteria.iter().all(|(k, val)| matches(rec, &v, k, val)) {
            audit.push(v);
            last_rec = Some(*rec);
            if audit.len() == limit as usize {
                break;
            }
        }
    }
    let mut data = json!({"audit": audit});
    if let Some(rec) = last_rec {
        data["lastIndexTime"] = Value::String(zoho_index_time(&rec).to_string());
        data["lastEntityId"] = Value::String(zoho_entity_id(&ctx, &rec));
    }
    Resp::json(
        200,
        &json!({"status": {"code": 200, "description": "success"}, "data": data}),
    )
    .data_page()
    .into()
}

fn parse_search_key(s: &str) -> Result<Vec<(String, String)>, String> {
    s.split("::")
        .map(|c| match c.split_once(':') {
            Some((k, v)) if SEARCH_KEYS.contains(&k) && !v.is_empty() => {
                Ok((k.to_string(), v.to_string()))
            }
            _ => Err(format!("Invalid searchKey criterion {c:?}")),
        })
        .collect()
}

fn matches(rec: &Rec, v: &Value, key: &str, want: &str) -> bool {
    if let Some(m) = zoho_code_matches(rec, key, want) {
        return m;
    }
    let field = if key == "performedFor" {
        "performedOn"
    } else {
        key
    };
    v[field]
        .as_str()
        .is_some_and(|s| s.eq_ignore_ascii_case(want))
}
