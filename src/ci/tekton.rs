//! Tekton: the Task passes params as `BINAUTHZ_*` variables; results are files in
//! `/tekton/results`, small (they travel in the termination message), with the `IMAGE_URL` /
//! `IMAGE_DIGEST` names Tekton Chains reads.

use super::{Ci, CiName, Env, Outputs};
use crate::report::{Outcome, Output, Verdict};
use std::io::{self, Write};
use std::path::PathBuf;

pub struct Tekton;

pub fn results_dir(env: Env) -> PathBuf {
    PathBuf::from(env("BINAUTHZ_TEKTON_RESULTS_DIR").unwrap_or_else(|| "/tekton/results".into()))
}

/// What `finish` writes for each kind of output.
impl Tekton {
    fn signed(&self, env: Env, outcomes: &[Outcome]) -> io::Result<()> {
        let o = Outputs::of(outcomes);
        let dir = results_dir(env);
        for (name, value) in [
            ("IMAGE_URL", &o.repository),
            ("IMAGE_DIGEST", &o.digest),
            ("ATTESTATION", &o.attestation),
            ("CREATED", &o.created),
            ("COSIGN_SIGNATURE", &o.cosign_signature),
        ] {
            std::fs::write(dir.join(name), value)?;
        }
        Ok(())
    }

    fn verified(&self, env: Env, verdicts: &[Verdict]) -> io::Result<()> {
        let verified = super::all_verified(verdicts).to_string();
        std::fs::write(results_dir(env).join("VERIFIED"), verified)
    }

    fn named(&self, env: Env, outputs: &[(String, String)]) -> io::Result<()> {
        let dir = results_dir(env);
        // Tekton caps a step's results at a few KiB (they travel in the termination message):
        // a whole JSON report (`policy check`'s `json`) stays in the step's stdout, as `verify`'s.
        for (name, value) in outputs.iter().filter(|(name, _)| name != "json") {
            std::fs::write(dir.join(super::upper_snake(name)), value)?;
        }
        Ok(())
    }
}

impl Ci for Tekton {
    fn name(&self) -> CiName {
        CiName::Tekton
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

    /// One result file stands for the directory: all are written there.
    fn output_files(&self, env: Env) -> Vec<PathBuf> {
        vec![results_dir(env).join("IMAGE_DIGEST")]
    }
}
