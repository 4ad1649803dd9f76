//! Zoho: the data centers (an account lives in one, which decides both the Mail API
//! host and the accounts host that issues tokens), how an answer's envelope is read, and
//! the Mail audit source.

pub(crate) mod envelope;
pub mod mail_audit;
pub(crate) mod throttle;

use std::fmt;
use std::str::FromStr;

use url::Url;

/// A Zoho data center, the shorthand a tenant's config may give instead of two URLs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum DataCenter {
    /// United States: `zoho.com`.
    #[default]
    Com,
    Eu,
    In,
    ComAu,
    Jp,
    ComCn,
    Sa,
    /// Canada: `zohocloud.ca`.
    Ca,
    Uk,
}

impl DataCenter {
    pub const ALL: [DataCenter; 9] = [
        DataCenter::Com,
        DataCenter::Eu,
        DataCenter::In,
        DataCenter::ComAu,
        DataCenter::Jp,
        DataCenter::ComCn,
        DataCenter::Sa,
        DataCenter::Ca,
        DataCenter::Uk,
    ];

    /// The shorthand as written in config: `com`, `eu`, `in`, `com.au`, `jp`, `com.cn`,
    /// `sa`, `ca`, `uk`.
    pub fn as_str(self) -> &'static str {
        match self {
            DataCenter::Com => "com",
            DataCenter::Eu => "eu",
            DataCenter::In => "in",
            DataCenter::ComAu => "com.au",
            DataCenter::Jp => "jp",
            DataCenter::ComCn => "com.cn",
            DataCenter::Sa => "sa",
            DataCenter::Ca => "ca",
            DataCenter::Uk => "uk",
        }
    }

    /// The registrable domain: `zoho.com`, `zoho.eu`, ..., `zohocloud.ca`.
    pub fn domain(self) -> &'static str {
        match self {
            DataCenter::Com => "zoho.com",
            DataCenter::Eu => "zoho.eu",
            DataCenter::In => "zoho.in",
            DataCenter::ComAu => "zoho.com.au",
            DataCenter::Jp => "zoho.jp",
            DataCenter::ComCn => "zoho.com.cn",
            DataCenter::Sa => "zoho.sa",
            DataCenter::Ca => "zohocloud.ca",
            DataCenter::Uk => "zoho.uk",
        }
    }

    /// `https://mail.<domain>`.
    pub fn mail_base(self) -> Url {
        Url::parse(&format!("https://mail.{}", self.domain())).expect("static URL")
    }

    /// `https://accounts.<domain>`.
    pub fn accounts_base(self) -> Url {
        Url::parse(&format!("https://accounts.{}", self.domain())).expect("static URL")
    }
}

impl fmt::Display for DataCenter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a data-center shorthand was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown Zoho data center {0:?}; expected com, eu, in, com.au, jp, com.cn, sa, ca or uk")]
pub struct UnknownDataCenter(pub String);

impl FromStr for DataCenter {
    type Err = UnknownDataCenter;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim().trim_start_matches('.').to_ascii_lowercase();
        let t = t.strip_prefix("zoho.").unwrap_or(&t);
        Ok(match t {
            "com" | "us" => DataCenter::Com,
            "eu" => DataCenter::Eu,
            "in" => DataCenter::In,
            "com.au" | "au" => DataCenter::ComAu,
            "jp" => DataCenter::Jp,
            "com.cn" | "cn" => DataCenter::ComCn,
            "sa" => DataCenter::Sa,
            "ca" | "zohocloud.ca" => DataCenter::Ca,
            "uk" => DataCenter::Uk,
            _ => return Err(UnknownDataCenter(s.to_string())),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shorthand_sets_both_hosts() {
        let cases = [
            (
                "com",
                "https://mail.zoho.com/",
                "https://accounts.zoho.com/",
            ),
            ("eu", "https://mail.zoho.eu/", "https://accounts.zoho.eu/"),
            ("in", "https://mail.zoho.in/", "https://accounts.zoho.in/"),
            (
                "com.au",
                "https://mail.zoho.com.au/",
                "https://accounts.zoho.com.au/",
            ),
            ("jp", "https://mail.zoho.jp/", "https://accounts.zoho.jp/"),
            (
                "com.cn",
                "https://mail.zoho.com.cn/",
                "https://accounts.zoho.com.cn/",
            ),
            ("sa", "https://mail.zoho.sa/", "https://accounts.zoho.sa/"),
            (
                "ca",
                "https://mail.zohocloud.ca/",
                "https://accounts.zohocloud.ca/",
            ),
            ("uk", "https://mail.zoho.uk/", "https://accounts.zoho.uk/"),
        ];
        for (short, mail, accounts) in cases {
            let dc: DataCenter = short.parse().unwrap();
            assert_eq!(dc.as_str(), short);
            assert_eq!(dc.mail_base().as_str(), mail);
            assert_eq!(dc.accounts_base().as_str(), accounts);
        }
        assert_eq!("EU".parse::<DataCenter>().unwrap(), DataCenter::Eu);
        assert_eq!(
            "zohocloud.ca".parse::<DataCenter>().unwrap(),
            DataCenter::Ca
        );
        let err = "mars".parse::<DataCenter>().unwrap_err();
        assert!(err.to_string().contains("com.au"));
    }
}
