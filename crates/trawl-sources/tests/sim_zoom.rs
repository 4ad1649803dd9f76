//! Zoom sources against trawl-sim: a busy account's 30-day history read exactly (by id,
//! identical records in one second included), in every page order; token expiry and
//! page-token expiry mid-paging survived with no gap and no duplicate; both forms of the
//! 6-month horizon; the missing Phone plan; bad credentials; faults; and a rate-limited
//! run paced by the test, as the engine's limiter would.

mod support;

use chrono::Duration;
use trawl_model::{SourceKind, StreamKey, TenantId, Window};
use trawl_sim::{Faults, Order, Plan, SimApi, ZoomAccount};
use trawl_sources::SourceError;

use support::*;

fn busy(id: &str) -> ZoomAccount {
    let mut a = ZoomAccount::new(id, Plan::Business, true);
    a.records_per_day = 2500;
    a.phone_records_per_day = 400;
    a.history_days = 40;
    a
}

fn stream(tenant: &str, kind: SourceKind) -> StreamKey {
    StreamKey::new(TenantId::new(tenant).unwrap(), kind)
}

/// The last 30 days in calendar-day windows (the engine's backfill step), all driven.
async fn read_days(
    sim: &trawl_sim::SimHandle,
    kind: SourceKind,
    settings: &trawl_sources::SourceSettings,
) -> (Window, Driven) {
    let source = source(kind, settings);
    let now = sim.now();
    let whole = Window::new(now - Duration::days(30), now).unwrap();
    let mut all = Driven::default();
    for day in whole.split_days() {
        let mut scan = source.clone().scan(day);
        let d = drive(&mut scan, &Drive::new(sim)).await;
        assert!(d.errors.is_empty(), "{:?}", d.errors);
        all.pages += d.pages;
        all.duplicates_within_a_pass += d.duplicates_within_a_pass;
        all.events.extend(d.events);
    }
    (whole, all)
}

#[tokio::test]
async fn a_busy_accounts_30_days_are_read_exactly() {
    let mut config = frozen_unlimited();
    config.zoom_accounts = vec![busy("busy")];
    let sim = start(config).await;
    let settings = zoom_settings(&sim, "acme", "busy");

    let (whole, driven) = read_days(&sim, SourceKind::ZoomOperationLogs, &settings).await;
    let (truth, records) = truth_ids(
        &sim,
        "busy",
        SimApi::ZoomOperationLogs,
        &stream("acme", SourceKind::ZoomOperationLogs),
        whole,
    );
    assert!(truth.len() > 70_000, "a busy account: {}", truth.len());
    assert!(
        identical_twins(&records) > 100,
        "identical records in one second are part of the test"
    );
    assert_exact(&driven, &truth);
    assert_schema_valid(driven.events.values());

    // Phone: one 30-day window in one scan (the datetime form; walked as 28 + 2 days,
    // since 30 days from 13 February are more than Zoom's one month).
    let phone = source(SourceKind::ZoomPhoneOperationLogs, &settings);
    let mut scan = phone.scan(whole);
    let d = drive(&mut scan, &Drive::new(&sim)).await;
    assert!(d.restarts.is_empty() && d.errors.is_empty(), "{d:?}");
    let (truth, records) = truth_ids(
        &sim,
        "busy",
        SimApi::ZoomPhoneOperationLogs,
        &stream("acme", SourceKind::ZoomPhoneOperationLogs),
        whole,
    );
    assert!(identical_twins(&records) > 0);
    assert_exact(&d, &truth);
    assert_schema_valid(d.events.values());
    // One token served every stream of the tenant.
    assert_eq!(sim.stats().account("busy").unwrap().tokens_issued, 1);
    sim.stop().await;
}

#[tokio::test]
async fn unordered_and_oldest_first_pages_are_read_exactly_too() {
    for order in [Order::Unordered, Order::OldestFirst] {
        let mut config = frozen_unlimited();
        config.order = order;
        let mut a = busy("any");
        a.records_per_day = 1500;
        config.zoom_accounts = vec![a];
        let sim = start(config).await;
        let settings = zoom_settings(&sim, "acme", "any");
        let src = source(SourceKind::ZoomOperationLogs, &settings);
        let now = sim.now();
        // Partial days: the date-granular answer holds records outside the window.
        let w = Window::new(now - Duration::hours(60), now - Duration::hours(6)).unwrap();
        let mut all = Driven::default();
        for piece in w.split_days() {
            let d = drive(&mut src.clone().scan(piece), &Drive::new(&sim)).await;
            all.events.extend(d.events);
        }
        let (truth, _) = truth_ids(
            &sim,
            "any",
            SimApi::ZoomOperationLogs,
            &stream("acme", SourceKind::ZoomOperationLogs),
            w,
        );
        assert_exact(&all, &truth);
        sim.stop().await;
    }
}

