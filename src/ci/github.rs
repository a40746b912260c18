//! GitHub Actions: inputs as `INPUT_<NAME>` (hyphens kept), outputs appended to
//! `$GITHUB_OUTPUT` in heredoc form, a table in `$GITHUB_STEP_SUMMARY`, workflow commands for
//! masking, grouping and error annotations.

use super::{Ci, CiName, Env, Outputs};
use crate::cli::VerbInput;
use crate::commit_status;
use crate::error::Error;
use crate::report::{Outcome, Output, Status, Verdict};
use crate::token::AccessToken;
use std::hash::{BuildHasher, Hasher};
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};

/// GitHub Actions, running one verb: its inputs are that verb's flags (`verify/action.yml`,
/// `policy-check/action.yml` and the root `action.yml` for `sign`).
#[derive(Default)]
pub struct GitHub {
    /// The verb's settings, from the clap definition (`cli::verb_inputs`).
    verb: Vec<VerbInput>,
    /// `::group::` written and not yet closed, so `::endgroup::` is written once.
    group_open: AtomicBool,
}

impl GitHub {
    /// The CI layer for the verb whose settings `verb` lists.
    pub fn new(verb: Vec<VerbInput>) -> GitHub {
        GitHub {
            verb,
            group_open: AtomicBool::new(false),
        }
    }

    /// Every input name this step reads, as action.yml spells it, and its variable: the verb's
    /// own first (policy check's `project` is not sign's), then those no flag has.
    pub fn input_variables(&self) -> Vec<(&str, &str)> {
        let mut seen = std::collections::BTreeSet::new();
        self.verb
            .iter()
            .map(|v| (v.input.as_str(), v.env.as_str()))
            .chain(INPUTS.iter().copied())
            .filter(|(input, _)| seen.insert(*input))
            .collect()
    }

    /// Closes the log group `start` opened, once however many ways the run ends.
    fn end_group(&self, out: &mut dyn Write) -> io::Result<()> {
        match self.group_open.swap(false, Ordering::SeqCst) {
            true => writeln!(out, "::endgroup::"),
            false => Ok(()),
        }
    }
}

/// Action inputs and the variable each becomes; the names are `action.yml`'s. Flags of the verb
/// being run come from the clap definition first; this table adds what no flag is (the job
/// token, the PGP passphrase) and keeps `sign`'s names when no verb is known.
const INPUTS: &[(&str, &str)] = &[
    ("images", "BINAUTHZ_IMAGES"),
    ("images-file", "BINAUTHZ_IMAGES_FILE"),
    ("attestor", "BINAUTHZ_ATTESTOR"),
    ("attestor-project", "BINAUTHZ_ATTESTOR_PROJECT"),
    ("kms-key-version", "BINAUTHZ_KMS_KEY_VERSION"),
    ("project", "BINAUTHZ_PROJECT"),
    ("dry-run", "BINAUTHZ_DRY_RUN"),
    ("insecure-registry", "BINAUTHZ_INSECURE_REGISTRIES"),
    ("google-registry", "BINAUTHZ_GOOGLE_REGISTRIES"),
    ("access-token-file", "CLOUDSDK_AUTH_ACCESS_TOKEN_FILE"),
    ("github-status", "BINAUTHZ_GITHUB_STATUS"),
    ("github-token", "GITHUB_TOKEN"),
    ("all-platforms", "BINAUTHZ_ALL_PLATFORMS"),
    ("platform", "BINAUTHZ_PLATFORM"),
    ("expect-digest", "BINAUTHZ_EXPECT_DIGEST"),
    ("source", "BINAUTHZ_SOURCE"),
    ("fail-fast", "BINAUTHZ_FAIL_FAST"),
    ("timeout", "BINAUTHZ_TIMEOUT"),
    ("concurrency", "BINAUTHZ_CONCURRENCY"),
    ("pae", "BINAUTHZ_PAE"),
    ("dsse-type", "BINAUTHZ_DSSE_TYPE"),
    ("cosign", "BINAUTHZ_COSIGN"),
    ("pkix-private-key", "BINAUTHZ_PKIX_PRIVATE_KEY"),
    ("signature-algorithm", "BINAUTHZ_SIGNATURE_ALGORITHM"),
    ("pgp-private-key", "BINAUTHZ_PGP_PRIVATE_KEY"),
    ("pgp-passphrase-file", "BINAUTHZ_PGP_PASSPHRASE_FILE"),
    ("registry-auth-file", "BINAUTHZ_REGISTRY_AUTH_FILE"),
    ("pgp-passphrase", "BINAUTHZ_PGP_PASSPHRASE"),
    ("cosign-private-key", "BINAUTHZ_COSIGN_PRIVATE_KEY"),
    ("cosign-password-file", "BINAUTHZ_COSIGN_PASSWORD_FILE"),
    ("cosign-password", "COSIGN_PASSWORD"),
];

