//! A trawl cluster: members (`trawl run` processes with the same tenants and one
//! `[cluster] group`) share the accounts through a Kafka consumer group. Members are
//! started, stopped with SIGTERM (a handover: streams stopped, writes finished,
//! checkpoints stored, then the rebalance completes) and SIGKILLed (the group moves the
//! dead member's accounts after the session timeout) in the middle of a 30-day
//! backfill, against Apache Kafka. At the end:
//!
//! - Kafka holds exactly the simulator's ground truth, by id and by content with
//!   multiplicity (idempotent mode read `read_uncommitted`, transactional mode
//!   `read_committed`);
//! - every account was owned by at most one member at a time, seen from outside the
//!   members: the test describes the consumer group a few times a second, and no member
//!   owned an account (by its ownership log) that the group had not assigned to it; and
//!   by the members' own account: each member appends to an
//!   ownership log (`TRAWL_OWNERSHIP_LOG`, CLOCK_MONOTONIC timestamps) when it starts
//!   owning an account (before it can publish anything of it) and when it stops (after
//!   its last write was answered); a SIGKILLed member's ownership ends when the test
//!   saw it dead; no two members' intervals of one account overlap;
//! - the simulator's highest request rate of every account stayed within the rate its
//!   streams were given (`Rates::SLOW`, well below the plan's).
//!
//! Two of the tenants name one Zoom account: the account is the unit of ownership, so
//! both tenants' streams run on its one owner, one bucket keeps both within the plan,
//! and each tenant's topics hold every record of the account, each once.
//!
//! Scale: 30 tenants: 18 Zoom accounts of their own and one shared by two tenants (both
//! streams), 10 Zoho organizations (50 streams), 120 records a day each (the volume
//! stays small for the 2-core CI; the number of streams and accounts is what the
//! handover works on), 8 coordination partitions, 6 s session timeout, each stream
//! slowed so the backfill lasts long enough for the membership changes to land in its
//! middle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::Utc;
use trawl_kafka::cluster::account_partition;
use trawl_model::StreamKey;
use trawl_sim::{SimConfig, SimFamily, Simulator};
use trawl_suite::child::{sigterm_and_wait, spawn, tail, trawl_command, Trawl};
use trawl_suite::group::{monotonic_ns, GroupWatch, Snapshot};
use trawl_suite::harness::{
    backfill_start, fleet, sharing, sim_toml, slow_fleet_toml, stored_watermarks, Rates,
};
use trawl_suite::{truth, Bed, KafkaBroker, Mode};

const ZOOM: usize = 18;
const ZOHO: usize = 10;
/// Records a day of each account.
const DAILY: u32 = 120;
/// The Zoom account two tenants name, and those tenants.
const SHARED: &str = "shared-acct";
const SHARING: [&str; 2] = ["share0", "share1"];
/// How long the last members may take to bring every stream up to the present.
const CATCH_UP: Duration = Duration::from_secs(300);

#[actix_rt::test]
async fn members_join_leave_and_die_mid_backfill_idempotent_exactly_the_ground_truth() {
    let broker = KafkaBroker::shared();
    let bed = Bed::new("cluster-idem", broker.bootstrap(), Mode::Idempotent);
    // Three members; one leaves with SIGTERM, a fourth joins, one is killed.
    run_cluster(bed, &[Step::Term(1), Step::Start, Step::Kill(2)]).await;
}

#[actix_rt::test]
async fn members_die_join_and_leave_mid_backfill_transactional_exactly_the_ground_truth() {
    let broker = KafkaBroker::shared();
    let bed = Bed::new("cluster-txn", broker.bootstrap(), Mode::Transactional);
    // Three members; one killed, a fourth joins, one leaves with SIGTERM, one killed.
    run_cluster(
        bed,
        &[Step::Kill(0), Step::Start, Step::Term(1), Step::Kill(2)],
    )
    .await;
}

/// A membership change, by member index (in start order).
#[derive(Debug, Clone, Copy)]
enum Step {
    Start,
    Term(usize),
    Kill(usize),
}

/// Time between membership changes.
const PACE: Duration = Duration::from_secs(7);

struct Member {
    name: String,
    child: Trawl,
    log: PathBuf,
}

/// `trawl run` as a cluster member (this test binary, re-executed), appending to `own`.
fn spawn_member(config: &Path, log: &Path, own: &Path) -> Trawl {
    let mut cmd = trawl_command(config, log);
    cmd.env(trawl_engine::cluster::OWNERSHIP_LOG_ENV, own);
    spawn(cmd)
}

