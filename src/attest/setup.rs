//! The whole Binary Authorization chain set up in one idempotent pass, in dependency order (key
//! ring, key and its first enabled version, note, attestor holding the key, least-privilege IAM
//! for the signers and Binary Authorization's service agent, and optionally the project
//! policy). It creates what is missing, checks what exists (never altering a key), and with
//! `plan` only reads. A rerun reads and writes nothing.

use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use google_cloud_binaryauthorization_v1::model::admission_rule::{EnforcementMode, EvaluationMode};
use google_cloud_binaryauthorization_v1::model::Policy as BinauthzPolicy;
use google_cloud_grafeas_v1::model::NoteKind;
use google_cloud_iam_v1::model::{Binding, Policy as IamPolicy};
use google_cloud_kms_v1::model::crypto_key::CryptoKeyPurpose;
use google_cloud_kms_v1::model::crypto_key_version::CryptoKeyVersionState;
use google_cloud_kms_v1::model::CryptoKeyVersion;

use super::keys::{kms_entry, Entry, LocalKey};
use super::Context;
use crate::algorithm::SigningAlgorithm;
use crate::cli::PolicyMode;
use crate::error::{Error, Result};
use crate::gcp::binauthz::{Binauthz, StoredAttestor};
use crate::gcp::grafeas::Grafeas;
use crate::gcp::kms::Kms;
use crate::gcp::rest::Rest;
use crate::gcp::{Endpoints, Grantee, SIGN_NEEDS};
use crate::model::TrustedKey;
use crate::names::{AttestorName, CryptoKeyName, KeyVersionName, NoteName};

/// One step's outcome: what it is about and whether it was (or, with `--plan`, would be)
/// created, updated or left unchanged.
/// Shared with `rotate`, which reports its steps the same way.
#[derive(Debug, Serialize)]
pub struct Change {
    pub(crate) what: &'static str,
    pub(crate) resource: String,
    pub(crate) action: &'static str,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub(crate) detail: String,
}

/// What `setup` prints: the changes, the names a CI needs, and the `sign` line.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub(crate) plan: bool,
    pub(crate) changes: Vec<Change>,
    attestor: String,
    note: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    key_version: String,
    /// For a key the team holds: the id the attestor files it under.
    #[serde(skip_serializing_if = "String::is_empty")]
    key_id: String,
    pub(crate) sign: String,
    pub(crate) ci_inputs: String,
}

/// The clients of a run, one per API, and what the steps learn on the way.
struct Setup {
    kms: Kms,
    binauthz: Binauthz,
    grafeas: Grafeas,
    /// The calls no SDK crate we depend on offers: the note's and the project's IAM.
    rest: Rest,
    /// The KMS host key ids name (`//HOST/v1/...`).
    kms_host: String,
    plan: bool,
    changes: Vec<Change>,
    signers: Vec<String>,
    policy: PolicyMode,
    /// The attestor as read before the steps (when `--note` was left out, to learn its note),
    /// handed to the attestor step so it is read once.
    prefetched: Option<Option<StoredAttestor>>,
    /// The attestor as found or created: its `delegationServiceAccountEmail` is the service
    /// agent that reads the note at admission.
    stored_attestor: Option<StoredAttestor>,
}

impl Setup {
    fn record(&mut self, what: &'static str, resource: &str, done: bool, detail: String) {
        let action = match (done, self.plan) {
            (false, _) => "unchanged",
            (true, true) if detail.starts_with("create") => "would create",
            (true, true) => "would update",
            (true, false) if detail.starts_with("create") => "created",
            (true, false) => "updated",
        };
        self.changes.push(Change {
            what,
            resource: resource.to_string(),
            action,
            detail: detail
                .strip_prefix("create")
                .map(str::trim_start)
                .unwrap_or(&detail)
                .to_string(),
        });
    }
}

/// What signs: a KMS key setup creates or checks, or a key the team holds, whose public half
/// setup only registers with the attestor.
pub enum KeyArg {
    /// A KMS key (created when missing) and the algorithm of its versions.
    Kms(CryptoKeyName, SigningAlgorithm),
    /// A PKIX or OpenPGP public key file.
    Local(LocalKey),
}

