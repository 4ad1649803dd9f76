//! Shared support for trawl's integration tests and benches: starting Apache Kafka (one
//! node, three, or SASL_SSL) and the `tansu` broker on free loopback ports, reading
//! topics back, a simulated fleet with its
//! ground truth, and waiting on conditions. Nothing here ships in the `trawl` binary.

pub mod bed;
pub mod child;
pub mod field;
pub mod group;
pub mod harness;
pub mod kafka;
pub mod ops;
pub mod process;
pub mod tansu;
pub mod topics;
pub mod truth;

pub use bed::{Bed, Mode};
pub use kafka::KafkaBroker;
pub use tansu::{tansu_bin, TansuBroker};
pub use topics::{
    read_topic_events, read_topic_records, read_topic_records_as, Isolation, TopicRecord,
};
