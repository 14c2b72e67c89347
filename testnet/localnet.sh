#!/usr/bin/env bash
# A local multi-validator ordo testnet of real `ordo` processes on loopback.
#
#   testnet/localnet.sh up [N]     build ordo if needed, create N validators (default 4) in
#                                  ./localnet, start anvil (the L1) and deploy the inbox, start
#                                  the validators, wait until they decide; then (on a terminal)
#                                  watch: a light load, the demo rollup and a live status line
#                                  per node until Ctrl-C (the testnet keeps running)
#   testnet/localnet.sh build      only build ordo and ordo-testnet (what up does first)
#   testnet/localnet.sh watch      the live view again (load, demo rollup, status lines)
#   testnet/localnet.sh status     each node's height, round, latest batch and pool size
#   testnet/localnet.sh rollup NS  each node's rollup of namespace NS: executed height, state
#                                  root, lag, last error (7: the builtin ledger every node runs;
#                                  8: tendermint-abci's kvstore app, with ORDO_ABCI=1)
#   testnet/localnet.sh follow NS EXECUTOR [ARGS]  run `ordo follow` against every node: the
#                                  rollup-side delivery loop (e.g. `follow 7 builtin:kv`)
#   testnet/localnet.sh submit NS PAYLOAD_HEX   submit to node 0, wait until ordered
#   testnet/localnet.sh batch H    fetch batch H from node 0 and verify its certificate
#   testnet/localnet.sh enqueue NS PAYLOAD_HEX   queue a forced transaction on the L1 inbox,
#                                  wait until the validators order it
#   testnet/localnet.sh load [ARGS]  run the load generator against every node
#                                  (ordo-testnet load --rpc <all nodes> ARGS; see --help)
#   testnet/localnet.sh logs N     follow node N's log
#   testnet/localnet.sh kill N | restart N
#   testnet/localnet.sh grow       (a localnet made with ORDO_STAKE=1) add a validator: a new node
#                                  home, its operator allow-listed by the table's owner, 32 ETH
#                                  registered (and, with DA, a posting account of its own); start
#                                  it, and wait until it is in the set and signs
#   testnet/localnet.sh down       stop every node and anvil (SIGTERM, then SIGKILL after 10 s)
#   testnet/localnet.sh reset      down, then delete the localnet directory (keys, chain, L1 state)
#   testnet/localnet.sh ordo ARGS  run the localnet's build of `ordo` (e.g. `ordo keys generate`)
#
# Environment: ORDO_LOCALNET (directory, default ./localnet), ORDO_BASE_PORT (default 27000),
# ORDO_PROFILE (debug, release or perf, default debug), CARGO_TARGET_DIR (default ~/.cache/ordo-target),
# ORDO_FEATURES (cargo features of the build, e.g. ordo-node/chaos as testnet/test.sh builds),
# ORDO_L1 (1: with anvil and forced inclusion, the default; 0: static mode, no L1),
# ORDO_DA (1: with ORDO_L1=1, validators post certified batches as blobs to anvil, the default;
#   0: no DA posting), ORDO_DA_RANGE_HEIGHTS (heights per posting range, default 8),
# ORDO_L1_PORT (default base + 500), ORDO_INCLUSION_DELAY (L1 blocks, default 2),
# ORDO_CENSOR (a validator index: that validator leaves forced entries out of its proposals),
# ORDO_WATCH (1: `up` ends in the live view, the default when stdin and stdout are a terminal;
#   0: it returns at once),
# ORDO_WATCH_RATE (the live view's light load, tx/s, default 20),
# ORDO_STAKE (1: a fresh `up` also deploys the stake table, registers the validators with
#   32 ETH each and runs epochs of ORDO_EPOCH_LENGTH heights, default 40; 0, the default: the
#   genesis set forever),
# ORDO_ABCI (1: `up` also starts one tendermint-abci kvstore app per validator, from
#   `ordo-testnet kvstore`, and each validator delivers namespace 8 to its own app).
set -euo pipefail
CALLER_PWD=$(pwd)
cd "$(dirname "$0")/.."
ROOT=$(pwd)
DIR=${ORDO_LOCALNET:-$ROOT/localnet}
BASE=${ORDO_BASE_PORT:-27000}
PROFILE=${ORDO_PROFILE:-debug}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ordo-target}"
BIN="$CARGO_TARGET_DIR/$PROFILE/ordo"

