//! Every way an API answer can go wrong, classified so the engine can decide what to do.
//!
//! * [`SourceError::RateLimited`]: pause the account's bucket (until `retry_after`, or the
//!   next UTC midnight for a daily limit) and slow down.
//! * [`SourceError::Retryable`]: try the same page again after a backoff.
//! * [`SourceError::Permanent`]: stop the stream until its configuration changes.
//! * [`SourceError::NotEnabled`]: the account does not have this API at all (no Zoom
//!   Phone plan): turn the stream off and say why.
//! * [`SourceError::Malformed`]: the answer did not parse; the body is kept for the dead
//!   letter topic. A bad page is never read as an empty one.
//!
//! Every message names the tenant and the source, and never holds a secret. Where the
//! source can tell what the error is about (credentials, data center, scope, plan, no
//! answer at all), a [`Cause`] says so, for callers that tell a person what to fix
//! (`trawl preflight`) without reading the text.

use std::fmt;

use chrono::{DateTime, Duration, Utc};

/// The most of a bad body kept for the dead-letter path.
pub const MAX_KEPT_BODY: usize = 64 * 1024;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SourceError {
    #[error("{}", .0)]
    RateLimited(RateLimitInfo),
    #[error("{reason} (will retry)")]
    Retryable { reason: String, cause: Cause },
    #[error("{reason}")]
    Permanent { reason: String, cause: Cause },
    #[error("{reason}")]
    NotEnabled { reason: String },
    #[error("{reason} (body kept, {} bytes)", .body.len())]
    Malformed { reason: String, body: String },
}

impl SourceError {
    pub fn retryable(reason: impl Into<String>) -> Self {
        SourceError::Retryable {
            reason: reason.into(),
            cause: Cause::Unspecified,
        }
    }

    pub fn permanent(reason: impl Into<String>) -> Self {
        SourceError::Permanent {
            reason: reason.into(),
            cause: Cause::Unspecified,
        }
    }

    /// The same error, saying what it is about (only `Retryable` and `Permanent` carry
    /// a cause; the other kinds say it by their kind).
    pub fn because(mut self, why: Cause) -> Self {
        if let SourceError::Retryable { cause, .. } | SourceError::Permanent { cause, .. } =
            &mut self
        {
            *cause = why;
        }
        self
    }

    /// What the error is about, where the source could tell.
    pub fn cause(&self) -> Cause {
        match self {
            SourceError::Retryable { cause, .. } | SourceError::Permanent { cause, .. } => *cause,
            _ => Cause::Unspecified,
        }
    }

    pub fn not_enabled(reason: impl Into<String>) -> Self {
        SourceError::NotEnabled {
            reason: reason.into(),
        }
    }

    /// A malformed answer; the body is capped at [`MAX_KEPT_BODY`] bytes.
    pub fn malformed(reason: impl Into<String>, body: &str) -> Self {
        SourceError::Malformed {
            reason: reason.into(),
            body: cap_body(body),
        }
    }

    /// Whether trying the same request again later can succeed (rate limits included).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            SourceError::Retryable { .. } | SourceError::RateLimited(_)
        )
    }

    /// Whether the stream should stop until its configuration changes.
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            SourceError::Permanent { .. } | SourceError::NotEnabled { .. }
        )
    }

    pub fn is_rate_limited(&self) -> bool {
        matches!(self, SourceError::RateLimited(_))
    }

    /// A short, bounded label for metrics: `rate_limited`, `retryable`, ...
    pub fn kind(&self) -> &'static str {
        match self {
            SourceError::RateLimited(_) => "rate_limited",
            SourceError::Retryable { .. } => "retryable",
            SourceError::Permanent { .. } => "permanent",
            SourceError::NotEnabled { .. } => "not_enabled",
            SourceError::Malformed { .. } => "malformed",
        }
    }
}

