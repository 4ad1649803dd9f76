//! Shared helpers of the unit tests: fixtures, canned answers, a fake token grant, a
//! scripted HTTP server on 127.0.0.1, and the event JSON Schema check.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use secrecy::SecretString;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Duration;
use trawl_model::{Event, Provider, SourceKind, StreamKey, TenantId, EVENT_SCHEMA_JSON};

use crate::auth::{BoxFuture, Grant, Issued, TokenCache};
use crate::error::SourceError;
use crate::http::Answer;

pub fn fixture(path: &str) -> String {
    let p = format!("{}/tests/fixtures/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("fixture {p}: {e}"))
}

pub fn answer(status: u16, headers: &[(&str, &str)], body: &str) -> Answer {
    let mut map = HeaderMap::new();
    for (k, v) in headers {
        map.insert(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    Answer {
        status,
        headers: map,
        body: body.to_string(),
    }
}

pub fn tenant() -> TenantId {
    TenantId::new("acme").unwrap()
}

pub fn stream(kind: SourceKind) -> StreamKey {
    StreamKey::new(tenant(), kind)
}

/// Every event validates against the published schema.
pub fn assert_schema_valid(events: &[Event]) {
    let schema: serde_json::Value = serde_json::from_str(EVENT_SCHEMA_JSON).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    for e in events {
        let v = serde_json::to_value(e).unwrap();
        let errors: Vec<String> = validator.iter_errors(&v).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "event {v} is invalid: {errors:?}");
    }
}

/// A grant that counts its calls, waits `delay`, and answers from a script (then
/// succeeds with `ttl`).
pub struct FakeGrant {
    pub calls: Arc<AtomicUsize>,
    pub delay: Duration,
    pub ttl: Duration,
    pub script: Mutex<VecDeque<Result<(), SourceError>>>,
    pub provider: Provider,
}

impl FakeGrant {
    pub fn new(ttl: Duration) -> Self {
        Self {
            calls: Arc::new(AtomicUsize::new(0)),
            delay: Duration::from_millis(50),
            ttl,
            script: Mutex::new(VecDeque::new()),
            provider: Provider::Zoom,
        }
    }
}

impl Grant for FakeGrant {
    fn fetch<'a>(
        &'a self,
        _client: &'a reqwest::Client,
        _tenant: &'a TenantId,
        _now: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<Issued, SourceError>> {
        Box::pin(async move {
            let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
            tokio::time::sleep(self.delay).await;
            if let Some(Err(e)) = self.script.lock().unwrap().pop_front() {
                return Err(e);
            }
            Ok(Issued {
                secret: SecretString::from(format!("token-{n}")),
                expires_in: self.ttl,
                scope: None,
            })
        })
    }

    fn scheme(&self) -> &'static str {
        "Bearer"
    }

    fn provider(&self) -> Provider {
        self.provider
    }
}

pub fn fake_cache(grant: FakeGrant) -> TokenCache {
    TokenCache::with_grant(tenant(), reqwest::Client::new(), Box::new(grant))
}

/// A one-connection-per-request HTTP server answering canned responses in order and
/// recording each request's target (`/path?query`).
pub struct Scripted {
    pub base: url::Url,
    pub targets: Arc<Mutex<Vec<String>>>,
}

pub async fn scripted(responses: Vec<(u16, String)>) -> Scripted {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = url::Url::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
    let targets = Arc::new(Mutex::new(Vec::new()));
    let seen = targets.clone();
    tokio::spawn(async move {
        for (status, body) in responses {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                match sock.read(&mut chunk).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
            let head = String::from_utf8_lossy(&buf);
            let target = head.split_whitespace().nth(1).unwrap_or("").to_string();
            seen.lock().unwrap().push(target);
            let reply = format!(
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = sock.write_all(reply.as_bytes()).await;
            let _ = sock.shutdown().await;
        }
    });
    Scripted { base, targets }
}
