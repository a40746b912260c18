//! Each CI simulated faithfully (its variables, its output files) around the real binary, the
//! emulator as Google and its registry as Artifact Registry; outputs are read the way each CI's
//! own parser reads them.

use crate::common::attest_command;
use crate::common::emulator::{Emulator, TOKEN};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;

const KEY: &str = "projects/demo/locations/global/keyRings/ring/cryptoKeys/ec/cryptoKeyVersions/1";

fn google() -> Emulator {
    Emulator::start(&format!(
        "keys:\n  - name: projects/demo/locations/global/keyRings/ring/cryptoKeys/ec\n    algorithm: EC_SIGN_P256_SHA256\nnotes:\n  - name: projects/demo/notes/n1\nattestors:\n  - name: projects/demo/attestors/a1\n    note: projects/demo/notes/n1\n    keyVersions: [{KEY}]\nimages:\n  - repository: demo/apps/one\n    tag: v1\n  - repository: demo/apps/two\n    tag: v1\n"
    ))
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// The binary with only `env` (plus PATH and HOME), in `dir`, with Google on the emulator.
fn run(emu: &Emulator, dir: &Path, args: &[&str], env: &[(&str, String)]) -> Run {
    let mut cmd = attest_command(emu, dir);
    cmd.args(args).current_dir(dir);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let run = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    let log: String = run
        .stderr
        .lines()
        .filter(|l| !l.starts_with("::add-mask::"))
        .collect();
    assert!(
        !log.contains(TOKEN),
        "the token reached the log: {}",
        run.stderr
    );
    run
}

fn images(emu: &Emulator) -> (String, String) {
    (
        format!("{}/demo/apps/one:v1", emu.host()),
        format!("{}/demo/apps/two:v1", emu.host()),
    )
}

/// `$GITHUB_OUTPUT` read as the runner reads it: `name=value`, or `name<<DELIM` ... `DELIM`.
fn parse_github_output(text: &str) -> HashMap<String, String> {
    let mut outputs = HashMap::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if let Some((name, delimiter)) = line.split_once("<<") {
            let mut value = Vec::new();
            for l in lines.by_ref() {
                if l == delimiter {
                    break;
                }
                value.push(l);
            }
            outputs.insert(name.to_string(), value.join("\n"));
        } else if let Some((name, value)) = line.split_once('=') {
            outputs.insert(name.to_string(), value.to_string());
        }
    }
    outputs
}

/// A one-request GitHub API stand-in: answers the commit-status POST as GitHub documents it and
/// hands back (request line, body).
fn fake_github() -> (String, std::thread::JoinHandle<(String, Value)>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut request_line = String::new();
        reader.read_line(&mut request_line).unwrap();
        let mut length = 0;
        loop {
            let mut header = String::new();
            reader.read_line(&mut header).unwrap();
            if header.trim().is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().unwrap();
                }
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        let body: Value = serde_json::from_slice(&body).unwrap();
        let answer = json!({
            "url": "https://api.github.com/repos/octo/app/statuses/6dcb09b5b57875f334f61aebed695e2e4193db5e",
            "avatar_url": "https://github.com/images/error/hubot_happy.gif", "id": 1, "node_id": "MDY6U3RhdHVzMQ==",
            "state": body["state"], "description": body["description"], "target_url": null, "context": body["context"],
            "created_at": "2012-07-20T01:19:13Z", "updated_at": "2012-07-20T01:19:13Z",
            "creator": {"login": "octocat", "id": 1, "node_id": "MDQ6VXNlcjE=", "avatar_url": "https://github.com/images/error/octocat_happy.gif",
                "gravatar_id": "", "url": "https://api.github.com/users/octocat", "html_url": "https://github.com/octocat",
                "followers_url": "https://api.github.com/users/octocat/followers", "following_url": "https://api.github.com/users/octocat/following{/other_user}",
                "gists_url": "https://api.github.com/users/octocat/gists{/gist_id}", "starred_url": "https://api.github.com/users/octocat/starred{/owner}{/repo}",
                "subscriptions_url": "https://api.github.com/users/octocat/subscriptions", "organizations_url": "https://api.github.com/users/octocat/orgs",
                "repos_url": "https://api.github.com/users/octocat/repos", "events_url": "https://api.github.com/users/octocat/events{/privacy}",
                "received_events_url": "https://api.github.com/users/octocat/received_events", "type": "User", "site_admin": false},
        })
        .to_string();
        let mut stream = stream;
        write!(stream, "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}", answer.len()).unwrap();
        (request_line.trim().to_string(), body)
    });
    (url, handle)
}

