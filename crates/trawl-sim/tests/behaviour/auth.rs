//! Tokens: issued, accepted, expired on the simulated clock; Zoom's and Zoho's errors.

use super::common::*;
use trawl_sim::SimConfig;

const REPORT: &str = "/v2/report/operationlogs?from=2026-03-10&to=2026-03-10";

#[tokio::test]
async fn zoom_token_works_until_it_expires_then_401_code_124_access_token_is_expired() {
    let fx = Fx::start(config()).await;
    let tok = fx.zoom_token("pro").await;
    assert_eq!(fx.zoom(REPORT, &tok).await.status, 200);
    fx.sim.advance(secs(3599));
    assert_eq!(
        fx.zoom(REPORT, &tok).await.status,
        200,
        "still valid 1 s before expiry"
    );
    fx.sim.advance(secs(1));
    let a = fx.zoom(REPORT, &tok).await;
    assert_eq!(a.status, 401);
    assert_eq!(
        a.json(),
        serde_json::json!({"code": 124, "message": "Access token is expired."})
    );
    let fresh = fx.zoom_token("pro").await;
    assert_eq!(fx.zoom(REPORT, &fresh).await.status, 200);
    let st = fx.sim.stats();
    assert_eq!((st.tokens_issued, st.unauthorized), (2, 1));
    let acct = st.account("pro").unwrap();
    assert_eq!((acct.tokens_issued, acct.unauthorized), (2, 1));
    let a = fx.zoom(REPORT, "not-a-token").await;
    assert_eq!(a.status, 401);
    assert_eq!(a.json()["message"], "Invalid access token.");
    fx.sim.stop().await;
}

#[tokio::test]
async fn zoom_token_endpoint_refuses_bad_credentials_and_query_string_grants() {
    let fx = Fx::start(config()).await;
    let post = |auth: (&str, &str), form: &[(&str, &str)], query: &str| {
        fx.http
            .post(fx.url(&format!("/oauth/token{query}")))
            .basic_auth(auth.0, Some(auth.1))
            .form(form)
            .send()
    };
    let a = Fx::answer(
        post(
            ("pro-client", "wrong"),
            &[("grant_type", "account_credentials"), ("account_id", "pro")],
            "",
        )
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(a.status, 401);
    assert_eq!(a.json()["error"], "invalid_client");
    assert_eq!(a.json()["reason"], "Invalid client_id or client_secret");
    // Parameters in the query string instead of the body (failing since 2024).
    let a = Fx::answer(
        post(
            ("pro-client", "pro-fake-secret"),
            &[],
            "?grant_type=account_credentials&account_id=pro",
        )
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(a.status, 400);
    assert_eq!(a.json()["error"], "unsupported_grant_type");
    let a = Fx::answer(
        post(
            ("pro-client", "pro-fake-secret"),
            &[
                ("grant_type", "account_credentials"),
                ("account_id", "nope"),
            ],
            "",
        )
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(a.status, 400);
    // A token of another account's app never works for this one's credentials.
    let a = Fx::answer(
        post(
            ("biz-client", "biz-fake-secret"),
            &[("grant_type", "account_credentials"), ("account_id", "pro")],
            "",
        )
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(a.status, 401);
    assert_eq!(fx.sim.stats().token_errors, 4);
    fx.sim.stop().await;
}

#[tokio::test]
async fn both_readings_of_zoom_token_replacement() {
    // Current docs: several tokens stay valid.
    let fx = Fx::start(config()).await;
    let (a, b) = (fx.zoom_token("pro").await, fx.zoom_token("pro").await);
    assert_eq!(fx.zoom(REPORT, &a).await.status, 200);
    assert_eq!(fx.zoom(REPORT, &b).await.status, 200);
    fx.sim.stop().await;
    // Older staff answers: a new token invalidates the previous one.
    let fx = Fx::start(SimConfig {
        zoom_new_token_revokes_old: true,
        ..config()
    })
    .await;
    let (a, b) = (fx.zoom_token("pro").await, fx.zoom_token("pro").await);
    assert_eq!(fx.zoom(REPORT, &a).await.status, 401);
    assert_eq!(fx.zoom(REPORT, &b).await.status, 200);
    fx.sim.stop().await;
}

#[tokio::test]
async fn zoho_errors_come_with_http_200_and_ten_tokens_per_ten_minutes() {
    let fx = Fx::start(config()).await;
    let bad = Fx::answer(
        fx.http
            .post(fx.url("/oauth/v2/token"))
            .form(&[
                ("grant_type", "refresh_token"),
                ("client_id", "1000.5001"),
                ("client_secret", "5001-fake-secret"),
                ("refresh_token", "1000.unknown"),
            ])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(bad.status, 200);
    assert_eq!(bad.json(), serde_json::json!({"error": "invalid_code"}));
    // A client id this data center does not know: what a refresh sent to the wrong data
    // center gets.
    let elsewhere = Fx::answer(
        fx.http
            .post(fx.url("/oauth/v2/token"))
            .form(&[
                ("grant_type", "refresh_token"),
                ("client_id", "1000.REGISTERED.IN.ANOTHER.DC"),
                ("client_secret", "x"),
                ("refresh_token", "1000.unknown"),
            ])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(elsewhere.status, 200);
    assert_eq!(
        elsewhere.json(),
        serde_json::json!({"error": "invalid_client"})
    );

    let mut tokens = Vec::new();
    for i in 0..10 {
        let v = fx.zoho_token_answer("5001").await;
        assert_eq!(v["expires_in"], 3600, "token {i}: {v}");
        assert_eq!(v["token_type"], "Bearer");
        assert!(v["api_domain"].is_string());
        tokens.push(v["access_token"].as_str().unwrap().to_string());
        fx.sim.advance(secs(30));
    }
    // 5 minutes in: the 11th within ten minutes is refused, with 200.
    let v = fx.zoho_token_answer("5001").await;
    assert_eq!(v["error"], "Access Denied");
    assert!(v["error_description"]
        .as_str()
        .unwrap()
        .contains("too many requests"));
    // The earlier tokens still work.
    let a = fx.zoho("startTime=0", &tokens[0]).await;
    assert_eq!(a.status, 200, "{}", a.text);
    // Once the first token is ten minutes old, one more may be issued.
    fx.sim.advance(secs(301));
    let fresh = fx.zoho_token("5001").await;
    assert_eq!(fx.zoho("startTime=0", &fresh).await.status, 200);
    // Tokens expire like Zoom's.
    fx.sim.advance(secs(3600));
    let a = fx.zoho("startTime=0", &fresh).await;
    assert_eq!(a.status, 401);
    assert_eq!(a.json()["data"]["errorCode"], "INVALID_OAUTHTOKEN");
    let st = fx.sim.stats();
    assert_eq!(st.account("5001").unwrap().tokens_issued, 11);
    assert_eq!(st.account("5001").unwrap().token_refused, 1);
    fx.sim.stop().await;
}

#[tokio::test]
async fn tokens_of_one_vendor_do_not_open_the_other() {
    let fx = Fx::start(config()).await;
    let zoho = fx.zoho_token("5001").await;
    let zoom = fx.zoom_token("pro").await;
    assert_eq!(fx.zoom(REPORT, &zoho).await.status, 401);
    assert_eq!(fx.zoho("startTime=0", &zoom).await.status, 401);
    // Right token, wrong scheme.
    assert_eq!(
        fx.get("/api/organization/5001/activity", &format!("Bearer {zoho}"))
            .await
            .status,
        401
    );
    fx.sim.stop().await;
}
