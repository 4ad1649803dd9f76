//! trawl-kafka against a real Kafka-protocol broker, `tansu` (in memory, on a free
//! loopback port): topic creation, idempotent publishing with read-back, the compacted
//! checkpoint topic, and an outage. Transactions are not tested here: librdkafka refuses
//! tansu's EndTxn (they are covered on the mock cluster in crates/trawl-kafka/tests).

use std::time::Duration;

use chrono::{TimeZone, Utc};
use rdkafka::admin::{AdminClient, AdminOptions, ResourceSpecifier};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use serde_json::json;
use trawl_kafka::{
    ensure_topics, read_back, CheckpointStore, EventProducer, KafkaCheckpointStore, KafkaSettings,
};
use trawl_model::{
    Checkpoint, Event, EventId, Outcome, RawJson, SourceKind, StreamKey, TenantId, Window,
    EVENT_SCHEMA,
};
use trawl_suite::{read_topic_events, read_topic_records, TansuBroker};

fn stream(tenant: &str, source: SourceKind) -> StreamKey {
    StreamKey::new(TenantId::new(tenant).unwrap(), source)
}

fn events(stream: &StreamKey, from: usize, n: usize) -> Vec<Event> {
    let t0 = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
    (from..from + n)
        .map(|i| {
            let raw = json!({"n": i, "action": "Delete"});
            Event {
                schema: EVENT_SCHEMA.into(),
                id: EventId::compute(stream, &raw, 0),
                tenant: stream.tenant.clone(),
                source: stream.source,
                time: t0 + chrono::Duration::seconds(i as i64),
                observed_at: t0,
                actor: Some("a@b.c".into()),
                action: "delete".into(),
                category: None,
                target: None,
                detail: None,
                outcome: Outcome::Unknown,
                client_ip: None,
                raw: RawJson::from_value(&raw),
            }
        })
        .collect()
}

fn settings(b: &TansuBroker) -> KafkaSettings {
    let mut s = KafkaSettings::new(b.bootstrap());
    s.partitions = 3;
    s
}

