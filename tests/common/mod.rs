//! Test fixture: Debian's `docker-registry` on a loopback port, started once per test binary, and
//! images pushed to it with `skopeo` from OCI layouts built here.
//!
//! The registry runs under a tiny shell that holds our stdin: when the test binary exits, the pipe
//! closes, and the shell stops the registry and removes its storage. No process outlives the tests.

#![allow(dead_code)] // each test binary uses a different part of the fixture

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

pub struct TestRegistry {
    /// `127.0.0.1:PORT`, as written in image references.
    pub host: String,
    dir: PathBuf,
    /// The shell around the registry; its stdin, held open for the life of the test binary,
    /// closes when the binary exits, which stops the registry (see module docs).
    _shell: Mutex<Child>,
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
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: false\n\
                 storage:\n  filesystem:\n    rootdirectory: {}\n\
                 http:\n  addr: {host}\n",
                dir.join("storage").display()
            ),
        )
        .unwrap();
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
            _shell: Mutex::new(shell),
        };
        registry.wait_ready();
        registry
    }

    /// Polls `GET /v2/` until the registry answers 200.
    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok((200, _)) = self.request("GET", "/v2/", &[]) {
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

/// A throwaway OCI image layout directory.
pub struct Layout {
    pub dir: tempfile::TempDir,
}

impl Layout {
    fn new() -> Layout {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("blobs/sha256")).unwrap();
        std::fs::write(
            dir.path().join("oci-layout"),
            r#"{"imageLayoutVersion":"1.0.0"}"#,
        )
        .unwrap();
        Layout { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Stores `bytes` as a blob and returns its descriptor.
    fn blob(&self, media_type: &str, bytes: &[u8]) -> Value {
        let hex = hex(&Sha256::digest(bytes));
        std::fs::write(self.path().join("blobs/sha256").join(&hex), bytes).unwrap();
        json!({"mediaType": media_type, "digest": format!("sha256:{hex}"), "size": bytes.len()})
    }

    /// A one-layer image whose single file holds `content`, so each test gets its own digest.
    fn image_manifest(&self, content: &str, arch: &str) -> Value {
        let (tar, gz) = layer(content);
        let config = json!({
            "architecture": arch,
            "os": "linux",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{}", hex(&Sha256::digest(&tar)))]},
        });
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": self.blob("application/vnd.oci.image.config.v1+json", config.to_string().as_bytes()),
            "layers": [self.blob("application/vnd.oci.image.layer.v1.tar+gzip", &gz)],
        });
        let mut descriptor = self.blob(OCI_MANIFEST, manifest.to_string().as_bytes());
        descriptor["platform"] = json!({"architecture": arch, "os": "linux"});
        descriptor
    }

    fn write_index(&self, descriptor: Value) {
        let index = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [descriptor]});
        std::fs::write(self.path().join("index.json"), index.to_string()).unwrap();
    }

    /// A single-platform image.
    pub fn image(content: &str) -> Layout {
        let layout = Layout::new();
        let mut manifest = layout.image_manifest(content, "amd64");
        manifest.as_object_mut().unwrap().remove("platform");
        layout.write_index(manifest);
        layout
    }

    /// An image index of two platform images (amd64, arm64).
    pub fn multi_arch(content: &str) -> Layout {
        let layout = Layout::new();
        let manifests: Vec<Value> = ["amd64", "arm64"]
            .iter()
            .map(|arch| layout.image_manifest(&format!("{content} {arch}"), arch))
            .collect();
        let index = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests});
        let descriptor = layout.blob(OCI_INDEX, index.to_string().as_bytes());
        layout.write_index(descriptor);
        layout
    }
}

/// A layer holding one file: `(tar, tar.gz)`.
fn layer(content: &str) -> (Vec<u8>, Vec<u8>) {
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(content.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    builder
        .append_data(&mut header, "hello.txt", content.as_bytes())
        .unwrap();
    let tar = builder.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&tar).unwrap();
    (tar, gz.finish().unwrap())
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Runs the binary with `args`; returns `(exit code, stdout, stderr)`.
pub fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_binauthz-attest"))
        .args(args)
        .env_remove("BINAUTHZ_INSECURE_REGISTRIES")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
