//! What Zoom's two operation-log endpoints share: the page shape (`operation_logs`,
//! `next_page_token`), the record shape (`time`, `operator`, `category_type`, `action`,
//! `operation_detail`), how a record becomes an event, the error answers both give (page
//! token expired, 6-month horizon in its two forms, no permission, a scope missing), one
//! request and its reading ([`ZoomCommon::request`]), the dates to ask ([`dates`]) and
//! the paging of one window ([`pages`]).

pub mod dates;
pub mod operation_logs;
mod pages;
pub mod phone_operation_logs;

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use serde_json::Value;
use trawl_model::{Outcome, StreamKey};
use url::Url;

use crate::auth::TokenCache;
use crate::classify::{api_code, api_message, check_status, json_object, rejected, Status};
use crate::error::{Cause, SourceError};
use crate::http::{self, endpoint, Answer};
use crate::normalize::{clean_text, find_email, find_phone, text_field, verb};
use crate::scan::{Fields, HttpExchange, Record, Rejected};
use crate::source::SourceSettings;

/// Largest `page_size` Zoom accepts.
pub const MAX_PAGE_SIZE: u32 = 300;

/// What a Zoom stream needs to make requests.
pub(crate) struct ZoomCommon {
    pub stream: StreamKey,
    /// `tenant acme, source zoom.operation_logs`: how errors name the stream.
    pub scope: String,
    pub client: reqwest::Client,
    pub tokens: Arc<TokenCache>,
    pub api_base: Url,
    pub page_size: u32,
    /// Seconds the account's dates begin before 00:00 UTC (its zone's offset, when Zoom
    /// reads dates in it), as its answers show it; 0 until they do.
    day_offset: AtomicI64,
    /// Whether an answer has shown `day_offset` yet.
    day_offset_known: AtomicBool,
}

/// One page of a log listing, read.
#[derive(Debug)]
pub(crate) struct LogPage {
    pub records: Vec<Record>,
    pub rejected: Vec<Rejected>,
    /// `None` on the last page (token empty, absent or `null`).
    pub next: Option<String>,
    /// `total_records` (Phone).
    pub total: Option<u64>,
}

/// What one request came to, when not an error.
#[derive(Debug)]
pub(crate) enum Answered {
    Page(LogPage),
    /// The page token was refused: the window starts over.
    Restart {
        reason: String,
    },
    /// Older than the API's 6 months.
    Horizon {
        reason: String,
    },
    /// The token was refused and dropped: ask again.
    Refresh {
        reason: String,
    },
}

/// An endpoint-specific reading of an answer, tried before the shared ones.
pub(crate) type Special<'a> = &'a (dyn Fn(&Answer) -> Option<Result<Answered, SourceError>> + Sync);

impl ZoomCommon {
    pub fn new(stream: StreamKey, settings: &SourceSettings, api_base: Url) -> Self {
        Self {
            scope: format!("tenant {}, source {}", stream.tenant, stream.source),
            stream,
            client: settings.client.clone(),
            tokens: settings.tokens.clone(),
            api_base,
            page_size: settings
                .page_size
                .unwrap_or(MAX_PAGE_SIZE)
                .clamp(1, MAX_PAGE_SIZE),
            day_offset: AtomicI64::new(0),
            day_offset_known: AtomicBool::new(false),
        }
    }

    /// Where the account's dates begin, ahead of UTC.
    pub fn day_offset(&self) -> Duration {
        Duration::seconds(self.day_offset.load(Ordering::Relaxed))
    }

    /// Whether an answer has shown where the account's dates begin.
    pub fn day_offset_known(&self) -> bool {
        self.day_offset_known.load(Ordering::Relaxed)
    }

    pub fn learn_day_offset(&self, offset: Duration) {
        self.day_offset_known.store(true, Ordering::Relaxed);
        let before = self
            .day_offset
            .swap(offset.num_seconds(), Ordering::Relaxed);
        if before != offset.num_seconds() {
            tracing::info!(stream = %self.stream, offset_minutes = offset.num_minutes(),
                "Zoom's dates for this account begin at this offset from UTC midnight");
        }
    }

