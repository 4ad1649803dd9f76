//! A good file becomes the expected typed values; defaults fill what is left out; the
//! environment overrides the file; tenants come from a directory too; loading twice
//! gives equal tenants (what a reloader compares).

use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::ExposeSecret;
use trawl_engine::config::{CheckpointSettings, RateLimitOverride, TenantAccess};
use trawl_model::{Plan, SourceKind};
use trawl_sources::{ZohoCredentials, ZoomCredentials};

use super::{error, jail, load_in, with_tenant, KAFKA, ZOOM_TENANT};
use crate::config::{load, SecretOrigin, TenantOrigin};

const DAY: u64 = 86400;

const FULL: &str = r#"
[server]
listen = "0.0.0.0:9191"
status_token = { env = "STATUS_TOKEN" }
[kafka]
brokers = "k1:9092,k2:9092"
topic = "audit.{tenant}.{source}"
checkpoint_topic = "cp"
dead_letter_topic = "dlq"
transactional = true
transactional_id = "trawl-7"
partitions = 3
replication = 2
create_topics = false
[kafka.properties]
"security.protocol" = "SASL_SSL"
"sasl.password" = { env = "KAFKA_PW" }
"linger.ms" = 5
[checkpoints]
store = "kafka"
[defaults]
poll_interval = "10m"
backfill = "60d"
lookback = "2h"
quota_share = 0.8
max_concurrent_windows = 2
[metrics]
tenant_label = false

[[tenants]]
id = "acme"
provider = "zoom"
streams = ["operation_logs"]
plan = "business"
account_id = "acc-1"
client_id = "cid-1"
client_secret = { env = "ACME_SECRET" }
api_base = "https://api.zoomgov.com"
oauth_base = "https://zoomgov.com"
category_type = "user"
poll_interval = "1m"
[tenants.rate_limits.operation_logs]
per_second = 5.0
daily = 10000

[[tenants]]
id = "globex"
provider = "zoho"
zoid = 57047751
client_id = "1000.X"
client_secret = { file = "globex_secret" }
refresh_token = { env = "GLOBEX_REFRESH" }
data_center = "eu"
search_key = "category:1003"
"#;

