//! `sign --pae` and `sign --cosign` / `verify --cosign-key`, judged by verifiers nobody here
//! wrote: openssl over DSSE bytes the test builds itself, skopeo 1.18's sigstoreSigned policy
//! (containers/image) for the `.sig` tag, and sigstore-js for the sigstore bundle.

use crate::common::emulator::{openssl_verifies, unb64, Emulator};
use crate::common::{registry, Format};
use crate::sign::{attest, google, occurrences, push, sign_ok, version};
use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;

/// The DSSE pre-authentication encoding, written here from the DSSE protocol document
/// (https://github.com/secure-systems-lab/dsse/blob/master/protocol.md), not from our code.
fn dsse_pae(payload_type: &str, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(b"DSSEv1 ");
    out.extend_from_slice(payload_type.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload_type.as_bytes());
    out.push(b' ');
    out.extend_from_slice(body.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(body);
    out
}

/// The emulator's KMS public key of `key`.
pub(crate) fn kms_pem(emu: &Emulator, key: &str) -> String {
    emu.ok("GET", &format!("v1/{}/publicKey", version(key)), None)["pem"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn pae_signatures_cover_the_dsse_encoding_of_the_raw_payload_and_verify_accepts_them() {
    let emu = google("");
    let pem = kms_pem(&emu, "ec");
    for (repo, dsse_type) in [
        ("pae/default", None),
        ("pae/custom", Some("application/vnd.example.custom+json")),
    ] {
        let image = push(repo, Format::Oci);
        let mut extra = vec!["--pae", "--output=json"];
        let flag;
        if let Some(t) = dsse_type {
            flag = format!("--dsse-type={t}");
            extra.push(&flag);
        }
        let outcome = sign_ok(&emu, &image, "ec", &extra);
        assert_eq!(outcome["status"], "created", "{outcome}");
        let occurrence = occurrences(&emu, "demo")
            .into_iter()
            .find(|o| o["name"] == outcome["attestation"])
            .expect("the occurrence");
        let attestation = &occurrence["attestation"];
        let payload = unb64(attestation["serializedPayload"].as_str().unwrap());
        // The stored payload stays raw: the simple-signing JSON naming the image.
        let text = String::from_utf8(payload.clone()).unwrap();
        assert!(
            text.contains("\"type\": \"Google cloud binauthz container signature\"")
                && text.contains(outcome["digest"].as_str().unwrap()),
            "{text}"
        );
        let signature = unb64(attestation["signatures"][0]["signature"].as_str().unwrap());
        let t = dsse_type.unwrap_or("application/vnd.dev.cosign.simplesigning.v1+json");
        let dir = emu.dir.path();
        assert!(openssl_verifies(
            dir,
            "sha256",
            &pem,
            &dsse_pae(t, &payload),
            &signature,
            false
        ));
        assert!(!openssl_verifies(
            dir, "sha256", &pem, &payload, &signature, false
        ));

        // A rerun finds it (no second occurrence).
        let again = sign_ok(&emu, &image, "ec", &extra);
        assert_eq!(again["status"], "existing", "{again}");
        if dsse_type.is_none() {
            // verify accepts gcloud's default DSSE type.
            let (code, stdout, stderr) = attest(
                &emu,
                &[
                    "verify",
                    &image,
                    "--attestor=projects/demo/attestors/a1",
                    "--output=json",
                ],
            );
            assert_eq!(code, 0, "{stdout}{stderr}");
        }
    }
}

/// Where `.ci/install-sigstore-verifiers` puts the verifiers (BINAUTHZ_VERIFIERS_PREFIX there
/// and here moves them).
pub(crate) fn verifiers_prefix() -> std::path::PathBuf {
    std::env::var_os("BINAUTHZ_VERIFIERS_PREFIX")
        .map(Into::into)
        .unwrap_or_else(|| "/usr/local/lib/binauthz-attest".into())
}

/// skopeo 1.18 with sigstore enabled; fails loudly when it is not installed.
fn skopeo_sigstore() -> std::path::PathBuf {
    let path = verifiers_prefix().join("skopeo-sigstore/skopeo");
    let works = Command::new(&path)
        .arg("--version")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).starts_with("skopeo version 1.1"));
    assert!(
        works,
        "{} (skopeo 1.18 with sigstore) is required: run .ci/install-sigstore-verifiers",
        path.display()
    );
    path
}

/// sigstore-js's node_modules; fails loudly when it is not installed.
fn sigstore_js() -> std::path::PathBuf {
    let modules = verifiers_prefix().join("sigstore-js/node_modules");
    assert!(
        modules.join("@sigstore/verify/package.json").is_file(),
        "{} (npm @sigstore/verify) is required: run .ci/install-sigstore-verifiers",
        modules.display()
    );
    modules
}

/// `skopeo copy` of `image` out of the registry under a policy requiring a sigstore signature
/// by `key_pem` (containers/image's `sigstoreSigned`, reading the `.sig` tag through
/// `use-sigstore-attachments`); `Err(stderr)` when refused.
pub(crate) fn skopeo_accepts(dir: &Path, image: &str, key_pem: &str) -> Result<(), String> {
    let key = dir.join("policy-key.pem");
    std::fs::write(&key, key_pem).unwrap();
    let policy = dir.join("policy.json");
    let requirement = json!([{"type": "sigstoreSigned", "keyPath": key,
        "signedIdentity": {"type": "matchRepository"}}]);
    std::fs::write(
        &policy,
        json!({"default": [{"type": "reject"}], "transports": {"docker": {"": requirement}}})
            .to_string(),
    )
    .unwrap();
    let out_dir = tempfile::tempdir().unwrap();
    let out = Command::new(skopeo_sigstore())
        .arg("--policy")
        .arg(&policy)
        .arg("--registries.d")
        .arg(registries_d(dir))
        .args(["copy", "--quiet", "--src-tls-verify=false"])
        .arg(format!("docker://{image}"))
        .arg(format!("dir:{}", out_dir.path().display()))
        .output()
        .unwrap();
    match out.status.success() {
        true => Ok(()),
        false => Err(String::from_utf8_lossy(&out.stderr).into_owned()),
    }
}

/// A `registries.d` that reads and writes sigstore signatures as attachments (the `.sig` tag).
fn registries_d(dir: &Path) -> std::path::PathBuf {
    let d = dir.join("registries.d");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(
        d.join("default.yaml"),
        "default-docker:\n  use-sigstore-attachments: true\n",
    )
    .unwrap();
    d
}

/// GET of a registry path on Debian's docker-registry, as JSON (None on 404).
pub(crate) fn registry_json(path: &str, accept: &str) -> Option<Value> {
    let url = format!("http://{}{path}", registry().host);
    match ureq::get(&url).set("Accept", accept).call() {
        Ok(r) => Some(serde_json::from_str(&r.into_string().unwrap()).unwrap()),
        Err(ureq::Error::Status(404, _)) => None,
        Err(e) => panic!("GET {url}: {e}"),
    }
}

pub(crate) fn registry_blob(repo: &str, digest: &str) -> Vec<u8> {
    let url = format!("http://{}/v2/{repo}/blobs/{digest}", registry().host);
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut ureq::get(&url).call().unwrap().into_reader(), &mut out)
        .unwrap();
    out
}

