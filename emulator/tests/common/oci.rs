//! OCI image layouts built on disk (a real one-file tar.gz layer, config, manifest, index.json)
//! for skopeo to copy into the emulator's registry, and skopeo itself, which must be installed.

use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output};

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

pub fn sha256(bytes: &[u8]) -> String {
    let hex: String = Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256:{hex}")
}

/// A throwaway OCI image layout directory.
pub struct Layout {
    pub dir: tempfile::TempDir,
}

impl Layout {
    fn new() -> Layout {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(dir.path().join("blobs/sha256")).expect("blobs dir");
        std::fs::write(
            dir.path().join("oci-layout"),
            r#"{"imageLayoutVersion":"1.0.0"}"#,
        )
        .expect("oci-layout");
        Layout { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Stores `bytes` as a blob and returns its descriptor.
    fn blob(&self, media_type: &str, bytes: &[u8]) -> Value {
        let digest = sha256(bytes);
        let file = self
            .path()
            .join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:"));
        std::fs::write(file, bytes).expect("write blob");
        json!({"mediaType": media_type, "digest": digest, "size": bytes.len()})
    }

    /// A one-layer image whose single file holds `content`, so each test gets its own digests.
    fn image_manifest(&self, content: &str, arch: &str) -> Value {
        let (tar, gz) = layer(content);
        let config = json!({
            "architecture": arch,
            "os": "linux",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": [sha256(&tar)]},
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
        std::fs::write(self.path().join("index.json"), index.to_string()).expect("index.json");
    }

    /// A single-platform image.
    pub fn image(content: &str) -> Layout {
        let layout = Layout::new();
        let mut manifest = layout.image_manifest(content, "amd64");
        if let Some(m) = manifest.as_object_mut() {
            m.remove("platform");
        }
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
        .expect("tar entry");
    let tar = builder.into_inner().expect("tar");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&tar).expect("gzip");
    (tar, gz.finish().expect("gzip"))
}

/// Runs skopeo, which must be installed (Debian package skopeo): a missing skopeo fails the
/// test, CI or not, never skips it.
pub fn skopeo(args: &[&str]) -> Output {
    let path = super::which("skopeo").unwrap_or_else(|| {
        panic!("skopeo is not installed; the registry tests need it: apt-get install skopeo")
    });
    Command::new(path).args(args).output().expect("run skopeo")
}
