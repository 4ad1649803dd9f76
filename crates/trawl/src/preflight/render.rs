//! The preflight report, as a table a person reads or as JSON for scripts.
//!
//! The table has one row per tenant stream (tenant, stream, verdict, what to fix), then
//! the totals: streams passed and failed, API requests (each under its account's rate
//! limiter, at most three per stream) and token requests (one per tenant, one more after
//! each token an API refused), and any note about the run itself (the day's stored
//! request counts not loaded, for example). The JSON holds the same, each stream with
//! the API's own words (`detail`).

use std::fmt::Write as _;

use serde::Serialize;

use super::verdict::StreamVerdict;

/// Everything one preflight run found.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Every stream passed.
    pub ok: bool,
    pub streams: Vec<StreamVerdict>,
    pub tenants: Vec<TenantTokens>,
    pub api_requests: u64,
    pub token_requests: u64,
    /// About the run itself, not a stream.
    pub notes: Vec<String>,
}

/// Token requests of one tenant.
#[derive(Debug, Clone, Serialize)]
pub struct TenantTokens {
    pub tenant: String,
    pub token_requests: u64,
}

impl Report {
    pub fn new(
        streams: Vec<StreamVerdict>,
        tenants: Vec<TenantTokens>,
        notes: Vec<String>,
    ) -> Self {
        Self {
            ok: streams.iter().all(|s| s.pass),
            api_requests: streams.iter().map(|s| u64::from(s.api_requests)).sum(),
            token_requests: tenants.iter().map(|t| t.token_requests).sum(),
            streams,
            tenants,
            notes,
        }
    }

    pub fn json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a report serializes") + "\n"
    }

    pub fn table(&self) -> String {
        let rows: Vec<[String; 4]> = self
            .streams
            .iter()
            .map(|s| {
                let verdict = if s.pass {
                    "pass".to_string()
                } else {
                    format!("FAIL: {}", s.finding.as_str())
                };
                let fix = if s.pass {
                    "-".to_string()
                } else {
                    s.fix.clone()
                };
                [s.tenant.clone(), s.stream.clone(), verdict, fix]
            })
            .collect();
        let head = ["TENANT", "STREAM", "VERDICT", "WHAT TO FIX"].map(String::from);
        let width = |i: usize| {
            rows.iter()
                .chain(std::iter::once(&head))
                .map(|r| r[i].chars().count())
                .max()
                .unwrap_or(0)
        };
        let (w0, w1, w2) = (width(0), width(1), width(2));
        let mut out = String::new();
        for r in std::iter::once(&head).chain(&rows) {
            let _ = writeln!(out, "{:w0$}  {:w1$}  {:w2$}  {}", r[0], r[1], r[2], r[3]);
        }
        let passed = self.streams.iter().filter(|s| s.pass).count();
        let _ = writeln!(
            out,
            "\n{}, {}: {passed} pass, {} fail. {} (each under its account's rate limiter, at \
             most 3 per stream), {} (one per tenant, one more after each token an API refused).",
            count(self.tenants.len() as u64, "tenant"),
            count(self.streams.len() as u64, "stream"),
            self.streams.len() - passed,
            count(self.api_requests, "API request"),
            count(self.token_requests, "token request"),
        );
        for n in &self.notes {
            let _ = writeln!(out, "note: {n}");
        }
        out
    }
}

/// "1 tenant", "2 tenants".
fn count(n: u64, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}
