//! What runs now: the images every serving Cloud Run revision of a region runs, by the digest
//! the revision was created with, for `policy check --running`. Binary Authorization judged
//! them when they were deployed and never again ("Changes in the Binary Authorization policy
//! do not retroactively apply to existing revisions",
//! https://cloud.google.com/binary-authorization/docs/run/overview), so a key rotated away or
//! a pattern removed since shows only at the next deploy, unless checked here.

use crate::error::{Error, Result};
use crate::gcp::run::Run;
use crate::reference::ImageRef;

/// One image of one serving revision.
#[derive(Debug, Clone)]
pub struct RunningImage {
    /// The service id.
    pub service: String,
    /// The revision id.
    pub revision: String,
    /// The image, by the digest the revision runs.
    pub image: ImageRef,
}

/// Every image of every serving revision in `project`/`region`; none at all is an error of its
/// own (most often the wrong region).
pub async fn images(run: &Run, project: &str, region: &str) -> Result<Vec<RunningImage>> {
    let serving = run.serving(project, region).await?;
    if serving.is_empty() {
        return Err(Error::NoRunningServices {
            project: project.to_string(),
            region: region.to_string(),
        });
    }
    let mut out = Vec::new();
    for s in serving {
        for image in &s.images {
            let image = ImageRef::parse(image).map_err(|e| Error::Rejected {
                action: format!(
                    "read Cloud Run revision {} of service {}",
                    s.revision, s.service
                ),
                reason: format!("its image {image} is not a reference: {e}"),
            })?;
            out.push(RunningImage {
                service: s.service.clone(),
                revision: s.revision.clone(),
                image,
            });
        }
    }
    Ok(out)
}
