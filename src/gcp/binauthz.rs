//! Binary Authorization: the attestor, which names the note attestations hang from and the
//! public keys (with the exact ids) that admission accepts, read into the model's `Attestor`;
//! the project policy; and for `setup` and `rotate`, attestors created, updated and their IAM
//! policies.

use super::auth::Auth;
use super::{call, configure, found_or_none, Endpoints, ADMIN};
use crate::algorithm::SigningAlgorithm;
use crate::error::{Error, Result};
use crate::model::{Attestor, TrustedKey};
use crate::names::{AttestorName, NoteName};
use google_cloud_binaryauthorization_v1::client::BinauthzManagementServiceV1;
use google_cloud_binaryauthorization_v1::model as sdk;
use google_cloud_binaryauthorization_v1::model::attestor::AttestorType;
use google_cloud_iam_v1::model::{GetPolicyOptions, Policy};

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
        let keys = note.public_keys.iter().map(trusted_key).collect();
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

/// Attestors as `setup` and `rotate` change them: read whole, changed, written back.
impl Binauthz {
    /// The attestor as stored (`attestors.get`); None when it does not exist.
    pub async fn stored_attestor(&self, name: &AttestorName) -> Result<Option<StoredAttestor>> {
        let what = format!("Binary Authorization attestors.get {name}");
        let send = || self.client.get_attestor().set_name(name.to_string()).send();
        let action = format!("read {name}");
        let found = call(&what, true, |e| super::error(e, action, ADMIN), send).await;
        Ok(found_or_none(found)?.map(StoredAttestor))
    }

    /// Creates `name` on `note`, trusting `key` (`attestors.create`); not idempotent, so sent
    /// once (a rerun finds the attestor a lost answer created).
    pub async fn create_attestor(
        &self,
        name: &AttestorName,
        note: &NoteName,
        key: &TrustedKey,
    ) -> Result<StoredAttestor> {
        let what = format!("Binary Authorization attestors.create {name}");
        let body = sdk::Attestor::new().set_user_owned_grafeas_note(
            sdk::UserOwnedGrafeasNote::new()
                .set_note_reference(note.to_string())
                .set_public_keys([attestor_key(key)]),
        );
        let send = || {
            self.client
                .create_attestor()
                .set_parent(format!("projects/{}", name.project))
                .set_attestor_id(name.id.clone())
                .set_attestor(body.clone())
                .send()
        };
        let action = format!("create attestor {name}");
        let created = call(&what, false, |e| super::error(e, action, ADMIN), send).await?;
        Ok(StoredAttestor(created))
    }

    /// Writes `attestor` back (`attestors.update`, a PUT: the etag read with it guards it).
    pub async fn update_attestor(
        &self,
        attestor: &StoredAttestor,
        action: String,
    ) -> Result<StoredAttestor> {
        let what = format!("Binary Authorization attestors.update {}", attestor.0.name);
        let send = || {
            self.client
                .update_attestor()
                .set_attestor(attestor.0.clone())
                .send()
        };
        let updated = call(&what, true, |e| super::error(e, action, ADMIN), send).await?;
        Ok(StoredAttestor(updated))
    }

    /// Writes the project policy back (`UpdatePolicy`, a PUT named by the policy's name).
    pub async fn update_policy(&self, policy: sdk::Policy) -> Result<sdk::Policy> {
        let what = format!("Binary Authorization UpdatePolicy {}", policy.name);
        let action = format!("update policy {}", policy.name);
        let send = || {
            self.client
                .update_policy()
                .set_policy(policy.clone())
                .send()
        };
        call(&what, true, |e| super::error(e, action, ADMIN), send).await
    }

    /// The attestor's IAM policy (`getIamPolicy`, the client's IAM mixin).
    pub async fn iam_policy(&self, name: &AttestorName) -> Result<Policy> {
        let what = format!("Binary Authorization attestors.getIamPolicy {name}");
        let send = || {
            self.client
                .get_iam_policy()
                .set_resource(name.to_string())
                .set_options(
                    GetPolicyOptions::new().set_requested_policy_version(super::POLICY_VERSION),
                )
                .send()
        };
        let action = format!("read the IAM policy of {name}");
        call(&what, true, |e| super::error(e, action, ADMIN), send).await
    }

    /// Replaces the attestor's IAM policy (`setIamPolicy`; sent once, as its etag guards it).
    pub async fn set_iam_policy(
        &self,
        name: &AttestorName,
        policy: Policy,
        action: String,
    ) -> Result<Policy> {
        let what = format!("Binary Authorization attestors.setIamPolicy {name}");
        let send = || {
            self.client
                .set_iam_policy()
                .set_resource(name.to_string())
                .set_policy(policy.clone())
                .send()
        };
        call(&what, false, |e| super::error(e, action, ADMIN), send).await
    }
}

/// An attestor as stored, for a read-modify-write: the SDK's message whole (its etag guards
/// the update; its description and the keys' comments go back as read), its keys seen as the
/// model's.
#[derive(Debug, Clone)]
pub struct StoredAttestor(sdk::Attestor);

impl StoredAttestor {
    /// The note its attestations hang from; empty for an attestor without a user-owned note.
    pub fn note_reference(&self) -> &str {
        self.0
            .user_owned_grafeas_note()
            .map_or("", |n| n.note_reference.as_str())
    }

    /// Its keys, in the attestor's order.
    pub fn keys(&self) -> Vec<TrustedKey> {
        self.0
            .user_owned_grafeas_note()
            .map(|n| n.public_keys.iter().map(trusted_key).collect())
            .unwrap_or_default()
    }

