use std::collections::BTreeMap;

use chrono::{DateTime, Duration, TimeZone, Utc};

use super::*;
use crate::{SourceKind, StreamKey, TenantId};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap()
}

fn cp() -> Checkpoint {
    let key = StreamKey::new(
        TenantId::new("big-account").unwrap(),
        SourceKind::ZoomOperationLogs,
    );
    Checkpoint::new(key, t0(), t0())
}

/// A pseudo-random id prefix (splitmix64), as spread as real ids.
fn id(i: u64) -> u64 {
    let mut z = i.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// `n` ids spread evenly over the `hours` hours from `t0`, numbered from `from`.
fn fill(c: &mut Checkpoint, from: u64, n: u64, hours: u64) {
    let first = t0().timestamp() / 3600;
    for i in from..from + n {
        c.seen
            .insert_key(id(i), first + ((i * hours) / (from + n)) as i64);
    }
}

/// The store as a compacted topic: the newest value per key, tombstones delete.
#[derive(Default)]
struct Topic(BTreeMap<String, Vec<u8>>);

impl Topic {
    fn write_segments(&mut self, r: &CheckpointRecords) {
        for s in &r.segments {
            self.0.insert(s.key.clone(), s.value.clone());
        }
    }
    fn write_main(&mut self, r: &CheckpointRecords) {
        self.0.insert(r.main.key.clone(), r.main.value.clone());
    }
    fn write_tombstones(&mut self, r: &CheckpointRecords) {
        for k in &r.tombstones {
            self.0.remove(k);
        }
    }
    fn write(&mut self, r: &CheckpointRecords) {
        self.write_segments(r);
        self.write_main(r);
        self.write_tombstones(r);
    }
    fn load(&self, key: &str) -> Result<(Checkpoint, SeenLayout), String> {
        let mut found = FoundSegments::new();
        for (k, v) in &self.0 {
            if let Some((stream, hour, leaf)) = parse_segment_key(k) {
                if stream == key {
                    found.insert((hour, leaf), decode_segment(v)?.1);
                }
            }
        }
        assemble(&self.0[key], &found)
    }
}

#[test]
fn a_million_ids_a_day_stay_under_the_bound_and_round_trip() {
    let mut c = cp();
    fill(&mut c, 0, 1_000_000, 24);
    let took = std::time::Instant::now();
    let plan = CheckpointRecords::plan(&c, &SeenLayout::default(), Bounds::default()).unwrap();
    let first = took.elapsed();
    assert!(
        plan.largest() <= RECORD_MAX_BYTES,
        "{} bytes",
        plan.largest()
    );
    assert!(
        plan.main.value.len() < 4096,
        "main: {}",
        plan.main.value.len()
    );
    assert!(plan.tombstones.is_empty());
    // 8 bytes an id, about 11 in base64: a million ids need some 250 segments.
    assert!(
        (245..=600).contains(&plan.segments.len()),
        "{} segments",
        plan.segments.len()
    );
    let mut topic = Topic::default();
    topic.write(&plan);
    let (back, layout) = topic.load(&plan.main.key).unwrap();
    assert_eq!(back.seen, c.seen);
    assert_eq!(back.watermark, c.watermark);
    assert_eq!(layout, plan.written());

    // A save after a few new ids rewrites only the segments they fall in.
    let mut more = back.clone();
    fill(&mut more, 1_000_000, 50, 1);
    let took = std::time::Instant::now();
    let next = CheckpointRecords::plan(&more, &layout, Bounds::default()).unwrap();
    let again = took.elapsed();
    let bytes: usize = plan.segments.iter().map(|r| r.value.len()).sum();
    eprintln!(
        "1,000,000 ids: {} segments of at most {} bytes ({bytes} bytes in all), main {} bytes, \
         planned in {first:?}; 50 more ids: {} records rewritten ({} bytes), planned in {again:?}",
        plan.segments.len(),
        plan.largest(),
        plan.main.value.len(),
        next.segments.len() + 1,
        next.segments.iter().map(|r| r.value.len()).sum::<usize>() + next.main.value.len(),
    );
    assert!(
        next.segments.len() <= 50,
        "{} rewritten",
        next.segments.len()
    );
    assert!(next.largest() <= RECORD_MAX_BYTES);
    topic.write(&next);
    assert_eq!(topic.load(&next.main.key).unwrap().0.seen, more.seen);

    // Unchanged: only the main record.
    let same = CheckpointRecords::plan(&more, &next.written(), Bounds::default()).unwrap();
    assert!(same.segments.is_empty() && same.tombstones.is_empty());
}

fn small() -> Bounds {
    Bounds {
        segment_ids: 64,
        inline_ids: 32,
        record_max: 2048,
    }
}

#[test]
fn small_streams_stay_inline_and_version_1_records_load() {
    let mut c = cp();
    fill(&mut c, 0, 30, 3);
    let plan = CheckpointRecords::plan(&c, &SeenLayout::default(), small()).unwrap();
    assert!(plan.segments.is_empty());
    let (back, layout) = assemble(&plan.main.value, &FoundSegments::new()).unwrap();
    assert_eq!(back.seen, c.seen);
    assert!(layout.is_empty());

    let v1 = serde_json::to_vec(&c).unwrap();
    let (old, _) = assemble(&v1, &FoundSegments::new()).unwrap();
    assert_eq!(old, c);
}

#[test]
fn pruned_hours_are_tombstoned_and_splits_drop_their_parent() {
    let mut c = cp();
    fill(&mut c, 0, 600, 6);
    let mut topic = Topic::default();
    let first = CheckpointRecords::plan(&c, &SeenLayout::default(), small()).unwrap();
    topic.write(&first);
    // The newest hour grows past a segment: its part splits, the old key goes.
    fill(&mut c, 600, 200, 1);
    let grown = CheckpointRecords::plan(&c, &first.written(), small()).unwrap();
    topic.write(&grown);
    assert_eq!(topic.load(&grown.main.key).unwrap().0.seen, c.seen);
    // Pruning the first hours deletes their segments.
    c.seen.prune_before(t0() + Duration::hours(4));
    let pruned = CheckpointRecords::plan(&c, &grown.written(), small()).unwrap();
    assert!(!pruned.tombstones.is_empty());
    topic.write(&pruned);
    let (back, _) = topic.load(&pruned.main.key).unwrap();
    assert_eq!(back.seen, c.seen);
    let left = topic.0.keys().filter(|k| parse_segment_key(k).is_some());
    let hour4 = t0().timestamp() / 3600 + 4;
    assert!(left
        .map(|k| parse_segment_key(k).unwrap().1)
        .all(|h| h >= hour4));
}

#[test]
fn an_interrupted_save_loads_the_older_checkpoint_with_every_id() {
    let mut c = cp();
    fill(&mut c, 0, 500, 4);
    let mut topic = Topic::default();
    let first = CheckpointRecords::plan(&c, &SeenLayout::default(), small()).unwrap();
    topic.write(&first);
    let before = c.clone();
    fill(&mut c, 500, 300, 2);
    let second = CheckpointRecords::plan(&c, &first.written(), small()).unwrap();
    // Crash after the segments, before the main record: the old main, and every id
    // it had (plus published ones of the segments).
    topic.write_segments(&second);
    let (back, layout) = topic.load(&first.main.key).unwrap();
    assert_eq!(back.watermark, before.watermark);
    for (h, ids) in before.seen.hours() {
        for k in ids.keys() {
            assert!(back.seen.hours()[h].keys().contains(k));
        }
    }
    // The next save from there rewrites what differs and converges.
    let third = CheckpointRecords::plan(&c, &second.unknown(&layout), small()).unwrap();
    topic.write(&third);
    assert_eq!(topic.load(&third.main.key).unwrap().0.seen, c.seen);
    // A lost segment is an error, not fewer ids.
    let victim = topic
        .0
        .keys()
        .find(|k| parse_segment_key(k).is_some())
        .unwrap()
        .clone();
    topic.0.remove(&victim);
    let err = topic.load(&third.main.key).unwrap_err();
    assert!(err.contains("segment is missing"), "{err}");
}

#[test]
fn a_record_over_the_bound_is_an_error_with_the_numbers() {
    let mut c = cp();
    fill(&mut c, 0, 100, 1);
    let tight = Bounds {
        segment_ids: 1000,
        inline_ids: 10,
        record_max: 300,
    };
    let err = CheckpointRecords::plan(&c, &SeenLayout::default(), tight).unwrap_err();
    assert_eq!(err.limit, 300);
    assert!(err.bytes > 300);
    let text = err.to_string();
    assert!(text.contains("big-account/zoom.operation_logs"), "{text}");
    assert!(text.contains("300 bytes"), "{text}");
}
