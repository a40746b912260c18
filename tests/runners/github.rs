//! The GitHub Action as actions/runner runs a `runs.using: docker` action, reproduced with podman
//! from the runner's own code (src/Runner.Worker/Handlers/ContainerActionHandler.cs,
//! Container/DockerCommandManager.cs `DockerRun`, Container/ContainerInfo.cs, FileCommandManager.cs):
//!
//! - every input of action.yml becomes `INPUT_<NAME>` (upper-cased, spaces to `_`, hyphens kept):
//!   the step's `with:` value, else the input's default, else "";
//! - four bind mounts: `_temp/_github_home` on `/github/home` (also `HOME`),
//!   `_temp/_github_workflow` on `/github/workflow`, `_temp/_runner_file_commands` on
//!   `/github/file_commands`, the workspace on `/github/workspace` (also `--workdir`);
//! - every environment value that starts with one of those host paths is rewritten to the
//!   container path (so `GOOGLE_APPLICATION_CREDENTIALS`, which the auth step points into the
//!   workspace, and `GITHUB_OUTPUT` both work inside); values go through `-e NAME` only;
//! - `-e GITHUB_ACTIONS=true -e CI=true`, `--rm`, the image, then `runs.args`;
//! - after the step the runner parses `set_output_<guid>` (`name=value` and `name<<DELIM`) into
//!   `steps.<id>.outputs`, and masks registered secrets in everything the step printed.
//!
//! Two differences, both forced by this machine: the container joins the host network (the
//! runner uses the job's `github_network_*` bridge) to reach the emulator on 127.0.0.1, and
//! `/var/run/docker.sock` is not mounted (there is no Docker engine here; the action never uses it).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::Value;

use super::{
    attestations, google, image_tag, key_version, oidc_jwt, repo, routes, run, show, OidcEndpoint,
    ATTESTOR, GITHUB_PROVIDER, SERVICE_ACCOUNT,
};
use crate::common::emulator::Emulator;

/// The job's `github.token` (the default of the action's `github-token` input).
const GITHUB_TOKEN: &str = "ghs_stand1nJobTokenForTheRunnerTest0123456";
/// The runner's `ACTIONS_RUNTIME_TOKEN`, which is also `ACTIONS_ID_TOKEN_REQUEST_TOKEN`.
const RUNTIME_TOKEN: &str = "runtime-token.eyJzdGFuZC1pbiI6dHJ1ZX0.stand-in";

/// The runner's directories for one job, under a temporary root that stands for `/`.
struct Job {
    _root: tempfile::TempDir,
    /// `/home/runner/work/REPO/REPO`: `github.workspace`.
    workspace: PathBuf,
    /// `/home/runner/work/_temp`: `RUNNER_TEMP`.
    temp: PathBuf,
    /// Variables exported by earlier steps through `GITHUB_ENV`.
    exported: BTreeMap<String, String>,
}

/// What one step left behind: its outputs as the runner parsed them, and its log as the
/// runner shows it (secrets masked).
struct StepResult {
    code: Option<i32>,
    outputs: BTreeMap<String, String>,
    summary: String,
    raw_stdout: String,
    raw_stderr: String,
    log: String,
}

impl Job {
    fn new() -> Job {
        let root = tempfile::tempdir().unwrap();
        let work = root.path().join("home/runner/work");
        let workspace = work.join("binauthz-attest/binauthz-attest");
        let temp = work.join("_temp");
        for dir in [
            workspace.clone(),
            temp.join("_github_home"),
            temp.join("_github_workflow"),
            temp.join("_runner_file_commands"),
        ] {
            std::fs::create_dir_all(dir).unwrap();
        }
        std::fs::write(
            temp.join("_github_workflow/event.json"),
            r#"{"ref":"refs/heads/main"}"#,
        )
        .unwrap();
        Job {
            _root: root,
            workspace,
            temp,
            exported: BTreeMap::new(),
        }
    }

    /// Host path -> container path, in the order ContainerInfo checks them (the handler
    /// inserts each mapping at the front, so the last added is tried first).
    fn mappings(&self) -> Vec<(PathBuf, &'static str)> {
        vec![
            (self.workspace.clone(), "/github/workspace"),
            (
                self.temp.join("_runner_file_commands"),
                "/github/file_commands",
            ),
            (self.temp.join("_github_workflow"), "/github/workflow"),
            (self.temp.join("_github_home"), "/github/home"),
        ]
    }

