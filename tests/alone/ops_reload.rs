//! Tenants come and go without a restart.
//!
//! `trawl` runs (`run::start`, reloading from its config file) with `tenants_dir` holding
//! one tenant file. Adding a second file starts its stream; removing the first stops its
//! stream and drops its series from `/metrics`; a broken file is refused with the field
//! path while the running set carries on; putting the first file back resumes its stream
//! from the kept checkpoint (nothing published twice); SIGHUP reloads the whole file.
//! At the end Kafka holds each tenant's ground truth, by content and multiplicity.

use std::future::Future;
use std::path::Path;
use std::time::Duration;

use trawl::run::{start, StartOptions};
use trawl_engine::status::StreamState;
use trawl_sim::{SimConfig, Simulator};
use trawl_suite::harness::{backfill_start, by_stream, wait_all_live, FleetTenant};
use trawl_suite::ops::get;
use trawl_suite::{truth, Bed, KafkaBroker, Mode};

fn tenant_file(id: &str, base: &str) -> String {
    format!(
        "id = \"{id}\"\nprovider = \"zoom\"\nstreams = [\"operation_logs\"]\nplan = \"pro\"\n\
         account_id = \"{id}-acct\"\nclient_id = \"{id}-client\"\nclient_secret = \"{id}-secret\"\n\
         api_base = \"{base}\"\noauth_base = \"{base}\"\n"
    )
}

fn sim_toml() -> String {
    let mut s = String::from("seed = 3\n");
    for id in ["alpha", "beta"] {
        s.push_str(&format!(
            "[[zoom_accounts]]\naccount_id = \"{id}-acct\"\nclient_id = \"{id}-client\"\n\
             client_secret = \"{id}-secret\"\nplan = \"pro\"\nphone = false\n\
             records_per_day = 800\nhistory_days = 3\n"
        ));
    }
    s
}

/// Polls `f` every 200 ms until it is true, or fails after 60 s.
async fn until<F, Fut>(what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !f().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn write(path: &Path, text: &str) {
    // Write then rename, as provisioning tools do: the scan never sees half a file.
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

#[actix_rt::test]
async fn tenant_files_start_and_stop_streams_without_a_restart() {
    // Alone in a process of its own: it sends SIGHUP to the process.
    if !trawl_suite::child::alone(
        module_path!(),
        "tenant_files_start_and_stop_streams_without_a_restart",
    ) {
        return;
    }
    let bed = Bed::new(
        "reload",
        KafkaBroker::shared().bootstrap(),
        Mode::Idempotent,
    );
    let sim_cfg: SimConfig = toml::from_str(&sim_toml()).unwrap();
    let sim = Simulator::start(sim_cfg, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let base = sim.base_url();
    let dir = tempfile::tempdir().unwrap();
    let tenants = dir.path().join("tenants.d");
    std::fs::create_dir(&tenants).unwrap();
    write(&tenants.join("alpha.toml"), &tenant_file("alpha", &base));
    let main = dir.path().join("trawl.toml");
    std::fs::write(
        &main,
        format!(
            "tenants_dir = \"{}\"\n[server]\nlisten = \"127.0.0.1:0\"\n[kafka]\nbrokers = \"{}\"\n\
             partitions = 1\n{}[defaults]\npoll_interval = \"1h\"\nbackfill = \"2d\"\nlookback = \"1h\"\n",
            tenants.display(),
            bed.brokers,
            bed.kafka_toml()
        ),
    )
    .unwrap();
    let config = trawl::config::load(&main).expect("test config loads");
    let opts = StartOptions {
        reload_from: Some(main.clone()),
        watch_interval: Duration::from_millis(200),
        ..StartOptions::default()
    };
    let start_day = backfill_start(2).await;
    let trawl = start(config, opts).await.unwrap();
    let addr = trawl.addr();
    let board = trawl.engine.status.clone();
    let state_of = |t: &str| {
        board
            .snapshot()
            .into_iter()
            .find(|r| r.tenant == t)
            .map(|r| r.state)
    };
    until("alpha live", || async {
        state_of("alpha") == Some(StreamState::Live)
    })
    .await;

    // Added: beta's stream starts and fetches.
    write(&tenants.join("beta.toml"), &tenant_file("beta", &base));
    until("beta live", || async {
        state_of("beta") == Some(StreamState::Live)
    })
    .await;
    let (_, metrics) = get(addr, "/metrics").await;
    assert!(metrics
        .contains("trawl_pages_fetched_total{source=\"zoom.operation_logs\",tenant=\"beta\"}"));

    // Removed: alpha's stream stops and its series go.
    std::fs::remove_file(tenants.join("alpha.toml")).unwrap();
    until("alpha gone", || async { state_of("alpha").is_none() }).await;
    let (_, metrics) = get(addr, "/metrics").await;
    let left: Vec<&str> = metrics
        .lines()
        .filter(|l| l.contains("tenant=\"alpha\""))
        .collect();
    assert!(left.is_empty(), "alpha's series are dropped: {left:#?}");
    assert_eq!(state_of("beta"), Some(StreamState::Live), "beta untouched");

    // A broken file: refused with the field path; the running set is kept.
    write(
        &tenants.join("broken.toml"),
        "id = \"gamma\"\nprovider = \"myspace\"\n",
    );
    let config_of = || async move {
        let (_, body) = get(addr, "/status").await;
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        v["config"].clone()
    };
    until("the broken reload refused", || async {
        config_of().await["last_error"].is_string()
    })
    .await;
    let refused = config_of().await;
    let problem = refused["last_error"].as_str().unwrap();
    println!("refused: {problem}");
    assert!(
        problem.contains("broken.toml") && problem.contains("provider"),
        "{problem}"
    );
    assert_eq!(state_of("beta"), Some(StreamState::Live));
    assert!(state_of("gamma").is_none() && state_of("alpha").is_none());
    std::fs::remove_file(tenants.join("broken.toml")).unwrap();

    // Alpha is back: it resumes from its kept checkpoint and publishes nothing twice.
    write(&tenants.join("alpha.toml"), &tenant_file("alpha", &base));
    until("alpha live again", || async {
        state_of("alpha") == Some(StreamState::Live)
    })
    .await;

    // SIGHUP reloads the whole configuration.
    let before = config_of().await["reloads"].as_u64().unwrap();
    let hup = std::process::Command::new("kill")
        .args(["-HUP", &std::process::id().to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
    until("the SIGHUP reload", || async {
        let c = config_of().await;
        c["reloads"].as_u64().unwrap() > before && c["last_error"].is_null()
    })
    .await;

    // Both streams live: each tenant's topic holds its account's ground truth up to
    // its watermark, by content and multiplicity (alpha's second run resumed from its
    // kept checkpoint: nothing twice, nothing skipped).
    let fleet: Vec<FleetTenant> = ["alpha", "beta"]
        .iter()
        .map(|id| FleetTenant {
            id: id.to_string(),
            zoom: true,
            phone: false,
            records_per_day: 800,
            shared_account: None,
        })
        .collect();
    let watermarks = by_stream(
        &fleet,
        &wait_all_live(&trawl.engine, 2, Duration::from_secs(60)).await,
    );
    trawl.stop().await;
    let b = bed.clone();
    let published = tokio::task::spawn_blocking(move || b.published())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(published.len(), 2, "alpha and beta published");
    truth::compare(&sim, &fleet, &published, &watermarks, start_day)
        .unwrap_or_else(|p| panic!("not exactly the ground truth: {p:#?}"));
    sim.stop().await;
}
