//! Zoom's refusals against trawl-sim: both forms of the 6-month horizon move the window
//! start, a missing Phone plan turns the stream off, bad credentials and a Free plan are
//! permanent and clearly worded, and 429s are classified while a run paced by the test
//! (the engine limiter's role) stays under the limit and reads its window exactly.

mod support;

use chrono::{Duration, DurationRound};
use trawl_model::{SourceKind, StreamKey, TenantId, Window};
use trawl_sim::{HorizonError, Plan, SimApi, ZoomAccount};
use trawl_sources::{LimitType, ScanStep, SourceError};

use support::*;

fn stream(tenant: &str, kind: SourceKind) -> StreamKey {
    StreamKey::new(TenantId::new(tenant).unwrap(), kind)
}

#[tokio::test]
async fn the_six_month_horizon_moves_the_window_start_in_both_forms() {
    let mut config = frozen_unlimited();
    for (id, form) in [
        ("h300", HorizonError::Http300),
        ("h400", HorizonError::Http400),
    ] {
        let mut a = ZoomAccount::new(id, Plan::Pro, false);
        a.records_per_day = 100;
        a.history_days = 200;
        a.horizon_error = form;
        config.zoom_accounts.push(a);
    }
    let sim = start(config).await;
    let now = sim.now();
    for id in ["h300", "h400"] {
        let settings = zoom_settings(&sim, id, id);
        let src = source(SourceKind::ZoomOperationLogs, &settings);
        let w = Window::new(now - Duration::days(190), now - Duration::days(160)).unwrap();
        let mut scan = src.scan(w);
        let first = scan.next_page(now).await.step;
        assert!(
            matches!(&first, Ok(ScanStep::Restarted { reason }) if reason.contains("6 months")),
            "{id}: {first:?}"
        );
        let moved = (now - Duration::days(182))
            .duration_trunc(Duration::days(1))
            .unwrap()
            + Duration::days(1);
        assert_eq!(scan.window().start, moved, "{id}");
        let d = drive(&mut scan, &Drive::new(&sim)).await;
        assert!(d.restarts.is_empty() && d.errors.is_empty(), "{id}: {d:?}");
        let kept = Window::new(moved, w.end).unwrap();
        let (truth, _) = truth_ids(
            &sim,
            id,
            SimApi::ZoomOperationLogs,
            &stream(id, SourceKind::ZoomOperationLogs),
            kept,
        );
        assert!(!truth.is_empty());
        assert_exact(&d, &truth);
    }
    sim.stop().await;
}

#[tokio::test]
async fn an_account_without_zoom_phone_turns_the_stream_off() {
    let mut config = frozen_unlimited();
    config.zoom_accounts = vec![ZoomAccount::new("nophone", Plan::Pro, false)];
    let sim = start(config).await;
    let settings = zoom_settings(&sim, "acme", "nophone");
    let src = source(SourceKind::ZoomPhoneOperationLogs, &settings);
    match src.scan(yesterday(&sim)).next_page(sim.now()).await.step {
        Err(e @ SourceError::NotEnabled { .. }) => {
            let text = e.to_string();
            assert!(
                text.contains("tenant acme") && text.contains("no Zoom Phone plan"),
                "{text}"
            );
        }
        other => panic!("{other:?}"),
    }
    sim.stop().await;
}

#[tokio::test]
async fn wrong_credentials_and_a_free_plan_are_permanent_and_clearly_worded() {
    let mut config = frozen_unlimited();
    config.zoom_accounts = vec![
        ZoomAccount::new("acct", Plan::Pro, false),
        ZoomAccount::new("free", Plan::Free, false),
    ];
    let sim = start(config).await;
    let mut settings = zoom_settings(&sim, "acme", "acct");
    let creds = trawl_sources::ZoomCredentials {
        account_id: "acct".into(),
        client_id: "acct-client".into(),
        client_secret: secrecy::SecretString::from("wrong-secret-value"),
        oauth_base: url::Url::parse(&sim.base_url()).unwrap(),
    };
    settings.tokens = std::sync::Arc::new(trawl_sources::TokenCache::zoom(
        settings.tenant.clone(),
        creds,
        client(),
    ));
    let step = source(SourceKind::ZoomOperationLogs, &settings)
        .scan(yesterday(&sim))
        .next_page(sim.now())
        .await;
    let e = step.step.unwrap_err();
    assert!(e.is_permanent());
    assert_eq!(
        e.to_string(),
        "Zoom rejected the client credentials of tenant acme: Invalid client_id or client_secret"
    );
    assert!(step.exchange.is_none(), "no API request was made");

    let settings = zoom_settings(&sim, "cheap", "free");
    let e = source(SourceKind::ZoomOperationLogs, &settings)
        .scan(yesterday(&sim))
        .next_page(sim.now())
        .await
        .step
        .unwrap_err();
    assert!(
        e.is_permanent() && e.to_string().contains("No permission."),
        "{e}"
    );
    sim.stop().await;
}

#[tokio::test]
async fn rate_limits_are_classified_and_a_paced_scan_stays_under_them() {
    let mut config = frozen_unlimited();
    config.unlimited = false;
    config.clock.speed = 1.0;
    config.data.late_share = 0.0;
    let mut a = ZoomAccount::new("limited", Plan::Pro, false);
    a.records_per_day = 2400;
    config.zoom_accounts = vec![a];
    let sim = start(config).await;
    let settings = zoom_settings(&sim, "acme", "limited");
    let src = source(SourceKind::ZoomOperationLogs, &settings);
    let w = yesterday(&sim);

    // A burst with no limiter: Pro Heavy allows 10 a second.
    let mut limited = Vec::new();
    for _ in 0..16 {
        if let Err(SourceError::RateLimited(info)) =
            src.clone().scan(w).next_page(sim.now()).await.step
        {
            limited.push(info);
        }
    }
    assert!(!limited.is_empty());
    for info in &limited {
        assert_eq!(
            (info.kind, info.label.as_deref()),
            (LimitType::Qps, Some("Heavy"))
        );
        assert!(info
            .retry_after
            .is_some_and(|r| r.at() > sim.now() - Duration::seconds(2)));
    }
    let stats = sim.stats();
    assert_eq!(
        stats
            .limit("limited", trawl_sim::SimFamily::ZoomMain)
            .unwrap()
            .rate_limited_qps,
        limited.len() as u64
    );

    // Paced at 5 a second, the same scan sees no 429 and reads the day exactly.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let mut scan = src.scan(w);
    let d = drive(
        &mut scan,
        &Drive {
            pacing: std::time::Duration::from_millis(200),
            ..Drive::new(&sim)
        },
    )
    .await;
    assert!(d.errors.is_empty(), "{:?}", d.errors);
    let (truth, _) = truth_ids(
        &sim,
        "limited",
        SimApi::ZoomOperationLogs,
        &stream("acme", SourceKind::ZoomOperationLogs),
        w,
    );
    assert_exact(&d, &truth);
    assert_eq!(
        sim.stats()
            .limit("limited", trawl_sim::SimFamily::ZoomMain)
            .unwrap()
            .rate_limited_qps,
        limited.len() as u64
    );
    sim.stop().await;
}