/// What to set up: the command line, parsed and checked.
pub struct SetupRequest {
    /// The attestor to create or check.
    pub attestor: AttestorName,
    /// What signs; none for an existing attestor kept as it stands (grants and policy only).
    pub key: Option<KeyArg>,
    /// `--note`; without it, an existing attestor's own note, else the attestor's id.
    pub note: Option<NoteName>,
    /// `--signer`: the IAM members granted what `sign` needs.
    pub signers: Vec<String>,
    /// `--policy`: whether and how the project policy's default rule requires the attestor.
    pub policy: PolicyMode,
    /// `--plan`: only read.
    pub plan: bool,
}

/// Sets the chain up; returns what it did and the names a CI hands on (attestor, key-version
/// or key-id, note).
pub async fn setup(
    ctx: &Context,
    request: SetupRequest,
) -> Result<(Summary, Vec<(String, String)>)> {
    let SetupRequest {
        attestor,
        key,
        note,
        signers,
        policy,
        plan,
    } = request;
    let auth = ctx.auth()?;
    let endpoints = Endpoints::from_env();
    // The token first, so a credential problem is reported as such, before any client asks.
    auth.warm().await?;
    let binauthz = Binauthz::new(&auth, &endpoints).await?;
    // Without --note (or without a key), the attestor as it stands decides: its note is the
    // one a rerun must use, and it must exist to be set up without a key.
    let prefetched = match (&note, &key) {
        (Some(_), Some(_)) => None,
        _ => Some(binauthz.stored_attestor(&attestor).await?),
    };
    let stored_note = prefetched
        .as_ref()
        .and_then(Option::as_ref)
        .map(StoredAttestor::note_reference);
    let note = match (note, stored_note) {
        (Some(n), _) => n,
        (None, Some(reference)) => NoteName::parse(reference)?,
        (None, None) => NoteName {
            project: attestor.project.clone(),
            id: attestor.id.clone(),
        },
    };
    let mut s = Setup {
        kms: Kms::new(&auth, &endpoints).await?,
        binauthz,
        grafeas: Grafeas::new(&auth, &endpoints).await?,
        rest: Rest::new(auth, endpoints.clone())?,
        kms_host: endpoints.kms_host(),
        plan,
        changes: Vec::new(),
        signers,
        policy,
        prefetched,
        stored_attestor: None,
    };
    let (version, key_id, sign, ci_inputs) = match &key {
        None => s.keyless(&attestor)?,
        Some(KeyArg::Kms(crypto_key, algorithm)) => {
            let (version, pem) = s.key(crypto_key, *algorithm).await?;
            s.note(&note, &attestor).await?;
            let entry = kms_entry(&s.kms_host, version.as_str(), pem.as_deref(), *algorithm);
            s.attestor(&attestor, &note, &entry).await?;
            (
                version.to_string(),
                String::new(),
                format!(
                    "binauthz-attest sign --attestor {attestor} --kms-key-version {version} IMAGE"
                ),
                format!("attestor: {attestor}\nkms-key-version: {version}\n"),
            )
        }
        Some(KeyArg::Local(local)) => {
            s.note(&note, &attestor).await?;
            let held = s.attestor(&attestor, &note, &local.entry()).await?;
            let id = local.check_held(held.as_ref(), &attestor)?;
            let flag = local.sign_flag();
            (
                String::new(),
                id,
                format!(
                    "binauthz-attest sign --attestor {attestor} --{flag} PRIVATE_KEY_FILE IMAGE"
                ),
                format!("attestor: {attestor}\n{flag}: PRIVATE_KEY_FILE\n"),
            )
        }
    };
    let kms_key = match &key {
        Some(KeyArg::Kms(crypto_key, _)) => Some(crypto_key),
        _ => None,
    };
    s.iam(kms_key, &note, &attestor).await?;
    if policy != PolicyMode::None {
        s.policy(&attestor).await?;
    }
    let mut names = vec![("attestor".to_string(), attestor.to_string())];
    match version.is_empty() {
        false => names.push(("key-version".to_string(), version.clone())),
        true => names.push(("key-id".to_string(), key_id.clone())),
    }
    names.push(("note".to_string(), note.to_string()));
    let summary = Summary {
        plan: s.plan,
        changes: s.changes,
        attestor: attestor.to_string(),
        note: note.to_string(),
        key_version: version.clone(),
        key_id,
        sign,
        ci_inputs,
    };
    Ok((summary, names))
}

