//! Zoom's two operation-log reports: `GET /v2/report/operationlogs` and
//! `GET /v2/phone/reports/operationlogs`.
//!
//! A request goes through what Zoom does, in order: bearer token (401 code 124), the
//! account's rate limits (429 with headers), plan and Phone checks (400 code 200, 404
//! code 124), parameter validation (format, one month, 6 months in the account's form),
//! then one page of a pinned, ordered list.

use std::collections::HashMap;

use actix_web::HttpRequest;
use serde_json::{json, Value};

use crate::clock::from_ms;
use crate::config::{HorizonError, Order, Plan, RetryAfterFormat};
use crate::data::{hash_parts, mix64, phone_category_matches, zoom_category_label, Rec};
use crate::faults::Style;
use crate::limits::{self, Verdict};
use crate::oauth::Principal;
use crate::reply::{Reply, Resp};
use crate::state::{AccountEvent, Sim};
use crate::zoom_params::{check_range, PageToken, RangeError, ZoomTime};
use crate::SimApi;

const MAX_PAGE_SIZE: u32 = 300;
const DEFAULT_PAGE_SIZE: u32 = 30;

/// `category_type` values of the account report and the labels they select.
const CATEGORIES: &[(&str, &str)] = &[
    ("user", "User"),
    ("user_settings", "User Settings"),
    ("account", "Account"),
    ("billing", "Billing"),
    ("im", "IM"),
    ("recording", "Recording"),
    ("phone_contacts", "Phone Contacts"),
    ("webinar", "Webinar"),
    ("sub_account", "Sub Account"),
    ("role", "Role"),
    ("zoom_rooms", "Zoom Rooms"),
];

