//! The CI layer: which CI runs the step, how it hands the step its inputs, and how the step
//! hands back outputs, masks secrets and reports errors. The core (`sign`, `gcp`, ...) never
//! reads a CI variable; `main.rs` calls this module before and after the command.

mod cloudbuild;
mod github;
mod gitlab;
mod jenkins;
mod local;
mod tekton;
mod usage;

pub use github::commit_status_target;
pub use usage::usage_error;

/// A way to hide a secret (a plain string) from the CI's log.
pub type Mask = std::sync::Arc<dyn Fn(&str) + Send + Sync>;

/// How `ci` hides a secret the run mints (a token from Application Default Credentials) from its
/// log, when it can: GitHub's `::add-mask::`, written to the log (stderr) before the token is used.
/// Plain strings in: the CI layer knows no Google type.
pub fn mask(ci: &dyn Ci) -> Option<Mask> {
    (ci.name() == CiName::Github).then(|| {
        let mask: Mask =
            std::sync::Arc::new(|secret: &str| eprintln!("{}", github::mask_command(secret)));
        mask
    })
}

use crate::error::Error;
use crate::reference::ImageRef;
use crate::report::{Outcome, Output, Report, Verdict};
use clap::ValueEnum;
use serde_json::json;
use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};

/// The CIs we know, as `--ci` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CiName {
    /// GitHub Actions.
    Github,
    /// Tekton Pipelines.
    Tekton,
    /// Jenkins.
    Jenkins,
    /// GitLab CI.
    Gitlab,
    /// Google Cloud Build.
    Cloudbuild,
    /// A terminal, or a CI we do not know: JSON on stdout.
    Local,
}

/// Reads an environment variable; a function so tests can give a made-up environment.
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// One CI's conventions. Every method has a do-nothing default: a CI implements what it has.
pub trait Ci {
    /// Which CI this is.
    fn name(&self) -> CiName;

    /// The step's inputs, given the CI's way, as `BINAUTHZ_*` variables. They fill in only what
    /// neither a flag nor an explicit variable sets.
    fn inputs(&self, _env: Env) -> Vec<(String, String)> {
        Vec::new()
    }

    /// Before the command runs: hide secrets from the log, open a log group. `log` is the
    /// CI's log (stderr), never the command's output.
    fn start(&self, _env: Env, _log: &mut dyn io::Write) -> io::Result<()> {
        Ok(())
    }

    /// After the command: its output where later steps read outputs (`sign`'s digest and
    /// attestation, `verify`'s `verified`, `setup`'s names), a table where the CI has a summary.
    /// Called whether or not the command then failed, unless it failed with nothing to hand on.
    fn finish(&self, _env: Env, _output: &Output, _log: &mut dyn io::Write) -> io::Result<()> {
        Ok(())
    }

    /// A command's Markdown summary (`policy check`'s table), where the CI shows one.
    fn summary(&self, _env: Env, _markdown: &str) -> io::Result<()> {
        Ok(())
    }

    /// A warning (a dry-run denial, a policy pattern too broad, a key file others can read):
    /// every warning a command reports reaches the log here, once; as an annotation where the
    /// CI has them, else as a `warning:` line.
    fn warn(&self, message: &str, log: &mut dyn io::Write) -> io::Result<()> {
        writeln!(log, "warning: {message}")
    }

    /// When the command failed: an annotation where the CI has them.
    fn fail(&self, _error: &Error, _log: &mut dyn io::Write) -> io::Result<()> {
        Ok(())
    }

    /// The JSON outputs file when the CI reads one and none was named with `--outputs-file`.
    fn default_outputs_file(&self, _env: Env) -> Option<PathBuf> {
        None
    }

    /// The files this CI's outputs, results or summary go to, checked before anything is
    /// signed (see [`check_outputs_writable`]).
    fn output_files(&self, _env: Env) -> Vec<PathBuf> {
        Vec::new()
    }
}

/// Fails before any remote call when an output destination cannot be written: learning it
/// after the attestation was filed would leave an attestation no output reports. Nothing is
/// changed: an existing file is opened for appending and closed, a missing one is created and
/// removed again.
pub fn check_outputs_writable(ci: &dyn Ci, named: Option<&Path>, env: Env) -> io::Result<()> {
    let named = named
        .map(Path::to_path_buf)
        .or_else(|| ci.default_outputs_file(env));
    for path in ci.output_files(env).into_iter().chain(named) {
        let probe = match path.exists() {
            true => std::fs::OpenOptions::new()
                .append(true)
                .open(&path)
                .map(drop),
            false => std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
                .and_then(|_| std::fs::remove_file(&path)),
        };
        probe.map_err(|e| {
            io::Error::new(
                e.kind(),
                format!(
                    "{} cannot be written ({e}); nothing was signed. Make it writable, or name \
                     another file with --outputs-file",
                    path.display()
                ),
            )
        })?;
    }
    Ok(())
}

