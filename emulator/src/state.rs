//! Everything the emulator holds in memory, and loading it from a seed.

use crate::crypto::{Algorithm, KeyPair};
use crate::google::{now, ApiError, ApiResult};
use crate::seed::{DenySeed, Seed, Settings};
use rsa::RsaPrivateKey;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

pub struct ServiceAccount {
    pub key: RsaPrivateKey,
    pub key_id: String,
    /// Principals that may mint tokens for this account (roles/iam.serviceAccountTokenCreator).
    pub token_creators: Vec<String>,
}

/// A workload identity pool provider and the OIDC issuer key it trusts.
pub struct Provider {
    pub name: String,
    pub issuer: String,
    pub audiences: Vec<String>,
    pub key: RsaPrivateKey,
    pub key_id: String,
}

/// An occurrence and the moment list calls start to see it (the seeded list lag).
pub struct Occurrence {
    pub json: Value,
    pub listed_from: Instant,
}

pub struct AuthorizedUser {
    pub client_id: String,
    pub client_secret: String,
    pub refresh_token: String,
    pub principal: String,
}

pub struct CryptoKey {
    pub json: Value,
    pub next_version: u32,
}

pub struct KeyVersion {
    pub json: Value,
    /// None for symmetric keys: nothing to sign with or publish.
    pub signing: Option<(Algorithm, KeyPair)>,
    /// When the version's pending transition happens: PENDING_GENERATION becomes ENABLED,
    /// DESTROY_SCHEDULED becomes DESTROYED.
    pub transition_at: Option<Instant>,
}

impl KeyVersion {
    /// The version's KMS state (`ENABLED`, `DISABLED`, ...), as its JSON holds it.
    pub fn state(&self) -> &str {
        self.json["state"].as_str().unwrap_or_default()
    }
}

#[derive(Default)]
pub struct State {
    /// Bearer token -> principal, for tokens that never expire (seeded or added by the admin API).
    pub tokens: HashMap<String, String>,
    /// Tokens the emulator minted: principal and expiry.
    pub minted: HashMap<String, (String, Instant)>,
    /// Projects that exist (seeded, or named by a seeded resource).
    pub projects: BTreeSet<String>,
    pub settings: Settings,
    pub providers: Vec<Provider>,
    pub service_accounts: BTreeMap<String, ServiceAccount>,
    pub authorized_users: Vec<AuthorizedUser>,
    /// Default service account and project id of the metadata server.
    pub metadata: Option<(String, String)>,
    pub deny: Vec<DenySeed>,
    pub kms_key_id_host: String,
    pub key_rings: BTreeMap<String, Value>,
    pub crypto_keys: BTreeMap<String, CryptoKey>,
    pub versions: BTreeMap<String, KeyVersion>,
    pub notes: BTreeMap<String, Value>,
    /// Occurrences in creation order (listing pages through them in that order).
    pub occurrences: Vec<Occurrence>,
    /// Attestors in their v1 form (`userOwnedGrafeasNote`).
    pub attestors: BTreeMap<String, Value>,
    /// Policies by project id.
    pub policies: BTreeMap<String, Value>,
    /// Whether IAM permissions are enforced (`iam.enforce` in the seed).
    pub iam_enforced: bool,
    /// Allow policies by resource name, in Google's JSON shape (`iam.rs`).
    pub iam_policies: BTreeMap<String, Value>,
    /// Bumped by every policy change; the etags are its bytes.
    pub iam_serial: u64,
    /// The emulated Artifact Registry's content and tokens.
    pub registry: crate::registry::store::Store,
    /// Cloud Run services by `projects/P/locations/L/services/S` (`run.rs`).
    pub run_services: BTreeMap<String, crate::run::Service>,
    /// Cloud Run revisions by `projects/P/locations/L/revisions/R`.
    pub run_revisions: BTreeMap<String, crate::run::Revision>,
    /// Cloud Run jobs by `projects/P/locations/L/jobs/J`.
    pub run_jobs: BTreeMap<String, crate::run::Job>,
    /// Cloud Logging entries in the order written (`logging.rs`), each with its `_seq`.
    pub log_entries: Vec<Value>,
    /// The sequence number of the last entry written.
    pub log_seq: u64,
}

