#!/usr/bin/env bash
# Benchmark: binauthz-attest against gcloud on the same emulator, with 0 and 20 ms of latency
# per call, and the round trips each makes (from the emulator's counters). Prints a table.
# Needs `cargo build --release`, hyperfine (Debian package), and gcloud for the comparison rows.
# Loopback only; every loop is bounded.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=target/release
command -v hyperfine >/dev/null || { echo "error: hyperfine is missing: apt-get install hyperfine" >&2; exit 1; }
for b in binauthz-attest binauthz-emulator; do
  [ -x "$bin/$b" ] || { echo "error: $bin/$b is missing: run cargo build --release first" >&2; exit 1; }
done
work=$(mktemp -d)
emulator_pid=
cleanup() { [ -n "$emulator_pid" ] && kill "$emulator_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
images=30
# The README's example seed, with the bench images added to its `images:` list.
extra=$(for i in $(seq 1 $images); do printf '  - repository: demo/apps/bench%s\\n    tag: v1\\n' "$i"; done)
sed "s|^images:\$|images:\\n${extra}|" emulator/example-seed.yaml >"$work/seed.yaml"
[ "$(grep -c 'demo/apps/bench' "$work/seed.yaml")" -eq "$images" ] || { echo "error: could not extend the seed" >&2; exit 1; }

ms() { python3 -c "import json,sys; print(round(json.load(open(sys.argv[1]))['results'][0]['mean']*1000, 1))" "$1"; }
calls() { curl -s "${url}emulator/counters" | python3 -c "import json,sys; print(sum(r['calls'] for n, r in json.load(sys.stdin)['routes'].items()))"; }

printf '%-10s %-44s %10s %8s\n' latency case "mean (ms)" calls
for latency in 0 20; do
  "$bin/binauthz-emulator" --seed "$work/seed.yaml" --latency "*=$latency" >"$work/url" 2>/dev/null &
  emulator_pid=$!
  for _ in $(seq 100); do [ -s "$work/url" ] && break; sleep 0.1; done
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

  # A first sign per image (created): hyperfine's parameter scan, one run per image.
  curl -s -X POST "${url}emulator/reset" >/dev/null
  hyperfine -N --runs 1 -P i 1 10 --export-json "$work/created.json" "$bin/binauthz-attest sign $host/demo/apps/bench{i}:v1" >/dev/null 2>&1
  created=$(python3 -c "import json,sys; r=json.load(open(sys.argv[1]))['results']; print(round(sum(x['mean'] for x in r)/len(r)*1000, 1))" "$work/created.json")
  printf '%-10s %-44s %10s %8s\n' "${latency} ms" "binauthz-attest sign by tag (created)" "$created" "$(( $(calls) / 10 ))"

  curl -s -X POST "${url}emulator/reset" >/dev/null
  hyperfine -N --warmup 1 --runs 10 --export-json "$work/rerun.json" "$bin/binauthz-attest sign $host/demo/apps/bench1:v1" >/dev/null 2>&1
  printf '%-10s %-44s %10s %8s\n' "${latency} ms" "binauthz-attest sign, rerun (existing)" "$(ms "$work/rerun.json")" "$(( $(calls) / 11 ))"

  batch=$(for i in $(seq 11 $images); do printf '%s ' "$host/demo/apps/bench$i:v1"; done)
  curl -s -X POST "${url}emulator/reset" >/dev/null
  hyperfine -N --runs 1 --export-json "$work/batch.json" "$bin/binauthz-attest sign $batch" >/dev/null 2>&1
  printf '%-10s %-44s %10s %8s\n' "${latency} ms" "binauthz-attest sign, batch of $((images - 10)) (created)" "$(ms "$work/batch.json")" "$(calls)"

  if command -v gcloud >/dev/null; then
    digest=$("$bin/binauthz-attest" digest "$host/demo/apps/bench1:v1")
    curl -s -X POST "${url}emulator/reset" >/dev/null
    hyperfine --runs 5 --export-json "$work/gcloud.json" \
      "gcloud beta container binauthz attestations sign-and-create --artifact-url=$digest --attestor=attestor-cloud-run --attestor-project=demo --keyversion=$BINAUTHZ_KMS_KEY_VERSION" >/dev/null 2>&1
    printf '%-10s %-44s %10s %8s\n' "${latency} ms" "gcloud sign-and-create by digest (creates)" "$(ms "$work/gcloud.json")" "$(( $(calls) / 5 ))"
  fi
  kill "$emulator_pid"; wait "$emulator_pid" 2>/dev/null || true; emulator_pid=
done
