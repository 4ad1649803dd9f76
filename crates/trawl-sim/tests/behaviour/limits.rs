//! Rate limits: per-second buckets, daily caps and their reset at 00:00 UTC, the
//! neighbour app's share, Zoho's throttling, and the counters that report them.

use super::common::*;
use chrono::{Duration, Timelike};
use trawl_sim::{
    LimitOverrides, Plan, RetryAfterFormat, SimConfig, SimFamily, ZohoOrg, ZoomAccount,
};

const MAIN: &str = "/v2/report/operationlogs?from=2026-03-10&to=2026-03-10&page_size=1";
const PHONE: &str = "/v2/phone/reports/operationlogs?from=2026-03-10&to=2026-03-10&page_size=1";

fn assert_qps_429(a: &Answer, limit: &str) {
    assert_eq!(a.status, 429, "{}", a.text);
    assert_eq!(a.json()["code"], 429);
    assert!(a.json()["message"]
        .as_str()
        .unwrap()
        .contains("maximum per-second rate limit"));
    assert_eq!(a.header("X-RateLimit-Category"), Some("Heavy"));
    assert_eq!(a.header("X-RateLimit-Type"), Some("QPS"));
    assert_eq!(a.header("X-RateLimit-Limit"), Some(limit));
    assert_eq!(a.header("X-RateLimit-Remaining"), Some("0"));
    let retry: u64 = a.header("Retry-After").unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry));
}

#[tokio::test]
async fn eleventh_request_in_one_second_to_pro_heavy_is_refused() {
    let fx = Fx::start(config()).await;
    let tok = fx.zoom_token("pro").await;
    for i in 0..10 {
        let a = fx.zoom(MAIN, &tok).await;
        assert_eq!(a.status, 200, "request {i}");
        assert_eq!(
            a.header("X-RateLimit-Limit"),
            Some("30000"),
            "daily cap shown on answers"
        );
    }
    assert_qps_429(&fx.zoom(MAIN, &tok).await, "10");
    // The bucket refills at 10/s: 100 ms later one more is admitted, not two.
    fx.sim.advance(Duration::milliseconds(100));
    assert_eq!(fx.zoom(MAIN, &tok).await.status, 200);
    assert_eq!(fx.zoom(MAIN, &tok).await.status, 429);
    // The Phone family has its own bucket.
    assert_eq!(fx.zoom(PHONE, &tok).await.status, 200);
    let st = fx.sim.stats();
    let l = st.limit("pro", SimFamily::ZoomMain).unwrap();
    assert_eq!(
        (l.requests, l.ok, l.rate_limited_qps, l.rate_limited_daily),
        (13, 11, 2, 0)
    );
    assert_eq!(l.label, "Heavy");
    assert_eq!(l.max_rate_1s, 13);
    fx.sim.stop().await;
}

#[tokio::test]
async fn sixth_request_in_one_second_to_pro_phone_heavy_is_refused() {
    let fx = Fx::start(config()).await;
    let tok = fx.zoom_token("pro").await;
    for _ in 0..5 {
        assert_eq!(fx.zoom(PHONE, &tok).await.status, 200);
    }
    assert_qps_429(&fx.zoom(PHONE, &tok).await, "5");
    fx.sim.advance(secs(1));
    assert_eq!(fx.zoom(PHONE, &tok).await.status, 200);
    fx.sim.stop().await;
}

#[tokio::test]
async fn free_daily_cap_answers_daily_429_until_midnight_utc() {
    let fx = Fx::start(config()).await;
    let tok = fx.zoom_token("free").await;
    // Free: 1/s, 1,000 a day. (Reports refuse Free plans, but the quota is spent.)
    for i in 0..1000 {
        let a = fx.zoom(MAIN, &tok).await;
        assert_eq!(a.status, 400, "request {i}: {}", a.text);
        assert_eq!(a.json()["code"], 200);
        fx.sim.advance(secs(1));
    }
    let a = fx.zoom(MAIN, &tok).await;
    assert_eq!(a.status, 429);
    assert!(a.json()["message"]
        .as_str()
        .unwrap()
        .contains("maximum daily rate limit"));
    assert_eq!(a.header("X-RateLimit-Type"), Some("Daily-limit"));
    assert_eq!(a.header("X-RateLimit-Limit"), Some("1000"));
    assert_eq!(a.header("Retry-After"), Some("2026-03-11T00:00:00Z"));
    // Still refused a second before midnight, admitted at 00:00 UTC.
    let now = fx.sim.now();
    let midnight = day("2026-03-11");
    fx.sim.advance(midnight - now - secs(1));
    let tok = fx.zoom_token("free").await;
    assert_eq!(fx.zoom(MAIN, &tok).await.status, 429);
    fx.sim.advance(secs(1));
    assert_eq!(fx.sim.now().hour(), 0);
    assert_eq!(fx.zoom(MAIN, &tok).await.status, 400);
    let st = fx.sim.stats();
    let l = st.limit("free", SimFamily::ZoomMain).unwrap();
    assert_eq!((l.ok, l.rate_limited_daily), (1001, 2));
    fx.sim.stop().await;
}

