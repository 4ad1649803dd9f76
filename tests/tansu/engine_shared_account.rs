//! Two tenants that name the same Zoom account share its quota: trawl runs one bucket
//! for the account, not one per tenant. Both backfill at once from a Pro account
//! (10 requests a second): the simulator never sees more than the plan's rate in any
//! second and answers no 429, and each tenant's records all arrive, each once.
//! (With a bucket per tenant, the two would ask for twice the plan's rate.)

use std::collections::HashSet;
use std::time::Duration;

use chrono::{Duration as ChronoDuration, DurationRound, Utc};
use trawl_engine::status::StreamState;
use trawl_engine::{Engine, EngineOptions};
use trawl_model::{EventId, OccurrenceCounter, SourceKind, StreamKey, TenantId};
use trawl_sim::{SimApi, SimConfig, SimFamily, Simulator};
use trawl_suite::harness::{published_ids, record_second, wait_for, EVENT_TOPICS};
use trawl_suite::TansuBroker;

const ACCOUNT: &str = "shared-acct";
const TENANTS: [&str; 2] = ["alpha", "beta"];

#[actix_rt::test]
async fn tenants_naming_one_account_stay_within_its_rate_together() {
    let broker = TansuBroker::start();
    let sim_cfg: SimConfig = toml::from_str(&format!(
        "seed = 7\n[data]\nlate_share = 0.0\n[[zoom_accounts]]\naccount_id = \"{ACCOUNT}\"\n\
         client_id = \"c\"\nclient_secret = \"s\"\nplan = \"pro\"\nphone = false\n\
         records_per_day = 3000\nhistory_days = 12\n"
    ))
    .unwrap();
    let sim = Simulator::start(sim_cfg, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let mut toml = format!(
        "[kafka]\nbrokers = \"{}\"\npartitions = 1\n[defaults]\npoll_interval = \"1h\"\n\
         backfill = \"10d\"\nlookback = \"1h\"\n",
        broker.bootstrap()
    );
    for id in TENANTS {
        toml.push_str(&format!(
            "[[tenants]]\nid = \"{id}\"\nprovider = \"zoom\"\nplan = \"pro\"\nstreams = [\"operation_logs\"]\n\
             account_id = \"{ACCOUNT}\"\nclient_id = \"c\"\nclient_secret = \"s\"\napi_base = \"{b}\"\noauth_base = \"{b}\"\n",
            b = sim.base_url()
        ));
    }
    let config = trawl::config::load_str(&toml).expect("test config loads");
    let engine = Engine::start(config.engine, EngineOptions::default())
        .await
        .unwrap();
    let watermarks = wait_for(Duration::from_secs(240), "both tenants live", || {
        let s = engine.status.snapshot();
        let live: Vec<_> = s
            .iter()
            .filter(|r| r.state == StreamState::Live)
            .filter_map(|r| r.watermark)
            .collect();
        (live.len() == TENANTS.len()).then_some(live)
    })
    .await;
    let limiters = engine.limiters().await;
    engine.stop().await;

    // One bucket, seen by both tenants.
    let buckets: HashSet<&str> = limiters.iter().map(|(_, s)| s.bucket.as_str()).collect();
    assert_eq!(limiters.len(), 2, "{limiters:?}");
    assert_eq!(buckets.len(), 1, "{limiters:?}");

    let stats = sim.stats();
    let l = stats
        .limit(ACCOUNT, SimFamily::ZoomMain)
        .expect("requests were made");
    println!(
        "{} requests, highest rate {} in a second, {} answered 429",
        l.requests, l.max_rate_1s, l.rate_limited_qps
    );
    assert!(
        l.requests > 150,
        "a run long enough to judge: {}",
        l.requests
    );
    assert!(
        l.max_rate_1s <= 10,
        "the account's Pro rate (10 a second) exceeded: {} in a second",
        l.max_rate_1s
    );
    assert_eq!(l.rate_limited_qps + l.rate_limited_daily, 0, "no 429");

    // Each tenant got every record of the account, each once.
    let start = (Utc::now() - ChronoDuration::days(10))
        .duration_trunc(ChronoDuration::days(1))
        .unwrap();
    let until = watermarks.into_iter().min().unwrap();
    let truth = sim.ground_truth(ACCOUNT, SimApi::ZoomOperationLogs, start, until);
    assert!(truth.len() > 25_000, "{} records", truth.len());
    let published = published_ids(&broker.bootstrap(), &[EVENT_TOPICS[0]]).unwrap();
    for id in TENANTS {
        let key = StreamKey::new(TenantId::new(id).unwrap(), SourceKind::ZoomOperationLogs);
        let mut counter = OccurrenceCounter::new();
        let expected: Vec<EventId> = truth
            .iter()
            .map(|raw| counter.assign(&key, raw, record_second(SourceKind::ZoomOperationLogs, raw)))
            .collect();
        let got = &published[&key];
        assert!(got.values().all(|(n, _)| *n == 1), "{id}: a record twice");
        let missing = expected.iter().filter(|e| !got.contains_key(e)).count();
        assert_eq!(missing, 0, "{id}: {missing} of {} missing", expected.len());
    }
    sim.stop().await;
}
