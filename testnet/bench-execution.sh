#!/usr/bin/env bash
# Delivery to executors on the 4-validator localnet (optimized build), in one run:
# 1. RATE tx/s offered to namespace 7, which every validator executes on the builtin ledger;
# 2. RATE tx/s offered to namespace 8, which every validator delivers to its own kvstore ABCI
#    app (tendermint-abci's, served by `ordo-testnet kvstore`);
# 3. consensus with and without a stalled executor: STALL_RATE tx/s to namespace 8 for
#    WINDOW_S seconds with the apps running, then as long again with every app stopped
#    (SIGSTOP: calls to it hang), then how long the apps take to catch up once resumed.
#
#   testnet/bench-execution.sh [RATE] [DURATION_S]     defaults: 10000 tx/s for 30 s
#
# Environment: PARTS (default "builtin kvstore stall"), ORDO_PROFILE (default perf), SIZE (payload bytes, default 250), STALL_RATE
# (default 2000), WINDOW_S (default 20), ORDO_BASE_PORT (default 27300), CARGO_TARGET_DIR.
# Prints one JSON line per part: per node, transactions delivered per second while the load
# ran, certified-to-executed latency p50/p99 (from the node's decision to the executor's
# answer, heights with transactions), and the load generator's figures.
set -euo pipefail
cd "$(dirname "$0")/.."
RATE=${1:-10000}
DURATION=${2:-30}
SIZE=${SIZE:-250}
STALL_RATE=${STALL_RATE:-2000}
WINDOW=${WINDOW_S:-20}
export ORDO_PROFILE=${ORDO_PROFILE:-perf} ORDO_ABCI=1 ORDO_WATCH=0
export ORDO_BASE_PORT=${ORDO_BASE_PORT:-27300}
WORK=$(mktemp -d /tmp/ordo-bench-exec.XXXXXX)
export ORDO_LOCALNET=$WORK/net
trap 'testnet/localnet.sh down >/dev/null 2>&1 || true; rm -rf "$WORK"' EXIT

rpc() { echo "http://127.0.0.1:$((ORDO_BASE_PORT + 3 * $1 + 1))"; }
# Every node's rollup of namespace $1, as one JSON array.
rollups() {
  local parts=() i
  for i in 0 1 2 3; do parts+=("$(curl -s --max-time 2 "$(rpc "$i")/v1/rollup/$1" || echo null)"); done
  (IFS=,; echo "[${parts[*]}]")
}
now() { date +%s.%N; }
height() { curl -s --max-time 2 "$(rpc 0)/v1/status" | jq .height; }
wait_caught_up() { # namespace, bound in s: seconds until every node's lag is at most 1
  local t0; t0=$(now)
  for _ in $(seq 1 $(($2 * 10))); do
    [ "$(rollups "$1" | jq '[.[] | .lag] | max')" -le 1 ] && break
    sleep 0.1
  done
  awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'
}

testnet/localnet.sh up >&2
sleep 3

deliver() { # NAME NAMESPACE: RATE tx/s for DURATION s to NAMESPACE
  local name=$1 ns=$2
  echo "bench: $name: $RATE tx/s of $SIZE bytes to namespace $ns for ${DURATION}s" >&2
  local out="$WORK/load-$ns.json"
  testnet/localnet.sh load --rate "$RATE" --duration "$DURATION" --size "$SIZE" \
    --namespaces 1 --first-namespace "$ns" --text --drain 15 >"$out" &
  local load=$!
  sleep 3
  local a ta b tb
  a=$(rollups "$ns"); ta=$(now)
  sleep $((DURATION - 5))
  b=$(rollups "$ns"); tb=$(now)
  wait "$load"
  local caught; caught=$(wait_caught_up "$ns" 60)
  python3 - "$name" "$a" "$b" "$ta" "$tb" "$(rollups "$ns")" "$(tail -n 1 "$out")" "$caught" <<'EOF'
import json, sys
name, a, b, ta, tb, end, load, caught = sys.argv[1:9]
a, b, end, load = json.loads(a), json.loads(b), json.loads(end), json.loads(load)
dt = float(tb) - float(ta)
print(json.dumps({
    "part": name,
    "executor": end[0]["executor"].split(":")[0],
    "delivered_tx_per_s_per_node": [round((y["txs"] - x["txs"]) / dt, 1) for x, y in zip(a, b)],
    "lag_heights_during_load_per_node": [y["lag"] for y in b],
    "certified_to_executed_ms_per_node": [e.get("delivery_ms") for e in end],
    "caught_up_after_load_s": float(caught),
    "stopped": [e["stopped"] for e in end],
    "load": {k: load[k] for k in ("submitted", "ordered", "ordered_per_s", "latency_ms")},
}, sort_keys=True))
EOF
}

heights_per_s() { # over WINDOW seconds, at node 0
  local h0 t0; h0=$(height); t0=$(now)
  sleep "$WINDOW"
  awk -v a="$h0" -v b="$(height)" -v s="$t0" -v e="$(now)" 'BEGIN { printf "%.2f", (b - a) / (e - s) }'
}

stall() {
  echo "bench: consensus under $STALL_RATE tx/s to namespace 8, apps running then stopped" >&2
  testnet/localnet.sh load --rate "$STALL_RATE" --duration $((2 * WINDOW + 6)) --size "$SIZE" \
    --namespaces 1 --first-namespace 8 --text --drain 15 >"$WORK/load-stall.json" &
  local load=$!
  sleep 3
  local live stalled apps
  live=$(heights_per_s)
  apps=$(cat "$ORDO_LOCALNET"/node-*/kvstore.pid)
  # shellcheck disable=SC2086
  kill -STOP $apps
  stalled=$(heights_per_s)
  local lag; lag=$(rollups 8 | jq -c '[.[] | .lag]')
  # shellcheck disable=SC2086
  kill -CONT $apps
  wait "$load"
  local caught; caught=$(wait_caught_up 8 120)
  echo "{\"part\":\"stalled executor\",\"load_tx_per_s\":$STALL_RATE,\"window_s\":$WINDOW,\"heights_per_s_apps_running\":$live,\"heights_per_s_apps_stopped\":$stalled,\"lag_heights_when_resumed\":$lag,\"caught_up_after_s\":$caught,\"load\":$(tail -n 1 "$WORK/load-stall.json" | jq -c '{ordered_per_s, latency_ms}')}"
}

for part in ${PARTS:-builtin kvstore stall}; do
  case $part in
    builtin) deliver "builtin ledger" 7 ;;
    kvstore) deliver "kvstore over ABCI" 8 ;;
    stall) stall ;;
    *) echo "bench: unknown part $part" >&2; exit 2 ;;
  esac
done
