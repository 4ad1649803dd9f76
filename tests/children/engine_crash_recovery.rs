//! Crash recovery: `trawl run` as a process of its own, killed with SIGKILL at random
//! moments in the middle of a 30-day backfill and restarted each time, ends with exactly
//! the simulator's ground truth on Kafka: none missing, none twice.
//!
//! - Idempotent mode, on Apache Kafka and on `tansu` (no transactions): the read-back
//!   path (the checkpoint's output position, the stream's partition read from there to
//!   its end, ids found there skipped) is what keeps a restarted process from publishing
//!   again what its killed predecessor published after its last checkpoint. Checked with
//!   a `read_uncommitted` reader: without transactions any consumer sees the truth.
//! - Transactional mode on Apache Kafka, read `read_committed`: a kill between produce
//!   and commit leaves an open transaction; the next process takes the transactional.id
//!   over (fencing the dead one and aborting that transaction) before it reads its
//!   checkpoints back, so the aborted records stay invisible and are published again,
//!   once. How many aborted records the log holds is printed.
//!
//! Both kinds of check compare by trawl's ids and by record content with multiplicity
//! (`trawl_suite::truth`).
//!
//! trawl must be a separate process to be SIGKILLed: `trawl_suite::child` re-executes
//! this test binary as `trawl run`.
//! Kill moments come from a seeded RNG whose seed is printed; `TRAWL_CRASH_SEED=<n>`
//! replays them. The final process is stopped with SIGTERM and must exit 0.

use std::time::Duration;

use chrono::Utc;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use trawl_model::StreamKey;
use trawl_sim::{SimConfig, Simulator};
use trawl_suite::child::{sigterm_and_wait, spawn_trawl, tail};
use trawl_suite::harness::{
    backfill_start, fleet, sim_toml, slow_fleet_toml, stored_watermarks, Rates,
};
use trawl_suite::{truth, Bed, KafkaBroker, Mode, TansuBroker};

/// Replays the kill moments of an earlier run.
const SEED_ENV: &str = "TRAWL_CRASH_SEED";
/// Keeps the runs' config and logs.
const KEEP_ENV: &str = "TRAWL_CRASH_KEEP";
/// SIGKILLs before the final run ...
const KILLS: usize = 6;
/// ... unless this says otherwise (0 for a run without crashes, when a failure needs
/// telling apart from recovery).
const KILLS_ENV: &str = "TRAWL_CRASH_KILLS";
/// How long the final run may take to bring every stream up to the present.
const CATCH_UP: Duration = Duration::from_secs(300);
/// Each process lives this long (uniformly drawn) before its SIGKILL.
const LIFETIME_MS: std::ops::Range<u64> = 1_000..6_000;

#[actix_rt::test]
async fn sigkilled_trawl_restarts_into_exactly_the_ground_truth_on_tansu() {
    let broker = TansuBroker::start();
    crash_and_recover(Crash::normal(Bed::new(
        "crash-tansu",
        broker.bootstrap(),
        Mode::Idempotent,
    )))
    .await;
}

#[actix_rt::test]
async fn sigkilled_trawl_restarts_into_exactly_the_ground_truth_on_kafka() {
    let broker = KafkaBroker::shared();
    crash_and_recover(Crash::normal(Bed::new(
        "crash-idem",
        broker.bootstrap(),
        Mode::Idempotent,
    )))
    .await;
}

#[actix_rt::test]
async fn sigkilled_transactional_trawl_restarts_into_exactly_the_ground_truth_on_kafka() {
    let broker = KafkaBroker::shared();
    crash_and_recover(Crash::normal(Bed::new(
        "crash-txn",
        broker.bootstrap(),
        Mode::Transactional,
    )))
    .await;
}

/// Zoom accounts (with Phone) and Zoho orgs of the fleet.
const ZOOM: usize = 4;
const ZOHO: usize = 2;

/// Where a crash run goes and how heavy it is.
struct Crash {
    bed: Bed,
    records_per_day: u32,
    /// Every tenant's rate limit per stream: low enough that the 30-day backfill lasts
    /// about half a minute and the kills land in the middle of it.
    per_second: Rates,
}

impl Crash {
    fn normal(bed: Bed) -> Self {
        Self {
            bed,
            records_per_day: 400,
            per_second: Rates::SLOW,
        }
    }
}

