//! Checking one `[kafka.properties]` entry against librdkafka itself, at config load.
//!
//! librdkafka knows which property names exist and which values each takes (they depend
//! on the features it was built with: SSL, SASL, zstd, OIDC through libcurl), so trawl
//! keeps no list of its own: it sets the property on a fresh native configuration and
//! reads the answer. Unknown names and invalid values are told apart, and librdkafka's
//! message, which quotes the value, is passed on only with secret values removed.

use rdkafka::config::ClientConfig;
use rdkafka::error::KafkaError as RdError;
use rdkafka::types::RDKafkaConfRes;

/// Why librdkafka refused a property.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PropertyProblem {
    /// No such property in this build of librdkafka.
    #[error(
        "unknown librdkafka property (see librdkafka's CONFIGURATION.md for the names it knows)"
    )]
    Unknown,
    /// The name exists; the value does not fit it. The text is librdkafka's, with the
    /// value removed when it is a secret.
    #[error("invalid value: {0}")]
    Invalid(String),
}

/// Sets `name = value` on a fresh librdkafka configuration. `secret`: never quote the
/// value back.
pub fn check_property(name: &str, value: &str, secret: bool) -> Result<(), PropertyProblem> {
    let mut c = ClientConfig::new();
    c.set(name, value);
    match c.create_native_config() {
        Ok(_) => Ok(()),
        Err(RdError::ClientConfig(RDKafkaConfRes::RD_KAFKA_CONF_UNKNOWN, ..)) => {
            Err(PropertyProblem::Unknown)
        }
        Err(RdError::ClientConfig(_, desc, ..)) => {
            Err(PropertyProblem::Invalid(if secret && !value.is_empty() {
                desc.replace(value, "[redacted]")
            } else {
                desc
            }))
        }
        // A NUL byte in the name or value (CString).
        Err(_) => Err(PropertyProblem::Invalid(
            "names and values must not contain NUL bytes".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn librdkafka_tells_unknown_names_from_invalid_values() {
        assert_eq!(check_property("linger.ms", "5", false), Ok(()));
        assert_eq!(
            check_property("security.protocol", "SASL_SSL", false),
            Ok(())
        );
        // Topic-level properties are accepted on the global configuration too.
        assert_eq!(check_property("compression.type", "zstd", false), Ok(()));
        assert_eq!(
            check_property("sasl.mechanisms", "SCRAM-SHA-512", false),
            Ok(())
        );
        assert_eq!(
            check_property("lingr.ms", "5", false),
            Err(PropertyProblem::Unknown)
        );
        match check_property("security.protocol", "SASL_TLS", false) {
            Err(PropertyProblem::Invalid(why)) => assert!(why.contains("SASL_TLS"), "{why}"),
            other => panic!("{other:?}"),
        }
        // (linger.ms is an alias: librdkafka names the property it stands for.)
        match check_property("linger.ms", "soon", false) {
            Err(PropertyProblem::Invalid(why)) => {
                assert!(why.contains("queue.buffering.max.ms"), "{why}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_invalid_secret_value_is_not_quoted_back() {
        // librdkafka quotes a refused enum value...
        let plain = check_property("security.protocol", "hunter2-secret", false).unwrap_err();
        assert!(plain.to_string().contains("hunter2-secret"), "{plain}");
        // ... which is removed when the value is a secret.
        let e = check_property("security.protocol", "hunter2-secret", true).unwrap_err();
        assert!(!e.to_string().contains("hunter2-secret"), "{e}");
        assert!(e.to_string().contains("security.protocol"), "{e}");
    }

    /// The features trawl enables: zstd, OAUTHBEARER with OIDC (libcurl), SCRAM over SSL.
    #[test]
    fn the_features_real_clusters_need_are_built_in() {
        for (k, v) in [
            ("compression.codec", "zstd"),
            ("sasl.mechanisms", "OAUTHBEARER"),
            ("sasl.oauthbearer.method", "oidc"),
            ("sasl.mechanisms", "SCRAM-SHA-512"),
            ("security.protocol", "SASL_SSL"),
        ] {
            assert_eq!(check_property(k, v, false), Ok(()), "{k} = {v}");
        }
    }
}
