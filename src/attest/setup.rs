//! The whole Binary Authorization chain set up in one idempotent pass, in dependency order (key
//! ring, key and its first enabled version, note, attestor holding the key, least-privilege IAM
//! for the signers and Binary Authorization's service agent, and optionally the project
//! policy). It creates what is missing, checks what exists (never altering a key), and with
//! `plan` only reads. A rerun reads and writes nothing.

use serde::Serialize;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::keys::{kms_entry, Entry, LocalKey};
use super::Context;
use crate::algorithm::SigningAlgorithm;
use crate::cli::PolicyMode;
use crate::error::{Error, Result};
use crate::gcp::rest::{Api, Rest};
use crate::gcp::{Endpoints, Grantee, SIGN_NEEDS};
use crate::names::{AttestorName, CryptoKeyName, NoteName};

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

struct Setup {
    rest: Rest,
    plan: bool,
    changes: Vec<Change>,
    signers: Vec<String>,
    policy: PolicyMode,
    /// The attestor as read before the steps (when `--note` was left out, to learn its note),
    /// handed to the attestor step so it is read once.
    prefetched: Option<Option<Value>>,
    /// The attestor as found or created: its `delegationServiceAccountEmail` is the service
    /// agent that reads the note at admission.
    stored_attestor: Option<Value>,
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
    let rest = Rest::new(ctx.auth()?, Endpoints::from_env())?;
    // Without --note (or without a key), the attestor as it stands decides: its note is the
    // one a rerun must use, and it must exist to be set up without a key.
    let prefetched = match (&note, &key) {
        (Some(_), Some(_)) => None,
        _ => Some(rest.get(Api::Binauthz, &attestor.to_string()).await?),
    };
    let stored_note = prefetched
        .as_ref()
        .and_then(Option::as_ref)
        .and_then(|a| a["userOwnedGrafeasNote"]["noteReference"].as_str())
        .map(String::from);
    let note = match (note, &stored_note) {
        (Some(n), _) => n,
        (None, Some(reference)) => NoteName::parse(reference)?,
        (None, None) => NoteName {
            project: attestor.project.clone(),
            id: attestor.id.clone(),
        },
    };
    let mut s = Setup {
        rest,
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
            let entry = kms_entry(&s.rest, &version, pem.as_deref(), *algorithm);
            s.attestor(&attestor, &note, &entry).await?;
            (
                version.clone(),
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
        let ids: Vec<String> = found["userOwnedGrafeasNote"]["publicKeys"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .filter_map(|k| k["id"].as_str().map(String::from))
            .collect();
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
    ) -> Result<(String, Option<String>)> {
        let ring = key.key_ring();
        let ring_exists = self.rest.get(Api::Kms, &ring).await?.is_some();
        if !ring_exists && !self.plan {
            let parent = format!("projects/{}/locations/{}", key.project, key.location);
            self.rest
                .call(
                    Api::Kms,
                    "POST",
                    &format!("{parent}/keyRings?keyRingId={}", key.key_ring),
                    Some(&json!({})),
                    format!("create key ring {ring}"),
                )
                .await?;
        }
        self.record("key ring", &ring, !ring_exists, "create".into());

        let name = key.to_string();
        let existing = if ring_exists {
            self.rest.get(Api::Kms, &name).await?
        } else {
            None
        };
        match &existing {
            Some(found) => {
                let purpose = found["purpose"].as_str().unwrap_or_default();
                let alg = found["versionTemplate"]["algorithm"]
                    .as_str()
                    .unwrap_or_default();
                if purpose != "ASYMMETRIC_SIGN" || alg != algorithm.kms_name {
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
                    self.rest
                        .call(
                            Api::Kms,
                            "POST",
                            &format!("{ring}/cryptoKeys?cryptoKeyId={}", key.id),
                            Some(&json!({"purpose": "ASYMMETRIC_SIGN",
                                "versionTemplate": {"algorithm": algorithm.kms_name, "protectionLevel": "SOFTWARE"}})),
                            format!("create KMS key {name}"),
                        )
                        .await?;
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
            return Ok((format!("{name}/cryptoKeyVersions/1"), None));
        }
        let version = self.enabled_version(&name, existing.is_none()).await?;
        let public = self
            .rest
            .call(
                Api::Kms,
                "GET",
                &format!("{version}/publicKey"),
                None,
                format!("read the public key of {version}"),
            )
            .await?;
        let pem = public["pem"].as_str().unwrap_or_default().to_string();
        Ok((version, Some(pem)))
    }

    /// The key's first ENABLED version; a new key's version 1 is waited for while KMS
    /// generates it (PENDING_GENERATION).
    async fn enabled_version(&mut self, key: &str, new: bool) -> Result<String> {
        loop {
            let list = self
                .rest
                .call(
                    Api::Kms,
                    "GET",
                    &format!("{key}/cryptoKeyVersions?pageSize=1000"),
                    None,
                    format!("list the versions of {key}"),
                )
                .await?;
            let versions = list["cryptoKeyVersions"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let number = |v: &Value| {
                v["name"]
                    .as_str()
                    .and_then(|n| n.rsplit('/').next())
                    .and_then(|n| n.parse::<u64>().ok())
                    .unwrap_or(u64::MAX)
            };
            if let Some(v) = versions
                .iter()
                .filter(|v| v["state"] == "ENABLED")
                .min_by_key(|v| number(v))
            {
                let name = v["name"].as_str().unwrap_or_default().to_string();
                self.record("version", &name, false, String::new());
                return Ok(name);
            }
            let pending = versions.iter().any(|v| v["state"] == "PENDING_GENERATION");
            if !(new || pending) {
                return Err(Error::Usage(format!(
                    "KMS key {key} has no ENABLED version: enable one (gcloud kms keys versions enable) or create one (gcloud kms keys versions create); setup never alters a key"
                )));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The note, of kind ATTESTATION, with a human-readable hint.
    async fn note(&mut self, note: &NoteName, attestor: &AttestorName) -> Result<()> {
        let name = note.to_string();
        match self.rest.get(Api::Grafeas, &name).await? {
            Some(found) if found["kind"] != "ATTESTATION" => Err(Error::Usage(format!(
                "note {name} exists with kind {}, not ATTESTATION: name another --note",
                found["kind"].as_str().unwrap_or("unknown")
            ))),
            Some(_) => {
                self.record("note", &name, false, String::new());
                Ok(())
            }
            None => {
                if !self.plan {
                    let body = json!({"attestation": {"hint": {"humanReadableName": format!("Attestations by {attestor}")}}});
                    self.rest
                        .call(
                            Api::Grafeas,
                            "POST",
                            &format!("projects/{}/notes?noteId={}", note.project, note.id),
                            Some(&body),
                            format!("create note {name}"),
                        )
                        .await?;
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
    ) -> Result<Option<Value>> {
        let name = attestor.to_string();
        let public_key = entry.body.clone();
        let key_id = &entry.shown;
        let version = &entry.shown;
        let held = |stored: &Value| -> Option<Value> {
            stored["userOwnedGrafeasNote"]["publicKeys"]
                .as_array()
                .and_then(|ks| ks.iter().find(|k| (entry.holds)(k)).cloned())
        };
        let mut stored_entry = None;
        let current = match self.prefetched.take() {
            Some(read) => read,
            None => self.rest.get(Api::Binauthz, &name).await?,
        };
        self.stored_attestor = current.clone();
        match current {
            Some(mut found) => {
                let reference = found["userOwnedGrafeasNote"]["noteReference"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                if reference != note.to_string() {
                    return Err(Error::Usage(format!(
                        "attestor {name} exists on note {reference}, not {note}; an attestor's note cannot change: pass --note {reference}, or name another --attestor"
                    )));
                }
                stored_entry = held(&found);
                let trusted = stored_entry.is_some();
                let keys = &mut found["userOwnedGrafeasNote"]["publicKeys"];
                if !trusted && !self.plan {
                    match keys.as_array_mut() {
                        Some(list) => list.push(public_key),
                        None => *keys = json!([public_key]),
                    }
                    let updated = self
                        .rest
                        .call(
                            Api::Binauthz,
                            "PUT",
                            &name,
                            Some(&found),
                            format!("add {version} to attestor {name}"),
                        )
                        .await?;
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
                    let body = json!({"userOwnedGrafeasNote": {"noteReference": note.to_string(), "publicKeys": [public_key]}});
                    let created = self
                        .rest
                        .call(
                            Api::Binauthz,
                            "POST",
                            &format!(
                                "projects/{}/attestors?attestorId={}",
                                attestor.project, attestor.id
                            ),
                            Some(&body),
                            format!("create attestor {name}"),
                        )
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
        let project = format!("projects/{}", attestor.project);
        // The service agent that reads the note at admission, as the attestor names it
        // (`delegationServiceAccountEmail`, output only); before the attestor exists (`--plan`),
        // its documented form from the project number.
        let delegated = self
            .stored_attestor
            .as_ref()
            .and_then(|a| a["userOwnedGrafeasNote"]["delegationServiceAccountEmail"].as_str())
            .filter(|email| !email.is_empty())
            .map(|email| format!("serviceAccount:{email}"));
        let agent = match delegated {
            Some(agent) => agent,
            None => {
                let number = match self
                    .rest
                    .get(Api::ResourceManager, &project)
                    .await?
                    .and_then(|p| p["projectNumber"].as_str().map(String::from))
                {
                    Some(n) => n,
                    None => {
                        return Err(Error::Rejected {
                            action: format!("read project {}", attestor.project),
                            reason: "Resource Manager answered no projectNumber".into(),
                        })
                    }
                };
                format!(
                    "serviceAccount:service-{number}@gcp-sa-binaryauthorization.iam.gserviceaccount.com"
                )
            }
        };
        wanted
            .entry(Grantee::Note)
            .or_default()
            .insert(("roles/containeranalysis.notes.occurrences.viewer", agent));
        for (grantee, grants) in wanted {
            let (api, resource, get_with_post) = match (grantee, key) {
                (Grantee::Key, Some(key)) => (Api::Kms, key.to_string(), false),
                (Grantee::Key, None) => continue,
                (Grantee::Note, _) => (Api::Grafeas, note.to_string(), true),
                (Grantee::Project, _) => (Api::ResourceManager, project.clone(), true),
                (Grantee::Attestor, _) => (Api::Binauthz, attestor.to_string(), false),
            };
            self.grant(api, &resource, get_with_post, &grants).await?;
        }
        Ok(())
    }

    /// Adds the missing `(role, member)` grants to `resource`'s policy (read-modify-write with
    /// its etag); a resource that `--plan` would create has an empty policy.
    async fn grant(
        &mut self,
        api: Api,
        resource: &str,
        get_with_post: bool,
        grants: &BTreeSet<(&str, String)>,
    ) -> Result<()> {
        let exists = !self.plan
            || self
                .changes
                .iter()
                .all(|c| c.resource != resource || c.action == "unchanged");
        let mut policy = if !exists {
            json!({})
        } else if get_with_post {
            self.rest
                .call(
                    api,
                    "POST",
                    &format!("{resource}:getIamPolicy"),
                    Some(&json!({"options": {"requestedPolicyVersion": 3}})),
                    format!("read the IAM policy of {resource}"),
                )
                .await?
        } else {
            self.rest
                .call(
                    api,
                    "GET",
                    &format!("{resource}:getIamPolicy?options.requestedPolicyVersion=3"),
                    None,
                    format!("read the IAM policy of {resource}"),
                )
                .await?
        };
        let mut missing = Vec::new();
        for (role, member) in grants {
            let bindings = policy["bindings"].as_array().cloned().unwrap_or_default();
            let held = bindings.iter().any(|b| {
                b["role"] == *role
                    && b["members"]
                        .as_array()
                        .is_some_and(|ms| ms.iter().any(|m| m == member))
            });
            if held {
                continue;
            }
            missing.push(format!("{role} to {member}"));
            let list = policy["bindings"].as_array_mut();
            match list {
                Some(list) => match list.iter_mut().find(|b| b["role"] == *role) {
                    Some(b) => match b["members"].as_array_mut() {
                        Some(ms) => ms.push(json!(member)),
                        None => b["members"] = json!([member]),
                    },
                    None => list.push(json!({"role": role, "members": [member]})),
                },
                None => policy["bindings"] = json!([{"role": role, "members": [member]}]),
            }
        }
        if !missing.is_empty() && !self.plan {
            self.rest
                .call(
                    api,
                    "POST",
                    &format!("{resource}:setIamPolicy"),
                    Some(&json!({"policy": policy})),
                    format!("grant {} on {resource}", missing.join(", ")),
                )
                .await?;
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
        self.record("iam", resource, !missing.is_empty(), detail);
        Ok(())
    }

    /// The project policy's default rule requires this attestor, in the enforcement mode asked;
    /// other attestors, rules and settings are kept.
    async fn policy(&mut self, attestor: &AttestorName) -> Result<()> {
        let name = format!("projects/{}/policy", attestor.project);
        let current = self
            .rest
            .call(
                Api::Binauthz,
                "GET",
                &name,
                None,
                format!("read policy {name}"),
            )
            .await?;
        let mut policy = current.clone();
        let mode = match self.policy {
            PolicyMode::Enforce => "ENFORCED_BLOCK_AND_AUDIT_LOG",
            _ => "DRYRUN_AUDIT_LOG_ONLY",
        };
        let rule = &mut policy["defaultAdmissionRule"];
        if rule["evaluationMode"] != "REQUIRE_ATTESTATION" {
            rule["evaluationMode"] = json!("REQUIRE_ATTESTATION");
            rule["requireAttestationsBy"] = json!([]);
        }
        let wanted = json!(attestor.to_string());
        match rule["requireAttestationsBy"].as_array_mut() {
            Some(list) if list.contains(&wanted) => {}
            Some(list) => list.push(wanted),
            None => rule["requireAttestationsBy"] = json!([wanted]),
        }
        rule["enforcementMode"] = json!(mode);
        let changed = policy != current;
        if changed && !self.plan {
            self.rest
                .call(
                    Api::Binauthz,
                    "PUT",
                    &name,
                    Some(&policy),
                    format!("update policy {name}"),
                )
                .await?;
        }
        self.record(
            "policy",
            &name,
            changed,
            format!("default rule requires {attestor}, {mode}"),
        );
        Ok(())
    }
}
