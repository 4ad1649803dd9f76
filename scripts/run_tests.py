#!/usr/bin/env python3
"""Runs the workspace's test binaries several at a time and keeps the count (scripts/test.sh).

`cargo test` runs one test binary after another. Most of ours spend their time waiting
on brokers, simulated rate limits and session timeouts, not on the CPU, so running a
few binaries at once cuts the wall time without changing what any test does. Tests
within a binary still run as `cargo test` runs them (threads of one process, sharing
the binary's broker).

CI reads the result from the last line of the whole test command, which this script
prints: `N passed, M failed`, the sum over every test binary (doc tests included). A
binary that exits non-zero without a `test result:` line (it crashed, hung, or failed
to build) counts as one failed test; so does any other step of scripts/test.sh that
fails (`fail`). So `M` is 0 exactly when the run passed.

Subcommands (each appends what it counted to the RESULTS file, one line per unit):

  run JOBS --from FILE --results RESULTS
      Runs every test binary of FILE (the JSON output of `cargo test --no-run
      --message-format=json`), JOBS at a time, each from its package's directory as
      cargo does, the slow ones first. As each ends: `==> ok|FAIL name time`, then its
      own `test result:` lines as libtest printed them; a failing binary's whole output
      at once, as soon as it ends.
  lints FILE RC --results RESULTS
      Reads the same JSON build output for the compiler's messages (the test build
      runs clippy's lints, scripts/test.sh): prints each warning and error of the
      workspace's crates as rustc rendered it, and counts the build as one failed if
      it failed (RC) and clippy as one failed if it warned: `-D warnings` without
      stopping the build, so the tests still run.
  log NAME LOGFILE RC --results RESULTS
      Counts the output of a command that already ran (the doc tests, built and run in
      the background) as one unit, exit status RC.
  fail NAME REASON --results RESULTS
      Records a step that failed (a check, a build, a fuzz target) as one failed.
  summary --results RESULTS
      Prints the failed units and, as the very last line, `N passed, M failed`; exits 1
      if M > 0 (or nothing was counted at all).

Each binary runs in a session (process group) of its own with a timeout,
`TRAWL_TEST_TIMEOUT` seconds (default 900, well above the slowest binary): one that
overruns it is killed with its whole group (the `trawl run` children and brokers it
started included) and reported failed with its output and the tests still running.
The group is killed after a normal end too, so nothing a binary left behind outlives it.
"""

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

# Run first (longest first keeps the tail short); the rest follow in build order. The
# root package's groups (tests/<group>/main.rs) are the long ones.
SLOW_FIRST = ["brokers", "children", "kafka", "tansu", "alone", "sim_zoho", "sim_field_zoho",
              "transactions", "checkpoint_stores", "publish", "sim_field_zoom"]

# Tests at once within a binary (libtest's --test-threads; its default is the number of
# cores): the groups whose long tests mostly wait (on brokers restarting, simulated rate
# limits, session timeouts) run a third at once.
TEST_THREADS = {"brokers": 3, "children": 3}

RESULT = re.compile(r"^test result: \w+\. (\d+) passed; (\d+) failed")
TEST_OK = re.compile(r"^test (\S+) \.\.\. ok$")
TEST_FAILED = re.compile(r"^test (\S+) \.\.\. FAILED$")
RUNNING_LONG = re.compile(r"^test (\S+) has been running for over")

PRINT = threading.Lock()


def out(text):
    with PRINT:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        sys.stdout.flush()


def count(lines, rc):
    """(passed, failed, result lines, tests still running) of one binary's output."""
    results = [l for l in lines if RESULT.match(l)]
    if results:
        passed = sum(int(RESULT.match(l).group(1)) for l in results)
        failed = sum(int(RESULT.match(l).group(2)) for l in results)
        # It printed a result and then failed anyway (a crash at exit): still a failure.
        if rc != 0 and failed == 0:
            failed = 1
        return passed, failed, results, []
    # No result line: crashed or killed. The tests it finished still count.
    ok = {m.group(1) for l in lines if (m := TEST_OK.match(l))}
    bad = {m.group(1) for l in lines if (m := TEST_FAILED.match(l))}
    long = [m.group(1) for l in lines if (m := RUNNING_LONG.match(l))]
    running = [t for t in dict.fromkeys(long) if t not in ok and t not in bad]
    return len(ok), max(len(bad), 1 if rc != 0 else 0), [], running


def exit_text(rc):
    return f"killed by signal {-rc}" if rc < 0 else f"exited with {rc}"


def record(results, name, passed, failed, note=""):
    with PRINT, open(results, "a") as f:
        f.write(json.dumps({"name": name, "passed": passed, "failed": failed,
                            "note": note}) + "\n")


def binaries(build_json):
    with open(build_json) as f:
        lines = f.read().splitlines()
    found = []
    for line in lines:
        if not line.startswith("{"):
            continue
        msg = json.loads(line)
        if msg.get("reason") != "compiler-artifact" or not msg.get("profile", {}).get("test"):
            continue
        if not msg.get("executable"):
            continue
        name = msg["target"]["name"]
        kind = msg["target"]["kind"][0]
        # Built (and linted) with --all-targets; run as `cargo test` runs: no benches.
        if kind not in ("lib", "bin", "test", "proc-macro"):
            continue
        found.append((name, kind, msg["executable"], os.path.dirname(msg["manifest_path"])))
    rank = {n: i for i, n in enumerate(SLOW_FIRST)}
    found.sort(key=lambda b: rank.get(b[0], len(rank)))
    return found


