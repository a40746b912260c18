//! Test fixture: a running emulator (one per test that needs its own state), HTTP helpers, and
//! the real gcloud and openssl pointed at it. Missing tools fail the test, never skip it.
#![allow(dead_code)]

pub mod oci;

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

pub const TOKEN: &str = "test-token";

/// Every KMS algorithm Binary Authorization accepts, all of which the emulator serves.
pub const KMS_ALGORITHMS: &[&str] = &[
    "EC_SIGN_P256_SHA256",
    "EC_SIGN_P384_SHA384",
    "RSA_SIGN_PKCS1_2048_SHA256",
    "RSA_SIGN_PKCS1_3072_SHA256",
    "RSA_SIGN_PKCS1_4096_SHA256",
    "RSA_SIGN_PKCS1_4096_SHA512",
    "RSA_SIGN_PSS_2048_SHA256",
    "RSA_SIGN_PSS_3072_SHA256",
    "RSA_SIGN_PSS_4096_SHA256",
    "RSA_SIGN_PSS_4096_SHA512",
];

pub struct Emulator {
    child: Child,
    /// `http://127.0.0.1:PORT/`
    pub url: String,
    pub dir: tempfile::TempDir,
}

impl Emulator {
    /// Starts the emulator with `seed` (YAML) plus the test token, and waits for its ready line.
    pub fn start(seed: &str) -> Emulator {
        Self::start_with(seed, &[])
    }

    pub fn start_with(seed: &str, args: &[&str]) -> Emulator {
        Self::start_raw(
            &format!("tokens:\n  - token: {TOKEN}\n    principal: user:dev@example.com\n{seed}"),
            args,
        )
    }

