//! A big account's checkpoint stays under the bound (issue 19, item 1). One Zoom
//! account of 20,000 records a day backfills two days and goes live with a day of
//! lookback: its seen set holds some 20,000 ids, about 210 KB as one record. The
//! checkpoint topic is created first with `max.message.bytes` of 64 KiB (the bound,
//! `RECORD_MAX_BYTES`), so the broker itself refuses any larger checkpoint record:
//! the same failure as a million records a day against the default limit of 1 MB,
//! at a fiftieth of the volume. The engine is stopped in the middle of the backfill
//! and started again. Checked, in both delivery modes: every record of the checkpoint
//! topic is under the bound, the stored checkpoint holds the lookback's ids (more
//! than one record can carry), and Kafka holds exactly the simulator's ground truth.

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::ClientConfig;
use trawl_engine::{Engine, EngineOptions};
use trawl_kafka::CheckpointStore;
use trawl_model::checkpoint_records::RECORD_MAX_BYTES;
use trawl_sim::{SimConfig, Simulator};
use trawl_suite::harness::{
    backfill_start, by_stream, engine_toml, sim_toml, wait_all_live, FleetTenant,
};
use trawl_suite::topics::read_topic_payloads;
use trawl_suite::{truth, Bed, KafkaBroker, Mode};

/// The checkpoint topic's `max.message.bytes`: the bound plus a record batch's framing.
const TOPIC_LIMIT: usize = RECORD_MAX_BYTES + 512;

#[actix_rt::test]
async fn a_big_accounts_checkpoint_stays_under_the_bound() {
    let b = KafkaBroker::shared();
    big(Bed::new("bigcp-idem", b.bootstrap(), Mode::Idempotent)).await;
}

#[actix_rt::test]
async fn a_big_accounts_checkpoint_stays_under_the_bound_in_transactions() {
    let b = KafkaBroker::shared();
    big(Bed::new("bigcp-txn", b.bootstrap(), Mode::Transactional)).await;
}

/// Creates the compacted checkpoint topic with the bound as its message limit, and
/// checks the broker refuses a record over it.
async fn bounded_checkpoint_topic(brokers: &str, topic: &str) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .unwrap();
    let limit = TOPIC_LIMIT.to_string();
    let new = NewTopic::new(topic, 3, TopicReplication::Fixed(1))
        .set("cleanup.policy", "compact")
        .set("max.message.bytes", &limit);
    let r = admin
        .create_topics([&new], &AdminOptions::new())
        .await
        .unwrap();
    assert!(r.iter().all(Result::is_ok), "creating {topic}: {r:?}");
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .unwrap();
    let big = vec![b'x'; TOPIC_LIMIT + 1024];
    let refused = producer
        .send(
            FutureRecord::to(topic).key("probe").payload(&big),
            Duration::from_secs(30),
        )
        .await;
    assert!(refused.is_err(), "the broker takes a record over the bound");
}

async fn big(bed: Bed) {
    let label = bed.label.clone();
    let tenants = vec![FleetTenant {
        id: "big".into(),
        zoom: true,
        phone: false,
        records_per_day: 20_000,
        shared_account: None,
    }];
    let sim_cfg: SimConfig =
        toml::from_str(&sim_toml(&tenants, 5, "[data]\nlate_share = 0.0\n")).unwrap();
    let sim = Simulator::start(sim_cfg, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let checkpoints = format!("{label}.checkpoints");
    bounded_checkpoint_topic(&bed.brokers, &checkpoints).await;
    // Batches of a few records: one batch of several checkpoint records must not pass
    // the topic's limit either (librdkafka fills a batch up to `batch.size`).
    let kafka = format!(
        "{}[kafka.properties]\n\"batch.size\" = \"16384\"\n",
        bed.kafka_toml()
    );
    let toml = engine_toml(
        &tenants,
        &sim.base_url(),
        &bed.brokers,
        &kafka,
        "poll_interval = \"2s\"\nbackfill = \"2d\"\nlookback = \"24h\"\n",
    );
    let start = backfill_start(2).await;

    // First run: stopped once the backfill is under way (a checkpoint with segments).
    let config = trawl::config::load_str(&toml).expect("test config loads");
    let settings = config.engine.kafka.clone();
    let engine = Engine::start(config.engine, EngineOptions::default())
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let payloads = {
            let (b, t) = (bed.brokers.clone(), checkpoints.clone());
            tokio::task::spawn_blocking(move || read_topic_payloads(&b, &t))
                .await
                .unwrap()
                .unwrap_or_default()
        };
        if payloads.iter().any(|p| p.contains("\"seen_segments\"")) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "[{label}] no checkpoint with segments after 2 minutes"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    engine.stop().await;

    // Second run: from the stored checkpoints to live.
    let config = trawl::config::load_str(&toml).expect("test config loads");
    let engine = Engine::start(config.engine, EngineOptions::default())
        .await
        .unwrap();
    let watermarks = wait_all_live(&engine, 1, Duration::from_secs(300)).await;
    // A few live polls: each re-reads the day of lookback, all of it already seen.
    tokio::time::sleep(Duration::from_secs(6)).await;
    engine.stop().await;

    let store = trawl_kafka::KafkaCheckpointStore::new(&settings).unwrap();
    let stored = store.load_all().await.unwrap();
    let cp = stored.values().next().expect("the stream's checkpoint");
    assert!(
        cp.seen.len() > 10_000,
        "[{label}] the lookback's ids are kept: {}",
        cp.seen.len()
    );
    let payloads = {
        let (b, t) = (bed.brokers.clone(), checkpoints.clone());
        tokio::task::spawn_blocking(move || read_topic_payloads(&b, &t))
            .await
            .unwrap()
            .unwrap()
    };
    let largest = payloads.iter().map(String::len).max().unwrap_or(0);
    assert!(
        largest <= RECORD_MAX_BYTES,
        "[{label}] a record of {largest} bytes"
    );

    let watermarks = by_stream(&tenants, &watermarks);
    // The account has no Zoom Phone: only the operation-log topic exists.
    let (b, topic, isolation) = (bed.brokers.clone(), bed.event_topic(0), bed.isolation());
    let published =
        tokio::task::spawn_blocking(move || truth::read_published(&b, &[topic], isolation))
            .await
            .unwrap()
            .unwrap();
    let total = truth::compare(&sim, &tenants, &published, &watermarks, start)
        .unwrap_or_else(|p| panic!("[{label}] not exactly the ground truth: {p:#?}"));
    assert!(total > 30_000, "[{label}] a big account: {total} records");
    eprintln!(
        "[{label}] {total} records on Kafka, each once; checkpoint of {} ids in records of at most {largest} bytes ({} records on the topic)",
        cp.seen.len(),
        payloads.len()
    );
    sim.stop().await;
}
