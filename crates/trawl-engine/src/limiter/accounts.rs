//! The accounts this engine serves: per account, the worker thread its tenants' actors
//! run on and its buckets, one `RateLimiter` per (provider, account, API family, label).
//!
//! The unit of ownership is the account, not the tenant: the vendors count requests per
//! account, so two tenants that name the same Zoom account (or Zoho organization) share
//! one bucket per rate limit instead of getting one each (which would be twice the
//! quota). [`Accounts::apply`] makes the buckets match the configured tenants: new ones
//! start, ones nobody uses any more stop, and one whose tenants changed keeps running
//! with new numbers (its day's count stays). When tenants of one account ask for
//! different numbers, the bucket takes the narrowest ([`BucketSpec::narrowest`]).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use actix::prelude::*;
use trawl_model::{SourceKind, StreamKey, TenantId};
use trawl_sources::{AccountKey, ApiFamily, LimitKey};

use super::actor::{GetState, LimiterState, RateLimiter, Reconfigure};
use super::bucket::BucketSpec;
use super::permit::LimiterHandle;
use crate::clock::Clock;
use crate::config::TenantSpec;
use crate::metrics::{Gauge, Metrics};

struct Account {
    /// Runs this account's limiters and its tenants' fetchers, so their messages to
    /// each other stay on one thread; accounts spread evenly over the workers.
    worker: Option<ArbiterHandle>,
    buckets: HashMap<LimitKey, Bucket>,
}

struct Bucket {
    addr: Addr<RateLimiter>,
    spec: BucketSpec,
    /// The tenants whose streams use it, each with its stream of this rate limit.
    users: BTreeMap<TenantId, SourceKind>,
}

/// What [`Accounts::apply`] wants of one bucket.
struct Wanted {
    spec: BucketSpec,
    users: BTreeMap<TenantId, SourceKind>,
    /// Whether the users asked for different numbers.
    differ: bool,
}

pub struct Accounts {
    clock: Clock,
    metrics: Arc<Metrics>,
    workers: Vec<ArbiterHandle>,
    next_worker: usize,
    accounts: HashMap<AccountKey, Account>,
    /// In a cluster, while applying an assignment: when it was seen (new accounts'
    /// buckets observe the handover time at their first grant).
    handover_since: Option<tokio::time::Instant>,
    /// Stored day states by bucket name: a bucket made here continues its day.
    days: HashMap<String, super::DayState>,
}

impl Accounts {
    pub fn new(clock: Clock, metrics: Arc<Metrics>, workers: Vec<ArbiterHandle>) -> Self {
        Self {
            clock,
            metrics,
            workers,
            next_worker: 0,
            accounts: HashMap::new(),
            handover_since: None,
            days: HashMap::new(),
        }
    }

    /// Stored day states (loaded at start or at an assignment) for buckets made later.
    pub fn set_days(&mut self, days: HashMap<String, super::DayState>) {
        self.days.extend(days);
    }

    /// Buckets made by the next [`Accounts::apply`] calls belong to accounts that moved
    /// here at `since` (`None`: they do not).
    pub fn set_handover(&mut self, since: Option<tokio::time::Instant>) {
        self.handover_since = since;
    }

