//! Every validation rule, by the message an operator reads: the field's path and why.
//! The first test also proves that all problems come at once, not the first only.

use super::{error, errors, jail, load_in, with_tenant, KAFKA};

const MANY_MISTAKES: &str = r#"
[server]
listen = "localhost:9090"
[kafka]
brokers = "k:9092"
brokrs = "x"
topic = "audit {source}"
dead_letter_topic = "dead letters"
partitions = 0
replication = 0
[checkpoints]
store = "file"
[defaults]
poll_interval = "0s"
backfill = "200d"
lookback = "soon"
quota_share = 1.5
max_concurrent_windows = 0
[mertics]
tenant_label = true

[[tenants]]
id = "bad id"
provider = "zoom"
streams = ["operation_logs", "mail_audit", "chats", "operation_logs"]
plan = "gold"
account_id = "a"
client_secret = { env = "TRAWL_TEST_UNSET_VARIABLE" }
api_base = "ftp://api.zoom.us"
refresh_token = "x"
[[tenants]]
id = "g"
provider = "teams"
[[tenants]]
id = "h"
[[tenants]]
id = "z1"
provider = "zoho"
zoid = "1"
client_id = "c"
client_secret = { file = "missing_secret_file" }
refresh_token = { env = "EMPTY_VARIABLE" }
data_center = "de"
mail_base = "not a url"
lookback = "40d"
quota_share = 0
[tenants.rate_limits.operation_logs]
per_second = 1.0
"#;

#[test]
fn every_problem_is_reported_at_once_with_its_path_and_reason() {
    jail(|j| {
        j.set_env("EMPTY_VARIABLE", "");
        let mut expected = vec![
            "mertics: unknown key; did you mean `metrics`?",
            "server.listen: \"localhost:9090\" is not a socket address; write an IP address and a port, e.g. \"127.0.0.1:9090\" or \"[::]:9090\"",
            "kafka.brokrs: unknown key; did you mean `brokers`?",
            "kafka.topic: topic template \"audit {source}\" may only hold ASCII letters, digits, '.', '_', '-' and placeholders",
            "kafka.dead_letter_topic: topic name \"dead letters\" may only hold ASCII letters, digits, '.', '_' and '-'",
            "kafka.partitions: 0 is not between 1 and 2147483647",
            "kafka.replication: 0 is not between 1 and 32767",
            "checkpoints.dir: is required when store = \"file\" (the directory for checkpoint files)",
            "defaults.poll_interval: must be longer than zero",
            "defaults.backfill: 200d is more than the APIs keep: at most 182d (6 months)",
            "defaults.lookback: \"soon\" is not a duration (expected number at 0); write it like \"30s\", \"5m\", \"1h 30m\" or \"30d\"",
            "defaults.quota_share: 1.5 is outside [0.001, 1]: the share of the account's quota trawl may use, e.g. 0.5 for half",
            "defaults.max_concurrent_windows: 0 is not at least 1",
            "tenants[0].id: tenant id \"bad id\" may only hold ASCII letters, digits, '.', '_' and '-'",
            "tenants[0].refresh_token: is a zoho setting, but this tenant's provider is zoom",
            "tenants[0].streams[1]: \"mail_audit\" is a zoho stream; zoom streams are operation_logs, phone_operation_logs",
            "tenants[0].streams[2]: unknown stream \"chats\"; zoom streams are operation_logs, phone_operation_logs",
            "tenants[0].streams[3]: \"operation_logs\" is listed twice",
            "tenants[0].plan: unknown plan \"gold\"; expected free, pro or business",
            "tenants[0].client_id: is required for a zoom tenant",
            "tenants[0].client_secret: environment variable TRAWL_TEST_UNSET_VARIABLE is not set",
            "tenants[0].api_base: \"ftp://api.zoom.us\" has scheme \"ftp\"; only http and https are supported",
            "tenants[1].provider: unknown provider \"teams\"; expected \"zoom\" or \"zoho\"",
            "tenants[2].provider: is required: \"zoom\" or \"zoho\"",
            "tenants[3].client_secret: cannot read secret file missing_secret_file: No such file or directory (os error 2)",
            "tenants[3].refresh_token: environment variable EMPTY_VARIABLE is empty",
            "tenants[3].data_center: unknown data center \"de\"; expected one of com, eu, in, com.au, jp, com.cn, sa, ca, uk",
            "tenants[3].mail_base: \"not a url\" is not a URL (relative URL without a base)",
            "tenants[3].lookback: lookback (40d) must not be longer than backfill (30d)",
            "tenants[3].quota_share: 0 is outside [0.001, 1]: the share of the account's quota trawl may use, e.g. 0.5 for half",
            "tenants[3].rate_limits.operation_logs: unknown key; expected one of: mail_audit",
        ];
        expected.sort();
        assert_eq!(errors(j, MANY_MISTAKES), expected);
    });
}

