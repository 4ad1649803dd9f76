//! From what a stream's check came to (the token answer, the first page) to a verdict a
//! person can act on: what was found, in the API's own words, and what to change.
//!
//! The sources classify every answer ([`SourceError`]'s kind and [`Cause`]); this only
//! words it for the tenant's configuration. Two findings need more than one error: a
//! Zoho organization that does not answer (HTTP 403/404 from the audit endpoint), and a
//! Mail host that refuses every fresh token (its data center is not the accounts
//! host's): both are read from the statuses of the requests made.

use serde::Serialize;
use trawl_engine::config::{TenantAccess, TenantSpec};
use trawl_engine::preflight::{FirstPage, Outcome};
use trawl_model::SourceKind;
use trawl_sources::{Cause, LimitType, SourceError};

/// What a check found (`ok` when the stream passes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Finding {
    Ok,
    Credentials,
    DataCenter,
    Scope,
    Plan,
    Phone,
    Organization,
    Unreachable,
    RateLimited,
    Quota,
    Page,
    Api,
}

impl Finding {
    /// The word the table shows after `FAIL`.
    pub fn as_str(self) -> &'static str {
        match self {
            Finding::Ok => "ok",
            Finding::Credentials => "credentials",
            Finding::DataCenter => "data center",
            Finding::Scope => "scope",
            Finding::Plan => "plan",
            Finding::Phone => "no Zoom Phone",
            Finding::Organization => "organization",
            Finding::Unreachable => "unreachable",
            Finding::RateLimited => "rate limited",
            Finding::Quota => "quota",
            Finding::Page => "page",
            Finding::Api => "API error",
        }
    }
}

/// One tenant stream's verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StreamVerdict {
    pub tenant: String,
    pub stream: String,
    pub pass: bool,
    pub finding: Finding,
    /// What the check saw: the page read, or the error in the API's words.
    pub detail: String,
    /// What to change (empty when the stream passes).
    pub fix: String,
    /// API requests this stream's check made.
    pub api_requests: u32,
}

/// What a stream's check came to, for [`judge`].
pub struct Seen<'a> {
    pub tenant: &'a TenantSpec,
    pub kind: SourceKind,
    /// The token could not be had: this error, and no page was asked.
    pub token: Option<&'a SourceError>,
    pub page: Option<&'a FirstPage>,
    /// The scopes any one of which opens the stream's endpoint (empty: not checked).
    pub scopes: &'static [&'static str],
    /// The token answer listed its scopes, and none of `scopes` among them.
    pub token_lacks_scope: bool,
    /// The bucket's state when no permit came: "N of M requests of today used".
    pub bucket: Option<String>,
}

impl<'a> Seen<'a> {
    /// Nothing seen yet.
    pub fn new(tenant: &'a TenantSpec, kind: SourceKind) -> Self {
        Self {
            tenant,
            kind,
            token: None,
            page: None,
            scopes: &[],
            token_lacks_scope: false,
            bucket: None,
        }
    }
}

/// The verdict on what a stream's check saw.
pub fn judge(seen: &Seen<'_>) -> StreamVerdict {
    let (finding, detail, fix, requests) = match (seen.token, seen.page) {
        (Some(e), _) => {
            let (f, fix) = from_error(seen, e, &[]);
            (f, e.to_string(), fix, 0)
        }
        (None, Some(page)) => {
            let (f, detail, fix) = from_page(seen, page);
            (f, detail, fix, page.requests)
        }
        (None, None) => (Finding::Api, "not checked".into(), String::new(), 0),
    };
    let fix = match finding {
        Finding::Ok | Finding::Scope | Finding::Phone => fix,
        _ if seen.token_lacks_scope => format!(
            "{fix}; also, the token holds none of the scopes {}",
            seen.scopes.join(", ")
        ),
        _ => fix,
    };
    StreamVerdict {
        tenant: seen.tenant.id.to_string(),
        stream: seen.kind.to_string(),
        pass: finding == Finding::Ok,
        finding,
        detail,
        fix,
        api_requests: requests,
    }
}

fn from_page(seen: &Seen<'_>, page: &FirstPage) -> (Finding, String, String) {
    let every_token_refused =
        !page.statuses.is_empty() && page.statuses.iter().all(|s| *s == Some(401));
    if every_token_refused && !matches!(page.outcome, Outcome::Page { .. }) {
        let detail = match &page.outcome {
            Outcome::Failed(e) => e.to_string(),
            Outcome::OutOfRequests { last } => last.clone(),
            _ => String::new(),
        };
        let (finding, fix) = tokens_refused(&seen.tenant.access);
        return (finding, detail, fix);
    }
    match &page.outcome {
        Outcome::Page { events, rejected } => {
            let detail = format!("one page read: {events} records of the last 24 hours");
            if *rejected > 0 {
                let detail = format!(
                    "{detail}, {rejected} that do not parse (they would go to the dead-letter topic)"
                );
                return (Finding::Ok, detail, String::new());
            }
            (Finding::Ok, detail, String::new())
        }
        Outcome::Failed(e) => {
            let (f, fix) = from_error(seen, e, &page.statuses);
            (f, e.to_string(), fix)
        }
        Outcome::NoPermit { waited } => (
            Finding::Quota,
            format!(
                "the account's rate limiter granted no request in {} s{}",
                waited.as_secs(),
                seen.bucket
                    .as_deref()
                    .map(|b| format!(" ({b})"))
                    .unwrap_or_default()
            ),
            "the account's share of its daily API quota is spent (trawl run keeps the same \
             count): check again after 00:00 UTC, or raise quota_share"
                .into(),
        ),
        Outcome::OutOfRequests { last } => (
            Finding::Api,
            last.clone(),
            format!(
                "no page after {} requests; check again later",
                page.requests
            ),
        ),
    }
}

