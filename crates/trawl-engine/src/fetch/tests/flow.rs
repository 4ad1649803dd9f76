//! Page flow and checkpoint timing: a backfill delivers exactly the API's records and
//! goes live; live polls find new and late records and skip what they re-read;
//! checkpoints are stored first (a new stream, before anything is published), at most
//! every `SAVE_EVERY` while pages flow, and when a window completes.

use super::*;
use crate::fetch::checkpoint::SAVE_EVERY;
use crate::status::StreamState;

#[actix::test]
async fn a_backfill_delivers_the_ground_truth_once_then_live_polls_find_new_and_late_records() {
    tokio::time::pause();
    let api = ScriptedApi::new(ScriptedApi::records(t0(), 4, 300), 100);
    let b = bed(api, cadence(3), MemorySink::default());
    let run = b.start();
    b.until("live and idle", StdDuration::from_secs(3600), |s| {
        s.state == StreamState::Live && s.waiting
    })
    .await;

    // Backfill starts 3 days back at a UTC midnight: March 7.
    let truth = b.truth(midnight(7));
    assert_eq!(truth.len(), 1050, "3.5 days of 300 a day");
    assert_eq!(b.published(), truth, "every record once, nothing else");
    let status = b.status();
    assert_eq!(status.events, 1050);
    assert_eq!(b.metric("trawl_events_published_total"), 1050.0);
    let requests = b.api.with(|a| a.requests) as u64;
    assert_eq!(status.pages, requests, "one page per request, no faults");
    assert_eq!(b.metric("trawl_pages_fetched_total"), requests as f64);
    assert!(status.watermark.unwrap() >= t0(), "{status:?}");
    assert_eq!(status.last_error, None);

    // New records (and a late one, 30 minutes old when it shows up) are found by the
    // next poll; the records it re-reads in its lookback are skipped, not republished.
    let now = b.deps.clock.now();
    let fresh = [
        ApiRecord {
            time: now + Duration::seconds(30),
            n: 90_001,
        },
        ApiRecord {
            time: now + Duration::seconds(90),
            n: 90_002,
        },
    ];
    tokio::time::sleep(StdDuration::from_secs(120)).await;
    let late = ApiRecord {
        time: b.deps.clock.now() - Duration::minutes(30),
        n: 90_003,
    };
    b.api
        .with(|a| a.records.extend(fresh.iter().chain([&late])));
    b.until(
        "the next poll published them",
        StdDuration::from_secs(600),
        |s| s.events == 1053,
    )
    .await;
    let mut truth = truth;
    for r in fresh.iter().chain([&late]) {
        truth.insert(id_of(r), 1);
    }
    assert_eq!(b.published(), truth);
    assert!(
        b.metric("trawl_duplicates_skipped_total") > 0.0,
        "the lookback re-read known records"
    );
    assert!(!run.is_finished(), "the loop runs until stopped");
    run.abort();
}

#[actix::test]
async fn checkpoints_are_stored_first_then_every_few_seconds_and_at_each_window_end() {
    tokio::time::pause();
    // One full day of 3,000 records before today: 30 pages of 100, a second each.
    let records: Vec<ApiRecord> = ScriptedApi::records(midnight(10), 1, 3000);
    let api = ScriptedApi::new(records, 100);
    api.with(|a| a.latency = StdDuration::from_secs(1));
    let mut c = cadence(1);
    c.max_windows = 1;
    let b = bed(api, c, MemorySink::default());
    let run = b.start();
    b.until("live", StdDuration::from_secs(3600), |s| {
        s.state == StreamState::Live
    })
    .await;
    run.abort();

    let stored = b.sink.with(|s| s.stored.clone());
    // The first: a new stream's checkpoint at the partition's end, before any event.
    let (_, first) = &stored[0];
    assert_eq!(first.output.as_ref().unwrap().offset, 0);
    assert_eq!(first.watermark, midnight(9));
    assert!(first.seen.is_empty());
    // While the day's pages flow: stored at most every SAVE_EVERY, each covering the
    // events before it.
    let day_done = stored
        .iter()
        .position(|(_, cp)| cp.watermark == midnight(10))
        .expect("the day's window completed");
    let during: Vec<_> = stored[1..day_done].iter().collect();
    assert!(during.len() >= 4, "{} saves in 30 s of pages", during.len());
    for pair in during.windows(2) {
        assert!(pair[1].0 - pair[0].0 >= SAVE_EVERY, "saved too often");
        let (a, b) = (&pair[0].1, &pair[1].1);
        assert!(a.output.as_ref().unwrap().offset < b.output.as_ref().unwrap().offset);
    }
    // The window's end: stored at once, its position after the day's last event.
    assert_eq!(stored[day_done].1.output.as_ref().unwrap().offset, 3000);
    // Today's window found nothing, but the watermark leapt 12 hours: stored at once.
    let last = &stored.last().unwrap().1;
    assert!(last.watermark >= t0(), "{}", last.watermark);
    assert_eq!(b.published(), b.truth(midnight(9)));
}
