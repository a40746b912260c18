//! `policy check` through the binary: real attestations written by gcloud into the emulator,
//! the policy as a file and the same policy imported with gcloud and read back with
//! `--project`; manifests; and `pin`, whose output PyYAML re-reads. The full decision table is
//! the unit test `policy::tests`; these cases cross the network boundary.

use crate::common::emulator::Emulator;
use crate::sign::{attest, version};
use serde_json::Value;
use std::process::Command;

/// Attestor a1 trusts `ec`, a2 trusts `rsa`; the registry holds demo/apps/{signed,half,unsigned}.
fn google() -> Emulator {
    let images: String = ["signed", "half", "unsigned"]
        .iter()
        .map(|r| format!("  - repository: demo/apps/{r}\n    tag: v1\n"))
        .collect();
    Emulator::start(&format!(
        "keys:\n  - name: {}\n    algorithm: EC_SIGN_P256_SHA256\n  - name: {}\n    algorithm: RSA_SIGN_PSS_2048_SHA256\n\
         notes:\n  - name: projects/demo/notes/n1\n  - name: projects/demo/notes/n2\n\
         attestors:\n  - name: projects/demo/attestors/a1\n    note: projects/demo/notes/n1\n    keyVersions: [{}]\n  - name: projects/demo/attestors/a2\n    note: projects/demo/notes/n2\n    keyVersions: [{}]\n\
         images:\n{images}",
        strip(&version("ec")),
        strip(&version("rsa")),
        version("ec"),
        version("rsa"),
    ))
}

/// The key name without its version.
fn strip(version: &str) -> String {
    version
        .rsplit_once("/cryptoKeyVersions")
        .unwrap()
        .0
        .to_string()
}

/// `HOST/demo/apps/REPO:v1` and `HOST/demo/apps/REPO@DIGEST`.
fn image(emu: &Emulator, repo: &str) -> (String, String) {
    let digest = emu.registry_digest(&format!("demo/apps/{repo}"), "v1");
    (
        format!("{}/demo/apps/{repo}:v1", emu.host()),
        format!("{}/demo/apps/{repo}@{digest}", emu.host()),
    )
}

/// gcloud signs `image_ref` for `attestor` with `key` and files the attestation.
fn gcloud_attests(emu: &Emulator, image_ref: &str, attestor: &str, key: &str) {
    emu.gcloud_ok(&[
        "beta",
        "container",
        "binauthz",
        "attestations",
        "sign-and-create",
        &format!("--artifact-url={image_ref}"),
        &format!("--attestor={attestor}"),
        "--attestor-project=demo",
        &format!("--keyversion={}", version(key)),
    ]);
}

/// The test policy: the default rule requires a1 and a2 (enforced); cluster us-central1.stage
/// requires a1 in dry run; HOST/demo/trusted/* is exempt.
fn policy_yaml(emu: &Emulator) -> String {
    format!(
        "admissionWhitelistPatterns:\n- namePattern: {}/demo/trusted/*\n\
         clusterAdmissionRules:\n  us-central1.stage:\n    enforcementMode: DRYRUN_AUDIT_LOG_ONLY\n    evaluationMode: REQUIRE_ATTESTATION\n    requireAttestationsBy:\n    - projects/demo/attestors/a1\n\
         defaultAdmissionRule:\n  enforcementMode: ENFORCED_BLOCK_AND_AUDIT_LOG\n  evaluationMode: REQUIRE_ATTESTATION\n  requireAttestationsBy:\n  - projects/demo/attestors/a1\n  - projects/demo/attestors/a2\n\
         globalPolicyEvaluationMode: ENABLE\nname: projects/demo/policy\n",
        emu.host()
    )
}

/// `policy check` with the emulator's registry: (exit code, decisions, stderr).
fn check(emu: &Emulator, source: &[&str], args: &[&str]) -> (i32, Vec<Value>, String) {
    let flags = emu.registry_flags();
    let mut all: Vec<&str> = vec!["policy", "check", "--output=json"];
    all.extend(source);
    all.extend(flags.iter().map(String::as_str));
    all.extend(args);
    let (code, stdout, stderr) = attest(emu, &all);
    let decisions: Value =
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout} {stderr}"));
    (code, decisions.as_array().unwrap().clone(), stderr)
}

/// The fixture: signed by both attestors, half by a1 only, unsigned by none.
fn attested() -> Emulator {
    let emu = google();
    let (_, signed) = image(&emu, "signed");
    let (_, half) = image(&emu, "half");
    gcloud_attests(&emu, &signed, "a1", "ec");
    gcloud_attests(&emu, &signed, "a2", "rsa");
    gcloud_attests(&emu, &half, "a1", "ec");
    emu
}

