//! Under tokio's paused clock: a stated lock shuts the whole bucket (every stream of the
//! account) until it ends plus the margin, then permits come below the stated limit; an
//! episode is logged and counted once however many answers it took; a lock that cannot
//! be read is waited out in steps of 1, 2, 4 ... minutes, back to one after a clean answer.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use chrono::{DateTime, TimeZone, Utc};
use tokio::time::Instant;
use trawl_model::{SourceKind, StreamKey, TenantId};
use trawl_sources::StatedLimit;

use super::*;
use crate::clock::Clock;
use crate::limiter::actor::{Acquire, Feedback, GetState, Priority, RateLimiter, MAX_IN_FLIGHT};
use crate::limiter::BucketSpec;
use crate::metrics::Metrics;

fn key(t: &str) -> StreamKey {
    StreamKey::new(TenantId::new(t).unwrap(), SourceKind::ZohoMailAudit)
}

fn start_utc() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()
}

fn limiter(metrics: &Arc<Metrics>) -> (Addr<RateLimiter>, Clock) {
    let clock = Clock::following_tokio(start_utc());
    let spec = BucketSpec {
        per_second: 10.0,
        daily: None,
        share: 1.0,
    };
    let l = RateLimiter::new("zoho:org1/zoho_mail/Mail", spec, clock.clone(), Vec::new())
        .with_metrics(Some(metrics.clone()))
        .start();
    (l, clock)
}

async fn permit(l: &Addr<RateLimiter>, who: &str) -> Instant {
    l.send(Acquire {
        stream: key(who),
        priority: Priority::Backfill,
    })
    .await
    .unwrap()
    .unwrap()
}

fn throttle(who: &str, granted: Instant, clock: &Clock, lock: Option<u64>) -> Feedback {
    Feedback::Throttled(Throttled {
        stream: key(who),
        granted,
        until: lock.map(|s| clock.now() + chrono::Duration::seconds(s as i64)),
        lock: lock.map(Duration::from_secs),
        limit: lock.map(|_| StatedLimit {
            requests: 100,
            per: Duration::from_secs(120),
        }),
    })
}

fn episodes(m: &Metrics, who: &str) -> bool {
    m.render().contains(&format!(
        r#"trawl_throttle_episodes_total{{source="zoho.mail_audit",tenant="{who}"}} 1"#
    ))
}

