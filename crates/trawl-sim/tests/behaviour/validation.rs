//! Parameter validation and refusals, with the vendors' error bodies.

use super::common::*;
use trawl_sim::{HorizonError, SimConfig};

const MAIN: &str = "/v2/report/operationlogs";
const PHONE: &str = "/v2/phone/reports/operationlogs";

fn unlimited() -> SimConfig {
    SimConfig {
        unlimited: true,
        ..config()
    }
}

#[tokio::test]
async fn zoom_window_over_one_month_is_refused() {
    let fx = Fx::start(unlimited()).await;
    let tok = fx.zoom_token("pro").await;
    // Zoom's own sample: 2019-08-14 .. 2019-09-14 is one month.
    let ok = fx
        .zoom(&format!("{MAIN}?from=2026-02-08&to=2026-03-08"), &tok)
        .await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    for path in [MAIN, PHONE] {
        let a = fx
            .zoom(&format!("{path}?from=2026-02-08&to=2026-03-09"), &tok)
            .await;
        assert_eq!(a.status, 400, "{path}");
        assert_eq!(a.json()["code"], 300);
        assert!(a.json()["message"].as_str().unwrap().contains("one month"));
    }
    let a = fx
        .zoom(
            &format!("{PHONE}?from=2026-02-08T00:00:00Z&to=2026-03-08T00:00:01Z"),
            &tok,
        )
        .await;
    assert_eq!(a.status, 400);
    fx.sim.stop().await;
}

#[tokio::test]
async fn older_than_six_months_is_refused_in_both_forms() {
    let mut cfg = unlimited();
    cfg.zoom_accounts[0].horizon_error = HorizonError::Http300;
    cfg.zoom_accounts[1].horizon_error = HorizonError::Http400;
    let fx = Fx::start(cfg).await;
    let (pro, biz) = (fx.zoom_token("pro").await, fx.zoom_token("biz").await);
    // Today is 2026-03-10: 2025-09-10 is the oldest date served.
    let edge = format!("{MAIN}?from=2025-09-10&to=2025-09-11");
    let past = format!("{MAIN}?from=2025-09-09&to=2025-09-11");
    assert_eq!(fx.zoom(&edge, &pro).await.status, 200);
    let a = fx.zoom(&past, &pro).await;
    assert_eq!(a.status, 300);
    assert_eq!(a.text, "Only provide report in recent 6 months");
    let a = fx.zoom(&past, &biz).await;
    assert_eq!(a.status, 400);
    assert_eq!(
        a.json(),
        serde_json::json!({"code": 300, "message": "Only provide report in recent 6 months"})
    );
    // The horizon moves with the simulated clock.
    fx.sim.advance(secs(86_400));
    let pro = fx.zoom_token("pro").await;
    assert_eq!(fx.zoom(&edge, &pro).await.status, 300);
    let a = fx
        .zoom(&format!("{PHONE}?from=2025-09-10&to=2025-09-12"), &pro)
        .await;
    assert_eq!(a.status, 300, "Phone too");
    fx.sim.stop().await;
}

#[tokio::test]
async fn zoom_bad_dates_and_page_sizes() {
    let fx = Fx::start(unlimited()).await;
    let tok = fx.zoom_token("pro").await;
    for q in [
        "from=10/03/2026&to=2026-03-10",
        "from=2026-03-10T00:00:00Z&to=2026-03-10T01:00:00Z",
        "from=2026-03-10",
        "to=2026-03-10",
        "from=2026-03-10&to=2026-03-01",
        "from=2026-03-10&to=2026-03-10&page_size=0",
        "from=2026-03-10&to=2026-03-10&page_size=ten",
        "from=2026-03-10&to=2026-03-10&category_type=meetings",
        "from=2026-03-10&to=2026-03-10&next_page_token=forged",
    ] {
        let a = fx.zoom(&format!("{MAIN}?{q}"), &tok).await;
        assert_eq!(a.status, 400, "{q}: {}", a.text);
        assert_eq!(a.json()["code"], 300, "{q}");
    }
    let a = fx
        .zoom(
            &format!("{MAIN}?from=2026-03-01&to=2026-03-10&page_size=1000"),
            &tok,
        )
        .await;
    assert_eq!(
        a.json()["page_size"],
        300,
        "over the maximum: clamped to 300"
    );
    assert_eq!(a.json()["operation_logs"].as_array().unwrap().len(), 300);
    let a = fx
        .zoom(&format!("{MAIN}?from=2026-03-01&to=2026-03-10"), &tok)
        .await;
    assert_eq!(a.json()["page_size"], 30, "default page size");
    fx.sim.stop().await;
}

