//! Zoom sources against the simulator playing what the field reports: dates read in UTC
//! or in the account's zone (UTC-12 .. UTC+14), page tokens that are only an offset into
//! a list that grows while it is paged (identical records of one second kept), paging
//! loops, empty and dangling pages, records that do not parse, tokens voided by another
//! holder again and again, missing scopes, the three no-Phone answers, and 429s whose
//! headers lie. Every check counts the ground truth by content and multiplicity.

mod support;

use chrono::{Duration, DurationRound};
use trawl_model::{SourceKind, Window};
use trawl_sim::{
    DateZone, LastPage, LimitHeaders, NoPhone, Order, PageTokens, Plan, RetryAfterFormat, SimApi,
    ZoomAccount,
};
use trawl_sources::{LimitType, ScanStep, Source, SourceError};

use support::*;

fn account(id: &str, per_day: u32, offset_minutes: i32) -> ZoomAccount {
    let mut a = ZoomAccount::new(id, Plan::Business, true);
    a.records_per_day = per_day;
    a.phone_records_per_day = per_day / 4;
    a.history_days = 20;
    a.utc_offset_minutes = offset_minutes;
    a
}

/// Reads `[from, now)` the way the engine does: backfill windows cut at the source's
/// midnights (as it learns them), then one live window of the last `lookback`.
async fn read_like_the_engine(
    sim: &trawl_sim::SimHandle,
    source: &std::sync::Arc<dyn Source>,
    from: chrono::DateTime<chrono::Utc>,
    lookback: Duration,
) -> Driven {
    let now = sim.now();
    let mut all = Driven::default();
    let mut at = from;
    while at < now {
        let offset = source.day_offset();
        let midnight =
            (at + offset).duration_trunc(Duration::days(1)).unwrap() + Duration::days(1) - offset;
        let w = Window::new(at, midnight.min(now)).unwrap();
        let mut scan = source.clone().scan(w);
        all.absorb(drive(&mut scan, &Drive::new(sim)).await);
        at = w.end;
    }
    let live = Window::new(now - lookback, now).unwrap();
    let mut scan = source.clone().scan(live);
    all.absorb(drive(&mut scan, &Drive::new(sim)).await);
    all
}

#[tokio::test]
async fn dates_in_utc_or_any_zone_deliver_every_record_once() {
    let zones = [
        ("utc", DateZone::Utc, 0),
        ("plus13", DateZone::Account, 13 * 60),
        ("minus8", DateZone::Account, -8 * 60),
        ("plus14", DateZone::Account, 14 * 60),
        ("minus12", DateZone::Account, -12 * 60),
        ("nepal", DateZone::Account, 5 * 60 + 45),
    ];
    for (id, reading, offset) in zones {
        let mut config = frozen_unlimited();
        config.zoom_dates = reading;
        config.zoom_accounts = vec![account(id, 1500, offset)];
        let sim = start(config).await;
        let source = source(SourceKind::ZoomOperationLogs, &zoom_settings(&sim, id, id));
        let from = (sim.now() - Duration::days(10))
            .duration_trunc(Duration::days(1))
            .unwrap();
        let got = read_like_the_engine(&sim, &source, from, Duration::hours(1)).await;
        assert!(got.errors.is_empty(), "{id}: {:?}", got.errors);
        let truth = sim.ground_truth(id, SimApi::ZoomOperationLogs, from, sim.now());
        assert_eq!(
            content(got.events.values()),
            content_of(&truth),
            "{id}: every record, once"
        );
        assert_eq!(got.duplicates_within_a_pass, 0);
        // Dense: the edges are proven by the first answers, and the windows follow the
        // account's midnight once learned; at most a few extra dates in all.
        let pages_needed = truth.len().div_ceil(300) + 11;
        let requests = sim.stats().requests as usize;
        assert!(
            requests <= pages_needed + 14,
            "{id}: {requests} requests for {pages_needed} pages"
        );
        sim.stop().await;
    }
}

