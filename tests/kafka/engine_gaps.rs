//! One broken date costs that date, not the stream. The simulator answers every listing
//! of one date of `zoom00`'s account with a body that never parses. Each of that
//! tenant's streams records the window as a gap (`/status`, `trawl_gaps`), goes on past
//! it to live polling, and delivers every other record, live ones included; the other
//! tenant is untouched. What reaches Kafka is the simulator's ground truth, by content
//! and multiplicity, less exactly the records of the gap's window.

use std::time::Duration;

use chrono::{Duration as ChronoDuration, Utc};
use trawl_engine::status::StreamState;
use trawl_engine::{Engine, EngineOptions};
use trawl_model::Window;
use trawl_sim::{SimConfig, Simulator};
use trawl_suite::harness::{
    all_at, api_of, backfill_start, engine_toml, fleet, record_second, sim_toml,
};
use trawl_suite::{truth, Bed, KafkaBroker, Mode};

#[actix_rt::test]
async fn a_poisoned_date_becomes_a_gap_and_everything_else_arrives() {
    let b = KafkaBroker::shared();
    let bed = Bed::new("gaps", b.bootstrap(), Mode::Idempotent);
    let tenants = fleet(2, 0, 400);
    let poisoned = (Utc::now() - ChronoDuration::days(2)).date_naive();
    let sim_toml = sim_toml(&tenants, 5, "[data]\nlate_share = 0.0\n").replacen(
        "history_days = 5\n",
        &format!("history_days = 5\npoisoned_dates = [\"{poisoned}\"]\n"),
        1,
    );
    assert!(sim_toml.contains("poisoned_dates"), "{sim_toml}");
    let sim_cfg: SimConfig = toml::from_str(&sim_toml).unwrap();
    let sim = Simulator::start(sim_cfg, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let toml = engine_toml(
        &tenants,
        &sim.base_url(),
        &bed.brokers,
        &bed.kafka_toml(),
        "poll_interval = \"3s\"\nbackfill = \"4d\"\nlookback = \"1h\"\nrecheck = \"every poll\"\n",
    );
    let config = trawl::config::load_str(&toml).expect("test config loads");
    let start = backfill_start(4).await;
    let engine = Engine::start(config.engine, EngineOptions::default())
        .await
        .unwrap();

    // Every stream live; zoom00's two with one gap each, over the poisoned date.
    let day = poisoned.and_hms_opt(12, 0, 0).unwrap().and_utc();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(180);
    let gaps: Vec<Window> = loop {
        let s = engine.status.snapshot();
        let live = s.iter().filter(|r| r.state == StreamState::Live).count();
        let gaps: Vec<Window> = s
            .iter()
            .filter(|r| r.tenant == "zoom00")
            .flat_map(|r| r.gaps.iter().map(|g| g.window))
            .collect();
        if live == 4 && gaps.len() == 2 {
            for r in &s {
                if r.tenant == "zoom00" {
                    let g = &r.gaps[0];
                    assert!(g.window.contains(day), "{g:?}");
                    assert!(g.tries >= 1 && !g.reason.is_empty(), "{g:?}");
                } else {
                    assert!(r.gaps.is_empty(), "{r:#?}");
                }
            }
            break gaps;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not every stream live with zoom00's gaps: {s:#?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let text = engine.metrics.render();
    assert!(
        text.lines().any(|l| l.starts_with("trawl_gaps{")
            && l.contains("tenant=\"zoom00\"")
            && l.ends_with(" 1")),
        "trawl_gaps shows the gap:\n{text}"
    );

    // Live records arrive for both tenants, zoom00 included.
    for t in &tenants {
        for kind in t.streams() {
            sim.inject(&t.account(), api_of(kind), 20, 0, ChronoDuration::zero());
        }
    }
    let until = all_at(&tenants, sim.now() + ChronoDuration::seconds(1));
    let injected = tokio::time::Instant::now();
    loop {
        let b = bed.clone();
        let published = tokio::task::spawn_blocking(move || b.published())
            .await
            .unwrap()
            .unwrap();
        // zoom00: everything but its gaps' windows (which never reached Kafka at all);
        // zoom01: everything.
        let outside_gaps = |raw: &serde_json::Value| {
            let t = chrono::DateTime::from_timestamp(
                record_second(trawl_model::SourceKind::ZoomOperationLogs, raw),
                0,
            )
            .unwrap();
            !gaps.iter().any(|g| g.contains(t))
        };
        let poisoned_tenant = truth::compare_kept(
            &sim,
            &tenants[..1],
            &published,
            &until,
            start,
            &outside_gaps,
        );
        let other = truth::compare(&sim, &tenants[1..], &published, &until, start);
        match (poisoned_tenant, other) {
            (Ok(n), Ok(m)) => {
                assert!(n > 500 && m > 500, "{n} and {m} records");
                break;
            }
            problems => assert!(
                injected.elapsed() < Duration::from_secs(20),
                "not the ground truth less the gaps: {problems:#?}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    engine.stop().await;
    sim.stop().await;
}