/// What a [`SourceError`] is about, where the source could tell from the answer (or from
/// the lack of one). The engine decides by the error's kind alone; this is for telling a
/// person what to fix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Cause {
    #[default]
    Unspecified,
    /// The token endpoint refused the app's credentials (client id or secret, Zoom
    /// account id, Zoho refresh token).
    Credentials,
    /// Zoho's token endpoint does not know the client (`invalid_client`): the account
    /// lives in another data center, or the client id is wrong.
    DataCenter,
    /// The token lacks a scope the endpoint requires (Zoom code 4711).
    Scope,
    /// The account's plan does not include the report (Zoom: Pro or higher).
    Plan,
    /// No answer at all: the connection was refused or timed out (host, port, DNS,
    /// firewall).
    Unreachable,
}

/// Cuts `body` to at most [`MAX_KEPT_BODY`] bytes on a character boundary.
pub fn cap_body(body: &str) -> String {
    if body.len() <= MAX_KEPT_BODY {
        return body.to_string();
    }
    let mut end = MAX_KEPT_BODY;
    while !body.is_char_boundary(end) {
        end -= 1;
    }
    body[..end].to_string()
}

/// Which limit a 429 hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum LimitType {
    /// Requests per second (`X-RateLimit-Type: QPS`).
    Qps,
    /// The daily cap (`X-RateLimit-Type: Daily-limit`); resets 00:00 UTC.
    Daily,
    #[default]
    Unknown,
}

impl LimitType {
    pub fn as_str(self) -> &'static str {
        match self {
            LimitType::Qps => "qps",
            LimitType::Daily => "daily",
            LimitType::Unknown => "unknown",
        }
    }
}

impl fmt::Display for LimitType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// When the API said to try again, as an absolute instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RetryAfter(pub DateTime<Utc>);

impl RetryAfter {
    /// Parses a `Retry-After` value: delay seconds (`"30"`), an RFC 3339 instant
    /// (`"2026-03-02T00:00:00Z"`, as Zoom sends for daily limits) or an HTTP date.
    pub fn parse(value: &str, now: DateTime<Utc>) -> Option<Self> {
        let v = value.trim();
        if let Ok(secs) = v.parse::<u64>() {
            let secs = i64::try_from(secs).ok()?;
            return now
                .checked_add_signed(Duration::try_seconds(secs)?)
                .map(RetryAfter);
        }
        if let Ok(secs) = v.parse::<f64>() {
            if (0.0..1e9).contains(&secs) {
                return now
                    .checked_add_signed(Duration::milliseconds((secs * 1000.0) as i64))
                    .map(RetryAfter);
            }
        }
        if let Ok(t) = DateTime::parse_from_rfc3339(v) {
            return Some(RetryAfter(t.with_timezone(&Utc)));
        }
        DateTime::parse_from_rfc2822(v)
            .ok()
            .map(|t| RetryAfter(t.with_timezone(&Utc)))
    }

    pub fn at(&self) -> DateTime<Utc> {
        self.0
    }
}

/// Why a stated `Retry-After` was not followed as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RetryAfterIssue {
    /// Beyond any sane pause: `retry_after` holds the cap instead (next UTC midnight plus
    /// a margin for a daily limit, an hour otherwise).
    TooFar { said: DateTime<Utc> },
    /// Neither seconds nor a date (the first 64 characters).
    Unreadable { said: String },
}

impl RetryAfterIssue {
    /// A short, bounded label for metrics: `too_far` or `unreadable`.
    pub fn as_str(&self) -> &'static str {
        match self {
            RetryAfterIssue::TooFar { .. } => "too_far",
            RetryAfterIssue::Unreadable { .. } => "unreadable",
        }
    }
}

impl fmt::Display for RetryAfterIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RetryAfterIssue::TooFar { said } => {
                write!(
                    f,
                    "Retry-After {} is too far ahead; capped",
                    said.to_rfc3339()
                )
            }
            RetryAfterIssue::Unreadable { said } => write!(f, "Retry-After {said:?} is not a time"),
        }
    }
}

