//! Brokers fail under a running trawl, which is not restarted:
//!
//! - one Apache Kafka broker killed with `-9` and restarted (same ports, its log kept)
//!   twice in the middle of a backfill, in both delivery modes;
//! - one broker of three killed in the middle of a backfill and left dead (`acks=all`,
//!   topics created with the brokers' default of 3 replicas, `min.insync.replicas` 2).
//!
//! Afterwards Kafka holds exactly the simulator's ground truth, by id and by content.

use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use trawl_engine::status::StreamState;
use trawl_engine::{Engine, EngineOptions};
use trawl_sim::{SimConfig, SimHandle, Simulator};
use trawl_suite::harness::{
    backfill_start, by_stream, fleet, sim_toml, slow_fleet_toml, wait_all_live, FleetTenant, Rates,
};
use trawl_suite::{truth, Bed, KafkaBroker, Mode};

/// A fleet backfilling slowly through `bed`, run in this process.
struct Run {
    bed: Bed,
    tenants: Vec<FleetTenant>,
    sim: SimHandle,
    engine: Engine,
    streams: usize,
    /// Where the backfill starts, fixed before the engine started.
    backfill_from: chrono::DateTime<chrono::Utc>,
}

async fn start(bed: Bed) -> Run {
    let tenants = fleet(3, 2, 400);
    let sim_cfg: SimConfig =
        toml::from_str(&sim_toml(&tenants, 40, "[data]\nlate_share = 0.0\n")).unwrap();
    let sim = Simulator::start(sim_cfg, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let toml = slow_fleet_toml(&tenants, &sim.base_url(), &bed, &Rates::SLOW);
    let config = trawl::config::load_str(&toml).expect("test config loads");
    let streams = config.engine.tenants.iter().map(|t| t.streams.len()).sum();
    let backfill_from = backfill_start(30).await;
    let engine = Engine::start(config.engine, EngineOptions::default())
        .await
        .unwrap();
    Run {
        bed,
        tenants,
        sim,
        engine,
        streams,
        backfill_from,
    }
}

impl Run {
    /// Events published so far, all streams.
    fn events(&self) -> u64 {
        self.engine.status.snapshot().iter().map(|r| r.events).sum()
    }

    /// Waits until `more` events beyond `from` are published, with some stream still
    /// backfilling.
    async fn progress(&self, from: u64, more: u64) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
        loop {
            let s = self.engine.status.snapshot();
            if self.events() >= from + more && s.len() == self.streams {
                assert!(
                    s.iter().any(|r| r.state == StreamState::Backfilling),
                    "[{}] the failure must land mid-backfill: {s:#?}",
                    self.bed.label
                );
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "[{}] no progress: {s:#?}",
                self.bed.label
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Waits for the end of the backfill, stops the engine and compares with the truth.
    async fn finish(self) {
        let label = self.bed.label.clone();
        let wms = wait_all_live(&self.engine, self.streams, Duration::from_secs(300)).await;
        self.engine.stop().await;
        let start = self.backfill_from;
        let watermarks = by_stream(&self.tenants, &wms);
        let bed = self.bed.clone();
        let published = tokio::task::spawn_blocking(move || bed.published())
            .await
            .unwrap()
            .unwrap();
        let total = truth::compare(&self.sim, &self.tenants, &published, &watermarks, start)
            .unwrap_or_else(|p| panic!("[{label}] not exactly the ground truth: {p:#?}"));
        eprintln!("[{label}] {total} records on Kafka, each once");
        assert!(total > 10_000, "[{label}] a busy fleet: {total} records");
        self.sim.stop().await;
    }
}

async fn killed_and_restarted_twice(mode: Mode, label: &str) {
    let mut broker = KafkaBroker::start();
    let run = start(Bed::new(label, broker.bootstrap(), mode)).await;
    run.progress(0, 500).await;
    for round in 0..2 {
        let before = run.events();
        broker.kill();
        eprintln!("[{label}] broker killed ({round}) after {before} events");
        tokio::time::sleep(Duration::from_secs(3)).await;
        broker.restart().unwrap_or_else(|e| panic!("{e:#}"));
        run.progress(before, 500).await;
    }
    run.finish().await;
}

#[actix_rt::test]
async fn a_broker_killed_and_restarted_twice_loses_and_duplicates_nothing() {
    killed_and_restarted_twice(Mode::Idempotent, "restarts-idem").await;
}

#[actix_rt::test]
async fn a_broker_killed_and_restarted_twice_loses_and_duplicates_nothing_in_transactions() {
    killed_and_restarted_twice(Mode::Transactional, "restarts-txn").await;
}

#[actix_rt::test]
async fn one_broker_of_three_killed_loses_nothing() {
    let mut cluster = KafkaBroker::cluster(3);
    let bed = Bed::new("cluster", cluster.bootstrap(), Mode::Idempotent);
    let run = start(bed.clone()).await;
    run.progress(0, 500).await;
    // No `kafka.replication`: the topics got the brokers' default, 3 replicas.
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", cluster.bootstrap())
        .create()
        .unwrap();
    for topic in bed.event_topics() {
        let md = consumer
            .fetch_metadata(Some(&topic), Duration::from_secs(10))
            .unwrap();
        let t = &md.topics()[0];
        assert!(!t.partitions().is_empty(), "{topic} exists");
        for p in t.partitions() {
            assert_eq!(p.replicas().len(), 3, "{topic}/{}: 3 replicas", p.id());
        }
    }
    let before = run.events();
    cluster.kill_node(1);
    eprintln!("[cluster] node 2 killed after {before} events");
    run.progress(before, 500).await;
    run.finish().await;
    assert!(!cluster.is_running(1), "node 2 stayed dead to the end");
}
