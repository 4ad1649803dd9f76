//! SASL_SSL as managed clusters run it: Apache Kafka with a SCRAM-SHA-512 listener over
//! TLS (a CA and a broker certificate made by the test, the SCRAM user added when the
//! storage is formatted). trawl connects through `[kafka.properties]` with the password
//! as `{ env = ... }` and delivers a backfill exactly; with a wrong password it stops
//! with an error that names the cause. Neither password appears anywhere: not in any log
//! line of the run (JSON, debug level, every crate including librdkafka's), `/readyz`,
//! `/status`, `/metrics`, or the error.

use std::collections::HashMap;
use std::time::Duration;

use trawl::cli::LogFormat;
use trawl::run::{start, StartOptions};
use trawl_engine::status::StreamState;
use trawl_model::StreamKey;
use trawl_sim::{SimConfig, Simulator};
use trawl_suite::harness::{backfill_start, engine_toml, fleet, sim_toml, wait_for};
use trawl_suite::ops::{get, LogBuffer};
use trawl_suite::{truth, Bed, KafkaBroker, Mode};

const PASSWORD: &str = "CANARY-kafka-pw-51d2";
const WRONG: &str = "CANARY-wrong-pw-77e0";

/// `[kafka]` settings for the SASL_SSL listener, the password from `password_env`.
fn secure_kafka(broker: &KafkaBroker, bed: &Bed, password_env: &str) -> String {
    let sasl = broker.sasl().expect("a SASL_SSL broker");
    format!(
        "{}[kafka.properties]\n\"security.protocol\" = \"SASL_SSL\"\n\
         \"sasl.mechanisms\" = \"SCRAM-SHA-512\"\n\"sasl.username\" = \"{}\"\n\
         \"sasl.password\" = {{ env = \"{password_env}\" }}\n\"ssl.ca.location\" = \"{}\"\n",
        bed.kafka_toml(),
        sasl.username,
        sasl.tls.ca.display()
    )
}

#[actix_rt::test]
async fn trawl_delivers_over_sasl_ssl_and_a_wrong_password_is_a_clear_error_without_it() {
    // Alone in a process of its own: it reads every log line of the process and sets environment variables.
    if !trawl_suite::child::alone(
        module_path!(),
        "trawl_delivers_over_sasl_ssl_and_a_wrong_password_is_a_clear_error_without_it",
    ) {
        return;
    }
    let logs = LogBuffer::default();
    let sink = logs.clone();
    trawl::logging::init_to(LogFormat::Json, "debug", move || sink.clone());
    std::env::set_var("TRAWL_TEST_KAFKA_PASSWORD", PASSWORD);
    std::env::set_var("TRAWL_TEST_KAFKA_WRONG", WRONG);

    let broker = KafkaBroker::sasl_ssl("trawl", PASSWORD);
    let secure = broker.secure_bootstrap().unwrap();
    // What trawl wrote is read back through the broker's plaintext listener.
    let bed = Bed::new("sasl", broker.bootstrap(), Mode::Transactional);
    let tenants = fleet(1, 1, 300);
    let sim_cfg: SimConfig =
        toml::from_str(&sim_toml(&tenants, 5, "[data]\nlate_share = 0.0\n")).unwrap();
    let sim = Simulator::start(sim_cfg, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let defaults = "poll_interval = \"1h\"\nbackfill = \"3d\"\nlookback = \"1h\"\n";
    let kafka = secure_kafka(&broker, &bed, "TRAWL_TEST_KAFKA_PASSWORD");
    let toml = engine_toml(&tenants, &sim.base_url(), &secure, &kafka, defaults);
    let toml = format!("{toml}\n[server]\nlisten = \"127.0.0.1:0\"\n");
    let config = trawl::config::load_str(&toml).unwrap_or_else(|e| panic!("{e}"));
    let streams: usize = config.engine.tenants.iter().map(|t| t.streams.len()).sum();
    let start_day = backfill_start(3).await;
    let trawl = start(config, StartOptions::default()).await.unwrap();
    let addr = trawl.addr();
    let watermarks: HashMap<StreamKey, _> = wait_for(
        Duration::from_secs(120),
        "every stream live over SASL_SSL",
        || {
            let s = trawl.engine.status.snapshot();
            (s.len() == streams && s.iter().all(|r| r.state == StreamState::Live)).then(|| {
                tenants
                    .iter()
                    .flat_map(|t| t.streams().into_iter().map(move |k| t.key(k)))
                    .map(|k| {
                        let r = s
                            .iter()
                            .find(|r| {
                                r.tenant == k.tenant.as_str() && r.source == k.source.as_str()
                            })
                            .unwrap();
                        (k, r.watermark.unwrap())
                    })
                    .collect()
            })
        },
    )
    .await;
    let (ready, ready_body) = get(addr, "/readyz").await;
    assert_eq!(ready, 200, "{ready_body}");
    let (_, status_body) = get(addr, "/status").await;
    let (_, metrics_body) = get(addr, "/metrics").await;
    trawl.stop().await;
    let b = bed.clone();
    let published = tokio::task::spawn_blocking(move || b.published())
        .await
        .unwrap()
        .unwrap();
    let total = truth::compare(&sim, &tenants, &published, &watermarks, start_day)
        .unwrap_or_else(|p| panic!("not exactly the ground truth: {p:#?}"));
    assert!(total > 1_000, "{total} records");

    // The wrong password: trawl stops with the cause named.
    let bed = Bed::new("sasl-wrong", broker.bootstrap(), Mode::Idempotent);
    let kafka = secure_kafka(&broker, &bed, "TRAWL_TEST_KAFKA_WRONG");
    let toml = engine_toml(&tenants, &sim.base_url(), &secure, &kafka, defaults);
    let toml = format!("{toml}\n[server]\nlisten = \"127.0.0.1:0\"\n");
    let config = trawl::config::load_str(&toml).unwrap();
    let err = match tokio::time::timeout(
        Duration::from_secs(60),
        start(config, StartOptions::default()),
    )
    .await
    {
        Ok(Err(e)) => format!("{e:#}"),
        Ok(Ok(_)) => panic!("trawl started with a wrong password"),
        Err(_) => {
            let text = logs.text();
            let lines: Vec<&str> = text.lines().collect();
            panic!(
                "a wrong password must stop trawl, not make it wait: {}",
                lines
                    .iter()
                    .filter(|l| !l.contains("librdkafka"))
                    .rev()
                    .take(15)
                    .copied()
                    .collect::<Vec<_>>()
                    .join("\n")
            )
        }
    };
    println!("wrong password: {err}");
    assert!(
        err.to_lowercase().contains("authentication"),
        "the error names the cause: {err}"
    );
    sim.stop().await;

    let text = logs.text();
    assert!(text.lines().count() > 20, "logs were captured");
    for (what, body) in [
        ("logs", text.as_str()),
        ("/readyz", ready_body.as_str()),
        ("/status", status_body.as_str()),
        ("/metrics", metrics_body.as_str()),
        ("the error", err.as_str()),
    ] {
        for pw in [PASSWORD, WRONG] {
            let hits: Vec<&str> = body.lines().filter(|l| l.contains(pw)).collect();
            assert!(hits.is_empty(), "a password in {what}: {hits:#?}");
        }
    }
}