async fn run_cluster(bed: Bed, steps: &[Step]) {
    let label = bed.label.clone();
    let label = label.as_str();
    let begun = Utc::now();
    let mut tenants = fleet(ZOOM, ZOHO, DAILY);
    tenants.extend(sharing(&SHARING, SHARED, DAILY));
    assert!(
        tenants.len() >= 30,
        "the issue asks for at least 30 tenants"
    );
    let sim_cfg: SimConfig =
        toml::from_str(&sim_toml(&tenants, 40, "[data]\nlate_share = 0.0\n")).unwrap();
    let sim = Simulator::start(sim_cfg, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let run = Utc::now().timestamp_micros();
    let toml = slow_fleet_toml(&tenants, &sim.base_url(), &bed, &Rates::SLOW);
    let config = trawl::config::load_str(&toml).expect("test config loads");
    let settings = config.engine.kafka.clone();
    let streams: Vec<StreamKey> = config
        .engine
        .tenants
        .iter()
        .flat_map(|t| t.stream_keys())
        .collect();
    let start = backfill_start(30).await;
    let dir = tempfile::Builder::new()
        .prefix(&format!("trawl-{label}-"))
        .tempdir()
        .unwrap();
    let dir = if std::env::var_os("TRAWL_CLUSTER_KEEP").is_some() {
        let kept = dir.keep();
        eprintln!("[{label}] configs and logs kept in {}", kept.display());
        kept
    } else {
        dir.path().to_path_buf()
    };
    let own = dir.join("ownership.log");
    let mut members: Vec<Member> = Vec::new();
    let mut ended: Vec<(String, u128)> = Vec::new();
    let new_member = |i: usize| {
        let name = format!("m{i}");
        let path = dir.join(format!("{name}.toml"));
        std::fs::write(
            &path,
            format!(
                "{toml}\n[cluster]\ngroup = \"{label}-{run}\"\ntopic = \"{label}.cluster\"\n\
                 partitions = 8\nsession_timeout = \"6s\"\nmember = \"{name}\"\n"
            ),
        )
        .unwrap();
        let log = dir.join(format!("{name}.log"));
        Member {
            child: spawn_member(&path, &log, &own),
            name,
            log,
        }
    };
    // The group as Kafka sees it, from outside the members.
    let watch = GroupWatch::start(
        &bed.brokers,
        &format!("{label}-{run}"),
        &format!("{label}.cluster"),
    );
    for i in 0..3 {
        members.push(new_member(i));
    }
    for step in steps {
        tokio::time::sleep(PACE).await;
        for m in &mut members {
            if let Some(status) = m.child.try_wait().unwrap() {
                if !ended.iter().any(|(n, _)| *n == m.name) {
                    panic!(
                        "[{label}] {} exited by itself ({status}):\n{}",
                        m.name,
                        tail(&m.log, 40)
                    );
                }
            }
        }
        match *step {
            Step::Start => {
                let i = members.len();
                members.push(new_member(i));
            }
            Step::Term(i) => {
                let m = &mut members[i];
                let status = sigterm_and_wait(&mut m.child, Duration::from_secs(90)).await;
                assert!(
                    status.success(),
                    "[{label}] {} must stop with 0 on SIGTERM, got {status}:\n{}",
                    m.name,
                    tail(&m.log, 40)
                );
                ended.push((m.name.clone(), monotonic_ns()));
            }
            Step::Kill(i) => {
                let m = &mut members[i];
                m.child.kill().expect("SIGKILL");
                m.child.wait().unwrap();
                ended.push((m.name.clone(), monotonic_ns()));
            }
        }
        let cps = stored_watermarks(&settings).await;
        eprintln!(
            "[{label}] {step:?} done; {} of {} streams caught up",
            cps.values().filter(|wm| **wm >= begun).count(),
            streams.len()
        );
    }
    // The changes must have hit the backfill, not a finished run.
    let cps = stored_watermarks(&settings).await;
    assert!(
        streams
            .iter()
            .any(|k| cps.get(k).is_none_or(|wm| *wm < begun)),
        "[{label}] every stream had caught up before the last change: slow the fleet down"
    );

    let deadline = tokio::time::Instant::now() + CATCH_UP;
    loop {
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
            let logs: String = members
                .iter()
                .map(|m| format!("--- {}\n{}\n", m.name, tail(&m.log, 20)))
                .collect();
            panic!("[{label}] streams not caught up after {CATCH_UP:?}: {behind:#?}\n{logs}");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    for m in &mut members {
        if ended.iter().any(|(n, _)| *n == m.name) {
            continue;
        }
        let status = sigterm_and_wait(&mut m.child, Duration::from_secs(90)).await;
        assert!(
            status.success(),
            "[{label}] {} must stop with 0 on SIGTERM, got {status}:\n{}",
            m.name,
            tail(&m.log, 40)
        );
        ended.push((m.name.clone(), monotonic_ns()));
    }

    let snapshots = watch.stop();

    // At most one owner per account at any time, by the members' log.
    let text = std::fs::read_to_string(&own).expect("the ownership log");
    let owners = check_ownership(&text, &ended).unwrap_or_else(|p| panic!("[{label}] {p}"));
    // And by the group, seen from outside: no member worked on an account the group had
    // not given it, and the group itself moved accounts between members.
    let accounts: BTreeSet<String> = tenants
        .iter()
        .map(|t| format!("{}:{}", if t.zoom { "zoom" } else { "zoho" }, t.account()))
        .collect();
    let partition_of: BTreeMap<String, i32> = accounts
        .iter()
        .map(|a| {
            let (provider, account) = a.split_once(':').unwrap();
            (a.clone(), account_partition(provider, account, 8))
        })
        .collect();
    let moved_by_group = check_against_group(&text, &ended, &snapshots, &partition_of)
        .unwrap_or_else(|p| panic!("[{label}] {p}"));
    eprintln!(
        "[{label}] the group (described {} times) moved {moved_by_group} accounts between members",
        snapshots.len()
    );
    assert!(
        moved_by_group > 0,
        "[{label}] the group moved no account: the test tested nothing"
    );
    for a in &accounts {
        assert!(
            owners.contains_key(a),
            "[{label}] {a} was never owned:\n{text}"
        );
    }
    // Only accounts are owned, never a tenant's streams apart from its account's: the
    // shared account is one line per change (a member owning it twice, through two
    // partitions, fails above as "acquired twice"), and both tenants' streams run where
    // it is owned.
    let owned: BTreeSet<&String> = owners.keys().collect();
    assert_eq!(
        owned,
        accounts.iter().collect(),
        "[{label}] owned accounts:\n{text}"
    );
    let shared = format!("zoom:{SHARED}");
    eprintln!(
        "[{label}] {shared} (tenants {SHARING:?}) had {} owners in turn, never two at once",
        owners[&shared]
    );
    let moved = owners.values().filter(|n| **n > 1).count();
    eprintln!(
        "[{label}] {} accounts; {moved} moved between members; ownership intervals never overlap",
        accounts.len()
    );
    assert!(
        moved > 0,
        "[{label}] no account moved: the test tested nothing"
    );

    let stats = sim.stats();
    // The shared account's two tenants draw on one bucket, paced at the configured
    // rate (`Rates::SLOW`, 2 a second on the main API, one permit every 500 ms): a
    // bucket per tenant would send twice that, 4 in most seconds, still within the
    // plan's 10. One more than the rate is allowed in a sliding second: requests arrive
    // with the jitter of a loaded machine (permits at 0, 0.5 and 1.0 s sent at 0.02,
    // 0.5 and 1.0 s lie within one second), and a new owner's bucket paces afresh.
    for family in [SimFamily::ZoomMain, SimFamily::ZoomPhone] {
        let l = stats
            .limit(SHARED, family)
            .unwrap_or_else(|| panic!("[{label}] no {family:?} requests for {SHARED}"));
        eprintln!(
            "[{label}] {SHARED} {family:?}: {} requests of both tenants, at most {} in a second",
            l.requests, l.max_rate_1s
        );
    }
    let main = stats.limit(SHARED, SimFamily::ZoomMain).unwrap();
    assert!(
        main.max_rate_1s <= Rates::SLOW.operation_logs.ceil() as u64 + 1,
        "[{label}] {SHARED}: {} requests in a second for its two tenants, over the one \
         bucket's {} a second (plus one for jitter)",
        main.max_rate_1s,
        Rates::SLOW.operation_logs
    );
    // Every account within the rate its streams were given (`Rates::SLOW`), not only
    // within the plan's (10 a second): one more in a sliding second for the jitter
    // above, whoever owned the account at the time, and up to twice the given rate in
    // the second of a handover (the old owner's last paced request and the new owner's
    // first land together; one run in four showed 4 at 2 a second). Two owners at once
    // are caught by the ownership checks above, not here.
    for l in &stats.limits {
        let given = match l.family {
            SimFamily::ZoomMain => Rates::SLOW.operation_logs,
            SimFamily::ZoomPhone => Rates::SLOW.phone_operation_logs,
            SimFamily::ZohoMail => Rates::SLOW.mail_audit,
        };
        let most = (given.ceil() as u64 + 1).max(2 * given.ceil() as u64);
        assert!(
            l.max_rate_1s <= most,
            "[{label}] {} {:?}/{}: {} requests in a second, over the {given} a second its \
             streams were given (with jitter and a handover's overlap)",
            l.account,
            l.family,
            l.label,
            l.max_rate_1s
        );
        assert_eq!(
            l.rate_limited_qps + l.rate_limited_daily,
            0,
            "[{label}] {}: no 429",
            l.account
        );
    }

    let watermarks = stored_watermarks(&settings).await;
    assert_eq!(
        watermarks.len(),
        streams.len(),
        "[{label}] every stream checkpointed"
    );
    let bed2 = bed.clone();
    let published = tokio::task::spawn_blocking(move || bed2.published())
        .await
        .unwrap()
        .unwrap();
    let total = truth::compare(&sim, &tenants, &published, &watermarks, start)
        .unwrap_or_else(|p| panic!("[{label}] not exactly the ground truth: {p:#?}"));
    assert!(total > 10_000, "[{label}] a busy fleet: {total} records");
    // The shared account's records, once in each tenant's streams (counted in `total`).
    let pair: Vec<_> = tenants
        .iter()
        .filter(|t| t.shared_account.is_some())
        .cloned()
        .collect();
    assert_eq!(pair.len(), SHARING.len());
    for t in &pair {
        let n = truth::compare(
            &sim,
            std::slice::from_ref(t),
            &published,
            &watermarks,
            start,
        )
        .unwrap_or_else(|p| panic!("[{label}] {}: {p:#?}", t.id));
        eprintln!("[{label}] {} ({SHARED}): {n} records, each once", t.id);
    }
    eprintln!(
        "[{label}] {total} records on Kafka, each once, {:.1} s in all",
        (Utc::now() - begun).num_milliseconds() as f64 / 1000.0
    );
    sim.stop().await;
}

/// Checks the members' ownership log (`ns member acquire|release account` lines) against
/// the group's assignments described from outside: in every snapshot taken while the
/// group was stable, an account a member owned by its log all through the snapshot was
/// in a partition the group had assigned to that member; each account's partition was
/// assigned to someone at some point. Returns how many accounts the group gave to more
/// than one member in turn.
fn check_against_group(
    log: &str,
    ended: &[(String, u128)],
    snapshots: &[Snapshot],
    partition_of: &BTreeMap<String, i32>,
) -> Result<usize, String> {
    // (member, account) -> intervals [from, to) of ownership by the log.
    let mut open: BTreeMap<(String, String), u128> = BTreeMap::new();
    let mut intervals: Vec<(String, String, u128, u128)> = Vec::new();
    for line in log.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let [at, member, what, account] = f[..] else {
            return Err(format!("bad ownership line {line:?}"));
        };
        let at: u128 = at.parse().map_err(|_| format!("bad time in {line:?}"))?;
        let key = (member.to_string(), account.to_string());
        match what {
            "acquire" => {
                open.insert(key, at);
            }
            _ => {
                if let Some(from) = open.remove(&key) {
                    intervals.push((key.0, key.1, from, at));
                }
            }
        }
    }
    for ((member, account), from) in open {
        let to = ended
            .iter()
            .find(|(n, _)| *n == member)
            .map_or(u128::MAX, |(_, t)| *t);
        intervals.push((member, account, from, to));
    }
    let stable: Vec<&Snapshot> = snapshots.iter().filter(|s| s.state == "Stable").collect();
    if stable.is_empty() {
        return Err("the group was never seen stable".into());
    }
    for s in &stable {
        for (member, account, from, to) in &intervals {
            if *from > s.asked || *to < s.answered {
                continue;
            }
            // With the cooperative assignor a partition being moved is first taken from
            // its owner and given to nobody; the owner lets go once it has handed its
            // accounts over (its ownership log says when). What must never be seen is a
            // member working on an account the group had given to another member.
            let p = partition_of[account];
            if s.members
                .iter()
                .any(|(m, ps)| m != member && ps.contains(&p))
            {
                return Err(format!(
                    "{member} owned {account} (partition {p}) while the group gave it to \
                     {:?}: {:?}",
                    s.members
                        .iter()
                        .filter(|(_, ps)| ps.contains(&p))
                        .map(|(m, _)| m)
                        .collect::<Vec<_>>(),
                    s.members
                ));
            }
        }
    }
    let mut moved = 0;
    for (account, p) in partition_of {
        let owners: BTreeSet<&String> = stable
            .iter()
            .flat_map(|s| {
                s.members
                    .iter()
                    .filter(|(_, ps)| ps.contains(p))
                    .map(|(m, _)| m)
            })
            .collect();
        if owners.is_empty() {
            return Err(format!(
                "the group never assigned {account} (partition {p})"
            ));
        }
        moved += usize::from(owners.len() > 1);
    }
    Ok(moved)
}

/// Checks that no two members' ownership intervals of one account overlap. `ended`:
/// when each member was seen gone (an interval with no release ends there). Returns
/// how many intervals each account had.
fn check_ownership(
    text: &str,
    ended: &[(String, u128)],
) -> Result<BTreeMap<String, usize>, String> {
    // account -> (member -> open since), and closed intervals.
    let mut open: BTreeMap<(String, String), u128> = BTreeMap::new();
    let mut intervals: BTreeMap<String, Vec<(u128, u128, String)>> = BTreeMap::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let [ts, member, what, account] = f[..] else {
            return Err(format!("bad ownership line {line:?}"));
        };
        let ts: u128 = ts.parse().map_err(|_| format!("bad time in {line:?}"))?;
        let key = (account.to_string(), member.to_string());
        match what {
            "acquire" => {
                if open.insert(key, ts).is_some() {
                    return Err(format!("{member} acquired {account} twice: {line:?}"));
                }
            }
            "release" | "lost" => {
                let since = open
                    .remove(&key)
                    .ok_or_else(|| format!("{member} gave {account} up without owning it"))?;
                intervals.entry(account.to_string()).or_default().push((
                    since,
                    ts,
                    member.to_string(),
                ));
            }
            _ => return Err(format!("bad ownership line {line:?}")),
        }
    }
    for ((account, member), since) in open {
        let end = ended
            .iter()
            .find(|(n, _)| *n == member)
            .map(|(_, t)| *t)
            .ok_or_else(|| format!("{member} still owns {account} at the end"))?;
        intervals
            .entry(account)
            .or_default()
            .push((since, end, member));
    }
    let mut counts = BTreeMap::new();
    for (account, mut iv) in intervals {
        iv.sort();
        for w in iv.windows(2) {
            if w[1].0 < w[0].1 {
                return Err(format!(
                    "{account} owned by {} from {} to {} and by {} from {}: overlapping by {} ms",
                    w[0].2,
                    w[0].0,
                    w[0].1,
                    w[1].2,
                    w[1].0,
                    (w[0].1 - w[1].0) / 1_000_000
                ));
            }
        }
        counts.insert(account, iv.len());
    }
    Ok(counts)
}