/// `--github-status`'s target from GitHub's own variables, as Actions sets them for every job
/// (any other CI building a GitHub repository can set them too); `GITHUB_API_URL` lets GitHub
/// Enterprise and tests point elsewhere. Read here so the core reads no CI variable.
pub fn commit_status_target(env: Env) -> Result<commit_status::Target, Error> {
    let var = |name: &str| env(name).filter(|v| !v.is_empty());
    let missing = |name: &str| {
        Error::Usage(format!(
            "--github-status needs {name}: set it (GitHub Actions sets it for every job)"
        ))
    };
    let repository = var("GITHUB_REPOSITORY").ok_or_else(|| missing("GITHUB_REPOSITORY"))?;
    let (owner, repo) = repository
        .split_once('/')
        .filter(|(owner, repo)| !owner.is_empty() && !repo.is_empty() && !repo.contains('/'))
        .ok_or_else(|| {
            Error::Usage(format!(
                "GITHUB_REPOSITORY `{repository}` is not OWNER/REPO: set it to the repository the commit belongs to"
            ))
        })?;
    Ok(commit_status::Target {
        api_url: var("GITHUB_API_URL").unwrap_or_else(|| "https://api.github.com".into()),
        owner: owner.to_string(),
        repo: repo.to_string(),
        sha: var("GITHUB_SHA").ok_or_else(|| missing("GITHUB_SHA"))?,
        token: AccessToken::new(var("GITHUB_TOKEN").ok_or_else(|| missing("GITHUB_TOKEN"))?),
    })
}

/// The workflow command that hides `secret` from the rest of the log.
pub fn mask_command(secret: &str) -> String {
    format!("::add-mask::{}", escape(secret.trim()))
}

/// Escapes text for a workflow command's message, so it cannot end the command or start another.
fn escape(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// A heredoc delimiter that does not occur in `value`, as the runner requires.
fn delimiter(value: &str) -> String {
    loop {
        let random = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        let candidate = format!("ghadelimiter_{random:016x}");
        if !value.contains(&candidate) {
            return candidate;
        }
    }
}

fn append(path: &str, text: &str) -> io::Result<()> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?
        .write_all(text.as_bytes())
}

/// One image's row of the step summary. A failed image names itself as given (it may never
/// have resolved to a digest) and says why.
fn summary_row(o: &Outcome) -> String {
    let cell = |s: &str| s.replace('|', "\\|").replace(['\n', '\r'], " ");
    let code = |s: &str| match s.is_empty() {
        true => String::new(),
        false => format!("`{}`", cell(s)),
    };
    let result = match o.status {
        Status::Created => "created".to_string(),
        Status::Existing => "already attested".to_string(),
        Status::WouldCreate => "dry run".to_string(),
        Status::Failed => format!(
            "failed: {}",
            cell(o.error.as_ref().map_or("", |e| e.message.as_str()))
        ),
    };
    let image = match o.digest {
        Some(_) => o.image.repository_url(),
        None => o.image.to_string(),
    };
    format!(
        "| {} | {} | {} | {result} |\n",
        code(&image),
        code(
            &o.digest
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default()
        ),
        code(o.attestation.as_deref().unwrap_or_default())
    )
}