#[test]
fn a_good_file_loads_to_the_expected_typed_values() {
    jail(|j| {
        j.set_env("ACME_SECRET", "zoom-secret");
        j.set_env("GLOBEX_REFRESH", "zoho-refresh");
        j.set_env("KAFKA_PW", "kafka-pw");
        j.set_env("STATUS_TOKEN", "0123");
        j.create_file("globex_secret", "zoho-secret\n").unwrap();
        let c = load_in(j, FULL).unwrap();
        assert_eq!(c.server.listen, "0.0.0.0:9191".parse().unwrap());
        assert_eq!(
            c.server.status_token.as_ref().map(|t| t.expose_secret()),
            Some("0123")
        );
        let k = &c.engine.kafka;
        assert_eq!(k.brokers, "k1:9092,k2:9092");
        assert_eq!(k.topic.as_str(), "audit.{tenant}.{source}");
        assert_eq!(k.checkpoint_topic.as_deref(), Some("cp"));
        assert_eq!(k.dead_letter_topic, "dlq");
        assert!(k.transactional);
        assert_eq!(k.transactional_id, "trawl-7");
        assert_eq!((k.partitions, k.replication), (3, Some(2)));
        assert!(!k.create_topics);
        assert_eq!(k.properties["security.protocol"], "SASL_SSL");
        assert_eq!(k.properties["sasl.password"], "kafka-pw");
        assert_eq!(k.properties["linger.ms"], "5");
        assert_eq!(c.engine.checkpoints, CheckpointSettings::Kafka);
        let d = c.engine.defaults;
        assert_eq!(d.poll_interval, Duration::from_secs(600));
        assert_eq!(d.backfill, Duration::from_secs(60 * DAY));
        assert_eq!(d.lookback, Duration::from_secs(7200));
        assert_eq!(d.quota_share, 0.8);
        assert_eq!(d.max_concurrent_windows, NonZeroUsize::new(2).unwrap());
        assert!(!c.engine.metrics.tenant_label);

        let [acme, globex] = &c.engine.tenants[..] else {
            panic!("two tenants expected")
        };
        assert_eq!(acme.id.as_str(), "acme");
        assert_eq!(acme.streams, [SourceKind::ZoomOperationLogs]);
        assert_eq!(acme.plan, Plan::Business);
        assert_eq!(acme.settings.poll_interval, Duration::from_secs(60));
        assert_eq!(
            acme.settings.backfill, d.backfill,
            "the rest from [defaults]"
        );
        assert_eq!(
            acme.rate_limits[&SourceKind::ZoomOperationLogs],
            RateLimitOverride {
                per_second: Some(5.0),
                daily: Some(10000)
            }
        );
        let TenantAccess::Zoom {
            credentials:
                ZoomCredentials {
                    account_id,
                    client_id,
                    client_secret,
                    oauth_base,
                },
            api_base,
            category_type,
        } = &acme.access
        else {
            panic!("zoom access expected")
        };
        assert_eq!(
            (account_id.as_str(), client_id.as_str()),
            ("acc-1", "cid-1")
        );
        assert_eq!(client_secret.expose_secret(), "zoom-secret");
        assert_eq!(api_base.as_str(), "https://api.zoomgov.com/");
        assert_eq!(oauth_base.as_str(), "https://zoomgov.com/");
        assert_eq!(category_type.as_deref(), Some("user"));

        assert_eq!(
            globex.streams,
            [SourceKind::ZohoMailAudit],
            "default: all of zoho's"
        );
        assert_eq!(globex.settings, d);
        let TenantAccess::Zoho {
            credentials:
                ZohoCredentials {
                    zoid,
                    client_secret,
                    refresh_token,
                    accounts_base,
                    ..
                },
            mail_base,
            search_key,
        } = &globex.access
        else {
            panic!("zoho access expected")
        };
        assert_eq!(
            zoid, "57047751",
            "a TOML integer is taken as the id's digits"
        );
        assert_eq!(
            client_secret.expose_secret(),
            "zoho-secret",
            "newline trimmed"
        );
        assert_eq!(refresh_token.expose_secret(), "zoho-refresh");
        assert_eq!(mail_base.as_str(), "https://mail.zoho.eu/");
        assert_eq!(accounts_base.as_str(), "https://accounts.zoho.eu/");
        assert_eq!(search_key.as_deref(), Some("category:1003"));

        assert_eq!(
            c.tenant_origins[&globex.id],
            TenantOrigin::Inline { index: 1 }
        );
        let origins: Vec<_> = c
            .secrets
            .iter()
            .map(|s| (s.path.as_str(), &s.origin))
            .collect();
        assert_eq!(
            origins,
            [
                (
                    "server.status_token",
                    &SecretOrigin::Env("STATUS_TOKEN".into())
                ),
                (
                    "kafka.properties.\"sasl.password\"",
                    &SecretOrigin::Env("KAFKA_PW".into())
                ),
                (
                    "tenants[0].client_secret",
                    &SecretOrigin::Env("ACME_SECRET".into())
                ),
                (
                    "tenants[1].client_secret",
                    &SecretOrigin::File("globex_secret".into())
                ),
                (
                    "tenants[1].refresh_token",
                    &SecretOrigin::Env("GLOBEX_REFRESH".into())
                ),
            ]
        );
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    });
}