#[actix::test]
async fn a_stated_lock_shuts_the_account_then_paces_below_the_stated_limit() {
    tokio::time::pause();
    let m = Arc::new(Metrics::new(true));
    let (l, clock) = limiter(&m);
    let first = permit(&l, "a").await;
    let second = permit(&l, "b").await;
    let lock = 22 * 60;
    l.send(throttle("a", first, &clock, Some(lock)))
        .await
        .unwrap();
    // The other tenant's request was in flight: the same episode, its lock counted.
    tokio::time::advance(Duration::from_secs(1)).await;
    l.send(throttle("b", second, &clock, Some(lock)))
        .await
        .unwrap();
    let state = l.send(GetState).await.unwrap();
    let until = state.throttled_until.expect("shown as throttled");
    let margin = margin(Duration::from_secs(lock)).as_secs() as i64;
    assert!(until >= start_utc() + chrono::Duration::seconds(lock as i64 + margin));
    let view = state.throttle.unwrap();
    assert_eq!((view.tenant.as_str(), view.episodes), ("a", 1));
    assert_eq!(view.lock_seconds, Some(lock));
    assert!(episodes(&m, "a") && !m.render().contains(r#"tenant="b""#));

    // No permit for anyone before the lock ends.
    let asked = Instant::now();
    let mut grants = Vec::new();
    for who in ["a", "b", "a", "b", "a"] {
        grants.push(permit(&l, who).await);
    }
    let first_after = grants[0].duration_since(asked).as_secs();
    assert!(
        (lock + margin as u64 - 1..=lock + margin as u64 + 1).contains(&first_after),
        "first permit after {first_after} s"
    );
    assert!(l.send(GetState).await.unwrap().throttled_until.is_none());
    // Then 90 per 2 minutes: 1.33 s apart.
    for w in grants.windows(2) {
        let gap = w[1].duration_since(w[0]).as_secs_f64();
        assert!((1.32..1.36).contains(&gap), "{gap} s apart");
    }
    // Clean answers never lift the stated cap.
    for _ in 0..10_000 {
        l.send(Feedback::Ok).await.unwrap();
    }
    let s = l.send(GetState).await.unwrap().state;
    assert!((s.ceiling - 0.75).abs() < 1e-9 && s.rate <= 0.75, "{s:?}");
}

#[actix::test]
async fn an_unread_lock_waits_one_two_four_minutes_then_starts_over() {
    tokio::time::pause();
    let m = Arc::new(Metrics::new(true));
    let (l, clock) = limiter(&m);
    let mut granted = permit(&l, "a").await;
    for minutes in [1, 2, 4] {
        l.send(throttle("a", granted, &clock, None)).await.unwrap();
        let asked = Instant::now();
        granted = permit(&l, "a").await;
        let waited = granted.duration_since(asked).as_secs();
        assert_eq!(waited, minutes * 60, "step of {minutes} minutes");
    }
    assert_eq!(
        l.send(GetState).await.unwrap().throttle.unwrap().episodes,
        3
    );
    assert!(m
        .render()
        .contains(r#"trawl_throttle_episodes_total{source="zoho.mail_audit",tenant="a"} 3"#));
    l.send(Feedback::Ok).await.unwrap();
    granted = permit(&l, "a").await;
    l.send(throttle("a", granted, &clock, None)).await.unwrap();
    let asked = Instant::now();
    let next = permit(&l, "a").await;
    assert_eq!(next.duration_since(asked).as_secs(), 60, "back to a minute");
}

#[test]
fn steps_are_capped() {
    let mut o = Lockout::default();
    let now = Instant::now();
    let mut utc = start_utc();
    let mut last = Duration::ZERO;
    for _ in 0..10 {
        let t = Throttled {
            stream: key("a"),
            granted: now + Duration::from_secs(1),
            until: None,
            lock: None,
            limit: None,
        };
        let v = o.on_throttle(&t, now, utc);
        assert!(v.new_episode);
        last = (v.resume - utc).to_std().unwrap();
        utc = v.resume;
    }
    assert_eq!(last, MAX_STEP);
}

#[actix::test]
async fn a_lock_style_bucket_has_one_request_in_flight_at_a_time() {
    use crate::limiter::LimiterHandle;
    tokio::time::pause();
    let clock = Clock::following_tokio(start_utc());
    let spec = BucketSpec {
        per_second: 100.0,
        daily: None,
        share: 1.0,
    };
    let l = LimiterHandle::new(
        RateLimiter::new("zoho:org1/zoho_mail/Mail", spec, clock, Vec::new())
            .one_at_a_time(true)
            .start(),
    );
    let first = l.acquire(&key("a"), Priority::Backfill).await.unwrap();
    let (l2, k) = (l.clone(), key("b"));
    let second = actix::spawn(async move { l2.acquire(&k, Priority::Backfill).await });
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(
        !second.is_finished(),
        "granted while the first is in flight"
    );
    drop(first);
    let second = second.await.unwrap().unwrap();
    let (l3, k) = (l.clone(), key("a"));
    let third = actix::spawn(async move { l3.acquire(&k, Priority::Backfill).await });
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!third.is_finished());
    second.answered();
    third.await.unwrap().unwrap().answered();
    // A permit lost with its caller stops counting after a while.
    let lost = l.acquire(&key("a"), Priority::Backfill).await.unwrap();
    std::mem::forget(lost);
    let asked = Instant::now();
    let _next = l.acquire(&key("b"), Priority::Backfill).await.unwrap();
    assert!(asked.elapsed() >= MAX_IN_FLIGHT - Duration::from_secs(1));
}