WITH_L1=${ORDO_L1:-1}
L1_PORT=${ORDO_L1_PORT:-$((BASE + 500))}
L1_RPC="http://127.0.0.1:$L1_PORT"
# anvil's first development account (its well-known default mnemonic): a dev L1 only.
DEV_KEY=0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80
# anvil's second development account: the operator of the validator `grow` adds.
DEV_KEY_2=0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d
# anvil's third development account: the DA posting account of the validator `grow` adds.
DEV_KEY_3=0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a
ANVIL="$ROOT/contracts/node_modules/.bin/anvil"

die() { echo "localnet: $*" >&2; exit 1; }
nodes() { ls -d "$DIR"/node-* 2>/dev/null | sort -V; }
rpc_of() { echo "http://127.0.0.1:$((BASE + 3 * $1 + 1))"; }
pid_of() { cat "$DIR/node-$1/pid" 2>/dev/null || true; }
alive() { local p; p=$(pid_of "$1"); [ -n "$p" ] && kill -0 "$p" 2>/dev/null; }

build() {
  testnet/install-deps.sh
  local flag=()
  [ "$PROFILE" = debug ] || flag=(--profile "$PROFILE")
  [ -z "${ORDO_FEATURES:-}" ] || flag+=(--features "$ORDO_FEATURES")
  echo "localnet: building ordo ($PROFILE${ORDO_FEATURES:+, features $ORDO_FEATURES})..."
  cargo build -q -p ordo-node --bin ordo -p ordo-testnet --bin ordo-testnet "${flag[@]}"
}

all_rpcs() {
  local i=0 out=""
  for _ in $(nodes); do out="$out${out:+,}$(rpc_of "$i")"; i=$((i + 1)); done
  echo "$out"
}

start_node() {
  local i=$1
  alive "$i" && return 0
  nohup "$BIN" start --home "$DIR/node-$i" >>"$DIR/node-$i/node.log" 2>&1 &
  echo $! >"$DIR/node-$i/pid"
}

stop_node() {
  local i=$1 sig=${2:-TERM} p
  p=$(pid_of "$i")
  [ -n "$p" ] || return 0
  kill "-$sig" "$p" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$p" 2>/dev/null && kill -KILL "$p" 2>/dev/null || true
  rm -f "$DIR/node-$i/pid"
}

# The demo rollups: the builtin ledger on namespace 7 always, a kvstore app on namespace 8
# with ORDO_ABCI=1 (one app per validator, on base + 600 + i).
kv_port() { echo $((BASE + 600 + $1)); }
kv_alive() { local p; p=$(cat "$DIR/node-$1/kvstore.pid" 2>/dev/null || true); [ -n "$p" ] && kill -0 "$p" 2>/dev/null; }

add_rollup() {
  local home=$1 ns=$2 executor=$3
  grep -q "^namespace = $ns\$" "$home/config.toml" && return 0
  printf '\n[[rollup]]\nnamespace = %s\nexecutor = "%s"\n' "$ns" "$executor" >>"$home/config.toml"
}

start_kvstore() {
  local i=$1
  kv_alive "$i" && return 0
  nohup "$CARGO_TARGET_DIR/$PROFILE/ordo-testnet" kvstore --listen "127.0.0.1:$(kv_port "$i")" \
    >>"$DIR/node-$i/kvstore.log" 2>&1 &
  echo $! >"$DIR/node-$i/kvstore.pid"
}

stop_kvstore() {
  local p; p=$(cat "$DIR/node-$1/kvstore.pid" 2>/dev/null || true)
  [ -n "$p" ] || return 0
  kill -TERM "$p" 2>/dev/null || true
  rm -f "$DIR/node-$1/kvstore.pid"
}

anvil_alive() { local p; p=$(cat "$DIR/l1/pid" 2>/dev/null || true); [ -n "$p" ] && kill -0 "$p" 2>/dev/null; }

start_anvil() {
  anvil_alive && return 0
  mkdir -p "$DIR/l1"
  # --state keeps the chain across down/up, so the validators' L1 caches stay valid.
  nohup "$ANVIL" --host 127.0.0.1 --port "$L1_PORT" --block-time 1 --hardfork cancun \
    --state "$DIR/l1/state.json" >>"$DIR/l1/anvil.log" 2>&1 &
  echo $! >"$DIR/l1/pid"
  for _ in $(seq 1 100); do
    curl -sf -X POST -H 'content-type: application/json' \
      --data '{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}' "$L1_RPC" >/dev/null && return 0
    sleep 0.1
  done
  die "anvil did not start on $L1_RPC (see $DIR/l1/anvil.log)"
}

