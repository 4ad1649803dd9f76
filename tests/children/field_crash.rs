//! The end-to-end run: `trawl run` as a process of its own, SIGKILLed at random
//! moments of a backfill and restarted each time, then live for a while, against a
//! simulator that lists records oldest first, pages by offsets into lists that keep
//! growing while they are paged (records arrive all along, identical ones of one second
//! among them), holds late records arriving inside and beyond the lookback, and reads
//! Zoom dates in the accounts' zones. Stopped with SIGTERM, Kafka must hold the ground
//! truth by content and multiplicity: every record that arrived within the lookback
//! exactly once, none twice, nothing the simulator does not hold. (A record arriving
//! later than the lookback after its window was read is at most once: counting those is
//! the engine's.)
//!
//! The child process is this test binary re-executed (`--exact trawl_child`), as
//! in `engine_crash_recovery.rs`; `TRAWL_CRASH_SEED` replays the kill moments.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use trawl_kafka::{CheckpointStore, KafkaCheckpointStore, KafkaSettings};
use trawl_model::{canonical_json, SourceKind, StreamKey};
use trawl_sim::{DateZone, Order, PageTokens, SimConfig, Simulator};
use trawl_suite::child::{trawl_command, Trawl};
use trawl_suite::field::*;
use trawl_suite::harness::{api_of, backfill_start, engine_toml, FleetTenant, EVENT_TOPICS};
use trawl_suite::TansuBroker;

const SEED_ENV: &str = "TRAWL_CRASH_SEED";
const KILLS: usize = 4;
const DAYS: i64 = 8;
const LOOKBACK_MINUTES: i64 = 60;

/// `trawl run` as a child (`trawl_suite::child`), its log level from `TRAWL_CRASH_LOG`.
fn spawn(config: &Path, log: &Path) -> Trawl {
    let mut cmd = trawl_command(config, log);
    if let Ok(level) = std::env::var("TRAWL_CRASH_LOG") {
        cmd.env("TRAWL_LOG", level);
    }
    trawl_suite::child::spawn(cmd)
}

fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

async fn watermarks(settings: &KafkaSettings) -> HashMap<StreamKey, DateTime<Utc>> {
    let store = KafkaCheckpointStore::new(settings).expect("checkpoint reader");
    match store.load_all().await {
        Ok(cps) => cps.into_iter().map(|(k, cp)| (k, cp.watermark)).collect(),
        Err(_) => HashMap::new(),
    }
}