/// Escapes a workflow command's property value (`file=`, `title=`): also `:` and `,`, which
/// end it (actions/toolkit, `command.ts` `escapeProperty`).
fn escape_property(text: &str) -> String {
    escape(text).replace(':', "%3A").replace(',', "%2C")
}

/// `::error file=F,line=L::` for each container `policy check` denied and `::warning` for each a
/// dry-run rule would deny, read from its JSON output; `file` relative to the workspace, as the
/// runner matches annotations to the files of a pull request.
fn manifest_annotations(json: &str, workspace: Option<&str>) -> Vec<String> {
    let Ok(serde_json::Value::Array(checked)) = serde_json::from_str(json) else {
        return Vec::new();
    };
    let text = |v: &serde_json::Value, key: &str| v[key].as_str().unwrap_or_default().to_string();
    checked
        .iter()
        .filter_map(|c| {
            let level = match c["decision"].as_str()? {
                "denied" => "error",
                "would-be-denied" => "warning",
                _ => return None,
            };
            let manifest = c["manifest"].as_str()?;
            let line = c["line"].as_u64()?;
            let file = workspace
                .and_then(|w| std::path::Path::new(manifest).strip_prefix(w).ok())
                .map_or(manifest.to_string(), |p| p.display().to_string());
            let message = format!(
                "{} ({} in {}) {} by {}: {}",
                text(c, "image"),
                text(c, "container"),
                text(c, "workload"),
                text(c, "decision_text"),
                text(c, "decided_by"),
                text(c, "reason")
            );
            Some(format!(
                "::{level} file={},line={line},title={}::{}",
                escape_property(&file),
                escape_property("binauthz-attest policy check"),
                escape(&message)
            ))
        })
        .collect()
}

/// What `finish` writes for each kind of output.
impl GitHub {
    fn signed(&self, env: Env, outcomes: &[Outcome]) -> io::Result<()> {
        let o = Outputs::of(outcomes);
        let json = serde_json::to_string(outcomes).unwrap_or_default();
        if let Some(path) = env("GITHUB_OUTPUT") {
            let mut text = String::new();
            for (name, value) in [
                ("digest", o.digest.as_str()),
                ("image-ref", &o.image_ref),
                ("attestation", &o.attestation),
                ("created", &o.created),
                ("cosign-signature", &o.cosign_signature),
                ("json", &json),
            ] {
                let end = delimiter(value);
                text += &format!("{name}<<{end}\n{value}\n{end}\n");
            }
            append(&path, &text)?;
        }
        if let Some(path) = env("GITHUB_STEP_SUMMARY") {
            let mut summary = String::from("### Binary Authorization attestations\n\n| Image | Digest | Attestation | Result |\n|---|---|---|---|\n");
            for o in outcomes {
                summary += &summary_row(o);
            }
            append(&path, &format!("{summary}\n"))?;
        }
        Ok(())
    }

    fn verified(&self, env: Env, verdicts: &[Verdict]) -> io::Result<()> {
        let verified = super::all_verified(verdicts).to_string();
        let json = serde_json::to_string(verdicts).unwrap_or_default();
        if let Some(path) = env("GITHUB_OUTPUT") {
            let mut text = String::new();
            for (name, value) in [("verified", verified.as_str()), ("json", &json)] {
                let end = delimiter(value);
                text += &format!("{name}<<{end}\n{value}\n{end}\n");
            }
            append(&path, &text)?;
        }
        if let Some(path) = env("GITHUB_STEP_SUMMARY") {
            let mut summary = String::from(
                "### Binary Authorization verification\n\n| Image | Attestor | Verdict | Reason |\n|---|---|---|---|\n",
            );
            for v in verdicts {
                let verdict = if v.verified {
                    "verified"
                } else {
                    "NOT verified"
                };
                // A table cell ends at `|` and at a line break: keep reasons inside theirs.
                let reason = v.reason.replace('|', "\\|").replace(['\n', '\r'], " ");
                summary += &format!(
                    "| `{}` | `{}` | {verdict} | {reason} |\n",
                    v.image_ref_or_image(),
                    v.judge
                );
            }
            append(&path, &format!("{summary}\n"))?;
        }
        Ok(())
    }

