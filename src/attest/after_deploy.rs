//! The clients `audit` and `policy check --running` read through (Cloud Logging, Cloud Run),
//! built from the run's credentials and endpoints, so the commands reach Google only here.

pub use crate::gcp::logging::Logging;
pub use crate::gcp::run::Run;

use super::context::Context;
use crate::error::Result;
use crate::gcp::Endpoints;

/// Cloud Logging, for the audit entries `audit` lists.
pub async fn logging(ctx: &Context) -> Result<Logging> {
    Logging::new(&ctx.auth()?, Endpoints::from_env().logging.as_ref()).await
}

/// Cloud Run Admin v2, for the serving revisions `policy check --running` judges.
pub async fn run(ctx: &Context) -> Result<Run> {
    Run::new(&ctx.auth()?, Endpoints::from_env().run.as_ref()).await
}
