//! The wrappers run the way their runners run them, against the emulator (Google and its
//! Artifact Registry) on 127.0.0.1:
//!
//! - `github`: the action's container image under podman, started with the mounts, working
//!   directory, environment and path translation of actions/runner's ContainerActionHandler, with
//!   both credentials files google-github-actions/auth writes; the next step reads the outputs.
//! - `gitlab`: the CI/CD component included and run by `gitlab-ci-local`, a GitLab CI runner
//!   nobody here wrote, with the `id_tokens` Workload Identity path; a later job reads the dotenv.
//! - `tekton`: the StepAction's step under podman as a Tekton pod runs it, results read back.
//! - `arm64`: the static aarch64 binary under qemu-user-static.
//!
//! Every tool is installed by `.ci/run`; a missing one fails the test with the command that
//! installs it. Nothing is skipped.

mod arm64;
mod github;
mod gitlab;
mod tekton;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use crate::common::emulator::Emulator;

/// The release image as packaging/build-image.sh tags it (`-debug` appended: the debug
/// image), or `BINAUTHZ_TEST_IMAGE`.
///
/// The image must hold a binary built from these sources, not a stale one: its
/// `dev.binauthz-attest.source-sha256` label must be the digest build-image.sh computes of
/// `src/`, `Cargo.toml` and `Cargo.lock`.
fn image_tag() -> String {
    tool("podman", "apt-get install podman runc");
    let image = std::env::var("BINAUTHZ_TEST_IMAGE")
        .unwrap_or_else(|_| format!("localhost/binauthz-attest:v{}", env!("CARGO_PKG_VERSION")));
    let out = run(Command::new("podman").args([
        "image",
        "inspect",
        "--format",
        "{{index .Labels \"dev.binauthz-attest.source-sha256\"}}",
        &image,
    ]));
    assert!(
        out.status.success(),
        "the image {image} is not in podman's store; build it first: packaging/build-image.sh\n{}",
        show(&out)
    );
    let label = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let script = std::fs::read_to_string(repo().join("packaging/build-image.sh")).unwrap();
    let digest_fn = script
        .lines()
        .skip_while(|l| !l.starts_with("source_digest()"))
        .nth(1)
        .expect("source_digest() in build-image.sh");
    let sources = run(Command::new("bash")
        .args(["-c", digest_fn.trim()])
        .current_dir(repo()));
    assert!(sources.status.success(), "{}", show(&sources));
    let sources = String::from_utf8_lossy(&sources.stdout).trim().to_string();
    assert_eq!(
        label, sources,
        "{image} was built from other sources; rebuild it: packaging/build-image.sh"
    );
    image
}

/// The KMS key ring of the seed below.
const RING: &str = "projects/demo/locations/global/keyRings/ring/cryptoKeys";
const ATTESTOR: &str = "projects/demo/attestors/a1";
const SERVICE_ACCOUNT: &str = "signer@demo.iam.gserviceaccount.com";
/// The Workload Identity pool and its providers, one per CI issuer, seeded in the emulator.
const POOL: &str = "projects/123456789/locations/global/workloadIdentityPools/ci";
const GITHUB_PROVIDER: &str =
    "projects/123456789/locations/global/workloadIdentityPools/ci/providers/github";
const GITLAB_PROVIDER: &str =
    "projects/123456789/locations/global/workloadIdentityPools/ci/providers/gitlab";
const GITHUB_ISSUER: &str = "https://token.actions.githubusercontent.com";
const GITLAB_ISSUER: &str = "https://gitlab.example.com";

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn key_version() -> String {
    format!("{RING}/ec/cryptoKeyVersions/1")
}