#[test]
fn what_is_left_out_gets_the_documented_defaults() {
    jail(|j| {
        j.set_env("ACME_SECRET", "s");
        let c = load_in(j, &with_tenant("")).unwrap();
        assert_eq!(c.server.listen, "127.0.0.1:9090".parse().unwrap());
        let k = &c.engine.kafka;
        assert_eq!(k.topic.as_str(), "audit.{source}");
        assert_eq!(k.checkpoint_topic.as_deref(), Some("trawl.checkpoints"));
        assert_eq!(k.dead_letter_topic, "trawl.dead_letter");
        assert!(!k.transactional);
        assert!(k.transactional_id.starts_with("trawl-") && k.transactional_id.len() > 6);
        assert_eq!((k.partitions, k.replication), (6, None));
        assert!(k.create_topics);
        assert_eq!(c.engine.checkpoints, CheckpointSettings::Kafka);
        assert_eq!(c.engine.defaults, Default::default());
        assert!(c.engine.metrics.tenant_label);
        let t = &c.engine.tenants[0];
        assert_eq!(
            t.streams,
            [
                SourceKind::ZoomOperationLogs,
                SourceKind::ZoomPhoneOperationLogs
            ]
        );
        assert_eq!(t.plan, Plan::Pro);
        let TenantAccess::Zoom {
            credentials: ZoomCredentials { oauth_base, .. },
            api_base,
            category_type,
        } = &t.access
        else {
            panic!("zoom")
        };
        assert_eq!(api_base.as_str(), "https://api.zoom.us/");
        assert_eq!(oauth_base.as_str(), "https://zoom.us/");
        assert_eq!(*category_type, None);
        assert!(t.rate_limits.is_empty());
    });
}

#[test]
fn zoho_bases_follow_the_data_center_and_can_be_overridden() {
    jail(|j| {
        j.set_env("S", "s");
        let zoho = |extra: &str| {
            format!(
                "{KAFKA}[[tenants]]\nid = \"g\"\nprovider = \"zoho\"\nzoid = \"1\"\nclient_id = \"c\"\n\
                 client_secret = {{ env = \"S\" }}\nrefresh_token = {{ env = \"S\" }}\n{extra}"
            )
        };
        let bases = |toml: String| match load_in(j, &toml).unwrap().engine.tenants[0].access.clone()
        {
            TenantAccess::Zoho {
                credentials,
                mail_base,
                ..
            } => (mail_base.to_string(), credentials.accounts_base.to_string()),
            TenantAccess::Zoom { .. } => panic!("zoho"),
        };
        assert_eq!(
            bases(zoho("")),
            (
                "https://mail.zoho.com/".into(),
                "https://accounts.zoho.com/".into()
            )
        );
        assert_eq!(
            bases(zoho("data_center = \"ca\"")),
            (
                "https://mail.zohocloud.ca/".into(),
                "https://accounts.zohocloud.ca/".into()
            )
        );
        assert_eq!(
            bases(zoho(
                "data_center = \"jp\"\nmail_base = \"http://127.0.0.1:8080\""
            )),
            (
                "http://127.0.0.1:8080/".into(),
                "https://accounts.zoho.jp/".into()
            )
        );
    });
}

#[test]
fn the_environment_overrides_the_file() {
    jail(|j| {
        j.set_env("ACME_SECRET", "s");
        j.set_env("TRAWL_KAFKA__BROKERS", "from-env:9092");
        j.set_env("TRAWL_KAFKA__PARTITIONS", "12");
        j.set_env("TRAWL_KAFKA__TRANSACTIONAL", "true");
        j.set_env("TRAWL_DEFAULTS__POLL_INTERVAL", "1m");
        j.set_env("TRAWL_SERVER__LISTEN", "127.0.0.1:19090");
        j.set_env("TRAWL_METRICS__TENANT_LABEL", "false");
        // Not configuration: tools' own variables share the prefix.
        j.set_env("TRAWL_TANSU_BIN", "/usr/bin/tansu");
        let c = load_in(j, &with_tenant("partitions = 3")).unwrap();
        assert_eq!(c.engine.kafka.brokers, "from-env:9092");
        assert_eq!(c.engine.kafka.partitions, 12);
        assert!(c.engine.kafka.transactional);
        assert_eq!(c.engine.defaults.poll_interval, Duration::from_secs(60));
        assert_eq!(
            c.engine.tenants[0].settings.poll_interval,
            Duration::from_secs(60)
        );
        assert_eq!(c.server.listen.port(), 19090);
        assert!(!c.engine.metrics.tenant_label);

        // Values from the environment stay strings: a secret `0123` keeps its zero, and
        // a number-looking client id is not rewritten.
        j.set_env("TRAWL_SERVER__STATUS_TOKEN", "0123");
        j.set_env("TRAWL_HTTP__MAX_BODY_BYTES", "1048576");
        let c = load_in(j, &with_tenant("")).unwrap();
        assert_eq!(
            c.server.status_token.as_ref().map(|t| t.expose_secret()),
            Some("0123")
        );
        assert_eq!(c.engine.http.max_body_bytes, 1 << 20);
        j.set_env("TRAWL_HTTP__MAX_BODY_BYTES", "1e3");
        assert_eq!(
            error(j, &with_tenant("")),
            "http.max_body_bytes: expected a whole number, found a string"
        );
        j.set_env("TRAWL_HTTP__MAX_BODY_BYTES", "1048576");

        j.set_env("TRAWL_KAFKA__BROKRS", "typo:9092");
        assert_eq!(
            error(j, &with_tenant("")),
            "kafka.brokrs: unknown key; did you mean `brokers`?"
        );
    });
}

