//! A caught-up stream's live polls cost what is new: about one request each (plus the
//! pages of its new records), not a re-read of the day and the lookback; the lookback is
//! re-read on the tenant's slower `recheck` schedule, and a late record inside it is
//! still delivered, once. A busy account (20,000 records a day) behind Zoom's silent
//! page-size cap (300 asked, 100 served), on Apache Kafka in both delivery modes; the
//! simulator's request count is the measure and its ground truth the reference, by
//! content and multiplicity.

use std::time::Duration;

use chrono::Duration as ChronoDuration;
use trawl_engine::status::StreamState;
use trawl_engine::{Engine, EngineOptions};
use trawl_sim::{SimApi, SimConfig, SimFamily, Simulator};
use trawl_suite::harness::{all_at, backfill_start, engine_toml, sim_toml, FleetTenant};
use trawl_suite::{truth, Bed, KafkaBroker, Mode};

const RECORDS_PER_DAY: u32 = 20_000;
const CAP: usize = 100;
/// Margin polls measured between two re-reads of the lookback.
const POLLS: u64 = 8;

#[actix_rt::test]
async fn live_polls_cost_their_new_records_and_late_ones_still_arrive() {
    let b = KafkaBroker::shared();
    cost(
        "bigidem",
        Bed::new("live-cost-idem", b.bootstrap(), Mode::Idempotent),
    )
    .await;
}

#[actix_rt::test]
async fn live_polls_cost_their_new_records_and_late_ones_still_arrive_in_transactions() {
    let b = KafkaBroker::shared();
    cost(
        "bigtxn",
        Bed::new("live-cost-txn", b.bootstrap(), Mode::Transactional),
    )
    .await;
}

fn main_requests(sim: &trawl_sim::SimHandle, account: &str) -> u64 {
    sim.stats()
        .limit(account, SimFamily::ZoomMain)
        .map_or(0, |l| l.requests)
}

async fn cost(id: &str, bed: Bed) {
    let tenants = vec![FleetTenant {
        id: id.to_string(),
        zoom: true,
        phone: true,
        records_per_day: RECORDS_PER_DAY,
        shared_account: None,
    }];
    let account = tenants[0].account();
    let extra =
        format!("unlimited = true\n[data]\nlate_share = 0.0\n[paging]\npage_size_cap = {CAP}\n");
    let sim_cfg: SimConfig = toml::from_str(&sim_toml(&tenants, 2, &extra)).unwrap();
    let sim = Simulator::start(sim_cfg, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    // Polls every second; the last 10 minutes re-read never in the measured span, the
    // whole hour of lookback every 12 s.
    let toml = engine_toml(
        &tenants,
        &sim.base_url(),
        &bed.brokers,
        &bed.kafka_toml(),
        "poll_interval = \"1s\"\nbackfill = \"1d\"\nlookback = \"1h\"\nrecheck = [\"lookback every 12s\"]\n",
    );
    let config = trawl::config::load_str(&toml).expect("test config loads");
    let start = backfill_start(1).await;
    let engine = Engine::start(config.engine, EngineOptions::default())
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(180);
    while !engine
        .status
        .snapshot()
        .iter()
        .all(|r| r.state == StreamState::Live)
    {
        assert!(tokio::time::Instant::now() < deadline, "not live in time");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // "Live" shows once a window reaches now; the backfill may still be proving a date's
    // edge (asking the neighbouring date). Caught up: a second with at most 3 requests.
    let mut last = main_requests(&sim, &account);
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let n = main_requests(&sim, &account);
        if n - last <= 3 {
            break;
        }
        last = n;
        assert!(
            tokio::time::Instant::now() < deadline,
            "the backfill did not settle"
        );
    }

    // What the lookback's re-read costs: the hour's records at the cap's page size.
    let hour = sim
        .ground_truth(
            &account,
            SimApi::ZoomOperationLogs,
            sim.now() - ChronoDuration::hours(1),
            sim.now(),
        )
        .len();
    let deep = (hour.div_ceil(CAP) + 2) as u64;
    assert!(
        deep >= 8,
        "the lookback holds pages enough to tell ({hour} records)"
    );

    // Measure POLLS seconds of polling: at most one re-read of the lookback among them,
    // the rest margin polls of about one request (a record every 4 s at this volume).
    let before = main_requests(&sim, &account);
    let mut series = Vec::new();
    for _ in 0..POLLS {
        tokio::time::sleep(Duration::from_secs(1)).await;
        series.push(main_requests(&sim, &account) - before);
    }
    eprintln!("requests over the measured seconds: {series:?}");
    let spent = main_requests(&sim, &account) - before;
    let bound = POLLS * 2 + deep + 2;
    assert!(
        spent <= bound,
        "{spent} requests in {POLLS} s of 1 s polls (bound {bound}: 2 a poll and one re-read of \
         {deep}); re-reading the lookback each poll would cost about {}",
        POLLS * deep
    );
    assert!(spent >= POLLS / 2, "the stream polled ({spent} requests)");

    // A late record inside the lookback (20 minutes old, far behind any margin poll):
    // the next re-read of the lookback delivers it, once.
    sim.inject(
        &account,
        SimApi::ZoomOperationLogs,
        2,
        3,
        ChronoDuration::minutes(20),
    );
    let injected = tokio::time::Instant::now();
    let until = all_at(&tenants, sim.now() + ChronoDuration::seconds(1));
    loop {
        let b = bed.clone();
        let published = tokio::task::spawn_blocking(move || {
            // The Zoom topics only (this fleet has no Zoho tenant).
            let topics: Vec<String> = b
                .event_topics()
                .into_iter()
                .filter(|t| t.contains("zoom"))
                .collect();
            truth::read_published(&b.brokers, &topics, b.isolation())
        })
        .await
        .unwrap()
        .unwrap();
        match truth::compare(&sim, &tenants, &published, &until, start) {
            Ok(n) => {
                assert!(n > 10_000, "{n} records compared");
                break;
            }
            Err(problems) => assert!(
                injected.elapsed() < Duration::from_secs(40),
                "late records not delivered by the lookback's re-read: {problems:#?}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    engine.stop().await;
    sim.stop().await;
}
