//! Zoho's throttle as it answers in the field: HTTP 400, the code in `title`, the stated
//! limit and the lock only in `error.details.message`, and every call during the lock
//! starts it over. A Zoho organization whose backfill runs into the lock makes no call
//! inside it (the simulator counts calls during a lock), shows it in the limiter's state,
//! counts the episode once, paces below the stated limit afterwards, and finishes within
//! 1.2 x (lock + pages / stated limit). The lock and window are scaled down (20 s each)
//! so the test runs in about a minute; what Kafka holds is the ground truth by content
//! and multiplicity.

use std::time::Duration;

use trawl_engine::status::StreamState;
use trawl_engine::{Engine, EngineOptions};
use trawl_sim::{SimConfig, SimFamily, Simulator, ZohoThrottle};
use trawl_suite::harness::{all_at, backfill_start, engine_toml, sim_toml, FleetTenant};
use trawl_suite::{truth, Bed, KafkaBroker, Mode};

/// The simulated organization's limit: `LIMIT` requests per `WINDOW_SECS`, then locked
/// for `LOCK_SECS` (started over by every call during it).
const LIMIT: u32 = 20;
const WINDOW_SECS: u64 = 20;
const LOCK_SECS: u64 = 20;

#[actix_rt::test]
async fn a_zoho_lock_is_waited_out_without_a_call_and_the_backfill_paces_below_the_limit() {
    let bed = Bed::new(
        "zoho_throttle",
        KafkaBroker::shared().bootstrap(),
        Mode::Idempotent,
    );
    let t = FleetTenant {
        id: "zlock".into(),
        zoom: false,
        phone: false,
        records_per_day: 2000,
        shared_account: None,
    };
    let tenants = [t.clone()];
    let mut sim_cfg: SimConfig =
        toml::from_str(&sim_toml(&tenants, 5, "[data]\nlate_share = 0.0\n")).unwrap();
    let org = &mut sim_cfg.zoho_orgs[0];
    org.requests_per_minute = LIMIT;
    org.window_secs = WINDOW_SECS;
    org.lock_secs = LOCK_SECS;
    org.throttle = ZohoThrottle::Field;
    org.lock_extends = true;
    let sim = Simulator::start(sim_cfg, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    // The tenant starts at 8 requests a second (harness), far above the organization's
    // 1 a second: the backfill runs into the lock within its first seconds.
    let toml = engine_toml(
        &tenants,
        &sim.base_url(),
        &bed.brokers,
        &bed.kafka_toml(),
        "poll_interval = \"5s\"\nbackfill = \"3d\"\nlookback = \"1h\"\n",
    );
    let config = trawl::config::load_str(&toml).expect("test config loads");
    let start = backfill_start(3).await;
    let began = tokio::time::Instant::now();
    let engine = Engine::start(config.engine, EngineOptions::default())
        .await
        .unwrap();
    let deadline = began + Duration::from_secs(240);
    let mut shown_throttled = false;
    let wm = loop {
        let s = engine.status.snapshot();
        if let Some(r) = s.iter().find(|r| r.state == StreamState::Live) {
            break r.watermark.unwrap();
        }
        shown_throttled |= engine
            .limiters()
            .await
            .iter()
            .any(|(_, l)| l.throttled_until.is_some());
        assert!(
            tokio::time::Instant::now() < deadline,
            "backfill not done: {s:#?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let took = began.elapsed().as_secs_f64();
    let stats = sim.stats();
    let l = stats
        .limit(&t.account(), SimFamily::ZohoMail)
        .expect("requests were made")
        .clone();
    let limiters = engine.limiters().await;
    let metrics = engine.metrics.render();
    engine.stop().await;

    let rate = f64::from(LIMIT) / WINDOW_SECS as f64;
    let bound = 1.2 * (LOCK_SECS as f64 * l.locks as f64 + l.ok as f64 / rate);
    println!(
        "backfill took {took:.1} s (bound {bound:.1} s): {} requests, {} admitted, {} locks, {} calls during a lock",
        l.requests, l.ok, l.locks, l.locked_calls
    );
    assert!(l.locks >= 1, "the organization was throttled: {l:?}");
    assert_eq!(l.locked_calls, 0, "a call during the lock: {l:?}");
    assert_eq!(
        l.locks, 1,
        "paced below the stated limit after the lock: {l:?}"
    );
    assert!(took <= bound, "{took:.1} s > {bound:.1} s: {l:?}");
    assert!(shown_throttled, "the limiter showed the lock: {limiters:?}");
    let view = limiters
        .iter()
        .find_map(|(_, s)| s.throttle.clone())
        .expect("the episode is kept for /status");
    assert_eq!(view.lock_seconds, Some(LOCK_SECS));
    assert_eq!(
        view.stated_limit.map(|v| (v.requests, v.per_seconds)),
        Some((LIMIT, WINDOW_SECS))
    );
    assert!(
        metrics.contains(
            r#"trawl_throttle_episodes_total{source="zoho.mail_audit",tenant="zlock"} 1"#
        ),
        "{metrics}"
    );

    let watermarks = all_at(&tenants, wm);
    // Only the Zoho topic exists (no Zoom tenant).
    let (brokers, topic, isolation) = (bed.brokers.clone(), bed.event_topic(2), bed.isolation());
    let published =
        tokio::task::spawn_blocking(move || truth::read_published(&brokers, &[topic], isolation))
            .await
            .unwrap()
            .unwrap();
    let total = truth::compare(&sim, &tenants, &published, &watermarks, start)
        .unwrap_or_else(|p| panic!("not exactly the ground truth: {p:#?}"));
    assert!(total > 4000, "a backfill of several pages: {total} records");
    sim.stop().await;
}
