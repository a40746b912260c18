#!/usr/bin/env bash
# Benchmark of `binauthz-attest admission` (not a test): concurrent AdmissionReviews over HTTPS
# against a server whose images live in the emulator's registry, signed with `sign --cosign`,
# at 0 and 20 ms of added latency per emulator call. Cases: a Pod of 8 containers naming one
# image, a Deployment of 8 distinct images; cold (first review after start: its latency and the
# registry and Google calls it cost, from the emulator's counters) and warm (REQUESTS reviews at
# CONCURRENCY, HTTP/1.1 keep-alive: p50, p99, throughput). Prints a Markdown table.
#
# Usage: bench/admission.sh [REQUESTS] [CONCURRENCY]   (defaults 2000, 8)
# Needs the binaries (BIN, default target/debug; target/release for release numbers),
# python3, openssl, curl. Loopback only; every loop is bounded.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${BIN:-target/debug}
requests=${1:-2000}
concurrency=${2:-8}
for b in binauthz-attest binauthz-emulator; do
  [ -x "$bin/$b" ] || { echo "error: $bin/$b is missing: cargo build" >&2; exit 1; }
done
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$work/org.pem" 2>/dev/null
openssl pkey -pubout -in "$work/org.pem" -out "$work/org.pub"
{
  echo "tokens:"
  echo "  - token: bench-token"
  echo "    principal: user:bench@example.com"
  echo "notes:"
  echo "  - name: projects/demo/notes/org"
  echo "attestors:"
  echo "  - name: projects/demo/attestors/org"
  echo "    note: projects/demo/notes/org"
  echo "    pkixKeys:"
  echo "      - algorithm: ECDSA_P256_SHA256"
  echo "        pem: |"
  sed 's/^/          /' "$work/org.pub"
  echo "images:"
  for i in $(seq 1 9); do echo "  - repository: demo/apps/bench$i"; echo "    tag: v1"; done
} > "$work/seed.yaml"
"$bin/binauthz-emulator" --seed "$work/seed.yaml" > "$work/emulator.out" &
pids+=($!)
for _ in $(seq 1 100); do [ -s "$work/emulator.out" ] && break; sleep 0.1; done
url=$(head -1 "$work/emulator.out"); host=${url#http://}; host=${host%/}
export GOOGLE_OAUTH_ACCESS_TOKEN=bench-token
for api in BINARYAUTHORIZATION CONTAINERANALYSIS CLOUDKMS; do export CLOUDSDK_API_ENDPOINT_OVERRIDES_$api="$url"; done
reg=(--insecure-registry "$host" --google-registry "$host")
digests=()
for i in $(seq 1 9); do
  out=$("$bin/binauthz-attest" "${reg[@]}" sign "$host/demo/apps/bench$i:v1" --attestor projects/demo/attestors/org \
    --pkix-private-key "$work/org.pem" --cosign --output=json)
  digests+=("$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])[0]["digest"])' "$out")")
done
curl -sf -H "Authorization: Bearer bench-token" "${url}v1/projects/demo/attestors/org" > "$work/org.json"
cat > "$work/policy.yaml" <<'P'
globalPolicyEvaluationMode: DISABLE
defaultAdmissionRule:
  evaluationMode: REQUIRE_ATTESTATION
  enforcementMode: ENFORCED_BLOCK_AND_AUDIT_LOG
  requireAttestationsBy: [projects/demo/attestors/org]
P
"$bin/binauthz-attest" admission certs --host 127.0.0.1 --out-dir "$work/certs" > /dev/null 2>&1

python3 - "$bin" "$work" "$url" "$host" "$requests" "$concurrency" "${digests[@]}" <<'PY'
import json, os, ssl, subprocess, sys, time, threading, http.client, urllib.request
from concurrent.futures import ThreadPoolExecutor
bin_, work, url, host, requests, conc = sys.argv[1:7]
requests, conc = int(requests), int(conc)
digests = sys.argv[7:]
ctx = ssl.create_default_context(cafile=f"{work}/certs/ca.crt")

def admin(method, path, body=None):
    req = urllib.request.Request(url + path, method=method, data=None if body is None else json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    return json.loads(urllib.request.urlopen(req).read() or b"{}")

def calls():
    routes = admin("GET", "emulator/counters")["routes"]
    reg = sum(v["calls"] for k, v in routes.items() if k.startswith("registry."))
    goog = sum(v["calls"] for k, v in routes.items() if not k.startswith("registry."))
    return reg, goog

def start():
    p = subprocess.Popen([f"{bin_}/binauthz-attest", "--insecure-registry", host, "--google-registry", host, "admission",
                          "--addr", "127.0.0.1:0", "--tls-cert-file", f"{work}/certs/tls.crt",
                          "--tls-private-key-file", f"{work}/certs/tls.key", "--policy", f"{work}/policy.yaml",
                          "--attestor-file", f"{work}/org.json"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    for line in p.stdout:
        v = json.loads(line)
        if v.get("msg") == "listening":
            threading.Thread(target=lambda: [None for _ in p.stdout], daemon=True).start()
            return p, int(v["addr"].rsplit(":", 1)[1])
    raise SystemExit("the webhook did not start")

def review(kind, images, uid):
    spec = {"containers": [{"name": f"c{i}", "image": im} for i, im in enumerate(images)]}
    if kind == "Pod":
        obj = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "default"}, "spec": spec}
        k, r = {"group": "", "version": "v1", "kind": "Pod"}, {"group": "", "version": "v1", "resource": "pods"}
    else:
        obj = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "namespace": "default"},
               "spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {"metadata": {"labels": {"a": "b"}}, "spec": spec}}}
        k, r = {"group": "apps", "version": "v1", "kind": "Deployment"}, {"group": "apps", "version": "v1", "resource": "deployments"}
    return json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
        "uid": uid, "kind": k, "resource": r, "name": obj["metadata"]["name"], "namespace": "default",
        "operation": "CREATE", "userInfo": {"username": "bench"}, "object": obj, "dryRun": False}}).encode()

