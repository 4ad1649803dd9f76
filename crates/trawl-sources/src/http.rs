//! The few HTTP moves every source makes: build an endpoint URL under a configurable
//! base, send one authorized GET, time it, and read the answer as text, bounded.
//!
//! Transport failures (timeouts, refused or dropped connections, a body cut off
//! mid-transfer) become [`SourceError::Retryable`] here; what the answer *says* is
//! classified by `classify` and the per-API modules.
//!
//! Every answer (API pages and token answers alike) is read through [`read_answer`]:
//! a redirect is refused before its body is read (the client follows none, so a token
//! form or a bearer token never travels to another host), a `Content-Length` over the
//! limit is refused before reading, and the body is read chunk by chunk with the
//! *decoded* bytes counted, so neither an endless body nor a gzip bomb can grow past
//! [`crate::client::HttpClient::max_body_bytes`]. Over the limit is a
//! [`SourceError::Malformed`] of that stream (counted in `trawl_malformed_pages_total`,
//! retried, dead-lettered with its first bytes after repeated failures), never an
//! out-of-memory of the process.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::header::HeaderMap;
use url::Url;

use crate::auth::{AccessToken, TokenCache};
use crate::error::{Cause, SourceError};
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
    let error = SourceError::retryable(format!("{scope}: {what}: {e}"));
    if e.is_connect() || (e.is_timeout() && !e.is_body()) {
        error.because(Cause::Unreachable)
    } else {
        error
    }
}

/// The body limit of the process's HTTP client, set by
/// [`HttpClient::build`](crate::client::HttpClient::build) (one shared client per
/// process, so one limit; a `reqwest::Client` cannot carry it).
static MAX_BODY: AtomicUsize = AtomicUsize::new(crate::client::DEFAULT_MAX_BODY_BYTES);

pub(crate) fn set_max_body(limit: usize) {
    MAX_BODY.store(limit.max(1), Ordering::Relaxed);
}

pub(crate) fn max_body() -> usize {
    MAX_BODY.load(Ordering::Relaxed)
}

/// What the caller keeps of an answer that is over the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Keep {
    /// An API page: its first bytes go with the error (for the dead-letter topic).
    Prefix,
    /// A token answer: nothing of it is kept (it could hold a token).
    Nothing,
}

/// Reads `response` with the process's body limit; see the module text.
pub(crate) async fn read_answer(
    response: reqwest::Response,
    scope: &str,
    keep: Keep,
) -> Result<Answer, SourceError> {
    read_bounded(response, scope, keep, max_body()).await
}

/// [`read_answer`] with an explicit `limit` in bytes (after decoding).
pub(crate) async fn read_bounded(
    mut response: reqwest::Response,
    scope: &str,
    keep: Keep,
    limit: usize,
) -> Result<Answer, SourceError> {
    let status = response.status().as_u16();
    if let Some(e) = redirect_error(scope, status, response.headers()) {
        return Err(e);
    }
    let too_large = |prefix: &[u8], what: String| {
        let kept = match keep {
            Keep::Prefix => String::from_utf8_lossy(prefix).into_owned(),
            Keep::Nothing => String::new(),
        };
        SourceError::malformed(
            format!(
                "{scope}: HTTP {status} answer {what}, over the limit of {limit} bytes \
                 (http.max_body_bytes); not read further"
            ),
            &kept,
        )
    };
    if let Some(len) = response.content_length() {
        if len > limit as u64 {
            return Err(too_large(&[], format!("announces {len} bytes")));
        }
    }
    let headers = response.headers().clone();
    let mut body: Vec<u8> = Vec::with_capacity(
        response
            .content_length()
            .map_or(8 * 1024, |n| n as usize)
            .min(limit),
    );
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| transport_error(scope, &e))?
    {
        if body.len() + chunk.len() > limit {
            let room = limit - body.len();
            body.extend_from_slice(&chunk[..room]);
            return Err(too_large(&body, "is longer".to_string()));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Answer {
        status,
        headers,
        body: String::from_utf8(body)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
    })
}

/// A redirect (3xx with a `Location`) as an error naming where it pointed: trawl follows
/// none, since a 307/308 would resend a token form (client secret, refresh token) or a
/// bearer token to that host.
pub(crate) fn redirect_error(scope: &str, status: u16, headers: &HeaderMap) -> Option<SourceError> {
    if !(300..400).contains(&status) {
        return None;
    }
    let location = headers.get(reqwest::header::LOCATION)?;
    let target = location
        .to_str()
        .ok()
        .and_then(|l| Url::parse(l).ok())
        .and_then(|u| u.host_str().map(str::to_owned));
    let host = match target {
        Some(h) => format!("host {:?}", cap_text(&h, 255)),
        None => "a relative or unreadable location (same host)".to_string(),
    };
    Some(SourceError::permanent(format!(
        "{scope}: answered HTTP {status}, a redirect to {host}; trawl follows no redirects \
         (credentials must not travel to another host): check the configured base URL"
    )))
}