stop_anvil() {
  local p; p=$(cat "$DIR/l1/pid" 2>/dev/null || true)
  [ -n "$p" ] || return 0
  kill -TERM "$p" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  rm -f "$DIR/l1/pid"
}

height() { "$BIN" status --rpc "$(rpc_of "$1")" 2>/dev/null | sed -n 's/.*"height": \([0-9]*\).*/\1/p'; }

status() {
  local i=0
  for d in $(nodes); do
    if alive "$i"; then
      local s; s=$("$BIN" status --rpc "$(rpc_of "$i")" 2>/dev/null | tr -d '\n ' || true)
      printf 'node-%s  pid %-7s %s\n' "$i" "$(pid_of "$i")" "${s:-starting}"
    else
      printf 'node-%s  stopped\n' "$i"
    fi
    i=$((i + 1))
  done
}

up() {
  local n=${1:-4}
  build
  local fresh=0
  if [ -z "$(nodes)" ]; then
    "$BIN" testnet init --validators "$n" --output "$DIR" --base-port "$BASE" >/dev/null
    echo "localnet: created $n validators in $DIR"
    fresh=1
  fi
  local count; count=$(nodes | wc -l)
  if [ "${ORDO_STAKE:-0}" = 1 ] && [ $fresh = 0 ] && ! grep -q '"stake_table":"0x' "$DIR/l1/deployed.json" 2>/dev/null; then
    die "ORDO_STAKE=1 needs a fresh localnet; $DIR has none (testnet/localnet.sh reset deletes it)"
  fi
  if [ -f "$DIR/l1/deployed.json" ] || { [ "$WITH_L1" = 1 ] && [ $fresh = 1 ]; }; then
    start_anvil
    echo "localnet: L1 (anvil) at $L1_RPC"
  fi
  if [ "$WITH_L1" = 1 ] && [ $fresh = 1 ]; then
    local homes=()
    for d in $(nodes); do homes+=(--home "$d"); done
    local da=() stake=()
    [ "${ORDO_DA:-1}" = 1 ] && da=(--da-blobs --da-range-heights "${ORDO_DA_RANGE_HEIGHTS:-8}")
    [ "${ORDO_STAKE:-0}" = 1 ] && stake=(--stake-table --epoch-length "${ORDO_EPOCH_LENGTH:-40}" \
      --min-stake-ether 1 --unbonding-blocks 20)
    "$BIN" l1 deploy --rpc "$L1_RPC" --key "$DEV_KEY" "${homes[@]}" \
      --inclusion-delay "${ORDO_INCLUSION_DELAY:-2}" --finality latest-1 --poll-ms 250 \
      "${da[@]}" "${stake[@]}" >"$DIR/l1/deployed.json"
    echo "localnet: inbox deployed: $(cat "$DIR/l1/deployed.json")"
    if [ "${ORDO_STAKE:-0}" = 1 ]; then
      for d in $(nodes); do
        "$BIN" validator register --home "$d" --rpc "$L1_RPC" --stake-ether 32 >/dev/null
      done
      echo "localnet: stake table deployed; the $n validators registered 32 ETH each (epochs of ${ORDO_EPOCH_LENGTH:-40} heights)"
    fi
    [ "${ORDO_DA:-1}" = 1 ] && echo "localnet: every validator posts certified batches as blobs to the L1 (ethereum-blobs DA, ranges of ${ORDO_DA_RANGE_HEIGHTS:-8} heights by rotation)"
  fi
  if [ -n "${ORDO_CENSOR:-}" ]; then
    sed -i 's/^censor_forced = .*/censor_forced = true/' "$DIR/node-$ORDO_CENSOR/config.toml"
    echo "localnet: node-$ORDO_CENSOR censors forced entries (a test double)"
  fi
  local i=0
  for d in $(nodes); do
    [ $fresh = 1 ] && add_rollup "$d" 7 builtin:kv
    if [ "${ORDO_ABCI:-0}" = 1 ]; then
      start_kvstore "$i"
      add_rollup "$d" 8 "abci://127.0.0.1:$(kv_port "$i")"
    fi
    i=$((i + 1))
  done
  [ $fresh = 1 ] && echo "localnet: every validator executes namespace 7 on the builtin ledger"
  [ "${ORDO_ABCI:-0}" = 1 ] && echo "localnet: every validator delivers namespace 8 to its own kvstore app (ABCI on $(kv_port 0)..$(kv_port $((count - 1))))"
  for i in $(seq 0 $((count - 1))); do start_node "$i"; done
  echo "localnet: waiting for the first decisions..."
  for _ in $(seq 1 300); do
    local ok=1
    for i in $(seq 0 $((count - 1))); do
      local h; h=$(height "$i" || true)
      [ -n "$h" ] && [ "$h" -ge 1 ] || ok=0
    done
    [ $ok = 1 ] && break
    sleep 0.2
  done
  for i in $(seq 0 $((count - 1))); do
    echo "node-$i  rpc $(rpc_of "$i")  height $(height "$i" || echo '?')"
  done
  echo "localnet: up. Try: testnet/localnet.sh submit 1 c0ffee && testnet/localnet.sh batch <height>"
  local want=${ORDO_WATCH:-auto}
  if [ "$want" = 1 ] || { [ "$want" = auto ] && [ -t 0 ] && [ -t 1 ]; }; then
    watch
  fi
}

