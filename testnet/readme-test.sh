#!/usr/bin/env bash
# The README's "Run a local testnet" walk-through and its "Try the pieces", tested: runs every
# command their `sh` blocks show, in order, against a real localnet (four `ordo` validators and anvil, in a temporary
# directory on free loopback ports), and checks each does what the README says. Fails loudly
# with the README command that misbehaved (its output and the localnet directory are kept).
#
# Drift guard: the commands are read from the README; one the README shows that is not in
# EXPECTED below (or one in EXPECTED the README no longer shows) fails the run, so a changed
# walk-through cannot go untested.
#
# Environment: CARGO_TARGET_DIR (default ~/.cache/ordo-target), ORDO_FEATURES (the build's
# features; testnet/test.sh passes ordo-node/chaos so its build is reused), ORDO_README_BASE
# (the localnet's base port; default: a free range), ORDO_README_KEEP=1 (keep the directory).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ordo-target}"
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
export ORDO_PROFILE=debug
unset ORDO_WATCH ORDO_L1 ORDO_CENSOR ORDO_L1_PORT
BIN="$CARGO_TARGET_DIR/debug/ordo"
T0=$(date +%s)

# Every command of the README's testnet and "Try the pieces" sections, as written there
# (whitespace collapsed, trailing comments dropped), in the order they are run.
EXPECTED=(
  "testnet/localnet.sh up"
  "testnet/localnet.sh submit 1 c0ffee"
  "testnet/localnet.sh enqueue 1 f00d"
  "testnet/localnet.sh batch 21"
  "testnet/localnet.sh status"
  "testnet/localnet.sh watch"
  "testnet/localnet.sh load --rate 2000 --duration 10"
  "cargo run -p ordo-client --example rollup -- --nodes http://127.0.0.1:27001,http://127.0.0.1:27004"
  "testnet/localnet.sh rollup 7"
  "testnet/localnet.sh follow 7 builtin:kv"
  "testnet/localnet.sh logs 2"
  "testnet/localnet.sh kill 2; testnet/localnet.sh restart 2"
  "testnet/localnet.sh down"
  "ORDO_ABCI=1 testnet/localnet.sh up"
  "testnet/localnet.sh rollup 8"
  "testnet/localnet.sh reset"
  "ORDO_STAKE=1 testnet/localnet.sh up"
  "testnet/localnet.sh grow"
  "testnet/localnet.sh ordo keys generate --out /tmp/ordo-bls.json"
  "testnet/localnet.sh ordo --help"
)

say() { printf 'readme-test [%3s s] %s\n' "$(($(date +%s) - T0))" "$*"; }
# in_list NEEDLE ITEM...: whether NEEDLE is one of the items. No `printf | grep -q` pipe: under
# pipefail, grep quitting at its first match can kill printf with SIGPIPE and fail the test.
in_list() {
  local needle=$1 x
  shift
  for x in "$@"; do [ "$x" = "$needle" ] && return 0; done
  return 1
}

# --- drift guard -------------------------------------------------------------------------
readme_commands() {
  awk '
    /^## / { in_section = ($0 ~ /^## (Run a local testnet|Try the pieces)/) }
    in_section && /^```/ { if (in_block) { in_block = 0 } else if ($0 ~ /^```sh[[:space:]]*$/) { in_block = 1 }; next }
    in_section && in_block { print }
  ' README.md |
    sed -E 's/(^|[[:space:]])#.*$//; s/[[:space:]]+/ /g; s/^ //; s/ $//' | grep -v '^$' || true
}
mapfile -t README_CMDS < <(readme_commands)
[ "${#README_CMDS[@]}" -gt 0 ] || { echo "readme-test: FAILED: no commands found in the README's 'Run a local testnet' and 'Try the pieces' sections" >&2; exit 1; }
drift=0
for c in "${README_CMDS[@]}"; do
  in_list "$c" "${EXPECTED[@]}" || {
    echo "readme-test: FAILED: the README shows \`$c\`, which testnet/readme-test.sh does not run (add it and its check)" >&2
    drift=1
  }
done
for c in "${EXPECTED[@]}"; do
  in_list "$c" "${README_CMDS[@]}" || {
    echo "readme-test: FAILED: testnet/readme-test.sh runs \`$c\`, which the README no longer shows (update EXPECTED)" >&2
    drift=1
  }
done
[ $drift = 0 ] || exit 1
say "the README's testnet and pieces sections show ${#README_CMDS[@]} commands, all covered"

