//! Entry points for the `cargo fuzz` targets in `fuzz/` (not an API: hidden from the
//! docs, and may change with the parsers).
//!
//! The parsers are crate-private and get renamed as the sources evolve; the fuzz targets
//! call only these functions, so a rename touches this one file. Each takes raw fuzzer
//! input, runs the real code on it and discards the result: a panic is the finding.

use chrono::{DateTime, TimeZone, Utc};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use trawl_model::{SourceKind, StreamKey, TenantId};

use crate::http::Answer;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0)
        .single()
        .unwrap_or_default()
}

fn tenant() -> TenantId {
    TenantId::new("fuzz").expect("a valid tenant id")
}

/// One page body through the parser and normalizer of `stream` (chosen by
/// `selector % 3`).
pub fn page(selector: u8, body: &str) {
    let kind = [
        SourceKind::ZoomOperationLogs,
        SourceKind::ZoomPhoneOperationLogs,
        SourceKind::ZohoMailAudit,
    ][usize::from(selector % 3)];
    let key = StreamKey::new(tenant(), kind);
    let _ = crate::page::normalize_page(&key, body.to_string(), now());
}

/// A Zoom token endpoint answer with HTTP `status`.
pub fn zoom_token(status: u16, body: &str) {
    let _ = crate::auth::classify_zoom_token(&tenant(), status, body);
}

/// A Zoho token endpoint answer with HTTP `status`.
pub fn zoho_token(status: u16, body: &str) {
    let _ = crate::auth::classify_zoho_token(&tenant(), status, body, now());
}

/// The 429 classification of an answer: `headers` as `name: value` lines, then `body`.
pub fn rate_limit(headers: &str, body: &str) {
    let mut map = HeaderMap::new();
    for line in headers.lines() {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        if let (Ok(k), Ok(v)) = (
            HeaderName::from_bytes(k.trim().as_bytes()),
            HeaderValue::from_str(v.trim()),
        ) {
            map.append(k, v);
        }
    }
    let answer = Answer {
        status: 429,
        headers: map,
        body: body.to_string(),
    };
    let info = crate::classify::rate_limit_from(&answer, "tenant fuzz, source fuzz", now());
    let _ = info.to_string();
}

/// A `Retry-After` value.
pub fn retry_after(value: &str) {
    let _ = crate::error::RetryAfter::parse(value, now());
}

/// The Zoho throttling code API_FACTS names ("Zoho throttling").
const ZOHO_THROTTLE: &str = "URL_ROLLING_THROTTLES_LIMIT_EXCEEDED";

/// A Zoho answer through the envelope reader. `shape % 8` picks the answer:
///
/// - 0, 1: `text` itself as the body, with HTTP 200 or 400; a panic, or a throttling
///   lock past the bound, is the finding.
/// - 2..=7: every throttling form of API_FACTS ("Zoho throttling"), with `text` in its
///   words and a lock of `minutes`: the code in `error.title` with the words in
///   `error.details.message` (the shape captured in the field), the code in
///   `error.code`, `message` beside `title`; with HTTP 400 and 200. Each must read as
///   throttling, never as refused credentials; the stated lock must be waited out (up
///   to the bound), wherever the words sit.
pub fn zoho_envelope(shape: u8, minutes: u16, text: &str) {
    use serde_json::json;
    let now = now();
    let scope = "tenant fuzz, source zoho.mail_audit";
    let words = format!(
        "Cannot execute more than 100 requests per API in 2 minutes. Try again after \
         {minutes} minutes. {text}"
    );
    let (status, body, lock_beside) = match shape % 8 {
        0 => (200, text.to_string(), false),
        1 => (400, text.to_string(), false),
        s => {
            let status = if s % 2 == 0 { 400 } else { 200 };
            let (error, beside) = match (s - 2) / 2 {
                0 => (
                    json!({"status_code": status, "title": ZOHO_THROTTLE,
                           "details": {"message": words}}),
                    true,
                ),
                1 => (json!({"code": ZOHO_THROTTLE, "message": words}), true),
                _ => (json!({"title": ZOHO_THROTTLE, "message": words}), true),
            };
            (status, json!({ "error": error }).to_string(), beside)
        }
    };
    let answer = Answer {
        status,
        headers: HeaderMap::new(),
        body,
    };
    let verdict = crate::zoho::envelope::read(&answer, scope, now);
    let bound = now + crate::zoho::envelope::MAX_LOCK;
    match &verdict {
        crate::zoho::envelope::Verdict::Throttled(info) => {
            if let Some(at) = &info.retry_after {
                assert!(
                    at.0 >= now && at.0 <= bound,
                    "a lock outside [now, now + MAX_LOCK]: {at:?}"
                );
            }
            let _ = info.to_string();
        }
        other => assert!(
            shape % 8 < 2,
            "throttling (HTTP {status}) read as {other:?}: {}",
            answer.body
        ),
    }
    // A stated lock is waited out (never a call before it ends), up to the bound.
    let stated = chrono::Duration::minutes(i64::from(minutes));
    if lock_beside && now + stated <= bound {
        let crate::zoho::envelope::Verdict::Throttled(info) = &verdict else {
            unreachable!("checked above");
        };
        let until = info.retry_after.as_ref().map(|r| r.0);
        assert!(
            until.is_some_and(|t| t >= now + stated),
            "the stated lock of {minutes} minutes not followed ({until:?}): {}",
            answer.body
        );
    }
}

