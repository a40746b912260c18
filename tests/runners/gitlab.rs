//! The GitLab CI/CD component run by `gitlab-ci-local` (npm), a GitLab CI runner nobody here
//! wrote: it reads a `.gitlab-ci.yml` that includes the component the way GitLab's docs say to
//! test a component in its own project (`component: $CI_SERVER_FQDN/$CI_PROJECT_PATH/NAME@$CI_COMMIT_SHA`,
//! which gitlab-ci-local resolves to `templates/NAME.yml` in the checkout), interpolates the
//! inputs, runs the job, collects its dotenv report and hands it to the job that `needs` it.
//!
//! What gitlab-ci-local cannot do here, and what stands in for it:
//! - the job image cannot be pulled (no registry but the emulator's), so the jobs run with its
//!   shell executor (`--force-shell-executor`) and `binauthz-attest` on PATH;
//! - it does not mint `id_tokens`, so `GITLAB_OIDC_TOKEN` is given as a variable: a stand-in
//!   OIDC JWT, which the job writes to a file and the binary exchanges at the emulator's STS.

use std::path::Path;
use std::process::{Command, Output};

use super::{
    attestations, google, key_version, oidc_jwt, repo, routes, run, show, tool, ATTESTOR,
    GITLAB_PROVIDER, SERVICE_ACCOUNT,
};
use crate::common::emulator::Emulator;

const GITLAB_CI_LOCAL: &str = "npm install -g gitlab-ci-local@4.72.0";

/// A checkout of a component project: `templates/binauthz-attest.yml` (the component, byte
/// for byte) and a `.gitlab-ci.yml` using it, committed, with a GitLab remote.
fn component_project(dir: &Path, pipeline: &str) {
    std::fs::create_dir_all(dir.join("templates")).unwrap();
    std::fs::copy(
        repo().join("gitlab/templates/binauthz-attest.yml"),
        dir.join("templates/binauthz-attest.yml"),
    )
    .unwrap();
    std::fs::write(dir.join(".gitlab-ci.yml"), pipeline).unwrap();
    let git = |args: &[&str]| {
        let out = run(Command::new("git")
            .args(["-c", "user.name=ci", "-c", "user.email=ci@example.com"])
            .args(args)
            .current_dir(dir));
        assert!(out.status.success(), "git {args:?}: {}", show(&out));
    };
    git(&["init", "-q", "-b", "main"]);
    git(&[
        "remote",
        "add",
        "origin",
        "https://gitlab.example.com/binauthz-attest/binauthz-attest.git",
    ]);
    git(&["add", "-A"]);
    git(&["commit", "-q", "-m", "pipeline"]);
}

fn pipeline(emu: &Emulator, image: &str) -> String {
    let host = emu.host();
    format!(
        r#"stages: [test, deploy]

include:
  - component: $CI_SERVER_FQDN/$CI_PROJECT_PATH/binauthz-attest@$CI_COMMIT_SHA
    inputs:
      images: {image}
      attestor: {ATTESTOR}
      kms-key-version: {kms}
      insecure-registry: "{host}"
      google-registry: "{host}"
      workload-identity-provider: {GITLAB_PROVIDER}
      service-account: {SERVICE_ACCOUNT}

deploy:
  stage: deploy
  needs: [binauthz-attest]
  script:
    - test -n "$BINAUTHZ_DIGEST"
    - echo "deploying $BINAUTHZ_IMAGE_REF ($BINAUTHZ_ATTESTATION, created $BINAUTHZ_CREATED)"
    - printf '%s\n' "$BINAUTHZ_DIGEST" "$BINAUTHZ_IMAGE_REF" "$BINAUTHZ_ATTESTATION" "$BINAUTHZ_CREATED" > deployed.txt
"#,
        kms = key_version()
    )
}

