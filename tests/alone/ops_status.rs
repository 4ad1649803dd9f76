//! `/status` and `/readyz` tell the truth, and no secret leaks anywhere.
//!
//! One run of `trawl` (`run::start`, as the binary) with three tenants whose secrets all
//! carry a canary prefix: a Zoom tenant with the right secret (from a file), a Zoho
//! tenant (inline secret and refresh token) and a Zoom tenant whose secret is wrong.
//! `/status` shows the wrong one failed with the reason while the others run; `/readyz`
//! is 200, turns 503 with the reason while the broker is frozen, and 200 again after.
//! Every log line of the run (captured as JSON at debug level, every crate), `/metrics`
//! and `/status` are then searched for the canary: it is nowhere.

use std::time::Duration;

use trawl::cli::LogFormat;
use trawl::run::{start, StartOptions};
use trawl_engine::status::StreamState;
use trawl_sim::{SimConfig, Simulator};
use trawl_suite::harness::wait_for;
use trawl_suite::ops::{get, LogBuffer};
use trawl_suite::KafkaBroker;

const CANARY: &str = "CANARY-9c1e";

fn sim_toml() -> String {
    format!(
        r#"seed = 5
[[zoom_accounts]]
account_id = "good-acct"
client_id = "good-client"
client_secret = "{CANARY}-good"
plan = "pro"
phone = false
records_per_day = 500
history_days = 3
[[zoom_accounts]]
account_id = "badcreds-acct"
client_id = "badcreds-client"
client_secret = "the-right-secret"
plan = "pro"
phone = false
records_per_day = 500
history_days = 3
[[zoho_orgs]]
zoid = "800001"
client_id = "1000.ZORG"
client_secret = "{CANARY}-zoho"
refresh_token = "{CANARY}-refresh"
records_per_day = 500
history_days = 3
requests_per_minute = 600
"#
    )
}

fn trawl_toml(base: &str, brokers: &str, secret_file: &str) -> String {
    format!(
        r#"[server]
listen = "127.0.0.1:0"
[kafka]
brokers = "{brokers}"
partitions = 1
[defaults]
poll_interval = "1h"
backfill = "2d"
lookback = "1h"
[[tenants]]
id = "good"
provider = "zoom"
streams = ["operation_logs"]
plan = "pro"
account_id = "good-acct"
client_id = "good-client"
client_secret = {{ file = "{secret_file}" }}
api_base = "{base}"
oauth_base = "{base}"
[[tenants]]
id = "badcreds"
provider = "zoom"
streams = ["operation_logs"]
plan = "pro"
account_id = "badcreds-acct"
client_id = "badcreds-client"
client_secret = "{CANARY}-wrong"
api_base = "{base}"
oauth_base = "{base}"
[[tenants]]
id = "zorg"
provider = "zoho"
zoid = "800001"
client_id = "1000.ZORG"
client_secret = "{CANARY}-zoho"
refresh_token = "{CANARY}-refresh"
mail_base = "{base}"
accounts_base = "{base}"
rate_limits.mail_audit = {{ per_second = 8.0 }}
"#
    )
}

