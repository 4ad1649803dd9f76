//! Zoho's open readings: `startTime`/`endTime` on `requestTime` or on index time,
//! `endTime` inclusive or not; and throttling as a 429 envelope or as HTTP 400/200 with
//! `URL_ROLLING_THROTTLES_LIMIT_EXCEEDED`, the lock only in the message, extended by calls
//! made during it.

use super::common::*;
use chrono::{DateTime, Duration, Utc};
use serde_json::Value;
use trawl_sim::{DataConfig, SimApi, SimConfig, ZohoEnd, ZohoOrg, ZohoSelect, ZohoThrottle};

fn late(select_on: ZohoSelect, end_time: ZohoEnd) -> SimConfig {
    let mut cfg = SimConfig {
        unlimited: true,
        data: DataConfig {
            late_share: 0.4,
            late_max_minutes: 480,
            index_delay_ms: 5_000,
            ..DataConfig::default()
        },
        ..config()
    };
    cfg.zoho.select_on = select_on;
    cfg.zoho.end_time = end_time;
    cfg.zoho_orgs[0].records_per_day = 500;
    cfg
}

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn request_times(v: &[Value]) -> Vec<i64> {
    v.iter()
        .map(|r| r["requestTime"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn the_range_selects_on_request_time_or_on_index_time() {
    let (from, to) = (day("2026-03-08"), day("2026-03-09"));
    let q = format!("startTime={}&endTime={}", ms(from), ms(to) - 1);
    let fx = Fx::start(late(ZohoSelect::RequestTime, ZohoEnd::Inclusive)).await;
    let tok = fx.zoho_token("5001").await;
    let by_request = fx.zoho_all(&q, 200, &tok).await;
    let truth = fx.sim.ground_truth("5001", SimApi::ZohoMailAudit, from, to);
    assert_eq!(multiset(&by_request), multiset(&truth));
    fx.sim.stop().await;

    let fx = Fx::start(late(ZohoSelect::IndexTime, ZohoEnd::Inclusive)).await;
    let tok = fx.zoho_token("5001").await;
    let by_index = fx.zoho_all(&q, 200, &tok).await;
    // Records indexed late: answered for the day they were indexed in, however old.
    let older = request_times(&by_index)
        .into_iter()
        .filter(|t| *t < ms(from))
        .count();
    assert!(
        older > 5,
        "{older} records of an earlier day indexed on this one"
    );
    // The records of the day indexed on the next day are missing from this answer; the
    // next day's answer has them.
    let next = format!(
        "startTime={}&endTime={}",
        ms(to),
        ms(to + Duration::days(1)) - 1
    );
    let next_day = fx.zoho_all(&next, 200, &tok).await;
    let mut both: Vec<Value> = by_index.iter().chain(&next_day).cloned().collect();
    both.retain(|r| {
        let t = r["requestTime"].as_i64().unwrap();
        t >= ms(from) && t < ms(to)
    });
    assert_eq!(multiset(&both), multiset(&truth), "ground truth unchanged");
    assert!(by_index.len() != truth.len() || multiset(&by_index) != multiset(&truth));
    fx.sim.stop().await;
}

#[tokio::test]
async fn end_time_is_inclusive_or_exclusive() {
    for (end_time, extra) in [(ZohoEnd::Inclusive, 1), (ZohoEnd::Exclusive, 0)] {
        let fx = Fx::start(late(ZohoSelect::RequestTime, end_time)).await;
        let tok = fx.zoho_token("5001").await;
        let truth = fx.sim.ground_truth(
            "5001",
            SimApi::ZohoMailAudit,
            day("2026-03-08"),
            day("2026-03-09"),
        );
        // endTime = the requestTime of a record in the middle of the day.
        let edge = truth[truth.len() / 2]["requestTime"].as_i64().unwrap();
        let q = format!("startTime={}&endTime={edge}", ms(day("2026-03-08")));
        let got = fx.zoho_all(&q, 200, &tok).await;
        let before = request_times(&truth).iter().filter(|t| **t < edge).count();
        let at = request_times(&truth).iter().filter(|t| **t == edge).count();
        assert_eq!(got.len(), before + at * extra, "{end_time:?}");
        fx.sim.stop().await;
    }
}

fn throttled(throttle: ZohoThrottle, lock_extends: bool) -> SimConfig {
    let mut cfg = config();
    cfg.zoho_orgs = vec![ZohoOrg {
        requests_per_minute: 2,
        lock_secs: 22 * 60,
        throttle,
        lock_extends,
        ..ZohoOrg::new("5001")
    }];
    cfg
}

#[tokio::test]
async fn throttling_comes_as_400_or_200_with_the_lock_only_in_the_message() {
    for (form, status) in [(ZohoThrottle::Http400, 400), (ZohoThrottle::Http200, 200)] {
        let fx = Fx::start(throttled(form, false)).await;
        let tok = fx.zoho_token("5001").await;
        for _ in 0..2 {
            assert!(fx.zoho("limit=1", &tok).await.json()["data"]["audit"].is_array());
        }
        let a = fx.zoho("limit=1", &tok).await;
        assert_eq!(a.status, status);
        assert!(a.header("Retry-After").is_none());
        let e = &a.json()["error"];
        assert_eq!(e["code"], "URL_ROLLING_THROTTLES_LIMIT_EXCEEDED");
        assert!(
            e["message"]
                .as_str()
                .unwrap()
                .ends_with("Try again after 22 minutes."),
            "{e}"
        );
        // Ten minutes later the lock still holds, with twelve minutes left.
        fx.sim.advance(Duration::minutes(10));
        let a = fx.zoho("limit=1", &tok).await;
        assert!(a.json()["error"]["message"]
            .as_str()
            .unwrap()
            .ends_with("Try again after 12 minutes."));
        fx.sim.advance(Duration::minutes(12));
        assert_eq!(fx.zoho("limit=1", &tok).await.status, 200);
        fx.sim.stop().await;
    }
}

#[tokio::test]
async fn calls_during_the_lock_extend_it() {
    let fx = Fx::start(throttled(ZohoThrottle::Http400, true)).await;
    let tok = fx.zoho_token("5001").await;
    for _ in 0..3 {
        fx.zoho("limit=1", &tok).await;
    }
    fx.sim.advance(Duration::minutes(20));
    let a = fx.zoho("limit=1", &tok).await;
    assert!(a.json()["error"]["message"]
        .as_str()
        .unwrap()
        .ends_with("Try again after 22 minutes."));
    // 22 minutes after the first refusal, but only 2 after the last call: still locked.
    fx.sim.advance(Duration::minutes(2));
    assert_eq!(fx.zoho("limit=1", &tok).await.status, 400);
    fx.sim.advance(Duration::minutes(22));
    assert_eq!(fx.zoho("limit=1", &tok).await.status, 200);
    fx.sim.stop().await;
}