/// Zoom's date arithmetic (`zoom::dates`) on a window, an offset estimate, a `now` and
/// the record times of an answer, all read from `data`. Beyond panics, the promises the
/// scan relies on: the first dates cover the window under the estimate (and reach today
/// in every zone when the window is live); for every zone offset the answer is
/// consistent with (each record inside the dates' span under that offset), the proven
/// bounds hold (`latest_start`, `earliest_end`); an offset read from a day-long answer
/// is a real zone offset consistent with it.
pub fn zoom_dates(data: &[u8]) {
    use crate::zoom::dates::{
        date_of, earliest_end, first_dates, fits_one_request, latest_start, offset_shown,
        utc_midnight, Evidence, LIVE_EDGE, MAX_AHEAD, MAX_BEHIND,
    };
    use chrono::Duration;
    let mut bytes = data.iter().copied();
    let mut take = |n: usize| -> u64 {
        (0..n).fold(0u64, |acc, _| {
            (acc << 8) | u64::from(bytes.next().unwrap_or(0))
        })
    };
    // 2000-01-01 plus up to 136 years, windows up to 62 days, whole seconds.
    let base = Utc
        .with_ymd_and_hms(2000, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or_default();
    let start = base + Duration::seconds(take(4) as i64);
    let end = start + Duration::seconds((take(3) % (62 * 86_400)) as i64 + 1);
    let window = trawl_model::Window::new(start, end).expect("start before end");
    // A quarter-hour offset from UTC-12 to UTC+14.
    let quarters = |q: u64| Duration::minutes(15 * ((q % 105) as i64 - 48));
    let estimate = quarters(take(1));
    let now = end + Duration::seconds(take(4) as u32 as i32 as i64);
    let times: Vec<DateTime<Utc>> = (0..8)
        .map(|_| start + Duration::seconds(take(4) as u32 as i32 as i64 / 16))
        .collect();
    let used = (take(1) % 9) as usize;
    let mut seen = Evidence::default();
    for t in &times[..used] {
        seen.observe(*t);
    }

    let (first, last) = first_dates(window, estimate, now);
    assert!(first <= last, "{first} after {last}");
    let midnight = |d: chrono::NaiveDate, offset: Duration| utc_midnight(d) - offset;
    assert!(
        midnight(first, estimate) <= start,
        "the start is not covered"
    );
    assert!(
        midnight(last + chrono::Days::new(1), estimate) >= end,
        "the end is not covered"
    );
    if end >= now - LIVE_EDGE {
        assert!(
            last >= date_of(now, MAX_AHEAD),
            "a live window stops before today"
        );
    }
    if fits_one_request(first, last) {
        assert!(last <= first + chrono::Months::new(1));
    }
    let proven_start = latest_start(first, &seen);
    let proven_end = earliest_end(last, &seen);
    for q in 0..105 {
        let offset = quarters(q);
        let (from, to) = (
            midnight(first, offset),
            midnight(last + chrono::Days::new(1), offset),
        );
        if times[..used].iter().all(|t| from <= *t && *t < to) {
            assert!(
                from <= proven_start,
                "offset {offset}: start {from} > {proven_start}"
            );
            assert!(to >= proven_end, "offset {offset}: end {to} < {proven_end}");
        }
    }
    // Read from an answer for `first` alone: the offset shown is in range, and if the
    // records fit that date under some zone, they fit it under the offset shown too.
    let one_day = |offset: Duration| {
        let from = midnight(first, offset);
        times[..used]
            .iter()
            .all(|t| from <= *t && *t < from + Duration::days(1))
    };
    if let Some(offset) = offset_shown(first, &seen) {
        assert!(
            -MAX_BEHIND <= offset && offset <= MAX_AHEAD,
            "offset {offset}"
        );
        if (0..105).any(|q| one_day(quarters(q))) {
            assert!(
                one_day(offset),
                "offset {offset} shown by records it does not hold"
            );
        }
    }
}
