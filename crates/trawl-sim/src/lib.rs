//! trawl-sim: a faithful, adversarial simulator of the Zoom and Zoho audit APIs.
//!
//! Nobody can reach Zoom or Zoho from the test machines, and customers' quotas are too
//! precious to test against, so trawl is built and tested against this instead. One
//! listener serves Zoom's S2S OAuth and operation-log reports (account and Phone),
//! Zoho's OAuth and Mail audit records, with their real error bodies, rate limits,
//! expiring tokens and page tokens, identical and late records, and faults on demand.
//! Everything runs on a simulated clock ([`SimHandle::advance`]), and the simulator
//! tells the truth about itself ([`SimHandle::ground_truth`], [`SimHandle::stats`]) so
//! tests can prove completeness.

mod clock;
mod config;
mod data;
mod faults;
mod introspect;
mod limits;
mod oauth;
mod reply;
mod server;
mod state;
mod stats;
mod zoho;
mod zoom;
mod zoom_listing;
mod zoom_params;

pub use config::{
    ClockConfig, ConfigError, DataConfig, DateZone, Faults, HorizonError, Jitter, LastPage,
    LimitHeaders, LimitOverrides, NoPhone, Order, PageTokens, PagingConfig, Plan, RateLimitConfig,
    RetryAfterFormat, SimConfig, VoidMessage, ZohoApi, ZohoEnd, ZohoOrg, ZohoSelect, ZohoThrottle,
    ZoomAccount,
};
pub use server::{SimHandle, Simulator};
pub use stats::{AccountStats, FaultStats, LimitStats, SimStats};

use serde::{Deserialize, Serialize};

/// One of the three simulated audit APIs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SimApi {
    /// `GET /v2/report/operationlogs`
    ZoomOperationLogs,
    /// `GET /v2/phone/reports/operationlogs`
    ZoomPhoneOperationLogs,
    /// `GET /api/organization/{zoid}/activity`
    ZohoMailAudit,
}

impl SimApi {
    pub fn as_str(self) -> &'static str {
        match self {
            SimApi::ZoomOperationLogs => "zoom_operation_logs",
            SimApi::ZoomPhoneOperationLogs => "zoom_phone_operation_logs",
            SimApi::ZohoMailAudit => "zoho_mail_audit",
        }
    }

    /// The rate-limit family the API's requests count against.
    pub fn family(self) -> SimFamily {
        match self {
            SimApi::ZoomOperationLogs => SimFamily::ZoomMain,
            SimApi::ZoomPhoneOperationLogs => SimFamily::ZoomPhone,
            SimApi::ZohoMailAudit => SimFamily::ZohoMail,
        }
    }
}

impl std::str::FromStr for SimApi {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "zoom_operation_logs" => Ok(SimApi::ZoomOperationLogs),
            "zoom_phone_operation_logs" => Ok(SimApi::ZoomPhoneOperationLogs),
            "zoho_mail_audit" => Ok(SimApi::ZohoMailAudit),
            other => Err(format!("unknown api {other:?}")),
        }
    }
}

/// A rate-limit family: each has its own plan table and daily cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SimFamily {
    ZoomMain,
    ZoomPhone,
    ZohoMail,
}

impl SimFamily {
    /// The rate-limit label of the endpoint trawl calls in this family.
    pub fn label(self) -> &'static str {
        match self {
            SimFamily::ZoomMain | SimFamily::ZoomPhone => "Heavy",
            SimFamily::ZohoMail => "Mail",
        }
    }
}