#[test]
fn tenants_come_from_the_directory_too_in_file_order() {
    jail(|j| {
        j.set_env("ACME_SECRET", "s");
        j.create_dir("tenants.d").unwrap();
        let file = |id: &str| {
            ZOOM_TENANT
                .replace("[[tenants]]", "")
                .replace("\"acme\"", &format!("{id:?}"))
        };
        j.create_file("tenants.d/20-b.toml", &file("beta")).unwrap();
        j.create_file("tenants.d/10-a.toml", &file("alpha"))
            .unwrap();
        j.create_file("tenants.d/README.md", "not a tenant")
            .unwrap();
        let text = format!("tenants_dir = \"tenants.d\"\n{}", with_tenant(""));
        let c = load_in(j, &text).unwrap_or_else(|e| panic!("{e}"));
        let ids: Vec<&str> = c.engine.tenants.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(ids, ["acme", "alpha", "beta"]);
        assert_eq!(c.tenants_dir.as_deref(), Some(Path::new("tenants.d")));
        assert_eq!(
            c.tenant_origins[&c.engine.tenants[2].id],
            TenantOrigin::File(PathBuf::from("tenants.d/20-b.toml"))
        );

        // The same id twice: named where the second one is.
        j.create_file("tenants.d/30-dup.toml", &file("acme"))
            .unwrap();
        assert_eq!(
            error(j, &text),
            "tenants.d/30-dup.toml: id: duplicate tenant id \"acme\" (also defined at tenants[0])"
        );
    });
}

#[test]
fn loading_again_gives_equal_tenants_until_something_changes() {
    jail(|j| {
        j.set_env("ACME_SECRET", "one");
        let text = with_tenant("");
        let first = load_in(j, &text).unwrap().engine.tenants;
        assert_eq!(load(Path::new("trawl.toml")).unwrap().engine.tenants, first);
        j.set_env("ACME_SECRET", "rotated");
        assert_ne!(load(Path::new("trawl.toml")).unwrap().engine.tenants, first);
    });
}

#[test]
fn the_file_checkpoint_store_needs_no_checkpoint_topic() {
    jail(|j| {
        j.set_env("ACME_SECRET", "s");
        let c = load_in(
            j,
            &with_tenant("[checkpoints]\nstore = \"file\"\ndir = \"cp\""),
        )
        .unwrap();
        assert_eq!(
            c.engine.checkpoints,
            CheckpointSettings::File { dir: "cp".into() }
        );
        assert_eq!(c.engine.kafka.checkpoint_topic, None);
    });
}

#[test]
fn a_missing_config_file_is_named() {
    jail(|_| {
        let e = load(Path::new("nope.toml")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "the configuration has 1 problem:\n  - nope.toml: cannot read the file: No such file or \
             directory (os error 2)"
        );
    });
}
