//! What a Zoho answer says about itself, read from its envelope only: `status.code`,
//! `data.errorCode` / `data.moreInfo`, or the `error` object of Zoho's throttling
//! (`URL_ROLLING_THROTTLES_LIMIT_EXCEEDED` in `title` or `code`, seen with HTTP 400 and
//! 200; the lock time and the limit only in a message: `error.details.message`,
//! `error.message`, a top-level `message` or the status description, read by
//! [`super::throttle`]). The audit records inside `data` are never looked at here: a
//! record that mentions `INVALID_OAUTHTOKEN` is a record.

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
    code: Option<serde_json::Value>,
    #[serde(default)]
    message: Option<serde_json::Value>,
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
        message: Option<serde_json::Value>,
        /// `{"message": ".."}` in the field shape (or a bare text).
        #[serde(default)]
        details: Option<serde_json::Value>,
    },
    Text(String),
}

/// A JSON value's text, if it is one.
fn text(v: Option<&serde_json::Value>) -> Option<String> {
    v.and_then(|v| v.as_str()).map(str::to_string)
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
    let (err_codes, err_message, details) = match &env.error {
        Some(ErrorPart::Object {
            code,
            title,
            message,
            details,
        }) => (
            vec![text(code.as_ref()), title.clone()],
            text(message.as_ref()),
            details
                .as_ref()
                .and_then(|d| text(d.get("message")).or_else(|| text(Some(d)))),
        ),
        Some(ErrorPart::Text(t)) => (vec![Some(t.clone())], None, None),
        None => (Vec::new(), None, None),
    };
    let mut err_codes = err_codes;
    err_codes.push(text(env.code.as_ref()));
    let err_code = err_codes.iter().flatten().next().cloned();
    // Every text that may state the lock or the limit, most specific first.
    let texts: Vec<String> = [
        details,
        err_message,
        text(env.message.as_ref()),
        env.data.as_ref().and_then(|d| d.more_info.clone()),
        env.status.as_ref().and_then(|s| s.description.clone()),
    ]
    .into_iter()
    .flatten()
    .filter(|t| !t.trim().is_empty())
    .collect();
    let words = texts.first().cloned().unwrap_or_default();
    let throttle_code = err_codes
        .iter()
        .flatten()
        .chain(error_code.iter())
        .any(|c| THROTTLE_CODES.iter().any(|t| c.eq_ignore_ascii_case(t)));
    if throttle_code || answer.status == 429 || code == Some(429) {
        let throttle = super::throttle::read(texts.iter().map(String::as_str));
        let stated = throttle
            .lock
            .and_then(|d| Duration::from_std(d).ok())
            .and_then(|d| now.checked_add_signed(d));
        let (retry_after, issue) = bounded_lock(stated, now);
        return Verdict::Throttled(RateLimitInfo {
            scope: scope.to_string(),
            label: None,
            kind: LimitType::Unknown,
            retry_after,
            retry_after_issue: issue,
            limit: throttle.limit.map(|l| l.requests),
            remaining: None,
            message: (!words.is_empty()).then(|| texts.join(" | ").chars().take(300).collect()),
            throttle: Some(Box::new(throttle)),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::answer;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()
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

    /// The lock and the limit of a throttled answer, or a panic saying what it was.
    fn throttle_of(status: u16, body: &str) -> (RateLimitInfo, crate::error::Throttle) {
        match read(&answer(status, &[], body), "tenant z", now()) {
            Verdict::Throttled(i) => {
                let t = *i.throttle.clone().expect("a lock-style throttle");
                (i, t)
            }
            other => panic!("{status} {body}: {other:?}"),
        }
    }

    #[test]
    fn every_shape_of_api_facts_gives_its_lock_and_limit() {
        use crate::error::StatedLimit;
        use std::time::Duration as Std;
        let field = r#"{"error":{"status_code":400,"title":"URL_ROLLING_THROTTLES_LIMIT_EXCEEDED","details":{"message":"Cannot execute more than 100 requests per API in 2 minutes. Try again after 22 minutes."}}}"#;
        let hundred = Some(StatedLimit {
            requests: 100,
            per: Std::from_secs(120),
        });
        for status in [400, 200] {
            let (i, t) = throttle_of(status, field);
            assert_eq!(t.lock, Some(Std::from_secs(22 * 60)));
            assert_eq!(t.limit, hundred);
            assert_eq!(i.retry_after.unwrap().at(), now() + Duration::minutes(22));
            assert_eq!(i.limit, Some(100));
            let text = crate::SourceError::RateLimited(i).to_string();
            assert!(text.contains("locked for 1320 s"), "{text}");
            assert!(text.contains("100 requests per 120 s"), "{text}");
        }
        // The code in `code`, the words in `message` beside it.
        let (_, t) = throttle_of(
            400,
            r#"{"error":{"code":"URL_ROLLING_THROTTLES_LIMIT_EXCEEDED","message":"Cannot execute more than 30 requests per API in 1 minute. Try again after 15 minutes."}}"#,
        );
        assert_eq!(t.lock, Some(Std::from_secs(900)));
        assert_eq!(
            t.limit.map(|l| (l.requests, l.per.as_secs())),
            Some((30, 60))
        );
        // `message` beside `title`, outside the error object; the code at the top.
        let (_, t) = throttle_of(
            200,
            r#"{"error":{"title":"URL_ROLLING_THROTTLES_LIMIT_EXCEEDED"},"message":"Try again after 2 minutes."}"#,
        );
        assert_eq!((t.lock, t.limit), (Some(Std::from_secs(120)), None));
        let (_, t) = throttle_of(
            400,
            r#"{"code":"URL_ROLLING_THROTTLES_LIMIT_EXCEEDED","message":"more than 10 requests per API in 2 minutes; try again after 3 minutes"}"#,
        );
        assert_eq!(t.lock, Some(Std::from_secs(180)));
        // Only the status description says it.
        let (_, t) = throttle_of(
            429,
            r#"{"status":{"code":429,"description":"Too many requests. Try again after 5 minutes."},"data":{"errorCode":"TOO_MANY_REQUESTS"}}"#,
        );
        assert_eq!(t.lock, Some(Std::from_secs(300)));
        // Details as a bare text.
        let (_, t) = throttle_of(
            400,
            r#"{"error":{"title":"URL_ROLLING_THROTTLES_LIMIT_EXCEEDED","details":"Try again after 1 hour."}}"#,
        );
        assert_eq!(t.lock, Some(Std::from_secs(3600)));
        // No lock anywhere: still a throttle, its lock unknown (waited out in steps).
        let (i, t) = throttle_of(
            429,
            r#"{"status":{"code":429,"description":"Too many requests"},"data":{"errorCode":"TOO_MANY_REQUESTS","moreInfo":"Please try again after some time."}}"#,
        );
        assert_eq!((t.lock, i.retry_after), (None, None));
        let (_, t) = throttle_of(
            400,
            r#"{"error":{"title":"URL_ROLLING_THROTTLES_LIMIT_EXCEEDED"}}"#,
        );
        assert_eq!(t, crate::error::Throttle::default());
        // A throttle is never a credentials problem.
        assert!(!crate::SourceError::RateLimited(i).is_permanent());
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