impl Setup {
    /// No key given: the attestor must exist, and keeps the keys it holds. Answers the
    /// version, key ids, `sign` line and CI inputs to print.
    fn keyless(&mut self, attestor: &AttestorName) -> Result<(String, String, String, String)> {
        let Some(Some(found)) = self.prefetched.take() else {
            return Err(Error::Usage(format!(
                "attestor {attestor} does not exist, so setup needs the key it will trust: \
                 --kms-key KEY (a Cloud KMS key, created when missing; BINAUTHZ_KMS_KEY), \
                 --pkix-public-key FILE (BINAUTHZ_PKIX_PUBLIC_KEY) or --pgp-public-key FILE \
                 (BINAUTHZ_PGP_PUBLIC_KEY)"
            )));
        };
        let ids: Vec<String> = found.keys().into_iter().map(|k| k.id).collect();
        // A KMS key's signers need a role on the key, which setup can only grant knowing it.
        if !self.signers.is_empty() && ids.iter().any(|id| id.starts_with("//cloudkms.")) {
            return Err(Error::Usage(format!(
                "attestor {attestor} trusts a Cloud KMS key: pass it with --kms-key KEY so the \
                 --signer members get roles/cloudkms.signerVerifier on it"
            )));
        }
        self.record("attestor", &attestor.to_string(), false, String::new());
        self.stored_attestor = Some(found);
        Ok((
            String::new(),
            ids.join(","),
            format!("binauthz-attest sign --attestor {attestor} --kms-key-version VERSION | --pkix-private-key FILE | --pgp-private-key FILE IMAGE"),
            format!("attestor: {attestor}\n"),
        ))
    }

    /// The key ring, the key (asymmetric signing with the algorithm asked; an existing key of
    /// another purpose or algorithm is refused, never altered) and its first enabled version.
    /// Answers the version's name and PEM (None when `--plan` would create the key).
    async fn key(
        &mut self,
        key: &CryptoKeyName,
        algorithm: SigningAlgorithm,
    ) -> Result<(KeyVersionName, Option<String>)> {
        let ring = key.key_ring();
        let ring_exists = self.kms.key_ring_exists(key).await?;
        if !ring_exists && !self.plan {
            self.kms.create_key_ring(key).await?;
        }
        self.record("key ring", &ring, !ring_exists, "create".into());

        let name = key.to_string();
        let existing = match ring_exists {
            true => self.kms.crypto_key(key).await?,
            false => None,
        };
        match &existing {
            Some(found) => {
                let purpose = found.purpose.name().unwrap_or_default();
                let alg = found
                    .version_template
                    .as_ref()
                    .and_then(|t| t.algorithm.name())
                    .unwrap_or_default();
                if found.purpose != CryptoKeyPurpose::AsymmetricSign || alg != algorithm.kms_name {
                    return Err(Error::Usage(format!(
                        "KMS key {name} exists with purpose {purpose} and algorithm {alg}, not ASYMMETRIC_SIGN {}; setup never alters a key: name another --kms-key, or pass --algorithm {}",
                        algorithm.kms_name,
                        alg.to_ascii_lowercase().replace('_', "-")
                    )));
                }
                self.record("key", &name, false, String::new());
            }
            None => {
                if !self.plan {
                    self.kms.create_crypto_key(key, algorithm).await?;
                }
                self.record(
                    "key",
                    &name,
                    true,
                    format!("create ASYMMETRIC_SIGN {}", algorithm.kms_name),
                );
            }
        }
        if existing.is_none() && self.plan {
            let first = KeyVersionName::parse(&format!("{name}/cryptoKeyVersions/1"))?;
            return Ok((first, None));
        }
        let version = self.enabled_version(&name, existing.is_none()).await?;
        let public = self.kms.public_key(&version).await?;
        Ok((version, Some(public.pem)))
    }

    /// The key's first ENABLED version; a new key's version 1 is waited for while KMS
    /// generates it (PENDING_GENERATION).
    async fn enabled_version(&mut self, key: &str, new: bool) -> Result<KeyVersionName> {
        loop {
            match first_enabled(&self.kms.versions(key).await?) {
                Versions::Enabled(name) => {
                    self.record("version", &name, false, String::new());
                    return KeyVersionName::parse(&name);
                }
                Versions::None if !new => {
                    return Err(Error::Usage(format!(
                        "KMS key {key} has no ENABLED version: enable one (gcloud kms keys versions enable) or create one (gcloud kms keys versions create); setup never alters a key"
                    )))
                }
                Versions::None | Versions::Pending => {
                    tokio::time::sleep(Duration::from_millis(200)).await
                }
            }
        }
    }

