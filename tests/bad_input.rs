//! Bad input, one table: every case gets a named error that says what to fix, its documented
//! exit code (README, "Exit codes": 1 local set-up or output, 2 bad input, 3 credentials or
//! permission, 4 not found, 5 denied, 6 remote failure), and the emulator's request log shows
//! no write (no create, update, patch, delete or IAM change) for it.

use crate::common::emulator::{Emulator, TOKEN};
use crate::common::{attest_command, registry, Format};
use crate::sign::{push, version};
use serde_json::{json, Value};
use std::path::Path;

const RING: &str = "projects/demo/locations/global/keyRings/ring/cryptoKeys";

/// Keys that sign, do not, or cannot; an attestor whose note we may not read and one whose
/// note is deleted below; a denied principal; gcloud-style user credentials, whose token
/// endpoint will fail.
fn seed() -> String {
    let ec = version("ec");
    format!(
        "keys:
  - name: {RING}/ec
    algorithm: EC_SIGN_P256_SHA256
  - name: {RING}/untrusted
    algorithm: EC_SIGN_P256_SHA256
  - name: {RING}/disabled
    algorithm: EC_SIGN_P256_SHA256
  - name: {RING}/destroyed
    algorithm: EC_SIGN_P256_SHA256
  - name: {RING}/sym
notes:
  - name: projects/demo/notes/n1
  - name: projects/locked/notes/n2
  - name: projects/demo/notes/gone
attestors:
  - name: projects/demo/attestors/a1
    note: projects/demo/notes/n1
    keyVersions: [{ec}]
  - name: projects/demo/attestors/locked-note
    note: projects/locked/notes/n2
    keyVersions: [{ec}]
  - name: projects/demo/attestors/note-gone
    note: projects/demo/notes/gone
    keyVersions: [{ec}]
deny:
  - principal: user:intruder@example.com
    resource: projects/demo
  - principal: '*'
    resource: projects/locked
authorizedUsers:
  - clientId: cid
    clientSecret: csecret
    refreshToken: rtoken
    principal: user:dev@example.com
"
    )
}