/// The API answered 401 to every fresh token its own token endpoint issued: the two
/// hosts are not of one deployment.
fn tokens_refused(access: &TenantAccess) -> (Finding, String) {
    match access {
        TenantAccess::Zoho {
            credentials,
            mail_base,
            ..
        } => (
            Finding::DataCenter,
            format!(
                "the Mail API at {mail_base} refuses every token from {}: both hosts must be \
                 of the account's data center (set data_center instead of mail_base and \
                 accounts_base)",
                credentials.accounts_base
            ),
        ),
        TenantAccess::Zoom {
            credentials,
            api_base,
            ..
        } => (
            Finding::Credentials,
            format!(
                "api_base {api_base} refuses every token from oauth_base {}: both must be \
                 Zoom's (or both Zoom for Government's)",
                credentials.oauth_base
            ),
        ),
    }
}

/// The finding and the fix for an error of the token request or of a page request
/// (whose statuses are given).
fn from_error(seen: &Seen<'_>, e: &SourceError, statuses: &[Option<u16>]) -> (Finding, String) {
    let access = &seen.tenant.access;
    match e {
        SourceError::RateLimited(info) if info.kind == LimitType::Daily => (
            Finding::RateLimited,
            format!(
                "the account's daily API quota is spent{} (other apps share it): check again \
                 after it resets",
                info.retry_after
                    .map(|r| format!(" until {}", r.at().to_rfc3339()))
                    .unwrap_or_default()
            ),
        ),
        SourceError::RateLimited(_) => (
            Finding::RateLimited,
            "the API is throttling this account right now (its quota is shared with the \
             customer's other apps): check again later"
                .into(),
        ),
        SourceError::NotEnabled { .. } => (
            Finding::Phone,
            "Zoom Phone is not enabled on this account: enable it, or leave \
             phone_operation_logs out of streams (trawl run would turn the stream off and \
             look again every disabled_recheck)"
                .into(),
        ),
        SourceError::Malformed { .. } => (
            Finding::Page,
            format!(
                "the answer is not a {} page: check that the base URL points at the vendor's API",
                seen.kind
            ),
        ),
        SourceError::Retryable { .. } if e.cause() == Cause::Unreachable => (
            Finding::Unreachable,
            format!(
                "no answer: check the host and port of {} (DNS, firewall, proxy)",
                hosts(access)
            ),
        ),
        SourceError::Retryable { .. } => (
            Finding::Api,
            "the API failed for now: check again later".into(),
        ),
        SourceError::Permanent { .. } => from_refusal(seen, e.cause(), statuses),
    }
}

fn from_refusal(seen: &Seen<'_>, cause: Cause, statuses: &[Option<u16>]) -> (Finding, String) {
    match (cause, &seen.tenant.access) {
        (Cause::Credentials, TenantAccess::Zoom { .. }) => (
            Finding::Credentials,
            "check account_id, client_id and client_secret of the Server-to-Server OAuth \
             app, and that the app is activated"
                .into(),
        ),
        (Cause::Credentials, TenantAccess::Zoho { .. }) => (
            Finding::Credentials,
            "check client_secret and refresh_token (a revoked refresh token needs a new \
             one from the same client)"
                .into(),
        ),
        (Cause::DataCenter, TenantAccess::Zoho { credentials, .. }) => (
            Finding::DataCenter,
            format!(
                "{} does not know client id {}: set data_center to the account's (com, eu, \
                 in, com.au, jp, com.cn, sa, ca, uk), or correct client_id",
                credentials.accounts_base, credentials.client_id
            ),
        ),
        (Cause::Scope, _) => {
            let named = match seen.scopes {
                [] => "the report needs".to_string(),
                [one] => one.to_string(),
                [first, rest @ ..] => format!("{first} (or {})", rest.join(", ")),
            };
            (
                Finding::Scope,
                format!(
                    "the token lacks the scope {named}: add it to the app, then reactivate the app"
                ),
            )
        }
        (Cause::Plan, _) => (
            Finding::Plan,
            "the account's plan does not include this report (Zoom Pro or higher): upgrade \
             the plan, or leave the stream out"
                .into(),
        ),
        (_, TenantAccess::Zoho { credentials, .. })
            if statuses
                .last()
                .is_some_and(|s| matches!(s, Some(403 | 404))) =>
        {
            (
                Finding::Organization,
                format!(
                    "organization {} does not answer this token: check zoid, and that the \
                     refresh token's user administers that organization",
                    credentials.zoid
                ),
            )
        }
        _ => (
            Finding::Api,
            "the API refused the request: see the detail".into(),
        ),
    }
}

/// The base URLs of a tenant, for "check the host".
fn hosts(access: &TenantAccess) -> String {
    match access {
        TenantAccess::Zoom {
            credentials,
            api_base,
            ..
        } => format!(
            "oauth_base {} and api_base {api_base}",
            credentials.oauth_base
        ),
        TenantAccess::Zoho {
            credentials,
            mail_base,
            ..
        } => format!(
            "accounts_base {} and mail_base {mail_base}",
            credentials.accounts_base
        ),
    }
}