impl State {
    pub fn from_seed(seed: Seed, own_host: &str) -> Result<State, String> {
        let mut state = State {
            kms_key_id_host: seed.kms_key_id_host.unwrap_or_else(|| own_host.to_string()),
            deny: seed.deny,
            metadata: seed.metadata.map(|m| (m.service_account, m.project_id)),
            settings: seed.settings,
            iam_enforced: seed.iam.enforce,
            ..State::default()
        };
        let named = seed
            .keys
            .iter()
            .map(|k| &k.name)
            .chain(seed.notes.iter().map(|n| &n.name))
            .chain(seed.attestors.iter().map(|a| &a.name))
            .filter_map(|n| n.strip_prefix("projects/")?.split('/').next())
            .map(String::from);
        let named: Vec<String> = named
            .chain(seed.projects)
            .chain(seed.policies.keys().cloned())
            .chain(
                seed.iam
                    .policies
                    .keys()
                    .filter(|r| r.split('/').count() == 2)
                    .filter_map(|r| r.strip_prefix("projects/"))
                    .map(String::from),
            )
            .chain(state.metadata.iter().map(|(_, p)| p.clone()))
            .collect();
        for project in named {
            if !valid_project_id(&project) {
                return Err(format!(
                    "project id {project:?} is not valid: 6 to 30 lowercase letters, digits or hyphens, starting with a letter (shorter ids are allowed here)"
                ));
            }
            state.projects.insert(project);
        }
        for t in seed.tokens {
            state.tokens.insert(t.token, t.principal);
        }
        for sa in seed.service_accounts {
            state.add_service_account(&sa.email, sa.private_key_pem.as_deref())?;
            if let Some(account) = state.service_accounts.get_mut(&sa.email) {
                account.token_creators = sa.token_creators;
            }
        }
        for p in seed.workload_identity_providers {
            use rsa::pkcs8::DecodePrivateKey;
            check_name(
                &p.name,
                &[
                    "projects",
                    "locations",
                    "workloadIdentityPools",
                    "providers",
                ],
            )
            .map_err(|e| e.message)?;
            let key = match &p.private_key_pem {
                Some(pem) => RsaPrivateKey::from_pkcs8_pem(pem)
                    .map_err(|e| format!("provider {}: {e}", p.name))?,
                None => {
                    RsaPrivateKey::new(&mut rand_core::OsRng, 2048).map_err(|e| e.to_string())?
                }
            };
            let audiences = if p.allowed_audiences.is_empty() {
                vec![
                    format!("https://iam.googleapis.com/{}", p.name),
                    format!("//iam.googleapis.com/{}", p.name),
                ]
            } else {
                p.allowed_audiences
            };
            state.providers.push(Provider {
                key_id: crate::google::random_id().replace('-', ""),
                name: p.name,
                issuer: p.issuer,
                audiences,
                key,
            });
        }
        for u in seed.authorized_users {
            state.authorized_users.push(AuthorizedUser {
                client_id: u.client_id,
                client_secret: u.client_secret,
                refresh_token: u.refresh_token,
                principal: u.principal,
            });
        }
        for key in seed.keys {
            let ring = key
                .name
                .rsplitn(3, '/')
                .nth(2)
                .ok_or(format!("key {}: not a crypto key name", key.name))?;
            check_name(ring, &["projects", "locations", "keyRings"]).map_err(|e| e.message)?;
            state
                .key_rings
                .entry(ring.to_string())
                .or_insert_with(|| json!({"name": ring, "createTime": now()}));
            let body = match &key.algorithm {
                Some(alg) => {
                    json!({"purpose": "ASYMMETRIC_SIGN", "versionTemplate": {"algorithm": alg}})
                }
                None => json!({"purpose": "ENCRYPT_DECRYPT"}),
            };
            state
                .create_crypto_key(&key.name, body, true)
                .map_err(|e| format!("key {}: {}", key.name, e.message))?;
            let version1 = format!("{}/cryptoKeyVersions/1", key.name);
            if let (Some(pem), Some(alg)) = (&key.private_key_pem, &key.algorithm) {
                let alg = Algorithm::from_kms(alg)
                    .ok_or(format!("key {}: unknown algorithm {alg}", key.name))?;
                let pair = KeyPair::from_pkcs8_pem(alg, pem)
                    .map_err(|e| format!("key {}: {e}", key.name))?;
                if let Some(v) = state.versions.get_mut(&version1) {
                    v.signing = Some((alg, pair));
                }
            }
            for _ in 1..key.versions.unwrap_or(1) {
                state.new_version(&key.name, true).map_err(|e| e.message)?;
            }
        }
        for note in seed.notes {
            state
                .create_note(
                    &note.name,
                    json!({"attestation": {"hint": {"humanReadableName": note.name}}}),
                )
                .map_err(|e| e.message)?;
        }
        for a in seed.attestors {
            let mut keys = Vec::new();
            for version in &a.key_versions {
                let (pem, alg) = state
                    .public_key(version)
                    .map_err(|e| format!("attestor {}: {}", a.name, e.message))?;
                keys.push(json!({"id": state.kms_key_id(version), "pkixPublicKey": {"publicKeyPem": pem, "signatureAlgorithm": binauthz_legacy_name(alg)}}));
            }
            for k in a.pkix_keys {
                let mut key = json!({"pkixPublicKey": {"publicKeyPem": k.pem, "signatureAlgorithm": k.algorithm}});
                if let Some(id) = k.id {
                    key["id"] = json!(id);
                }
                keys.push(key);
            }
            let body =
                json!({"userOwnedGrafeasNote": {"noteReference": a.note, "publicKeys": keys}});
            crate::binauthz::insert_attestor(&mut state, &a.name, body, false)
                .map_err(|e| e.message)?;
        }
        for image in seed.images {
            let content = image
                .content
                .unwrap_or_else(|| format!("hello from {}\n", image.repository));
            crate::registry::seed_image::add(
                &mut state.registry,
                &image.repository,
                &image.tag,
                &content,
            )?;
        }
        for (resource, bindings) in seed.iam.policies {
            let bindings: Vec<(String, Vec<String>)> =
                bindings.into_iter().map(|b| (b.role, b.members)).collect();
            crate::iam::seed_policy(&mut state, &resource, &bindings)?;
        }
        for (project, policy) in seed.policies {
            crate::binauthz::insert_policy(&mut state, &project, policy)
                .map_err(|e| format!("policy of {project}: {}", e.message))?;
        }
        Ok(state)
    }