fn err(status: u16, code: u32, message: &str) -> Reply {
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

pub(crate) fn report(sim: &Sim, req: &HttpRequest, api: SimApi) -> Reply {
    sim.requests
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let now = sim.clock.now_ms();
    let idx = match token_of(req, "Bearer").map(|t| sim.tokens.check(t, now)) {
        Some(Ok(Principal::Zoom(i))) => i,
        other => {
            let account = match other {
                Some(Err(Some(Principal::Zoom(i)))) => {
                    sim.config.zoom_accounts[i].account_id.as_str()
                }
                _ => "",
            };
            sim.count(account, AccountEvent::Unauthorized);
            return err(401, 124, "Invalid access token.");
        }
    };
    let acct = &sim.config.zoom_accounts[idx];
    let family = api.family();
    let spec = (!sim.config.unlimited).then(|| limits::zoom_spec(acct, family));
    let daily = match sim.limiter.check(&acct.account_id, family, now, spec) {
        Verdict::Ok { daily } => daily,
        refused => return too_many(sim, refused, now),
    };
    if let Some(fault) = sim.faults.before(Style::Zoom, false) {
        return fault;
    }
    let reply = page(sim, req, api, idx, now);
    match (reply, daily) {
        (Reply::Http(r), Some((limit, remaining))) => r
            .header("X-RateLimit-Category", "Heavy")
            .header("X-RateLimit-Limit", limit.to_string())
            .header("X-RateLimit-Remaining", remaining.to_string())
            .into(),
        (reply, _) => reply,
    }
}

/// 429 with Zoom's body and headers.
fn too_many(sim: &Sim, verdict: Verdict, now: i64) -> Reply {
    let fmt = sim.config.rate_limits.retry_after;
    let rfc = |ms: i64| from_ms(ms).format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let secs = |ms: i64| ((ms + 999) / 1000).max(1).to_string();
    let (kind, message, limit, retry) = match verdict {
        Verdict::Qps { limit, retry_ms } => (
            "QPS",
            "You have reached the maximum per-second rate limit for this API. Try again later.",
            limit.to_string(),
            if fmt == RetryAfterFormat::Rfc3339 {
                // Rounded up to the second, never earlier than the bucket allows.
                rfc((now + retry_ms + 999) / 1000 * 1000)
            } else {
                secs(retry_ms)
            },
        ),
        Verdict::Daily { limit, reset_ms } => (
            "Daily-limit",
            "You have reached the maximum daily rate limit for this API. Try again later.",
            limit.to_string(),
            if fmt == RetryAfterFormat::Seconds {
                secs(reset_ms - now)
            } else {
                rfc(reset_ms)
            },
        ),
        Verdict::Ok { .. } => ("QPS", "", String::new(), String::new()),
    };
    let mut r = Resp::json(429, &json!({"code": 429, "message": message}));
    let drop_rate = sim.config.rate_limits.drop_header_rate;
    let headers = [
        ("X-RateLimit-Category", "Heavy".to_string()),
        ("X-RateLimit-Type", kind.to_string()),
        ("X-RateLimit-Limit", limit),
        ("X-RateLimit-Remaining", "0".to_string()),
        ("Retry-After", retry),
    ];
    for (k, v) in headers {
        if sim.faults.keep(drop_rate) {
            r = r.header(k, v);
        }
    }
    r.into()
}

/// The checks after the rate limiter, and the page itself.
fn page(sim: &Sim, req: &HttpRequest, api: SimApi, idx: usize, now: i64) -> Reply {
    let acct = &sim.config.zoom_accounts[idx];
    let phone = api == SimApi::ZoomPhoneOperationLogs;
    if phone && !acct.phone {
        return err(404, 124, "Account does not exist.");
    }
    if acct.plan == Plan::Free {
        return err(400, 200, "No permission.");
    }
    let Some(q) = query_map(req) else {
        return err(400, 300, "Invalid query string.");
    };
    let get = |k: &str| q.get(k).map(String::as_str).filter(|v| !v.is_empty());
    let token = match get("next_page_token") {
        None => None,
        Some(t) => match PageToken::decode(t, &sim.page_key) {
            Some(t) if now - t.issued_ms <= sim.config.page_token_ttl_secs as i64 * 1000 => Some(t),
            _ => return err(400, 300, "The next page token is invalid or expired."),
        },
    };
    let snap = token.map_or_else(|| sim.store.snapshot(now), |t| t.snapshot);
    // The window, as instants [from_ms, to_ms), and as echoed.
    let (from_ms, to_ms, from_s, to_s) = match (get("from"), get("to")) {
        (None, None) if phone => {
            let (f, t) = (snap.at_ms - 86_400_000, snap.at_ms + 1);
            let day = |ms| from_ms(ms).format("%Y-%m-%d").to_string();
            (f, t, day(f), day(snap.at_ms))
        }
        (Some(f), Some(t)) => {
            let (Some(from), Some(to)) = (ZoomTime::parse(f, phone), ZoomTime::parse(t, phone))
            else {
                let form = if phone {
                    "yyyy-mm-dd or yyyy-MM-ddTHH:mm:ssZ"
                } else {
                    "yyyy-mm-dd"
                };
                return err(
                    400,
                    300,
                    &format!("Invalid date format for from or to, use {form}."),
                );
            };
            if std::mem::discriminant(&from) != std::mem::discriminant(&to) {
                return err(
                    400,
                    300,
                    "The to parameter must use the same format as from.",
                );
            }
            match check_range(from, to, from_ms(now), sim.config.max_range_days) {
                Ok(()) => {}
                Err(RangeError::Reversed) => return err(400, 300, "The from date cannot be later than the to date."),
                Err(RangeError::TooLong) => {
                    return err(400, 300, "The date range defined by the from and to parameters should only be one month.")
                }
                Err(RangeError::BeyondHorizon) => return horizon(acct.horizon_error),
            }
            (from.start_ms(), to.end_ms(), f.to_string(), t.to_string())
        }
        (None, _) if !phone => return err(400, 300, "from is required."),
        (Some(_), None) => return err(400, 300, "to is required when from is given."),
        _ => return err(400, 300, "from is required when to is given."),
    };
    let page_size = match get("page_size").map(str::parse::<i64>) {
        None => DEFAULT_PAGE_SIZE,
        Some(Ok(n)) if n >= 1 => (n as u32).min(MAX_PAGE_SIZE),
        Some(_) => return err(400, 300, "Invalid field: page_size."),
    };
    let category = get("category_type").filter(|c| !c.eq_ignore_ascii_case("all"));
    let label = match (category, phone) {
        (Some(c), false) => match CATEGORIES.iter().find(|(k, _)| k.eq_ignore_ascii_case(c)) {
            Some((_, label)) => Some(*label),
            None => return err(400, 300, "Invalid field: category_type."),
        },
        _ => None,
    };
    let account = acct.account_id.as_str();
    let query = hash_parts(
        sim.config.seed,
        &[
            api.as_str().as_bytes(),
            account.as_bytes(),
            &from_ms.to_le_bytes(),
            &to_ms.to_le_bytes(),
            category.unwrap_or("all").to_ascii_lowercase().as_bytes(),
        ],
    );
    if token.is_some_and(|t| t.query != query) {
        return err(400, 300, "The next page token is invalid or expired.");
    }
    let Some(spec) = sim.spec(account, api) else {
        return err(404, 1001, "Account does not exist.");
    };
    let list = sim.store.listing(query, snap, || {
        let mut list: Vec<Rec> = sim.store.records(api, account, spec, from_ms, to_ms, snap);
        list.retain(|r| match (category, phone) {
            (None, _) => true,
            (Some(_), false) => Some(zoom_category_label(r.kind)) == label,
            (Some(c), true) => phone_category_matches(r.kind, c),
        });
        order(&mut list, sim.config.order, snap.at_ms ^ query as i64);
        list
    });
    let offset = token.map_or(0, |t| t.offset as usize).min(list.len());
    let end = (offset + page_size as usize).min(list.len());
    let ctx = sim.store.ctx(api, account);
    let logs = sim.store.render(api, &ctx, &list[offset..end]);
    let mut body =
        json!({"from": from_s, "to": to_s, "page_size": page_size, "operation_logs": logs});
    if end < list.len() {
        let next = PageToken {
            offset: end as u32,
            snapshot: snap,
            issued_ms: now,
            query,
        };
        body["next_page_token"] = Value::String(next.encode(&sim.page_key));
    } else if query & 1 == 0 {
        // The last page: sometimes an empty token, sometimes none at all.
        body["next_page_token"] = Value::String(String::new());
    }
    if phone {
        body["total_records"] = json!(list.len());
    }
    Resp::json(200, &body).data_page().into()
}

fn horizon(form: HorizonError) -> Reply {
    const TEXT: &str = "Only provide report in recent 6 months";
    match form {
        HorizonError::Http300 => Resp::text(300, "text/plain;charset=UTF-8", TEXT).into(),
        HorizonError::Http400 => err(400, 300, TEXT),
    }
}

/// Puts one paging pass's records in the configured order (stable for the pass).
fn order(list: &mut [Rec], order: Order, pass: i64) {
    match order {
        Order::OldestFirst => {}
        Order::NewestFirst => list.reverse(),
        Order::Unordered => list.sort_by_key(|r| {
            mix64((pass as u64) ^ r.seed ^ mix64(r.time_ms as u64 ^ u64::from(r.seq)))
        }),
    }
}
