//! Crash recovery: `trawl run` as a process of its own, killed with SIGKILL at random
//! moments in the middle of a 30-day backfill and restarted each time, ends with exactly
//! the simulator's ground truth on Kafka: none missing, none twice.
//!
//! - On `tansu` (no transactions): the read-back path (the checkpoint's output position,
//!   the stream's partition read from there to its end, ids found there skipped) is what
//!   keeps a restarted process from publishing again what its killed predecessor
//!   published after its last checkpoint.
//! - On librdkafka's mock cluster with `kafka.transactional = true`, read with
//!   `read_committed`. The mock neither hides aborted transactions nor fences zombies
//!   (pinned in `crates/trawl-kafka/tests/transactions.rs`), so the records of a
//!   transaction cut short by the kill stay visible there and it is again the read-back
//!   that dedupes them; what this run adds is the transactional publisher's recovery
//!   (checkpoints written inside transactions, a new producer taking over the same
//!   `transactional.id` after an unfinished transaction).
//!
//! trawl must be a separate process to be SIGKILLed, and an integration test can't name
//! the `trawl` binary, so the test binary re-executes itself (`--exact crash_child`) with
//! the config path in `TRAWL_CRASH_CHILD_CONFIG`: that test then calls `trawl::run::run`,
//! exactly what `trawl run --config FILE` does; in a normal test run it does nothing.
//! Kill moments come from a seeded RNG whose seed is printed; `TRAWL_CRASH_SEED=<n>`
//! replays them. The final process is stopped with SIGTERM and must exit 0.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use chrono::{DateTime, Duration as ChronoDuration, DurationRound, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::mocking::MockCluster;
use trawl_kafka::{CheckpointStore, KafkaCheckpointStore, KafkaSettings, TopicTemplate};
use trawl_model::StreamKey;
use trawl_sim::{SimConfig, SimHandle, Simulator};
use trawl_suite::harness::{
    engine_toml, expected_ids, fleet, published_ids, sim_toml, FleetTenant,
};
use trawl_suite::TansuBroker;

/// Set (to a config file) only in the re-executed child.
const CHILD_ENV: &str = "TRAWL_CRASH_CHILD_CONFIG";
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

/// The child side: `trawl run --config $TRAWL_CRASH_CHILD_CONFIG`, then exit with its
/// code. A no-op unless the parent test started this process.
#[test]
fn crash_child() {
    let Some(path) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    trawl::logging::init(trawl::cli::LogFormat::Text);
    let code = trawl::run::run(Path::new(&path));
    std::process::exit(if code == std::process::ExitCode::SUCCESS {
        0
    } else {
        1
    });
}

#[actix_rt::test]
async fn sigkilled_trawl_restarts_into_exactly_the_ground_truth_on_tansu() {
    let broker = TansuBroker::start();
    crash_and_recover(Bed {
        label: "tansu",
        brokers: broker.bootstrap(),
        kafka: String::new(),
        records_per_day: 400,
        per_second: Rates {
            operation_logs: 2.0,
            phone_operation_logs: 1.0,
            mail_audit: 3.0,
        },
    })
    .await;
}

#[actix_rt::test]
async fn sigkilled_transactional_trawl_restarts_into_exactly_the_ground_truth_on_the_mock_cluster()
{
    let tenants = fleet(ZOOM, ZOHO, 0);
    let cluster = MockCluster::new(1).expect("mock cluster");
    // The mock cluster keeps at most 5 MB per partition (older records silently go), so
    // every stream gets a topic of its own and the fleet is lighter here; it has no
    // CreateTopics either: the topics are made here and trawl is told not to try.
    let per_stream = TopicTemplate::new(PER_STREAM_TOPIC).unwrap();
    for t in &tenants {
        for kind in t.streams() {
            let topic = per_stream.topic_for(&t.key(kind));
            cluster.create_topic(&topic, 1, 1).expect("create topic");
        }
    }
    for topic in ["trawl.checkpoints", "trawl.dead_letter"] {
        cluster.create_topic(topic, 3, 1).expect("create topic");
    }
    crash_and_recover(Bed {
        label: "mock",
        brokers: cluster.bootstrap_servers(),
        kafka: format!(
            "topic = \"{PER_STREAM_TOPIC}\"\ntransactional = true\n\
             transactional_id = \"trawl-crash-test\"\ncreate_topics = false\n"
        ),
        records_per_day: 100,
        per_second: Rates {
            operation_logs: 1.0,
            phone_operation_logs: 1.0,
            mail_audit: 1.0,
        },
    })
    .await;
}