/// The `.sig` manifest of `digest` in `repo`.
fn sig_manifest(repo: &str, digest: &str) -> Option<Value> {
    let tag = format!("{}.sig", digest.replace(':', "-"));
    registry_json(
        &format!("/v2/{repo}/manifests/{tag}"),
        "application/vnd.oci.image.manifest.v1+json",
    )
}

fn sign_cosign(emu: &Emulator, image: &str, form: &str) -> Value {
    let flag = format!("--cosign={form}");
    let outcome = sign_ok(emu, image, "ec", &[&flag, "--output=json"]);
    assert!(outcome["cosign_signature"].is_string(), "{outcome}");
    outcome
}

fn verify_cosign(emu: &Emulator, image: &str, key: &str) -> (i32, Value, String) {
    let (code, stdout, stderr) = attest(
        emu,
        &["verify", image, "--cosign-key", key, "--output=json"],
    );
    let verdicts = serde_json::from_str(&stdout).unwrap_or(Value::Null);
    (code, verdicts, stderr)
}

#[test]
fn sig_tag_signatures_satisfy_skopeo_sigstore_policies_and_reruns_add_none() {
    let emu = google("");
    let dir = emu.dir.path();
    let image = push("cosign/sig", Format::Oci);
    let (repo, _) = image.split_once('/').unwrap().1.rsplit_once(':').unwrap();
    let digest = registry().head_manifest(repo, "v1").1.unwrap();
    let (pem, other) = (kms_pem(&emu, "ec"), kms_pem(&emu, "untrusted"));

    let refused = skopeo_accepts(dir, &image, &pem).unwrap_err();
    assert!(
        refused.contains("A signature was required, but no signature exists"),
        "{refused}"
    );

    let outcome = sign_cosign(&emu, &image, "sig");
    let manifest = sig_manifest(repo, &digest).expect("the .sig manifest");
    assert_eq!(
        outcome["cosign_signature"],
        format!(
            "{}/{repo}@{}",
            registry().host,
            registry()
                .head_manifest(repo, &format!("{}.sig", digest.replace(':', "-")))
                .1
                .unwrap()
        )
    );
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 1, "{manifest}");
    assert_eq!(
        layers[0]["mediaType"],
        "application/vnd.dev.cosign.simplesigning.v1+json"
    );
    let payload = registry_blob(repo, layers[0]["digest"].as_str().unwrap());
    let signature = unb64(
        layers[0]["annotations"]["dev.cosignproject.cosign/signature"]
            .as_str()
            .unwrap(),
    );
    assert!(openssl_verifies(
        dir, "sha256", &pem, &payload, &signature, false
    ));
    let payload: Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(
        payload["critical"]["image"]["docker-manifest-digest"],
        digest.as_str()
    );
    assert_eq!(
        payload["critical"]["identity"]["docker-reference"],
        format!("{}/{repo}", registry().host)
    );

    // skopeo 1.18's sigstoreSigned policy: our key accepts, another key refuses.
    skopeo_accepts(dir, &image, &pem).unwrap();
    let refused = skopeo_accepts(dir, &image, &other).unwrap_err();
    assert!(refused.contains("invalid signature"), "{refused}");

    // A rerun finds the signature: no second layer, same manifest.
    let again = sign_cosign(&emu, &image, "sig");
    assert_eq!(again["cosign_signature"], outcome["cosign_signature"]);
    assert_eq!(sig_manifest(repo, &digest).unwrap(), manifest);

    // verify --cosign-key: the PEM file and the KMS key version accept; another key refuses.
    let pub_file = dir.join("cosign.pub");
    std::fs::write(&pub_file, &pem).unwrap();
    let (code, verdicts, stderr) = verify_cosign(&emu, &image, pub_file.to_str().unwrap());
    assert_eq!(code, 0, "{verdicts} {stderr}");
    assert_eq!(verdicts[0]["verified"], true, "{verdicts}");
    let (code, verdicts, stderr) = verify_cosign(&emu, &image, &version("ec"));
    assert_eq!(code, 0, "{verdicts} {stderr}");
    let other_file = dir.join("other.pub");
    std::fs::write(&other_file, &other).unwrap();
    let (code, verdicts, _) = verify_cosign(&emu, &image, other_file.to_str().unwrap());
    assert_eq!(code, 5, "{verdicts}");
    assert!(
        verdicts[0]["reason"]
            .as_str()
            .unwrap()
            .contains("does not verify"),
        "{verdicts}"
    );
}