    /// ContainerInfo.TranslateToContainerPath: the whole value equal to a host path, or
    /// starting with it and a `/`.
    fn translate(&self, value: &str) -> String {
        for (host, container) in self.mappings() {
            let host = host.display().to_string();
            if value == host {
                return container.to_string();
            }
            if let Some(rest) = value.strip_prefix(&format!("{host}/")) {
                return format!("{container}/{rest}");
            }
        }
        value.to_string()
    }

    /// What google-github-actions/auth does: writes the credentials file into the workspace as
    /// `gha-creds-<16 hex>.json` and exports the variables that point at it.
    fn auth_step(&mut self, credentials: &Value) -> PathBuf {
        let file = self.workspace.join("gha-creds-3f9a1c0d5e7b2468.json");
        std::fs::write(&file, credentials.to_string()).unwrap();
        let path = file.display().to_string();
        for var in [
            "CLOUDSDK_AUTH_CREDENTIAL_FILE_OVERRIDE",
            "GOOGLE_APPLICATION_CREDENTIALS",
            "GOOGLE_GHA_CREDS_PATH",
        ] {
            self.exported.insert(var.into(), path.clone());
        }
        for var in [
            "CLOUDSDK_CORE_PROJECT",
            "CLOUDSDK_PROJECT",
            "GCLOUD_PROJECT",
            "GCP_PROJECT",
            "GOOGLE_CLOUD_PROJECT",
        ] {
            self.exported.insert(var.into(), "demo".into());
        }
        file
    }

