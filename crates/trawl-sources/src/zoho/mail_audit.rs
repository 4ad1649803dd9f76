//! Zoho Mail organization audit records: `GET {mail_base}/api/organization/{zoid}/activity`.
//!
//! Windows go as `startTime`/`endTime` in milliseconds, pages of up to 200 (`limit`),
//! the next page continues from the previous answer's `lastEntityId` + `lastIndexTime`,
//! and an optional `searchKey` filters. The answer is an envelope
//! (`{"status":{"code":200,..},"data":{"audit":[..],..}}`) parsed strictly: the sample in
//! Zoho's own docs misses a comma, and a page that does not parse is an error, never an
//! empty page. Zoho reports some errors inside HTTP 200 envelopes, so the envelope's
//! code counts as the status.

use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use serde_json::Value;
use trawl_model::{Outcome, StreamKey, Window};
use url::Url;

use crate::auth::{BoxFuture, TokenCache};
use crate::classify::{check_status, json_object, AuthStrikes};
use crate::error::SourceError;
use crate::http::{self, endpoint, Answer};
use crate::limits::LimitKey;
use crate::normalize::{text_field, verb};
use crate::scan::{Driver, Fetch, Fetched, Fields, Record, WindowScan};
use crate::source::{Source, SourceSettings};

/// Largest `limit` Zoho accepts.
pub const MAX_PAGE_SIZE: u32 = 200;

/// The Mail audit records of one Zoho organization.
pub struct ZohoMailAudit {
    stream: StreamKey,
    scope: String,
    client: reqwest::Client,
    tokens: Arc<TokenCache>,
    url: Result<Url, SourceError>,
    search_key: Option<String>,
    limit: u32,
}

impl ZohoMailAudit {
    pub(crate) fn new(
        stream: StreamKey,
        settings: &SourceSettings,
        zoid: String,
        mail_base: Url,
        search_key: Option<String>,
    ) -> Self {
        Self {
            scope: format!("tenant {}, source {}", stream.tenant, stream.source),
            stream,
            client: settings.client.clone(),
            tokens: settings.tokens.clone(),
            url: endpoint(&mail_base, &format!("api/organization/{zoid}/activity")),
            search_key: search_key.filter(|k| !k.trim().is_empty()),
            limit: settings
                .page_size
                .unwrap_or(MAX_PAGE_SIZE)
                .clamp(1, MAX_PAGE_SIZE),
        }
    }
}

impl Source for ZohoMailAudit {
    fn stream(&self) -> &StreamKey {
        &self.stream
    }

    fn limit_key(&self) -> LimitKey {
        LimitKey::ZOHO_MAIL
    }

    fn scan(self: Arc<Self>, window: Window) -> WindowScan {
        WindowScan::new(
            self.stream.clone(),
            window,
            self.max_window(),
            self.retention(),
            Box::new(Pager {
                source: self,
                cursor: None,
                strikes: AuthStrikes::default(),
            }),
        )
    }
}

/// Where the next page starts: the previous answer's `lastEntityId` and `lastIndexTime`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Cursor {
    pub last_entity_id: String,
    pub last_index_time: String,
}

struct Pager {
    source: Arc<ZohoMailAudit>,
    cursor: Option<Cursor>,
    strikes: AuthStrikes,
}

impl Driver for Pager {
    fn fetch<'a>(&'a mut self, window: Window, now: DateTime<Utc>) -> BoxFuture<'a, Fetched> {
        Box::pin(async move {
            let s = self.source.clone();
            let url = match &s.url {
                Ok(u) => u.clone(),
                Err(e) => {
                    return Fetched {
                        result: Err(e.clone()),
                        exchange: None,
                    }
                }
            };
            let mut query = vec![
                ("startTime", window.start.timestamp_millis().to_string()),
                ("endTime", window.end.timestamp_millis().to_string()),
                ("limit", s.limit.to_string()),
            ];
            if let Some(k) = &s.search_key {
                query.push(("searchKey", k.clone()));
            }
            if let Some(c) = &self.cursor {
                query.push(("lastEntityId", c.last_entity_id.clone()));
                query.push(("lastIndexTime", c.last_index_time.clone()));
            }
            let sent = http::get(&s.client, &s.tokens, url, &query, &s.scope, now).await;
            let result = match sent.result {
                Err(e) => Err(e),
                Ok((mut answer, token)) => {
                    answer.status = effective_status(&answer);
                    match check_status(&answer, &token, &s.tokens, &mut self.strikes, &s.scope, now)
                        .await
                    {
                        Err(e) => Err(e),
                        Ok(()) => parse_page(&answer, &s.scope).map(|(records, next)| {
                            // Another page follows while the answer moves the cursor on
                            // (an empty page without one is the end). A short page is not
                            // taken as the end: one more request beats a lost record.
                            let more = next.is_some() && next != self.cursor;
                            self.cursor = next;
                            Fetch::Page { records, more }
                        }),
                    }
                }
            };
            Fetched {
                result,
                exchange: sent.exchange,
            }
        })
    }

    fn reset(&mut self) {
        self.cursor = None;
    }
}

