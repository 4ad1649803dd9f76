//! A tenant's access to its provider: the app's credentials and where its API is.
//!
//! Defined once, beside the code that uses it: the configuration builds a
//! [`TenantAccess`], the engine's tenant spec holds it as it is, and
//! [`SourceSettings::new`](crate::SourceSettings::new) turns it into the tenant's token
//! cache and sources. It also names the account the credentials reach
//! ([`AccountKey`]): the vendors' rate limits are per account, so two tenants that name
//! the same Zoom account (or Zoho organization) spend one quota and share its buckets.

use std::fmt;

use trawl_model::Provider;
use url::Url;

use crate::auth::{ZohoCredentials, ZoomCredentials};
use crate::source::SourceAccess;

/// A tenant's credentials and API endpoints. `Debug` shows no secret; `==` compares the
/// secrets too, so a reload can tell a rotated secret from an unchanged one.
#[derive(Debug, Clone, PartialEq)]
pub enum TenantAccess {
    /// A Server-to-Server OAuth app.
    Zoom {
        credentials: ZoomCredentials,
        /// `https://api.zoom.us` (Zoom for Government: `https://api.zoomgov.com`).
        api_base: Url,
        /// `category_type` of the account operation logs; `None`: the API's default
        /// (`all`). The Phone endpoint has its own categories and reads all of them.
        category_type: Option<String>,
    },
    /// A self client with a refresh token.
    Zoho {
        credentials: ZohoCredentials,
        /// e.g. `https://mail.zoho.eu`, from the data center unless set.
        mail_base: Url,
        /// `searchKey` query parameter, e.g. `category:1003`.
        search_key: Option<String>,
    },
}

impl TenantAccess {
    pub fn provider(&self) -> Provider {
        match self {
            TenantAccess::Zoom { .. } => Provider::Zoom,
            TenantAccess::Zoho { .. } => Provider::Zoho,
        }
    }

    /// The account these credentials reach: the Zoom account id, the Zoho `zoid`.
    pub fn account(&self) -> AccountKey {
        let id = match self {
            TenantAccess::Zoom { credentials, .. } => &credentials.account_id,
            TenantAccess::Zoho { credentials, .. } => &credentials.zoid,
        };
        AccountKey {
            provider: self.provider(),
            id: id.clone(),
        }
    }

    /// The part the sources read besides the token: endpoints and filters.
    pub(crate) fn endpoints(&self) -> SourceAccess {
        match self {
            TenantAccess::Zoom {
                api_base,
                category_type,
                ..
            } => SourceAccess::Zoom {
                api_base: api_base.clone(),
                category_type: category_type.clone(),
            },
            TenantAccess::Zoho {
                credentials,
                mail_base,
                search_key,
            } => SourceAccess::Zoho {
                zoid: credentials.zoid.clone(),
                mail_base: mail_base.clone(),
                search_key: search_key.clone(),
            },
        }
    }
}

/// One vendor account: whose quota a request spends. `zoom:<account id>` or
/// `zoho:<zoid>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AccountKey {
    pub provider: Provider,
    pub id: String,
}

impl fmt::Display for AccountKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.provider, self.id)
    }
}

#[cfg(test)]
mod tests {
    use secrecy::SecretString;

    use super::*;

    fn zoom(account: &str, secret: &str) -> TenantAccess {
        TenantAccess::Zoom {
            credentials: ZoomCredentials {
                account_id: account.into(),
                client_id: "cid".into(),
                client_secret: SecretString::from(secret),
                oauth_base: Url::parse("https://zoom.us").unwrap(),
            },
            api_base: Url::parse("https://api.zoom.us").unwrap(),
            category_type: None,
        }
    }

    #[test]
    fn debug_hides_the_secret_and_equality_sees_it() {
        let a = zoom("acc", "canary-5ecret");
        assert!(!format!("{a:?}").contains("canary-5ecret"));
        assert_eq!(a, zoom("acc", "canary-5ecret"));
        assert_ne!(a, zoom("acc", "rotated"));
        assert_eq!(a.provider(), Provider::Zoom);
    }

    #[test]
    fn the_account_is_what_the_quota_belongs_to() {
        let a = zoom("acc-1", "s1");
        let b = zoom("acc-1", "another app's secret");
        assert_eq!(a.account(), b.account());
        assert_ne!(a.account(), zoom("acc-2", "s1").account());
        assert_eq!(a.account().to_string(), "zoom:acc-1");
        let zoho = TenantAccess::Zoho {
            credentials: ZohoCredentials {
                zoid: "800001".into(),
                client_id: "1000.X".into(),
                client_secret: SecretString::from("s"),
                refresh_token: SecretString::from("r"),
                accounts_base: Url::parse("https://accounts.zoho.eu").unwrap(),
            },
            mail_base: Url::parse("https://mail.zoho.eu").unwrap(),
            search_key: None,
        };
        assert_eq!(zoho.account().to_string(), "zoho:800001");
        assert!(matches!(
            zoho.endpoints(),
            SourceAccess::Zoho { zoid, .. } if zoid == "800001"
        ));
    }
}
