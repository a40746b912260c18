//! The filing protocol of one attestation: `occurrences.create` is not idempotent, so an
//! attempt whose answer may hide a success is looked for before filing again (for
//! [`LIST_SETTLE`]), and after filing again the lost one is watched for and, when it surfaces,
//! the one filed last is deleted by name, so exactly one remains (ARCHITECTURE.md, "Retries
//! and timeouts").

use std::time::Duration;

use super::sign::Batch;
use crate::error::{Error, Result};
use crate::reference::Digest;

/// Attempts at filing one attestation when the answer is lost (each after looking first).
const CREATE_ATTEMPTS: usize = 3;

/// How long a create whose answer was lost is looked for before filing again, and how long a
/// re-filed one is watched for the lost one to surface. Container Analysis lists a new
/// occurrence only after a delay (eventual consistency; Google's own clients poll for it), so
/// one empty list right after a lost answer proves nothing.
pub const LIST_SETTLE: Duration = Duration::from_secs(5);

/// A filed attestation, and the warning of a cleanup that failed after a lost answer.
pub(super) struct Filed {
    pub name: String,
    pub warning: Option<String>,
}

impl Batch<'_> {
    /// Files the attestation. Creating is not idempotent, so when an attempt fails in a way
    /// that may hide a success (a lost answer, a 5xx), look (for [`LIST_SETTLE`]) before
    /// filing again; and when it was filed again, watch for the lost one to surface and then
    /// remove the one this run filed last, so exactly one remains.
    pub(super) async fn create(
        &self,
        digest: &Digest,
        image_ref: &str,
        payload: &[u8],
        signature: &[u8],
    ) -> Result<Filed> {
        let grafeas = &self.services.grafeas;
        let mut attempt = 1;
        loop {
            let created = grafeas
                .create(
                    &self.project,
                    &self.attestor.note,
                    image_ref,
                    payload,
                    &self.trusted.id,
                    signature,
                )
                .await;
            match created {
                Ok(name) if attempt == 1 => {
                    return Ok(Filed {
                        name,
                        warning: None,
                    })
                }
                Ok(name) => return self.settle(digest, image_ref, name).await,
                // Looked for after the last attempt too: a create stored with its answer lost
                // is a success to report, not a failure to rerun.
                Err(error @ Error::Google { .. }) => {
                    let surfaced = |found: &[String]| found.first().cloned();
                    if let Some(name) = self.watch(digest, image_ref, surfaced).await? {
                        return Ok(Filed {
                            name,
                            warning: None,
                        });
                    }
                    if attempt == CREATE_ATTEMPTS {
                        return Err(error);
                    }
                    attempt += 1;
                }
                Err(other) => return Err(other),
            }
        }
    }

    /// After filing again: if an earlier, lost create surfaces within [`LIST_SETTLE`], the
    /// attestation filed last (`ours`, known by name) is deleted and the earlier one kept.
    async fn settle(&self, digest: &Digest, image_ref: &str, ours: String) -> Result<Filed> {
        let other = |found: &[String]| found.iter().find(|n| **n != ours).cloned();
        let Some(kept) = self.watch(digest, image_ref, other).await? else {
            return Ok(Filed {
                name: ours,
                warning: None,
            });
        };
        let warning = match self.services.grafeas.delete(&ours).await {
            Ok(()) | Err(Error::GoogleNotFound { .. }) => None, // a 404: already gone
            Err(e) => {
                // One line: the server's words must not start a CI log command of their own.
                let reason = e.to_string().replace(char::is_control, " ");
                Some(format!(
                    "{image_ref} has two equal attestations after a lost answer; \
                     removing the newer one, {ours}, failed: {reason}"
                ))
            }
        };
        Ok(Filed {
            name: kept,
            warning,
        })
    }

    /// Lists the valid attestations for the image until `wanted` picks a name from them or
    /// [`LIST_SETTLE`] has passed, with growing pauses (250 ms, doubling, at most 2 s).
    async fn watch(
        &self,
        digest: &Digest,
        image_ref: &str,
        wanted: impl Fn(&[String]) -> Option<String>,
    ) -> Result<Option<String>> {
        let until = tokio::time::Instant::now() + LIST_SETTLE;
        let mut pause = Duration::from_millis(250);
        loop {
            tokio::time::sleep(pause).await;
            let found = self.valid(digest, image_ref).await?;
            if let Some(name) = wanted(&found) {
                return Ok(Some(name));
            }
            if tokio::time::Instant::now() + pause > until {
                return Ok(None);
            }
            pause = (pause * 2).min(Duration::from_secs(2));
        }
    }
}
