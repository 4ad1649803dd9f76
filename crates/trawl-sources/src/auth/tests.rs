//! The token cache under tokio's paused clock: caching, refresh before expiry,
//! single-flight, shared failures, 401 invalidation; token answers of both vendors;
//! secrets never shown.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use chrono::{TimeZone, Utc};
use secrecy::SecretString;
use tokio::time::{advance, Duration};

use super::*;
use crate::test_support::{fake_cache, fixture, tenant, FakeGrant};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_token_is_reused_until_a_minute_remains() {
    let grant = FakeGrant::new(Duration::from_secs(3600));
    let calls = grant.calls.clone();
    let cache = fake_cache(grant);
    let first = cache.token(now()).await.unwrap();
    advance(Duration::from_secs(3600 - 61)).await;
    let same = cache.token(now()).await.unwrap();
    assert_eq!(same.serial(), first.serial());
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    advance(Duration::from_secs(2)).await; // 59 s left: refresh
    let next = cache.token(now()).await.unwrap();
    assert_ne!(next.serial(), first.serial());
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_eq!(next.header_value(), "Bearer token-2");
}

#[tokio::test(start_paused = true)]
async fn concurrent_callers_share_one_refresh() {
    let grant = FakeGrant::new(Duration::from_secs(3600));
    let calls = grant.calls.clone();
    let cache = Arc::new(fake_cache(grant));
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let c = cache.clone();
            tokio::spawn(async move { c.token(now()).await.unwrap().serial() })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), 1);
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn waiters_share_a_failed_refresh_instead_of_retrying_it() {
    let grant = FakeGrant::new(Duration::from_secs(3600));
    grant
        .script
        .lock()
        .unwrap()
        .push_back(Err(SourceError::permanent(
            "Zoom rejected the client credentials",
        )));
    let calls = grant.calls.clone();
    let cache = Arc::new(fake_cache(grant));
    let tasks: Vec<_> = (0..5)
        .map(|_| {
            let c = cache.clone();
            tokio::spawn(async move { c.token(now()).await })
        })
        .collect();
    for t in tasks {
        assert!(t.await.unwrap().unwrap_err().is_permanent());
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    // A later call asks again (the credentials may have been fixed).
    assert!(cache.token(now()).await.is_ok());
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn a_401_drops_the_token_once_for_all_streams() {
    let grant = FakeGrant::new(Duration::from_secs(3600));
    let calls = grant.calls.clone();
    let cache = fake_cache(grant);
    let old = cache.token(now()).await.unwrap();
    // Two streams saw a 401 with the same token: one refresh.
    cache.invalidate(&old).await;
    let new = cache.token(now()).await.unwrap();
    cache.invalidate(&old).await;
    assert_eq!(cache.token(now()).await.unwrap().serial(), new.serial());
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_eq!(cache.refreshes(), 2);
}

#[test]
fn zoom_token_answers_are_classified_with_clear_words() {
    let ok =
        zoom::classify_token_answer(&tenant(), 200, &fixture("zoom/oauth_token.json")).unwrap();
    assert_eq!(ok.expires_in, Duration::from_secs(3599));
    assert_eq!(ok.scope.as_deref(), Some("report:read:admin"));
    let e = zoom::classify_token_answer(&tenant(), 401, &fixture("zoom/oauth_invalid_client.json"))
        .unwrap_err();
    assert!(e.is_permanent());
    assert_eq!(e.cause(), crate::Cause::Credentials);
    assert_eq!(
        e.to_string(),
        "Zoom rejected the client credentials of tenant acme: Invalid client_id or client_secret"
    );
    let e = zoom::classify_token_answer(&tenant(), 503, "<html>busy</html>").unwrap_err();
    assert!(e.is_retryable());
    let e = zoom::classify_token_answer(&tenant(), 200, "<html>login</html>").unwrap_err();
    assert!(matches!(e, SourceError::Malformed { .. }));
}

#[test]
fn zoho_token_errors_in_200_bodies_are_recognised() {
    let ok = zoho::classify_token_answer(&tenant(), 200, &fixture("zoho/oauth_token.json"), now());
    assert!(ok.is_ok());
    let e = zoho::classify_token_answer(
        &tenant(),
        200,
        &fixture("zoho/oauth_invalid_code.json"),
        now(),
    )
    .unwrap_err();
    assert!(e.is_permanent(), "{e}");
    assert!(e.to_string().contains("tenant acme") && e.to_string().contains("invalid_code"));
    assert_eq!(e.cause(), crate::Cause::Credentials);
    // A client this data center does not know: the account lives in another one.
    let e = zoho::classify_token_answer(&tenant(), 200, r#"{"error":"invalid_client"}"#, now())
        .unwrap_err();
    assert!(e.is_permanent(), "{e}");
    assert_eq!(e.cause(), crate::Cause::DataCenter);
    assert!(e.to_string().contains("data center"), "{e}");
    let e = zoho::classify_token_answer(
        &tenant(),
        200,
        &fixture("zoho/oauth_access_denied.json"),
        now(),
    )
    .unwrap_err();
    let SourceError::RateLimited(info) = &e else {
        panic!("{e:?}")
    };
    assert_eq!(
        info.retry_after.unwrap().at(),
        now() + chrono::Duration::minutes(10)
    );
    assert!(e.to_string().contains("tenant acme"));
}

#[test]
fn debug_output_never_shows_secrets() {
    let zoom = ZoomCredentials {
        account_id: "acct".into(),
        client_id: "cid".into(),
        client_secret: SecretString::from("hunter2-zoom"),
        oauth_base: url::Url::parse("https://zoom.us").unwrap(),
    };
    let zoho = ZohoCredentials {
        zoid: "1".into(),
        client_id: "cid".into(),
        client_secret: SecretString::from("hunter2-zoho"),
        refresh_token: SecretString::from("hunter2-refresh"),
        accounts_base: url::Url::parse("https://accounts.zoho.eu").unwrap(),
    };
    let text = format!("{zoom:?} {zoho:?}");
    assert!(!text.contains("hunter2"), "{text}");
    assert!(text.contains("[redacted]"));
    let cache = TokenCache::zoom(tenant(), zoom, reqwest::Client::new());
    assert!(!format!("{cache:?}").contains("hunter2"));
}

#[tokio::test(start_paused = true)]
async fn access_tokens_are_redacted_in_debug() {
    let cache = fake_cache(FakeGrant::new(Duration::from_secs(3600)));
    let t = cache.token(now()).await.unwrap();
    assert!(!format!("{t:?}").contains("token-1"));
}

#[tokio::test(start_paused = true)]
async fn tokens_voided_again_and_again_are_refreshed_at_a_bounded_pace() {
    let grant = FakeGrant::new(Duration::from_secs(3600));
    let calls = grant.calls.clone();
    let cache = fake_cache(grant);
    // Another holder of the credentials voids every token right after its issue.
    let mut waited = 0;
    for _ in 0..100 {
        match cache.token(now()).await {
            Ok(t) => cache.invalidate(&t).await,
            Err(e) => {
                assert!(e.is_retryable() && !e.is_permanent(), "{e}");
                assert!(e.to_string().contains("tenant acme"), "{e}");
                waited += 1;
            }
        }
        advance(Duration::from_secs(1)).await;
    }
    let n = calls.load(Ordering::SeqCst);
    assert!((6..=10).contains(&n), "{n} token requests in 100 s");
    assert!(waited > 80);
    // A token that then lives five minutes ends the streak: voided, it is replaced at once.
    advance(MAX_VOID_BACKOFF).await;
    let t = cache.token(now()).await.unwrap();
    advance(VOID_STREAK_RESET).await;
    cache.invalidate(&t).await;
    assert!(cache.token(now()).await.is_ok());
    assert_eq!(calls.load(Ordering::SeqCst), n + 2);
}
