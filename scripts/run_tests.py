#!/usr/bin/env python3
"""Runs the workspace's test binaries several at a time (scripts/test.sh).

`cargo test` runs one test binary after another. Most of ours spend their time
waiting on brokers, simulated rate limits and session timeouts, not on the CPU (a
2-core machine sits at a load of about 1 during `cargo test`), so running a few
binaries at once cuts the wall time without changing what any test does. Tests within
a binary still run as `cargo test` runs them (threads of one process, sharing the
binary's broker).

Usage: run_tests.py JOBS [cargo test args...]. Builds with `cargo test --no-run
--message-format=json` (so every test binary is built exactly as `cargo test` would),
then runs each binary from its package's directory, as cargo does, the slow ones
first. `run_tests.py JOBS --from FILE` takes the binaries from the JSON output of a
build already done (scripts/test.sh: so no other cargo run holding target/ can make it
wait). Prints each binary's result and time as it ends and the output of every
failure at the end; exits 1 if any failed.
"""

import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

# Run first (longest first keeps the tail short); the rest follow in build order.
SLOW_FIRST = [
    "engine_crash_recovery", "engine_broker_failures", "cluster_handover", "engine_faults",
    "field_crash", "engine_backfill", "field_readings", "engine_retention", "engine_fencing",
    "kafka_sasl_ssl", "harden_reload", "engine_quota", "ops_metrics", "engine_shared_account",
    "cluster_quota",
]


def binaries(cargo_args):
    if cargo_args[:1] == ["--from"]:
        with open(cargo_args[1]) as f:
            out = f.read()
    else:
        cmd = ["cargo", "test", "--no-run", "--message-format=json-render-diagnostics"]
        out = subprocess.run(cmd + cargo_args, stdout=subprocess.PIPE, check=True,
                             text=True).stdout
    found = []
    for line in out.splitlines():
        msg = json.loads(line)
        if msg.get("reason") != "compiler-artifact" or not msg.get("profile", {}).get("test"):
            continue
        if not msg.get("executable"):
            continue
        name = msg["target"]["name"]
        kind = msg["target"]["kind"][0]
        found.append((name, kind, msg["executable"], os.path.dirname(msg["manifest_path"])))
    rank = {n: i for i, n in enumerate(SLOW_FIRST)}
    found.sort(key=lambda b: rank.get(b[0], len(rank)))
    return found


def run(binary, logdir):
    name, kind, exe, cwd = binary
    log = os.path.join(logdir, f"{name}-{kind}-{os.path.basename(exe)}.log")
    start = time.monotonic()
    with open(log, "w") as out:
        rc = subprocess.run([exe], cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL).returncode
    took = time.monotonic() - start
    with open(log) as f:
        summary = [l.strip() for l in f if l.startswith("test result:")]
    label = f"{name} ({kind})"
    print(f"{'ok  ' if rc == 0 else 'FAIL'} {label:<40} {took:7.1f} s  {' | '.join(summary)}",
          flush=True)
    return binary, rc, log


def main():
    jobs = int(sys.argv[1])
    bins = binaries(sys.argv[2:])
    print(f"{len(bins)} test binaries, {jobs} at a time", flush=True)
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="trawl-tests-") as logdir:
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            results = list(pool.map(lambda b: run(b, logdir), bins))
        failed = [(b, log) for b, rc, log in results if rc != 0]
        for (name, kind, _, _), log in failed:
            print(f"\n---- {name} ({kind}) failed; its output:", flush=True)
            with open(log) as f:
                sys.stdout.write(f.read())
    print(f"\n{len(bins) - len(failed)} of {len(bins)} test binaries passed in "
          f"{time.monotonic() - start:.0f} s", flush=True)
    if failed:
        print("failed: " + ", ".join(f"{b[0]} ({b[1]})" for b, _ in failed))
        sys.exit(1)


if __name__ == "__main__":
    main()