    pub fn add_service_account(&mut self, email: &str, pem: Option<&str>) -> Result<(), String> {
        use rsa::pkcs8::DecodePrivateKey;
        let key = match pem {
            Some(pem) => RsaPrivateKey::from_pkcs8_pem(pem)
                .map_err(|e| format!("service account {email}: {e}"))?,
            None => RsaPrivateKey::new(&mut rand_core::OsRng, 2048).map_err(|e| e.to_string())?,
        };
        let key_id = crate::google::random_id().replace('-', "");
        self.service_accounts.insert(
            email.to_string(),
            ServiceAccount {
                key,
                key_id,
                token_creators: Vec::new(),
            },
        );
        Ok(())
    }

    /// The seed's denial of `principal` on `resource`, if any (`*` denies everyone).
    pub fn denial(&self, principal: &str, resource: &str) -> Option<&DenySeed> {
        self.deny.iter().find(|d| {
            (d.principal == "*" || d.principal == principal) && resource.starts_with(&d.resource)
        })
    }

    /// The id gcloud gives a KMS key version on an attestor: `//<KMS host>/v1/<version>`.
    pub fn kms_key_id(&self, version: &str) -> String {
        format!("//{}/v1/{version}", self.kms_key_id_host)
    }

    pub fn create_crypto_key(
        &mut self,
        name: &str,
        mut body: Value,
        seeding: bool,
    ) -> ApiResult<Value> {
        check_name(name, &["projects", "locations", "keyRings", "cryptoKeys"])?;
        let ring = &name[..name.rfind("/cryptoKeys/").unwrap_or(0)];
        if !seeding && !self.key_rings.contains_key(ring) {
            return Err(ApiError::not_found(format!("KeyRing {ring} not found.")));
        }
        if self.crypto_keys.contains_key(name) {
            return Err(ApiError::already_exists(format!(
                "CryptoKey {name} already exists."
            )));
        }
        let purpose = body["purpose"].as_str().unwrap_or_default().to_string();
        match purpose.as_str() {
            "ASYMMETRIC_SIGN" => {
                let alg = body["versionTemplate"]["algorithm"]
                    .as_str()
                    .unwrap_or_default();
                if Algorithm::from_kms(alg).is_none() {
                    return Err(ApiError::invalid(format!(
                        "Algorithm {alg} is not valid for purpose ASYMMETRIC_SIGN (the emulator supports EC_SIGN_P256_SHA256, EC_SIGN_P384_SHA384, RSA_SIGN_PKCS1_* and RSA_SIGN_PSS_*)."
                    )));
                }
            }
            "ENCRYPT_DECRYPT" => {
                body["versionTemplate"]["algorithm"] = json!("GOOGLE_SYMMETRIC_ENCRYPTION");
            }
            other => {
                return Err(ApiError::invalid(format!(
                    "The emulator does not support crypto key purpose {other:?}."
                )))
            }
        }
        let skip_initial = body["skipInitialVersionCreation"]
            .as_bool()
            .unwrap_or(false);
        let object = body
            .as_object_mut()
            .ok_or_else(|| ApiError::invalid("CryptoKey must be an object."))?;
        object.remove("skipInitialVersionCreation");
        object.insert("name".into(), json!(name));
        object.insert("createTime".into(), json!(now()));
        // CryptoKey.destroy_scheduled_duration: "If not specified at creation time, the default
        // duration is 30 days"; KMS takes 24 hours to 120 days.
        match object
            .get("destroyScheduledDuration")
            .and_then(Value::as_str)
        {
            None => {
                object.insert("destroyScheduledDuration".into(), json!("2592000s"));
            }
            Some(d) => {
                let secs = d.trim_end_matches('s').parse::<f64>().unwrap_or(0.0);
                if !(86_400.0..=10_368_000.0).contains(&secs) {
                    return Err(ApiError::invalid(format!(
                        "destroy_scheduled_duration {d} must be between 24 hours and 120 days."
                    )));
                }
            }
        }
        let template = object.entry("versionTemplate").or_insert_with(|| json!({}));
        template["protectionLevel"] = json!("SOFTWARE");
        self.crypto_keys.insert(
            name.to_string(),
            CryptoKey {
                json: body.clone(),
                next_version: 1,
            },
        );
        if !skip_initial {
            self.new_version(name, seeding)?;
        }
        if purpose == "ENCRYPT_DECRYPT" {
            let primary = self
                .versions
                .get(&format!("{name}/cryptoKeyVersions/1"))
                .map(|v| v.json.clone());
            if let (Some(primary), Some(key)) = (primary, self.crypto_keys.get_mut(name)) {
                key.json["primary"] = primary;
                body = key.json.clone();
            }
        }
        Ok(body)
    }