/// Picks the CI: `--ci NAME` (or `BINAUTHZ_CI`), else each CI's own identifying variables.
pub fn detect(args: &[OsString], env: Env) -> Box<dyn Ci> {
    let named = flag_value(args, "--ci").or_else(|| env("BINAUTHZ_CI"));
    let chosen = named
        .and_then(|n| CiName::from_str(&n, true).ok())
        .unwrap_or_else(|| {
            let set = |k: &str| env(k).is_some_and(|v| !v.is_empty());
            if env("GITHUB_ACTIONS").as_deref() == Some("true") {
                CiName::Github
            } else if env("GITLAB_CI").as_deref() == Some("true") {
                CiName::Gitlab
            } else if set("JENKINS_URL") {
                CiName::Jenkins
            } else if set("BUILD_ID") && set("PROJECT_ID") {
                CiName::Cloudbuild
            } else if tekton::results_dir(env).is_dir() && !set("CI") {
                CiName::Tekton
            } else {
                CiName::Local
            }
        });
    match chosen {
        CiName::Github => Box::new(github::GitHub::new(crate::cli::verb_inputs(args))),
        CiName::Tekton => Box::new(tekton::Tekton),
        CiName::Jenkins => Box::new(jenkins::Jenkins),
        CiName::Gitlab => Box::new(gitlab::GitLab),
        CiName::Cloudbuild => Box::new(cloudbuild::CloudBuild),
        CiName::Local => Box::new(local::Local),
    }
}

/// Variables a wrapper may set to an empty string for an input nobody gave (a Tekton step sets
/// every `env` entry): an empty value means unset, not an empty image list or attestor.
fn settable(name: &str) -> bool {
    name.starts_with("BINAUTHZ_")
        || [
            "CLOUDSDK_AUTH_ACCESS_TOKEN_FILE",
            "GOOGLE_OAUTH_ACCESS_TOKEN",
        ]
        .contains(&name)
}

/// The environment clap will read, as changes to make: the CI's inputs where nothing else set
/// the variable, empty variables removed, and newline-separated image lists as comma lists.
/// Returns `(name, Some(value))` to set and `(name, None)` to remove.
pub fn environment_changes(
    ci: &dyn Ci,
    env: Env,
    vars: &[(String, String)],
) -> Vec<(String, Option<String>)> {
    let mut changes = Vec::new();
    for (name, value) in vars.iter().filter(|(n, _)| settable(n)) {
        if value.trim().is_empty() {
            changes.push((name.clone(), None));
        } else if name == "BINAUTHZ_IMAGES" && value.contains('\n') {
            let list: Vec<&str> = value
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect();
            changes.push((name.clone(), Some(list.join(","))));
        }
    }
    let unset = |name: &str| env(name).is_none_or(|v| v.trim().is_empty());
    for (name, value) in ci.inputs(env) {
        if unset(&name) {
            changes.push((name, Some(value)));
        }
    }
    changes
}

/// The value of `--name VALUE` or `--name=VALUE` before clap parses the line (the CI must be
/// known first, to supply the inputs clap reads).
fn flag_value(args: &[OsString], name: &str) -> Option<String> {
    let args: Vec<String> = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    args.iter()
        .enumerate()
        .find_map(|(i, a)| match a.strip_prefix(name) {
            Some("") => args.get(i + 1).cloned(),
            Some(rest) => rest.strip_prefix('=').map(str::to_string),
            None => None,
        })
}

/// The scalar outputs every CI gets, from the first image (the `json` output holds all).
pub struct Outputs {
    /// `sha256:...` the registry serves.
    pub digest: String,
    /// `REPO@DIGEST`.
    pub image_ref: String,
    /// `REPO` alone.
    pub repository: String,
    /// The occurrence name.
    pub attestation: String,
    /// `true` when this run filed the attestation.
    pub created: String,
    /// With `--cosign`: the cosign signature manifests (`REPO@DIGEST`, comma-separated).
    pub cosign_signature: String,
}

