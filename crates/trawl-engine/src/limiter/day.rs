//! The day's quota, kept across restarts, reloads and handovers.
//!
//! Each bucket's requests of the current UTC day, its AIMD rate (as a share of its
//! ceiling) and a daily block are stored beside the checkpoints, one `quota:` record per
//! bucket on the checkpoint topic ([`trawl_kafka::QUOTA_PREFIX`]). They are written every
//! [`SAVE_EVERY`] (only the buckets that changed), before a stop and before a handover,
//! and loaded at start and when a cluster member is assigned accounts, so a restart near
//! the daily cap continues the day's count instead of handing out a fresh quota. The
//! record is the engine's own advisory state, not part of a transaction: the worst a
//! crash costs is the requests since the last save (at most [`SAVE_EVERY`] of pacing).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use trawl_kafka::{KafkaCheckpointStore, KafkaError};

use super::actor::LimiterState;

/// How often changed day states are written.
pub const SAVE_EVERY: Duration = Duration::from_secs(10);

/// One bucket's day, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DayState {
    /// The UTC day `used` counts.
    pub day: NaiveDate,
    /// Requests granted that day.
    pub used: u32,
    /// The AIMD rate over the bucket's ceiling, in (0, 1].
    pub rate_share: f64,
    /// The API said the daily cap was spent: nothing until then.
    pub blocked_until: Option<DateTime<Utc>>,
}

impl DayState {
    pub fn of(state: &LimiterState) -> Self {
        let q = &state.state;
        Self {
            day: q.day,
            used: q.used_today,
            rate_share: if q.ceiling > 0.0 {
                (q.rate / q.ceiling).clamp(0.0, 1.0)
            } else {
                1.0
            },
            blocked_until: state.blocked_until,
        }
    }
}

/// Loads and saves the buckets' day states; remembers what it last wrote.
pub struct QuotaKeeper {
    store: KafkaCheckpointStore,
    written: Mutex<HashMap<String, DayState>>,
}

impl QuotaKeeper {
    pub fn new(store: KafkaCheckpointStore) -> Arc<Self> {
        Arc::new(Self {
            store,
            written: Mutex::new(HashMap::new()),
        })
    }

    /// Every stored day state, by bucket name; unreadable records are skipped (logged).
    pub async fn load(&self) -> Result<HashMap<String, DayState>, KafkaError> {
        let raw = self.store.load_quotas().await?;
        let mut out = HashMap::new();
        for (name, bytes) in raw {
            match serde_json::from_slice::<DayState>(&bytes) {
                Ok(d) => {
                    out.insert(name, d);
                }
                Err(e) => {
                    tracing::warn!(bucket = %name, error = %e, "stored quota state unreadable; the bucket starts a fresh count")
                }
            }
        }
        self.written
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(out.clone());
        Ok(out)
    }

    /// Writes the day state of every bucket of `limiters` that changed since written.
    pub async fn save(&self, limiters: &[(String, LimiterState)]) {
        let mut changed: HashMap<String, DayState> = HashMap::new();
        {
            let written = self.written.lock().unwrap_or_else(|p| p.into_inner());
            for (_, l) in limiters {
                let d = DayState::of(l);
                if written.get(&l.bucket) != Some(&d) {
                    changed.insert(l.bucket.clone(), d);
                }
            }
        }
        for (name, d) in changed {
            let bytes = serde_json::to_vec(&d).expect("a day state serializes");
            match self.store.save_quota(&name, bytes).await {
                Ok(()) => {
                    self.written
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(name, d);
                }
                Err(error) => {
                    tracing::warn!(bucket = %name, %error, "cannot store the day's quota state yet")
                }
            }
        }
    }
}
