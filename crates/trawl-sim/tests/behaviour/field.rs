//! What the field reports beyond the docs: tokens voided by another holder of the same
//! app credentials, tokens missing a scope, the three answers of an account without Zoom
//! Phone (and a plan bought while running), and 429s whose headers lie or are missing.

use super::common::*;
use chrono::Duration;
use trawl_sim::{
    LimitHeaders, LimitOverrides, NoPhone, RetryAfterFormat, SimApi, SimConfig, VoidMessage,
};

const REPORT: &str = "/v2/report/operationlogs?from=2026-03-10&to=2026-03-10";
const PHONE: &str = "/v2/phone/reports/operationlogs?from=2026-03-10&to=2026-03-10";

#[tokio::test]
async fn another_holder_voids_tokens_again_and_again() {
    let mut cfg = config();
    cfg.zoom_accounts[0].void_tokens_every_secs = 600;
    cfg.zoom_accounts[0].void_message = VoidMessage::Expired;
    let fx = Fx::start(cfg).await;
    let tok = fx.zoom_token("pro").await;
    assert_eq!(fx.zoom(REPORT, &tok).await.status, 200);
    fx.sim.advance(secs(600));
    let a = fx.zoom(REPORT, &tok).await;
    assert_eq!(a.status, 401);
    assert_eq!(
        a.json(),
        serde_json::json!({"code": 124, "message": "Access token is expired."}),
        "voided long before its hour is up"
    );
    let fresh = fx.zoom_token("pro").await;
    assert_eq!(fx.zoom(REPORT, &fresh).await.status, 200);
    fx.sim.advance(secs(599));
    assert_eq!(fx.zoom(REPORT, &fresh).await.status, 200);
    fx.sim.advance(secs(1));
    assert_eq!(fx.zoom(REPORT, &fresh).await.status, 401, "and again");
    fx.sim.stop().await;

    // At any moment, by request.
    let fx = Fx::start(config()).await;
    let tok = fx.zoom_token("pro").await;
    let other = fx.zoom_token("biz").await;
    fx.sim.advance(secs(1));
    let r = fx
        .http
        .post(fx.url("/_sim/void_tokens?account=pro"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let a = fx.zoom(REPORT, &tok).await;
    assert_eq!(
        (a.status, a.json()["message"].as_str()),
        (401, Some("Invalid access token."))
    );
    assert_eq!(
        fx.zoom(REPORT, &other).await.status,
        200,
        "other accounts keep theirs"
    );
    let fresh = fx.zoom_token("pro").await;
    assert_eq!(fx.zoom(REPORT, &fresh).await.status, 200);
    assert!(fx.sim.void_tokens("pro"));
    assert_eq!(
        fx.zoom(REPORT, &fresh).await.status,
        200,
        "issued in the same instant"
    );
    fx.sim.stop().await;
}

#[tokio::test]
async fn a_token_without_the_scope_answers_4711_naming_it() {
    let mut cfg = config();
    cfg.zoom_accounts[0].missing_scopes = vec![
        "report:read:admin".into(),
        "report:read:operation_logs:admin".into(),
    ];
    let fx = Fx::start(cfg).await;
    let tok = fx.zoom_token("pro").await;
    let a = fx.zoom(REPORT, &tok).await;
    assert_eq!(a.status, 400);
    assert_eq!(a.json()["code"], 4711);
    assert_eq!(
        a.json()["message"],
        "Invalid access token, does not contain scopes:[report:read:admin, report:read:operation_logs:admin]."
    );
    // The Phone scopes are there.
    assert_eq!(fx.zoom(PHONE, &tok).await.status, 200);
    // One of the two scopes is enough.
    let mut cfg = config();
    cfg.zoom_accounts[0].missing_scopes = vec!["report:read:admin".into()];
    let fx2 = Fx::start(cfg).await;
    let tok = fx2.zoom_token("pro").await;
    assert_eq!(fx2.zoom(REPORT, &tok).await.status, 200);
    assert!(SimConfig {
        zoom_accounts: vec![trawl_sim::ZoomAccount {
            missing_scopes: vec!["meeting:read".into()],
            ..trawl_sim::ZoomAccount::new("x", trawl_sim::Plan::Pro, false)
        }],
        ..config()
    }
    .validate()
    .is_err());
    fx.sim.stop().await;
    fx2.sim.stop().await;
}

#[tokio::test]
async fn no_phone_in_three_forms_and_a_plan_bought_while_running() {
    for (form, status, code) in [
        (NoPhone::NotFound, 404, 124),
        (NoPhone::Forbidden, 403, 2031),
        (NoPhone::NotEnrolled, 400, 300),
    ] {
        let mut cfg = config();
        cfg.zoom_accounts[1].no_phone = form;
        cfg.zoom_accounts[1].phone_records_per_day = 80;
        let fx = Fx::start(cfg).await;
        let tok = fx.zoom_token("biz").await;
        let a = fx.zoom(PHONE, &tok).await;
        assert_eq!(
            (a.status, a.json()["code"].as_i64()),
            (status, Some(code)),
            "{form:?}"
        );
        let none = fx.sim.ground_truth(
            "biz",
            SimApi::ZoomPhoneOperationLogs,
            day("2026-03-01"),
            day("2026-03-11"),
        );
        assert!(none.is_empty());
        let r = fx
            .http
            .post(fx.url("/_sim/phone?account=biz&enabled=true"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let a = fx.zoom(PHONE, &tok).await;
        assert_eq!(a.status, 200, "{form:?}: {}", a.text);
        let truth = fx.sim.ground_truth(
            "biz",
            SimApi::ZoomPhoneOperationLogs,
            day("2026-03-10"),
            day("2026-03-11"),
        );
        assert!(!truth.is_empty());
        assert_eq!(a.json()["total_records"], truth.len());
        assert!(fx.sim.set_phone("biz", false));
        assert_eq!(fx.zoom(PHONE, &tok).await.status, status);
        fx.sim.stop().await;
    }
}

async fn first_429(fx: &Fx, tok: &str, path: &str) -> Answer {
    loop {
        let a = fx.zoom(path, tok).await;
        if a.status == 429 {
            return a;
        }
    }
}

#[tokio::test]
async fn retry_after_far_in_the_future_or_not_a_time() {
    for (format, check) in [
        (RetryAfterFormat::FarFuture, "2031-"),
        (RetryAfterFormat::Unparseable, "after the storm"),
    ] {
        let mut cfg = config();
        cfg.rate_limits.retry_after = format;
        let fx = Fx::start(cfg).await;
        let tok = fx.zoom_token("pro").await;
        let a = first_429(&fx, &tok, REPORT).await;
        assert!(
            a.header("Retry-After").unwrap().starts_with(check),
            "{format:?}"
        );
        // The limit itself ends when it ends.
        fx.sim.advance(secs(1));
        assert_eq!(fx.zoom(REPORT, &tok).await.status, 200);
        fx.sim.stop().await;
    }
}

#[tokio::test]
async fn daily_429s_without_type_or_retry_and_qps_429s_without_any_header() {
    let mut cfg = config();
    cfg.zoom_accounts[0].limits = LimitOverrides {
        daily: Some(3),
        ..LimitOverrides::default()
    };
    cfg.rate_limits.daily_headers = LimitHeaders::ForeignRemaining;
    cfg.rate_limits.qps_headers = LimitHeaders::None;
    let fx = Fx::start(cfg).await;
    let tok = fx.zoom_token("pro").await;
    for _ in 0..3 {
        assert_eq!(fx.zoom(REPORT, &tok).await.status, 200);
    }
    let a = fx.zoom(REPORT, &tok).await;
    assert_eq!(a.status, 429);
    assert!(a.json()["message"].as_str().unwrap().contains("daily"));
    assert!(a.header("X-RateLimit-Type").is_none() && a.header("Retry-After").is_none());
    assert_eq!(
        a.header("X-RateLimit-Remaining"),
        Some("8"),
        "another limit's count"
    );
    // Per second: the Phone bucket (5/s) with no headers at all.
    let a = first_429(&fx, &tok, PHONE).await;
    assert!(a.json()["message"].as_str().unwrap().contains("per-second"));
    for h in [
        "X-RateLimit-Category",
        "X-RateLimit-Type",
        "Retry-After",
        "X-RateLimit-Limit",
    ] {
        assert!(a.header(h).is_none(), "{h}");
    }
    fx.sim.advance(Duration::hours(13));
    let tok = fx.zoom_token("pro").await;
    assert_eq!(fx.zoom(REPORT, &tok).await.status, 200, "a new UTC day");
    fx.sim.stop().await;
}
