//! Per-stream record storage: generated days (cached) plus injected records.
//!
//! A stream (API x account) costs nothing until first asked; then each day it is asked
//! about is generated once and shared. A [`Snapshot`] fixes what is visible (simulated
//! instant plus the injections made so far) so that one Zoom paging pass sees a stable
//! list while records keep arriving.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::Value;

use super::render::{self, AccountCtx};
use super::{gen_day, hash_parts, Mix, Rec};
use crate::clock::day_of;
use crate::config::DataConfig;
use crate::SimApi;

/// What one listing may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Snapshot {
    pub at_ms: i64,
    pub inject_max: u32,
}

impl Snapshot {
    fn sees(&self, r: &Rec) -> bool {
        r.visible_ms <= self.at_ms && r.inject <= self.inject_max
    }
}

/// Which records a listing asks for, besides being visible in its snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Select {
    /// Time in `[from_ms, to_ms)`.
    Time { from_ms: i64, to_ms: i64 },
    /// Became visible (Zoho: was indexed) in `[from_ms, to_ms)`, whatever their time.
    Visible { from_ms: i64, to_ms: i64 },
}

impl Select {
    fn keeps(&self, r: &Rec) -> bool {
        match *self {
            Select::Time { from_ms, to_ms } => r.time_ms >= from_ms && r.time_ms < to_ms,
            Select::Visible { from_ms, to_ms } => r.visible_ms >= from_ms && r.visible_ms < to_ms,
        }
    }
}

/// Volume of one stream, from the account's config.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StreamSpec {
    pub per_day: u32,
    pub first_day: i64,
}

struct Stream {
    seed: u64,
    ctx: Arc<AccountCtx>,
    /// Generated days, by (day, records per day): a Phone plan bought at run time
    /// changes the volume from 0.
    days: HashMap<(i64, u32), Arc<Vec<Rec>>>,
    injected: Vec<Rec>,
}

type StreamMap = HashMap<(SimApi, String), Arc<Mutex<Stream>>>;
type ListingMap = HashMap<(u64, Snapshot), Arc<Vec<Rec>>>;

pub(crate) struct Store {
    config_seed: u64,
    data: DataConfig,
    streams: Mutex<StreamMap>,
    inject_counter: AtomicU32,
    /// Zoom paging passes' lists, by (query hash, snapshot): a pass is computed once,
    /// not once per page.
    listings: Mutex<ListingMap>,
}

