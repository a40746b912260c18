//! The Tekton StepAction's step, run under podman the way a Tekton pod runs it: the Task's
//! params passed to the StepAction's (defaults filled), `$(params.*)` replaced in `env`,
//! `$(step.results.NAME.path)` replaced in the script with `/tekton/steps/step-sign/results/NAME`,
//! the script started from `/tekton/scripts`, as the StepAction's `runAsUser`, with the Task's
//! credentials workspace at its `mountPath`. No cluster runs here; the results the step writes
//! are read from the files Tekton would read.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use serde_json::Value;

use super::{
    attestations, google, image_tag, key_version, repo, run, show, ATTESTOR, SERVICE_ACCOUNT,
};

fn yaml(rel: &str) -> Value {
    serde_norway::from_str(&std::fs::read_to_string(repo().join(rel)).unwrap()).unwrap()
}

/// One Task's step as a Tekton pod runs it: TaskRun params `given` -> the Task's params
/// (defaults filled) -> its step's params -> the StepAction's `env`, the script with its result
/// paths, as the StepAction's user, with `key` (a service-account key) in the credentials
/// workspace. Returns the step's output and a reader of the results it wrote.
struct Step {
    out: std::process::Output,
    results: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Step {
    fn result(&self, name: &str) -> String {
        std::fs::read_to_string(self.results.join(name))
            .unwrap_or_else(|e| panic!("no step result {name} ({e}):\n{}", show(&self.out)))
    }
}

fn run_step(emu: &crate::common::emulator::Emulator, verb: &str, given: &[(&str, &str)]) -> Step {
    let action = yaml(&format!("tekton/stepaction/{verb}/{verb}.yaml"));
    let task = yaml(&format!("tekton/{verb}/{verb}.yaml"));
    assert_eq!(action["kind"], "StepAction");
    assert_eq!(action["apiVersion"], "tekton.dev/v1beta1");
    let host = emu.host();
    let mut task_params = BTreeMap::new();
    for p in task["spec"]["params"].as_array().unwrap() {
        let name = p["name"].as_str().unwrap();
        let value = given
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.to_string())
            .or_else(|| p["default"].as_str().map(str::to_string))
            .unwrap_or_else(|| panic!("the test gives no value for required param {name}"));
        task_params.insert(format!("$(params.{name})"), value);
    }
    for (name, _) in given {
        assert!(
            task_params.contains_key(&format!("$(params.{name})")),
            "{verb}: the Task has no param {name}"
        );
    }
    let step = &task["spec"]["steps"][0];
    let step_name = step["name"].as_str().unwrap();
    assert_eq!(
        step["ref"]["name"], verb,
        "the Task's step runs the StepAction"
    );
    let mut action_params = BTreeMap::new();
    for p in step["params"].as_array().unwrap() {
        let value = p["value"].as_str().unwrap();
        action_params.insert(
            format!("$(params.{})", p["name"].as_str().unwrap()),
            task_params.get(value).cloned().unwrap_or(value.to_string()),
        );
    }

    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("results");
    let scripts = dir.path().join("scripts");
    let creds = dir.path().join("gcp-credentials");
    for d in [&results, &scripts, &creds] {
        std::fs::create_dir(d).unwrap();
    }
    // Tekton's step results directory is writable by the step's user.
    std::fs::set_permissions(&results, std::fs::Permissions::from_mode(0o777)).unwrap();
    let key = emu.ok(
        "GET",
        &format!("emulator/service-accounts/{SERVICE_ACCOUNT}/key"),
        None,
    );
    let key_file = creds.join("application_default_credentials.json");
    std::fs::write(&key_file, key.to_string()).unwrap();
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let results_in_pod = format!("/tekton/steps/step-{step_name}/results");
    let mut script = action["spec"]["script"].as_str().unwrap().to_string();
    for r in action["spec"]["results"].as_array().unwrap() {
        let name = r["name"].as_str().unwrap();
        script = script.replace(
            &format!("$(step.results.{name}.path)"),
            &format!("{results_in_pod}/{name}"),
        );
    }
    assert!(
        !script.contains("$(step.") && !script.contains("$(params."),
        "unreplaced Tekton variable in {script}"
    );
    let script_name = format!("script-0-{step_name}");
    std::fs::write(scripts.join(&script_name), &script).unwrap();
    std::fs::set_permissions(
        scripts.join(&script_name),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();

    let workspace = &task["spec"]["workspaces"][0];
    let security = &action["spec"]["securityContext"];
    let user = format!("{}:{}", security["runAsUser"], security["runAsGroup"]);
    let mut cmd = Command::new("podman");
    cmd.args([
        "--runtime",
        "runc",
        "--cgroup-manager=cgroupfs",
        "run",
        "--rm",
    ])
    .args([
        "--ulimit",
        "nofile=1024:1024",
        "--ulimit",
        "nproc=1024:1024",
    ])
    .args(["--pull=never", "--network=host", "--user", &user])
    .arg("-v")
    .arg(format!("{}:{results_in_pod}", results.display()))
    .arg("-v")
    .arg(format!("{}:/tekton/scripts:ro", scripts.display()))
    .arg("-v")
    .arg(format!(
        "{}:{}:ro",
        creds.display(),
        workspace["mountPath"].as_str().unwrap()
    ))
    .args(["--entrypoint", &format!("/tekton/scripts/{script_name}")]);
    for var in action["spec"]["env"].as_array().unwrap() {
        let mut value = var["value"].as_str().unwrap().to_string();
        if let Some(v) = action_params.get(&value) {
            value = v.clone();
        }
        cmd.arg("-e")
            .arg(format!("{}={value}", var["name"].as_str().unwrap()));
    }
    // The cluster's own settings, not the StepAction's: Google at the emulator.
    for api in ["CLOUDKMS", "BINARYAUTHORIZATION", "CONTAINERANALYSIS"] {
        cmd.arg("-e")
            .arg(format!("CLOUDSDK_API_ENDPOINT_OVERRIDES_{api}={}", emu.url));
    }
    cmd.arg("-e").arg(format!("GCE_METADATA_HOST={host}"));
    let debug_image = action["spec"]["image"].as_str().unwrap();
    assert!(debug_image.ends_with(":v1-debug"), "{debug_image}");
    cmd.arg(format!("{}-debug", image_tag()));
    let out = run(&mut cmd);
    Step {
        out,
        results,
        _dir: dir,
    }
}

#[test]
fn tekton_stepaction_signs_as_nonroot_and_writes_the_step_results_the_task_reads() {
    let emu = google(&["tekton"]);
    let host = emu.host();
    let image = format!("{host}/demo/apps/tekton:v1");
    let kms = key_version();
    let step = run_step(
        &emu,
        "binauthz-attest",
        &[
            ("images", image.as_str()),
            ("attestor", ATTESTOR),
            ("kms-key-version", kms.as_str()),
            ("insecure-registry", host.as_str()),
            ("google-registry", host.as_str()),
        ],
    );
    assert!(
        step.out.status.success(),
        "the step failed:\n{}",
        show(&step.out)
    );
    let digest = emu.registry_digest("demo/apps/tekton", "v1");
    assert_eq!(step.result("IMAGE_URL"), format!("{host}/demo/apps/tekton"));
    assert_eq!(step.result("IMAGE_DIGEST"), digest);
    assert!(step
        .result("ATTESTATION")
        .starts_with("projects/demo/occurrences/"));
    assert_eq!(step.result("CREATED"), "true");
    assert_eq!(attestations(&emu).len(), 1);
}

#[test]
fn tekton_verify_and_policy_check_stepactions_judge_a_signed_and_an_unsigned_image() {
    let emu = google(&["signed", "unsigned"]);
    let host = emu.host();
    let signed = format!("{host}/demo/apps/signed:v1");
    let unsigned = format!("{host}/demo/apps/unsigned:v1");
    let kms = key_version();
    let registries = [
        ("insecure-registry", host.as_str()),
        ("google-registry", host.as_str()),
    ];
    let sign = [
        ("images", signed.as_str()),
        ("attestor", ATTESTOR),
        ("kms-key-version", kms.as_str()),
    ];
    let sign: Vec<_> = sign.iter().chain(&registries).copied().collect();
    let step = run_step(&emu, "binauthz-attest", &sign);
    assert!(
        step.out.status.success(),
        "sign failed:\n{}",
        show(&step.out)
    );

    let verify = |image: &str| {
        let given: Vec<_> = [("images", image), ("attestor", ATTESTOR)]
            .iter()
            .chain(&registries)
            .copied()
            .collect();
        run_step(&emu, "binauthz-verify", &given)
    };
    let step = verify(&signed);
    assert!(
        step.out.status.success(),
        "verify failed:\n{}",
        show(&step.out)
    );
    assert_eq!(step.result("VERIFIED"), "true");
    let step = verify(&unsigned);
    assert_eq!(step.out.status.code(), Some(5), "{}", show(&step.out));
    assert_eq!(step.result("VERIFIED"), "false");

    // The project's policy requires the attestor; policy check reads it (GetPolicy).
    let current = emu.ok("GET", "v1/projects/demo/policy", None);
    emu.ok(
        "PUT",
        "v1/projects/demo/policy",
        Some(&serde_json::json!({
            "etag": current["etag"],
            "globalPolicyEvaluationMode": "ENABLE",
            "defaultAdmissionRule": {
                "evaluationMode": "REQUIRE_ATTESTATION",
                "enforcementMode": "ENFORCED_BLOCK_AND_AUDIT_LOG",
                "requireAttestationsBy": [ATTESTOR],
            },
        })),
    );
    let check = |image: &str| {
        let given: Vec<_> = [
            ("images", image),
            ("project", "demo"),
            ("platform", "cloudrun"),
        ]
        .iter()
        .chain(&registries)
        .copied()
        .collect();
        run_step(&emu, "binauthz-policy-check", &given)
    };
    let step = check(&signed);
    assert!(
        step.out.status.success(),
        "policy check failed:\n{}",
        show(&step.out)
    );
    assert_eq!(step.result("DECISION"), "allowed");
    let step = check(&unsigned);
    assert_eq!(step.out.status.code(), Some(5), "{}", show(&step.out));
    assert_eq!(step.result("DECISION"), "denied");
}
