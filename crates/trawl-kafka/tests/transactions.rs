//! Transactional mode on librdkafka's mock cluster (which implements transactions):
//! committed batches appear at once under `read_committed`, aborted or abandoned ones
//! never do, and a restarted instance fences its zombie predecessor.

mod common;

use common::*;
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
use trawl_kafka::{read_back, CheckpointStore, EventProducer, KafkaCheckpointStore, KafkaSettings};
use trawl_model::{Checkpoint, SourceKind, StreamKey};

fn txn_settings(c: &Cluster, id: &str) -> KafkaSettings {
    let mut s = settings(c);
    s.transactional = true;
    s.transactional_id = id.into();
    s
}

fn checkpoint(stream: &StreamKey, pos: &trawl_model::OutputPosition) -> Checkpoint {
    let mut cp = Checkpoint::new(stream.clone(), t0(), t0());
    cp.output = Some(pos.clone());
    cp
}

#[tokio::test(flavor = "multi_thread")]
async fn a_committed_batch_of_several_streams_and_checkpoints_is_visible() {
    let c = cluster();
    let s = txn_settings(&c, "trawl-commit");
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
    let positions = txn.commit().await.unwrap();
    assert_eq!(positions[&zoom], pz);
    assert_eq!(positions[&zoho], ph);
    assert_eq!(pz.offset, 20);

    let seen = read_all(&s.brokers, "audit.zoom.operation_logs", "read_committed");
    assert_eq!(ids(&seen), ez.iter().map(|e| e.id).collect::<Vec<_>>());
    let seen = read_all(&s.brokers, "audit.zoho.mail_audit", "read_committed");
    assert_eq!(seen.len(), 7);
    let store = KafkaCheckpointStore::new(&s).unwrap();
    let cps = store.load_all().await.unwrap();
    assert_eq!(cps.len(), 2);
    assert_eq!(cps[&zoom].output, Some(pz));

    // publish() in transactional mode is a transaction of its own.
    let d = p.publish(&zoom, &events(&zoom, 20, 3)).await.unwrap();
    assert_eq!(
        read_all(&s.brokers, "audit.zoom.operation_logs", "read_committed").len(),
        23
    );
    // The commit marker takes an offset: read-back from the old position still finds
    // exactly the 3 new events.
    let back = read_back(&s, &positions[&zoom], &zoom).await.unwrap();
    assert_eq!(back.len(), 3);
    assert!(d.position.unwrap().offset > positions[&zoom].offset);
}

/// Abort and abandon (drop without commit) end the transaction cleanly: the producer
/// goes on and the next batch commits. Whether aborted records stay hidden can't be
/// checked here: see `the_mock_cluster_does_not_hide_aborted_records`.
#[tokio::test(flavor = "multi_thread")]
async fn aborted_and_abandoned_transactions_end_cleanly_and_the_producer_goes_on() {
    let c = cluster();
    let s = txn_settings(&c, "trawl-abort");
    let p = EventProducer::new(&s).unwrap();
    let zoom = stream("acme", SourceKind::ZoomOperationLogs);

    let mut txn = p.begin().await.unwrap();
    let d = txn.add_events(&zoom, &events(&zoom, 0, 10)).await.unwrap();
    txn.add_checkpoint(&checkpoint(&zoom, &d.position.unwrap()))
        .await
        .unwrap();
    txn.abort().await.unwrap();

    // Abandoned: dropped without commit (a stream task cancelled mid-batch). The next
    // `begin` aborts it first instead of failing with a state error.
    let mut txn = p.begin().await.unwrap();
    txn.add_events(&zoom, &events(&zoom, 10, 5)).await.unwrap();
    drop(txn);

    let kept = events(&zoom, 100, 4);
    let mut txn = p.begin().await.unwrap();
    txn.add_events(&zoom, &kept).await.unwrap();
    let positions = txn.commit().await.unwrap();
    assert_eq!(positions[&zoom].offset, 19);
    let all = read_all(&s.brokers, "audit.zoom.operation_logs", "read_uncommitted");
    let tail: Vec<_> = ids(&all).split_off(15);
    assert_eq!(tail, kept.iter().map(|e| e.id).collect::<Vec<_>>());
}