#[test]
fn topics_must_be_names_kafka_accepts() {
    jail(|j| {
        j.set_env("ACME_SECRET", "s");
        assert_eq!(
            error(j, &with_tenant("topic = \"audit.{tenat}\"")),
            "kafka.topic: topic template \"audit.{tenat}\" has an unknown placeholder \"tenat\"; \
             expected {tenant} or {source}"
        );
        assert_eq!(
            error(j, &with_tenant("checkpoint_topic = \"cp.{tenant}\"")),
            "kafka.checkpoint_topic: \"cp.{tenant}\": this is one topic for all streams, \
             placeholders such as {tenant} are not allowed here"
        );
        let long = format!("topic = \"{}.{{tenant}}\"", "x".repeat(245));
        assert_eq!(
            error(j, &with_tenant(&long)),
            format!(
                "kafka.topic: for stream acme/zoom.operation_logs: topic name \"{}.acme\" is \
                 longer than 249 characters",
                "x".repeat(245)
            )
        );
        assert_eq!(
            error(j, &with_tenant("topic = \"trawl.dead_letter\"")),
            "kafka.topic: for stream acme/zoom.operation_logs: \"trawl.dead_letter\" is also the \
             checkpoint or dead-letter topic"
        );
        // A template without {source} is allowed; the report warns that sources share a topic.
        let c = load_in(j, &with_tenant("topic = \"audit.{tenant}\"")).unwrap();
        assert_eq!(
            c.warnings[0].to_string(),
            "kafka.topic: has no {source}: events of different sources share a topic"
        );
    });
}

#[test]
fn kafka_needs_brokers_and_keeps_its_own_properties() {
    jail(|j| {
        j.set_env("ACME_SECRET", "s");
        assert_eq!(
            error(j, &with_tenant("").replace(KAFKA, "")),
            "kafka.brokers: is required, e.g. \"kafka-1:9092,kafka-2:9092\""
        );
        assert_eq!(
            error(
                j,
                &with_tenant("[kafka.properties]\n\"enable.idempotence\" = false")
            ),
            "kafka.properties.\"enable.idempotence\": is set by trawl; trawl always uses the \
             idempotent producer (exactly-once delivery); remove it"
        );
        assert_eq!(
            error(j, &with_tenant("").replace("localhost:9092", "a:1,,b:2")),
            "kafka.brokers: \"a:1,,b:2\" is not a comma-separated list of host:port"
        );
        // Bare dotted keys nest in TOML (and in TRAWL_KAFKA__PROPERTIES__...): flattened back.
        j.set_env("OAUTH_CONFIG", "logicalCluster=oauth-canary-3b");
        let props = "[kafka.properties]\nsasl.username = \"u\"\nlinger.ms = 5\n\
                     \"sasl.oauthbearer.extensions\" = { env = \"OAUTH_CONFIG\" }";
        let c = load_in(j, &with_tenant(props)).unwrap();
        let keys: Vec<&str> = c
            .engine
            .kafka
            .properties
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            ["linger.ms", "sasl.oauthbearer.extensions", "sasl.username"]
        );
        // A secret reference makes the property secret whatever its name.
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
        let k = &c.engine.kafka;
        assert!(k.is_secret("sasl.oauthbearer.extensions") && !k.is_secret("sasl.username"));
        assert!(!trawl_kafka::is_secret_property(
            "sasl.oauthbearer.extensions"
        ));
        assert!(!format!("{c:?}").contains("oauth-canary-3b"));
    });
}