#[tokio::test]
async fn a_live_poll_reaches_today_in_every_zone() {
    for offset in [14 * 60, -12 * 60, 0] {
        let mut config = frozen_unlimited();
        config.zoom_dates = DateZone::Account;
        config.zoom_accounts = vec![account("live", 2000, offset)];
        let sim = start(config).await;
        let source = source(
            SourceKind::ZoomOperationLogs,
            &zoom_settings(&sim, "t", "live"),
        );
        // 12:00Z is already tomorrow at UTC+14.
        let now = sim.now();
        let w = Window::new(now - Duration::hours(3), now).unwrap();
        let got = drive(&mut source.scan(w), &Drive::new(&sim)).await;
        let truth = sim.ground_truth("live", SimApi::ZoomOperationLogs, w.start, w.end);
        assert!(truth.len() > 100);
        assert_eq!(
            content(got.events.values()),
            content_of(&truth),
            "UTC{offset:+}min"
        );
        sim.stop().await;
    }
}

#[tokio::test]
async fn offset_tokens_over_a_growing_list_lose_nothing_and_count_nothing_twice() {
    for order in [Order::NewestFirst, Order::OldestFirst, Order::Unordered] {
        let mut config = frozen_unlimited();
        config.paging.tokens = PageTokens::Offset;
        config.order = order;
        config.data.duplicate_share = 0.25;
        config.data.late_share = 0.0;
        let mut a = account("grow", 3000, 0);
        a.history_days = 3;
        config.zoom_accounts = vec![a];
        let sim = start(config).await;
        let source = source(
            SourceKind::ZoomOperationLogs,
            &zoom_settings(&sim, "t", "grow"),
        );
        let now = sim.now();
        let today = now.duration_trunc(Duration::days(1)).unwrap();
        let w = Window::new(today, now).unwrap();
        // New records (some identical to each other) and late ones arrive while it pages.
        let grow = |page: usize| {
            if page % 2 == 1 {
                sim.inject("grow", SimApi::ZoomOperationLogs, 2, 1, Duration::hours(3));
                sim.advance(Duration::seconds(1));
            }
        };
        let mut union = Driven::default();
        for _ in 0..2 {
            let mut scan = source.clone().scan(w);
            let d = drive(
                &mut scan,
                &Drive {
                    after_page: &grow,
                    ..Drive::new(&sim)
                },
            )
            .await;
            assert_eq!(d.duplicates_within_a_pass, 0, "{order:?}");
            union.absorb(d);
        }
        // A last pass with the list still (as a poll after the arrivals stopped).
        union.absorb(drive(&mut source.clone().scan(w), &Drive::new(&sim)).await);
        let truth = sim.ground_truth("grow", SimApi::ZoomOperationLogs, w.start, w.end);
        assert!(
            identical_twins(&truth) > 50,
            "{order:?}: twins in the truth"
        );
        assert_eq!(
            content(union.events.values()),
            content_of(&truth),
            "{order:?}: by content and multiplicity"
        );
        sim.stop().await;
    }
}

