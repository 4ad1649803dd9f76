//! Where an end-to-end test's events go: a broker, a delivery mode, and topics and a
//! transactional id of the test's own, so that tests of one binary can share one broker.
//!
//! Idempotent mode (the read-back path) is checked with a `read_uncommitted` reader:
//! without transactions every consumer must see exactly the ground truth, whatever its
//! isolation. Transactional mode is checked as its consumers must read, `read_committed`;
//! what `read_uncommitted` sees beyond that (aborted records) is reported.

use std::collections::BTreeMap;

use trawl_model::{Event, StreamKey};

use crate::topics::Isolation;
use crate::truth::read_published;

/// How trawl delivers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Idempotent producer, checkpoints after acknowledgements, read-back after a crash.
    Idempotent,
    /// Events and checkpoints in Kafka transactions.
    Transactional,
}

/// A broker and the `[kafka]` settings that give a test its own topics.
#[derive(Debug, Clone)]
pub struct Bed {
    /// Names the topics, the transactional id and the test's output.
    pub label: String,
    pub brokers: String,
    pub mode: Mode,
}

impl Bed {
    pub fn new(label: &str, brokers: String, mode: Mode) -> Self {
        Self {
            label: label.to_string(),
            brokers,
            mode,
        }
    }

    /// `[kafka]` lines (after `brokers`): the topics `{label}.audit.{source}`,
    /// `{label}.checkpoints`, `{label}.dead_letter`, and the mode.
    pub fn kafka_toml(&self) -> String {
        let l = &self.label;
        let mut s = format!(
            "topic = \"{l}.audit.{{source}}\"\ncheckpoint_topic = \"{l}.checkpoints\"\n\
             dead_letter_topic = \"{l}.dead_letter\"\n"
        );
        if self.mode == Mode::Transactional {
            s.push_str(&format!(
                "transactional = true\ntransactional_id = \"trawl-{l}\"\n"
            ));
        }
        s
    }

    /// The event topics of the three sources.
    pub fn event_topics(&self) -> Vec<String> {
        crate::harness::EVENT_TOPICS
            .iter()
            .map(|t| format!("{}.{t}", self.label))
            .collect()
    }

    /// The event topic of one of the sources (`EVENT_TOPICS[i]`).
    pub fn event_topic(&self, i: usize) -> String {
        format!("{}.{}", self.label, crate::harness::EVENT_TOPICS[i])
    }

    /// How this mode's consumers read.
    pub fn isolation(&self) -> Isolation {
        match self.mode {
            Mode::Idempotent => Isolation::ReadUncommitted,
            Mode::Transactional => Isolation::ReadCommitted,
        }
    }

    /// Every event on the event topics, by stream, as this mode's consumers see it; in
    /// transactional mode also prints how many aborted records `read_uncommitted` sees.
    /// Blocking.
    pub fn published(&self) -> anyhow::Result<BTreeMap<StreamKey, Vec<Event>>> {
        let topics = self.event_topics();
        let seen = read_published(&self.brokers, &topics, self.isolation())?;
        if self.mode == Mode::Transactional {
            let all = read_published(&self.brokers, &topics, Isolation::ReadUncommitted)?;
            let count =
                |m: &BTreeMap<StreamKey, Vec<Event>>| m.values().map(Vec::len).sum::<usize>();
            eprintln!(
                "[{}] read_committed sees {} events; read_uncommitted {} ({} in aborted transactions)",
                self.label,
                count(&seen),
                count(&all),
                count(&all) - count(&seen)
            );
        }
        Ok(seen)
    }
}
