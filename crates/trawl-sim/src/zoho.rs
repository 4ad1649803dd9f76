//! Zoho Mail's organization audit records: `GET /api/organization/{zoid}/activity`.
//!
//! `Authorization: Zoho-oauthtoken <token>`; `startTime`/`endTime` in ms (both ends
//! inclusive), `limit` 1..200 (default 10), `searchKey` criteria joined by `::`, and
//! keyset paging with `lastIndexTime` + `lastEntityId` from the previous answer. Errors
//! and throttling answer in Zoho's envelope (`{"status":{..},"data":{..}}`).

use actix_web::HttpRequest;
use serde_json::{json, Value};

use crate::config::Order;
use crate::data::{render, zoho_code_matches, zoho_entity_id, zoho_index_time, Rec};
use crate::faults::Style;
use crate::limits::{LimitSpec, Verdict};
use crate::oauth::Principal;
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
        Some(Ok(Principal::Zoho(i))) => i,
        other => {
            let org = match other {
                Some(Err(Some(Principal::Zoho(i)))) => sim.config.zoho_orgs[i].zoid.as_str(),
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
        lock_ms: org.lock_secs as i64 * 1000,
    });
    if !matches!(
        sim.limiter.check(&org.zoid, API.family(), now, spec),
        Verdict::Ok { .. }
    ) {
        return err(
            429,
            "Too many requests",
            "TOO_MANY_REQUESTS",
            "You have made too many requests continuously. Please try again after some time.",
        );
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
    // Only the part of the range past the cursor needs reading.
    let (mut from, mut end) = (from, to.saturating_add(1));
    if let Some(t) = last.and_then(|t| i64::try_from(t / 1000).ok()) {
        if newest_first {
            end = end.min(t.saturating_add(1));
        } else {
            from = from.max(t);
        }
    }
    let mut list: Vec<Rec> = sim.store.records(API, &org.zoid, spec, from, end, snap);
    if newest_first {
        list.reverse();
    }
    let mut audit = Vec::new();
    let mut last_rec = None;
    for rec in list.iter().filter(|r| match last {
        None => true,
        Some(t) if newest_first => zoho_index_time(r) < t,
        Some(t) => zoho_index_time(r) > t,
    }) {
        let v = render(API, &ctx, rec);
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
