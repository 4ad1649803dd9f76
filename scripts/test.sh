#!/usr/bin/env bash
# The one test command (README, .ci/run): on a fresh machine it installs what the tests
# need, then runs every check and test of the workspace. Safe to run again: installed
# tools are cached under $TRAWL_TOOLS (default ~/.cache/trawl-tools) and reused.
set -euo pipefail
cd "$(dirname "$0")/.."

TOOLS="${TRAWL_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/trawl-tools}"
mkdir -p "$TOOLS"
step() { printf '\n==> %s\n' "$*"; }

# Debian packages: a C toolchain and headers for librdkafka (bundled by the rdkafka
# crate), promtool for the metrics and alert-rule checks.
need_pkgs=()
for p in build-essential pkg-config libssl-dev zlib1g-dev prometheus; do
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

# The Kafka-compatible broker the integration tests start (about 10 minutes to build once).
TANSU_ROOT="$TOOLS/tansu-0.6.0"
if ! [ -x "$TANSU_ROOT/bin/tansu" ]; then
    step "installing tansu 0.6.0 into $TANSU_ROOT"
    cargo install tansu --version 0.6.0 --locked --features dynostore --root "$TANSU_ROOT"
fi
export TRAWL_TANSU_BIN="$TANSU_ROOT/bin/tansu"

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

step "cargo test --workspace"
cargo test --workspace --no-fail-fast

# The benches are measurements, not tests: here they are only compiled (in the dev
# profile, reusing the test build's dependencies; `cargo bench` builds them optimized).
step "benches compile"
cargo build --workspace --benches
