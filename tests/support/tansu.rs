//! The `tansu` broker as a test fixture: a real Kafka-protocol broker on a free
//! loopback port, in memory, killed when the fixture is dropped.
//!
//! tansu does not create topics on first use, so tests create theirs through
//! [`TansuBroker::create_topics`] (or trawl's own `ensure_topics`). Its storage is
//! memory: [`TansuBroker::restart`] brings back an *empty* broker on the same port; to
//! take the broker away for a while and have it come back with its data, use
//! [`TansuBroker::pause`] / [`TansuBroker::resume`] (SIGSTOP/SIGCONT).

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseProducer, Producer};
use rdkafka::types::RDKafkaErrorCode;

/// Where `cargo install tansu --root ~/.cache/trawl-tools/tansu-0.6.0` puts it.
const CACHED: &str = ".cache/trawl-tools/tansu-0.6.0/bin/tansu";

/// A running tansu broker.
pub struct TansuBroker {
    bin: PathBuf,
    port: u16,
    log: PathBuf,
    child: Option<Child>,
}

/// Finds the tansu binary: `$TRAWL_TANSU_BIN`, else `tansu` on `PATH`, else
/// `~/.cache/trawl-tools/tansu-0.6.0/bin/tansu`.
pub fn tansu_bin() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("TRAWL_TANSU_BIN") {
        return Some(PathBuf::from(p));
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let c = dir.join("tansu");
            if c.is_file() {
                return Some(c);
            }
        }
    }
    let home = std::env::var_os("HOME")?;
    let c = PathBuf::from(home).join(CACHED);
    c.is_file().then_some(c)
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl TansuBroker {
    /// Starts tansu on a free loopback port and waits until it answers metadata
    /// requests. Panics with the reason if it can't (tests can't go on without it).
    pub fn start() -> TansuBroker {
        Self::try_start().unwrap_or_else(|e| panic!("cannot start tansu: {e:#}"))
    }

    pub fn try_start() -> anyhow::Result<TansuBroker> {
        let bin = tansu_bin().context(
            "tansu not found: set TRAWL_TANSU_BIN, put it on PATH, or run scripts/test.sh once",
        )?;
        let port = free_port()?;
        let log = std::env::temp_dir().join(format!("trawl-tansu-{port}.log"));
        let mut b = TansuBroker {
            bin,
            port,
            log,
            child: None,
        };
        b.spawn()?;
        Ok(b)
    }

    /// The command line it runs (also what the docs name).
    pub fn args(port: u16) -> Vec<String> {
        let url = format!("tcp://127.0.0.1:{port}");
        vec![
            "broker".into(),
            "--listener-url".into(),
            url.clone(),
            "--advertised-listener-url".into(),
            url,
            "--storage-engine".into(),
            "memory://tansu/".into(),
        ]
    }

    fn spawn(&mut self) -> anyhow::Result<()> {
        let log = std::fs::File::create(&self.log)?;
        let mut cmd = Command::new(&self.bin);
        cmd.args(Self::args(self.port))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        let child = crate::process::spawn_guarded(cmd)
            .with_context(|| format!("running {}", self.bin.display()))?;
        self.child = Some(child);
        self.wait_ready(Duration::from_secs(30))
    }

    fn wait_ready(&mut self, within: Duration) -> anyhow::Result<()> {
        let producer: BaseProducer = ClientConfig::new()
            .set("bootstrap.servers", self.bootstrap())
            .set("log_level", "2")
            .create()?;
        let deadline = Instant::now() + within;
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Some(status) = child.try_wait()? {
                    bail!("tansu exited with {status}: {}", self.log_tail());
                }
            }
            if producer
                .client()
                .fetch_metadata(None, Duration::from_millis(500))
                .is_ok()
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "tansu did not answer within {within:?}: {}",
                    self.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The last lines tansu printed.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// `127.0.0.1:PORT`, for `bootstrap.servers`.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The broker's process id while it runs (benches read its CPU time).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Creates topics (one replica), tolerating ones that exist.
    pub async fn create_topics(&self, names: &[&str], partitions: i32) -> anyhow::Result<()> {
        let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
            .set("bootstrap.servers", self.bootstrap())
            .create()?;
        let topics: Vec<NewTopic<'_>> = names
            .iter()
            .map(|n| NewTopic::new(n, partitions, TopicReplication::Fixed(1)))
            .collect();
        for r in admin
            .create_topics(topics.iter(), &AdminOptions::new())
            .await?
        {
            match r {
                Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((name, code)) => bail!("creating topic {name}: {code}"),
            }
        }
        Ok(())
    }

    /// Kills the broker (its in-memory data is gone).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts an empty broker again on the same port.
    pub fn restart(&mut self) -> anyhow::Result<()> {
        self.stop();
        self.spawn()
    }

    /// Freezes the broker (SIGSTOP): connections hang, data is kept.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// Lets a paused broker run again (SIGCONT).
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, sig: &str) {
        if let Some(c) = &self.child {
            let _ = Command::new("kill")
                .arg(sig)
                .arg(c.id().to_string())
                .status();
        }
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.as_mut().map(|c| c.try_wait()), Some(Ok(None)))
    }
}

impl Drop for TansuBroker {
    fn drop(&mut self) {
        self.resume();
        self.stop();
    }
}
