//! The Apache Kafka fixture itself: a node killed with -9 comes back on the same ports
//! with its data, and a test process that is SIGKILLed leaves no broker JVM behind.

use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::producer::{FutureProducer, FutureRecord};
use trawl_suite::KafkaBroker;

const CHILD_ENV: &str = "TRAWL_FIXTURE_CHILD";

/// The child side of the orphan test: starts a broker, prints its JVM pid, waits to be
/// killed. A no-op in a normal test run.
#[test]
fn fixture_child() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    let broker = KafkaBroker::start();
    println!("JVM {}", broker.pids()[0]);
    std::thread::sleep(Duration::from_secs(600));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_node_restarts_with_its_data() {
    let mut b = KafkaBroker::start();
    b.create_topics(&["kept"], 1).await.unwrap();
    let p: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", b.bootstrap())
        .set("acks", "all")
        .create()
        .unwrap();
    for i in 0..10 {
        p.send(
            FutureRecord::to("kept").key("k").payload(&format!("r{i}")),
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    }
    let port = b.bootstrap();
    b.kill();
    assert!(!b.is_running(0));
    b.restart().unwrap();
    assert_eq!(b.bootstrap(), port, "same port");
    let got = trawl_suite::topics::read_topic_payloads(&b.bootstrap(), "kept").unwrap();
    let want: Vec<String> = (0..10).map(|i| format!("r{i}")).collect();
    assert_eq!(got, want, "every record kept across the kill");
}

#[test]
fn a_sigkilled_test_process_leaves_no_broker_behind() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "--exact",
        &trawl_suite::child::test_name(module_path!(), "fixture_child"),
        "--nocapture",
        "--test-threads=1",
    ])
    .env(CHILD_ENV, "1")
    .stdout(Stdio::piped())
    .stderr(Stdio::null());
    let mut child = trawl_suite::process::spawn_guarded(cmd).unwrap();
    let out = BufReader::new(child.stdout.take().unwrap());
    let pid: u32 = out
        .lines()
        .map_while(Result::ok)
        // (libtest's "test fixture_child ... " may precede it on the line)
        .find_map(|l| {
            let at = l.find("JVM ")?;
            l[at + 4..].trim().parse().ok()
        })
        .expect("the child started a broker");
    let alive = |pid: u32| {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| s.split(' ').nth(2).is_none_or(|state| state != "Z"))
            .unwrap_or(false)
    };
    assert!(alive(pid), "the broker runs");
    child.kill().unwrap();
    child.wait().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while alive(pid) {
        assert!(
            std::time::Instant::now() < deadline,
            "broker JVM {pid} outlived its SIGKILLed test process"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
