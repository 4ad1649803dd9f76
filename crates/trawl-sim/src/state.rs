//! The simulator's shared state: config, clock, records, tokens, limits, faults and
//! counters, behind one `Arc` that every handler and the `SimHandle` hold.
//!
//! Per-account state lives in maps keyed by account and is created on first use, so
//! registering ten thousand accounts costs only their config entries.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::clock::SimClock;
use crate::config::SimConfig;
use crate::data::{self, Store, StreamSpec};
use crate::faults::FaultBox;
use crate::limits::Limiter;
use crate::oauth::Tokens;
use crate::stats::{AccountStats, SimStats};
use crate::SimApi;

pub(crate) struct Sim {
    pub config: SimConfig,
    pub clock: SimClock,
    pub store: Store,
    pub limiter: Limiter,
    pub tokens: Tokens,
    pub faults: FaultBox,
    pub zoom_by_id: HashMap<String, usize>,
    pub zoho_by_zoid: HashMap<String, usize>,
    pub zoho_by_refresh: HashMap<String, usize>,
    /// Key of the page-token MAC.
    pub page_key: [u8; 32],
    pub requests: AtomicU64,
    pub tokens_issued: AtomicU64,
    pub token_errors: AtomicU64,
    pub unauthorized: AtomicU64,
    accounts: Mutex<HashMap<String, AccountStats>>,
    /// Zoom Phone switched on or off at run time (`/_sim/phone`), by account index.
    phone_now: Mutex<HashMap<usize, bool>>,
    /// When another holder last voided a Zoom account's tokens by request
    /// (`/_sim/void_tokens`), by account index.
    voided_at: Mutex<HashMap<usize, i64>>,
}

/// Which per-account counter to bump.
#[derive(Debug, Clone, Copy)]
pub(crate) enum AccountEvent {
    TokenIssued,
    TokenRefused,
    Unauthorized,
}

impl Sim {
    pub fn new(config: SimConfig) -> Sim {
        let zoom_by_id = config
            .zoom_accounts
            .iter()
            .enumerate()
            .map(|(i, a)| (a.account_id.clone(), i))
            .collect();
        let zoho_by_zoid = config
            .zoho_orgs
            .iter()
            .enumerate()
            .map(|(i, o)| (o.zoid.clone(), i))
            .collect();
        let zoho_by_refresh = config
            .zoho_orgs
            .iter()
            .enumerate()
            .map(|(i, o)| (o.refresh_token.clone(), i))
            .collect();
        let mut page_key = [0u8; 32];
        for (i, chunk) in page_key.chunks_mut(8).enumerate() {
            chunk.copy_from_slice(&data::mix64(config.seed ^ (0x5EED + i as u64)).to_le_bytes());
        }
        Sim {
            clock: SimClock::new(&config.clock),
            store: Store::new(config.seed, config.data.clone()),
            limiter: Limiter::new(),
            tokens: Tokens::new(),
            faults: FaultBox::new(config.faults.clone(), config.seed),
            zoom_by_id,
            zoho_by_zoid,
            zoho_by_refresh,
            page_key,
            requests: AtomicU64::new(0),
            tokens_issued: AtomicU64::new(0),
            token_errors: AtomicU64::new(0),
            unauthorized: AtomicU64::new(0),
            accounts: Mutex::new(HashMap::new()),
            phone_now: Mutex::new(HashMap::new()),
            voided_at: Mutex::new(HashMap::new()),
            config,
        }
    }

    pub fn count(&self, account: &str, event: AccountEvent) {
        let global = match event {
            AccountEvent::TokenIssued => &self.tokens_issued,
            AccountEvent::TokenRefused => &self.token_errors,
            AccountEvent::Unauthorized => &self.unauthorized,
        };
        global.fetch_add(1, Ordering::Relaxed);
        if account.is_empty() {
            return;
        }
        let mut map = self.accounts.lock().unwrap_or_else(|e| e.into_inner());
        let s = map
            .entry(account.to_string())
            .or_insert_with(|| AccountStats {
                account: account.to_string(),
                ..AccountStats::default()
            });
        match event {
            AccountEvent::TokenIssued => s.tokens_issued += 1,
            AccountEvent::TokenRefused => s.token_refused += 1,
            AccountEvent::Unauthorized => s.unauthorized += 1,
        }
    }

