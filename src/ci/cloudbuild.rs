//! Cloud Build: steps share `/workspace`; a builder's small results go to
//! `$BUILDER_OUTPUT/output`. Credentials come from the build's service account (metadata server).

use super::{Ci, CiName, Env};
use std::path::PathBuf;

pub struct CloudBuild;

impl Ci for CloudBuild {
    fn name(&self) -> CiName {
        CiName::Cloudbuild
    }

    fn default_outputs_file(&self, env: Env) -> Option<PathBuf> {
        env("BUILDER_OUTPUT").map(|dir| PathBuf::from(dir).join("output"))
    }
}