# --- a localnet of its own ------------------------------------------------------------------
free_base() {
  python3 - <<'EOF'
import random, socket
for _ in range(500):
    # Below the kernel's ephemeral range (32768 and up), which outgoing connections draw from.
    b = random.randrange(21000, 31000, 20)
    def free(p):
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", p)); return True
        except OSError:
            return False
        finally:
            s.close()
    if all(free(p) for p in list(range(b, b + 15)) + [b + 500] + list(range(b + 600, b + 604))):
        print(b); break
EOF
}
BASE=${ORDO_README_BASE:-$(free_base)}
[ -n "$BASE" ] || { echo "readme-test: FAILED: no free port range" >&2; exit 1; }
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ordo-readme.XXXXXX")
export ORDO_LOCALNET="$WORK/localnet" ORDO_BASE_PORT=$BASE
DIR=$ORDO_LOCALNET
rpc() { echo "http://127.0.0.1:$((BASE + 3 * $1 + 1))"; }
# A process is gone when it no longer exists or is a zombie nobody reaped yet.
alive() { [ -e "/proc/$1" ] && ! grep -q '^[^)]*) Z' "/proc/$1/stat" 2>/dev/null; }
height() { curl -sf --max-time 2 "$(rpc "$1")/v1/status" 2>/dev/null | jq -er '.height' 2>/dev/null || echo 0; }

CURRENT="" OUT="" RC=0 N=0 PASSED=0
cleanup() {
  local rc=$?
  if [ -d "$DIR" ]; then testnet/localnet.sh down >/dev/null 2>&1 || true; fi
  if [ $rc = 0 ] && [ "${ORDO_README_KEEP:-0}" != 1 ]; then rm -rf "$WORK"; else echo "readme-test: kept $WORK"; fi
}
trap cleanup EXIT

fail() {
  {
    echo "readme-test: FAILED: README command \`$CURRENT\`: $*"
    if [ -n "$OUT" ] && [ -s "$OUT" ]; then
      echo "--- its output (last 30 lines, exit status $RC) ---"
      tail -n 30 "$OUT"
      echo "---"
    fi
  } >&2
  exit 1
}

