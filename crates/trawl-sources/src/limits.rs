//! The vendors' published rate limits, as numbers the engine's rate limiter starts from.
//!
//! Words: **rate limits** are the vendor's numbers (and a tenant's `rate_limits`
//! override of them); a **bucket** is trawl's pacing state for one account and one
//! [`LimitKey`], kept by the engine's `RateLimiter`.
//!
//! Zoom limits apply per account and per label, and are shared by every app installed on
//! that account; the Phone API has its own table. Zoho does not publish Mail API limits,
//! so a conservative default (30 requests a minute per organization) is used; the engine
//! lets a tenant override it. A [`LimitKey`] names one of an account's rate limits: all
//! streams of an account (whichever tenants name it) whose endpoints share a key share
//! one bucket.

use std::fmt;

use trawl_model::{Plan, SourceKind};

/// Which vendor table a limit comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ApiFamily {
    /// Zoom's main API (`/v2/report/...`).
    ZoomMain,
    /// Zoom Phone API (`/v2/phone/...`), limited separately.
    ZoomPhone,
    /// Zoho Mail API.
    ZohoMail,
}

impl ApiFamily {
    pub fn as_str(self) -> &'static str {
        match self {
            ApiFamily::ZoomMain => "zoom",
            ApiFamily::ZoomPhone => "zoom_phone",
            ApiFamily::ZohoMail => "zoho_mail",
        }
    }

    /// The family an API source is limited under.
    pub fn of(kind: SourceKind) -> Self {
        match kind {
            SourceKind::ZoomOperationLogs => ApiFamily::ZoomMain,
            SourceKind::ZoomPhoneOperationLogs => ApiFamily::ZoomPhone,
            SourceKind::ZohoMailAudit => ApiFamily::ZohoMail,
        }
    }
}

impl fmt::Display for ApiFamily {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One of an account's rate limits: (API family, rate-limit label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LimitKey {
    pub family: ApiFamily,
    /// `Heavy` for both Zoom endpoints, `Mail` for Zoho.
    pub label: &'static str,
}

impl LimitKey {
    pub const ZOOM_HEAVY: LimitKey = LimitKey {
        family: ApiFamily::ZoomMain,
        label: "Heavy",
    };
    pub const ZOOM_PHONE_HEAVY: LimitKey = LimitKey {
        family: ApiFamily::ZoomPhone,
        label: "Heavy",
    };
    pub const ZOHO_MAIL: LimitKey = LimitKey {
        family: ApiFamily::ZohoMail,
        label: "Mail",
    };

    /// The rate limit a source's requests count against.
    pub fn of(kind: SourceKind) -> Self {
        match kind {
            SourceKind::ZoomOperationLogs => Self::ZOOM_HEAVY,
            SourceKind::ZoomPhoneOperationLogs => Self::ZOOM_PHONE_HEAVY,
            SourceKind::ZohoMailAudit => Self::ZOHO_MAIL,
        }
    }
}

impl fmt::Display for LimitKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.family, self.label)
    }
}

/// An account's rate limits for one [`LimitKey`]: sustained requests per second and the
/// daily cap (resets 00:00 UTC).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimits {
    pub per_second: f64,
    pub daily: Option<u32>,
}

/// Zoho's default: about 30 requests a minute per organization, no daily cap.
pub const ZOHO_DEFAULT: RateLimits = RateLimits {
    per_second: 0.5,
    daily: None,
};

/// The limits of the `Heavy` label (the one every endpoint trawl calls carries) for a
/// family and plan, from the vendor's tables.
pub fn plan_rate_limits(family: ApiFamily, plan: Plan) -> RateLimits {
    let (per_second, daily) = match (family, plan) {
        (ApiFamily::ZoomMain, Plan::Free) => (1.0, Some(1_000)),
        (ApiFamily::ZoomMain, Plan::Pro) => (10.0, Some(30_000)),
        (ApiFamily::ZoomMain, Plan::Business) => (40.0, Some(60_000)),
        // Zoom Phone needs a paid plan; a Free account gets the most careful numbers.
        (ApiFamily::ZoomPhone, Plan::Free) => (1.0, Some(1_000)),
        (ApiFamily::ZoomPhone, Plan::Pro) => (5.0, Some(15_000)),
        (ApiFamily::ZoomPhone, Plan::Business) => (10.0, Some(30_000)),
        (ApiFamily::ZohoMail, _) => return ZOHO_DEFAULT,
    };
    RateLimits { per_second, daily }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_match_the_vendor_docs() {
        let l = plan_rate_limits(ApiFamily::ZoomMain, Plan::Pro);
        assert_eq!((l.per_second, l.daily), (10.0, Some(30_000)));
        let l = plan_rate_limits(ApiFamily::ZoomMain, Plan::Business);
        assert_eq!((l.per_second, l.daily), (40.0, Some(60_000)));
        let l = plan_rate_limits(ApiFamily::ZoomMain, Plan::Free);
        assert_eq!((l.per_second, l.daily), (1.0, Some(1_000)));
        let l = plan_rate_limits(ApiFamily::ZoomPhone, Plan::Pro);
        assert_eq!((l.per_second, l.daily), (5.0, Some(15_000)));
        let l = plan_rate_limits(ApiFamily::ZoomPhone, Plan::Business);
        assert_eq!((l.per_second, l.daily), (10.0, Some(30_000)));
        assert_eq!(
            plan_rate_limits(ApiFamily::ZohoMail, Plan::Pro),
            ZOHO_DEFAULT
        );
    }

    #[test]
    fn each_source_has_its_bucket() {
        assert_eq!(LimitKey::of(SourceKind::ZoomOperationLogs).label, "Heavy");
        assert_ne!(
            LimitKey::of(SourceKind::ZoomOperationLogs),
            LimitKey::of(SourceKind::ZoomPhoneOperationLogs)
        );
        assert_eq!(
            LimitKey::of(SourceKind::ZohoMailAudit).to_string(),
            "zoho_mail/Mail"
        );
    }
}
