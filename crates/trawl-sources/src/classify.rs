//! The classification every API answer goes through once its API-specific meaning (page
//! token expired, 6-month horizon, no Phone plan, ...) has been checked.
//!
//! 2xx passes; 429 becomes [`SourceError::RateLimited`] with what the headers and body
//! say; 401 drops the token (the next call refreshes once) and is retryable, but a 401
//! right after a fresh token is permanent; 5xx and 408 are retryable; every other answer
//! is permanent, worded with the API's own message.

use chrono::{DateTime, Utc};

use crate::auth::{AccessToken, TokenCache};
use crate::error::{LimitType, RateLimitInfo, RetryAfter, SourceError};
use crate::http::Answer;

/// Reads a 429's headers and body.
pub(crate) fn rate_limit_from(answer: &Answer, scope: &str, now: DateTime<Utc>) -> RateLimitInfo {
    let message = api_message(&answer.body);
    let kind = answer
        .header("x-ratelimit-type")
        .and_then(limit_type_of)
        .or_else(|| message.as_deref().and_then(limit_type_of))
        .unwrap_or(LimitType::Unknown);
    let number = |name: &str| {
        answer
            .header(name)
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    RateLimitInfo {
        scope: scope.to_string(),
        label: answer
            .header("x-ratelimit-category")
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty()),
        kind,
        retry_after: answer
            .header("retry-after")
            .and_then(|v| RetryAfter::parse(v, now)),
        limit: number("x-ratelimit-limit"),
        remaining: number("x-ratelimit-remaining"),
        message,
    }
}

/// `QPS`, `Daily-limit`, or a body text such as "maximum per-second rate limit".
fn limit_type_of(text: &str) -> Option<LimitType> {
    let t = text.to_ascii_lowercase();
    if t.contains("daily") || t.contains("per day") {
        Some(LimitType::Daily)
    } else if t.contains("qps") || t.contains("per-second") || t.contains("per second") {
        Some(LimitType::Qps)
    } else {
        None
    }
}

/// The API's own words: Zoom `message`, Zoho `status.description` / `data.moreInfo`,
/// OAuth `error`, or a short plain-text body. HTML pages give `None`.
pub(crate) fn api_message(body: &str) -> Option<String> {
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(body) {
        let pick = |p: &str| v.pointer(p).and_then(|m| m.as_str()).map(str::to_string);
        let found = pick("/message")
            .or_else(|| {
                let more = pick("/data/moreInfo").or_else(|| pick("/data/errorCode"));
                match (pick("/status/description"), more) {
                    (Some(d), Some(m)) => Some(format!("{d}: {m}")),
                    (d, m) => d.or(m),
                }
            })
            .or_else(|| pick("/error"));
        return found.filter(|m| !m.trim().is_empty());
    }
    let t = body.trim();
    if t.is_empty() || t.starts_with('<') {
        return None;
    }
    Some(t.chars().take(300).collect())
}

/// Zoom's numeric `code` of an error body.
pub(crate) fn api_code(body: &str) -> Option<i64> {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()?
        .get("code")
        .and_then(|c| c.as_i64().or_else(|| c.as_str()?.parse().ok()))
}

/// Remembers a 401 so that a second one in a row (with a fresh token) is permanent.
#[derive(Debug, Default)]
pub(crate) struct AuthStrikes {
    last_was_401: bool,
}

/// Classifies an answer's status. `Ok(())` for 2xx.
pub(crate) async fn check_status(
    answer: &Answer,
    token: &AccessToken,
    tokens: &TokenCache,
    strikes: &mut AuthStrikes,
    scope: &str,
    now: DateTime<Utc>,
) -> Result<(), SourceError> {
    let status = answer.status;
    let said = || {
        api_message(&answer.body)
            .map(|m| format!(": {m}"))
            .unwrap_or_default()
    };
    if status == 401 {
        tokens.invalidate(token).await;
        if std::mem::replace(&mut strikes.last_was_401, true) {
            return Err(SourceError::permanent(format!(
                "{scope}: the API refused a freshly issued access token (HTTP 401{}); \
                 check the app's scopes and that it is activated",
                said()
            )));
        }
        return Err(SourceError::retryable(format!(
            "{scope}: access token refused (HTTP 401{}); token dropped, the next call refreshes it",
            said()
        )));
    }
    strikes.last_was_401 = false;
    match status {
        200..=299 => Ok(()),
        429 => Err(SourceError::RateLimited(rate_limit_from(
            answer, scope, now,
        ))),
        408 | 500..=599 => Err(SourceError::retryable(format!(
            "{scope}: server answered HTTP {status}{}",
            said()
        ))),
        403 => Err(SourceError::permanent(format!(
            "{scope}: access forbidden (HTTP 403{}); check the app's scopes and the admin role",
            said()
        ))),
        _ => Err(SourceError::permanent(format!(
            "{scope}: request refused (HTTP {status}{})",
            said()
        ))),
    }
}

/// Parses a 2xx body strictly; anything but a JSON object is malformed.
pub(crate) fn json_object(
    answer: &Answer,
    scope: &str,
) -> Result<serde_json::Map<String, serde_json::Value>, SourceError> {
    match serde_json::from_str::<serde_json::Value>(&answer.body) {
        Ok(serde_json::Value::Object(map)) => Ok(map),
        Ok(_) => Err(SourceError::malformed(
            format!(
                "{scope}: HTTP {} answer is JSON but not an object",
                answer.status
            ),
            &answer.body,
        )),
        Err(e) => {
            let what = if answer.body.trim_start().starts_with('<') {
                "an HTML page instead of JSON".to_string()
            } else if answer.body.trim().is_empty() {
                "an empty body".to_string()
            } else {
                format!("invalid JSON ({e})")
            };
            Err(SourceError::malformed(
                format!("{scope}: HTTP {} answer is {what}", answer.status),
                &answer.body,
            ))
        }
    }
}
