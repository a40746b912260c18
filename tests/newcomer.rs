//! A newcomer's first try (issue 29): the offline demo from a release build, and each rough
//! edge a first run met, pinned by the words that now tell the user what to do. Everything
//! runs the real binary against the emulator (Google and its Artifact Registry) or Debian's
//! docker-registry standing in for a registry outside Google (Nexus).

use std::path::Path;
use std::process::Command;

use crate::common::emulator::{Emulator, TOKEN};
use crate::common::{attest_command, registry, Format, Layout};

const ATTESTOR: &str = "projects/demo/attestors/a1";
const KEY: &str = "projects/demo/locations/global/keyRings/ring/cryptoKeys/ec/cryptoKeyVersions/1";

fn seed() -> String {
    format!(
        "keys:\n  - name: projects/demo/locations/global/keyRings/ring/cryptoKeys/ec\n    algorithm: EC_SIGN_P256_SHA256\n\
         notes:\n  - name: projects/demo/notes/n1\n\
         attestors:\n  - name: {ATTESTOR}\n    note: projects/demo/notes/n1\n    keyVersions: [{KEY}]\n\
         images:\n  - repository: demo/apps/web\n    tag: v1\n    content: web\n"
    )
}

fn output(cmd: &mut Command) -> (i32, String, String) {
    let out = cmd.output().expect("run binauthz-attest");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_demo_runs_from_a_release_build_alone() {
    // A checkout where only `cargo build --release` ran: target/release, no target/debug. The
    // binaries this test run built stand in for the release ones (same sources).
    let tree = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for file in ["demo/run.sh", "emulator/example-seed.yaml"] {
        let to = tree.path().join(file);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(root.join(file), &to).unwrap();
    }
    let release = tree.path().join("target/release");
    std::fs::create_dir_all(&release).unwrap();
    std::os::unix::fs::symlink(
        env!("CARGO_BIN_EXE_binauthz-attest"),
        release.join("binauthz-attest"),
    )
    .unwrap();
    std::os::unix::fs::symlink(
        crate::common::emulator::emulator_binary(),
        release.join("binauthz-emulator"),
    )
    .unwrap();
    let out = Command::new("bash")
        .arg(tree.path().join("demo/run.sh"))
        .env("PATH", "/usr/bin:/bin") // no gcloud: the demo's own steps alone
        .env_remove("BINAUTHZ_DEMO_BIN")
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "demo failed:\n{stdout}\n{stderr}");
    assert!(
        stdout.contains("== binaries from target/release"),
        "{stdout}"
    );
    assert!(
        stdout.contains("already attested"),
        "the rerun finds the attestation:\n{stdout}"
    );

    // Neither build: the error names both places and both commands.
    std::fs::remove_dir_all(&release).unwrap();
    let out = Command::new("bash")
        .arg(tree.path().join("demo/run.sh"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr.contains("target/debug or target/release")
            && stderr.contains("cargo build --release"),
        "{stderr}"
    );
}

#[test]
fn a_401_from_a_registry_without_the_google_token_says_to_name_it_with_google_registry() {
    let emu = Emulator::start(&seed());
    let home = tempfile::tempdir().unwrap();
    let image = format!("{}/demo/apps/web:v1", emu.host());
    let (code, _, stderr) = output(
        attest_command(&emu, home.path())
            .env("GOOGLE_OAUTH_ACCESS_TOKEN", TOKEN)
            .args([
                "sign",
                &image,
                "--attestor",
                ATTESTOR,
                "--kms-key-version",
                KEY,
            ])
            .args(["--insecure-registry", &emu.host()]),
    );
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("no Google token was sent"), "{stderr}");
    assert!(
        stderr.contains(&format!("--google-registry {}", emu.host())),
        "{stderr}"
    );
    assert!(stderr.contains("BINAUTHZ_GOOGLE_REGISTRIES"), "{stderr}");
}

