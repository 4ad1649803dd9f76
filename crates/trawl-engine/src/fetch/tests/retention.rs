//! A stream whose watermark falls behind the API's retention (a backfill at the 182-day
//! maximum restarted after a while, a long outage): it says so, moves on from what the
//! API still holds, and reaches live polling, instead of keeping every later window in
//! `done` forever with the watermark stuck.

use trawl_model::{Checkpoint, OutputPosition};

use super::*;
use crate::status::StreamState;

/// The oldest time the scripted API keeps at `now` (the default retention, 182 days),
/// with the loop's day of margin.
fn oldest(now: DateTime<Utc>) -> DateTime<Utc> {
    now - Duration::days(182) + Duration::days(1)
}

async fn until_live(b: &Bed) {
    b.until("live", StdDuration::from_secs(6 * 3600), |s| {
        s.state == StreamState::Live
    })
    .await;
}

#[actix::test]
async fn a_182_day_backfill_restarted_after_an_outage_reaches_live_polling() {
    tokio::time::pause();
    let records = ScriptedApi::records(t0(), 183, 4);
    let b = bed(
        ScriptedApi::new(records, 100),
        cadence(182),
        MemorySink::default(),
    );
    // The first run gets a few days in and dies; the next starts after a long outage.
    let run = b.start();
    b.until("started", StdDuration::from_secs(60), |_| {
        b.sink.with(|s| !s.stored.is_empty())
    })
    .await;
    run.abort();
    let stopped_at = b.sink.with(|s| s.stored.last().unwrap().1.watermark);
    tokio::time::sleep(StdDuration::from_secs(20 * 86_400)).await;
    let restarted = b.deps.clock.now();
    let run = b.start();
    until_live(&b).await;
    run.abort();

    // What the API keeps is there once; the first run may have published a little more.
    let published = b.published();
    assert!(published.values().all(|n| *n == 1), "nothing twice");
    let missing = b
        .truth(oldest(restarted))
        .keys()
        .filter(|id| !published.contains_key(*id))
        .count();
    assert_eq!(missing, 0, "of {} published", published.len());
    let gap = b.status().behind_retention.expect("said in /status");
    assert_eq!(gap.from, stopped_at);
    let horizon = oldest(restarted);
    assert!(
        horizon <= gap.to && gap.to - horizon < Duration::seconds(1),
        "{gap:?}"
    );
    assert_eq!(
        b.metric("trawl_retention_skipped_seconds_total"),
        (gap.to - gap.from).num_seconds() as f64
    );
    let cp = b.sink.with(|s| s.stored.last().unwrap().1.clone());
    assert!(
        cp.done.is_empty(),
        "no window left out of the watermark: {:?}",
        cp.done
    );
    assert!(b.deps.clock.now() - cp.watermark < Duration::minutes(10));
}

#[actix::test]
async fn a_watermark_from_before_the_apis_retention_moves_on_from_what_it_keeps() {
    tokio::time::pause();
    // Down for 200 days: the stored watermark is long gone from the API.
    let sink = MemorySink::default();
    let mut cp = Checkpoint::new(key(), t0() - Duration::days(200), t0());
    cp.output = Some(OutputPosition {
        topic: crate::test_support::memory::TOPIC.into(),
        partition: 0,
        offset: 0,
    });
    sink.with(|s| s.stored.push((tokio::time::Instant::now(), cp)));
    let b = bed(
        ScriptedApi::new(ScriptedApi::records(t0(), 190, 4), 100),
        cadence(30),
        sink,
    );
    let run = b.start();
    until_live(&b).await;
    run.abort();
    assert_eq!(b.published(), b.truth(oldest(t0())));
    let gap = b.status().behind_retention.expect("said in /status");
    assert_eq!(
        (gap.from, gap.to),
        (t0() - Duration::days(200), oldest(t0()))
    );
    assert_eq!(
        b.metric("trawl_retention_skipped_seconds_total"),
        (gap.to - gap.from).num_seconds() as f64
    );
}
