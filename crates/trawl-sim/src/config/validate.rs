//! Refusing configurations that cannot be simulated, with every problem and its path.
//!
//! Kept beside the types so a reader of `config` sees the shapes first, the rules here.

use std::collections::HashSet;

use super::{Faults, SimConfig};

/// A configuration that cannot be simulated.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config does not parse: {0}")]
    Parse(#[from] toml::de::Error),
    #[error("invalid config: {}", .0.join("; "))]
    Invalid(Vec<String>),
}

impl SimConfig {
    /// Parses and validates TOML.
    pub fn from_toml_str(text: &str) -> Result<SimConfig, ConfigError> {
        let config: SimConfig = toml::from_str(text)?;
        config.validate()?;
        Ok(config)
    }

    /// Lists every problem at once, with the field's path.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut problems = Vec::new();
        let rate = |v: f64| (0.0..=1.0).contains(&v);
        if !(self.clock.speed >= 0.0 && self.clock.speed.is_finite()) {
            problems.push("clock.speed: must be a finite number >= 0".to_string());
        }
        if self.token_ttl_secs == 0 || self.page_token_ttl_secs == 0 {
            problems.push("token_ttl_secs / page_token_ttl_secs: must be > 0".to_string());
        }
        let mut seen = HashSet::new();
        for (i, a) in self.zoom_accounts.iter().enumerate() {
            if a.account_id.is_empty() {
                problems.push(format!("zoom_accounts[{i}].account_id: empty"));
            }
            if !seen.insert(a.account_id.as_str()) {
                problems.push(format!(
                    "zoom_accounts[{i}].account_id: duplicate {:?}",
                    a.account_id
                ));
            }
            if !(0.0..1.0).contains(&a.neighbour_share) {
                problems.push(format!(
                    "zoom_accounts[{i}].neighbour_share: must be in [0, 1)"
                ));
            }
            // Every time zone in use is a whole number of quarter hours from UTC, between
            // UTC-12 and UTC+14.
            if !(-720..=840).contains(&a.utc_offset_minutes) || a.utc_offset_minutes % 15 != 0 {
                problems.push(format!(
                    "zoom_accounts[{i}].utc_offset_minutes: must be a multiple of 15 in -720..=840, got {}",
                    a.utc_offset_minutes
                ));
            }
            for s in &a.missing_scopes {
                if !crate::zoom::KNOWN_SCOPES.contains(&s.as_str()) {
                    problems.push(format!(
                        "zoom_accounts[{i}].missing_scopes: unknown scope {s:?} (known: {})",
                        crate::zoom::KNOWN_SCOPES.join(", ")
                    ));
                }
            }
        }
        let mut seen = HashSet::new();
        let mut refresh = HashSet::new();
        for (i, o) in self.zoho_orgs.iter().enumerate() {
            if o.zoid.is_empty() {
                problems.push(format!("zoho_orgs[{i}].zoid: empty"));
            }
            if !seen.insert(o.zoid.as_str()) {
                problems.push(format!("zoho_orgs[{i}].zoid: duplicate {:?}", o.zoid));
            }
            if !refresh.insert(o.refresh_token.as_str()) {
                problems.push(format!(
                    "zoho_orgs[{i}].refresh_token: shared with another org"
                ));
            }
            if o.window_secs == 0 {
                problems.push(format!("zoho_orgs[{i}].window_secs: must be > 0"));
            }
            if o.requests_per_minute == 0 {
                problems.push(format!("zoho_orgs[{i}].requests_per_minute: must be > 0"));
            }
        }
        let d = &self.data;
        if !rate(d.duplicate_share)
            || !rate(d.late_share)
            || !rate(d.unparseable_share)
            || !rate(d.oversized_share)
        {
            problems.push("data: shares must be in [0, 1]".to_string());
        }
        if !(0.0..1.0).contains(&self.paging.empty_page_rate) {
            problems.push("paging.empty_page_rate: must be in [0, 1)".to_string());
        }
        if self.paging.page_size_cap == Some(0) {
            problems.push("paging.page_size_cap: must be at least 1".to_string());
        }
        if !rate(self.rate_limits.drop_header_rate) {
            problems.push("rate_limits.drop_header_rate: must be in [0, 1]".to_string());
        }
        if let Err(e) = self.faults.check() {
            problems.push(e);
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid(problems))
        }
    }
}

impl Faults {
    /// Every rate within [0, 1].
    pub fn check(&self) -> Result<(), String> {
        let rates = [
            ("server_error_rate", self.server_error_rate),
            ("html_error_rate", self.html_error_rate),
            ("malformed_rate", self.malformed_rate),
            ("dropped_connection_rate", self.dropped_connection_rate),
            ("slow_body_rate", self.slow_body_rate),
        ];
        for (name, v) in rates {
            if !(0.0..=1.0).contains(&v) {
                return Err(format!("faults.{name}: must be in [0, 1], got {v}"));
            }
        }
        Ok(())
    }
}
