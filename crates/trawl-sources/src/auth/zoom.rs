//! Zoom Server-to-Server OAuth: `POST {oauth_base}/oauth/token` with the app's client id
//! and secret as Basic auth and `grant_type=account_credentials&account_id=..` in the
//! form body (the query-string form stopped working in 2024). No refresh token exists;
//! a new access token is simply requested again.

use std::fmt;

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use trawl_model::{Provider, TenantId};
use url::Url;

use super::{parse_token_answer, BoxFuture, Grant, Issued, TokenAnswerError};
use crate::classify::rate_limit_from;
use crate::error::{Cause, SourceError};
use crate::http::{endpoint, read_answer, transport_error, Keep};

/// A Zoom Server-to-Server OAuth app's credentials. Debug never shows the secret.
#[derive(Clone)]
pub struct ZoomCredentials {
    pub account_id: String,
    pub client_id: String,
    pub client_secret: SecretString,
    /// `https://zoom.us` (`https://zoomgov.com` for Zoom for Government).
    pub oauth_base: Url,
}

impl fmt::Debug for ZoomCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ZoomCredentials")
            .field("account_id", &self.account_id)
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .field("oauth_base", &self.oauth_base.as_str())
            .finish()
    }
}

/// Equal when every field, the secret included, is equal.
impl PartialEq for ZoomCredentials {
    fn eq(&self, other: &Self) -> bool {
        self.account_id == other.account_id
            && self.client_id == other.client_id
            && self.client_secret.expose_secret() == other.client_secret.expose_secret()
            && self.oauth_base == other.oauth_base
    }
}

/// Classifies a Zoom token endpoint answer (HTTP 429 is handled before).
pub(crate) fn classify_token_answer(
    tenant: &TenantId,
    status: u16,
    body: &str,
) -> Result<Issued, SourceError> {
    let rejected = |why: String| {
        SourceError::permanent(format!(
            "Zoom rejected the client credentials of tenant {tenant}: {why}"
        ))
        .because(Cause::Credentials)
    };
    if status >= 500 {
        return Err(SourceError::retryable(format!(
            "tenant {tenant}, Zoom OAuth: token endpoint answered HTTP {status}"
        )));
    }
    match parse_token_answer(body) {
        Ok(issued) if status == 200 => Ok(issued),
        Err(TokenAnswerError::Refused { error, description }) => {
            Err(rejected(description.unwrap_or(error)))
        }
        _ if (400..500).contains(&status) => Err(rejected(format!("HTTP {status}"))),
        _ => Err(SourceError::malformed(
            format!(
                "tenant {tenant}, Zoom OAuth: token endpoint answered HTTP {status} without a token"
            ),
            body,
        )),
    }
}

impl Grant for ZoomCredentials {
    fn fetch<'a>(
        &'a self,
        client: &'a reqwest::Client,
        tenant: &'a TenantId,
        now: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<Issued, SourceError>> {
        Box::pin(async move {
            let scope = format!("tenant {tenant}, Zoom OAuth");
            let url = endpoint(&self.oauth_base, "oauth/token")?;
            let sent = client
                .post(url)
                .basic_auth(&self.client_id, Some(self.client_secret.expose_secret()))
                .form(&[
                    ("grant_type", "account_credentials"),
                    ("account_id", self.account_id.as_str()),
                ])
                .send()
                .await
                .map_err(|e| transport_error(&scope, &e))?;
            let answer = read_answer(sent, &scope, Keep::Nothing).await?;
            if answer.status == 429 {
                return Err(SourceError::RateLimited(rate_limit_from(
                    &answer, &scope, now,
                )));
            }
            classify_token_answer(tenant, answer.status, &answer.body)
        })
    }

    fn scheme(&self) -> &'static str {
        "Bearer"
    }

    fn provider(&self) -> Provider {
        Provider::Zoom
    }
}
