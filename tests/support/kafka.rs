//! Apache Kafka as a test fixture: the real broker (KRaft, combined broker and
//! controller) from the jars `scripts/test.sh` installs, run with the JDK on free
//! loopback ports, its log directory in a temp dir that survives [`KafkaBroker::restart`].
//!
//! One node ([`KafkaBroker::start`], or [`KafkaBroker::shared`]: one per test binary,
//! each test with its own topics and ids), three ([`KafkaBroker::cluster`]: replication
//! 3, `min.insync.replicas` 2), or one with a SASL_SSL listener ([`KafkaBroker::sasl_ssl`]:
//! SCRAM-SHA-512 over TLS with a CA made by the test). Nodes are killed (`-9`),
//! restarted on the same ports with their data, frozen (SIGSTOP), or stopped; none
//! outlives the test process (see `crate::process`). Start-up is kept short (measured in
//! `benches/RESULTS.md`): a small serial-GC heap, C1 only, one-partition internal topics.

#[path = "kafka/launch.rs"]
mod launch;
#[path = "kafka/tls.rs"]
mod tls;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::types::RDKafkaErrorCode;

use super::process;

pub use tls::TlsFiles;

/// The broker version `tests/support/kafka/pom.xml` names.
pub const KAFKA_VERSION: &str = "4.4.0";

const LOG4J2: &str = include_str!("kafka/log4j2.properties");

/// Where the broker's jars are: `$TRAWL_KAFKA_HOME/libs` (set by `scripts/test.sh`), else
/// `$TRAWL_TOOLS/kafka-<version>/libs`, else `~/.cache/trawl-tools/kafka-<version>/libs`.
pub fn kafka_home() -> Option<PathBuf> {
    let tools = std::env::var_os("TRAWL_TOOLS")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/trawl-tools")));
    std::env::var_os("TRAWL_KAFKA_HOME")
        .map(PathBuf::from)
        .into_iter()
        .chain(tools.map(|t| t.join(format!("kafka-{KAFKA_VERSION}"))))
        .find(|h| {
            h.join(format!("libs/kafka_2.13-{KAFKA_VERSION}.jar"))
                .is_file()
        })
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A random Kafka cluster id (a UUID in URL-safe base64 without padding).
fn cluster_id() -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 16]>())
}

/// A SCRAM user of the SASL_SSL listener and the TLS files clients need.
#[derive(Debug, Clone)]
pub struct SaslSsl {
    pub username: String,
    pub password: String,
    pub tls: TlsFiles,
}

struct Node {
    id: u32,
    dir: PathBuf,
    port: u16,
    controller_port: u16,
    secure_port: Option<u16>,
    child: Option<Child>,
}

/// A running Apache Kafka: one node or several.
pub struct KafkaBroker {
    home: PathBuf,
    dir: PathBuf,
    nodes: Vec<Node>,
    secure: Option<SaslSsl>,
}

impl KafkaBroker {
    /// One node on free loopback ports. Panics with the reason if it cannot start.
    pub fn start() -> KafkaBroker {
        Self::try_start(1, None).unwrap_or_else(|e| panic!("cannot start Kafka: {e:#}"))
    }

