//! The one HTTP client every source and token cache of a process shares.
//!
//! A single `reqwest::Client` keeps one connection pool, so thousands of tenants on the
//! same vendor host reuse a handful of TLS connections. rustls (no OpenSSL), gzip, and
//! timeouts on connect, on each read and on the whole request, so a stalled vendor turns
//! into a retryable error instead of a stuck stream. It follows no redirects (a 307/308
//! would resend a token form with the client secret and refresh token to another host:
//! `http::read_answer` turns a redirect into an error naming the host), and every answer
//! is read with a size limit ([`HttpClient::max_body_bytes`]).

use std::time::Duration;

use crate::error::SourceError;

/// Settings of the shared client; [`HttpClient::default`] suits production.
#[derive(Debug, Clone)]
pub struct HttpClient {
    pub connect_timeout: Duration,
    /// Longest silence while reading an answer.
    pub read_timeout: Duration,
    /// Longest whole request, connect to last byte.
    pub request_timeout: Duration,
    pub pool_idle_timeout: Duration,
    pub pool_max_idle_per_host: usize,
    pub user_agent: String,
    /// The most of one answer read, after gzip decoding (`http.max_body_bytes`).
    pub max_body_bytes: usize,
}

/// The default answer size limit: 16 MiB. The largest real pages (300 Zoom records,
/// 200 Zoho records) are a few hundred KB (benches/RESULTS.md, "Answer size limit").
pub const DEFAULT_MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

impl Default for HttpClient {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(60),
            pool_idle_timeout: Duration::from_secs(90),
            pool_max_idle_per_host: 32,
            user_agent: default_user_agent(),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        }
    }
}

/// `trawl/<version>`.
pub fn default_user_agent() -> String {
    format!("trawl/{}", env!("CARGO_PKG_VERSION"))
}

impl HttpClient {
    /// Builds the client and makes `max_body_bytes` the process's answer limit. Fails
    /// only if the TLS backend cannot start.
    pub fn build(&self) -> Result<reqwest::Client, SourceError> {
        crate::http::set_max_body(self.max_body_bytes);
        reqwest::Client::builder()
            .use_rustls_tls()
            .gzip(true)
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(self.connect_timeout)
            .read_timeout(self.read_timeout)
            .timeout(self.request_timeout)
            .pool_idle_timeout(self.pool_idle_timeout)
            .pool_max_idle_per_host(self.pool_max_idle_per_host)
            .tcp_keepalive(Duration::from_secs(60))
            .user_agent(self.user_agent.clone())
            .build()
            .map_err(|e| SourceError::permanent(format!("cannot build the HTTP client: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_with_the_trawl_user_agent() {
        let c = HttpClient::default();
        assert_eq!(c.user_agent, format!("trawl/{}", env!("CARGO_PKG_VERSION")));
        c.build().expect("client builds");
    }
}
