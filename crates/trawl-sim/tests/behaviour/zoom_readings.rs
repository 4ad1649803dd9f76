//! The Zoom readings the docs leave open: dates in UTC or in the account's zone, page
//! tokens that pin a snapshot or are an offset over a growing list, and the shapes of
//! last, empty and looping pages. Under every switch the ground truth is the same.

use super::common::*;
use chrono::Duration;
use serde_json::Value;
use trawl_sim::{
    DataConfig, DateZone, LastPage, Order, PageTokens, PagingConfig, SimApi, SimConfig,
};

const MAIN: &str = "/v2/report/operationlogs";

fn busy() -> SimConfig {
    let mut cfg = SimConfig {
        unlimited: true,
        data: DataConfig {
            duplicate_share: 0.08,
            late_share: 0.0,
            ..DataConfig::default()
        },
        ..config()
    };
    cfg.zoom_accounts[0].records_per_day = 600;
    cfg
}

fn times(v: &[Value]) -> (String, String) {
    let mut t: Vec<&str> = v.iter().map(|r| r["time"].as_str().unwrap()).collect();
    t.sort();
    (t[0].to_string(), t[t.len() - 1].to_string())
}

#[tokio::test]
async fn dates_are_utc_days_or_days_of_the_accounts_zone() {
    for (zone, offset, from, to) in [
        (
            DateZone::Utc,
            13 * 60,
            "2026-03-05T00:00:00Z",
            "2026-03-06T00:00:00Z",
        ),
        (
            DateZone::Account,
            13 * 60,
            "2026-03-04T11:00:00Z",
            "2026-03-05T11:00:00Z",
        ),
        (
            DateZone::Account,
            -8 * 60,
            "2026-03-05T08:00:00Z",
            "2026-03-06T08:00:00Z",
        ),
        (
            DateZone::Account,
            5 * 60 + 45,
            "2026-03-04T18:15:00Z",
            "2026-03-05T18:15:00Z",
        ),
    ] {
        let mut cfg = busy();
        cfg.zoom_dates = zone;
        cfg.zoom_accounts[0].utc_offset_minutes = offset;
        let fx = Fx::start(cfg).await;
        let tok = fx.zoom_token("pro").await;
        let (got, _) = fx
            .zoom_all(MAIN, "from=2026-03-05&to=2026-03-05&page_size=300", &tok)
            .await;
        let (from, to) = (from.parse().unwrap(), to.parse().unwrap());
        let truth = fx
            .sim
            .ground_truth("pro", SimApi::ZoomOperationLogs, from, to);
        assert_eq!(multiset(&got), multiset(&truth), "{zone:?} {offset}");
        let (first, last) = times(&got);
        assert!(
            first.as_str() >= from.to_rfc3339().replace("+00:00", "Z").as_str()
                && last.as_str() < to.to_rfc3339().replace("+00:00", "Z").as_str(),
            "{zone:?} {offset}: {first} .. {last}"
        );
        fx.sim.stop().await;
    }
}

#[tokio::test]
async fn in_the_accounts_zone_today_can_be_tomorrow_in_utc() {
    // 2026-03-10T12:00Z is already 2026-03-11 at UTC+14: asking for the UTC date misses
    // the records of the last two hours, asking for the account's date finds them.
    let mut cfg = busy();
    cfg.zoom_dates = DateZone::Account;
    cfg.zoom_accounts[0].utc_offset_minutes = 14 * 60;
    let fx = Fx::start(cfg).await;
    let tok = fx.zoom_token("pro").await;
    let (utc_today, _) = fx
        .zoom_all(MAIN, "from=2026-03-10&to=2026-03-10&page_size=300", &tok)
        .await;
    let (local_today, _) = fx
        .zoom_all(MAIN, "from=2026-03-11&to=2026-03-11&page_size=300", &tok)
        .await;
    let recent = fx.sim.ground_truth(
        "pro",
        SimApi::ZoomOperationLogs,
        day("2026-03-10") + Duration::hours(10),
        t0() + Duration::seconds(1),
    );
    assert!(!recent.is_empty());
    assert_eq!(multiset(&local_today), multiset(&recent));
    assert!(utc_today.iter().all(|r| !recent.contains(r)));
    fx.sim.stop().await;
}