    /// Moves versions whose generation finished to ENABLED, and scheduled destructions that
    /// came due to DESTROYED; run before each API call, so every read sees the settled state.
    pub fn settle(&mut self) {
        let now = Instant::now();
        for v in self.versions.values_mut() {
            if v.transition_at.is_some_and(|t| t <= now) {
                v.transition_at = None;
                match v.state() {
                    "PENDING_GENERATION" => {
                        v.json["state"] = json!("ENABLED");
                        v.json["generateTime"] = json!(crate::google::now());
                    }
                    // DESTROYED: "the key material is no longer stored".
                    "DESTROY_SCHEDULED" => {
                        v.json["state"] = json!("DESTROYED");
                        v.json["destroyEventTime"] = json!(crate::google::now());
                        v.signing = None;
                    }
                    _ => {}
                }
            }
        }
        self.minted.retain(|_, (_, expires)| *expires > now);
    }

    /// Whether `project` (an id) exists for the emulated Google.
    pub fn project_exists(&self, project: &str) -> bool {
        self.projects.contains(project)
    }

    pub fn create_version(&mut self, key_name: &str) -> ApiResult<Value> {
        self.new_version(key_name, false)
    }

    /// A new version; seeded ones (`seeding`) already finished generating.
    pub fn new_version(&mut self, key_name: &str, seeding: bool) -> ApiResult<Value> {
        let key = self
            .crypto_keys
            .get_mut(key_name)
            .ok_or_else(|| ApiError::not_found(format!("CryptoKey {key_name} not found.")))?;
        let alg_name = key.json["versionTemplate"]["algorithm"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let number = key.next_version;
        key.next_version += 1;
        let signing = match Algorithm::from_kms(&alg_name) {
            Some(alg) => Some((
                alg,
                KeyPair::generate(alg).map_err(|e| ApiError::new(500, "INTERNAL", e))?,
            )),
            None => None,
        };
        let name = format!("{key_name}/cryptoKeyVersions/{number}");
        let t = now();
        let mut json = json!({"name": name, "state": "ENABLED", "protectionLevel": "SOFTWARE", "algorithm": alg_name,
                              "createTime": t, "generateTime": t});
        // CryptoKeyVersionState.PENDING_GENERATION: "This version is still being generated ...
        // Cloud KMS will automatically mark this version ENABLED as soon as the version is
        // ready." Asymmetric keys are generated asynchronously; symmetric ones are born ENABLED.
        let transition_at = (signing.is_some() && !seeding).then(|| {
            json["state"] = json!("PENDING_GENERATION");
            if let Some(obj) = json.as_object_mut() {
                obj.remove("generateTime");
            }
            Instant::now() + Duration::from_millis(self.settings.key_generation_delay_ms)
        });
        self.versions.insert(
            name,
            KeyVersion {
                json: json.clone(),
                signing,
                transition_at,
            },
        );
        Ok(json)
    }

    /// A version's public key PEM and algorithm, or the error KMS answers.
    pub fn public_key(&self, version: &str) -> ApiResult<(String, Algorithm)> {
        let v = self
            .versions
            .get(version)
            .ok_or_else(|| ApiError::not_found(format!("CryptoKeyVersion {version} not found.")))?;
        let (alg, key) = v.signing.as_ref().ok_or_else(|| {
            ApiError::failed_precondition(format!(
                "The request cannot be fulfilled: {version} has purpose ENCRYPT_DECRYPT; getPublicKey and asymmetricSign need an asymmetric key."
            ))
        })?;
        Ok((key.public_pem(), *alg))
    }

    /// Stores a new note under `name` (409 when it exists), as Container Analysis does.
    pub fn create_note(&mut self, name: &str, body: Value) -> ApiResult<Value> {
        let note = crate::grafeas::complete_note(name, body)?;
        if self.notes.contains_key(name) {
            return Err(ApiError::already_exists(format!(
                "Note {name} already exists."
            )));
        }
        self.notes.insert(name.to_string(), note.clone());
        Ok(note)
    }
}

/// A project id as Resource Manager allows it (lowercase letters, digits and hyphens, starting
/// with a letter, not ending with a hyphen, at most 30 characters), or a project number. The
/// 6-character minimum is not enforced: the tests' short ids (`demo`) stand for real ones.
pub fn valid_project_id(id: &str) -> bool {
    let number = !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit());
    let named = id.len() <= 30
        && id.starts_with(|c: char| c.is_ascii_lowercase())
        && !id.ends_with('-')
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    number || named
}

