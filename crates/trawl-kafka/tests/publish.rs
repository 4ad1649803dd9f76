//! Publishing on Apache Kafka: where events land, what they carry, what positions come
//! back, what `read_back` finds after them, and which topics `ensure_topics` creates.

mod common;

use std::collections::BTreeMap;

use common::*;
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, ResourceSpecifier};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::producer::{FutureProducer, FutureRecord};
use trawl_kafka::{ce_source, partition_for_key, read_back, EventProducer};
use trawl_model::{OutputPosition, SourceKind};

#[tokio::test(flavor = "multi_thread")]
async fn events_land_on_the_tenants_partition_with_cloudevents_headers() {
    let s = kafka_bed("land").await;
    let p = EventProducer::new(&s).unwrap();
    let acme = stream("acme", SourceKind::ZoomOperationLogs);
    let evs = events(&acme, 0, 50);
    let d = p.publish(&acme, &evs).await.unwrap();
    assert_eq!(d.count, 50);
    let pos = d.position.expect("a position");
    assert_eq!(pos.topic, "land.audit.zoom.operation_logs");
    assert_eq!(pos.partition, partition_for_key(b"acme", PARTITIONS));
    assert_eq!(pos.offset, 50, "next offset after the last of 50 events");

    let recs = read_all(&s.brokers, &pos.topic, "read_committed");
    assert_eq!(ids(&recs), evs.iter().map(|e| e.id).collect::<Vec<_>>());
    for (r, e) in recs.iter().zip(&evs) {
        assert_eq!(r.partition, pos.partition);
        assert_eq!(r.key.as_deref(), Some(&b"acme"[..]));
        assert_eq!(r.event(), *e, "value is the event JSON");
        assert_eq!(r.header("ce_id"), Some(e.id.to_string().as_str()));
        assert_eq!(
            r.header("ce_source"),
            Some("trawl/acme/zoom.operation_logs")
        );
        assert_eq!(r.header("ce_type"), Some("trawl.audit.v1"));
        assert_eq!(r.header("ce_specversion"), Some("1.0"));
        assert_eq!(r.header("content-type"), Some("application/json"));
        let t = chrono::DateTime::parse_from_rfc3339(r.header("ce_time").unwrap()).unwrap();
        assert_eq!(t, e.time);
    }

    // A second batch continues where the first ended.
    let more = events(&acme, 50, 5);
    let d2 = p.publish(&acme, &more).await.unwrap();
    assert_eq!(d2.position.unwrap().offset, 55);
    // Nothing to publish: no position, nothing sent.
    let none = p.publish(&acme, &[]).await.unwrap();
    assert_eq!((none.position, none.count), (None, 0));
}

/// trawl picks partitions itself; they must agree with Kafka's default (murmur2)
/// partitioner so other producers keyed by tenant land on the same partition.
#[tokio::test(flavor = "multi_thread")]
async fn partitions_match_kafkas_murmur2_partitioner() {
    let s = kafka_bed("murmur").await;
    let java_like: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &s.brokers)
        .set("partitioner", "murmur2_random")
        .create()
        .unwrap();
    let p = EventProducer::new(&s).unwrap();
    for tenant in ["acme", "globex", "initech", "umbrella", "t-1", "t.2"] {
        let partition = java_like
            .send(
                FutureRecord::to(&topic(&s, SourceKind::ZohoMailAudit))
                    .key(tenant)
                    .payload("x"),
                std::time::Duration::from_secs(5),
            )
            .await
            .unwrap()
            .partition;
        let ours = p
            .stream_start(&stream(tenant, SourceKind::ZohoMailAudit))
            .await
            .unwrap();
        assert_eq!(ours.partition, partition, "tenant {tenant}");
    }
}

/// The test's settings with every stream on one topic of one partition (`{label}.all`):
/// maximal sharing of a partition between tenants and sources.
async fn shared_partition_bed(label: &str) -> trawl_kafka::KafkaSettings {
    let mut s = kafka_bed(label).await;
    let topic = format!("{label}.all");
    s.topic = trawl_kafka::TopicTemplate::new(topic.clone()).unwrap();
    kafka::KafkaBroker::shared()
        .create_topics(&[topic.as_str()], 1)
        .await
        .unwrap();
    s
}