    /// The note, of kind ATTESTATION, with a human-readable hint.
    async fn note(&mut self, note: &NoteName, attestor: &AttestorName) -> Result<()> {
        let name = note.to_string();
        match self.grafeas.note(note).await? {
            Some(found) if found.kind != NoteKind::Attestation => Err(Error::Usage(format!(
                "note {name} exists with kind {}, not ATTESTATION: name another --note",
                found.kind.name().unwrap_or("unknown")
            ))),
            Some(_) => {
                self.record("note", &name, false, String::new());
                Ok(())
            }
            None => {
                if !self.plan {
                    let hint = format!("Attestations by {attestor}");
                    self.grafeas.create_note(note, hint).await?;
                }
                self.record("note", &name, true, "create ATTESTATION".into());
                Ok(())
            }
        }
    }

    /// The attestor on `note`, trusting the key of `entry`. An attestor on another note is
    /// refused: its note cannot change. Answers the attestor's entry for the key as stored
    /// (None when `--plan` would add it).
    async fn attestor(
        &mut self,
        attestor: &AttestorName,
        note: &NoteName,
        entry: &Entry,
    ) -> Result<Option<TrustedKey>> {
        let name = attestor.to_string();
        let key_id = &entry.shown;
        let held = |stored: &StoredAttestor| stored.keys().into_iter().find(|k| (entry.holds)(k));
        let mut stored_entry = None;
        let current = match self.prefetched.take() {
            Some(read) => read,
            None => self.binauthz.stored_attestor(attestor).await?,
        };
        self.stored_attestor = current.clone();
        match current {
            Some(mut found) => {
                let reference = found.note_reference().to_string();
                if reference != note.to_string() {
                    return Err(Error::Usage(format!(
                        "attestor {name} exists on note {reference}, not {note}; an attestor's note cannot change: pass --note {reference}, or name another --attestor"
                    )));
                }
                stored_entry = held(&found);
                let trusted = stored_entry.is_some();
                if !trusted && !self.plan {
                    found.add_key(&entry.key);
                    let action = format!("add {key_id} to attestor {name}");
                    let updated = self.binauthz.update_attestor(&found, action).await?;
                    stored_entry = held(&updated);
                }
                self.record(
                    "attestor",
                    &name,
                    !trusted,
                    if trusted {
                        String::new()
                    } else {
                        format!("add key {key_id}")
                    },
                );
            }
            None => {
                if !self.plan {
                    let created = self
                        .binauthz
                        .create_attestor(attestor, note, &entry.key)
                        .await?;
                    stored_entry = held(&created);
                    self.stored_attestor = Some(created);
                }
                self.record(
                    "attestor",
                    &name,
                    true,
                    format!("create on {note} with key {key_id}"),
                );
            }
        }
        Ok(stored_entry)
    }

    /// Least privilege: for each `--signer`, the roles of [`SIGN_NEEDS`] on exactly the
    /// resources `sign` touches; for Binary Authorization's service agent, reading the note's
    /// occurrences ("the service agent ... needs roles/containeranalysis.notes.occurrences.viewer
    /// on the note", https://cloud.google.com/binary-authorization/docs/creating-attestors-cli).
    async fn iam(
        &mut self,
        key: Option<&CryptoKeyName>,
        note: &NoteName,
        attestor: &AttestorName,
    ) -> Result<()> {
        let mut wanted: BTreeMap<Grantee, BTreeSet<(&str, String)>> = BTreeMap::new();
        for signer in &self.signers {
            // A key the team holds signs locally: no KMS grants.
            let needed = SIGN_NEEDS
                .iter()
                .filter(|(_, grantee, _)| key.is_some() || *grantee != Grantee::Key);
            for (_, grantee, role) in needed {
                wanted
                    .entry(*grantee)
                    .or_default()
                    .insert((role, signer.clone()));
            }
        }
        let agent = self.service_agent(attestor).await?;
        wanted
            .entry(Grantee::Note)
            .or_default()
            .insert(("roles/containeranalysis.notes.occurrences.viewer", agent));
        for (grantee, grants) in wanted {
            let holder = match (grantee, key) {
                (Grantee::Key, Some(key)) => Holder::Key(key),
                (Grantee::Key, None) => continue,
                (Grantee::Note, _) => Holder::Note(note),
                (Grantee::Project, _) => Holder::Project(&attestor.project),
                (Grantee::Attestor, _) => Holder::Attestor(attestor),
            };
            self.grant(&holder, &grants).await?;
        }
        Ok(())
    }

