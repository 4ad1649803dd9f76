//! The limiter paces permits at the bucket's rate, serves live polls first and streams in
//! turn, holds requests at a spent daily cap until midnight UTC, and pauses after a 429.

use super::*;
use chrono::TimeZone;
use trawl_model::{SourceKind, TenantId};

fn key(t: &str) -> StreamKey {
    StreamKey::new(TenantId::new(t).unwrap(), SourceKind::ZoomOperationLogs)
}

fn limiter(per_second: f64, daily: Option<u32>) -> Addr<RateLimiter> {
    let clock = Clock::following_tokio(Utc.with_ymd_and_hms(2026, 3, 1, 23, 59, 0).unwrap());
    RateLimiter::new(
        "t/zoom_main/Heavy",
        BucketSpec {
            per_second,
            daily,
            share: 1.0,
        },
        clock,
        Vec::new(),
    )
    .start()
}

#[actix::test]
async fn paces_permits_at_the_plan_rate() {
    tokio::time::pause();
    let l = limiter(10.0, None);
    let start = Instant::now();
    for _ in 0..21 {
        l.send(Acquire {
            stream: key("a"),
            priority: Priority::Backfill,
        })
        .await
        .unwrap()
        .unwrap();
    }
    let took = start.elapsed().as_secs_f64();
    // 20 intervals of 1 / (10 * SAFETY) seconds.
    assert!((2.0..2.2).contains(&took), "21 permits took {took} s");
}

#[actix::test]
async fn live_goes_first_and_streams_take_turns() {
    tokio::time::pause();
    let l = limiter(1.0, None);
    // Take the first permit so the rest queue up.
    l.send(Acquire {
        stream: key("a"),
        priority: Priority::Backfill,
    })
    .await
    .unwrap()
    .unwrap();
    let order = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for (name, prio) in [
        ("a", Priority::Backfill),
        ("a", Priority::Backfill),
        ("b", Priority::Backfill),
        ("c", Priority::Live),
    ] {
        let (l, order) = (l.clone(), order.clone());
        tasks.push(actix::spawn(async move {
            l.send(Acquire {
                stream: key(name),
                priority: prio,
            })
            .await
            .unwrap()
            .unwrap();
            order.lock().unwrap().push(name);
        }));
        tokio::task::yield_now().await;
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(*order.lock().unwrap(), vec!["c", "a", "b", "a"]);
}

#[actix::test]
async fn a_daily_cap_holds_requests_until_midnight_utc() {
    tokio::time::pause();
    let l = limiter(100.0, Some(2));
    let start = Instant::now();
    for _ in 0..3 {
        l.send(Acquire {
            stream: key("a"),
            priority: Priority::Live,
        })
        .await
        .unwrap()
        .unwrap();
    }
    // The clock started at 23:59:00: the third permit waits for 00:00 UTC.
    let waited = start.elapsed().as_secs();
    assert!((60..=61).contains(&waited), "waited {waited} s");
}

#[actix::test]
async fn a_429_pauses_until_retry_after() {
    tokio::time::pause();
    let l = limiter(10.0, None);
    let granted = l
        .send(Acquire {
            stream: key("a"),
            priority: Priority::Live,
        })
        .await
        .unwrap()
        .unwrap();
    let now = Utc.with_ymd_and_hms(2026, 3, 1, 23, 59, 0).unwrap();
    l.send(Feedback::RateLimited {
        granted,
        retry_at: Some(now + chrono::Duration::seconds(5)),
    })
    .await
    .unwrap();
    let start = Instant::now();
    l.send(Acquire {
        stream: key("a"),
        priority: Priority::Live,
    })
    .await
    .unwrap()
    .unwrap();
    let waited = start.elapsed().as_secs_f64();
    assert!((4.9..5.2).contains(&waited), "waited {waited} s");
    let state = l.send(GetState).await.unwrap();
    assert!(state.state.rate < state.state.ceiling);
}