    /// Makes the accounts and their buckets match `tenants` (the whole wanted set).
    pub fn apply<'a>(&mut self, tenants: impl IntoIterator<Item = &'a TenantSpec>) {
        let mut wanted: HashMap<AccountKey, HashMap<LimitKey, Wanted>> = HashMap::new();
        for tenant in tenants {
            let buckets = wanted.entry(tenant.access.account()).or_default();
            for &kind in &tenant.streams {
                let spec = BucketSpec::for_stream(tenant, kind);
                let users = BTreeMap::from([(tenant.id.clone(), kind)]);
                match buckets.entry(LimitKey::of(kind)) {
                    std::collections::hash_map::Entry::Vacant(v) => {
                        v.insert(Wanted {
                            spec,
                            users,
                            differ: false,
                        });
                    }
                    std::collections::hash_map::Entry::Occupied(mut o) => {
                        let want = o.get_mut();
                        want.differ |= want.spec != spec;
                        want.spec = want.spec.narrowest(spec);
                        want.users.extend(users);
                    }
                }
            }
        }
        self.accounts.retain(|key, _| wanted.contains_key(key));
        for (key, buckets) in wanted {
            if !self.accounts.contains_key(&key) {
                let worker = self.next_worker();
                self.accounts.insert(
                    key.clone(),
                    Account {
                        worker,
                        buckets: HashMap::new(),
                    },
                );
            }
            let handover = self.handover_since.map(|since| super::actor::Handover {
                since,
                observed: Default::default(),
                histogram: self.metrics.cluster.handover.clone(),
            });
            let account = self.accounts.get_mut(&key).expect("inserted above");
            account
                .buckets
                .retain(|limit, _| buckets.contains_key(limit));
            for (limit, want) in buckets {
                let name = format!("{key}/{}/{}", limit.family.as_str(), limit.label);
                let gauges = daily_gauges(&self.metrics, limit, &want);
                match account.buckets.get_mut(&limit) {
                    Some(b) if b.spec == want.spec && b.users == want.users => continue,
                    Some(b) => {
                        b.addr.do_send(Reconfigure {
                            spec: want.spec,
                            daily_gauges: gauges,
                        });
                        b.spec = want.spec;
                        b.users = want.users.clone();
                    }
                    None => {
                        let (clock, spec, n) = (self.clock.clone(), want.spec, name.clone());
                        let handover = handover.clone();
                        let day = self.days.remove(&name);
                        let metrics = Some(self.metrics.clone());
                        // Zoho: every call during a lock extends it, so none may be in
                        // flight when a throttle answer comes back.
                        let one_at_a_time = limit.family == ApiFamily::ZohoMail;
                        let make = move || {
                            RateLimiter::new(n, spec, clock, gauges)
                                .with_handover(handover)
                                .with_day(day)
                                .with_metrics(metrics)
                                .one_at_a_time(one_at_a_time)
                        };
                        let addr = match &account.worker {
                            Some(worker) => RateLimiter::start_in_arbiter(worker, move |_| make()),
                            None => make().start(),
                        };
                        account.buckets.insert(
                            limit,
                            Bucket {
                                addr,
                                spec: want.spec,
                                users: want.users.clone(),
                            },
                        );
                    }
                }
                if want.users.len() > 1 {
                    let tenants: Vec<&str> = want.users.keys().map(TenantId::as_str).collect();
                    if want.differ {
                        tracing::warn!(bucket = %name, tenants = ?tenants, spec = ?want.spec,
                            "tenants naming one account ask for different rate limits or quota shares; their shared bucket uses the smallest");
                    } else {
                        tracing::info!(bucket = %name, tenants = ?tenants, "tenants name one account: they share its bucket");
                    }
                }
            }
        }
    }

    /// The next worker in turn, for a new account.
    fn next_worker(&mut self) -> Option<ArbiterHandle> {
        if self.workers.is_empty() {
            return None;
        }
        self.next_worker = (self.next_worker + 1) % self.workers.len();
        Some(self.workers[self.next_worker].clone())
    }

    /// The worker an account's actors run on (`None`: the caller's own thread).
    pub fn worker(&self, account: &AccountKey) -> Option<ArbiterHandle> {
        self.accounts.get(account).and_then(|a| a.worker.clone())
    }

    /// The bucket of `account`'s rate limit `limit`, if a configured stream uses it.
    pub fn limiter(&self, account: &AccountKey, limit: LimitKey) -> Option<LimiterHandle> {
        let bucket = self.accounts.get(account)?.buckets.get(&limit)?;
        Some(LimiterHandle::new(bucket.addr.clone()))
    }

    /// Every bucket as each tenant using it sees it, named `tenant/family/label`, in
    /// name order (a shared bucket once per tenant, with the same `bucket` name).
    pub fn states(&self) -> impl std::future::Future<Output = Vec<(String, LimiterState)>> {
        let mut all: Vec<(String, Addr<RateLimiter>)> = self
            .accounts
            .values()
            .flat_map(|a| a.buckets.iter())
            .flat_map(|(limit, b)| {
                b.users.keys().map(move |t| {
                    let name = format!("{t}/{}/{}", limit.family.as_str(), limit.label);
                    (name, b.addr.clone())
                })
            })
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        async move {
            let mut out = Vec::with_capacity(all.len());
            for (name, addr) in all {
                if let Ok(state) = addr.send(GetState).await {
                    out.push((name, state));
                }
            }
            out
        }
    }
}

/// The daily-quota gauges of a bucket's users (`trawl_daily_quota_limit` set here,
/// `..._remaining` handed to the limiter).
fn daily_gauges(metrics: &Metrics, limit: LimitKey, want: &Wanted) -> Vec<Gauge> {
    let Some(cap) = want.spec.daily_cap() else {
        return Vec::new();
    };
    let (family, label) = (limit.family.as_str(), limit.label);
    want.users
        .iter()
        .map(|(tenant, kind)| {
            let key = StreamKey::new(tenant.clone(), *kind);
            metrics
                .daily_quota_limit(&key, family, label)
                .set(i64::from(cap));
            metrics.daily_quota(&key, family, label)
        })
        .collect()
}

#[cfg(test)]
mod tests;
