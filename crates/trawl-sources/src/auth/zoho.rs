//! Zoho refresh-token grant: `POST {accounts_base}/oauth/v2/token` with
//! `grant_type=refresh_token`, the client id and secret and the refresh token in the form
//! body. Zoho reports errors with HTTP 200 and `{"error": ...}`, so the body decides:
//! `invalid_code` means the refresh token or client secret is wrong, `invalid_client` that
//! this data center does not know the client (permanent, both);
//! "Access Denied" means too many tokens were requested in ten minutes (rate limited).

use std::fmt;

use chrono::{DateTime, Duration, Utc};
use secrecy::{ExposeSecret, SecretString};
use trawl_model::{Provider, TenantId};
use url::Url;

use super::{parse_token_answer, BoxFuture, Grant, Issued, TokenAnswerError};
use crate::classify::rate_limit_from;
use crate::error::{Cause, LimitType, RateLimitInfo, RetryAfter, SourceError};
use crate::http::{endpoint, read_answer, transport_error, Keep};

/// A Zoho OAuth client and its long-lived refresh token. Debug never shows the secrets.
#[derive(Clone)]
pub struct ZohoCredentials {
    /// The organization id (`zoid`) whose audit records are read.
    pub zoid: String,
    pub client_id: String,
    pub client_secret: SecretString,
    pub refresh_token: SecretString,
    /// `https://accounts.zoho.com` or the data center's equivalent.
    pub accounts_base: Url,
}

impl fmt::Debug for ZohoCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ZohoCredentials")
            .field("zoid", &self.zoid)
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .field("refresh_token", &"[redacted]")
            .field("accounts_base", &self.accounts_base.as_str())
            .finish()
    }
}

/// Equal when every field, the secrets included, is equal.
impl PartialEq for ZohoCredentials {
    fn eq(&self, other: &Self) -> bool {
        self.zoid == other.zoid
            && self.client_id == other.client_id
            && self.client_secret.expose_secret() == other.client_secret.expose_secret()
            && self.refresh_token.expose_secret() == other.refresh_token.expose_secret()
            && self.accounts_base == other.accounts_base
    }
}

/// How long Zoho refuses new tokens after too many were asked for.
const TOKEN_LOCKOUT: i64 = 10 * 60;

/// Classifies a Zoho token endpoint answer.
pub(crate) fn classify_token_answer(
    tenant: &TenantId,
    status: u16,
    body: &str,
    now: DateTime<Utc>,
) -> Result<Issued, SourceError> {
    let scope = format!("tenant {tenant}, Zoho OAuth");
    if status >= 500 {
        return Err(SourceError::retryable(format!(
            "{scope}: token endpoint answered HTTP {status}"
        )));
    }
    match parse_token_answer(body) {
        Ok(issued) if status == 200 => Ok(issued),
        Err(TokenAnswerError::Refused { error, description }) => {
            let text = match &description {
                Some(d) => format!("{error}: {d}"),
                None => error.clone(),
            };
            if error.eq_ignore_ascii_case("access denied")
                || text.to_ascii_lowercase().contains("too many requests")
            {
                Err(SourceError::RateLimited(RateLimitInfo {
                    scope,
                    label: Some("oauth".into()),
                    kind: LimitType::Unknown,
                    retry_after: Some(RetryAfter(now + Duration::seconds(TOKEN_LOCKOUT))),
                    retry_after_issue: None,
                    limit: None,
                    remaining: None,
                    message: Some(text),
                    throttle: None,
                }))
            } else if error == "invalid_client" {
                // Zoho's answer for a client it does not know, which is what a refresh
                // sent to another data center's accounts host gets.
                Err(SourceError::permanent(format!(
                    "Zoho does not know the client id of tenant {tenant} ({text}): the \
                     account's data center is probably another one, or the client id is wrong"
                ))
                .because(Cause::DataCenter))
            } else {
                Err(SourceError::permanent(format!(
                    "Zoho rejected the refresh token or client credentials of tenant {tenant}: {text}"
                ))
                .because(Cause::Credentials))
            }
        }
        Ok(_) | Err(TokenAnswerError::NoToken) | Err(TokenAnswerError::NotJson)
            if (400..500).contains(&status) =>
        {
            Err(SourceError::permanent(format!(
                "Zoho rejected the refresh token or client credentials of tenant {tenant}: HTTP {status}"
            ))
            .because(Cause::Credentials))
        }
        _ => Err(SourceError::malformed(
            format!("{scope}: token endpoint answered HTTP {status} without a token"),
            body,
        )),
    }
}

impl Grant for ZohoCredentials {
    fn fetch<'a>(
        &'a self,
        client: &'a reqwest::Client,
        tenant: &'a TenantId,
        now: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<Issued, SourceError>> {
        Box::pin(async move {
            let scope = format!("tenant {tenant}, Zoho OAuth");
            let url = endpoint(&self.accounts_base, "oauth/v2/token")?;
            let sent = client
                .post(url)
                .form(&[
                    ("grant_type", "refresh_token"),
                    ("client_id", self.client_id.as_str()),
                    ("client_secret", self.client_secret.expose_secret()),
                    ("refresh_token", self.refresh_token.expose_secret()),
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
            classify_token_answer(tenant, answer.status, &answer.body, now)
        })
    }

    fn scheme(&self) -> &'static str {
        "Zoho-oauthtoken"
    }

    fn provider(&self) -> Provider {
        Provider::Zoho
    }
}
