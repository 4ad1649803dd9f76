//! Names of tenants and streams.
//!
//! A tenant id ends up in Kafka keys, topic names (`audit.{tenant}`), metric labels and
//! checkpoint keys, so it is validated once, here, to a character set that is safe in all
//! of them. A stream is one (tenant, source) pair; the source says which API it reads.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Why a name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("tenant id must not be empty")]
    Empty,
    #[error("tenant id {0:?} is longer than 64 characters")]
    TooLong(String),
    #[error("tenant id {0:?} may only hold ASCII letters, digits, '.', '_' and '-'")]
    BadChar(String),
    #[error("unknown source {0:?}; expected one of zoom.operation_logs, zoom.phone_operation_logs, zoho.mail_audit")]
    UnknownSource(String),
}

/// A customer account as trawl knows it: `[A-Za-z0-9._-]{1,64}`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TenantId(String);

impl TenantId {
    pub fn new(s: impl Into<String>) -> Result<Self, IdError> {
        let s = s.into();
        if s.is_empty() {
            return Err(IdError::Empty);
        }
        if s.len() > 64 {
            return Err(IdError::TooLong(s));
        }
        if !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        {
            return Err(IdError::BadChar(s));
        }
        Ok(Self(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for TenantId {
    type Error = IdError;
    fn try_from(s: String) -> Result<Self, IdError> {
        Self::new(s)
    }
}

impl From<TenantId> for String {
    fn from(t: TenantId) -> String {
        t.0
    }
}

impl FromStr for TenantId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        Self::new(s)
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TenantId({})", self.0)
    }
}

/// Which vendor a tenant's credentials belong to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    Zoom,
    Zoho,
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Provider::Zoom => "zoom",
            Provider::Zoho => "zoho",
        })
    }
}

/// The API a stream reads. Its string form (`zoom.operation_logs`, ...) is what appears
/// in events, topic names, metric labels and checkpoint keys: it never changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum SourceKind {
    /// `GET /v2/report/operationlogs`
    ZoomOperationLogs,
    /// `GET /v2/phone/reports/operationlogs`
    ZoomPhoneOperationLogs,
    /// `GET /api/organization/{zoid}/activity`
    ZohoMailAudit,
}

impl SourceKind {
    pub const ALL: [SourceKind; 3] = [
        SourceKind::ZoomOperationLogs,
        SourceKind::ZoomPhoneOperationLogs,
        SourceKind::ZohoMailAudit,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::ZoomOperationLogs => "zoom.operation_logs",
            SourceKind::ZoomPhoneOperationLogs => "zoom.phone_operation_logs",
            SourceKind::ZohoMailAudit => "zoho.mail_audit",
        }
    }

    /// The stream name used in a tenant's `streams = [...]` config list.
    pub fn stream_name(self) -> &'static str {
        match self {
            SourceKind::ZoomOperationLogs => "operation_logs",
            SourceKind::ZoomPhoneOperationLogs => "phone_operation_logs",
            SourceKind::ZohoMailAudit => "mail_audit",
        }
    }

    pub fn provider(self) -> Provider {
        match self {
            SourceKind::ZoomOperationLogs | SourceKind::ZoomPhoneOperationLogs => Provider::Zoom,
            SourceKind::ZohoMailAudit => Provider::Zoho,
        }
    }

    /// Looks up a stream by its config name for a provider (`operation_logs` for Zoom).
    pub fn from_stream_name(provider: Provider, name: &str) -> Option<SourceKind> {
        SourceKind::ALL
            .into_iter()
            .find(|k| k.provider() == provider && k.stream_name() == name)
    }
}

impl fmt::Display for SourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SourceKind {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        SourceKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| IdError::UnknownSource(s.to_string()))
    }
}

impl TryFrom<String> for SourceKind {
    type Error = IdError;
    fn try_from(s: String) -> Result<Self, IdError> {
        s.parse()
    }
}

impl From<SourceKind> for String {
    fn from(k: SourceKind) -> String {
        k.as_str().to_string()
    }
}

/// One tenant stream: the unit that is fetched, checkpointed and supervised.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct StreamKey {
    pub tenant: TenantId,
    pub source: SourceKind,
}

impl StreamKey {
    pub fn new(tenant: TenantId, source: SourceKind) -> Self {
        Self { tenant, source }
    }
}

impl fmt::Display for StreamKey {
    /// `tenant/source`: also the key of the stream's checkpoint record.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.tenant, self.source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_ids_are_checked() {
        assert!(TenantId::new("acme-01.eu_x").is_ok());
        assert_eq!(TenantId::new(""), Err(IdError::Empty));
        assert!(matches!(TenantId::new("a/b"), Err(IdError::BadChar(_))));
        assert!(matches!(
            TenantId::new("a".repeat(65)),
            Err(IdError::TooLong(_))
        ));
        let parsed: Result<TenantId, _> = serde_json::from_str("\"no spaces\"");
        assert!(parsed.is_err());
    }

    #[test]
    fn source_names_round_trip() {
        for k in SourceKind::ALL {
            assert_eq!(k.as_str().parse::<SourceKind>().unwrap(), k);
            assert_eq!(
                SourceKind::from_stream_name(k.provider(), k.stream_name()),
                Some(k)
            );
        }
        assert_eq!(
            SourceKind::from_stream_name(Provider::Zoho, "operation_logs"),
            None
        );
        let key = StreamKey::new(TenantId::new("t1").unwrap(), SourceKind::ZohoMailAudit);
        assert_eq!(key.to_string(), "t1/zoho.mail_audit");
    }
}