    /// Whether Zoom account `idx` has Zoom Phone now (its config, or what `/_sim/phone`
    /// set since).
    pub fn phone_enabled(&self, idx: usize) -> bool {
        let now = self.phone_now.lock().unwrap_or_else(|e| e.into_inner());
        now.get(&idx)
            .copied()
            .unwrap_or(self.config.zoom_accounts[idx].phone)
    }

    /// Buys (or cancels) Zoom Phone for account `idx` while the simulator runs.
    pub fn set_phone(&self, idx: usize, enabled: bool) {
        let mut now = self.phone_now.lock().unwrap_or_else(|e| e.into_inner());
        now.insert(idx, enabled);
    }

    /// Another holder of account `idx`'s app credentials takes a token now, voiding the
    /// earlier ones.
    pub fn void_tokens(&self, idx: usize, now_ms: i64) {
        let mut v = self.voided_at.lock().unwrap_or_else(|e| e.into_inner());
        v.insert(idx, now_ms);
    }

    /// Tokens of account `idx` issued before this instant are void: the later of the last
    /// `/_sim/void_tokens` and the last periodic void (`void_tokens_every_secs`).
    pub fn voided_before(&self, idx: usize, now_ms: i64) -> i64 {
        let every = self.config.zoom_accounts[idx].void_tokens_every_secs as i64 * 1000;
        let start = self.clock.start_ms();
        let periodic = if every > 0 && now_ms >= start + every {
            start + (now_ms - start) / every * every
        } else {
            i64::MIN
        };
        let manual = self
            .voided_at
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&idx)
            .copied()
            .unwrap_or(i64::MIN);
        periodic.max(manual)
    }

    /// Volume and first day of an account's stream; `None` for an unknown account.
    pub fn spec(&self, account: &str, api: SimApi) -> Option<StreamSpec> {
        let start = self.clock.start_ms();
        match api {
            SimApi::ZohoMailAudit => {
                let o = &self.config.zoho_orgs[*self.zoho_by_zoid.get(account)?];
                Some(data::spec(o.records_per_day, o.history_days, start))
            }
            SimApi::ZoomOperationLogs | SimApi::ZoomPhoneOperationLogs => {
                let idx = *self.zoom_by_id.get(account)?;
                let a = &self.config.zoom_accounts[idx];
                let per_day = if api == SimApi::ZoomOperationLogs {
                    a.records_per_day
                } else if self.phone_enabled(idx) {
                    a.phone_records_per_day
                } else {
                    0
                };
                Some(data::spec(per_day, a.history_days, start))
            }
        }
    }

    /// Every record visible now with time in [from, to), oldest first, as served.
    pub fn ground_truth(
        &self,
        account: &str,
        api: SimApi,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Vec<Value> {
        self.ground_truth_seen(account, api, from, to)
            .into_iter()
            .map(|(v, _)| v)
            .collect()
    }

    /// [`Sim::ground_truth`], each record with the instant it became visible (later than
    /// its time for a late record).
    pub fn ground_truth_seen(
        &self,
        account: &str,
        api: SimApi,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Vec<(Value, DateTime<Utc>)> {
        let Some(spec) = self.spec(account, api) else {
            return Vec::new();
        };
        let snap = self.store.snapshot(self.clock.now_ms());
        let recs = self.store.records(
            api,
            account,
            spec,
            from.timestamp_millis(),
            to.timestamp_millis(),
            snap,
        );
        let ctx = self.store.ctx(api, account);
        recs.iter()
            .map(|r| {
                (
                    self.store.render_one(api, &ctx, r),
                    crate::clock::from_ms(r.visible_ms),
                )
            })
            .collect()
    }

    pub fn stats(&self) -> SimStats {
        let mut accounts: Vec<AccountStats> = self
            .accounts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect();
        accounts.sort_by(|a, b| a.account.cmp(&b.account));
        SimStats {
            now: self.clock.now(),
            requests: self.requests.load(Ordering::Relaxed),
            tokens_issued: self.tokens_issued.load(Ordering::Relaxed),
            token_errors: self.token_errors.load(Ordering::Relaxed),
            unauthorized: self.unauthorized.load(Ordering::Relaxed),
            limits: self.limiter.stats(),
            accounts,
            faults: self.faults.stats(),
        }
    }
}