def kill_group(pgid):
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def run_one(binary, logdir, timeout, results):
    name, kind, exe, cwd = binary
    label = f"{name} ({kind})"
    log = os.path.join(logdir, f"{name}-{kind}-{os.path.basename(exe)}.log")
    start = time.monotonic()
    timed_out = False
    with open(log, "w") as f:
        # A session of its own: the binary and everything it starts share its group.
        args = [exe]
        if kind == "test" and name in TEST_THREADS:
            args.append(f"--test-threads={TEST_THREADS[name]}")
        proc = subprocess.Popen(args, cwd=cwd, stdout=f, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            kill_group(proc.pid)
            rc = proc.wait()
        # Whatever it left behind (children, brokers) goes with it.
        kill_group(proc.pid)
    took = time.monotonic() - start
    with open(log, errors="replace") as f:
        text = f.read()
    lines = text.splitlines()
    passed, failed, summary, running = count(lines, rc)
    if timed_out:
        failed = max(failed, 1)
    note = ""
    if timed_out:
        note = f"killed after its timeout of {timeout} s"
        if running:
            note += "; still running: " + ", ".join(running)
    elif rc != 0 and not summary:
        note = f"{exit_text(rc)} without a test result"
    record(results, label, passed, failed, note)
    head = f"==> {'ok  ' if failed == 0 else 'FAIL'} {label:<44} {took:7.1f} s"
    if failed == 0:
        out("\n".join([head] + summary))
    else:
        # The whole output, as soon as it ended (its result lines included, once).
        tail = f"==> {label} failed" + (f": {note}" if note else "")
        out(f"{head}\n---- output of {label}:\n{text}\n{tail}")
    return failed == 0


def cmd_run(args):
    jobs = int(args[0])
    opts = dict(zip(args[1::2], args[2::2]))
    results = opts["--results"]
    bins = binaries(opts["--from"])
    timeout = int(os.environ.get("TRAWL_TEST_TIMEOUT", "900"))
    out(f"{len(bins)} test binaries, {jobs} at a time, each killed after {timeout} s")
    if not bins:
        record(results, "test binaries", 0, 1, "the build listed no test binary")
        return 1
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="trawl-tests-") as logdir:
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            oks = list(pool.map(lambda b: run_one(b, logdir, timeout, results), bins))
    out(f"==> {oks.count(True)} of {len(bins)} test binaries passed in "
        f"{time.monotonic() - start:.0f} s")
    return 0 if all(oks) else 1


def cmd_lints(args):
    build_json, rc = args[0], int(args[1])
    results = dict(zip(args[2::2], args[3::2]))["--results"]
    seen = set()
    warnings = errors = 0
    with open(build_json, errors="replace") as f:
        for line in f:
            if not line.startswith("{"):
                continue
            msg = json.loads(line)
            if msg.get("reason") != "compiler-message":
                continue
            m = msg["message"]
            rendered = m.get("rendered") or m.get("message", "")
            # One lint is reported once per target it is in (lib and lib test): once.
            if rendered in seen:
                continue
            seen.add(rendered)
            if m.get("level") == "warning":
                warnings += 1
            elif m.get("level") == "error":
                errors += 1
            else:
                continue
            out(rendered.rstrip("\n"))
    if rc != 0:
        record(results, "test build", 0, 1, f"failed with {errors} errors (above)")
    if warnings:
        record(results, "clippy", 0, 1, f"{warnings} warnings (above), denied")
    out(f"==> test build: {errors} errors, {warnings} warnings (clippy's lints included)")
    return 0 if rc == 0 and warnings == 0 else 1


def cmd_log(args):
    name, logfile, rc = args[0], args[1], int(args[2])
    results = dict(zip(args[3::2], args[4::2]))["--results"]
    try:
        with open(logfile, errors="replace") as f:
            text = f.read()
    except FileNotFoundError:
        text = ""
    passed, failed, summary, _ = count(text.splitlines(), rc)
    note = "" if rc == 0 or summary else f"{exit_text(rc)} without a test result"
    record(results, name, passed, failed, note)
    if failed == 0:
        out("\n".join([f"==> ok   {name}"] + summary))
    else:
        out(f"==> FAIL {name}\n---- output of {name}:\n{text}\n==> {name} failed")
    return 0 if failed == 0 else 1


def cmd_fail(args):
    name, reason = args[0], args[1]
    results = dict(zip(args[2::2], args[3::2]))["--results"]
    record(results, name, 0, 1, reason)
    return 1


def cmd_summary(args):
    results = dict(zip(args[0::2], args[1::2]))["--results"]
    units = []
    if os.path.exists(results):
        with open(results) as f:
            units = [json.loads(l) for l in f if l.strip()]
    passed = sum(u["passed"] for u in units)
    failed = sum(u["failed"] for u in units)
    bad = [u for u in units if u["failed"]]
    if bad:
        out("FAILED: " + "; ".join(
            f"{u['name']}" + (f" ({u['note']})" if u["note"] else "") for u in bad))
    elif not units:
        out("FAILED: nothing was counted (no test binary ran)")
    # The last line of the run: nothing may follow it.
    out(f"{passed} passed, {failed} failed")
    return 0 if units and failed == 0 else 1


def main():
    commands = {"run": cmd_run, "lints": cmd_lints, "log": cmd_log, "fail": cmd_fail,
                "summary": cmd_summary}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        sys.exit(__doc__)
    sys.exit(commands[sys.argv[1]](sys.argv[2:]))


if __name__ == "__main__":
    main()
