//! The broker going away: publishing waits (within `message.timeout.ms`) and completes
//! when it returns, retries never duplicate (idempotent producer), and a publish that
//! gives up says so with a retryable error, after which read-back tells what is there.
//!
//! On librdkafka's mock cluster, the right tool here: it takes the broker down and up in
//! an instant and injects exact produce errors (a connection dropped after the append).
//! Real brokers killed and restarted: `tests/engine_broker_failures.rs`.

mod common;

use std::time::Duration;

use common::*;
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
use trawl_kafka::{read_back, EventProducer};
use trawl_model::SourceKind;

#[tokio::test(flavor = "multi_thread")]
async fn a_publish_during_an_outage_completes_when_the_broker_returns_without_duplicates() {
    let c = cluster();
    let s = settings(&c);
    let p = EventProducer::new(&s).unwrap();
    let acme = stream("acme", SourceKind::ZoomOperationLogs);
    let first = events(&acme, 0, 10);
    p.publish(&acme, &first).await.unwrap();

    c.broker_down(-1).unwrap();
    let during = events(&acme, 10, 500);
    let (published, ()) = tokio::join!(p.publish(&acme, &during), async {
        tokio::time::sleep(Duration::from_secs(3)).await;
        c.broker_up(-1).unwrap();
    });
    let d = published.expect("publish waits for the broker instead of failing");
    assert_eq!(d.position.unwrap().offset, 510);

    let got = ids(&read_all(
        &s.brokers,
        "audit.zoom.operation_logs",
        "read_committed",
    ));
    let want: Vec<_> = first.iter().chain(&during).map(|e| e.id).collect();
    assert_eq!(got, want, "every event once, in order");
}

#[tokio::test(flavor = "multi_thread")]
async fn failed_produce_requests_are_retried_without_duplicates() {
    let c = cluster();
    let s = settings(&c);
    let p = EventProducer::new(&s).unwrap();
    let acme = stream("acme", SourceKind::ZohoMailAudit);
    p.publish(&acme, &events(&acme, 0, 1)).await.unwrap();
    use RDKafkaRespErr::*;
    // Refused requests, and a connection dropped after the broker appended the batch
    // (the classic duplicate maker without idempotence).
    c.request_errors(
        RDKafkaApiKey::Produce,
        &[
            RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
            RD_KAFKA_RESP_ERR__TRANSPORT,
            RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
            RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
        ],
    );
    let evs = events(&acme, 1, 300);
    let d = p.publish(&acme, &evs).await.unwrap();
    assert_eq!(d.count, 300);
    let got = ids(&read_all(
        &s.brokers,
        "audit.zoho.mail_audit",
        "read_committed",
    ));
    assert_eq!(got.len(), 301, "no duplicates");
    assert_eq!(&got[1..], &evs.iter().map(|e| e.id).collect::<Vec<_>>()[..]);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_outage_longer_than_the_message_timeout_is_a_retryable_error_and_nothing_is_lost() {
    let c = cluster();
    let mut s = settings(&c);
    s.properties
        .insert("message.timeout.ms".into(), "1500".into());
    let p = EventProducer::new(&s).unwrap();
    let acme = stream("acme", SourceKind::ZoomPhoneOperationLogs);
    let before = p
        .publish(&acme, &events(&acme, 0, 5))
        .await
        .unwrap()
        .position
        .unwrap();

    c.broker_down(-1).unwrap();
    let page = events(&acme, 5, 20);
    let err = p.publish(&acme, &page).await.unwrap_err();
    assert!(err.is_retryable(), "{err}");
    c.broker_up(-1).unwrap();

    // The engine's recovery, repeated until it sticks (the producer reconnects with
    // backoff, so the first tries may time out again): read back from the last known
    // position, publish what is not there.
    let mut attempts = 0;
    loop {
        attempts += 1;
        assert!(attempts <= 30, "never recovered");
        let Ok(there) = read_back(&s, &before, &acme).await else {
            continue;
        };
        let missing: Vec<_> = page
            .iter()
            .filter(|e| !there.iter().any(|(id, _)| *id == e.id))
            .cloned()
            .collect();
        match p.publish(&acme, &missing).await {
            Ok(_) => break,
            Err(e) => assert!(e.is_retryable(), "{e}"),
        }
    }
    let got = ids(&read_all(
        &s.brokers,
        "audit.zoom.phone_operation_logs",
        "read_committed",
    ));
    let want: Vec<_> = events(&acme, 0, 25).iter().map(|e| e.id).collect();
    let mut sorted_got = got.clone();
    sorted_got.sort();
    let mut sorted_want = want;
    sorted_want.sort();
    assert_eq!(sorted_got, sorted_want, "each event exactly once");
}