# The README's text of a command, with its ports moved to this localnet's (the README assumes
# the default base 27000).
localize() {
  local s=$1 out="" p
  while [[ $s =~ 127\.0\.0\.1:(27[0-9][0-9][0-9]) ]]; do
    p=${BASH_REMATCH[1]}
    out+="${s%%"127.0.0.1:$p"*}127.0.0.1:$((BASE + p - 27000))"
    s=${s#*"127.0.0.1:$p"}
  done
  echo "$out$s"
}

# run TIMEOUT_S COMMAND: runs the README's command (no terminal: stdin /dev/null, output to a
# file) under `timeout`; sets OUT, RC and MS.
run() {
  local t=$1
  CURRENT=$2
  in_list "$CURRENT" "${README_CMDS[@]}" || fail "not in the README (the list above is stale)"
  N=$((N + 1))
  OUT="$WORK/$N.out"
  local start; start=$(date +%s%N)
  set +e
  timeout "$t" bash -c "$(localize "$CURRENT")" </dev/null >"$OUT" 2>&1
  RC=$?
  set -e
  MS=$((($(date +%s%N) - start) / 1000000))
}
ok() { PASSED=$((PASSED + 1)); say "ok   $CURRENT  (${MS} ms): $*"; }
need_rc0() { [ "$RC" = 0 ] || { [ "$RC" = 124 ] && fail "did not finish within its bound${1:+ ($1)}"; fail "exit status $RC"; }; }

# The build `up` starts with, outside the timed walk-through (a no-op after testnet/test.sh's).
say "building ordo and ordo-testnet (features: ${ORDO_FEATURES:-none}; a no-op when already built)"
b0=$(date +%s)
testnet/localnet.sh build >"$WORK/build.out" 2>&1 || { cat "$WORK/build.out" >&2; echo "readme-test: FAILED: the build" >&2; exit 1; }
say "build: $(($(date +%s) - b0)) s; localnet in $DIR, base port $BASE"

# --- the walk-through ------------------------------------------------------------------------
run 180 "testnet/localnet.sh up"
need_rc0 "it must return once the nodes decide when not on a terminal, not stay in the live view"
grep -q "localnet: up" "$OUT" || fail "no 'localnet: up' line"
grep -q "live view" "$OUT" && fail "entered the live view without a terminal"
[ "$(ls -d "$DIR"/node-* | wc -l)" = 4 ] || fail "README: four validators; found $(ls -d "$DIR"/node-* | wc -l)"
[ -s "$DIR/l1/deployed.json" ] || fail "README: anvil as the L1 with the inbox deployed; no l1/deployed.json"
for i in 0 1 2 3; do
  h=$(sed -n "s/^node-$i  rpc .*  height \([0-9]*\)$/\1/p" "$OUT")
  [ -n "$h" ] && [ "$h" -ge 1 ] || fail "node-$i has not decided (line: $(grep "^node-$i " "$OUT" || echo none))"
done
ok "4 validators and anvil up, every node past height 1"

run 60 "testnet/localnet.sh submit 1 c0ffee"
need_rc0
line=$(tail -n 1 "$OUT")
echo "$line" | jq -e '.status == "ordered" and (.height | type == "number") and .height >= 1 and (.index | type == "number")' >/dev/null 2>&1 ||
  fail "README: 'wait until ordered'; printed: $line"
id=$(echo "$line" | jq -r .id)
h=$(echo "$line" | jq -r .height)
curl -sf "$(rpc 0)/v1/tx/$id" | jq -e --argjson h "$h" '.status == "ordered" and .height == $h' >/dev/null ||
  fail "node 0 does not report $id ordered at height $h"
ok "$line"

run 90 "testnet/localnet.sh enqueue 1 f00d"
need_rc0
line=$(grep '^ordered after [0-9]* ms: ' "$OUT" || true)
[ -n "$line" ] || fail "README: 'wait until ordered'; no 'ordered after' line"
echo "${line#*ms: }" | jq -e '.status == "ordered" and .height >= 1' >/dev/null 2>&1 || fail "not ordered: $line"
ok "$line"

CURRENT="testnet/localnet.sh batch 21" OUT="" RC=0
for _ in $(seq 1 600); do [ "$(height 0)" -ge 21 ] && break; sleep 0.1; done
[ "$(height 0)" -ge 21 ] || fail "node 0 did not reach height 21 within 60 s (at $(height 0))"
run 30 "testnet/localnet.sh batch 21"
need_rc0
jq -e '.verified == true and .height == 21 and (.hash | type == "string")
       and .certificate.signers * 3 > .certificate.validators * 2' "$OUT" >/dev/null 2>&1 ||
  fail "README: 'verify it against the genesis validator set'; printed: $(head -c 400 "$OUT")"
ok "verified, $(jq -c .certificate "$OUT")"

run 30 "testnet/localnet.sh status"
need_rc0
for i in 0 1 2 3; do
  l=$(grep "^node-$i " "$OUT" || true)
  [[ $l =~ ^node-$i\ +pid\ [0-9]+\ +(\{.*\})$ ]] || fail "README: 'every node's height'; node-$i: ${l:-missing}"
  echo "${BASH_REMATCH[1]}" | jq -e '.height >= 1' >/dev/null 2>&1 || fail "node-$i: no height: $l"
  [[ $l == *latest* && $l == *pool* ]] || fail "README: 'latest batch, pool size'; node-$i: $l"
done
ok "4 nodes listed with height, latest batch and pool size"

# Interactive: without a terminal it must still print plain (not redrawn) frames, then stop
# when interrupted.
run 8 "testnet/localnet.sh watch"
[ "$RC" = 124 ] || [ "$RC" = 0 ] || fail "exit status $RC without a terminal"
grep -q 'finality p50' "$OUT" || fail "no live view printed"
for i in 0 1 2 3; do grep -Eq "^node-$i +[0-9]+ " "$OUT" || fail "the live view has no line for node-$i"; done
grep -q 'demo rollup (namespace 7)' "$OUT" || fail "the live view has no demo rollup line"
grep -q 'builtin rollup (namespace 7): [0-9] of 4 nodes at executed height [0-9]*, state roots agree' "$OUT" ||
  fail "README: 'whether the nodes' roots agree'; no agreeing builtin rollup line"
grep -Eq '^node-0 +[0-9]+ .* [0-9]+ / 0x[0-9a-f]{10}$' "$OUT" || fail "README: the executed height and state root per node; none for node-0"
grep -Eq '^node +certified +available ' "$OUT" || fail "README: 'its certified height, its available height'; no such columns"
for i in 0 1 2 3; do
  grep -Eq "^node-$i +[0-9]+ +[0-9]+ " "$OUT" || fail "node-$i shows no certified and available heights"
done
# Every certified batch becomes available on anvil's blobs: each node's available height (the
# view's column) passes a range within 90 s more (the first frames wait for the KZG
# setup to load), never past its certified height.
for i in 0 1 2 3; do
  for _ in $(seq 1 450); do
    s=$(curl -sf --max-time 2 "$(rpc "$i")/v1/status" || true)
    a=$(echo "$s" | jq -r '.da.available_height // 0' 2>/dev/null || echo 0)
    [ "${a:-0}" -ge 8 ] && break
    sleep 0.2
  done
  echo "$s" | jq -e '.da.available_height >= 8 and .da.available_height <= .height' >/dev/null 2>&1 ||
    fail "README: 'its available height'; node-$i: $(echo "$s" | jq -c '{height, da}' 2>/dev/null)"
done
grep -q $'\x1b\[' "$OUT" && fail "terminal escape codes written to a non-terminal"
ok "plain frames without a terminal: $(grep -c 'finality p50' "$OUT") in 8 s"

run 90 "testnet/localnet.sh load --rate 2000 --duration 10"
need_rc0
line=$(grep '^{' "$OUT" | tail -n 1)
echo "$line" | jq -e '.ordered > 0 and .ordered_twice == 0' >/dev/null 2>&1 || fail "README: 'JSON figures'; last JSON line: ${line:-none}"
ok "$(echo "$line" | jq -c '{submitted, accepted, ordered, ordered_per_s, latency_ms}')"

# The example is built first so the bound below is on its run, not on a compilation.
CURRENT="cargo run -p ordo-client --example rollup -- --nodes http://127.0.0.1:27001,http://127.0.0.1:27004" OUT="" RC=0
b0=$(date +%s)
cargo build -q -p ordo-client --example rollup 2>"$WORK/rollup-build.out" || { OUT="$WORK/rollup-build.out"; fail "does not build"; }
say "rollup example built in $(($(date +%s) - b0)) s"
run 90 "$CURRENT"
need_rc0
v=$(grep -c '^height [0-9]* batch [0-9a-fx]* verified: ' "$OUT" || true)
[ "$v" -ge 1 ] || fail "README: 'stream its verified slices'; none printed"
grep -q '^all 10 transactions ordered and verified$' "$OUT" || fail "it did not see all its transactions verified"
ok "$(grep -c '^submitted ' "$OUT") submitted, $v verified slices, all 10 transactions ordered and verified"

run 30 "testnet/localnet.sh rollup 7"
need_rc0
roots=""
for i in 0 1 2 3; do
  l=$(grep "^node-$i " "$OUT" || true)
  j=${l#node-$i  }
  echo "$j" | jq -e '.namespace == 7 and .executed_height >= 1 and .stopped == false and (.state_root | test("^0x[0-9a-f]{64}$"))' >/dev/null 2>&1 ||
    fail "README: 'executed height, state root, lag'; node-$i: ${l:-missing}"
  # Each node's root at height 10, from its own cursor: all the same.
  r=$(awk '$1 == 10 { print $3 }' "$DIR/node-$i/data/rollups/7/cursor.log")
  [ -n "$r" ] || fail "node-$i's cursor has no height 10"
  [ -z "$roots" ] || [ "$r" = "$roots" ] || fail "node-$i's state root at height 10 is $r, node-0's is $roots"
  roots=$r
done
ok "4 nodes executing namespace 7, the same state root at height 10 on each"

# Follows the chain until the timeout ends it; what it executed agrees with the validators.
run 10 "testnet/localnet.sh follow 7 builtin:kv"
[ "$RC" = 124 ] || fail "it stopped on its own (exit status $RC)"
grep -q 'deliver.resume' "$OUT" || fail "no deliver.resume log line"
[ -s "$DIR/follow-7/cursor.log" ] || fail "no cursor in $DIR/follow-7"
n=0
while read -r h hash root; do
  want=$(awk -v h="$h" '$1 == h { print $2, $3 }' "$DIR/node-0/data/rollups/7/cursor.log" | tail -n 1)
  [ "$want" = "$hash $root" ] || fail "height $h: the follower has $hash $root, node-0 has ${want:-nothing}"
  n=$((n + 1))
done <"$DIR/follow-7/cursor.log"
[ "$n" -ge 10 ] || fail "only $n heights delivered in 10 s"
ok "$n heights delivered from the network, each with node-0's batch hash and state root"

# Follows: still running when the timeout ends it.
run 4 "testnet/localnet.sh logs 2"
[ "$RC" = 124 ] || fail "did not keep following node 2's log (exit status $RC)"
[ -s "$OUT" ] || fail "printed nothing"
ok "$(wc -l <"$OUT") lines, still following after 4 s"

old=$(cat "$DIR/node-2/pid")
before=$(height 2)
run 60 "testnet/localnet.sh kill 2; testnet/localnet.sh restart 2"
need_rc0
grep -q 'node-2 killed' "$OUT" && grep -q 'node-2 restarted' "$OUT" || fail "unexpected output"
alive "$old" && fail "the old node-2 process $old is still alive"
new=$(cat "$DIR/node-2/pid" 2>/dev/null || true)
[ -n "$new" ] && alive "$new" || fail "node 2 is not running after restart"
target=$(($(height 0) + 5))
for _ in $(seq 1 600); do [ "$(height 2)" -ge "$target" ] && break; sleep 0.1; done
after=$(height 2)
[ "$after" -ge "$target" ] || fail "node 2 did not come back and advance: height $before before, $after now, others at $(height 0)"
[ "$after" -ge "$before" ] || fail "node 2's height regressed: $before -> $after"
ok "node 2 (pid $old -> $new) back at height $after (was $before before kill -9)"

# "Try the pieces": the README's key file path, cleared before and after (keys generate never
# overwrites a key without --force).
rm -f /tmp/ordo-bls.json
run 30 "testnet/localnet.sh ordo keys generate --out /tmp/ordo-bls.json"
need_rc0
jq -e '(.public_key | test("^0x[0-9a-f]{96}$")) and (.proof_of_possession | test("^0x[0-9a-f]{192}$"))' "$OUT" >/dev/null 2>&1 ||
  fail "README: 'prints its public key and proof of possession'; printed: $(head -c 400 "$OUT")"
[ "$(stat -c %a /tmp/ordo-bls.json)" = 600 ] || fail "the key file is not readable by its owner only"
shown=$("$BIN" keys show /tmp/ordo-bls.json) || fail "ordo keys show cannot read it"
[ "$(echo "$shown" | jq -c .)" = "$(jq -c . "$OUT")" ] || fail "keys show prints another key: $shown"
rm -f /tmp/ordo-bls.json
ok "$(jq -r .public_key "$OUT" | head -c 18)…, key file 0600, read back by keys show"

run 30 "testnet/localnet.sh ordo --help"
need_rc0
for c in start keys tx batch l1; do grep -Eq "^  $c( |$)" "$OUT" || fail "no '$c' command listed"; done
ok "$(grep -cE '^  [a-z]' "$OUT") commands listed"

down_check() {
  local pids; pids=$(cat "$DIR"/node-*/pid "$DIR"/node-*/kvstore.pid "$DIR/l1/pid" 2>/dev/null || true)
  run 60 "testnet/localnet.sh down"
  need_rc0
  grep -q 'localnet: stopped' "$OUT" || fail "unexpected output"
  for p in $pids; do alive "$p" && fail "process $p still alive"; done
  for i in 0 1 2 3; do curl -sf --max-time 1 "$(rpc "$i")/health" >/dev/null 2>&1 && fail "node $i still answers"; done
  ok "$(echo "$pids" | wc -w) processes (4 nodes, anvil${1:-}) gone"
}
down_check

run 120 "ORDO_ABCI=1 testnet/localnet.sh up"
need_rc0
grep -q 'localnet: every validator delivers namespace 8 to its own kvstore app' "$OUT" || fail "no kvstore app line"
grep -q "localnet: up" "$OUT" || fail "no 'localnet: up' line"
for i in 0 1 2 3; do [ -s "$DIR/node-$i/kvstore.pid" ] && alive "$(cat "$DIR/node-$i/kvstore.pid")" || fail "no kvstore app for node-$i"; done
ok "the same localnet back up, with 4 kvstore apps"

CURRENT="testnet/localnet.sh rollup 8" OUT="" RC=0
for _ in $(seq 1 100); do
  curl -sf "$(rpc 3)/v1/rollup/8" | jq -e '.executed_height >= 20' >/dev/null 2>&1 && break
  sleep 0.2
done
run 30 "testnet/localnet.sh rollup 8"
need_rc0
for i in 0 1 2 3; do
  l=$(grep "^node-$i " "$OUT" || true)
  echo "${l#node-$i  }" | jq -e '.namespace == 8 and .executed_height >= 1 and .stopped == false and (.executor | startswith("abci://"))' >/dev/null 2>&1 ||
    fail "README: 'executed height and app hash'; node-$i: ${l:-missing}"
done
ok "4 kvstore apps executing namespace 8 (node-3 at $(echo "${l#node-3  }" | jq .executed_height))"

down_check ", 4 kvstore apps"

run 60 "testnet/localnet.sh reset"
need_rc0
grep -q 'localnet: stopped and deleted' "$OUT" || fail "unexpected output"
[ -e "$DIR" ] && fail "README: 'delete the localnet'; $DIR is still there"
ok "the localnet deleted"

run 240 "ORDO_STAKE=1 testnet/localnet.sh up"
need_rc0
grep -q 'localnet: stake table deployed; the 4 validators registered 32 ETH each' "$OUT" || fail "no stake table line"
grep -q "localnet: up" "$OUT" || fail "no 'localnet: up' line"
jq -e '.stake_table | test("^0x[0-9a-f]{40}$")' "$DIR/l1/deployed.json" >/dev/null || fail "no stake table in l1/deployed.json"
for i in 0 1 2 3; do
  s=$("$BIN" validator status --home "$DIR/node-$i" --rpc "http://127.0.0.1:$((BASE + 500))")
  echo "$s" | jq -e '.state == "bonded" and .stake_wei == "32000000000000000000" and .holds_this_homes_bls_key' >/dev/null ||
    fail "node-$i is not bonded with 32 ETH: $s"
done
ok "a fresh staked localnet: 4 validators bonded with 32 ETH each"

run 600 "testnet/localnet.sh grow"
need_rc0
grep -q 'allow-listed by the stake table' "$OUT" || fail "no allow-list line"
grep -Eq 'node-4 is in the set of epoch [0-9]+ and signing' "$OUT" || fail "README: 'sign'; no joined line"
set5=$(curl -sf "$(rpc 0)/v1/validators")
[ "$(echo "$set5" | jq '.validators | length')" = 5 ] || fail "the set has not 5 validators: $set5"
addr=$("$BIN" validator status --home "$DIR/node-4" --rpc "http://127.0.0.1:$((BASE + 500))" | jq -r .address)
echo "$set5" | jq -e --arg a "$addr" '[.validators[].address] | index($a) != null' >/dev/null || fail "node-4 ($addr) not in the set: $set5"
# Its signatures appear in the certificates of its epoch.
e=$(echo "$set5" | jq .epoch)
signed=0
for _ in $(seq 1 100); do
  h=$(height 0)
  b=$(curl -sf "$(rpc 0)/v1/batch/$h" || true)
  if [ "$(echo "$b" | jq -r '.header.epoch // -1')" -ge "$e" ] 2>/dev/null; then
    idx=$(echo "$set5" | jq --arg a "$addr" '[.validators[].address] | index($a)')
    bits=$(echo "$b" | jq -r .certificate.signers)
    byte=$((16#${bits:$((2 + 2 * (idx / 8))):2}))
    if [ $(((byte >> (idx % 8)) & 1)) = 1 ]; then signed=$h; break; fi
  fi
  sleep 0.2
done
[ "$signed" != 0 ] || fail "no certificate of epoch $e with node-4's signature"
ok "5 validators from epoch $e; node-4 signed the certificate of height $signed"
# It posts its own ranges to the L1 (the rotation runs over the epoch's set).
own=0
for _ in $(seq 1 120); do
  own=$(curl -sf "$(rpc 4)/status" | jq '(.da.frames_posted // 0) - (.da.takeover_frames // 0)' 2>/dev/null || echo 0)
  [ "${own:-0}" -gt 0 ] && break
  sleep 0.5
done
[ "${own:-0}" -gt 0 ] || fail "node-4 posted no DA range of its own: $(curl -sf "$(rpc 4)/status" | jq -c .da)"
ok "node-4 posted $own frames of its own ranges to the L1"

run 60 "testnet/localnet.sh down"
need_rc0
grep -q 'localnet: stopped' "$OUT" || fail "unexpected output"
ok "the staked localnet stopped"

say "PASSED: all $PASSED README commands did what the README says ($(($(date +%s) - T0)) s)"
