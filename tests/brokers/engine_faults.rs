//! Faults lose nothing and need no restart: 5xx answers, HTML error pages, malformed
//! bodies, dropped connections, every access token expiring at once (the simulator's
//! clock jumps two hours), and the Apache Kafka broker frozen (SIGSTOP) for a minute in
//! the middle of the backfill, longer than a transaction's timeout. Afterwards Kafka
//! holds exactly the ground truth, each record once (by id and by content), in both
//! delivery modes.

use std::time::Duration;

use chrono::Duration as ChronoDuration;
use trawl_engine::status::StreamState;
use trawl_engine::{Engine, EngineOptions};
use trawl_sim::{SimConfig, Simulator};
use trawl_suite::harness::{
    backfill_start, by_stream, engine_toml, fleet, sim_toml, wait_all_live,
};
use trawl_suite::{truth, Bed, KafkaBroker, Mode};

#[actix_rt::test]
async fn faults_and_a_broker_outage_lose_nothing() {
    faults(Mode::Idempotent, "faults-idem").await;
}

#[actix_rt::test]
async fn faults_and_a_broker_outage_lose_nothing_in_transactions() {
    faults(Mode::Transactional, "faults-txn").await;
}

async fn faults(mode: Mode, label: &str) {
    // Its own broker: it is frozen.
    let broker = KafkaBroker::start();
    let bed = Bed::new(label, broker.bootstrap(), mode);
    let tenants = fleet(3, 1, 600);
    let faults =
        "[data]\nlate_share = 0.0\n[faults]\nserver_error_rate = 0.05\nhtml_error_rate = 0.03\n\
                  malformed_rate = 0.03\ndropped_connection_rate = 0.03\n";
    let sim_cfg: SimConfig = toml::from_str(&sim_toml(&tenants, 25, faults)).unwrap();
    let sim = Simulator::start(sim_cfg, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let toml = engine_toml(&tenants, &sim.base_url(), &bed.brokers, &bed.kafka_toml(), "poll_interval = \"3s\"\nbackfill = \"20d\"\nlookback = \"1h\"\nmax_concurrent_windows = 2\n")
        // Slow the Zoom backfill down so the outage lands in its middle.
        .replace("oauth_base = ", "rate_limits.operation_logs = { per_second = 2.0 }\noauth_base = ");
    let config = trawl::config::load_str(&toml).expect("test config loads");
    let streams = config
        .engine
        .tenants
        .iter()
        .map(|t| t.streams.len())
        .sum::<usize>();
    let start = backfill_start(20).await;
    let engine = Engine::start(config.engine, EngineOptions::default())
        .await
        .unwrap();

    // Once every stream has published something, freeze the broker for a minute.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let s = engine.status.snapshot();
        if s.len() == streams && s.iter().all(|r| r.events > 0) {
            assert!(
                s.iter().any(|r| r.state != StreamState::Live),
                "the outage must land mid-backfill"
            );
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no progress: {s:#?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Every token the simulator issued is now past its hour.
    sim.advance(ChronoDuration::hours(2));
    broker.pause();
    tokio::time::sleep(Duration::from_secs(60)).await;
    broker.resume();

    let watermarks = wait_all_live(&engine, streams, Duration::from_secs(240)).await;
    engine.stop().await;

    let stats = sim.stats();
    assert!(
        stats.faults.server_error > 0 && stats.faults.html_error > 0,
        "faults were injected: {:?}",
        stats.faults
    );
    assert!(
        stats.faults.malformed > 0 && stats.faults.dropped_connection > 0,
        "faults were injected: {:?}",
        stats.faults
    );
    assert!(stats.unauthorized > 0, "tokens expired during the run");
    assert!(
        stats.tokens_issued as usize > tenants.len(),
        "expired tokens were replaced"
    );

    let watermarks = by_stream(&tenants, &watermarks);
    let b = bed.clone();
    let published = tokio::task::spawn_blocking(move || b.published())
        .await
        .unwrap()
        .unwrap();
    let total = truth::compare(&sim, &tenants, &published, &watermarks, start)
        .unwrap_or_else(|p| panic!("[{label}] not exactly the ground truth: {p:#?}"));
    eprintln!("[{label}] {total} records on Kafka, each once");
    sim.stop().await;
}
