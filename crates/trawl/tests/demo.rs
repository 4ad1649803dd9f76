//! `trawl demo` — the README's first command — runs with no setup and shows events
//! flowing: it exits 0 after `--for`, and its summary counts events in Kafka, a failed
//! Free-plan tenant and a disabled Phone stream.

use std::process::Command;

#[test]
fn the_demo_shows_events_flowing() {
    let out = Command::new(env!("CARGO_BIN_EXE_trawl"))
        .args(["demo", "--for", "12"])
        .output()
        .expect("trawl demo runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "exit {:?}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let total = stdout
        .lines()
        .rev()
        .find(|l| l.contains("total:"))
        .expect("a summary line");
    let events: u64 = total
        .split("pages, ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse().ok())
        .expect("an event count");
    assert!(events > 1000, "events flowed: {total}");
    assert!(
        stdout.contains("failed") && stdout.contains("disabled") && stdout.contains("live"),
        "{stdout}"
    );
}
