//! Paging to the end returns exactly the ground truth (identical and late records
//! included); page tokens pin their list and expire; order is configurable.

use super::common::*;
use chrono::Duration;
use serde_json::Value;
use trawl_sim::{DataConfig, Order, SimApi, SimConfig};

const MAIN: &str = "/v2/report/operationlogs";
const PHONE: &str = "/v2/phone/reports/operationlogs";

/// Busy accounts with many identical and late records, no rate limits.
fn busy(order: Order) -> SimConfig {
    let mut cfg = SimConfig {
        unlimited: true,
        order,
        data: DataConfig {
            duplicate_share: 0.08,
            late_share: 0.1,
            late_max_minutes: 600,
            ..DataConfig::default()
        },
        ..config()
    };
    cfg.zoom_accounts[0].records_per_day = 700;
    cfg.zoom_accounts[0].phone_records_per_day = 150;
    cfg.zoho_orgs[0].records_per_day = 400;
    cfg
}

fn has_identical_twins(v: &[Value]) -> bool {
    let m = multiset(v);
    m.windows(2).any(|w| w[0] == w[1])
}

#[tokio::test]
async fn zoom_paging_to_the_end_is_exactly_the_ground_truth() {
    let fx = Fx::start(busy(Order::NewestFirst)).await;
    let tok = fx.zoom_token("pro").await;
    for (path, api) in [
        (MAIN, SimApi::ZoomOperationLogs),
        (PHONE, SimApi::ZoomPhoneOperationLogs),
    ] {
        let (got, pages) = fx
            .zoom_all(path, "from=2026-03-01&to=2026-03-10&page_size=97", &tok)
            .await;
        let truth = fx
            .sim
            .ground_truth("pro", api, day("2026-03-01"), day("2026-03-11"));
        assert!(pages > 5, "{path}: several pages");
        assert_eq!(got.len(), truth.len(), "{path}");
        assert_eq!(multiset(&got), multiset(&truth), "{path}");
        assert!(
            has_identical_twins(&truth),
            "{path}: identical records in one second"
        );
    }
    // Categories filter the main report.
    let (roles, _) = fx
        .zoom_all(
            MAIN,
            "from=2026-03-01&to=2026-03-10&page_size=300&category_type=role",
            &tok,
        )
        .await;
    assert!(!roles.is_empty() && roles.iter().all(|r| r["category_type"] == "Role"));
    fx.sim.stop().await;
}

#[tokio::test]
async fn late_records_appear_after_the_fact_with_their_older_time() {
    let fx = Fx::start(busy(Order::NewestFirst)).await;
    let tok = fx.zoom_token("pro").await;
    let q = "from=2026-03-10&to=2026-03-10&page_size=300";
    let (before, _) = fx.zoom_all(MAIN, q, &tok).await;
    let morning = |v: &[Value]| {
        v.iter()
            .filter(|r| r["time"].as_str().unwrap() < "2026-03-10T12:00:00Z")
            .count()
    };
    fx.sim.advance(Duration::hours(10));
    let tok = fx.zoom_token("pro").await;
    let (after, _) = fx.zoom_all(MAIN, q, &tok).await;
    let truth = fx.sim.ground_truth(
        "pro",
        SimApi::ZoomOperationLogs,
        day("2026-03-10"),
        day("2026-03-11"),
    );
    assert_eq!(multiset(&after), multiset(&truth));
    assert!(
        morning(&after) > morning(&before),
        "records of the morning that only became visible later"
    );
    // Injected late records: visible now, time an hour ago.
    fx.sim
        .inject("pro", SimApi::ZoomOperationLogs, 0, 5, Duration::hours(1));
    let (again, _) = fx.zoom_all(MAIN, q, &tok).await;
    assert_eq!(again.len(), after.len() + 5);
    assert_eq!(
        again
            .iter()
            .filter(|r| r["time"] == "2026-03-10T21:00:00Z")
            .count(),
        after
            .iter()
            .filter(|r| r["time"] == "2026-03-10T21:00:00Z")
            .count()
            + 5
    );
    fx.sim.stop().await;
}

#[tokio::test]
async fn zoho_keyset_paging_to_the_end_is_exactly_the_ground_truth() {
    let fx = Fx::start(busy(Order::NewestFirst)).await;
    let tok = fx.zoho_token("5001").await;
    let (from, to) = (day("2026-03-01"), day("2026-03-10"));
    let q = format!(
        "startTime={}&endTime={}",
        from.timestamp_millis(),
        to.timestamp_millis() - 1
    );
    let got = fx.zoho_all(&q, 77, &tok).await;
    let truth = fx.sim.ground_truth("5001", SimApi::ZohoMailAudit, from, to);
    assert_eq!(got.len(), truth.len());
    assert_eq!(multiset(&got), multiset(&truth));
    // Newest first by index time: by requestTime, except the late records (indexed
    // late, so listed where they were indexed).
    let times: Vec<i64> = got
        .iter()
        .map(|r| r["requestTime"].as_i64().unwrap())
        .collect();
    let against = times.windows(2).filter(|w| w[0] < w[1]).count();
    assert!(
        against > 0 && against * 3 < times.len(),
        "{against} of {}",
        times.len()
    );
    // `data` is a JSON document inside a string.
    let data: Value = serde_json::from_str(got[0]["data"].as_str().unwrap()).unwrap();
    assert!(data.is_object());
    // searchKey: by category code, by name, by operation type and by performer.
    let mailbox = fx
        .zoho_all(&format!("{q}&searchKey=category:1003"), 200, &tok)
        .await;
    let want: Vec<Value> = truth
        .iter()
        .filter(|r| r["category"] == "MAILBOX")
        .cloned()
        .collect();
    assert!(!want.is_empty());
    assert_eq!(multiset(&mailbox), multiset(&want));
    let by = truth[0]["performedBy"].as_str().unwrap().to_string();
    let q2 = format!("{q}&searchKey=category:MAILBOX::operationType:ADD::performedBy:{by}");
    let narrow = fx.zoho_all(&q2, 200, &tok).await;
    let want: Vec<Value> = truth
        .iter()
        .filter(|r| {
            r["category"] == "MAILBOX"
                && r["operationType"] == "ADD"
                && r["performedBy"] == by.as_str()
        })
        .cloned()
        .collect();
    assert_eq!(multiset(&narrow), multiset(&want));
    fx.sim.stop().await;
}

