//! One tenant: an inline `[[tenants]]` entry or a file of `tenants_dir`.
//!
//! The provider decides which keys are allowed (a Zoom tenant has no `refresh_token`),
//! which streams exist and which credentials are required. Every field is checked even
//! after an earlier one failed, so one pass reports all of a tenant's problems.
//!
//! Base URLs must be `https://` unless loopback (the simulator) or
//! `allow_insecure_http = true`, and may not name a private or link-local address
//! unless `allow_private_network = true` ([`check_base_url`]).

use std::collections::BTreeMap;

use secrecy::SecretString;
use trawl_engine::config::{RateLimitOverride, StreamSettings, TenantAccess, TenantSpec};
use trawl_model::{Plan, Provider, SourceKind, TenantId};
use trawl_sources::{ZohoCredentials, ZoomCredentials};
use url::Url;

use super::error::{Problems, Reported};
use super::fields::{kind, parse_base_url, unknown_key_reason, Field, Table};
use super::provider::{
    parse_plan, parse_provider, parse_stream, provider_keys, streams_of, zoho_bases,
    DEFAULT_DATA_CENTER, ZOHO_KEYS, ZOOM_API_BASE, ZOOM_KEYS, ZOOM_OAUTH_BASE,
};
use super::secrets::secret;
use super::sections::{stream_settings, STREAM_KEYS};
use super::urls::{check_base_url, UrlPolicy};

/// Keys every tenant may have, whatever its provider.
const COMMON_KEYS: &[&str] = &[
    "id",
    "provider",
    "streams",
    "rate_limits",
    "allow_insecure_http",
    "allow_private_network",
];

/// Reads one tenant; `None` when it has a problem (all of them recorded).
pub(crate) fn tenant(
    t: &Table<'_>,
    defaults: StreamSettings,
    p: &mut Problems,
) -> Option<TenantSpec> {
    let before = p.errors.len();
    let id = match t.string("id", p) {
        Ok(Some(s)) => TenantId::new(s)
            .map_err(|e| p.error(t.at("id"), e.to_string()))
            .ok(),
        Ok(None) => {
            p.error(
                t.at("id"),
                "is required: the tenant's name in keys, topics and metrics",
            );
            None
        }
        Err(_) => None,
    };
    let provider = match t.string("provider", p) {
        Ok(Some(s)) => parse_provider(&s)
            .map_err(|e| p.error(t.at("provider"), e))
            .ok(),
        Ok(None) => {
            p.error(t.at("provider"), "is required: \"zoom\" or \"zoho\"");
            None
        }
        Err(_) => None,
    };
    check_keys(t, provider, p);
    let provider = provider?;

    let streams = streams(t, provider, p);
    let plan = match t.string("plan", p) {
        Ok(Some(s)) => parse_plan(&s)
            .map_err(|e| p.error(t.at("plan"), e))
            .unwrap_or_default(),
        _ => Plan::default(),
    };
    let policy = UrlPolicy {
        insecure_http: t.bool("allow_insecure_http", p).ok().flatten() == Some(true),
        private_network: t.bool("allow_private_network", p).ok().flatten() == Some(true),
    };
    let access = match provider {
        Provider::Zoom => zoom(t, policy, p),
        Provider::Zoho => zoho(t, policy, p),
    };
    let settings = stream_settings(t, defaults, p);
    let rate_limits = rate_limits(t, provider, &streams, p);

    if p.errors.len() > before {
        return None;
    }
    Some(TenantSpec {
        id: id?,
        streams,
        plan,
        access: access?,
        settings,
        rate_limits,
    })
}

/// Refuses keys that are neither common nor the provider's, naming the provider a
/// misplaced credential belongs to.
fn check_keys(t: &Table<'_>, provider: Option<Provider>, p: &mut Problems) {
    let mut allowed: Vec<&str> = COMMON_KEYS.iter().chain(STREAM_KEYS).copied().collect();
    match provider {
        Some(pr) => allowed.extend(provider_keys(pr)),
        None => allowed.extend(ZOOM_KEYS.iter().chain(ZOHO_KEYS)),
    }
    for key in t.keys().filter(|k| !allowed.contains(k)) {
        let other = [Provider::Zoom, Provider::Zoho]
            .into_iter()
            .find(|o| Some(*o) != provider && provider_keys(*o).contains(&key));
        let reason = match (other, provider) {
            (Some(o), Some(pr)) => format!("is a {o} setting, but this tenant's provider is {pr}"),
            _ => unknown_key_reason(key, &allowed),
        };
        p.error(t.at(key), reason);
    }
}

fn streams(t: &Table<'_>, provider: Provider, p: &mut Problems) -> Vec<SourceKind> {
    let Ok(Some(items)) = t.array("streams", p) else {
        return streams_of(provider);
    };
    if items.is_empty() {
        p.error(
            t.at("streams"),
            "must list at least one stream (leave it out for all of the provider's streams)",
        );
    }
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let at = format!("{}[{i}]", t.at("streams"));
        let Some(name) = item.as_str() else {
            p.error(at, format!("expected a stream name, found {}", kind(item)));
            continue;
        };
        match parse_stream(provider, name) {
            Ok(k) if out.contains(&k) => {
                p.error(at, format!("{name:?} is listed twice"));
            }
            Ok(k) => out.push(k),
            Err(reason) => {
                p.error(at, reason);
            }
        }
    }
    out
}

