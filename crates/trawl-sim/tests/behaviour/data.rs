//! The data: deterministic from the seed, realistic in shape, cheap for big fleets, and
//! visible through `/_sim/` as through the handle.

use super::common::*;
use chrono::Duration;
use serde_json::Value;
use trawl_sim::{Plan, SimApi, SimConfig, ZoomAccount};

fn truth(fx: &Fx, api: SimApi, account: &str) -> Vec<Value> {
    fx.sim
        .ground_truth(account, api, day("2026-02-20"), day("2026-03-11"))
}

#[tokio::test]
async fn same_config_same_records_other_seed_other_records() {
    let a = Fx::start(config()).await;
    let b = Fx::start(config()).await;
    let c = Fx::start(SimConfig {
        seed: 12,
        ..config()
    })
    .await;
    for (api, acct) in [
        (SimApi::ZoomOperationLogs, "pro"),
        (SimApi::ZoomPhoneOperationLogs, "pro"),
        (SimApi::ZohoMailAudit, "5001"),
    ] {
        let (ta, tb, tc) = (
            truth(&a, api, acct),
            truth(&b, api, acct),
            truth(&c, api, acct),
        );
        assert!(!ta.is_empty());
        assert_eq!(ta, tb, "{api:?}");
        assert_ne!(ta, tc, "{api:?}");
    }
    // Asking in another order does not change the answer.
    let late_first = b.sim.ground_truth(
        "pro",
        SimApi::ZoomOperationLogs,
        day("2026-03-05"),
        day("2026-03-06"),
    );
    let whole = truth(&a, SimApi::ZoomOperationLogs, "pro");
    let slice: Vec<Value> = whole
        .iter()
        .filter(|r| r["time"].as_str().unwrap().starts_with("2026-03-05"))
        .cloned()
        .collect();
    assert_eq!(late_first, slice);
    for fx in [a, b, c] {
        fx.sim.stop().await;
    }
}

#[tokio::test]
async fn records_look_like_the_vendors() {
    let fx = Fx::start(config()).await;
    let zoom = truth(&fx, SimApi::ZoomOperationLogs, "pro");
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(
        keys(&zoom[0]),
        [
            "action",
            "category_type",
            "operation_detail",
            "operator",
            "time"
        ]
    );
    assert!(zoom.iter().all(|r| r["time"].as_str().unwrap().len() == 20));
    let details: Vec<&str> = zoom
        .iter()
        .map(|r| r["operation_detail"].as_str().unwrap())
        .collect();
    assert!(
        details.iter().any(|d| d.contains("&quot;")) && details.iter().any(|d| d.contains("&amp;"))
    );
    assert!(details.iter().any(|d| d.contains('@')));
    for action in ["Add", "Update", "Delete"] {
        assert!(zoom.iter().any(|r| r["action"] == action));
    }
    let phone = truth(&fx, SimApi::ZoomPhoneOperationLogs, "pro");
    for cat in ["Phone Number", "Device", "Call Queue"] {
        assert!(phone.iter().any(|r| r["category_type"] == cat), "{cat}");
    }
    assert!(phone
        .iter()
        .any(|r| r["operation_detail"].as_str().unwrap().contains("+1 ")));
    let zoho = truth(&fx, SimApi::ZohoMailAudit, "5001");
    for field in [
        "requestTime",
        "performedBy",
        "performedOn",
        "clientIp",
        "mainCategory",
        "category",
        "subCategory",
        "operation",
        "operationType",
        "status",
        "auditLogType",
        "type",
        "data",
    ] {
        assert!(zoho[0].get(field).is_some(), "{field}");
    }
    // Before the history window there is nothing.
    assert!(fx
        .sim
        .ground_truth(
            "pro",
            SimApi::ZoomOperationLogs,
            day("2025-12-01"),
            day("2026-02-01")
        )
        .is_empty());
    fx.sim.stop().await;
}