grow() {
  [ -x "$BIN" ] || die "not built; run: $0 up"
  grep -q '"stake_table":"0x' "$DIR/l1/deployed.json" 2>/dev/null ||
    die "this localnet has no stake table: create it with ORDO_STAKE=1 $0 up (after $0 reset)"
  local n; n=$(nodes | wc -l)
  local home="$DIR/node-$n"
  local da=()
  if grep -q '^\[da\]' "$DIR/node-0/config.toml"; then
    # It posts to the L1 like the others, taking its turns once it is in an epoch's set.
    (umask 077 && printf '%s' "$DEV_KEY_3" >"$DIR/grow-da.key")
    da=(--da-key-file "$DIR/grow-da.key")
  fi
  "$BIN" testnet add --output "$DIR" --base-port "$BASE" "${da[@]}"
  rm -f "$DIR/grow-da.key"
  add_rollup "$home" 7 builtin:kv
  (umask 077 && printf '%s' "$DEV_KEY_2" >"$home/keys/operator.key")
  local st operator address
  st=$("$BIN" validator status --home "$home" --rpc "$L1_RPC")
  operator=$(echo "$st" | sed -n 's/.*"operator": "\(0x[0-9a-f]*\)".*/\1/p')
  address=$(echo "$st" | sed -n 's/.*"address": "\(0x[0-9a-f]*\)".*/\1/p')
  "$BIN" l1 allow-list --rpc "$L1_RPC" --key "$DEV_KEY" --genesis "$home/genesis.json" \
    --operator "$operator" >/dev/null
  echo "localnet: operator $operator allow-listed by the stake table's owner"
  "$BIN" validator register --home "$home" --rpc "$L1_RPC" --stake-ether 32 >/dev/null
  echo "localnet: node-$n (validator $address) registered 32 ETH; starting it"
  start_node "$n"
  local start; start=$(date +%s)
  while :; do
    local elapsed=$(($(date +%s) - start)) set
    set=$(curl -sf --max-time 2 "$(rpc_of 0)/v1/validators" || true)
    if grep -qi "\"$address\"" <<<"$set" && [ -s "$home/data/signatures.log" ]; then
      echo "localnet: node-$n is in the set of epoch $(echo "$set" | sed -n 's/.*"epoch":\([0-9]*\).*/\1/p') and signing, after ${elapsed} s ($(grep -c . "$home/data/signatures.log") signatures); the network has $((n + 1)) validators"
      return 0
    fi
    [ "$elapsed" -lt 600 ] || die "node-$n did not join within 600 s (see $home/node.log)"
    if [ $((elapsed % 5)) = 0 ]; then
      echo "localnet: node-$n at height $(height "$n" || echo 0), the network at $(height 0 || echo '?'); waiting for its epoch"
    fi
    sleep 1
  done
}

watch() {
  [ -x "$CARGO_TARGET_DIR/$PROFILE/ordo-testnet" ] || die "not built; run: $0 up"
  echo "localnet: live view: light load of ${ORDO_WATCH_RATE:-20} tx/s, demo rollup on namespace 7."
  echo "localnet: Ctrl-C leaves it; the testnet keeps running (testnet/localnet.sh down stops it)."
  "$CARGO_TARGET_DIR/$PROFILE/ordo-testnet" watch --rpc "$(all_rpcs)" \
    --genesis "$DIR/node-0/genesis.json" --rate "${ORDO_WATCH_RATE:-20}" || true
  echo
  echo "localnet: still running. testnet/localnet.sh status | logs N | kill N | restart N | down"
}

