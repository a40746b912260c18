//! Binary Authorization: the attestor, which names the note attestations hang from and the
//! public keys (with the exact ids) that admission accepts.

use super::auth::Auth;
use super::{configure, Endpoints};
use crate::error::{Error, Result};
use crate::names::{AttestorName, KeyVersionName, NoteName};
use crate::signing::SigningAlgorithm;
use google_cloud_binaryauthorization_v1::client::BinauthzManagementServiceV1;

/// An attestor key: the id signatures must carry, and the PKIX key when it is one we can check.
#[derive(Debug, Clone)]
pub struct TrustedKey {
    pub id: String,
    pub pem: Option<String>,
    pub algorithm: Option<SigningAlgorithm>,
}

#[derive(Debug, Clone)]
pub struct Attestor {
    pub name: AttestorName,
    pub note: NoteName,
    pub keys: Vec<TrustedKey>,
}

impl Attestor {
    /// The key the attestor files for this KMS key version, matched by version name because
    /// the id's host part depends on the KMS endpoint gcloud used when adding it.
    pub fn key_for_version(&self, version: &KeyVersionName) -> Option<&TrustedKey> {
        self.keys.iter().find(|k| version.is_named_by(&k.id))
    }

    pub fn key(&self, id: &str) -> Option<&TrustedKey> {
        self.keys.iter().find(|k| k.id == id)
    }
}

#[derive(Clone)]
pub struct Binauthz {
    client: BinauthzManagementServiceV1,
}

impl Binauthz {
    pub async fn new(auth: &Auth, endpoints: &Endpoints) -> Result<Binauthz> {
        let builder = configure!(
            BinauthzManagementServiceV1::builder(),
            endpoints.binauthz.as_ref(),
            auth.credentials()
        );
        let client = builder.build().await.map_err(|e| {
            Error::Setup(format!(
                "cannot create the Binary Authorization client: {e}"
            ))
        })?;
        Ok(Binauthz { client })
    }

    pub async fn attestor(&self, name: &AttestorName) -> Result<Attestor> {
        let answer = self
            .client
            .get_attestor()
            .set_name(name.to_string())
            .send()
            .await
            .map_err(|e| match e.http_status_code() {
                Some(404) => Error::AttestorNotFound {
                    attestor: name.to_string(),
                },
                _ => super::error(
                    e,
                    format!("read attestor {name}"),
                    "grant the caller roles/binaryauthorization.attestorsViewer on the attestor",
                ),
            })?;
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
