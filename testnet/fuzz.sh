#!/usr/bin/env bash
# Fuzzes every decoder of outside bytes (docs/FUZZING.md): builds the cargo-fuzz project in
# fuzz/targets, then runs each target for SECONDS (default 60) from the committed corpus in
# fuzz/corpus. New inputs a run finds go to a scratch directory; a crash stops the script with
# the input saved under the run directory and the command that replays it.
#
#   testnet/fuzz.sh [SECONDS] [TARGET...]
#
# FUZZ_PROFILE=dev builds without optimizations (quicker to build, slower to run: what CI's
# smoke run uses); the default is an optimized build with debug assertions on.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-60}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(consensus batch proof gossip api frame)
case "$secs" in '' | *[!0-9]* | 0) echo "fuzz.sh: SECONDS must be a positive number, got '$secs'" >&2; exit 2 ;; esac
for t in "${targets[@]}"; do
  [ -d "fuzz/corpus/$t" ] || { echo "fuzz.sh: no target '$t' (targets: $(ls fuzz/corpus | tr '\n' ' '))" >&2; exit 2; }
done

# 0.13 or later: --dev and --fuzz-dir as used below.
if ! cargo fuzz --version 2>/dev/null | grep -Eq 'cargo-fuzz 0\.(1[3-9]|[2-9][0-9])'; then
  echo "fuzz.sh: installing cargo-fuzz 0.13.2"
  cargo install cargo-fuzz --locked --version 0.13.2
fi
# cargo-fuzz passes nightly flags (sanitizer coverage); the stable toolchain accepts them so.
export RUSTC_BOOTSTRAP=1
target_dir="${CARGO_TARGET_DIR:-$HOME/.cache/ordo-target}/fuzz"
profile=(--release --debug-assertions)
[ "${FUZZ_PROFILE:-}" = dev ] && profile=(--dev)
fuzz=(cargo fuzz)
common=(--fuzz-dir fuzz/targets "${profile[@]}" --target-dir "$target_dir" --sanitizer none)

echo "== building the fuzz targets (${profile[*]})"
"${fuzz[@]}" build "${common[@]}"
# cargo-fuzz has no --locked: in CI, a lock file the build had to change is a failure.
if [ -n "${CI:-}" ] && ! git diff --quiet -- fuzz/targets/Cargo.lock; then
  echo "fuzz.sh: fuzz/targets/Cargo.lock is out of date; commit the updated one" >&2
  exit 1
fi

run_dir="$(mktemp -d "${TMPDIR:-/tmp}/ordo-fuzz.XXXXXX")"
for t in "${targets[@]}"; do
  mkdir -p "$run_dir/$t/new" "$run_dir/$t/crash"
  echo "== $t: ${secs} s from $(find "fuzz/corpus/$t" -type f | wc -l) corpus files"
  if ! "${fuzz[@]}" run "${common[@]}" "$t" "$run_dir/$t/new" "fuzz/corpus/$t" -- \
    -max_total_time="$secs" -artifact_prefix="$run_dir/$t/crash/" -print_final_stats=1 \
    >"$run_dir/$t/log" 2>&1; then
    tail -n 40 "$run_dir/$t/log" >&2
    echo "fuzz.sh: target $t failed; the input is in $run_dir/$t/crash/" >&2
    echo "replay: RUSTC_BOOTSTRAP=1 ${fuzz[*]} run ${common[*]} $t $run_dir/$t/crash/<file>" >&2
    exit 1
  fi
  grep -E '^Done' "$run_dir/$t/log" | tr '\n' ' ' || true
  echo "new inputs: $(find "$run_dir/$t/new" -type f | wc -l)"
done
echo "fuzz.sh: every target ran ${secs} s without a failure (inputs found: $run_dir)"