    /// The service agent that reads the note at admission, as the attestor names it
    /// (`delegationServiceAccountEmail`, output only); before the attestor exists (`--plan`),
    /// its documented form from the project number.
    async fn service_agent(&self, attestor: &AttestorName) -> Result<String> {
        let delegated = self
            .stored_attestor
            .as_ref()
            .and_then(StoredAttestor::delegation_email);
        if let Some(email) = delegated {
            return Ok(format!("serviceAccount:{email}"));
        }
        let number = self
            .rest
            .project_number(&attestor.project)
            .await?
            .ok_or_else(|| Error::Rejected {
                action: format!("read project {}", attestor.project),
                reason: "Resource Manager answered no projectNumber".into(),
            })?;
        Ok(format!(
            "serviceAccount:service-{number}@gcp-sa-binaryauthorization.iam.gserviceaccount.com"
        ))
    }

    /// Adds the missing `(role, member)` grants to the holder's policy (read-modify-write with
    /// its etag); a resource that `--plan` would create has an empty policy.
    async fn grant(
        &mut self,
        holder: &Holder<'_>,
        grants: &BTreeSet<(&str, String)>,
    ) -> Result<()> {
        let resource = holder.resource();
        let exists = !self.plan
            || self
                .changes
                .iter()
                .all(|c| c.resource != resource || c.action == "unchanged");
        let mut policy = match exists {
            true => self.read_policy(holder).await?,
            false => IamPolicy::default(),
        };
        let missing = add_grants(&mut policy, grants);
        if !missing.is_empty() && !self.plan {
            let action = format!("grant {} on {resource}", missing.join(", "));
            self.write_policy(holder, policy, action).await?;
        }
        let detail = if missing.is_empty() {
            grants
                .iter()
                .map(|(r, m)| format!("{r} to {m}"))
                .collect::<Vec<_>>()
                .join(", ")
        } else {
            format!("grant {}", missing.join(", "))
        };
        self.record("iam", &resource, !missing.is_empty(), detail);
        Ok(())
    }

    /// The holder's IAM policy, through its API's client.
    async fn read_policy(&self, holder: &Holder<'_>) -> Result<IamPolicy> {
        match holder {
            Holder::Key(key) => self.kms.iam_policy(key).await,
            Holder::Note(note) => self.rest.note_policy(note).await,
            Holder::Project(project) => self.rest.project_policy(project).await,
            Holder::Attestor(attestor) => self.binauthz.iam_policy(attestor).await,
        }
    }

    /// Replaces the holder's IAM policy, through its API's client.
    async fn write_policy(
        &self,
        holder: &Holder<'_>,
        policy: IamPolicy,
        action: String,
    ) -> Result<()> {
        match holder {
            Holder::Key(key) => self.kms.set_iam_policy(key, policy, action).await?,
            Holder::Note(note) => self.rest.set_note_policy(note, &policy, action).await?,
            Holder::Project(project) => {
                self.rest
                    .set_project_policy(project, &policy, action)
                    .await?
            }
            Holder::Attestor(attestor) => {
                self.binauthz
                    .set_iam_policy(attestor, policy, action)
                    .await?
            }
        };
        Ok(())
    }

    /// The project policy's default rule requires this attestor, in the enforcement mode asked;
    /// other attestors, rules and settings are kept.
    async fn policy(&mut self, attestor: &AttestorName) -> Result<()> {
        let name = format!("projects/{}/policy", attestor.project);
        let mut policy = self.binauthz.policy(&attestor.project).await?;
        let mode = match self.policy {
            PolicyMode::Enforce => EnforcementMode::EnforcedBlockAndAuditLog,
            _ => EnforcementMode::DryrunAuditLogOnly,
        };
        let shown = mode.name().unwrap_or_default();
        let detail = format!("default rule requires {attestor}, {shown}");
        let changed = require_attestor(&mut policy, attestor, mode);
        if changed && !self.plan {
            self.binauthz.update_policy(policy).await?;
        }
        self.record("policy", &name, changed, detail);
        Ok(())
    }
}

