//! Sharing an account's quota with another app: with a "neighbour" eating half of a
//! Business account's Heavy quota, fewer than 1 % of trawl's requests get a 429, no
//! daily cap is breached, and every record still arrives exactly once (the simulator's
//! ground truth, by content and multiplicity).

use std::time::Duration;

use trawl_engine::status::StreamState;
use trawl_engine::{Engine, EngineOptions};
use trawl_sim::{SimConfig, SimFamily, Simulator};
use trawl_suite::harness::{all_at, backfill_start, FleetTenant};
use trawl_suite::{truth, Bed, KafkaBroker, Mode};

#[actix_rt::test]
async fn a_neighbour_app_taking_half_the_quota_costs_under_one_percent_429s() {
    let bed = Bed::new("quota", KafkaBroker::shared().bootstrap(), Mode::Idempotent);
    let t = FleetTenant {
        id: "shared".into(),
        zoom: true,
        phone: false,
        records_per_day: 2000,
        shared_account: None,
    };
    let sim_cfg: SimConfig = toml::from_str(&format!(
        "seed = 5\n[data]\nlate_share = 0.0\n[[zoom_accounts]]\naccount_id = \"{a}\"\nclient_id = \"c\"\nclient_secret = \"s\"\n\
         plan = \"business\"\nphone = false\nrecords_per_day = 2000\nhistory_days = 65\nneighbour_share = 0.5\n",
        a = t.account()
    ))
    .unwrap();
    let sim = Simulator::start(sim_cfg, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let toml = format!(
        "[kafka]\nbrokers = \"{k}\"\npartitions = 1\n{kafka}[defaults]\npoll_interval = \"5s\"\nbackfill = \"60d\"\nlookback = \"1h\"\n\
         [[tenants]]\nid = \"shared\"\nprovider = \"zoom\"\nplan = \"business\"\nstreams = [\"operation_logs\"]\naccount_id = \"{a}\"\n\
         client_id = \"c\"\nclient_secret = \"s\"\napi_base = \"{b}\"\noauth_base = \"{b}\"\n",
        k = bed.brokers,
        kafka = bed.kafka_toml(),
        a = t.account(),
        b = sim.base_url()
    );
    let config = trawl::config::load_str(&toml).expect("test config loads");
    let start = backfill_start(60).await;
    let engine = Engine::start(config.engine, EngineOptions::default())
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(150);
    let wm = loop {
        let s = engine.status.snapshot();
        if let Some(r) = s.iter().find(|r| r.state == StreamState::Live) {
            break r.watermark.unwrap();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "backfill not done: {s:#?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    engine.stop().await;

    let stats = sim.stats();
    let l = stats
        .limit(&t.account(), SimFamily::ZoomMain)
        .expect("requests were made");
    let share = l.rate_limited_qps as f64 / l.requests as f64;
    println!(
        "{} requests, {} answered 429 ({:.2} %)",
        l.requests,
        l.rate_limited_qps,
        share * 100.0
    );
    assert!(
        l.requests > 400,
        "a long enough run to judge: {} requests",
        l.requests
    );
    assert!(
        share < 0.01,
        "{} of {} requests answered 429",
        l.rate_limited_qps,
        l.requests
    );
    assert_eq!(l.rate_limited_daily, 0, "no daily cap breached");

    // Every record the account holds up to the watermark on Kafka, by content and id,
    // each as often as held.
    let tenants = [t.clone()];
    let watermarks = all_at(&tenants, wm);
    let b = bed.clone();
    let published = tokio::task::spawn_blocking(move || b.published())
        .await
        .unwrap()
        .unwrap();
    let total = truth::compare(&sim, &tenants, &published, &watermarks, start)
        .unwrap_or_else(|p| panic!("not exactly the ground truth: {p:#?}"));
    assert!(total > 10_000, "a busy account: {total} records");
    sim.stop().await;
}
