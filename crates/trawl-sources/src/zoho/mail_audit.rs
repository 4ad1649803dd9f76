//! Zoho Mail organization audit records: `GET {mail_base}/api/organization/{zoid}/activity`.
//!
//! Windows go as `startTime`/`endTime` in milliseconds, pages of up to 200 (`limit`),
//! the next page continues from the previous answer's `lastEntityId` + `lastIndexTime`
//! (a keyset: records arriving meanwhile shift nothing), and an optional `searchKey`
//! filters. The answer is an envelope (`{"status":{"code":200,..},"data":{"audit":[..],
//! ..}}`) read for what it says about itself by `super::envelope` (auth errors and
//! throttling in all their forms) and parsed strictly: the sample in Zoho's own docs
//! misses a comma, and a page that does not parse is an error, never an empty page; a
//! record that does not parse goes back with its reason, next to the good ones.
//!
//! Nobody says whether `startTime`/`endTime` select on `requestTime` or on the index
//! time, nor whether `endTime` is inclusive. So `endTime` is sent [`INDEX_SLACK`] past
//! the window's end and the scan keeps the records whose `requestTime` lies in the
//! window: a record indexed up to that long after its time is found by the window of its
//! time under either reading (an inclusive end only adds records of the next window,
//! which are dropped here and found there). A record indexed later still, answered for a
//! later window, lies before that window: it comes back as `late` (no other window's
//! answer holds it).

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::Value;
use trawl_model::{Outcome, StreamKey, Window};
use url::Url;

use super::envelope::{self, Verdict};
use crate::auth::TokenCache;
use crate::classify::{check_status, json_object, rejected, Status};
use crate::error::SourceError;
use crate::http::{self, endpoint, Answer};
use crate::limits::LimitKey;
use crate::normalize::{text_field, verb};
use crate::scan::{
    BoxFuture, Driver, DriverPage, Fetch, Fetched, Fields, Follows, Outside, Record, Rejected,
    WindowScan,
};
use crate::source::{Source, SourceSettings};

/// Largest `limit` Zoho accepts.
pub const MAX_PAGE_SIZE: u32 = 200;

/// How far past a window's end `endTime` reaches (see the module doc).
pub const INDEX_SLACK: Duration = Duration::minutes(5);

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
            Box::new(AuditPages {
                source: self,
                cursor: None,
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

/// One audit page, read.
#[derive(Debug)]
pub(crate) struct AuditPage {
    pub records: Vec<Record>,
    pub rejected: Vec<Rejected>,
    /// `None` when the answer names no last record.
    pub next: Option<Cursor>,
}

/// The pages of one window of an organization's audit records, by keyset.
struct AuditPages {
    source: Arc<ZohoMailAudit>,
    cursor: Option<Cursor>,
}

impl AuditPages {
    async fn fetch_page(&mut self, window: Window, now: DateTime<Utc>) -> Fetched {
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
            (
                "endTime",
                (window.end + INDEX_SLACK).timestamp_millis().to_string(),
            ),
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
            Ok((mut answer, token)) => match envelope::read(&answer, &s.scope, now) {
                Verdict::Throttled(info) => Err(SourceError::RateLimited(info)),
                Verdict::Refresh { reason } => {
                    s.tokens.invalidate(&token).await;
                    Ok(Fetch::Again { reason })
                }
                Verdict::Status(status) => {
                    answer.status = status;
                    match check_status(&answer, &token, &s.tokens, &s.scope, now).await {
                        Err(e) => Err(e),
                        Ok(Status::Refresh { reason }) => Ok(Fetch::Again { reason }),
                        Ok(Status::Fine) => read_audit_page(&answer, &s.scope).map(|p| {
                            // Another page follows while the answer moves the cursor on
                            // (an empty page without one is the end). A short page is
                            // not taken as the end: one more request beats a lost record.
                            let more = p.next.is_some() && p.next != self.cursor;
                            self.cursor = p.next;
                            Fetch::Page(DriverPage {
                                records: p.records,
                                rejected: p.rejected,
                                more,
                                follows: Follows::Keyset,
                                outside: Outside::Late,
                                repeat: false,
                            })
                        }),
                    }
                }
            },
        };
        Fetched {
            result,
            exchange: sent.exchange,
        }
    }
}

impl Driver for AuditPages {
    fn fetch<'a>(&'a mut self, window: Window, now: DateTime<Utc>) -> BoxFuture<'a, Fetched> {
        Box::pin(self.fetch_page(window, now))
    }

    fn reset(&mut self) {
        self.cursor = None;
    }
}

/// Reads an audit page: its records (those that do not parse apart, with why) and the
/// cursor of the next page. A body that is not an audit page is malformed.
pub(crate) fn read_audit_page(answer: &Answer, scope: &str) -> Result<AuditPage, SourceError> {
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
    let mut records = Vec::with_capacity(items.len());
    let mut refused = Vec::new();
    for (i, raw) in items.into_iter().enumerate() {
        match normalize(raw) {
            Ok(r) => records.push(r),
            Err((why, raw)) => refused.push(rejected(scope, i, &why, &raw)),
        }
    }
    Ok(AuditPage {
        records,
        rejected: refused,
        next,
    })
}

/// One Zoho audit record as an event's fields; the record back with why not.
pub(crate) fn normalize(raw: Value) -> Result<Record, (String, Value)> {
    if !raw.is_object() {
        return Err(("not an object".into(), raw));
    }
    let ms = match raw.get("requestTime") {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.trim().parse::<i64>().ok(),
        _ => None,
    };
    let Some(ms) = ms else {
        return Err(("no numeric requestTime".into(), raw));
    };
    let Some(time) = Utc.timestamp_millis_opt(ms).single() else {
        return Err((format!("requestTime {ms} is out of range"), raw));
    };
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
