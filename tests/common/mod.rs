//! Test fixture: Debian's `docker-registry` on a loopback port, started once per test binary, and
//! images pushed to it with `skopeo` from OCI layouts built here.
//!
//! The registry runs under a tiny shell that holds our stdin: when the test binary exits, the pipe
//! closes, and the shell stops the registry and removes its storage. No process outlives the tests.

use sha2::{Digest as _, Sha256};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The emulator's fixture (the emulator as Google and Artifact Registry, gcloud, openssl) and
/// its OCI layout builder, shared with the emulator's own tests.
#[path = "../../emulator/tests/common/mod.rs"]
pub mod emulator;

pub use emulator::oci::{Layout, DOCKER_LIST, DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST};

pub struct TestRegistry {
    /// `127.0.0.1:PORT`, as written in image references.
    pub host: String,
    dir: PathBuf,
    /// `USER:PASSWORD` when the registry demands htpasswd Basic auth ([`auth_registry`]).
    pub creds: Option<String>,
    /// The shell around the registry; its stdin, held open for the life of the test binary,
    /// closes when the binary exits, which stops the registry (see module docs).
    _shell: Mutex<Child>,
}

/// A docker-registry over TLS ([`TestRegistry::tls_mirror`]).
pub struct TlsMirror {
    /// `127.0.0.1:PORT`.
    pub host: String,
    /// The CA (PEM) that signed its certificate.
    pub ca: PathBuf,
    /// Stops the registry when the test binary exits.
    _shell: Mutex<Child>,
}

/// The user of [`auth_registry`].
pub const AUTH_USER: &str = "h28-user";
/// Its password: recognisable, so the secrets scan can look for it.
pub const AUTH_PASSWORD: &str = "h28-SECRET-registry-password-5c1f9e";

/// A second registry that demands Basic credentials (docker-registry's `auth.htpasswd`, a
/// bcrypt file made by `htpasswd -B`): [`AUTH_USER`] / [`AUTH_PASSWORD`].
pub fn auth_registry() -> &'static TestRegistry {
    static REGISTRY: OnceLock<TestRegistry> = OnceLock::new();
    REGISTRY.get_or_init(|| TestRegistry::start_with(Some((AUTH_USER, AUTH_PASSWORD))))
}

/// The registry shared by every test of this binary.
pub fn registry() -> &'static TestRegistry {
    static REGISTRY: OnceLock<TestRegistry> = OnceLock::new();
    REGISTRY.get_or_init(TestRegistry::start)
}

/// Panics, CI or not, when a tool the integration tests need is missing: never skip silently.
fn require(tool: &str, package: &str) {
    let found = Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        found,
        "`{tool}` is required by the registry integration tests: apt-get install {package}"
    );
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

impl TestRegistry {
    fn start() -> TestRegistry {
        TestRegistry::start_with(None)
    }