    /// The service agent that reads the note at admission (`delegationServiceAccountEmail`,
    /// output only); None before Binary Authorization has named one.
    pub fn delegation_email(&self) -> Option<&str> {
        self.0
            .user_owned_grafeas_note()
            .map(|n| n.delegation_service_account_email.as_str())
            .filter(|email| !email.is_empty())
    }

    /// Adds `key` as the attestor's last entry.
    pub fn add_key(&mut self, key: &TrustedKey) {
        self.edit_keys(|keys| keys.push(attestor_key(key)));
    }

    /// Keeps only the entries `keep` accepts, in their order.
    pub fn retain_keys(&mut self, keep: impl Fn(&TrustedKey) -> bool) {
        self.edit_keys(|keys| keys.retain(|k| keep(&trusted_key(k))));
    }

    /// Changes the key list of the attestor's note (a note without keys when it had none).
    fn edit_keys(&mut self, edit: impl FnOnce(&mut Vec<sdk::AttestorPublicKey>)) {
        let mut note = match self.0.attestor_type.take() {
            Some(AttestorType::UserOwnedGrafeasNote(note)) => note,
            _ => Box::default(),
        };
        edit(&mut note.public_keys);
        self.0.attestor_type = Some(AttestorType::UserOwnedGrafeasNote(note));
    }
}

/// The model's form of an attestor's key entry.
fn trusted_key(k: &sdk::AttestorPublicKey) -> TrustedKey {
    let pkix = k.pkix_public_key();
    TrustedKey {
        id: k.id.clone(),
        pem: pkix.map(|p| p.public_key_pem.clone()),
        algorithm: pkix
            .and_then(|p| p.signature_algorithm.name())
            .and_then(SigningAlgorithm::from_binauthz),
        pgp: k.ascii_armored_pgp_public_key().cloned(),
    }
}

/// A new entry as the attestor holds it: a PGP key, else a PKIX key with its algorithm's
/// legacy name (gcloud's). An empty id is left out: Binary Authorization assigns it.
fn attestor_key(key: &TrustedKey) -> sdk::AttestorPublicKey {
    let entry = sdk::AttestorPublicKey::new().set_id(key.id.clone());
    match (&key.pgp, &key.pem) {
        (Some(armored), _) => entry.set_ascii_armored_pgp_public_key(armored.clone()),
        (None, pem) => {
            let algorithm = key.algorithm.map_or("", |a| a.binauthz_name);
            entry.set_pkix_public_key(
                sdk::PkixPublicKey::new()
                    .set_public_key_pem(pem.clone().unwrap_or_default())
                    .set_signature_algorithm(sdk::pkix_public_key::SignatureAlgorithm::from(
                        algorithm,
                    )),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkix(id: &str, pem: &str) -> TrustedKey {
        TrustedKey {
            id: id.into(),
            pem: Some(pem.into()),
            algorithm: SigningAlgorithm::from_kms("EC_SIGN_P256_SHA256"),
            pgp: None,
        }
    }

    #[test]
    fn a_stored_attestor_keeps_what_it_holds_beside_the_keys_it_gains_and_loses() {
        let commented = sdk::AttestorPublicKey::new()
            .set_id("//kms/v1/old")
            .set_comment("added by hand")
            .set_pkix_public_key(sdk::PkixPublicKey::new().set_public_key_pem("OLD"));
        let mut stored = StoredAttestor(
            sdk::Attestor::new()
                .set_name("projects/p/attestors/a")
                .set_etag("\"e1\"")
                .set_description("builds")
                .set_user_owned_grafeas_note(
                    sdk::UserOwnedGrafeasNote::new()
                        .set_note_reference("projects/p/notes/n")
                        .set_public_keys([commented.clone()])
                        .set_delegation_service_account_email("agent@example.com"),
                ),
        );
        assert_eq!(stored.note_reference(), "projects/p/notes/n");
        assert_eq!(stored.delegation_email(), Some("agent@example.com"));

        stored.add_key(&pkix("//kms/v1/new", "NEW"));
        let ids: Vec<String> = stored.keys().into_iter().map(|k| k.id).collect();
        assert_eq!(ids, ["//kms/v1/old", "//kms/v1/new"]);
        let added = &stored.0.user_owned_grafeas_note().unwrap().public_keys[1];
        assert_eq!(
            added.pkix_public_key().unwrap().signature_algorithm.name(),
            Some("ECDSA_P256_SHA256")
        );

        stored.retain_keys(|k| k.id != "//kms/v1/new");
        assert_eq!(
            stored.0.user_owned_grafeas_note().unwrap().public_keys,
            [commented]
        );
        assert_eq!(stored.0.etag, "\"e1\"");
        assert_eq!(stored.0.description, "builds");
    }

    #[test]
    fn a_key_binary_authorization_names_is_sent_without_an_id() {
        let pgp = TrustedKey {
            id: String::new(),
            pem: None,
            algorithm: None,
            pgp: Some("ARMORED".into()),
        };
        let entry = attestor_key(&pgp);
        assert_eq!(entry.id, "");
        assert_eq!(
            entry.ascii_armored_pgp_public_key().map(String::as_str),
            Some("ARMORED")
        );
        assert_eq!(
            trusted_key(&attestor_key(&pkix("", "PEM"))).pem.as_deref(),
            Some("PEM")
        );
    }
}