    /// The one-node broker all tests of this test binary share (started on first use,
    /// killed when the process ends). Tests sharing it use their own topics and ids.
    pub fn shared() -> &'static KafkaBroker {
        static SHARED: OnceLock<KafkaBroker> = OnceLock::new();
        SHARED.get_or_init(Self::start)
    }

    /// `n` nodes, each broker and controller; topics have `n` replicas and
    /// `min.insync.replicas` is `n - 1`.
    pub fn cluster(n: usize) -> KafkaBroker {
        Self::try_start(n, None).unwrap_or_else(|e| panic!("cannot start a Kafka cluster: {e:#}"))
    }

    /// One node that also listens for SASL_SSL (SCRAM-SHA-512 over TLS) clients, with
    /// `username`/`password` added at format time.
    pub fn sasl_ssl(username: &str, password: &str) -> KafkaBroker {
        Self::try_start(1, Some((username, password)))
            .unwrap_or_else(|e| panic!("cannot start Kafka with SASL_SSL: {e:#}"))
    }

    /// Starts `n` nodes (with a SCRAM user over SASL_SSL when `scram` is given). The
    /// free ports it picks may be taken by another process before the JVM binds them:
    /// then it starts again on other ports (three tries).
    pub fn try_start(n: usize, scram: Option<(&str, &str)>) -> anyhow::Result<KafkaBroker> {
        let mut tries = 0;
        loop {
            tries += 1;
            match Self::start_once(n, scram) {
                Err(e) if tries < 3 && format!("{e:#}").contains("Address already in use") => {
                    eprintln!("Kafka: a port was taken meanwhile; starting again on others");
                }
                other => return other,
            }
        }
    }

    fn start_once(n: usize, scram: Option<(&str, &str)>) -> anyhow::Result<KafkaBroker> {
        let started = Instant::now();
        let home = kafka_home().with_context(|| {
            format!(
                "Apache Kafka {KAFKA_VERSION} not found: set TRAWL_KAFKA_HOME, or run scripts/test.sh once"
            )
        })?;
        let label = if scram.is_some() { "sasl" } else { "plain" };
        let dir = process::broker_dir(&format!("{n}{label}"))?;
        std::fs::write(dir.join("log4j2.properties"), LOG4J2)?;
        let secure = match scram {
            Some((username, password)) => Some(SaslSsl {
                username: username.into(),
                password: password.into(),
                tls: tls::make_certificates(&dir)?,
            }),
            None => None,
        };
        let mut nodes = Vec::with_capacity(n);
        for i in 0..n {
            let node_dir = dir.join(format!("node-{}", i + 1));
            std::fs::create_dir_all(&node_dir)?;
            nodes.push(Node {
                id: i as u32 + 1,
                dir: node_dir,
                port: free_port()?,
                controller_port: free_port()?,
                secure_port: secure.as_ref().map(|_| free_port()).transpose()?,
                child: None,
            });
        }
        let mut b = KafkaBroker {
            home,
            dir,
            nodes,
            secure,
        };
        for i in 0..n {
            std::fs::write(b.nodes[i].dir.join("server.properties"), b.properties(i))?;
        }
        b.format(&cluster_id())?;
        for i in 0..n {
            b.spawn(i)?;
        }
        b.wait_ready(&(0..n).collect::<Vec<_>>(), Duration::from_secs(90))?;
        eprintln!(
            "Kafka {KAFKA_VERSION}: {n} node(s) at {} ready in {:.1} s",
            b.bootstrap(),
            started.elapsed().as_secs_f64()
        );
        Ok(b)
    }

    /// The plaintext listeners of every node, for `bootstrap.servers`.
    pub fn bootstrap(&self) -> String {
        let hosts: Vec<String> = self
            .nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        hosts.join(",")
    }

    /// The SASL_SSL listener (`sasl_ssl` brokers only).
    pub fn secure_bootstrap(&self) -> Option<String> {
        self.nodes[0].secure_port.map(|p| format!("127.0.0.1:{p}"))
    }

    /// The SCRAM user and TLS files (`sasl_ssl` brokers only).
    pub fn sasl(&self) -> Option<&SaslSsl> {
        self.secure.as_ref()
    }

    /// How many nodes the broker has.
    pub fn nodes(&self) -> usize {
        self.nodes.len()
    }

    /// The JVM process ids of the running nodes (benches read their CPU time).
    pub fn pids(&self) -> Vec<u32> {
        self.nodes
            .iter()
            .filter_map(|n| n.child.as_ref().map(Child::id))
            .collect()
    }

    /// Kills node `i` with SIGKILL (its log directory stays).
    pub fn kill_node(&mut self, i: usize) {
        if let Some(mut c) = self.nodes[i].child.take() {
            let _ = c.kill();
            let _ = c.wait();
            process::unregister_pid(c.id());
        }
    }

    /// Starts node `i` again, on the same ports with the same data, and waits until it is
    /// back in the cluster.
    pub fn restart_node(&mut self, i: usize) -> anyhow::Result<()> {
        self.kill_node(i);
        let started = Instant::now();
        self.spawn(i)?;
        self.wait_ready(&[i], Duration::from_secs(90))?;
        eprintln!(
            "Kafka node {} back in {:.1} s",
            i + 1,
            started.elapsed().as_secs_f64()
        );
        Ok(())
    }

    /// Kills the (first) node with SIGKILL.
    pub fn kill(&mut self) {
        self.kill_node(0);
    }

    /// Restarts the (first) node with its data.
    pub fn restart(&mut self) -> anyhow::Result<()> {
        self.restart_node(0)
    }

    /// Stops every node gracefully (SIGTERM: controlled shutdown), SIGKILL after 30 s.
    pub fn stop(&mut self) {
        self.resume();
        self.signal(libc::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(30);
        for i in 0..self.nodes.len() {
            while let Some(c) = self.nodes[i].child.as_mut() {
                if !matches!(c.try_wait(), Ok(None)) || Instant::now() > deadline {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            self.kill_node(i);
        }
    }

    /// Freezes every node (SIGSTOP): connections hang, nothing is lost.
    pub fn pause(&self) {
        self.signal(libc::SIGSTOP);
    }

    /// Lets frozen nodes run again (SIGCONT).
    pub fn resume(&self) {
        self.signal(libc::SIGCONT);
    }

    fn signal(&self, sig: libc::c_int) {
        for n in &self.nodes {
            if let Some(c) = &n.child {
                // SAFETY: kill(2) of our own child.
                unsafe { libc::kill(c.id() as libc::pid_t, sig) };
            }
        }
    }

    /// Whether node `i` is running.
    pub fn is_running(&mut self, i: usize) -> bool {
        matches!(
            self.nodes[i].child.as_mut().map(|c| c.try_wait()),
            Some(Ok(None))
        )
    }

    /// The last lines each node logged (WARN and up).
    pub fn log_tail(&self) -> String {
        let mut out = String::new();
        for n in &self.nodes {
            let text = std::fs::read_to_string(n.dir.join("broker.log")).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            out.push_str(&format!("--- node {} ({}):\n", n.id, n.dir.display()));
            out.push_str(&lines[lines.len().saturating_sub(20)..].join("\n"));
            out.push('\n');
        }
        out
    }

    /// The broker's directory (logs and data of every node).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Creates topics with one replica per node, tolerating ones that exist.
    pub async fn create_topics(&self, names: &[&str], partitions: i32) -> anyhow::Result<()> {
        self.create_topics_with(names, partitions, &[]).await
    }

    /// [`create_topics`](Self::create_topics) with topic configs, e.g.
    /// `("compression.type", "zstd")`.
    pub async fn create_topics_with(
        &self,
        names: &[&str],
        partitions: i32,
        config: &[(&str, &str)],
    ) -> anyhow::Result<()> {
        let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
            .set("bootstrap.servers", self.bootstrap())
            .create()?;
        let replicas = self.nodes.len() as i32;
        let topics: Vec<NewTopic<'_>> = names
            .iter()
            .map(|n| {
                config.iter().fold(
                    NewTopic::new(n, partitions, TopicReplication::Fixed(replicas)),
                    |t, (k, v)| t.set(k, v),
                )
            })
            .collect();
        let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
        for r in admin.create_topics(topics.iter(), &opts).await? {
            match r {
                Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((name, code)) => bail!("creating topic {name}: {code}"),
            }
        }
        // The brokers learn a new topic a moment after the controller committed it.
        let deadline = Instant::now() + Duration::from_secs(30);
        for name in names {
            loop {
                let md = admin
                    .inner()
                    .fetch_metadata(Some(name), Duration::from_secs(5))?;
                if md
                    .topics()
                    .iter()
                    .any(|t| t.error().is_none() && !t.partitions().is_empty())
                {
                    break;
                }
                if Instant::now() > deadline {
                    bail!("topic {name} not in the metadata 30 s after its creation");
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        Ok(())
    }
}

impl Drop for KafkaBroker {
    fn drop(&mut self) {
        for i in 0..self.nodes.len() {
            self.kill_node(i);
        }
        process::remove_dir(&self.dir);
    }
}
