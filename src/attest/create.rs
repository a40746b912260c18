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
#[derive(Debug, PartialEq)]
pub(super) struct Filed {
    pub name: String,
    pub warning: Option<String>,
}

/// The three calls the protocol makes for one occurrence: the seam that lets it run against
/// literals in the unit tests below, and against Container Analysis in a batch.
pub(super) trait Filing {
    /// `occurrences.create` of this attestation; answers the new occurrence's name.
    async fn file(&self) -> Result<String>;
    /// The names of the valid attestations for this image, as listed now.
    async fn valid(&self) -> Result<Vec<String>>;
    /// `occurrences.delete` by name.
    async fn delete(&self, name: &str) -> Result<()>;
}

/// One attestation of a batch, about to be filed.
struct Occurrence<'a, 'b> {
    batch: &'a Batch<'b>,
    digest: &'a Digest,
    image_ref: &'a str,
    payload: &'a [u8],
    signature: &'a [u8],
}

impl Filing for Occurrence<'_, '_> {
    async fn file(&self) -> Result<String> {
        let b = self.batch;
        b.services
            .grafeas
            .get()
            .await?
            .create(
                &b.project,
                &b.attestor.note,
                self.image_ref,
                self.payload,
                &b.trusted.id,
                self.signature,
            )
            .await
    }

    async fn valid(&self) -> Result<Vec<String>> {
        self.batch.valid(self.digest, self.image_ref).await
    }

    async fn delete(&self, name: &str) -> Result<()> {
        self.batch.services.grafeas.get().await?.delete(name).await
    }
}

impl Batch<'_> {
    /// Files the attestation for `image_ref` by the protocol of [`create`].
    pub(super) async fn create(
        &self,
        digest: &Digest,
        image_ref: &str,
        payload: &[u8],
        signature: &[u8],
    ) -> Result<Filed> {
        let occurrence = Occurrence {
            batch: self,
            digest,
            image_ref,
            payload,
            signature,
        };
        create(&occurrence, image_ref).await
    }
}

/// Files an attestation. Creating is not idempotent, so when an attempt fails in a way that may
/// hide a success (a lost answer, a 5xx), look (for [`LIST_SETTLE`]) before filing again; and
/// when it was filed again, watch for the lost one to surface and then remove the one this run
/// filed last, so exactly one remains.
pub(super) async fn create(filing: &impl Filing, image_ref: &str) -> Result<Filed> {
    let mut attempt = 1;
    loop {
        match filing.file().await {
            Ok(name) if attempt == 1 => {
                return Ok(Filed {
                    name,
                    warning: None,
                })
            }
            Ok(name) => return settle(filing, image_ref, name).await,
            // Looked for after the last attempt too: a create stored with its answer lost
            // is a success to report, not a failure to rerun.
            Err(error @ Error::Google { .. }) => {
                let surfaced = |found: &[String]| found.first().cloned();
                if let Some(name) = watch(filing, surfaced).await? {
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
async fn settle(filing: &impl Filing, image_ref: &str, ours: String) -> Result<Filed> {
    let other = |found: &[String]| found.iter().find(|n| **n != ours).cloned();
    let Some(kept) = watch(filing, other).await? else {
        return Ok(Filed {
            name: ours,
            warning: None,
        });
    };
    let warning = match filing.delete(&ours).await {
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

/// Lists the valid attestations until `wanted` picks a name from them or [`LIST_SETTLE`] has
/// passed, with growing pauses (250 ms, doubling, at most 2 s); the last look is at the
/// deadline itself, so whatever is listed within [`LIST_SETTLE`] is seen.
async fn watch(
    filing: &impl Filing,
    wanted: impl Fn(&[String]) -> Option<String>,
) -> Result<Option<String>> {
    let until = tokio::time::Instant::now() + LIST_SETTLE;
    let mut pause = Duration::from_millis(250);
    loop {
        let left = until.saturating_duration_since(tokio::time::Instant::now());
        tokio::time::sleep(pause.min(left)).await;
        if let Some(name) = wanted(&filing.valid().await?) {
            return Ok(Some(name));
        }
        if tokio::time::Instant::now() >= until {
            return Ok(None);
        }
        pause = (pause * 2).min(Duration::from_secs(2));
    }
}

#[cfg(test)]
#[path = "create_tests.rs"]
mod tests;