#[actix_rt::test]
async fn sigkilled_trawl_on_growing_offset_lists_with_late_records_equals_the_ground_truth() {
    let broker = TansuBroker::start();
    let mut tenants: Vec<FleetTenant> = Vec::new();
    let mut config = SimConfig {
        seed: 21,
        order: Order::OldestFirst,
        zoom_dates: DateZone::Account,
        ..SimConfig::default()
    };
    config.paging.tokens = PageTokens::Offset;
    config.data.duplicate_share = 0.08;
    config.data.late_share = 0.1;
    config.data.late_max_minutes = 3 * LOOKBACK_MINUTES as u32;
    for (id, phone, offset) in [
        ("kz1", true, 5 * 60 + 30),
        ("kz2", false, -3 * 60),
        ("kz3", false, 0),
    ] {
        let (t, mut a) = zoom(id, phone, 1200, DAYS as u32 + 2);
        a.utc_offset_minutes = offset;
        tenants.push(t);
        config.zoom_accounts.push(a);
    }
    let (t, o) = zoho("kh1", 1200, DAYS as u32 + 2);
    tenants.push(t);
    config.zoho_orgs.push(o);
    let sim = Simulator::start(config, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let base = sim.base_url();
    let toml = engine_toml(
        &tenants,
        &base,
        &broker.bootstrap(),
        "",
        &format!(
            "poll_interval = \"2s\"\nbackfill = \"{DAYS}d\"\nlookback = \"{LOOKBACK_MINUTES}m\"\nrecheck = \"every poll\"\n"
        ),
    );
    // Slow enough that the kills land in the backfill.
    let oauth = format!("oauth_base = \"{base}\"\n");
    let toml = toml
        .replace(
            &oauth,
            &format!(
                "{oauth}rate_limits.operation_logs = {{ per_second = 2.0 }}\n\
                 rate_limits.phone_operation_logs = {{ per_second = 1.0 }}\n"
            ),
        )
        .replace("per_second = 8.0", "per_second = 2.0");
    let toml = format!("{toml}\n[server]\nlisten = \"127.0.0.1:0\"\n");
    let loaded = trawl::config::load_str(&toml).expect("test config loads");
    let settings = loaded.engine.kafka.clone();
    let streams: Vec<(FleetTenant, SourceKind)> = tenants
        .iter()
        .flat_map(|t| t.streams().into_iter().map(move |k| (t.clone(), k)))
        .collect();
    let start = backfill_start(DAYS).await;
    let dir = tempfile::tempdir().unwrap();
    // `TRAWL_CRASH_KEEP=1` keeps the config and the runs' logs.
    let dir_path = if std::env::var_os("TRAWL_CRASH_KEEP").is_some() {
        let kept = dir.keep();
        eprintln!("config and logs kept in {}", kept.display());
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
    eprintln!("kill moments from seed {seed} ({SEED_ENV}={seed} replays them)");
    let mut rng = StdRng::seed_from_u64(seed);

    // Records keep arriving in every list, some of them already late.
    let grower = {
        let sim = sim.clone();
        let streams = streams.clone();
        tokio::spawn(async move {
            loop {
                for (t, k) in &streams {
                    sim.inject(&t.account(), api_of(*k), 2, 1, ChronoDuration::minutes(20));
                }
                tokio::time::sleep(Duration::from_millis(700)).await;
            }
        })
    };

    let begun = Utc::now();
    for i in 0..KILLS {
        let log = dir_path.join(format!("run-{i}.log"));
        let mut child = spawn(&config_path, &log);
        let life = Duration::from_millis(rng.gen_range(1_500..5_000));
        tokio::time::sleep(life).await;
        if let Ok(Some(status)) = child.0.try_wait() {
            panic!("run {i} exited by itself ({status}):\n{}", tail(&log));
        }
        child.0.kill().unwrap();
        child.0.wait().unwrap();
        let wms = watermarks(&settings).await;
        eprintln!(
            "run {i}: SIGKILL after {life:?}; {} of {} streams caught up",
            wms.values().filter(|w| **w >= begun).count(),
            streams.len()
        );
    }
    let wms = watermarks(&settings).await;
    assert!(
        streams
            .iter()
            .any(|(t, k)| wms.get(&t.key(*k)).is_none_or(|w| *w < begun)),
        "the kills must land in the backfill"
    );
    let log = dir_path.join("run-final.log");
    let mut child = spawn(&config_path, &log);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(240);
    loop {
        if let Ok(Some(status)) = child.0.try_wait() {
            panic!("the final run exited ({status}):\n{}", tail(&log));
        }
        let wms = watermarks(&settings).await;
        if streams
            .iter()
            .all(|(t, k)| wms.get(&t.key(*k)).is_some_and(|w| *w >= begun))
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not caught up:\n{}",
            tail(&log)
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // Live for a while, the lists still growing; then three polls with nothing new, so
    // every record visible by the check has been polled for.
    tokio::time::sleep(Duration::from_secs(10)).await;
    grower.abort();
    let check = sim.now();
    tokio::time::sleep(Duration::from_secs(7)).await;
    let sent = Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let stopped = tokio::time::Instant::now();
    let status = loop {
        if let Ok(Some(status)) = child.0.try_wait() {
            break status;
        }
        assert!(
            stopped.elapsed() < Duration::from_secs(60),
            "no exit after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        status.success(),
        "SIGTERM exits 0, got {status}:\n{}",
        tail(&log)
    );

    let b = broker.bootstrap();
    let events = tokio::task::spawn_blocking(move || published(&b, &EVENT_TOPICS).unwrap())
        .await
        .unwrap();
    let lookback = ChronoDuration::minutes(LOOKBACK_MINUTES);
    let mut problems = Vec::new();
    let mut total = 0;
    for (t, k) in &streams {
        let key = t.key(*k);
        let got = published_in(&events, &key, start, check);
        let mut seen = sim.ground_truth_seen(&t.account(), api_of(*k), start, check);
        // Records that only became visible after the check are not due yet.
        seen.retain(|(_, visible)| *visible <= check);
        // Late beyond the lookback (with a poll's margin): at most once.
        let record_time = |v: &serde_json::Value| trawl_suite::harness::record_second(*k, v);
        let (beyond, due): (Vec<_>, Vec<_>) = seen.into_iter().partition(|(v, visible)| {
            *visible - DateTime::from_timestamp(record_time(v), 0).unwrap()
                > lookback - ChronoDuration::seconds(10)
        });
        let due = sorted(due.iter().map(|(v, _)| canonical_json(v)).collect());
        let beyond = sorted(beyond.iter().map(|(v, _)| canonical_json(v)).collect());
        let mut rest = got.clone();
        let mut missing = 0;
        let mut missing_times = Vec::new();
        for r in &due {
            match rest.iter().position(|x| x == r) {
                Some(i) => {
                    rest.remove(i);
                }
                None => {
                    missing += 1;
                    let v: serde_json::Value = serde_json::from_str(r).unwrap();
                    missing_times.push(record_time(&v));
                }
            }
        }
        missing_times.sort();
        let mut extra = 0;
        let mut beyond_left = beyond.clone();
        for r in &rest {
            match beyond_left.iter().position(|x| x == r) {
                Some(i) => {
                    beyond_left.remove(i);
                }
                None => extra += 1,
            }
        }
        if missing + extra > 0 {
            let at = |s: Option<&i64>| s.and_then(|s| DateTime::from_timestamp(*s, 0));
            problems.push(format!(
                "{key}: {missing} missing ({:?} .. {:?}), {extra} twice or not in the ground truth (of {}; {} late beyond the lookback)",
                at(missing_times.first()),
                at(missing_times.last()),
                due.len(),
                beyond.len()
            ));
        }
        total += due.len();
    }
    assert!(problems.is_empty(), "not the ground truth: {problems:#?}");
    assert!(total > 20_000, "a busy fleet: {total}");
    eprintln!("{total} records on Kafka, each once");
    sim.stop().await;
}
