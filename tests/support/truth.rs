//! Comparing what is on Kafka with the simulator's ground truth, two ways: by trawl's
//! event ids (none missing, none twice, none invented) and by the records themselves
//! (each record's canonical JSON as often as the simulator holds it), so that a bug in
//! the ids (two records given one id, one record two ids) cannot hide a loss or a
//! duplicate.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;
use trawl_model::{Event, EventId, OccurrenceCounter, RawJson, SourceKind, StreamKey};
use trawl_sim::SimHandle;

use crate::harness::{api_of, record_second, FleetTenant};
use crate::topics::{read_topic_records_as, Isolation};

/// Every event of `topics` as a reader with `isolation` sees it, by stream.
pub fn read_published(
    bootstrap: &str,
    topics: &[String],
    isolation: Isolation,
) -> anyhow::Result<BTreeMap<StreamKey, Vec<Event>>> {
    let mut out: BTreeMap<StreamKey, Vec<Event>> = BTreeMap::new();
    for topic in topics {
        // trawl creates the topics of the streams it runs: a source no tenant runs has
        // none, and holds nothing (a stream that should have had records still fails the
        // comparison with the ground truth).
        let records = match read_topic_records_as(bootstrap, topic, isolation) {
            Err(e) if e.is::<crate::topics::MissingTopic>() => continue,
            other => other?,
        };
        for r in records {
            out.entry(StreamKey::new(r.event.tenant.clone(), r.event.source))
                .or_default()
                .push(r.event);
        }
    }
    Ok(out)
}

/// How often each record (canonical JSON) occurs.
fn multiset<'a>(raws: impl Iterator<Item = &'a str>) -> HashMap<String, usize> {
    let mut m = HashMap::new();
    for r in raws {
        *m.entry(r.to_string()).or_insert(0) += 1;
    }
    m
}

/// The simulator's records of `[from, to)` that `keep` keeps, each as its canonical
/// JSON and its event id (ids numbered over all records, kept or not).
fn held(
    sim: &SimHandle,
    t: &FleetTenant,
    kind: SourceKind,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    keep: &dyn Fn(&Value) -> bool,
) -> Vec<(String, EventId)> {
    let key = t.key(kind);
    let mut counter = OccurrenceCounter::new();
    sim.ground_truth(&t.account(), api_of(kind), from, to)
        .iter()
        .map(|raw| {
            let id = counter.assign(&key, raw, record_second(kind, raw));
            (keep(raw), RawJson::from_value(raw).as_str().to_string(), id)
        })
        .filter(|(k, _, _)| *k)
        .map(|(_, c, id)| (c, id))
        .collect()
}

/// Checks every stream of `tenants`: each record the simulator holds from `start` up to
/// the stream's watermark is on Kafka exactly as often as the simulator holds it, and
/// nothing is there that the simulator does not hold (records after the watermark may
/// be, from a poll in progress, but no more often than held); by id, nothing twice,
/// missing or invented. Returns how many records were expected, or the problems per
/// stream.
pub fn compare(
    sim: &SimHandle,
    tenants: &[FleetTenant],
    published: &BTreeMap<StreamKey, Vec<Event>>,
    watermarks: &HashMap<StreamKey, DateTime<Utc>>,
    start: DateTime<Utc>,
) -> Result<usize, BTreeMap<String, String>> {
    compare_kept(sim, tenants, published, watermarks, start, &|_| true)
}

/// [`compare`] over the records `keep` keeps (those it does not keep must not be on
/// Kafka at all: an oversized record goes to the dead-letter topic instead).
pub fn compare_kept(
    sim: &SimHandle,
    tenants: &[FleetTenant],
    published: &BTreeMap<StreamKey, Vec<Event>>,
    watermarks: &HashMap<StreamKey, DateTime<Utc>>,
    start: DateTime<Utc>,
    keep: &dyn Fn(&Value) -> bool,
) -> Result<usize, BTreeMap<String, String>> {
    let now = sim.now() + Duration::seconds(1);
    let mut total = 0;
    let mut problems = BTreeMap::new();
    let none = Vec::new();
    for t in tenants {
        for kind in t.streams() {
            let key = t.key(kind);
            let Some(wm) = watermarks.get(&key).copied() else {
                problems.insert(key.to_string(), "no watermark".to_string());
                continue;
            };
            let got = published.get(&key).unwrap_or(&none);
            let until_wm = held(sim, t, kind, start, wm, keep);
            let until_now = held(sim, t, kind, start, now, keep);
            // By id.
            let expected: HashSet<EventId> = until_wm.iter().map(|(_, id)| *id).collect();
            let possible: HashSet<EventId> = until_now.iter().map(|(_, id)| *id).collect();
            let mut ids: HashMap<_, usize> = HashMap::new();
            for e in got {
                *ids.entry(e.id).or_insert(0) += 1;
            }
            let twice = ids.values().filter(|n| **n > 1).count();
            let missing = expected.iter().filter(|id| !ids.contains_key(id)).count();
            let invented = ids.keys().filter(|id| !possible.contains(id)).count();
            // By content.
            let held = multiset(until_wm.iter().map(|(c, _)| c.as_str()));
            let held_now = multiset(until_now.iter().map(|(c, _)| c.as_str()));
            let on_kafka = multiset(got.iter().map(|e| e.raw.as_str()));
            let short = held
                .iter()
                .filter(|(c, n)| on_kafka.get(*c).copied().unwrap_or(0) < **n)
                .count();
            let over = on_kafka
                .iter()
                .filter(|(c, n)| **n > held_now.get(*c).copied().unwrap_or(0))
                .count();
            if (twice, missing, invented, short, over) != (0, 0, 0, 0, 0) {
                problems.insert(
                    key.to_string(),
                    format!(
                        "by id: {twice} twice, {missing} missing, {invented} not in the ground \
                         truth; by content: {short} records fewer times than held, {over} more \
                         times than held (of {} expected)",
                        until_wm.len()
                    ),
                );
            }
            if until_wm.is_empty() {
                problems.insert(key.to_string(), "the simulator holds no records".into());
            }
            total += until_wm.len();
        }
    }
    if problems.is_empty() {
        Ok(total)
    } else {
        Err(problems)
    }
}
