//! 20 tenants (Zoom with both streams, Zoho) backfill 30 days: the events on Kafka are
//! exactly the simulator's ground truth, by id and by record content (none missing, none
//! twice), every event validates against the JSON Schema, keys and CloudEvents headers
//! are set, and with the plan's real limits trawl gets no 429.
//!
//! Three beds: Apache Kafka with the idempotent producer (read by a `read_uncommitted`
//! consumer: without transactions any isolation sees the truth), Apache Kafka in
//! transactional mode (read `read_committed`), and `tansu`, a broker without
//! transactions, for the claim that the idempotent path needs none.

use std::time::Duration;

use trawl_engine::{Engine, EngineOptions};
use trawl_model::EVENT_SCHEMA_JSON;
use trawl_sim::{SimConfig, Simulator};
use trawl_suite::harness::{
    backfill_start, by_stream, engine_toml, fleet, sim_toml, wait_all_live,
};
use trawl_suite::{read_topic_records_as, truth, Bed, KafkaBroker, Mode, TansuBroker};

#[actix_rt::test]
async fn twenty_tenants_backfill_exactly_the_ground_truth_on_kafka() {
    let b = KafkaBroker::shared();
    backfill(Bed::new("backfill-idem", b.bootstrap(), Mode::Idempotent)).await;
}

#[actix_rt::test]
async fn twenty_tenants_backfill_exactly_the_ground_truth_on_kafka_in_transactions() {
    let b = KafkaBroker::shared();
    backfill(Bed::new("backfill-txn", b.bootstrap(), Mode::Transactional)).await;
}

#[actix_rt::test]
async fn twenty_tenants_backfill_exactly_the_ground_truth_on_tansu() {
    let broker = TansuBroker::start();
    backfill(Bed::new(
        "backfill-tansu",
        broker.bootstrap(),
        Mode::Idempotent,
    ))
    .await;
}

async fn backfill(bed: Bed) {
    let label = bed.label.clone();
    let tenants = fleet(12, 8, 300);
    // No late records here (the live-polling test has them): every record older than a
    // stream's final watermark must then be on Kafka.
    let sim_cfg: SimConfig =
        toml::from_str(&sim_toml(&tenants, 40, "[data]\nlate_share = 0.0\n")).unwrap();
    let sim = Simulator::start(sim_cfg, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let toml = engine_toml(
        &tenants,
        &sim.base_url(),
        &bed.brokers,
        &bed.kafka_toml(),
        "poll_interval = \"2s\"\nbackfill = \"30d\"\nlookback = \"1h\"\n",
    );
    let config = trawl::config::load_str(&toml).expect("test config loads");
    let streams = config
        .engine
        .tenants
        .iter()
        .map(|t| t.streams.len())
        .sum::<usize>();
    assert_eq!(streams, 12 * 2 + 8);

    let start = backfill_start(30).await;
    let engine = Engine::start(config.engine, EngineOptions::default())
        .await
        .unwrap();
    let watermarks = wait_all_live(&engine, streams, Duration::from_secs(300)).await;
    engine.stop().await;

    let watermarks = by_stream(&tenants, &watermarks);
    let b = bed.clone();
    let published = tokio::task::spawn_blocking(move || b.published())
        .await
        .unwrap()
        .unwrap();
    let total = truth::compare(&sim, &tenants, &published, &watermarks, start)
        .unwrap_or_else(|p| panic!("[{label}] not exactly the ground truth: {p:#?}"));
    assert!(total > 100_000, "[{label}] a busy fleet: {total} records");

    // Keys, CloudEvents headers and the schema, on every event.
    let schema: serde_json::Value = serde_json::from_str(EVENT_SCHEMA_JSON).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    for topic in bed.event_topics() {
        for r in read_topic_records_as(&bed.brokers, &topic, bed.isolation()).unwrap() {
            assert_eq!(r.key.as_deref(), Some(r.event.tenant.as_str()));
            assert_eq!(
                r.headers.get("ce_id").map(String::as_str),
                Some(r.event.id.to_string().as_str())
            );
            assert_eq!(
                r.headers.get("ce_type").map(String::as_str),
                Some("trawl.audit.v1")
            );
            assert_eq!(
                r.headers.get("ce_specversion").map(String::as_str),
                Some("1.0")
            );
            assert!(r.headers.contains_key("ce_source") && r.headers.contains_key("ce_time"));
            assert_eq!(
                r.headers.get("content-type").map(String::as_str),
                Some("application/json")
            );
            let v = serde_json::to_value(&r.event).unwrap();
            assert!(validator.is_valid(&v), "event does not validate: {v}");
        }
    }

    // With the plan's real limits, trawl alone is never answered 429.
    let stats = sim.stats();
    let limited: u64 = stats
        .limits
        .iter()
        .map(|l| l.rate_limited_qps + l.rate_limited_daily)
        .sum();
    assert_eq!(
        limited,
        0,
        "[{label}] 429s: {:?}",
        stats
            .limits
            .iter()
            .filter(|l| l.rate_limited_qps > 0)
            .collect::<Vec<_>>()
    );
    eprintln!("[{label}] {total} records on Kafka, each once");
    sim.stop().await;
}
