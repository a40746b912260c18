//! Registry credentials as the container tools keep them, against Debian's docker-registry
//! demanding htpasswd Basic auth: `digest`, `sign --source` and `sign --cosign` succeed with the
//! credential in an auth.json (`--registry-auth-file`), in a docker `config.json` (`auths`, found
//! through `DOCKER_CONFIG`), and from a `credHelpers` helper on PATH speaking the
//! docker-credential-helpers protocol; the emulator's Artifact Registry gives the same
//! credential forms its token service (a `Bearer` challenge). Without credentials, or with a
//! broken file or helper, the error names the registry and the file or helper, and nothing is
//! written; no credential byte reaches any output.

use crate::common::emulator::{Emulator, TOKEN};
use crate::common::{
    attest_command, auth_registry, registry, Format, Layout, AUTH_PASSWORD, AUTH_USER,
};
use crate::sign::{google, occurrences, version};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

fn b64(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// The Basic credential of the auth registry, base64 as `auth` holds it.
fn basic_auth() -> String {
    b64(&format!("{AUTH_USER}:{AUTH_PASSWORD}"))
}

/// Pushes a fresh image to the auth registry (and, with `also_plain`, the same bytes to the
/// plain one); returns `HOST/repo:v1` on the auth registry.
fn push_auth(repo: &str, also_plain: bool) -> String {
    let layout = Layout::image(repo);
    auth_registry().push(layout.path(), &format!("{repo}:v1"), Format::Oci);
    if also_plain {
        registry().push(layout.path(), &format!("{repo}:v1"), Format::Oci);
    }
    format!("{}/{repo}:v1", auth_registry().host)
}

/// What one run wrote: exit code, stdout, stderr, and the outputs file.
struct Ran {
    code: i32,
    stdout: String,
    stderr: String,
    outputs: String,
}

/// Runs the binary as a CI step would: both test registries over plain HTTP, the emulator as
/// Google, `setup` run on `dir` (a home directory and a PATH that starts with `dir/bin`).
fn run_in(emu: &Emulator, dir: &Path, args: &[&str], env: &[(&str, String)]) -> Ran {
    let home = dir.join("home");
    std::fs::create_dir_all(&home).unwrap();
    let outputs = dir.join("outputs.json");
    let _ = std::fs::remove_file(&outputs);
    let mut cmd = attest_command(emu, &home);
    cmd.env(
        "PATH",
        format!(
            "{}:{}",
            dir.join("bin").display(),
            std::env::var("PATH").unwrap_or_default()
        ),
    )
    .env("GOOGLE_OAUTH_ACCESS_TOKEN", TOKEN)
    .args(["--insecure-registry", &auth_registry().host])
    .args(["--insecure-registry", &registry().host])
    .arg("--outputs-file")
    .arg(&outputs)
    .args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let ran = Ran {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        outputs: std::fs::read_to_string(&outputs).unwrap_or_default(),
    };
    assert_no_credential(&ran, args);
    ran
}

/// No credential byte in stdout, stderr or the outputs file.
fn assert_no_credential(ran: &Ran, args: &[&str]) {
    for (place, text) in [
        ("stdout", &ran.stdout),
        ("stderr", &ran.stderr),
        ("outputs", &ran.outputs),
    ] {
        for secret in [
            AUTH_PASSWORD.to_string(),
            basic_auth(),
            HELPER_SECRET.into(),
        ] {
            assert!(
                !text.contains(&secret),
                "{args:?}: a credential reached {place}: {text}"
            );
        }
    }
}

/// A secret only the helper knows: the registry password it answers with is AUTH_PASSWORD, and
/// this stands for what a broken helper might print.
const HELPER_SECRET: &str = "h28-SECRET-helper-noise-0b7a3d";

/// Writes `dir/bin/docker-credential-NAME`: a helper speaking the protocol that logs the server
/// URL it was asked for to `dir/NAME.asked` and answers with `answer` (a shell fragment).
fn helper(dir: &Path, name: &str, answer: &str) -> PathBuf {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let path = bin.join(format!("docker-credential-{name}"));
    let asked = dir.join(format!("{name}.asked"));
    std::fs::write(
        &path,
        format!(
            "#!/bin/sh\n[ \"$1\" = get ] || exit 9\nIFS= read -r server || true\n\
             printf '%s\\n' \"$server\" >> '{}'\n{answer}\n",
            asked.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    asked
}

/// The protocol's answer with the auth registry's credential.
fn good_answer() -> String {
    format!(
        "printf '{{\"ServerURL\":\"%s\",\"Username\":\"{AUTH_USER}\",\"Secret\":\"{AUTH_PASSWORD}\"}}' \"$server\""
    )
}

/// The three places a credential can come from, each set up in `dir`: the environment and
/// arguments that point at it.
/// Variables set for a run.
type Env = Vec<(&'static str, String)>;

fn sources(dir: &Path) -> Vec<(&'static str, Env, Vec<String>)> {
    let host = &auth_registry().host;
    let auth_json = dir.join("auth.json");
    std::fs::write(
        &auth_json,
        json!({"auths": {host.as_str(): {"auth": basic_auth()}}}).to_string(),
    )
    .unwrap();
    let docker = dir.join("docker");
    std::fs::create_dir_all(&docker).unwrap();
    std::fs::write(
        docker.join("config.json"),
        json!({"auths": {format!("https://{host}/v1/"): {"username": AUTH_USER, "password": AUTH_PASSWORD}}})
            .to_string(),
    )
    .unwrap();
    let helped = dir.join("helped");
    std::fs::create_dir_all(&helped).unwrap();
    std::fs::write(
        helped.join("config.json"),
        json!({"auths": {host.as_str(): {}}, "credHelpers": {host.as_str(): "h28test"}})
            .to_string(),
    )
    .unwrap();
    helper(dir, "h28test", &good_answer());
    vec![
        (
            "auth.json",
            vec![],
            vec![
                "--registry-auth-file".into(),
                auth_json.display().to_string(),
            ],
        ),
        (
            "config.json auths",
            vec![("DOCKER_CONFIG", docker.display().to_string())],
            vec![],
        ),
        (
            "credHelpers",
            vec![("DOCKER_CONFIG", helped.display().to_string())],
            vec![],
        ),
    ]
}

fn with<'a>(base: &[&'a str], extra: &'a [String]) -> Vec<&'a str> {
    let mut args = base.to_vec();
    args.extend(extra.iter().map(String::as_str));
    args
}

#[test]
fn digest_source_and_cosign_writes_work_with_each_credential_source() {
    let emu = google("");
    let dir = tempfile::tempdir().unwrap();
    let kms = version("ec");
    for (name, env, extra) in sources(dir.path()) {
        let repo = format!("auth/{}", name.replace([' ', '.'], "-").to_lowercase());
        let image = push_auth(&repo, true);
        let served = auth_registry()
            .head_manifest_with_creds(&repo, "v1")
            .expect("the pushed image has a digest");

        // digest
        let ran = run_in(&emu, dir.path(), &with(&["digest", &image], &extra), &env);
        assert_eq!(ran.code, 0, "{name}: digest: {}", ran.stderr);
        assert_eq!(
            ran.stdout,
            format!("{}/{repo}@{served}\n", auth_registry().host),
            "{name}"
        );

        // sign --source: the copy on the plain registry is signed once the protected one,
        // its source, serves the same digest.
        let target = format!("{}/{repo}:v1", registry().host);
        let args = [
            "sign",
            &target,
            "--source",
            &image,
            "--attestor=projects/demo/attestors/a1",
            "--kms-key-version",
            &kms,
            "--output=json",
        ];
        let ran = run_in(&emu, dir.path(), &with(&args, &extra), &env);
        assert_eq!(ran.code, 0, "{name}: sign --source: {}", ran.stderr);
        let outcomes: Value = serde_json::from_str(&ran.stdout).unwrap();
        assert_eq!(outcomes[0]["digest"], served.as_str(), "{name}: {outcomes}");

        // sign --cosign: the `.sig` manifest is written into the protected registry.
        let args = [
            "sign",
            &image,
            "--attestor=projects/demo/attestors/a1",
            "--kms-key-version",
            &kms,
            "--cosign=sig",
            "--output=json",
        ];
        let ran = run_in(&emu, dir.path(), &with(&args, &extra), &env);
        assert_eq!(ran.code, 0, "{name}: sign --cosign: {}", ran.stderr);
        let sig_tag = format!("{}.sig", served.replace(':', "-"));
        assert!(
            auth_registry()
                .head_manifest_with_creds(&repo, &sig_tag)
                .is_some(),
            "{name}: no {sig_tag} in the protected registry"
        );
    }
    // The helper was asked for the registry's host, on stdin (three commands, one run each
    // per command: the lookup is cached within a run).
    let asked = std::fs::read_to_string(dir.path().join("h28test.asked")).unwrap();
    assert!(
        asked.lines().count() >= 3 && asked.lines().all(|l| l == auth_registry().host),
        "{asked}"
    );
}

#[test]
fn without_credentials_the_error_names_the_registry_and_where_to_put_them() {
    let emu = google("");
    let dir = tempfile::tempdir().unwrap();
    let image = push_auth("auth/none", false);
    let host = &auth_registry().host;
    let ran = run_in(&emu, dir.path(), &["digest", &image], &[]);
    assert_eq!(ran.code, 3, "{}", ran.stderr);
    assert!(ran.stderr.contains(host.as_str()), "{}", ran.stderr);
    assert!(ran.stderr.contains("skopeo login"), "{}", ran.stderr);
    assert!(
        ran.stderr.contains("--registry-auth-file"),
        "{}",
        ran.stderr
    );
    // A loopback host may be an Artifact Registry we did not send the Google token to.
    assert!(ran.stderr.contains("--google-registry"), "{}", ran.stderr);
    // A named file without an entry for it: that file is where to put them.
    let empty = dir.path().join("empty.json");
    std::fs::write(&empty, r#"{"auths": {}}"#).unwrap();
    let file = empty.display().to_string();
    let ran = run_in(
        &emu,
        dir.path(),
        &["digest", &image],
        &[("REGISTRY_AUTH_FILE", file.clone())],
    );
    assert_eq!(ran.code, 3, "{}", ran.stderr);
    assert!(ran.stderr.contains(&file), "{}", ran.stderr);
    assert!(ran.stderr.contains("REGISTRY_AUTH_FILE"), "{}", ran.stderr);
    // A wrong password: the registry's refusal names the credential's file and key.
    let wrong = dir.path().join("wrong.json");
    std::fs::write(
        &wrong,
        json!({"auths": {host.as_str(): {"auth": b64(&format!("{AUTH_USER}:not-the-password-123"))}}})
            .to_string(),
    )
    .unwrap();
    let wrong_file = wrong.display().to_string();
    let ran = run_in(
        &emu,
        dir.path(),
        &["digest", &image, "--registry-auth-file", &wrong_file],
        &[],
    );
    assert_eq!(ran.code, 3, "{}", ran.stderr);
    assert!(ran.stderr.contains(&wrong_file), "{}", ran.stderr);
    assert!(
        !ran.stderr.contains("not-the-password-123"),
        "{}",
        ran.stderr
    );
}

#[test]
fn broken_files_and_helpers_are_named_errors_and_nothing_is_written() {
    let emu = google("");
    let dir = tempfile::tempdir().unwrap();
    let image = push_auth("auth/broken", false);
    let host = auth_registry().host.clone();
    let kms = version("ec");
    let config = |name: &str, body: Value| {
        let d = dir.path().join(name);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("config.json"), body.to_string()).unwrap();
        d.display().to_string()
    };
    helper(
        dir.path(),
        "h28fails",
        &format!("echo 'the vault is sealed' >&2; echo '{HELPER_SECRET}' >/dev/null; exit 3"),
    );
    helper(dir.path(), "h28hangs", "exec sleep 600");
    helper(dir.path(), "h28garbage", "echo 'not json'");
    let malformed = dir.path().join("malformed.json");
    std::fs::write(
        &malformed,
        format!("{{\"auths\": {{\"{host}\": {{\"auth\": \"abc"),
    )
    .unwrap();
    // (case, variables, arguments, exit code, what stderr names)
    type Case = (&'static str, Env, Vec<String>, i32, Vec<String>);
    let cases: Vec<Case> = vec![
        (
            "missing helper",
            vec![(
                "DOCKER_CONFIG",
                config(
                    "missing",
                    json!({"credHelpers": {host.as_str(): "h28absent"}}),
                ),
            )],
            vec![],
            2,
            vec!["docker-credential-h28absent".into(), "not installed".into()],
        ),
        (
            "failing helper",
            vec![(
                "DOCKER_CONFIG",
                config("fails", json!({"credHelpers": {host.as_str(): "h28fails"}})),
            )],
            vec![],
            3,
            vec![
                "docker-credential-h28fails".into(),
                "the vault is sealed".into(),
            ],
        ),
        (
            "helper answering garbage",
            vec![(
                "DOCKER_CONFIG",
                config("garbage", json!({"credsStore": "h28garbage"})),
            )],
            vec![],
            3,
            vec!["docker-credential-h28garbage".into(), "protocol".into()],
        ),
        (
            "hanging helper, --timeout 3s",
            vec![(
                "DOCKER_CONFIG",
                config("hangs", json!({"credHelpers": {host.as_str(): "h28hangs"}})),
            )],
            vec!["--timeout=3s".into()],
            6,
            vec!["docker-credential-h28hangs".into()],
        ),
        (
            "malformed auth file",
            vec![],
            vec![
                "--registry-auth-file".into(),
                malformed.display().to_string(),
            ],
            2,
            vec![malformed.display().to_string(), "not valid JSON".into()],
        ),
    ];
    for (name, env, extra, code, needles) in cases {
        let args = [
            "sign",
            &image,
            "--attestor=projects/demo/attestors/a1",
            "--kms-key-version",
            &kms,
            "--cosign=sig",
        ];
        let started = std::time::Instant::now();
        let ran = run_in(&emu, dir.path(), &with(&args, &extra), &env);
        assert_eq!(ran.code, code, "{name}: {}", ran.stderr);
        for needle in needles.iter().chain([&host]) {
            assert!(
                ran.stderr.contains(needle.as_str()),
                "{name}: no `{needle}` in {}",
                ran.stderr
            );
        }
        assert!(
            started.elapsed().as_secs() < 30,
            "{name}: took {:?}",
            started.elapsed()
        );
        assert!(
            occurrences(&emu, "demo").is_empty(),
            "{name}: an attestation was filed"
        );
    }
    // Nothing was signed into the registry either: no `.sig` tag exists for the image.
    let tags = auth_registry().tags_with_creds("auth/broken");
    assert!(tags.iter().all(|t| !t.ends_with(".sig")), "{tags:?}");
    // No hanging helper outlived its run.
    let ps = std::process::Command::new("ps")
        .args(["-eo", "args"])
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&ps.stdout).contains("docker-credential-h28hangs"));
}

/// The emulator's Artifact Registry answers `/v2/` with a `Bearer` challenge and hands out
/// registry tokens for Basic `oauth2accesstoken:<Google token>` (GAR's token auth): a credential
/// from an auth file or a helper reaches it through the token service, without
/// `--google-registry`, and its 401 without one says to pass `--google-registry`.
#[test]
fn bearer_challenges_take_the_same_credentials_through_the_token_service() {
    let emu = Emulator::start(
        "images:\n  - repository: demo/apps/bearer\n    tag: v1\n    content: bearer\n",
    );
    let dir = tempfile::tempdir().unwrap();
    let host = emu.host();
    let image = format!("{host}/demo/apps/bearer:v1");
    let auth_json = dir.path().join("auth.json");
    std::fs::write(
        &auth_json,
        json!({"auths": {format!("{host}/demo"): {"auth": b64(&format!("oauth2accesstoken:{TOKEN}"))}}})
            .to_string(),
    )
    .unwrap();
    let run = |args: &[&str], env: &[(&str, String)]| {
        let mut all = vec!["--insecure-registry", host.as_str()];
        all.extend(args);
        run_in(&emu, dir.path(), &all, env)
    };
    let file = auth_json.display().to_string();
    let ran = run(&["digest", &image, "--registry-auth-file", &file], &[]);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert!(
        ran.stdout
            .starts_with(&format!("{host}/demo/apps/bearer@sha256:")),
        "{}",
        ran.stdout
    );
    let token_calls = emu.ok("GET", "emulator/requests", None);
    assert!(
        token_calls.to_string().contains("/v2/token"),
        "no token service call: {token_calls}"
    );
    helper(
        dir.path(),
        "h28gar",
        &format!("printf '{{\"ServerURL\":\"%s\",\"Username\":\"oauth2accesstoken\",\"Secret\":\"{TOKEN}\"}}' \"$server\""),
    );
    let helped = dir.path().join("gar");
    std::fs::create_dir_all(&helped).unwrap();
    std::fs::write(
        helped.join("config.json"),
        json!({"credHelpers": {host.as_str(): "h28gar"}}).to_string(),
    )
    .unwrap();
    let ran = run(
        &["digest", &image],
        &[("DOCKER_CONFIG", helped.display().to_string())],
    );
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    // No credential and no --google-registry: 401, and the hint.
    let ran = run(&["digest", &image], &[]);
    assert_eq!(ran.code, 3, "{}", ran.stderr);
    assert!(ran.stderr.contains("--google-registry"), "{}", ran.stderr);
}
