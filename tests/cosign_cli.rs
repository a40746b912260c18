//! cosign's own key files and cosign signatures without an attestor, judged by the real cosign
//! CLI (Debian trixie's cosign 2.5, installed by `.ci/install-sigstore-verifiers`): keys it
//! generates sign with us and it verifies what we write; what it signs, our `verify` reads; a
//! tampered image is refused by both.

use crate::common::emulator::{Emulator, TOKEN};
use crate::common::{registry, Format, Layout};
use crate::cosign::{
    kms_pem, registry_blob, registry_json, sigstore_js_verifies, skopeo_accepts, verifiers_prefix,
};
use crate::sign::{attest, google, push, version};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const PASSWORD: &str = "correct horse battery";
const SIGN_PREDICATE: &str = "https://sigstore.dev/cosign/sign/v1";

/// Debian's cosign 2.5; fails loudly when it is not installed.
fn cosign_bin() -> PathBuf {
    let path = verifiers_prefix().join("cosign/cosign");
    let works = Command::new(&path)
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        works,
        "{} (Debian's cosign 2.5) is required: run .ci/install-sigstore-verifiers",
        path.display()
    );
    path
}

/// cosign run offline in `dir` (its HOME and TUF root there, so nothing of this machine's
/// and no network is used), with `COSIGN_PASSWORD` when given.
fn cosign(dir: &Path, password: Option<&str>, args: &[&str]) -> Output {
    let home = dir.join("cosign-home");
    std::fs::create_dir_all(&home).unwrap();
    let mut cmd = Command::new(cosign_bin());
    cmd.env_clear()
        .env("HOME", &home)
        .env("TUF_ROOT", home.join("tuf"))
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .current_dir(dir)
        .args(args);
    if let Some(p) = password {
        cmd.env("COSIGN_PASSWORD", p);
    }
    cmd.output().unwrap()
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "cosign failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `cosign generate-key-pair` in a directory of its own: (cosign.key, cosign.pub).
fn key_pair(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let at = dir.join(name);
    std::fs::create_dir_all(&at).unwrap();
    ok(&cosign(&at, Some(PASSWORD), &["generate-key-pair"]));
    (at.join("cosign.key"), at.join("cosign.pub"))
}

/// `cosign verify --key` of `image` (the `.sig` tag, as cosign 2 reads it), without a log.
fn cosign_verify(dir: &Path, key: &Path, image: &str) -> Output {
    cosign(
        dir,
        None,
        &[
            "verify",
            "--key",
            key.to_str().unwrap(),
            "--insecure-ignore-tlog=true",
            "--allow-insecure-registry",
            "--allow-http-registry",
            image,
        ],
    )
}

/// An empty trusted root: offline, the key given is the only trust.
fn empty_trusted_root(dir: &Path) -> PathBuf {
    let path = dir.join("trusted_root.json");
    std::fs::write(
        &path,
        r#"{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1","tlogs":[],"certificateAuthorities":[],"ctlogs":[],"timestampAuthorities":[]}"#,
    )
    .unwrap();
    path
}

/// `cosign verify-attestation --new-bundle-format`: the sigstore bundle referrer, as cosign 2.5
/// reads the form cosign 3 writes.
fn cosign_verify_bundle(dir: &Path, key: &Path, image: &str) -> Output {
    let root = empty_trusted_root(dir);
    cosign(
        dir,
        None,
        &[
            "verify-attestation",
            "--new-bundle-format",
            "--key",
            key.to_str().unwrap(),
            "--type",
            SIGN_PREDICATE,
            "--trusted-root",
            root.to_str().unwrap(),
            "--insecure-ignore-tlog=true",
            "--allow-insecure-registry",
            "--allow-http-registry",
            image,
        ],
    )
}

/// Our binary with `COSIGN_PASSWORD` (when given) and no Google credentials at all.
fn attest_offline(emu: &Emulator, password: Option<&str>, args: &[&str]) -> (i32, String, String) {
    let home = emu.dir.path().join("offline-home");
    std::fs::create_dir_all(&home).unwrap();
    let mut cmd = crate::common::attest_command(emu, &home);
    cmd.args(["--insecure-registry", &registry().host])
        .args(args);
    if let Some(p) = password {
        cmd.env("COSIGN_PASSWORD", p);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The routes the emulator served since the log was last cleared.
fn google_routes(emu: &Emulator) -> Vec<String> {
    emu.ok("GET", "emulator/requests", None)["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["route"].as_str().map(str::to_string))
        .collect()
}

/// Writes to the test registry under `repo` so far.
fn registry_writes(repo: &str) -> usize {
    let reg = registry();
    ["PUT", "POST", "PATCH", "DELETE"]
        .iter()
        .map(|m| reg.requests_to(m, &format!("/v2/{repo}/")))
        .sum()
}

/// `HOST/repo:v1` -> (`repo`, its digest now).
fn repo_and_digest(image: &str) -> (String, String) {
    let (repo, _) = image.split_once('/').unwrap().1.rsplit_once(':').unwrap();
    let digest = registry().head_manifest(repo, "v1").1.unwrap();
    (repo.to_string(), digest)
}

/// The one bundle referrer of `digest` in `repo` (through the referrers tag index).
fn bundle_of(repo: &str, digest: &str) -> Vec<u8> {
    let index = registry_json(
        &format!("/v2/{repo}/manifests/{}", digest.replace(':', "-")),
        "application/vnd.oci.image.index.v1+json",
    )
    .expect("the referrers tag index");
    let entry = &index["manifests"][0];
    let manifest = registry_json(
        &format!("/v2/{repo}/manifests/{}", entry["digest"].as_str().unwrap()),
        "application/vnd.oci.image.manifest.v1+json",
    )
    .unwrap();
    registry_blob(repo, manifest["layers"][0]["digest"].as_str().unwrap())
}

fn verify_cosign_key(emu: &Emulator, image: &str, key: &Path) -> (i32, Value) {
    let (code, stdout, stderr) = attest_offline(
        emu,
        None,
        &[
            "verify",
            image,
            "--cosign-key",
            key.to_str().unwrap(),
            "--output=json",
        ],
    );
    let verdicts = serde_json::from_str(&stdout)
        .unwrap_or_else(|_| panic!("verify printed no JSON: {stdout} {stderr}"));
    (code, verdicts)
}

#[test]
fn a_cosign_generated_key_signs_without_an_attestor_and_cosign_accepts_both_forms() {
    let emu = google("");
    let dir = emu.dir.path();
    let (key, public) = key_pair(dir, "pair");
    let image = push("cosigncli/keyfile", Format::Oci);
    let (repo, digest) = repo_and_digest(&image);
    emu.ok("DELETE", "emulator/requests", None);

    let sign = |password: Option<&str>, extra: &[&str]| {
        let mut args = vec!["sign", &image, "--cosign", "--output=json"];
        args.extend(extra);
        attest_offline(&emu, password, &args)
    };
    let key_flag = ["--cosign-private-key", key.to_str().unwrap()];
    let (code, stdout, stderr) = sign(Some(PASSWORD), &key_flag);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let outcome: Value = serde_json::from_str::<Value>(&stdout).unwrap()[0].clone();
    assert_eq!(outcome["status"], "created", "{outcome}");
    assert_eq!(outcome["attestation"], "", "no attestation: {outcome}");
    assert_eq!(
        outcome["cosign_signature"]
            .as_str()
            .unwrap()
            .split(',')
            .count(),
        2,
        "{outcome}"
    );
    // Nothing Google: no Binary Authorization, no Container Analysis, no call at all.
    assert_eq!(google_routes(&emu), Vec::<String>::new());
    assert!(!stderr.contains(PASSWORD) && !stdout.contains(PASSWORD));

    // cosign 2.5 accepts the .sig, and the DSSE bundle through verify-attestation; sigstore-js
    // and skopeo agree.
    ok(&cosign_verify(dir, &public, &image));
    ok(&cosign_verify_bundle(dir, &public, &image));
    let pem = std::fs::read_to_string(&public).unwrap();
    let verified = sigstore_js_verifies(dir, &bundle_of(&repo, &digest), &pem).unwrap();
    assert_eq!(verified["payloadType"], "application/vnd.in-toto+json");
    skopeo_accepts(dir, &image, &pem).unwrap();
    // Another key's pair refuses.
    let (_, other_public) = key_pair(dir, "other");
    assert!(!cosign_verify(dir, &other_public, &image).status.success());
    assert!(!cosign_verify_bundle(dir, &other_public, &image)
        .status
        .success());

    // A rerun finds both and writes nothing.
    let writes = registry_writes(&repo);
    let (code, stdout, stderr) = sign(Some(PASSWORD), &key_flag);
    assert_eq!(code, 0, "{stderr}");
    let again: Value = serde_json::from_str::<Value>(&stdout).unwrap()[0].clone();
    assert_eq!(again["status"], "existing", "{again}");
    assert_eq!(again["cosign_signature"], outcome["cosign_signature"]);
    assert_eq!(registry_writes(&repo), writes);

    // A wrong password: exit 2, named, nothing written.
    let image2 = push("cosigncli/wrongpass", Format::Oci);
    let repo2 = repo_and_digest(&image2).0;
    let before = registry_writes(&repo2);
    let (code, stdout, stderr) = attest_offline(
        &emu,
        Some("wrong password!"),
        &[
            "sign",
            &image2,
            "--cosign",
            "--cosign-private-key",
            key.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 2, "{stdout}{stderr}");
    assert!(
        stderr.contains("does not open with the password from COSIGN_PASSWORD")
            && stderr.contains(key.to_str().unwrap()),
        "{stderr}"
    );
    assert!(!stderr.contains("wrong password!"), "the password leaked");
    assert_eq!(registry_writes(&repo2), before, "something was written");
    // No password at all: named too.
    let (code, _, stderr) = attest_offline(
        &emu,
        None,
        &[
            "sign",
            &image2,
            "--cosign",
            "--cosign-private-key",
            key.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("COSIGN_PASSWORD"), "{stderr}");

    // The older label, and the password from a file (as a k8s Secret's cosign.password).
    let relabelled = dir.join("cosign-old.key");
    std::fs::write(
        &relabelled,
        std::fs::read_to_string(&key)
            .unwrap()
            .replace("SIGSTORE PRIVATE KEY", "COSIGN PRIVATE KEY"),
    )
    .unwrap();
    let password_file = dir.join("cosign.password");
    std::fs::write(&password_file, PASSWORD).unwrap();
    let (code, stdout, stderr) = attest_offline(
        &emu,
        None,
        &[
            "sign",
            &image2,
            "--cosign=sig",
            "--cosign-private-key",
            relabelled.to_str().unwrap(),
            "--cosign-password-file",
            password_file.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
    ok(&cosign_verify(dir, &public, &image2));
    assert_eq!(google_routes(&emu), Vec::<String>::new());
}

#[test]
fn what_cosign_signs_our_verify_accepts_and_a_tampered_image_fails_both() {
    let emu = google("");
    let dir = emu.dir.path();
    let (key, public) = key_pair(dir, "pair");
    let image = push("cosigncli/bycosign", Format::Oci);
    let (repo, digest) = repo_and_digest(&image);
    let pinned = format!("{}/{repo}@{digest}", registry().host);
    ok(&cosign(
        dir,
        Some(PASSWORD),
        &[
            "sign",
            "--key",
            key.to_str().unwrap(),
            "--tlog-upload=false",
            "--allow-insecure-registry",
            "--allow-http-registry",
            "--yes",
            &pinned,
        ],
    ));
    let (code, verdicts) = verify_cosign_key(&emu, &image, &public);
    assert_eq!(code, 0, "{verdicts}");
    assert_eq!(verdicts[0]["verified"], true, "{verdicts}");
    let (_, other_public) = key_pair(dir, "other");
    let (code, verdicts) = verify_cosign_key(&emu, &image, &other_public);
    assert_eq!(code, 5, "{verdicts}");

    // Ours too, then the tag moves to new content: both refuse the tag now.
    let ours = push("cosigncli/tampered", Format::Oci);
    let (code, stdout, stderr) = attest_offline(
        &emu,
        Some(PASSWORD),
        &[
            "sign",
            &ours,
            "--cosign",
            "--cosign-private-key",
            key.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
    ok(&cosign_verify(dir, &public, &ours));
    for tampered in [&image, &ours] {
        let (repo, before) = repo_and_digest(tampered);
        let layout = Layout::image(&format!("{repo} tampered"));
        registry().push(layout.path(), &format!("{repo}:v1"), Format::Oci);
        assert_ne!(repo_and_digest(tampered).1, before, "the tag moved");
        let refused = cosign_verify(dir, &public, tampered);
        assert!(!refused.status.success(), "cosign accepted {tampered}");
        let (code, verdicts) = verify_cosign_key(&emu, tampered, &public);
        assert_eq!(code, 5, "{verdicts}");
        assert!(
            verdicts[0]["reason"]
                .as_str()
                .unwrap()
                .contains("no cosign signature"),
            "{verdicts}"
        );
    }
}

#[test]
fn a_bundle_cosign_attest_wrote_is_read_by_our_verify() {
    let emu = google("");
    let dir = emu.dir.path();
    let (key, public) = key_pair(dir, "pair");
    let image = push("cosigncli/attested", Format::Oci);
    let (repo, digest) = repo_and_digest(&image);
    let predicate = dir.join("predicate.json");
    std::fs::write(&predicate, "{}").unwrap();
    ok(&cosign(
        dir,
        Some(PASSWORD),
        &[
            "attest",
            "--new-bundle-format",
            "--key",
            key.to_str().unwrap(),
            "--type",
            SIGN_PREDICATE,
            "--predicate",
            predicate.to_str().unwrap(),
            "--tlog-upload=false",
            "--allow-insecure-registry",
            "--allow-http-registry",
            "--yes",
            &format!("{}/{repo}@{digest}", registry().host),
        ],
    ));
    let (code, verdicts) = verify_cosign_key(&emu, &image, &public);
    assert_eq!(code, 0, "{verdicts}");
    let checked = verdicts[0]["attestations"].as_array().unwrap();
    assert_eq!(checked.len(), 1, "only the bundle: {verdicts}");
    assert_eq!(checked[0]["valid"], true, "{verdicts}");
    let (_, other_public) = key_pair(dir, "other");
    let (code, verdicts) = verify_cosign_key(&emu, &image, &other_public);
    assert_eq!(code, 5, "{verdicts}");
}

#[test]
fn kms_and_pkix_keys_sign_cosign_alone_and_cosign_verifies_with_their_pem() {
    let emu = google("");
    let dir = emu.dir.path();
    // KMS: Google is asked for the key and the signature, and for nothing else.
    let image = push("cosigncli/kms", Format::Oci);
    emu.ok("DELETE", "emulator/requests", None);
    let v = version("ec");
    let (code, stdout, stderr) =
        attest(&emu, &["sign", &image, "--cosign", "--kms-key-version", &v]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let routes = google_routes(&emu);
    assert!(
        !routes.is_empty()
            && routes.iter().all(|r| r.contains("getPublicKey")
                || r.contains("asymmetricSign")
                || r.contains("token")),
        "{routes:?}"
    );
    assert!(!stdout.contains(TOKEN) && !stderr.contains(TOKEN));
    let kms_pub = dir.join("kms.pub");
    std::fs::write(&kms_pub, kms_pem(&emu, "ec")).unwrap();
    ok(&cosign_verify(dir, &kms_pub, &image));
    ok(&cosign_verify_bundle(dir, &kms_pub, &image));

    // A PKIX key file: no Google at all.
    let private = dir.join("local.pem");
    let public = dir.join("local.pub");
    for args in [
        vec![
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            private.to_str().unwrap(),
        ],
        vec![
            "pkey",
            "-in",
            private.to_str().unwrap(),
            "-pubout",
            "-out",
            public.to_str().unwrap(),
        ],
    ] {
        assert!(Command::new("openssl")
            .args(&args)
            .status()
            .unwrap()
            .success());
    }
    let image = push("cosigncli/pkix", Format::Oci);
    emu.ok("DELETE", "emulator/requests", None);
    let (code, stdout, stderr) = attest_offline(
        &emu,
        None,
        &[
            "sign",
            &image,
            "--cosign",
            "--pkix-private-key",
            private.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert_eq!(google_routes(&emu), Vec::<String>::new());
    ok(&cosign_verify(dir, &public, &image));
    ok(&cosign_verify_bundle(dir, &public, &image));
}

#[test]
fn with_an_attestor_a_cosign_key_files_attestations_as_a_pkix_key_does() {
    let emu = google("");
    let dir = emu.dir.path();
    let (key, public) = key_pair(dir, "pair");
    emu.gcloud_ok(&[
        "container",
        "binauthz",
        "attestors",
        "public-keys",
        "add",
        "--attestor=projects/demo/attestors/a1",
        &format!("--pkix-public-key-file={}", public.display()),
        "--pkix-public-key-algorithm=ecdsa-p256-sha256",
    ]);
    let image = push("cosigncli/attestor", Format::Oci);
    let home = dir.join("home-attestor");
    std::fs::create_dir_all(&home).unwrap();
    let run = |args: &[&str]| {
        let out = crate::common::attest_command(&emu, &home)
            .env("GOOGLE_OAUTH_ACCESS_TOKEN", TOKEN)
            .env("COSIGN_PASSWORD", PASSWORD)
            .args(["--insecure-registry", &registry().host])
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, stdout, stderr) = run(&[
        "sign",
        &image,
        "--attestor=projects/demo/attestors/a1",
        "--cosign-private-key",
        key.to_str().unwrap(),
        "--output=json",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let outcome: Value = serde_json::from_str::<Value>(&stdout).unwrap()[0].clone();
    assert_eq!(outcome["status"], "created", "{outcome}");
    assert!(
        outcome["public_key_id"]
            .as_str()
            .unwrap()
            .starts_with("ni:///sha-256;"),
        "{outcome}"
    );
    let (code, stdout, stderr) = run(&[
        "verify",
        &image,
        "--attestor=projects/demo/attestors/a1",
        "--output=json",
    ]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    // An attestor that does not hold the key: refused before anything is written, with the
    // command that adds cosign.pub.
    let (_, other_public) = key_pair(dir, "other");
    let _ = other_public;
    let (other_key, _) = key_pair(dir, "third");
    let (code, _, stderr) = run(&[
        "sign",
        &image,
        "--attestor=projects/demo/attestors/a1",
        "--cosign-private-key",
        other_key.to_str().unwrap(),
    ]);
    assert_eq!(code, 5, "{stderr}");
    assert!(
        stderr.contains("--pkix-public-key-file=cosign.pub"),
        "{stderr}"
    );
}
