//! An event Kafka refuses as too large does not hold up its stream nor, in
//! transactional mode, the other streams' events it would share a transaction with:
//! the simulator serves a few records padded past Kafka's default message size
//! (`[data] oversized_share`); trawl (transactional, Apache Kafka) dead-letters each of
//! them once, publishes every other record once, and every stream reaches live polling.
//! (Before, the producer refused the write, the stream failed, was retried slowly with
//! the same record, and never caught up.)

use std::collections::HashSet;
use std::time::Duration;

use chrono::{Duration as ChronoDuration, DurationRound, Utc};
use trawl_engine::{Engine, EngineOptions};
use trawl_sim::{SimConfig, Simulator};
use trawl_suite::harness::{api_of, engine_toml, fleet, sim_toml, wait_all_live};
use trawl_suite::topics::read_topic_payloads;
use trawl_suite::{Bed, KafkaBroker, Mode};

#[actix_rt::test]
async fn events_too_large_for_kafka_are_dead_lettered_once_and_the_rest_published_once() {
    let broker = KafkaBroker::shared();
    let bed = Bed::new("oversized", broker.bootstrap(), Mode::Transactional);
    let tenants = fleet(1, 1, 100);
    let extra = "[data]\nlate_share = 0.0\noversized_share = 0.02\n";
    let sim_cfg: SimConfig = toml::from_str(&sim_toml(&tenants, 4, extra)).unwrap();
    let sim = Simulator::start(sim_cfg, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let toml = engine_toml(
        &tenants,
        &sim.base_url(),
        &bed.brokers,
        &bed.kafka_toml(),
        "poll_interval = \"2s\"\nbackfill = \"2d\"\nlookback = \"1h\"\n",
    );
    let config = trawl::config::load_str(&toml).expect("test config loads");
    let engine = Engine::start(config.engine, EngineOptions::default())
        .await
        .unwrap();
    let watermarks = wait_all_live(&engine, 3, Duration::from_secs(180)).await;
    engine.stop().await;

    let start = (Utc::now() - ChronoDuration::days(2))
        .duration_trunc(ChronoDuration::days(1))
        .unwrap();
    let b = bed.clone();
    let published = tokio::task::spawn_blocking(move || b.published())
        .await
        .unwrap()
        .unwrap();
    let mut oversized = 0;
    for t in &tenants {
        for kind in t.streams() {
            let key = t.key(kind);
            let wm = watermarks[&(key.tenant.to_string(), key.source.to_string())];
            let held = sim.ground_truth(&t.account(), api_of(kind), start, wm);
            let (big, rest): (Vec<_>, Vec<_>) =
                held.iter().partition(|v| v.get("sim_padding").is_some());
            oversized += big.len();
            let got = published.get(&key).cloned().unwrap_or_default();
            let ids: HashSet<_> = got.iter().map(|e| e.id).collect();
            assert_eq!(ids.len(), got.len(), "{key}: nothing twice");
            assert!(got.iter().all(|e| !e.raw.as_str().contains("sim_padding")));
            // What the API held up to the watermark, less the oversized, each once
            // (a poll in progress may add a few past the watermark).
            assert!(
                got.len() >= rest.len(),
                "{key}: {} of {} published",
                got.len(),
                rest.len()
            );
        }
    }
    assert!(oversized > 0, "the simulator served oversized records");
    let b = bed.brokers.clone();
    let topic = format!("{}.dead_letter", bed.label);
    let letters = tokio::task::spawn_blocking(move || read_topic_payloads(&b, &topic))
        .await
        .unwrap()
        .unwrap();
    let padded = letters.iter().filter(|l| l.contains("sim_padding")).count();
    assert_eq!(
        padded, oversized,
        "each oversized record dead-lettered once"
    );
    sim.stop().await;
}
