//! Processes a test starts (brokers, `trawl run` children, Prometheus) never outlive the
//! test process.
//!
//! A test binary may be SIGKILLed (a CI timeout, a developer's Ctrl-\) or panic while a
//! broker shared by all its tests lives in a `static` that is never dropped. Every child
//! is therefore spawned from one thread that lives as long as the process, with
//! `PR_SET_PDEATHSIG = SIGKILL`: the kernel kills the child when that thread (so, the
//! process) goes, whatever the way. (Spawned from a test's own thread, the child would
//! die when that thread ends instead.) A normal exit also runs an `atexit` hook that
//! kills the children still registered (the brokers) and deletes their directories;
//! directories left by a SIGKILLed run (whose pid is gone) are deleted by the next run's
//! first broker. `scripts/run_tests.py` also kills each test binary's process group.

use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::mpsc::{channel, Sender};
use std::sync::{Mutex, OnceLock};

/// Prefix of every broker directory in the system's temp dir: `trawl-kafka-<pid>-...`.
pub(crate) const DIR_PREFIX: &str = "trawl-kafka-";

type Request = (Command, Sender<io::Result<Child>>);

/// The spawner thread's inbox (the thread lives until the process ends).
fn spawner() -> &'static Mutex<Sender<Request>> {
    static SPAWNER: OnceLock<Mutex<Sender<Request>>> = OnceLock::new();
    SPAWNER.get_or_init(|| {
        let (tx, rx) = channel::<Request>();
        std::thread::Builder::new()
            .name("broker-spawner".into())
            .spawn(move || {
                for (mut cmd, reply) in rx {
                    let _ = reply.send(spawn_with_death_signal(&mut cmd));
                }
            })
            .expect("spawning the broker-spawner thread");
        // SAFETY: registering a plain `extern "C" fn` with no captured state.
        unsafe { libc::atexit(kill_registered_at_exit) };
        sweep_stale_dirs();
        Mutex::new(tx)
    })
}

fn spawn_with_death_signal(cmd: &mut Command) -> io::Result<Child> {
    use std::os::unix::process::CommandExt;
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
                return Err(io::Error::last_os_error());
            }
            // The parent died between fork and prctl: the signal would never come.
            if libc::getppid() != parent {
                libc::_exit(1);
            }
            Ok(())
        });
    }
    cmd.spawn()
}

/// Spawns `cmd` so that it dies with this process.
pub fn spawn_guarded(cmd: Command) -> io::Result<Child> {
    let (tx, rx) = channel();
    spawner()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .send((cmd, tx))
        .map_err(|_| io::Error::other("broker-spawner thread gone"))?;
    rx.recv()
        .map_err(|_| io::Error::other("broker-spawner thread gone"))?
}

/// Running JVMs and broker directories, for the exit hook.
#[derive(Default)]
struct Registry {
    pids: Vec<u32>,
    dirs: Vec<PathBuf>,
}

fn registry() -> &'static Mutex<Registry> {
    static REGISTRY: OnceLock<Mutex<Registry>> = OnceLock::new();
    REGISTRY.get_or_init(Mutex::default)
}

pub(crate) fn register_pid(pid: u32) {
    registry()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .pids
        .push(pid);
}

pub(crate) fn unregister_pid(pid: u32) {
    registry()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .pids
        .retain(|p| *p != pid);
}

/// A new broker directory, `<tmp>/trawl-kafka-<pid>-<label>-<random>`, deleted at exit.
pub(crate) fn broker_dir(label: &str) -> io::Result<PathBuf> {
    let _ = spawner(); // installs the exit hook and sweeps old directories first
    let dir = tempfile::Builder::new()
        .prefix(&format!("{DIR_PREFIX}{}-{label}-", std::process::id()))
        .tempdir()?
        .keep();
    registry()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .dirs
        .push(dir.clone());
    Ok(dir)
}

/// Deletes a broker directory now (its broker is stopped).
pub(crate) fn remove_dir(dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
    registry()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .dirs
        .retain(|d| d != dir);
}

extern "C" fn kill_registered_at_exit() {
    // Never block or panic at exit: skip if a panicking thread holds the lock.
    let Ok(reg) = registry().try_lock() else {
        return;
    };
    for pid in &reg.pids {
        // SAFETY: plain kill(2) of a child this process spawned.
        unsafe { libc::kill(*pid as libc::pid_t, libc::SIGKILL) };
    }
    for dir in &reg.dirs {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// Deletes broker directories whose test process no longer exists.
fn sweep_stale_dirs() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(DIR_PREFIX)) else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}
