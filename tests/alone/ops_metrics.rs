//! `/metrics` tells the truth, in a format Prometheus accepts, and everything the deploy
//! files name exists.
//!
//! One run of `trawl` (the same `run::start` as the binary: HTTP endpoints, engine) over
//! three simulated tenants through Apache Kafka in transactional mode, where another app
//! eats 80 %
//! of the Zoom accounts' quota so trawl is answered 429. Once every stream is live and
//! idle (a one-hour poll interval), the counters must equal the ground truth: pages =
//! answers the simulator admitted, 429s = answers it refused, events = records on Kafka.
//! The same output passes `promtool check metrics`, contains every metric the Grafana
//! dashboard and the alert rules use, and a real Prometheus scraping trawl returns the
//! lag and 429 series through its HTTP API. The Kafka side of this clean run logs no WARN
//! or ERROR line (reaching the end of a partition is not a warning).

use std::collections::BTreeMap;
use std::time::Duration;

use trawl::cli::LogFormat;
use trawl::run::{start, StartOptions};
use trawl_engine::status::StreamState;
use trawl_sim::{SimConfig, Simulator};
use trawl_suite::harness::{backfill_start, by_stream, engine_toml, fleet, sim_toml, wait_for};
use trawl_suite::ops::{
    get, metric_names_in, promtool, repo_root, samples, sum, LogBuffer, PrometheusServer,
};
use trawl_suite::{truth, Bed, KafkaBroker, Mode};

/// Deploy files whose metric names must exist in `/metrics`.
const DEPLOY_FILES: [&str; 3] = [
    "deploy/grafana/dashboards/trawl.json",
    "deploy/prometheus/alerts.yml",
    "deploy/kubernetes/prometheusrule.yaml",
];

#[test]
fn promtool_accepts_the_alert_rules() {
    let rules = repo_root().join("deploy/prometheus/alerts.yml");
    let (ok, out) = promtool(&["check", "rules", rules.to_str().unwrap()], "");
    assert!(ok, "promtool check rules: {out}");
    assert!(out.contains("SUCCESS"), "{out}");
    // The Kubernetes PrometheusRule holds the same groups, indented under `spec:`.
    let src = std::fs::read_to_string(&rules).unwrap();
    let groups = &src[src.find("groups:").unwrap()..];
    let indented: String = groups
        .lines()
        .map(|l| {
            if l.trim().is_empty() {
                "\n".to_string()
            } else {
                format!("  {l}\n")
            }
        })
        .collect();
    let crd =
        std::fs::read_to_string(repo_root().join("deploy/kubernetes/prometheusrule.yaml")).unwrap();
    assert!(
        crd.contains(&indented),
        "prometheusrule.yaml differs from alerts.yml"
    );
}