    fn named(&self, env: Env, outputs: &[(String, String)], out: &mut dyn Write) -> io::Result<()> {
        if let Some(path) = env("GITHUB_OUTPUT") {
            let mut text = String::new();
            for (name, value) in outputs {
                let end = delimiter(value);
                text += &format!("{name}<<{end}\n{value}\n{end}\n");
            }
            append(&path, &text)?;
        }
        // `policy check`: each refused container at its manifest line, so a pull request
        // shows the refusal beside the line that deploys the image.
        if outputs.iter().any(|(name, _)| name == "decision") {
            if let Some((_, json)) = outputs.iter().find(|(name, _)| name == "json") {
                for line in manifest_annotations(json, env("GITHUB_WORKSPACE").as_deref()) {
                    writeln!(out, "{line}")?;
                }
            }
        }
        Ok(())
    }
}

impl Ci for GitHub {
    fn name(&self) -> CiName {
        CiName::Github
    }

    fn finish(&self, env: Env, output: &Output, out: &mut dyn Write) -> io::Result<()> {
        self.end_group(out)?;
        match output {
            _ if output.is_empty() => Ok(()),
            Output::Nothing => Ok(()),
            Output::Signed(outcomes) => self.signed(env, outcomes),
            Output::Verified(verdicts) => self.verified(env, verdicts),
            Output::Named(outputs) => self.named(env, outputs, out),
        }
    }

    fn inputs(&self, env: Env) -> Vec<(String, String)> {
        self.input_variables()
            .into_iter()
            .filter_map(|(input, var)| {
                let value = env(&format!("INPUT_{}", input.to_uppercase()))?;
                // A multi-line input (one image per line) becomes the flag's comma list.
                let value: Vec<&str> = value
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .collect();
                (!value.is_empty()).then(|| (var.to_string(), value.join(",")))
            })
            .collect()
    }

    fn start(&self, env: Env, out: &mut dyn Write) -> io::Result<()> {
        let file_token = env("CLOUDSDK_AUTH_ACCESS_TOKEN_FILE")
            .and_then(|p| crate::bounded::read_to_string(p, crate::bounded::CONFIG_FILE).ok());
        let secrets = [
            env("GOOGLE_OAUTH_ACCESS_TOKEN"),
            env("GITHUB_TOKEN"),
            env("INPUT_GITHUB-TOKEN"),
            env("INPUT_PGP-PASSPHRASE"),
            env("BINAUTHZ_PGP_PASSPHRASE"),
            env("INPUT_COSIGN-PASSWORD"),
            env("COSIGN_PASSWORD"),
            file_token,
        ];
        for secret in secrets
            .iter()
            .flatten()
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
        {
            writeln!(out, "{}", mask_command(secret))?;
        }
        self.group_open.store(true, Ordering::SeqCst);
        writeln!(out, "::group::binauthz-attest")
    }

    fn output_files(&self, env: Env) -> Vec<std::path::PathBuf> {
        ["GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY"]
            .into_iter()
            .filter_map(|var| env(var).map(Into::into))
            .collect()
    }

    fn summary(&self, env: Env, markdown: &str) -> io::Result<()> {
        match env("GITHUB_STEP_SUMMARY") {
            Some(path) => append(&path, &format!("{markdown}\n")),
            None => Ok(()),
        }
    }

    fn warn(&self, message: &str, out: &mut dyn Write) -> io::Result<()> {
        writeln!(out, "::warning title=binauthz-attest::{}", escape(message))
    }

