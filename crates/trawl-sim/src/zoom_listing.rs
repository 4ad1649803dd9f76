//! One page of a Zoom report listing: parameter validation (formats, one month, 6 months,
//! dates read in UTC or in the account's zone), the ordered list of the query, and the
//! page cut out of it with its `next_page_token`.
//!
//! The page token either pins the list as it was at the first page (`paging.tokens =
//! "snapshot"`) or is only an offset into the list as it is now (`"offset"`), so records
//! arriving while a client pages shift what later pages hold. The shapes the field has
//! reported are played on demand: the last page's token empty, absent or `null`, or a
//! last page that still carries one; empty pages that carry a token; a token that
//! repeats forever. None of this changes which records the account holds.

use actix_web::HttpRequest;
use serde_json::{json, Value};

use crate::clock::from_ms;
use crate::config::{DateZone, HorizonError, LastPage, Order, PageTokens};
use crate::data::{hash_parts, mix64, phone_category_matches, zoom_category_label, Rec};
use crate::reply::{Reply, Resp};
use crate::state::Sim;
use crate::zoom::{err, query_map};
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

const EXPIRED_TOKEN: &str = "The next page token is invalid or expired.";

/// The checks after the rate limiter, and the page itself.
pub(crate) fn page(sim: &Sim, req: &HttpRequest, api: SimApi, idx: usize, now: i64) -> Reply {
    let acct = &sim.config.zoom_accounts[idx];
    let phone = api == SimApi::ZoomPhoneOperationLogs;
    let Some(q) = query_map(req) else {
        return err(400, 300, "Invalid query string.");
    };
    let get = |k: &str| q.get(k).map(String::as_str).filter(|v| !v.is_empty());
    let sent_token = get("next_page_token");
    let token = match sent_token {
        None => None,
        Some(t) => match PageToken::decode(t, &sim.page_key) {
            Some(t) if now - t.issued_ms <= sim.config.page_token_ttl_secs as i64 * 1000 => Some(t),
            _ => return err(400, 300, EXPIRED_TOKEN),
        },
    };
    let pinned = sim.config.paging.tokens == PageTokens::Snapshot;
    let snap = match token {
        Some(t) if pinned => t.snapshot,
        _ => sim.store.snapshot(now),
    };
    // A date is a UTC day, or a day of the account's zone.
    let offset_ms = match sim.config.zoom_dates {
        DateZone::Utc => 0,
        DateZone::Account => i64::from(acct.utc_offset_minutes) * 60_000,
    };
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
            // "Today" is the account's today when its dates are read in its zone.
            match check_range(from, to, from_ms(now + offset_ms), sim.config.max_range_days) {
                Ok(()) => {}
                Err(RangeError::Reversed) => return err(400, 300, "The from date cannot be later than the to date."),
                Err(RangeError::TooLong) => {
                    return err(400, 300, "The date range defined by the from and to parameters should only be one month.")
                }
                Err(RangeError::BeyondHorizon) => return horizon(acct.horizon_error),
            }
            (
                from.start_ms(offset_ms),
                to.end_ms(offset_ms),
                f.to_string(),
                t.to_string(),
            )
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
        return err(400, 300, EXPIRED_TOKEN);
    }
    let Some(spec) = sim.spec(account, api) else {
        return err(404, 1001, "Account does not exist.");
    };
    let make = || {
        let mut list: Vec<Rec> = sim.store.records(api, account, spec, from_ms, to_ms, snap);
        list.retain(|r| match (category, phone) {
            (None, _) => true,
            (Some(_), false) => Some(zoom_category_label(r.kind)) == label,
            (Some(c), true) => phone_category_matches(r.kind, c),
        });
        // Pinned: stable for the pass. Offset: stable for the query, so that a growing
        // list keeps the order of the records it already had.
        let pass = if pinned {
            snap.at_ms ^ query as i64
        } else {
            query as i64
        };
        order(&mut list, sim.config.order, pass);
        list
    };
    // A pinned pass is computed once, not once per page; an offset list is re-read at
    // every request.
    let list = if pinned {
        sim.store.listing(query, snap, make)
    } else {
        std::sync::Arc::new(make())
    };
    let at = token.map_or(0, |t| t.offset as usize).min(list.len());
    let number = token.map_or(1, |t| t.page);
    let flags = token.map_or(0, |t| t.flags);
    let paging = &sim.config.paging;
    let next = |offset: usize, page: u32, flags: u32| {
        PageToken {
            offset: offset as u32,
            page,
            flags,
            snapshot: snap,
            issued_ms: now,
            query,
        }
        .encode(&sim.page_key)
    };
    // An empty page that carries a token to the same place, now and then.
    let draw = mix64(query ^ mix64(at as u64 ^ (u64::from(number) << 32)));
    let empty_now = at < list.len()
        && flags & PageToken::EMPTY_SERVED == 0
        && ((draw >> 11) as f64 / (1u64 << 53) as f64) < paging.empty_page_rate;
    let end = if empty_now {
        at
    } else {
        // A silent cap: fewer records than asked, `page_size` below still says the ask.
        let served = paging.page_size_cap.map_or(page_size, |c| c.min(page_size));
        (at + served as usize).min(list.len())
    };
    let ctx = sim.store.ctx(api, account);
    let logs = sim.store.render(api, &ctx, &list[at..end]);
    let mut body =
        json!({"from": from_s, "to": to_s, "page_size": page_size, "operation_logs": logs});
    let looping = paging.loop_after_pages > 0 && number >= paging.loop_after_pages;
    let token_field = if empty_now {
        Some(Value::String(next(at, number, PageToken::EMPTY_SERVED)))
    } else if end < list.len() {
        match sent_token.filter(|_| looping) {
            // The token it was asked with, again: a client that follows it loops.
            Some(same) => Some(Value::String(same.to_string())),
            None => Some(Value::String(next(end, number + 1, 0))),
        }
    } else {
        match paging.last_page {
            LastPage::Empty => Some(Value::String(String::new())),
            LastPage::Absent => None,
            LastPage::Null => Some(Value::Null),
            LastPage::Dangling if end > at => Some(Value::String(next(end, number + 1, 0))),
            LastPage::Dangling => None,
            LastPage::Mixed => match query % 3 {
                0 => Some(Value::String(String::new())),
                1 => None,
                _ => Some(Value::Null),
            },
        }
    };
    if let Some(t) = token_field {
        body["next_page_token"] = t;
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
