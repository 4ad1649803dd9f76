//! The classification every API answer goes through once its API-specific meaning (page
//! token expired, 6-month horizon, no Phone plan, Zoho's envelope, ...) has been checked.
//!
//! 2xx passes; 429 becomes [`SourceError::RateLimited`] with what the headers and body
//! say, read with distrust: the rate-limit label must be one of the vendor's known labels
//! (the API never chooses a metric label), and a `Retry-After` beyond any sane pause
//! (past the next UTC midnight for a daily limit, past a minute for a per-second one,
//! past an hour when the kind is unknown) or that is not a time at all is capped and
//! noted, never followed; a 429 without any header is still a 429. 401 drops the token so the next call refreshes it ([`Status::Refresh`]: another
//! holder of the same app credentials may void it at any time, again and again; the
//! token cache keeps those refreshes bounded). 5xx and 408 are retryable; every other
//! answer is permanent, worded with the API's own message.

use chrono::{DateTime, Duration, DurationRound, Utc};

use crate::auth::{AccessToken, TokenCache};
use crate::error::{LimitType, RateLimitInfo, RetryAfter, RetryAfterIssue, SourceError};
use crate::http::Answer;

/// How long past the next UTC midnight a daily limit may pause an account.
pub const DAILY_MARGIN: Duration = Duration::minutes(5);
/// The longest pause a per-second limit may ask for (its bucket refills within a second).
pub const MAX_QPS_PAUSE: Duration = Duration::minutes(1);
/// The longest pause any other 429 may ask for.
pub const MAX_PAUSE: Duration = Duration::hours(1);

/// The labels Zoom's rate-limit tables know (`X-RateLimit-Category`).
pub const KNOWN_LABELS: [&str; 4] = ["Light", "Medium", "Heavy", "Resource-intensive"];

/// A header's label as one of [`KNOWN_LABELS`]; anything else is `None`.
pub fn known_label(header: &str) -> Option<&'static str> {
    let norm: String = header
        .trim()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_ascii_lowercase();
    KNOWN_LABELS
        .into_iter()
        .find(|l| l.replace('-', "").to_ascii_lowercase() == norm)
}

/// The instant a pause may last until at most: the next UTC midnight plus a margin for
/// a daily limit, a minute for a per-second one, an hour when the kind is unknown.
pub fn pause_cap(kind: LimitType, now: DateTime<Utc>) -> DateTime<Utc> {
    match kind {
        LimitType::Daily => {
            now.duration_trunc(Duration::days(1)).unwrap_or(now) + Duration::days(1) + DAILY_MARGIN
        }
        LimitType::Qps => now + MAX_QPS_PAUSE,
        LimitType::Unknown => now + MAX_PAUSE,
    }
}

/// A stated resume instant, capped; the issue when it had to be.
pub(crate) fn bounded(
    at: Option<DateTime<Utc>>,
    kind: LimitType,
    now: DateTime<Utc>,
) -> (Option<RetryAfter>, Option<Box<RetryAfterIssue>>) {
    let cap = pause_cap(kind, now);
    match at {
        Some(t) if t > cap => (
            Some(RetryAfter(cap)),
            Some(Box::new(RetryAfterIssue::TooFar { said: t })),
        ),
        Some(t) => (Some(RetryAfter(t.max(now))), None),
        None => (None, None),
    }
}

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
            .and_then(|v| v.trim().parse::<u32>().ok())
    };
    let stated = answer.header("retry-after");
    let parsed = stated.map(|v| RetryAfter::parse(v, now));
    let (retry_after, mut issue) = bounded(parsed.flatten().map(|r| r.at()), kind, now);
    if let (Some(said), Some(None)) = (stated, parsed) {
        issue = Some(Box::new(RetryAfterIssue::Unreadable {
            said: said.chars().take(64).collect(),
        }));
    }
    if let Some(i) = &issue {
        tracing::warn!(%scope, issue = %i, "Retry-After not followed as sent");
    }
    RateLimitInfo {
        scope: scope.to_string(),
        label: answer
            .header("x-ratelimit-category")
            .and_then(known_label)
            .map(str::to_string),
        kind,
        retry_after,
        retry_after_issue: issue,
        limit: number("x-ratelimit-limit"),
        remaining: number("x-ratelimit-remaining"),
        message,
        throttle: None,
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

/// The API's own words: Zoom `message`, Zoho `status.description` / `data.moreInfo` or
/// `error.message`, OAuth `error`, or a short plain-text body. HTML pages give `None`.
pub(crate) fn api_message(body: &str) -> Option<String> {
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(body) {
        let pick = |p: &str| v.pointer(p).and_then(|m| m.as_str()).map(str::to_string);
        let found = pick("/message")
            .or_else(|| pick("/error/message"))
            .or_else(|| {
                let more = pick("/data/moreInfo").or_else(|| pick("/data/errorCode"));
                match (pick("/status/description"), more) {
                    (Some(d), Some(m)) => Some(format!("{d}: {m}")),
                    (d, m) => d.or(m),
                }
            })
            .or_else(|| pick("/error"));
        return found
            .filter(|m| !m.trim().is_empty())
            .map(|m| m.chars().take(300).collect());
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

/// What an answer's status means, when it is not an error.
#[derive(Debug)]
pub(crate) enum Status {
    /// 2xx: read the page.
    Fine,
    /// The token was refused (expired, or voided by another holder of the credentials):
    /// dropped from the cache; ask again and the next call refreshes it.
    Refresh { reason: String },
}

/// Classifies an answer's status.
pub(crate) async fn check_status(
    answer: &Answer,
    token: &AccessToken,
    tokens: &TokenCache,
    scope: &str,
    now: DateTime<Utc>,
) -> Result<Status, SourceError> {
    let status = answer.status;
    let said = || {
        api_message(&answer.body)
            .map(|m| format!(": {m}"))
            .unwrap_or_default()
    };
    match status {
        200..=299 => Ok(Status::Fine),
        401 => {
            tokens.invalidate(token).await;
            Ok(Status::Refresh {
                reason: format!(
                    "{scope}: access token refused (HTTP 401{}); dropped, the next request refreshes it",
                    said()
                ),
            })
        }
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

/// A record that did not parse, kept as its JSON text with the reason.
pub(crate) fn rejected(
    scope: &str,
    index: usize,
    why: &str,
    raw: &serde_json::Value,
) -> crate::scan::Rejected {
    crate::scan::Rejected {
        reason: format!("{scope}: record {index} does not parse: {why}"),
        raw: raw.to_string(),
    }
}