#[test]
fn signing_a_reference_outside_artifact_registry_warns_and_suggests_source() {
    // The Nexus of the journey: Debian's docker-registry, which takes no Google token.
    let nexus = registry();
    let layout = Layout::image("newcomer nexus web");
    let nexus_image = format!("{}/team/web:1.0", nexus.host);
    nexus.push(layout.path(), "team/web:1.0", Format::Oci);
    let emu = Emulator::start(&seed());
    let home = tempfile::tempdir().unwrap();
    let (code, stdout, stderr) = output(
        attest_command(&emu, home.path())
            .env("GOOGLE_OAUTH_ACCESS_TOKEN", TOKEN)
            .env("GITHUB_ACTIONS", "true")
            .args([
                "sign",
                &nexus_image,
                "--attestor",
                ATTESTOR,
                "--kms-key-version",
                KEY,
            ])
            .args(["--insecure-registry", &nexus.host]),
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stderr.contains("is not in Artifact Registry or gcr.io"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("--source {nexus_image}")),
        "{stderr}"
    );
    // Under GitHub Actions the warning is an annotation too.
    assert!(
        stderr.contains("::warning title=binauthz-attest::"),
        "{stderr}"
    );

    // The Artifact Registry reference (the emulator's registry, a Google one): no warning.
    let (code, _, stderr) = output(
        attest_command(&emu, home.path())
            .env("GOOGLE_OAUTH_ACCESS_TOKEN", TOKEN)
            .args([
                "sign",
                &format!("{}/demo/apps/web:v1", emu.host()),
                "--attestor",
                ATTESTOR,
                "--kms-key-version",
                KEY,
            ])
            .args(emu.registry_flags()),
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(!stderr.contains("is not in Artifact Registry"), "{stderr}");
}

#[test]
fn a_pkix_key_the_attestor_does_not_hold_is_not_called_a_kms_key_and_the_fix_is_setup() {
    let emu = Emulator::start(&seed());
    let home = tempfile::tempdir().unwrap();
    let key = home.path().join("key.pem");
    let made = Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
        ])
        .arg(&key)
        .status()
        .expect("openssl is required by this test");
    assert!(made.success());
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let (code, _, stderr) = output(
        attest_command(&emu, home.path())
            .env("GOOGLE_OAUTH_ACCESS_TOKEN", TOKEN)
            .args([
                "sign",
                &format!("{}/demo/apps/web:v1", emu.host()),
                "--attestor",
                ATTESTOR,
            ])
            .arg("--pkix-private-key")
            .arg(&key)
            .args(emu.registry_flags()),
    );
    assert_eq!(code, 5, "{stderr}");
    assert!(!stderr.contains("KMS key version"), "{stderr}");
    assert!(
        stderr.contains(&format!("the PKIX key in {}", key.display())),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "binauthz-attest setup --attestor {ATTESTOR} --pkix-public-key <(openssl pkey -in {} -pubout)",
            key.display()
        )),
        "{stderr}"
    );
    assert!(
        !stderr.contains("ALGORITHM") && !stderr.contains("-out key.pub"),
        "{stderr}"
    );
}

#[test]
fn a_readable_key_file_warning_is_a_github_annotation() {
    let emu = Emulator::start(&seed());
    let home = tempfile::tempdir().unwrap();
    let key = home.path().join("key.pem");
    let made = Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
        ])
        .arg(&key)
        .status()
        .expect("openssl is required by this test");
    assert!(made.success());
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let (_, _, stderr) = output(
        attest_command(&emu, home.path())
            .env("GOOGLE_OAUTH_ACCESS_TOKEN", TOKEN)
            .env("GITHUB_ACTIONS", "true")
            .args([
                "sign",
                &format!("{}/demo/apps/web:v1", emu.host()),
                "--attestor",
                ATTESTOR,
            ])
            .arg("--pkix-private-key")
            .arg(&key)
            .args(emu.registry_flags()),
    );
    assert!(
        stderr.contains("::warning title=binauthz-attest::the private key file"),
        "{stderr}"
    );
}

