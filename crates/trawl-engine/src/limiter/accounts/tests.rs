//! Buckets are keyed by account: tenants naming one account share them (one pace, one
//! day's count); a reload keeps a bucket that is still used; unused ones go.

use std::time::Duration;

use chrono::{TimeZone, Utc};
use secrecy::SecretString;
use tokio::time::Instant;
use trawl_model::Plan;
use trawl_sources::{TenantAccess, ZoomCredentials};

use super::*;
use crate::config::StreamSettings;
use crate::limiter::Priority;

fn zoom_tenant(id: &str, account: &str) -> TenantSpec {
    TenantSpec {
        id: TenantId::new(id).unwrap(),
        streams: vec![SourceKind::ZoomOperationLogs],
        plan: Plan::Pro,
        access: TenantAccess::Zoom {
            credentials: ZoomCredentials {
                account_id: account.into(),
                client_id: format!("{id}-client"),
                client_secret: SecretString::from("s"),
                oauth_base: "https://zoom.us".parse().unwrap(),
            },
            api_base: "https://api.zoom.us".parse().unwrap(),
            category_type: None,
        },
        settings: StreamSettings::default(),
        rate_limits: BTreeMap::new(),
    }
}

fn accounts() -> Accounts {
    let clock = Clock::following_tokio(Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap());
    Accounts::new(clock, Arc::new(Metrics::new(true)), Vec::new())
}

fn key_of(t: &TenantSpec) -> StreamKey {
    StreamKey::new(t.id.clone(), SourceKind::ZoomOperationLogs)
}

async fn take(accounts: &Accounts, t: &TenantSpec, n: usize) {
    let h = accounts
        .limiter(&t.access.account(), LimitKey::ZOOM_HEAVY)
        .unwrap();
    for _ in 0..n {
        h.acquire(&key_of(t), Priority::Backfill)
            .await
            .unwrap()
            .answered();
    }
}

#[actix::test]
async fn tenants_naming_one_account_share_its_bucket() {
    tokio::time::pause();
    let (a, b, other) = (
        zoom_tenant("a", "acct-1"),
        zoom_tenant("b", "acct-1"),
        zoom_tenant("c", "acct-2"),
    );
    let mut reg = accounts();
    reg.apply([&a, &b, &other]);

    let states = reg.states().await;
    let names: Vec<(&str, &str)> = states
        .iter()
        .map(|(n, s)| (n.as_str(), s.bucket.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            ("a/zoom/Heavy", "zoom:acct-1/zoom/Heavy"),
            ("b/zoom/Heavy", "zoom:acct-1/zoom/Heavy"),
            ("c/zoom/Heavy", "zoom:acct-2/zoom/Heavy"),
        ]
    );

    // Pro: 10 requests a second (times the safety margin) for the account, whichever
    // tenant asks: 21 permits over both tenants take 20 intervals, not 10.
    let start = Instant::now();
    futures::join!(take(&reg, &a, 11), take(&reg, &b, 10));
    let took = start.elapsed().as_secs_f64();
    assert!(
        (2.0..2.2).contains(&took),
        "21 permits of one account took {took} s"
    );
    // Another account has its own bucket: 10 permits right away at its own pace.
    let start = Instant::now();
    take(&reg, &other, 10).await;
    assert!(start.elapsed() < Duration::from_secs(1));

    let used = |states: &[(String, LimiterState)], name: &str| {
        states
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, s)| s.state.used_today)
    };
    assert_eq!(
        used(&reg.states().await, "b/zoom/Heavy"),
        Some(21),
        "one day's count"
    );

    // A reload that changes tenant b keeps the account's bucket and its day; a tenant
    // that goes takes its name off it; an account nobody names any more loses its bucket.
    let mut b2 = b.clone();
    b2.settings.quota_share = 0.5;
    reg.apply([&a, &b2]);
    let states = reg.states().await;
    assert_eq!(used(&states, "a/zoom/Heavy"), Some(21));
    let shared = &states[0].1.state;
    assert!(
        (shared.ceiling - 5.0 * crate::limiter::bucket::SAFETY).abs() < 1e-9,
        "{shared:?}"
    );
    assert!(reg
        .limiter(&other.access.account(), LimitKey::ZOOM_HEAVY)
        .is_none());
    reg.apply([&b2]);
    assert_eq!(reg.states().await.len(), 1);
    reg.apply([]);
    assert!(reg.states().await.is_empty());
}
