//! Publishing trawl's events to Kafka exactly once.
//!
//! An idempotent (or transactional) producer writes each stream's events to one
//! partition; checkpoints go to a compacted topic or to files; after a crash a stream
//! reads its partition back from the checkpoint's position to learn what it already
//! published. See DESIGN.md, "Correctness contract". The engine sees all of it through
//! one trait, [`Sink`], chosen once at start: [`IdempotentSink`] or [`TransactionalSink`].

mod admin;
mod checkpoints;
mod client;
pub mod cluster;
mod config;
mod context;
mod error;
mod fencing;
mod file_store;
mod partition;
mod producer;
mod properties;
mod readback;
mod records;
mod segmented;
mod send;
mod sink;
mod txn;

pub use admin::ensure_topics;
pub use checkpoints::{CheckpointStore, FileCheckpointStore, KafkaCheckpointStore, QUOTA_PREFIX};
pub use config::{
    is_secret_property, KafkaSettings, TemplateError, TopicTemplate, DEFAULT_CHECKPOINT_TOPIC,
    DEFAULT_DEAD_LETTER_TOPIC, DEFAULT_TOPIC,
};
pub use error::KafkaError;
pub use partition::{murmur2, partition_for_key};
pub use producer::{Delivered, EventProducer};
pub use properties::{check_property, PropertyProblem};
pub use readback::read_back;
pub use records::{
    ce_source, checkpoint_key, header, EventBatch, HEADER_CONTENT_TYPE, HEADER_DL_REASON,
    HEADER_DL_SOURCE, HEADER_DL_TENANT, HEADER_DL_TIME, HEADER_ID, HEADER_SOURCE,
    HEADER_SPECVERSION, HEADER_TIME, HEADER_TYPE,
};
pub use sink::{
    Batching, IdempotentSink, Published, Sink, StreamWrite, TransactionalSink,
    DEFAULT_MESSAGE_MAX_BYTES,
};
pub use txn::Transaction;

#[cfg(test)]
mod send_check {
    //! The engine runs these futures on multi-threaded executors: they must be `Send`.
    use super::*;
    use trawl_model::{Checkpoint, Event, OutputPosition, StreamKey};

    fn send<T: Send>(_: T) {}

    #[allow(dead_code)]
    fn futures_are_send(
        p: &EventProducer,
        t: &mut Transaction,
        s: &StreamKey,
        e: &[Event],
        cp: &Checkpoint,
        pos: &OutputPosition,
        store: &dyn CheckpointStore,
    ) {
        send(p.publish(s, e));
        send(p.begin());
        send(p.dead_letter(s, "", b""));
        send(p.stream_start(s));
        send(t.add_events(s, e));
        send(p.publish_batch(s, EventBatch::encode(s, e)));
        send(t.add_batch(s, EventBatch::encode(s, e)));
        send(read_back(p.settings(), pos, s));
        send(ensure_topics(p.settings(), &[]));
        send(store.save(cp));
        send(store.load_all());
    }

    #[test]
    fn handles_are_send_and_sync() {
        fn both<T: Send + Sync>() {}
        both::<EventProducer>();
        both::<Transaction>();
        both::<KafkaCheckpointStore>();
        both::<FileCheckpointStore>();
        both::<KafkaError>();
    }
}
