//! Transactional mode on Apache Kafka: committed batches appear at once under
//! `read_committed`; aborted, abandoned or cut-short ones never do (though their records
//! are in the log, as `read_uncommitted` shows), and the batch sent again appears
//! exactly once; a second producer with the same `transactional.id` fences the first for
//! good. (librdkafka's mock cluster could show none of this: it writes no transaction
//! markers and hands a second instance a new producer id instead of fencing.)

mod common;

use common::*;
use trawl_kafka::{
    read_back, CheckpointStore, EventProducer, KafkaCheckpointStore, KafkaError, KafkaSettings,
};
use trawl_model::{Checkpoint, EventId, SourceKind, StreamKey};

async fn txn_bed(label: &str) -> KafkaSettings {
    let mut s = kafka_bed(label).await;
    s.transactional = true;
    s.transactional_id = format!("trawl-test-{label}");
    s
}

fn checkpoint(stream: &StreamKey, pos: &trawl_model::OutputPosition) -> Checkpoint {
    let mut cp = Checkpoint::new(stream.clone(), t0(), t0());
    cp.output = Some(pos.clone());
    cp
}

fn sorted(mut v: Vec<EventId>) -> Vec<EventId> {
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread")]
async fn a_committed_batch_of_several_streams_and_checkpoints_is_visible() {
    let s = txn_bed("commit").await;
    let p = EventProducer::new(&s).unwrap();
    let zoom = stream("acme", SourceKind::ZoomOperationLogs);
    let zoho = stream("globex", SourceKind::ZohoMailAudit);
    let (ez, eh) = (events(&zoom, 0, 20), events(&zoho, 0, 7));

    let mut txn = p.begin().await.unwrap();
    let dz = txn.add_events(&zoom, &ez).await.unwrap();
    let dh = txn.add_events(&zoho, &eh).await.unwrap();
    let (pz, ph) = (dz.position.unwrap(), dh.position.unwrap());
    txn.add_checkpoint(&checkpoint(&zoom, &pz)).await.unwrap();
    txn.add_checkpoint(&checkpoint(&zoho, &ph)).await.unwrap();
    // Not visible before the commit.
    let zoom_topic = topic(&s, SourceKind::ZoomOperationLogs);
    assert!(read_all(&s.brokers, &zoom_topic, "read_committed").is_empty());
    let positions = txn.commit().await.unwrap();
    assert_eq!(positions[&zoom], pz);
    assert_eq!(positions[&zoho], ph);
    assert_eq!(
        pz.offset, 20,
        "the position after the last event, before the marker"
    );

    let seen = read_all(&s.brokers, &zoom_topic, "read_committed");
    assert_eq!(ids(&seen), ez.iter().map(|e| e.id).collect::<Vec<_>>());
    let zoho_topic = topic(&s, SourceKind::ZohoMailAudit);
    assert_eq!(read_all(&s.brokers, &zoho_topic, "read_committed").len(), 7);
    let store = KafkaCheckpointStore::new(&s).unwrap();
    let cps = store.load_all().await.unwrap();
    assert_eq!(cps.len(), 2);
    assert_eq!(cps[&zoom].output, Some(pz));

    // publish() in transactional mode is a transaction of its own.
    let d = p.publish(&zoom, &events(&zoom, 20, 3)).await.unwrap();
    assert_eq!(
        read_all(&s.brokers, &zoom_topic, "read_committed").len(),
        23
    );
    // The commit marker takes an offset: read-back from the old position still finds
    // exactly the 3 new events.
    let back = read_back(&s, &positions[&zoom], &zoom).await.unwrap();
    assert_eq!(back.len(), 3);
    assert!(d.position.unwrap().offset > positions[&zoom].offset);
}

/// An aborted and an abandoned (dropped, as a cancelled task leaves it) transaction:
/// their events and checkpoint reached the log but stay invisible to `read_committed`
/// readers, the read-back and the checkpoint store; sent again, every event is there
/// exactly once.
#[tokio::test(flavor = "multi_thread")]
async fn aborted_records_stay_hidden_and_the_batch_sent_again_appears_once() {
    let s = txn_bed("abort").await;
    let p = EventProducer::new(&s).unwrap();
    let zoom = stream("acme", SourceKind::ZoomOperationLogs);
    let zoom_topic = topic(&s, SourceKind::ZoomOperationLogs);
    let start = p.stream_start(&zoom).await.unwrap();
    let batch = events(&zoom, 0, 15);

    let mut txn = p.begin().await.unwrap();
    let d = txn.add_events(&zoom, &batch[..10]).await.unwrap();
    txn.add_checkpoint(&checkpoint(&zoom, &d.position.unwrap()))
        .await
        .unwrap();
    txn.abort().await.unwrap();
    let mut txn = p.begin().await.unwrap();
    txn.add_events(&zoom, &batch[10..]).await.unwrap();
    drop(txn);

    // A first committed batch ends the abandoned one (the next `begin` aborts it).
    let kept = events(&zoom, 100, 4);
    p.publish(&zoom, &kept).await.unwrap();
    let uncommitted = read_all(&s.brokers, &zoom_topic, "read_uncommitted");
    assert_eq!(
        uncommitted.len(),
        15 + 4,
        "the aborted records are in the log"
    );
    let committed = read_all(&s.brokers, &zoom_topic, "read_committed");
    assert_eq!(
        ids(&committed),
        kept.iter().map(|e| e.id).collect::<Vec<_>>()
    );
    let back = read_back(&s, &start, &zoom).await.unwrap();
    assert_eq!(back.len(), 4, "the read-back sees committed events only");
    let store = KafkaCheckpointStore::new(&s).unwrap();
    assert!(
        store.load_all().await.unwrap().is_empty(),
        "the aborted checkpoint is not loaded"
    );

    // The stream republishes the aborted events: each appears once.
    p.publish(&zoom, &batch).await.unwrap();
    let committed = read_all(&s.brokers, &zoom_topic, "read_committed");
    let want: Vec<EventId> = kept.iter().chain(&batch).map(|e| e.id).collect();
    assert_eq!(sorted(ids(&committed)), sorted(want));
}

/// A process killed between produce and commit leaves an open transaction. Its successor
/// takes the transactional.id over before reading anything: the coordinator aborts the
/// open transaction at once (no waiting for its timeout), so the read-back finds none of
/// its events and the successor publishes them exactly once.
#[tokio::test(flavor = "multi_thread")]
async fn a_successor_aborts_the_open_transaction_of_a_killed_predecessor() {
    let s = txn_bed("killed").await;
    let zoom = stream("acme", SourceKind::ZohoMailAudit);
    let zoom_topic = topic(&s, SourceKind::ZohoMailAudit);
    let dead = EventProducer::new(&s).unwrap();
    let start = dead.stream_start(&zoom).await.unwrap();
    let batch = events(&zoom, 0, 30);
    let mut txn = dead.begin().await.unwrap();
    txn.add_events(&zoom, &batch).await.unwrap();
    // Killed here: the transaction is never committed nor aborted by its owner.
    std::mem::forget(txn);

    let next = EventProducer::new(&s).unwrap();
    next.take_over().await.unwrap();
    let back = read_back(&s, &start, &zoom).await.unwrap();
    assert!(
        back.is_empty(),
        "nothing of the cut-short transaction is visible"
    );
    assert_eq!(
        read_all(&s.brokers, &zoom_topic, "read_uncommitted").len(),
        30,
        "its records did reach the log"
    );
    next.publish(&zoom, &batch).await.unwrap();
    let committed = read_all(&s.brokers, &zoom_topic, "read_committed");
    assert_eq!(
        ids(&committed),
        batch.iter().map(|e| e.id).collect::<Vec<_>>()
    );
}

/// Another producer (another cluster member, another transactional writer) holds a
/// transaction open on the stream's partition while this stream commits events after
/// it. A `read_committed` reader's end-of-partition comes at the last stable offset,
/// before those events: a read-back that stopped there would miss them and the stream
/// would publish them again. The read-back waits for the open transaction to end and
/// finds every committed event of the stream, none of the aborted ones.
#[tokio::test(flavor = "multi_thread")]
async fn a_read_back_waits_for_another_producers_open_transaction() {
    let s = txn_bed("foreign").await;
    let zoom = stream("acme", SourceKind::ZoomOperationLogs);
    let mut foreign_settings = s.clone();
    foreign_settings.transactional_id = "someone-else".to_string();
    let foreign = EventProducer::new(&foreign_settings).unwrap();
    let own = EventProducer::new(&s).unwrap();
    own.take_over().await.unwrap();
    let start = own.stream_start(&zoom).await.unwrap();

    let mut open = foreign.begin().await.unwrap();
    open.add_events(&zoom, &events(&zoom, 100, 2))
        .await
        .unwrap();
    let ours = events(&zoom, 0, 5);
    own.publish(&zoom, &ours).await.unwrap();
    // Where the partition ends, as a restart asks before deciding to read back: past the
    // stream's own events, not at the open transaction's stable offset.
    let end = own.partition_end(&start).await.unwrap();
    assert!(
        end >= start.offset + 2 + 5,
        "the partition's end is past our events: {end}"
    );

    let reading = tokio::spawn({
        let (s, start, zoom) = (s.clone(), start.clone(), zoom.clone());
        async move { read_back(&s, &start, &zoom).await }
    });
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    if reading.is_finished() {
        panic!(
            "the read-back ended at the open transaction's stable offset: {:?} (from {start:?})",
            reading.await.unwrap()
        );
    }
    open.abort().await.unwrap();
    let back = reading.await.unwrap().unwrap();
    let got: Vec<EventId> = back.iter().map(|(id, _)| *id).collect();
    assert_eq!(
        sorted(got),
        sorted(ours.iter().map(|e| e.id).collect()),
        "every committed event of the stream, none of the aborted transaction"
    );
}

/// Zombie fencing: a second instance with the same transactional.id takes over; the first
/// is answered `Fenced` (not retryable, naming the id) and stays fenced: it never
/// rebuilds its producer, which would fence the new owner in turn. The new owner goes on
/// publishing; `read_committed` readers see each event once.
#[tokio::test(flavor = "multi_thread")]
async fn a_second_instance_fences_the_first_for_good() {
    let s = txn_bed("zombie").await;
    let zoom = stream("acme", SourceKind::ZoomPhoneOperationLogs);
    let zoom_topic = topic(&s, SourceKind::ZoomPhoneOperationLogs);
    let first = EventProducer::new(&s).unwrap();
    first.publish(&zoom, &events(&zoom, 0, 2)).await.unwrap();

    let second = EventProducer::new(&s).unwrap();
    second.take_over().await.unwrap();
    let err = first
        .publish(&zoom, &events(&zoom, 2, 5))
        .await
        .unwrap_err();
    eprintln!("the first instance was told: {err}");
    assert!(err.is_fenced(), "{err}");
    assert!(!err.is_retryable());
    assert!(err.to_string().contains("trawl-test-zombie"), "{err}");
    assert!(first.is_fenced());
    // Again: still fenced, and without re-initializing (the second keeps its id).
    let again = first
        .publish(&zoom, &events(&zoom, 2, 5))
        .await
        .unwrap_err();
    assert!(again.is_fenced(), "{again}");
    let err = first.dead_letter(&zoom, "x", b"y").await.unwrap_err();
    assert!(matches!(err, KafkaError::Fenced { .. }), "{err}");

    second.publish(&zoom, &events(&zoom, 2, 5)).await.unwrap();
    second.publish(&zoom, &events(&zoom, 7, 3)).await.unwrap();
    assert!(!second.is_fenced());
    let committed = read_all(&s.brokers, &zoom_topic, "read_committed");
    let want: Vec<EventId> = events(&zoom, 0, 10).iter().map(|e| e.id).collect();
    assert_eq!(ids(&committed), want, "each event once, in order");
}

/// A transaction open longer than `transaction.timeout.ms` (a broker frozen that long)
/// is aborted by the broker, which bumps the producer epoch: librdkafka says "fenced",
/// but no other instance exists. The producer is rebuilt, not stopped, and the batch
/// sent again appears once. (The test broker looks for timed-out transactions every
/// second.)
#[tokio::test(flavor = "multi_thread")]
async fn a_transaction_the_broker_timed_out_is_not_taken_for_fencing() {
    let mut s = txn_bed("timeout").await;
    s.properties
        .insert("transaction.timeout.ms".into(), "2000".into());
    s.properties
        .insert("message.timeout.ms".into(), "2000".into());
    let zoom = stream("acme", SourceKind::ZoomOperationLogs);
    let zoom_topic = topic(&s, SourceKind::ZoomOperationLogs);
    let p = EventProducer::new(&s).unwrap();
    let batch = events(&zoom, 0, 8);
    let mut txn = p.begin().await.unwrap();
    txn.add_events(&zoom, &batch).await.unwrap();
    // Longer than the timeout, plus the broker's check interval.
    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    let err = txn.commit().await.unwrap_err();
    eprintln!("the commit was told: {err}");
    assert!(!err.is_fenced(), "{err}");
    assert!(err.is_retryable(), "{err}");
    assert!(!p.is_fenced());
    p.publish(&zoom, &batch)
        .await
        .expect("the rebuilt producer publishes");
    let committed = read_all(&s.brokers, &zoom_topic, "read_committed");
    assert_eq!(
        ids(&committed),
        batch.iter().map(|e| e.id).collect::<Vec<_>>()
    );
}

/// An error in the middle of a batch aborts the whole batch: `commit` refuses with
/// `Aborted` (retryable), and the producer is usable for the retry.
#[tokio::test(flavor = "multi_thread")]
async fn a_failed_step_aborts_the_batch_and_commit_says_aborted() {
    let mut s = txn_bed("failed-step").await;
    s.topic = trawl_kafka::TopicTemplate::new("failed-step.missing.{source}").unwrap();
    let p = EventProducer::new(&s).unwrap();
    let zoom = stream("acme", SourceKind::ZoomOperationLogs);
    let mut txn = p.begin().await.unwrap();
    let err = txn
        .add_events(&zoom, &events(&zoom, 0, 1))
        .await
        .unwrap_err();
    assert!(!err.is_retryable(), "a missing topic is permanent: {err}");
    assert!(err.to_string().contains("failed-step.missing"), "{err}");
    let err = txn.add_dead_letter(&zoom, "x", b"y").await.unwrap_err();
    assert!(matches!(err, KafkaError::Aborted { .. }), "{err}");
    let err = txn.commit().await.unwrap_err();
    assert!(matches!(err, KafkaError::Aborted { .. }), "{err}");
    assert!(err.is_retryable());
    // The producer goes on.
    p.dead_letter(&zoom, "malformed", b"{").await.unwrap();
    let dl = read_all(&s.brokers, &s.dead_letter_topic, "read_committed");
    assert_eq!(
        dl.len(),
        1,
        "only the dead letter of the committed transaction"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn begin_is_refused_when_transactions_are_off() {
    let s = kafka_bed("no-txn").await;
    let p = EventProducer::new(&s).unwrap();
    let err = p.begin().await.err().expect("refused");
    assert!(!err.is_retryable());
    p.take_over()
        .await
        .expect("nothing to take over without transactions");
}

/// The broker frozen (SIGSTOP) while a commit is in flight, for longer than the
/// producer's timeouts: the commit times out twice and its outcome is unknown; the abort
/// that follows is refused while the commit is still in flight. Once the broker resumes,
/// the next transaction must start (the producer is rebuilt, and its
/// `init_transactions` ends the old transaction), not fail the same way forever; the
/// stream's recovery (read back, publish what is missing) then leaves each event on the
/// log exactly once.
#[tokio::test(flavor = "multi_thread")]
async fn a_broker_frozen_during_a_commit_does_not_jam_the_producer() {
    let broker = std::sync::Arc::new(kafka::KafkaBroker::start());
    let mut s = KafkaSettings::new(broker.bootstrap());
    s.partitions = 1;
    s.transactional = true;
    s.transactional_id = "trawl-test-frozen".into();
    s.properties
        .insert("message.timeout.ms".into(), "3000".into());
    s.properties
        .insert("transaction.timeout.ms".into(), "30000".into());
    let zoom = stream("acme", SourceKind::ZoomOperationLogs);
    trawl_kafka::ensure_topics(&s, std::slice::from_ref(&zoom))
        .await
        .unwrap();
    let p = EventProducer::new(&s).unwrap();
    p.take_over().await.unwrap();
    let start = p.stream_start(&zoom).await.unwrap();
    let batch = events(&zoom, 0, 10);

    let mut txn = p.begin().await.unwrap();
    txn.add_events(&zoom, &batch).await.unwrap();
    broker.pause();
    let thaw = {
        let broker = broker.clone();
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_secs(10));
            broker.resume();
        })
    };
    let outcome = txn.commit().await;
    let outcome = outcome.map(|_| ());
    eprintln!("commit to the frozen broker: {outcome:?}");
    assert!(
        outcome.is_err(),
        "a commit to a frozen broker cannot succeed"
    );
    thaw.join().unwrap();

    // The engine's recovery, repeated until it sticks: read back, publish the rest.
    let mut attempts = 0;
    loop {
        attempts += 1;
        assert!(
            attempts <= 20,
            "the producer never recovered after the broker resumed"
        );
        let Ok(there) = read_back(&s, &start, &zoom).await else {
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            continue;
        };
        let missing: Vec<_> = batch
            .iter()
            .filter(|e| !there.iter().any(|(id, _)| *id == e.id))
            .cloned()
            .collect();
        match p.publish(&zoom, &missing).await {
            Ok(_) => break,
            Err(e) => {
                assert!(!e.is_fenced(), "{e}");
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
        }
    }
    let committed = read_all(
        &s.brokers,
        &topic(&s, SourceKind::ZoomOperationLogs),
        "read_committed",
    );
    assert_eq!(
        sorted(ids(&committed)),
        sorted(batch.iter().map(|e| e.id).collect()),
        "each event exactly once"
    );
}
