//! What a Zoho answer says about itself, read from its envelope only: `status.code`,
//! `data.errorCode` / `data.moreInfo`, or the `error` object of Zoho's throttling
//! (`URL_ROLLING_THROTTLES_LIMIT_EXCEEDED`, seen with HTTP 400 and 200, its lock time only
//! in the message: "... Try again after 22 minutes."). The audit records inside `data`
//! are never looked at here: a record that mentions `INVALID_OAUTHTOKEN` is a record.

use chrono::{DateTime, Duration, Utc};
use serde::de::IgnoredAny;
use serde::Deserialize;

use crate::classify::bounded;
use crate::error::{LimitType, RateLimitInfo};
use crate::http::Answer;

/// The longest lock a Zoho throttling message is followed for (a lock that calls extend
/// must be waited out, so this is longer than the general one-hour cap).
pub const MAX_LOCK: Duration = Duration::hours(24);

/// What an answer is.
#[derive(Debug, PartialEq)]
pub(crate) enum Verdict {
    /// The token was refused: drop it and ask again.
    Refresh { reason: String },
    /// Throttled, in whichever form: pause the organization.
    Throttled(RateLimitInfo),
    /// Read it by this status (an envelope's code counts over HTTP 200).
    Status(u16),
}

#[derive(Deserialize, Default)]
struct Envelope {
    #[serde(default)]
    status: Option<StatusPart>,
    #[serde(default)]
    data: Option<DataPart>,
    #[serde(default)]
    error: Option<ErrorPart>,
}

#[derive(Deserialize)]
struct StatusPart {
    #[serde(default)]
    code: Option<serde_json::Value>,
    #[serde(default)]
    description: Option<String>,
}

