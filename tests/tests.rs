//! The integration tests: one binary, one module per area (as ripgrep's `tests/tests.rs`), so
//! the registry fixture starts once and every helper in `common` is used by some module.
//!
//! Each area needs real components, installed by `.ci/run`: Debian's `docker-registry` and
//! `skopeo`, `gcloud`, `openssl`, the wrapper validators. A missing one fails its tests loudly.
//! `cargo test --lib` runs the unit tests, which need none of them.

/// Fixture: the registry, the emulator, OCI layouts, the binary's clean environment.
mod common;

/// `admission`: the webhook over real HTTPS (curl), signatures in docker-registry and the
/// emulator's registry, the cache, a hung registry, certificate rotation, the deploy manifests.
mod admission;
/// After the deploy: gcloud deploys to the emulated Cloud Run under Binary Authorization;
/// `audit` reads the audit log back; `policy check --running` after a key rotation; kubectl's
/// Pod list on stdin.
mod after_deploy;
/// Layering rules: only the CI layer reads CI variables; the judgement knows no network.
mod architecture;
/// Bad input, one table: a named error, its exit code, and no write, for every case.
mod bad_input;
/// Batches: outcomes for all, one attestation per digest, multi-arch children, digest drift.
mod batch;
/// Every CI simulated around the real binary: inputs, outputs, masking, annotations.
mod ci;
/// Eventual consistency: a lost create under the emulator's list lag ends in one attestation.
mod consistency;
/// `sign --pae` and cosign signatures (`.sig` tag and sigstore bundle), judged by openssl,
/// skopeo 1.18 and sigstore-js; `verify --cosign-key`.
mod cosign;
/// cosign's own key files and cosign signatures without an attestor, judged by the cosign 2.5
/// CLI: its keys sign with us, it verifies what we write, we verify what it writes.
mod cosign_cli;
/// cosign v3 and v2.6 verify what `sign --cosign` writes; `verify --cosign-key` accepts what
/// they sign with a key pair; grafted signatures refused by both.
mod cosign_peers;
/// `digest` against Debian's docker-registry holding skopeo-pushed images.
mod digest;
/// Faults on every route of `sign`, SIGKILL mid-batch, a 1000-image soak: nothing lost, nothing
/// duplicated (the table of cases is in `tests/README.md`).
mod faults;
/// The admission webhook under a real kube-apiserver (etcd, kube-apiserver and kubectl of one
/// release), judged through kubectl: namespaceSelector, denials, warnings, audit annotations,
/// failurePolicy, certificate rotation, tenants' keys.
mod kube;
/// `sign --pkix-private-key`: openssl keys added with gcloud, judged by gcloud, openssl and the
/// emulator.
mod local_keys;
/// A newcomer's first try: the demo from a release build, and the messages of each rough edge.
mod newcomer;
/// `payload` byte for byte against gcloud's.
mod payload;
/// `sign --pgp-private-key`: gpg keys added with gcloud, judged by gpg, gcloud and the emulator.
mod pgp_keys;
/// `policy check` against real attestations (gcloud) in the emulator, the policy from a file
/// and from the project after gcloud `policy import`; manifests; `pin` re-read by PyYAML.
mod policy;
/// Registry credentials (auth.json, config.json, credential helpers) against an htpasswd
/// docker-registry and the emulator's token service; named errors; no credential in any output.
mod registry_auth;
/// Retries and timeouts seen from outside: `Retry-After`, its cap, `--timeout`.
mod retries;
/// `rotate`: KMS version 1 to 2 over 25 images, interrupted and resumed.
mod rotate;
/// The wrappers under real runners' rules: the action under podman, gitlab-ci-local, Tekton's
/// step, the arm64 binary under qemu.
mod runners;
/// Secrets (tokens, keys, credential files, echoed error bodies) never reach a byte the process
/// writes, under GitHub Actions, GitLab and no CI.
mod secrets;
/// `setup` against the IAM-enforcing emulator: the chain, least privilege proven binding by
/// binding, idempotency, refusals, `--plan`.
mod setup;
/// `setup --pkix-public-key` / `--pgp-public-key`: keys the team holds, registered once.
mod setup_keys;
/// `sign` and `verify` end to end against the emulator, judged by gcloud and openssl.
mod sign;
/// `verify`: every attestation form, every rejection's reason, several attestors, batches.
mod verify;
/// The CI wrappers under their validators and stand-ins, in sync with `sign --help`.
mod wrappers;
