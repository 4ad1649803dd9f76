//! Disabled is not forever: a Zoom account without Phone disables its Phone stream; the
//! account buys Phone while trawl runs; at the next `disabled_recheck` the stream is
//! tried again, backfills and goes live, with no restart of trawl. Kafka then holds the
//! Phone records once.

use std::collections::HashMap;
use std::time::Duration;

use trawl_engine::status::StreamState;
use trawl_engine::{Engine, EngineOptions};
use trawl_model::{SourceKind, StreamKey};
use trawl_sim::{SimConfig, Simulator};
use trawl_suite::harness::{backfill_start, engine_toml, fleet, sim_toml, wait_all_live, wait_for};
use trawl_suite::{truth, Bed, Mode, TansuBroker};

#[actix_rt::test]
async fn a_disabled_phone_stream_is_checked_again_and_runs_once_phone_is_bought() {
    let broker = TansuBroker::start();
    let bed = Bed::new("recheck", broker.bootstrap(), Mode::Idempotent);
    // trawl asks for both streams; the simulated account has no Phone yet.
    let tenants = fleet(1, 1, 200);
    let sim_toml = sim_toml(&tenants, 5, "[data]\nlate_share = 0.0\n")
        .replace("phone = true", "phone = false");
    let sim_cfg: SimConfig = toml::from_str(&sim_toml).unwrap();
    let sim = Simulator::start(sim_cfg, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let toml = engine_toml(
        &tenants,
        &sim.base_url(),
        &bed.brokers,
        &bed.kafka_toml(),
        "poll_interval = \"2s\"\nbackfill = \"3d\"\nlookback = \"1h\"\ndisabled_recheck = \"3s\"\n",
    );
    let config = trawl::config::load_str(&toml).expect("test config loads");
    let start = backfill_start(3).await;
    let engine = Engine::start(config.engine, EngineOptions::default())
        .await
        .unwrap();
    let phone = tenants[0].key(SourceKind::ZoomPhoneOperationLogs);
    let state = |engine: &Engine| {
        engine
            .status
            .snapshot()
            .into_iter()
            .find(|s| s.tenant == phone.tenant.as_str() && s.source == phone.source.to_string())
            .map(|s| s.state)
    };
    wait_for(Duration::from_secs(60), "the Phone stream disabled", || {
        (state(&engine) == Some(StreamState::Disabled)).then_some(())
    })
    .await;
    assert!(sim.set_phone(&tenants[0].account(), true));
    let watermarks = wait_all_live(&engine, 3, Duration::from_secs(60)).await;
    engine.stop().await;

    let watermarks: HashMap<StreamKey, _> = tenants
        .iter()
        .flat_map(|t| t.streams().into_iter().map(move |k| t.key(k)))
        .map(|key| {
            let wm = watermarks[&(key.tenant.to_string(), key.source.to_string())];
            (key, wm)
        })
        .collect();
    let b = bed.clone();
    let published = tokio::task::spawn_blocking(move || b.published())
        .await
        .unwrap()
        .unwrap();
    assert!(
        published.get(&phone).is_some_and(|e| !e.is_empty()),
        "Phone records on Kafka"
    );
    let total = truth::compare(&sim, &tenants, &published, &watermarks, start)
        .unwrap_or_else(|p| panic!("not exactly the ground truth: {p:#?}"));
    eprintln!("{total} records on Kafka, each once, Phone's included");
    sim.stop().await;
}