    fn fail(&self, error: &Error, out: &mut dyn Write) -> io::Result<()> {
        self.end_group(out)?;
        writeln!(
            out,
            "::error title=binauthz-attest (exit {})::{}",
            error.exit_code(),
            escape(&error.to_string())
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ci::tests::{env_of, outcome};
    use crate::reference::ImageRef;

    #[test]
    fn the_commit_status_target_comes_from_githubs_variables() {
        let vars = [
            ("GITHUB_REPOSITORY", "octo/app"),
            ("GITHUB_SHA", "abc"),
            ("GITHUB_TOKEN", "ghs_x"),
        ];
        let target = commit_status_target(&env_of(&vars)).unwrap();
        assert_eq!(
            (
                target.owner.as_str(),
                target.repo.as_str(),
                target.sha.as_str()
            ),
            ("octo", "app", "abc")
        );
        assert_eq!(target.api_url, "https://api.github.com");
        let missing = commit_status_target(&env_of(&vars[..2])).unwrap_err();
        assert!(
            missing.to_string().contains("needs GITHUB_TOKEN"),
            "{missing}"
        );
        for bad in ["octo", "octo/", "/app", "octo/app/x"] {
            let vars = [("GITHUB_REPOSITORY", bad), vars[1], vars[2]];
            let e = commit_status_target(&env_of(&vars)).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{bad}: {e}");
        }
    }

    #[test]
    fn the_pgp_passphrase_input_is_masked_before_anything_else_is_written() {
        let env = env_of(&[("INPUT_PGP-PASSPHRASE", "s3cret pass")]);
        let mut out = Vec::new();
        GitHub::default().start(&env, &mut out).unwrap();
        let written = String::from_utf8(out).unwrap();
        assert!(
            written.starts_with("::add-mask::s3cret pass\n"),
            "{written}"
        );
        assert!(GitHub::default()
            .inputs(&env)
            .contains(&("BINAUTHZ_PGP_PASSPHRASE".into(), "s3cret pass".into())));
    }

    #[test]
    fn the_cosign_password_input_is_masked_and_read_as_cosign_reads_it() {
        let env = env_of(&[("INPUT_COSIGN-PASSWORD", "correct horse")]);
        let mut out = Vec::new();
        GitHub::default().start(&env, &mut out).unwrap();
        let written = String::from_utf8(out).unwrap();
        assert!(
            written.starts_with("::add-mask::correct horse\n"),
            "{written}"
        );
        assert!(GitHub::default()
            .inputs(&env)
            .contains(&("COSIGN_PASSWORD".into(), "correct horse".into())));
    }

    #[test]
    fn inputs_follow_the_runners_naming_and_lists_become_comma_lists() {
        let env = env_of(&[
            (
                "INPUT_KMS-KEY-VERSION",
                "projects/p/locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1",
            ),
            ("INPUT_IMAGES", "a.io/x/y:1\n\n  a.io/x/z:2 \n"),
            ("INPUT_PROJECT", ""),
        ]);
        let inputs = GitHub::default().inputs(&env);
        assert!(inputs.contains(&("BINAUTHZ_IMAGES".into(), "a.io/x/y:1,a.io/x/z:2".into())));
        assert!(inputs.iter().any(|(k, _)| k == "BINAUTHZ_KMS_KEY_VERSION"));
        assert!(
            !inputs.iter().any(|(k, _)| k == "BINAUTHZ_PROJECT"),
            "empty inputs are unset"
        );
    }

    #[test]
    fn the_log_group_closes_once_when_outputs_are_written_and_the_run_then_fails() {
        let github = GitHub::default();
        let mut out = Vec::new();
        github.start(&env_of(&[]), &mut out).unwrap();
        github
            .finish(
                &env_of(&[]),
                &Output::Signed(vec![outcome("r.io/a/b", true)]),
                &mut out,
            )
            .unwrap();
        github.fail(&Error::Usage("late".into()), &mut out).unwrap();
        let log = String::from_utf8(out).unwrap();
        assert_eq!(log.matches("::endgroup::").count(), 1, "{log}");
        assert!(
            log.contains("::error title=binauthz-attest (exit 2)::late"),
            "{log}"
        );
    }

    #[test]
    fn a_failed_images_summary_row_names_the_image_and_the_reason() {
        let mut failed = outcome("r.io/a/b", false);
        failed.status = Status::Failed;
        failed.image = ImageRef::parse("r.io/a/missing:v1").unwrap();
        failed.digest = None;
        failed.attestation = None;
        failed.error = Some(crate::report::ImageError::from(&Error::ImageNotFound {
            image: "r.io/a/missing:v1".into(),
        }));
        let row = summary_row(&failed);
        assert!(
            row.starts_with(
                "| `r.io/a/missing:v1` |  |  | failed: image r.io/a/missing:v1 was not found"
            ),
            "{row}"
        );
    }

    #[test]
    fn policy_denials_are_annotated_at_their_manifest_line_relative_to_the_workspace() {
        let json = serde_json::json!([
            {"image": "r.io/a/web:1", "manifest": "/ws/k8s/deploy.yaml", "line": 12,
             "workload": "Deployment/web", "container": "web", "decision": "denied",
             "decision_text": "denied", "decided_by": "defaultAdmissionRule", "reason": "no attestation, by x"},
            {"image": "r.io/a/db:1", "manifest": "k8s/db.yaml", "line": 3,
             "workload": "Deployment/db", "container": "db", "decision": "would-be-denied",
             "decision_text": "would be denied (dry run)", "decided_by": "defaultAdmissionRule", "reason": "r"},
            {"image": "r.io/a/ok:1", "decision": "allowed"},
        ])
        .to_string();
        let lines = manifest_annotations(&json, Some("/ws"));
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(lines[0].starts_with("::error file=k8s/deploy.yaml,line=12,title=binauthz-attest policy check::r.io/a/web:1 (web in Deployment/web) denied by defaultAdmissionRule: no attestation%2C by x") || lines[0].starts_with("::error file=k8s/deploy.yaml,line=12,title=binauthz-attest policy check::r.io/a/web:1 (web in Deployment/web) denied by defaultAdmissionRule: no attestation, by x"), "{}", lines[0]);
        assert!(
            lines[1].starts_with("::warning file=k8s/db.yaml,line=3,"),
            "{}",
            lines[1]
        );
    }

    #[test]
    fn each_verbs_inputs_map_to_its_own_variables() {
        let args: Vec<std::ffi::OsString> = ["b", "policy", "check", "--ci", "github"]
            .iter()
            .map(Into::into)
            .collect();
        let github = GitHub::new(crate::cli::verb_inputs(&args));
        let env = env_of(&[("INPUT_PROJECT", "p"), ("INPUT_MANIFEST", "a.yaml\nb.yaml")]);
        let inputs = github.inputs(&env);
        assert!(
            inputs.contains(&("BINAUTHZ_POLICY_PROJECT".into(), "p".into())),
            "{inputs:?}"
        );
        assert!(inputs.contains(&("BINAUTHZ_MANIFESTS".into(), "a.yaml,b.yaml".into())));
        assert!(
            !inputs.iter().any(|(k, _)| k == "BINAUTHZ_PROJECT"),
            "{inputs:?}"
        );
    }

    #[test]
    fn messages_cannot_inject_workflow_commands() {
        assert_eq!(
            escape("bad\n::add-mask::x 100%"),
            "bad%0A::add-mask::x 100%25"
        );
        assert!(!delimiter("value").is_empty());
    }

    #[test]
    fn outputs_use_heredocs_that_the_value_cannot_close() {
        let dir = tempfile::tempdir().unwrap();
        let output = dir.path().join("output");
        let env = env_of(&[("GITHUB_OUTPUT", output.to_str().unwrap())]);
        GitHub::default()
            .finish(
                &env,
                &Output::Signed(vec![outcome("r.io/a/b", true)]),
                &mut Vec::new(),
            )
            .unwrap();
        let text = std::fs::read_to_string(output).unwrap();
        assert!(text.starts_with("digest<<ghadelimiter_"), "{text}");
        assert!(text.contains("\ncreated<<"), "{text}");
    }
}
