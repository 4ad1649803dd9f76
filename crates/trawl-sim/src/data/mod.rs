//! The records the simulated APIs hold, generated lazily one UTC day at a time.
//!
//! A record is stored compactly (times, a template index and a content seed, ~40
//! bytes) and rendered to the vendor's JSON only when served, so a bench can pull a
//! million records and a fleet can register ten thousand accounts cheaply. Every day's
//! records follow from (config seed, API, account, day) alone: the same config serves
//! the same records in every run, whatever was asked before.

mod names;
mod render;
mod store;
mod zoho;

pub(crate) use render::{phone_category_matches, zoom_category_label};
pub(crate) use store::{spec, Select, Snapshot, Store, StreamSpec};
pub(crate) use zoho::{zoho_code_matches, zoho_entity_id, zoho_index_time};

use crate::clock::DAY_MS;
use crate::config::DataConfig;
use crate::SimApi;

/// One stored record. `seq` tells apart records of the same millisecond (and the
/// identical copies Zoom serves); `inject` is 0 for generated records and the global
/// injection number otherwise, so a paging snapshot can exclude later injections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rec {
    pub time_ms: i64,
    pub visible_ms: i64,
    pub seed: u64,
    pub seq: u32,
    pub inject: u32,
    pub kind: u16,
}

impl Rec {
    /// Oldest-first sort key.
    pub fn key(&self) -> (i64, u32) {
        (self.time_ms, self.seq)
    }
}

/// splitmix64: tiny, fast and fixed forever, so generated data never changes with a
/// dependency's version.
#[derive(Debug, Clone)]
pub(crate) struct Mix(pub u64);

impl Mix {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix64(self.0)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    pub fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len() as u64) as usize]
    }
}

pub(crate) fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// FNV-1a over the parts, then mixed with the seed.
pub(crate) fn hash_parts(seed: u64, parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for b in part.iter().chain(std::iter::once(&0xffu8)) {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    mix64(h ^ mix64(seed))
}

/// Generates one UTC day of a stream: exactly `per_day` records, oldest first.
pub(crate) fn gen_day(
    api: SimApi,
    stream_seed: u64,
    day: i64,
    per_day: u32,
    cfg: &DataConfig,
) -> Vec<Rec> {
    let mut r = Mix(stream_seed ^ mix64(day as u64));
    let precision = if api == SimApi::ZohoMailAudit {
        1
    } else {
        1000
    };
    let n = per_day as usize;
    let mut out: Vec<Rec> = Vec::with_capacity(n);
    while out.len() < n {
        if !out.is_empty() && r.unit() < cfg.duplicate_share {
            let twin = out[r.below(out.len() as u64) as usize];
            if api == SimApi::ZohoMailAudit {
                // Zoho records carry ids, so never identical: a second record of the
                // same millisecond instead.
                out.push(Rec {
                    seed: r.next_u64(),
                    kind: render::pick_kind(api, &mut r),
                    ..twin
                });
            } else {
                out.push(twin);
            }
            continue;
        }
        let t = day * DAY_MS + (r.below(DAY_MS as u64) as i64 / precision) * precision;
        let kind = render::pick_kind(api, &mut r);
        let seed = r.next_u64();
        let mut visible_ms = if r.unit() < cfg.late_share {
            t + late_delay_ms(&mut r, cfg.late_max_minutes)
        } else {
            t
        };
        if api == SimApi::ZohoMailAudit && cfg.index_delay_ms > 0 {
            visible_ms += r.below(u64::from(cfg.index_delay_ms) + 1) as i64;
        }
        out.push(Rec {
            time_ms: t,
            visible_ms,
            seed,
            seq: 0,
            inject: 0,
            kind,
        });
    }
    out.sort_by_key(|x| (x.time_ms, x.seed, x.visible_ms));
    let mut prev = i64::MIN;
    let mut seq = 0;
    for rec in &mut out {
        seq = if rec.time_ms == prev { seq + 1 } else { 0 };
        prev = rec.time_ms;
        rec.seq = seq;
    }
    out
}

/// The longest a generated record can take to become visible after its time.
pub(crate) fn max_delay_ms(cfg: &DataConfig) -> i64 {
    i64::from(cfg.late_max_minutes.max(2)) * 60_000 + 60_000 + i64::from(cfg.index_delay_ms)
}

/// Minutes to hours: most late records show up within the hour, some much later.
fn late_delay_ms(r: &mut Mix, max_minutes: u32) -> i64 {
    let max = i64::from(max_minutes.max(2));
    let minutes = if r.unit() < 0.6 || max <= 60 {
        1 + r.below(max.min(60) as u64) as i64
    } else {
        60 + r.below((max - 60) as u64) as i64
    };
    minutes * 60_000 + r.below(60) as i64 * 1000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_day_is_deterministic_and_has_duplicates_and_late_records() {
        let cfg = DataConfig {
            duplicate_share: 0.05,
            late_share: 0.05,
            late_max_minutes: 300,
            index_delay_ms: 0,
            unparseable_share: 0.0,
            ..DataConfig::default()
        };
        let a = gen_day(SimApi::ZoomOperationLogs, 42, 20_000, 2000, &cfg);
        let b = gen_day(SimApi::ZoomOperationLogs, 42, 20_000, 2000, &cfg);
        assert_eq!(a, b);
        assert_eq!(a.len(), 2000);
        assert!(a
            .windows(2)
            .any(|w| w[0].time_ms == w[1].time_ms && w[0].seed == w[1].seed));
        assert!(a.iter().any(|x| x.visible_ms > x.time_ms + 60_000));
        assert!(a
            .iter()
            .all(|x| x.time_ms % 1000 == 0 && day_of_ms(x.time_ms) == 20_000));
        let c = gen_day(SimApi::ZoomOperationLogs, 43, 20_000, 2000, &cfg);
        assert_ne!(a, c);
    }

    fn day_of_ms(ms: i64) -> i64 {
        ms.div_euclid(DAY_MS)
    }
}
