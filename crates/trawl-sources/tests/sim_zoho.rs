//! Zoho Mail audit against trawl-sim: a busy organization's 30 days read exactly by id
//! (newest-first and oldest-first keyset paging), an access token expiring mid-paging
//! survived with one refresh and no gap, throttling classified, bad refresh tokens
//! permanent, and the data-center shorthand.

mod support;

use chrono::{Duration, DurationRound};
use trawl_model::{SourceKind, StreamKey, TenantId, Window};
use trawl_sim::{Order, SimApi, ZohoOrg};
use trawl_sources::{DataCenter, SourceError};

use support::*;

fn busy(zoid: &str) -> ZohoOrg {
    let mut o = ZohoOrg::new(zoid);
    o.records_per_day = 1200;
    o.history_days = 40;
    o
}

fn stream() -> StreamKey {
    StreamKey::new(TenantId::new("globex").unwrap(), SourceKind::ZohoMailAudit)
}

#[tokio::test]
async fn a_busy_organizations_30_days_are_read_exactly() {
    for order in [Order::NewestFirst, Order::OldestFirst] {
        let mut config = frozen_unlimited();
        config.order = order;
        config.zoho_orgs = vec![busy("57047751")];
        let sim = start(config).await;
        let settings = zoho_settings(&sim, "globex", "57047751");
        let src = source(SourceKind::ZohoMailAudit, &settings);
        let now = sim.now();
        let whole = Window::new(now - Duration::days(30), now).unwrap();
        let mut all = Driven::default();
        for day in whole.split_days() {
            let d = drive(&mut src.clone().scan(day), &Drive::new(&sim)).await;
            assert!(d.errors.is_empty() && d.restarts.is_empty(), "{d:?}");
            all.duplicates_within_a_pass += d.duplicates_within_a_pass;
            all.events.extend(d.events);
        }
        let (truth, _) = truth_ids(&sim, "57047751", SimApi::ZohoMailAudit, &stream(), whole);
        assert!(truth.len() > 30_000, "{}", truth.len());
        assert_exact(&all, &truth);
        assert_schema_valid(all.events.values());
        assert!(all
            .events
            .values()
            .all(|e| e.action.chars().all(|c| !c.is_ascii_uppercase())));
        assert_eq!(sim.stats().account("57047751").unwrap().tokens_issued, 1);
        sim.stop().await;
    }
}

#[tokio::test]
async fn an_access_token_expiring_mid_paging_costs_one_refresh_and_no_record() {
    let mut config = frozen_unlimited();
    config.data.late_share = 0.0;
    config.zoho_orgs = vec![busy("42")];
    let sim = start(config).await;
    let settings = zoho_settings(&sim, "globex", "42");
    let today = sim.now().duration_trunc(Duration::days(1)).unwrap();
    let w = Window::new(today - Duration::days(1), today).unwrap();
    let mut scan = source(SourceKind::ZohoMailAudit, &settings).scan(w);
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
    assert!(d.errors.is_empty(), "{:?}", d.errors);
    assert_eq!(d.restarts.len(), 1, "{:?}", d.restarts);
    assert!(d.restarts[0].contains("401"), "{}", d.restarts[0]);
    let stats = sim.stats().account("42").cloned().unwrap();
    assert_eq!((stats.tokens_issued, stats.unauthorized), (2, 1));
    let (truth, _) = truth_ids(&sim, "42", SimApi::ZohoMailAudit, &stream(), w);
    assert_exact(&d, &truth);
    sim.stop().await;
}

#[tokio::test]
async fn throttling_is_rate_limited_and_bad_refresh_tokens_are_permanent() {
    let mut config = frozen_unlimited();
    config.unlimited = false;
    let mut org = busy("7");
    org.requests_per_minute = 3;
    config.zoho_orgs = vec![org];
    let sim = start(config).await;
    let settings = zoho_settings(&sim, "globex", "7");
    let src = source(SourceKind::ZohoMailAudit, &settings);
    let today = sim.now().duration_trunc(Duration::days(1)).unwrap();
    let w = Window::new(today - Duration::days(1), today).unwrap();
    let mut results = Vec::new();
    for _ in 0..5 {
        results.push(src.clone().scan(w).next_page(sim.now()).await.step);
    }
    assert!(results[..3].iter().all(|r| r.is_ok()));
    match &results[3] {
        Err(e @ SourceError::RateLimited(info)) => {
            assert!(
                info.message
                    .as_deref()
                    .unwrap_or("")
                    .contains("too many requests"),
                "{e}"
            );
            assert!(e
                .to_string()
                .contains("tenant globex, source zoho.mail_audit"));
        }
        other => panic!("{other:?}"),
    }

    let creds = trawl_sources::ZohoCredentials {
        zoid: "7".into(),
        client_id: "1000.7".into(),
        client_secret: secrecy::SecretString::from("7-fake-secret"),
        refresh_token: secrecy::SecretString::from("not-the-refresh-token"),
        accounts_base: url::Url::parse(&sim.base_url()).unwrap(),
    };
    let mut bad = settings.clone();
    bad.tokens = std::sync::Arc::new(trawl_sources::TokenCache::zoho(
        bad.tenant.clone(),
        creds,
        client(),
    ));
    let e = source(SourceKind::ZohoMailAudit, &bad)
        .scan(w)
        .next_page(sim.now())
        .await
        .step
        .unwrap_err();
    assert!(e.is_permanent(), "{e}");
    let text = e.to_string();
    assert!(
        text.contains("tenant globex") && text.contains("invalid_code"),
        "{text}"
    );
    assert!(!text.contains("not-the-refresh-token"));
    sim.stop().await;
}

#[test]
fn the_data_center_shorthand_sets_both_hosts() {
    let dc: DataCenter = "uk".parse().unwrap();
    assert_eq!(dc.mail_base().as_str(), "https://mail.zoho.uk/");
    assert_eq!(dc.accounts_base().as_str(), "https://accounts.zoho.uk/");
}
