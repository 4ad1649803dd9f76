//! The rules for a tenant's base URLs: where trawl may send a tenant's credentials.
//!
//! `https://` only, except to loopback (the simulator) or with `allow_insecure_http`;
//! never to a private, link-local (cloud metadata), carrier-grade NAT or unspecified
//! address literal, except with `allow_private_network`. Host names are not resolved
//! here: a DNS lookup at load would itself be a probe of the network the rule protects.

use std::net::IpAddr;

use url::{Host, Url};

/// What a tenant allows its base URLs beyond the default (https to a public host).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct UrlPolicy {
    /// `allow_insecure_http = true`: plain http to any host.
    pub insecure_http: bool,
    /// `allow_private_network = true`: private, link-local and other internal addresses.
    pub private_network: bool,
}

/// Checks a base URL against `policy`: `https://` unless the host is loopback (the
/// simulator) or plain http is allowed; no private or link-local address literal unless
/// allowed. Host names are not resolved (a lookup at load would itself be a probe), so
/// `localhost` counts as loopback and every other name as public.
pub(crate) fn check_base_url(url: &Url, policy: UrlPolicy) -> Result<(), String> {
    let ip = match url.host() {
        Some(Host::Ipv4(a)) => Some(IpAddr::V4(a)),
        Some(Host::Ipv6(a)) => Some(a.to_ipv4_mapped().map_or(IpAddr::V6(a), IpAddr::V4)),
        Some(Host::Domain(d)) if d.eq_ignore_ascii_case("localhost") => {
            Some(IpAddr::from([127, 0, 0, 1]))
        }
        _ => None,
    };
    let loopback = ip.is_some_and(|a| a.is_loopback());
    if url.scheme() == "http" && !loopback && !policy.insecure_http {
        return Err(format!(
            "{:?} is plain http to a host that is not loopback: credentials and audit data \
             would travel unencrypted; use https, or set allow_insecure_http = true",
            url.as_str()
        ));
    }
    if let Some(why) = ip.and_then(internal_address) {
        if !policy.private_network {
            return Err(format!(
                "{:?} points at {why}: a tenant file must not turn trawl into a probe of the \
                 internal network; set allow_private_network = true if this is intended",
                url.as_str()
            ));
        }
    }
    Ok(())
}

/// What kind of internal address `ip` is, if it is one (loopback is allowed).
fn internal_address(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(a) => {
            let [o0, o1, ..] = a.octets();
            if a.is_private() {
                Some("a private address")
            } else if a.is_link_local() {
                Some("a link-local address (cloud metadata services live there)")
            } else if o0 == 100 && (64..128).contains(&o1) {
                Some("a shared (carrier-grade NAT) address")
            } else if a.is_unspecified() || a.is_broadcast() || o0 == 0 {
                Some("an unspecified or broadcast address")
            } else {
                None
            }
        }
        IpAddr::V6(a) => {
            let first = a.segments()[0];
            if (first & 0xfe00) == 0xfc00 {
                Some("a private (unique local) address")
            } else if (first & 0xffc0) == 0xfe80 {
                Some("a link-local address")
            } else if a.is_unspecified() {
                Some("an unspecified address")
            } else {
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_are_https_or_loopback_and_not_internal() {
        let check = |u: &str, policy| check_base_url(&Url::parse(u).unwrap(), policy);
        let strict = UrlPolicy::default();
        for ok in [
            "https://api.zoom.us",
            "http://127.0.0.1:8080",
            "http://127.9.9.9",
            "http://[::1]:9",
            "http://localhost:8080/prefix",
            "https://8.8.8.8",
        ] {
            assert_eq!(check(ok, strict), Ok(()), "{ok}");
        }
        let e = check("http://api.zoom.us", strict).unwrap_err();
        assert!(e.contains("allow_insecure_http = true"), "{e}");
        for (internal, what) in [
            ("https://10.1.2.3", "a private address"),
            ("https://192.168.0.1", "a private address"),
            ("https://172.16.0.1", "a private address"),
            ("https://169.254.169.254/latest", "link-local"),
            ("https://100.64.0.1", "carrier-grade NAT"),
            ("https://0.0.0.0", "unspecified"),
            ("https://[fd00::1]", "unique local"),
            ("https://[fe80::1]", "link-local"),
            ("https://[::ffff:10.0.0.1]", "a private address"),
        ] {
            let e = check(internal, strict).unwrap_err();
            assert!(
                e.contains(what) && e.contains("allow_private_network"),
                "{internal}: {e}"
            );
        }
        let both = UrlPolicy {
            insecure_http: true,
            private_network: true,
        };
        assert_eq!(check("http://10.1.2.3", both), Ok(()));
        let http_only = UrlPolicy {
            insecure_http: true,
            private_network: false,
        };
        assert!(check("http://10.1.2.3", http_only).is_err());
        assert_eq!(check("http://zoom.internal.example", http_only), Ok(()));
    }
}
