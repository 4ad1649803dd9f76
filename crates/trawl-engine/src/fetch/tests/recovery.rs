//! Recovery decisions: a stream that crashed after publishing but before storing its
//! checkpoint reads its partition back and publishes nothing twice; a checkpoint at the
//! partition's end needs no read-back at all.

use trawl_model::{Checkpoint, OutputPosition};

use super::*;
use crate::status::StreamState;

/// A sink as a crashed instance left it: the stream's checkpoint at `offset` 0 with
/// backfill from March 7, and `published` of its records already in the log after it.
fn crashed(published: &[ApiRecord]) -> MemorySink {
    let sink = MemorySink::default();
    let mut cp = Checkpoint::new(key(), midnight(7), t0());
    cp.output = Some(OutputPosition {
        topic: crate::test_support::memory::TOPIC.into(),
        partition: 0,
        offset: 0,
    });
    sink.with(|s| {
        s.stored.push((tokio::time::Instant::now(), cp));
        for r in published {
            s.log.push((key(), id_of(r), r.time));
        }
    });
    sink
}

#[actix::test]
async fn what_was_published_after_the_checkpoint_is_read_back_and_not_published_again() {
    tokio::time::pause();
    let records = ScriptedApi::records(t0(), 4, 300);
    let already: Vec<ApiRecord> = records
        .iter()
        .filter(|r| r.time >= midnight(7))
        .take(150)
        .copied()
        .collect();
    let b = bed(
        ScriptedApi::new(records, 100),
        cadence(3),
        crashed(&already),
    );
    let run = b.start();
    b.until("live", StdDuration::from_secs(3600), |s| {
        s.state == StreamState::Live
    })
    .await;
    run.abort();
    assert_eq!(b.sink.with(|s| s.read_backs), 1);
    assert_eq!(b.published(), b.truth(midnight(7)), "each record once");
    assert_eq!(b.status().events, 1050 - 150, "only the rest was published");
    assert_eq!(b.metric("trawl_duplicates_skipped_total"), 150.0);
}

#[actix::test]
async fn a_checkpoint_at_the_partitions_end_needs_no_read_back() {
    tokio::time::pause();
    let b = bed(
        ScriptedApi::new(ScriptedApi::records(t0(), 4, 300), 100),
        cadence(3),
        crashed(&[]),
    );
    let run = b.start();
    b.until("live", StdDuration::from_secs(3600), |s| {
        s.state == StreamState::Live
    })
    .await;
    run.abort();
    assert_eq!(b.sink.with(|s| s.read_backs), 0);
    assert_eq!(b.published(), b.truth(midnight(7)));
}

/// A sink whose checkpoint store was lost: the stream's events of an earlier run are in
/// the partition (among another stream's), but no checkpoint is stored.
fn lost_checkpoint(published: &[ApiRecord]) -> MemorySink {
    let sink = MemorySink::default();
    let other = StreamKey::new(TenantId::new("other").unwrap(), SourceKind::ZohoMailAudit);
    sink.with(|s| {
        for r in published {
            s.log.push((other.clone(), id_of(r), r.time));
            s.log.push((key(), id_of(r), r.time));
        }
    });
    sink
}

#[actix::test]
async fn a_lost_checkpoint_reads_the_partition_from_its_beginning_and_publishes_nothing_twice() {
    tokio::time::pause();
    let records = ScriptedApi::records(t0(), 4, 300);
    let already: Vec<ApiRecord> = records
        .iter()
        .filter(|r| r.time >= midnight(7) && r.time < midnight(9))
        .copied()
        .collect();
    let newest = already.iter().map(|r| r.time).max().unwrap();
    let b = bed(
        ScriptedApi::new(records, 100),
        cadence(3),
        lost_checkpoint(&already),
    );
    let run = b.start();
    b.until("live", StdDuration::from_secs(3600), |s| {
        s.state == StreamState::Live
    })
    .await;
    run.abort();
    assert_eq!(b.sink.with(|s| s.read_backs), 1);
    let mine: BTreeMap<EventId, usize> = b.sink.with(|s| {
        s.log
            .iter()
            .filter(|(k, _, _)| *k == key())
            .fold(BTreeMap::new(), |mut m, (_, id, _)| {
                *m.entry(*id).or_default() += 1;
                m
            })
    });
    assert_eq!(mine, b.truth(midnight(7)), "each record once");
    assert_eq!(b.status().events, 1050 - already.len() as u64);
    // No checkpoint stored before the backfill passed what was already published: one
    // would carry all of its ids.
    let stored = b.sink.with(|s| s.stored.clone());
    assert!(!stored.is_empty(), "stored once past them");
    for (_, cp) in &stored {
        assert!(
            cp.watermark > newest,
            "stored at {} before {newest}",
            cp.watermark
        );
        assert!(cp.seen.len() < already.len());
    }
}

#[actix::test]
async fn a_write_in_flight_when_its_fetcher_is_dropped_lands_before_the_next_one_reads_back() {
    tokio::time::pause();
    let records = ScriptedApi::records(t0(), 4, 300);
    let b = bed(
        ScriptedApi::new(records, 100),
        cadence(3),
        MemorySink::default(),
    );
    let run = b.start();
    b.until("publishing", StdDuration::from_secs(60), |s| s.events > 0)
        .await;
    // Kafka stalls: the next write waits in the sink; the fetcher is dropped meanwhile
    // (a stall restart), and the next one starts.
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    *b.sink.gate.lock().unwrap() = Some(gate.clone());
    tokio::time::sleep(StdDuration::from_secs(5)).await;
    run.abort();
    let run = b.start();
    tokio::time::sleep(StdDuration::from_secs(5)).await;
    gate.add_permits(1 << 20);
    b.until("live", StdDuration::from_secs(3600), |s| {
        s.state == StreamState::Live
    })
    .await;
    run.abort();
    assert_eq!(b.published(), b.truth(midnight(7)), "each record once");
}
