//! What a caught-up stream costs in API requests a day, at 1,000, 20,000 and 120,000
//! records a day and the default 5-minute poll, against the floor (its new records'
//! pages plus one request a poll) and a Pro account's daily Heavy cap (30,000).
//!
//! A simulated day: the simulator's clock is frozen and moved 5 minutes per poll; each
//! poll picks its window with the engine's own planning (`plan::due_tier`,
//! `plan::live_reach`, `plan::live_window`: the `recheck` schedule) and walks it to the
//! end with the real Zoom source (order, early stop, paging), counting the requests the
//! simulator answered. Run with `cargo bench --bench live_cost`; knobs:
//! `TRAWL_LIVE_COST_CAP` (the silent page-size cap, default none = 300 a page),
//! `TRAWL_LIVE_COST_ORDER` (`newest_first`, `oldest_first`, `unordered`).

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use trawl_engine::config::RecheckSchedule;
use trawl_engine::fetch::plan;
use trawl_model::{Checkpoint, SourceKind, StreamKey, TenantId, Window};
use trawl_sim::{SimApi, SimConfig, SimFamily, SimHandle, Simulator};
use trawl_sources::{build_source, ScanStep, Source, SourceSettings};

const POLL: i64 = 5;
const PRO_HEAVY_DAILY: f64 = 30_000.0;

struct Day {
    requests: u64,
    polls: u64,
    records: usize,
}

fn sim_toml(records_per_day: u32, cap: Option<u32>, order: &str) -> String {
    let cap = cap.map_or(String::new(), |c| format!("page_size_cap = {c}\n"));
    format!(
        "seed = 3\nunlimited = true\ntoken_ttl_secs = 8640000\norder = \"{order}\"\n[clock]\nstart = \"2026-03-10T09:00:00Z\"\nspeed = 0.0\n\
         [paging]\n{cap}\n[[zoom_accounts]]\naccount_id = \"big-acct\"\nclient_id = \"big-client\"\n\
         client_secret = \"big-secret\"\nplan = \"pro\"\nrecords_per_day = {records_per_day}\nhistory_days = 3\n"
    )
}

fn source(sim: &SimHandle) -> Arc<dyn Source> {
    let b = sim.base_url();
    let toml = format!(
        "[kafka]\nbrokers = \"127.0.0.1:9\"\n[[tenants]]\nid = \"big\"\nprovider = \"zoom\"\nplan = \"pro\"\n\
         streams = [\"operation_logs\"]\naccount_id = \"big-acct\"\nclient_id = \"big-client\"\n\
         client_secret = \"big-secret\"\napi_base = \"{b}\"\noauth_base = \"{b}\"\n"
    );
    let config = trawl::config::load_str(&toml).expect("bench config loads");
    let t = &config.engine.tenants[0];
    let settings = SourceSettings::new(t.id.clone(), &t.access, reqwest::Client::new());
    build_source(SourceKind::ZoomOperationLogs, &settings).expect("zoom source")
}

fn requests(sim: &SimHandle) -> u64 {
    sim.stats()
        .limit("big-acct", SimFamily::ZoomMain)
        .map_or(0, |l| l.requests)
}

/// Walks `window` to its end.
async fn scan(source: &Arc<dyn Source>, window: Window, now: DateTime<Utc>) {
    let mut scan = source.clone().scan(window);
    loop {
        match scan.next_page(now).await.step {
            Ok(ScanStep::Page { done: true, .. }) => return,
            Ok(_) => {}
            Err(e) => panic!("scan failed: {e}"),
        }
    }
}

/// `polls` live polls from a caught-up start; the first one (right after catching up,
/// which re-reads the whole lookback) is not counted.
async fn run(sim: &SimHandle, schedule: RecheckSchedule, polls: u64) -> Day {
    let source = source(sim);
    let lookback = Duration::hours(24);
    let key = StreamKey::new(TenantId::new("big").unwrap(), SourceKind::ZoomOperationLogs);
    let mut cp = Checkpoint::new(key, sim.now(), sim.now());
    let mut last = vec![None; schedule.tiers().len()];
    let oldest = sim.now() - Duration::days(180);
    let mut counted_from = None;
    let mut first_wm = cp.watermark;
    for i in 0..=polls {
        if i == 1 {
            counted_from = Some(requests(sim));
            first_wm = cp.watermark;
        }
        sim.advance(Duration::minutes(POLL));
        let now = sim.now();
        let tier = plan::due_tier(&schedule, &last, now);
        let reach = plan::live_reach(&schedule, tier, lookback);
        let window = plan::live_window(&cp, now, reach, oldest).expect("a window");
        scan(&source, window, now).await;
        if let Some(t) = tier {
            plan::mark_rechecked(&schedule, &mut last, t, now);
        }
        cp.complete_window(Window::new(cp.watermark, now).expect("later"));
    }
    let records = sim
        .ground_truth(
            "big-acct",
            SimApi::ZoomOperationLogs,
            first_wm,
            cp.watermark,
        )
        .len();
    Day {
        requests: requests(sim) - counted_from.unwrap_or(0),
        polls,
        records,
    }
}

#[actix_rt::main]
async fn main() {
    let cap: Option<u32> = std::env::var("TRAWL_LIVE_COST_CAP")
        .ok()
        .and_then(|v| v.parse().ok());
    let order = std::env::var("TRAWL_LIVE_COST_ORDER").unwrap_or_else(|_| "newest_first".into());
    let page = f64::from(cap.unwrap_or(300).min(300));
    let per_day = 24 * 60 / POLL as u64;
    println!(
        "live polling cost: 5 min polls, lookback 24h, page {page} ({}), order {order}",
        if cap.is_some() {
            "silent cap"
        } else {
            "as asked"
        }
    );
    println!(
        "| records/day | schedule | requests/day | floor | x floor | share of Pro Heavy cap |"
    );
    println!("|---|---|---|---|---|---|");
    for volume in [1_000u32, 20_000, 120_000] {
        for (name, schedule, polls) in [
            ("default recheck", RecheckSchedule::default(), per_day),
            // Every poll re-reads the lookback (before `recheck`): an hour of polls,
            // scaled to the day.
            ("every poll (before)", RecheckSchedule::every_poll(), 12),
        ] {
            let cfg: SimConfig = toml::from_str(&sim_toml(volume, cap, &order)).unwrap();
            let sim = Simulator::start(cfg, "127.0.0.1:0".parse().unwrap())
                .await
                .unwrap();
            let started = std::time::Instant::now();
            let day = run(&sim, schedule, polls).await;
            let scale = per_day as f64 / day.polls as f64;
            let per_day_requests = day.requests as f64 * scale;
            let floor = (day.records as f64 * scale / page).ceil() + per_day as f64;
            println!(
                "| {volume} | {name} | {:.0} | {:.0} | {:.2} | {:.1} % |",
                per_day_requests,
                floor,
                per_day_requests / floor,
                100.0 * per_day_requests / PRO_HEAVY_DAILY
            );
            eprintln!(
                "  ({} polls measured, {} requests, {} new records, {:.1} s)",
                day.polls,
                day.requests,
                day.records,
                started.elapsed().as_secs_f64()
            );
            sim.stop().await;
        }
    }
}
