//! Both sinks on librdkafka's mock cluster: a write's checkpoint is stored at the
//! position after its events and is where a restarted stream starts; a transaction
//! that fails in one write's step fails that write and aborts the others; fencing is
//! final.

use chrono::{TimeZone, Utc};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
use serde_json::json;
use trawl_model::{Event, Outcome, RawJson, SourceKind, TenantId, EVENT_SCHEMA};

use super::*;
use std::sync::Arc;

use crate::{FileCheckpointStore, KafkaCheckpointStore, KafkaSettings, TopicTemplate};

type Cluster = MockCluster<'static, DefaultProducerContext>;

fn cluster(topics: &[&str]) -> (Cluster, KafkaSettings) {
    let c = MockCluster::new(1).expect("mock cluster");
    for t in topics {
        c.create_topic(t, 1, 1).expect("create topic");
    }
    let mut s = KafkaSettings::new(c.bootstrap_servers());
    s.partitions = 1;
    s.properties
        .insert("allow.auto.create.topics".into(), "false".into());
    (c, s)
}

fn stream(tenant: &str, source: SourceKind) -> StreamKey {
    StreamKey::new(TenantId::new(tenant).unwrap(), source)
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap()
}

fn events(stream: &StreamKey, n: usize) -> Vec<Event> {
    (0..n)
        .map(|i| {
            let time = t0() + chrono::Duration::seconds(i as i64);
            let raw = json!({"time": time.to_rfc3339(), "n": i});
            Event {
                schema: EVENT_SCHEMA.into(),
                id: EventId::compute(stream, &raw, 0),
                tenant: stream.tenant.clone(),
                source: stream.source,
                time,
                observed_at: t0(),
                actor: None,
                action: "update".into(),
                category: None,
                target: None,
                detail: None,
                outcome: Outcome::Success,
                client_ip: None,
                raw: RawJson::from_value(&raw),
            }
        })
        .collect()
}

fn write(stream: &StreamKey, n: usize, checkpoint: bool) -> StreamWrite {
    StreamWrite {
        stream: stream.clone(),
        events: EventBatch::encode(stream, &events(stream, n)),
        checkpoint: checkpoint.then(|| Checkpoint::new(stream.clone(), t0(), t0())),
    }
}