fn all_streams() -> Vec<StreamKey> {
    vec![
        stream("acme", SourceKind::ZoomOperationLogs),
        stream("acme", SourceKind::ZoomPhoneOperationLogs),
        stream("globex", SourceKind::ZohoMailAudit),
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn ensure_topics_creates_what_is_missing_and_tolerates_what_exists() {
    let b = TansuBroker::start();
    let s = settings(&b);
    let mut created = ensure_topics(&s, &all_streams()).await.unwrap();
    created.sort();
    assert_eq!(
        created,
        [
            "audit.zoho.mail_audit",
            "audit.zoom.operation_logs",
            "audit.zoom.phone_operation_logs",
            "trawl.checkpoints",
            "trawl.dead_letter"
        ]
    );
    assert!(ensure_topics(&s, &all_streams()).await.unwrap().is_empty());

    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", b.bootstrap())
        .create()
        .unwrap();
    let md = admin
        .inner()
        .fetch_metadata(Some("audit.zoho.mail_audit"), Duration::from_secs(5))
        .unwrap();
    assert_eq!(md.topics()[0].partitions().len(), 3);
    let configs = admin
        .describe_configs(
            &[ResourceSpecifier::Topic("trawl.checkpoints")],
            &AdminOptions::new(),
        )
        .await
        .unwrap();
    let cfg = configs.into_iter().next().unwrap().unwrap();
    assert_eq!(
        cfg.get("cleanup.policy").and_then(|e| e.value.as_deref()),
        Some("compact")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn idempotent_publish_and_read_back_on_tansu() {
    let b = TansuBroker::start();
    let s = settings(&b);
    ensure_topics(&s, &all_streams()).await.unwrap();
    let p = EventProducer::new(&s).unwrap();
    let acme = stream("acme", SourceKind::ZoomOperationLogs);
    let beta = stream("beta", SourceKind::ZoomOperationLogs);
    let first = events(&acme, 0, 100);
    let pos = p.publish(&acme, &first).await.unwrap().position.unwrap();
    assert_eq!(pos.offset, 100);
    let later = events(&acme, 100, 30);
    p.publish(&acme, &later).await.unwrap();
    p.publish(&beta, &events(&beta, 0, 30)).await.unwrap();

    let back = read_back(&s, &pos, &acme).await.unwrap();
    let want: Vec<_> = later.iter().map(|e| (e.id, e.time)).collect();
    assert_eq!(back, want);

    let recs = read_topic_records(&b.bootstrap(), "audit.zoom.operation_logs").unwrap();
    assert_eq!(recs.len(), 160);
    let mine: Vec<_> = recs
        .iter()
        .filter(|r| r.key.as_deref() == Some("acme"))
        .collect();
    assert_eq!(mine.len(), 130);
    assert!(mine.iter().all(|r| r.partition == pos.partition));
    let r = mine[0];
    assert_eq!(r.event, first[0]);
    assert_eq!(r.headers["ce_id"], first[0].id.to_string());
    assert_eq!(r.headers["ce_source"], "trawl/acme/zoom.operation_logs");
    assert_eq!(r.headers["ce_type"], "trawl.audit.v1");
    assert_eq!(r.headers["ce_specversion"], "1.0");
    assert_eq!(r.headers["content-type"], "application/json");
    assert_eq!(r.headers["ce_time"], "2026-03-01T00:00:00Z");
}

#[tokio::test(flavor = "multi_thread")]
async fn checkpoints_round_trip_through_the_compacted_topic() {
    let b = TansuBroker::start();
    let s = settings(&b);
    ensure_topics(&s, &[]).await.unwrap();
    let store = KafkaCheckpointStore::new(&s).unwrap();
    assert!(store.load_all().await.unwrap().is_empty());
    let t0 = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
    let mut saved = Vec::new();
    for (i, k) in all_streams().into_iter().enumerate() {
        for day in 1..=3 {
            let mut cp = Checkpoint::new(k.clone(), t0, t0);
            cp.complete_window(Window::new(t0, t0 + chrono::Duration::days(day)).unwrap());
            cp.output = Some(trawl_model::OutputPosition {
                topic: s.topic_for(&k),
                partition: i as i32,
                offset: day * 100,
            });
            store.save(&cp).await.unwrap();
            if day == 3 {
                saved.push(cp);
            }
        }
    }
    let loaded = KafkaCheckpointStore::new(&s)
        .unwrap()
        .load_all()
        .await
        .unwrap();
    assert_eq!(loaded.len(), 3);
    for cp in saved {
        assert_eq!(loaded[&cp.stream], cp);
    }
}

/// A frozen broker (SIGSTOP) is what "broker down" looks like from trawl: publishing
/// waits and completes once it runs again, each event once.
#[tokio::test(flavor = "multi_thread")]
async fn a_publish_survives_a_frozen_broker() {
    let b = TansuBroker::start();
    let s = settings(&b);
    ensure_topics(&s, &all_streams()).await.unwrap();
    let p = EventProducer::new(&s).unwrap();
    let globex = stream("globex", SourceKind::ZohoMailAudit);
    p.publish(&globex, &events(&globex, 0, 5)).await.unwrap();
    b.pause();
    let page = events(&globex, 5, 50);
    let (r, ()) = tokio::join!(p.publish(&globex, &page), async {
        tokio::time::sleep(Duration::from_secs(3)).await;
        b.resume();
    });
    assert_eq!(r.unwrap().position.unwrap().offset, 55);
    let got = read_topic_events(&b.bootstrap(), "audit.zoho.mail_audit").unwrap();
    let ids: Vec<_> = got.iter().map(|e| e.id).collect();
    let want: Vec<_> = events(&globex, 0, 55).iter().map(|e| e.id).collect();
    assert_eq!(ids, want);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_fixture_restarts_an_empty_broker_on_the_same_port() {
    let mut b = TansuBroker::start();
    let port = b.port();
    b.create_topics(&["x"], 1).await.unwrap();
    b.stop();
    assert!(!b.is_running());
    b.restart().unwrap();
    assert_eq!(b.port(), port);
    assert!(b.is_running());
    b.create_topics(&["x"], 1).await.unwrap();
}
