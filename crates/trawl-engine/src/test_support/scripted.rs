//! [`ScriptedSource`]: a stream whose API is a list of records in memory, served in
//! pages (oldest first) through the sources crate's own `WindowScan`, with a queue of
//! faults the next requests answer with instead (429s, pages that do not parse, 5xx,
//! refused credentials, an API the account lacks). Each request takes `latency` of
//! (paused) tokio time.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use trawl_model::{Outcome, StreamKey, Window};
use trawl_sources::scan::{Driver, DriverPage, Fetch, Fetched, Fields, Follows, Outside, Record};
use trawl_sources::{
    HttpExchange, LimitKey, LimitType, RateLimitInfo, RetryAfter, Source, SourceError, WindowScan,
};

/// One record the API holds: its time and a number that makes it unique.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ApiRecord {
    pub time: DateTime<Utc>,
    pub n: u64,
}

/// An answer the API gives instead of the next page.
#[derive(Debug, Clone)]
pub enum Fault {
    RateLimited {
        daily: bool,
        retry_after: Option<DateTime<Utc>>,
    },
    Malformed,
    ServerError,
    BadCredentials,
    NotEnabled,
}

pub struct ApiState {
    pub records: Vec<ApiRecord>,
    pub page_size: usize,
    pub faults: std::collections::VecDeque<Fault>,
    pub latency: StdDuration,
    /// Requests answered, faults included.
    pub requests: usize,
}

/// The API behind one or more scripted streams. Cheap to clone.
#[derive(Clone)]
pub struct ScriptedApi(pub Arc<Mutex<ApiState>>);

impl ScriptedApi {
    pub fn new(records: Vec<ApiRecord>, page_size: usize) -> Self {
        Self(Arc::new(Mutex::new(ApiState {
            records,
            page_size,
            faults: Default::default(),
            latency: StdDuration::from_millis(100),
            requests: 0,
        })))
    }

    pub fn with<T>(&self, f: impl FnOnce(&mut ApiState) -> T) -> T {
        f(&mut self.0.lock().unwrap())
    }

    /// `n` records per day, evenly spaced, over the `days` days before `now`.
    pub fn records(now: DateTime<Utc>, days: i64, per_day: u64) -> Vec<ApiRecord> {
        let start = now - Duration::days(days);
        let step = Duration::seconds(86_400 / per_day as i64);
        (0..days as u64 * per_day)
            .map(|n| ApiRecord {
                time: start + step * n as i32,
                n,
            })
            .filter(|r| r.time < now)
            .collect()
    }
}

pub struct ScriptedSource {
    pub stream: StreamKey,
    pub api: ScriptedApi,
}

impl Source for ScriptedSource {
    fn stream(&self) -> &StreamKey {
        &self.stream
    }

    fn limit_key(&self) -> LimitKey {
        LimitKey::of(self.stream.source)
    }

    fn scan(self: Arc<Self>, window: Window) -> WindowScan {
        let driver = ScriptedDriver {
            api: self.api.clone(),
            cursor: 0,
        };
        WindowScan::new(
            self.stream.clone(),
            window,
            self.max_window(),
            self.retention(),
            Box::new(driver),
        )
    }
}

struct ScriptedDriver {
    api: ScriptedApi,
    cursor: usize,
}

fn exchange(status: u16) -> Option<HttpExchange> {
    Some(HttpExchange {
        status: Some(status),
        elapsed: StdDuration::from_millis(100),
    })
}

fn failure(fault: Fault) -> Fetched {
    let (status, error) = match fault {
        Fault::RateLimited { daily, retry_after } => (
            429,
            SourceError::RateLimited(RateLimitInfo {
                scope: "scripted".into(),
                kind: if daily {
                    LimitType::Daily
                } else {
                    LimitType::Qps
                },
                retry_after: retry_after.map(RetryAfter),
                ..RateLimitInfo::default()
            }),
        ),
        Fault::Malformed => (200, SourceError::malformed("not JSON", "{oops")),
        Fault::ServerError => (503, SourceError::retryable("HTTP 503")),
        Fault::BadCredentials => (401, SourceError::permanent("invalid client credentials")),
        Fault::NotEnabled => (403, SourceError::not_enabled("Zoom Phone is not enabled")),
    };
    Fetched {
        result: Err(error),
        exchange: exchange(status),
    }
}

impl Driver for ScriptedDriver {
    fn fetch<'a>(
        &'a mut self,
        window: Window,
        _now: DateTime<Utc>,
    ) -> Pin<Box<dyn Future<Output = Fetched> + Send + 'a>> {
        Box::pin(async move {
            let latency = self.api.with(|a| a.latency);
            tokio::time::sleep(latency).await;
            let mut api = self.api.0.lock().unwrap();
            api.requests += 1;
            if let Some(fault) = api.faults.pop_front() {
                return failure(fault);
            }
            let mut inside: Vec<ApiRecord> = api
                .records
                .iter()
                .filter(|r| window.contains(r.time))
                .copied()
                .collect();
            inside.sort();
            let page: Vec<Record> = inside
                .iter()
                .skip(self.cursor)
                .take(api.page_size)
                .map(|r| Record {
                    time: r.time,
                    raw: json!({"time": r.time.to_rfc3339(), "n": r.n}),
                    fields: Fields {
                        actor: None,
                        action: "update".into(),
                        category: None,
                        target: None,
                        detail: None,
                        outcome: Outcome::Success,
                        client_ip: None,
                    },
                })
                .collect();
            self.cursor += page.len();
            let more = self.cursor < inside.len();
            Fetched {
                result: Ok(Fetch::Page(DriverPage {
                    records: page,
                    rejected: Vec::new(),
                    more,
                    follows: Follows::Keyset,
                    outside: Outside::Neighbours,
                    repeat: false,
                })),
                exchange: exchange(200),
            }
        })
    }

    fn reset(&mut self) {
        self.cursor = 0;
    }
}