#[tokio::test]
async fn phone_takes_dates_or_instants_and_defaults_to_the_last_day() {
    let fx = Fx::start(unlimited()).await;
    let tok = fx.zoom_token("pro").await;
    let (all, _) = fx
        .zoom_all(PHONE, "from=2026-03-09&to=2026-03-09&page_size=300", &tok)
        .await;
    let truth = fx.sim.ground_truth(
        "pro",
        trawl_sim::SimApi::ZoomPhoneOperationLogs,
        day("2026-03-09"),
        day("2026-03-10"),
    );
    assert_eq!(multiset(&all), multiset(&truth));
    // Instants: [from, to] to the second.
    let q = "from=2026-03-09T06:00:00Z&to=2026-03-09T11:59:59Z&page_size=300";
    let (part, _) = fx.zoom_all(PHONE, q, &tok).await;
    let want: Vec<_> = truth
        .iter()
        .filter(|r| {
            let t = r["time"].as_str().unwrap();
            ("2026-03-09T06:00:00Z"..="2026-03-09T11:59:59Z").contains(&t)
        })
        .cloned()
        .collect();
    assert!(!want.is_empty());
    assert_eq!(multiset(&part), multiset(&want));
    // Mixed forms are refused; `to` is required with `from`.
    assert_eq!(
        fx.zoom(
            &format!("{PHONE}?from=2026-03-09&to=2026-03-09T11:00:00Z"),
            &tok
        )
        .await
        .status,
        400
    );
    assert_eq!(
        fx.zoom(&format!("{PHONE}?from=2026-03-09"), &tok)
            .await
            .status,
        400
    );
    // Without from/to: the last 24 hours.
    let (last_day, _) = fx.zoom_all(PHONE, "page_size=300", &tok).await;
    let truth = fx.sim.ground_truth(
        "pro",
        trawl_sim::SimApi::ZoomPhoneOperationLogs,
        t0() - chrono::Duration::hours(24),
        t0() + secs(1),
    );
    assert_eq!(multiset(&last_day), multiset(&truth));
    // Category labels filter.
    let (numbers, _) = fx
        .zoom_all(
            PHONE,
            "from=2026-03-09&to=2026-03-09&category_type=Phone%20Number&page_size=300",
            &tok,
        )
        .await;
    assert!(!numbers.is_empty());
    assert!(numbers.iter().all(|r| r["category_type"] == "Phone Number"));
    fx.sim.stop().await;
}

#[tokio::test]
async fn phone_without_a_phone_plan_is_404_code_124_and_free_has_no_permission() {
    let fx = Fx::start(unlimited()).await;
    let biz = fx.zoom_token("biz").await;
    let a = fx
        .zoom(&format!("{PHONE}?from=2026-03-10&to=2026-03-10"), &biz)
        .await;
    assert_eq!(a.status, 404);
    assert_eq!(a.json()["code"], 124);
    assert!(a.json()["message"]
        .as_str()
        .unwrap()
        .contains("does not exist"));
    assert_eq!(
        fx.zoom(&format!("{MAIN}?from=2026-03-10&to=2026-03-10"), &biz)
            .await
            .status,
        200
    );
    let free = fx.zoom_token("free").await;
    let a = fx
        .zoom(&format!("{MAIN}?from=2026-03-10&to=2026-03-10"), &free)
        .await;
    assert_eq!(a.status, 400);
    assert_eq!(
        a.json(),
        serde_json::json!({"code": 200, "message": "No permission."})
    );
    fx.sim.stop().await;
}

#[tokio::test]
async fn zoho_limit_bounds_and_bad_parameters() {
    let fx = Fx::start(unlimited()).await;
    let tok = fx.zoho_token("5001").await;
    let a = fx.zoho("startTime=0", &tok).await;
    assert_eq!(
        a.json()["data"]["audit"].as_array().unwrap().len(),
        10,
        "default limit 10"
    );
    assert_eq!(
        a.json()["status"],
        serde_json::json!({"code": 200, "description": "success"})
    );
    let a = fx.zoho("limit=200", &tok).await;
    assert_eq!(a.json()["data"]["audit"].as_array().unwrap().len(), 200);
    for q in [
        "limit=0",
        "limit=201",
        "limit=x",
        "startTime=yesterday",
        "startTime=2000&endTime=1000",
        "searchKey=colour:red",
        "lastIndexTime=123",
    ] {
        let a = fx.zoho(q, &tok).await;
        assert_eq!(a.status, 400, "{q}: {}", a.text);
        assert_eq!(a.json()["status"]["code"], 400, "{q}");
        assert!(a.json()["data"]["errorCode"].is_string());
    }
    // A token of this org on another org's path.
    let a = fx
        .get(
            "/api/organization/999/activity",
            &format!("Zoho-oauthtoken {tok}"),
        )
        .await;
    assert_eq!(a.status, 403);
    fx.sim.stop().await;
}
