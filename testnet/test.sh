#!/usr/bin/env bash
# The README's test command: installs what the tests need, then runs every test CI runs
# (unit, property, golden-vector, integration and process tests of the whole workspace), the
# validator binary without features, a fuzzing smoke run, the README's walk-through
# (testnet/readme-test.sh), then the chaos runner's CI subset (real processes in network
# namespaces; needs root).
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

# The validator binary operators run (default features): it orders a transaction and refuses
# every test double in its config.
testnet/default-build.sh

# Fuzzing smoke run: every fuzz target for 5 s from the committed corpus (docs/FUZZING.md), in
# an unoptimized build of its own (about 3 minutes cold).
FUZZ_PROFILE=dev testnet/fuzz.sh 5

# The binaries of the README walk-through and the chaos runner: the chaos build, once.
cargo build -q --locked --features ordo-node/chaos -p ordo-node --bin ordo -p ordo-testnet --bin ordo-testnet

# Docs: every command of the README's "Run a local testnet" and "Try the pieces" sections
# against a real localnet
# (under 3 minutes). ORDO_FEATURES makes localnet.sh's build the one above, a no-op.
ORDO_FEATURES=ordo-node/chaos testnet/readme-test.sh

# Tier 2: the chaos scenarios marked `ci = true`, one fresh testnet each (about 8 minutes).
# A failing scenario keeps its directory under chaos-runs/ and fails the run.
"$CARGO_TARGET_DIR/debug/ordo-testnet" chaos --ci --dir chaos-runs
