//! `trawl run` as a process of its own, for tests that SIGKILL it or run two at once.
//!
//! An integration test can't name the `trawl` binary, so the test binary re-executes
//! itself (`--exact trawl_child`) with the config path in [`CHILD_ENV`]; its
//! `trawl_child` test calls [`child_main`], which runs `trawl::run::run` (exactly what
//! `trawl run --config FILE` does) and exits with its code; in a normal test run it does
//! nothing. Every test binary that spawns children declares:
//!
//! ```ignore
//! #[test]
//! fn trawl_child() {
//!     trawl_suite::child::child_main();
//! }
//! ```

use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

/// Set (to a config file) only in the re-executed child.
pub const CHILD_ENV: &str = "TRAWL_CHILD_CONFIG";

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

/// A `trawl run` process; SIGKILLed when dropped, so a failing test leaves none behind.
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

/// Starts `trawl run --config config` in a child process (this test binary,
/// re-executed), its output going to `log`.
pub fn spawn_trawl(config: &Path, log: &Path) -> Trawl {
    let out = std::fs::File::create(log).expect("creating the child's log");
    let child = Command::new(std::env::current_exe().expect("the test binary"))
        .args(["--exact", "trawl_child", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, config)
        .env("TRAWL_LOG", "info,librdkafka=warn,rdkafka=warn")
        .stdin(Stdio::null())
        .stdout(out.try_clone().expect("log file"))
        .stderr(out)
        .spawn()
        .expect("re-executing the test binary");
    Trawl(child)
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