/// Binary Authorization's legacy `signatureAlgorithm` name, as gcloud writes it on attestors.
pub fn binauthz_legacy_name(alg: Algorithm) -> String {
    alg.kms_name()
        .replace("EC_SIGN_P", "ECDSA_P")
        .replace("RSA_SIGN_PSS_", "RSA_PSS_")
}

/// Checks a resource name against its collection pattern, e.g. `projects/*/notes/*`, and each
/// id against what its API allows (see [`valid_id`]).
pub fn check_name(name: &str, collections: &[&str]) -> ApiResult<()> {
    let parts: Vec<&str> = name.split('/').collect();
    let ok = parts.len() == collections.len() * 2
        && parts
            .chunks(2)
            .zip(collections)
            .all(|(pair, c)| pair[0] == *c && !pair[1].is_empty());
    if !ok {
        let pattern: Vec<String> = collections.iter().map(|c| format!("{c}/*")).collect();
        return Err(ApiError::invalid(format!(
            "Invalid resource name {name:?}: expected {}.",
            pattern.join("/")
        )));
    }
    for pair in parts.chunks(2) {
        if let Err(rule) = valid_id(pair[0], pair[1]) {
            return Err(ApiError::invalid(format!(
                "Invalid resource name {name:?}: {} id {:?} {rule}.",
                pair[0], pair[1]
            )));
        }
    }
    Ok(())
}

