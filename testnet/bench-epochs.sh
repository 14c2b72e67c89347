#!/usr/bin/env bash
# Epoch boundaries under load (docs/BENCHMARKS.md, "Epochs"): a fresh staked 4-validator localnet
# (ORDO_STAKE=1, epochs of ORDO_EPOCH_LENGTH heights, default 100; no DA posting), RATE tx/s of
# 250 B for DURATION s; a fifth validator joins (`localnet.sh grow`) and then node-0 requests its
# exit. Prints, from the decided headers: heights/s and the interval between heights (p50, p99)
# in epochs without a set change, at the boundary where the fifth joins and at the one where
# node-0 leaves (the first 5 heights of each), and the time from registration to first
# signature.
#
#   testnet/bench-epochs.sh [RATE] [DURATION]      (default 1000 tx/s, 60 s)
#
# Environment: ORDO_PROFILE (default debug), ORDO_BASE_PORT (default 28400), ORDO_EPOCH_LENGTH.
set -euo pipefail
cd "$(dirname "$0")/.."
export ORDO_LOCALNET=${ORDO_LOCALNET:-$(mktemp -d /tmp/ordo-epoch-bench.XXXXXX)/localnet}
export ORDO_BASE_PORT=${ORDO_BASE_PORT:-28400}
export ORDO_WATCH=0 ORDO_STAKE=1 ORDO_DA=0
export ORDO_EPOCH_LENGTH=${ORDO_EPOCH_LENGTH:-100}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ordo-target}"
RATE=${1:-1000}
DURATION=${2:-60}
BIN="$CARGO_TARGET_DIR/${ORDO_PROFILE:-debug}/ordo"
RPC="http://127.0.0.1:$((ORDO_BASE_PORT + 1))"
L1="http://127.0.0.1:$((ORDO_BASE_PORT + 500))"
trap 'testnet/localnet.sh down >/dev/null 2>&1 || true' EXIT

testnet/localnet.sh up 4 >/dev/null
testnet/localnet.sh load --rate "$RATE" --duration "$DURATION" 2>/dev/null | grep '^{' | tail -n 1 >"$ORDO_LOCALNET/load.json" &
load=$!
sleep 5
grow=$(testnet/localnet.sh grow | grep 'is in the set of epoch' || true)
echo "join: ${grow:-node-4 did not join}"
exit_out=$("$BIN" validator exit --home "$ORDO_LOCALNET/node-0" --rpc "$L1")
echo "exit: node-0 requested its exit in L1 block $(echo "$exit_out" | sed -n 's/.*"l1_block": \([0-9]*\).*/\1/p')"
wait "$load"
echo "load: $(cat "$ORDO_LOCALNET/load.json")"
leaver=$("$BIN" validator status --home "$ORDO_LOCALNET/node-0" --rpc "$L1" | sed -n 's/.*"address": "\(0x[0-9a-f]*\)".*/\1/p')
python3 - "$RPC" "$ORDO_EPOCH_LENGTH" "$leaver" <<'EOF'
import json, sys, urllib.request
rpc, E, leaver = sys.argv[1], int(sys.argv[2]), sys.argv[3]
get = lambda p: json.load(urllib.request.urlopen(rpc + p, timeout=10))
top = get("/v1/status")["height"]
ts = {h: get(f"/v1/batch/{h}")["header"]["timestamp_ms"] for h in range(1, top + 1)}
sets = {}
for e in range(0, (top - 1) // E + 1):
    try:
        v = get(f"/v1/validators?epoch={e}")
        sets[e] = [x["address"] for x in v["validators"]]
    except Exception:
        pass
join = next((e for e in sorted(sets) if len(sets[e]) > len(sets.get(e - 1, sets[e]))), None)
leave = next((e for e in sorted(sets) if e > 0 and leaver in sets.get(e - 1, []) and leaver not in sets[e]), None)
def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan")
def iv(hs):
    return [ts[h] - ts[h - 1] for h in hs if h - 1 in ts and h in ts]
changed = {e for e in (join, leave) if e is not None}
steady = [h for h in range(2, top + 1) if (h - 1) // E not in changed and (h - 1) // E >= 1 and (h - 1) % E >= 5]
def row(name, hs):
    x = iv(hs)
    rate = 1000.0 * len(x) / sum(x) if x and sum(x) else float("nan")
    print(f"{name:<28} heights {len(x):>4}  {rate:6.2f} heights/s  interval p50 {pct(x, .5):5.0f} ms  p99 {pct(x, .99):5.0f} ms")
print(f"epochs of {E} heights; {top} heights; sets: " + ", ".join(f"{e}:{len(s)}" for e, s in sorted(sets.items())))
row("steady epochs", steady)
for name, e in (("join boundary (epoch %s)" % join, join), ("exit boundary (epoch %s)" % leave, leave)):
    if e is not None:
        first = e * E + 1
        row(name, range(first, first + 5))
EOF