#[test]
fn github_actions_inputs_outputs_summary_masking_and_commit_status() {
    let emu = google();
    let dir = tempfile::tempdir().unwrap();
    let (one, two) = images(&emu);
    let output = dir.path().join("github_output");
    let summary = dir.path().join("step_summary");
    let (api, github) = fake_github();
    let host = emu.host();
    let env = [
        ("GITHUB_ACTIONS", "true".to_string()),
        ("CI", "true".into()),
        ("GITHUB_OUTPUT", output.display().to_string()),
        ("GITHUB_STEP_SUMMARY", summary.display().to_string()),
        ("GITHUB_API_URL", api),
        ("GITHUB_REPOSITORY", "octo/app".into()),
        (
            "GITHUB_SHA",
            "6dcb09b5b57875f334f61aebed695e2e4193db5e".into(),
        ),
        // The runner passes inputs as INPUT_<NAME>, hyphens kept.
        ("INPUT_IMAGES", format!("{one}\n{two}\n")),
        ("INPUT_ATTESTOR", "a1".into()),
        ("INPUT_ATTESTOR-PROJECT", "demo".into()),
        ("INPUT_KMS-KEY-VERSION", KEY.into()),
        ("INPUT_INSECURE-REGISTRY", host.clone()),
        ("INPUT_GOOGLE-REGISTRY", host.clone()),
        ("INPUT_DRY-RUN", "false".into()),
        ("INPUT_PROJECT", String::new()),
        ("INPUT_GITHUB-STATUS", "true".into()),
        ("INPUT_GITHUB-TOKEN", "ghs_secret-github-token".into()),
        ("GOOGLE_OAUTH_ACCESS_TOKEN", TOKEN.into()),
    ];
    let result = run(&emu, dir.path(), &["sign"], &env);
    assert_eq!(result.code, 0, "{}", result.stderr);
    let (request_line, status) = github.join().unwrap();

    // Secrets: announced as masks in the log (stderr), nowhere else; stdout is the JSON alone.
    assert!(
        result.stderr.contains(&format!("::add-mask::{TOKEN}\n")),
        "{}",
        result.stderr
    );
    assert!(result
        .stderr
        .contains("::add-mask::ghs_secret-github-token\n"));
    let without_masks: String = result
        .stderr
        .lines()
        .filter(|l| !l.starts_with("::add-mask::"))
        .collect();
    assert!(!without_masks.contains(TOKEN) && !without_masks.contains("ghs_secret"));
    assert!(!result.stdout.contains(TOKEN) && !result.stdout.contains("ghs_secret"));
    let printed: Vec<Value> =
        serde_json::from_str(&result.stdout).expect("stdout is the JSON alone");
    assert_eq!(printed.len(), 2);
    for file in [&output, &summary] {
        let text = std::fs::read_to_string(file).unwrap();
        assert!(
            !text.contains(TOKEN) && !text.contains("ghs_secret"),
            "{}",
            file.display()
        );
    }

    let outputs = parse_github_output(&std::fs::read_to_string(&output).unwrap());
    let all: Vec<Value> = serde_json::from_str(&outputs["json"]).unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(outputs["digest"], all[0]["digest"].as_str().unwrap());
    assert_eq!(outputs["image-ref"], all[0]["image_ref"].as_str().unwrap());
    assert_eq!(
        outputs["attestation"],
        all[0]["attestation"].as_str().unwrap()
    );
    assert_eq!(outputs["created"], "true");
    let table = std::fs::read_to_string(&summary).unwrap();
    assert!(
        table.contains("| Image | Digest | Attestation | Result |")
            && table.matches("| created |").count() == 2,
        "{table}"
    );

    // The commit status, as GitHub's API documents the request.
    assert_eq!(
        request_line,
        "POST /repos/octo/app/statuses/6dcb09b5b57875f334f61aebed695e2e4193db5e HTTP/1.1"
    );
    assert_eq!(status["state"], "success");
    assert_eq!(status["context"], "binauthz-attest");
    assert_eq!(
        status["description"],
        "2 image(s) attested by projects/demo/attestors/a1 (2 new)"
    );
}