impl Outputs {
    /// The outputs of a run: the first image's.
    pub fn of(outcomes: &[Outcome]) -> Outputs {
        let first = outcomes.first();
        let pinned = first.and_then(Outcome::image_ref);
        Outputs {
            digest: first
                .and_then(|o| o.digest.as_ref())
                .map(ToString::to_string)
                .unwrap_or_default(),
            image_ref: pinned.as_ref().map(ToString::to_string).unwrap_or_default(),
            repository: pinned
                .as_ref()
                .map(ImageRef::repository_url)
                .unwrap_or_default(),
            attestation: first
                .and_then(|o| o.attestation.clone())
                .unwrap_or_default(),
            created: first.is_some_and(Outcome::created).to_string(),
            cosign_signature: first
                .and_then(Outcome::cosign_signature)
                .unwrap_or_default(),
        }
    }

    /// The JSON outputs file Jenkins and Cloud Build steps read.
    pub fn json_file(outcomes: &[Outcome]) -> String {
        let o = Outputs::of(outcomes);
        let value = json!({
            "digest": o.digest, "image-ref": o.image_ref, "attestation": o.attestation,
            "created": o.created == "true", "images": outcomes,
            "cosign-signature": o.cosign_signature,
        });
        serde_json::to_string_pretty(&value).unwrap_or_default() + "\n"
    }
}

/// An output name as an environment-style name: `key-version` -> `KEY_VERSION`.
pub fn upper_snake(name: &str) -> String {
    name.to_ascii_uppercase().replace('-', "_")
}

/// `verify`'s one scalar output: every image passed every attestor.
pub fn all_verified(verdicts: &[Verdict]) -> bool {
    !verdicts.is_empty() && verdicts.iter().all(|v| v.verified)
}

/// The JSON outputs file (`--outputs-file`, or the CI's default) Jenkins and Cloud Build steps
/// read: `sign`'s outputs and images, `verify`'s `verified` and verdicts, or the named outputs.
/// GitLab gets its dotenv from `finish`.
pub fn write_outputs_file(
    ci: &dyn Ci,
    named: Option<PathBuf>,
    env: Env,
    output: &Output,
) -> io::Result<()> {
    let Some(path) = named.or_else(|| ci.default_outputs_file(env)) else {
        return Ok(());
    };
    if ci.name() == CiName::Gitlab || output.is_empty() {
        return Ok(());
    }
    let text = match output {
        Output::Nothing => return Ok(()),
        Output::Signed(outcomes) => Outputs::json_file(outcomes),
        Output::Verified(verdicts) => {
            let value = json!({"verified": all_verified(verdicts), "verdicts": verdicts});
            serde_json::to_string_pretty(&value).unwrap_or_default() + "\n"
        }
        Output::Named(outputs) => {
            let map: serde_json::Map<String, serde_json::Value> =
                outputs.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
            serde_json::to_string_pretty(&map).unwrap_or_default() + "\n"
        }
    };
    std::fs::write(path, text)
}

