//! One cached OAuth access token per tenant, shared by all of that tenant's streams.
//!
//! Both vendors punish careless token handling: Zoom may invalidate the previous token
//! when a new one is issued, and Zoho refuses more than about ten tokens per ten minutes
//! per refresh token. So a tenant has exactly one [`TokenCache`] (behind an `Arc`), which
//! hands out the cached token until less than a minute of it remains, refreshes it
//! single-flight (callers that arrive during a refresh wait for that refresh and share
//! its result, success or failure), and drops it when the API answers 401
//! ([`TokenCache::invalidate`]) so the next call fetches a new one exactly once.
//!
//! Another holder of the same Zoom app credentials (a second instance, a script) can
//! void the token at any moment, again and again. A voided token is refreshed at once
//! the first time; while tokens keep being voided young (each within
//! [`VOID_STREAK_RESET`] of its issue), the next refresh waits twice as long each time,
//! from a second up to [`MAX_VOID_BACKOFF`], so a tug of war costs at most one token
//! request a minute and never marks the stream failed; callers asking during the wait
//! get a retryable error that says so.
//!
//! Expiry is measured on `tokio::time::Instant`, so tests drive it with a paused clock.

mod zoho;
mod zoom;

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Mutex;
use tokio::time::{Duration, Instant};
use trawl_model::{Provider, TenantId};

use crate::error::SourceError;

pub use zoho::ZohoCredentials;
pub use zoom::ZoomCredentials;
// For `crate::fuzzing`.
pub(crate) use zoho::classify_token_answer as classify_zoho_token;
pub(crate) use zoom::classify_token_answer as classify_zoom_token;

/// A token is refreshed when less than this remains of it.
pub const REFRESH_MARGIN: Duration = Duration::from_secs(60);
/// A token voided after living this long ends a streak of voided tokens.
pub const VOID_STREAK_RESET: Duration = Duration::from_secs(30);
/// The longest wait before the next token request while tokens keep being voided.
pub const MAX_VOID_BACKOFF: Duration = Duration::from_secs(60);

pub(crate) use crate::scan::BoxFuture;

/// A token as the token endpoint issued it (Debug is redacted by `SecretString`).
#[derive(Debug)]
pub(crate) struct Issued {
    pub secret: SecretString,
    pub expires_in: Duration,
    /// The token answer's `scope`, as sent (`None` when it had none).
    pub scope: Option<String>,
}

/// How a tenant obtains tokens (Zoom account credentials, Zoho refresh token, a fake).
pub(crate) trait Grant: Send + Sync {
    fn fetch<'a>(
        &'a self,
        client: &'a reqwest::Client,
        tenant: &'a TenantId,
        now: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<Issued, SourceError>>;
    /// The `Authorization` scheme the API wants: `Bearer` or `Zoho-oauthtoken`.
    fn scheme(&self) -> &'static str;
    fn provider(&self) -> Provider;
}

/// A bearer token, redacted in Debug.
#[derive(Clone)]
pub struct AccessToken {
    secret: SecretString,
    scheme: &'static str,
    issued_at: Instant,
    expires_at: Instant,
    serial: u64,
    /// The token answer's `scope` (not a secret: the names of the scopes granted).
    scope: Option<std::sync::Arc<str>>,
}

impl AccessToken {
    /// The value of the `Authorization` header.
    pub fn header_value(&self) -> String {
        format!("{} {}", self.scheme, self.secret.expose_secret())
    }

    pub fn expires_at(&self) -> Instant {
        self.expires_at
    }

    /// The scopes the token answer said it holds (separated by spaces or commas), or
    /// `None` when it did not say.
    pub fn scopes(&self) -> Option<Vec<&str>> {
        self.scope.as_deref().map(|s| {
            s.split(|c: char| c.is_whitespace() || c == ',')
                .filter(|s| !s.is_empty())
                .collect()
        })
    }

    /// Counts the tokens this cache issued: 1 for the first, 2 for the next, ...
    pub fn serial(&self) -> u64 {
        self.serial
    }

    fn is_fresh(&self, now: Instant) -> bool {
        now + REFRESH_MARGIN < self.expires_at
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("secret", &"[redacted]")
            .field("serial", &self.serial)
            .finish()
    }
}

struct State {
    token: Option<AccessToken>,
    last_error: Option<SourceError>,
    issued: u64,
    /// Tokens voided in a row, each young (see the module doc).
    voided: u32,
    /// No token request before this, while tokens keep being voided.
    not_before: Option<Instant>,
}

/// The token of one tenant, refreshed before expiry, single-flight.
pub struct TokenCache {
    tenant: TenantId,
    client: reqwest::Client,
    grant: Box<dyn Grant>,
    state: Mutex<State>,
    /// Finished refresh attempts; lets a caller that waited for the lock see whether a
    /// refresh finished while it waited.
    attempts: AtomicU64,
}

