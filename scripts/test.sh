#!/usr/bin/env bash
# The one test command (README, .ci/run): on a fresh machine it installs what the tests
# need, then runs every check and test of the workspace. Safe to run again: installed
# tools are cached under $TRAWL_TOOLS (default ~/.cache/trawl-tools) and reused.
set -euo pipefail
cd "$(dirname "$0")/.."

TOOLS="${TRAWL_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/trawl-tools}"
mkdir -p "$TOOLS"
# Each step says how far into the run it starts (CI's time budget is 25 minutes).
step() { printf '\n==> [%d s] %s\n' "$SECONDS" "$*"; }

# Every step that fails is counted (scripts/run_tests.py): the run goes on where it can,
# and its very last line, printed on any exit, is `N passed, M failed` over every test
# binary (doc tests included), a failed step counting as one failed. CI reads that line:
# nothing may be printed after it.
scratch="$(mktemp -d)"
results="$scratch/results.jsonl"
builds=""
finished=""
finish() {
    local rc=$?
    trap - EXIT
    if [ -n "$builds" ] && kill -0 "$builds" 2>/dev/null; then
        kill -KILL -- "-$builds" 2>/dev/null || true
    fi
    if [ -z "$finished" ]; then
        python3 scripts/run_tests.py fail "scripts/test.sh" "stopped early with status $rc" \
            --results "$results" || true
    fi
    local verdict=0
    python3 scripts/run_tests.py summary --results "$results" || verdict=$?
    rm -rf "$scratch"
    exit "$verdict"
}
trap finish EXIT
# Runs a step; if it fails, counts it as one failed and goes on.
check() {
    local name="$1"
    shift
    "$@" || python3 scripts/run_tests.py fail "$name" "failed (above)" --results "$results" || true
}

# Debian packages: a C toolchain and headers for librdkafka (bundled by the rdkafka
# crate, with TLS, zstd and OAUTHBEARER/OIDC through libcurl), promtool for the metrics
# and alert-rule checks, a JDK and Maven for the Apache Kafka test broker, openssl for
# the test CA of the SASL_SSL broker.
need_pkgs=()
for p in build-essential pkg-config libssl-dev zlib1g-dev libcurl4-openssl-dev prometheus \
    openjdk-17-jre-headless maven openssl; do
    dpkg -s "$p" >/dev/null 2>&1 || need_pkgs+=("$p")