/// The id rules of each collection, or the rule an id breaks.
pub fn valid_id(collection: &str, id: &str) -> Result<(), &'static str> {
    let charset = |extra: &[u8], max: usize| {
        !id.is_empty()
            && id.len() <= max
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || extra.contains(&b))
    };
    let ok = match collection {
        "projects" => valid_project_id(id),
        // KMS REST reference, keyRings.create / cryptoKeys.create: the id must "match the
        // regular expression [a-zA-Z0-9_-]{1,63}".
        "keyRings" | "cryptoKeys" => charset(b"_-", 63),
        "cryptoKeyVersions" => id.bytes().all(|b| b.is_ascii_digit()) && !id.starts_with('0'),
        // KMS locations: `global`, multi-regions (`us`, `europe`, `nam-eur-asia1`...) and
        // regions (`us-central1`): lowercase letters, digits and hyphens.
        "locations" => {
            id.starts_with(|c: char| c.is_ascii_lowercase())
                && id
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        }
        // Attestor, note and occurrence ids: the API references give no pattern; the
        // emulator takes letters, digits, `-`, `_` and `.` (what the Console and gcloud allow).
        _ => charset(b"_-.", 128),
    };
    if ok {
        Ok(())
    } else {
        Err(match collection {
            "projects" => "is not a project id (lowercase letters, digits and hyphens, starting with a letter) or number",
            "keyRings" | "cryptoKeys" => "must match [a-zA-Z0-9_-]{1,63}",
            "cryptoKeyVersions" => "must be a version number",
            "locations" => "is not a location",
            _ => "must be 1 to 128 letters, digits, '-', '_' or '.'",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_against_their_collections() {
        assert!(check_name("projects/p/notes/n", &["projects", "notes"]).is_ok());
        assert!(check_name("projects/p/locations/us/notes/n", &["projects", "notes"]).is_err());
        assert!(check_name("projects//notes/n", &["projects", "notes"]).is_err());
        assert!(check_name("projects/Demo/notes/n", &["projects", "notes"]).is_err());
        let ring = ["projects", "locations", "keyRings"];
        assert!(check_name("projects/demo/locations/global/keyRings/ok_id-1", &ring).is_ok());
        assert!(check_name("projects/demo/locations/global/keyRings/bad.id!", &ring).is_err());
        assert!(check_name(
            &format!("projects/demo/locations/global/keyRings/{}", "a".repeat(64)),
            &ring
        )
        .is_err());
        assert!(check_name("projects/123456/locations/us-central1/keyRings/r", &ring).is_ok());
    }

    #[test]
    fn legacy_names_follow_gcloud() {
        assert_eq!(binauthz_legacy_name(Algorithm::EcP256), "ECDSA_P256_SHA256");
        assert_eq!(
            binauthz_legacy_name(Algorithm::from_kms("RSA_SIGN_PSS_2048_SHA256").unwrap()),
            "RSA_PSS_2048_SHA256"
        );
        assert_eq!(
            binauthz_legacy_name(Algorithm::from_kms("RSA_SIGN_PKCS1_2048_SHA256").unwrap()),
            "RSA_SIGN_PKCS1_2048_SHA256"
        );
    }
}
