//! A lost checkpoint store does not re-publish the backfill: trawl backfills a small
//! fleet with checkpoints in files and stops; the checkpoint directory is deleted (the
//! volume lost, the store switched); trawl starts again, finds no checkpoint, reads each
//! stream's partition back from its beginning, and publishes only what is new. Kafka
//! holds the simulator's ground truth once, by id and by content with multiplicity.
//! On `tansu`: the read-back path needs no transactions.

use std::time::Duration;

use trawl_engine::{Engine, EngineOptions};
use trawl_sim::{SimConfig, Simulator};
use trawl_suite::harness::{
    backfill_start, by_stream, engine_toml, fleet, sim_toml, wait_all_live,
};
use trawl_suite::{truth, Bed, Mode, TansuBroker};

#[actix_rt::test]
async fn a_deleted_checkpoint_directory_does_not_republish_the_backfill() {
    let broker = TansuBroker::start();
    let bed = Bed::new("lostcp", broker.bootstrap(), Mode::Idempotent);
    let tenants = fleet(2, 1, 300);
    let sim_cfg: SimConfig =
        toml::from_str(&sim_toml(&tenants, 10, "[data]\nlate_share = 0.0\n")).unwrap();
    let sim = Simulator::start(sim_cfg, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("checkpoints");
    let toml = format!(
        "{}\n[checkpoints]\nstore = \"file\"\ndir = \"{}\"\n",
        engine_toml(
            &tenants,
            &sim.base_url(),
            &bed.brokers,
            &bed.kafka_toml(),
            "poll_interval = \"2s\"\nbackfill = \"5d\"\nlookback = \"1h\"\n",
        ),
        store.display()
    );
    let streams: usize = tenants.iter().map(|t| t.streams().len()).sum();
    let run = |label: &'static str| {
        let toml = toml.clone();
        async move {
            let config = trawl::config::load_str(&toml).expect("test config loads");
            let engine = Engine::start(config.engine, EngineOptions::default())
                .await
                .unwrap();
            let wms = wait_all_live(&engine, streams, Duration::from_secs(120)).await;
            let events = engine.metrics.render();
            engine.stop().await;
            eprintln!("{label}: all live");
            (wms, events)
        }
    };
    let start = backfill_start(5).await;
    let (_, _) = run("first run").await;
    let published_first = {
        let b = bed.clone();
        tokio::task::spawn_blocking(move || b.published())
            .await
            .unwrap()
            .unwrap()
    };
    let first: usize = published_first.values().map(Vec::len).sum();
    assert!(first > 2_000, "the first run backfilled: {first}");

    std::fs::remove_dir_all(&store).unwrap();
    let (watermarks, metrics) = run("second run, checkpoints lost").await;

    let watermarks = by_stream(&tenants, &watermarks);
    let b = bed.clone();
    let published = tokio::task::spawn_blocking(move || b.published())
        .await
        .unwrap()
        .unwrap();
    let total = truth::compare(&sim, &tenants, &published, &watermarks, start)
        .unwrap_or_else(|p| panic!("not exactly the ground truth: {p:#?}"));
    // The second run found the first's events and skipped them.
    let skipped: f64 = metrics
        .lines()
        .filter(|l| l.starts_with("trawl_duplicates_skipped_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert!(
        skipped >= first as f64,
        "the second run skipped what the first published ({skipped} of {first})"
    );
    eprintln!("{total} records on Kafka, each once; {skipped} skipped by the second run");
    sim.stop().await;
}
