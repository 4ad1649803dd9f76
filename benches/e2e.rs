//! The end-to-end bench: the simulator, a Kafka broker and the trawl engine together,
//! reporting ratios measured in one run against the targets of the benchmarks issue.
//!
//! `cargo bench --bench e2e -- SCENARIO...` with `quota`, `shared`, `cost`, `fleet`
//! (none: all four, each in a fresh process so memory figures do not carry over).
//!
//! * `quota`: one Pro account, 30 days at 5,000 records a day, 200 ms API latency;
//!   backfill time over the bound (pages needed / the Heavy rate, 10 per second), 429s.
//! * `shared`: the same with a neighbour app using half the quota (trawl is not told);
//!   time over the bound of the half left, 429s per 100 requests.
//! * `cost`: the simulator unlimited and without latency, about 1 million records across
//!   100 tenants: trawl's CPU seconds per million events and its peak RSS.
//! * `fleet`: 10,000 tenants (Zoom with both streams, Zoho) polling once a minute:
//!   trawl's RSS, CPU per minute, and how late polls wake (p50, p99) against schedule.
//!
//! `quota` and `shared` run the simulator and librdkafka's mock cluster in this process
//! (only time and request counts matter there). `cost` and `fleet` run the simulator
//! (`trawl-sim` binary, built on demand) and the broker (`tansu`) as separate processes,
//! so this process is trawl alone: its CPU (`/proc/self/stat`) and RSS
//! (`/proc/self/status`) are trawl's, the others are printed beside, not counted.
//! Knobs: `TRAWL_FLEET_TENANTS` (10000), `TRAWL_FLEET_MINUTES` (3),
//! `TRAWL_COST_RECORDS_PER_DAY` (286; lower it to see trawl's fixed start-up cost),
//! `TRAWL_SIM_BIN`, `TRAWL_TANSU_BIN`.

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use chrono::{Duration as ChronoDuration, DurationRound};
use prometheus::core::Collector;
use rdkafka::mocking::MockCluster;
use trawl_engine::status::StreamState;
use trawl_engine::{Engine, EngineOptions};
use trawl_sim::{SimApi, SimConfig, SimStats, Simulator};
use trawl_suite::harness::{engine_toml, fleet, sim_toml, FleetTenant, EVENT_TOPICS};
use trawl_suite::TansuBroker;

/// The allocator the `trawl` binary uses, so this process costs what trawl would
/// (`--features system-alloc` measures glibc's instead, and lets heaptrack see it).
#[cfg(not(feature = "system-alloc"))]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const SCENARIOS: [&str; 4] = ["quota", "shared", "cost", "fleet"];

fn main() -> ExitCode {
    // `cargo bench` appends `--bench`; every flag is ignored, words are scenarios.
    let wanted: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    if let Some(bad) = wanted.iter().find(|w| !SCENARIOS.contains(&w.as_str())) {
        eprintln!("unknown scenario {bad:?}; choose from {SCENARIOS:?}");
        return ExitCode::FAILURE;
    }
    if wanted.len() != 1 {
        let list: Vec<String> = if wanted.is_empty() {
            SCENARIOS.iter().map(|s| s.to_string()).collect()
        } else {
            wanted
        };
        let exe = std::env::current_exe().expect("own path");
        let mut ok = true;
        for s in list {
            ok &= Command::new(&exe)
                .arg(&s)
                .status()
                .is_ok_and(|st| st.success());
        }
        return if ok {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        };
    }
    print_machine();
    let system = actix_rt::System::new();
    let result = system.block_on(async {
        match wanted[0].as_str() {
            "quota" => quota(0.0).await,
            "shared" => quota(0.5).await,
            "cost" => cost().await,
            _ => fleet_idle().await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("e2e bench failed: {e:#}");
            ExitCode::FAILURE
        }
    }
}

// ---------------------------------------------------------------------------------
// Measuring processes

fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// User + system CPU seconds of a process (`"self"` or a pid), children not included.
fn cpu_seconds(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of stat: 11 and 12 after the name.
    (ticks(11) + ticks(12)) / clock_ticks()
}

/// A `kB` line of `/proc/PID/status` (`VmRSS`, `VmHWM`), in MiB.
fn status_mib(pid: &str, field: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn threads_of_self() -> usize {
    std::fs::read_dir("/proc/self/task").map_or(0, |d| d.count())
}

fn print_machine() {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_string())
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!("machine: {cores} cores, {cpu}");
}

fn verdict(met: bool) -> &'static str {
    if met {
        "MET"
    } else {
        "MISSED"
    }
}