const MAX_CACHED_LISTINGS: usize = 512;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Store {
    pub fn new(config_seed: u64, data: DataConfig) -> Self {
        Store {
            config_seed,
            data,
            streams: Mutex::new(HashMap::new()),
            inject_counter: AtomicU32::new(0),
            listings: Mutex::new(HashMap::new()),
        }
    }

    fn stream(&self, api: SimApi, account: &str) -> Arc<Mutex<Stream>> {
        let mut map = lock(&self.streams);
        map.entry((api, account.to_string()))
            .or_insert_with(|| {
                Arc::new(Mutex::new(Stream {
                    seed: hash_parts(
                        self.config_seed,
                        &[api.as_str().as_bytes(), account.as_bytes()],
                    ),
                    ctx: Arc::new(AccountCtx::new(self.config_seed, account)),
                    days: HashMap::new(),
                    injected: Vec::new(),
                }))
            })
            .clone()
    }

    pub fn ctx(&self, api: SimApi, account: &str) -> Arc<AccountCtx> {
        lock(&self.stream(api, account)).ctx.clone()
    }

    pub fn snapshot(&self, at_ms: i64) -> Snapshot {
        Snapshot {
            at_ms,
            inject_max: self.inject_counter.load(Ordering::SeqCst),
        }
    }

    /// Every record with time in [from_ms, to_ms) visible in `snap`, oldest first.
    pub fn records(
        &self,
        api: SimApi,
        account: &str,
        spec: StreamSpec,
        from_ms: i64,
        to_ms: i64,
        snap: Snapshot,
    ) -> Vec<Rec> {
        self.select(api, account, spec, Select::Time { from_ms, to_ms }, snap)
    }

    /// Every record `select` asks for that is visible in `snap`, oldest first by time.
    pub fn select(
        &self,
        api: SimApi,
        account: &str,
        spec: StreamSpec,
        select: Select,
        snap: Snapshot,
    ) -> Vec<Rec> {
        let stream = self.stream(api, account);
        let mut out = Vec::new();
        // A record visible from `from_ms` on is at most the longest delay older.
        let (time_from, to_ms) = match select {
            Select::Time { from_ms, to_ms } => (from_ms, to_ms),
            Select::Visible { from_ms, to_ms } => (
                from_ms.saturating_sub(super::max_delay_ms(&self.data)),
                to_ms,
            ),
        };
        let keep = |r: &Rec| select.keeps(r);
        if to_ms <= time_from {
            return out;
        }
        let from_ms = time_from;
        let d0 = day_of(from_ms).max(spec.first_day);
        let d1 = day_of(to_ms - 1).min(day_of(snap.at_ms));
        for day in d0..=d1 {
            let recs = {
                let mut s = lock(&stream);
                let seed = s.seed;
                s.days
                    .entry((day, spec.per_day))
                    .or_insert_with(|| Arc::new(gen_day(api, seed, day, spec.per_day, &self.data)))
                    .clone()
            };
            out.extend(recs.iter().filter(|r| keep(r) && snap.sees(r)));
        }
        let s = lock(&stream);
        out.extend(s.injected.iter().filter(|r| keep(r) && snap.sees(r)));
        drop(s);
        out.sort_by_key(Rec::key);
        out
    }

    /// The list of one paging pass, computed by `make` on first use.
    pub fn listing(
        &self,
        query: u64,
        snap: Snapshot,
        make: impl FnOnce() -> Vec<Rec>,
    ) -> Arc<Vec<Rec>> {
        if let Some(l) = lock(&self.listings).get(&(query, snap)) {
            return l.clone();
        }
        let list = Arc::new(make());
        let mut cache = lock(&self.listings);
        if cache.len() >= MAX_CACHED_LISTINGS {
            cache.clear();
        }
        cache.insert((query, snap), list.clone());
        list
    }

    /// Adds `n` records at `now_ms` and `late` records `age_ms` old, all visible from
    /// `now_ms` on.
    pub fn inject(
        &self,
        api: SimApi,
        account: &str,
        now_ms: i64,
        n: usize,
        late: usize,
        age_ms: i64,
    ) {
        let number = self.inject_counter.fetch_add(1, Ordering::SeqCst) + 1;
        let stream = self.stream(api, account);
        let mut s = lock(&stream);
        let mut r = Mix(s.seed ^ u64::from(number).wrapping_mul(0x2545_F491_4F6C_DD1D));
        let precision = if api == SimApi::ZohoMailAudit {
            1
        } else {
            1000
        };
        for i in 0..n + late {
            let t = if i < n {
                now_ms
            } else {
                now_ms - age_ms.max(0)
            };
            let seq = 100 + (s.injected.len() % 900) as u32;
            let rec = Rec {
                time_ms: t.div_euclid(precision) * precision,
                visible_ms: now_ms,
                seed: r.next_u64(),
                seq,
                inject: number,
                kind: render::pick_kind(api, &mut r),
            };
            s.injected.push(rec);
        }
    }

    /// Renders records as the API serves them.
    pub fn render(&self, api: SimApi, ctx: &AccountCtx, recs: &[Rec]) -> Vec<Value> {
        recs.iter().map(|r| self.render_one(api, ctx, r)).collect()
    }

    /// One record as served: the share `unparseable_share` of records always comes with
    /// its time in a form no client can read (Zoom `time`, Zoho `requestTime`); the share
    /// `oversized_share` with a `sim_padding` field of `oversized_bytes` characters.
    pub fn render_one(&self, api: SimApi, ctx: &AccountCtx, rec: &Rec) -> Value {
        let mut v = render::render(api, ctx, rec);
        if self.data.unparseable_share > 0.0
            && Mix(rec.seed ^ 0xBAD_BAD).unit() < self.data.unparseable_share
        {
            let field = if api == SimApi::ZohoMailAudit {
                "requestTime"
            } else {
                "time"
            };
            v[field] = Value::String("a while ago".into());
        }
        if self.data.oversized_share > 0.0
            && Mix(rec.seed ^ 0xB16_B16).unit() < self.data.oversized_share
        {
            let n = self.data.oversized_bytes as usize;
            v["sim_padding"] = Value::String("x".repeat(n));
        }
        v
    }
}

/// The stream spec of an account: `history_days` before the clock's start.
pub(crate) fn spec(per_day: u32, history_days: u32, clock_start_ms: i64) -> StreamSpec {
    StreamSpec {
        per_day,
        first_day: day_of(clock_start_ms) - i64::from(history_days),
    }
}