fn transactional(s: &KafkaSettings, id: &str) -> TransactionalSink {
    let mut s = s.clone();
    s.transactional = true;
    s.transactional_id = id.into();
    let producer = EventProducer::new(&s).unwrap();
    TransactionalSink::new(producer, KafkaCheckpointStore::new(&s).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_checkpoint_is_stored_after_its_events_and_is_where_a_restart_starts() {
    let (_c, s) = cluster(&["audit.zoom.operation_logs", "trawl.dead_letter"]);
    let dir = tempfile::tempdir().unwrap();
    let store = || Arc::new(FileCheckpointStore::new(dir.path()).unwrap());
    let sink = IdempotentSink::new(EventProducer::new(&s).unwrap(), store());
    assert_eq!(sink.batching(), Batching::Each);
    let zoom = stream("acme", SourceKind::ZoomOperationLogs);
    let phone = stream("acme", SourceKind::ZoomPhoneOperationLogs);

    let mut idle = write(&phone, 0, true);
    let kept = OutputPosition {
        topic: "audit.zoom.phone_operation_logs".into(),
        partition: 0,
        offset: 41,
    };
    idle.checkpoint.as_mut().unwrap().output = Some(kept.clone());
    let results = sink.publish(vec![write(&zoom, 3, true), idle]).await;
    let zoom_done = results[0].as_ref().unwrap();
    let position = zoom_done.position.clone().expect("events were published");
    assert_eq!(position.offset, 3, "the position after the third event");
    assert!(zoom_done.checkpoint_stored);
    assert_eq!(
        results[1].as_ref().unwrap(),
        &Published {
            position: None,
            checkpoint_stored: true
        }
    );
    assert_eq!(
        sink.checkpoint(&zoom).await.unwrap().unwrap().output,
        Some(position.clone())
    );
    // Without events, the checkpoint keeps the position it was given.
    assert_eq!(
        sink.checkpoint(&phone).await.unwrap().unwrap().output,
        Some(kept)
    );

    // A restarted process loads what was stored.
    let reopened = IdempotentSink::new(EventProducer::new(&s).unwrap(), store());
    assert_eq!(reopened.checkpoint(&zoom).await.unwrap(), None);
    assert_eq!(reopened.load().await.unwrap(), 2);
    assert_eq!(
        reopened.checkpoint(&zoom).await.unwrap().unwrap().output,
        Some(position.clone())
    );
    let back = reopened
        .read_back(
            &OutputPosition {
                offset: 0,
                ..position
            },
            &zoom,
        )
        .await
        .unwrap();
    assert_eq!(back.len(), 3);
    assert!(sink.fenced().is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_transaction_writes_several_streams_events_and_checkpoints() {
    let (_c, s) = cluster(&[
        "audit.zoom.operation_logs",
        "audit.zoho.mail_audit",
        "trawl.checkpoints",
    ]);
    let sink = transactional(&s, "trawl-sink-commit");
    assert_eq!(sink.batching(), Batching::Together);
    let zoom = stream("acme", SourceKind::ZoomOperationLogs);
    let zoho = stream("globex", SourceKind::ZohoMailAudit);
    let results = sink
        .publish(vec![write(&zoom, 4, true), write(&zoho, 2, false)])
        .await;
    let zoom_pos = results[0].as_ref().unwrap().position.clone().unwrap();
    assert_eq!(zoom_pos.offset, 4);
    assert!(!results[1].as_ref().unwrap().checkpoint_stored);
    assert_eq!(
        sink.checkpoint(&zoom).await.unwrap().unwrap().output,
        Some(zoom_pos.clone())
    );
    assert_eq!(sink.checkpoint(&zoho).await.unwrap(), None);
    // The checkpoint went to the topic inside the transaction: a new instance loads it.
    let reopened = transactional(&s, "trawl-sink-commit-2");
    assert_eq!(reopened.load().await.unwrap(), 1);
    assert_eq!(
        reopened.checkpoint(&zoom).await.unwrap().unwrap().output,
        Some(zoom_pos)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_step_fails_its_write_and_aborts_the_rest_of_the_batch() {
    let (_c, mut s) = cluster(&["audit.acme", "trawl.checkpoints"]);
    s.topic = TopicTemplate::new("audit.{tenant}").unwrap();
    let sink = transactional(&s, "trawl-sink-step");
    let good = stream("acme", SourceKind::ZoomOperationLogs);
    let bad = stream("nobody", SourceKind::ZoomOperationLogs);
    let results = sink
        .publish(vec![write(&good, 2, true), write(&bad, 1, true)])
        .await;
    let innocent = results[0].as_ref().unwrap_err();
    assert!(matches!(innocent, KafkaError::Aborted { .. }), "{innocent}");
    let culprit = results[1].as_ref().unwrap_err();
    assert!(matches!(culprit, KafkaError::Permanent { .. }), "{culprit}");
    assert!(culprit.to_string().contains("audit.nobody"), "{culprit}");
    assert_eq!(
        sink.checkpoint(&good).await.unwrap(),
        None,
        "nothing stored"
    );
    // The sink goes on: the innocent write succeeds when sent again.
    let again = sink.publish(vec![write(&good, 2, true)]).await;
    assert!(again[0].as_ref().unwrap().checkpoint_stored);
}

#[tokio::test(flavor = "multi_thread")]
async fn fencing_is_final() {
    let (c, s) = cluster(&[
        "audit.zoom.operation_logs",
        "trawl.checkpoints",
        "trawl.dead_letter",
    ]);
    let sink = transactional(&s, "trawl-sink-zombie");
    let zoom = stream("acme", SourceKind::ZoomOperationLogs);
    let zoho = stream("globex", SourceKind::ZohoMailAudit);
    assert!(sink.publish(vec![write(&zoom, 1, true)]).await[0].is_ok());

    c.request_errors(
        RDKafkaApiKey::EndTxn,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_PRODUCER_FENCED],
    );
    let results = sink
        .publish(vec![write(&zoom, 2, true), write(&zoho, 0, true)])
        .await;
    for r in &results {
        let e = r.as_ref().unwrap_err();
        assert!(e.is_fenced(), "every write of the batch learns it: {e}");
        assert!(e.to_string().contains("trawl-sink-zombie"), "{e}");
    }
    assert!(sink.fenced().is_some());
    // The broker would take the next transaction (the injected error is spent), but the
    // sink never tries again: a retry would fence the new owner in turn.
    let results = sink.publish(vec![write(&zoom, 1, true)]).await;
    assert!(results[0].as_ref().unwrap_err().is_fenced());
    assert!(sink
        .dead_letter(&zoom, "x", b"y")
        .await
        .unwrap_err()
        .is_fenced());
    assert!(sink.stream_start(&zoom).await.unwrap_err().is_fenced());
    assert_eq!(
        sink.checkpoint(&zoom).await.unwrap().unwrap().updated_at,
        t0(),
        "the last stored checkpoint is still known"
    );
}
