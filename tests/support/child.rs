//! The test binary re-executed as a process of its own: as `trawl run` (for tests that
//! SIGKILL it or run two at once), or to run one test alone (for tests that need the
//! whole process: the global log subscriber, environment variables, signals to the
//! process, its peak memory).
//!
//! An integration test can't name the `trawl` binary, so the test binary re-executes
//! itself (`--exact trawl_child`) with the config path in [`CHILD_ENV`]; its
//! `trawl_child` test calls [`child_main`], which runs `trawl::run::run` (exactly what
//! `trawl run --config FILE` does) and exits with its code; in a normal test run it does
//! nothing. Every test binary declares it once, at its root ([`crate::child_entry!`]).
//!
//! Children are spawned through [`crate::process::spawn_guarded`]: they die with the
//! test process, however it ends (and `scripts/run_tests.py` kills each binary's
//! process group at its timeout).

use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

/// Set (to a config file) only in the re-executed `trawl run` child.
pub const CHILD_ENV: &str = "TRAWL_CHILD_CONFIG";

/// Set (to the test's full name) only in a child running one test alone.
pub const ALONE_ENV: &str = "TRAWL_TEST_ALONE";

/// The root test every test binary declares, through which it re-executes itself as
/// `trawl run`: `trawl_suite::child_entry!();` at the top of the binary's `main.rs`.
#[macro_export]
macro_rules! child_entry {
    () => {
        /// Not a test: `trawl run` when this binary is re-executed as a child
        /// (`trawl_suite::child`), a no-op otherwise.
        #[test]
        fn trawl_child() {
            $crate::child::child_main();
        }
    };
}

/// The child side: `trawl run --config $TRAWL_CHILD_CONFIG`, then exit with its code
/// (0 for success, 1 otherwise). Returns at once unless this process is a child.
pub fn child_main() {
    let Some(path) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    trawl::logging::init(trawl::cli::LogFormat::Text);
    let code = trawl::run::run(Path::new(&path));
    std::process::exit(if code == std::process::ExitCode::SUCCESS {
        0
    } else {
        1
    });
}

/// A child process (`trawl run`, a test run alone); SIGKILLed when dropped, so a
/// failing test leaves none behind.
pub struct Trawl(pub Child);

impl std::ops::Deref for Trawl {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Trawl {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Trawl {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// `trawl run --config config` as a command (this test binary, re-executed), its
/// output going to `log`; add environment variables, then [`spawn`].
pub fn trawl_command(config: &Path, log: &Path) -> Command {
    let out = std::fs::File::create(log).expect("creating the child's log");
    let mut cmd = Command::new(std::env::current_exe().expect("the test binary"));
    cmd.args(["--exact", "trawl_child", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, config)
        .env_remove(ALONE_ENV)
        .env("TRAWL_LOG", "info,librdkafka=warn,rdkafka=warn")
        .stdin(Stdio::null())
        .stdout(out.try_clone().expect("log file"))
        .stderr(out);
    cmd
}

/// Spawns a child so that it dies with this process.
pub fn spawn(cmd: Command) -> Trawl {
    Trawl(crate::process::spawn_guarded(cmd).expect("re-executing the test binary"))
}

/// Starts `trawl run --config config` in a child process (this test binary,
/// re-executed), its output going to `log`.
pub fn spawn_trawl(config: &Path, log: &Path) -> Trawl {
    spawn(trawl_command(config, log))
}

/// Runs the calling test alone in a process of its own (this binary re-executed with
/// `--exact`), for a test that needs the whole process: the global log subscriber, an
/// environment variable, signals sent to the process, its peak memory. In that child
/// it returns `true`: go on with the test. In the test binary it runs the child, prints
/// its output (indented, so its `test result:` line is not counted twice) and returns
/// `false` if it passed, panicking otherwise. `module` is `module_path!()`:
///
/// ```ignore
/// #[actix_rt::test]
/// async fn secrets_reach_no_log() {
///     if !trawl_suite::child::alone(module_path!(), "secrets_reach_no_log") {
///         return;
///     }
///     // ... the test, alone in its process
/// }
/// ```
pub fn alone(module: &str, test: &str) -> bool {
    let name = test_name(module, test);
    if std::env::var(ALONE_ENV).as_deref() == Ok(name.as_str()) {
        return true;
    }
    let mut cmd = Command::new(std::env::current_exe().expect("the test binary"));
    cmd.args(["--exact", &name, "--nocapture", "--test-threads=1"])
        .env(ALONE_ENV, &name)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = crate::process::spawn_guarded(cmd).expect("re-executing the test binary");
    let out = child
        .wait_with_output()
        .expect("waiting for the test's process");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for line in text.lines() {
        println!("  | {line}");
    }
    assert!(
        out.status.success(),
        "{name}, run alone in its own process, failed ({}): its output is above",
        out.status
    );
    // libtest prints `running 0 tests` if the name matched nothing: that is no pass.
    assert!(
        text.contains("test result: ok. 1 passed"),
        "{name} did not run in its own process (no such test?): its output is above"
    );
    false
}

/// A test's name as libtest knows it (what `--exact` takes): `module` (`module_path!()`)
/// without the crate's name, then `test`.
pub fn test_name(module: &str, test: &str) -> String {
    match module.split_once("::") {
        Some((_, path)) => format!("{path}::{test}"),
        None => test.to_string(),
    }
}

/// Sends SIGTERM and waits for the exit, SIGKILLing (and failing) after `within`.
pub async fn sigterm_and_wait(child: &mut Trawl, within: Duration) -> ExitStatus {
    // SAFETY: kill(2) of our own child.
    let sent = unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    assert_eq!(sent, 0, "kill -TERM failed");
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().expect("waiting for trawl") {
            return status;
        }
        if tokio::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("trawl did not stop within {within:?} of SIGTERM");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The last `n` lines of a log file.
pub fn tail(log: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
