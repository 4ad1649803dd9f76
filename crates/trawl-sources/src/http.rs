//! The few HTTP moves every source makes: build an endpoint URL under a configurable
//! base, send one authorized GET, time it, and read the whole answer as text.
//!
//! Transport failures (timeouts, refused or dropped connections, a body cut off
//! mid-transfer) become [`SourceError::Retryable`] here; what the answer *says* is
//! classified by `classify` and the per-API modules.

use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::header::HeaderMap;
use url::Url;

use crate::auth::{AccessToken, TokenCache};
use crate::error::SourceError;
use crate::scan::HttpExchange;

/// One answer, read in full.
#[derive(Debug, Clone)]
pub(crate) struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// `base` + `path`, keeping any path prefix of the base (`http://host/prefix`).
pub(crate) fn endpoint(base: &Url, path: &str) -> Result<Url, SourceError> {
    let joined = format!(
        "{}/{}",
        base.as_str().trim_end_matches('/'),
        path.trim_start_matches('/')
    );
    Url::parse(&joined)
        .map_err(|e| SourceError::permanent(format!("bad endpoint URL {joined:?}: {e}")))
}

/// A transport failure as a retryable error naming what failed.
pub(crate) fn transport_error(scope: &str, e: &reqwest::Error) -> SourceError {
    let what = if e.is_timeout() {
        "request timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_body() || e.is_decode() {
        "connection dropped while reading the answer"
    } else {
        "request failed"
    };
    // reqwest's text names the URL (never a secret: those travel in headers or bodies).
    SourceError::retryable(format!("{scope}: {what}: {e}"))
}

pub(crate) async fn read_answer(
    response: reqwest::Response,
    scope: &str,
) -> Result<Answer, SourceError> {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = response
        .bytes()
        .await
        .map_err(|e| transport_error(scope, &e))?;
    Ok(Answer {
        status,
        headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    })
}

/// What one authorized GET came to: the answer and the token it was sent with (to
/// invalidate on 401), plus timing for metrics.
pub(crate) struct Sent {
    pub result: Result<(Answer, AccessToken), SourceError>,
    pub exchange: Option<HttpExchange>,
}

/// Sends one GET with the tenant's token. A token failure costs no API request, so its
/// exchange is `None`.
pub(crate) async fn get(
    client: &reqwest::Client,
    tokens: &TokenCache,
    url: Url,
    query: &[(&str, String)],
    scope: &str,
    now: DateTime<Utc>,
) -> Sent {
    let token = match tokens.token(now).await {
        Ok(t) => t,
        Err(e) => {
            return Sent {
                result: Err(e),
                exchange: None,
            }
        }
    };
    let started = std::time::Instant::now();
    let sent = client
        .get(url)
        .query(query)
        .header(reqwest::header::AUTHORIZATION, token.header_value())
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await;
    let response = match sent {
        Ok(r) => r,
        Err(e) => {
            return Sent {
                result: Err(transport_error(scope, &e)),
                exchange: Some(HttpExchange {
                    status: None,
                    elapsed: started.elapsed(),
                }),
            }
        }
    };
    let status = response.status().as_u16();
    let answer = read_answer(response, scope).await;
    let elapsed: Duration = started.elapsed();
    Sent {
        result: answer.map(|a| (a, token)),
        exchange: Some(HttpExchange {
            status: Some(status),
            elapsed,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_keep_the_base_path() {
        let base = Url::parse("https://api.zoom.us").unwrap();
        assert_eq!(
            endpoint(&base, "/v2/report/operationlogs")
                .unwrap()
                .as_str(),
            "https://api.zoom.us/v2/report/operationlogs"
        );
        let base = Url::parse("http://127.0.0.1:8080/prefix/").unwrap();
        assert_eq!(
            endpoint(&base, "oauth/token").unwrap().as_str(),
            "http://127.0.0.1:8080/prefix/oauth/token"
        );
    }
}
