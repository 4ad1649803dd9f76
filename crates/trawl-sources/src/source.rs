//! The face the engine sees: one [`Source`] per tenant stream, built by
//! [`build_source`] from a tenant's [`SourceSettings`] (made from its
//! [`TenantAccess`]).
//!
//! A source knows its stream, the rate-limit bucket it is charged to, the window sizes
//! its API allows and how far back the API keeps data, and hands out a [`WindowScan`]
//! per window. It holds no timers and spawns nothing: the engine drives it.

use std::fmt;
use std::sync::Arc;

use chrono::Duration;
use trawl_model::{Provider, SourceKind, StreamKey, TenantId, Window};
use url::Url;

use crate::access::TenantAccess;
use crate::auth::{TokenCache, ZohoCredentials, ZoomCredentials};
use crate::error::SourceError;
use crate::limits::LimitKey;
use crate::scan::WindowScan;
use crate::zoho::mail_audit::ZohoMailAudit;
use crate::zoom::operation_logs::ZoomOperationLogs;
use crate::zoom::phone_operation_logs::ZoomPhoneOperationLogs;
use crate::zoom::ZoomCommon;

/// Zoom serves at most one calendar month per request (`to <= from + 1 month`); 28 days
/// fit in every month, February included (30 days from 13 February do not).
pub const MAX_WINDOW_DAYS: i64 = 28;
/// Zoom keeps operation logs for 6 months; used for Zoho too (its retention is not
/// published).
pub const RETENTION_DAYS: i64 = 182;

/// One tenant stream's API. `Arc<dyn Source>`; cheap to share.
pub trait Source: Send + Sync + 'static {
    fn stream(&self) -> &StreamKey;
    /// The bucket its requests are charged to.
    fn limit_key(&self) -> LimitKey;
    /// Longest window one scan should cover (a longer one is walked in pieces).
    fn max_window(&self) -> Duration {
        Duration::days(MAX_WINDOW_DAYS)
    }
    /// Window size for backfill.
    fn backfill_step(&self) -> Duration {
        Duration::days(1)
    }
    /// How far back the API keeps data.
    fn retention(&self) -> Duration {
        Duration::days(RETENTION_DAYS)
    }
    /// Where the API's days begin, as seen so far: its date `d` covers
    /// `[d 00:00Z - offset, d + 1 day - offset)` (Zoom may read dates in the account's
    /// time zone). Backfill windows are cut at these midnights, so a date-granular API
    /// answers each window with one date. Zero for APIs without dates.
    fn day_offset(&self) -> Duration {
        Duration::zero()
    }
    /// Whether [`Source::day_offset`] is known (an answer showed where the API's days
    /// begin). Until then windows cut at a guessed midnight may each need a
    /// neighbouring date asked, so the backfill runs fewer windows at once. Always true
    /// for APIs without dates.
    fn day_offset_known(&self) -> bool {
        true
    }
    /// The OAuth scopes any one of which opens the endpoint, as a token answer names
    /// them (empty: the vendor's token answer does not list them usefully).
    fn scopes(&self) -> &'static [&'static str] {
        &[]
    }
    /// Starts walking `window`.
    fn scan(self: Arc<Self>, window: Window) -> WindowScan;
}

/// Where and how a tenant's API is reached, beyond its token: the part of its
/// [`TenantAccess`] the sources read.
#[derive(Debug, Clone)]
pub enum SourceAccess {
    Zoom {
        /// `https://api.zoom.us` (`https://api.zoomgov.com` for Government).
        api_base: Url,
        /// `category_type` of the account operation logs (`all` when `None`). The Phone
        /// endpoint has its own categories and always reads all of them.
        category_type: Option<String>,
    },
    Zoho {
        zoid: String,
        /// `https://mail.zoho.com` or the data center's equivalent.
        mail_base: Url,
        /// Optional `searchKey` filter, e.g. `category:1003`.
        search_key: Option<String>,
    },
}