    /// The variables every step gets from the runner (github context, runner context, the
    /// Actions runtime and OIDC request endpoints), host paths as the runner knows them.
    fn runtime_env(&self, oidc_url: &str) -> BTreeMap<String, String> {
        let ws = self.workspace.display().to_string();
        let temp = self.temp.display().to_string();
        [
            ("GITHUB_WORKSPACE", ws),
            (
                "GITHUB_REPOSITORY",
                "binauthz-attest/binauthz-attest".into(),
            ),
            (
                "GITHUB_SHA",
                "0123456789abcdef0123456789abcdef01234567".into(),
            ),
            ("GITHUB_REF", "refs/heads/main".into()),
            ("GITHUB_SERVER_URL", "https://github.com".into()),
            ("GITHUB_API_URL", "https://api.github.com".into()),
            ("GITHUB_RUN_ID", "4242".into()),
            ("GITHUB_WORKFLOW", "build-and-attest".into()),
            ("GITHUB_ACTION", "attest".into()),
            (
                "GITHUB_EVENT_PATH",
                format!("{temp}/_github_workflow/event.json"),
            ),
            ("RUNNER_OS", "Linux".into()),
            ("RUNNER_ARCH", "X64".into()),
            ("RUNNER_TEMP", temp.clone()),
            ("ACTIONS_RUNTIME_URL", "https://pipelines.invalid/".into()),
            ("ACTIONS_RUNTIME_TOKEN", RUNTIME_TOKEN.into()),
            (
                "ACTIONS_ID_TOKEN_REQUEST_URL",
                format!("{oidc_url}/idtoken?api-version=2.0"),
            ),
            ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", RUNTIME_TOKEN.into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    /// Runs the action as the step `uses: binauthz-attest/binauthz-attest@v1` with `with` and
    /// the step's `env`, the way the runner does, and reads back what the runner would.
    fn run_action(
        &self,
        image: &str,
        with: &[(&str, &str)],
        step_env: &BTreeMap<String, String>,
        oidc_url: &str,
    ) -> StepResult {
        self.run_action_file("action.yml", image, with, step_env, oidc_url)
    }

    /// Runs the action of `action_file` (`verify/action.yml`: the step
    /// `uses: binauthz-attest/binauthz-attest/verify@v1`) as [`Job::run_action`] does.
    fn run_action_file(
        &self,
        action_file: &str,
        image: &str,
        with: &[(&str, &str)],
        step_env: &BTreeMap<String, String>,
        oidc_url: &str,
    ) -> StepResult {
        let action: Value =
            serde_norway::from_str(&std::fs::read_to_string(repo().join(action_file)).unwrap())
                .unwrap();
        assert_eq!(action["runs"]["using"], "docker");
        assert!(
            action["runs"]["image"]
                .as_str()
                .is_some_and(|i| i.starts_with("docker://")),
            "the action names a prebuilt image: {}",
            action["runs"]["image"]
        );

        // Environment, lowest precedence first: runner context, GITHUB_ENV, the step's env,
        // then the inputs; then HOME and the file commands (FileCommandManager.InitializeFiles).
        let mut env = self.runtime_env(oidc_url);
        env.extend(self.exported.clone());
        env.extend(step_env.clone());
        for (name, spec) in action["inputs"].as_object().unwrap() {
            let value = match with.iter().find(|(n, _)| n == name) {
                Some((_, v)) => v.to_string(),
                None => match spec["default"].as_str() {
                    Some("${{ github.token }}") => GITHUB_TOKEN.to_string(),
                    Some(d) => {
                        assert!(!d.contains("${{"), "unevaluated default {d}");
                        d.to_string()
                    }
                    None => String::new(),
                },
            };
            env.insert(
                format!("INPUT_{}", name.replace(' ', "_").to_uppercase()),
                value,
            );
        }
        // ActionRunner: a `with:` key the action does not declare gets only a warning
        // ("Unexpected input(s)") and is passed on like the others.
        for (name, value) in with {
            if action["inputs"].get(*name).is_none() {
                env.insert(
                    format!("INPUT_{}", name.replace(' ', "_").to_uppercase()),
                    value.to_string(),
                );
            }
        }
        let args = action["runs"]["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().to_string())
            .collect();
        self.run_container(image, env, args)
    }

    /// Runs the step `uses: docker://IMAGE` with `with: {args: ARGS}` and `env`: no action.yml,
    /// so no inputs but `INPUT_ARGS`, and the args string split on whitespace as the docker
    /// command line does.
    fn run_docker_step(
        &self,
        image: &str,
        args: &str,
        step_env: &BTreeMap<String, String>,
        oidc_url: &str,
    ) -> StepResult {
        let mut env = self.runtime_env(oidc_url);
        env.extend(self.exported.clone());
        env.extend(step_env.clone());
        env.insert("INPUT_ARGS".into(), args.into());
        let args = args.split_whitespace().map(str::to_string).collect();
        self.run_container(image, env, args)
    }

    /// ContainerActionHandler from `HOME` on: the file commands, the container, the log.
    fn run_container(
        &self,
        image: &str,
        mut env: BTreeMap<String, String>,
        args: Vec<String>,
    ) -> StepResult {
        env.insert(
            "HOME".into(),
            self.temp.join("_github_home").display().to_string(),
        );
        let commands = self.temp.join("_runner_file_commands");
        let suffix = "6b1e9c2a-7d4f-4e0b-9a53-2c8f1d0e7a64";
        for (var, prefix) in [
            ("GITHUB_OUTPUT", "set_output_"),
            ("GITHUB_STEP_SUMMARY", "step_summary_"),
            ("GITHUB_ENV", "set_env_"),
            ("GITHUB_PATH", "add_path_"),
            ("GITHUB_STATE", "save_state_"),
        ] {
            let file = commands.join(format!("{prefix}{suffix}"));
            std::fs::write(&file, "").unwrap();
            env.insert(var.into(), file.display().to_string());
        }

        // DockerCommandManager.DockerRun: names only on the command line, values in podman's
        // own environment.
        let mut cmd = Command::new("podman");
        cmd.args(["--runtime", "runc", "--cgroup-manager=cgroupfs", "run"])
            .args([
                "--ulimit",
                "nofile=1024:1024",
                "--ulimit",
                "nproc=1024:1024",
            ])
            .args(["--pull=never", "--network=host"])
            .args(["--name", &container_name()])
            .args(["--label", "a1b2c3"])
            .args(["--workdir", "/github/workspace", "--rm"])
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default());
        for (name, value) in &env {
            cmd.arg("-e").arg(name).env(name, self.translate(value));
        }
        cmd.args(["-e", "GITHUB_ACTIONS=true", "-e", "CI=true"]);
        for (host, container) in self.mappings().into_iter().rev() {
            cmd.arg("-v").arg(format!("{}:{container}", host.display()));
        }
        cmd.arg(image).args(args);
        let out = run(&mut cmd);
        let raw_stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let raw_stderr = String::from_utf8_lossy(&out.stderr).into_owned();

        // The runner knows its own secrets (the job token, the runtime token) and adds every
        // value a step registers with ::add-mask::, then masks each line it prints.
        let mut secrets = vec![GITHUB_TOKEN.to_string(), RUNTIME_TOKEN.to_string()];
        let mut log = String::new();
        for line in raw_stdout.lines().chain(raw_stderr.lines()) {
            if let Some(secret) = line.strip_prefix("::add-mask::") {
                secrets.push(secret.to_string());
                continue;
            }
            let mut shown = line.to_string();
            for secret in &secrets {
                shown = shown.replace(secret.as_str(), "***");
            }
            log.push_str(&shown);
            log.push('\n');
        }
        let read = |var: &str| std::fs::read_to_string(&env[var]).unwrap();
        StepResult {
            code: out.status.code(),
            outputs: parse_file_command(&read("GITHUB_OUTPUT")),
            summary: read("GITHUB_STEP_SUMMARY"),
            raw_stdout,
            raw_stderr,
            log,
        }
    }
}

/// A container name no other test of this run uses (the runner's is the image's name and a
/// random suffix).
fn container_name() -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "binauthz-attest_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// The runner's parser for `GITHUB_OUTPUT` / `GITHUB_ENV` (SetEnvFileCommand.ProcessCommand):
/// `NAME=VALUE` lines, or `NAME<<DELIM`, value lines, `DELIM`. A malformed file fails the
/// step on GitHub; here it fails the test.
fn parse_file_command(text: &str) -> BTreeMap<String, String> {
    let mut values = BTreeMap::new();
    let mut lines = text.split_inclusive('\n');
    while let Some(raw) = lines.next() {
        let line = raw.strip_suffix('\n').unwrap_or(raw);
        if line.is_empty() {
            continue;
        }
        let (eq, heredoc) = (line.find('='), line.find("<<"));
        match (eq, heredoc) {
            (Some(e), h) if h.is_none_or(|h| e < h) => {
                let (name, value) = line.split_at(e);
                values.insert(name.to_string(), value[1..].to_string());
            }
            (_, Some(h)) => {
                let (name, delimiter) = (&line[..h], &line[h + 2..]);
                assert!(
                    !name.is_empty() && !delimiter.is_empty(),
                    "invalid line {line:?}"
                );
                let mut value = String::new();
                loop {
                    let next = lines
                        .next()
                        .unwrap_or_else(|| panic!("matching delimiter not found {delimiter:?}"));
                    if next.strip_suffix('\n').unwrap_or(next) == delimiter {
                        break;
                    }
                    value.push_str(next);
                }
                let value = value.strip_suffix('\n').unwrap_or(&value).to_string();
                values.insert(name.to_string(), value);
            }
            _ => panic!("invalid file command line {line:?}"),
        }
    }
    values
}

/// The workflow's `env:` for the attest step: Google's endpoints at the emulator (as gcloud
/// reads them), and the metadata server too, so nothing can leave 127.0.0.1.
fn step_env(emu: &Emulator) -> BTreeMap<String, String> {
    [
        "CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDKMS",
        "CLOUDSDK_API_ENDPOINT_OVERRIDES_BINARYAUTHORIZATION",
        "CLOUDSDK_API_ENDPOINT_OVERRIDES_CONTAINERANALYSIS",
    ]
    .into_iter()
    .map(|k| (k.to_string(), emu.url.clone()))
    .chain([("GCE_METADATA_HOST".to_string(), emu.host())])
    .collect()
}

/// The attest step signs `image` by tag; returns the step's result.
fn attest(job: &Job, emu: &Emulator, image: &str, oidc_url: &str) -> StepResult {
    let host = emu.host();
    let kms = key_version();
    job.run_action(
        &image_tag(),
        &[
            ("images", image),
            ("attestor", ATTESTOR),
            ("kms-key-version", &kms),
            ("insecure-registry", &host),
            ("google-registry", &host),
        ],
        &step_env(emu),
        oidc_url,
    )
}

/// The next step: `run:` on the runner host with
/// `env: {IMAGE_REF: ${{ steps.attest.outputs.image-ref }}}`, checking the attestation with the
/// same credentials (the host path this time): Binary Authorization would accept the image.
fn next_step_verifies(job: &Job, emu: &Emulator, outputs: &BTreeMap<String, String>) {
    let mut cmd = Command::new("sh");
    cmd.args([
        "-c",
        r#"exec "$BINAUTHZ" verify "$IMAGE_REF" --attestor "$ATTESTOR" --insecure-registry "$HOST" --google-registry "$HOST" --ci local --output json"#,
    ])
    .env_clear()
    .env("PATH", std::env::var("PATH").unwrap_or_default())
    .env("HOME", job.temp.join("_github_home"))
    .env("BINAUTHZ", env!("CARGO_BIN_EXE_binauthz-attest"))
    .env("IMAGE_REF", &outputs["image-ref"])
    .env("ATTESTOR", ATTESTOR)
    .env("HOST", emu.host())
    .envs(&job.exported)
    .envs(step_env(emu))
    .current_dir(&job.workspace);
    let out = run(&mut cmd);
    assert!(out.status.success(), "next step: {}", show(&out));
    let verdicts: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", show(&out)));
    let verdict = &verdicts[0];
    assert_eq!(verdict["image_ref"], outputs["image-ref"].as_str());
    assert_eq!(verdict["verified"], true, "{verdict}");
    assert_eq!(
        verdict["attestations"][0]["name"],
        outputs["attestation"].as_str()
    );
}

/// What every successful run must show: outputs the runner parsed, a summary, no secret in
/// the log, the attestation filed once for the digest the registry serves.
fn assert_signed(emu: &Emulator, step: &StepResult, repository: &str, secrets: &[&str]) {
    let everything = format!("{}{}", step.raw_stdout, step.raw_stderr);
    assert_eq!(step.code, Some(0), "the step failed:\n{everything}");
    let digest = emu.registry_digest(repository, "v1");
    let o = &step.outputs;
    assert_eq!(o["digest"], digest, "{o:?}");
    assert_eq!(
        o["image-ref"],
        format!("{}/{repository}@{digest}", emu.host())
    );
    assert_eq!(o["created"], "true");
    assert!(
        o["attestation"].starts_with("projects/demo/occurrences/"),
        "{o:?}"
    );
    let json: Value = serde_json::from_str(&o["json"]).unwrap();
    assert_eq!(json[0]["image_ref"], o["image-ref"].as_str());
    assert!(
        step.summary.contains(&digest),
        "step summary:\n{}",
        step.summary
    );
    assert_eq!(
        attestations(emu),
        [(o["image-ref"].clone(), "projects/demo/notes/n1".to_string())]
    );

    // The job token reaches the container (github-token's default) and is masked before
    // anything is printed (workflow commands go to stderr, the log; the runner reads both
    // streams); credentials the step used are never printed at all.
    let first = step.raw_stderr.lines().next().unwrap_or_default();
    assert_eq!(
        first,
        format!("::add-mask::{GITHUB_TOKEN}"),
        "masking comes first"
    );
    assert!(!step.log.contains(GITHUB_TOKEN), "{}", step.log);
    // A token minted during the step is announced as a mask (the runner never shows the
    // command's value), and appears nowhere else.
    let printed: String = everything
        .lines()
        .filter(|l| !l.starts_with("::add-mask::"))
        .collect::<Vec<_>>()
        .join("\n");
    for secret in secrets.iter().copied().chain(["ya29.", "PRIVATE KEY"]) {
        assert!(
            !printed.contains(secret),
            "a credential ({secret}) reached the log:\n{everything}"
        );
    }
}

#[test]
fn github_action_signs_by_tag_with_a_service_account_key_from_the_auth_step() {
    let emu = google(&["web"]);
    let key = emu.ok(
        "GET",
        &format!("emulator/service-accounts/{SERVICE_ACCOUNT}/key"),
        None,
    );
    let private_key_line = key["private_key"]
        .as_str()
        .unwrap()
        .lines()
        .nth(1)
        .unwrap()
        .to_string();
    let mut job = Job::new();
    // auth@v2 with credentials_json: the key, written as given.
    let file = job.auth_step(&key);
    assert!(file.starts_with(&job.workspace));

    let image = format!("{}/demo/apps/web:v1", emu.host());
    emu.ok("POST", "emulator/reset", None);
    let step = attest(&job, &emu, &image, "http://127.0.0.1:9");
    assert_signed(&emu, &step, "demo/apps/web", &[&private_key_line]);
    assert!(
        !routes(&emu).iter().any(|r| r == "oauth2.token"),
        "a service-account key signs its own JWT: no token endpoint"
    );

    next_step_verifies(&job, &emu, &step.outputs);

    // Rerun: the runner starts a fresh container, and the attestation is found, not filed again.
    let again = attest(&job, &emu, &image, "http://127.0.0.1:9");
    assert_eq!(again.code, Some(0), "{}", again.log);
    assert_eq!(again.outputs["created"], "false");
    assert_eq!(again.outputs["attestation"], step.outputs["attestation"]);
    assert_eq!(attestations(&emu).len(), 1);
}

/// auth@v2 with workload_identity_provider and service_account writes an external_account
/// config whose subject token comes from the runner's OIDC endpoint (credential_source.url with
/// the request token as a header, JSON field `value`); the binary in the container fetches it,
/// exchanges it at STS and impersonates the service account.
fn wif_credentials(emu: &Emulator, oidc_url: &str, request_token: &str) -> Value {
    let audience = format!("https://iam.googleapis.com/{GITHUB_PROVIDER}");
    serde_json::json!({
        "type": "external_account",
        "audience": format!("//iam.googleapis.com/{GITHUB_PROVIDER}"),
        "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
        "token_url": format!("{}v1/token", emu.url),
        "credential_source": {
            "url": format!("{oidc_url}/idtoken?api-version=2.0&audience={}", urlencode(&audience)),
            "headers": {"Authorization": format!("Bearer {request_token}")},
            "format": {"type": "json", "subject_token_field_name": "value"},
        },
        "service_account_impersonation_url": format!(
            "{}v1/projects/-/serviceAccounts/{SERVICE_ACCOUNT}:generateAccessToken",
            emu.url
        ),
    })
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[test]
fn github_action_signs_by_tag_with_workload_identity_federation_from_the_runner_oidc_endpoint() {
    let emu = google(&["api"]);
    let jwt = oidc_jwt(
        &emu,
        GITHUB_PROVIDER,
        "repo:binauthz-attest/binauthz-attest:ref:refs/heads/main",
    );
    let oidc = OidcEndpoint::start(RUNTIME_TOKEN, &jwt);
    let mut job = Job::new();
    job.auth_step(&wif_credentials(&emu, &oidc.url, RUNTIME_TOKEN));

    let image = format!("{}/demo/apps/api:v1", emu.host());
    emu.ok("POST", "emulator/reset", None);
    let step = attest(&job, &emu, &image, &oidc.url);
    assert_signed(&emu, &step, "demo/apps/api", &[&jwt, RUNTIME_TOKEN]);

    // The subject token came from the OIDC endpoint, with the runner's bearer and the audience
    // the auth step asked for, and was exchanged before impersonation.
    let requests = oidc.requests();
    assert!(!requests.is_empty(), "the OIDC endpoint was never asked");
    for (line, authorized) in &requests {
        assert!(authorized, "asked without the request token: {line}");
        assert!(
            line.contains("audience=https%3A%2F%2Fiam.googleapis.com%2Fprojects%2F123456789"),
            "{line}"
        );
    }
    let routes = routes(&emu);
    let sts = routes.iter().position(|r| r == "sts.token");
    let impersonate = routes
        .iter()
        .position(|r| r == "iamcredentials.generateAccessToken");
    assert!(
        matches!((sts, impersonate), (Some(s), Some(i)) if s < i),
        "expected STS, then impersonation: {routes:?}"
    );

    next_step_verifies(&job, &emu, &step.outputs);
}

#[test]
fn github_action_fails_with_an_annotation_when_the_oidc_endpoint_refuses() {
    let emu = google(&["denied"]);
    let oidc = OidcEndpoint::start(RUNTIME_TOKEN, "unused");
    let mut job = Job::new();
    // A credentials file from another job: its request token is no longer accepted.
    job.auth_step(&wif_credentials(&emu, &oidc.url, "expired-request-token"));
    let image = format!("{}/demo/apps/denied:v1", emu.host());
    let step = attest(&job, &emu, &image, &oidc.url);
    assert_eq!(step.code, Some(3), "authentication fails:\n{}", step.log);
    assert!(
        step.log
            .contains("::error title=binauthz-attest (exit 3)::"),
        "{}",
        step.log
    );
    assert!(
        step.outputs.is_empty(),
        "no outputs on failure: {:?}",
        step.outputs
    );
    assert!(attestations(&emu).is_empty());
    assert!(!oidc.requests().is_empty() && oidc.requests().iter().all(|(_, ok)| !ok));
}

#[test]
fn runner_file_command_parser_reads_both_forms_and_rejects_an_unterminated_heredoc() {
    let parsed = parse_file_command("a=1\nb<<EOF\nline 1\nline 2\nEOF\nc=x=y\n");
    assert_eq!(parsed["a"], "1");
    assert_eq!(parsed["b"], "line 1\nline 2");
    assert_eq!(parsed["c"], "x=y");
    let unterminated = std::panic::catch_unwind(|| parse_file_command("b<<EOF\nvalue\n"));
    assert!(unterminated.is_err());
}

#[test]
fn runner_path_translation_maps_only_whole_path_components() {
    let job = Job::new();
    let ws = job.workspace.display().to_string();
    assert_eq!(job.translate(&ws), "/github/workspace");
    assert_eq!(
        job.translate(&format!("{ws}/gha-creds-1.json")),
        "/github/workspace/gha-creds-1.json"
    );
    assert_eq!(
        job.translate(&format!("{ws}-other/x")),
        format!("{ws}-other/x")
    );
    let temp = job.temp.display().to_string();
    assert_eq!(job.translate(&temp), temp, "_temp itself is not mounted");
    assert_eq!(
        job.translate(&format!("{temp}/_runner_file_commands/set_output_1")),
        "/github/file_commands/set_output_1"
    );
}

#[test]
fn github_docker_step_pinned_by_digest_takes_the_variables_and_writes_the_outputs() {
    // The README's fully pinned form: `uses: docker://IMAGE@sha256:...`, `with: {args: ...}`,
    // the settings as BINAUTHZ_* variables in the step's env.
    let emu = google(&["pinned"]);
    let key = emu.ok(
        "GET",
        &format!("emulator/service-accounts/{SERVICE_ACCOUNT}/key"),
        None,
    );
    let mut job = Job::new();
    job.auth_step(&key);
    let host = emu.host();
    let mut env = step_env(&emu);
    for (name, value) in [
        ("BINAUTHZ_IMAGES", format!("{host}/demo/apps/pinned:v1")),
        ("BINAUTHZ_ATTESTOR", ATTESTOR.to_string()),
        ("BINAUTHZ_KMS_KEY_VERSION", key_version()),
        ("BINAUTHZ_INSECURE_REGISTRIES", host.clone()),
        ("BINAUTHZ_GOOGLE_REGISTRIES", host.clone()),
    ] {
        env.insert(name.into(), value);
    }
    let tagged = image_tag();
    let digest =
        run(Command::new("podman").args(["image", "inspect", "--format", "{{.Digest}}", &tagged]));
    let digest = String::from_utf8_lossy(&digest.stdout).trim().to_string();
    assert!(digest.starts_with("sha256:"), "{digest}");
    let repository = tagged.rsplit_once(':').unwrap().0;
    let pinned = format!("{repository}@{digest}");
    let step = job.run_docker_step(&pinned, "sign --ci github", &env, "http://127.0.0.1:9");
    assert_eq!(step.code, Some(0), "{}", step.log);
    let digest = emu.registry_digest("demo/apps/pinned", "v1");
    assert_eq!(step.outputs["digest"], digest);
    assert_eq!(step.outputs["created"], "true");
    assert!(step.summary.contains(&digest), "{}", step.summary);
    next_step_verifies(&job, &emu, &step.outputs);
}

#[test]
fn github_verify_and_policy_check_actions_run_under_the_runner_layout() {
    // `uses: .../verify@v1` after the attest step, then `uses: .../policy-check@v1` on a
    // manifest in the workspace: the verify outputs, a denial annotated at its manifest line.
    let emu = google(&["checked", "unsigned"]);
    let key = emu.ok(
        "GET",
        &format!("emulator/service-accounts/{SERVICE_ACCOUNT}/key"),
        None,
    );
    let mut job = Job::new();
    job.auth_step(&key);
    let host = emu.host();
    let signed = format!("{host}/demo/apps/checked:v1");
    let step = attest(&job, &emu, &signed, "http://127.0.0.1:9");
    assert_eq!(step.code, Some(0), "{}", step.log);

    let registries = [
        ("insecure-registry", host.as_str()),
        ("google-registry", host.as_str()),
    ];
    let mut with = vec![("images", signed.as_str()), ("attestor", ATTESTOR)];
    with.extend(registries);
    let verified = job.run_action_file(
        "verify/action.yml",
        &image_tag(),
        &with,
        &step_env(&emu),
        "http://127.0.0.1:9",
    );
    assert_eq!(verified.code, Some(0), "{}", verified.log);
    assert_eq!(
        verified.outputs["verified"], "true",
        "{:?}",
        verified.outputs
    );
    assert!(
        verified.summary.contains("verified"),
        "{}",
        verified.summary
    );
    assert_eq!(
        verified.log.matches("::endgroup::").count(),
        1,
        "{}",
        verified.log
    );

    // A Deployment of the unsigned image under a policy that requires the attestor.
    std::fs::create_dir_all(job.workspace.join("k8s")).unwrap();
    std::fs::write(
        job.workspace.join("k8s/deploy.yaml"),
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n      containers:\n        - name: web\n          image: {host}/demo/apps/unsigned@{}\n",
            emu.registry_digest("demo/apps/unsigned", "v1")
        ),
    )
    .unwrap();
    std::fs::write(
        job.workspace.join("policy.yaml"),
        format!("defaultAdmissionRule:\n  evaluationMode: REQUIRE_ATTESTATION\n  enforcementMode: ENFORCED_BLOCK_AND_AUDIT_LOG\n  requireAttestationsBy:\n  - {ATTESTOR}\n"),
    )
    .unwrap();
    let mut with = vec![("manifest", "k8s/deploy.yaml"), ("policy", "policy.yaml")];
    with.extend(registries);
    let checked = job.run_action_file(
        "policy-check/action.yml",
        &image_tag(),
        &with,
        &step_env(&emu),
        "http://127.0.0.1:9",
    );
    assert_eq!(checked.code, Some(5), "{}", checked.log);
    assert_eq!(
        checked.outputs["decision"], "denied",
        "{:?}",
        checked.outputs
    );
    assert!(
        checked
            .log
            .contains("::error file=k8s/deploy.yaml,line=10,"),
        "the denial is annotated at the image's line:\n{}",
        checked.log
    );
}

#[test]
fn github_action_with_a_mistyped_input_fails_with_an_annotation_naming_the_input() {
    let emu = google(&["typo"]);
    let job = Job::new();
    let image = format!("{}/demo/apps/typo:v1", emu.host());
    let kms = key_version();
    // `atestor`: the runner passes it on as INPUT_ATESTOR after a warning; `attestor` is empty.
    let step = job.run_action(
        &image_tag(),
        &[
            ("images", &image),
            ("atestor", ATTESTOR),
            ("kms-key-version", &kms),
        ],
        &step_env(&emu),
        "http://127.0.0.1:9",
    );
    assert_eq!(step.code, Some(2), "{}", step.log);
    assert!(
        step.log
            .contains("::error title=binauthz-attest (exit 2)::"),
        "{}",
        step.log
    );
    assert!(step.log.contains("input `attestor`"), "{}", step.log);
    assert!(step.log.contains("did you mean `attestor`"), "{}", step.log);
    assert!(!step.log.contains("Usage:"), "{}", step.log);
}