/// Kills `trawl run` [`KILLS`] times at random moments, lets a last run catch up, stops
/// it with SIGTERM and compares Kafka with the ground truth.
async fn crash_and_recover(crash: Crash) {
    let label = crash.bed.label.clone();
    let label = label.as_str();
    let begun = Utc::now();
    let tenants = fleet(ZOOM, ZOHO, crash.records_per_day);
    let sim_cfg: SimConfig =
        toml::from_str(&sim_toml(&tenants, 40, "[data]\nlate_share = 0.0\n")).unwrap();
    let sim = Simulator::start(sim_cfg, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let toml = slow_fleet_toml(&tenants, &sim.base_url(), &crash.bed, &crash.per_second);
    let config = trawl::config::load_str(&toml).expect("test config loads");
    let settings = config.engine.kafka.clone();
    let streams: Vec<StreamKey> = config
        .engine
        .tenants
        .iter()
        .flat_map(|t| t.stream_keys())
        .collect();
    assert_eq!(streams.len(), ZOOM * 2 + ZOHO);
    let mut topics: Vec<String> = streams.iter().map(|k| settings.topic_for(k)).collect();
    topics.sort();
    topics.dedup();
    // Where every stream's backfill starts (the first run computes the same).
    let start = backfill_start(30).await;

    let dir = tempfile::Builder::new()
        .prefix(&format!("trawl-crash-{label}-"))
        .tempdir()
        .unwrap();
    // `TRAWL_CRASH_KEEP=1` keeps the config and every run's log for a post-mortem.
    let dir_path = if std::env::var_os(KEEP_ENV).is_some() {
        let kept = dir.keep();
        eprintln!("[{label}] config and logs kept in {}", kept.display());
        kept
    } else {
        dir.path().to_path_buf()
    };
    let config_path = dir_path.join("trawl.toml");
    std::fs::write(&config_path, &toml).unwrap();
    let seed = std::env::var(SEED_ENV)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| Utc::now().timestamp_micros() as u64);
    eprintln!("[{label}] kill moments from seed {seed} (replay: {SEED_ENV}={seed})");
    let mut rng = StdRng::seed_from_u64(seed);
    let mut logs = Vec::new();

    let kills = std::env::var(KILLS_ENV)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(KILLS);
    for i in 0..kills {
        let log = dir_path.join(format!("run-{i}.log"));
        let mut child = spawn_trawl(&config_path, &log);
        logs.push(log);
        let life = Duration::from_millis(rng.gen_range(LIFETIME_MS));
        tokio::time::sleep(life).await;
        if let Some(status) = child.try_wait().unwrap() {
            panic!(
                "[{label}] run {i} exited by itself ({status}) before its kill:\n{}",
                tail(logs.last().unwrap(), 30)
            );
        }
        child.kill().expect("SIGKILL");
        let status = child.wait().unwrap();
        let cps = stored_watermarks(&settings).await;
        let span = (begun - start).num_seconds() as f64;
        let done: f64 = cps
            .values()
            .map(|wm| ((*wm - start).num_seconds() as f64 / span).min(1.0))
            .sum::<f64>()
            / streams.len() as f64;
        eprintln!(
            "[{label}] run {i}: SIGKILL after {life:?} ({status}); backfill {:.0}% done, {} of {} streams caught up",
            done * 100.0,
            cps.values().filter(|wm| **wm >= begun).count(),
            streams.len()
        );
    }
    // The kills must have hit the backfill, not a finished run.
    let cps = stored_watermarks(&settings).await;
    assert!(
        kills == 0
            || streams
                .iter()
                .any(|k| cps.get(k).is_none_or(|wm| *wm < begun)),
        "[{label}] every stream had caught up before the last kill: the kills did not land \
         in the backfill (slow the fleet down)"
    );

    // The last run goes on until every stream has caught up with the present.
    let final_start = tokio::time::Instant::now();
    let log = dir_path.join("run-final.log");
    let mut child = spawn_trawl(&config_path, &log);
    logs.push(log.clone());
    // About a minute on an idle machine; generous for a busy one.
    let deadline = tokio::time::Instant::now() + CATCH_UP;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            panic!(
                "[{label}] the final run exited by itself ({status}):\n{}",
                tail(&log, 30)
            );
        }
        let cps = stored_watermarks(&settings).await;
        let behind: Vec<String> = streams
            .iter()
            .filter(|k| cps.get(*k).is_none_or(|wm| *wm < begun))
            .map(|k| format!("{k} at {:?}", cps.get(k)))
            .collect();
        if behind.is_empty() {
            break;
        }
        if tokio::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!(
                "[{label}] streams not caught up after {CATCH_UP:?}: {behind:#?}\n{}",
                tail(&log, 30)
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    eprintln!(
        "[{label}] final run: every stream caught up after {:?}",
        final_start.elapsed()
    );
    let status = sigterm_and_wait(&mut child, Duration::from_secs(60)).await;
    assert!(
        status.success(),
        "[{label}] SIGTERM must stop trawl gracefully with exit code 0, got {status}:\n{}",
        tail(&log, 30)
    );

    let read_backs: usize = logs
        .iter()
        .map(|l| {
            std::fs::read_to_string(l)
                .unwrap_or_default()
                .matches("read back events published after the last checkpoint")
                .count()
        })
        .sum();
    eprintln!(
        "[{label}] {} runs; {read_backs} stream recoveries found events published after their checkpoint",
        logs.len()
    );

    let watermarks = stored_watermarks(&settings).await;
    assert_eq!(
        watermarks.len(),
        streams.len(),
        "[{label}] every stream checkpointed"
    );
    let bed = crash.bed.clone();
    let published = tokio::task::spawn_blocking(move || {
        let names: Vec<&str> = topics.iter().map(String::as_str).collect();
        assert_complete_logs(&bed.brokers, &names);
        bed.published()
    })
    .await
    .unwrap()
    .unwrap();
    let total = truth::compare(&sim, &tenants, &published, &watermarks, start)
        .unwrap_or_else(|p| panic!("[{label}] not exactly the ground truth: {p:#?}"));
    assert!(total > 20_000, "[{label}] a busy fleet: {total} records");
    eprintln!(
        "[{label}] {total} records on Kafka, each once, {:.1} s in all",
        (Utc::now() - begun).num_milliseconds() as f64 / 1000.0
    );
    sim.stop().await;
}

/// Fails if a partition of `topics` no longer starts at offset 0: the broker dropped
/// records (retention), and a comparison with the ground truth would blame trawl for
/// the test bed.
fn assert_complete_logs(bootstrap: &str, topics: &[&str]) {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .unwrap();
    for topic in topics {
        let md = consumer
            .fetch_metadata(Some(topic), Duration::from_secs(10))
            .unwrap();
        for p in md.topics()[0].partitions() {
            let (low, high) = consumer
                .fetch_watermarks(topic, p.id(), Duration::from_secs(10))
                .unwrap();
            assert_eq!(
                low,
                0,
                "{topic}/{}: the broker dropped records before offset {low} (of {high}); \
                 make the test's fleet lighter",
                p.id()
            );
        }
    }
}