#[actix_rt::test]
async fn metrics_match_the_run_and_prometheus_reads_them() {
    // Alone in a process of its own: it reads every log line of the process.
    if !trawl_suite::child::alone(
        module_path!(),
        "metrics_match_the_run_and_prometheus_reads_them",
    ) {
        return;
    }
    let logs = LogBuffer::default();
    let sink = logs.clone();
    trawl::logging::init_to(LogFormat::Json, "info", move || sink.clone());
    let bed = Bed::new(
        "metrics",
        KafkaBroker::shared().bootstrap(),
        Mode::Transactional,
    );
    let tenants = fleet(2, 1, 1500);
    // Another app uses 80 % of each Zoom account's quota: trawl, configured for the
    // plan's full rate, is answered 429 and must count each one.
    let sim_text = sim_toml(&tenants, 5, "[data]\nlate_share = 0.0\n").replace(
        "plan = \"pro\"\n",
        "plan = \"pro\"\nneighbour_share = 0.8\n",
    );
    let sim_cfg: SimConfig = toml::from_str(&sim_text).unwrap();
    let sim = Simulator::start(sim_cfg, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let toml = engine_toml(
        &tenants,
        &sim.base_url(),
        &bed.brokers,
        &bed.kafka_toml(),
        "poll_interval = \"1h\"\nbackfill = \"4d\"\nlookback = \"1h\"\n",
    );
    let mut config = trawl::config::load_str(&toml).expect("test config loads");
    config.server.listen = "127.0.0.1:0".parse().unwrap();
    let streams: usize = config.engine.tenants.iter().map(|t| t.streams.len()).sum();
    let backfill_from = backfill_start(4).await;
    let trawl = start(config, StartOptions::default()).await.unwrap();
    let addr = trawl.addr();

    // Live and idle: each stream sleeps until its next poll, an hour away.
    let watermarks = wait_for(
        Duration::from_secs(180),
        "every stream live and idle",
        || {
            let s = trawl.engine.status.snapshot();
            (s.len() == streams && s.iter().all(|r| r.state == StreamState::Live && r.waiting))
                .then(|| {
                    s.iter()
                        .map(|r| ((r.tenant.clone(), r.source.clone()), r.watermark.unwrap()))
                        .collect()
                })
        },
    )
    .await;
    let (code, text) = get(addr, "/metrics").await;
    assert_eq!(code, 200);

    // Pages and 429s equal what the simulator answered.
    let stats = sim.stats();
    let admitted: u64 = stats.limits.iter().map(|l| l.ok).sum();
    let refused: u64 = stats
        .limits
        .iter()
        .map(|l| l.rate_limited_qps + l.rate_limited_daily)
        .sum();
    let pages = sum(&text, "trawl_pages_fetched_total", &[]) as u64;
    let limited = sum(&text, "trawl_rate_limited_total", &[]) as u64;
    println!("pages {pages} (simulator admitted {admitted}), 429s {limited} (simulator refused {refused})");
    assert_eq!(
        pages, admitted,
        "pages fetched vs. requests the simulator answered"
    );
    assert_eq!(
        limited, refused,
        "429s counted vs. 429s the simulator answered"
    );
    assert!(
        limited > 0,
        "the neighbour app makes the simulator answer 429"
    );
    assert_eq!(
        sum(&text, "trawl_http_requests_total", &[("status", "200")]) as u64,
        admitted
    );
    assert_eq!(
        sum(&text, "trawl_http_requests_total", &[("status", "429")]) as u64,
        refused
    );
    assert_eq!(
        sum(
            &text,
            "trawl_rate_limited_total",
            &[("label", "Heavy"), ("type", "qps")]
        ) as u64,
        stats.limits.iter().map(|l| l.rate_limited_qps).sum::<u64>()
    );

    // Kafka holds the ground truth (by content and multiplicity), and the events counted
    // per stream equal what is on Kafka.
    let published = bed.published().unwrap();
    truth::compare(
        &sim,
        &tenants,
        &published,
        &by_stream(&tenants, &watermarks),
        backfill_from,
    )
    .unwrap_or_else(|p| panic!("not exactly the ground truth: {p:#?}"));
    let mut on_kafka: BTreeMap<(String, String), u64> = BTreeMap::new();
    for (key, events) in published {
        on_kafka.insert(
            (key.tenant.to_string(), key.source.to_string()),
            events.len() as u64,
        );
    }
    let mut counted: BTreeMap<(String, String), u64> = BTreeMap::new();
    for s in samples(&text) {
        if s.name == "trawl_events_published_total" && s.value > 0.0 {
            counted.insert(
                (s.labels["tenant"].clone(), s.labels["source"].clone()),
                s.value as u64,
            );
        }
    }
    assert_eq!(counted, on_kafka, "events counted vs. events on Kafka");
    assert_eq!(counted.len(), streams);
    println!(
        "events {} on Kafka across {} streams",
        on_kafka.values().sum::<u64>(),
        on_kafka.len()
    );

    // Gauges: every stream live, lag under the poll interval, quota left known.
    assert_eq!(
        sum(&text, "trawl_streams", &[("state", "live")]) as usize,
        streams
    );
    let lags: Vec<f64> = samples(&text)
        .into_iter()
        .filter(|s| s.name == "trawl_lag_seconds")
        .map(|s| s.value)
        .collect();
    assert_eq!(lags.len(), streams);
    assert!(lags.iter().all(|l| *l <= 3600.0), "{lags:?}");
    assert!(sum(&text, "trawl_daily_quota_remaining", &[]) > 0.0);
    assert!(sum(&text, "trawl_daily_quota_limit", &[]) > 0.0);
    assert!(sum(&text, "trawl_request_duration_seconds_count", &[]) as u64 >= admitted);

    // Transactions: committed, none aborted in a clean run.
    assert!(
        sum(
            &text,
            "trawl_transactions_total",
            &[("result", "committed")]
        ) > 0.0
    );
    assert_eq!(
        sum(&text, "trawl_transactions_total", &[("result", "aborted")]),
        0.0
    );

    check_format_and_deploy_names(&text);
    check_with_prometheus(addr).await;

    trawl.stop().await;
    sim.stop().await;
    check_kafka_log_levels(&logs.text());
}

/// No line of the Kafka side (trawl-kafka, librdkafka, the publisher, read-backs and
/// checkpoints) is a WARN or ERROR in a clean run.
fn check_kafka_log_levels(text: &str) {
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(lines.len() > 10, "logs were captured: {}", lines.len());
    let kafka_side = |v: &serde_json::Value| {
        let target = v["target"].as_str().unwrap_or("");
        let text = v.to_string().to_lowercase();
        target.starts_with("trawl_kafka")
            || target.contains("rdkafka")
            || target.contains("publisher")
            || text.contains("kafka")
            || text.contains("read back")
            || text.contains("checkpoint")
    };
    let loud: Vec<String> = lines
        .iter()
        .filter(|v| matches!(v["level"].as_str(), Some("WARN" | "ERROR")) && kafka_side(v))
        .map(|v| v.to_string())
        .collect();
    assert!(
        loud.is_empty(),
        "WARN/ERROR lines about Kafka in a clean run: {loud:#?}"
    );
}

/// `promtool check metrics` accepts the output, every family has real HELP text, and
/// every `trawl_*` name in the dashboard and the rules is a series trawl exports.
fn check_format_and_deploy_names(text: &str) {
    let (ok, out) = promtool(&["check", "metrics"], text);
    assert!(ok && out.trim().is_empty(), "promtool check metrics: {out}");
    for line in text.lines().filter(|l| l.starts_with("# HELP ")) {
        let help = line.splitn(4, ' ').nth(3).unwrap_or("");
        assert!(help.len() >= 20, "thin HELP text: {line}");
    }
    let exported: std::collections::BTreeSet<String> =
        samples(text).into_iter().map(|s| s.name).collect();
    for file in DEPLOY_FILES {
        let content = std::fs::read_to_string(repo_root().join(file)).unwrap();
        let names = metric_names_in(&content);
        assert!(!names.is_empty(), "{file} names no metric");
        let missing: Vec<_> = names.iter().filter(|n| !exported.contains(*n)).collect();
        assert!(
            missing.is_empty(),
            "{file} uses metrics trawl does not export: {missing:?}"
        );
    }
    let table = std::fs::read_to_string(repo_root().join("deploy/METRICS.md")).unwrap();
    for line in text.lines().filter(|l| l.starts_with("# TYPE ")) {
        let name = line.split(' ').nth(2).unwrap();
        assert!(
            table.contains(&format!("`{name}`")),
            "{name} is not in deploy/METRICS.md"
        );
    }
}

/// A real Prometheus scrapes trawl and answers queries for its lag and 429 series, with
/// the alert rules loaded.
async fn check_with_prometheus(target: std::net::SocketAddr) {
    let rules = repo_root().join("deploy/prometheus/alerts.yml");
    let prom = PrometheusServer::start(target, &rules).unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let mut found = (Vec::new(), Vec::new());
    while tokio::time::Instant::now() < deadline {
        let lag = prom.query("trawl_lag_seconds{job=\"trawl\"}").await;
        let limited = prom
            .query("sum by (tenant, label, type) (trawl_rate_limited_total{job=\"trawl\"})")
            .await;
        if let (Ok(l), Ok(r)) = (lag, limited) {
            if !l.is_empty() && !r.is_empty() {
                found = (l, r);
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let (lag, limited) = found;
    assert!(
        !lag.is_empty(),
        "no lag series in Prometheus: {}",
        prom.log()
    );
    assert!(lag.iter().all(|s| s["metric"]["tenant"].is_string()));
    assert!(!limited.is_empty(), "no 429 series in Prometheus");
    assert!(limited
        .iter()
        .all(|s| s["metric"]["label"] == "Heavy" && s["metric"]["type"] == "qps"));
    let (code, body) =
        trawl_suite::ops::get_url(&format!("http://{}/api/v1/rules", prom.addr)).await;
    assert_eq!(code, 200);
    assert!(
        body.contains("TrawlTenantStale") && !body.contains("\"health\":\"err\""),
        "{body}"
    );
}

/// The configurations shipped in `deploy/` load with the real loader, and the commands
/// the compose file and the Kubernetes Deployment run parse with trawl's real CLI.
#[test]
fn deploy_configurations_and_commands_are_valid() {
    // Alone in a process of its own: it sets environment variables.
    if !trawl_suite::child::alone(
        module_path!(),
        "deploy_configurations_and_commands_are_valid",
    ) {
        return;
    }
    use clap::Parser as _;
    let root = repo_root();
    // docker-compose: secrets from the environment, tenants from deploy/compose/tenants.d.
    for (name, value) in [
        ("ACME_ZOOM_CLIENT_SECRET", "a"),
        ("GLOBEX_ZOOM_CLIENT_SECRET", "b"),
        ("UMBRELLA_ZOHO_CLIENT_SECRET", "c"),
        ("UMBRELLA_ZOHO_REFRESH_TOKEN", "d"),
    ] {
        std::env::set_var(name, value);
    }
    let compose = std::fs::read_to_string(root.join("deploy/compose/trawl.toml"))
        .unwrap()
        .replace(
            "/etc/trawl/tenants.d",
            root.join("deploy/compose/tenants.d").to_str().unwrap(),
        );
    let c = trawl::config::load_str(&compose).unwrap_or_else(|e| panic!("compose: {e}"));
    assert_eq!(c.engine.tenants.len(), 3);
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    // Kubernetes: secrets from files of the mounted Secret.
    let secrets = tempfile::tempdir().unwrap();
    for f in ["kafka-password", "acme-zoom-client-secret"] {
        std::fs::write(secrets.path().join(f), "x\n").unwrap();
    }
    let k8s = |file: &str| {
        std::fs::read_to_string(root.join("deploy/kubernetes").join(file))
            .unwrap()
            .replace("/var/run/secrets/trawl", secrets.path().to_str().unwrap())
    };
    let tenants = tempfile::tempdir().unwrap();
    std::fs::write(tenants.path().join("acme.toml"), k8s("tenants.d/acme.toml")).unwrap();
    let main = k8s("trawl.toml").replace("/etc/trawl/tenants.d", tenants.path().to_str().unwrap());
    let c = trawl::config::load_str(&main).unwrap_or_else(|e| panic!("kubernetes: {e}"));
    assert_eq!(c.engine.tenants.len(), 1);
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    // The command both run, and the port everything points at.
    trawl::cli::Cli::try_parse_from(["trawl", "run", "--config", "/etc/trawl/trawl.toml"]).unwrap();
    for file in [
        "deploy/Dockerfile",
        "deploy/docker-compose.yml",
        "deploy/compose/prometheus.yml",
        "deploy/kubernetes/deployment.yaml",
        "deploy/kubernetes/service.yaml",
    ] {
        let text = std::fs::read_to_string(root.join(file)).unwrap();
        assert!(text.contains("9898"), "{file} uses trawl's port 9898");
    }
}
