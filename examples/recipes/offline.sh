# Try everything offline: start the emulator (KMS, Binary Authorization, Container Analysis,
# Resource Manager and an Artifact Registry, on 127.0.0.1) and point binauthz-attest and gcloud
# at it. Source it from the repository root after `cargo build`, then run any recipe below:
#   source examples/recipes/offline.sh
export PATH="$PWD/target/debug:$PWD/target/release:$PATH"
offline=$(mktemp -d)
binauthz-emulator --seed emulator/example-seed.yaml >"$offline/url" 2>"$offline/emulator.log" &
BINAUTHZ_EMULATOR_PID=$!   # stop it with: kill $BINAUTHZ_EMULATOR_PID
for _ in $(seq 300); do [ -s "$offline/url" ] && break; sleep 0.1; done
url=$(head -n1 "$offline/url")
host=${url#http://}
host=${host%/}
# Google's APIs, read exactly as gcloud reads them; the metadata server too, so nothing leaves
# this machine.
export CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDKMS=$url
export CLOUDSDK_API_ENDPOINT_OVERRIDES_BINARYAUTHORIZATION=$url
export CLOUDSDK_API_ENDPOINT_OVERRIDES_CONTAINERANALYSIS=$url
export CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDRESOURCEMANAGER=$url
export GCE_METADATA_HOST=$host
# A token the emulator's seed accepts.
export GOOGLE_OAUTH_ACCESS_TOKEN=demo-token
# The emulator's registry is plain HTTP and, like Artifact Registry, takes the Google token:
# without --google-registry (this variable) no registry but *.pkg.dev and gcr.io gets it.
export BINAUTHZ_INSECURE_REGISTRIES=$host BINAUTHZ_GOOGLE_REGISTRIES=$host
# The values the recipes use: here the seed's, in production yours.
export PROJECT=demo
export AR=$host/demo/apps
export ATTESTOR=projects/demo/attestors/attestor-cloud-run
export KEY_VERSION=projects/demo/locations/global/keyRings/ring/cryptoKeys/attestor-key/cryptoKeyVersions/1
binauthz-attest sign "$AR/hello:v1" --attestor "$ATTESTOR" --kms-key-version "$KEY_VERSION" --output text
