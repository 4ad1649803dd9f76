//! What depends on a tenant's provider: its streams, its plan names, its credential keys
//! and, for Zoho, the data centers that decide both API hosts.
//!
//! Kept apart from the tenant reader so the vendor facts (API_FACTS.md) sit in one
//! short list each.

use trawl_model::{Plan, Provider, SourceKind};
use trawl_sources::DataCenter;

/// Tenant keys that only Zoom tenants have.
pub(crate) const ZOOM_KEYS: &[&str] = &[
    "plan",
    "account_id",
    "client_id",
    "client_secret",
    "api_base",
    "oauth_base",
    "category_type",
];

/// Tenant keys that only Zoho tenants have.
pub(crate) const ZOHO_KEYS: &[&str] = &[
    "zoid",
    "client_id",
    "client_secret",
    "refresh_token",
    "data_center",
    "mail_base",
    "accounts_base",
    "search_key",
];

pub(crate) const ZOOM_API_BASE: &str = "https://api.zoom.us";
pub(crate) const ZOOM_OAUTH_BASE: &str = "https://zoom.us";

pub(crate) fn provider_keys(provider: Provider) -> &'static [&'static str] {
    match provider {
        Provider::Zoom => ZOOM_KEYS,
        Provider::Zoho => ZOHO_KEYS,
    }
}

pub(crate) fn parse_provider(s: &str) -> Result<Provider, String> {
    match s {
        "zoom" => Ok(Provider::Zoom),
        "zoho" => Ok(Provider::Zoho),
        other => Err(format!(
            "unknown provider {other:?}; expected \"zoom\" or \"zoho\""
        )),
    }
}

/// The provider's streams, in their config spelling (`operation_logs`, ...).
pub(crate) fn streams_of(provider: Provider) -> Vec<SourceKind> {
    SourceKind::ALL
        .into_iter()
        .filter(|k| k.provider() == provider)
        .collect()
}

fn stream_list(provider: Provider) -> String {
    streams_of(provider)
        .iter()
        .map(|k| k.stream_name())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A stream named in a tenant's `streams`, as `operation_logs` or `zoom.operation_logs`.
pub(crate) fn parse_stream(provider: Provider, name: &str) -> Result<SourceKind, String> {
    let found = SourceKind::from_stream_name(provider, name)
        .or_else(|| name.parse::<SourceKind>().ok())
        .or_else(|| {
            SourceKind::ALL
                .into_iter()
                .find(|k| k.stream_name() == name)
        });
    match found {
        Some(k) if k.provider() == provider => Ok(k),
        Some(k) => Err(format!(
            "{name:?} is a {} stream; {provider} streams are {}",
            k.provider(),
            stream_list(provider)
        )),
        None => Err(format!(
            "unknown stream {name:?}; {provider} streams are {}",
            stream_list(provider)
        )),
    }
}

/// A Zoom plan name (`business_plus`, `enterprise` and `education` count as business).
pub(crate) fn parse_plan(s: &str) -> Result<Plan, String> {
    match s {
        "free" => Ok(Plan::Free),
        "pro" => Ok(Plan::Pro),
        "business" | "business_plus" | "enterprise" | "education" => Ok(Plan::Business),
        other => Err(format!(
            "unknown plan {other:?}; expected free, pro or business"
        )),
    }
}

pub(crate) const DEFAULT_DATA_CENTER: &str = "com";

/// `(mail_base, accounts_base)` of a data center, from the one table of Zoho hosts
/// (`trawl_sources::DataCenter`); `us`, `au` and `cn` are accepted as the names people
/// use for `com`, `com.au` and `com.cn`.
pub(crate) fn zoho_bases(dc: &str) -> Result<(String, String), String> {
    let center: DataCenter = dc.parse().map_err(|_| {
        let names: Vec<&str> = DataCenter::ALL.iter().map(|d| d.as_str()).collect();
        format!(
            "unknown data center {dc:?}; expected one of {}",
            names.join(", ")
        )
    })?;
    let bare = |u: url::Url| u.as_str().trim_end_matches('/').to_string();
    Ok((bare(center.mail_base()), bare(center.accounts_base())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_checked_against_the_provider() {
        assert_eq!(
            parse_stream(Provider::Zoom, "phone_operation_logs"),
            Ok(SourceKind::ZoomPhoneOperationLogs)
        );
        assert_eq!(
            parse_stream(Provider::Zoho, "zoho.mail_audit"),
            Ok(SourceKind::ZohoMailAudit)
        );
        assert_eq!(
            parse_stream(Provider::Zoom, "mail_audit").unwrap_err(),
            "\"mail_audit\" is a zoho stream; zoom streams are operation_logs, phone_operation_logs"
        );
        assert_eq!(
            parse_stream(Provider::Zoho, "audit").unwrap_err(),
            "unknown stream \"audit\"; zoho streams are mail_audit"
        );
    }

    #[test]
    fn data_centers_give_both_hosts() {
        assert_eq!(
            zoho_bases("eu"),
            Ok((
                "https://mail.zoho.eu".into(),
                "https://accounts.zoho.eu".into()
            ))
        );
        assert_eq!(zoho_bases("ca").unwrap().0, "https://mail.zohocloud.ca");
        assert_eq!(zoho_bases("us"), zoho_bases("com"));
        assert!(zoho_bases("de")
            .unwrap_err()
            .contains("expected one of com, eu"));
        assert_eq!(parse_plan("enterprise"), Ok(Plan::Business));
    }
}
