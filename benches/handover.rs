//! The handover bench: how long the accounts of a cluster member killed with -9 go
//! without requests, from the kill to the new owner's first request for each of them.
//!
//! `cargo bench --bench handover` (needs `TRAWL_KAFKA_HOME`, like the tests). Two
//! members (`trawl run` processes: this bench binary re-executed) share 8 Zoom accounts
//! (both streams) that backfill 30 days at a slow rate, asking every half second; each round kills one member with SIGKILL, watches the
//! simulator's request counts every 20 ms, and notes per account of the dead member when
//! its next request arrives; then a new member is started for the next round. Reports
//! p50 and p99 over every account of every round, against the session timeout (which
//! bounds how soon the group can notice a silent member). Knobs: `TRAWL_HANDOVER_ROUNDS`
//! (6), `TRAWL_HANDOVER_SESSION_S` (6, the brokers' minimum), `TRAWL_HANDOVER_KEEP` (keep
//! the members' logs and the ownership log).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use trawl_sim::{SimConfig, SimFamily, Simulator};
use trawl_suite::child::{Trawl, CHILD_ENV};
use trawl_suite::harness::{fleet, sim_toml, slow_fleet_toml, Rates};
use trawl_suite::{Bed, KafkaBroker, Mode};

const ACCOUNTS: usize = 8;

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn spawn(config: &Path, log: &Path, own: &Path) -> Trawl {
    let out = std::fs::File::create(log).expect("log file");
    let mut cmd = Command::new(std::env::current_exe().expect("this bench"));
    cmd.env(CHILD_ENV, config)
        .env(trawl_engine::cluster::OWNERSHIP_LOG_ENV, own)
        .env("TRAWL_LOG", "info,librdkafka=warn,rdkafka=warn")
        .stdin(Stdio::null())
        .stdout(out.try_clone().expect("log file"))
        .stderr(out);
    Trawl(trawl_suite::process::spawn_guarded(cmd).expect("re-executing the bench"))
}

/// What `member` owns now, by the ownership log.
fn owned_by(own: &Path, member: &str) -> BTreeSet<String> {
    let mut owned = BTreeSet::new();
    for line in std::fs::read_to_string(own).unwrap_or_default().lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() == 4 && f[1] == member {
            match f[2] {
                "acquire" => {
                    owned.insert(f[3].to_string());
                }
                _ => {
                    owned.remove(f[3]);
                }
            }
        }
    }
    owned
}

fn requests(sim: &trawl_sim::SimHandle) -> BTreeMap<String, u64> {
    sim.stats()
        .limits
        .iter()
        .filter(|l| l.family == SimFamily::ZoomMain)
        .map(|l| (format!("zoom:{}", l.account), l.requests))
        .collect()
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn main() -> ExitCode {
    trawl_suite::child::child_main();
    if std::env::args().any(|a| a == "--list") {
        return ExitCode::SUCCESS;
    }
    let rounds = env_num("TRAWL_HANDOVER_ROUNDS", 6) as usize;
    let session = env_num("TRAWL_HANDOVER_SESSION_S", 6);
    let system = actix::System::new();
    system.block_on(async move {
        let broker = KafkaBroker::start();
        let label = format!("handover-{}", chrono::Utc::now().timestamp());
        let bed = Bed::new(&label, broker.bootstrap(), Mode::Idempotent);
        // Busy enough that every account backfills (and so asks) all through the rounds.
        let tenants = fleet(ACCOUNTS, 0, 6000);
        let sim_cfg: SimConfig = toml::from_str(&sim_toml(&tenants, 40, "")).unwrap();
        let sim = Simulator::start(sim_cfg, "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let toml = slow_fleet_toml(&tenants, &sim.base_url(), &bed, &Rates::SLOW);
        let dir = tempfile::tempdir().unwrap();
        eprintln!("logs in {}", dir.path().display());
        let own = dir.path().join("ownership.log");
        let member = |n: usize| {
            let name = format!("h{n}");
            let cfg = dir.path().join(format!("{name}.toml"));
            std::fs::write(
                &cfg,
                format!(
                    "{toml}\n[cluster]\ngroup = \"{label}\"\ntopic = \"{label}.cluster\"\n\
                     partitions = 16\nsession_timeout = \"{session}s\"\nmember = \"{name}\"\n"
                ),
            )
            .unwrap();
            (name.clone(), spawn(&cfg, &dir.path().join(format!("{name}.log")), &own))
        };
        let mut members = vec![member(0), member(1)];
        let mut times: Vec<f64> = Vec::new();
        for round in 0..rounds {
            // Wait until both members own accounts and every account is being polled.
            let settle = Instant::now();
            loop {
                tokio::time::sleep(Duration::from_millis(500)).await;
                let a = owned_by(&own, &members[0].0).len();
                let b = owned_by(&own, &members[1].0).len();
                let before = requests(&sim);
                tokio::time::sleep(Duration::from_millis(1500)).await;
                let after = requests(&sim);
                let all_busy = after.len() == ACCOUNTS
                    && after.iter().all(|(k, v)| before.get(k).is_some_and(|b| v > b));
                if a > 0 && b > 0 && a + b == ACCOUNTS && all_busy {
                    break;
                }
                assert!(
                    settle.elapsed() < Duration::from_secs(120),
                    "round {round}: members never settled: {a} + {b} accounts owned, busy {all_busy}, {before:?} -> {after:?}"
                );
            }
            let victim = round % 2;
            let accounts = owned_by(&own, &members[victim].0);
            let (name, mut child) = members.remove(victim);
            child.0.kill().unwrap();
            child.0.wait().unwrap();
            let killed = Instant::now();
            let base = requests(&sim);
            let mut pending = accounts.clone();
            while !pending.is_empty() {
                tokio::time::sleep(Duration::from_millis(20)).await;
                let now = requests(&sim);
                pending.retain(|a| {
                    if now.get(a) > base.get(a) {
                        times.push(killed.elapsed().as_secs_f64());
                        false
                    } else {
                        true
                    }
                });
                if killed.elapsed() > Duration::from_secs(300) {
                    // Keep the members' logs and the ownership log for a look.
                    let kept = dir.keep();
                    panic!("round {round}: {pending:?} not taken over in 300 s; logs in {}", kept.display());
                }
            }
            eprintln!(
                "round {round}: killed {name} ({} accounts); all taken over after {:.2} s",
                accounts.len(),
                killed.elapsed().as_secs_f64()
            );
            members.insert(victim, member(round + 2));
        }
        for (_, mut c) in members {
            c.0.kill().ok();
            c.0.wait().ok();
        }
        times.sort_by(|a, b| a.partial_cmp(b).unwrap());
        println!(
            "handover after kill -9 ({} accounts over {rounds} rounds, session timeout {session} s): \
             p50 {:.2} s, p99 {:.2} s, max {:.2} s ({:.2} / {:.2} x the session timeout)",
            times.len(),
            quantile(&times, 0.5),
            quantile(&times, 0.99),
            times.last().copied().unwrap_or_default(),
            quantile(&times, 0.5) / session as f64,
            quantile(&times, 0.99) / session as f64,
        );
        if std::env::var_os("TRAWL_HANDOVER_KEEP").is_some() {
            eprintln!("logs kept in {}", dir.keep().display());
        }
        sim.stop().await;
    });
    ExitCode::SUCCESS
}