// ---------------------------------------------------------------------------------
// The simulator as a separate process

struct SimProcess {
    child: Child,
    base: String,
    _dir: tempfile::TempDir,
}

impl SimProcess {
    fn start(config_toml: &str) -> anyhow::Result<SimProcess> {
        let bin = sim_bin()?;
        let dir = tempfile::tempdir()?;
        let cfg = dir.path().join("sim.toml");
        std::fs::write(&cfg, config_toml)?;
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse()?;
        let child = Command::new(&bin)
            .arg("--listen")
            .arg(addr.to_string())
            .arg("--config")
            .arg(&cfg)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .map_err(|e| anyhow::anyhow!("running {}: {e}", bin.display()))?;
        let mut p = SimProcess {
            child,
            base: format!("http://{addr}"),
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(addr).is_err() {
            if let Some(st) = p.child.try_wait()? {
                anyhow::bail!("trawl-sim exited with {st}");
            }
            anyhow::ensure!(Instant::now() < deadline, "trawl-sim did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(p)
    }

    fn pid(&self) -> String {
        self.child.id().to_string()
    }

    async fn stats(&self) -> anyhow::Result<SimStats> {
        Ok(reqwest::get(format!("{}/_sim/stats", self.base))
            .await?
            .error_for_status()?
            .json()
            .await?)
    }
}

impl Drop for SimProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `$TRAWL_SIM_BIN`, else `trawl-sim` beside this bench's directory (target/release),
/// built there first if missing.
fn sim_bin() -> anyhow::Result<PathBuf> {
    if let Some(p) = std::env::var_os("TRAWL_SIM_BIN") {
        return Ok(PathBuf::from(p));
    }
    let exe = std::env::current_exe()?;
    let release = exe
        .parent()
        .and_then(|deps| deps.parent())
        .ok_or_else(|| anyhow::anyhow!("bench binary has no target directory"))?;
    let bin = release.join("trawl-sim");
    if !bin.is_file() {
        eprintln!("building trawl-sim (release) ...");
        let st = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args([
                "build",
                "--release",
                "-p",
                "trawl-sim",
                "--bin",
                "trawl-sim",
            ])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()?;
        anyhow::ensure!(st.success(), "building trawl-sim failed");
    }
    Ok(bin)
}

// ---------------------------------------------------------------------------------
// Engine helpers

const ALL_TOPICS: [&str; 5] = [
    EVENT_TOPICS[0],
    EVENT_TOPICS[1],
    EVENT_TOPICS[2],
    "trawl.checkpoints",
    "trawl.dead_letter",
];

struct Totals {
    streams: usize,
    live: usize,
    events: u64,
    pages: u64,
    rate_limited: u64,
}

fn totals(engine: &Engine) -> Totals {
    let s = engine.status.snapshot();
    Totals {
        streams: s.len(),
        live: s.iter().filter(|r| r.state == StreamState::Live).count(),
        events: s.iter().map(|r| r.events).sum(),
        pages: s.iter().map(|r| r.pages).sum(),
        rate_limited: s.iter().map(|r| r.rate_limited).sum(),
    }
}

/// Waits until all `streams` are live; returns the time it took from `since`.
async fn wait_all_live(
    engine: &Engine,
    streams: usize,
    since: Instant,
    limit: Duration,
    mut on_tick: impl FnMut(),
) -> anyhow::Result<Duration> {
    let mut last_report = Instant::now();
    loop {
        let t = totals(engine);
        if t.streams == streams && t.live == streams {
            return Ok(since.elapsed());
        }
        on_tick();
        if last_report.elapsed() > Duration::from_secs(15) {
            eprintln!(
                "  ... {:>5.0}s: {}/{} streams live, {} events, {} pages",
                since.elapsed().as_secs_f64(),
                t.live,
                streams,
                t.events,
                t.pages
            );
            last_report = Instant::now();
        }
        if since.elapsed() > limit {
            let bad: BTreeMap<&str, usize> =
                engine
                    .status
                    .snapshot()
                    .iter()
                    .fold(BTreeMap::new(), |mut m, r| {
                        *m.entry(r.state.as_str()).or_default() += 1;
                        m
                    });
            anyhow::bail!("streams not all live after {limit:?}: {bad:?}");
        }
        // A status snapshot copies every stream's row: poll a big fleet less often.
        let tick = if streams > 1000 { 1000 } else { 20 };
        tokio::time::sleep(Duration::from_millis(tick)).await;
    }
}

/// Waits until every stream is live, or the number of live streams has not moved for a
/// minute (a few streams stuck must not keep a fleet from being measured; they are
/// listed with their state and last error).
async fn wait_mostly_live(
    engine: &Engine,
    streams: usize,
    since: Instant,
    mut on_tick: impl FnMut(),
) -> Duration {
    let (mut last_live, mut moved) = (0, Instant::now());
    let mut last_report = Instant::now();
    loop {
        let t = totals(engine);
        if t.streams == streams && t.live == streams {
            return since.elapsed();
        }
        if t.live != last_live {
            (last_live, moved) = (t.live, Instant::now());
        }
        if t.live > 0 && moved.elapsed() > Duration::from_secs(60) {
            let took = moved.duration_since(since);
            println!(
                "not live                {} of {streams} streams after {:.0} s:",
                streams - t.live,
                since.elapsed().as_secs_f64()
            );
            for r in engine
                .status
                .snapshot()
                .iter()
                .filter(|r| r.state != StreamState::Live)
                .take(10)
            {
                println!(
                    "                        {} {} {}: {}",
                    r.tenant,
                    r.source,
                    r.state.as_str(),
                    r.last_error.as_deref().unwrap_or("-")
                );
            }
            return took;
        }
        on_tick();
        if last_report.elapsed() > Duration::from_secs(30) {
            eprintln!(
                "  ... {:>5.0}s: {}/{} streams live",
                since.elapsed().as_secs_f64(),
                t.live,
                streams
            );
            last_report = Instant::now();
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

// ---------------------------------------------------------------------------------
// quota / shared

async fn quota(neighbour: f64) -> anyhow::Result<()> {
    const RATE: f64 = 10.0; // Pro, Heavy label, per second
    const PAGE: usize = 300;
    let name = if neighbour > 0.0 { "shared" } else { "quota" };
    println!(
        "\n== {name}: one Pro account, 30 days x 5,000 records/day, 200 ms API latency{} ==",
        if neighbour > 0.0 {
            ", a neighbour app using 50% of the quota (trawl not told)"
        } else {
            ""
        }
    );
    // `TRAWL_QUOTA_UTC_OFFSET_MINUTES=780`: Zoom reads dates in the account's zone, that
    // far from UTC (the page cost of not knowing the zone).
    let offset: Option<i64> = std::env::var("TRAWL_QUOTA_UTC_OFFSET_MINUTES")
        .ok()
        .and_then(|v| v.parse().ok());
    let zone = match offset {
        Some(m) => {
            println!(
                "(Zoom reads dates in the account's zone, UTC{:+}:{:02})",
                m / 60,
                (m % 60).abs()
            );
            "zoom_dates = \"account\"\n".to_string()
        }
        None => String::new(),
    };
    let sim_cfg = format!(
        "seed = 5\n{zone}[faults]\nlatency_ms = 200\n[[zoom_accounts]]\naccount_id = \"acme-acct\"\n\
         client_id = \"acme-client\"\nclient_secret = \"acme-secret\"\nplan = \"pro\"\nphone = false\n\
         records_per_day = 5000\nhistory_days = 32\nneighbour_share = {neighbour}\n\
         utc_offset_minutes = {}\n",
        offset.unwrap_or(0)
    );
    let sim_cfg: SimConfig = toml::from_str(&sim_cfg)?;
    let sim = Simulator::start(sim_cfg, "127.0.0.1:0".parse()?).await?;
    let cluster = MockCluster::new(1)?;
    for t in ALL_TOPICS {
        cluster.create_topic(t, 3, 1)?;
    }
    let tenant = FleetTenant {
        id: "acme".into(),
        zoom: true,
        phone: false,
        records_per_day: 5000,
        shared_account: None,
    };
    let toml = engine_toml(
        std::slice::from_ref(&tenant),
        &sim.base_url(),
        &cluster.bootstrap_servers(),
        "",
        "poll_interval = \"1m\"\nbackfill = \"30d\"\nlookback = \"1h\"\n",
    );
    let config = trawl::config::load_str(&toml).map_err(|e| anyhow::anyhow!("{e}"))?;
    let start_sim = sim.now();
    let opts = EngineOptions {
        create_topics: false,
        ..EngineOptions::default()
    };
    let t0 = Instant::now();
    let engine = Engine::start(config.engine, opts).await?;
    let took = wait_all_live(&engine, 1, t0, Duration::from_secs(900), || {}).await?;
    let t = totals(&engine);
    let stats = sim.stats();
    engine.stop().await;

    // Pages the backfill needs at least: one request per date (Zoom's report is
    // date-granular; a date is the account's day when it reads dates in its zone),
    // ceil(records of the date / 300) pages each, over the dates holding the 30 days.
    let from = (start_sim - ChronoDuration::days(30))
        .duration_trunc(ChronoDuration::days(1))
        .unwrap();
    let end = sim.now();
    let mut pages_needed = 0usize;
    let mut records = 0usize;
    let shift = ChronoDuration::minutes(offset.unwrap_or(0));
    let mut day = ((from + shift)
        .duration_trunc(ChronoDuration::days(1))
        .unwrap()
        - shift)
        .min(from);
    while day < end {
        let to = (day + ChronoDuration::days(1)).min(end);
        let n = sim
            .ground_truth("acme-acct", SimApi::ZoomOperationLogs, day, to)
            .len();
        records += n;
        pages_needed += n.div_ceil(PAGE).max(1);
        day += ChronoDuration::days(1);
    }
    let (requests, limited) = stats
        .limits
        .iter()
        .filter(|l| l.account == "acme-acct")
        .fold((0, 0), |(r, q), l| {
            (
                r + l.requests,
                q + l.rate_limited_qps + l.rate_limited_daily,
            )
        });
    sim.stop().await;
    drop(cluster);

    let rate = RATE * (1.0 - neighbour);
    let bound = pages_needed as f64 / rate;
    let ratio = took.as_secs_f64() / bound;
    println!(
        "records                 {records} ({} events published)",
        t.events
    );
    println!(
        "pages needed            {pages_needed} (ceil(records per date / 300) over the dates)"
    );
    println!(
        "requests sent           {requests} ({} pages fetched, {} answered 429 as trawl counted)",
        t.pages, t.rate_limited
    );
    println!(
        "bound                   {bound:.1} s (pages needed / {rate} requests/s{})",
        if neighbour > 0.0 {
            ", the half the neighbour leaves"
        } else {
            ""
        }
    );
    println!(
        "backfill time           {:.1} s (engine start to live)",
        took.as_secs_f64()
    );
    if neighbour > 0.0 {
        let per100 = 100.0 * limited as f64 / requests.max(1) as f64;
        println!(
            "time / bound            {ratio:.3}   target <= 1.25   {}",
            verdict(ratio <= 1.25)
        );
        println!(
            "429s per 100 requests   {per100:.2} ({limited} of {requests})   target < 1   {}",
            verdict(per100 < 1.0)
        );
    } else {
        println!(
            "time / bound            {ratio:.3}   target <= 1.10   {}",
            verdict(ratio <= 1.1)
        );
        println!(
            "429s                    {limited}   target 0   {}",
            verdict(limited == 0)
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------------
// cost

async fn cost() -> anyhow::Result<()> {
    // 50 Zoom tenants (operation logs + Phone at a third of the rate) and 50 Zoho
    // tenants, 30 days: 30 x (50 x 286 x 4/3 + 50 x 286) = 1.0 million records.
    let per_day = env_or("TRAWL_COST_RECORDS_PER_DAY", 286) as u32;
    let tenants = fleet(50, 50, per_day);
    println!(
        "\n== cost: 100 tenants (50 Zoom with Phone, 50 Zoho), {per_day} records/day/stream over 30 days (286: ~1 million), simulator unlimited, no latency =="
    );
    let sim = SimProcess::start(&sim_toml(&tenants, 32, "unlimited = true\n"))?;
    let broker = TansuBroker::try_start()?;
    let toml = engine_toml(
        &tenants,
        &sim.base,
        &broker.bootstrap(),
        "",
        "poll_interval = \"1m\"\nbackfill = \"30d\"\nlookback = \"1h\"\n",
    );
    let config = trawl::config::load_str(&toml).map_err(|e| anyhow::anyhow!("{e}"))?;
    let streams: usize = config.engine.tenants.iter().map(|t| t.streams.len()).sum();
    let broker_pid = broker.pid().map(|p| p.to_string()).unwrap_or_default();
    let (sim0, broker0) = (cpu_seconds(&sim.pid()), cpu_seconds(&broker_pid));
    let cpu0 = cpu_seconds("self");
    let t0 = Instant::now();
    let engine = Engine::start(config.engine, EngineOptions::default()).await?;
    let mut peak_threads = 0;
    let took = wait_all_live(&engine, streams, t0, Duration::from_secs(1800), || {
        peak_threads = peak_threads.max(threads_of_self())
    })
    .await?;
    let cpu = cpu_seconds("self") - cpu0;
    let t = totals(&engine);
    let hwm = status_mib("self", "VmHWM");
    let rss = status_mib("self", "VmRSS");
    let (sim_cpu, broker_cpu) = (
        cpu_seconds(&sim.pid()) - sim0,
        cpu_seconds(&broker_pid) - broker0,
    );
    let stats = sim.stats().await?;
    engine.stop().await;

    let per_million = cpu / (t.events as f64 / 1e6);
    println!("streams                 {streams}");
    println!(
        "events published        {} ({} pages, {} API requests served)",
        t.events, t.pages, stats.requests
    );
    println!(
        "wall time               {:.1} s (engine start to all streams live; {:.0} events/s)",
        took.as_secs_f64(),
        t.events as f64 / took.as_secs_f64()
    );
    println!(
        "trawl CPU               {cpu:.2} s user+sys of this process (the engine, its librdkafka threads, the bench's status polling)"
    );
    println!(
        "CPU s per million       {per_million:.2}   target <= 2   {}",
        verdict(per_million <= 2.0)
    );
    println!(
        "peak RSS                {hwm:.0} MiB (VmHWM of this process; {rss:.0} MiB at the end; up to {peak_threads} threads)   target < 200 MB   {}",
        verdict(hwm * 1.048_576 < 200.0)
    );
    println!(
        "not counted             simulator {sim_cpu:.2} CPU s (separate process), tansu broker {broker_cpu:.2} CPU s (separate process)"
    );
    Ok(())
}

// ---------------------------------------------------------------------------------
// fleet

/// Cumulative bucket counts of the poll-delay histogram: (upper bound, count).
fn poll_delay_buckets(engine: &Engine) -> Vec<(f64, u64)> {
    let families = engine.metrics.poll_delay.collect();
    let h = families[0].get_metric()[0].get_histogram();
    let mut v: Vec<(f64, u64)> = h
        .get_bucket()
        .iter()
        .map(|b| (b.upper_bound(), b.cumulative_count()))
        .collect();
    v.push((f64::INFINITY, h.get_sample_count()));
    v
}

/// The `q` quantile of the samples between two snapshots, interpolated linearly within
/// its bucket (as Prometheus' `histogram_quantile`).
fn quantile(before: &[(f64, u64)], after: &[(f64, u64)], q: f64) -> f64 {
    let counts: Vec<(f64, u64)> = before
        .iter()
        .zip(after)
        .map(|((b, c0), (_, c1))| (*b, c1 - c0))
        .collect();
    let total = counts.last().map_or(0, |c| c.1);
    if total == 0 {
        return f64::NAN;
    }
    let rank = q * total as f64;
    let mut lower = (0.0, 0u64);
    for (bound, cum) in counts {
        if cum as f64 >= rank {
            if bound.is_infinite() {
                return lower.0;
            }
            let inside = (cum - lower.1) as f64;
            let frac = if inside > 0.0 {
                (rank - lower.1 as f64) / inside
            } else {
                1.0
            };
            return lower.0 + (bound - lower.0) * frac;
        }
        lower = (bound, cum);
    }
    lower.0
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn fleet_idle() -> anyhow::Result<()> {
    let n = env_or("TRAWL_FLEET_TENANTS", 10_000) as usize;
    let minutes = env_or("TRAWL_FLEET_MINUTES", 3);
    let zoom = n / 2;
    let tenants = fleet(zoom, n - zoom, 48);
    println!(
        "\n== fleet: {n} tenants ({zoom} Zoom with Phone, {} Zoho) idle-polling every minute, measured over {minutes} min ==",
        n - zoom
    );
    let sim = SimProcess::start(&sim_toml(&tenants, 1, "workers = 2\n"))?;
    let broker = TansuBroker::try_start()?;
    let toml = engine_toml(
        &tenants,
        &sim.base,
        &broker.bootstrap(),
        &std::env::var("TRAWL_FLEET_EXTRA").unwrap_or_default(),
        "poll_interval = \"1m\"\nbackfill = \"1h\"\nlookback = \"10m\"\n",
    );
    let config = trawl::config::load_str(&toml).map_err(|e| anyhow::anyhow!("{e}"))?;
    let streams: usize = config.engine.tenants.iter().map(|t| t.streams.len()).sum();
    let broker_pid = broker.pid().map(|p| p.to_string()).unwrap_or_default();
    let t0 = Instant::now();
    let cpu_start = cpu_seconds("self");
    let engine = Engine::start(config.engine, EngineOptions::default()).await?;
    let mut peak_threads = 0;
    let took = wait_mostly_live(&engine, streams, t0, || {
        peak_threads = peak_threads.max(threads_of_self())
    })
    .await;
    let startup_cpu = cpu_seconds("self") - cpu_start;
    let startup_hwm = status_mib("self", "VmHWM");
    println!(
        "startup                 streams live after {:.1} s (engine start), {startup_cpu:.1} CPU s, RSS peak {startup_hwm:.0} MiB, up to {peak_threads} threads",
        took.as_secs_f64()
    );
    // Let the first polls (scheduled at once for every stream) pass before measuring.
    tokio::time::sleep(Duration::from_secs(65)).await;

    let (h0, cpu0) = (poll_delay_buckets(&engine), cpu_seconds("self"));
    let (sim0, broker0) = (cpu_seconds(&sim.pid()), cpu_seconds(&broker_pid));
    let stats0 = sim.stats().await?;
    let m0 = Instant::now();
    let mut max_rss: f64 = 0.0;
    let mut rss_sum = 0.0_f64;
    let mut samples = 0.0_f64;
    while m0.elapsed() < Duration::from_secs(60 * minutes) {
        let r = status_mib("self", "VmRSS");
        max_rss = max_rss.max(r);
        rss_sum += r;
        samples += 1.0;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let elapsed_min = m0.elapsed().as_secs_f64() / 60.0;
    let cpu_per_min = (cpu_seconds("self") - cpu0) / elapsed_min;
    let (sim_cpu, broker_cpu) = (
        (cpu_seconds(&sim.pid()) - sim0) / elapsed_min,
        (cpu_seconds(&broker_pid) - broker0) / elapsed_min,
    );
    let h1 = poll_delay_buckets(&engine);
    let stats1 = sim.stats().await?;
    let t = totals(&engine);
    engine.stop().await;

    let polls = h1.last().unwrap().1 - h0.last().unwrap().1;
    let (p50, p99) = (quantile(&h0, &h1, 0.5), quantile(&h0, &h1, 0.99));
    let limited = |s: &SimStats| -> u64 {
        s.limits
            .iter()
            .map(|l| l.rate_limited_qps + l.rate_limited_daily)
            .sum()
    };
    let core_share = 100.0 * cpu_per_min / 60.0;
    println!(
        "polls measured          {polls} ({:.0} per minute; {} API requests; {} 429s; {} streams live at the end)",
        polls as f64 / elapsed_min,
        stats1.requests - stats0.requests,
        limited(&stats1) - limited(&stats0),
        t.live
    );
    println!(
        "RSS                     {:.0} MiB max, {:.0} MiB mean (VmRSS of this process, sampled each second)   target < 300 MB   {}",
        max_rss,
        rss_sum / samples.max(1.0),
        verdict(max_rss * 1.048_576 < 300.0)
    );
    println!(
        "CPU                     {cpu_per_min:.2} CPU s per minute = {core_share:.1}% of one core   target < 10%   {}",
        verdict(core_share < 10.0)
    );
    println!(
        "poll wake lateness      p50 {:.4} s, p99 {:.4} s (trawl_poll_delay_seconds, interpolated in buckets)   target p99 < 1 s   {}",
        p50,
        p99,
        verdict(p99 < 1.0)
    );
    println!(
        "not counted             simulator {sim_cpu:.2} CPU s/min, tansu broker {broker_cpu:.2} CPU s/min (separate processes)"
    );
    Ok(())
}
