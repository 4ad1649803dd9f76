//! A trawl cluster's consumer group as Kafka sees it, observed from outside the members:
//! the group coordinator's answer to DescribeGroups (through librdkafka's group list),
//! polled a few times a second while a test runs. Each snapshot says which member
//! (`client.id` `trawl-member-<name>`) is assigned which partitions of the coordination
//! topic, so a test checks what members say of themselves (their ownership log) against
//! what the group gave them.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};

/// The group at one moment.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// CLOCK_MONOTONIC nanoseconds when the request was sent and when it was answered.
    pub asked: u128,
    pub answered: u128,
    /// `Stable`, `PreparingRebalance`, `CompletingRebalance`, `Empty`, `Dead`.
    pub state: String,
    /// Member name (its `client.id` less `trawl-member-`) -> assigned partitions.
    pub members: BTreeMap<String, BTreeSet<i32>>,
}

/// A thread polling the group until [`GroupWatch::stop`].
pub struct GroupWatch {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Vec<Snapshot>>,
}

/// CLOCK_MONOTONIC in nanoseconds: the clock of the members' ownership log, the same
/// in every process.
pub fn monotonic_ns() -> u128 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the struct it is given.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u128 * 1_000_000_000 + ts.tv_nsec as u128
}

impl GroupWatch {
    /// Polls `group` on `bootstrap` every 200 ms, reading assignments of `topic`.
    pub fn start(bootstrap: &str, group: &str, topic: &str) -> GroupWatch {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .set("log_level", "3")
            .create()
            .expect("a client to describe the group");
        let stop = Arc::new(AtomicBool::new(false));
        let (group, topic, flag) = (group.to_string(), topic.to_string(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut seen = Vec::new();
            while !flag.load(Ordering::Relaxed) {
                let asked = monotonic_ns();
                if let Ok(list) = consumer.fetch_group_list(Some(&group), Duration::from_secs(2)) {
                    let answered = monotonic_ns();
                    for g in list.groups().iter().filter(|g| g.name() == group) {
                        let members = g
                            .members()
                            .iter()
                            .map(|m| {
                                let name = m.client_id();
                                let name = name.strip_prefix("trawl-member-").unwrap_or(name);
                                let parts = m
                                    .assignment()
                                    .map(|a| assigned(a, &topic))
                                    .unwrap_or_default();
                                (name.to_string(), parts)
                            })
                            .collect();
                        seen.push(Snapshot {
                            asked,
                            answered,
                            state: g.state().to_string(),
                            members,
                        });
                    }
                }
                std::thread::sleep(Duration::from_millis(200));
            }
            seen
        });
        GroupWatch { stop, thread }
    }

    /// Stops polling; every snapshot taken, oldest first.
    pub fn stop(self) -> Vec<Snapshot> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().expect("the group watch thread")
    }
}

/// The partitions of `topic` in a consumer protocol assignment: version (i16), then
/// topics (i32 count; each a string with an i16 length and i32 partitions), then user
/// data. Malformed bytes give what was read before them.
pub fn assigned(bytes: &[u8], topic: &str) -> BTreeSet<i32> {
    let mut out = BTreeSet::new();
    let mut at = 0usize;
    let mut take = |n: usize| -> Option<&[u8]> {
        let s = bytes.get(at..at + n)?;
        at += n;
        Some(s)
    };
    let mut read = || -> Option<()> {
        let _version = i16::from_be_bytes(take(2)?.try_into().ok()?);
        let topics = i32::from_be_bytes(take(4)?.try_into().ok()?);
        for _ in 0..topics.max(0) {
            let len = i16::from_be_bytes(take(2)?.try_into().ok()?).max(0) as usize;
            let name = String::from_utf8_lossy(take(len)?).into_owned();
            let n = i32::from_be_bytes(take(4)?.try_into().ok()?);
            for _ in 0..n.max(0) {
                let p = i32::from_be_bytes(take(4)?.try_into().ok()?);
                if name == topic {
                    out.insert(p);
                }
            }
        }
        Some(())
    };
    let _ = read();
    out
}

#[cfg(test)]
mod tests {
    use super::assigned;

    #[test]
    fn an_assignment_is_read() {
        let mut b = vec![0, 1, 0, 0, 0, 2];
        for (t, ps) in [("other", vec![9i32]), ("c.cluster", vec![0, 5])] {
            b.extend((t.len() as i16).to_be_bytes());
            b.extend(t.as_bytes());
            b.extend((ps.len() as i32).to_be_bytes());
            for p in ps {
                b.extend(p.to_be_bytes());
            }
        }
        b.extend((-1i32).to_be_bytes());
        assert_eq!(assigned(&b, "c.cluster"), [0, 5].into());
        assert_eq!(assigned(&b[..10], "c.cluster"), Default::default());
    }
}
