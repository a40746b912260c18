//! Container Analysis (Grafeas): the attestation occurrences already filed under a note for an
//! image, and creating a new one.

use super::auth::Auth;
use super::{configure, Endpoints};
use crate::error::{Error, Result};
use crate::names::NoteName;
use crate::reference::Digest;
use google_cloud_gax::paginator::ItemPaginator;
use google_cloud_grafeas_v1::client::Grafeas as GrafeasClient;
use google_cloud_grafeas_v1::model::{AttestationOccurrence, NoteKind, Occurrence, Signature};

const NOTE_HINT: &str =
    "grant the caller roles/containeranalysis.notes.attacher on the attestor's note and \
     roles/containeranalysis.occurrences.editor on the project that stores attestations";

/// An attestation as filed: the signed payload and its signatures (key id, bytes).
#[derive(Debug, Clone)]
pub struct Attestation {
    pub name: String,
    pub resource_uri: String,
    pub payload: Vec<u8>,
    pub signatures: Vec<(String, Vec<u8>)>,
}

#[derive(Clone)]
pub struct Grafeas {
    client: GrafeasClient,
}

impl Grafeas {
    pub async fn new(auth: &Auth, endpoints: &Endpoints) -> Result<Grafeas> {
        let builder = configure!(
            GrafeasClient::builder(),
            endpoints.grafeas.as_ref(),
            auth.credentials()
        );
        let client = builder.build().await.map_err(|e| {
            Error::Setup(format!("cannot create the Container Analysis client: {e}"))
        })?;
        Ok(Grafeas { client })
    }

    /// Every attestation under `note` whose resource ends with `digest`: the filter gcloud's
    /// `attestations list` sends. Callers check the exact resource and the signatures.
    pub async fn attestations(&self, note: &NoteName, digest: &Digest) -> Result<Vec<Attestation>> {
        let mut pages = self
            .client
            .list_note_occurrences()
            .set_name(note.to_string())
            .set_filter(format!("has_suffix(resourceUrl, \"{digest}\")"))
            .set_page_size(100)
            .by_item();
        let mut found = Vec::new();
        while let Some(item) = pages.next().await {
            let occurrence = item.map_err(|e| {
                super::error(
                    e,
                    format!("list the attestations under note {note}"),
                    NOTE_HINT,
                )
            })?;
            if let Some(att) = occurrence.attestation() {
                found.push(Attestation {
                    name: occurrence.name.clone(),
                    resource_uri: occurrence.resource_uri.clone(),
                    payload: att.serialized_payload.to_vec(),
                    signatures: att
                        .signatures
                        .iter()
                        .map(|s| (s.public_key_id.clone(), s.signature.to_vec()))
                        .collect(),
                });
            }
        }
        Ok(found)
    }

    /// Files one ATTESTATION occurrence in `project`; returns its name. Not retried here:
    /// a create whose answer was lost may have happened, so the caller looks before retrying.
    pub async fn create(
        &self,
        project: &str,
        note: &NoteName,
        resource_uri: &str,
        payload: &[u8],
        key_id: &str,
        signature: &[u8],
    ) -> Result<String> {
        let attestation = AttestationOccurrence::new()
            .set_serialized_payload(bytes::Bytes::copy_from_slice(payload))
            .set_signatures([Signature::new()
                .set_public_key_id(key_id)
                .set_signature(bytes::Bytes::copy_from_slice(signature))]);
        let occurrence = Occurrence::new()
            .set_resource_uri(resource_uri)
            .set_note_name(note.to_string())
            .set_kind(NoteKind::Attestation)
            .set_attestation(attestation);
        let created = self
            .client
            .create_occurrence()
            .set_parent(format!("projects/{project}"))
            .set_occurrence(occurrence)
            .send()
            .await
            .map_err(|e| {
                super::error(
                    e,
                    format!("create the attestation for {resource_uri} in project {project}"),
                    NOTE_HINT,
                )
            })?;
        Ok(created.name)
    }
}
