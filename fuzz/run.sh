#!/usr/bin/env bash
# Runs every fuzz target for a bounded time (default 60 s each; `fuzz/run.sh 300` for longer)
# and prints its executions and findings. Needs the nightly toolchain and cargo-fuzz
# (`cargo install cargo-fuzz`). Not part of .ci/run. Findings land in fuzz/artifacts/TARGET/;
# replay one with `cargo +nightly fuzz run TARGET fuzz/artifacts/TARGET/crash-...`.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
command -v cargo-fuzz >/dev/null || { echo "error: cargo-fuzz is missing: cargo install cargo-fuzz" >&2; exit 1; }
status=0
# First the reproducers of earlier findings (fuzz/regressions/TARGET-what-it-shows): each must
# pass once its finding is fixed.
for file in fuzz/regressions/*; do
  [ -f "$file" ] || continue
  target=$(basename "$file"); target=${target%%-*}
  if cargo +nightly fuzz run "$target" "$file" >/dev/null 2>&1; then
    echo "regression $(basename "$file"): passes"
  else
    echo "regression $(basename "$file"): FAILS"; status=1
  fi
done
for target in reference key_files ci_github ci_gitlab ci_files policy manifest; do
  mkdir -p "fuzz/corpus/$target"
  log=$(mktemp)
  if cargo +nightly fuzz run "$target" "fuzz/corpus/$target" -- \
      -max_total_time="$seconds" -max_len=4096 -timeout=10 >"$log" 2>&1; then
    result=clean
  else
    result="FINDING (see fuzz/artifacts/$target)"; status=1
  fi
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || true)
  [ -n "$execs" ] || execs=$(grep -oE '#[0-9]+' "$log" | tail -n1 | tr -d '#')
  echo "$target: ${execs:-?} executions in ${seconds} s: $result"
  [ "$result" = clean ] || grep -E 'panicked|ERROR|SUMMARY' "$log" | head -5
  rm -f "$log"
done
exit $status