case "${1:-}" in
  up) up "${2:-4}" ;;
  build) build ;;
  down)
    i=0; for _ in $(nodes); do stop_node "$i"; stop_kvstore "$i"; i=$((i + 1)); done
    stop_anvil
    echo "localnet: stopped" ;;
  reset)
    i=0; for _ in $(nodes); do stop_node "$i"; stop_kvstore "$i"; i=$((i + 1)); done
    stop_anvil
    rm -rf "$DIR"
    echo "localnet: stopped and deleted $DIR" ;;
  grow) grow ;;
  enqueue)
    [ -n "${3:-}" ] || die "usage: $0 enqueue NAMESPACE PAYLOAD_HEX"
    [ -f "$DIR/l1/deployed.json" ] || die "this localnet has no L1 (created with ORDO_L1=0)"
    start=$(date +%s%N)
    out=$("$BIN" l1 enqueue --rpc "$L1_RPC" --key "$DEV_KEY" --inbox "$DIR/node-0/genesis.json" \
      --namespace "$2" --payload "$3")
    echo "queued on L1: $out"
    id=$(echo "$out" | sed -n 's/.*"id":"\(0x[0-9a-f]*\)".*/\1/p')
    for _ in $(seq 1 600); do
      tx=$(curl -sf "$(rpc_of 0)/v1/tx/$id" || true)
      if grep -q '"height"' <<<"$tx"; then
        echo "ordered after $(( ($(date +%s%N) - start) / 1000000 )) ms: $tx"; exit 0
      fi
      sleep 0.1
    done
    die "forced transaction $id not ordered within 60 s" ;;
  status) [ -x "$BIN" ] || die "not built; run: $0 up"; status ;;
  rollup)
    [ -n "${2:-}" ] || die "usage: $0 rollup NAMESPACE"
    i=0
    for _ in $(nodes); do
      printf 'node-%s  %s\n' "$i" "$(curl -s --max-time 2 "$(rpc_of "$i")/v1/rollup/$2" || echo down)"
      i=$((i + 1))
    done ;;
  follow)
    [ -n "${3:-}" ] || die "usage: $0 follow NAMESPACE EXECUTOR [ordo follow ARGS]"
    [ -x "$BIN" ] || die "not built; run: $0 build"
    ns=$2 executor=$3; shift 3
    cmd=("$BIN" follow --nodes "$(all_rpcs)" --namespace "$ns" --executor "$executor" \
      --genesis "$DIR/node-0/genesis.json" --dir "$DIR/follow-$ns" "$@")
    echo "localnet: ${cmd[*]}"
    exec "${cmd[@]}" ;;
  watch) watch ;;
  logs) [ -n "${2:-}" ] || die "usage: $0 logs N"; tail -n 50 -f "$DIR/node-$2/node.log" ;;
  kill) [ -n "${2:-}" ] || die "usage: $0 kill N"; stop_node "$2" KILL; echo "node-$2 killed" ;;
  restart) [ -n "${2:-}" ] || die "usage: $0 restart N"; stop_node "$2"; start_node "$2"; echo "node-$2 restarted" ;;
  submit)
    [ -n "${3:-}" ] || die "usage: $0 submit NAMESPACE PAYLOAD_HEX"
    "$BIN" tx submit --rpc "$(rpc_of 0)" --namespace "$2" --payload "$3" --wait ;;
  load)
    shift
    [ -x "$CARGO_TARGET_DIR/$PROFILE/ordo-testnet" ] || die "not built; run: $0 up"
    "$CARGO_TARGET_DIR/$PROFILE/ordo-testnet" load --rpc "$(all_rpcs)" "$@" ;;
  batch)
    [ -n "${2:-}" ] || die "usage: $0 batch HEIGHT"
    "$BIN" batch get --rpc "$(rpc_of 0)" --height "$2" --genesis "$DIR/node-0/genesis.json" ;;
  ordo)
    shift
    [ -x "$BIN" ] || die "not built; run: $0 build"
    cd "$CALLER_PWD" # paths in ARGS are the caller's
    exec "$BIN" "$@" ;;
  *) sed -n '2,47p' "$0"; exit 2 ;;
esac