/// (arguments, expected exit code, expected decision, expected deciding rule, documentation).
fn cases(emu: &Emulator) -> Vec<(Vec<String>, i32, &'static str, &'static str, &'static str)> {
    let (signed_tag, signed) = image(emu, "signed");
    let (_, half) = image(emu, "half");
    let (unsigned_tag, unsigned) = image(emu, "unsigned");
    let trusted = format!("{}/demo/trusted/tool:1", emu.host());
    let v = |args: &[&str]| args.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    const YAML: &str = "https://cloud.google.com/binary-authorization/docs/policy-yaml-reference";
    vec![
        // Cloud Run resolves the tag to its digest at deploy; both attestors attested it.
        (
            v(&[&signed_tag]),
            0,
            "allowed",
            "defaultAdmissionRule",
            "https://cloud.google.com/binary-authorization/docs/run/overview",
        ),
        (
            v(&[&signed, "--platform=gke"]),
            0,
            "allowed",
            "defaultAdmissionRule",
            YAML,
        ),
        // Every attestor of requireAttestationsBy must be satisfied.
        (v(&[&half]), 5, "denied", "defaultAdmissionRule", YAML),
        (
            v(&[&unsigned, "--platform=gke"]),
            5,
            "denied",
            "defaultAdmissionRule",
            YAML,
        ),
        // GKE checks attestations for digests only: a tag is denied, attested or not.
        (
            v(&[&signed_tag, "--platform=gke"]),
            5,
            "denied",
            "defaultAdmissionRule",
            "https://cloud.google.com/binary-authorization/docs/key-concepts",
        ),
        // The cluster's rule overrides the default on GKE: a1 alone suffices, in dry run.
        (
            v(&[&half, "--cluster=us-central1.stage"]),
            0,
            "allowed",
            "clusterAdmissionRules[us-central1.stage]",
            YAML,
        ),
        (
            v(&[&unsigned, "--cluster=us-central1.stage"]),
            0,
            "would-be-denied",
            "clusterAdmissionRules[us-central1.stage]",
            YAML,
        ),
        (
            v(&[&unsigned_tag, "--cluster=us-central1.stage"]),
            0,
            "would-be-denied",
            "clusterAdmissionRules[us-central1.stage]",
            YAML,
        ),
        // Exempt images are admitted without any rule, even ones no registry holds.
        (
            v(&[&trusted, "--platform=gke"]),
            0,
            "allowed",
            "allowlist pattern",
            YAML,
        ),
    ]
}

#[test]
fn decisions_from_a_file_and_from_the_project_after_gcloud_import_agree() {
    let emu = attested();
    let file = emu.dir.path().join("policy.yaml");
    std::fs::write(&file, policy_yaml(&emu)).unwrap();
    let policy_flag = format!("--policy={}", file.display());
    emu.gcloud_ok(&[
        "container",
        "binauthz",
        "policy",
        "import",
        file.to_str().unwrap(),
    ]);

    for (args, code, decision, decided_by, doc) in cases(&emu) {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let from_file = check(&emu, &[&policy_flag], &args);
        let from_project = check(&emu, &["--project=demo"], &args);
        assert_eq!(from_file.0, code, "{args:?} ({doc}): {}", from_file.2);
        let d = &from_file.1[0];
        assert_eq!(d["decision"], decision, "{args:?} ({doc}): {d}");
        assert!(
            d["decided_by"].as_str().unwrap().starts_with(decided_by),
            "{args:?}: {d}"
        );
        // The policy gcloud imported, read back through GetPolicy, decides the same.
        assert_eq!(
            from_project.0, code,
            "--project {args:?}: {}",
            from_project.2
        );
        assert_eq!(
            (
                &from_project.1[0]["decision"],
                &from_project.1[0]["decided_by"]
            ),
            (&d["decision"], &d["decided_by"]),
            "--project {args:?}"
        );
    }
}