#[test]
fn tenant_overrides_obey_the_same_rules_as_defaults() {
    jail(|j| {
        j.set_env("ACME_SECRET", "s");
        assert_eq!(
            error(j, &format!("{}backfill = \"183d\"", with_tenant(""))),
            "tenants[0].backfill: 183d is more than the APIs keep: at most 182d (6 months)"
        );
        assert_eq!(
            error(j, &format!("{}backfill = \"12h\"", with_tenant(""))),
            "tenants[0].backfill: lookback (1d) must not be longer than backfill (12h)"
        );
        assert_eq!(
            error(j, &format!("{}poll_interval = 300", with_tenant(""))),
            "tenants[0].poll_interval: expected a duration string such as \"5m\", found a number"
        );
        let rates = "[tenants.rate_limits.operation_logs]\nper_second = -1.0\ndaily = 0\n";
        assert_eq!(
            errors(j, &format!("{}{rates}", with_tenant(""))),
            [
                "tenants[0].rate_limits.operation_logs.daily: 0 is not between 1 and 4294967295",
                "tenants[0].rate_limits.operation_logs.per_second: -1 is not a rate between 0.001 and 10000 requests a second",
            ]
        );
    });
}

#[test]
fn misplaced_and_misspelt_keys_are_refused() {
    jail(|j| {
        j.set_env("ACME_SECRET", "s");
        assert_eq!(
            error(j, &format!("{}client_secert = \"x\"", with_tenant(""))),
            "tenants[0].client_secert: unknown key; did you mean `client_secret`?"
        );
        assert_eq!(
            error(j, &with_tenant("[checkpoints]\nstore = \"s3\"")),
            "checkpoints.store: unknown checkpoint store \"s3\"; expected \"kafka\" or \"file\""
        );
        assert_eq!(
            error(j, &with_tenant("[server]\nlisten = 9090")),
            "server.listen: \"9090\" is not a socket address; write an IP address and a port, e.g. \
             \"127.0.0.1:9090\" or \"[::]:9090\""
        );
        assert_eq!(
            error(j, &format!("{}streams = []", with_tenant(""))),
            "tenants[0].streams: must list at least one stream (leave it out for all of the \
             provider's streams)"
        );
    });
}

