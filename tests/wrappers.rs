//! The CI wrappers (GitHub Action, Tekton Task, Jenkins step, GitLab component, Cloud Build
//! example) checked by validators nobody here wrote, run with stand-ins for their CI, and kept in
//! sync with the binary's `sign --help` (ARCHITECTURE.md, "Packaging": wrappers are thin and a test keeps them so).
//! A missing validator fails the test with the command that installs it; nothing is skipped.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde::Deserialize;
use serde_json::{json, Value};

const ACTION: &str = "action.yml";
const GITHUB_EXAMPLE: &str = "examples/github-workflow.yml";
const RELEASE_WORKFLOW: &str = ".github/workflows/release.yml";
const TEKTON_TASK: &str = "tekton/binauthz-attest/binauthz-attest.yaml";
const TEKTON_RUN: &str = "tekton/binauthz-attest/tests/run.yaml";
const TEKTON_STEPACTION: &str = "tekton/stepaction/binauthz-attest/binauthz-attest.yaml";
const JENKINS_STEP: &str = "jenkins/vars/binauthzAttest.groovy";
const JENKINS_HELP: &str = "jenkins/vars/binauthzAttest.txt";
const GITLAB_COMPONENT: &str = "gitlab/templates/binauthz-attest.yml";
const CLOUDBUILD_EXAMPLE: &str = "examples/cloudbuild.yaml";
const GITLAB_JOB: &str = "binauthz-attest";

/// The outputs every CI gets (issue 4), under each CI's own names.
const GITHUB_OUTPUTS: [&str; 6] = [
    "digest",
    "image-ref",
    "attestation",
    "created",
    "json",
    "cosign-signature",
];
const TEKTON_RESULTS: [&str; 5] = [
    "IMAGE_URL",
    "IMAGE_DIGEST",
    "ATTESTATION",
    "CREATED",
    "COSIGN_SIGNATURE",
];
const JENKINS_OUTPUT_KEYS: [&str; 6] = [
    "digest",
    "image-ref",
    "attestation",
    "created",
    "images",
    "cosign-signature",
];

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo().join(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"))
}

/// Every YAML document in a file, as JSON values (what the schema validators and we read).
fn yaml_docs(rel: &str) -> Vec<Value> {
    serde_norway::Deserializer::from_str(&read(rel))
        .map(|doc| Value::deserialize(doc).unwrap_or_else(|e| panic!("{rel}: {e}")))
        .collect()
}

fn task_doc() -> Value {
    yaml(TEKTON_TASK)
}

fn yaml(rel: &str) -> Value {
    let mut docs = yaml_docs(rel);
    assert_eq!(docs.len(), 1, "{rel} should hold one YAML document");
    docs.remove(0)
}

/// A validator on PATH, or a failure naming the command that installs it.
fn tool(name: &str, install: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{name} is required by the wrapper tests and is not on PATH; install it with: {install}"))
}

fn show(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

fn check_jsonschema(schema: &str, file: &Path) -> Output {
    let bin = tool("check-jsonschema", "pip install check-jsonschema");
    run(Command::new(bin)
        .args(["--builtin-schema", schema])
        .arg(file))
}

fn assert_schema_ok(schema: &str, file: &Path) {
    let out = check_jsonschema(schema, file);
    assert!(
        out.status.success(),
        "{} fails {schema}:\n{}",
        file.display(),
        show(&out)
    );
}

fn str_at<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no string at {pointer} in {v}"))
}

fn keys(v: &Value, pointer: &str) -> BTreeSet<String> {
    v.pointer(pointer)
        .and_then(Value::as_object)
        .unwrap_or_else(|| panic!("no mapping at {pointer}"))
        .keys()
        .cloned()
        .collect()
}

