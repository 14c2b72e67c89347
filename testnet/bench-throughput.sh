#!/usr/bin/env bash
# Ordered throughput of ordo on this machine, in one run: the same load against a 4-validator
# localnet and against one validator alone (the centralized-sequencer baseline).
#
#   testnet/bench-throughput.sh [RATE] [DURATION_S]     defaults: 20000 tx/s for 30 s
#
# Environment: ORDO_PROFILE (default perf: an optimized build, docs/adr/0011), SIZE (payload
# bytes, default 250), NAMESPACES (default 4), CARGO_TARGET_DIR.
# Prints the load generator's progress, then one JSON line per setup with CPU seconds and peak
# resident memory per node process. Results go to docs/BENCHMARKS.md by hand.
set -euo pipefail
cd "$(dirname "$0")/.."
RATE=${1:-20000}
DURATION=${2:-30}
SIZE=${SIZE:-250}
NAMESPACES=${NAMESPACES:-4}
export ORDO_PROFILE=${ORDO_PROFILE:-perf}
WORK=$(mktemp -d /tmp/ordo-bench.XXXXXX)
trap 'for d in "$WORK"/net-*; do ORDO_LOCALNET=$d testnet/localnet.sh down >/dev/null 2>&1 || true; done' EXIT

cpu_seconds() { # utime + stime of a pid, in seconds
  awk '{ print ($14 + $15) / 100 }' "/proc/$1/stat" 2>/dev/null || echo 0
}
peak_rss_mib() {
  awk '/VmHWM/ { printf "%.0f", $2 / 1024 }' "/proc/$1/status" 2>/dev/null || echo 0
}

run() { # run NAME VALIDATORS BASE_PORT
  local name=$1 n=$2 base=$3 dir="$WORK/net-$1"
  export ORDO_LOCALNET=$dir ORDO_BASE_PORT=$base
  testnet/localnet.sh up "$n" >&2
  sleep 2
  local pids=() before=() i
  for i in $(seq 0 $((n - 1))); do pids+=("$(cat "$dir/node-$i/pid")"); done
  for p in "${pids[@]}"; do before+=("$(cpu_seconds "$p")"); done
  echo "bench: $name, $n validator(s), $RATE tx/s of $SIZE bytes for ${DURATION}s" >&2
  local out
  out=$(testnet/localnet.sh load --rate "$RATE" --duration "$DURATION" --size "$SIZE" \
    --namespaces "$NAMESPACES" --drain 15)
  local cpu=() rss=()
  for i in "${!pids[@]}"; do
    cpu+=("$(awk -v a="${before[$i]}" -v b="$(cpu_seconds "${pids[$i]}")" 'BEGIN { printf "%.1f", b - a }')")
    rss+=("$(peak_rss_mib "${pids[$i]}")")
  done
  testnet/localnet.sh down >&2
  python3 - "$name" "$out" "${cpu[*]}" "${rss[*]}" <<'EOF'
import json, sys
name, out, cpu, rss = sys.argv[1:5]
r = json.loads(out)
r["setup"] = name
r["cpu_s_per_node"] = [float(x) for x in cpu.split()]
r["peak_rss_mib_per_node"] = [int(x) for x in rss.split()]
print(json.dumps(r, sort_keys=True))
EOF
}

run four-validators 4 27100
run one-validator 1 27200