/// An emulator with a service account, a signing key the attestor trusts, and `images`
/// (repositories under `demo/apps/`, tag `v1`) in its registry.
fn google(images: &[&str]) -> Emulator {
    let mut seed = format!(
        "workloadIdentityProviders:\n  - name: {GITHUB_PROVIDER}\n    issuer: {GITHUB_ISSUER}\n  - name: {GITLAB_PROVIDER}\n    issuer: {GITLAB_ISSUER}\n\
         serviceAccounts:\n  - email: {SERVICE_ACCOUNT}\n    tokenCreators: ['principalSet://iam.googleapis.com/{POOL}/*']\n\
         keys:\n  - name: {RING}/ec\n    algorithm: EC_SIGN_P256_SHA256\n\
         notes:\n  - name: projects/demo/notes/n1\n\
         attestors:\n  - name: {ATTESTOR}\n    note: projects/demo/notes/n1\n    keyVersions: [{}]\n\
         images:\n",
        key_version()
    );
    for image in images {
        seed += &format!("  - repository: demo/apps/{image}\n    tag: v1\n    content: {image}\n");
    }
    Emulator::start(&seed)
}

/// The attestations filed in project `demo`, as `(image by digest, noteName)` (the resourceUri,
/// any `https://` dropped).
fn attestations(emu: &Emulator) -> Vec<(String, String)> {
    let listed = emu.ok("GET", "v1/projects/demo/occurrences", None);
    listed["occurrences"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|o| {
            (
                o["resourceUri"]
                    .as_str()
                    .unwrap_or_default()
                    .trim_start_matches("https://")
                    .to_string(),
                o["noteName"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// The routes the emulator served since the last reset, in order.
fn routes(emu: &Emulator) -> Vec<String> {
    emu.ok("GET", "emulator/requests", None)["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["route"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// A tool on PATH, or a failure naming how `.ci/run` installs it.
fn tool(name: &str, install: &str) -> PathBuf {
    crate::common::emulator::which(name).unwrap_or_else(|| {
        panic!(
            "{name} is required by the runner tests and is not on PATH; install it with: {install}"
        )
    })
}

fn show(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

/// The CI's OIDC token for `sub`, as the provider's issuer signs it (the emulator holds the
/// issuer's key and checks signature, issuer, audience and expiry at STS).
fn oidc_jwt(emu: &Emulator, provider: &str, sub: &str) -> String {
    let minted = emu.ok(
        "POST",
        "emulator/oidc-token",
        Some(&serde_json::json!({"provider": provider, "sub": sub})),
    );
    minted["token"].as_str().unwrap().to_string()
}

/// A stand-in for the runner's OIDC token endpoint (GitHub's `ACTIONS_ID_TOKEN_REQUEST_URL`):
/// answers `{"value": JWT}` to a GET carrying `Authorization: Bearer REQUEST_TOKEN`, 401
/// otherwise, and records each request line with whether its bearer was right.
struct OidcEndpoint {
    /// `http://127.0.0.1:PORT`
    url: String,
    requests: Arc<Mutex<Vec<(String, bool)>>>,
}

impl OidcEndpoint {
    fn start(request_token: &str, jwt: &str) -> OidcEndpoint {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (seen, bearer, jwt) = (
            requests.clone(),
            format!("Bearer {request_token}"),
            jwt.to_string(),
        );
        // Serves until the test binary exits; one connection at a time is plenty.
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut reader = BufReader::new(&stream);
                let mut request_line = String::new();
                if reader.read_line(&mut request_line).is_err() {
                    continue;
                }
                let mut authorized = false;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
                        break;
                    }
                    if let Some((name, value)) = line.split_once(':') {
                        if name.eq_ignore_ascii_case("authorization") && value.trim() == bearer {
                            authorized = true;
                        }
                    }
                }
                seen.lock()
                    .unwrap()
                    .push((request_line.trim().to_string(), authorized));
                let (status, body) = if authorized {
                    (
                        "200 OK",
                        serde_json::json!({"count": 1, "value": jwt}).to_string(),
                    )
                } else {
                    (
                        "401 Unauthorized",
                        r#"{"message":"Bad credentials"}"#.into(),
                    )
                };
                let _ = write!(
                    &stream,
                    "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        OidcEndpoint { url, requests }
    }

    fn requests(&self) -> Vec<(String, bool)> {
        self.requests.lock().unwrap().clone()
    }
}
