#!/usr/bin/env bash
# Forced-inclusion latency (docs/BENCHMARKS.md): a fresh 4-validator localnet with anvil
# (1 s blocks, inclusion_delay 2, finality latest-1), COUNT entries queued 1.5 s apart with
# every validator honest, then again with node 1 censoring forced entries.
#
#   testnet/bench-forced.sh [COUNT]      (default 20)
#
# Environment: ORDO_PROFILE (default debug), ORDO_BASE_PORT (default 28100).
set -euo pipefail
cd "$(dirname "$0")/.."
export ORDO_LOCALNET=${ORDO_LOCALNET:-$(mktemp -d /tmp/ordo-forced-bench.XXXXXX)}
export ORDO_BASE_PORT=${ORDO_BASE_PORT:-28100}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ordo-target}"
export ORDO_L1_KEY=0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80
COUNT=${1:-20}
BIN="$CARGO_TARGET_DIR/${ORDO_PROFILE:-debug}/ordo-testnet"
RPC="http://127.0.0.1:$((ORDO_BASE_PORT + 1))"
L1="http://127.0.0.1:$((ORDO_BASE_PORT + 500))"
trap 'testnet/localnet.sh down >/dev/null 2>&1 || true' EXIT

run() {
  "$BIN" forced-bench --rpc "$RPC" --l1-rpc "$L1" --inbox "$ORDO_LOCALNET/node-0/genesis.json" \
    --count "$COUNT" 2>"$ORDO_LOCALNET/forced-bench-$1.log"
}

testnet/localnet.sh up 4 >/dev/null
echo "honest:    $(run honest)"
testnet/localnet.sh down >/dev/null
ORDO_CENSOR=1 testnet/localnet.sh up 4 >/dev/null
echo "censoring: $(run censoring)"
for i in 0 2 3; do
  curl -s "http://127.0.0.1:$((ORDO_BASE_PORT + 3 * i + 1))/status" |
    sed -n 's/.*"forced_refusals":\([0-9]*\).*/node-'"$i"' refused \1 censoring proposals/p'
  echo
done