#[test]
fn values_that_could_break_the_run_are_refused_with_their_path() {
    jail(|j| {
        j.set_env("ACME_SECRET", "s");
        let toml = format!(
            "{KAFKA}[http]\nmax_body_bytes = 10\n[defaults]\npoll_interval = \"1000000000y\"\n\
             [[tenants]]\nid = \"acme\"\nprovider = \"zoom\"\naccount_id = \"a\"\n\
             client_id = \"c\"\nclient_secret = {{ env = \"ACME_SECRET\" }}\n\
             poll_interval = \"2d\"\nmax_concurrent_windows = 100000000000\n\
             quota_share = 1e-9\napi_base = \"http://api.zoom.us\"\n\
             oauth_base = \"https://169.254.169.254\"\n\
             rate_limits.operation_logs = {{ per_second = 1e-9 }}\n"
        );
        assert_eq!(
            errors(j, &toml),
            [
                "defaults.poll_interval: \"1000000000y\" is longer than any setting allows (at most 366d)",
                "http.max_body_bytes: 10 is not between 65536 (64 KiB) and 1073741824 (1 GiB) bytes",
                "tenants[0].api_base: \"http://api.zoom.us/\" is plain http to a host that is not loopback: credentials and audit data would travel unencrypted; use https, or set allow_insecure_http = true",
                "tenants[0].max_concurrent_windows: 100000000000 is more than 64 (the limiter sets the pace; more windows in flight only hold memory)",
                "tenants[0].oauth_base: \"https://169.254.169.254/\" points at a link-local address (cloud metadata services live there): a tenant file must not turn trawl into a probe of the internal network; set allow_private_network = true if this is intended",
                "tenants[0].poll_interval: 2d is outside 1s to 1d",
                "tenants[0].quota_share: 0.000000001 is outside [0.001, 1]: the share of the account's quota trawl may use, e.g. 0.5 for half",
                "tenants[0].rate_limits.operation_logs.per_second: 0.000000001 is not a rate between 0.001 and 10000 requests a second",
            ]
        );
        // Allowed explicitly: both URLs load.
        let allowed = toml
            .replace("[http]\nmax_body_bytes = 10\n", "")
            .replace("poll_interval = \"1000000000y\"\n", "")
            .replace("poll_interval = \"2d\"\n", "")
            .replace("max_concurrent_windows = 100000000000\n", "")
            .replace("quota_share = 1e-9\n", "")
            .replace("rate_limits.operation_logs = { per_second = 1e-9 }\n", "")
            + "allow_insecure_http = true\nallow_private_network = true\n";
        let c = load_in(j, &allowed).unwrap();
        assert_eq!(
            c.engine.tenants[0].settings.poll_interval,
            std::time::Duration::from_secs(300)
        );
    });
}

/// No `TRAWL_*` value can make a loaded configuration unsafe to run: every hostile value
/// of every numeric, duration and address setting is either refused with its path or
/// yields values the engine's conversions (dates, instants, timers, limiter intervals)
/// take without a panic. (`fuzz/`'s `config_loader` target does the same for files.)
#[test]
fn hostile_environment_values_are_refused_or_safe() {
    let keys = [
        "TRAWL_DEFAULTS__POLL_INTERVAL",
        "TRAWL_DEFAULTS__BACKFILL",
        "TRAWL_DEFAULTS__LOOKBACK",
        "TRAWL_DEFAULTS__QUOTA_SHARE",
        "TRAWL_DEFAULTS__MAX_CONCURRENT_WINDOWS",
        "TRAWL_HTTP__MAX_BODY_BYTES",
        "TRAWL_KAFKA__PARTITIONS",
        "TRAWL_KAFKA__REPLICATION",
        "TRAWL_SERVER__LISTEN",
        "TRAWL_METRICS__TENANT_LABEL",
    ];
    let values = [
        "",
        " ",
        "0",
        "-1",
        "0123",
        "1e309",
        "-1e309",
        "NaN",
        "inf",
        "1e-300",
        "99999999999999999999999999",
        "18446744073709551616",
        "1000000000y",
        "584942417355y",
        "1ns",
        "true",
        "[1, 2]",
        "{ x = 1 }",
        "999999h",
        "1.5",
        "[::]:99999",
        // Edge values that are allowed:
        "1",
        "64",
        "1s",
        "24h",
        "1d",
        "182d",
        "0.001",
        "127.0.0.1:0",
        "false",
    ];
    jail(|j| {
        let (mut loaded, mut refused) = (0, 0);
        for key in keys {
            for value in values {
                j.clear_env();
                j.set_env("ACME_SECRET", "s");
                j.set_env(key, value);
                let Ok(c) = load_in(j, &with_tenant("")) else {
                    refused += 1;
                    continue;
                };
                loaded += 1;
                {
                    let now = chrono::Utc::now();
                    for t in &c.engine.tenants {
                        let s = &t.settings;
                        for d in [s.poll_interval, s.backfill, s.lookback] {
                            let cd = chrono::Duration::from_std(d).expect("fits a date");
                            let _ = now - cd - cd;
                            let _ = std::time::Instant::now() + d + d;
                        }
                        assert!((0.001..=1.0).contains(&s.quota_share), "{key}={value:?}");
                        assert!(s.max_concurrent_windows.get() <= 64, "{key}={value:?}");
                    }
                }
            }
        }
        // Both outcomes occur: the check is not vacuous.
        assert!(
            loaded > 10 && refused > 100,
            "{loaded} loaded, {refused} refused"
        );
    });
}