/// Hands a finished command to the CI: its output (unless it failed with nothing to hand on)
/// and the outputs file, then (after the outputs: GitHub closes its log group there) the
/// summary and the warnings. Returns how the command ended, or the first output error.
pub fn finish(
    ci: &dyn Ci,
    env: Env,
    outputs_file: Option<PathBuf>,
    report: Report,
    log: &mut dyn io::Write,
) -> Result<(), Error> {
    let emitted = match report.output.is_empty() && report.result.is_err() {
        true => Ok(()),
        false => ci
            .finish(env, &report.output, log)
            .and_then(|()| write_outputs_file(ci, outputs_file, env, &report.output)),
    }
    .map_err(Error::Output);
    let noted = report
        .summary
        .as_deref()
        .map_or(Ok(()), |markdown| ci.summary(env, markdown))
        .and_then(|()| report.warnings.iter().try_for_each(|w| ci.warn(w, log)))
        .map_err(Error::Output);
    report.result.and(emitted).and(noted)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::names::{AttestorName, NoteName};
    use crate::reference::Digest;
    use crate::report::Status;
    use std::collections::HashMap;

    /// The digest every test outcome resolved to.
    pub const DIGEST: &str =
        "sha256:abababababababababababababababababababababababababababababababab";

    pub fn outcome(image: &str, created: bool) -> Outcome {
        Outcome {
            image: ImageRef::parse(&format!("{image}:v1")).unwrap(),
            digest: Some(Digest::parse(DIGEST).unwrap()),
            attestor: Some(AttestorName::parse("projects/p/attestors/a", None).unwrap()),
            note: Some(NoteName::parse("projects/p/notes/n").unwrap()),
            key_version: "projects/p/locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1".into(),
            public_key_id: Some("//cloudkms.googleapis.com/v1/projects/p/locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1".into()),
            attestation: Some("projects/p/occurrences/o1".into()),
            status: if created { Status::Created } else { Status::Existing },
            platform: None,
            duplicate_of: None,
            error: None,
            cosign_signatures: Vec::new(),
            warnings: Vec::new(),
        }
    }

    pub fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn each_warning_reaches_the_log_once_as_an_annotation_where_the_ci_has_them() {
        let report = || {
            let mut r = Report::plain(Ok(()));
            r.warnings = vec!["the private key file k.pem can be read by group or others".into()];
            r
        };
        let env = env_of(&[]);
        let mut log = Vec::new();
        finish(&local::Local, &env, None, report(), &mut log).unwrap();
        let text = String::from_utf8(log).unwrap();
        assert_eq!(
            text,
            "warning: the private key file k.pem can be read by group or others\n"
        );
        let mut log = Vec::new();
        finish(
            &github::GitHub::new(Vec::new()),
            &env,
            None,
            report(),
            &mut log,
        )
        .unwrap();
        let text = String::from_utf8(log).unwrap();
        assert_eq!(text.matches("can be read by group").count(), 1, "{text}");
        assert!(
            text.starts_with("::warning title=binauthz-attest::"),
            "{text}"
        );
    }

    fn detected(args: &[&str], env: &[(&str, &str)]) -> CiName {
        let args: Vec<OsString> = args.iter().map(OsString::from).collect();
        detect(&args, &env_of(env)).name()
    }

    #[test]
    fn each_ci_is_detected_by_its_own_variables_and_the_flag_wins() {
        assert_eq!(
            detected(&[], &[("GITHUB_ACTIONS", "true"), ("CI", "true")]),
            CiName::Github
        );
        assert_eq!(
            detected(&[], &[("GITLAB_CI", "true"), ("CI", "true")]),
            CiName::Gitlab
        );
        assert_eq!(
            detected(&[], &[("JENKINS_URL", "https://ci/"), ("BUILD_ID", "7")]),
            CiName::Jenkins
        );
        assert_eq!(
            detected(&[], &[("BUILD_ID", "b"), ("PROJECT_ID", "p")]),
            CiName::Cloudbuild
        );
        assert_eq!(detected(&[], &[("CIRCLECI", "true")]), CiName::Local);
        assert_eq!(
            detected(
                &["x", "--ci", "tekton", "sign"],
                &[("GITHUB_ACTIONS", "true")]
            ),
            CiName::Tekton
        );
        assert_eq!(detected(&["x", "--ci=jenkins"], &[]), CiName::Jenkins);
        assert_eq!(detected(&[], &[("BINAUTHZ_CI", "gitlab")]), CiName::Gitlab);
    }

    #[test]
    fn empty_variables_are_unset_and_image_lines_become_a_list() {
        let vars: Vec<(String, String)> = [
            ("BINAUTHZ_IMAGES", "a.io/x/y:1\n a.io/x/z:2\n"),
            ("BINAUTHZ_PROJECT", ""),
            ("HOME", ""),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let changes = environment_changes(&local::Local, &env_of(&[]), &vars);
        assert_eq!(
            changes,
            [
                (
                    "BINAUTHZ_IMAGES".to_string(),
                    Some("a.io/x/y:1,a.io/x/z:2".to_string())
                ),
                ("BINAUTHZ_PROJECT".to_string(), None)
            ]
        );
    }

    #[test]
    fn ci_inputs_never_override_what_is_set() {
        let env = env_of(&[
            ("INPUT_ATTESTOR", "from-input"),
            ("BINAUTHZ_ATTESTOR", "explicit"),
            ("INPUT_PROJECT", "p"),
        ]);
        let changes = environment_changes(&github::GitHub::default(), &env, &[]);
        assert_eq!(
            changes,
            [("BINAUTHZ_PROJECT".to_string(), Some("p".to_string()))]
        );
    }

    #[test]
    fn scalar_outputs_describe_the_first_image() {
        let o = Outputs::of(&[outcome("r.io/a/b", true), outcome("r.io/a/c", false)]);
        assert_eq!(
            (
                o.digest.as_str(),
                o.image_ref.as_str(),
                o.repository.as_str()
            ),
            (DIGEST, format!("r.io/a/b@{DIGEST}").as_str(), "r.io/a/b")
        );
        assert_eq!(o.created, "true");
        let file: serde_json::Value =
            serde_json::from_str(&Outputs::json_file(&[outcome("r.io/a/b", false)])).unwrap();
        assert_eq!(file["created"], false);
        assert_eq!(
            file["images"][0]["attestation"],
            "projects/p/occurrences/o1"
        );
    }
}