/// After a crash the stream reads back from its checkpoint's position: it must find
/// exactly its own events after that position, even with other tenants and sources in
/// the same partition.
#[tokio::test(flavor = "multi_thread")]
async fn read_back_finds_exactly_this_streams_events_after_the_position() {
    let s = shared_partition_bed("readback").await;
    let p = EventProducer::new(&s).unwrap();
    let acme = stream("acme", SourceKind::ZoomOperationLogs);
    let acme_phone = stream("acme", SourceKind::ZoomPhoneOperationLogs);
    let globex = stream("globex", SourceKind::ZoomOperationLogs);

    let first = events(&acme, 0, 10);
    let checkpointed = p.publish(&acme, &first).await.unwrap().position.unwrap();
    // After the checkpoint: interleaved pages of three streams.
    let mut expected = Vec::new();
    for round in 0..3 {
        let mine = events(&acme, 10 + round * 4, 4);
        expected.extend(mine.iter().map(|e| (e.id, e.time)));
        p.publish(&acme, &mine).await.unwrap();
        p.publish(&acme_phone, &events(&acme_phone, round * 4, 4))
            .await
            .unwrap();
        p.publish(&globex, &events(&globex, round * 4, 4))
            .await
            .unwrap();
    }
    let found = read_back(&s, &checkpointed, &acme).await.unwrap();
    assert_eq!(found, expected);

    // From the start of the partition: all of acme's operation logs.
    let from_zero = OutputPosition {
        offset: 0,
        ..checkpointed.clone()
    };
    assert_eq!(read_back(&s, &from_zero, &acme).await.unwrap().len(), 22);
    // A new stream starts at the partition's end: nothing to read back (and no waiting).
    let start = p.stream_start(&acme).await.unwrap();
    assert_eq!(start.offset, 10 + 12 * 3);
    assert!(read_back(&s, &start, &acme).await.unwrap().is_empty());
    assert_eq!(ce_source(&acme), "trawl/acme/zoom.operation_logs");
}