/// Runs the whole pipeline with gitlab-ci-local; the job's OIDC token is `jwt`, Google is the
/// emulator. Returns gitlab-ci-local's output and the checkout.
fn run_pipeline(emu: &Emulator, image: &str, jwt: &str) -> (Output, tempfile::TempDir) {
    let gcl = tool("gitlab-ci-local", GITLAB_CI_LOCAL);
    let project = tempfile::tempdir().unwrap();
    component_project(project.path(), &pipeline(emu, image));
    // binauthz-attest on PATH for the shell executor, as the job image has it.
    let bin = project.path().join(".bin");
    std::fs::create_dir(&bin).unwrap();
    std::os::unix::fs::symlink(
        env!("CARGO_BIN_EXE_binauthz-attest"),
        bin.join("binauthz-attest"),
    )
    .unwrap();
    let home = project.path().join(".home");
    std::fs::create_dir(&home).unwrap();
    let variables = [
        ("GITLAB_OIDC_TOKEN", jwt.to_string()),
        // The component's Workload Identity endpoints (Google's unless set), here the
        // emulator's; the APIs read as gcloud reads them; the metadata server on loopback too.
        ("GCP_STS_TOKEN_URL", format!("{}v1/token", emu.url)),
        ("GCP_IAM_CREDENTIALS_URL", format!("{}v1", emu.url)),
        ("CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDKMS", emu.url.clone()),
        (
            "CLOUDSDK_API_ENDPOINT_OVERRIDES_BINARYAUTHORIZATION",
            emu.url.clone(),
        ),
        (
            "CLOUDSDK_API_ENDPOINT_OVERRIDES_CONTAINERANALYSIS",
            emu.url.clone(),
        ),
        ("GCE_METADATA_HOST", emu.host()),
    ];
    let mut cmd = Command::new(gcl);
    cmd.current_dir(project.path())
        .env_clear()
        .env(
            "PATH",
            format!(
                "{}:{}",
                bin.display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .env("HOME", &home)
        .args(["--force-shell-executor", "--no-color"]);
    for (name, value) in &variables {
        cmd.arg("--variable").arg(format!("{name}={value}"));
    }
    (run(&mut cmd), project)
}

#[test]
fn gitlab_ci_local_runs_the_component_with_wif_and_a_later_job_reads_the_dotenv() {
    let emu = google(&["job"]);
    let image = format!("{}/demo/apps/job:v1", emu.host());
    let jwt = oidc_jwt(
        &emu,
        GITLAB_PROVIDER,
        "project_path:binauthz-attest/binauthz-attest:ref_type:branch:ref:main",
    );
    emu.ok("POST", "emulator/reset", None);
    let (out, project) = run_pipeline(&emu, &image, &jwt);
    let log = show(&out);
    assert!(out.status.success(), "gitlab-ci-local:\n{log}");

    // The component's job exchanged the OIDC token and impersonated the service account, and
    // filed one attestation.
    let routes = routes(&emu);
    for route in ["sts.token", "iamcredentials.generateAccessToken"] {
        assert!(routes.iter().any(|r| r == route), "no {route}: {routes:?}");
    }
    let digest = emu.registry_digest("demo/apps/job", "v1");
    let image_ref = format!("{}/demo/apps/job@{digest}", emu.host());
    assert_eq!(
        attestations(&emu),
        [(image_ref.clone(), "projects/demo/notes/n1".to_string())]
    );

    // The deploy job got the dotenv report as variables.
    let deployed = std::fs::read_to_string(project.path().join("deployed.txt"))
        .unwrap_or_else(|e| panic!("the deploy job wrote nothing ({e}):\n{log}"));
    let lines: Vec<&str> = deployed.lines().collect();
    assert_eq!(lines[0], digest);
    assert_eq!(lines[1], image_ref);
    assert!(
        lines[2].starts_with("projects/demo/occurrences/"),
        "{deployed}"
    );
    assert_eq!(lines[3], "true");

    // Nothing secret in the log: not the OIDC token, not a minted access token.
    assert!(!log.contains(&jwt), "the OIDC token reached the log");
    assert!(!log.contains("ya29."), "an access token reached the log");
}

#[test]
fn gitlab_ci_local_fails_the_pipeline_when_signing_fails_and_skips_the_deploy() {
    let emu = google(&[]);
    // A tag the registry does not hold: the job fails, and the deploy job must not run.
    let image = format!("{}/demo/apps/missing:v1", emu.host());
    let (out, project) = run_pipeline(
        &emu,
        &image,
        &oidc_jwt(&emu, GITLAB_PROVIDER, "project_path:x"),
    );
    let log = show(&out);
    assert!(!out.status.success(), "{log}");
    // gitlab-ci-local reports the job's exit code: 4, not found (not 3, authentication).
    assert!(
        log.contains("binauthz-attest finished in") && log.contains("FAIL 4"),
        "{log}"
    );
    assert!(
        !project.path().join("deployed.txt").exists(),
        "the deploy job ran after a failed attestation"
    );
    assert!(attestations(&emu).is_empty());
}
