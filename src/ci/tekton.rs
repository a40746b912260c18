//! Tekton: the Task passes params as `BINAUTHZ_*` variables; results are files in
//! `/tekton/results`, small (they travel in the termination message), with the `IMAGE_URL` /
//! `IMAGE_DIGEST` names Tekton Chains reads.

use super::{Ci, CiName, Env, Outputs};
use crate::report::{Outcome, Verdict};
use std::io::{self, Write};
use std::path::PathBuf;

pub struct Tekton;

pub fn results_dir(env: Env) -> PathBuf {
    PathBuf::from(env("BINAUTHZ_TEKTON_RESULTS_DIR").unwrap_or_else(|| "/tekton/results".into()))
}

impl Ci for Tekton {
    fn name(&self) -> CiName {
        CiName::Tekton
    }

    /// One result file stands for the directory: all are written there.
    fn output_files(&self, env: Env) -> Vec<PathBuf> {
        vec![results_dir(env).join("IMAGE_DIGEST")]
    }

    fn emit(&self, env: Env, outcomes: &[Outcome], _out: &mut dyn Write) -> io::Result<()> {
        if outcomes.is_empty() {
            return Ok(()); // not `sign`: nothing to hand on
        }
        let o = Outputs::of(outcomes);
        let dir = results_dir(env);
        for (name, value) in [
            ("IMAGE_URL", &o.repository),
            ("IMAGE_DIGEST", &o.digest),
            ("ATTESTATION", &o.attestation),
            ("CREATED", &o.created),
        ] {
            std::fs::write(dir.join(name), value)?;
        }
        Ok(())
    }

    fn emit_named(
        &self,
        env: Env,
        outputs: &[(String, String)],
        _out: &mut dyn Write,
    ) -> io::Result<()> {
        let dir = results_dir(env);
        for (name, value) in outputs {
            std::fs::write(dir.join(super::upper_snake(name)), value)?;
        }
        Ok(())
    }

    fn emit_verdicts(
        &self,
        env: Env,
        verdicts: &[Verdict],
        _out: &mut dyn Write,
    ) -> io::Result<()> {
        let verified = super::all_verified(verdicts).to_string();
        std::fs::write(results_dir(env).join("VERIFIED"), verified)
    }
}
