#!/usr/bin/env bash
# Benchmark: binauthz-attest against gcloud on the same emulator, with 0 and 20 ms of latency
# per call: `sign` of 1, 10, 100 and 1000 images in one process (1000: the emulator only, gcloud
# is never run that many times), and gcloud `beta container binauthz attestations
# sign-and-create`, one process per image as users run it. Columns: wall time, the ratio
# gcloud/ours, the calls (the emulator's counters), the sequential depth (the longest chain of
# calls each starting after the previous one ended, from the request log's `receivedMs` and
# `millis`), CPU time (user+sys) and peak RSS (wait4 of the process). Prints a Markdown table.
#
# Usage: bench/run.sh [--quick]    (--quick: no 1000-image row, 3 gcloud runs per sample)
# Needs `cargo build --release`, python3, hyperfine and valgrind (`apt-get install hyperfine valgrind`) and gcloud
# (`apt-get install google-cloud-cli`); not part of .ci/run. Loopback only; every loop is bounded.
set -euo pipefail
cd "$(dirname "$0")/.."
# The trust-store environment of a default runner or Debian host: neither variable set, so the
# binary reads the CA bundle alone (src/trust.rs). The "SSL_CERT_DIR" row below shows what a
# machine that sets SSL_CERT_DIR pays: every HTTP client walks the directory.
unset SSL_CERT_FILE SSL_CERT_DIR
bin=${CARGO_TARGET_DIR:-target}/release
quick=${1:-}
command -v hyperfine >/dev/null || { echo "error: hyperfine is missing: apt-get install hyperfine" >&2; exit 1; }
command -v gcloud >/dev/null || { echo "error: gcloud is missing: apt-get install google-cloud-cli" >&2; exit 1; }
command -v valgrind >/dev/null || { echo "error: valgrind is missing: apt-get install valgrind" >&2; exit 1; }
command -v python3 >/dev/null || { echo "error: python3 is missing: apt-get install python3" >&2; exit 1; }
for b in binauthz-attest binauthz-emulator; do
  [ -x "$bin/$b" ] || { echo "error: $bin/$b is missing: run cargo build --release first" >&2; exit 1; }