#[test]
fn a_missing_signing_key_lists_the_key_file_alternatives_and_a_github_typo_is_named() {
    let emu = Emulator::start(&seed());
    let home = tempfile::tempdir().unwrap();
    let (code, _, stderr) = output(attest_command(&emu, home.path()).args([
        "sign",
        "r.io/a/b:1",
        "--attestor",
        ATTESTOR,
    ]));
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("--kms-key-version (or BINAUTHZ_KMS_KEY_VERSION) or --pkix-private-key"),
        "{stderr}"
    );

    let (code, stdout, stderr) = output(
        attest_command(&emu, home.path())
            .env("GITHUB_ACTIONS", "true")
            .env("INPUT_IMAGES", "r.io/a/b:1")
            .env("INPUT_ATESTOR", ATTESTOR)
            .env("INPUT_KMS-KEY-VERSION", KEY)
            .args(["sign", "--ci", "github"]),
    );
    assert_eq!(code, 2, "{stdout}{stderr}");
    assert!(
        stderr.starts_with("::error title=binauthz-attest (exit 2)::"),
        "{stderr}"
    );
    assert!(
        stderr.contains("input `attestor`") && stderr.contains("did you mean `attestor`"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("Usage:") && !stderr.contains("--kms-key-version"),
        "{stderr}"
    );
}

#[test]
fn a_batch_with_an_image_that_does_not_resolve_counts_it_in_the_progress_and_the_summary() {
    let emu = Emulator::start(&seed());
    let home = tempfile::tempdir().unwrap();
    let summary = home.path().join("summary.md");
    let outputs = home.path().join("outputs");
    let missing = format!("{}/demo/apps/missing:v9", emu.host());
    let (code, _, stderr) = output(
        attest_command(&emu, home.path())
            .env("GOOGLE_OAUTH_ACCESS_TOKEN", TOKEN)
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_STEP_SUMMARY", &summary)
            .env("GITHUB_OUTPUT", &outputs)
            .args([
                "sign",
                &format!("{}/demo/apps/web:v1", emu.host()),
                &missing,
            ])
            .args(["--attestor", ATTESTOR, "--kms-key-version", KEY])
            .args(emu.registry_flags()),
    );
    assert_eq!(code, 4, "{stderr}");
    assert!(
        stderr.contains("[1/2]") && stderr.contains("[2/2]"),
        "{stderr}"
    );
    assert!(!stderr.contains("[1/1]"), "{stderr}");
    assert_eq!(stderr.matches("::endgroup::").count(), 1, "{stderr}");
    let summary = std::fs::read_to_string(summary).unwrap();
    assert!(
        summary.contains(&format!(
            "| `{missing}` |  |  | failed: image {missing} was not found"
        )),
        "{summary}"
    );
}

#[test]
fn a_rejected_token_names_the_variable_or_file_it_came_from() {
    let emu = Emulator::start(&seed());
    let home = tempfile::tempdir().unwrap();
    let image = format!("{}/demo/apps/web@sha256:{}", emu.host(), "0".repeat(64));
    let sign = |cmd: &mut Command| {
        output(
            cmd.args([
                "sign",
                &image,
                "--attestor",
                ATTESTOR,
                "--kms-key-version",
                KEY,
            ])
            .args(emu.registry_flags()),
        )
    };
    let (code, _, stderr) =
        sign(attest_command(&emu, home.path()).env("GOOGLE_OAUTH_ACCESS_TOKEN", "ya29.expired"));
    assert_eq!(code, 3, "{stderr}");
    assert!(
        stderr.contains("it came from the variable GOOGLE_OAUTH_ACCESS_TOKEN"),
        "{stderr}"
    );

    let file = home.path().join("token");
    std::fs::write(&file, "ya29.expired\n").unwrap();
    let (code, _, stderr) =
        sign(attest_command(&emu, home.path()).env("CLOUDSDK_AUTH_ACCESS_TOKEN_FILE", &file));
    assert_eq!(code, 3, "{stderr}");
    assert!(
        stderr.contains(&format!(
            "it came from the access token file {}",
            file.display()
        )),
        "{stderr}"
    );
}