#[tokio::test]
async fn page_tokens_expire_after_fifteen_minutes() {
    let fx = Fx::start(busy(Order::NewestFirst)).await;
    let tok = fx.zoom_token("pro").await;
    let q = "from=2026-03-09&to=2026-03-10&page_size=50";
    let first = fx.zoom(&format!("{MAIN}?{q}"), &tok).await.json();
    let next = first["next_page_token"].as_str().unwrap().to_string();
    fx.sim.advance(secs(14 * 60));
    let second = fx
        .zoom(&format!("{MAIN}?{q}&next_page_token={next}"), &tok)
        .await;
    assert_eq!(second.status, 200, "valid for 15 minutes");
    // Each page issues a fresh token; the first one is now 15 min + 1 s old.
    fx.sim.advance(secs(60 + 1));
    let a = fx
        .zoom(&format!("{MAIN}?{q}&next_page_token={next}"), &tok)
        .await;
    assert_eq!(a.status, 400);
    assert_eq!(a.json()["code"], 300);
    assert!(a.json()["message"].as_str().unwrap().contains("expired"));
    let newer = second.json()["next_page_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        fx.zoom(&format!("{MAIN}?{q}&next_page_token={newer}"), &tok)
            .await
            .status,
        200
    );
    // A token only pages the query it was issued for.
    let other = fx
        .zoom(
            &format!("{MAIN}?from=2026-03-08&to=2026-03-10&next_page_token={newer}"),
            &tok,
        )
        .await;
    assert_eq!(other.status, 400);
    fx.sim.stop().await;
}

#[tokio::test]
async fn a_paging_pass_is_pinned_while_records_arrive() {
    let fx = Fx::start(busy(Order::NewestFirst)).await;
    let tok = fx.zoom_token("pro").await;
    let (from, to) = (day("2026-03-10"), day("2026-03-11"));
    let truth_before = fx
        .sim
        .ground_truth("pro", SimApi::ZoomOperationLogs, from, to);
    let q = "from=2026-03-10&to=2026-03-10&page_size=40";
    let mut got = Vec::new();
    let mut next = String::new();
    let mut page = 0;
    loop {
        let v = fx
            .zoom(&format!("{MAIN}?{q}&next_page_token={next}"), &tok)
            .await
            .json();
        got.extend(v["operation_logs"].as_array().unwrap().iter().cloned());
        page += 1;
        if page == 2 {
            // New records (newest first: they would shift every later page) and late ones.
            fx.sim.inject(
                "pro",
                SimApi::ZoomOperationLogs,
                25,
                10,
                Duration::minutes(30),
            );
            fx.sim.advance(secs(30));
        }
        match v["next_page_token"].as_str() {
            Some(t) if !t.is_empty() => next = t.to_string(),
            _ => break,
        }
    }
    assert_eq!(
        multiset(&got),
        multiset(&truth_before),
        "no record lost or repeated"
    );
    // The next pass sees them.
    let (after, _) = fx.zoom_all(MAIN, q, &tok).await;
    let truth_after = fx
        .sim
        .ground_truth("pro", SimApi::ZoomOperationLogs, from, to);
    assert!(truth_after.len() >= truth_before.len() + 35);
    assert_eq!(multiset(&after), multiset(&truth_after));
    fx.sim.stop().await;
}

async fn times_in_order(order: Order) -> (Vec<String>, Vec<String>) {
    let fx = Fx::start(busy(order)).await;
    let tok = fx.zoom_token("pro").await;
    let (got, _) = fx
        .zoom_all(MAIN, "from=2026-03-09&to=2026-03-09&page_size=60", &tok)
        .await;
    let truth = fx.sim.ground_truth(
        "pro",
        SimApi::ZoomOperationLogs,
        day("2026-03-09"),
        day("2026-03-10"),
    );
    assert_eq!(multiset(&got), multiset(&truth), "{order:?}");
    fx.sim.stop().await;
    let t = |v: &[Value]| {
        v.iter()
            .map(|r| r["time"].as_str().unwrap().to_string())
            .collect()
    };
    (t(&got), t(&truth))
}

#[tokio::test]
async fn order_is_newest_first_oldest_first_or_none() {
    let (newest, _) = times_in_order(Order::NewestFirst).await;
    assert!(newest.windows(2).all(|w| w[0] >= w[1]));
    let (oldest, truth) = times_in_order(Order::OldestFirst).await;
    assert!(oldest.windows(2).all(|w| w[0] <= w[1]));
    assert_eq!(oldest, truth, "ground truth is oldest first");
    let (any, _) = times_in_order(Order::Unordered).await;
    assert!(!any.windows(2).all(|w| w[0] <= w[1]));
    assert!(!any.windows(2).all(|w| w[0] >= w[1]));
}