/// A resource whose IAM policy `setup` grants on.
enum Holder<'a> {
    Key(&'a CryptoKeyName),
    Note(&'a NoteName),
    /// A project id.
    Project(&'a str),
    Attestor(&'a AttestorName),
}

impl Holder<'_> {
    /// Its resource name, as changes report it.
    fn resource(&self) -> String {
        match self {
            Holder::Key(key) => key.to_string(),
            Holder::Note(note) => note.to_string(),
            Holder::Project(project) => format!("projects/{project}"),
            Holder::Attestor(attestor) => attestor.to_string(),
        }
    }
}

/// What a key's versions say about the one `setup` names.
#[derive(Debug, PartialEq)]
enum Versions {
    /// The lowest-numbered ENABLED version, by name.
    Enabled(String),
    /// None is enabled, and one is still being generated.
    Pending,
    /// None is enabled or being generated.
    None,
}

/// The lowest-numbered ENABLED version (by number, not by name: 10 comes after 9), else
/// whether KMS is still generating one.
fn first_enabled(versions: &[CryptoKeyVersion]) -> Versions {
    let number = |v: &CryptoKeyVersion| {
        v.name
            .rsplit('/')
            .next()
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(u64::MAX)
    };
    let enabled = versions
        .iter()
        .filter(|v| v.state == CryptoKeyVersionState::Enabled)
        .min_by_key(|v| number(v));
    match enabled {
        Some(v) => Versions::Enabled(v.name.clone()),
        None if versions
            .iter()
            .any(|v| v.state == CryptoKeyVersionState::PendingGeneration) =>
        {
            Versions::Pending
        }
        None => Versions::None,
    }
}

/// Adds each `(role, member)` the policy does not grant yet: to the first binding of its role,
/// else as a new binding. Answers the grants added, as "ROLE to MEMBER".
fn add_grants(policy: &mut IamPolicy, grants: &BTreeSet<(&str, String)>) -> Vec<String> {
    let mut added = Vec::new();
    for (role, member) in grants {
        let held = policy
            .bindings
            .iter()
            .any(|b| b.role == *role && b.members.contains(member));
        if held {
            continue;
        }
        added.push(format!("{role} to {member}"));
        match policy.bindings.iter_mut().find(|b| b.role == *role) {
            Some(binding) => binding.members.push(member.clone()),
            None => policy
                .bindings
                .push(Binding::new().set_role(*role).set_members([member.clone()])),
        }
    }
    added
}

/// Makes the policy's default rule require `attestor` in `mode`: a rule that did not require
/// attestations starts a new list; other attestors, rules and settings are kept. True when
/// anything changed.
fn require_attestor(
    policy: &mut BinauthzPolicy,
    attestor: &AttestorName,
    mode: EnforcementMode,
) -> bool {
    let before = policy.clone();
    let rule = policy.default_admission_rule.get_or_insert_default();
    if rule.evaluation_mode != EvaluationMode::RequireAttestation {
        rule.evaluation_mode = EvaluationMode::RequireAttestation;
        rule.require_attestations_by.clear();
    }
    let wanted = attestor.to_string();
    if !rule.require_attestations_by.contains(&wanted) {
        rule.require_attestations_by.push(wanted);
    }
    rule.enforcement_mode = mode;
    *policy != before
}

#[cfg(test)]
mod tests {
    use super::*;
    use google_cloud_binaryauthorization_v1::model::AdmissionRule;

    fn version(n: u32, state: CryptoKeyVersionState) -> CryptoKeyVersion {
        CryptoKeyVersion::new()
            .set_name(format!(
                "projects/p/locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions/{n}"
            ))
            .set_state(state)
    }

    #[test]
    fn the_version_named_is_the_lowest_numbered_enabled_one() {
        use CryptoKeyVersionState::*;
        let versions = [
            version(10, Enabled),
            version(2, Disabled),
            version(9, Enabled),
            version(11, PendingGeneration),
        ];
        assert_eq!(
            first_enabled(&versions),
            Versions::Enabled(versions[2].name.clone())
        );
        assert_eq!(
            first_enabled(&[version(1, PendingGeneration), version(2, Disabled)]),
            Versions::Pending
        );
        assert_eq!(first_enabled(&[version(1, Disabled)]), Versions::None);
        assert_eq!(first_enabled(&[]), Versions::None);
    }

    #[test]
    fn grants_join_their_roles_binding_and_a_held_grant_is_left_alone() {
        let mut policy = IamPolicy::new()
            .set_etag(bytes::Bytes::from_static(b"e1"))
            .set_bindings([
                Binding::new()
                    .set_role("roles/viewer")
                    .set_members(["user:a@example.com"]),
                Binding::new()
                    .set_role("roles/cloudkms.signerVerifier")
                    .set_members(["user:b@example.com"]),
            ]);
        let grants: BTreeSet<(&str, String)> = [
            (
                "roles/cloudkms.signerVerifier",
                "user:b@example.com".to_string(),
            ),
            (
                "roles/cloudkms.signerVerifier",
                "user:c@example.com".to_string(),
            ),
            (
                "roles/containeranalysis.notes.attacher",
                "user:c@example.com".to_string(),
            ),
        ]
        .into();
        let added = add_grants(&mut policy, &grants);
        assert_eq!(
            added,
            [
                "roles/cloudkms.signerVerifier to user:c@example.com",
                "roles/containeranalysis.notes.attacher to user:c@example.com"
            ]
        );
        assert_eq!(
            policy.bindings[1].members,
            ["user:b@example.com", "user:c@example.com"]
        );
        assert_eq!(
            policy.bindings[2].role,
            "roles/containeranalysis.notes.attacher"
        );
        assert_eq!(policy.bindings.len(), 3);
        assert_eq!(policy.etag, bytes::Bytes::from_static(b"e1"));
        assert!(add_grants(&mut policy, &grants).is_empty());
    }

    #[test]
    fn the_default_rule_gains_the_attestor_and_keeps_the_rest() {
        let attestor = AttestorName::parse("projects/p/attestors/ours", None).unwrap();
        let rule = |mode, by: &[&str]| {
            AdmissionRule::new()
                .set_evaluation_mode(mode)
                .set_require_attestations_by(by.iter().map(|s| s.to_string()))
                .set_enforcement_mode(EnforcementMode::EnforcedBlockAndAuditLog)
        };
        let mut policy = BinauthzPolicy::new()
            .set_name("projects/p/policy")
            .set_default_admission_rule(rule(
                EvaluationMode::RequireAttestation,
                &["projects/p/attestors/other"],
            ))
            .set_cluster_admission_rules([(
                "us-central1-a.prod",
                rule(EvaluationMode::AlwaysDeny, &[]),
            )]);
        let untouched = policy.cluster_admission_rules.clone();
        assert!(require_attestor(
            &mut policy,
            &attestor,
            EnforcementMode::DryrunAuditLogOnly
        ));
        let default = policy.default_admission_rule.as_ref().unwrap();
        assert_eq!(
            default.require_attestations_by,
            ["projects/p/attestors/other", "projects/p/attestors/ours"]
        );
        assert_eq!(
            default.enforcement_mode,
            EnforcementMode::DryrunAuditLogOnly
        );
        assert_eq!(policy.cluster_admission_rules, untouched);
        assert!(!require_attestor(
            &mut policy,
            &attestor,
            EnforcementMode::DryrunAuditLogOnly
        ));

        let mut allow_all = BinauthzPolicy::new().set_default_admission_rule(rule(
            EvaluationMode::AlwaysAllow,
            &["projects/p/attestors/stale"],
        ));
        assert!(require_attestor(
            &mut allow_all,
            &attestor,
            EnforcementMode::EnforcedBlockAndAuditLog
        ));
        let default = allow_all.default_admission_rule.unwrap();
        assert_eq!(default.evaluation_mode, EvaluationMode::RequireAttestation);
        assert_eq!(
            default.require_attestations_by,
            ["projects/p/attestors/ours"]
        );

        let mut empty = BinauthzPolicy::new();
        assert!(require_attestor(
            &mut empty,
            &attestor,
            EnforcementMode::EnforcedBlockAndAuditLog
        ));
    }
}
