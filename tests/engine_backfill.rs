//! 20 tenants (Zoom with both streams, Zoho) backfill 30 days through the real `tansu`
//! broker: the events on Kafka are exactly the simulator's ground truth by id (none
//! missing, none twice), every event validates against the JSON Schema, keys and
//! CloudEvents headers are set, and with the plan's real limits trawl gets no 429.

use std::time::Duration;

use chrono::{Duration as ChronoDuration, DurationRound, Utc};
use trawl_engine::{Engine, EngineOptions};
use trawl_model::EVENT_SCHEMA_JSON;
use trawl_sim::{SimConfig, Simulator};
use trawl_suite::harness::{
    engine_toml, expected_ids, fleet, published_ids, sim_toml, wait_all_live, EVENT_TOPICS,
};
use trawl_suite::{read_topic_records, TansuBroker};

#[actix_rt::test]
async fn twenty_tenants_backfill_exactly_the_ground_truth() {
    let broker = TansuBroker::start();
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
        &broker.bootstrap(),
        "",
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

    let engine = Engine::start(config.engine, EngineOptions::default())
        .await
        .unwrap();
    let watermarks = wait_all_live(&engine, streams, Duration::from_secs(300)).await;
    engine.stop().await;

    let published = published_ids(&broker.bootstrap(), &EVENT_TOPICS).unwrap();
    let start = (Utc::now() - ChronoDuration::days(30))
        .duration_trunc(ChronoDuration::days(1))
        .unwrap();
    let mut total = 0;
    for t in &tenants {
        for kind in t.streams() {
            let key = t.key(kind);
            let wm = watermarks[&(key.tenant.to_string(), key.source.to_string())];
            // Everything before the watermark must be there; records after it may be
            // (a poll in progress) but must be real and single.
            let expected = expected_ids(&sim, t, kind, start, wm);
            let possible =
                expected_ids(&sim, t, kind, start, sim.now() + ChronoDuration::seconds(1));
            let got = published.get(&key).cloned().unwrap_or_default();
            let twice: Vec<_> = got.iter().filter(|(_, (n, _))| *n > 1).collect();
            assert!(
                twice.is_empty(),
                "{key}: {} ids published more than once",
                twice.len()
            );
            let missing = expected.iter().filter(|id| !got.contains_key(id)).count();
            let extra = got.keys().filter(|id| !possible.contains(id)).count();
            assert_eq!(
                (missing, extra),
                (0, 0),
                "{key}: {missing} missing, {extra} not in the ground truth (of {})",
                expected.len()
            );
            assert!(!expected.is_empty(), "{key}: the simulator holds records");
            total += expected.len();
        }
    }
    assert!(total > 100_000, "a busy fleet: {total} records");

    // Keys, CloudEvents headers and the schema, on every event of one topic.
    let schema: serde_json::Value = serde_json::from_str(EVENT_SCHEMA_JSON).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    for topic in EVENT_TOPICS {
        for r in read_topic_records(&broker.bootstrap(), topic).unwrap() {
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
        "429s: {:?}",
        stats
            .limits
            .iter()
            .filter(|l| l.rate_limited_qps > 0)
            .collect::<Vec<_>>()
    );
    sim.stop().await;
}
