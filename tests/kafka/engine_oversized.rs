//! An event Kafka refuses as too large does not hold up its stream nor, in
//! transactional mode, the other streams' events it would share a transaction with:
//! the simulator serves a few records padded past Kafka's default message size
//! (`[data] oversized_share`); trawl (transactional, Apache Kafka) dead-letters each of
//! them once, publishes every other record once, and every stream reaches live polling.
//! Checked against the simulator's ground truth by content: every other record on Kafka
//! as often as held, each oversized one's start on the dead-letter topic once.
//! (Before, the producer refused the write, the stream failed, was retried slowly with
//! the same record, and never caught up.)

use std::time::Duration;

use trawl_engine::{Engine, EngineOptions};
use trawl_model::canonical_json;
use trawl_sim::{SimConfig, Simulator};
use trawl_suite::field::{dead_letters, DeadLetter};
use trawl_suite::harness::{
    api_of, backfill_start, by_stream, engine_toml, fleet, sim_toml, wait_all_live,
};
use trawl_suite::{truth, Bed, KafkaBroker, Mode};

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
    let start = backfill_start(2).await;
    let engine = Engine::start(config.engine, EngineOptions::default())
        .await
        .unwrap();
    let watermarks = by_stream(
        &tenants,
        &wait_all_live(&engine, 3, Duration::from_secs(180)).await,
    );
    engine.stop().await;

    // Every record but the oversized ones on Kafka, by content, each as often as held.
    let b = bed.clone();
    let published = tokio::task::spawn_blocking(move || b.published())
        .await
        .unwrap()
        .unwrap();
    let padded = |v: &serde_json::Value| v.get("sim_padding").is_some();
    truth::compare_kept(&sim, &tenants, &published, &watermarks, start, &|v| {
        !padded(v)
    })
    .unwrap_or_else(|p| panic!("not exactly the ground truth less the oversized: {p:#?}"));

    // Each oversized record held up to a watermark on the dead-letter topic once, under
    // its stream: the letter's body is the start of its canonical JSON, cut to half the
    // message limit.
    let b = bed.brokers.clone();
    let topic = format!("{}.dead_letter", bed.label);
    let letters = tokio::task::spawn_blocking(move || dead_letters(&b, &topic))
        .await
        .unwrap()
        .unwrap();
    let mut oversized = 0;
    for t in &tenants {
        for kind in t.streams() {
            let key = t.key(kind);
            let big: Vec<String> = sim
                .ground_truth(&t.account(), api_of(kind), start, watermarks[&key])
                .iter()
                .filter(|v| padded(v))
                .map(canonical_json)
                .collect();
            oversized += big.len();
            let mine: Vec<&DeadLetter> = letters
                .iter()
                .filter(|l| l.tenant == key.tenant.as_str() && l.source == kind.as_str())
                .collect();
            let mut letters_of = vec![0usize; big.len()];
            for l in &mine {
                assert!(
                    l.reason.contains("message.max.bytes"),
                    "{key}: {}",
                    l.reason
                );
                let of: Vec<usize> = (0..big.len())
                    .filter(|i| !l.body.is_empty() && big[*i].starts_with(&l.body))
                    .collect();
                assert_eq!(
                    of.len(),
                    1,
                    "{key}: a dead letter of no one oversized record"
                );
                letters_of[of[0]] += 1;
            }
            assert!(
                letters_of.iter().all(|n| *n == 1),
                "{key}: each oversized record dead-lettered once: {letters_of:?}"
            );
        }
    }
    assert!(oversized > 0, "the simulator served oversized records");
    assert_eq!(
        letters.len(),
        oversized,
        "no other dead letter: {:#?}",
        letters.iter().map(|l| &l.reason).collect::<Vec<_>>()
    );
    sim.stop().await;
}