#[tokio::test]
async fn paging_loops_are_caught_within_a_few_requests_and_said() {
    let mut config = frozen_unlimited();
    config.paging.loop_after_pages = 3;
    config.zoom_accounts = vec![account("loop", 3000, 0)];
    let sim = start(config).await;
    let source = source(
        SourceKind::ZoomOperationLogs,
        &zoom_settings(&sim, "acme", "loop"),
    );
    let mut scan = source.scan(yesterday(&sim));
    let mut steps = Vec::new();
    for _ in 0..12 {
        let step = scan.next_page(sim.now()).await.step;
        let end = step.is_err();
        steps.push(step);
        if end {
            break;
        }
    }
    let restarts = steps
        .iter()
        .filter(|s| matches!(s, Ok(ScanStep::Restarted { reason }) if reason.contains("loop")))
        .count();
    assert_eq!(restarts, 1, "{steps:?}");
    match steps.last() {
        Some(Err(e @ SourceError::Retryable { .. })) => {
            let text = e.to_string();
            assert!(
                text.contains("loop") && text.contains("tenant acme"),
                "{text}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(
        sim.stats().requests <= 8,
        "{} requests",
        sim.stats().requests
    );
    sim.stop().await;
}

#[tokio::test]
async fn empty_pages_with_tokens_and_every_last_page_shape() {
    for shape in [
        LastPage::Empty,
        LastPage::Absent,
        LastPage::Null,
        LastPage::Dangling,
    ] {
        let mut config = frozen_unlimited();
        config.paging.last_page = shape;
        config.paging.empty_page_rate = 0.3;
        config.zoom_accounts = vec![account("shapes", 2000, 0)];
        let sim = start(config).await;
        let source = source(
            SourceKind::ZoomOperationLogs,
            &zoom_settings(&sim, "t", "shapes"),
        );
        let w = yesterday(&sim);
        let got = drive(&mut source.scan(w), &Drive::new(&sim)).await;
        let truth = sim.ground_truth("shapes", SimApi::ZoomOperationLogs, w.start, w.end);
        assert_eq!(
            content(got.events.values()),
            content_of(&truth),
            "{shape:?}"
        );
        sim.stop().await;
    }
}

#[tokio::test]
async fn a_record_that_does_not_parse_comes_back_and_the_rest_go_on() {
    let mut config = frozen_unlimited();
    config.data.unparseable_share = 0.02;
    config.zoom_accounts = vec![account("bad", 2000, 0)];
    let sim = start(config).await;
    let source = source(
        SourceKind::ZoomOperationLogs,
        &zoom_settings(&sim, "acme", "bad"),
    );
    let w = yesterday(&sim);
    let got = drive(&mut source.scan(w), &Drive::new(&sim)).await;
    assert!(got.errors.is_empty(), "no page failed: {:?}", got.errors);
    let truth = sim.ground_truth("bad", SimApi::ZoomOperationLogs, w.start, w.end);
    let (bad, good): (Vec<_>, Vec<_>) = truth
        .iter()
        .cloned()
        .partition(|r| r["time"] == "a while ago");
    assert!(bad.len() > 10);
    assert_eq!(content(got.events.values()), content_of(&good));
    let rejected: Vec<serde_json::Value> = got
        .rejected
        .iter()
        .map(|r| serde_json::from_str(&r.raw).unwrap())
        .collect();
    assert_eq!(
        content_of(&rejected),
        content_of(&bad),
        "each bad record, once, as sent"
    );
    let reason = &got.rejected[0].reason;
    assert!(
        reason.contains("tenant acme") && reason.contains("time"),
        "{reason}"
    );
    sim.stop().await;
}

#[tokio::test]
async fn tokens_voided_again_and_again_cost_bounded_refreshes_and_no_record() {
    let mut config = frozen_unlimited();
    let mut a = account("void", 3000, 0);
    a.void_message = trawl_sim::VoidMessage::Mixed;
    config.zoom_accounts = vec![a];
    let sim = start(config).await;
    let source = source(
        SourceKind::ZoomOperationLogs,
        &zoom_settings(&sim, "t", "void"),
    );
    let w = yesterday(&sim);
    // Another holder of the app credentials takes a token every third page, each time
    // voiding trawl's: refreshed at once the first time, then after 1 s, 2 s, 4 s.
    let void = |page: usize| {
        if page % 3 == 2 {
            sim.advance(Duration::seconds(1));
            sim.void_tokens("void");
        }
    };
    let got = drive(
        &mut source.scan(w),
        &Drive {
            after_page: &void,
            pacing: std::time::Duration::from_millis(100),
            max_errors: 300,
            ..Drive::new(&sim)
        },
    )
    .await;
    assert!(
        got.errors.iter().all(|e| !e.is_permanent()),
        "{:?}",
        got.errors
    );
    let truth = sim.ground_truth("void", SimApi::ZoomOperationLogs, w.start, w.end);
    assert_eq!(content(got.events.values()), content_of(&truth));
    let stats = sim.stats().account("void").cloned().unwrap();
    assert!(stats.unauthorized >= 3, "{stats:?}");
    assert!(
        got.restarts.iter().all(|r| r.contains("401")),
        "{:?}",
        got.restarts
    );
    assert!(
        stats.tokens_issued <= stats.unauthorized + 1,
        "one token per void at most: {stats:?}"
    );
    sim.stop().await;
}

#[tokio::test]
async fn no_phone_in_each_form_turns_the_stream_off_and_a_missing_scope_is_named() {
    for form in [NoPhone::NotFound, NoPhone::Forbidden, NoPhone::NotEnrolled] {
        let mut config = frozen_unlimited();
        let mut a = ZoomAccount::new("np", Plan::Pro, false);
        a.no_phone = form;
        config.zoom_accounts = vec![a];
        let sim = start(config).await;
        let source = source(
            SourceKind::ZoomPhoneOperationLogs,
            &zoom_settings(&sim, "t", "np"),
        );
        match source.scan(yesterday(&sim)).next_page(sim.now()).await.step {
            Err(e @ SourceError::NotEnabled { .. }) => {
                assert!(e.to_string().contains("Zoom Phone"), "{form:?}: {e}")
            }
            other => panic!("{form:?}: {other:?}"),
        }
        sim.stop().await;
    }
    let mut config = frozen_unlimited();
    let mut a = ZoomAccount::new("scope", Plan::Pro, true);
    a.missing_scopes = vec![
        "phone:read:admin".into(),
        "phone:read:operation_logs:admin".into(),
    ];
    config.zoom_accounts = vec![a];
    let sim = start(config).await;
    let source = source(
        SourceKind::ZoomPhoneOperationLogs,
        &zoom_settings(&sim, "t", "scope"),
    );
    match source.scan(yesterday(&sim)).next_page(sim.now()).await.step {
        Err(e @ SourceError::Permanent { .. }) => {
            assert!(e.to_string().contains("phone:read:admin"), "{e}")
        }
        other => panic!("{other:?}"),
    }
    sim.stop().await;
}

#[tokio::test]
async fn lying_or_missing_429_headers_still_pause_for_a_bounded_time() {
    for (label, retry, qps, daily) in [
        (
            "far",
            RetryAfterFormat::FarFuture,
            LimitHeaders::All,
            LimitHeaders::All,
        ),
        (
            "junk",
            RetryAfterFormat::Unparseable,
            LimitHeaders::All,
            LimitHeaders::All,
        ),
        (
            "bare",
            RetryAfterFormat::Auto,
            LimitHeaders::None,
            LimitHeaders::ForeignRemaining,
        ),
    ] {
        let mut config = frozen_unlimited();
        config.unlimited = false;
        config.rate_limits.retry_after = retry;
        config.rate_limits.qps_headers = qps;
        config.rate_limits.daily_headers = daily;
        let mut a = account("lim", 3000, 0);
        a.limits.daily = Some(4);
        config.zoom_accounts = vec![a];
        let sim = start(config).await;
        let source = source(
            SourceKind::ZoomOperationLogs,
            &zoom_settings(&sim, "t", "lim"),
        );
        let mut scan = source.scan(yesterday(&sim));
        let now = sim.now();
        let limited = loop {
            match scan.next_page(now).await.step {
                Err(SourceError::RateLimited(info)) => break info,
                Err(e) => panic!("{label}: {e}"),
                Ok(_) => {}
            }
        };
        let cap = if limited.kind == LimitType::Daily {
            now.duration_trunc(Duration::days(1)).unwrap()
                + Duration::days(1)
                + Duration::minutes(5)
        } else {
            now + Duration::hours(1)
        };
        assert!(
            limited.retry_after.is_none_or(|r| r.at() <= cap),
            "{label}: {limited:?}"
        );
        if label != "bare" {
            assert!(limited.retry_after_issue.is_some(), "{label}: {limited:?}");
        } else {
            assert_eq!(limited.kind, LimitType::Daily, "the body says daily");
            assert_eq!(limited.label.as_deref(), Some("Heavy"));
        }
        sim.stop().await;
    }
}

#[tokio::test]
async fn zones_oldest_first_on_offset_tokens_with_late_records() {
    for offset in [-3 * 60, 5 * 60 + 30] {
        let mut config = frozen_unlimited();
        config.zoom_dates = DateZone::Account;
        config.order = Order::OldestFirst;
        config.paging.tokens = PageTokens::Offset;
        config.data.late_share = 0.1;
        config.zoom_accounts = vec![account("oz", 1200, offset)];
        let sim = start(config).await;
        let source = source(
            SourceKind::ZoomOperationLogs,
            &zoom_settings(&sim, "t", "oz"),
        );
        let from = (sim.now() - Duration::days(8))
            .duration_trunc(Duration::days(1))
            .unwrap();
        let got = read_like_the_engine(&sim, &source, from, Duration::hours(1)).await;
        let truth = sim.ground_truth("oz", SimApi::ZoomOperationLogs, from, sim.now());
        let (g, t) = (content(got.events.values()), content_of(&truth));
        let missing: Vec<_> = t.iter().filter(|r| !g.contains(r)).take(5).collect();
        assert_eq!(
            g.len(),
            t.len(),
            "UTC{offset:+}min: missing e.g. {missing:?}"
        );
        assert_eq!(g, t);
        sim.stop().await;
    }
}

/// Four windows planned before the zone was known, paged in turns: each one's edge date
/// is asked even when its own listing ended on a page past the window (an early stop
/// once dropped the date just planned).
#[tokio::test]
async fn windows_scanned_side_by_side_while_the_zone_is_learned() {
    let mut config = frozen_unlimited();
    config.zoom_dates = DateZone::Account;
    config.order = Order::OldestFirst;
    config.paging.tokens = PageTokens::Offset;
    config.data.late_share = 0.1;
    config.zoom_accounts = vec![account("side", 1200, -3 * 60)];
    let sim = start(config).await;
    let source = source(
        SourceKind::ZoomOperationLogs,
        &zoom_settings(&sim, "t", "side"),
    );
    let d0 = (sim.now() - Duration::days(8))
        .duration_trunc(Duration::days(1))
        .unwrap();
    let windows: Vec<Window> = (0..4)
        .map(|i| Window::new(d0 + Duration::days(i), d0 + Duration::days(i + 1)).unwrap())
        .collect();
    let mut scans: Vec<_> = windows.iter().map(|w| source.clone().scan(*w)).collect();
    let mut got = Driven::default();
    // Round robin, one page of each in turn, as the engine's concurrent windows go.
    while scans.iter().any(|s| !s.is_done()) {
        for s in scans.iter_mut().filter(|s| !s.is_done()) {
            if let Ok(ScanStep::Page { events, .. }) = s.next_page(sim.now()).await.step {
                for e in events {
                    got.events.insert(e.id, e);
                }
            }
        }
    }
    let truth = sim.ground_truth(
        "side",
        SimApi::ZoomOperationLogs,
        d0,
        d0 + Duration::days(4),
    );
    let (g, t) = (content(got.events.values()), content_of(&truth));
    let missing: Vec<_> = t.iter().filter(|r| !g.contains(r)).take(3).collect();
    assert_eq!(g.len(), t.len(), "missing e.g. {missing:?}");
    sim.stop().await;
}