local = threading.local()
def post(port, body):
    c = getattr(local, "c", None)
    if c is None:
        c = local.c = http.client.HTTPSConnection("127.0.0.1", port, context=ctx)
    t = time.perf_counter()
    c.request("POST", "/validate?timeout=10s", body, {"Content-Type": "application/json"})
    out = json.loads(c.getresponse().read())
    assert out["response"]["allowed"], out
    return (time.perf_counter() - t) * 1000

def pct(xs, p):
    xs = sorted(xs); return xs[min(len(xs) - 1, int(len(xs) * p))]

one = f"{host}/demo/apps/bench1@{digests[0]}"
eight = [f"{host}/demo/apps/bench{i + 2}@{d}" for i, d in enumerate(digests[1:9])]
cases = [("Pod, 8 containers naming one image", "Pod", [one] * 8), ("Deployment, 8 distinct images", "Deployment", eight)]
print("| latency | case | cold review (ms) | cold registry / Google calls | warm p50 (ms) | warm p99 (ms) | warm reviews/s |")
print("|---|---|---|---|---|---|---|")
for latency in (0, 20):
    admin("DELETE", "emulator/faults")
    if latency:
        admin("POST", "emulator/faults", {"route": "*", "latencyMs": latency})
    for name, kind, images in cases:
        p, port = start()
        try:
            body = review(kind, images, "cold")
            before = calls()
            cold = post(port, body)
            after = calls()
            local.c = None
            with ThreadPoolExecutor(conc) as ex:
                list(ex.map(lambda _: post(port, body), range(conc * 4)))  # connections up
                t = time.perf_counter()
                lat = list(ex.map(lambda _: post(port, body), range(requests)))
                wall = time.perf_counter() - t
            print(f"| {latency} ms | {name} | {cold:.1f} | {after[0] - before[0]} / {after[1] - before[1]} | "
                  f"{pct(lat, 0.5):.2f} | {pct(lat, 0.99):.2f} | {requests / wall:.0f} |")
        finally:
            p.terminate(); p.wait()
PY
