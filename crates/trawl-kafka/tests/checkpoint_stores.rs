//! Both checkpoint stores keep the newest checkpoint of every stream across restarts
//! and refuse to silently drop one they can't read.

mod common;

use chrono::Duration;
use common::*;
use rdkafka::config::ClientConfig;
use rdkafka::producer::{FutureProducer, FutureRecord};
use trawl_kafka::{
    checkpoint_key, partition_for_key, CheckpointStore, FileCheckpointStore, KafkaCheckpointStore,
    KafkaError,
};
use trawl_model::{Checkpoint, OutputPosition, SourceKind, StreamKey, Window};

fn cp(stream: &StreamKey, days: i64, offset: i64) -> Checkpoint {
    let mut c = Checkpoint::new(stream.clone(), t0(), t0());
    c.complete_window(Window::new(t0(), t0() + Duration::days(days)).unwrap());
    for e in events(stream, 0, 5) {
        c.seen.insert(&e.id, e.time);
    }
    c.output = Some(OutputPosition {
        topic: "audit.x".into(),
        partition: 1,
        offset,
    });
    c
}

async fn round_trip(store: &dyn CheckpointStore, reopen: &dyn CheckpointStore) {
    assert!(store.load_all().await.unwrap().is_empty());
    let a = stream("acme", SourceKind::ZoomOperationLogs);
    let b = stream("acme", SourceKind::ZoomPhoneOperationLogs);
    let g = stream("..", SourceKind::ZohoMailAudit);
    for day in 1..=3 {
        store.save(&cp(&a, day, day * 10)).await.unwrap();
    }
    store.save(&cp(&b, 1, 7)).await.unwrap();
    store.save(&cp(&g, 2, 9)).await.unwrap();
    let all = reopen.load_all().await.unwrap();
    assert_eq!(all.len(), 3);
    assert_eq!(all[&a], cp(&a, 3, 30), "the newest save wins");
    assert_eq!(all[&b], cp(&b, 1, 7));
    assert_eq!(all[&g], cp(&g, 2, 9));
    assert_eq!(all[&a].seen.len(), 5);
}

#[tokio::test(flavor = "multi_thread")]
async fn kafka_store_keeps_the_newest_checkpoint_per_stream() {
    let s = kafka_bed("store").await;
    let store = KafkaCheckpointStore::new(&s).unwrap();
    let restarted = KafkaCheckpointStore::new(&s).unwrap();
    round_trip(&store, &restarted).await;
    // Records are keyed tenant/source on the key's murmur2 partition (so compaction
    // keeps exactly the newest one).
    let recs = read_all(&s.brokers, s.checkpoint_topic(), "read_committed");
    assert_eq!(recs.len(), 5);
    for r in &recs {
        let key = r.key.as_deref().unwrap();
        assert_eq!(r.partition, partition_for_key(key, PARTITIONS));
    }
    let k = checkpoint_key(&stream("acme", SourceKind::ZoomOperationLogs));
    assert_eq!(k, "acme/zoom.operation_logs");
    assert!(recs.iter().any(|r| r.key.as_deref() == Some(k.as_bytes())));
}

#[tokio::test(flavor = "multi_thread")]
async fn kafka_store_refuses_an_unreadable_newest_checkpoint_and_a_tombstone_deletes() {
    let s = kafka_bed("corrupt").await;
    let store = KafkaCheckpointStore::new(&s).unwrap();
    let a = stream("acme", SourceKind::ZoomOperationLogs);
    store.save(&cp(&a, 1, 1)).await.unwrap();
    let raw: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &s.brokers)
        .create()
        .unwrap();
    let key = checkpoint_key(&a);
    let part = partition_for_key(key.as_bytes(), PARTITIONS);
    let timeout = std::time::Duration::from_secs(5);
    raw.send(
        FutureRecord::to(s.checkpoint_topic())
            .partition(part)
            .key(&key)
            .payload("{not json"),
        timeout,
    )
    .await
    .unwrap();
    match store.load_all().await {
        Err(KafkaError::CorruptCheckpoint { key: k, .. }) => assert_eq!(k, key),
        other => panic!("expected a corrupt-checkpoint error, got {other:?}"),
    }
    // A newer good checkpoint repairs it; a tombstone forgets the stream.
    store.save(&cp(&a, 2, 2)).await.unwrap();
    assert_eq!(store.load_all().await.unwrap()[&a], cp(&a, 2, 2));
    raw.send(
        FutureRecord::<_, ()>::to(s.checkpoint_topic())
            .partition(part)
            .key(&key),
        timeout,
    )
    .await
    .unwrap();
    assert!(store.load_all().await.unwrap().is_empty());
}

#[tokio::test]
async fn file_store_keeps_the_newest_checkpoint_per_stream_in_its_directory() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileCheckpointStore::new(dir.path().join("cps")).unwrap();
    let reopened = FileCheckpointStore::new(dir.path().join("cps")).unwrap();
    round_trip(&store, &reopened).await;
    let mut names: Vec<_> = std::fs::read_dir(dir.path().join("cps"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "..~zoho.mail_audit.json",
            "acme~zoom.operation_logs.json",
            "acme~zoom.phone_operation_logs.json"
        ],
        "one file per stream, no temporary files left, tenant '..' stays inside"
    );
}

#[tokio::test]
async fn file_store_ignores_interrupted_saves_and_refuses_corrupt_files() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileCheckpointStore::new(dir.path()).unwrap();
    let a = stream("acme", SourceKind::ZohoMailAudit);
    store.save(&cp(&a, 1, 1)).await.unwrap();
    // A crash between writing the temporary file and renaming it.
    std::fs::write(dir.path().join("acme~zoho.mail_audit.1.0.tmp"), "{trunc").unwrap();
    assert_eq!(store.load_all().await.unwrap()[&a], cp(&a, 1, 1));
    std::fs::write(store.path_of(&a), "{trunc").unwrap();
    let err = store.load_all().await.unwrap_err();
    assert!(
        matches!(&err, KafkaError::CorruptCheckpoint { key, .. } if key == "acme/zoho.mail_audit"),
        "{err}"
    );
}
