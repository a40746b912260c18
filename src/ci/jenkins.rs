//! Jenkins: the shared-library step passes arguments as `BINAUTHZ_*` variables and reads a JSON
//! outputs file with `readJSON`.

use super::{Ci, CiName, Env};
use std::path::PathBuf;

pub struct Jenkins;

impl Ci for Jenkins {
    fn name(&self) -> CiName {
        CiName::Jenkins
    }

    fn default_outputs_file(&self, _env: Env) -> Option<PathBuf> {
        Some(PathBuf::from("binauthz-attest.json"))
    }
}