/// The mock cluster's event topics: one per stream.
const PER_STREAM_TOPIC: &str = "audit.{tenant}.{source}";

/// Zoom accounts (with Phone) and Zoho orgs of the fleet.
const ZOOM: usize = 4;
const ZOHO: usize = 2;

/// Where a crash run goes and how heavy it is.
struct Bed {
    label: &'static str,
    brokers: String,
    /// Extra `[kafka]` lines.
    kafka: String,
    records_per_day: u32,
    /// Every tenant's rate limit per stream: low enough that the 30-day backfill lasts
    /// about half a minute and the kills land in the middle of it.
    per_second: Rates,
}

struct Rates {
    operation_logs: f64,
    phone_operation_logs: f64,
    mail_audit: f64,
}

/// trawl's config for the fleet, each stream slowed down by its rate limit.
fn slow_fleet_toml(tenants: &[FleetTenant], base: &str, bed: &Bed) -> String {
    let toml = engine_toml(
        tenants,
        base,
        &bed.brokers,
        &bed.kafka,
        "poll_interval = \"2s\"\nbackfill = \"30d\"\nlookback = \"1h\"\n",
    );
    let r = &bed.per_second;
    let oauth = format!("oauth_base = \"{base}\"\n");
    let toml = toml
        .replace(
            &oauth,
            &format!(
                "{oauth}rate_limits.operation_logs = {{ per_second = {:?} }}\n\
                 rate_limits.phone_operation_logs = {{ per_second = {:?} }}\n",
                r.operation_logs, r.phone_operation_logs
            ),
        )
        .replace(
            "per_second = 8.0",
            &format!("per_second = {:?}", r.mail_audit),
        );
    // The rewriting above depends on engine_toml's layout: check it took.
    assert_eq!(
        toml.matches("rate_limits.").count(),
        tenants.iter().map(|t| t.streams().len()).sum::<usize>(),
        "every stream's rate limit set:\n{toml}"
    );
    format!("{toml}\n[server]\nlisten = \"127.0.0.1:0\"\n")
}

/// Kills `trawl run` [`KILLS`] times at random moments, lets a last run catch up, stops
/// it with SIGTERM and compares Kafka with the ground truth.
async fn crash_and_recover(bed: Bed) {
    let label = bed.label;
    let begun = Utc::now();
    let tenants = fleet(ZOOM, ZOHO, bed.records_per_day);
    let sim_cfg: SimConfig =
        toml::from_str(&sim_toml(&tenants, 40, "[data]\nlate_share = 0.0\n")).unwrap();
    let sim = Simulator::start(sim_cfg, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let toml = slow_fleet_toml(&tenants, &sim.base_url(), &bed);
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
    let start = (Utc::now() - ChronoDuration::days(30))
        .duration_trunc(ChronoDuration::days(1))
        .unwrap();

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
                tail(logs.last().unwrap())
            );
        }
        child.kill().expect("SIGKILL");
        let status = child.wait().unwrap();
        let cps = checkpoints(&settings).await;
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
    let cps = checkpoints(&settings).await;
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
                tail(&log)
            );
        }
        let cps = checkpoints(&settings).await;
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
                tail(&log)
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
        tail(&log)
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

    let watermarks = checkpoints(&settings).await;
    assert_eq!(
        watermarks.len(),
        streams.len(),
        "[{label}] every stream checkpointed"
    );
    let b = bed.brokers.clone();
    let published = tokio::task::spawn_blocking(move || {
        let names: Vec<&str> = topics.iter().map(String::as_str).collect();
        assert_complete_logs(&b, &names);
        published_ids(&b, &names)
    })
    .await
    .unwrap()
    .unwrap();
    let total = compare_with_ground_truth(label, &sim, &tenants, &published, &watermarks, start);
    eprintln!(
        "[{label}] {total} records on Kafka, each once, {:.1} s in all",
        (Utc::now() - begun).num_milliseconds() as f64 / 1000.0
    );
    sim.stop().await;
}