    fn start_with(auth: Option<(&str, &str)>) -> TestRegistry {
        require("docker-registry", "docker-registry");
        require("skopeo", "skopeo");
        let dir = tempfile::Builder::new()
            .prefix("binauthz-registry-")
            .tempdir()
            .unwrap()
            .keep(); // the shell removes it when the tests end
        let port = free_port();
        let host = format!("127.0.0.1:{port}");
        let config = dir.join("config.yml");
        let mut yaml = format!(
            "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: false\n\
             storage:\n  filesystem:\n    rootdirectory: {}\n\
             http:\n  addr: {host}\n",
            dir.join("storage").display()
        );
        if let Some((user, password)) = auth {
            // htpasswd has no --version: the panic below names the package when it is missing.
            let htpasswd = dir.join("htpasswd");
            let made = Command::new("htpasswd")
                .args(["-B", "-b", "-c"])
                .arg(&htpasswd)
                .args([user, password])
                .output()
                .expect("`htpasswd` is required by the registry auth tests: apt-get install apache2-utils");
            assert!(made.status.success(), "htpasswd -B failed: {made:?}");
            yaml.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: binauthz-test\n    path: {}\n",
                htpasswd.display()
            ));
        }
        std::fs::write(&config, yaml).unwrap();
        let shell = Command::new("sh")
            .args([
                "-c",
                r#"docker-registry serve "$1" >"$2/access.log" 2>"$2/registry.log" & pid=$!
                   read _; kill $pid; wait $pid; rm -rf "$2""#,
                "sh",
            ])
            .arg(&config)
            .arg(&dir)
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        let registry = TestRegistry {
            host,
            dir,
            creds: auth.map(|(user, password)| format!("{user}:{password}")),
            _shell: Mutex::new(shell),
        };
        registry.wait_ready();
        registry
    }

    /// A second docker-registry serving this one's storage over TLS (a certificate for
    /// `127.0.0.1` from a CA of its own), so what was pushed here is read over HTTPS. It stops
    /// when the test binary exits, as this one does.
    pub fn tls_mirror(&self) -> TlsMirror {
        let dir = tempfile::Builder::new()
            .prefix("binauthz-registry-tls-")
            .tempdir()
            .unwrap()
            .keep(); // the shell removes it when the tests end
        let made = binauthz_attest::admission::certs::generate(&["127.0.0.1".into()], 1).unwrap();
        let (ca, cert, key) = (dir.join("ca.crt"), dir.join("tls.crt"), dir.join("tls.key"));
        std::fs::write(&ca, &made.ca_cert).unwrap();
        std::fs::write(&cert, &made.cert).unwrap();
        std::fs::write(&key, &made.key).unwrap();
        let host = format!("127.0.0.1:{}", free_port());
        let config = dir.join("config.yml");
        let yaml = format!(
            "version: 0.1\nlog:\n  level: warn\n\
             storage:\n  filesystem:\n    rootdirectory: {}\n\
             http:\n  addr: {host}\n  tls:\n    certificate: {}\n    key: {}\n",
            self.dir.join("storage").display(),
            cert.display(),
            key.display(),
        );
        std::fs::write(&config, yaml).unwrap();
        let shell = Command::new("sh")
            .args([
                "-c",
                r#"docker-registry serve "$1" >"$2/access.log" 2>"$2/registry.log" & pid=$!
                   read _; kill $pid; wait $pid; rm -rf "$2""#,
                "sh",
            ])
            .arg(&config)
            .arg(&dir)
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        // Listening is ready enough: the TLS set-up is checked by the client under test.
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(&host).is_err() {
            let log = std::fs::read_to_string(dir.join("registry.log")).unwrap_or_default();
            assert!(
                Instant::now() < deadline,
                "docker-registry over TLS did not listen on {host} within 30 s; its log:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        TlsMirror {
            host,
            ca,
            _shell: Mutex::new(shell),
        }
    }

    /// Polls `GET /v2/` until the registry answers 200 (401 when it demands credentials).
    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let ready = if self.creds.is_some() { 401 } else { 200 };
        loop {
            if matches!(self.request("GET", "/v2/", &[]), Ok((status, _)) if status == ready) {
                return;
            }
            let log = std::fs::read_to_string(self.dir.join("registry.log")).unwrap_or_default();
            assert!(
                Instant::now() < deadline,
                "docker-registry did not answer on {} within 30 s; its log:\n{log}",
                self.host
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// One raw HTTP/1.1 request; returns the status and the headers (names lowercased).
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
    ) -> std::io::Result<(u16, Vec<(String, String)>)> {
        let mut stream = TcpStream::connect(&self.host)?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {}\r\n", self.host);
        for (name, value) in headers {
            req.push_str(&format!("{name}: {value}\r\n"));
        }
        req.push_str("Connection: close\r\n\r\n");
        stream.write_all(req.as_bytes())?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response)?;
        let text = String::from_utf8_lossy(&response);
        let head = text.split("\r\n\r\n").next().unwrap_or_default();
        let mut lines = head.lines();
        let status = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        Ok((status, headers))
    }

    /// Uploads `data` as a blob of `repo` in one request (distribution's monolithic upload:
    /// POST, then PUT with the digest); returns its digest.
    pub fn put_blob(&self, repo: &str, data: &[u8]) -> String {
        let digest = format!("sha256:{:x}", Sha256::digest(data));
        let start = format!("http://{}/v2/{repo}/blobs/uploads/", self.host);
        let started = ureq::post(&start).call().expect("blob upload start");
        let location = started
            .header("Location")
            .expect("upload location")
            .to_string();
        let url = match location.starts_with("http") {
            true => location,
            false => format!("http://{}{location}", self.host),
        };
        let sep = if url.contains('?') { '&' } else { '?' };
        ureq::put(&format!("{url}{sep}digest={digest}"))
            .set("Content-Type", "application/octet-stream")
            .send_bytes(data)
            .expect("blob upload");
        digest
    }

    /// Stores `body` as the manifest `reference` of `repo`.
    pub fn put_manifest(&self, repo: &str, reference: &str, media_type: &str, body: &[u8]) {
        let url = format!("http://{}/v2/{repo}/manifests/{reference}", self.host);
        if let Err(e) = ureq::put(&url)
            .set("Content-Type", media_type)
            .send_bytes(body)
        {
            let detail = match e {
                ureq::Error::Status(code, r) => {
                    format!("{code}: {}", r.into_string().unwrap_or_default())
                }
                other => other.to_string(),
            };
            panic!("PUT {url}: {detail}");
        }
    }

    /// What the registry answers to a manifest HEAD accepting every manifest type:
    /// `(status, Docker-Content-Digest, Content-Type)`.
    pub fn head_manifest(
        &self,
        repo: &str,
        reference: &str,
    ) -> (u16, Option<String>, Option<String>) {
        let accept = [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST].join(", ");
        let (status, headers) = self
            .request(
                "HEAD",
                &format!("/v2/{repo}/manifests/{reference}"),
                &[("Accept", &accept)],
            )
            .unwrap();
        let get = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
        };
        (status, get("docker-content-digest"), get("content-type"))
    }

    /// The digest the registry serves for `repo:reference`, asked with its credentials (if it
    /// has any); `None` when it has no such manifest.
    pub fn head_manifest_with_creds(&self, repo: &str, reference: &str) -> Option<String> {
        use base64::Engine as _;
        let accept = [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST].join(", ");
        let basic = self.creds.as_ref().map(|c| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(c)
            )
        });
        let mut headers = vec![("Accept", accept.as_str())];
        if let Some(basic) = &basic {
            headers.push(("Authorization", basic));
        }
        let (status, headers) = self
            .request(
                "HEAD",
                &format!("/v2/{repo}/manifests/{reference}"),
                &headers,
            )
            .unwrap();
        (status == 200)
            .then(|| {
                headers
                    .into_iter()
                    .find(|(n, _)| n == "docker-content-digest")
                    .map(|(_, v)| v)
            })
            .flatten()
    }

    /// The tags of `repo`, as skopeo lists them with the registry's credentials.
    pub fn tags_with_creds(&self, repo: &str) -> Vec<String> {
        let mut cmd = Command::new("skopeo");
        cmd.args(["list-tags", "--tls-verify=false"]);
        if let Some(creds) = &self.creds {
            cmd.arg(format!("--creds={creds}"));
        }
        let out = cmd
            .arg(format!("docker://{}/{repo}", self.host))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "skopeo list-tags {repo}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let listed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        listed["Tags"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t.as_str().map(str::to_string))
            .collect()
    }

    /// Access-log lines of requests (method and path prefix) that reached the registry.
    pub fn requests_to(&self, method: &str, path_prefix: &str) -> usize {
        let needle = format!("\"{method} {path_prefix}");
        std::fs::read_to_string(self.dir.join("access.log"))
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains(&needle))
            .count()
    }

    /// Pushes `layout` to `repo:tag` on this registry, in the given manifest format.
    pub fn push(&self, layout: &Path, repo_tag: &str, format: Format) {
        let mut cmd = Command::new("skopeo");
        cmd.args([
            "copy",
            "--quiet",
            "--insecure-policy",
            "--dest-tls-verify=false",
        ]);
        if let Some(creds) = &self.creds {
            cmd.arg(format!("--dest-creds={creds}"));
        }
        match format {
            Format::Oci => {}
            Format::DockerV2s2 => {
                cmd.args(["--format", "v2s2"]);
            }
            Format::MultiArch => {
                cmd.arg("--all");
            }
        }
        let out: Output = cmd
            .arg(format!("oci:{}", layout.display()))
            .arg(format!("docker://{}/{repo_tag}", self.host))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "skopeo copy to {repo_tag} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[derive(Clone, Copy, Debug)]
pub enum Format {
    /// The OCI image manifest as built.
    Oci,
    /// Converted by skopeo to a Docker schema 2 manifest.
    DockerV2s2,
    /// An OCI image index with two platform manifests, copied whole.
    MultiArch,
}

/// Runs the binary with `args`; returns `(exit code, stdout, stderr)`.
pub fn run(args: &[&str]) -> (i32, String, String) {
    // Loopback only: were Application Default Credentials ever asked, the metadata server
    // they fall back to is a closed loopback port, never metadata.google.internal.
    let out = Command::new(env!("CARGO_BIN_EXE_binauthz-attest"))
        .args(args)
        .env_remove("BINAUTHZ_INSECURE_REGISTRIES")
        .env("GCE_METADATA_HOST", "127.0.0.1:9")
        .env("GCE_METADATA_ROOT", "127.0.0.1:9")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The binary with nothing of this machine's environment but PATH and `home`, and Google at
/// the emulator: each test runs as a fresh CI step would, and talks to loopback only (the
/// metadata server Application Default Credentials fall back to is the emulator too).
pub fn attest_command(emu: &emulator::Emulator, home: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_binauthz-attest"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDKMS", &emu.url)
        .env(
            "CLOUDSDK_API_ENDPOINT_OVERRIDES_BINARYAUTHORIZATION",
            &emu.url,
        )
        .env(
            "CLOUDSDK_API_ENDPOINT_OVERRIDES_CONTAINERANALYSIS",
            &emu.url,
        )
        .env(
            "CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDRESOURCEMANAGER",
            &emu.url,
        )
        .env("GCE_METADATA_HOST", emu.host());
    cmd
}
