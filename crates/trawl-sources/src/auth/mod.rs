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
//! Expiry is measured on `tokio::time::Instant`, so tests drive it with a paused clock.

mod zoho;
mod zoom;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Mutex;
use tokio::time::{Duration, Instant};
use trawl_model::{Provider, TenantId};

use crate::error::SourceError;

pub use zoho::ZohoCredentials;
pub use zoom::ZoomCredentials;

/// A token is refreshed when less than this remains of it.
pub const REFRESH_MARGIN: Duration = Duration::from_secs(60);

pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A token as the token endpoint issued it (Debug is redacted by `SecretString`).
#[derive(Debug)]
pub(crate) struct Issued {
    pub secret: SecretString,
    pub expires_in: Duration,
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
    expires_at: Instant,
    serial: u64,
}

impl AccessToken {
    /// The value of the `Authorization` header.
    pub fn header_value(&self) -> String {
        format!("{} {}", self.scheme, self.secret.expose_secret())
    }

    pub fn expires_at(&self) -> Instant {
        self.expires_at
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
                    expires_at: started + issued.expires_in,
                    serial,
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
    /// already replaced is left alone: one 401 wave causes one refresh.
    pub async fn invalidate(&self, token: &AccessToken) {
        let mut state = self.state.lock().await;
        if state
            .token
            .as_ref()
            .is_some_and(|t| t.serial == token.serial)
        {
            state.token = None;
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