/// Pages `q` to the end, calling `between` after each page; returns every record seen.
async fn page_through(
    fx: &Fx,
    q: &str,
    tok: &str,
    mut between: impl FnMut(usize),
) -> (Vec<Value>, usize) {
    let mut got = Vec::new();
    let mut next = String::new();
    let mut pages = 0;
    loop {
        let v = fx
            .zoom(&format!("{MAIN}?{q}&next_page_token={next}"), tok)
            .await
            .json();
        got.extend(v["operation_logs"].as_array().unwrap().iter().cloned());
        pages += 1;
        between(pages);
        match v["next_page_token"].as_str() {
            Some(t) if !t.is_empty() => next = t.to_string(),
            _ => return (got, pages),
        }
    }
}

#[tokio::test]
async fn offset_tokens_show_records_again_when_newer_ones_arrive_newest_first() {
    let mut cfg = busy();
    cfg.paging.tokens = PageTokens::Offset;
    let fx = Fx::start(cfg).await;
    let tok = fx.zoom_token("pro").await;
    let q = "from=2026-03-10&to=2026-03-10&page_size=40";
    let before = fx.sim.ground_truth(
        "pro",
        SimApi::ZoomOperationLogs,
        day("2026-03-10"),
        day("2026-03-11"),
    );
    let (got, _) = page_through(&fx, q, &tok, |page| {
        if page == 2 {
            fx.sim
                .inject("pro", SimApi::ZoomOperationLogs, 3, 0, Duration::zero());
        }
    })
    .await;
    // Three records of page 2 are served again on page 3; the new ones not at all.
    assert_eq!(got.len(), before.len() + 3);
    let mut seen = multiset(&got);
    seen.dedup();
    let mut want = multiset(&before);
    want.dedup();
    assert_eq!(seen, want, "every record of the list, some twice");
    // The ground truth holds the new records once, whatever the paging did.
    let after = fx.sim.ground_truth(
        "pro",
        SimApi::ZoomOperationLogs,
        day("2026-03-10"),
        day("2026-03-11"),
    );
    assert_eq!(after.len(), before.len() + 3);
    fx.sim.stop().await;
}

#[tokio::test]
async fn offset_tokens_oldest_first_shift_on_late_records_only() {
    let mut cfg = busy();
    cfg.paging.tokens = PageTokens::Offset;
    cfg.order = Order::OldestFirst;
    let fx = Fx::start(cfg).await;
    let tok = fx.zoom_token("pro").await;
    let q = "from=2026-03-10&to=2026-03-10&page_size=40";
    let before = fx.sim.ground_truth(
        "pro",
        SimApi::ZoomOperationLogs,
        day("2026-03-10"),
        day("2026-03-11"),
    );
    // New records land after the offset: nothing is seen twice.
    let (got, _) = page_through(&fx, q, &tok, |page| {
        if page == 1 {
            fx.sim
                .inject("pro", SimApi::ZoomOperationLogs, 2, 0, Duration::zero());
        }
    })
    .await;
    assert_eq!(got.len(), before.len() + 2);
    // A late record (an hour old) lands before the offset: the last record of the page
    // is served again, the late one not at all in this pass.
    let (got, _) = page_through(&fx, q, &tok, |page| {
        if page == 2 {
            fx.sim
                .inject("pro", SimApi::ZoomOperationLogs, 0, 1, Duration::hours(11));
        }
    })
    .await;
    assert_eq!(got.len(), before.len() + 2 + 1);
    fx.sim.stop().await;
}

#[tokio::test]
async fn snapshot_tokens_pin_the_list_whatever_the_order() {
    for order in [Order::NewestFirst, Order::OldestFirst, Order::Unordered] {
        let mut cfg = busy();
        cfg.order = order;
        let fx = Fx::start(cfg).await;
        let tok = fx.zoom_token("pro").await;
        let q = "from=2026-03-10&to=2026-03-10&page_size=40";
        let before = fx.sim.ground_truth(
            "pro",
            SimApi::ZoomOperationLogs,
            day("2026-03-10"),
            day("2026-03-11"),
        );
        let (got, _) = page_through(&fx, q, &tok, |_| {
            fx.sim
                .inject("pro", SimApi::ZoomOperationLogs, 1, 1, Duration::hours(2));
        })
        .await;
        assert_eq!(multiset(&got), multiset(&before), "{order:?}");
        fx.sim.stop().await;
    }
}