done
work=$(mktemp -d)
emulator_pid=
cleanup() { [ -n "$emulator_pid" ] && kill "$emulator_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

sizes="1 10 100 1000"
gcloud_runs=5
if [ "$quick" = --quick ]; then sizes="1 10 100"; gcloud_runs=3; fi
ones=10 # the one-image case is the median of this many runs, each on its own image
# Image pools, disjoint so that every run creates (nothing is found from an earlier case):
# one-image runs, one pool per batch size, the gcloud sample, the concurrency comparison, and
# the last image for the instruction count of a first run.
total=$((ones + 1 + 10 + 100 + 1000 + 10 + 100 + 1000 + 1))
python3 - "$total" emulator/example-seed.yaml "$work/seed.yaml" <<'EOF'
import sys
n, src, dst = int(sys.argv[1]), sys.argv[2], sys.argv[3]
out = []
for line in open(src):
    out.append(line)
    if line.rstrip() == "images:":
        out += [f"  - repository: demo/apps/bench{i}\n    tag: v1\n" for i in range(1, n + 1)]
open(dst, "w").write("".join(out))
EOF
[ "$(grep -c 'demo/apps/bench' "$work/seed.yaml")" -eq "$total" ] || { echo "error: could not extend the seed" >&2; exit 1; }

# measure CMD...: runs it once; prints "wall_ms cpu_ms rss_kb" (wait4's rusage of that process).
measure() {
  python3 - "$@" <<'EOF'
import os, subprocess, sys, time
t = time.perf_counter()
p = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
_, status, ru = os.wait4(p.pid, 0)
wall = (time.perf_counter() - t) * 1000
code = os.waitstatus_to_exitcode(status)
if code != 0:
    sys.exit(f"error: exit code {code}: {' '.join(sys.argv[1:4])} ...")
print(f"{wall:.1f} {(ru.ru_utime + ru.ru_stime) * 1000:.1f} {ru.ru_maxrss}")
EOF
}
# stats: the emulator's calls and the sequential depth since the last reset: "calls depth".
stats() {
  curl -sf "${url}emulator/requests" | python3 -c '
import json, sys
log = json.load(sys.stdin)
log = log.get("requests", log) if isinstance(log, dict) else log
calls = sorted((r["receivedMs"], r["receivedMs"] + r["millis"]) for r in log)
# Longest chain of calls, each received at or after the end of the one before it.
depth = []
for i, (s, _) in enumerate(calls):
    depth.append(1 + max([depth[j] for j in range(i) if calls[j][1] <= s] or [0]))
print(len(calls), max(depth or [0]))'
}
reset() { curl -sf -X POST "${url}emulator/reset" >/dev/null; }
img() { printf '%s/demo/apps/bench%s:v1' "$host" "$1"; }
imgs() { local i; for i in $(seq "$1" "$2"); do printf '%s ' "$(img "$i")"; done; }
row() { printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$@"; }

echo "| latency | case | wall (ms) | gcloud/ours | calls | seq. depth | CPU (ms) | peak RSS (MB) |"
echo "|---|---|---|---|---|---|---|---|"
for latency in 0 20; do
  "$bin/binauthz-emulator" --seed "$work/seed.yaml" --latency "*=$latency" >"$work/url" 2>/dev/null &
  emulator_pid=$!
  for _ in $(seq 300); do [ -s "$work/url" ] && break; sleep 0.1; done
  url=$(head -n1 "$work/url"); host=${url#http://}; host=${host%/}
  [ -n "$url" ] || { echo "error: the emulator did not start" >&2; exit 1; }
  export CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDKMS=$url CLOUDSDK_API_ENDPOINT_OVERRIDES_BINARYAUTHORIZATION=$url
  export CLOUDSDK_API_ENDPOINT_OVERRIDES_CONTAINERANALYSIS=$url GCE_METADATA_HOST=$host GCE_METADATA_ROOT=$host
  echo demo-token >"$work/token"; export CLOUDSDK_AUTH_ACCESS_TOKEN_FILE=$work/token
  export BINAUTHZ_INSECURE_REGISTRIES=$host BINAUTHZ_GOOGLE_REGISTRIES=$host BINAUTHZ_OUTPUT=json
  export BINAUTHZ_ATTESTOR=projects/demo/attestors/attestor-cloud-run
  export BINAUTHZ_KMS_KEY_VERSION=projects/demo/locations/global/keyRings/ring/cryptoKeys/attestor-key/cryptoKeyVersions/1
  export CLOUDSDK_CONFIG=$work/gcloud-$latency CLOUDSDK_CORE_DISABLE_PROMPTS=1 CLOUDSDK_CORE_PROJECT=demo
  mkdir -p "$CLOUDSDK_CONFIG"; echo False >"$CLOUDSDK_CONFIG/gce"

  # gcloud: a measured sample, one process per image (by digest, as it needs), each its own image.
  g0=$((ones + 1 + 10 + 100 + 1000 + 1))
  for i in $(seq "$g0" $((g0 + gcloud_runs - 1))); do "$bin/binauthz-attest" digest "$(img "$i")"; done >"$work/digests"
  reset
  hyperfine --runs 1 -P k 1 "$gcloud_runs" --export-json "$work/gcloud.json" \
    "gcloud beta container binauthz attestations sign-and-create --artifact-url=\$(sed -n {k}p $work/digests) --attestor=attestor-cloud-run --attestor-project=demo --keyversion=$BINAUTHZ_KMS_KEY_VERSION" >/dev/null 2>&1 \
    || { echo "error: gcloud sign-and-create failed" >&2; exit 1; }
  read -r g_calls g_depth < <(stats)
  read -r g_wall g_cpu < <(python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))["results"]
n = len(r)
print(round(sum(x["mean"] for x in r) / n * 1000, 1), round(sum(x["user"] + x["system"] for x in r) / n * 1000, 1))' "$work/gcloud.json")
  g_calls=$((g_calls / gcloud_runs)); g_depth=$((g_depth / gcloud_runs))
  # gcloud's peak RSS: one more process, the image after the sample (an unmeasured digest).
  read -r _ _ g_rss < <(measure gcloud beta container binauthz attestations sign-and-create \
    --artifact-url="$("$bin/binauthz-attest" digest "$(img $((g0 + gcloud_runs)))")" --attestor=attestor-cloud-run \
    --attestor-project=demo "--keyversion=$BINAUTHZ_KMS_KEY_VERSION")

  next=1
  for n in $sizes; do
    if [ "$n" = 1 ]; then
      # The median of $ones single-image processes, each on its own image.
      for i in $(seq 1 $ones); do reset; echo "$(measure "$bin/binauthz-attest" sign "$(img "$i")") $(stats)"; done >"$work/one"
      read -r wall cpu rss calls depth < <(sort -n "$work/one" | sed -n "$(((ones + 1) / 2))p")
      rss=$(sort -k3 -n "$work/one" | tail -n1 | cut -d' ' -f3)
      next=$((ones + 1))
      case="sign, 1 image (median of $ones)"
    else
      reset
      # shellcheck disable=SC2046
      read -r wall cpu rss < <(measure "$bin/binauthz-attest" sign $(imgs "$next" $((next + n - 1))))
      read -r calls depth < <(stats)
      next=$((next + n))
      case="sign, $n images, one process"
    fi
    if [ "$n" = 1000 ]; then g="(not run)"; gw="-"; else
      g=$(python3 -c "print(f'{$g_wall * $n / $wall:.0f}x')")
      gw=$(python3 -c "print(round($g_wall * $n))")
    fi
    row "$latency ms" "binauthz-attest $case" "$wall" "$g" "$calls" "$depth" "$cpu" "$(python3 -c "print(round($rss / 1024, 1))")"
    if [ "$n" != 1000 ]; then
      scaled=$([ "$n" = 1 ] && echo "mean of $gcloud_runs measured runs" || echo "scaled: $n x the mean of $gcloud_runs measured runs")
      row "$latency ms" "gcloud sign-and-create, $n image(s), $n process(es) ($scaled)" "$gw" "-" \
        "$((g_calls * n))" "$((g_depth * n))" "$(python3 -c "print(round($g_cpu * $n, 1))")" "$(python3 -c "print(round($g_rss / 1024, 1))")"
    fi
  done
  # Where a single run's local milliseconds go: the same rerun (the attestation exists, 5 calls)
  # with the system trust roots (every HTTP client loads them) and with a one-certificate store.
  if [ "$latency" = 0 ]; then
    cp /etc/ssl/certs/ISRG_Root_X1.pem "$work/one.pem" 2>/dev/null || head -c0 /dev/null >"$work/one.pem"
    mkdir -p "$work/empty"
    for store in system dir one; do
      reset
      case $store in
        system) hyperfine -N --warmup 3 --runs 20 --export-json "$work/store.json" "$bin/binauthz-attest sign $(img 1)" >/dev/null 2>&1 ;;
        dir) SSL_CERT_DIR=/etc/ssl/certs \
          hyperfine -N --warmup 3 --runs 20 --export-json "$work/store.json" "$bin/binauthz-attest sign $(img 1)" >/dev/null 2>&1 ;;
        one) SSL_CERT_FILE=$work/one.pem SSL_CERT_DIR=$work/empty \
          hyperfine -N --warmup 3 --runs 20 --export-json "$work/store.json" "$bin/binauthz-attest sign $(img 1)" >/dev/null 2>&1 ;;
      esac
      read -r calls _ < <(stats)
      read -r wall cpu < <(python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))["results"][0]
