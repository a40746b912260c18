//! GitLab CI: the job's variables are the inputs; outputs go to a dotenv file the job declares
//! as `artifacts: reports: dotenv`, one `KEY=VALUE` per line (single-line values only).

use super::{Ci, CiName, Env, Outputs};
use crate::report::{Outcome, Verdict};
use std::io::{self, Write};

pub struct GitLab;

impl Ci for GitLab {
    fn name(&self) -> CiName {
        CiName::Gitlab
    }

    fn emit(&self, env: Env, outcomes: &[Outcome], _out: &mut dyn Write) -> io::Result<()> {
        if outcomes.is_empty() {
            return Ok(()); // not `sign`: nothing to hand on
        }
        let o = Outputs::of(outcomes);
        let path = env("BINAUTHZ_OUTPUTS_FILE").unwrap_or_else(|| "binauthz-attest.env".into());
        let text = format!(
            "BINAUTHZ_DIGEST={}\nBINAUTHZ_IMAGE_REF={}\nBINAUTHZ_ATTESTATION={}\nBINAUTHZ_CREATED={}\nBINAUTHZ_COSIGN_SIGNATURE={}\n",
            o.digest, o.image_ref, o.attestation, o.created, o.cosign_signature
        );
        std::fs::write(path, text)
    }

    fn emit_named(
        &self,
        env: Env,
        outputs: &[(String, String)],
        _out: &mut dyn Write,
    ) -> io::Result<()> {
        let path = env("BINAUTHZ_OUTPUTS_FILE").unwrap_or_else(|| "binauthz-attest.env".into());
        // Resource names hold no line breaks; dotenv values must be single lines.
        let text: String = outputs
            .iter()
            .map(|(k, v)| {
                format!(
                    "BINAUTHZ_{}={}\n",
                    super::upper_snake(k),
                    v.replace(['\n', '\r'], "")
                )
            })
            .collect();
        std::fs::write(path, text)
    }

    fn emit_verdicts(
        &self,
        env: Env,
        verdicts: &[Verdict],
        _out: &mut dyn Write,
    ) -> io::Result<()> {
        let path = env("BINAUTHZ_OUTPUTS_FILE").unwrap_or_else(|| "binauthz-attest.env".into());
        let verified = super::all_verified(verdicts);
        std::fs::write(path, format!("BINAUTHZ_VERIFIED={verified}\n"))
    }
}
