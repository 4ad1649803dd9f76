//! A first-page read stops at the first page, spends at most three requests, waits out
//! a per-second 429 through the bucket, stops at a daily one, and gives up on a bucket
//! that grants nothing within the wait, without a request.

use std::sync::Arc;
use std::time::Duration;

use actix::Actor;
use chrono::{TimeZone, Utc};
use trawl_model::{SourceKind, StreamKey, TenantId, Window};

use super::*;
use crate::limiter::{BucketSpec, DayState, RateLimiter};
use crate::test_support::{Fault, ScriptedApi, ScriptedSource};

fn now() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()
}

fn source(api: &ScriptedApi) -> Arc<dyn Source> {
    Arc::new(ScriptedSource {
        stream: StreamKey::new(
            TenantId::new("acme").unwrap(),
            SourceKind::ZoomOperationLogs,
        ),
        api: api.clone(),
    })
}

fn limiter(clock: &Clock, day: Option<DayState>) -> LimiterHandle {
    let spec = BucketSpec {
        per_second: 1.0,
        daily: Some(100),
        share: 1.0,
    };
    let addr = RateLimiter::new("acct/zoom_main/Heavy", spec, clock.clone(), Vec::new())
        .with_day(day)
        .start();
    LimiterHandle::new(addr)
}

fn window() -> Window {
    Window::new(now() - chrono::Duration::days(1), now()).unwrap()
}

async fn read(api: &ScriptedApi, day: Option<DayState>) -> FirstPage {
    let clock = Clock::following_tokio(now());
    let l = limiter(&clock, day);
    read_first_page(source(api), window(), &l, &clock, Duration::from_secs(30)).await
}

fn api() -> ScriptedApi {
    ScriptedApi::new(ScriptedApi::records(now(), 2, 100), 30)
}

#[actix::test]
async fn the_first_page_is_one_request() {
    tokio::time::pause();
    let api = api();
    let r = read(&api, None).await;
    assert!(
        matches!(
            r.outcome,
            Outcome::Page {
                events: 30,
                rejected: 0
            }
        ),
        "{:?}",
        r.outcome
    );
    assert_eq!((r.requests, r.statuses), (1, vec![Some(200)]));
    assert_eq!(api.with(|a| a.requests), 1);
}

#[actix::test]
async fn a_per_second_429_is_waited_out_within_the_budget() {
    tokio::time::pause();
    let api = api();
    api.with(|a| {
        a.faults.push_back(Fault::RateLimited {
            daily: false,
            retry_after: Some(now() + chrono::Duration::seconds(5)),
        })
    });
    let started = tokio::time::Instant::now();
    let r = read(&api, None).await;
    assert!(matches!(r.outcome, Outcome::Page { .. }), "{:?}", r.outcome);
    assert_eq!(r.statuses, vec![Some(429), Some(200)]);
    // The bucket paused until Retry-After before the second permit.
    assert!(started.elapsed() >= Duration::from_secs(5));
}

#[actix::test]
async fn a_daily_429_or_a_refusal_ends_it_at_once() {
    tokio::time::pause();
    for fault in [
        Fault::RateLimited {
            daily: true,
            retry_after: None,
        },
        Fault::BadCredentials,
        Fault::NotEnabled,
        Fault::ServerError,
    ] {
        let api = api();
        api.with(|a| a.faults.push_back(fault.clone()));
        let r = read(&api, None).await;
        assert!(
            matches!(r.outcome, Outcome::Failed(_)),
            "{fault:?}: {:?}",
            r.outcome
        );
        assert_eq!(r.requests, 1, "{fault:?}");
    }
}

#[actix::test]
async fn never_more_than_three_requests() {
    tokio::time::pause();
    let api = api();
    api.with(|a| {
        for _ in 0..5 {
            a.faults.push_back(Fault::RateLimited {
                daily: false,
                retry_after: None,
            });
        }
    });
    let r = read(&api, None).await;
    assert!(
        matches!(r.outcome, Outcome::OutOfRequests { .. }),
        "{:?}",
        r.outcome
    );
    assert_eq!(r.requests, MAX_REQUESTS);
    assert_eq!(api.with(|a| a.requests), MAX_REQUESTS as usize);
}

#[actix::test]
async fn a_spent_day_grants_nothing_and_nothing_is_asked() {
    tokio::time::pause();
    let api = api();
    let spent = DayState {
        day: now().date_naive(),
        used: 100,
        rate_share: 1.0,
        blocked_until: None,
    };
    let r = read(&api, Some(spent)).await;
    assert!(
        matches!(r.outcome, Outcome::NoPermit { .. }),
        "{:?}",
        r.outcome
    );
    assert_eq!((r.requests, api.with(|a| a.requests)), (0, 0));
}
