//! A Zoom account's plan, which sets its API rate limits (see `trawl_sources::limits`).
//!
//! It lives in the model because both the configuration (what a user writes) and the
//! sources (what the vendor enforces) speak of it.

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Plan {
    Free,
    #[default]
    Pro,
    /// Business and every plan above it (Business Plus, Enterprise, Education, ...).
    #[serde(alias = "business_plus", alias = "enterprise", alias = "education")]
    Business,
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Plan::Free => "free",
            Plan::Pro => "pro",
            Plan::Business => "business",
        })
    }
}