#[derive(Deserialize)]
struct DataPart {
    #[serde(default, rename = "errorCode")]
    error_code: Option<String>,
    #[serde(default, rename = "moreInfo")]
    more_info: Option<String>,
    /// Skipped without building it.
    #[serde(default)]
    #[allow(dead_code)]
    audit: Option<IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ErrorPart {
    Object {
        #[serde(default)]
        code: Option<serde_json::Value>,
        #[serde(default)]
        title: Option<String>,
        #[serde(default)]
        message: Option<String>,
    },
    Text(String),
}

const THROTTLE_CODES: [&str; 4] = [
    "URL_ROLLING_THROTTLES_LIMIT_EXCEEDED",
    "TOO_MANY_REQUESTS",
    "URL_RULE_VIOLATION",
    "THROTTLES_LIMIT_EXCEEDED",
];

/// Reads `answer` (see the module doc).
pub(crate) fn read(answer: &Answer, scope: &str, now: DateTime<Utc>) -> Verdict {
    let env: Envelope = if answer.body.trim_start().starts_with('{') {
        serde_json::from_str(&answer.body).unwrap_or_default()
    } else {
        Envelope::default()
    };
    let code = env
        .status
        .as_ref()
        .and_then(|s| s.code.as_ref())
        .and_then(|c| c.as_u64().or_else(|| c.as_str()?.parse().ok()))
        .and_then(|c| u16::try_from(c).ok())
        .filter(|c| (100..600).contains(c));
    let error_code = env.data.as_ref().and_then(|d| d.error_code.clone());
    let (err_code, err_message) = match &env.error {
        Some(ErrorPart::Object {
            code,
            title,
            message,
        }) => (
            code.as_ref()
                .and_then(|c| c.as_str().map(str::to_string))
                .or_else(|| title.clone()),
            message.clone(),
        ),
        Some(ErrorPart::Text(t)) => (Some(t.clone()), None),
        None => (None, None),
    };
    let words = err_message
        .clone()
        .or_else(|| env.data.as_ref().and_then(|d| d.more_info.clone()))
        .or_else(|| env.status.as_ref().and_then(|s| s.description.clone()))
        .unwrap_or_default();
    let throttle_code = [err_code.as_deref(), error_code.as_deref()]
        .into_iter()
        .flatten()
        .any(|c| THROTTLE_CODES.iter().any(|t| c.eq_ignore_ascii_case(t)));
    if throttle_code || answer.status == 429 || code == Some(429) {
        let stated = lock_in(&words).and_then(|d| now.checked_add_signed(d));
        let (retry_after, issue) = bounded_lock(stated, now);
        return Verdict::Throttled(RateLimitInfo {
            scope: scope.to_string(),
            label: None,
            kind: LimitType::Unknown,
            retry_after,
            retry_after_issue: issue,
            limit: None,
            remaining: None,
            message: (!words.is_empty()).then(|| words.chars().take(300).collect()),
        });
    }
    let invalid_token = error_code
        .as_deref()
        .is_some_and(|c| c.eq_ignore_ascii_case("INVALID_OAUTHTOKEN"))
        || err_code
            .as_deref()
            .is_some_and(|c| c.eq_ignore_ascii_case("INVALID_OAUTHTOKEN"));
    if invalid_token || code == Some(401) || answer.status == 401 {
        return Verdict::Refresh {
            reason: format!(
                "{scope}: access token refused (HTTP {}{}); dropped, the next request refreshes it",
                answer.status,
                if words.is_empty() {
                    String::new()
                } else {
                    format!(": {words}")
                }
            ),
        };
    }
    match code {
        Some(c) if answer.status == 200 => Verdict::Status(c),
        _ => Verdict::Status(answer.status),
    }
}

fn bounded_lock(
    stated: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> (
    Option<crate::error::RetryAfter>,
    Option<Box<crate::error::RetryAfterIssue>>,
) {
    match stated {
        Some(t) if t > now + MAX_LOCK => bounded(Some(t), LimitType::Unknown, now),
        Some(t) => (Some(crate::error::RetryAfter(t.max(now))), None),
        None => (None, None),
    }
}

/// "... Try again after 22 minutes." -> 22 minutes (seconds, minutes, hours).
pub(crate) fn lock_in(text: &str) -> Option<Duration> {
    let lower = text.to_ascii_lowercase();
    let at = lower.find("after")? + "after".len();
    let mut words = lower[at..].split(|c: char| c.is_whitespace() || c == '.' || c == ',');
    let number = words.find(|w| !w.is_empty())?;
    let n: i64 = number.parse().ok()?;
    let unit = words.find(|w| !w.is_empty()).unwrap_or("seconds");
    let d = match unit.trim_end_matches('s') {
        "second" | "sec" => Duration::try_seconds(n)?,
        "minute" | "min" => Duration::try_minutes(n)?,
        "hour" | "hr" => Duration::try_hours(n)?,
        _ => return None,
    };
    (d >= Duration::zero()).then_some(d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::answer;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()
    }

    #[test]
    fn the_lock_time_is_read_from_the_message() {
        assert_eq!(
            lock_in(
                "You have exceeded the permitted number of API calls. Try again after 22 minutes."
            ),
            Some(Duration::minutes(22))
        );
        assert_eq!(lock_in("try again after 1 hour"), Some(Duration::hours(1)));
        assert_eq!(
            lock_in("Retry after 30 seconds."),
            Some(Duration::seconds(30))
        );
        assert_eq!(lock_in("Please try again after some time."), None);
        assert_eq!(lock_in("after 999999999999999999 hours"), None);
    }

    #[test]
    fn throttling_in_every_form_is_throttling_with_its_lock() {
        let body = r#"{"error":{"code":"URL_ROLLING_THROTTLES_LIMIT_EXCEEDED","message":"Try again after 22 minutes."}}"#;
        for status in [400, 200] {
            match read(&answer(status, &[], body), "s", now()) {
                Verdict::Throttled(i) => {
                    assert_eq!(i.retry_after.unwrap().at(), now() + Duration::minutes(22));
                    assert!(i.retry_after_issue.is_none());
                }
                other => panic!("{status}: {other:?}"),
            }
        }
        let title = r#"{"error":{"title":"URL_ROLLING_THROTTLES_LIMIT_EXCEEDED","message":"Try again after 3 hours."}}"#;
        assert!(matches!(
            read(&answer(400, &[], title), "s", now()),
            Verdict::Throttled(_)
        ));
        let envelope = r#"{"status":{"code":429,"description":"Too many requests"},"data":{"errorCode":"TOO_MANY_REQUESTS"}}"#;
        match read(&answer(429, &[], envelope), "s", now()) {
            Verdict::Throttled(i) => assert_eq!(i.retry_after, None),
            other => panic!("{other:?}"),
        }
        // A lock longer than any sane one is capped and noted.
        let far = r#"{"error":{"code":"URL_ROLLING_THROTTLES_LIMIT_EXCEEDED","message":"Try again after 9000 hours."}}"#;
        match read(&answer(400, &[], far), "s", now()) {
            Verdict::Throttled(i) => {
                assert!(i.retry_after.unwrap().at() <= now() + Duration::hours(1));
                assert!(i.retry_after_issue.is_some());
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn auth_errors_come_from_the_envelope_never_from_records() {
        let bad = r#"{"status":{"code":401,"description":"Invalid OAuth token"},"data":{"errorCode":"INVALID_OAUTHTOKEN"}}"#;
        for status in [401, 404, 200] {
            assert!(matches!(
                read(&answer(status, &[], bad), "s", now()),
                Verdict::Refresh { .. }
            ));
        }
        let record = r#"{"status":{"code":200,"description":"success"},"data":{"audit":[{"requestTime":1,"operation":"INVALID_OAUTHTOKEN too many requests URL_ROLLING_THROTTLES_LIMIT_EXCEEDED"}]}}"#;
        assert_eq!(
            read(&answer(200, &[], record), "s", now()),
            Verdict::Status(200)
        );
        let internal = r#"{"status":{"code":500,"description":"Internal Error"},"data":{"errorCode":"INTERNAL_SERVER_ERROR"}}"#;
        assert_eq!(
            read(&answer(200, &[], internal), "s", now()),
            Verdict::Status(500)
        );
        assert_eq!(
            read(&answer(503, &[], "<html>"), "s", now()),
            Verdict::Status(503)
        );
    }
}