#[tokio::test]
async fn retry_after_can_be_seconds_or_instants() {
    let mut cfg = config();
    cfg.zoom_accounts[0].limits = LimitOverrides {
        daily: Some(2),
        ..LimitOverrides::default()
    };
    cfg.rate_limits.retry_after = RetryAfterFormat::Seconds;
    let fx = Fx::start(cfg.clone()).await;
    let tok = fx.zoom_token("pro").await;
    fx.zoom(MAIN, &tok).await;
    fx.zoom(MAIN, &tok).await;
    let a = fx.zoom(MAIN, &tok).await;
    assert_eq!(a.header("X-RateLimit-Type"), Some("Daily-limit"));
    assert_eq!(
        a.header("Retry-After"),
        Some("43200"),
        "12 h to midnight, in seconds"
    );
    fx.sim.stop().await;

    cfg.zoom_accounts[0].limits = LimitOverrides::default();
    cfg.rate_limits.retry_after = RetryAfterFormat::Rfc3339;
    let fx = Fx::start(cfg).await;
    let tok = fx.zoom_token("pro").await;
    for _ in 0..5 {
        fx.zoom(PHONE, &tok).await;
    }
    let a = fx.zoom(PHONE, &tok).await;
    assert_eq!(a.header("X-RateLimit-Type"), Some("QPS"));
    assert_eq!(a.header("Retry-After"), Some("2026-03-10T12:00:01Z"));
    fx.sim.stop().await;
}

#[tokio::test]
async fn neighbour_app_eats_its_share_of_refill_and_daily_cap() {
    let mut cfg = config();
    cfg.zoom_accounts[0].neighbour_share = 0.5;
    cfg.zoom_accounts[0].limits.daily = Some(1000);
    let fx = Fx::start(cfg).await;
    let tok = fx.zoom_token("pro").await;
    // Noon: the neighbour has used half of its half of the day's 1,000.
    let a = fx.zoom(MAIN, &tok).await;
    assert_eq!(a.header("X-RateLimit-Remaining"), Some("749"));
    for _ in 0..9 {
        assert_eq!(fx.zoom(MAIN, &tok).await.status, 200);
    }
    assert_eq!(fx.zoom(MAIN, &tok).await.status, 429);
    // Refill is 10/s minus the neighbour's 5/s.
    fx.sim.advance(secs(1));
    for _ in 0..5 {
        assert_eq!(fx.zoom(MAIN, &tok).await.status, 200);
    }
    assert_eq!(fx.zoom(MAIN, &tok).await.status, 429);
    // Late in the day the neighbour has eaten almost all of its share.
    fx.sim.advance(Duration::hours(11) + Duration::minutes(59));
    let tok = fx.zoom_token("pro").await;
    let a = fx.zoom(MAIN, &tok).await;
    let remaining: i64 = a.header("X-RateLimit-Remaining").unwrap().parse().unwrap();
    assert_eq!(remaining, 1000 - 499 - 16);
    fx.sim.stop().await;
}

#[tokio::test]
async fn unlimited_admits_everything_and_still_counts_the_rate() {
    let fx = Fx::start(SimConfig {
        unlimited: true,
        ..config()
    })
    .await;
    let tok = fx.zoom_token("pro").await;
    for _ in 0..60 {
        assert_eq!(fx.zoom(MAIN, &tok).await.status, 200);
    }
    let st = fx.sim.stats();
    let l = st.limit("pro", SimFamily::ZoomMain).unwrap();
    assert_eq!((l.ok, l.max_rate_1s), (60, 60));
    fx.sim.stop().await;
}

#[tokio::test]
async fn max_rate_counts_a_sliding_second() {
    let fx = Fx::start(SimConfig {
        unlimited: true,
        ..config()
    })
    .await;
    let tok = fx.zoom_token("biz").await;
    // 4 requests every 500 ms: any one second sees at most 8 (the window is (t-1s, t]).
    for _ in 0..6 {
        for _ in 0..4 {
            fx.zoom(MAIN, &tok).await;
        }
        fx.sim.advance(Duration::milliseconds(500));
    }
    assert_eq!(
        fx.sim
            .stats()
            .limit("biz", SimFamily::ZoomMain)
            .unwrap()
            .max_rate_1s,
        8
    );
    fx.sim.stop().await;
}

