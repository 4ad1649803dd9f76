//! `trawl preflight` beside a fleet that keeps its checkpoints in Kafka: the checks
//! continue the day's request count the fleet stored for each bucket and write it back
//! with their own requests added, so they count against the day's quota the fleet keeps.
//! (Every verdict, the demo set and the request bound against the simulator:
//! `crates/trawl/tests/preflight.rs`.)

use chrono::{TimeZone, Utc};
use trawl_engine::clock::Clock;
use trawl_engine::limiter::DayState;
use trawl_kafka::KafkaCheckpointStore;
use trawl_sim::{SimConfig, Simulator};
use trawl_sources::LimitKey;
use trawl_suite::{Bed, KafkaBroker, Mode};

#[actix_rt::test]
async fn the_checks_count_against_the_days_quota_kept_in_kafka() {
    let noon = Utc.with_ymd_and_hms(2026, 3, 2, 12, 0, 0).unwrap();
    let sim_cfg: SimConfig = toml::from_str(
        "[clock]\nstart = \"2026-03-02T12:00:00Z\"\n[[zoom_accounts]]\naccount_id = \"pf-acct\"\n\
         client_id = \"c\"\nclient_secret = \"s\"\nplan = \"pro\"\nphone = true\n\
         records_per_day = 100\nhistory_days = 2\n",
    )
    .unwrap();
    let sim = Simulator::start(sim_cfg, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let bed = Bed::new(
        "preflight",
        KafkaBroker::shared().bootstrap(),
        Mode::Idempotent,
    );
    let toml = format!(
        "[kafka]\nbrokers = \"{k}\"\npartitions = 1\n{kafka}[[tenants]]\nid = \"pf\"\n\
         provider = \"zoom\"\nplan = \"pro\"\naccount_id = \"pf-acct\"\nclient_id = \"c\"\n\
         client_secret = \"s\"\napi_base = \"{b}\"\noauth_base = \"{b}\"\n",
        k = bed.brokers,
        kafka = bed.kafka_toml(),
        b = sim.base_url()
    );
    let config = trawl::config::load_str(&toml).expect("test config loads");
    let tenant = config.engine.tenants[0].clone();
    let keys: Vec<_> = tenant.stream_keys().collect();
    trawl_kafka::ensure_topics(&config.engine.kafka, &keys)
        .await
        .unwrap();

    // What a running fleet stored: 40 requests of today on the account's main Heavy
    // bucket; nothing yet on its Phone bucket.
    let name = |limit: LimitKey| {
        format!(
            "{}/{}/{}",
            tenant.access.account(),
            limit.family.as_str(),
            limit.label
        )
    };
    let store = KafkaCheckpointStore::new(&config.engine.kafka).unwrap();
    let stored = DayState {
        day: noon.date_naive(),
        used: 40,
        rate_share: 1.0,
        blocked_until: None,
    };
    store
        .save_quota(
            &name(LimitKey::ZOOM_HEAVY),
            serde_json::to_vec(&stored).unwrap(),
        )
        .await
        .unwrap();

    let opts = trawl::preflight::RunOptions {
        clock: Clock::following_tokio(noon),
        ..Default::default()
    };
    let report = trawl::preflight::run(&config.engine, vec![tenant.clone()], opts)
        .await
        .unwrap();
    assert!(report.ok, "{}", report.table());
    assert!(report.notes.is_empty(), "{:?}", report.notes);
    let requests = |stream: &str| {
        report
            .streams
            .iter()
            .find(|s| s.stream == stream)
            .map(|s| s.api_requests)
            .unwrap()
    };
    let (main, phone) = (
        requests("zoom.operation_logs"),
        requests("zoom.phone_operation_logs"),
    );
    assert_eq!((main, phone), (1, 1), "one page each: {}", report.table());
    assert_eq!(sim.stats().requests, 2, "the simulator saw the same");

    // Written back: the fleet's 40 plus this check's request; the Phone bucket from 0.
    let days = trawl_engine::limiter::QuotaKeeper::new(store)
        .load()
        .await
        .unwrap();
    let used = |limit| days.get(&name(limit)).map(|d: &DayState| (d.day, d.used));
    assert_eq!(
        used(LimitKey::ZOOM_HEAVY),
        Some((noon.date_naive(), 40 + main))
    );
    assert_eq!(
        used(LimitKey::ZOOM_PHONE_HEAVY),
        Some((noon.date_naive(), phone))
    );
    sim.stop().await;
}
