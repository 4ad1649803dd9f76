//! The day's quota survives a restart: each bucket's requests of the current UTC day are
//! stored beside the checkpoints (a `quota:` record on the checkpoint topic) and the next
//! process continues the count. A Zoom account with a daily cap of 60 requests (the
//! simulator's and the tenant's) backfills more than that: a first `trawl` spends about
//! 40 and stops, a second one starts and spends only what is left of the day, so the
//! simulator never answers a daily 429. With a fresh count the second process would ask
//! for 60 more and be refused past the cap. The same records move to the next owner of
//! an account in a cluster, which loads them at the assignment (`cluster_handover`).

use std::time::Duration;

use trawl_engine::{Engine, EngineOptions};
use trawl_sim::{SimConfig, SimFamily, Simulator};
use trawl_suite::KafkaBroker;

const ACCOUNT: &str = "capped-acct";
const CAP: u32 = 60;

async fn used_today(engine: &Engine) -> Option<(u32, Option<u32>)> {
    let l = engine.limiters().await;
    l.first()
        .map(|(_, s)| (s.state.used_today, s.state.daily_remaining))
}

#[actix_rt::test]
async fn a_restart_near_the_daily_cap_continues_the_days_count() {
    let broker = KafkaBroker::shared();
    let sim_cfg: SimConfig = toml::from_str(&format!(
        "seed = 5\n[data]\nlate_share = 0.0\n[[zoom_accounts]]\naccount_id = \"{ACCOUNT}\"\n\
         client_id = \"c\"\nclient_secret = \"s\"\nplan = \"pro\"\nphone = false\n\
         records_per_day = 3000\nhistory_days = 40\nlimits.daily = {CAP}\n"
    ))
    .unwrap();
    let sim = Simulator::start(sim_cfg, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let label = format!("quota-{}", chrono::Utc::now().timestamp_micros());
    let toml = format!(
        "[kafka]\nbrokers = \"{brokers}\"\npartitions = 1\ntopic = \"{label}.audit.{{source}}\"\n\
         checkpoint_topic = \"{label}.checkpoints\"\ndead_letter_topic = \"{label}.dead_letter\"\n\
         [defaults]\npoll_interval = \"1h\"\nbackfill = \"30d\"\nlookback = \"1h\"\n\
         [[tenants]]\nid = \"capped\"\nprovider = \"zoom\"\nplan = \"pro\"\nstreams = [\"operation_logs\"]\n\
         account_id = \"{ACCOUNT}\"\nclient_id = \"c\"\nclient_secret = \"s\"\napi_base = \"{b}\"\n\
         oauth_base = \"{b}\"\nrate_limits.operation_logs = {{ per_second = 4.0, daily = {CAP} }}\n",
        brokers = broker.bootstrap(),
        b = sim.base_url()
    );
    let config = trawl::config::load_str(&toml).expect("test config loads");

    // The first process spends about two thirds of the day's cap, then stops.
    let first = Engine::start(config.engine.clone(), EngineOptions::default())
        .await
        .unwrap();
    let mut spent = 0;
    for _ in 0..600 {
        if let Some((used, _)) = used_today(&first).await {
            spent = used;
            if used >= 40 {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(spent >= 40, "the first run spent {spent} requests");
    first.stop().await;
    let before = sim.stats();
    let asked = before
        .limit(ACCOUNT, SimFamily::ZoomMain)
        .map_or(0, |l| l.requests);
    eprintln!("first run: {spent} requests counted, the simulator saw {asked}");

    // The second continues the count: it starts at what the first spent ...
    let second = Engine::start(config.engine.clone(), EngineOptions::default())
        .await
        .unwrap();
    let mut start_count = None;
    for _ in 0..300 {
        if let Some((used, _)) = used_today(&second).await {
            start_count = Some(used);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let start_count = start_count.expect("the second run's bucket");
    assert!(
        start_count >= asked as u32,
        "the second run's bucket began at {start_count} of today's requests, but {asked} were spent"
    );
    // ... and stops at the cap.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        if let Some((_, Some(0))) = used_today(&second).await {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the second run never reached the day's cap: {:?}",
            used_today(&second).await
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // A moment for any request past the cap to show.
    tokio::time::sleep(Duration::from_secs(2)).await;
    second.stop().await;
    let stats = sim.stats();
    let l = stats
        .limit(ACCOUNT, SimFamily::ZoomMain)
        .expect("requests were made");
    eprintln!(
        "in all: {} requests, {} daily 429s (cap {CAP})",
        l.requests, l.rate_limited_daily
    );
    assert_eq!(
        l.rate_limited_daily, 0,
        "no daily 429: the second run knew what the first had spent"
    );
    assert!(
        l.requests <= u64::from(CAP),
        "{} requests over a cap of {CAP}",
        l.requests
    );
    assert!(
        l.requests >= u64::from(CAP) - 2,
        "the day's quota was used: {}",
        l.requests
    );
    sim.stop().await;
}