/// A read-back ends at the partition's end as it was when the read began, although
/// another tenant keeps writing to the partition (more often than a fetch waits, so the
/// reader never meets an end-of-partition): a cluster member taking over an account
/// must not wait for a quiet moment on a busy partition.
#[tokio::test(flavor = "multi_thread")]
async fn read_back_ends_while_another_tenant_keeps_writing_to_the_partition() {
    let s = shared_partition_bed("busy").await;
    let p = std::sync::Arc::new(EventProducer::new(&s).unwrap());
    let acme = stream("acme", SourceKind::ZoomOperationLogs);
    let mine = events(&acme, 0, 30);
    let from = p.stream_start(&acme).await.unwrap();
    p.publish(&acme, &mine).await.unwrap();

    // globex writes a record every 50 ms until the read-back has ended (or 90 s).
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (p, done) = (p.clone(), done.clone());
        tokio::spawn(async move {
            let globex = stream("globex", SourceKind::ZoomOperationLogs);
            let mut written = 0;
            while !done.load(std::sync::atomic::Ordering::SeqCst) && written < 1800 {
                p.publish(&globex, &events(&globex, written, 1))
                    .await
                    .unwrap();
                written += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            (written, done.load(std::sync::atomic::Ordering::SeqCst))
        })
    };
    // Let the writes start before reading.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let found = read_back(&s, &from, &acme).await.unwrap();
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let (written, stopped_by_us) = writer.await.unwrap();
    assert_eq!(
        found,
        mine.iter().map(|e| (e.id, e.time)).collect::<Vec<_>>(),
        "exactly acme's events"
    );
    assert!(
        stopped_by_us,
        "the read-back waited until the other tenant stopped writing ({written} records)"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn dead_letters_carry_the_raw_body_and_name_tenant_source_and_reason() {
    let s = kafka_bed("dead").await;
    let p = EventProducer::new(&s).unwrap();
    let acme = stream("acme", SourceKind::ZohoMailAudit);
    p.dead_letter(
        &acme,
        "malformed page: expected value at line 1",
        b"<html>oops",
    )
    .await
    .unwrap();
    let recs = read_all(&s.brokers, &s.dead_letter_topic, "read_committed");
    assert_eq!(recs.len(), 1);
    let r = &recs[0];
    assert_eq!(r.payload.as_deref(), Some(&b"<html>oops"[..]));
    assert_eq!(r.key.as_deref(), Some(&b"acme"[..]));
    let h: BTreeMap<_, _> = r.headers.iter().cloned().collect();
    assert_eq!(h["trawl_tenant"], "acme");
    assert_eq!(h["trawl_source"], "zoho.mail_audit");
    assert_eq!(
        h["trawl_reason"],
        "malformed page: expected value at line 1"
    );
    assert!(h.contains_key("trawl_dead_lettered_at"));
}

#[tokio::test(flavor = "multi_thread")]
async fn publishing_to_a_missing_topic_is_a_permanent_error_naming_it() {
    let mut s = kafka_bed("missing").await;
    s.topic = trawl_kafka::TopicTemplate::new("nope.{source}").unwrap();
    let p = EventProducer::new(&s).unwrap();
    let acme = stream("acme", SourceKind::ZohoMailAudit);
    let err = p.publish(&acme, &events(&acme, 0, 1)).await.unwrap_err();
    assert!(!err.is_retryable(), "{err}");
    assert!(err.to_string().contains("nope.zoho.mail_audit"), "{err}");
}

/// Missing topics are created with the broker's default replication (no
/// `kafka.replication`), the checkpoint topic compacted; topics that exist are left
/// alone, and a second call creates nothing.
#[tokio::test(flavor = "multi_thread")]
async fn ensure_topics_creates_what_is_missing_and_compacts_the_checkpoint_topic() {
    let mut s = kafka_bed("ensure").await;
    s.topic = trawl_kafka::TopicTemplate::new("ensure.new.{tenant}.{source}").unwrap();
    s.checkpoint_topic = Some("ensure.new.checkpoints".into());
    let acme = stream("acme", SourceKind::ZohoMailAudit);
    let mut created = trawl_kafka::ensure_topics(&s, std::slice::from_ref(&acme))
        .await
        .unwrap();
    created.sort();
    assert_eq!(
        created,
        ["ensure.new.acme.zoho.mail_audit", "ensure.new.checkpoints"],
        "the dead-letter topic existed"
    );
    assert!(trawl_kafka::ensure_topics(&s, &[acme])
        .await
        .unwrap()
        .is_empty());

    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", &s.brokers)
        .create()
        .unwrap();
    let cp = ResourceSpecifier::Topic("ensure.new.checkpoints");
    let configs = admin
        .describe_configs([&cp], &AdminOptions::new())
        .await
        .unwrap();
    let policy = configs[0]
        .as_ref()
        .unwrap()
        .get("cleanup.policy")
        .and_then(|e| e.value.clone());
    assert_eq!(policy.as_deref(), Some("compact"));
    let md = admin
        .inner()
        .fetch_metadata(
            Some("ensure.new.acme.zoho.mail_audit"),
            Duration::from_secs(10),
        )
        .unwrap();
    let t = &md.topics()[0];
    assert_eq!(t.partitions().len(), PARTITIONS as usize);
    assert!(
        t.partitions().iter().all(|p| p.replicas().len() == 1),
        "the broker's default"
    );
}

/// A topic the broker compresses with zstd (`compression.type=zstd`, as operators set
/// to save disk): trawl's read-back and any reader decompress it (librdkafka built with
/// zstd), and find exactly the events published.
#[tokio::test(flavor = "multi_thread")]
async fn a_topic_the_broker_compresses_with_zstd_reads_back() {
    let mut s = kafka_bed("zstd").await;
    s.topic = trawl_kafka::TopicTemplate::new("zstd.compressed.{source}").unwrap();
    kafka::KafkaBroker::shared()
        .create_topics_with(
            &["zstd.compressed.zoom.operation_logs"],
            PARTITIONS,
            &[("compression.type", "zstd")],
        )
        .await
        .unwrap();
    let p = EventProducer::new(&s).unwrap();
    let acme = stream("acme", SourceKind::ZoomOperationLogs);
    let start = p.stream_start(&acme).await.unwrap();
    let evs = events(&acme, 0, 200);
    p.publish(&acme, &evs).await.unwrap();
    let back = read_back(&s, &start, &acme).await.unwrap();
    assert_eq!(
        back.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
        evs.iter().map(|e| e.id).collect::<Vec<_>>()
    );
    let recs = read_all(
        &s.brokers,
        "zstd.compressed.zoom.operation_logs",
        "read_committed",
    );
    assert_eq!(recs.len(), 200);
    for (r, e) in recs.iter().zip(&evs) {
        assert_eq!(r.event(), *e);
    }
}