/// `policy check` of `manifest` under a policy that denies everything (no network needed).
fn check_denying(manifest: &str) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("policy.yaml"),
        "defaultAdmissionRule:\n  evaluationMode: ALWAYS_DENY\n  enforcementMode: ENFORCED_BLOCK_AND_AUDIT_LOG\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("app.yaml"), manifest).unwrap();
    output(
        Command::new(env!("CARGO_BIN_EXE_binauthz-attest"))
            .current_dir(dir.path())
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .args([
                "policy",
                "check",
                "--policy",
                "policy.yaml",
                "--manifest",
                "app.yaml",
                "--output",
                "text",
            ]),
    )
}

const DIGEST: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000001";

#[test]
fn breakglass_admits_with_a_warning_and_a_misplaced_or_misspelled_one_gets_a_hint() {
    let service = |annotations: &str, template_annotations: &str| {
        format!(
            "apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata:\n  name: web\n  annotations:\n    run.googleapis.com/binary-authorization: default\n{annotations}spec:\n  template:\n    metadata:\n      annotations:\n        autoscaling.knative.dev/maxScale: '3'\n{template_annotations}    spec:\n      containers:\n      - image: us-docker.pkg.dev/p/r/web@{DIGEST}\n"
        )
    };
    // On the Service: admitted, with a warning that it is logged for audit.
    let (code, stdout, stderr) = check_denying(&service(
        "    run.googleapis.com/binary-authorization-breakglass: INC-42 hotfix\n",
        "",
    ));
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("ADMITTED BY BREAKGLASS"), "{stdout}");
    assert!(stderr.contains("is admitted by breakglass (run.googleapis.com/binary-authorization-breakglass: INC-42 hotfix)"), "{stderr}");
    assert!(stderr.contains("Cloud Audit Logs"), "{stderr}");
    // Not "Service/web (unnamed)": the container has no name, the Service has one.
    assert!(stdout.contains("Service/web containers[0]"), "{stdout}");
    assert!(!stdout.contains("(unnamed)"), "{stdout}");

    // On the revision template: Cloud Run ignores it, the deploy is denied, and we say why.
    let (code, _, stderr) = check_denying(&service(
        "",
        "        run.googleapis.com/binary-authorization-breakglass: INC-42 hotfix\n",
    ));
    assert_eq!(code, 5, "{stderr}");
    assert!(
        stderr.contains("`run.googleapis.com/binary-authorization-breakglass` at spec.template.metadata.annotations has no effect"),
        "{stderr}"
    );

    // GKE, misspelled on the pod template.
    let deployment = format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\nspec:\n  template:\n    metadata:\n      annotations:\n        alpha.image-policy.k8s.io/breakglass: \"true\"\n    spec:\n      containers:\n      - name: api\n        image: us-docker.pkg.dev/p/r/api@{DIGEST}\n"
    );
    let (code, _, stderr) = check_denying(&deployment);
    assert_eq!(code, 5, "{stderr}");
    assert!(stderr.contains("`alpha.image-policy.k8s.io/breakglass` at spec.template.metadata.annotations has no effect: GKE reads breakglass only from `alpha.image-policy.k8s.io/break-glass`"), "{stderr}");
}

