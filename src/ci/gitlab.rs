//! GitLab CI: the job's variables are the inputs; outputs go to a dotenv file the job declares
//! as `artifacts: reports: dotenv`, one `KEY=VALUE` per line. GitLab's parser supports no
//! multi-line values and no quote escaping
//! (<https://docs.gitlab.com/ci/yaml/artifacts_reports/#artifactsreportsdotenv>), so a value
//! holding a line break (say an occurrence name from a hostile endpoint) could add a variable:
//! such a file is refused whole, never written.

use super::{Ci, CiName, Env, Outputs};
use crate::report::{Outcome, Output, Verdict};
use std::io::{self, Write};

pub struct GitLab;

/// What `finish` writes for each kind of output.
impl GitLab {
    fn signed(&self, env: Env, outcomes: &[Outcome]) -> io::Result<()> {
        let o = Outputs::of(outcomes);
        write_dotenv(
            env,
            &[
                ("digest", o.digest),
                ("image-ref", o.image_ref),
                ("attestation", o.attestation),
                ("created", o.created.to_string()),
                ("cosign-signature", o.cosign_signature),
            ],
        )
    }

    fn verified(&self, env: Env, verdicts: &[Verdict]) -> io::Result<()> {
        let verified = super::all_verified(verdicts);
        write_dotenv(env, &[("verified", verified.to_string())])
    }

    fn named(&self, env: Env, outputs: &[(String, String)]) -> io::Result<()> {
        // A dotenv report holds short variables: a whole JSON report (`policy check`'s
        // `json`) stays in the job's stdout, as `verify`'s does.
        let pairs: Vec<(&str, String)> = outputs
            .iter()
            .filter(|(k, _)| k != "json")
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect();
        write_dotenv(env, &pairs)
    }
}

impl Ci for GitLab {
    fn name(&self) -> CiName {
        CiName::Gitlab
    }

    fn finish(&self, env: Env, output: &Output, _out: &mut dyn Write) -> io::Result<()> {
        match output {
            _ if output.is_empty() => Ok(()),
            Output::Nothing => Ok(()),
            Output::Signed(outcomes) => self.signed(env, outcomes),
            Output::Verified(verdicts) => self.verified(env, verdicts),
            Output::Named(outputs) => self.named(env, outputs),
        }
    }

    fn output_files(&self, env: Env) -> Vec<std::path::PathBuf> {
        vec![dotenv_path(env).into()]
    }
}

/// Writes `BINAUTHZ_<KEY>=value` lines to the job's dotenv file, or nothing at all when a
/// value could break out of its line.
fn write_dotenv(env: Env, outputs: &[(&str, String)]) -> io::Result<()> {
    std::fs::write(dotenv_path(env), dotenv(outputs)?)
}

/// `--outputs-file`, else `binauthz-attest.env` in the job's directory.
fn dotenv_path(env: Env) -> String {
    env("BINAUTHZ_OUTPUTS_FILE").unwrap_or_else(|| "binauthz-attest.env".into())
}

/// The dotenv text; an error naming the output whose value holds a control character.
fn dotenv(outputs: &[(&str, String)]) -> io::Result<String> {
    let mut text = String::new();
    for (key, value) in outputs {
        let key = format!("BINAUTHZ_{}", super::upper_snake(key));
        if value.chars().any(char::is_control) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "output {key} holds a line break or control character, which a GitLab \
                     dotenv value cannot carry; no outputs were written"
                ),
            ));
        }
        text.push_str(&format!("{key}={value}\n"));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_output() {
        let text = dotenv(&[
            ("image-ref", "r@sha256:1".into()),
            ("created", "true".into()),
        ]);
        assert_eq!(
            text.unwrap(),
            "BINAUTHZ_IMAGE_REF=r@sha256:1\nBINAUTHZ_CREATED=true\n"
        );
    }

    #[test]
    fn a_value_that_would_add_a_variable_is_refused_whole() {
        for hostile in ["projects/p/occurrences/x\nEVIL=1", "a\rEVIL=1", "a\u{0}b"] {
            let e = dotenv(&[
                ("digest", "sha256:1".into()),
                ("attestation", hostile.into()),
            ])
            .unwrap_err();
            assert!(e.to_string().contains("BINAUTHZ_ATTESTATION"), "{e}");
        }
    }
}