#[tokio::test]
async fn an_access_token_expiring_mid_paging_costs_one_refresh_and_no_record() {
    let mut config = frozen_unlimited();
    config.data.late_share = 0.0;
    config.page_token_ttl_secs = 10 * 86_400;
    config.zoom_accounts = vec![busy("tok")];
    let sim = start(config).await;
    let settings = zoom_settings(&sim, "acme", "tok");
    let w = yesterday(&sim);
    let mut scan = source(SourceKind::ZoomOperationLogs, &settings).scan(w);
    let advance = |page: usize| {
        if page == 2 {
            sim.advance(Duration::hours(2));
        }
    };
    let d = drive(
        &mut scan,
        &Drive {
            after_page: &advance,
            ..Drive::new(&sim)
        },
    )
    .await;
    // The 401 is no error: the token is dropped and the same page asked again with a
    // new one.
    assert!(d.errors.is_empty(), "{:?}", d.errors);
    assert_eq!(d.restarts.len(), 1, "{:?}", d.restarts);
    assert!(d.restarts[0].contains("401"), "{}", d.restarts[0]);
    let stats = sim.stats().account("tok").cloned().unwrap();
    assert_eq!((stats.tokens_issued, stats.unauthorized), (2, 1));
    let (truth, _) = truth_ids(
        &sim,
        "tok",
        SimApi::ZoomOperationLogs,
        &stream("acme", SourceKind::ZoomOperationLogs),
        w,
    );
    assert!(d.pages > 5);
    assert_exact(&d, &truth);
    sim.stop().await;
}

#[tokio::test]
async fn an_expired_page_token_restarts_the_window_with_the_same_ids() {
    let mut config = frozen_unlimited();
    config.data.late_share = 0.0;
    config.zoom_accounts = vec![busy("pt")];
    let sim = start(config).await;
    let settings = zoom_settings(&sim, "acme", "pt");
    let w = yesterday(&sim);
    let mut scan = source(SourceKind::ZoomOperationLogs, &settings).scan(w);
    let advance = |page: usize| {
        if page == 3 {
            sim.advance(Duration::minutes(16));
        }
    };
    let d = drive(
        &mut scan,
        &Drive {
            after_page: &advance,
            ..Drive::new(&sim)
        },
    )
    .await;
    assert_eq!(d.restarts.len(), 1, "{:?}", d.restarts);
    assert!(d.restarts[0].contains("page token"), "{}", d.restarts[0]);
    assert!(d.errors.is_empty(), "{:?}", d.errors);
    assert_eq!(
        d.repeated_after_restart,
        4 * 300,
        "the first four pages came again, with the same ids"
    );
    let (truth, _) = truth_ids(
        &sim,
        "pt",
        SimApi::ZoomOperationLogs,
        &stream("acme", SourceKind::ZoomOperationLogs),
        w,
    );
    assert_exact(&d, &truth);
    sim.stop().await;
}

#[tokio::test]
async fn faulty_answers_are_errors_and_the_window_still_comes_out_exact() {
    let mut config = frozen_unlimited();
    config.data.late_share = 0.0;
    config.zoom_accounts = vec![busy("flaky")];
    config.faults = Faults {
        server_error_rate: 0.1,
        html_error_rate: 0.1,
        malformed_rate: 0.15,
        dropped_connection_rate: 0.1,
        ..Faults::default()
    };
    let sim = start(config).await;
    let settings = zoom_settings(&sim, "acme", "flaky");
    let w = yesterday(&sim);
    let mut scan = source(SourceKind::ZoomOperationLogs, &settings).scan(w);
    let d = drive(
        &mut scan,
        &Drive {
            max_errors: 200,
            ..Drive::new(&sim)
        },
    )
    .await;
    assert!(d
        .errors
        .iter()
        .any(|e| matches!(e, SourceError::Malformed { body, .. } if !body.is_empty())));
    assert!(d
        .errors
        .iter()
        .any(|e| matches!(e, SourceError::Retryable { .. })));
    let (truth, _) = truth_ids(
        &sim,
        "flaky",
        SimApi::ZoomOperationLogs,
        &stream("acme", SourceKind::ZoomOperationLogs),
        w,
    );
    assert_exact(&d, &truth);
    sim.stop().await;
}