/// Polls `path` until its status is `code`, or fails after `timeout`.
async fn wait_status(addr: std::net::SocketAddr, path: &str, code: u16) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (c, body) = get(addr, path).await;
        if c == code {
            return body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{path} stayed {c} (wanted {code}): {body}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[actix_rt::test]
async fn status_and_readiness_tell_the_truth_and_no_secret_leaks() {
    // Alone in a process of its own: it reads every log line of the process.
    if !trawl_suite::child::alone(
        module_path!(),
        "status_and_readiness_tell_the_truth_and_no_secret_leaks",
    ) {
        return;
    }
    let logs = LogBuffer::default();
    let sink = logs.clone();
    trawl::logging::init_to(LogFormat::Json, "debug", move || sink.clone());

    // Its own broker: it is frozen.
    let broker = KafkaBroker::start();
    let sim_cfg: SimConfig = toml::from_str(&sim_toml()).unwrap();
    let sim = Simulator::start(sim_cfg, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let secret_file = dir.path().join("good.secret");
    std::fs::write(&secret_file, format!("{CANARY}-good\n")).unwrap();
    let toml = trawl_toml(
        &sim.base_url(),
        &broker.bootstrap(),
        secret_file.to_str().unwrap(),
    );
    let config = trawl::config::load_str(&toml).expect("test config loads");
    assert!(
        !format!("{config:?}").contains(CANARY),
        "Debug of the config"
    );
    let trawl = start(config, StartOptions::default()).await.unwrap();
    let addr = trawl.addr();
    assert_eq!(get(addr, "/healthz").await.0, 200);

    wait_for(
        Duration::from_secs(120),
        "good streams live, bad one failed",
        || {
            let s = trawl.engine.status.snapshot();
            let state = |t: &str| s.iter().find(|r| r.tenant == t).map(|r| r.state);
            (state("good") == Some(StreamState::Live)
                && state("zorg") == Some(StreamState::Live)
                && state("badcreds") == Some(StreamState::Failed))
            .then_some(())
        },
    )
    .await;

    // /status: every stream with its state, and the reason of the failed one.
    let (code, status_body) = get(addr, "/status").await;
    assert_eq!(code, 200);
    let status: serde_json::Value = serde_json::from_str(&status_body).unwrap();
    assert_eq!(status["engine_running"], true);
    let streams = status["streams"].as_array().unwrap();
    assert_eq!(streams.len(), 3);
    let stream = |t: &str| streams.iter().find(|s| s["tenant"] == t).unwrap();
    let bad = stream("badcreds");
    assert_eq!(bad["state"], "failed");
    assert_eq!(bad["source"], "zoom.operation_logs");
    let reason = bad["last_error"]
        .as_str()
        .expect("a failed stream has a reason");
    println!("badcreds failed: {reason}");
    assert!(
        reason.to_lowercase().contains("credential")
            || reason.contains("401")
            || reason.to_lowercase().contains("invalid"),
        "the reason names the credentials: {reason}"
    );
    for t in ["good", "zorg"] {
        let s = stream(t);
        assert_eq!(s["state"], "live");
        assert!(s["last_error"].is_null(), "{s}");
        assert!(
            s["watermark"].is_string() && s["next_poll"].is_string(),
            "{s}"
        );
        assert!(s["pages"].as_u64().unwrap() > 0 && s["events"].as_u64().unwrap() > 0);
        assert!(s["lag_seconds"].as_i64().unwrap() <= 3600);
    }
    let limiters = status["limiters"].as_array().unwrap();
    assert!(
        limiters
            .iter()
            .any(|l| l["name"] == "good/zoom/Heavy" && l["quota"]["rate"].as_f64().unwrap() > 0.0),
        "{limiters:?}"
    );

    // /readyz: ready; not ready while the broker is frozen, with the reason; ready again.
    let body = wait_status(addr, "/readyz", 200).await;
    assert!(body.contains("\"ready\":true"), "{body}");
    broker.pause();
    let body = wait_status(addr, "/readyz", 503).await;
    broker.resume();
    let not_ready: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(not_ready["ready"], false);
    assert!(
        not_ready["reasons"][0]
            .as_str()
            .unwrap()
            .contains("Kafka not reachable"),
        "{body}"
    );
    wait_status(addr, "/readyz", 200).await;

    // The canary is nowhere: logs, /metrics, /status.
    let (_, metrics) = get(addr, "/metrics").await;
    let (_, status_body) = get(addr, "/status").await;
    trawl.stop().await;
    sim.stop().await;
    let text = logs.text();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.len() > 20, "logs were captured: {}", lines.len());
    assert!(text.contains("badcreds"), "the failure was logged");
    for (what, body) in [
        ("logs", &text),
        ("/metrics", &metrics),
        ("/status", &status_body),
    ] {
        let hits: Vec<&str> = body.lines().filter(|l| l.contains(CANARY)).collect();
        assert!(hits.is_empty(), "a secret in {what}: {hits:#?}");
    }
    check_log_fields(&lines);
}

/// Every line is one JSON object; every trawl line that names a tenant has the `tenant`
/// field, and every fetcher line `tenant` and `source`.
fn check_log_fields(lines: &[&str]) {
    let mut about_streams = 0;
    for line in lines {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        let target = v["target"].as_str().unwrap_or("");
        if v.get("tenant").is_some() {
            about_streams += 1;
        } else if target.starts_with("trawl") && !target.starts_with("trawl_sim") {
            // A trawl line that names a tenant must carry it as a field.
            let names_one = ["badcreds", "zorg", "good/", "\"good\""]
                .iter()
                .any(|t| line.contains(t));
            assert!(!names_one, "a line about a tenant without `tenant`: {line}");
        }
        if target.starts_with("trawl_engine::fetch") {
            assert!(
                v.get("tenant").is_some() && v.get("source").is_some(),
                "a fetcher line without tenant and source: {line}"
            );
        }
    }
    assert!(about_streams > 3, "lines carry tenant fields");
}
