#!/usr/bin/env bash
# The README's test command: installs what the tests need, then runs every test CI runs
# (unit, property, golden-vector, integration and process tests of the whole workspace).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ordo-target}"

testnet/install-deps.sh

# The committed contract artifacts must be what the pinned solc builds from the sources.
node contracts/build.mjs --check

if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --profile ci
else
  echo "test.sh: cargo-nextest not found, using cargo test"
  cargo test --workspace --locked
fi
