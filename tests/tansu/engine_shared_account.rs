//! Two tenants that name the same Zoom account share its quota: trawl runs one bucket
//! for the account, not one per tenant. Both backfill at once from a Pro account
//! (10 requests a second): the simulator never sees more than the plan's rate in any
//! second and answers no 429, and each tenant's topic holds the account's ground truth
//! (by content and multiplicity).
//! (With a bucket per tenant, the two would ask for twice the plan's rate.)

use std::collections::HashSet;
use std::time::Duration;

use trawl_engine::{Engine, EngineOptions};
use trawl_sim::{SimConfig, SimFamily, Simulator};
use trawl_suite::harness::{backfill_start, by_stream, wait_all_live, FleetTenant, EVENT_TOPICS};
use trawl_suite::topics::Isolation;
use trawl_suite::truth::{self, read_published};
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
    let start = backfill_start(10).await;
    let began = std::time::Instant::now();
    let engine = Engine::start(config.engine, EngineOptions::default())
        .await
        .unwrap();
    let watermarks = wait_all_live(&engine, TENANTS.len(), Duration::from_secs(240)).await;
    let took = began.elapsed().as_secs_f64();
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
    // The bucket paces the account at 9.7 a second (the plan's 10 less its 3 % margin),
    // one permit every 103 ms, for both tenants together: the run's mean rate stays under
    // the plan's 10 (a bucket per tenant would ask about 19 a second, and finish in half
    // the time). The simulator counts arrivals per sliding second: requests delayed on a
    // loaded machine (4 test binaries on 2 cores) arrive bunched with the next permits',
    // so a few more than 10 in one second are arrival jitter, not pacing; a bucket per
    // tenant shows about 20.
    let mean = l.requests as f64 / took;
    assert!(
        mean <= 10.0,
        "the account's Pro rate (10 a second) exceeded on average: {mean:.2} a second \
         ({} requests in {took:.1} s)",
        l.requests
    );
    assert!(
        l.max_rate_1s <= 14,
        "the account's Pro rate (10 a second, 9.7 paced) far exceeded: {} in a second",
        l.max_rate_1s
    );
    assert_eq!(l.rate_limited_qps + l.rate_limited_daily, 0, "no 429");

    // Each tenant got every record of the account, each as often as the account holds
    // it (by content and by id).
    let tenants: Vec<FleetTenant> = TENANTS
        .iter()
        .map(|id| FleetTenant {
            id: id.to_string(),
            zoom: true,
            phone: false,
            records_per_day: 3000,
            shared_account: Some(ACCOUNT.to_string()),
        })
        .collect();
    let watermarks = by_stream(&tenants, &watermarks);
    let bootstrap = broker.bootstrap();
    let published = tokio::task::spawn_blocking(move || {
        read_published(
            &bootstrap,
            &[EVENT_TOPICS[0].to_string()],
            Isolation::ReadUncommitted,
        )
    })
    .await
    .unwrap()
    .unwrap();
    let total = truth::compare(&sim, &tenants, &published, &watermarks, start)
        .unwrap_or_else(|p| panic!("not the account's ground truth for each tenant: {p:#?}"));
    assert!(total > 2 * 25_000, "{total} records");
    sim.stop().await;
}