done
if [ ${#need_pkgs[@]} -gt 0 ]; then
    step "installing Debian packages: ${need_pkgs[*]}"
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}"
    # The prometheus package starts a server as a service where it can; tests run their own.
    $SUDO systemctl disable --now prometheus >/dev/null 2>&1 || true
fi

# The Kafka-compatible broker the integration tests start (built once, then cached). A
# test broker does not need opt-level 3: level 1 builds in a fraction of the time.
TANSU_ROOT="$TOOLS/tansu-0.6.0"
if ! [ -x "$TANSU_ROOT/bin/tansu" ]; then
    step "installing tansu 0.6.0 into $TANSU_ROOT"
    CARGO_PROFILE_RELEASE_OPT_LEVEL=1 CARGO_PROFILE_RELEASE_DEBUG=false \
        cargo install tansu --version 0.6.0 --locked --features dynostore --root "$TANSU_ROOT"
fi
export TRAWL_TANSU_BIN="$TANSU_ROOT/bin/tansu"

# The Apache Kafka broker most integration tests start (tests/support/kafka.rs): the
# jars of org.apache.kafka:kafka_2.13 and a log4j2 binding, resolved from Maven Central
# by tests/support/kafka/pom.xml (Maven's downloads cached under $TOOLS/m2 too).
KAFKA_VERSION=4.4.0
KAFKA_ROOT="$TOOLS/kafka-$KAFKA_VERSION"
if ! [ -f "$KAFKA_ROOT/libs/kafka_2.13-$KAFKA_VERSION.jar" ]; then
    step "installing Apache Kafka $KAFKA_VERSION (jars from Maven Central) into $KAFKA_ROOT"
    rm -rf "$KAFKA_ROOT.partial"
    mvn -q -B -f tests/support/kafka/pom.xml -Dmaven.repo.local="$TOOLS/m2" \
        -Dkafka.version="$KAFKA_VERSION" dependency:copy-dependencies \
        -DincludeScope=runtime -DoutputDirectory="$KAFKA_ROOT.partial/libs"
    rm -rf "$KAFKA_ROOT"
    mv "$KAFKA_ROOT.partial" "$KAFKA_ROOT"
fi
export TRAWL_KAFKA_HOME="$KAFKA_ROOT"

# cargo-fuzz and the nightly toolchain it needs (the fuzz targets of fuzz/, issue 13).
FUZZ_VERSION=0.13.2
FUZZ_ROOT="$TOOLS/cargo-fuzz-$FUZZ_VERSION"
if ! [ -x "$FUZZ_ROOT/bin/cargo-fuzz" ]; then
    step "installing cargo-fuzz $FUZZ_VERSION into $FUZZ_ROOT"
    cargo install cargo-fuzz --version "$FUZZ_VERSION" --locked --root "$FUZZ_ROOT"
fi
if ! rustup toolchain list | grep -q '^nightly'; then
    step "installing the nightly toolchain (cargo fuzz needs it)"
    rustup toolchain install nightly --profile minimal
fi
export PATH="$FUZZ_ROOT/bin:$PATH"

# The builds not needed before the tests run in the background from here, at a lower
# priority, in a session of their own (killed if the run stops early): the fuzz targets
# (their own target dir, nightly), then the benches (compiled only: they are
# measurements, not tests; `cargo bench` builds them optimized) and the doc tests, which
# wait for the test build's lock on target/. They fill the CPU the foreground leaves
# idle (a build's last crates and links, the test binaries waiting on brokers, rate
# limits and session timeouts). Their output goes to files, read after the tests.
export scratch
setsid bash -c '
    set -e
    t=$SECONDS
    (cd fuzz && nice -n 10 cargo +nightly fuzz build -s none) >"$scratch/fuzz-build.log" 2>&1 \
        || { echo fuzz >"$scratch/builds.failed"; exit 1; }
    echo "background: fuzz targets built in $((SECONDS - t)) s"
    t=$SECONDS
    nice -n 10 cargo build --workspace --benches >"$scratch/bench-build.log" 2>&1 \
        || { echo benches >"$scratch/builds.failed"; exit 1; }
    echo "background: benches built in $((SECONDS - t)) s"
    t=$SECONDS
    rc=0
    nice -n 10 cargo test --workspace --doc --no-fail-fast >"$scratch/doc.log" 2>&1 || rc=$?
    echo "$rc" >"$scratch/doc.rc"
    echo "background: doc tests built and ran in $((SECONDS - t)) s"
' >"$scratch/builds.log" 2>&1 </dev/null &
builds=$!

step "cargo fmt --check"
check "cargo fmt --check" cargo fmt --all -- --check

step "cargo clippy -D warnings"
check "cargo clippy" cargo clippy --workspace --all-targets -- -D warnings

step "cargo test --workspace: build"
if cargo test --workspace --no-run --message-format=json-render-diagnostics >"$scratch/tests.json"; then
    step "cargo test --workspace: every test binary, ${TRAWL_TEST_JOBS:-3} at a time"
    python3 scripts/run_tests.py run "${TRAWL_TEST_JOBS:-3}" --from "$scratch/tests.json" \
        --results "$results" || true
else
    python3 scripts/run_tests.py fail "cargo test --workspace --no-run" "the test build failed (above)" \
        --results "$results" || true
fi

step "fuzz targets, benches and doc tests: build (background)"
wait "$builds" || true
builds=""
cat "$scratch/builds.log"
if [ -f "$scratch/builds.failed" ]; then
    what="$(cat "$scratch/builds.failed")"
    tail -n 60 "$scratch/$what-build.log"
    python3 scripts/run_tests.py fail "$what build" "failed (above)" --results "$results" || true
fi
if [ -f "$scratch/doc.rc" ]; then
    python3 scripts/run_tests.py log "doc tests" "$scratch/doc.log" "$(cat "$scratch/doc.rc")" \
        --results "$results" || true
else
    python3 scripts/run_tests.py fail "doc tests" "not run: a background build before them failed" \
        --results "$results" || true
fi

# Every cargo-fuzz target of fuzz/ runs for FUZZ_SECONDS (default 10) from its seed
# corpus (fuzz/corpus/<target>, kept in the repo; new finds go to a scratch copy). A
# crash fails the run and leaves its input under fuzz/artifacts/<target>/; so does
# `cargo fuzz list` failing or listing no target.
step "cargo fuzz: each target for ${FUZZ_SECONDS:-10} s"
if [ -f "$scratch/builds.failed" ] && [ "$(cat "$scratch/builds.failed")" = fuzz ]; then
    echo "fuzz targets not run: their build failed (above)"
elif ! targets="$(cd fuzz && cargo +nightly fuzz list)" || [ -z "$targets" ]; then
    echo "cargo fuzz list failed or listed no target: ${targets:-}"
    python3 scripts/run_tests.py fail "cargo fuzz list" "failed or listed no target" \
        --results "$results" || true
else
    for target in $targets; do
        mkdir -p "$scratch/corpus-$target"
        if (cd fuzz && cargo +nightly fuzz run -s none "$target" "$scratch/corpus-$target" \
            "corpus/$target" -- -max_total_time="${FUZZ_SECONDS:-10}" -max_len=65536 \
            -print_final_stats=1) >"$scratch/fuzz-$target.log" 2>&1; then
            grep -E '^stat::number_of_executed_units' "$scratch/fuzz-$target.log" | sed "s/^/$target: /"
        else
            tail -n 40 "$scratch/fuzz-$target.log"
            echo "fuzz target $target found a crash (input under fuzz/artifacts/$target/)"
            python3 scripts/run_tests.py fail "fuzz $target" "crashed (input under fuzz/artifacts/$target/)" \
                --results "$results" || true
        fi
    done
fi
step "done: the count of every test follows"
finished=1
