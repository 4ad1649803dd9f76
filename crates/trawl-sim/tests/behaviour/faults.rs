//! Faults on demand, switched at run time: 5xx, HTML pages, malformed bodies, dropped
//! connections, latency and slow bodies.

use std::time::{Duration, Instant};

use super::common::*;
use serde_json::Value;
use trawl_sim::{Faults, SimConfig};

const MAIN: &str = "/v2/report/operationlogs?from=2026-03-10&to=2026-03-10&page_size=5";

async fn fx() -> (Fx, String) {
    let fx = Fx::start(SimConfig {
        unlimited: true,
        ..config()
    })
    .await;
    let tok = fx.zoom_token("pro").await;
    (fx, tok)
}

#[tokio::test]
async fn server_errors_and_html_pages_on_demand() {
    let (fx, tok) = fx().await;
    fx.sim.set_faults(Faults {
        server_error_rate: 1.0,
        ..Faults::default()
    });
    for _ in 0..8 {
        let a = fx.zoom(MAIN, &tok).await;
        assert!([500, 502, 503, 504].contains(&a.status), "{}", a.status);
        assert_eq!(a.json()["code"], a.status);
    }
    fx.sim.set_faults(Faults {
        html_error_rate: 1.0,
        ..Faults::default()
    });
    let a = fx.zoom(MAIN, &tok).await;
    assert!([502, 503].contains(&a.status));
    assert!(a.header("content-type").unwrap().starts_with("text/html"));
    assert!(a.text.to_lowercase().contains("<html>"));
    fx.sim.set_faults(Faults::default());
    assert_eq!(fx.zoom(MAIN, &tok).await.status, 200);
    let f = fx.sim.stats().faults;
    assert_eq!((f.server_error, f.html_error), (8, 1));
    fx.sim.stop().await;
}

#[tokio::test]
async fn malformed_bodies_are_truncated_or_the_wrong_shape() {
    let (fx, tok) = fx().await;
    fx.sim.set_faults(Faults {
        malformed_rate: 1.0,
        ..Faults::default()
    });
    let (mut truncated, mut wrong_shape) = (0, 0);
    for _ in 0..20 {
        let a = fx.zoom(MAIN, &tok).await;
        assert_eq!(a.status, 200, "malformed bodies come with 200");
        match serde_json::from_str::<Value>(&a.text) {
            Err(_) => truncated += 1,
            Ok(v) => {
                assert!(!v["operation_logs"].is_array(), "never a valid page: {v}");
                wrong_shape += 1;
            }
        }
    }
    assert!(
        truncated > 0 && wrong_shape > 0,
        "{truncated} {wrong_shape}"
    );
    assert_eq!(fx.sim.stats().faults.malformed, 20);
    fx.sim.stop().await;
}

#[tokio::test]
async fn dropped_connections_fail_the_request() {
    let (fx, tok) = fx().await;
    fx.sim.set_faults(Faults {
        dropped_connection_rate: 1.0,
        ..Faults::default()
    });
    for _ in 0..3 {
        let sent = fx.http.get(fx.url(MAIN)).bearer_auth(&tok).send().await;
        let failed = match sent {
            Err(_) => true,
            Ok(resp) => resp.bytes().await.is_err(),
        };
        assert!(failed, "the answer never completes");
    }
    fx.sim.set_faults(Faults::default());
    assert_eq!(
        fx.zoom(MAIN, &tok).await.status,
        200,
        "the simulator keeps serving"
    );
    assert_eq!(fx.sim.stats().faults.dropped_connection, 3);
    fx.sim.stop().await;
}

#[tokio::test]
async fn latency_and_slow_bodies() {
    let (fx, tok) = fx().await;
    fx.sim.set_faults(Faults {
        latency_ms: 150,
        jitter_ms: 50,
        ..Faults::default()
    });
    let t = Instant::now();
    assert_eq!(fx.zoom(MAIN, &tok).await.status, 200);
    assert!(t.elapsed() >= Duration::from_millis(150));
    fx.sim.set_faults(Faults {
        slow_body_rate: 1.0,
        slow_body_chunk_delay_ms: 40,
        ..Faults::default()
    });
    let t = Instant::now();
    let a = fx.zoom(MAIN, &tok).await;
    assert_eq!(a.status, 200);
    assert!(a.json()["operation_logs"].is_array(), "slow, but whole");
    assert!(t.elapsed() >= Duration::from_millis(8 * 40));
    // A client with a short timeout gives up on it.
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(100))
        .build()
        .unwrap();
    let r = impatient.get(fx.url(MAIN)).bearer_auth(&tok).send().await;
    let failed = match r {
        Err(_) => true,
        Ok(resp) => resp.bytes().await.is_err(),
    };
    assert!(failed);
    let f = fx.sim.stats().faults;
    assert!(f.delayed >= 1 && f.slow_body >= 2);
    fx.sim.stop().await;
}

#[tokio::test]
async fn faults_change_over_http_and_spare_the_token_endpoints() {
    let (fx, tok) = fx().await;
    let resp = fx
        .http
        .post(fx.url("/_sim/faults"))
        .json(&serde_json::json!({"server_error_rate": 1.0}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(fx.zoom(MAIN, &tok).await.status >= 500);
    // OAuth is spared unless include_oauth.
    let _ = fx.zoom_token("pro").await;
    let bad = fx
        .http
        .post(fx.url("/_sim/faults"))
        .json(&serde_json::json!({"server_error_rate": 2.0}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    fx.sim.stop().await;
}