fn set<const N: usize>(items: [&str; N]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

// ---------------------------------------------------------------------------------------------
// Schemas and linters

#[test]
fn action_yml_passes_the_github_actions_schema() {
    assert_schema_ok("vendor.github-actions", &repo().join(ACTION));
}

#[test]
fn github_example_workflow_passes_the_github_workflows_schema() {
    assert_schema_ok("vendor.github-workflows", &repo().join(GITHUB_EXAMPLE));
}

#[test]
fn release_workflow_passes_the_github_workflows_schema_and_publishes_what_the_action_runs() {
    assert_schema_ok("vendor.github-workflows", &repo().join(RELEASE_WORKFLOW));
    let workflow = yaml(RELEASE_WORKFLOW);
    let text = read(RELEASE_WORKFLOW);
    // The registry and repository action.yml pulls, without its tag.
    let action = yaml(ACTION);
    let image = str_at(&action, "/runs/image")
        .trim_start_matches("docker://")
        .rsplit_once(':')
        .map(|(repo, _)| repo.to_string())
        .unwrap();
    assert_eq!(str_at(&workflow, "/env/IMAGE"), image);
    assert_eq!(
        workflow["on"]["push"]["tags"],
        json!(["v[0-9]+.[0-9]+.[0-9]+"])
    );
    let job = &workflow["jobs"]["release"];
    for (permission, level) in [
        ("id-token", "write"),
        ("packages", "write"),
        ("contents", "write"),
        ("attestations", "write"),
    ] {
        assert_eq!(job["permissions"][permission], level, "{permission}");
    }
    // The images CI builds and checks, not another recipe; signed, with SBOM and provenance.
    for needed in [
        "packaging/build-image.sh",
        "cosign sign --yes --recursive",
        "actions/attest-build-provenance@",
        "actions/attest-sbom@",
        "SHA256SUMS",
        "aarch64-unknown-linux-musl",
    ] {
        assert!(text.contains(needed), "release.yml lacks {needed}");
    }
    // Every third-party action pinned to a full commit SHA.
    for step in job["steps"].as_array().unwrap() {
        if let Some(uses) = step["uses"].as_str() {
            let (_, rev) = uses.split_once('@').unwrap();
            assert!(
                rev.len() == 40 && rev.chars().all(|c| c.is_ascii_hexdigit()),
                "{uses} is not pinned to a commit"
            );
        }
    }
}

#[test]
fn schema_validator_rejects_a_broken_action() {
    // Proves the validator really applies the schema rather than accepting any YAML.
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("action.yml");
    std::fs::write(
        &broken,
        read(ACTION).replace("using: docker", "using: dockerr"),
    )
    .unwrap();
    let out = check_jsonschema("vendor.github-actions", &broken);
    assert!(
        !out.status.success(),
        "a broken action.yml passed:\n{}",
        show(&out)
    );
}

#[test]
fn gitlab_component_documents_each_pass_the_gitlab_ci_schema() {
    let docs = yaml_docs(GITLAB_COMPONENT);
    assert_eq!(
        docs.len(),
        2,
        "a component is a spec header, ---, then the job"
    );
    assert!(
        docs[0].pointer("/spec/inputs").is_some(),
        "the first document is the spec header"
    );
    let dir = tempfile::tempdir().unwrap();
    for (i, doc) in docs.iter().enumerate() {
        let file = dir.path().join(format!("document-{i}.json"));
        std::fs::write(&file, serde_json::to_vec(doc).unwrap()).unwrap();
        assert_schema_ok("vendor.gitlab-ci", &file);
    }
}

#[test]
fn cloudbuild_example_passes_the_cloudbuild_schema() {
    assert_schema_ok("vendor.cloudbuild", &repo().join(CLOUDBUILD_EXAMPLE));
}

fn tekton_lint(dir: &Path, pattern: &str) -> Output {
    let bin = tool("tekton-lint", "npm install -g @ibm/tekton-lint");
    let version = run(Command::new(&bin).arg("--version"));
    let version = String::from_utf8_lossy(&version.stdout).trim().to_string();
    assert!(
        !version.starts_with("0."),
        "tekton-lint {version} is the old unscoped package; install: npm install -g @ibm/tekton-lint"
    );
    // --max-warnings 0: an unused param or result fails as an error does.
    run(Command::new(bin)
        .args(["--max-warnings", "0", "--no-color", pattern])
        .current_dir(dir))
}

#[test]
fn tekton_task_and_taskrun_pass_tekton_lint() {
    // tekton-lint 1.1.0 knows no StepAction (it reports "No tekton definitions" for one alone);
    // the sync check below and tests/runners.rs (the step run under podman) cover it.
    let out = tekton_lint(&repo().join("tekton"), "**/*.yaml");
    assert!(out.status.success(), "tekton-lint:\n{}", show(&out));
}

#[test]
fn tekton_lint_reports_an_undefined_param() {
    // tekton-lint prints nothing on success: make sure it reads our file at all.
    let dir = tempfile::tempdir().unwrap();
    let broken = read(TEKTON_TASK).replace("$(params.project)", "$(params.projekt)");
    std::fs::write(dir.path().join("task.yaml"), broken).unwrap();
    let out = tekton_lint(dir.path(), "*.yaml");
    assert!(
        !out.status.success(),
        "tekton-lint accepted an undefined param:\n{}",
        show(&out)
    );
    assert!(show(&out).contains("projekt"), "{}", show(&out));
}

#[test]
fn tekton_taskrun_example_passes_only_task_params_and_every_required_one() {
    // tekton-lint does not compare a TaskRun's params with the Task's: this does.
    let task = yaml(TEKTON_TASK);
    let run_doc = yaml(TEKTON_RUN);
    assert_eq!(
        str_at(&run_doc, "/spec/taskRef/name"),
        str_at(&task, "/metadata/name")
    );
    let params = task["spec"]["params"].as_array().unwrap();
    let declared: BTreeSet<&str> = params.iter().map(|p| str_at(p, "/name")).collect();
    let required: BTreeSet<&str> = params
        .iter()
        .filter(|p| p.get("default").is_none())
        .map(|p| str_at(p, "/name"))
        .collect();
    let given: BTreeSet<&str> = run_doc["spec"]["params"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| str_at(p, "/name"))
        .collect();
    assert!(
        given.is_subset(&declared),
        "unknown params {:?}",
        given.difference(&declared)
    );
    assert!(
        required.is_subset(&given),
        "missing params {:?}",
        required.difference(&given)
    );
    let workspaces: BTreeSet<&str> = task["spec"]["workspaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| str_at(w, "/name"))
        .collect();
    for w in run_doc["spec"]["workspaces"].as_array().unwrap() {
        assert!(
            workspaces.contains(str_at(w, "/name")),
            "unknown workspace {w}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Stand-ins for the CI: a fake binauthz-attest records what it was given

/// A fake `binauthz-attest` on PATH that records its arguments, environment and credentials
/// file into `dump`, writes a Jenkins-style outputs file, and exits with `exit`.
struct FakeBinary {
    dir: tempfile::TempDir,
}

const FAKE_OUTPUTS: &str = r#"{"digest":"sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef","image-ref":"us-docker.pkg.dev/p/r/app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef","attestation":"projects/p/occurrences/42","created":true,"images":[{"image":"us-docker.pkg.dev/p/r/app:1","created":true}]}"#;

impl FakeBinary {
    fn new(exit: i32) -> FakeBinary {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("bin")).unwrap();
        std::fs::create_dir(dir.path().join("dump")).unwrap();
        let dump = dir.path().join("dump");
        let script = format!(
            "#!/bin/sh\nset -e\nD='{dump}'\nprintf '%s\\n' \"$@\" > \"$D/args\"\nenv -0 > \"$D/env\"\n\
             if [ -n \"${{GOOGLE_APPLICATION_CREDENTIALS:-}}\" ]; then\n\
               cp \"$GOOGLE_APPLICATION_CREDENTIALS\" \"$D/credentials.json\"\n\
               src=$(sed -n 's/.*\"credential_source\":{{\"file\":\"\\([^\"]*\\)\".*/\\1/p' \"$GOOGLE_APPLICATION_CREDENTIALS\")\n\
               if [ -n \"$src\" ]; then cp \"$src\" \"$D/subject-token\"; fi\n\
             fi\n\
             if [ -n \"${{BINAUTHZ_OUTPUTS_FILE:-}}\" ]; then printf '%s' '{FAKE_OUTPUTS}' > \"$BINAUTHZ_OUTPUTS_FILE\"; fi\n\
             exit {exit}\n",
            dump = dump.display()
        );
        let bin = dir.path().join("bin/binauthz-attest");
        std::fs::write(&bin, script).unwrap();
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
        FakeBinary { dir }
    }

    fn bin_dir(&self) -> PathBuf {
        self.dir.path().join("bin")
    }

    fn path_env(&self) -> String {
        format!("{}:/usr/local/bin:/usr/bin:/bin", self.bin_dir().display())
    }

    fn ran(&self) -> bool {
        self.dir.path().join("dump/args").exists()
    }

    fn args(&self) -> Vec<String> {
        read_abs(&self.dir.path().join("dump/args"))
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// The environment the binary saw (values may hold newlines, hence `env -0`).
    fn env(&self) -> BTreeMap<String, String> {
        read_abs(&self.dir.path().join("dump/env"))
            .split('\0')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn dumped(&self, name: &str) -> String {
        read_abs(&self.dir.path().join("dump").join(name))
    }
}

fn read_abs(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// Values a shell would act on if they were ever spliced into script text.
const HOSTILE: &str =
    "projects/p/attestors/a'; touch pwned; echo \"$(touch pwned2)\" `touch pwned3`";

// ---------------------------------------------------------------------------------------------
// Jenkins: the vars step under Debian's groovy with stubbed steps

struct JenkinsRun {
    record: Value,
    fake: FakeBinary,
    work: tempfile::TempDir,
}

fn run_jenkins_step(args: Value, exit: i32) -> JenkinsRun {
    let groovy = tool(
        "groovy",
        "apt-get install -y --no-install-recommends groovy default-jre-headless",
    );
    let fake = FakeBinary::new(exit);
    let work = tempfile::tempdir().unwrap();
    let secret = work.path().join("secret-key.json");
    std::fs::write(&secret, r#"{"type":"service_account"}"#).unwrap();
    let scenario = json!({
        "args": args,
        "binDir": fake.bin_dir(),
        "workDir": work.path(),
        "secretFile": secret,
    });
    let scenario_file = work.path().join("scenario.json");
    std::fs::write(&scenario_file, scenario.to_string()).unwrap();
    let mut cmd = Command::new(groovy);
    cmd.arg(repo().join("tests/wrappers/jenkins_harness.groovy"))
        .arg(repo().join(JENKINS_STEP))
        .arg(&scenario_file)
        .env_remove("GOOGLE_APPLICATION_CREDENTIALS")
        .env_remove("BINAUTHZ_OUTPUTS_FILE");
    if std::env::var_os("JAVA_HOME").is_none() {
        cmd.env("JAVA_HOME", "/usr/lib/jvm/default-java");
    }
    let out = run(&mut cmd);
    assert!(out.status.success(), "groovy harness:\n{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().unwrap_or_default();
    let record = serde_json::from_str(last)
        .unwrap_or_else(|e| panic!("harness printed no JSON record ({e}):\n{}", show(&out)));
    JenkinsRun { record, fake, work }
}

fn calls(record: &Value) -> Vec<&str> {
    record["calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect()
}

#[test]
fn jenkins_step_passes_values_only_through_the_environment_and_returns_the_outputs_file() {
    let run = run_jenkins_step(
        json!({
            "images": ["us-docker.pkg.dev/p/r/app:1", "us-docker.pkg.dev/p/r/web:2"],
            "attestor": HOSTILE,
            "kmsKeyVersion": "projects/p/locations/global/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1",
            "project": "store-project",
            "dryRun": true,
            "insecureRegistry": ["127.0.0.1:5000", "localhost:5001"],
            "credentialsId": "gcp-attestor-key",
        }),
        0,
    );
    let record = &run.record;
    assert_eq!(
        calls(record),
        ["withEnv", "withCredentials", "sh", "readJSON"],
        "{record}"
    );

    // The script is a constant Java string: no GString, no value in it.
    assert_eq!(record["shScriptClass"], "java.lang.String");
    assert_eq!(record["sh"]["script"], "binauthz-attest sign --ci jenkins");
    assert_eq!(record["sh"]["returnStatus"], "true");
    assert_eq!(run.fake.args(), ["sign", "--ci", "jenkins"]);

    let env = run.fake.env();
    assert_eq!(
        env["BINAUTHZ_ATTESTOR"], HOSTILE,
        "the value reaches the binary untouched"
    );
    for file in ["pwned", "pwned2", "pwned3"] {
        assert!(
            !run.work.path().join(file).exists(),
            "a value was run as shell code"
        );
    }
    assert_eq!(
        env["BINAUTHZ_IMAGES"],
        "us-docker.pkg.dev/p/r/app:1,us-docker.pkg.dev/p/r/web:2"
    );
    assert_eq!(
        env["BINAUTHZ_KMS_KEY_VERSION"],
        "projects/p/locations/global/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1"
    );
    assert_eq!(env["BINAUTHZ_PROJECT"], "store-project");
    assert_eq!(env["BINAUTHZ_DRY_RUN"], "true");
    assert_eq!(
        env["BINAUTHZ_INSECURE_REGISTRIES"],
        "127.0.0.1:5000,localhost:5001"
    );
    assert_eq!(env["BINAUTHZ_OUTPUTS_FILE"], "binauthz-attest.json");
    assert!(
        !env.contains_key("BINAUTHZ_ATTESTOR_PROJECT"),
        "unset args stay unset"
    );

    // withCredentials binds the secret file as GOOGLE_APPLICATION_CREDENTIALS.
    let cred = &record["credentials"][0];
    assert_eq!(cred["kind"], "file");
    assert_eq!(cred["credentialsId"], "gcp-attestor-key");
    assert_eq!(cred["variable"], "GOOGLE_APPLICATION_CREDENTIALS");
    assert_eq!(
        env["GOOGLE_APPLICATION_CREDENTIALS"],
        run.work
            .path()
            .join("secret-key.json")
            .display()
            .to_string()
    );

    // The returned map is what readJSON read from the file the binary wrote.
    assert_eq!(record["readJSON"]["file"], "binauthz-attest.json");
    let expected: Value = serde_json::from_str(FAKE_OUTPUTS).unwrap();
    assert_eq!(record["result"], expected);
}

#[test]
fn jenkins_step_without_credentials_id_leaves_adc_alone() {
    let run = run_jenkins_step(
        json!({
            "images": "us-docker.pkg.dev/p/r/app:1\nus-docker.pkg.dev/p/r/web:2",
            "attestor": "projects/p/attestors/a",
            "kmsKeyVersion": "projects/p/locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1",
            "outputsFile": "attest-outputs.json",
        }),
        0,
    );
    assert_eq!(calls(&run.record), ["withEnv", "sh", "readJSON"]);
    let env = run.fake.env();
    assert!(!env.contains_key("GOOGLE_APPLICATION_CREDENTIALS"));
    assert_eq!(
        env["BINAUTHZ_IMAGES"],
        "us-docker.pkg.dev/p/r/app:1\nus-docker.pkg.dev/p/r/web:2"
    );
    assert_eq!(env["BINAUTHZ_OUTPUTS_FILE"], "attest-outputs.json");
    assert_eq!(run.record["readJSON"]["file"], "attest-outputs.json");
}

#[test]
fn jenkins_step_fails_the_build_with_the_exit_code_and_its_meaning() {
    let run = run_jenkins_step(
        json!({"attestor": "projects/p/attestors/a", "kmsKeyVersion": "k", "images": "x"}),
        4,
    );
    assert_eq!(calls(&run.record), ["withEnv", "sh", "error"]);
    let message = run.record["error"].as_str().unwrap();
    assert!(message.contains("exit code 4"), "{message}");
    assert!(message.contains("not found"), "{message}");
    assert!(run.record.get("result").is_none());
}

#[test]
fn jenkins_step_rejects_unknown_argument_names_before_running_anything() {
    let run = run_jenkins_step(
        json!({"attestor": "projects/p/attestors/a", "kmsKeyVerison": "k"}),
        0,
    );
    assert_eq!(calls(&run.record), ["error"]);
    let message = run.record["error"].as_str().unwrap();
    assert!(message.contains("kmsKeyVerison"), "{message}");
    assert!(
        message.contains("kmsKeyVersion"),
        "lists the known names: {message}"
    );
    assert!(!run.fake.ran());
}

// ---------------------------------------------------------------------------------------------
// GitLab: the component's job script under sh, with its inputs interpolated as GitLab does

/// Replaces `$[[ inputs.NAME ]]` in every string of `v` (GitLab interpolates the parsed YAML).
fn interpolate(v: &Value, inputs: &BTreeMap<String, String>) -> Value {
    match v {
        Value::String(s) => {
            let mut out = s.clone();
            for (name, value) in inputs {
                out = out.replace(&format!("$[[ inputs.{name} ]]"), value);
            }
            assert!(!out.contains("$[["), "uninterpolated input in {out}");
            Value::String(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(|i| interpolate(i, inputs)).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), interpolate(v, inputs)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The job as GitLab would create it from `given` inputs (others take their defaults).
fn gitlab_job(given: &[(&str, &str)]) -> Value {
    let docs = yaml_docs(GITLAB_COMPONENT);
    let mut inputs = BTreeMap::new();
    for (name, spec) in docs[0]["spec"]["inputs"].as_object().unwrap() {
        let value = match given.iter().find(|(n, _)| n == name) {
            Some((_, v)) => v.to_string(),
            None => match spec.get("default") {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Bool(b)) => b.to_string(),
                _ => panic!("test gives no value for required input {name}"),
            },
        };
        inputs.insert(name.clone(), value);
    }
    interpolate(&docs[1][GITLAB_JOB], &inputs)
}

fn run_gitlab_job(job: &Value, fake: &FakeBinary, builds: &Path) -> Output {
    let script: Vec<&str> = job["script"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c")
        .arg(script.join("\n"))
        .env_clear()
        .env("PATH", fake.path_env())
        .env("CI_BUILDS_DIR", builds)
        .env("GITLAB_CI", "true")
        .env("GITLAB_OIDC_TOKEN", "header.payload.signature")
        .current_dir(builds);
    for (k, v) in job["variables"].as_object().unwrap() {
        cmd.env(k, v.as_str().unwrap());
    }
    run(&mut cmd)
}

#[test]
fn gitlab_job_writes_a_wif_config_from_the_oidc_token_and_drops_empty_inputs() {
    let provider =
        "projects/123456/locations/global/workloadIdentityPools/gitlab/providers/my-project";
    let job = gitlab_job(&[
        ("images", "us-docker.pkg.dev/p/r/app:1"),
        ("attestor", HOSTILE),
        (
            "kms-key-version",
            "projects/p/locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1",
        ),
        ("workload-identity-provider", provider),
        ("service-account", "attestor@p.iam.gserviceaccount.com"),
    ]);
    assert_eq!(
        str_at(&job, "/id_tokens/GITLAB_OIDC_TOKEN/aud"),
        format!("https://iam.googleapis.com/{provider}")
    );
    assert_eq!(
        job["image"]["entrypoint"],
        json!([""]),
        "the image's ENTRYPOINT is the binary"
    );
    assert_eq!(
        str_at(&job, "/artifacts/reports/dotenv"),
        str_at(&job, "/variables/BINAUTHZ_OUTPUTS_FILE")
    );

    let fake = FakeBinary::new(0);
    let builds = tempfile::tempdir().unwrap();
    let out = run_gitlab_job(&job, &fake, builds.path());
    assert!(out.status.success(), "job script:\n{}", show(&out));
    assert_eq!(fake.args(), ["sign", "--ci", "gitlab"]);
    for file in ["pwned", "pwned2", "pwned3"] {
        assert!(
            !builds.path().join(file).exists(),
            "an input was run as shell code"
        );
    }

    let env = fake.env();
    assert_eq!(env["BINAUTHZ_ATTESTOR"], HOSTILE);
    assert_eq!(env["BINAUTHZ_DRY_RUN"], "false");
    for empty in [
        "BINAUTHZ_IMAGES_FILE",
        "BINAUTHZ_PROJECT",
        "BINAUTHZ_ATTESTOR_PROJECT",
    ] {
        assert!(
            !env.contains_key(empty),
            "{empty} left set though its input is empty"
        );
    }

    let config: Value = serde_json::from_str(&fake.dumped("credentials.json")).unwrap();
    assert_eq!(config["type"], "external_account");
    assert_eq!(
        config["audience"],
        format!("//iam.googleapis.com/{provider}")
    );
    assert_eq!(
        config["subject_token_type"],
        "urn:ietf:params:oauth:token-type:jwt"
    );
    assert_eq!(config["token_url"], "https://sts.googleapis.com/v1/token");
    assert_eq!(
        config["service_account_impersonation_url"],
        "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/attestor@p.iam.gserviceaccount.com:generateAccessToken"
    );
    assert_eq!(fake.dumped("subject-token"), "header.payload.signature");
    let config_path = PathBuf::from(&env["GOOGLE_APPLICATION_CREDENTIALS"]);
    assert!(config_path.starts_with(builds.path()));
    assert!(
        !config_path.exists(),
        "the token and config are removed when the job ends"
    );
}

#[test]
fn gitlab_job_without_wif_keeps_the_callers_credentials() {
    let job = gitlab_job(&[
        ("images", "us-docker.pkg.dev/p/r/app:1"),
        ("attestor", "projects/p/attestors/a"),
        ("kms-key-version", "k"),
    ]);
    let fake = FakeBinary::new(0);
    let builds = tempfile::tempdir().unwrap();
    let out = run_gitlab_job(&job, &fake, builds.path());
    assert!(out.status.success(), "job script:\n{}", show(&out));
    assert!(!fake.env().contains_key("GOOGLE_APPLICATION_CREDENTIALS"));
}

#[test]
fn gitlab_job_fails_when_the_binary_fails() {
    let job = gitlab_job(&[("attestor", "a"), ("kms-key-version", "k")]);
    let fake = FakeBinary::new(5);
    let builds = tempfile::tempdir().unwrap();
    let out = run_gitlab_job(&job, &fake, builds.path());
    assert_eq!(out.status.code(), Some(5), "{}", show(&out));
}

// ---------------------------------------------------------------------------------------------
// Sync: every wrapper's inputs against `binauthz-attest sign --help`, and its outputs against
// the contract

/// Flags (`--name`) and variables (`[env: NAME=`) that `sign --help` documents, global ones
/// included.
struct Cli {
    flags: BTreeSet<String>,
    envs: BTreeSet<String>,
}

fn cli() -> Cli {
    cli_of(&["sign"])
}

/// What `VERB --help` documents (`["policy", "check"]` for a verb of a verb).
fn cli_of(verb: &[&str]) -> Cli {
    let out = run(Command::new(env!("CARGO_BIN_EXE_binauthz-attest"))
        .args(verb)
        .arg("--help"));
    assert!(out.status.success(), "{}", show(&out));
    let help = String::from_utf8_lossy(&out.stdout).to_string();
    let word = |s: &str| {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect::<String>()
    };
    // Only option lines (`  --name` or `  -h, --name`), not flags a description mentions.
    let flags = help
        .lines()
        .map(str::trim_start)
        .filter_map(|line| {
            line.strip_prefix("--")
                .or_else(|| line.split_once(", --").map(|(_, rest)| rest))
        })
        .map(word)
        .collect();
    let envs = help.split("[env: ").skip(1).map(word).collect();
    Cli { flags, envs }
}

/// The naming rule shared by every wrapper: input `kms-key-version` is flag `--kms-key-version`
/// or variable `BINAUTHZ_KMS_KEY_VERSION`; `access-token-file` is gcloud's variable.
fn input_maps_to_cli(input: &str, cli: &Cli) -> bool {
    let env = match input {
        "access-token-file" => "CLOUDSDK_AUTH_ACCESS_TOKEN_FILE".to_string(),
        _ => format!("BINAUTHZ_{}", input.to_uppercase().replace('-', "_")),
    };
    cli.flags.contains(input) || cli.envs.contains(&env)
}

/// Sign's settings that every wrapper offers: the flags of `sign --help` less the ones each
/// wrapper fixes or leaves out on purpose, plus the IMAGE arguments as `images`.
fn expected_inputs(cli: &Cli, left_out: &[&str]) -> BTreeSet<String> {
    let always_out = [
        "help",   // not a setting
        "ci",     // each wrapper fixes it to its own CI
        "output", // the CI layer picks the format for its CI
    ];
    let mut expected: BTreeSet<String> = cli
        .flags
        .iter()
        .filter(|f| !always_out.contains(&f.as_str()) && !left_out.contains(&f.as_str()))
        .cloned()
        .collect();
    expected.insert("images".to_string());
    expected
}

fn camel_to_kebab(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_uppercase() {
            out.push('-');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Jenkins' `ARG_ENV` map: named argument -> variable.
fn jenkins_arg_env() -> BTreeMap<String, String> {
    jenkins_arg_env_of(JENKINS_STEP)
}

/// The `ARG_ENV` map of the Jenkins step in `rel`.
fn jenkins_arg_env_of(rel: &str) -> BTreeMap<String, String> {
    let text = read(rel);
    let block = text
        .split("ARG_ENV = [")
        .nth(1)
        .and_then(|rest| rest.split("\n]").next())
        .expect("ARG_ENV map in the Jenkins step");
    block
        .lines()
        .filter_map(|line| {
            let (name, var) = line.split_once(':')?;
            let var = var.trim().trim_end_matches(',').trim_matches('\'');
            Some((name.trim().to_string(), var.to_string()))
        })
        .collect()
}

/// Compares one wrapper's inputs with the CLI both ways; returns the problems found.
/// Inputs a GitLab component's `spec.inputs` declares twice (GitLab's YAML parser keeps the
/// last silently, and so do ours): read from the text, two-space indented keys under `inputs:`.
fn duplicate_inputs(rel: &str) -> Vec<String> {
    let text = std::fs::read_to_string(repo().join(rel)).unwrap();
    let header = text.split("\n---").next().unwrap_or_default();
    let mut seen = BTreeSet::new();
    let mut problems = Vec::new();
    let mut in_inputs = false;
    for line in header.lines() {
        if line.trim_end() == "  inputs:" {
            in_inputs = true;
            continue;
        }
        if in_inputs && !line.starts_with("    ") && !line.trim().is_empty() {
            in_inputs = false;
        }
        let key = line
            .strip_prefix("    ")
            .filter(|k| !k.starts_with(' '))
            .and_then(|k| k.strip_suffix(':'));
        if let (true, Some(key)) = (in_inputs, key) {
            if !seen.insert(key.to_string()) {
                problems.push(format!("{rel}: input {key} is declared twice"));
            }
        }
    }
    problems
}

fn sync_problems(
    wrapper: &str,
    inputs: &BTreeSet<String>,
    ci_specific: &[&str],
    left_out: &[&str],
    cli: &Cli,
) -> Vec<String> {
    let mut problems = Vec::new();
    for input in inputs {
        if !ci_specific.contains(&input.as_str()) && !input_maps_to_cli(input, cli) {
            problems.push(format!(
                "{wrapper}: input {input} matches no flag or variable of sign --help"
            ));
        }
    }
    for flag in expected_inputs(cli, left_out) {
        if !inputs.contains(&flag) {
            problems.push(format!("{wrapper}: sign's --{flag} has no input"));
        }
    }
    problems
}

#[test]
fn every_wrapper_input_and_output_matches_the_cli_and_the_contract() {
    let problems = sync_all(&cli());
    assert!(
        problems.is_empty(),
        "wrappers and CLI disagree:\n  {}",
        problems.join("\n  ")
    );
}

#[test]
fn wrappers_match_the_ci_contract_flags() {
    // The same check against the CLI as issue 4 specifies it (the built binary plus the CI
    // flags): the wrappers are right by the contract even while the binary lags behind it.
    let mut cli = cli();
    for (flag, env) in [
        ("ci", "BINAUTHZ_CI"),
        ("outputs-file", "BINAUTHZ_OUTPUTS_FILE"),
        ("github-status", "BINAUTHZ_GITHUB_STATUS"),
    ] {
        cli.flags.insert(flag.to_string());
        cli.envs.insert(env.to_string());
    }
    let problems = sync_all(&cli);
    assert!(
        problems.is_empty(),
        "wrappers and the contract disagree:\n  {}",
        problems.join("\n  ")
    );
}

/// Every wrapper against `cli`, both ways; returns the problems found.
fn sync_all(cli: &Cli) -> Vec<String> {
    let mut problems = Vec::new();
    let need_flag = |flag: &str, why: &str, problems: &mut Vec<String>| {
        if !cli.flags.contains(flag) {
            problems.push(format!("sign --help has no --{flag}, which {why} uses"));
        }
    };

    // GitHub: the binary reads INPUT_<NAME> itself, so each input must be a flag or variable.
    let action = yaml(ACTION);
    let inputs = keys(&action, "/inputs");
    problems.extend(sync_problems(
        "action.yml",
        &inputs,
        // pgp-passphrase, cosign-password: secrets the binary reads as BINAUTHZ_PGP_PASSPHRASE
        // and COSIGN_PASSWORD (never flags, so they never show in a process list); the action
        // masks them.
        &["github-token", "pgp-passphrase", "cosign-password"],
        &["outputs-file"],
        cli,
    ));
    assert_eq!(action["runs"]["args"], json!(["sign", "--ci", "github"]));
    need_flag("ci", "every wrapper", &mut problems);
    need_flag("github-status", "action.yml", &mut problems);
    let outputs = keys(&action, "/outputs");
    if outputs != set(GITHUB_OUTPUTS) {
        problems.push(format!(
            "action.yml outputs {outputs:?}, contract {GITHUB_OUTPUTS:?}"
        ));
    }
    assert_eq!(
        action["inputs"]["github-token"]["default"],
        "${{ github.token }}"
    );

    // The example workflow uses only what the action declares, and every required input.
    let workflow = yaml(GITHUB_EXAMPLE);
    let step = workflow["jobs"]["build"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| {
            s["uses"]
                .as_str()
                .is_some_and(|u| u.starts_with("binauthz-attest/binauthz-attest@"))
        })
        .expect("the example uses the action");
    let with = keys(step, "/with");
    let required: BTreeSet<String> = inputs
        .iter()
        .filter(|i| action["inputs"][i.as_str()]["required"] == json!(true))
        .cloned()
        .collect();
    assert!(
        with.is_subset(&inputs),
        "example passes unknown inputs {:?}",
        with.difference(&inputs)
    );
    assert!(
        required.is_subset(&with),
        "example misses inputs {:?}",
        required.difference(&with)
    );
    let id = str_at(step, "/id");
    let example = read(GITHUB_EXAMPLE);
    for used in example.split(&format!("steps.{id}.outputs.")).skip(1) {
        let name: String = used
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect();
        assert!(
            outputs.contains(&name),
            "example reads undeclared output {name}"
        );
    }

    // Tekton: the StepAction's params and the variables it sets from them; the Task passes
    // every param on to it one to one, and lifts every step result into its own.
    let action = yaml(TEKTON_STEPACTION);
    let names = |v: &Value, pointer: &str| -> BTreeSet<String> {
        v.pointer(pointer)
            .and_then(Value::as_array)
            .unwrap_or_else(|| panic!("no list at {pointer}"))
            .iter()
            .map(|p| str_at(p, "/name").to_string())
            .collect()
    };
    let params = names(&action, "/spec/params");
    problems.extend(sync_problems(
        "Tekton StepAction",
        &params,
        &[],
        &["outputs-file", "github-status", "access-token-file"],
        cli,
    ));
    let script = str_at(&action, "/spec/script");
    assert!(
        script
            .trim_end()
            .ends_with("exec binauthz-attest sign --ci tekton"),
        "{script}"
    );
    assert!(
        !script.contains("$(params."),
        "params reach the script only through variables"
    );
    let mut fed = BTreeSet::new();
    for var in action["spec"]["env"].as_array().unwrap() {
        let (name, value) = (str_at(var, "/name"), str_at(var, "/value"));
        if let Some(param) = value
            .strip_prefix("$(params.")
            .and_then(|v| v.strip_suffix(')'))
        {
            fed.insert(param.to_string());
            if !cli.envs.contains(name) {
                problems.push(format!(
                    "Tekton StepAction: sets {name}, which sign --help does not read"
                ));
            }
        }
    }
    if fed != params {
        problems.push(format!(
            "Tekton StepAction: params {params:?} but only {fed:?} reach the step"
        ));
    }
    for (what, results) in [
        ("StepAction", names(&action, "/spec/results")),
        ("Task", names(&task_doc(), "/spec/results")),
    ] {
        if results != set(TEKTON_RESULTS) {
            problems.push(format!(
                "Tekton {what} results {results:?}, contract {TEKTON_RESULTS:?}"
            ));
        }
    }
    let task = task_doc();
    if names(&task, "/spec/params") != params {
        problems.push("Tekton Task and StepAction declare different params".into());
    }
    let step = &task["spec"]["steps"][0];
    assert_eq!(str_at(step, "/ref/name"), str_at(&action, "/metadata/name"));
    let step_name = str_at(step, "/name");
    for p in step["params"].as_array().unwrap() {
        let name = str_at(p, "/name");
        if str_at(p, "/value") != format!("$(params.{name})") {
            problems.push(format!(
                "Tekton Task: step param {name} is not $(params.{name})"
            ));
        }
    }
    if names(step, "/params") != params {
        problems.push("Tekton Task: not every param is passed to the StepAction".into());
    }
    for r in task["spec"]["results"].as_array().unwrap() {
        let name = str_at(r, "/name");
        if str_at(r, "/value") != format!("$(steps.{step_name}.results.{name})") {
            problems.push(format!("Tekton Task: result {name} is not the step's"));
        }
    }
    for (key, value) in action["metadata"]["annotations"].as_object().unwrap() {
        if task["metadata"]["annotations"][key] != *value {
            problems.push(format!(
                "Tekton Task and StepAction differ in annotation {key}"
            ));
        }
    }

    // Jenkins: camelCase named arguments, each mapped to a variable the binary reads.
    let arg_env = jenkins_arg_env();
    let mut named: BTreeSet<String> = arg_env.keys().map(|k| camel_to_kebab(k)).collect();
    named.insert("credentials-id".to_string());
    problems.extend(sync_problems(
        "Jenkins step",
        &named,
        &["credentials-id"],
        &["github-status"],
        cli,
    ));
    for (arg, var) in &arg_env {
        if !cli.envs.contains(var) {
            problems.push(format!(
                "Jenkins step: {arg} sets {var}, which sign --help does not read"
            ));
        }
    }
    assert!(read(JENKINS_STEP).contains("'binauthz-attest sign --ci jenkins'"));
    let help = read(JENKINS_HELP);
    for key in JENKINS_OUTPUT_KEYS {
        assert!(
            help.contains(&format!("<code>{key}</code>")),
            "{JENKINS_HELP} does not document {key}"
        );
    }
    for arg in arg_env.keys().map(String::as_str).chain(["credentialsId"]) {
        assert!(
            help.contains(&format!("<dt>{arg}</dt>")),
            "{JENKINS_HELP} does not document {arg}"
        );
    }

    // GitLab: inputs, and the variables the job sets from them.
    problems.extend(duplicate_inputs(GITLAB_COMPONENT));
    let docs = yaml_docs(GITLAB_COMPONENT);
    let inputs = keys(&docs[0], "/spec/inputs");
    problems.extend(sync_problems(
        "GitLab component",
        &inputs,
        &[
            "stage",
            "image",
            "workload-identity-provider",
            "service-account",
        ],
        &["outputs-file", "github-status", "access-token-file"],
        cli,
    ));
    let job = &docs[1][GITLAB_JOB];
    for (name, _) in job["variables"].as_object().unwrap() {
        if name.starts_with("BINAUTHZ_") && !cli.envs.contains(name) {
            problems.push(format!(
                "GitLab component: sets {name}, which sign --help does not read"
            ));
        }
    }
    let script = job["script"].to_string();
    assert!(script.contains("binauthz-attest sign --ci gitlab"));
    assert!(
        !script.contains("$[["),
        "inputs reach the script only through variables"
    );
    need_flag(
        "outputs-file",
        "the GitLab, Jenkins and Cloud Build wrappers",
        &mut problems,
    );

    // Cloud Build: every flag in the example exists.
    let build = yaml(CLOUDBUILD_EXAMPLE);
    let attest = build["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| str_at(s, "/name").starts_with("ghcr.io/binauthz-attest/binauthz-attest"))
        .expect("a step running the image");
    let args: Vec<&str> = attest["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(args[..3], ["sign", "--ci", "cloudbuild"]);
    for flag in args.iter().filter_map(|a| a.strip_prefix("--")) {
        if !cli.flags.contains(flag) {
            problems.push(format!(
                "Cloud Build example: --{flag} is not a flag of sign"
            ));
        }
    }

    problems
}

#[test]
fn sync_check_notices_a_missing_input_and_an_unknown_one() {
    // The check above is only as good as its comparison: feed it a wrapper with a gap.
    let cli = cli();
    let mut inputs = expected_inputs(&cli, &[]);
    inputs.remove("kms-key-version");
    inputs.insert("kms-key-verison".to_string());
    let problems = sync_problems("test", &inputs, &[], &[], &cli);
    assert!(
        problems
            .iter()
            .any(|p| p.contains("--kms-key-version has no input")),
        "{problems:?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.contains("kms-key-verison matches no flag")),
        "{problems:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// What Tekton really passes: a param left at its "" default still arrives as a set variable

#[test]
fn binary_treats_empty_variables_from_unset_params_as_absent() {
    // Tekton sets every env entry, so an unused param reaches the binary as "" (a scratch image
    // has no shell to unset it). The binary must read "" as "not given", not as a value.
    let dir = tempfile::tempdir().unwrap();
    let images = dir.path().join("images.txt");
    std::fs::write(&images, "127.0.0.1:9/p/app:1\n").unwrap();
    let action = yaml(TEKTON_STEPACTION);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_binauthz-attest"));
    cmd.args(["sign", "--ci", "tekton"]).env_clear();
    for var in action["spec"]["env"].as_array().unwrap() {
        cmd.env(str_at(var, "/name"), "");
    }
    // Everything on loopback, and a closed port: the run gets past parsing and fails remotely.
    let dead = "http://127.0.0.1:9";
    cmd.env("HOME", dir.path())
        .env("BINAUTHZ_TEKTON_RESULTS_DIR", dir.path())
        .env("BINAUTHZ_IMAGES_FILE", &images)
        .env("BINAUTHZ_ATTESTOR", "projects/p/attestors/a")
        .env(
            "BINAUTHZ_KMS_KEY_VERSION",
            "projects/p/locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1",
        )
        .env("BINAUTHZ_DRY_RUN", "true")
        .env("BINAUTHZ_INSECURE_REGISTRIES", "127.0.0.1:9")
        .env("GOOGLE_OAUTH_ACCESS_TOKEN", "test-token")
        .env("GCE_METADATA_HOST", "127.0.0.1:9")
        .env("CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDKMS", dead)
        .env("CLOUDSDK_API_ENDPOINT_OVERRIDES_BINARYAUTHORIZATION", dead)
        .env("CLOUDSDK_API_ENDPOINT_OVERRIDES_CONTAINERANALYSIS", dead);
    let out = run(&mut cmd);
    assert_ne!(
        out.status.code(),
        Some(2),
        "an empty variable was read as a bad value:\n{}",
        show(&out)
    );
}

// ---------------------------------------------------------------------------------------------
// The other verbs: `verify` and `policy check` in every wrapper, each against its own --help

/// One verb's wrappers, and what its outputs are called in each CI.
struct VerbWrappers {
    /// The verb as the binary takes it.
    verb: &'static [&'static str],
    action: &'static str,
    github_outputs: &'static [&'static str],
    stepaction: &'static str,
    task: &'static str,
    tekton_results: &'static [&'static str],
    gitlab: &'static str,
    jenkins: &'static str,
}

const VERB_WRAPPERS: [VerbWrappers; 2] = [
    VerbWrappers {
        verb: &["verify"],
        action: "verify/action.yml",
        github_outputs: &["verified", "json"],
        stepaction: "tekton/stepaction/binauthz-verify/binauthz-verify.yaml",
        task: "tekton/binauthz-verify/binauthz-verify.yaml",
        tekton_results: &["VERIFIED"],
        gitlab: "gitlab/templates/binauthz-verify.yml",
        jenkins: "jenkins/vars/binauthzVerify",
    },
    VerbWrappers {
        verb: &["policy", "check"],
        action: "policy-check/action.yml",
        github_outputs: &["decision", "json"],
        stepaction: "tekton/stepaction/binauthz-policy-check/binauthz-policy-check.yaml",
        task: "tekton/binauthz-policy-check/binauthz-policy-check.yaml",
        tekton_results: &["DECISION"],
        gitlab: "gitlab/templates/binauthz-policy-check.yml",
        jenkins: "jenkins/vars/binauthzPolicyCheck",
    },
];

fn names_at(v: &Value, pointer: &str) -> BTreeSet<String> {
    v.pointer(pointer)
        .and_then(Value::as_array)
        .unwrap_or_else(|| panic!("no list at {pointer}"))
        .iter()
        .map(|p| str_at(p, "/name").to_string())
        .collect()
}

fn strs(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// Every wrapper of one verb against that verb's `--help`, both ways.
fn verb_problems(w: &VerbWrappers, cli: &Cli) -> Vec<String> {
    let mut problems = Vec::new();
    let command = w.verb.join(" ");

    // GitHub: the binary reads the verb's INPUT_<NAME> itself.
    let action = yaml(w.action);
    problems.extend(sync_problems(
        w.action,
        &keys(&action, "/inputs"),
        &[],
        &["outputs-file"],
        cli,
    ));
    let mut args: Vec<&str> = w.verb.to_vec();
    args.extend(["--ci", "github"]);
    assert_eq!(action["runs"]["args"], json!(args), "{}", w.action);
    assert_eq!(action["runs"]["image"], yaml(ACTION)["runs"]["image"]);
    if keys(&action, "/outputs") != strs(w.github_outputs) {
        problems.push(format!(
            "{}: outputs {:?}",
            w.action,
            keys(&action, "/outputs")
        ));
    }

    // Tekton: StepAction params fed through variables the verb reads; the Task passes them on.
    let step_action = yaml(w.stepaction);
    let params = names_at(&step_action, "/spec/params");
    problems.extend(sync_problems(
        w.stepaction,
        &params,
        &[],
        &["outputs-file", "access-token-file"],
        cli,
    ));
    let script = str_at(&step_action, "/spec/script");
    assert!(
        script
            .trim_end()
            .ends_with(&format!("exec binauthz-attest {command} --ci tekton")),
        "{script}"
    );
    assert!(
        !script.contains("$(params."),
        "params reach the script only through variables"
    );
    let mut fed = BTreeSet::new();
    for var in step_action["spec"]["env"].as_array().unwrap() {
        let (name, value) = (str_at(var, "/name"), str_at(var, "/value"));
        if let Some(param) = value
            .strip_prefix("$(params.")
            .and_then(|v| v.strip_suffix(')'))
        {
            fed.insert(param.to_string());
            if !cli.envs.contains(name) {
                problems.push(format!(
                    "{}: sets {name}, which {command} --help does not read",
                    w.stepaction
                ));
            }
        }
    }
    if fed != params {
        problems.push(format!(
            "{}: params {params:?}, only {fed:?} reach the step",
            w.stepaction
        ));
    }
    let task = yaml(w.task);
    for (what, results) in [
        (w.stepaction, names_at(&step_action, "/spec/results")),
        (w.task, names_at(&task, "/spec/results")),
    ] {
        if results != strs(w.tekton_results) {
            problems.push(format!(
                "{what}: results {results:?}, expected {:?}",
                w.tekton_results
            ));
        }
    }
    if names_at(&task, "/spec/params") != params {
        problems.push(format!("{}: params differ from the StepAction's", w.task));
    }
    let step = &task["spec"]["steps"][0];
    assert_eq!(
        str_at(step, "/ref/name"),
        str_at(&step_action, "/metadata/name")
    );
    if names_at(step, "/params") != params {
        problems.push(format!(
            "{}: not every param is passed to the StepAction",
            w.task
        ));
    }
    for p in step["params"].as_array().unwrap() {
        let name = str_at(p, "/name");
        if str_at(p, "/value") != format!("$(params.{name})") {
            problems.push(format!(
                "{}: step param {name} is not $(params.{name})",
                w.task
            ));
        }
    }
    let step_name = str_at(step, "/name");
    for r in task["spec"]["results"].as_array().unwrap() {
        let name = str_at(r, "/name");
        if str_at(r, "/value") != format!("$(steps.{step_name}.results.{name})") {
            problems.push(format!("{}: result {name} is not the step's", w.task));
        }
    }

    // GitLab: inputs, the variables they set, the command.
    problems.extend(duplicate_inputs(w.gitlab));
    let docs = yaml_docs(w.gitlab);
    assert_eq!(
        docs.len(),
        2,
        "{}: a spec header, ---, then the job",
        w.gitlab
    );
    problems.extend(sync_problems(
        w.gitlab,
        &keys(&docs[0], "/spec/inputs"),
        &[
            "stage",
            "image",
            "workload-identity-provider",
            "service-account",
            // policy check's --service-account (Kubernetes): in GitLab `service-account` is
            // the Google one, as in every component.
            "kubernetes-service-account",
        ],
        &["outputs-file", "access-token-file"],
        cli,
    ));
    let (_, job) = docs[1].as_object().unwrap().iter().next().unwrap();
    // `service-account` feeds the Workload Identity exchange and nothing else.
    for (name, value) in job["variables"].as_object().unwrap() {
        if value.as_str() == Some("$[[ inputs.service-account ]]") && name != "GCP_SERVICE_ACCOUNT"
        {
            problems.push(format!(
                "{}: {name} is set from the Google service-account input",
                w.gitlab
            ));
        }
    }
    for (name, _) in job["variables"].as_object().unwrap() {
        if name.starts_with("BINAUTHZ_") && !cli.envs.contains(name) {
            problems.push(format!(
                "{}: sets {name}, which {command} --help does not read",
                w.gitlab
            ));
        }
    }
    let script = job["script"].to_string();
    assert!(
        script.contains(&format!("binauthz-attest {command} --ci gitlab")),
        "{script}"
    );
    assert!(
        !script.contains("$[["),
        "inputs reach the script only through variables"
    );

    // Jenkins: camelCase named arguments, each a variable the verb reads; documented.
    let groovy = format!("{}.groovy", w.jenkins);
    let arg_env = jenkins_arg_env_of(&groovy);
    let mut named: BTreeSet<String> = arg_env.keys().map(|k| camel_to_kebab(k)).collect();
    named.insert("credentials-id".to_string());
    problems.extend(sync_problems(
        &groovy,
        &named,
        &["credentials-id"],
        &[],
        cli,
    ));
    for (arg, var) in &arg_env {
        if !cli.envs.contains(var) {
            problems.push(format!(
                "{groovy}: {arg} sets {var}, which {command} --help does not read"
            ));
        }
    }
    assert!(read(&groovy).contains(&format!("'binauthz-attest {command} --ci jenkins'")));
    let help = read(&format!("{}.txt", w.jenkins));
    for arg in arg_env.keys().map(String::as_str).chain(["credentialsId"]) {
        if !help.contains(&format!("<dt>{arg}</dt>")) {
            problems.push(format!("{}.txt does not document {arg}", w.jenkins));
        }
    }
    problems
}

#[test]
fn every_verbs_wrappers_match_that_verbs_help_in_every_ci() {
    let mut problems = Vec::new();
    for w in &VERB_WRAPPERS {
        problems.extend(verb_problems(w, &cli_of(w.verb)));
    }
    assert!(
        problems.is_empty(),
        "wrappers and CLI disagree:\n  {}",
        problems.join("\n  ")
    );
}

#[test]
fn the_verb_sync_check_notices_an_input_the_verb_does_not_have() {
    // sign's kms-key-version is no input of verify: the comparison must say so.
    let cli = cli_of(&["verify"]);
    let mut inputs = expected_inputs(&cli, &[]);
    inputs.insert("kms-key-version".to_string());
    inputs.remove("cosign-key");
    let problems = sync_problems("test", &inputs, &[], &[], &cli);
    assert!(
        problems
            .iter()
            .any(|p| p.contains("kms-key-version matches no flag")),
        "{problems:?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.contains("--cosign-key has no input")),
        "{problems:?}"
    );
}

#[test]
fn verb_actions_and_components_pass_their_schemas() {
    let dir = tempfile::tempdir().unwrap();
    for w in &VERB_WRAPPERS {
        assert_schema_ok("vendor.github-actions", &repo().join(w.action));
        for (i, doc) in yaml_docs(w.gitlab).iter().enumerate() {
            let file = dir.path().join(format!("{}-{i}.json", w.tekton_results[0]));
            std::fs::write(&file, serde_json::to_vec(doc).unwrap()).unwrap();
            assert_schema_ok("vendor.gitlab-ci", &file);
        }
    }
}

/// Runs a Jenkins step file of another verb under the harness, like [`run_jenkins_step`].
fn run_jenkins_verb_step(step: &str, args: Value, exit: i32) -> JenkinsRun {
    let groovy = tool(
        "groovy",
        "apt-get install -y --no-install-recommends groovy default-jre-headless",
    );
    let fake = FakeBinary::new(exit);
    let work = tempfile::tempdir().unwrap();
    let scenario = json!({"args": args, "binDir": fake.bin_dir(), "workDir": work.path(), "secretFile": "/dev/null"});
    let scenario_file = work.path().join("scenario.json");
    std::fs::write(&scenario_file, scenario.to_string()).unwrap();
    let mut cmd = Command::new(groovy);
    cmd.arg(repo().join("tests/wrappers/jenkins_harness.groovy"))
        .arg(repo().join(step))
        .arg(&scenario_file)
        .env_remove("GOOGLE_APPLICATION_CREDENTIALS")
        .env_remove("BINAUTHZ_OUTPUTS_FILE");
    if std::env::var_os("JAVA_HOME").is_none() {
        cmd.env("JAVA_HOME", "/usr/lib/jvm/default-java");
    }
    let out = run(&mut cmd);
    assert!(out.status.success(), "groovy harness:\n{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let record = serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("harness printed no JSON record ({e}):\n{}", show(&out)));
    JenkinsRun { record, fake, work }
}

#[test]
fn jenkins_verify_and_policy_check_steps_run_their_verb_with_values_only_in_the_environment() {
    let verify = run_jenkins_verb_step(
        "jenkins/vars/binauthzVerify.groovy",
        json!({"images": ["r.io/a/b:1", "r.io/a/c:2"], "attestor": HOSTILE, "cosignKey": "cosign.pub"}),
        0,
    );
    assert_eq!(
        calls(&verify.record),
        ["withEnv", "sh", "readJSON"],
        "{}",
        verify.record
    );
    assert_eq!(
        verify.record["sh"]["script"],
        "binauthz-attest verify --ci jenkins"
    );
    assert_eq!(verify.fake.args(), ["verify", "--ci", "jenkins"]);
    let env = verify.fake.env();
    assert_eq!(env["BINAUTHZ_ATTESTOR"], HOSTILE);
    assert_eq!(env["BINAUTHZ_IMAGES"], "r.io/a/b:1,r.io/a/c:2");
    assert_eq!(env["BINAUTHZ_COSIGN_KEY"], "cosign.pub");
    assert!(!verify.work.path().join("pwned").exists());

    let check = run_jenkins_verb_step(
        "jenkins/vars/binauthzPolicyCheck.groovy",
        json!({"manifest": ["k8s/a.yaml", "k8s/b.yaml"], "project": "prod", "platform": "gke"}),
        5,
    );
    assert_eq!(
        calls(&check.record),
        ["withEnv", "sh", "error"],
        "{}",
        check.record
    );
    let message = check.record["error"].as_str().unwrap();
    assert!(
        message.contains("exit code 5") && message.contains("policy denied"),
        "{message}"
    );
    let env = check.fake.env();
    assert_eq!(check.fake.args(), ["policy", "check", "--ci", "jenkins"]);
    assert_eq!(env["BINAUTHZ_MANIFESTS"], "k8s/a.yaml,k8s/b.yaml");
    assert_eq!(env["BINAUTHZ_POLICY_PROJECT"], "prod");
    assert_eq!(env["BINAUTHZ_POLICY_PLATFORM"], "gke");

    let unknown = run_jenkins_verb_step(
        "jenkins/vars/binauthzVerify.groovy",
        json!({"atestor": "a"}),
        0,
    );
    assert_eq!(calls(&unknown.record), ["error"]);
    assert!(unknown.record["error"]
        .as_str()
        .unwrap()
        .contains("atestor"));
    assert!(!unknown.fake.ran());
}

#[test]
fn gitlab_verify_and_policy_check_jobs_run_their_verb_with_inputs_as_variables() {
    for (w, given, var) in [
        (
            &VERB_WRAPPERS[0],
            ("attestor", HOSTILE),
            "BINAUTHZ_ATTESTOR",
        ),
        (
            &VERB_WRAPPERS[1],
            ("project", HOSTILE),
            "BINAUTHZ_POLICY_PROJECT",
        ),
    ] {
        let docs = yaml_docs(w.gitlab);
        let mut inputs = BTreeMap::new();
        for (name, spec) in docs[0]["spec"]["inputs"].as_object().unwrap() {
            let value = match name == given.0 {
                true => given.1.to_string(),
                false => spec["default"].as_str().unwrap_or_default().to_string(),
            };
            inputs.insert(name.clone(), value);
        }
        let (_, job) = docs[1].as_object().unwrap().iter().next().unwrap();
        let job = interpolate(job, &inputs);
        let fake = FakeBinary::new(0);
        let builds = tempfile::tempdir().unwrap();
        let out = run_gitlab_job(&job, &fake, builds.path());
        assert!(out.status.success(), "{}: {}", w.gitlab, show(&out));
        let mut expected: Vec<&str> = w.verb.to_vec();
        expected.extend(["--ci", "gitlab"]);
        assert_eq!(fake.args(), expected);
        assert_eq!(fake.env()[var], HOSTILE);
        assert!(!builds.path().join("pwned").exists());
        assert_eq!(
            str_at(&job, "/artifacts/reports/dotenv"),
            "binauthz-attest.env"
        );
    }
}