#[tokio::test]
async fn zoho_throttles_with_its_own_body_and_a_lock_period() {
    let mut cfg = config();
    cfg.zoho_orgs = vec![ZohoOrg {
        requests_per_minute: 3,
        lock_secs: 120,
        ..ZohoOrg::new("5001")
    }];
    let fx = Fx::start(cfg).await;
    let tok = fx.zoho_token("5001").await;
    for _ in 0..3 {
        assert_eq!(fx.zoho("limit=1", &tok).await.status, 200);
    }
    let a = fx.zoho("limit=1", &tok).await;
    assert_eq!(a.status, 429);
    assert_eq!(a.json()["status"]["code"], 429);
    assert_eq!(a.json()["data"]["errorCode"], "TOO_MANY_REQUESTS");
    // A minute later the window is free, but the lock still holds.
    fx.sim.advance(secs(61));
    assert_eq!(fx.zoho("limit=1", &tok).await.status, 429);
    fx.sim.advance(secs(60));
    assert_eq!(fx.zoho("limit=1", &tok).await.status, 200);
    let st = fx.sim.stats();
    let l = st.limit("5001", SimFamily::ZohoMail).unwrap();
    assert_eq!((l.label.as_str(), l.ok, l.rate_limited_qps), ("Mail", 4, 2));
    fx.sim.stop().await;
}

#[tokio::test]
async fn zoho_field_shape_states_limit_and_lock_and_every_call_extends_it() {
    let mut cfg = config();
    cfg.zoho_orgs = vec![ZohoOrg {
        requests_per_minute: 2,
        window_secs: 120,
        lock_secs: 22 * 60,
        throttle: trawl_sim::ZohoThrottle::Field,
        lock_extends: true,
        ..ZohoOrg::new("5001")
    }];
    let fx = Fx::start(cfg).await;
    let tok = fx.zoho_token("5001").await;
    for _ in 0..2 {
        assert_eq!(fx.zoho("limit=1", &tok).await.status, 200);
    }
    let a = fx.zoho("limit=1", &tok).await;
    assert_eq!(a.status, 400);
    let e = &a.json()["error"];
    assert_eq!(e["title"], "URL_ROLLING_THROTTLES_LIMIT_EXCEEDED");
    assert_eq!(e["status_code"], 400);
    assert_eq!(
        e["details"]["message"],
        "Cannot execute more than 2 requests per API in 2 minutes. Try again after 22 minutes."
    );
    // A probe a minute before the end starts the lock over.
    fx.sim.advance(secs(21 * 60));
    assert_eq!(fx.zoho("limit=1", &tok).await.status, 400);
    fx.sim.advance(secs(21 * 60));
    assert_eq!(fx.zoho("limit=1", &tok).await.status, 400);
    fx.sim.advance(secs(22 * 60));
    let tok = fx.zoho_token("5001").await;
    assert_eq!(fx.zoho("limit=1", &tok).await.status, 200);
    let st = fx.sim.stats();
    let l = st.limit("5001", SimFamily::ZohoMail).unwrap();
    assert_eq!((l.locks, l.locked_calls, l.ok), (1, 2, 3));
    fx.sim.stop().await;
}

#[tokio::test]
async fn business_limits_follow_the_plan_table() {
    let fx = Fx::start(SimConfig {
        zoom_accounts: vec![ZoomAccount::new("big", Plan::Business, true)],
        ..config()
    })
    .await;
    let tok = fx.zoom_token("big").await;
    let mut ok = 0;
    while fx.zoom(MAIN, &tok).await.status == 200 {
        ok += 1;
    }
    assert_eq!(ok, 40);
    let mut ok = 0;
    loop {
        let a = fx.zoom(PHONE, &tok).await;
        if a.status != 200 {
            assert_eq!(a.header("X-RateLimit-Limit"), Some("10"));
            break;
        }
        assert_eq!(a.header("X-RateLimit-Limit"), Some("30000"));
        ok += 1;
    }
    assert_eq!(ok, 10);
    fx.sim.stop().await;
}

#[tokio::test]
async fn rate_limit_headers_may_be_missing() {
    let mut cfg = config();
    cfg.rate_limits.drop_header_rate = 1.0;
    let fx = Fx::start(cfg).await;
    let tok = fx.zoom_token("pro").await;
    for _ in 0..5 {
        fx.zoom(PHONE, &tok).await;
    }
    let a = fx.zoom(PHONE, &tok).await;
    assert_eq!(a.status, 429);
    for h in [
        "X-RateLimit-Category",
        "X-RateLimit-Type",
        "X-RateLimit-Limit",
        "X-RateLimit-Remaining",
        "Retry-After",
    ] {
        assert!(a.header(h).is_none(), "{h}");
    }
    fx.sim.stop().await;
}