#[test]
fn github_actions_errors_become_annotations() {
    let emu = google();
    let dir = tempfile::tempdir().unwrap();
    let (one, _) = images(&emu);
    let env = [
        ("GITHUB_ACTIONS", "true".to_string()),
        ("INPUT_IMAGES", one),
        ("INPUT_ATTESTOR", "projects/demo/attestors/missing".into()),
        ("INPUT_KMS-KEY-VERSION", KEY.into()),
        ("INPUT_INSECURE-REGISTRY", emu.host()),
        ("INPUT_GOOGLE-REGISTRY", emu.host()),
        ("GOOGLE_OAUTH_ACCESS_TOKEN", TOKEN.into()),
    ];
    let result = run(&emu, dir.path(), &["sign"], &env);
    assert_eq!(result.code, 4);
    assert!(
        result.stderr.contains("::error title=binauthz-attest (exit 4)::attestor projects/demo/attestors/missing was not found"),
        "{}",
        result.stderr
    );

    // A value that carries a line break and a workflow command stays inside the annotation.
    let github = [
        ("GITHUB_ACTIONS", "true".to_string()),
        ("GOOGLE_OAUTH_ACCESS_TOKEN", TOKEN.into()),
    ];
    let forging = [
        "sign",
        "gcr.io/p/app:1",
        "--attestor",
        "a1\n::error::forged",
        "--kms-key-version",
        KEY,
    ];
    let result = run(&emu, dir.path(), &forging, &github);
    assert_ne!(result.code, 0);
    assert!(
        !result
            .stderr
            .lines()
            .any(|l| l.starts_with("::error::forged")),
        "an input forged a workflow command: {}",
        result.stderr
    );
}

/// Tekton passes every param as a variable, unused ones empty; results are files.
#[test]
fn tekton_results_are_small_files_with_chains_type_hints() {
    let emu = google();
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("results");
    std::fs::create_dir(&results).unwrap();
    let (one, _) = images(&emu);
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, TOKEN).unwrap();
    let env = [
        ("BINAUTHZ_TEKTON_RESULTS_DIR", results.display().to_string()),
        ("BINAUTHZ_IMAGES", one.clone()),
        ("BINAUTHZ_IMAGES_FILE", String::new()),
        ("BINAUTHZ_ATTESTOR", "projects/demo/attestors/a1".into()),
        ("BINAUTHZ_ATTESTOR_PROJECT", String::new()),
        ("BINAUTHZ_KMS_KEY_VERSION", KEY.into()),
        ("BINAUTHZ_PROJECT", String::new()),
        ("BINAUTHZ_DRY_RUN", "false".into()),
        ("BINAUTHZ_INSECURE_REGISTRIES", emu.host()),
        ("BINAUTHZ_GOOGLE_REGISTRIES", emu.host()),
        (
            "CLOUDSDK_AUTH_ACCESS_TOKEN_FILE",
            token_file.display().to_string(),
        ),
    ];
    let result = run(&emu, dir.path(), &["sign", "--ci", "tekton"], &env);
    assert_eq!(result.code, 0, "{}", result.stderr);
    let read = |name: &str| std::fs::read_to_string(results.join(name)).unwrap();
    let outcome: Value = serde_json::from_str(&result.stdout).unwrap();
    assert_eq!(read("IMAGE_URL"), format!("{}/demo/apps/one", emu.host()));
    assert_eq!(read("IMAGE_DIGEST"), outcome[0]["digest"].as_str().unwrap());
    assert_eq!(
        read("ATTESTATION"),
        outcome[0]["attestation"].as_str().unwrap()
    );
    assert_eq!(read("CREATED"), "true");
    let total: usize = ["IMAGE_URL", "IMAGE_DIGEST", "ATTESTATION", "CREATED"]
        .iter()
        .map(|n| read(n).len())
        .sum();
    assert!(
        total < 1024,
        "results must fit Tekton's termination message: {total} bytes"
    );
}