#[test]
fn gap_retry_is_a_bounded_duration_per_tenant() {
    jail(|j| {
        j.set_env("ACME_SECRET", "s");
        let c = load_in(
            j,
            &format!(
                "{}gap_retry = \"15m\"",
                with_tenant("[defaults]\ngap_retry = \"2h\"")
            ),
        )
        .unwrap();
        assert_eq!(
            c.engine.defaults.gap_retry,
            std::time::Duration::from_secs(2 * 3600)
        );
        assert_eq!(
            c.engine.tenants[0].settings.gap_retry,
            std::time::Duration::from_secs(15 * 60)
        );
        assert_eq!(
            error(j, &format!("{}gap_retry = \"10s\"", with_tenant(""))),
            "tenants[0].gap_retry: 10s is outside 1m to 7d: how often a window given up on \
             (a gap: its answer kept failing) is tried again"
        );
    });
}

#[test]
fn disabled_recheck_is_a_bounded_duration_per_tenant() {
    jail(|j| {
        j.set_env("ACME_SECRET", "s");
        let c = load_in(
            j,
            &format!(
                "{}disabled_recheck = \"6h\"",
                with_tenant("[defaults]\ndisabled_recheck = \"2d\"")
            ),
        )
        .unwrap();
        assert_eq!(
            c.engine.defaults.disabled_recheck,
            std::time::Duration::from_secs(2 * 86400)
        );
        assert_eq!(
            c.engine.tenants[0].settings.disabled_recheck,
            std::time::Duration::from_secs(6 * 3600)
        );
        assert_eq!(
            error(j, &format!("{}disabled_recheck = \"90d\"", with_tenant(""))),
            "tenants[0].disabled_recheck: 90d is outside 1s to 30d: how often a stream \
             disabled for a missing product (no Zoom Phone plan) is tried again"
        );
    });
}

#[test]
fn recheck_tiers_are_read_and_checked_per_tenant() {
    use trawl_engine::config::RecheckSchedule;
    jail(|j| {
        j.set_env("ACME_SECRET", "s");
        let c = load_in(
            j,
            &format!(
                "{}recheck = [\"lookback every 2h\", \"30m every 5m\"]",
                with_tenant("")
            ),
        )
        .unwrap();
        let tiers = c.engine.tenants[0].settings.recheck;
        assert_eq!(tiers.tiers().len(), 2);
        assert_eq!(
            tiers.tiers()[0].age,
            Some(std::time::Duration::from_secs(1800))
        );
        assert_eq!(tiers.tiers()[1].every, std::time::Duration::from_secs(7200));
        assert_eq!(c.engine.defaults.recheck, RecheckSchedule::default());
        let c = load_in(j, &format!("{}recheck = \"every poll\"", with_tenant(""))).unwrap();
        assert_eq!(
            c.engine.tenants[0].settings.recheck,
            RecheckSchedule::every_poll()
        );
        assert!(error(
            j,
            &format!(
                "{}recheck = [\"1h every 6h\", \"lookback every 1h\"]",
                with_tenant("")
            )
        )
        .starts_with("tenants[0].recheck: a deeper tier re-reads more often"));
        assert!(error(
            j,
            &format!("{}recheck = [\"soon every 1h\"]", with_tenant(""))
        )
        .starts_with("tenants[0].recheck: \"soon every 1h\": the age"));
        assert!(error(j, &format!("{}recheck = []", with_tenant("")))
            .starts_with("tenants[0].recheck: holds 1 to 4 tiers, found 0"));
        assert!(error(j, &format!("{}recheck = 5", with_tenant("")))
            .starts_with("tenants[0].recheck: expected a string or a list of strings"));
    });
}
