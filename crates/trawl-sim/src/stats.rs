//! What the simulator counted, as tests and benches read it.
//!
//! Counters are kept where the events happen (limits, oauth, faults); this module only
//! defines the snapshot [`SimStats`] that `SimHandle::stats` and `GET /_sim/stats` return.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::SimFamily;

/// Counters of one (account, family, label): every request that reached the rate
/// limiter, i.e. had a valid token for the account. `requests = ok + rate_limited_qps +
/// rate_limited_daily`; 5xx/HTML/dropped faults are decided after the limiter admitted
/// a request, so they count as `ok` here and in [`FaultStats`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimitStats {
    pub account: String,
    pub family: SimFamily,
    pub label: String,
    pub requests: u64,
    pub ok: u64,
    pub rate_limited_qps: u64,
    pub rate_limited_daily: u64,
    /// Most requests (admitted or refused) seen in any sliding second of simulated time.
    pub max_rate_1s: u64,
    /// Zoho: lock periods begun (the window's limit exceeded).
    #[serde(default)]
    pub locks: u64,
    /// Zoho: requests that arrived while the organization was locked (each extends the
    /// lock when `lock_extends`); a client that waits locks out makes none.
    #[serde(default)]
    pub locked_calls: u64,
    /// Zoho: the simulated instant (ms) the last lock ended or will end.
    #[serde(default)]
    pub lock_until_ms: Option<i64>,
}

/// Token traffic of one account (Zoom account id or Zoho zoid).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountStats {
    pub account: String,
    pub tokens_issued: u64,
    /// Token requests refused (bad credentials, Zoho's 10-per-10-minutes rule).
    pub token_refused: u64,
    /// API requests answered 401 (expired, revoked or unknown token).
    pub unauthorized: u64,
}

/// Faults injected so far, by kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultStats {
    pub server_error: u64,
    pub html_error: u64,
    pub malformed: u64,
    pub dropped_connection: u64,
    pub slow_body: u64,
    /// Answers delayed by the configured latency.
    pub delayed: u64,
}

impl FaultStats {
    /// Every injected fault except plain latency.
    pub fn total(&self) -> u64 {
        self.server_error
            + self.html_error
            + self.malformed
            + self.dropped_connection
            + self.slow_body
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimStats {
    /// The simulated clock when the snapshot was taken.
    pub now: DateTime<Utc>,
    /// API requests received (all endpoints except `/_sim/` and the token endpoints).
    pub requests: u64,
    pub tokens_issued: u64,
    pub token_errors: u64,
    pub unauthorized: u64,
    pub limits: Vec<LimitStats>,
    pub accounts: Vec<AccountStats>,
    pub faults: FaultStats,
}

impl SimStats {
    pub fn limit(&self, account: &str, family: SimFamily) -> Option<&LimitStats> {
        self.limits
            .iter()
            .find(|l| l.account == account && l.family == family)
    }

    pub fn account(&self, account: &str) -> Option<&AccountStats> {
        self.accounts.iter().find(|a| a.account == account)
    }
}
