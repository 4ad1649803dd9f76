//! After the backfill, streams poll live: records added to the simulator appear on Kafka
//! within one poll interval, late records (older `time`, inside the lookback) appear once,
//! and a tenant with wrong credentials is reported failed, with the reason, while the
//! others finish untouched. On Apache Kafka, in both delivery modes (a transaction per
//! batch must not hold live records back beyond the poll interval). What reaches Kafka
//! is compared with the simulator's ground truth by content and multiplicity.

use std::time::Duration;

use chrono::Duration as ChronoDuration;
use trawl_engine::status::StreamState;
use trawl_engine::{Engine, EngineOptions};
use trawl_model::SourceKind;
use trawl_sim::{SimConfig, Simulator};
use trawl_suite::harness::{all_at, api_of, backfill_start, engine_toml, fleet, sim_toml};
use trawl_suite::{truth, Bed, KafkaBroker, Mode};

const POLL: Duration = Duration::from_secs(3);

#[actix_rt::test]
async fn live_records_arrive_within_a_poll_and_bad_credentials_stay_isolated() {
    let b = KafkaBroker::shared();
    live(Bed::new("live-idem", b.bootstrap(), Mode::Idempotent)).await;
}

#[actix_rt::test]
async fn live_records_arrive_within_a_poll_and_bad_credentials_stay_isolated_in_transactions() {
    let b = KafkaBroker::shared();
    live(Bed::new("live-txn", b.bootstrap(), Mode::Transactional)).await;
}

async fn live(bed: Bed) {
    let tenants = fleet(2, 1, 400);
    let sim_cfg: SimConfig =
        toml::from_str(&sim_toml(&tenants, 5, "[data]\nlate_share = 0.0\n")).unwrap();
    let sim = Simulator::start(sim_cfg, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let mut toml = engine_toml(
        &tenants,
        &sim.base_url(),
        &bed.brokers,
        &bed.kafka_toml(),
        "poll_interval = \"3s\"\nbackfill = \"3d\"\nlookback = \"1h\"\nrecheck = \"every poll\"\n",
    );
    // A tenant whose secret is wrong (the simulator knows zoom00's account, not this secret).
    toml.push_str(&format!(
        "[[tenants]]\nid = \"badcreds\"\nprovider = \"zoom\"\nplan = \"pro\"\nstreams = [\"operation_logs\"]\naccount_id = \"zoom00-acct\"\n\
         client_id = \"zoom00-client\"\nclient_secret = \"not-the-secret\"\napi_base = \"{b}\"\noauth_base = \"{b}\"\n",
        b = sim.base_url()
    ));
    let config = trawl::config::load_str(&toml).expect("test config loads");
    let start = backfill_start(3).await;
    let engine = Engine::start(config.engine, EngineOptions::default())
        .await
        .unwrap();

    let good = tenants.iter().map(|t| t.streams().len()).sum::<usize>();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let s = engine.status.snapshot();
        let live = s.iter().filter(|r| r.state == StreamState::Live).count();
        let bad = s.iter().find(|r| r.tenant == "badcreds");
        if live == good && bad.is_some_and(|b| b.state == StreamState::Failed) {
            let reason = bad.unwrap().last_error.clone().unwrap_or_default();
            assert!(
                reason.contains("badcreds") && reason.contains("credentials"),
                "reason names the tenant and the cause: {reason}"
            );
            assert!(
                !reason.contains("not-the-secret"),
                "no secret in the reason"
            );
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not all live / bad tenant not failed: {s:#?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // New records now, and late ones 20 minutes old (inside the 1 h lookback).
    for t in &tenants {
        for kind in t.streams() {
            sim.inject(
                &t.account(),
                api_of(kind),
                25,
                5,
                ChronoDuration::minutes(20),
            );
        }
    }
    let injected_at = tokio::time::Instant::now();
    let slack = match bed.mode {
        Mode::Idempotent => Duration::from_secs(4),
        Mode::Transactional => Duration::from_secs(8),
    };
    // Everything held up to the injection, the injected records included, must be on
    // Kafka within a poll interval: by content and id, each as often as held (and what
    // a later poll adds no more often than held).
    let until = all_at(&tenants, sim.now() + ChronoDuration::seconds(1));
    loop {
        let b = bed.clone();
        let published = tokio::task::spawn_blocking(move || b.published())
            .await
            .unwrap()
            .unwrap();
        match truth::compare(&sim, &tenants, &published, &until, start) {
            Ok(_) => {
                assert!(
                    !published.keys().any(|k| k.tenant.as_str() == "badcreds"),
                    "the failed tenant published nothing"
                );
                break;
            }
            // One poll interval, plus the time to read Kafka back and a page or two; in
            // transactional mode also a commit, whose markers go to every partition the
            // batch touched (with 4 test binaries on 2 cores, one run in four took longer
            // than 4 s here).
            Err(problems) => assert!(
                injected_at.elapsed() < POLL + slack,
                "injected records not on Kafka within a poll interval: {problems:#?}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let s = engine.status.snapshot();
    assert!(s
        .iter()
        .filter(|r| r.tenant != "badcreds")
        .all(|r| r.last_error.is_none() && r.state == StreamState::Live));
    assert!(s
        .iter()
        .any(|r| r.tenant == "zoom00" && r.source == SourceKind::ZoomPhoneOperationLogs.as_str()));
    engine.stop().await;
    sim.stop().await;
}
