//! Comparing what is on Kafka with the simulator's ground truth, two ways: by trawl's
//! event ids (none missing, none twice, none invented) and by the records themselves
//! (each record's canonical JSON as often as the simulator holds it), so that a bug in
//! the ids (two records given one id, one record two ids) cannot hide a loss or a
//! duplicate.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, Utc};
use trawl_model::{Event, RawJson, SourceKind, StreamKey};
use trawl_sim::SimHandle;

use crate::harness::{api_of, expected_ids, FleetTenant};
use crate::topics::{read_topic_records_as, Isolation};

/// Every event of `topics` as a reader with `isolation` sees it, by stream.
pub fn read_published(
    bootstrap: &str,
    topics: &[String],
    isolation: Isolation,
) -> anyhow::Result<BTreeMap<StreamKey, Vec<Event>>> {
    let mut out: BTreeMap<StreamKey, Vec<Event>> = BTreeMap::new();
    for topic in topics {
        for r in read_topic_records_as(bootstrap, topic, isolation)? {
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

/// The simulator's records of `[from, to)` as canonical JSON, with multiplicity.
fn truth(
    sim: &SimHandle,
    t: &FleetTenant,
    kind: SourceKind,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> HashMap<String, usize> {
    let raws: Vec<RawJson> = sim
        .ground_truth(&t.account(), api_of(kind), from, to)
        .iter()
        .map(RawJson::from_value)
        .collect();
    multiset(raws.iter().map(RawJson::as_str))
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
            // By id.
            let expected = expected_ids(sim, t, kind, start, wm);
            let possible = expected_ids(sim, t, kind, start, now);
            let mut ids: HashMap<_, usize> = HashMap::new();
            for e in got {
                *ids.entry(e.id).or_insert(0) += 1;
            }
            let twice = ids.values().filter(|n| **n > 1).count();
            let missing = expected.iter().filter(|id| !ids.contains_key(id)).count();
            let invented = ids.keys().filter(|id| !possible.contains(id)).count();
            // By content.
            let held = truth(sim, t, kind, start, wm);
            let held_now = truth(sim, t, kind, start, now);
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
                        expected.len()
                    ),
                );
            }
            if expected.is_empty() {
                problems.insert(key.to_string(), "the simulator holds no records".into());
            }
            total += expected.len();
        }
    }
    if problems.is_empty() {
        Ok(total)
    } else {
        Err(problems)
    }
}