#[tokio::test]
async fn the_last_page_says_so_in_every_shape() {
    for shape in [
        LastPage::Empty,
        LastPage::Absent,
        LastPage::Null,
        LastPage::Dangling,
    ] {
        let mut cfg = busy();
        cfg.paging.last_page = shape;
        let fx = Fx::start(cfg).await;
        let tok = fx.zoom_token("pro").await;
        let mut next = String::new();
        let mut pages = 0;
        let last = loop {
            let q = format!("from=2026-03-09&to=2026-03-09&page_size=250&next_page_token={next}");
            let page = fx.zoom(&format!("{MAIN}?{q}"), &tok).await.json();
            pages += 1;
            match page["next_page_token"].as_str() {
                Some(t) if !t.is_empty() => next = t.to_string(),
                _ => break page,
            }
        };
        let token = last.get("next_page_token");
        match shape {
            LastPage::Empty => assert_eq!(token, Some(&Value::String(String::new()))),
            LastPage::Absent | LastPage::Dangling => assert_eq!(token, None),
            LastPage::Null => assert_eq!(token, Some(&Value::Null)),
            LastPage::Mixed => unreachable!(),
        }
        let records = last["operation_logs"].as_array().unwrap().len();
        // 600 records a day in pages of 250: three pages, and a fourth, empty one when
        // the last page with records still carried a token.
        if shape == LastPage::Dangling {
            assert_eq!((pages, records), (4, 0));
        } else {
            assert_eq!(pages, 3);
            assert!(records > 0);
        }
        fx.sim.stop().await;
    }
}

#[tokio::test]
async fn empty_pages_with_a_token_and_tokens_that_loop() {
    let mut cfg = busy();
    cfg.paging = PagingConfig {
        empty_page_rate: 0.5,
        ..PagingConfig::default()
    };
    let fx = Fx::start(cfg).await;
    let tok = fx.zoom_token("pro").await;
    let q = "from=2026-03-01&to=2026-03-09&page_size=200";
    let (got, pages) = fx.zoom_all(MAIN, q, &tok).await;
    let truth = fx.sim.ground_truth(
        "pro",
        SimApi::ZoomOperationLogs,
        day("2026-03-01"),
        day("2026-03-10"),
    );
    assert_eq!(multiset(&got), multiset(&truth));
    let full = truth.len().div_ceil(200);
    assert!(pages > full + 3, "{pages} pages for {full} full ones");
    fx.sim.stop().await;

    let mut cfg = busy();
    cfg.paging.loop_after_pages = 3;
    let fx = Fx::start(cfg).await;
    let tok = fx.zoom_token("pro").await;
    let mut next = String::new();
    let mut tokens = Vec::new();
    for _ in 0..6 {
        let v = fx
            .zoom(&format!("{MAIN}?{q}&next_page_token={next}"), &tok)
            .await
            .json();
        next = v["next_page_token"].as_str().unwrap().to_string();
        tokens.push(next.clone());
    }
    assert_ne!(tokens[0], tokens[1]);
    assert_eq!(
        tokens[2], tokens[1],
        "page 3 hands back the token it was asked with"
    );
    assert!(tokens[2..].iter().all(|t| *t == tokens[1]));
    fx.sim.stop().await;
}

#[tokio::test]
async fn a_silent_page_size_cap_serves_fewer_records_than_asked_without_saying_so() {
    let mut cfg = busy();
    cfg.paging.page_size_cap = Some(100);
    let fx = Fx::start(cfg).await;
    let tok = fx.zoom_token("pro").await;
    let q = "from=2026-03-01&to=2026-03-03&page_size=300";
    let first = fx.zoom(&format!("{MAIN}?{q}"), &tok).await.json();
    assert_eq!(first["page_size"], 300, "the answer echoes the ask");
    assert_eq!(first["operation_logs"].as_array().unwrap().len(), 100);
    let (got, pages) = fx.zoom_all(MAIN, q, &tok).await;
    let truth = fx.sim.ground_truth(
        "pro",
        SimApi::ZoomOperationLogs,
        day("2026-03-01"),
        day("2026-03-04"),
    );
    assert_eq!(multiset(&got), multiset(&truth));
    assert_eq!(pages, truth.len().div_ceil(100));
    fx.sim.stop().await;
}