/// Google routes that change state: none may be called for a refused input.
fn writes(emu: &Emulator) -> Vec<String> {
    let log = emu.ok("GET", "emulator/requests", None);
    log["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["route"].as_str())
        .filter(|route| {
            [
                ".create",
                ".patch",
                ".update",
                ".delete",
                ".destroy",
                "setIamPolicy",
                // Artifact Registry: a manifest PUT or any blob upload.
                "manifests.put",
                "registry.uploads.",
            ]
            .iter()
            .any(|w| route.contains(w))
        })
        .map(String::from)
        .collect()
}

/// Runs the binary as a clean CI step would, in `cwd`.
fn run(emu: &Emulator, cwd: &Path, args: &[String], env: &[(String, String)]) -> (i32, String) {
    let home = emu.dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let mut cmd = attest_command(emu, &home);
    cmd.current_dir(cwd).args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

/// A KMS key version, made unable to sign through the KMS API itself.
fn disable(emu: &Emulator, key: &str) -> String {
    let v = version(key);
    emu.ok(
        "PATCH",
        &format!("v1/{v}?updateMask=state"),
        Some(&json!({"state": "DISABLED"})),
    );
    v
}

#[test]
fn every_bad_input_is_named_with_its_exit_code_and_writes_nothing() {
    let emu = Emulator::start(&seed());
    let disabled = disable(&emu, "disabled");
    let destroyed = version("destroyed");
    emu.ok("POST", &format!("v1/{destroyed}:destroy"), Some(&json!({})));
    emu.ok("DELETE", "v1/projects/demo/notes/gone", None);
    emu.ok(
        "POST",
        "emulator/tokens",
        Some(&json!({"token": "intruder-token", "principal": "user:intruder@example.com"})),
    );

    let dir = emu.dir.path().join("bad-input");
    std::fs::create_dir_all(&dir).unwrap();
    let file = |name: &str, text: &str| -> String {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_string()
    };
    let empty_list = file("empty.txt", "# nothing here\n\n");
    let bad_list = file("bad-list.txt", "not a reference at all\n");
    let not_json = file("adc-not-json.json", "this is not JSON");
    let empty_token = file("empty-token", "\n");
    let not_a_key = file("not-a-key.pem", "hello, I am not a key\n");
    let encrypted = dir.join("encrypted.pem");
    let made = std::process::Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ])
        .args(["-aes256", "-pass", "pass:secret", "-out"])
        .arg(&encrypted)
        .status()
        .expect("openssl is required by this test");
    assert!(made.success());
    let encrypted = encrypted.to_str().unwrap().to_string();
    // gcloud's user credentials: each token is minted at the token endpoint, which will keep
    // answering 503.
    let user_adc = file(
        "user.json",
        &json!({"type": "authorized_user", "client_id": "cid", "client_secret": "csecret",
                "refresh_token": "rtoken", "token_uri": format!("{}token", emu.url)})
        .to_string(),
    );
    let read_only = dir.join("read-only");
    std::fs::create_dir_all(&read_only).unwrap();

    let host = registry().host.clone();
    let image = push("bad/input", Format::Oci);
    let digest = format!("sha256:{}", "a".repeat(64));
    let ec = version("ec");
    let a1 = "projects/demo/attestors/a1";
    // `sign IMAGE --attestor A --kms-key-version K` with the test registry allowed on HTTP.
    let sign = |image: &str, attestor: &str, key: &str| -> Vec<String> {
        strings(&[
            "--insecure-registry",
            &host,
            "sign",
            image,
            "--attestor",
            attestor,
            "--kms-key-version",
            key,
        ])
    };
    let with = |mut args: Vec<String>, extra: &[&str]| -> Vec<String> {
        args.extend(strings(extra));
        args
    };
    let token = vec![("GOOGLE_OAUTH_ACCESS_TOKEN".to_string(), TOKEN.to_string())];
    let env = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .chain(token.clone())
            .collect()
    };
    let no_token = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let ok_sign = sign(&image, a1, &ec);

    type Case = (
        &'static str,
        Vec<String>,
        Vec<(String, String)>,
        i32,
        String,
    );
    let case = |name, args, env, code, says: &str| -> Case { (name, args, env, code, says.into()) };
    let cases: Vec<Case> = vec![
        // Image references (https://github.com/distribution/reference grammar, OCI digests).
        case(
            "not a reference",
            sign("Not A Reference", a1, &ec),
            env(&[]),
            2,
            "invalid image reference `Not A Reference`",
        ),
        case(
            "upper-case repository",
            sign(&format!("{host}/bad/Upper:v1"), a1, &ec),
            env(&[]),
            2,
            "invalid image reference",
        ),
        case(
            "digest too short",
            sign(&format!("{host}/bad/input@sha256:abc"), a1, &ec),
            env(&[]),
            2,
            "digest `sha256:abc`: sha256 needs 64 hex digits, found 3",
        ),
        case(
            "digest in upper case",
            sign(
                &format!("{host}/bad/input@sha256:{}", "A".repeat(64)),
                a1,
                &ec,
            ),
            env(&[]),
            2,
            "hex digits must be lowercase",
        ),
        case(
            "unknown digest algorithm",
            sign(&format!("{host}/bad/input@md5:{}", "a".repeat(32)), a1, &ec),
            env(&[]),
            2,
            "digest `md5:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa`: algorithm `md5` is not supported",
        ),
        case(
            "tag too long",
            sign(&format!("{host}/bad/input:{}", "t".repeat(129)), a1, &ec),
            env(&[]),
            2,
            "invalid image reference",
        ),
        case(
            "empty tag",
            sign(&format!("{host}/bad/input:"), a1, &ec),
            env(&[]),
            2,
            "invalid image reference",
        ),
        case(
            "empty reference",
            sign("", a1, &ec),
            env(&[]),
            2,
            "invalid image reference",
        ),
        case(
            "unknown tag",
            sign(&format!("{host}/bad/input:missing"), a1, &ec),
            env(&[]),
            4,
            "was not found",
        ),
        case(
            "unknown repository",
            sign(&format!("{host}/nothing/here:v1"), a1, &ec),
            env(&[]),
            4,
            "was not found",
        ),
        case(
            "digest the registry does not hold",
            sign(&format!("{host}/bad/input@{digest}"), a1, &ec),
            env(&[]),
            4,
            "was not found",
        ),
        case(
            "plain-HTTP registry not allowed",
            strings(&["sign", &image, "--attestor", a1, "--kms-key-version", &ec]),
            env(&[]),
            6,
            "--insecure-registry",
        ),
        // Attestor names: projects/P/attestors/A, or A with --attestor-project.
        case(
            "bare attestor id",
            sign(&image, "a1", &ec),
            env(&[]),
            2,
            "invalid attestor `a1`",
        ),
        case(
            "a note where the attestor goes",
            sign(&image, "projects/demo/notes/n1", &ec),
            env(&[]),
            2,
            "invalid attestor",
        ),
        case(
            "attestor name cut short",
            sign(&image, "projects/demo/attestors/", &ec),
            env(&[]),
            2,
            "invalid attestor",
        ),
        case(
            "attestor project contradicts the full name",
            with(ok_sign.clone(), &["--attestor-project", "other"]),
            env(&[]),
            2,
            "not --attestor-project other",
        ),
        case(
            "attestor that does not exist",
            sign(&image, "projects/demo/attestors/nobody", &ec),
            env(&[]),
            4,
            "attestor projects/demo/attestors/nobody was not found",
        ),
        case(
            "attestor's note in a project we cannot read",
            sign(&image, "projects/demo/attestors/locked-note", &ec),
            env(&[]),
            3,
            "permission denied",
        ),
        case(
            "attestor's note deleted",
            sign(&image, "projects/demo/attestors/note-gone", &ec),
            env(&[]),
            4,
            "note projects/demo/notes/gone",
        ),
        // KMS keys: an ENABLED ASYMMETRIC_SIGN version the attestor trusts.
        case(
            "key version name malformed",
            sign(&image, a1, "projects/demo/keys/k"),
            env(&[]),
            2,
            "invalid KMS key version",
        ),
        case(
            "key without a version",
            sign(&image, a1, &format!("gcpkms://{RING}/ec")),
            env(&[]),
            2,
            "invalid KMS key version",
        ),
        case(
            "symmetric ENCRYPT_DECRYPT key",
            sign(&image, a1, &version("sym")),
            env(&[]),
            2,
            "cannot sign attestations",
        ),
        case(
            "disabled key version",
            sign(&image, a1, &disabled),
            env(&[]),
            2,
            "cannot sign attestations",
        ),
        case(
            "destroyed key version",
            sign(&image, a1, &destroyed),
            env(&[]),
            2,
            "cannot sign attestations",
        ),
        case(
            "key version that does not exist",
            sign(&image, a1, &version("gone")),
            env(&[]),
            4,
            "was not found",
        ),
        case(
            "key the attestor does not trust",
            sign(&image, a1, &version("untrusted")),
            env(&[]),
            5,
            "public-keys add",
        ),
        // Image lists.
        case(
            "images file with no image",
            strings(&[
                "sign",
                "--images-file",
                &empty_list,
                "--attestor",
                a1,
                "--kms-key-version",
                &ec,
            ]),
            env(&[]),
            2,
            &format!("--images-file {empty_list} lists none"),
        ),
        case(
            "images file missing",
            strings(&[
                "sign",
                "--images-file",
                "/nonexistent/images.txt",
                "--attestor",
                a1,
                "--kms-key-version",
                &ec,
            ]),
            env(&[]),
            2,
            "/nonexistent/images.txt",
        ),
        case(
            "images file with a bad line",
            strings(&[
                "sign",
                "--images-file",
                &bad_list,
                "--attestor",
                a1,
                "--kms-key-version",
                &ec,
            ]),
            env(&[]),
            2,
            "not a reference at all",
        ),
        case(
            "no image at all",
            strings(&["sign", "--attestor", a1, "--kms-key-version", &ec]),
            env(&[]),
            2,
            "no images to sign: pass IMAGE arguments",
        ),
        // Credentials.
        case(
            "credentials file that is not JSON",
            ok_sign.clone(),
            no_token(&[("GOOGLE_APPLICATION_CREDENTIALS", &not_json)]),
            3,
            &format!("GOOGLE_APPLICATION_CREDENTIALS names {not_json}: cannot parse the credentials file"),
        ),
        case(
            "credentials file missing",
            ok_sign.clone(),
            no_token(&[("GOOGLE_APPLICATION_CREDENTIALS", "/nonexistent/adc.json")]),
            3,
            "credentials file /nonexistent/adc.json",
        ),
        case(
            "access token file missing",
            with(
                ok_sign.clone(),
                &["--access-token-file", "/nonexistent/token"],
            ),
            no_token(&[]),
            2,
            "/nonexistent/token",
        ),
        case(
            "access token file empty",
            with(ok_sign.clone(), &["--access-token-file", &empty_token]),
            no_token(&[]),
            2,
            &format!("the access token file {empty_token} is empty"),
        ),
        case(
            "token of a principal denied on the project",
            ok_sign.clone(),
            no_token(&[("GOOGLE_OAUTH_ACCESS_TOKEN", "intruder-token")]),
            3,
            "permission denied",
        ),
        case(
            "token Google rejects",
            ok_sign.clone(),
            no_token(&[("GOOGLE_OAUTH_ACCESS_TOKEN", "expired-token")]),
            3,
            "rejected the credentials",
        ),
        case(
            "no credentials anywhere",
            ok_sign.clone(),
            no_token(&[("GCE_METADATA_HOST", "127.0.0.1:9")]),
            3,
            "no Google credentials",
        ),
        case(
            "token endpoint failing after retries",
            with(ok_sign.clone(), &["--timeout", "20s"]),
            no_token(&[("GOOGLE_APPLICATION_CREDENTIALS", &user_adc)]),
            6,
            "mint an access token",
        ),
        // CI and outputs.
        case(
            "unknown CI",
            with(ok_sign.clone(), &["--ci", "bogus"]),
            env(&[]),
            2,
            "invalid value 'bogus' for --ci",
        ),
        case(
            "GitLab outputs file in a missing directory",
            with(
                ok_sign.clone(),
                &["--outputs-file", "/nonexistent/dir/out.env"],
            ),
            env(&[("GITLAB_CI", "true")]),
            1,
            "/nonexistent/dir/out.env cannot be written",
        ),
        case(
            "GitHub output file not writable",
            ok_sign.clone(),
            env(&[
                ("GITHUB_ACTIONS", "true"),
                ("GITHUB_OUTPUT", read_only.to_str().unwrap()),
            ]),
            1,
            "cannot be written",
        ),
        case(
            "commit status outside GitHub",
            with(ok_sign.clone(), &["--github-status"]),
            env(&[]),
            2,
            "--github-status needs GITHUB_REPOSITORY",
        ),
        // Flags that contradict or are out of range.
        case(
            "two signing keys",
            with(ok_sign.clone(), &["--pkix-private-key", &not_a_key]),
            env(&[]),
            2,
            "cannot be used with",
        ),
        case(
            "no signing key",
            strings(&["sign", &image, "--attestor", a1]),
            env(&[]),
            2,
            "--kms-key-version",
        ),
        case(
            "platform not os/arch",
            with(ok_sign.clone(), &["--platform", "linux"]),
            env(&[]),
            2,
            "`linux` is not a platform",
        ),
        case(
            "one platform and all platforms",
            with(
                ok_sign.clone(),
                &["--platform", "linux/amd64", "--all-platforms"],
            ),
            env(&[]),
            2,
            "exclude each other",
        ),
        case(
            "expected digest malformed",
            with(ok_sign.clone(), &["--expect-digest", "sha256:1234"]),
            env(&[]),
            2,
            "invalid digest `sha256:1234`",
        ),
        case(
            "zero timeout",
            with(ok_sign.clone(), &["--timeout", "0s"]),
            env(&[]),
            2,
            "invalid value '0s' for --timeout",
        ),
        case(
            "zero concurrency",
            with(ok_sign.clone(), &["--concurrency", "0"]),
            env(&[]),
            2,
            "invalid value '0' for --concurrency",
        ),
        case(
            "unknown flag",
            with(ok_sign.clone(), &["--sign-harder"]),
            env(&[]),
            2,
            "--sign-harder",
        ),
        // Local key files.
        case(
            "key file that is not a key",
            strings(&[
                "--insecure-registry",
                &host,
                "sign",
                &image,
                "--attestor",
                a1,
                "--pkix-private-key",
                &not_a_key,
            ]),
            env(&[]),
            2,
            "not-a-key.pem",
        ),
        case(
            "encrypted key file",
            strings(&[
                "--insecure-registry",
                &host,
                "sign",
                &image,
                "--attestor",
                a1,
                "--pkix-private-key",
                &encrypted,
            ]),
            env(&[]),
            2,
            &format!("--pkix-private-key {encrypted}: is encrypted"),
        ),
        case(
            "key file missing",
            strings(&[
                "--insecure-registry",
                &host,
                "sign",
                &image,
                "--attestor",
                a1,
                "--pkix-private-key",
                "/nonexistent/key.pem",
            ]),
            env(&[]),
            2,
            "/nonexistent/key.pem",
        ),
        // Other commands.
        case(
            "verify with a malformed attestor",
            strings(&[
                "--insecure-registry",
                &host,
                "verify",
                &image,
                "--attestor",
                "projects/demo/a1",
            ]),
            env(&[]),
            2,
            "invalid attestor",
        ),
        case(
            "verify with an attestor project that contradicts the full name",
            strings(&[
                "--insecure-registry",
                &host,
                "verify",
                &image,
                "--attestor",
                a1,
                "--attestor-project",
                "other",
            ]),
            env(&[]),
            2,
            "not --attestor-project other",
        ),
        case(
            "payload of a tag",
            strings(&["payload", &format!("{host}/bad/input:v1")]),
            env(&[]),
            2,
            "has no digest",
        ),
        case(
            "digest --compare with one image",
            strings(&["--insecure-registry", &host, "digest", "--compare", &image]),
            env(&[]),
            2,
            "digest --compare takes two images",
        ),
    ];
    assert!(cases.len() >= 40, "the table has {} cases", cases.len());

    emu.ok(
        "POST",
        "emulator/faults",
        Some(&json!({"route": "oauth2.token", "status": 503})),
    );
    emu.ok("POST", "emulator/reset", None);
    let mut failures = Vec::new();
    // The other registry's writes to the repositories these cases name, from its access log
    // (a manifest PUT, a blob upload); other tests write their own repositories meanwhile.
    let registry_writes = || {
        let mut writes = 0;
        for method in ["PUT", "POST", "PATCH"] {
            for repo in ["/v2/bad/", "/v2/nothing/"] {
                writes += registry().requests_to(method, repo);
            }
        }
        writes
    };
    // Files in the working directory (outputs, pinned manifests, temporaries): none new.
    let files = || {
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    for (name, args, env, code, says) in &cases {
        let (files_before, registry_before) = (files(), registry_writes());
        let (got, text) = run(&emu, &dir, args, env);
        let new_files: Vec<String> = files()
            .into_iter()
            .filter(|f| !files_before.contains(f))
            .collect();
        if !new_files.is_empty() {
            failures.push(format!("{name}: left files {new_files:?}"));
        }
        if registry_writes() != registry_before {
            failures.push(format!("{name}: wrote to the registry"));
        }
        if got != *code || !text.contains(says.as_str()) {
            failures.push(format!(
                "{name}: exit {got} (want {code}), want {says:?} in:\n{text}"
            ));
        }
        let written = writes(&emu);
        if !written.is_empty() {
            failures.push(format!("{name}: wrote {written:?}"));
            emu.ok("POST", "emulator/reset", None);
        }
        // Under GitHub Actions the token's one appearance is the line that masks it.
        let leaked = text
            .lines()
            .any(|l| l.contains(TOKEN) && !l.starts_with("::add-mask::"));
        assert!(!leaked, "{name}: the token leaked");
    }
    let filed: Value = emu.ok("GET", "v1/projects/demo/occurrences", None);
    if let Some(filed) = filed["occurrences"].as_array().filter(|f| !f.is_empty()) {
        failures.push(format!("{} attestations were filed", filed.len()));
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases wrong:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}