/// `s` cut to at most `max` bytes on a character boundary.
fn cap_text(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
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
    let answer = read_answer(response, scope, Keep::Prefix).await;
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
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Serves one connection: reads the request head, writes `head`, then `body` chunks
    /// (`endless`: the last chunk again and again until the client hangs up).
    async fn serve_once(head: &'static str, chunk: &'static [u8], endless: bool) -> Url {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut sock, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 4096];
            let _ = sock.read(&mut buf).await;
            let _ = sock.write_all(head.as_bytes()).await;
            loop {
                let framed = format!("{:x}\r\n", chunk.len());
                if sock.write_all(framed.as_bytes()).await.is_err()
                    || sock.write_all(chunk).await.is_err()
                    || sock.write_all(b"\r\n").await.is_err()
                    || !endless
                {
                    break;
                }
            }
            let _ = sock.write_all(b"0\r\n\r\n").await;
        });
        Url::parse(&format!("http://{addr}/")).unwrap()
    }

    async fn fetch(url: Url, keep: Keep, limit: usize) -> Result<Answer, SourceError> {
        let client = crate::client::HttpClient::default().build().unwrap();
        let r = client.get(url).send().await.unwrap();
        read_bounded(r, "tenant t1, source zoom.operation_logs", keep, limit).await
    }

    const CHUNKED: &str = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                           transfer-encoding: chunked\r\n\r\n";

    #[tokio::test]
    async fn a_closed_port_is_unreachable_and_a_cut_body_is_not() {
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/", closed.local_addr().unwrap());
        drop(closed);
        let client = crate::client::HttpClient::default().build().unwrap();
        let e = client.get(url).send().await.unwrap_err();
        let e = transport_error("tenant t1, Zoom OAuth", &e);
        assert!(
            e.is_retryable() && e.to_string().contains("could not connect"),
            "{e}"
        );
        assert_eq!(e.cause(), Cause::Unreachable);
        // An answer that began and broke off: the host is there.
        let url = serve_once("HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n", b"", false).await;
        let r = client.get(url).send().await.unwrap();
        let e = read_bounded(r, "s", Keep::Prefix, 1000).await.unwrap_err();
        assert!(e.is_retryable(), "{e}");
        assert_eq!(e.cause(), Cause::Unspecified);
    }

    #[tokio::test]
    async fn an_endless_body_stops_at_the_limit_with_its_prefix_kept() {
        let url = serve_once(CHUNKED, &[b'x'; 4096], true).await;
        let e = fetch(url, Keep::Prefix, 100_000).await.unwrap_err();
        let SourceError::Malformed { reason, body } = &e else {
            panic!("{e:?}")
        };
        assert!(
            reason.contains("over the limit of 100000 bytes"),
            "{reason}"
        );
        assert!(reason.contains("tenant t1"), "{reason}");
        assert_eq!(body.len(), MAX_KEPT_PREFIX.min(100_000));
    }

    const MAX_KEPT_PREFIX: usize = crate::error::MAX_KEPT_BODY;

    #[tokio::test]
    async fn a_token_answer_over_the_limit_keeps_nothing() {
        let url = serve_once(CHUNKED, b"{\"access_token\":\"tok\"", true).await;
        let e = fetch(url, Keep::Nothing, 1000).await.unwrap_err();
        let SourceError::Malformed { body, .. } = &e else {
            panic!("{e:?}")
        };
        assert!(body.is_empty());
    }

    #[tokio::test]
    async fn a_content_length_over_the_limit_is_refused_before_reading() {
        let head = "HTTP/1.1 200 OK\r\ncontent-length: 2147483648\r\n\r\n";
        let url = serve_once(head, b"", false).await;
        let e = fetch(url, Keep::Prefix, 1 << 20).await.unwrap_err();
        assert!(e.to_string().contains("announces 2147483648 bytes"), "{e}");
    }

    #[tokio::test]
    async fn bodies_within_the_limit_are_read_whole() {
        let url = serve_once(CHUNKED, b"{\"ok\":true}", false).await;
        let a = fetch(url, Keep::Prefix, 11).await.unwrap();
        assert_eq!((a.status, a.body.as_str()), (200, "{\"ok\":true}"));
    }

    #[tokio::test]
    async fn a_redirect_is_not_followed_and_names_the_host() {
        let head =
            "HTTP/1.1 307 Temporary Redirect\r\nlocation: https://collector.evil.example/token\r\n\
                    transfer-encoding: chunked\r\n\r\n";
        let url = serve_once(head, b"moved", false).await;
        let e = fetch(url, Keep::Nothing, 1000).await.unwrap_err();
        assert!(e.is_permanent(), "{e:?}");
        let text = e.to_string();
        assert!(text.contains("HTTP 307"), "{text}");
        assert!(text.contains("\"collector.evil.example\""), "{text}");
        assert!(text.contains("tenant t1"), "{text}");
        let mut h = HeaderMap::new();
        h.insert("location", "/elsewhere".parse().unwrap());
        assert!(redirect_error("s", 302, &h)
            .unwrap()
            .to_string()
            .contains("same host"));
        assert!(redirect_error("s", 304, &HeaderMap::new()).is_none());
    }

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
