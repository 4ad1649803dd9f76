//! Zombie fencing on Apache Kafka: a second `trawl run` with the same transactional id
//! starts while the first is in the middle of a backfill. The second takes the id over
//! before it reads anything back; the first is fenced: every one of its streams ends as
//! failed with the reason (its `/status`), its log says so at ERROR, it publishes nothing
//! more and restarts nothing, while the process stays up. The second delivers the rest,
//! and a `read_committed` consumer sees every record of the ground truth exactly once
//! (by id and by content).

use std::time::Duration;

use chrono::{Duration as ChronoDuration, Utc};
use trawl_model::StreamKey;
use trawl_sim::{SimConfig, Simulator};
use trawl_suite::child::{sigterm_and_wait, spawn_trawl, tail};
use trawl_suite::harness::{
    backfill_start, fleet, sim_toml, slow_fleet_toml, stored_watermarks, Rates,
};
use trawl_suite::ops::get;
use trawl_suite::{truth, Bed, KafkaBroker, Mode};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `/status` of a child: every stream's state, last error and event count.
async fn streams(port: u16) -> Option<Vec<serde_json::Value>> {
    let res = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port}/status"))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .ok()?;
    let v: serde_json::Value = res.json().await.ok()?;
    v["streams"].as_array().cloned()
}

#[actix_rt::test]
async fn a_second_instance_fences_the_first_which_stops_and_says_so() {
    let broker = KafkaBroker::start();
    let bed = Bed::new("fencing", broker.bootstrap(), Mode::Transactional);
    let begun = Utc::now();
    let tenants = fleet(4, 2, 400);
    let sim_cfg: SimConfig =
        toml::from_str(&sim_toml(&tenants, 40, "[data]\nlate_share = 0.0\n")).unwrap();
    let sim = Simulator::start(sim_cfg, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let toml = slow_fleet_toml(&tenants, &sim.base_url(), &bed, &Rates::SLOW);
    let config = trawl::config::load_str(&toml).expect("test config loads");
    let settings = config.engine.kafka.clone();
    let keys: Vec<StreamKey> = config
        .engine
        .tenants
        .iter()
        .flat_map(|t| t.stream_keys())
        .collect();
    let start = backfill_start(30).await;
    let dir = tempfile::tempdir().unwrap();
    let (port_a, port_b) = (free_port(), free_port());
    let write = |name: &str, port: u16| {
        let path = dir.path().join(name);
        let text = toml.replace(
            "listen = \"127.0.0.1:0\"",
            &format!("listen = \"127.0.0.1:{port}\""),
        );
        std::fs::write(&path, text).unwrap();
        path
    };
    let (cfg_a, cfg_b) = (write("a.toml", port_a), write("b.toml", port_b));
    let (log_a, log_b) = (dir.path().join("a.log"), dir.path().join("b.log"));

    let mut a = spawn_trawl(&cfg_a, &log_a);
    // A is well into the backfill: every stream has a checkpoint, none has caught up.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let wms = stored_watermarks(&settings).await;
        let progressed = keys
            .iter()
            .filter(|k| {
                wms.get(*k)
                    .is_some_and(|wm| *wm > start + ChronoDuration::days(2))
            })
            .count();
        if progressed == keys.len() {
            assert!(
                wms.values().all(|wm| *wm < begun),
                "the backfill must still be going on: {wms:?}"
            );
            break;
        }
        assert!(
            a.try_wait().unwrap().is_none(),
            "A exited: {}",
            tail(&log_a, 30)
        );
        assert!(
            tokio::time::Instant::now() < deadline,
            "A made no progress: {}",
            tail(&log_a, 30)
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    let mut b = spawn_trawl(&cfg_b, &log_b);
    // A: every stream failed, fenced, not restarted; the process answers.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    let fenced = loop {
        if let Some(s) = streams(port_a).await {
            let failed = s.iter().filter(|r| {
                r["state"] == "failed"
                    && r["last_error"]
                        .as_str()
                        .is_some_and(|e| e.contains("fenced"))
            });
            if s.len() == keys.len() && failed.count() == keys.len() {
                break s;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "A's streams not all failed as fenced: {:#?}\n{}",
            streams(port_a).await,
            tail(&log_a, 30)
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    println!("A's stream says: {}", fenced[0]["last_error"]);
    let events_then: Vec<u64> = fenced
        .iter()
        .map(|r| r["events"].as_u64().unwrap())
        .collect();
    let restarts_then: Vec<u64> = fenced
        .iter()
        .map(|r| r["restarts"].as_u64().unwrap())
        .collect();

    // B delivers the rest.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(300);
    loop {
        let wms = stored_watermarks(&settings).await;
        if keys
            .iter()
            .all(|k| wms.get(k).is_some_and(|wm| *wm >= begun))
        {
            break;
        }
        assert!(
            b.try_wait().unwrap().is_none(),
            "B exited: {}",
            tail(&log_b, 30)
        );
        assert!(
            tokio::time::Instant::now() < deadline,
            "B did not catch up: {wms:?}\n{}",
            tail(&log_b, 30)
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // Meanwhile A stayed stopped: no event counted, no stream restarted, still up.
    let s = streams(port_a).await.expect("A still serves /status");
    let events_now: Vec<u64> = s.iter().map(|r| r["events"].as_u64().unwrap()).collect();
    let restarts_now: Vec<u64> = s.iter().map(|r| r["restarts"].as_u64().unwrap()).collect();
    assert_eq!(
        events_now, events_then,
        "A published nothing after it was fenced"
    );
    assert_eq!(restarts_now, restarts_then, "A restarted nothing");
    assert!(s.iter().all(|r| r["state"] == "failed"));
    let (code, _) = get(([127, 0, 0, 1], port_a).into(), "/healthz").await;
    assert_eq!(code, 200);
    // Alive but not ready: `/readyz` says why, naming the transactional id.
    let (code, body) = get(([127, 0, 0, 1], port_a).into(), "/readyz").await;
    assert_eq!(code, 503, "a fenced instance is not ready: {body}");
    assert!(
        body.contains("fenced") && body.contains("trawl-fencing"),
        "/readyz names the fencing and the id: {body}"
    );
    let text_a = std::fs::read_to_string(&log_a).unwrap();
    let fenced_lines: Vec<&str> = text_a
        .lines()
        .filter(|l| l.contains("ERROR") && l.contains("fenced"))
        .collect();
    assert!(
        fenced_lines.iter().any(|l| l.contains("trawl-fencing")),
        "A's log names the fencing and the transactional id: {}",
        tail(&log_a, 30)
    );
    assert!(
        !text_a.contains("restarting after a pause"),
        "A retried: {}",
        tail(&log_a, 30)
    );

    for (name, child, log) in [("B", &mut b, &log_b), ("A", &mut a, &log_a)] {
        let status = sigterm_and_wait(child, Duration::from_secs(60)).await;
        assert!(status.success(), "{name} exit {status}: {}", tail(log, 30));
    }
    let watermarks = stored_watermarks(&settings).await;
    let published = tokio::task::spawn_blocking(move || bed.published())
        .await
        .unwrap()
        .unwrap();
    let total = truth::compare(&sim, &tenants, &published, &watermarks, start)
        .unwrap_or_else(|p| panic!("not exactly the ground truth: {p:#?}"));
    assert!(total > 20_000, "a busy fleet: {total} records");
    sim.stop().await;
}
