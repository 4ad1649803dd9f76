//! `[kafka]`: properties checked by librdkafka itself (unknown names and bad values
//! refused with their path, secret values never quoted back), transactions refused
//! with the file checkpoint store, and topic replication left to the broker by default.

use super::{error, jail, load_in, with_tenant, CANARY};
use crate::config::report;

#[test]
fn unknown_properties_are_refused_with_their_path() {
    jail(|j| {
        j.set_env("ACME_SECRET", "s");
        assert_eq!(
            error(j, &with_tenant("[kafka.properties]\n\"foo.bar\" = \"1\"")),
            "kafka.properties.\"foo.bar\": unknown librdkafka property (see librdkafka's \
             CONFIGURATION.md for the names it knows)"
        );
        // Nested (bare dotted) keys are checked by their full name.
        assert_eq!(
            error(j, &with_tenant("[kafka.properties]\nlinger.mss = 5")),
            "kafka.properties.\"linger.mss\": unknown librdkafka property (see librdkafka's \
             CONFIGURATION.md for the names it knows)"
        );
    });
}

#[test]
fn bad_values_are_refused_and_secret_ones_never_quoted() {
    jail(|j| {
        j.set_env("ACME_SECRET", "s");
        let e = error(
            j,
            &with_tenant("[kafka.properties]\n\"security.protocol\" = \"SASL_TLS\""),
        );
        assert!(
            e.starts_with("kafka.properties.\"security.protocol\": invalid value: ")
                && e.contains("SASL_TLS"),
            "{e}"
        );
        // A secret reference for a property librdkafka refuses the value of: named, not shown.
        j.set_env("PROTOCOL", CANARY);
        let e = error(
            j,
            &with_tenant("[kafka.properties]\n\"security.protocol\" = { env = \"PROTOCOL\" }"),
        );
        assert!(
            e.starts_with("kafka.properties.\"security.protocol\": invalid value"),
            "{e}"
        );
        assert!(!e.contains(CANARY), "{e}");
    });
}

#[test]
fn the_features_managed_clusters_need_load() {
    jail(|j| {
        j.set_env("ACME_SECRET", "s");
        j.set_env("OIDC_SECRET", CANARY);
        let props = "[kafka.properties]\n\"security.protocol\" = \"SASL_SSL\"\n\
                     \"sasl.mechanisms\" = \"OAUTHBEARER\"\n\"sasl.oauthbearer.method\" = \"oidc\"\n\
                     \"sasl.oauthbearer.client.id\" = \"trawl\"\n\
                     \"sasl.oauthbearer.client.secret\" = { env = \"OIDC_SECRET\" }\n\
                     \"sasl.oauthbearer.token.endpoint.url\" = \"https://idp.example.com/token\"\n\
                     \"compression.type\" = \"zstd\"\n";
        let c = load_in(j, &with_tenant(props)).unwrap_or_else(|e| panic!("{e}"));
        assert!(c.engine.kafka.is_secret("sasl.oauthbearer.client.secret"));
        assert!(!format!("{c:?}").contains(CANARY));
    });
}

#[test]
fn transactions_with_the_file_checkpoint_store_are_refused_with_the_reason() {
    jail(|j| {
        j.set_env("ACME_SECRET", "s");
        let e = error(
            j,
            &with_tenant("transactional = true\n[checkpoints]\nstore = \"file\"\ndir = \"cps\""),
        );
        assert!(
            e.starts_with("kafka.transactional: needs checkpoints.store = \"kafka\""),
            "{e}"
        );
        assert!(
            e.contains("transactional = false"),
            "says what to do instead: {e}"
        );
    });
}

#[test]
fn topics_get_the_brokers_replication_unless_set() {
    jail(|j| {
        j.set_env("ACME_SECRET", "s");
        let c = load_in(j, &with_tenant("")).unwrap();
        assert_eq!(c.engine.kafka.replication, None);
        let text = report(&Ok(c)).text;
        assert!(text.contains("replication the broker's default"), "{text}");
        let c = load_in(j, &with_tenant("replication = 3")).unwrap();
        assert_eq!(c.engine.kafka.replication, Some(3));
    });
}