/// A pinned fact about the test bed, not about trawl: librdkafka's mock cluster writes
/// no transaction markers and reports no aborted transactions, so `read_committed`
/// readers see aborted records. If this starts failing, the mock learned markers and
/// the abort tests above can assert invisibility directly.
#[tokio::test(flavor = "multi_thread")]
async fn the_mock_cluster_does_not_hide_aborted_records() {
    let c = cluster();
    let s = txn_settings(&c, "trawl-mock-fact");
    let p = EventProducer::new(&s).unwrap();
    let zoom = stream("acme", SourceKind::ZoomOperationLogs);
    let mut txn = p.begin().await.unwrap();
    txn.add_events(&zoom, &events(&zoom, 0, 3)).await.unwrap();
    txn.abort().await.unwrap();
    let seen = read_all(&s.brokers, "audit.zoom.operation_logs", "read_committed");
    assert_eq!(seen.len(), 3);
}

/// A fenced producer (the coordinator answers PRODUCER_FENCED: a newer instance with
/// the same transactional.id exists) reports `Fenced`, not a retryable error, so the
/// engine stops instead of re-publishing; a later `begin` rebuilds the producer and
/// re-initializes transactions (which in turn fences the other instance).
///
/// The mock cluster hands a second instance a new producer id instead of bumping the
/// epoch, so two real instances don't fence each other there: the coordinator's
/// answer is injected instead.
#[tokio::test(flavor = "multi_thread")]
async fn a_fenced_producer_says_so_and_is_rebuilt_on_the_next_begin() {
    let c = cluster();
    let s = txn_settings(&c, "trawl-zombie");
    let zoom = stream("acme", SourceKind::ZoomOperationLogs);
    let p = EventProducer::new(&s).unwrap();
    p.publish(&zoom, &events(&zoom, 0, 2)).await.unwrap();

    let mut txn = p.begin().await.unwrap();
    txn.add_events(&zoom, &events(&zoom, 2, 5)).await.unwrap();
    c.request_errors(
        RDKafkaApiKey::EndTxn,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_PRODUCER_FENCED],
    );
    let err = txn.commit().await.unwrap_err();
    assert!(err.is_fenced(), "{err}");
    assert!(!err.is_retryable());
    assert!(err.to_string().contains("trawl-zombie"), "{err}");

    // Taking over again: a fresh producer, fresh transactions, publishing works.
    let d = p.publish(&zoom, &events(&zoom, 7, 3)).await.unwrap();
    assert_eq!(d.count, 3);
}

/// An error in the middle of a batch aborts the whole batch: `commit` refuses with
/// `Aborted` (retryable), and the producer is usable for the retry.
#[tokio::test(flavor = "multi_thread")]
async fn a_failed_step_aborts_the_batch_and_commit_says_aborted() {
    let c = cluster();
    let mut s = txn_settings(&c, "trawl-failed-step");
    s.topic = trawl_kafka::TopicTemplate::new("missing.{source}").unwrap();
    s.properties
        .insert("allow.auto.create.topics".into(), "false".into());
    let p = EventProducer::new(&s).unwrap();
    let zoom = stream("acme", SourceKind::ZoomOperationLogs);
    let mut txn = p.begin().await.unwrap();
    let err = txn
        .add_events(&zoom, &events(&zoom, 0, 1))
        .await
        .unwrap_err();
    assert!(!err.is_retryable(), "a missing topic is permanent: {err}");
    let err = txn.add_dead_letter(&zoom, "x", b"y").await.unwrap_err();
    assert!(
        matches!(err, trawl_kafka::KafkaError::Aborted { .. }),
        "{err}"
    );
    let err = txn.commit().await.unwrap_err();
    assert!(
        matches!(err, trawl_kafka::KafkaError::Aborted { .. }),
        "{err}"
    );
    assert!(err.is_retryable());
    // The producer goes on.
    p.dead_letter(&zoom, "malformed", b"{").await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn begin_is_refused_when_transactions_are_off() {
    let c = cluster();
    let p = EventProducer::new(&settings(&c)).unwrap();
    let err = p.begin().await.err().expect("refused");
    assert!(!err.is_retryable());
}
