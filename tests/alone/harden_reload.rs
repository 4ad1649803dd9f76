//! A clean run logs no warning, secrets rotate without a restart, and a bad tenant file
//! holds back only itself (issue 13).
//!
//! One `trawl run` (`run::start`, as the binary, reloading from its config file) with
//! two simulated tenants in `tenants_dir`, the Zoom one's secret in a file:
//! 1. the backfill and a live poll log nothing at WARN or ERROR (the production filter);
//! 2. a wrong secret written to the file fails the running tenant on its next token,
//!    the right one brings it back live (no restart of the process);
//! 3. a broken tenant file appears while another file changes: the change is applied,
//!    the broken file is listed in `/status` and `trawl_config_rejected_files`, and a
//!    tenant whose own file breaks keeps running as it was.

use std::path::Path;
use std::time::Duration;

use trawl::cli::LogFormat;
use trawl::run::{start, StartOptions};
use trawl_engine::status::StreamState;
use trawl_sim::{SimConfig, Simulator};
use trawl_suite::harness::{fleet, sim_toml, wait_all_live, wait_for};
use trawl_suite::ops::{get, sum, LogBuffer};
use trawl_suite::TansuBroker;

fn zoom_file(base: &str, secret_file: &Path, poll: &str) -> String {
    format!(
        "id = \"zoom00\"\nprovider = \"zoom\"\nplan = \"pro\"\nstreams = [\"operation_logs\"]\n\
         account_id = \"zoom00-acct\"\nclient_id = \"zoom00-client\"\n\
         client_secret = {{ file = \"{}\" }}\napi_base = \"{base}\"\noauth_base = \"{base}\"\n\
         poll_interval = \"{poll}\"\n",
        secret_file.display()
    )
}

fn zoho_file(base: &str, poll: &str) -> String {
    format!(
        "id = \"zoho00\"\nprovider = \"zoho\"\nzoid = \"zoho00-acct\"\nclient_id = \"zoho00-client\"\n\
         client_secret = \"zoho00-secret\"\nrefresh_token = \"zoho00-refresh\"\n\
         mail_base = \"{base}\"\naccounts_base = \"{base}\"\npoll_interval = \"{poll}\"\n\
         rate_limits.mail_audit = {{ per_second = 8.0 }}\n"
    )
}

/// Log lines at WARN or ERROR.
fn loud(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap_or_default();
            matches!(v["level"].as_str(), Some("WARN" | "ERROR"))
        })
        .map(str::to_string)
        .collect()
}