    /// Starts the emulator with exactly this seed.
    pub fn start_raw(seed: &str, args: &[&str]) -> Emulator {
        let dir = tempfile::tempdir().expect("temp dir");
        let seed_path = dir.path().join("seed.yaml");
        std::fs::write(&seed_path, seed).expect("write seed");
        let mut child = Command::new(emulator_binary())
            .arg("--seed")
            .arg(&seed_path)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start binauthz-emulator");
        // The ready line, within a deadline: an emulator that never gets there fails the test
        // instead of hanging it (its stderr is the test's).
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let read = BufReader::new(stdout).read_line(&mut line).map(|_| line);
            let _ = tx.send(read);
        });
        let line = match rx.recv_timeout(std::time::Duration::from_secs(30)) {
            Ok(read) => read.expect("read ready line"),
            Err(_) => {
                let _ = child.kill();
                panic!("binauthz-emulator printed no ready line within 30 s");
            }
        };
        let url = line.trim().to_string();
        assert!(
            url.starts_with("http://127.0.0.1:") && url.ends_with('/'),
            "ready line {url:?}"
        );
        Emulator { child, url, dir }
    }

    pub fn host(&self) -> String {
        self.url
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string()
    }

    /// A request with the test token; answers (status, JSON body).
    pub fn call(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        self.call_as(Some(TOKEN), method, path, body)
    }

    pub fn call_as(
        &self,
        token: Option<&str>,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let mut req = ureq::request(
            method,
            &format!("{}{}", self.url, path.trim_start_matches('/')),
        );
        if let Some(t) = token {
            req = req.set("Authorization", &format!("Bearer {t}"));
        }
        let result = match body {
            Some(b) => req.send_json(b.clone()),
            None => req.call(),
        };
        let response = match result {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("{method} {path}: {e}"),
        };
        let status = response.status();
        let text = response.into_string().expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    pub fn ok(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        let (status, value) = self.call(method, path, body);
        assert_eq!(status, 200, "{method} {path}: {value}");
        value
    }

    /// The `Docker-Content-Digest` the emulator's registry serves for `repository:tag`.
    pub fn registry_digest(&self, repository: &str, tag: &str) -> String {
        let url = format!("{}v2/{repository}/manifests/{tag}", self.url);
        let head = ureq::head(&url)
            .set("Authorization", &format!("Bearer {TOKEN}"))
            .call()
            .expect("manifest HEAD");
        head.header("docker-content-digest")
            .expect("Docker-Content-Digest")
            .to_string()
    }

    /// The flags that let the binary use the emulator's registry: plain HTTP, Google token.
    pub fn registry_flags(&self) -> Vec<String> {
        let host = self.host();
        vec![
            "--insecure-registry".into(),
            host.clone(),
            "--google-registry".into(),
            host,
        ]
    }

    /// gcloud with this emulator as every endpoint, a throwaway config and the test token.
    pub fn gcloud(&self, args: &[&str]) -> Output {
        self.gcloud_as(TOKEN, args)
    }

    /// gcloud authenticated with `token` (each token its own config directory).
    pub fn gcloud_as(&self, token: &str, args: &[&str]) -> Output {
        let config = self.dir.path().join(format!("gcloud-config-{token}"));
        std::fs::create_dir_all(&config).expect("config dir");
        // A fresh config probes the GCE metadata server at start-up: keep it on loopback.
        std::fs::write(config.join("gce"), "False").expect("gce file");
        let token_file = self.dir.path().join(format!("token-{token}"));
        std::fs::write(&token_file, token).expect("token file");
        let out = Command::new(gcloud_path())
            .args(args)
            .env("CLOUDSDK_CONFIG", &config)
            .env("CLOUDSDK_AUTH_ACCESS_TOKEN_FILE", &token_file)
            .env("CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDKMS", &self.url)
            .env(
                "CLOUDSDK_API_ENDPOINT_OVERRIDES_BINARYAUTHORIZATION",
                &self.url,
            )
            .env(
                "CLOUDSDK_API_ENDPOINT_OVERRIDES_CONTAINERANALYSIS",
                &self.url,
            )
            .env(
                "CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDRESOURCEMANAGER",
                &self.url,
            )
            .env("CLOUDSDK_CORE_DISABLE_PROMPTS", "1")
            .env("CLOUDSDK_CORE_PROJECT", "demo")
            .env("GCE_METADATA_ROOT", self.host())
            .env("GCE_METADATA_HOST", self.host())
            .stdin(Stdio::null())
            .output()
            .expect("run gcloud");
        out
    }

    /// gcloud that must succeed; returns its stdout.
    pub fn gcloud_ok(&self, args: &[&str]) -> String {
        let out = self.gcloud(args);
        assert!(
            out.status.success(),
            "gcloud {args:?} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

/// The emulator binary: cargo names it for the emulator's own tests; the root package's tests
/// (which share this fixture) find it beside their own binary, built by `cargo test --workspace`.
pub fn emulator_binary() -> PathBuf {
    if let Some(path) = option_env!("CARGO_BIN_EXE_binauthz-emulator") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("test binary path");
    let path = exe
        .parent()
        .and_then(Path::parent)
        .expect("target dir")
        .join("binauthz-emulator");
    assert!(
        path.is_file(),
        "{} is missing: run the tests with `cargo test --workspace`",
        path.display()
    );
    path
}

impl Emulator {
    /// Sends `signal` (TERM, INT) and waits for the process; returns whether it exited 0.
    pub fn stop_with(&mut self, signal: &str) -> bool {
        let sent = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status();
        assert!(sent.is_ok_and(|s| s.success()), "kill -{signal} failed");
        self.child.wait().expect("wait for the emulator").success()
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// gcloud must be installed (Debian package google-cloud-cli): fail loudly if not.
pub fn gcloud_path() -> PathBuf {
    which("gcloud").unwrap_or_else(|| {
        panic!(
            "gcloud is not installed; .ci/run installs google-cloud-cli (CI={:?})",
            std::env::var("CI").ok()
        )
    })
}

pub fn which(tool: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(tool))
        .find(|p| p.is_file())
}

/// `openssl dgst -<hash> -verify pub.pem -signature sig` over `data`: true on "Verified OK".
pub fn openssl_verifies(
    dir: &Path,
    hash: &str,
    pem: &str,
    data: &[u8],
    signature: &[u8],
    pss: bool,
) -> bool {
    let openssl = which("openssl").expect("openssl is not installed");
    let (p, d, s) = (dir.join("pub.pem"), dir.join("data"), dir.join("sig"));
    std::fs::write(&p, pem).unwrap();
    std::fs::write(&d, data).unwrap();
    std::fs::write(&s, signature).unwrap();
    let mut cmd = Command::new(openssl);
    cmd.args(["dgst", &format!("-{hash}"), "-verify"])
        .arg(&p)
        .arg("-signature")
        .arg(&s);
    if pss {
        cmd.args([
            "-sigopt",
            "rsa_padding_mode:pss",
            "-sigopt",
            "rsa_pss_saltlen:digest",
        ]);
    }
    let out = cmd.arg(&d).output().expect("run openssl");
    String::from_utf8_lossy(&out.stdout).contains("Verified OK")
}

pub fn b64(data: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(data)
}

/// Decodes either alphabet, as Google's clients do.
pub fn unb64(text: &str) -> Vec<u8> {
    use base64::Engine;
    let url_safe = text
        .trim_end_matches('=')
        .replace('+', "-")
        .replace('/', "_");
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(url_safe)
        .expect("base64")
}