print(round(r["mean"] * 1000, 1), round((r["user"] + r["system"]) * 1000, 1))' "$work/store.json")
      case $store in
        system) label="system trust roots (the CA bundle alone)" ;;
        dir) label="SSL_CERT_DIR=/etc/ssl/certs (bundle + directory walk per client)" ;;
        one) label="SSL_CERT_FILE = one certificate" ;;
      esac
      row "$latency ms" "binauthz-attest sign, 1 image, rerun (exists), $label (mean of 20)" "$wall" "-" "$((calls / 23))" "-" "$cpu" "-"
    done
    # Instructions of one image, counted by callgrind: repeatable on a noisy machine where
    # milliseconds are not (CPU counters are not exposed to this VM, so not `perf stat`).
    # The rerun (found) and a first run (created), each its own process.
    for kind in rerun created; do
      reset
      target=$([ "$kind" = rerun ] && img 1 || img "$total")
      valgrind --tool=callgrind --callgrind-out-file="$work/callgrind.out" \
        "$bin/binauthz-attest" sign "$target" >/dev/null 2>"$work/callgrind.err" \
        || { cat "$work/callgrind.err" >&2; exit 1; }
      ir=$(sed -n 's/^summary: //p' "$work/callgrind.out")
      row "$latency ms" "binauthz-attest sign, 1 image, $kind: instructions (callgrind)" "-" "-" "-" "-" \
        "$(python3 -c "print(f'{$ir / 1e6:.1f} M')")" "-"
    done
  fi
  # The same batches at the old default --concurrency 32, to show what the default of 128 buys
  # (fresh images).
  c0=$((g0 + gcloud_runs + 1))
  for n in 100 1000; do
    [ "$n" = 1000 ] && [ "$quick" = --quick ] && continue
    [ $((c0 + n - 1)) -le "$total" ] || break
    reset
    # shellcheck disable=SC2046
    read -r wall cpu rss < <(measure "$bin/binauthz-attest" sign --concurrency 32 $(imgs "$c0" $((c0 + n - 1))))
    read -r calls depth < <(stats)
    c0=$((c0 + n))
    row "$latency ms" "binauthz-attest sign --concurrency 32, $n images" "$wall" "-" "$calls" "$depth" "$cpu" "$(python3 -c "print(round($rss / 1024, 1))")"
  done
  kill "$emulator_pid"; wait "$emulator_pid" 2>/dev/null || true; emulator_pid=
done
