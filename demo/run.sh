#!/usr/bin/env bash
# The offline demo: the emulator plays Google (KMS, Binary Authorization, Container Analysis and
# Artifact Registry, seeded from emulator/example-seed.yaml with a small image), and
# binauthz-attest signs that image by tag, reruns without duplicating, and verifies it.
# Needs only the binaries `cargo build` (or `cargo build --release`) makes; uses gcloud too when
# it is installed. BINAUTHZ_DEMO_BIN names another directory holding both binaries.
set -euo pipefail
cd "$(dirname "$0")/.."
# The newest build that has both binaries: a release build after a debug one (or the reverse)
# runs what was built last.
bin=${BINAUTHZ_DEMO_BIN:-}
if [ -z "$bin" ]; then
  for dir in target/debug target/release; do
    [ -x "$dir/binauthz-attest" ] && [ -x "$dir/binauthz-emulator" ] || continue
    if [ -z "$bin" ] || [ "$dir/binauthz-attest" -nt "$bin/binauthz-attest" ]; then bin=$dir; fi
  done
fi
if [ -z "$bin" ]; then
  echo "error: no build of binauthz-attest and binauthz-emulator in target/debug or target/release:" \
    "run cargo build (or cargo build --release) first, or set BINAUTHZ_DEMO_BIN to their directory" >&2
  exit 1
fi
for b in binauthz-attest binauthz-emulator; do
  [ -x "$bin/$b" ] || { echo "error: $bin/$b is missing: run cargo build first, or fix BINAUTHZ_DEMO_BIN" >&2; exit 1; }
done
echo "== binaries from $bin"

work=$(mktemp -d)
emulator_pid=
cleanup() { [ -n "$emulator_pid" ] && kill "$emulator_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

"$bin/binauthz-emulator" --seed emulator/example-seed.yaml >"$work/url" 2>"$work/emulator.log" &
emulator_pid=$!
for _ in $(seq 100); do [ -s "$work/url" ] && break; sleep 0.1; done
url=$(head -n1 "$work/url")
[ -n "$url" ] || { echo "error: the emulator did not start:" >&2; cat "$work/emulator.log" >&2; exit 1; }
host=${url#http://}; host=${host%/}

# One environment drives binauthz-attest and gcloud alike; everything stays on loopback.
export CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDKMS=$url
export CLOUDSDK_API_ENDPOINT_OVERRIDES_BINARYAUTHORIZATION=$url
export CLOUDSDK_API_ENDPOINT_OVERRIDES_CONTAINERANALYSIS=$url
export GCE_METADATA_HOST=$host
echo demo-token >"$work/token"
export CLOUDSDK_AUTH_ACCESS_TOKEN_FILE=$work/token
# The emulator's registry is plain HTTP and takes the Google token, like Artifact Registry.
export BINAUTHZ_INSECURE_REGISTRIES=$host BINAUTHZ_GOOGLE_REGISTRIES=$host
export BINAUTHZ_ATTESTOR=projects/demo/attestors/attestor-cloud-run
export BINAUTHZ_KMS_KEY_VERSION=projects/demo/locations/global/keyRings/ring/cryptoKeys/attestor-key/cryptoKeyVersions/1
image=$host/demo/apps/hello:v1

echo "== Google stand-in at $url; signing $image by tag"
"$bin/binauthz-attest" sign "$image" --output json
echo "== The same step again: the attestation exists, nothing is written twice"
"$bin/binauthz-attest" sign "$image" --output text
echo "== The attestations Binary Authorization would check"
"$bin/binauthz-attest" verify "$image" --output text
if command -v gcloud >/dev/null; then
  export CLOUDSDK_CONFIG=$work/gcloud CLOUDSDK_CORE_DISABLE_PROMPTS=1 CLOUDSDK_CORE_PROJECT=demo GCE_METADATA_ROOT=$host
  mkdir -p "$CLOUDSDK_CONFIG" && echo False >"$CLOUDSDK_CONFIG/gce"
  echo "== gcloud container binauthz attestations list (the same data, through Google's own client)"
  gcloud container binauthz attestations list --attestor=attestor-cloud-run --attestor-project=demo \
    --format='table(name, resourceUri, attestation.signatures[0].publicKeyId)'
fi
