//! Binary Authorization: the attestor, which names the note attestations hang from and the
//! public keys (with the exact ids) that admission accepts, read into the model's `Attestor`.

use super::auth::Auth;
use super::{call, configure, Endpoints};
use crate::algorithm::SigningAlgorithm;
use crate::error::{Error, Result};
use crate::model::{Attestor, TrustedKey};
use crate::names::{AttestorName, NoteName};
use google_cloud_binaryauthorization_v1::client::BinauthzManagementServiceV1;

/// The Binary Authorization client of a run.
#[derive(Clone)]
pub struct Binauthz {
    client: BinauthzManagementServiceV1,
}

impl Binauthz {
    /// A client for `endpoints.binauthz` (Google's by default) with the run's credentials.
    pub async fn new(auth: &Auth, endpoints: &Endpoints) -> Result<Binauthz> {
        let builder = configure(
            BinauthzManagementServiceV1::builder(),
            endpoints.binauthz.as_ref(),
            auth.credentials(),
        );
        let client = builder.build().await.map_err(|e| {
            Error::Setup(format!(
                "cannot create the Binary Authorization client: {e}"
            ))
        })?;
        Ok(Binauthz { client })
    }

    /// The attestor (`attestors.get`): its note and the keys it trusts.
    pub async fn attestor(&self, name: &AttestorName) -> Result<Attestor> {
        let what = format!("Binary Authorization attestors.get {name}");
        let send = || self.client.get_attestor().set_name(name.to_string()).send();
        let answer = call(
            &what,
            true,
            |e| match e.http_status_code() {
                Some(404) => Error::AttestorNotFound {
                    attestor: name.to_string(),
                },
                _ => super::error(
                    e,
                    format!("read attestor {name}"),
                    "grant the caller roles/binaryauthorization.attestorsViewer on the attestor",
                ),
            },
            send,
        )
        .await?;
        let note = answer
            .user_owned_grafeas_note()
            .ok_or_else(|| Error::Rejected {
                action: format!("read attestor {name}"),
                reason: "the attestor has no user-owned Container Analysis note".into(),
            })?;
        let keys = note
            .public_keys
            .iter()
            .map(|k| {
                let pkix = k.pkix_public_key();
                TrustedKey {
                    id: k.id.clone(),
                    pem: pkix.map(|p| p.public_key_pem.clone()),
                    algorithm: pkix
                        .and_then(|p| p.signature_algorithm.name())
                        .and_then(SigningAlgorithm::from_binauthz),
                    pgp: k.ascii_armored_pgp_public_key().cloned(),
                }
            })
            .collect();
        Ok(Attestor {
            name: name.clone(),
            note: NoteName::parse(&note.note_reference)?,
            keys,
        })
    }
}

impl Binauthz {
    /// The project's policy (`GetPolicy`) as the SDK answers it; the model reads it with
    /// `Policy::try_from` (the Google layer knows no policy judgement).
    pub async fn policy(
        &self,
        project: &str,
    ) -> Result<google_cloud_binaryauthorization_v1::model::Policy> {
        let name = format!("projects/{project}/policy");
        let what = format!("Binary Authorization GetPolicy {name}");
        let send = || self.client.get_policy().set_name(name.clone()).send();
        call(
            &what,
            true,
            |e| {
                super::error(
                    e,
                    format!("read policy {name}"),
                    "grant the caller roles/binaryauthorization.policyViewer on the project",
                )
            },
            send,
        )
        .await
    }
}