#[test]
fn a_signature_skopeo_wrote_is_kept_beside_ours_and_verify_checks_both() {
    let emu = google("");
    let dir = emu.dir.path();
    let image = push("cosign/skopeo", Format::Oci);
    let (repo, _) = image.split_once('/').unwrap().1.rsplit_once(':').unwrap();
    let digest = registry().head_manifest(repo, "v1").1.unwrap();
    let skopeo = skopeo_sigstore();
    let passphrase = dir.join("passphrase");
    std::fs::write(&passphrase, "correct horse\n").unwrap();
    let prefix = dir.join("skopeo-key");
    let out = Command::new(&skopeo)
        .args(["generate-sigstore-key", "--output-prefix"])
        .arg(&prefix)
        .arg("--passphrase-file")
        .arg(&passphrase)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new(&skopeo)
        .arg("--insecure-policy")
        .arg("--registries.d")
        .arg(registries_d(dir))
        .args([
            "copy",
            "--quiet",
            "--preserve-digests",
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
        ])
        .arg("--sign-by-sigstore-private-key")
        .arg(prefix.with_extension("private"))
        .arg("--sign-passphrase-file")
        .arg(&passphrase)
        .arg(format!("docker://{image}"))
        .arg(format!("docker://{image}"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let skopeo_pub = prefix.with_extension("pub");
    let skopeo_layer = sig_manifest(repo, &digest).unwrap()["layers"][0].clone();

    sign_cosign(&emu, &image, "sig");
    let layers = sig_manifest(repo, &digest).unwrap()["layers"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(layers.len(), 2, "{layers:?}");
    assert_eq!(
        layers[0], skopeo_layer,
        "skopeo's signature is kept as it was"
    );
    sign_cosign(&emu, &image, "sig");
    assert_eq!(
        sig_manifest(repo, &digest).unwrap()["layers"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // Both keys' signatures hold, for skopeo and for verify --cosign-key.
    let skopeo_pem = std::fs::read_to_string(&skopeo_pub).unwrap();
    skopeo_accepts(dir, &image, &skopeo_pem).unwrap();
    skopeo_accepts(dir, &image, &kms_pem(&emu, "ec")).unwrap();
    let (code, verdicts, stderr) = verify_cosign(&emu, &image, skopeo_pub.to_str().unwrap());
    assert_eq!(code, 0, "{verdicts} {stderr}");
    let (code, verdicts, stderr) = verify_cosign(&emu, &image, &version("ec"));
    assert_eq!(code, 0, "{verdicts} {stderr}");
}

/// sigstore-js's verdict on a bundle with a key: `Ok(payload)` or `Err(its error)`.
pub(crate) fn sigstore_js_verifies(
    dir: &Path,
    bundle: &[u8],
    key_pem: &str,
) -> Result<Value, String> {
    let (b, k) = (dir.join("bundle.json"), dir.join("bundle-key.pem"));
    std::fs::write(&b, bundle).unwrap();
    std::fs::write(&k, key_pem).unwrap();
    let out = Command::new("node")
        .env("NODE_PATH", sigstore_js())
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cosign/verify-bundle.cjs"))
        .arg(&b)
        .arg(&k)
        .output()
        .expect("node is required (Debian package nodejs)");
    match out.status.success() {
        true => Ok(serde_json::from_slice(&out.stdout).unwrap()),
        false => Err(String::from_utf8_lossy(&out.stderr).into_owned()),
    }
}

#[test]
fn bundles_are_referrers_sigstore_js_verifies_with_the_tag_schema_where_there_is_no_api() {
    let emu = google("");
    let dir = emu.dir.path();
    let image = push("cosign/bundle", Format::Oci);
    let (repo, _) = image.split_once('/').unwrap().1.rsplit_once(':').unwrap();
    let digest = registry().head_manifest(repo, "v1").1.unwrap();
    let pem = kms_pem(&emu, "ec");
    let (code, _, _) = verify_cosign(&emu, &image, &version("ec"));
    assert_eq!(code, 5, "no signature yet");

    let outcome = sign_cosign(&emu, &image, "bundle");
    // Debian's docker-registry has no referrers API: the referrers tag lists the referrer.
    assert!(registry_json(&format!("/v2/{repo}/referrers/{digest}"), "*/*").is_none());
    let index_path = format!("/v2/{repo}/manifests/{}", digest.replace(':', "-"));
    let index = registry_json(&index_path, "application/vnd.oci.image.index.v1+json").unwrap();
    let entries = index["manifests"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{index}");
    assert_eq!(
        entries[0]["artifactType"],
        "application/vnd.dev.sigstore.bundle.v0.3+json"
    );
    let referrer = entries[0]["digest"].as_str().unwrap();
    assert_eq!(
        outcome["cosign_signature"],
        format!("{}/{repo}@{referrer}", registry().host)
    );
    let manifest = registry_json(
        &format!("/v2/{repo}/manifests/{referrer}"),
        "application/vnd.oci.image.manifest.v1+json",
    )
    .unwrap();
    assert_eq!(manifest["subject"]["digest"], digest.as_str(), "{manifest}");
    assert_eq!(
        manifest["artifactType"],
        "application/vnd.dev.sigstore.bundle.v0.3+json"
    );
    let bundle = registry_blob(repo, manifest["layers"][0]["digest"].as_str().unwrap());

    // sigstore-js verifies it with the key, and its statement's subject is the digest.
    let verified = sigstore_js_verifies(dir, &bundle, &pem).unwrap();
    assert_eq!(verified["payloadType"], "application/vnd.in-toto+json");
    let statement: Value = serde_json::from_str(verified["payload"].as_str().unwrap()).unwrap();
    assert_eq!(
        statement["predicateType"],
        "https://sigstore.dev/cosign/sign/v1"
    );
    assert_eq!(
        format!(
            "sha256:{}",
            statement["subject"][0]["digest"]["sha256"]
                .as_str()
                .unwrap()
        ),
        digest
    );
    let refused = sigstore_js_verifies(dir, &bundle, &kms_pem(&emu, "untrusted")).unwrap_err();
    assert!(
        refused.contains("VerificationError") && refused.contains("SIGNATURE_ERROR"),
        "{refused}"
    );

    // A rerun finds it; verify --cosign-key accepts it.
    let again = sign_cosign(&emu, &image, "bundle");
    assert_eq!(again["cosign_signature"], outcome["cosign_signature"]);
    let index = registry_json(&index_path, "application/vnd.oci.image.index.v1+json").unwrap();
    assert_eq!(index["manifests"].as_array().unwrap().len(), 1, "{index}");
    // cosign's own way of naming the key works too.
    let gcpkms = format!("gcpkms://{}", version("ec"));
    let (code, verdicts, stderr) = verify_cosign(&emu, &image, &gcpkms);
    assert_eq!(code, 0, "{verdicts} {stderr}");
}

#[test]
fn both_forms_by_default_and_the_emulators_referrers_api_lists_the_bundle() {
    let emu = google("images:\n  - repository: demo/apps/both\n    tag: v1\n");
    let image = format!("{}/demo/apps/both:v1", emu.host());
    let digest = emu.registry_digest("demo/apps/both", "v1");
    let flags = emu.registry_flags();
    let mut args = vec![
        "sign",
        &image,
        "--attestor=projects/demo/attestors/a1",
        "--cosign",
        "--output=json",
    ];
    let v = version("ec");
    args.extend(["--kms-key-version", &v]);
    args.extend(flags.iter().map(String::as_str));
    let (code, stdout, stderr) = attest(&emu, &args);
    assert_eq!(code, 0, "{stderr}");
    let outcome: Value = serde_json::from_str(&stdout).unwrap();
    let stored: Vec<&str> = outcome[0]["cosign_signature"]
        .as_str()
        .unwrap()
        .split(',')
        .collect();
    assert_eq!(stored.len(), 2, "{outcome}");
    let referrers = emu.ok(
        "GET",
        &format!("v2/demo/apps/both/referrers/{digest}?artifactType=application/vnd.dev.sigstore.bundle.v0.3%2Bjson"),
        None,
    );
    let listed = referrers["manifests"].as_array().unwrap();
    assert_eq!(listed.len(), 1, "{referrers}");
    assert!(
        stored[1].ends_with(listed[0]["digest"].as_str().unwrap()),
        "{stored:?} {referrers}"
    );
    // No referrers tag on a registry that has the API.
    let (status, _) = emu.call(
        "GET",
        &format!("v2/demo/apps/both/manifests/{}", digest.replace(':', "-")),
        None,
    );
    assert_eq!(status, 404);
    let mut verify = vec!["verify", &image, "--cosign-key", &v, "--output=json"];
    verify.extend(flags.iter().map(String::as_str));
    let (code, stdout, stderr) = attest(&emu, &verify);
    assert_eq!(code, 0, "{stdout} {stderr}");
    let verdicts: Value = serde_json::from_str(&stdout).unwrap();
    let checked = verdicts[0]["attestations"].as_array().unwrap();
    assert_eq!(
        checked.iter().filter(|c| c["valid"] == true).count(),
        2,
        "{verdicts}"
    );
}

#[test]
fn verify_with_a_pem_needs_no_google_credentials_and_bad_keys_or_forms_are_named() {
    let emu = google("");
    let dir = emu.dir.path();
    let image = push("cosign/offline", Format::Oci);
    sign_cosign(&emu, &image, "both");
    let public = dir.join("cosign.pub");
    std::fs::write(&public, kms_pem(&emu, "ec")).unwrap();

    // No token, no ADC: a PEM key and a registry that takes no Google token need neither.
    let home = dir.join("offline-home");
    std::fs::create_dir_all(&home).unwrap();
    let out = crate::common::attest_command(&emu, &home)
        .args(["--insecure-registry", &registry().host, "verify", &image])
        .arg("--cosign-key")
        .arg(&public)
        .arg("--output=json")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let verdicts: Value = serde_json::from_str(&stdout).unwrap();
    let checked = verdicts[0]["attestations"].as_array().unwrap();
    assert_eq!(
        checked.iter().filter(|c| c["valid"] == true).count(),
        2,
        "{verdicts}"
    );

    // A private key is not a verification key: exit 2, naming the file, never its content.
    let private = dir.join("private.pem");
    let key = Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ])
        .output()
        .expect("openssl");
    std::fs::write(&private, &key.stdout).unwrap();
    let (code, stdout, stderr) = attest(
        &emu,
        &["verify", &image, "--cosign-key", private.to_str().unwrap()],
    );
    assert_eq!(code, 2, "{stdout}{stderr}");
    assert!(
        stderr.contains(private.to_str().unwrap()) && stderr.contains("PUBLIC KEY"),
        "{stderr}"
    );
    let body = String::from_utf8_lossy(&key.stdout)
        .lines()
        .nth(1)
        .unwrap()
        .to_string();
    assert!(
        !stderr.contains(&body) && !stdout.contains(&body),
        "the key leaked"
    );

    // `--cosign sig IMAGE` would read `sig` as an image: refused before anything is signed.
    let v = version("ec");
    let (code, _, stderr) = attest(
        &emu,
        &[
            "sign",
            "--attestor=projects/demo/attestors/a1",
            "--kms-key-version",
            &v,
            "--cosign",
            "sig",
            &image,
        ],
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("--cosign=sig"), "{stderr}");
}

#[test]
fn a_local_pkix_key_signs_the_attestation_and_both_cosign_forms() {
    let emu = google("");
    let dir = emu.dir.path();
    let private = dir.join("local.pem");
    let key = Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ])
        .output()
        .expect("openssl");
    std::fs::write(&private, &key.stdout).unwrap();
    std::fs::set_permissions(
        &private,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let public = dir.join("local.pub");
    let out = Command::new("openssl")
        .args(["pkey", "-pubout", "-in"])
        .arg(&private)
        .arg("-out")
        .arg(&public)
        .output()
        .unwrap();
    assert!(out.status.success());
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
    let image = push("cosign/pkix", Format::Oci);
    let sign = |extra: &[&str]| {
        let mut args = vec![
            "sign",
            &image,
            "--attestor=projects/demo/attestors/a1",
            "--pkix-private-key",
            private.to_str().unwrap(),
            "--cosign",
            "--output=json",
        ];
        args.extend(extra);
        let (code, stdout, stderr) = attest(&emu, &args);
        assert_eq!(code, 0, "{stderr}");
        let outcome: Value = serde_json::from_str(&stdout).unwrap();
        outcome[0].clone()
    };
    let first = sign(&[]);
    assert_eq!(first["status"], "created", "{first}");
    let pem = std::fs::read_to_string(&public).unwrap();
    skopeo_accepts(dir, &image, &pem).unwrap();
    let (code, verdicts, stderr) = verify_cosign(&emu, &image, public.to_str().unwrap());
    assert_eq!(code, 0, "{verdicts} {stderr}");
    let checked = verdicts[0]["attestations"].as_array().unwrap();
    assert_eq!(
        checked.iter().filter(|c| c["valid"] == true).count(),
        2,
        "{verdicts}"
    );
    let again = sign(&[]);
    assert_eq!(again["status"], "existing", "{again}");
    assert_eq!(again["cosign_signature"], first["cosign_signature"]);
}

#[test]
fn a_rerun_of_both_forms_only_reads_the_registry() {
    let emu = google("");
    let image = push("cosign/rerun", Format::Oci);
    let writes = || {
        let reg = registry();
        ["PUT", "POST", "PATCH", "DELETE"]
            .iter()
            .map(|m| reg.requests_to(m, "/v2/cosign/rerun/"))
            .sum::<usize>()
    };
    let reads = || registry().requests_to("GET", "/v2/cosign/rerun/");
    let (w0, r0) = (writes(), reads());
    let started = std::time::Instant::now();
    let first = sign_cosign(&emu, &image, "both");
    let first_time = started.elapsed();
    let (w1, r1) = (writes(), reads());
    // sig: payload and config blobs (POST + PUT each), the manifest; bundle: its blob, the empty
    // config, the referrer, the referrers tag index.
    assert!(w1 - w0 >= 6, "{} writes", w1 - w0);
    // People reading the text output see where the signatures are.
    let v = version("ec");
    let (code, text, stderr) = attest(
        &emu,
        &[
            "sign",
            &image,
            "--attestor=projects/demo/attestors/a1",
            "--kms-key-version",
            &v,
            "--cosign",
            "--output=text",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    let stored = first["cosign_signature"].as_str().unwrap();
    assert!(
        text.contains(&format!("; cosign signature {stored}")),
        "{text}"
    );
    assert_eq!(writes(), w1, "a rerun wrote to the registry");
    let (w_before, r_before) = (writes(), reads());
    let started = std::time::Instant::now();
    let again = sign_cosign(&emu, &image, "both");
    let again_time = started.elapsed();
    let (w2, r2) = (writes(), reads());
    assert_eq!(w2, w_before, "a rerun wrote to the registry");
    assert_eq!(again["cosign_signature"], first["cosign_signature"]);
    eprintln!(
        "cosign both: first run {} writes, {} GETs, {first_time:?}; rerun 0 writes, {} GETs, {again_time:?}",
        w1 - w0,
        r1 - r0,
        r2 - r_before
    );
}

#[test]
fn the_cosign_signature_reaches_github_outputs_and_tekton_results() {
    let emu = google("");
    let dir = emu.dir.path();
    let image = push("cosign/outputs", Format::Oci);
    let first = sign_cosign(&emu, &image, "sig");
    let stored = first["cosign_signature"].as_str().unwrap().to_string();
    let home = dir.join("ci-home");
    std::fs::create_dir_all(&home).unwrap();
    let github_output = dir.join("github_output");
    std::fs::write(&github_output, "").unwrap();
    let results = dir.join("results");
    std::fs::create_dir_all(&results).unwrap();
    for (ci, var, path) in [
        ("github", "GITHUB_OUTPUT", &github_output),
        ("tekton", "BINAUTHZ_TEKTON_RESULTS_DIR", &results),
    ] {
        let out = crate::common::attest_command(&emu, &home)
            .env("GOOGLE_OAUTH_ACCESS_TOKEN", crate::common::emulator::TOKEN)
            .env(var, path)
            .args([
                "--insecure-registry",
                &registry().host,
                "--ci",
                ci,
                "sign",
                &image,
            ])
            .args(["--attestor=projects/demo/attestors/a1", "--kms-key-version"])
            .arg(version("ec"))
            .arg("--cosign=sig")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{ci}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let text = std::fs::read_to_string(&github_output).unwrap();
    let value = text
        .split("cosign-signature<<")
        .nth(1)
        .and_then(|rest| rest.lines().nth(1))
        .unwrap_or_else(|| panic!("no cosign-signature output: {text}"));
    assert_eq!(value, stored);
    assert_eq!(
        std::fs::read_to_string(results.join("COSIGN_SIGNATURE")).unwrap(),
        stored
    );
}

#[test]
fn gcloud_pae_attestations_with_a_custom_dsse_type_are_what_sign_pae_would_file() {
    let emu = google("images:\n  - repository: demo/apps/pae\n    tag: v1\n");
    let digest = emu.registry_digest("demo/apps/pae", "v1");
    let pinned = format!("{}/demo/apps/pae@{digest}", emu.host());
    let dsse_type = "application/vnd.example.binauthz+json";
    emu.gcloud_ok(&[
        "beta",
        "container",
        "binauthz",
        "attestations",
        "sign-and-create",
        &format!("--artifact-url={pinned}"),
        "--attestor=a1",
        "--attestor-project=demo",
        &format!("--keyversion={}", version("ec")),
        "--pae-encode-payload",
        &format!("--dsse-type={dsse_type}"),
    ]);
    let before = occurrences(&emu, "demo").len();
    let image = format!("{}/demo/apps/pae:v1", emu.host());
    let flags = emu.registry_flags();
    let v = version("ec");
    let dsse_flag = format!("--dsse-type={dsse_type}");
    let mut args = vec![
        "sign",
        &image,
        "--attestor=projects/demo/attestors/a1",
        "--kms-key-version",
        &v,
        "--pae",
        &dsse_flag,
        "--output=json",
    ];
    args.extend(flags.iter().map(String::as_str));
    let (code, stdout, stderr) = attest(&emu, &args);
    assert_eq!(code, 0, "{stderr}");
    let outcome: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(outcome[0]["status"], "existing", "{outcome}");
    assert_eq!(occurrences(&emu, "demo").len(), before);

    // verify accepts it when told the type, and says why not otherwise.
    let mut args = vec![
        "verify",
        &image,
        "--attestor=projects/demo/attestors/a1",
        "--output=json",
    ];
    args.extend(flags.iter().map(String::as_str));
    let (code, stdout, _) = attest(&emu, &args);
    assert_eq!(code, 5, "{stdout}");
    assert!(stdout.contains("does not verify"), "{stdout}");
    args.push(&dsse_flag);
    let (code, stdout, stderr) = attest(&emu, &args);
    assert_eq!(code, 0, "{stdout}{stderr}");
}

#[test]
fn every_platform_signed_gets_its_own_cosign_signature() {
    let emu = google("");
    let image = push("cosign/multi", Format::MultiArch);
    let v = version("ec");
    let (code, stdout, stderr) = attest(
        &emu,
        &[
            "sign",
            &image,
            "--attestor=projects/demo/attestors/a1",
            "--kms-key-version",
            &v,
            "--all-platforms",
            "--cosign=sig",
            "--output=json",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    let outcomes: Value = serde_json::from_str(&stdout).unwrap();
    let outcomes = outcomes.as_array().unwrap();
    assert_eq!(outcomes.len(), 3, "the index and its two platforms");
    for outcome in outcomes {
        let digest = outcome["digest"].as_str().unwrap();
        let manifest = sig_manifest("cosign/multi", digest).expect("a .sig tag per digest");
        let payload = registry_blob(
            "cosign/multi",
            manifest["layers"][0]["digest"].as_str().unwrap(),
        );
        let payload: Value = serde_json::from_slice(&payload).unwrap();
        assert_eq!(
            payload["critical"]["image"]["docker-manifest-digest"],
            digest
        );
    }
    // skopeo checks the signature of the manifest the tag names: the index.
    skopeo_accepts(emu.dir.path(), &image, &kms_pem(&emu, "ec")).unwrap();
}

#[test]
fn oversized_or_missized_signature_layers_are_invalid_the_good_one_holds_and_over_100_are_refused()
{
    let emu = google("");
    let image = push("cosign/bounded", Format::Oci);
    let (repo, _) = image.split_once('/').unwrap().1.rsplit_once(':').unwrap();
    let digest = registry().head_manifest(repo, "v1").1.unwrap();
    sign_cosign(&emu, &image, "sig");
    let tag = format!("{}.sig", digest.replace(':', "-"));
    let mut manifest = sig_manifest(repo, &digest).unwrap();
    let good = manifest["layers"][0].clone();
    let small = registry().put_blob(repo, br#"{"critical":{}}"#);
    let big = registry().put_blob(repo, &vec![b' '; 5 << 20]);
    let layer = |digest: &str, size: u64| {
        let mut l = good.clone();
        l["digest"] = json!(digest);
        l["size"] = json!(size);
        l
    };
    // Declared over the 4 MiB read for a signature; served past it; served, but not the size
    // its descriptor declares.
    let layers = manifest["layers"].as_array_mut().unwrap();
    layers.push(layer(&small, 5 << 20));
    layers.push(layer(&big, 100));
    layers.push(layer(&small, 3));
    let put = |m: &Value| {
        let body = serde_json::to_vec(m).unwrap();
        registry().put_manifest(
            repo,
            &tag,
            "application/vnd.oci.image.manifest.v1+json",
            &body,
        );
    };
    put(&manifest);

    let (code, verdicts, stderr) = verify_cosign(&emu, &image, &version("ec"));
    assert_eq!(
        code, 0,
        "the valid signature still counts: {verdicts} {stderr}"
    );
    let text = verdicts.to_string();
    for reason in [
        "its blob is 5242880 bytes, more than the 4 MiB a signature is read up to",
        "its blob runs past the 4 MiB a signature is read up to",
        "its blob is 15 bytes, but its descriptor says 3",
    ] {
        assert!(text.contains(reason), "{reason}: {text}");
    }

    // More signatures than cosign reads: refused by count, before any blob is fetched.
    let before = registry().requests_to("GET", &format!("/v2/{repo}/blobs/"));
    let layers = manifest["layers"].as_array_mut().unwrap();
    while layers.len() <= 100 {
        layers.push(good.clone());
    }
    put(&manifest);
    let (code, _, stderr) = verify_cosign(&emu, &image, &version("ec"));
    assert_ne!(code, 0, "{stderr}");
    assert!(
        stderr.contains("has 101 layers; at most 100 signatures"),
        "{stderr}"
    );
    assert_eq!(
        registry().requests_to("GET", &format!("/v2/{repo}/blobs/")),
        before
    );
}