#[test]
fn ownership_overlap_is_found() {
    let ok = "1 m0 acquire zoom:a\n5 m0 release zoom:a\n6 m1 acquire zoom:a\n";
    let counts = check_ownership(ok, &[("m1".into(), 9)]).unwrap();
    assert_eq!(counts["zoom:a"], 2);
    let overlap = "1 m0 acquire zoom:a\n4 m1 acquire zoom:a\n5 m0 release zoom:a\n";
    assert!(check_ownership(overlap, &[("m1".into(), 9)])
        .unwrap_err()
        .contains("overlapping"));
    // A killed member's interval ends when it was seen dead.
    let killed = "1 m0 acquire zoom:a\n4 m1 acquire zoom:a\n";
    assert!(check_ownership(killed, &[("m0".into(), 5), ("m1".into(), 9)]).is_err());
    assert!(check_ownership(killed, &[("m0".into(), 3), ("m1".into(), 9)]).is_ok());

    // Against the group: a partition taken from its owner and given to nobody yet (the
    // cooperative assignor's first step) is fine; given to another member, it is not.
    let snap = |at: u128, m0: &[i32], m1: &[i32]| Snapshot {
        asked: at,
        answered: at + 1,
        state: "Stable".into(),
        members: [
            ("m0".to_string(), m0.iter().copied().collect()),
            ("m1".to_string(), m1.iter().copied().collect()),
        ]
        .into(),
    };
    let partition_of: BTreeMap<String, i32> = [("zoom:a".to_string(), 3)].into();
    let log = "1 m0 acquire zoom:a\n5 m0 release zoom:a\n6 m1 acquire zoom:a\n";
    let ended = [("m1".to_string(), 9)];
    let handing_over = [snap(2, &[3], &[]), snap(4, &[], &[]), snap(7, &[], &[3])];
    assert_eq!(
        check_against_group(log, &ended, &handing_over, &partition_of),
        Ok(1)
    );
    let overlap = [snap(2, &[3], &[]), snap(4, &[], &[3]), snap(7, &[], &[3])];
    assert!(check_against_group(log, &ended, &overlap, &partition_of)
        .unwrap_err()
        .contains("while the group gave it to"));
}
