//! What Zoom's two operation-log endpoints share: the page shape (`operation_logs`,
//! `next_page_token`), the record shape (`time`, `operator`, `category_type`, `action`,
//! `operation_detail`), how a record becomes an event, and the error answers both give
//! (page token expired, 6-month horizon in its two forms, no permission).

pub mod operation_logs;
pub mod phone_operation_logs;

use std::sync::Arc;

use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::Value;
use trawl_model::{Outcome, StreamKey};
use url::Url;

use crate::auth::TokenCache;
use crate::classify::{api_code, api_message, check_status, json_object, AuthStrikes};
use crate::error::SourceError;
use crate::http::{self, endpoint, Answer};
use crate::normalize::{clean_text, find_email, find_phone, text_field, verb};
use crate::scan::{Fetch, Fetched, Fields, Record};
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
}

/// An API-specific reading of an answer, tried before the shared ones.
pub(crate) type Special<'a> = &'a (dyn Fn(&Answer) -> Option<Result<Fetch, SourceError>> + Sync);

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
        }
    }

    /// One page request: `query` plus `page_size` and the cursor; updates `cursor`.
    pub async fn fetch(
        &self,
        path: &str,
        mut query: Vec<(&'static str, String)>,
        cursor: &mut Option<String>,
        strikes: &mut AuthStrikes,
        now: DateTime<Utc>,
        special: Special<'_>,
    ) -> Fetched {
        let url = match endpoint(&self.api_base, path) {
            Ok(u) => u,
            Err(e) => {
                return Fetched {
                    result: Err(e),
                    exchange: None,
                }
            }
        };
        query.push(("page_size", self.page_size.to_string()));
        if let Some(c) = cursor.as_ref() {
            query.push(("next_page_token", c.clone()));
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
                    match check_status(&answer, &token, &self.tokens, strikes, &self.scope, now)
                        .await
                    {
                        Err(e) => Err(e),
                        Ok(()) => parse_page(&answer, &self.scope).map(|(records, next)| {
                            let more = next.is_some();
                            *cursor = next;
                            Fetch::Page { records, more }
                        }),
                    }
                }
            }
        };
        Fetched {
            result,
            exchange: sent.exchange,
        }
    }
}

/// Page token expired, the 6-month horizon (HTTP 300 text, or HTTP 400 code 300), and
/// "No permission." (HTTP 400 code 200: plan or role).
fn shared_special(
    answer: &Answer,
    sent_cursor: bool,
    scope: &str,
) -> Option<Result<Fetch, SourceError>> {
    let status = answer.status;
    if status == 401 || status < 300 || status == 429 || status >= 500 {
        return None;
    }
    let message = api_message(&answer.body).unwrap_or_default();
    let lower = message.to_ascii_lowercase();
    if sent_cursor
        && (lower.contains("page token")
            || lower.contains("page_token")
            || lower.contains("next_page"))
    {
        return Some(Ok(Fetch::Restart {
            reason: format!("{scope}: page token refused ({message}); starting the window over"),
        }));
    }
    let code = api_code(&answer.body);
    let horizon =
        lower.contains("6 month") || lower.contains("six month") || lower.contains("recent");
    if status == 300 || (code == Some(300) && horizon) {
        let said = if message.is_empty() {
            format!("HTTP {status}")
        } else {
            message
        };
        return Some(Ok(Fetch::Horizon {
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
        ))));
    }
    None
}

/// Reads a Zoom page: its records and the next page token (`None` on the last page).
pub(crate) fn parse_page(
    answer: &Answer,
    scope: &str,
) -> Result<(Vec<Record>, Option<String>), SourceError> {
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
    let records = items
        .into_iter()
        .enumerate()
        .map(|(i, raw)| normalize(raw).map_err(|why| bad(format!("record {i}: {why}"))))
        .collect::<Result<Vec<_>, _>>()?;
    let next = match page.get("next_page_token") {
        Some(Value::String(t)) if !t.trim().is_empty() => Some(t.clone()),
        Some(Value::String(_)) | Some(Value::Null) | None => None,
        Some(_) => return Err(bad("next_page_token is not a string".into())),
    };
    Ok((records, next))
}

/// One Zoom operation-log record as an event's fields.
pub(crate) fn normalize(raw: Value) -> Result<Record, String> {
    if !raw.is_object() {
        return Err("not an object".into());
    }
    let time_text = raw.get("time").and_then(Value::as_str).ok_or("no time")?;
    let time =
        parse_time(time_text).ok_or_else(|| format!("time {time_text:?} is not RFC 3339"))?;
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
pub(crate) fn no_special(_: &Answer) -> Option<Result<Fetch, SourceError>> {
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