/// GitLab: variables in, a dotenv report out (`KEY=VALUE`, single-line values).
#[test]
fn gitlab_writes_a_dotenv_report() {
    let emu = google();
    let dir = tempfile::tempdir().unwrap();
    let (one, _) = images(&emu);
    let env = [
        ("GITLAB_CI", "true".to_string()),
        ("CI", "true".into()),
        ("BINAUTHZ_IMAGES", one),
        ("BINAUTHZ_ATTESTOR", "projects/demo/attestors/a1".into()),
        ("BINAUTHZ_KMS_KEY_VERSION", KEY.into()),
        ("BINAUTHZ_INSECURE_REGISTRIES", emu.host()),
        ("BINAUTHZ_GOOGLE_REGISTRIES", emu.host()),
        ("GOOGLE_OAUTH_ACCESS_TOKEN", TOKEN.into()),
    ];
    let result = run(&emu, dir.path(), &["sign"], &env);
    assert_eq!(result.code, 0, "{}", result.stderr);
    let dotenv = std::fs::read_to_string(dir.path().join("binauthz-attest.env")).unwrap();
    let vars: HashMap<&str, &str> = dotenv
        .lines()
        .map(|l| l.split_once('=').expect("KEY=VALUE"))
        .collect();
    let outcome: Value = serde_json::from_str(&result.stdout).unwrap();
    assert_eq!(
        vars["BINAUTHZ_DIGEST"],
        outcome[0]["digest"].as_str().unwrap()
    );
    assert_eq!(
        vars["BINAUTHZ_IMAGE_REF"],
        outcome[0]["image_ref"].as_str().unwrap()
    );
    assert_eq!(
        vars["BINAUTHZ_ATTESTATION"],
        outcome[0]["attestation"].as_str().unwrap()
    );
    assert_eq!(vars["BINAUTHZ_CREATED"], "true");
    assert!(!dotenv.contains(TOKEN));

    // `--outputs-file` names the dotenv file, as its variable does.
    let named = dir.path().join("named.env");
    let flag = ["sign", "--outputs-file", named.to_str().unwrap()];
    let result = run(&emu, dir.path(), &flag, &env);
    assert_eq!(result.code, 0, "{}", result.stderr);
    let dotenv = std::fs::read_to_string(&named).expect("the dotenv file --outputs-file names");
    assert!(dotenv.contains("BINAUTHZ_CREATED=false\n"), "{dotenv}");
}