/// What a tenant's sources are built from ([`SourceSettings::new`]). Secrets live in
/// `tokens`.
#[derive(Clone)]
pub struct SourceSettings {
    pub tenant: TenantId,
    pub access: SourceAccess,
    /// The tenant's one token cache, shared by all its streams.
    pub tokens: Arc<TokenCache>,
    /// The process's shared HTTP client.
    pub client: reqwest::Client,
    /// Records per page; `None` means the API's maximum (Zoom 300, Zoho 200).
    pub page_size: Option<u32>,
}

impl fmt::Debug for SourceSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SourceSettings")
            .field("tenant", &self.tenant)
            .field("access", &self.access)
            .field("tokens", &self.tokens)
            .field("page_size", &self.page_size)
            .finish_non_exhaustive()
    }
}

impl SourceSettings {
    /// A tenant's settings, with a new token cache for its credentials.
    pub fn new(tenant: TenantId, access: &TenantAccess, client: reqwest::Client) -> Self {
        let tokens = match access {
            TenantAccess::Zoom { credentials, .. } => {
                TokenCache::zoom(tenant.clone(), credentials.clone(), client.clone())
            }
            TenantAccess::Zoho { credentials, .. } => {
                TokenCache::zoho(tenant.clone(), credentials.clone(), client.clone())
            }
        };
        Self {
            tenant,
            access: access.endpoints(),
            tokens: Arc::new(tokens),
            client,
            page_size: None,
        }
    }

    /// A Zoom tenant (see [`SourceSettings::new`]).
    pub fn zoom(
        tenant: TenantId,
        credentials: ZoomCredentials,
        api_base: Url,
        category_type: Option<String>,
        client: reqwest::Client,
    ) -> Self {
        let access = TenantAccess::Zoom {
            credentials,
            api_base,
            category_type,
        };
        Self::new(tenant, &access, client)
    }

    /// A Zoho tenant (see [`SourceSettings::new`]).
    pub fn zoho(
        tenant: TenantId,
        credentials: ZohoCredentials,
        mail_base: Url,
        search_key: Option<String>,
        client: reqwest::Client,
    ) -> Self {
        let access = TenantAccess::Zoho {
            credentials,
            mail_base,
            search_key,
        };
        Self::new(tenant, &access, client)
    }

    pub fn provider(&self) -> Provider {
        match self.access {
            SourceAccess::Zoom { .. } => Provider::Zoom,
            SourceAccess::Zoho { .. } => Provider::Zoho,
        }
    }
}

/// Builds the source of one stream. Fails when `kind` is not of the tenant's provider
/// or the token cache belongs to another provider.
pub fn build_source(
    kind: SourceKind,
    settings: &SourceSettings,
) -> Result<Arc<dyn Source>, SourceError> {
    let mismatch = || {
        SourceError::permanent(format!(
            "tenant {}: stream {kind} needs {} access, but the tenant is configured for {}",
            settings.tenant,
            kind.provider(),
            settings.provider()
        ))
    };
    if settings.tokens.provider() != settings.provider() {
        return Err(mismatch());
    }
    let stream = StreamKey::new(settings.tenant.clone(), kind);
    Ok(match (kind, &settings.access) {
        (
            SourceKind::ZoomOperationLogs,
            SourceAccess::Zoom {
                api_base,
                category_type,
            },
        ) => {
            let common = ZoomCommon::new(stream, settings, api_base.clone());
            Arc::new(ZoomOperationLogs::new(common, category_type.clone()))
        }
        (SourceKind::ZoomPhoneOperationLogs, SourceAccess::Zoom { api_base, .. }) => {
            let common = ZoomCommon::new(stream, settings, api_base.clone());
            Arc::new(ZoomPhoneOperationLogs::new(common))
        }
        (
            SourceKind::ZohoMailAudit,
            SourceAccess::Zoho {
                zoid,
                mail_base,
                search_key,
            },
        ) => Arc::new(ZohoMailAudit::new(
            stream,
            settings,
            zoid.clone(),
            mail_base.clone(),
            search_key.clone(),
        )),
        _ => return Err(mismatch()),
    })
}