/// Checks every stream: each id of the ground truth before its final watermark is on
/// Kafka, nothing is there twice, nothing is there that the simulator doesn't hold.
/// Returns how many records were expected.
fn compare_with_ground_truth(
    label: &str,
    sim: &SimHandle,
    tenants: &[FleetTenant],
    published: &trawl_suite::harness::PublishedIds,
    watermarks: &HashMap<StreamKey, DateTime<Utc>>,
    start: DateTime<Utc>,
) -> usize {
    let mut total = 0;
    let mut problems = BTreeMap::new();
    for t in tenants {
        for kind in t.streams() {
            let key = t.key(kind);
            let wm = watermarks[&key];
            let expected = expected_ids(sim, t, kind, start, wm);
            let possible =
                expected_ids(sim, t, kind, start, sim.now() + ChronoDuration::seconds(1));
            let got = published.get(&key).cloned().unwrap_or_default();
            let twice = got.values().filter(|(n, _)| *n > 1).count();
            let missing = expected.iter().filter(|id| !got.contains_key(id)).count();
            let extra = got.keys().filter(|id| !possible.contains(id)).count();
            if (twice, missing, extra) != (0, 0, 0) {
                problems.insert(
                    key.to_string(),
                    format!(
                        "{twice} twice, {missing} missing, {extra} not in the ground truth (of {})",
                        expected.len()
                    ),
                );
            }
            assert!(!expected.is_empty(), "{key}: the simulator holds records");
            total += expected.len();
        }
    }
    assert!(
        problems.is_empty(),
        "[{label}] not exactly the ground truth: {problems:#?}"
    );
    assert!(total > 20_000, "[{label}] a busy fleet: {total} records");
    total
}

/// A `trawl run` process; SIGKILLed when dropped, so a failing test leaves none behind.
struct Trawl(Child);

impl std::ops::Deref for Trawl {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Trawl {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Trawl {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Starts `trawl run` in a child process (this test binary, re-executed), its output
/// going to `log`.
fn spawn_trawl(config: &Path, log: &PathBuf) -> Trawl {
    let out = std::fs::File::create(log).unwrap();
    let child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, config)
        .env("TRAWL_LOG", "info,librdkafka=warn,rdkafka=warn")
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .expect("re-executing the test binary");
    Trawl(child)
}

/// Sends SIGTERM and waits for the exit, SIGKILLing after `within`.
async fn sigterm_and_wait(child: &mut Trawl, within: Duration) -> ExitStatus {
    let sent = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success(), "kill -TERM failed");
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if tokio::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("trawl did not stop within {within:?} of SIGTERM");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every stream's stored watermark, as a restarted trawl would load it (none while the
/// checkpoint topic does not exist yet).
async fn checkpoints(settings: &KafkaSettings) -> HashMap<StreamKey, DateTime<Utc>> {
    let store = KafkaCheckpointStore::new(settings).expect("checkpoint reader");
    match store.load_all().await {
        Ok(cps) => cps.into_iter().map(|(k, cp)| (k, cp.watermark)).collect(),
        Err(e) => {
            eprintln!("reading the checkpoint topic: {e}");
            HashMap::new()
        }
    }
}

/// Fails if a partition of `topics` no longer starts at offset 0: the broker dropped
/// records (the mock cluster keeps 5 MB per partition), and a comparison with the
/// ground truth would blame trawl for the test bed.
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

/// The last lines a run logged.
fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}
