#!/usr/bin/env bash
# The validator binary operators run: `ordo` built without features (no test doubles, no fault
# layer). Checks that it starts a single-validator chain that orders a transaction, and that it
# refuses, naming the option, a config that asks for any test double.
# Run by testnet/test.sh; usable alone.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ordo-target}"
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"

# The same packages as localnet.sh builds (and the chaos build below it in test.sh): another
# package selection resolves features differently and would rebuild rocksdb.
cargo build -q --locked -p ordo-node --bin ordo -p ordo-testnet --bin ordo-testnet
tmp="$(mktemp -d)"
# A copy: the next build with other features replaces debug/ordo.
cp "$CARGO_TARGET_DIR/debug/ordo" "$tmp/ordo"
bin="$tmp/ordo"
pid=""
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "default-build: FAIL: $*" >&2; exit 1; }

# Ports of their own, on loopback (init binds 127.0.0.1).
"$bin" init --home "$tmp/home" --chain-id 77 --p2p-port 27951 --rpc-port 27952 --gossip-port 27953 >/dev/null
cp "$tmp/home/config.toml" "$tmp/config.clean"

for double in propose_invalid_batches propose_empty_batches censor_forced equivocate; do
  cp "$tmp/config.clean" "$tmp/home/config.toml"
  grep -q "^$double = false" "$tmp/home/config.toml" || fail "config.toml has no testing.$double"
  sed -i "s/^$double = false/$double = true/" "$tmp/home/config.toml"
  set +e
  out="$(timeout 30 "$bin" start --home "$tmp/home" 2>&1)"
  code=$?
  set -e
  [ "$code" -ne 0 ] && [ "$code" -ne 124 ] || fail "testing.$double: exit $code, expected a refusal"
  grep -q "testing.$double" <<<"$out" || fail "testing.$double: the refusal does not name it: $out"
  grep -q "ordo-node/chaos" <<<"$out" || fail "testing.$double: the refusal does not say which build has it: $out"
  echo "default-build: testing.$double refused"
done

cp "$tmp/config.clean" "$tmp/home/config.toml"
"$bin" start --home "$tmp/home" >"$tmp/node.log" 2>&1 &
pid=$!
rpc=http://127.0.0.1:27952
for _ in $(seq 1 60); do
  "$bin" status --rpc "$rpc" >/dev/null 2>&1 && break
  kill -0 "$pid" 2>/dev/null || fail "the default build did not start: $(tail -5 "$tmp/node.log")"
  sleep 0.5
done
out="$(timeout 60 "$bin" tx submit --rpc "$rpc" --namespace 5 --payload c0ffee --wait 2>&1)" ||
  fail "submit on the default build: $out (log: $(tail -5 "$tmp/node.log"))"
grep -q '"ordered"' <<<"$out" || fail "submit on the default build did not order: $out"
echo "default-build: a single validator ordered a transaction: $out"
