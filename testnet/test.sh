#!/usr/bin/env bash
# The README's test command: installs what the tests need, then runs every test CI runs
# (unit, property, golden-vector, integration and process tests of the whole workspace), then
# the chaos runner's CI subset (real processes in network namespaces; needs root).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ordo-target}"
# No incremental caches: CI builds each crate once, and they grow the shared target by gigabytes.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"

testnet/install-deps.sh

# The committed contract artifacts must be what the pinned solc builds from the sources.
node contracts/build.mjs --check

# `--all-features`: the chaos build (ordo-node/chaos: the fault layer and the equivocating
# double) is tested too, and the chaos runner below reuses the same build.
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --all-features --locked --profile ci
else
  echo "test.sh: cargo-nextest not found, using cargo test"
  cargo test --workspace --all-features --locked
fi

# Tier 2: the chaos scenarios marked `ci = true`, one fresh testnet each (about 8 minutes).
# A failing scenario keeps its directory under chaos-runs/ and fails the run.
cargo build -q --locked --features ordo-node/chaos -p ordo-node --bin ordo -p ordo-testnet --bin ordo-testnet
"$CARGO_TARGET_DIR/debug/ordo-testnet" chaos --ci --dir chaos-runs