/// The status an answer really has: Zoho puts errors in HTTP 200 envelopes, says
/// `INVALID_OAUTHTOKEN` with other codes than 401, and throttles with
/// "too many requests" bodies.
pub(crate) fn effective_status(answer: &Answer) -> u16 {
    // A lower-cased copy and `str::contains` (a vectorized search) cost far less than a
    // byte-by-byte case-insensitive scan of a 100 kB page.
    let lower = answer.body.to_ascii_lowercase();
    if lower.contains("invalid_oauthtoken") || lower.contains("invalid oauthtoken") {
        return 401;
    }
    let status = match envelope_code(&answer.body) {
        Some(code) if answer.status == 200 => code,
        _ => answer.status,
    };
    if status != 200
        && (lower.contains("too many requests") || lower.contains("url_rule_violation"))
    {
        return 429;
    }
    status
}

/// `status.code` of a JSON object body, read without building the whole document (the
/// page is parsed once more, in full, by `parse_page`).
fn envelope_code(body: &str) -> Option<u16> {
    #[derive(serde::Deserialize)]
    struct Envelope {
        #[serde(default)]
        status: Value,
    }
    if !body.trim_start().starts_with('{') {
        return None;
    }
    let envelope: Envelope = serde_json::from_str(body).ok()?;
    envelope
        .status
        .get("code")
        .and_then(Value::as_u64)
        .and_then(|c| u16::try_from(c).ok())
        .filter(|c| (100..600).contains(c))
}

/// Reads an audit page: its records and the cursor of the next page.
pub(crate) fn parse_page(
    answer: &Answer,
    scope: &str,
) -> Result<(Vec<Record>, Option<Cursor>), SourceError> {
    let mut page = json_object(answer, scope)?;
    let bad = |why: String| SourceError::malformed(format!("{scope}: {why}"), &answer.body);
    match page
        .get("status")
        .and_then(|s| s.get("code"))
        .and_then(Value::as_u64)
    {
        Some(200) => {}
        Some(code) => return Err(bad(format!("envelope status code {code}"))),
        None => return Err(bad("answer has no status.code".into())),
    }
    // Records are moved out of the parsed page (each becomes an event's `raw`), not cloned.
    let mut data = match page.remove("data") {
        Some(Value::Object(d)) => d,
        _ => return Err(bad("answer has no data object".into())),
    };
    let text = |key: &str| match data.get(key) {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let next = match (text("lastEntityId"), text("lastIndexTime")) {
        (Some(last_entity_id), Some(last_index_time)) => Some(Cursor {
            last_entity_id,
            last_index_time,
        }),
        _ => None,
    };
    let items = match data.remove("audit") {
        Some(Value::Array(items)) => items,
        Some(Value::Null) | None if next.is_none() => Vec::new(),
        _ => return Err(bad("data.audit is missing or not an array".into())),
    };
    let records = items
        .into_iter()
        .enumerate()
        .map(|(i, raw)| normalize(raw).map_err(|why| bad(format!("record {i}: {why}"))))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((records, next))
}

/// One Zoho audit record as an event's fields.
pub(crate) fn normalize(raw: Value) -> Result<Record, String> {
    if !raw.is_object() {
        return Err("not an object".into());
    }
    let ms = match raw.get("requestTime") {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.trim().parse::<i64>().ok(),
        _ => None,
    }
    .ok_or("no numeric requestTime")?;
    let time = Utc
        .timestamp_millis_opt(ms)
        .single()
        .ok_or_else(|| format!("requestTime {ms} is out of range"))?;
    let action = raw
        .get("operationType")
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
        .or_else(|| raw.get("operation").and_then(Value::as_str));
    let outcome = match text_field(&raw, "status").map(|s| s.to_ascii_lowercase()) {
        Some(s) if s == "success" || s == "succeeded" => Outcome::Success,
        Some(s) if s.starts_with("fail") || s == "error" => Outcome::Failure,
        _ => Outcome::Unknown,
    };
    let fields = Fields {
        actor: text_field(&raw, "performedBy"),
        action: verb(action),
        category: text_field(&raw, "mainCategory").or_else(|| text_field(&raw, "category")),
        target: text_field(&raw, "performedOn"),
        detail: text_field(&raw, "operation"),
        outcome,
        client_ip: text_field(&raw, "clientIp"),
    };
    Ok(Record { time, raw, fields })
}

#[cfg(test)]
#[path = "mail_audit_tests.rs"]
mod tests;
