//! GitHub Actions: inputs as `INPUT_<NAME>` (hyphens kept), outputs appended to
//! `$GITHUB_OUTPUT` in heredoc form, a table in `$GITHUB_STEP_SUMMARY`, workflow commands for
//! masking, grouping and error annotations.

use super::{Ci, CiName, Env, Outputs};
use crate::commit_status;
use crate::error::Error;
use crate::report::{Outcome, Status, Verdict};
use crate::token::AccessToken;
use std::hash::{BuildHasher, Hasher};
use std::io::{self, Write};

/// GitHub Actions.
pub struct GitHub;

/// Action inputs and the variable each becomes; the names are `action.yml`'s.
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

impl Ci for GitHub {
    fn name(&self) -> CiName {
        CiName::Github
    }

    fn inputs(&self, env: Env) -> Vec<(String, String)> {
        INPUTS
            .iter()
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
        let file_token =
            env("CLOUDSDK_AUTH_ACCESS_TOKEN_FILE").and_then(|p| std::fs::read_to_string(p).ok());
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
        writeln!(out, "::group::binauthz-attest")
    }

    fn output_files(&self, env: Env) -> Vec<std::path::PathBuf> {
        ["GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY"]
            .into_iter()
            .filter_map(|var| env(var).map(Into::into))
            .collect()
    }

    fn emit(&self, env: Env, outcomes: &[Outcome], out: &mut dyn Write) -> io::Result<()> {
        writeln!(out, "::endgroup::")?;
        if outcomes.is_empty() {
            return Ok(()); // not `sign`: nothing to hand on
        }
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
                let result = match o.status {
                    Status::Created => "created",
                    Status::Existing => "already attested",
                    Status::WouldCreate => "dry run",
                    Status::Failed => "failed",
                };
                let repository = o.image_ref.split('@').next().unwrap_or_default();
                summary += &format!(
                    "| `{repository}` | `{}` | `{}` | {result} |\n",
                    o.digest, o.attestation
                );
            }
            append(&path, &format!("{summary}\n"))?;
        }
        Ok(())
    }

    fn emit_named(
        &self,
        env: Env,
        outputs: &[(String, String)],
        out: &mut dyn Write,
    ) -> io::Result<()> {
        writeln!(out, "::endgroup::")?;
        if let Some(path) = env("GITHUB_OUTPUT") {
            let mut text = String::new();
            for (name, value) in outputs {
                let end = delimiter(value);
                text += &format!("{name}<<{end}\n{value}\n{end}\n");
            }
            append(&path, &text)?;
        }
        Ok(())
    }

    fn emit_verdicts(&self, env: Env, verdicts: &[Verdict], out: &mut dyn Write) -> io::Result<()> {
        writeln!(out, "::endgroup::")?;
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
                    v.attestor
                );
            }
            append(&path, &format!("{summary}\n"))?;
        }
        Ok(())
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
        writeln!(out, "::endgroup::")?;
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
        GitHub.start(&env, &mut out).unwrap();
        let written = String::from_utf8(out).unwrap();
        assert!(
            written.starts_with("::add-mask::s3cret pass\n"),
            "{written}"
        );
        assert!(GitHub
            .inputs(&env)
            .contains(&("BINAUTHZ_PGP_PASSPHRASE".into(), "s3cret pass".into())));
    }

    #[test]
    fn the_cosign_password_input_is_masked_and_read_as_cosign_reads_it() {
        let env = env_of(&[("INPUT_COSIGN-PASSWORD", "correct horse")]);
        let mut out = Vec::new();
        GitHub.start(&env, &mut out).unwrap();
        let written = String::from_utf8(out).unwrap();
        assert!(
            written.starts_with("::add-mask::correct horse\n"),
            "{written}"
        );
        assert!(GitHub
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
        let inputs = GitHub.inputs(&env);
        assert!(inputs.contains(&("BINAUTHZ_IMAGES".into(), "a.io/x/y:1,a.io/x/z:2".into())));
        assert!(inputs.iter().any(|(k, _)| k == "BINAUTHZ_KMS_KEY_VERSION"));
        assert!(
            !inputs.iter().any(|(k, _)| k == "BINAUTHZ_PROJECT"),
            "empty inputs are unset"
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
        GitHub
            .emit(&env, &[outcome("r.io/a/b", true)], &mut Vec::new())
            .unwrap();
        let text = std::fs::read_to_string(output).unwrap();
        assert!(text.starts_with("digest<<ghadelimiter_"), "{text}");
        assert!(text.contains("\ncreated<<"), "{text}");
    }
}
