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