#[test]
fn attestation_rules_report_each_attestors_verdict_and_dry_runs_warn() {
    let emu = attested();
    let file = emu.dir.path().join("policy.yaml");
    std::fs::write(&file, policy_yaml(&emu)).unwrap();
    let policy_flag = format!("--policy={}", file.display());
    let (_, half) = image(&emu, "half");
    let (code, decisions, stderr) = check(&emu, &[&policy_flag], &[&half]);
    assert_eq!(code, 5, "{stderr}");
    let verdicts = decisions[0]["verdicts"].as_array().unwrap();
    let by: Vec<(&str, bool)> = verdicts
        .iter()
        .map(|v| {
            (
                v["attestor"].as_str().unwrap(),
                v["verified"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        by,
        [
            ("projects/demo/attestors/a1", true),
            ("projects/demo/attestors/a2", false)
        ]
    );
    assert!(
        stderr.contains("Binary Authorization would deny"),
        "{stderr}"
    );

    // Under GitHub Actions: the outputs, the step summary, and a warning for the dry run.
    let (_, unsigned) = image(&emu, "unsigned");
    let output = emu.dir.path().join("github-output");
    let summary = emu.dir.path().join("github-summary");
    let home = emu.dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let out = crate::common::attest_command(&emu, &home)
        .args([
            "policy",
            "check",
            &policy_flag,
            "--cluster=us-central1.stage",
            &unsigned,
        ])
        .args(emu.registry_flags())
        .env("GOOGLE_OAUTH_ACCESS_TOKEN", crate::common::emulator::TOKEN)
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_OUTPUT", &output)
        .env("GITHUB_STEP_SUMMARY", &summary)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("::warning title=binauthz-attest::")
            && stderr.contains("would be denied (dry run)"),
        "{stderr}"
    );
    let outputs = std::fs::read_to_string(&output).unwrap();
    assert!(
        outputs.starts_with("decision<<") && outputs.contains("\nwould-be-denied\n"),
        "{outputs}"
    );
    assert!(outputs.contains("\njson<<"), "{outputs}");
    let table = std::fs::read_to_string(&summary).unwrap();
    assert!(
        table.contains("| Image | Where | Decision |")
            && table.contains("would be denied (dry run)"),
        "{table}"
    );
}

/// tests/manifests/NAME with REGISTRY and DIGEST filled in, written to the emulator's folder.
fn manifest(emu: &Emulator, name: &str) -> std::path::PathBuf {
    let (_, signed) = image(emu, "signed");
    let digest = signed.rsplit_once('@').unwrap().1;
    let text = std::fs::read_to_string(format!(
        "{}/tests/manifests/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
    .replace(
        "REGISTRY/demo/app",
        &format!("{}/demo/apps/signed", emu.host()),
    )
    .replace("DIGEST", digest);
    let path = emu.dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn manifests_are_checked_per_container_with_breakglass_and_warnings() {
    let emu = attested();
    let file = emu.dir.path().join("policy.yaml");
    std::fs::write(&file, policy_yaml(&emu)).unwrap();
    let policy_flag = format!("--policy={}", file.display());
    let mut args = Vec::new();
    for name in [
        "run-service.yaml",
        "deployment.yaml",
        "multi.yaml",
        "run-job.yaml",
    ] {
        args.push(format!("--manifest={}", manifest(&emu, name).display()));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, decisions, stderr) = check(&emu, &[&policy_flag], &args);
    let got: Vec<(&str, &str)> = decisions
        .iter()
        .map(|d| {
            (
                d["container"].as_str().unwrap(),
                d["decision"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            // Cloud Run: the tag resolves to the attested digest.
            ("app", "allowed"),
            ("sidecar", "allowed"),
            // GKE: tags are denied under an attestation rule, init containers too.
            ("init:migrate", "denied"),
            ("web", "denied"),
            ("report", "denied"),
            // The pod's breakglass annotation admits it, logged for audit.
            ("fix", "breakglass"),
            ("agent", "allowed"),
            // Cloud Run's breakglass annotation on the job.
            ("batch", "breakglass"),
        ],
        "{decisions:?}"
    );
    assert_eq!(code, 5, "{stderr}");
    assert!(
        stderr.contains("Job/batch has no `run.googleapis.com/binary-authorization` annotation"),
        "{stderr}"
    );
    assert!(
        decisions[2]["reason"]
            .as_str()
            .unwrap()
            .contains("binauthz-attest pin"),
        "{}",
        decisions[2]
    );
    assert!(
        stderr.contains("init:migrate in Deployment/web"),
        "{stderr}"
    );
}

#[test]
fn pin_rewrites_only_the_images_and_pyyaml_reads_the_result() {
    let emu = attested();
    for name in ["deployment.yaml", "multi.yaml", "run-service.yaml"] {
        let path = manifest(&emu, name);
        let before = std::fs::read_to_string(&path).unwrap();
        let flags = emu.registry_flags();
        let mut args = vec!["pin", path.to_str().unwrap()];
        args.extend(flags.iter().map(String::as_str));
        let (code, pinned, stderr) = attest(&emu, &args);
        assert_eq!(code, 0, "{stderr}");

        // Only the image scalars changed: every other line is byte for byte the same.
        let (_, signed) = image(&emu, "signed");
        for (old, new) in before.lines().zip(pinned.lines()) {
            if old != new {
                assert!(new.contains(&signed), "{name}: `{old}` became `{new}`");
                let tag = format!("{}/demo/apps/signed:v1", emu.host());
                assert_eq!(
                    new.replace(&signed, &tag),
                    old,
                    "{name}: only the image changes"
                );
            }
        }
        assert_eq!(before.lines().count(), pinned.lines().count());
        assert!(pinned.contains("# "), "comments kept");

        // PyYAML (not ours) reads every document and finds only digests the registry serves.
        let out_file = emu.dir.path().join(format!("pinned-{name}"));
        std::fs::write(&out_file, &pinned).unwrap();
        let script = "import sys, yaml, json\nimages = []\ndef walk(n):\n    if isinstance(n, dict):\n        for k, v in n.items():\n            if k == 'image' and isinstance(v, str) and '/' in v: images.append(v)\n            else: walk(v)\n    elif isinstance(n, list):\n        for v in n: walk(v)\nfor doc in yaml.safe_load_all(open(sys.argv[1])): walk(doc)\nprint(json.dumps(images))\n";
        let out = Command::new("python3")
            .args(["-c", script, out_file.to_str().unwrap()])
            .output()
            .expect("python3 with PyYAML (Debian python3-yaml) is required");
        assert!(
            out.status.success(),
            "PyYAML: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let images: Vec<String> = serde_json::from_slice(&out.stdout).unwrap();
        assert!(!images.is_empty(), "{name}");
        for i in &images {
            assert_eq!(
                i, &signed,
                "{name}: every image is the digest the registry serves"
            );
        }
    }

    // --in-place rewrites the file; a second pin changes nothing.
    let path = manifest(&emu, "deployment.yaml");
    let flags = emu.registry_flags();
    let mut args = vec!["pin", "--in-place", path.to_str().unwrap()];
    args.extend(flags.iter().map(String::as_str));
    assert_eq!(attest(&emu, &args).0, 0);
    let once = std::fs::read_to_string(&path).unwrap();
    assert_eq!(attest(&emu, &args).0, 0);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), once);
    assert!(!once.contains(":v1"), "{once}");
    let dir = path.parent().unwrap();
    let left: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(
        left.is_empty(),
        "temporary files left beside the manifest: {left:?}"
    );

    // A symbolic link is refused, by name, and neither it nor its target is touched.
    let target = manifest(&emu, "deployment.yaml");
    let before = std::fs::read_to_string(&target).unwrap();
    let link = dir.join("linked-deployment.yaml");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let mut args = vec!["pin", "--in-place", link.to_str().unwrap()];
    args.extend(flags.iter().map(String::as_str));
    let (code, _, stderr) = attest(&emu, &args);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("linked-deployment.yaml is a symbolic link"),
        "{stderr}"
    );
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(std::fs::read_to_string(&target).unwrap(), before);
}

#[test]
fn bad_policy_and_manifest_files_are_named_errors_with_positions() {
    let emu = google();
    let bad = emu.dir.path().join("bad-policy.yaml");
    std::fs::write(&bad, "defaultAdmissionRule:\n  evaluationMode: SOMETIMES\n  enforcementMode: ENFORCED_BLOCK_AND_AUDIT_LOG\n").unwrap();
    let (code, _, stderr) = attest(
        &emu,
        &[
            "policy",
            "check",
            &format!("--policy={}", bad.display()),
            "r.io/a/b:1",
        ],
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("bad-policy.yaml, line 2"), "{stderr}");

    let manifest = emu.dir.path().join("bad.yaml");
    std::fs::write(
        &manifest,
        "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - name: x\n    image: 'Not A Ref'\n",
    )
    .unwrap();
    let policy = emu.dir.path().join("ok.yaml");
    std::fs::write(&policy, "defaultAdmissionRule:\n  evaluationMode: ALWAYS_ALLOW\n  enforcementMode: ENFORCED_BLOCK_AND_AUDIT_LOG\n").unwrap();
    let (code, _, stderr) = attest(
        &emu,
        &[
            "policy",
            "check",
            &format!("--policy={}", policy.display()),
            &format!("--manifest={}", manifest.display()),
        ],
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("bad.yaml, line 6"), "{stderr}");
    let (code, _, stderr) = attest(&emu, &["pin", manifest.to_str().unwrap()]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("bad.yaml, line 6"), "{stderr}");
}