/// What a 429 (or another form of throttling) told us.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RateLimitInfo {
    /// Who was limited, for the error text: `tenant acme, source zoom.operation_logs`.
    pub scope: String,
    /// `X-RateLimit-Category`, only ever one of the vendor's known labels (`Heavy`, ...):
    /// the API never chooses a metric label value.
    pub label: Option<String>,
    pub kind: LimitType,
    /// When to resume: what the API said, bounded (see `retry_after_issue`).
    pub retry_after: Option<RetryAfter>,
    /// Set when the API's `Retry-After` was capped or unreadable (count it). Boxed: it
    /// is rare, and keeps every `Result<_, SourceError>` small.
    pub retry_after_issue: Option<Box<RetryAfterIssue>>,
    /// `X-RateLimit-Limit`.
    pub limit: Option<u32>,
    /// `X-RateLimit-Remaining` (seen to be another limit's: informative only).
    pub remaining: Option<u32>,
    /// The API's own words, if it gave any.
    pub message: Option<String>,
    /// Set for a lock-style throttle (Zoho's): the organization is locked out, and every
    /// call made during the lock extends it; what the answer said of the lock and the
    /// limit, where it said it. `None` for a 429 that a short pause answers (Zoom).
    /// Boxed, like `retry_after_issue`.
    pub throttle: Option<Box<Throttle>>,
}

/// What a lock-style throttle said of itself ("Cannot execute more than 100 requests per
/// API in 2 minutes. Try again after 22 minutes."), read from wherever the body has it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Throttle {
    /// How long the lock lasts from the answer ("Try again after 22 minutes"); `None`
    /// when the answer did not say (or said something unreadable).
    pub lock: Option<std::time::Duration>,
    /// The limit the answer stated, to pace below from then on.
    pub limit: Option<StatedLimit>,
}

/// "more than 100 requests per API in 2 minutes": at most `requests` per `per`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatedLimit {
    pub requests: u32,
    pub per: std::time::Duration,
}

impl fmt::Display for StatedLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} requests per {} s", self.requests, self.per.as_secs())
    }
}

impl fmt::Display for RateLimitInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: rate limited ({} limit", self.scope, self.kind)?;
        if let Some(l) = &self.label {
            write!(f, ", label {l}")?;
        }
        if let Some(l) = self.limit {
            write!(f, ", limit {l}")?;
        }
        if let Some(r) = self.remaining {
            write!(f, ", remaining {r}")?;
        }
        if let Some(r) = &self.retry_after {
            write!(f, ", retry after {}", r.0.to_rfc3339())?;
        }
        if let Some(i) = &self.retry_after_issue {
            write!(f, "; {i}")?;
        }
        if let Some(t) = &self.throttle {
            match t.lock {
                Some(l) => write!(f, "; locked for {} s", l.as_secs())?,
                None => f.write_str("; lock not stated")?,
            }
            if let Some(l) = t.limit {
                write!(f, ", stated limit {l}")?;
            }
        }
        f.write_str(")")?;
        if let Some(m) = &self.message {
            write!(f, ": {m}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()
    }

    #[test]
    fn retry_after_reads_seconds_and_instants() {
        assert_eq!(
            RetryAfter::parse("30", now()).unwrap().at(),
            now() + Duration::seconds(30)
        );
        assert_eq!(
            RetryAfter::parse(" 2026-03-02T00:00:00Z ", now())
                .unwrap()
                .at(),
            Utc.with_ymd_and_hms(2026, 3, 2, 0, 0, 0).unwrap()
        );
        assert_eq!(
            RetryAfter::parse("Mon, 02 Mar 2026 00:00:00 GMT", now())
                .unwrap()
                .at(),
            Utc.with_ymd_and_hms(2026, 3, 2, 0, 0, 0).unwrap()
        );
        assert_eq!(RetryAfter::parse("soon", now()), None);
        assert_eq!(RetryAfter::parse("-3", now()), None);
        // Far beyond the calendar: no panic, nothing to follow.
        assert_eq!(RetryAfter::parse("18446744073709551615", now()), None);
        assert_eq!(RetryAfter::parse("9223372036854775807", now()), None);
    }

    #[test]
    fn bodies_are_capped_on_a_char_boundary() {
        let body = "é".repeat(MAX_KEPT_BODY);
        let kept = cap_body(&body);
        assert!(kept.len() <= MAX_KEPT_BODY && kept.len() >= MAX_KEPT_BODY - 1);
        let SourceError::Malformed { body, .. } = SourceError::malformed("x", &kept) else {
            panic!()
        };
        assert_eq!(body, kept);
    }
}
