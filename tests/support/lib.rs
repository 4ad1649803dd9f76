//! Shared support for trawl's integration tests and benches: starting the `tansu`
//! broker on a free loopback port, reading topics back, a simulated fleet with its
//! ground truth, and waiting on conditions. Nothing here ships in the `trawl` binary.

pub mod harness;
pub mod ops;
pub mod tansu;
pub mod topics;

pub use tansu::{tansu_bin, TansuBroker};
pub use topics::{read_topic_events, read_topic_records, TopicRecord};
