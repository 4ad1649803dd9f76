#!/usr/bin/env bash
# The one test command (README, .ci/run): on a fresh machine it installs what the tests
# need, then runs every check and test of the workspace. Safe to run again: installed
# tools are cached under $TRAWL_TOOLS (default ~/.cache/trawl-tools) and reused.
#
# The order is set by the 2 cores of CI's machine (benches/RESULTS.md, "The CI run"):
# the one build the tests need (with clippy's lints) runs in front; what is needed
# only later is built beside it at a lower priority, in the time the foreground leaves
# a core idle: the tansu broker (needed when the tests run), then the fuzz targets
# (needed last).
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
export scratch
results="$scratch/results.jsonl"
background=()
declare -A background_pid=()
finished=""
finish() {
    local rc=$?
    trap - EXIT
    for pid in "${background[@]}"; do
        kill -KILL -- "-$pid" 2>/dev/null || true
    done
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
# Runs a script in the background in a session of its own (killed if the run stops
# early), at niceness $1, its output in $scratch/$2.log, its exit status in
# $scratch/$2.rc.
in_background() {
    local nice="$1" name="$2" script="$3"
    setsid nice -n "$nice" bash -c "set -euo pipefail; t=\$SECONDS; rc=0; ( $script ) || rc=\$?; \
        echo \"background: $name: exit \$rc after \$((SECONDS - t)) s\" >>\"\$scratch/background.log\"; \
        echo \$rc >\"\$scratch/$name.rc\"" >"$scratch/$name.log" 2>&1 </dev/null &
    background+=($!)
    background_pid[$name]=$!
}
# Waits for a background step; 0 if it succeeded, else counts it failed (its log's end
# printed) and returns 1.
await() {
    local name="$1" what="$2"
    if [ -n "${background_pid[$name]:-}" ]; then
        wait "${background_pid[$name]}" || true
    fi
    if [ "$(cat "$scratch/$name.rc" 2>/dev/null || echo killed)" != 0 ]; then
        tail -n 60 "$scratch/$name.log"
        python3 scripts/run_tests.py fail "$what" "failed (above)" --results "$results" || true
        return 1
    fi
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

# The Kafka-compatible broker the integration tests start (built once, then cached), in
# the background: the tests need it only once they run. A test broker does not need
# opt-level 3: level 1 builds in a fraction of the time.
TANSU_ROOT="$TOOLS/tansu-0.6.0"
export TRAWL_TANSU_BIN="$TANSU_ROOT/bin/tansu"
if ! [ -x "$TRAWL_TANSU_BIN" ]; then
    step "installing tansu 0.6.0 into $TANSU_ROOT (background)"
    export TANSU_ROOT
    in_background 5 tansu 'CARGO_PROFILE_RELEASE_OPT_LEVEL=1 CARGO_PROFILE_RELEASE_DEBUG=false \
        cargo install tansu --version 0.6.0 --locked --features dynostore --root "$TANSU_ROOT"'
else
    echo 0 >"$scratch/tansu.rc"
fi

# The fuzz targets (their own target dir, nightly): cargo-fuzz and the nightly toolchain
# it needs, then the build, in the background at the lowest priority (they run last).
FUZZ_VERSION=0.13.2
export FUZZ_ROOT="$TOOLS/cargo-fuzz-$FUZZ_VERSION"
export PATH="$FUZZ_ROOT/bin:$PATH"
step "cargo-fuzz $FUZZ_VERSION, the nightly toolchain, the fuzz targets: build (background)"
in_background 15 fuzz '
    if ! [ -x "$FUZZ_ROOT/bin/cargo-fuzz" ]; then
        cargo install cargo-fuzz --version '"$FUZZ_VERSION"' --locked --root "$FUZZ_ROOT"
    fi
    if ! rustup toolchain list | grep -q "^nightly"; then
        rustup toolchain install nightly --profile minimal
    fi
    cd fuzz && cargo +nightly fuzz build -s none'

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

step "cargo fmt --check"
check "cargo fmt --check" cargo fmt --all -- --check

# One build of every target serves both clippy and the tests: clippy's driver compiles
# the workspace's crates (RUSTC_WORKSPACE_WRAPPER, as `cargo clippy` runs it, but with
# code generation), so the dependencies are built once instead of checked for clippy
# and then built again. Its warnings are denied by run_tests.py (`lints`: printed, and
# clippy counted as failed) rather than by -D, so that one lint does not keep every
# test from running; --no-fail-fast builds every test binary that compiles. The benches
# are built here too (compiled only: they are measurements, not tests).
export CLIPPY_ARGS="-W__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"
RUSTC_WORKSPACE_WRAPPER="$(rustup which clippy-driver)"
export RUSTC_WORKSPACE_WRAPPER
step "cargo test --workspace --all-targets: build, with clippy's lints"
build_rc=0
cargo test --workspace --all-targets --no-run --no-fail-fast --message-format=json \
    >"$scratch/tests.json" || build_rc=$?
python3 scripts/run_tests.py lints "$scratch/tests.json" "$build_rc" --results "$results" || true

# The doc tests beside the test binaries (the same build settings: nothing is rebuilt).
in_background 10 doc 'cargo test --workspace --doc --no-fail-fast'

step "tansu: waiting for its build"
await tansu "tansu install" || true

step "cargo test --workspace: every test binary, ${TRAWL_TEST_JOBS:-4} at a time"
python3 scripts/run_tests.py run "${TRAWL_TEST_JOBS:-4}" --from "$scratch/tests.json" \
    --results "$results" || true

step "doc tests"
wait "${background_pid[doc]}" || true
python3 scripts/run_tests.py log "doc tests" "$scratch/doc.log" "$(cat "$scratch/doc.rc" 2>/dev/null || echo 1)" \
    --results "$results" || true

# Every cargo-fuzz target of fuzz/ runs for FUZZ_SECONDS (default 10) from its seed
# corpus (fuzz/corpus/<target>, kept in the repo; new finds go to a scratch copy). A
# crash fails the run and leaves its input under fuzz/artifacts/<target>/; so does
# `cargo fuzz list` failing or listing no target.
unset RUSTC_WORKSPACE_WRAPPER CLIPPY_ARGS
step "fuzz targets: waiting for their build"
if await fuzz "fuzz build"; then
    step "cargo fuzz: each target for ${FUZZ_SECONDS:-10} s"
    if ! targets="$(cd fuzz && cargo +nightly fuzz list)" || [ -z "$targets" ]; then
        echo "cargo fuzz list failed or listed no target: ${targets:-}"
        python3 scripts/run_tests.py fail "cargo fuzz list" "failed or listed no target" \
            --results "$results" || true
    else
        for target in $targets; do
            mkdir -p "$scratch/corpus-$target"
            if (cd fuzz && cargo +nightly fuzz run -s none "$target" "$scratch/corpus-$target" \
                "corpus/$target" -- -max_total_time="${FUZZ_SECONDS:-10}" -max_len=65536 \
                -print_final_stats=1) >"$scratch/fuzz-$target.log" 2>&1; then
                grep -E '^stat::number_of_executed_units' "$scratch/fuzz-$target.log" |
                    sed "s/^/$target: /"
            else
                tail -n 40 "$scratch/fuzz-$target.log"
                echo "fuzz target $target found a crash (input under fuzz/artifacts/$target/)"
                python3 scripts/run_tests.py fail "fuzz $target" \
                    "crashed (input under fuzz/artifacts/$target/)" --results "$results" || true
            fi
        done
    fi
fi
cat "$scratch/background.log" 2>/dev/null || true
step "done: the count of every test follows"
finished=1
