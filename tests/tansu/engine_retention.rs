//! A backfill at the APIs' 182-day maximum reaches live polling, even when it is
//! interrupted long enough for the APIs' retention horizon to pass its watermark: trawl
//! backfills 182 days, stops a few seconds in, and starts again 20 (simulated) days
//! later. The stored watermarks now lie before what the APIs keep; each stream says so
//! (`/status`, `trawl_retention_skipped_seconds_total`), moves on from what the API still
//! holds and catches up, and Kafka holds the ground truth of what the API keeps, once.
//! (Before the fix, every window after the horizon was kept in `done` forever beside a
//! watermark that never moved, and the stream never went live.)

use std::collections::HashMap;
use std::time::Duration;

use chrono::{Duration as ChronoDuration, Utc};
use trawl_engine::clock::Clock;
use trawl_engine::{Engine, EngineOptions};
use trawl_model::StreamKey;
use trawl_sim::{SimConfig, Simulator};
use trawl_suite::harness::{engine_toml, fleet, sim_toml, wait_all_live};
use trawl_suite::{truth, Bed, Mode, TansuBroker};

const OUTAGE_DAYS: i64 = 20;

#[actix_rt::test]
async fn a_182_day_backfill_interrupted_past_the_retention_horizon_reaches_live_polling() {
    let broker = TansuBroker::start();
    let bed = Bed::new("retention", broker.bootstrap(), Mode::Idempotent);
    let tenants = fleet(1, 1, 8);
    let sim_cfg: SimConfig = toml::from_str(&sim_toml(
        &tenants,
        183 + OUTAGE_DAYS as u32,
        "[data]\nlate_share = 0.0\n",
    ))
    .unwrap();
    let sim = Simulator::start(sim_cfg, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let defaults = "poll_interval = \"2s\"\nbackfill = \"182d\"\nlookback = \"1h\"\n";
    let toml = engine_toml(
        &tenants,
        &sim.base_url(),
        &bed.brokers,
        &bed.kafka_toml(),
        defaults,
    );
    let streams: usize = tenants.iter().map(|t| t.streams().len()).sum();

    // A slow first run, stopped a few seconds into the backfill.
    let slow = toml
        .replace(
            "oauth_base = ",
            "rate_limits.operation_logs = { per_second = 2.0 }\noauth_base = ",
        )
        .replace("per_second = 8.0", "per_second = 2.0");
    let config = trawl::config::load_str(&slow).expect("test config loads");
    let engine = Engine::start(config.engine, EngineOptions::default())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(4)).await;
    engine.stop().await;

    // 20 days later, for the simulator and for trawl.
    sim.advance(ChronoDuration::days(OUTAGE_DAYS));
    let config = trawl::config::load_str(&toml).expect("test config loads");
    let options = EngineOptions {
        clock: Clock::Tokio {
            anchor: Utc::now() + ChronoDuration::days(OUTAGE_DAYS),
            at: tokio::time::Instant::now(),
        },
        ..EngineOptions::default()
    };
    let engine = Engine::start(config.engine, options).await.unwrap();
    let watermarks = wait_all_live(&engine, streams, Duration::from_secs(120)).await;
    let status = engine.status.snapshot();
    let metrics = engine.metrics.render();
    engine.stop().await;

    // Where the first run stopped varies; where the API's horizon lies does not.
    let horizon = sim.now() - ChronoDuration::days(181);
    for s in &status {
        let gap = s
            .behind_retention
            .unwrap_or_else(|| panic!("{}/{}: no retention gap in /status", s.tenant, s.source));
        let off = (gap.to - horizon).num_seconds().abs();
        assert!(gap.from < gap.to && off < 300, "{gap:?} vs {horizon}");
    }
    let skipped: Vec<f64> = metrics
        .lines()
        .filter(|l| l.starts_with("trawl_retention_skipped_seconds_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
        .collect();
    assert_eq!(skipped.len(), streams, "{metrics}");
    assert!(skipped.iter().all(|s| *s > 0.0), "{skipped:?}");

    // What the APIs keep now (with the loop's day of margin), each record once.
    let start = sim.now() - ChronoDuration::days(181);
    let watermarks: HashMap<StreamKey, _> = tenants
        .iter()
        .flat_map(|t| t.streams().into_iter().map(move |k| t.key(k)))
        .map(|k| {
            let wm = watermarks[&(k.tenant.to_string(), k.source.to_string())];
            (k, wm)
        })
        .collect();
    let b = bed.clone();
    let mut published = tokio::task::spawn_blocking(move || b.published())
        .await
        .unwrap()
        .unwrap();
    // The first run's records from before the horizon are not the second's to judge.
    for events in published.values_mut() {
        events.retain(|e| e.time >= start);
    }
    let total = truth::compare(&sim, &tenants, &published, &watermarks, start)
        .unwrap_or_else(|p| panic!("not exactly the ground truth: {p:#?}"));
    assert!(total > 1_000, "{total}");
    eprintln!("{total} records of 181 days on Kafka, each once");
    sim.stop().await;
}