    /// One page request: `query` plus `page_size` and `cursor`.
    pub async fn request(
        &self,
        path: &str,
        mut query: Vec<(&'static str, String)>,
        cursor: Option<&str>,
        now: DateTime<Utc>,
        special: Special<'_>,
    ) -> (Result<Answered, SourceError>, Option<HttpExchange>) {
        let url = match endpoint(&self.api_base, path) {
            Ok(u) => u,
            Err(e) => return (Err(e), None),
        };
        query.push(("page_size", self.page_size.to_string()));
        if let Some(c) = cursor {
            query.push(("next_page_token", c.to_string()));
        }
        let sent = http::get(&self.client, &self.tokens, url, &query, &self.scope, now).await;
        let result = match sent.result {
            Err(e) => Err(e),
            Ok((answer, token)) => {
                if let Some(r) = special(&answer) {
                    r
                } else if let Some(r) = shared_special(&answer, cursor.is_some(), &self.scope) {
                    r
                } else {
                    match check_status(&answer, &token, &self.tokens, &self.scope, now).await {
                        Err(e) => Err(e),
                        Ok(Status::Refresh { reason }) => Ok(Answered::Refresh { reason }),
                        Ok(Status::Fine) => read_log_page(&answer, &self.scope).map(Answered::Page),
                    }
                }
            }
        };
        (result, sent.exchange)
    }
}

/// Page token expired, the 6-month horizon (HTTP 300 text, or HTTP 400 code 300), "No
/// permission." (HTTP 400 code 200: plan or role) and a scope the token lacks (code 4711).
fn shared_special(
    answer: &Answer,
    sent_cursor: bool,
    scope: &str,
) -> Option<Result<Answered, SourceError>> {
    let status = answer.status;
    let code = api_code(&answer.body);
    let message = api_message(&answer.body).unwrap_or_default();
    if code == Some(4711) || message.contains("does not contain scopes") {
        return Some(Err(SourceError::permanent(format!(
            "{scope}: the app's token lacks a scope Zoom requires (HTTP {status}, code 4711: \
             {message}); add the scope to the Server-to-Server app and reactivate it"
        ))
        .because(Cause::Scope)));
    }
    if status == 401 || status < 300 || status == 429 || status >= 500 {
        return None;
    }
    let lower = message.to_ascii_lowercase();
    if sent_cursor
        && (lower.contains("page token")
            || lower.contains("page_token")
            || lower.contains("next_page"))
    {
        return Some(Ok(Answered::Restart {
            reason: format!("{scope}: page token refused ({message}); starting the window over"),
        }));
    }
    let horizon =
        lower.contains("6 month") || lower.contains("six month") || lower.contains("recent");
    if status == 300 || (code == Some(300) && horizon) {
        let said = if message.is_empty() {
            format!("HTTP {status}")
        } else {
            message
        };
        return Some(Ok(Answered::Horizon {
            reason: format!(
                "{scope}: data older than the API's 6-month retention refused ({said})"
            ),
        }));
    }
    if status == 400 && code == Some(200) {
        return Some(Err(SourceError::permanent(format!(
            "{scope}: Zoom answered \"{message}\" (code 200): the account needs a Pro or higher \
             plan and the app the report scope (report:read:admin or \
             report:read:operation_logs:admin / phone:read:admin)"
        ))
        .because(Cause::Plan)));
    }
    None
}

/// Reads a Zoom log page: its records (those that do not parse apart, with why), the next
/// page token and `total_records`. A body that is not a page is malformed.
pub(crate) fn read_log_page(answer: &Answer, scope: &str) -> Result<LogPage, SourceError> {
    let mut page = json_object(answer, scope)?;
    let bad = |why: String| SourceError::malformed(format!("{scope}: {why}"), &answer.body);
    // Records are moved out of the parsed page (each becomes an event's `raw`), not cloned.
    let items = match page.remove("operation_logs") {
        Some(Value::Array(items)) => items,
        Some(Value::Null) | None if page.contains_key("from") || page.contains_key("page_size") => {
            Vec::new()
        }
        Some(_) => return Err(bad("operation_logs is not an array".into())),
        None => return Err(bad("answer has no operation_logs".into())),
    };
    let next = match page.get("next_page_token") {
        Some(Value::String(t)) if !t.trim().is_empty() => Some(t.clone()),
        Some(Value::String(_)) | Some(Value::Null) | None => None,
        Some(_) => return Err(bad("next_page_token is not a string".into())),
    };
    let total = page.get("total_records").and_then(Value::as_u64);
    let mut records = Vec::with_capacity(items.len());
    let mut refused = Vec::new();
    for (i, raw) in items.into_iter().enumerate() {
        match normalize(raw) {
            Ok(r) => records.push(r),
            Err((why, raw)) => refused.push(rejected(scope, i, &why, &raw)),
        }
    }
    Ok(LogPage {
        records,
        rejected: refused,
        next,
        total,
    })
}

/// One Zoom operation-log record as an event's fields; the record back with why not.
pub(crate) fn normalize(raw: Value) -> Result<Record, (String, Value)> {
    if !raw.is_object() {
        return Err(("not an object".into(), raw));
    }
    let time = match raw.get("time").and_then(Value::as_str) {
        None => return Err(("no time".into(), raw)),
        Some(text) => match parse_time(text) {
            Some(t) => t,
            None => {
                let why = format!("time {text:?} is not RFC 3339");
                return Err((why, raw));
            }
        },
    };
    let detail = text_field(&raw, "operation_detail");
    let target = detail
        .as_deref()
        .and_then(|d| find_email(d).or_else(|| find_phone(d)));
    let fields = Fields {
        actor: text_field(&raw, "operator"),
        action: verb(raw.get("action").and_then(Value::as_str)),
        category: text_field(&raw, "category_type"),
        target,
        detail,
        outcome: Outcome::Success,
        client_ip: None,
    };
    Ok(Record { time, raw, fields })
}

/// For endpoints without answers of their own.
pub(crate) fn no_special(_: &Answer) -> Option<Result<Answered, SourceError>> {
    None
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    let s = clean_text(s)?;
    DateTime::parse_from_rfc3339(&s)
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            NaiveDateTime::parse_from_str(&s, "%Y-%m-%dT%H:%M:%S")
                .ok()
                .map(|n| n.and_utc())
        })
}

#[cfg(test)]
mod tests;