#[test]
fn setup_on_an_existing_attestor_reads_its_note_needs_no_key_for_the_policy_and_grants_its_agent() {
    let emu = Emulator::start(&seed());
    let home = tempfile::tempdir().unwrap();
    let key = home.path().join("key.pem");
    let public = home.path().join("key.pub");
    for args in [
        vec![
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            key.to_str().unwrap(),
        ],
        vec![
            "pkey",
            "-in",
            key.to_str().unwrap(),
            "-pubout",
            "-out",
            public.to_str().unwrap(),
        ],
    ] {
        assert!(Command::new("openssl")
            .args(&args)
            .status()
            .expect("openssl")
            .success());
    }
    let setup = |args: &[&str]| {
        output(
            attest_command(&emu, home.path())
                .env("GOOGLE_OAUTH_ACCESS_TOKEN", TOKEN)
                .arg("setup")
                .args(args)
                .args(["--output", "text"]),
        )
    };
    // a1 files under note n1, not the default `a1`: a rerun without --note must use it.
    let signer = "serviceAccount:ci@demo.iam.gserviceaccount.com";
    let (code, stdout, stderr) = setup(&[
        "--attestor",
        ATTESTOR,
        "--pkix-public-key",
        public.to_str().unwrap(),
        "--signer",
        signer,
    ]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    // The policy alone, for an attestor that holds keys the team holds: no --kms-key demanded.
    let (code, stdout, stderr) = setup(&["--attestor", ATTESTOR, "--policy", "enforce"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let policy = emu.ok("GET", "v1/projects/demo/policy", None);
    assert_eq!(
        policy["defaultAdmissionRule"]["enforcementMode"], "ENFORCED_BLOCK_AND_AUDIT_LOG",
        "{policy}"
    );
    assert!(policy.to_string().contains(ATTESTOR), "{policy}");

    // The agent granted on the note is the one the attestor names.
    let attestor = emu.ok("GET", &format!("v1/{ATTESTOR}"), None);
    let agent = attestor["userOwnedGrafeasNote"]["delegationServiceAccountEmail"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, iam) = emu.call(
        "POST",
        "v1/projects/demo/notes/n1:getIamPolicy",
        Some(&serde_json::json!({})),
    );
    assert_eq!(status, 200, "{iam}");
    let viewers = iam["bindings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["role"] == "roles/containeranalysis.notes.occurrences.viewer")
        .unwrap_or_else(|| panic!("{iam}"))["members"]
        .to_string();
    assert!(
        viewers.contains(&format!("serviceAccount:{agent}")),
        "{viewers} lacks {agent}"
    );
    // And it is the project's service agent, the number Resource Manager gives the project.
    let project = emu.ok("GET", "v1/projects/demo", None);
    assert_eq!(
        agent,
        format!(
            "service-{}@gcp-sa-binaryauthorization.iam.gserviceaccount.com",
            project["projectNumber"].as_str().unwrap()
        )
    );

    // No key and no attestor: the error lists every way to give one.
    let (code, _, stderr) = setup(&[
        "--attestor",
        "projects/demo/attestors/missing",
        "--policy",
        "enforce",
    ]);
    assert_eq!(code, 2, "{stderr}");
    for alternative in [
        "--kms-key KEY",
        "--pkix-public-key FILE",
        "--pgp-public-key FILE",
    ] {
        assert!(stderr.contains(alternative), "{stderr}");
    }
}

/// The README's recipes: each is a script under examples/recipes/, shown in the README
/// verbatim, and run here as the README says: `source examples/recipes/offline.sh` from the
/// repository root, then the recipe in a scratch directory.
const RECIPES: [&str; 4] = [
    "offline",
    "nexus-to-cloud-run",
    "dry-run-to-enforce",
    "keys-without-prompts",
];

fn recipe(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("examples/recipes/{name}.sh"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn the_readme_shows_every_recipe_script_verbatim() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    for name in RECIPES {
        assert!(
            readme.contains(&format!("```sh\n{}```", recipe(name))),
            "README.md does not show examples/recipes/{name}.sh verbatim"
        );
    }
}

/// Runs recipe `name` after the offline one, with `before` (shell) in between; returns its
/// exit code and output.
fn run_recipe(name: &str, before: &str, env: &[(&str, &str)]) -> (i32, String, String) {
    let repo = env!("CARGO_MANIFEST_DIR");
    let work = tempfile::tempdir().unwrap();
    let bin = Path::new(env!("CARGO_BIN_EXE_binauthz-attest"))
        .parent()
        .unwrap();
    let emulator = crate::common::emulator::emulator_binary();
    let script = format!(
        "set -euo pipefail\ncd '{repo}'\nsource examples/recipes/offline.sh\ntrap 'kill $BINAUTHZ_EMULATOR_PID' EXIT\n\
         export PATH='{}':'{}':\"$PATH\"\ncd '{}'\n{before}\n[ {name} = offline ] || bash -euo pipefail '{repo}/examples/recipes/{name}.sh'\n",
        bin.display(),
        emulator.parent().unwrap().display(),
        work.path().display()
    );
    let mut cmd = Command::new("bash");
    cmd.arg("-c")
        .arg(script)
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("HOME", work.path());
    for (k, v) in env {
        cmd.env(k, v);
    }
    output(&mut cmd)
}

#[test]
fn recipe_try_everything_offline_signs_the_seeded_image() {
    let (code, stdout, stderr) = run_recipe("offline", "", &[]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("attested projects/demo/occurrences/")
            && stdout.contains("by projects/demo/attestors/attestor-cloud-run"),
        "{stdout}"
    );
}

#[test]
fn recipe_nexus_to_artifact_registry_to_cloud_run() {
    let nexus = registry();
    let layout = Layout::image("recipe nexus to cloud run");
    nexus.push(layout.path(), "team/web:1.4.2", Format::Oci);
    // The build's push of the same image to Artifact Registry (the emulator's registry).
    let push = format!(
        "skopeo copy --quiet --insecure-policy --dest-tls-verify=false --dest-creds oauth2accesstoken:$GOOGLE_OAUTH_ACCESS_TOKEN oci:'{}' docker://$AR/web:1.4.2\n\
         export NEXUS='{}/team' BINAUTHZ_INSECURE_REGISTRIES=$BINAUTHZ_INSECURE_REGISTRIES,'{}'",
        layout.path().display(),
        nexus.host,
        nexus.host
    );
    let (code, stdout, stderr) = run_recipe("nexus-to-cloud-run", &push, &[]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("attested projects/demo/occurrences/"),
        "{stdout}"
    );
    assert!(stdout.contains("ALLOWED"), "{stdout}");
    assert!(!stderr.contains("is not in Artifact Registry"), "{stderr}");
}

#[test]
fn recipe_from_dry_run_to_enforce_with_breakglass() {
    let (code, stdout, stderr) = run_recipe("dry-run-to-enforce", "", &[]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("WOULD BE DENIED (DRY RUN)"), "{stdout}");
    assert!(stdout.contains("denied, exit 5"), "{stdout}");
    assert!(stdout.contains("ADMITTED BY BREAKGLASS"), "{stdout}");
    assert!(stderr.contains("is admitted by breakglass"), "{stderr}");
    // The last check, after the emergency: attested, no annotation, allowed on its own.
    let last = stdout
        .lines()
        .rfind(|l| l.contains("Service/web"))
        .unwrap_or_default();
    assert!(
        last.contains("ALLOWED  by defaultAdmissionRule"),
        "{stdout}"
    );
}

#[test]
fn recipe_keys_you_hold_without_prompts() {
    let (code, stdout, stderr) = run_recipe("keys-without-prompts", "", &[]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    for attestor in ["team-pkix", "team-pgp"] {
        let line = format!("by projects/demo/attestors/{attestor}");
        assert!(
            stdout
                .lines()
                .any(|l| l.contains("  attested projects/demo/occurrences/") && l.ends_with(&line)),
            "{attestor}: {stdout}"
        );
    }
}

#[test]
fn no_credentials_at_all_reads_as_one_plain_sentence() {
    let home = tempfile::tempdir().unwrap();
    let (code, _, stderr) = output(
        Command::new(env!("CARGO_BIN_EXE_binauthz-attest"))
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", home.path())
            .env("GCE_METADATA_HOST", "127.0.0.1:9") // nothing listens there
            .args([
                "sign",
                &format!("us-docker.pkg.dev/p/r/i@sha256:{}", "0".repeat(64)),
            ])
            .args([
                "--attestor",
                ATTESTOR,
                "--kms-key-version",
                KEY,
                "--timeout",
                "30s",
            ]),
    );
    assert_eq!(code, 3, "{stderr}");
    assert!(
        stderr.contains("no Google credentials (none is set: no access token, no GOOGLE_APPLICATION_CREDENTIALS"),
        "{stderr}"
    );
    assert!(
        stderr.contains("metadata server (127.0.0.1:9) did not answer"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("transient") && !stderr.contains("might succeed"),
        "{stderr}"
    );
}