#[actix_rt::test]
async fn clean_logs_rotating_secrets_and_bad_tenant_files() {
    // Alone in a process of its own: it reads every log line of the process.
    if !trawl_suite::child::alone(
        module_path!(),
        "clean_logs_rotating_secrets_and_bad_tenant_files",
    ) {
        return;
    }
    let logs = LogBuffer::default();
    let sink = logs.clone();
    trawl::logging::init_to(
        LogFormat::Json,
        "info,librdkafka=warn,rdkafka=warn",
        move || sink.clone(),
    );
    let broker = TansuBroker::start();
    let sim_cfg: SimConfig = toml::from_str(&sim_toml(&fleet(1, 1, 400), 3, "")).unwrap();
    let sim = Simulator::start(sim_cfg, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let base = sim.base_url();
    let dir = tempfile::tempdir().unwrap();
    let tenants = dir.path().join("tenants.d");
    std::fs::create_dir(&tenants).unwrap();
    let secret = dir.path().join("zoom00.secret");
    std::fs::write(&secret, "zoom00-secret\n").unwrap();
    std::fs::write(tenants.join("zoom00.toml"), zoom_file(&base, &secret, "2s")).unwrap();
    std::fs::write(tenants.join("zoho00.toml"), zoho_file(&base, "2s")).unwrap();
    let main = dir.path().join("trawl.toml");
    std::fs::write(
        &main,
        format!(
            "tenants_dir = \"{}\"\n[server]\nlisten = \"127.0.0.1:0\"\n[kafka]\nbrokers = \"{}\"\n\
             partitions = 1\n[defaults]\nbackfill = \"2d\"\nlookback = \"1h\"\n",
            tenants.display(),
            broker.bootstrap()
        ),
    )
    .unwrap();
    let config = trawl::config::load(&main).expect("test config loads");
    let opts = StartOptions {
        reload_from: Some(main.clone()),
        watch_interval: Duration::from_millis(200),
        ..StartOptions::default()
    };
    let trawl = start(config, opts).await.unwrap();
    let addr = trawl.addr();
    let engine = trawl.engine.clone();

    // 1. Backfill, then a live poll of each stream: nothing loud.
    wait_all_live(&engine, 2, Duration::from_secs(180)).await;
    let pages: u64 = engine.status.snapshot().iter().map(|s| s.pages).sum();
    wait_for(
        Duration::from_secs(60),
        "a live poll of each stream",
        || {
            let s = engine.status.snapshot();
            (s.iter().map(|r| r.pages).sum::<u64>() >= pages + 2).then_some(())
        },
    )
    .await;
    // Checked at the end, so the other parts are tested whatever this finds.
    let clean_run = logs.text();

    // 2. Rotation: a wrong secret fails the tenant, the right one brings it back.
    let state_of = |t: &str| {
        engine
            .status
            .snapshot()
            .into_iter()
            .find(|s| s.tenant == t)
            .map(|s| (s.state, s.last_error.unwrap_or_default()))
    };
    std::fs::write(&secret, "zoom00-rotated-wrong\n").unwrap();
    let (_, why) = wait_for(Duration::from_secs(60), "the wrong secret applied", || {
        state_of("zoom00").filter(|(s, _)| *s == StreamState::Failed)
    })
    .await;
    assert!(why.contains("credentials"), "{why}");
    assert!(!why.contains("rotated-wrong"), "{why}");
    std::fs::write(&secret, "zoom00-secret\n").unwrap();
    wait_for(Duration::from_secs(60), "the right secret applied", || {
        state_of("zoom00")
            .filter(|(s, e)| *s == StreamState::Live && e.is_empty())
            .map(|_| ())
    })
    .await;
    assert!(
        !logs.text().contains("rotated-wrong"),
        "a secret in the logs"
    );

    // 3. A broken file beside a changed one: the change applies, the broken file is
    //    reported; then zoom00's own file breaks and it keeps running as it was.
    let broken = tenants.join("broken.toml");
    std::fs::write(&broken, "id = \"broken\"\nprovider = \"teams\"\n").unwrap();
    std::fs::write(tenants.join("zoho00.toml"), zoho_file(&base, "3s")).unwrap();
    let poll_of = |t: &str| {
        sum(
            &engine.metrics.render(),
            "trawl_poll_interval_seconds",
            &[("tenant", t)],
        )
    };
    wait_for(Duration::from_secs(60), "the good change applied", || {
        (poll_of("zoho00") == 3.0).then_some(())
    })
    .await;
    let (code, body) = get(addr, "/status").await;
    assert_eq!(code, 200);
    let status: serde_json::Value = serde_json::from_str(&body).unwrap();
    let summary = status["config"]["last_error"].as_str().unwrap_or_default();
    assert!(
        summary.starts_with("applied without 1 tenant file") && summary.contains("broken.toml"),
        "{summary}"
    );
    let rejected = status["config"]["rejected_files"].as_array().unwrap();
    assert_eq!(rejected.len(), 1, "{rejected:?}");
    assert_eq!(rejected[0]["path"], broken.display().to_string());
    let why = rejected[0]["errors"][0].as_str().unwrap();
    assert!(
        why.contains("provider: unknown provider \"teams\""),
        "{why}"
    );
    let (_, metrics) = get(addr, "/metrics").await;
    assert_eq!(sum(&metrics, "trawl_config_rejected_files", &[]), 1.0);
    assert!(
        sum(
            &metrics,
            "trawl_config_reloads_total",
            &[("result", "applied")]
        ) >= 3.0
    );
    assert!(logs
        .text()
        .lines()
        .any(|l| l.contains("tenant file left out of the reload") && l.contains("broken.toml")));

    std::fs::write(
        tenants.join("zoom00.toml"),
        "id = \"zoom00\"\nprovider = \"zoom\"\n",
    )
    .unwrap();
    wait_for(
        Duration::from_secs(60),
        "zoom00's broken file reported",
        || (trawl.state.reload_info().rejected_files.len() == 2).then_some(()),
    )
    .await;
    assert_eq!(state_of("zoom00").map(|s| s.0), Some(StreamState::Live));
    assert_eq!(poll_of("zoom00"), 2.0);

    trawl.stop().await;
    sim.stop().await;

    let noisy = loud(&clean_run);
    assert!(
        noisy.is_empty(),
        "a clean run logged:\n{}",
        noisy.join("\n")
    );
}
