//! Today's cosign judges what we write, and we judge what it writes: cosign v3 (whose `sign`
//! writes a sigstore bundle by default and whose `verify` reads nothing else once it finds one)
//! and cosign v2.6 (the last v2 line: `.sig` by default, bundles read when present), both built
//! by `.ci/install-kube-control-plane`.
//!
//! Everything stays on loopback: cosign runs with a key, no transparency log
//! (`--tlog-upload=false`, `--insecure-ignore-tlog`), no signing config and, for v2.6's bundle
//! path, an empty trusted root, so it has no reason to reach Sigstore's services; and every
//! proxy variable points at a closed loopback port, so if it tried, it would fail here.

use crate::common::emulator::Emulator;
use crate::common::{registry, Format, Layout};
use crate::sign::{attest, google, push, sign_ok, version};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A cosign release under the verifiers' prefix: `cosign-v3` or `cosign-v2.6`. Panics (never
/// skips) when it is not installed.
pub(crate) fn cosign_binary(release: &str) -> PathBuf {
    let path = crate::kube::prefix().join(release).join("cosign");
    let works = Command::new(&path)
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        works,
        "{} is required by the cosign peer tests: run .ci/install-kube-control-plane",
        path.display()
    );
    path
}

/// `cosign ARGS` of `release`, with a private HOME and TUF cache in `dir`, and outbound
/// traffic impossible (see module docs).
pub(crate) fn cosign(release: &str, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let home = dir.join(format!("cosign-home-{release}"));
    std::fs::create_dir_all(&home).unwrap();
    let mut cmd = Command::new(cosign_binary(release));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", &home)
        .env("TUF_ROOT", home.join("tuf"))
        .env("HTTPS_PROXY", "http://127.0.0.1:9")
        .env("HTTP_PROXY", "http://127.0.0.1:9")
        .env("NO_PROXY", "127.0.0.1,localhost")
        .args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "exit {:?}\n{}{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// An empty Sigstore trusted root: no CA, no log, no timestamp authority. With a key and no
/// log it is all a bundle verification needs; cosign v2.6 insists on one for bundles.
fn empty_trusted_root(dir: &Path) -> PathBuf {
    let path = dir.join("trusted_root.json");
    std::fs::write(
        &path,
        r#"{"mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1"}"#,
    )
    .unwrap();
    path
}

/// cosign `verify --key` of `image` with `release`: `Ok(stdout)` or `Err(what it said)`.
fn cosign_verify(release: &str, dir: &Path, image: &str, key: &Path) -> Result<String, String> {
    let root = empty_trusted_root(dir);
    let key = key.to_str().unwrap();
    let mut args = vec![
        "verify",
        "--key",
        key,
        "--insecure-ignore-tlog=true",
        "--allow-http-registry",
        "--output=json",
    ];
    if release == "cosign-v2.6" {
        args.extend(["--trusted-root", root.to_str().unwrap()]);
    }
    args.push(image);
    let out = cosign(release, dir, &args, &[]);
    match out.status.success() {
        true => Ok(String::from_utf8_lossy(&out.stdout).into_owned()),
        false => Err(text(&out)),
    }
}

/// The emulator's KMS public key of `key`, as a `cosign.pub`-style PEM file.
fn kms_pub(emu: &Emulator, key: &str) -> PathBuf {
    let pem = emu.ok("GET", &format!("v1/{}/publicKey", version(key)), None)["pem"]
        .as_str()
        .unwrap()
        .to_string();
    let path = emu.dir.path().join(format!("{key}.pub"));
    std::fs::write(&path, pem).unwrap();
    path
}

/// `HOST/repo` and the digest of `repo:tag` on Debian's docker-registry.
fn digest_of(repo: &str, tag: &str) -> String {
    registry()
        .head_manifest(repo, tag)
        .1
        .expect("Docker-Content-Digest")
}

/// Copies the manifest tagged `from` to tag `to` in `repo`, bytes and media type unchanged (the
/// blobs are the repository's already): how a signature of one image is passed off as another's.
fn copy_tag(repo: &str, from: &str, to: &str) {
    let host = &registry().host;
    let accept = [
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
    ]
    .join(", ");
    let got = ureq::get(&format!("http://{host}/v2/{repo}/manifests/{from}"))
        .set("Accept", &accept)
        .call()
        .unwrap_or_else(|e| panic!("GET {repo}:{from}: {e}"));
    let media_type = got.content_type().to_string();
    let mut body = Vec::new();
    std::io::Read::read_to_end(&mut got.into_reader(), &mut body).unwrap();
    ureq::put(&format!("http://{host}/v2/{repo}/manifests/{to}"))
        .set("Content-Type", &media_type)
        .send_bytes(&body)
        .unwrap_or_else(|e| panic!("PUT {repo}:{to}: {e}"));
}

/// A second image in `repo` (tag v2), unsigned; returns its `HOST/repo:v2`.
fn push_second(repo: &str) -> String {
    let layout = Layout::image(&format!("{repo}-second"));
    registry().push(layout.path(), &format!("{repo}:v2"), Format::Oci);
    format!("{}/{repo}:v2", registry().host)
}

/// Gives `target` (tag v2 of `repo`) the signature artifacts of `signed` (tag v1): its `.sig`
/// tag and its referrers tag index, whichever exist.
fn graft_signatures(repo: &str) {
    let (signed, target) = (digest_of(repo, "v1"), digest_of(repo, "v2"));
    let (from, to) = (signed.replace(':', "-"), target.replace(':', "-"));
    for suffix in ["", ".sig"] {
        let tag = format!("{from}{suffix}");
        if registry().head_manifest(repo, &tag).0 == 200 {
            copy_tag(repo, &tag, &format!("{to}{suffix}"));
        }
    }
}

#[test]
fn cosign_v3_and_v2_6_verify_every_form_sign_cosign_writes_and_refuse_grafted_ones() {
    let emu = google("");
    let dir = emu.dir.path();
    let key = kms_pub(&emu, "ec");
    let other = kms_pub(&emu, "untrusted");
    let mut table = Vec::new();
    for form in ["sig", "bundle", "both"] {
        let repo = format!("peers/ours-{form}");
        let image = push(&repo, Format::Oci);
        let digest = digest_of(&repo, "v1");
        let flag = format!("--cosign={form}");
        sign_ok(&emu, &image, "ec", &[&flag, "--output=json"]);
        for release in ["cosign-v3", "cosign-v2.6"] {
            let verdict = cosign_verify(release, dir, &image, &key);
            table.push(format!(
                "{release} verify --key, --cosign={form}: {}",
                match &verdict {
                    Ok(_) => "accepted".to_string(),
                    Err(e) => format!("REFUSED: {e}"),
                }
            ));
            let stdout = verdict.unwrap_or_else(|e| {
                panic!("{release} refused what sign --cosign={form} wrote: {e}")
            });
            assert!(stdout.contains(&digest), "{release}, {form}: {stdout}");
            // Another key's signature it is not.
            let refused = cosign_verify(release, dir, &image, &other);
            assert!(refused.is_err(), "{release} accepted another key, {form}");
        }
        // The signature artifacts of v1 grafted onto v2: refused by both, and by us.
        let second = push_second(&repo);
        graft_signatures(&repo);
        for release in ["cosign-v3", "cosign-v2.6"] {
            let refused = cosign_verify(release, dir, &second, &key)
                .expect_err("a grafted signature was accepted");
            table.push(format!(
                "{release}, v1's --cosign={form} grafted onto v2: {}",
                refused
                    .lines()
                    .find(|l| l.starts_with("Error"))
                    .unwrap_or("refused")
            ));
        }
        let (code, stdout, stderr) = attest(
            &emu,
            &[
                "verify",
                &second,
                "--cosign-key",
                key.to_str().unwrap(),
                "--output=json",
            ],
        );
        assert_eq!(
            code, 5,
            "our verify accepted a grafted {form}: {stdout}{stderr}"
        );
    }
    eprintln!("{}", table.join("\n"));
}

/// `cosign generate-key-pair` of `release` in `dir` (password `COSIGN_PASSWORD`): the key files.
pub(crate) fn key_pair(release: &str, dir: &Path) -> (PathBuf, PathBuf) {
    let keys = dir.join(format!("keys-{release}"));
    std::fs::create_dir_all(&keys).unwrap();
    let prefix = keys.join("cosign");
    let out = cosign(
        release,
        dir,
        &[
            "generate-key-pair",
            "--output-key-prefix",
            prefix.to_str().unwrap(),
        ],
        &[("COSIGN_PASSWORD", "correct horse")],
    );
    assert!(out.status.success(), "{}", text(&out));
    (prefix.with_extension("key"), prefix.with_extension("pub"))
}

/// `cosign sign --key` of `release` with its default format, offline (no log, no signing
/// config), of `image` by digest.
pub(crate) fn cosign_sign(release: &str, dir: &Path, image_by_digest: &str, key: &Path) {
    let mut args = vec![
        "sign",
        "--key",
        key.to_str().unwrap(),
        "--tlog-upload=false",
        "--allow-http-registry",
        "--yes",
    ];
    if release == "cosign-v3" {
        // v3 refuses --tlog-upload=false with its default, a TUF-provided signing config.
        args.push("--use-signing-config=false");
    }
    args.push(image_by_digest);
    let out = cosign(release, dir, &args, &[("COSIGN_PASSWORD", "correct horse")]);
    assert!(out.status.success(), "{release} sign: {}", text(&out));
}

#[test]
fn verify_cosign_key_accepts_what_cosign_v3_and_v2_6_sign_with_a_key_pair_and_refuses_grafts() {
    let emu = google("");
    let dir = emu.dir.path();
    for release in ["cosign-v3", "cosign-v2.6"] {
        let (key, public) = key_pair(release, dir);
        let repo = format!("peers/theirs-{}", release.replace('.', "-"));
        let image = push(&repo, Format::Oci);
        let digest = digest_of(&repo, "v1");
        let pinned = format!("{}/{repo}@{digest}", registry().host);
        cosign_sign(release, dir, &pinned, &key);

        // What its default format is, read from the registry.
        let sig = registry().head_manifest(&repo, &format!("{}.sig", digest.replace(':', "-")));
        let referrers = registry().head_manifest(&repo, &digest.replace(':', "-"));
        eprintln!(
            "{release} sign --key wrote: .sig tag {}, referrers tag index {}",
            sig.0, referrers.0
        );
        match release {
            // v3: a bundle referrer (the tag schema here: docker-registry has no referrers API).
            "cosign-v3" => assert_eq!((sig.0, referrers.0), (404, 200)),
            _ => assert_eq!((sig.0, referrers.0), (200, 404)),
        }

        // cosign itself and our verify accept it, by tag and by digest.
        cosign_verify(release, dir, &image, &public).unwrap();
        for reference in [&image, &pinned] {
            let (code, stdout, stderr) = attest(
                &emu,
                &[
                    "verify",
                    reference,
                    "--cosign-key",
                    public.to_str().unwrap(),
                    "--output=json",
                ],
            );
            assert_eq!(code, 0, "{release}: {stdout}{stderr}");
            let verdicts: Value = serde_json::from_str(&stdout).unwrap();
            assert_eq!(verdicts[0]["verified"], true, "{verdicts}");
        }

        // Grafted onto another image: refused by cosign and by us.
        let second = push_second(&repo);
        graft_signatures(&repo);
        cosign_verify(release, dir, &second, &public).expect_err("cosign accepted a graft");
        let (code, stdout, stderr) = attest(
            &emu,
            &[
                "verify",
                &second,
                "--cosign-key",
                public.to_str().unwrap(),
                "--output=json",
            ],
        );
        assert_eq!(code, 5, "{release}: {stdout}{stderr}");
    }
}