/// A required field: absent is an error naming the provider.
fn required<T>(
    f: Field<T>,
    t: &Table<'_>,
    key: &str,
    provider: Provider,
    p: &mut Problems,
) -> Option<T> {
    match f {
        Ok(Some(v)) => Some(v),
        Ok(None) => {
            p.error(t.at(key), format!("is required for a {provider} tenant"));
            None
        }
        Err(Reported) => None,
    }
}

/// An optional base URL allowed by `policy`, or the default.
fn base(
    t: &Table<'_>,
    key: &str,
    default: &str,
    policy: UrlPolicy,
    p: &mut Problems,
) -> Option<Url> {
    match t.url(key, p) {
        Ok(Some(u)) => match check_base_url(&u, policy) {
            Ok(()) => Some(u),
            Err(reason) => {
                p.error(t.at(key), reason);
                None
            }
        },
        Ok(None) => parse_base_url(default).ok(),
        Err(Reported) => None,
    }
}

fn zoom(t: &Table<'_>, policy: UrlPolicy, p: &mut Problems) -> Option<TenantAccess> {
    let z = Provider::Zoom;
    let account_id = required(t.string("account_id", p), t, "account_id", z, p);
    let client_id = required(t.string("client_id", p), t, "client_id", z, p);
    let client_secret: Option<SecretString> =
        required(secret(t, "client_secret", p), t, "client_secret", z, p);
    let api_base = base(t, "api_base", ZOOM_API_BASE, policy, p);
    let oauth_base = base(t, "oauth_base", ZOOM_OAUTH_BASE, policy, p);
    let category_type = t.string("category_type", p).unwrap_or(None);
    Some(TenantAccess::Zoom {
        credentials: ZoomCredentials {
            account_id: account_id?,
            client_id: client_id?,
            client_secret: client_secret?,
            oauth_base: oauth_base?,
        },
        api_base: api_base?,
        category_type,
    })
}

fn zoho(t: &Table<'_>, policy: UrlPolicy, p: &mut Problems) -> Option<TenantAccess> {
    let z = Provider::Zoho;
    let zoid = required(t.string("zoid", p), t, "zoid", z, p).and_then(|s| {
        let ok = s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        ok.then_some(s).or_else(|| {
            p.error(
                t.at("zoid"),
                "may only hold letters, digits, '.', '_' and '-'",
            );
            None
        })
    });
    let client_id = required(t.string("client_id", p), t, "client_id", z, p);
    let client_secret = required(secret(t, "client_secret", p), t, "client_secret", z, p);
    let refresh_token = required(secret(t, "refresh_token", p), t, "refresh_token", z, p);
    let dc = t.string("data_center", p).unwrap_or(None);
    let (mail, accounts) = match zoho_bases(dc.as_deref().unwrap_or(DEFAULT_DATA_CENTER)) {
        Ok(bases) => bases,
        Err(reason) => {
            p.error(t.at("data_center"), reason);
            zoho_bases(DEFAULT_DATA_CENTER).ok()?
        }
    };
    let mail_base = base(t, "mail_base", &mail, policy, p);
    let accounts_base = base(t, "accounts_base", &accounts, policy, p);
    let search_key = t.string("search_key", p).unwrap_or(None);
    Some(TenantAccess::Zoho {
        credentials: ZohoCredentials {
            zoid: zoid?,
            client_id: client_id?,
            client_secret: client_secret?,
            refresh_token: refresh_token?,
            accounts_base: accounts_base?,
        },
        mail_base: mail_base?,
        search_key,
    })
}

/// The slowest and fastest per-second rate a tenant may set: one request in 1,000 s is
/// slower than any real use, and no vendor API allows 10,000 a second.
const MIN_RATE: f64 = 0.001;
const MAX_RATE: f64 = 10_000.0;

/// `rate_limits.<stream> = { per_second = .., daily = .. }`.
fn rate_limits(
    t: &Table<'_>,
    provider: Provider,
    streams: &[SourceKind],
    p: &mut Problems,
) -> BTreeMap<SourceKind, RateLimitOverride> {
    let mut out = BTreeMap::new();
    let names: Vec<&str> = streams_of(provider)
        .iter()
        .map(|k| k.stream_name())
        .collect();
    let Ok(Some(table)) = t.table("rate_limits", &names, p) else {
        return out;
    };
    for name in table.keys() {
        let Ok(kind) = parse_stream(provider, name) else {
            continue; // refused as an unknown key above
        };
        let Ok(Some(limits)) = table.table(name, &["per_second", "daily"], p) else {
            continue;
        };
        let mut o = RateLimitOverride::default();
        match limits.float("per_second", p) {
            Ok(Some(r)) if (MIN_RATE..=MAX_RATE).contains(&r) => o.per_second = Some(r),
            Ok(Some(r)) => {
                p.error(
                    limits.at("per_second"),
                    format!(
                        "{r} is not a rate between {MIN_RATE} and {MAX_RATE} requests a second"
                    ),
                );
            }
            _ => {}
        }
        if let Ok(Some(d)) = limits.int("daily", p) {
            match u32::try_from(d) {
                Ok(d) if d > 0 => o.daily = Some(d),
                _ => {
                    p.error(
                        limits.at("daily"),
                        format!("{d} is not between 1 and {}", u32::MAX),
                    );
                }
            }
        }
        if !streams.contains(&kind) {
            p.warn(
                table.at(name),
                "has no effect: the stream is not in this tenant's streams",
            );
        }
        out.insert(kind, o);
    }
    out
}
