//! Checking one tenant against the real APIs, the way `trawl run` would reach them.
//!
//! The tenant's token first, once (one token cache per tenant, shared by its streams, as
//! in `trawl run`): a refused token fails every stream of the tenant without an API
//! request. Then each stream's first page of the last 24 hours, under its account's
//! bucket ([`trawl_engine::preflight::read_first_page`]: at most three API requests).
//! The token answer's `scope` list, where the vendor sends one (Zoom), is compared with
//! the scopes the stream needs, to name the missing one; the API's own answer decides
//! the verdict (a scope named differently from ours is not a failure if the API
//! answers).

use std::time::Duration;

use chrono::Duration as ChronoDuration;
use trawl_engine::clock::Clock;
use trawl_engine::config::TenantSpec;
use trawl_engine::limiter::Accounts;
use trawl_engine::preflight::{read_first_page, Outcome};
use trawl_model::{SourceKind, Window};
use trawl_sources::{build_source, AccessToken, SourceError, SourceSettings};

use super::verdict::{judge, Seen, StreamVerdict};

/// What the checks share.
pub struct Context<'a> {
    pub accounts: &'a Accounts,
    pub http: reqwest::Client,
    pub clock: Clock,
    /// The longest wait for one permit of an account's bucket.
    pub wait: Duration,
}

/// One tenant's verdicts, and how many token requests its check made.
pub struct TenantChecked {
    pub verdicts: Vec<StreamVerdict>,
    pub token_requests: u64,
}

/// How far back the page read reaches.
const LOOK_BACK: ChronoDuration = ChronoDuration::days(1);

pub async fn check_tenant(tenant: &TenantSpec, cx: &Context<'_>) -> TenantChecked {
    let settings = SourceSettings::new(tenant.id.clone(), &tenant.access, cx.http.clone());
    let token = settings.tokens.token(cx.clock.now()).await;
    let verdicts = match &token {
        Err(e) => tenant
            .streams
            .iter()
            .map(|&kind| {
                judge(&Seen {
                    token: Some(e),
                    ..Seen::new(tenant, kind)
                })
            })
            .collect(),
        Ok(token) => {
            let checks = tenant
                .streams
                .iter()
                .map(|&kind| check_stream(tenant, kind, &settings, token, cx));
            futures::future::join_all(checks).await
        }
    };
    TenantChecked {
        verdicts,
        token_requests: settings.tokens.refreshes(),
    }
}

async fn check_stream(
    tenant: &TenantSpec,
    kind: SourceKind,
    settings: &SourceSettings,
    token: &AccessToken,
    cx: &Context<'_>,
) -> StreamVerdict {
    let source = match build_source(kind, settings) {
        Ok(s) => s,
        Err(e) => {
            return judge(&Seen {
                token: Some(&e),
                ..Seen::new(tenant, kind)
            })
        }
    };
    let scopes = source.scopes();
    let base = Seen {
        scopes,
        token_lacks_scope: !scopes.is_empty()
            && token
                .scopes()
                .is_some_and(|held| !scopes.iter().any(|s| held.contains(s))),
        ..Seen::new(tenant, kind)
    };
    let Some(limiter) = cx
        .accounts
        .limiter(&tenant.access.account(), source.limit_key())
    else {
        let e = SourceError::permanent(format!(
            "tenant {}: no rate limiter for stream {kind} (a bug)",
            tenant.id
        ));
        return judge(&Seen {
            token: Some(&e),
            ..base
        });
    };
    let now = cx.clock.now();
    let window = Window::new(now - LOOK_BACK, now).expect("a day before now is before now");
    let page = read_first_page(source.clone(), window, &limiter, &cx.clock, cx.wait).await;
    let bucket = match page.outcome {
        Outcome::NoPermit { .. } => bucket_state(tenant, source.limit_key(), cx).await,
        _ => None,
    };
    judge(&Seen {
        page: Some(&page),
        bucket,
        ..base
    })
}

/// "used 1000 of 1000 requests of 2026-03-01, blocked until ..." for a bucket that
/// granted nothing.
async fn bucket_state(
    tenant: &TenantSpec,
    limit: trawl_sources::LimitKey,
    cx: &Context<'_>,
) -> Option<String> {
    let name = format!("{}/{}/{}", tenant.id, limit.family.as_str(), limit.label);
    let states = cx.accounts.states().await;
    let (_, l) = states.into_iter().find(|(n, _)| *n == name)?;
    let q = &l.state;
    let mut text = format!("{} requests of {} used", q.used_today, q.day);
    if let Some(cap) = q.daily_cap {
        text.push_str(&format!(" of trawl's daily share {cap}"));
    }
    if let Some(until) = l.blocked_until {
        text.push_str(&format!(", blocked until {}", until.to_rfc3339()));
    }
    Some(text)
}
