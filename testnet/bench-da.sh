#!/usr/bin/env bash
# DA figures (docs/BENCHMARKS.md, "Data availability"): a fresh 4-validator localnet posting to
# anvil (1 s blocks, finality latest-1, ranges of 8 heights), RATE tx/s of 250 B for DURATION s,
# then `ordo-testnet da-report` over the L1: frames, blobs, blob utilisation, gas per MB, and
# certified-to-available latency.
#
#   testnet/bench-da.sh [RATE] [DURATION]      (default 1000 tx/s, 30 s)
#
# Environment: ORDO_PROFILE (default debug), ORDO_BASE_PORT (default 28200), ORDO_DA_RANGE_HEIGHTS
# (heights per posting range, default 8; passed to the localnet).
set -euo pipefail
cd "$(dirname "$0")/.."
export ORDO_LOCALNET=${ORDO_LOCALNET:-$(mktemp -d /tmp/ordo-da-bench.XXXXXX)}
export ORDO_BASE_PORT=${ORDO_BASE_PORT:-28200}
export ORDO_WATCH=0
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ordo-target}"
RATE=${1:-1000}
DURATION=${2:-30}
BIN="$CARGO_TARGET_DIR/${ORDO_PROFILE:-debug}/ordo-testnet"
L1="http://127.0.0.1:$((ORDO_BASE_PORT + 500))"
trap 'testnet/localnet.sh down >/dev/null 2>&1 || true' EXIT

testnet/localnet.sh up 4 >/dev/null
# Measure from when posting runs (the first frames wait for the KZG setup to load).
for _ in $(seq 1 300); do
  a=$(curl -sf "http://127.0.0.1:$((ORDO_BASE_PORT + 1))/v1/status" | sed -n 's/.*"available_height":\([0-9]*\).*/\1/p')
  [ "${a:-0}" -ge 8 ] && break
  sleep 0.5
done
start=$(curl -sf "http://127.0.0.1:$((ORDO_BASE_PORT + 1))/v1/status" | sed -n 's/.*"height":\([0-9]*\).*/\1/p')
echo "load: $(testnet/localnet.sh load --rate "$RATE" --duration "$DURATION" 2>/dev/null | grep '^{' | tail -n 1)"
end=$(curl -sf "http://127.0.0.1:$((ORDO_BASE_PORT + 1))/v1/status" | sed -n 's/.*"height":\([0-9]*\).*/\1/p')
# Let the last ranges land and pass finality.
sleep 15
echo "da (heights $((start + 1))..$end, those certified under load):"
"$BIN" da-report --l1-rpc "$L1" --genesis "$ORDO_LOCALNET/node-0/genesis.json" --depth 1 \
  --from-height "$((start + 1))" --to-height "$end"