#[tokio::test]
async fn introspection_over_http_matches_the_handle() {
    let fx = Fx::start(config()).await;
    let url = fx.url("/_sim/ground_truth?account=pro&api=zoom_operation_logs&from=2026-03-09T00:00:00Z&to=2026-03-10T00:00:00Z");
    let over_http: Vec<Value> = fx.http.get(url).send().await.unwrap().json().await.unwrap();
    assert_eq!(
        over_http,
        fx.sim.ground_truth(
            "pro",
            SimApi::ZoomOperationLogs,
            day("2026-03-09"),
            day("2026-03-10")
        )
    );
    let r = fx
        .http
        .post(fx.url("/_sim/inject"))
        .json(&serde_json::json!({"account": "pro", "api": "zoom_operation_logs", "n": 3}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let now = fx.sim.now();
    assert_eq!(
        fx.sim
            .ground_truth(
                "pro",
                SimApi::ZoomOperationLogs,
                now,
                now + Duration::seconds(1)
            )
            .len(),
        3
    );
    let r: Value = fx
        .http
        .post(fx.url("/_sim/advance?seconds=90"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        r["now"],
        serde_json::to_value(t0() + Duration::seconds(90)).unwrap()
    );
    let stats: Value = fx
        .http
        .get(fx.url("/_sim/stats"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(stats["limits"].is_array() && stats["faults"].is_object());
    fx.sim.stop().await;
}

#[tokio::test]
async fn a_fleet_of_ten_thousand_accounts_starts_and_serves() {
    let accounts: Vec<ZoomAccount> = (0..10_000)
        .map(|i| ZoomAccount::new(&format!("acct-{i:05}"), Plan::Pro, i % 2 == 0))
        .collect();
    let fx = Fx::start(SimConfig {
        zoom_accounts: accounts,
        ..config()
    })
    .await;
    for acct in ["acct-00000", "acct-09999"] {
        let tok = fx.zoom_token(acct).await;
        let a = fx
            .zoom(
                "/v2/report/operationlogs?from=2026-03-10&to=2026-03-10",
                &tok,
            )
            .await;
        assert_eq!(a.status, 200);
    }
    fx.sim.stop().await;
}

#[test]
fn starts_and_stops_inside_an_actix_system() {
    actix_rt::System::new().block_on(async {
        let fx = Fx::start(config()).await;
        let tok = fx.zoom_token("biz").await;
        let a = fx
            .zoom(
                "/v2/report/operationlogs?from=2026-03-10&to=2026-03-10",
                &tok,
            )
            .await;
        assert_eq!(a.status, 200);
        let addr = fx.sim.addr();
        fx.sim.stop().await;
        assert!(
            std::net::TcpStream::connect(addr).is_err(),
            "stopped means closed"
        );
    });
}

#[tokio::test]
async fn the_example_config_plays_its_three_zoom_accounts_and_zoho_org() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../config/sim.example.toml");
    let mut cfg = SimConfig::from_toml_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    cfg.clock = config().clock;
    let fx = Fx::start(cfg).await;
    let token = |id: &str, secret: &str| {
        let req = fx
            .http
            .post(fx.url("/oauth/token"))
            .basic_auth(format!("{id}-client"), Some(secret.to_string()))
            .form(&[
                ("grant_type", "account_credentials"),
                ("account_id", &format!("{id}-acct")),
            ]);
        async move {
            Fx::answer(req.send().await.unwrap()).await.json()["access_token"]
                .as_str()
                .unwrap()
                .to_string()
        }
    };
    let q = "?from=2026-03-10&to=2026-03-10";
    let free = token("free", "fake-free-secret").await;
    assert_eq!(
        fx.zoom(&format!("/v2/report/operationlogs{q}"), &free)
            .await
            .json()["code"],
        200
    );
    let pro = token("pro", "fake-pro-secret").await;
    assert_eq!(
        fx.zoom(&format!("/v2/phone/reports/operationlogs{q}"), &pro)
            .await
            .status,
        200
    );
    let biz = token("biz", "fake-biz-secret").await;
    assert_eq!(
        fx.zoom(&format!("/v2/phone/reports/operationlogs{q}"), &biz)
            .await
            .status,
        404
    );
    assert_eq!(
        fx.zoom(&format!("/v2/report/operationlogs{q}"), &biz)
            .await
            .status,
        200
    );
    fx.sim.stop().await;
}

#[tokio::test]
async fn some_records_come_with_a_time_nobody_can_read_in_the_truth_too() {
    let mut cfg = config();
    cfg.unlimited = true;
    cfg.data.unparseable_share = 0.05;
    let fx = Fx::start(cfg).await;
    let tok = fx.zoom_token("pro").await;
    let (got, _) = fx
        .zoom_all(
            "/v2/report/operationlogs",
            "from=2026-03-01&to=2026-03-09&page_size=300",
            &tok,
        )
        .await;
    let bad = |v: &[Value], field: &str| v.iter().filter(|r| r[field] == "a while ago").count();
    let truth = fx.sim.ground_truth(
        "pro",
        SimApi::ZoomOperationLogs,
        day("2026-03-01"),
        day("2026-03-10"),
    );
    assert_eq!(multiset(&got), multiset(&truth));
    assert!(bad(&got, "time") > 10, "{}", bad(&got, "time"));
    assert_eq!(bad(&got, "time"), bad(&truth, "time"));
    let tok = fx.zoho_token("5001").await;
    let zoho = fx.zoho_all("startTime=0", 200, &tok).await;
    assert!(bad(&zoho, "requestTime") > 5);
    fx.sim.stop().await;
}