impl fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenCache")
            .field("tenant", &self.tenant)
            .field("provider", &self.grant.provider())
            .field("attempts", &self.attempts.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl TokenCache {
    /// The cache of a Zoom tenant (Server-to-Server OAuth, account credentials grant).
    pub fn zoom(tenant: TenantId, credentials: ZoomCredentials, client: reqwest::Client) -> Self {
        Self::with_grant(tenant, client, Box::new(credentials))
    }

    /// The cache of a Zoho tenant (refresh-token grant).
    pub fn zoho(tenant: TenantId, credentials: ZohoCredentials, client: reqwest::Client) -> Self {
        Self::with_grant(tenant, client, Box::new(credentials))
    }

    pub(crate) fn with_grant(
        tenant: TenantId,
        client: reqwest::Client,
        grant: Box<dyn Grant>,
    ) -> Self {
        Self {
            tenant,
            client,
            grant,
            state: Mutex::new(State {
                token: None,
                last_error: None,
                issued: 0,
                voided: 0,
                not_before: None,
            }),
            attempts: AtomicU64::new(0),
        }
    }

    pub fn tenant(&self) -> &TenantId {
        &self.tenant
    }

    pub fn provider(&self) -> Provider {
        self.grant.provider()
    }

    /// How many times the token endpoint was asked so far (finished requests).
    pub fn refreshes(&self) -> u64 {
        self.attempts.load(Ordering::SeqCst)
    }

    /// A token with more than [`REFRESH_MARGIN`] left, fetching one if needed. Callers
    /// that arrive while a refresh is under way wait for it and share its outcome.
    /// `now` only dates the `retry_after` of a refused token request.
    pub async fn token(&self, now: DateTime<Utc>) -> Result<AccessToken, SourceError> {
        let attempts_before = self.attempts.load(Ordering::SeqCst);
        let mut state = self.state.lock().await;
        if let Some(t) = &state.token {
            if t.is_fresh(Instant::now()) {
                return Ok(t.clone());
            }
        }
        if self.attempts.load(Ordering::SeqCst) != attempts_before {
            // A refresh ran while we waited for the lock and did not leave a usable
            // token: share its failure instead of asking the endpoint again.
            if let Some(e) = &state.last_error {
                return Err(e.clone());
            }
        }
        state.token = None;
        if let Some(at) = state.not_before.filter(|at| *at > Instant::now()) {
            return Err(SourceError::retryable(format!(
                "tenant {}: {} access tokens in a row were voided soon after their issue \
                 (another holder of the same app credentials?); next token request in {} s",
                self.tenant,
                state.voided,
                (at - Instant::now()).as_secs_f64().ceil()
            )));
        }
        let started = Instant::now();
        let fetched = self.grant.fetch(&self.client, &self.tenant, now).await;
        self.attempts.fetch_add(1, Ordering::SeqCst);
        match fetched {
            Ok(issued) => {
                state.issued += 1;
                let serial = state.issued;
                let token = AccessToken {
                    secret: issued.secret,
                    scheme: self.grant.scheme(),
                    issued_at: started,
                    expires_at: started + issued.expires_in,
                    serial,
                    scope: issued.scope.map(Into::into),
                };
                tracing::debug!(tenant = %self.tenant, serial, "access token refreshed");
                state.token = Some(token.clone());
                state.last_error = None;
                Ok(token)
            }
            Err(e) => {
                tracing::warn!(tenant = %self.tenant, error = %e, "access token request failed");
                state.last_error = Some(e.clone());
                Err(e)
            }
        }
    }

    /// Drops `token` if it is still the cached one (the API answered 401 with it), so
    /// the next [`TokenCache::token`] fetches a new one. A token some other stream
    /// already replaced is left alone: one 401 wave causes one refresh. Tokens voided
    /// young, again and again, space the refreshes out (see the module doc).
    pub async fn invalidate(&self, token: &AccessToken) {
        let mut state = self.state.lock().await;
        if state
            .token
            .as_ref()
            .is_none_or(|t| t.serial != token.serial)
        {
            return;
        }
        state.token = None;
        let now = Instant::now();
        state.voided = if now - token.issued_at >= VOID_STREAK_RESET {
            1
        } else {
            state.voided + 1
        };
        if state.voided >= 2 {
            let wait = Duration::from_secs(1)
                .saturating_mul(1 << (state.voided - 2).min(10))
                .min(MAX_VOID_BACKOFF);
            state.not_before = Some(now + wait);
            tracing::warn!(tenant = %self.tenant, voided = state.voided, wait = ?wait,
                "access token voided soon after its issue, again (another holder of the same app credentials?)");
        } else {
            state.not_before = None;
        }
    }
}

/// Reads a token endpoint's JSON answer: `Ok(Some(issued))`, or the body's `error`.
pub(crate) fn parse_token_answer(body: &str) -> Result<Issued, TokenAnswerError> {
    let v: serde_json::Value = serde_json::from_str(body).map_err(|_| TokenAnswerError::NotJson)?;
    if let Some(err) = v.get("error").and_then(|e| e.as_str()) {
        let description = v
            .get("error_description")
            .or_else(|| v.get("reason"))
            .and_then(|d| d.as_str())
            .map(str::to_string);
        return Err(TokenAnswerError::Refused {
            error: err.to_string(),
            description,
        });
    }
    let token = v
        .get("access_token")
        .and_then(|t| t.as_str())
        .filter(|t| !t.is_empty())
        .ok_or(TokenAnswerError::NoToken)?;
    let expires_in = v
        .get("expires_in")
        .and_then(|e| {
            e.as_u64()
                .or_else(|| e.as_str().and_then(|s| s.parse().ok()))
        })
        .unwrap_or(3600);
    Ok(Issued {
        secret: SecretString::from(token.to_string()),
        expires_in: Duration::from_secs(expires_in),
        scope: v.get("scope").and_then(|s| s.as_str()).map(str::to_string),
    })
}

#[derive(Debug, PartialEq)]
pub(crate) enum TokenAnswerError {
    NotJson,
    NoToken,
    Refused {
        error: String,
        description: Option<String>,
    },
}

#[cfg(test)]
mod tests;
