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

#[test]
fn tekton_stepaction_signs_as_nonroot_and_writes_the_step_results_the_task_reads() {
    let action = yaml("tekton/stepaction/binauthz-attest/binauthz-attest.yaml");
    let task = yaml("tekton/binauthz-attest/binauthz-attest.yaml");
    assert_eq!(action["kind"], "StepAction");
    assert_eq!(action["apiVersion"], "tekton.dev/v1beta1");
    let emu = google(&["tekton"]);
    let host = emu.host();
    let image = format!("{host}/demo/apps/tekton:v1");

    // TaskRun params -> Task params (defaults) -> the step's params -> StepAction params.
    let kms = key_version();
    let given = [
        ("images", image.as_str()),
        ("attestor", ATTESTOR),
        ("kms-key-version", kms.as_str()),
        ("insecure-registry", host.as_str()),
        ("google-registry", host.as_str()),
    ];
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
    let step = &task["spec"]["steps"][0];
    let step_name = step["name"].as_str().unwrap();
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
    std::fs::write(scripts.join("script-0-sign"), &script).unwrap();
    std::fs::set_permissions(
        scripts.join("script-0-sign"),
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
    .args(["--entrypoint", "/tekton/scripts/script-0-sign"]);
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
    assert!(out.status.success(), "the step failed:\n{}", show(&out));

    let read = |name: &str| {
        std::fs::read_to_string(results.join(name))
            .unwrap_or_else(|e| panic!("no step result {name} ({e}):\n{}", show(&out)))
    };
    let digest = emu.registry_digest("demo/apps/tekton", "v1");
    assert_eq!(read("IMAGE_URL"), format!("{host}/demo/apps/tekton"));
    assert_eq!(read("IMAGE_DIGEST"), digest);
    assert!(read("ATTESTATION").starts_with("projects/demo/occurrences/"));
    assert_eq!(read("CREATED"), "true");
    assert_eq!(attestations(&emu).len(), 1);
}
