//! Container Analysis (Grafeas): the attestation occurrences already filed under a note for an
//! image, and creating a new one; for `setup`, the attestor's note.

use super::auth::Auth;
use super::{call, configure, found_or_none, Endpoints, ADMIN};
use crate::error::{Error, Result};
use crate::model::Attestation;
use crate::names::NoteName;
use crate::reference::Digest;
use google_cloud_grafeas_v1::client::Grafeas as GrafeasClient;
use google_cloud_grafeas_v1::model::attestation_note::Hint;
use google_cloud_grafeas_v1::model::{
    AttestationNote, AttestationOccurrence, Note, NoteKind, Occurrence, Signature,
};

const NOTE_HINT: &str = "grant the caller roles/containeranalysis.notes.occurrences.viewer and \
     roles/containeranalysis.notes.attacher on the attestor's note and \
     roles/containeranalysis.occurrences.editor on the project that stores attestations \
     (binauthz-attest setup --signer MEMBER grants exactly these)";

/// The Container Analysis client of a run.
#[derive(Clone)]
pub struct Grafeas {
    client: GrafeasClient,
}

impl Grafeas {
    /// A client for `endpoints.grafeas` (Google's by default) with the run's credentials.
    pub async fn new(auth: &Auth, endpoints: &Endpoints) -> Result<Grafeas> {
        let builder = configure(
            GrafeasClient::builder(),
            endpoints.grafeas.as_ref(),
            auth.credentials(),
        );
        let client = builder.build().await.map_err(|e| {
            Error::Setup(format!("cannot create the Container Analysis client: {e}"))
        })?;
        Ok(Grafeas { client })
    }

    /// Every attestation under `note` whose resource ends with `digest`: the filter gcloud's
    /// `attestations list` sends. Callers check the exact resource and the signatures.
    pub async fn attestations(&self, note: &NoteName, digest: &Digest) -> Result<Vec<Attestation>> {
        self.list(note, format!("has_suffix(resourceUrl, \"{digest}\")"))
            .await
    }

    /// Every ATTESTATION occurrence under `note`, for any image (`rotate`: what a key attested).
    pub async fn all_attestations(&self, note: &NoteName) -> Result<Vec<Attestation>> {
        self.list(note, String::new()).await
    }

    /// The note's occurrences that `filter` (AIP-160; empty: all) selects, every page.
    async fn list(&self, note: &NoteName, filter: String) -> Result<Vec<Attestation>> {
        let what = format!("Container Analysis notes.occurrences.list {note}");
        let mut found = Vec::new();
        let mut page_token = String::new();
        // One page at a time, each under the retry policy (the SDK's paginator would retry
        // nothing once its retries are off).
        loop {
            let send = || {
                self.client
                    .list_note_occurrences()
                    .set_name(note.to_string())
                    .set_filter(filter.clone())
                    .set_page_size(100)
                    .set_page_token(page_token.clone())
                    .send()
            };
            let page = call(
                &what,
                true,
                |e| match e.http_status_code() {
                    Some(404) => Error::NoteNotFound {
                        note: note.to_string(),
                    },
                    _ => super::error(
                        e,
                        format!("list the attestations under note {note}"),
                        NOTE_HINT,
                    ),
                },
                send,
            )
            .await?;
            found.extend(page.occurrences.iter().filter_map(attestation));
            if page.next_page_token.is_empty() {
                break;
            }
            page_token = page.next_page_token;
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
        let what = format!("Container Analysis occurrences.create in projects/{project}");
        let send = || {
            self.client
                .create_occurrence()
                .set_parent(format!("projects/{project}"))
                .set_occurrence(occurrence.clone())
                .send()
        };
        // Not idempotent: never repeated here (see above).
        let created = call(
            &what,
            false,
            |e| {
                super::error(
                    e,
                    format!("create the attestation for {resource_uri} in project {project}"),
                    NOTE_HINT,
                )
            },
            send,
        )
        .await?;
        Ok(created.name)
    }
}

impl Grafeas {
    /// Deletes one occurrence by name: only ever one this run created (a duplicate of its own
    /// lost create), never another party's.
    pub async fn delete(&self, name: &str) -> Result<()> {
        let what = format!("Container Analysis occurrences.delete {name}");
        let send = || self.client.delete_occurrence().set_name(name).send();
        // Deleting twice is harmless (the second is a 404, mapped by the caller), so retried.
        call(
            &what,
            true,
            |e| {
                super::error(
                    e,
                    format!("delete the duplicate attestation {name}"),
                    NOTE_HINT,
                )
            },
            send,
        )
        .await
    }
}

/// The attestor's note, as `setup` checks and creates it.
impl Grafeas {
    /// The note (`notes.get`); None when it does not exist.
    pub async fn note(&self, note: &NoteName) -> Result<Option<Note>> {
        let what = format!("Container Analysis notes.get {note}");
        let send = || self.client.get_note().set_name(note.to_string()).send();
        let action = format!("read {note}");
        found_or_none(call(&what, true, |e| super::error(e, action, ADMIN), send).await)
    }

    /// Creates `note` of kind ATTESTATION with a human-readable `hint` (`notes.create`); not
    /// idempotent, so sent once (a rerun finds the note a lost answer created).
    pub async fn create_note(&self, note: &NoteName, hint: String) -> Result<()> {
        let what = format!("Container Analysis notes.create {note}");
        let body = Note::new().set_attestation(
            AttestationNote::new().set_hint(Hint::new().set_human_readable_name(hint)),
        );
        let send = || {
            self.client
                .create_note()
                .set_parent(format!("projects/{}", note.project))
                .set_note_id(note.id.clone())
                .set_note(body.clone())
                .send()
        };
        let action = format!("create note {note}");
        call(&what, false, |e| super::error(e, action, ADMIN), send).await?;
        Ok(())
    }
}

/// The model's form of an ATTESTATION occurrence; None for occurrences of other kinds.
fn attestation(occurrence: &Occurrence) -> Option<Attestation> {
    let att = occurrence.attestation()?;
    Some(Attestation {
        name: occurrence.name.clone(),
        resource_uri: occurrence.resource_uri.clone(),
        payload: att.serialized_payload.to_vec(),
        signatures: att
            .signatures
            .iter()
            .map(|s| (s.public_key_id.clone(), s.signature.to_vec()))
            .collect(),
        jwts: att.jwts.iter().map(|j| j.compact_jwt.clone()).collect(),
    })
}