/// Jenkins (JSON file in the workspace) and Cloud Build (`$BUILDER_OUTPUT/output`).
#[test]
fn jenkins_and_cloud_build_get_a_json_outputs_file() {
    let emu = google();
    let (one, _) = images(&emu);
    let common = |ci: &[(&'static str, String)]| -> Vec<(&'static str, String)> {
        let mut env = vec![
            ("BINAUTHZ_IMAGES", one.clone()),
            (
                "BINAUTHZ_ATTESTOR",
                "projects/demo/attestors/a1".to_string(),
            ),
            ("BINAUTHZ_KMS_KEY_VERSION", KEY.to_string()),
            ("BINAUTHZ_INSECURE_REGISTRIES", emu.host()),
            ("BINAUTHZ_GOOGLE_REGISTRIES", emu.host()),
            ("GOOGLE_OAUTH_ACCESS_TOKEN", TOKEN.to_string()),
        ];
        env.extend(ci.iter().cloned());
        env
    };
    let jenkins = tempfile::tempdir().unwrap();
    let env = common(&[
        ("JENKINS_URL", "https://jenkins.example/".into()),
        ("BUILD_ID", "7".into()),
    ]);
    let result = run(&emu, jenkins.path(), &["sign"], &env);
    assert_eq!(result.code, 0, "{}", result.stderr);
    let file: Value = serde_json::from_str(
        &std::fs::read_to_string(jenkins.path().join("binauthz-attest.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(file["created"], true);
    assert_eq!(file["image-ref"], file["images"][0]["image_ref"]);

    let cloudbuild = tempfile::tempdir().unwrap();
    let builder_output = cloudbuild.path().join("builder");
    std::fs::create_dir(&builder_output).unwrap();
    let env = common(&[
        ("BUILD_ID", "b-1".into()),
        ("PROJECT_ID", "demo".into()),
        ("BUILDER_OUTPUT", builder_output.display().to_string()),
    ]);
    let result = run(&emu, cloudbuild.path(), &["sign"], &env);
    assert_eq!(result.code, 0, "{}", result.stderr);
    let file: Value =
        serde_json::from_str(&std::fs::read_to_string(builder_output.join("output")).unwrap())
            .unwrap();
    assert_eq!(
        file["created"], false,
        "the rerun found the attestation Jenkins' run made"
    );
    assert!(file["attestation"]
        .as_str()
        .unwrap()
        .starts_with("projects/demo/occurrences/"));
}

/// `verify` hands the CI its verdict: GitHub's `verified` and `json` outputs and a summary
/// table, GitLab's dotenv, whether the images passed or not.
#[test]
fn verify_outputs_reach_github_and_gitlab() {
    let emu = google();
    let dir = tempfile::tempdir().unwrap();
    let (one, two) = images(&emu);
    let registries = [
        ("BINAUTHZ_INSECURE_REGISTRIES", emu.host()),
        ("BINAUTHZ_GOOGLE_REGISTRIES", emu.host()),
        ("GOOGLE_OAUTH_ACCESS_TOKEN", TOKEN.to_string()),
    ];
    let signed = run(
        &emu,
        dir.path(),
        &[
            "sign",
            "--attestor=projects/demo/attestors/a1",
            "--kms-key-version",
            KEY,
            &one,
        ],
        &registries,
    );
    assert_eq!(signed.code, 0, "{}", signed.stderr);

    let output = dir.path().join("output");
    let summary = dir.path().join("summary");
    let mut github = registries.to_vec();
    github.extend([
        ("GITHUB_ACTIONS", "true".to_string()),
        ("GITHUB_OUTPUT", output.display().to_string()),
        ("GITHUB_STEP_SUMMARY", summary.display().to_string()),
    ]);
    let verify = ["verify", "--attestor=projects/demo/attestors/a1"];
    let passed = run(
        &emu,
        dir.path(),
        &[&verify[..], &[one.as_str()]].concat(),
        &github,
    );
    assert_eq!(passed.code, 0, "{}", passed.stderr);
    let outputs = parse_github_output(&std::fs::read_to_string(&output).unwrap());
    assert_eq!(outputs["verified"], "true");
    let verdicts: Value = serde_json::from_str(&outputs["json"]).unwrap();
    assert_eq!(verdicts[0]["verified"], true);

    std::fs::remove_file(&output).unwrap();
    let failed = run(
        &emu,
        dir.path(),
        &[&verify[..], &[one.as_str(), two.as_str()]].concat(),
        &github,
    );
    assert_eq!(failed.code, 5, "{}", failed.stderr);
    let outputs = parse_github_output(&std::fs::read_to_string(&output).unwrap());
    assert_eq!(outputs["verified"], "false");
    let table = std::fs::read_to_string(&summary).unwrap();
    assert!(
        table.contains("| Image | Attestor | Verdict | Reason |"),
        "{table}"
    );
    assert!(
        table.contains("NOT verified | no attestation by projects/demo/attestors/a1"),
        "{table}"
    );
    assert!(
        failed
            .stderr
            .contains("::error title=binauthz-attest (exit 5)::"),
        "{}",
        failed.stderr
    );

    let mut gitlab = registries.to_vec();
    gitlab.push(("GITLAB_CI", "true".to_string()));
    let result = run(
        &emu,
        dir.path(),
        &[&verify[..], &[two.as_str()]].concat(),
        &gitlab,
    );
    assert_eq!(result.code, 5);
    let dotenv = std::fs::read_to_string(dir.path().join("binauthz-attest.env")).unwrap();
    assert_eq!(dotenv, "BINAUTHZ_VERIFIED=false\n");
}
