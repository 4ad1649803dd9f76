//! Late records beyond the lookback are counted, not dropped silently: a live Zoho
//! stream whose API selects on index time answers records that arrive hours late with
//! the live window that covers their arrival. Those older than the lookback are counted
//! in `trawl_late_records_dropped_total` and `/status` (`late_dropped`), each once
//! however many overlapping polls answer them again; records late within the lookback
//! are published and not counted.

use std::time::Duration;

use chrono::Duration as ChronoDuration;
use trawl_engine::{Engine, EngineOptions};
use trawl_model::SourceKind;
use trawl_sim::{SimApi, SimConfig, Simulator};
use trawl_suite::harness::{engine_toml, fleet, sim_toml, wait_all_live, wait_for};
use trawl_suite::{Bed, Mode, TansuBroker};

#[actix_rt::test]
async fn records_later_than_the_lookback_are_counted_once() {
    let broker = TansuBroker::start();
    let bed = Bed::new("late", broker.bootstrap(), Mode::Idempotent);
    let tenants = fleet(0, 1, 100);
    let extra = "[data]\nlate_share = 0.0\n[zoho]\nselect_on = \"index_time\"\n";
    let sim_cfg: SimConfig = toml::from_str(&sim_toml(&tenants, 3, extra)).unwrap();
    let sim = Simulator::start(sim_cfg, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let toml = engine_toml(
        &tenants,
        &sim.base_url(),
        &bed.brokers,
        &bed.kafka_toml(),
        "poll_interval = \"1s\"\nbackfill = \"2d\"\nlookback = \"10m\"\nrecheck = \"every poll\"\n",
    );
    let config = trawl::config::load_str(&toml).expect("test config loads");
    let engine = Engine::start(config.engine, EngineOptions::default())
        .await
        .unwrap();
    wait_all_live(&engine, 1, Duration::from_secs(60)).await;
    let account = tenants[0].account();
    // Five records an hour late (beyond the lookback), three two minutes late (within).
    sim.inject(
        &account,
        SimApi::ZohoMailAudit,
        0,
        5,
        ChronoDuration::hours(1),
    );
    sim.inject(
        &account,
        SimApi::ZohoMailAudit,
        0,
        3,
        ChronoDuration::minutes(2),
    );
    let status = || engine.status.snapshot().into_iter().next().unwrap();
    let published_before = status().events;
    wait_for(Duration::from_secs(30), "the late records counted", || {
        (status().late_dropped >= 5).then_some(())
    })
    .await;
    // More polls answer them again: still counted once; the other three are published.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let s = status();
    engine.stop().await;
    assert_eq!(s.late_dropped, 5, "{s:#?}");
    assert_eq!(s.events, published_before + 3, "{s:#?}");
    let series = format!(
        "trawl_late_records_dropped_total{{source=\"{}\",tenant=\"{}\"}} ",
        SourceKind::ZohoMailAudit.as_str(),
        tenants[0].id
    );
    let metrics = engine.metrics.render();
    let value = metrics
        .lines()
        .find_map(|l| l.strip_prefix(series.as_str()))
        .unwrap_or_else(|| panic!("no {series} in:\n{metrics}"));
    assert_eq!(value, "5");
    sim.stop().await;
}
