//! Everything the emulator holds in memory, and loading it from a seed.

use crate::crypto::{Algorithm, KeyPair};
use crate::google::{now, ApiError, ApiResult};
use crate::seed::{DenySeed, Seed};
use rsa::RsaPrivateKey;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};

pub struct ServiceAccount {
    pub key: RsaPrivateKey,
    pub key_id: String,
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
}

#[derive(Default)]
pub struct State {
    /// Bearer token -> principal (seeded and minted).
    pub tokens: HashMap<String, String>,
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
    pub occurrences: Vec<Value>,
    /// Attestors in their v1 form (`userOwnedGrafeasNote`).
    pub attestors: BTreeMap<String, Value>,
    /// Policies by project id.
    pub policies: BTreeMap<String, Value>,
    /// The emulated Artifact Registry's content and tokens.
    pub registry: crate::registry::store::Store,
}

impl State {
    pub fn from_seed(seed: Seed, own_host: &str) -> Result<State, String> {
        let mut state = State {
            kms_key_id_host: seed.kms_key_id_host.unwrap_or_else(|| own_host.to_string()),
            deny: seed.deny,
            metadata: seed.metadata.map(|m| (m.service_account, m.project_id)),
            ..State::default()
        };
        for t in seed.tokens {
            state.tokens.insert(t.token, t.principal);
        }
        for sa in seed.service_accounts {
            state.add_service_account(&sa.email, sa.private_key_pem.as_deref())?;
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
                state.create_version(&key.name).map_err(|e| e.message)?;
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
        for (project, mut policy) in seed.policies {
            crate::google::normalise_enums(&mut policy).map_err(|e| e.message)?;
            policy["name"] = json!(format!("projects/{project}/policy"));
            state.policies.insert(project, policy);
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
        self.service_accounts
            .insert(email.to_string(), ServiceAccount { key, key_id });
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
        skip_ring_check: bool,
    ) -> ApiResult<Value> {
        check_name(name, &["projects", "locations", "keyRings", "cryptoKeys"])?;
        let ring = &name[..name.rfind("/cryptoKeys/").unwrap_or(0)];
        if !skip_ring_check && !self.key_rings.contains_key(ring) {
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
        object.insert("destroyScheduledDuration".into(), json!("2592000s"));
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
            self.create_version(name)?;
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

    pub fn create_version(&mut self, key_name: &str) -> ApiResult<Value> {
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
        let json = json!({"name": name, "state": "ENABLED", "protectionLevel": "SOFTWARE", "algorithm": alg_name,
                          "createTime": t, "generateTime": t});
        self.versions.insert(
            name,
            KeyVersion {
                json: json.clone(),
                signing,
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

    pub fn create_note(&mut self, name: &str, mut body: Value) -> ApiResult<Value> {
        check_name(name, &["projects", "notes"])?;
        if self.notes.contains_key(name) {
            return Err(ApiError::already_exists(format!(
                "Note {name} already exists."
            )));
        }
        let t = now();
        body["name"] = json!(name);
        body["createTime"] = json!(t);
        body["updateTime"] = json!(t);
        if body.get("kind").is_none() {
            let kind = [
                "attestation",
                "vulnerability",
                "build",
                "image",
                "package",
                "deployment",
                "discovery",
            ]
            .into_iter()
            .find(|k| body.get(*k).is_some())
            .map(|k| k.to_uppercase())
            .unwrap_or_else(|| "NOTE_KIND_UNSPECIFIED".into());
            body["kind"] = json!(kind);
        }
        self.notes.insert(name.to_string(), body.clone());
        Ok(body)
    }
}

/// Binary Authorization's legacy `signatureAlgorithm` name, as gcloud writes it on attestors.
pub fn binauthz_legacy_name(alg: Algorithm) -> String {
    alg.kms_name()
        .replace("EC_SIGN_P", "ECDSA_P")
        .replace("RSA_SIGN_PSS_", "RSA_PSS_")
}

/// Checks a resource name against its collection pattern, e.g. `projects/*/notes/*`.
pub fn check_name(name: &str, collections: &[&str]) -> ApiResult<()> {
    let parts: Vec<&str> = name.split('/').collect();
    let ok = parts.len() == collections.len() * 2
        && parts
            .chunks(2)
            .zip(collections)
            .all(|(pair, c)| pair[0] == *c && !pair[1].is_empty());
    if ok {
        Ok(())
    } else {
        let pattern: Vec<String> = collections.iter().map(|c| format!("{c}/*")).collect();
        Err(ApiError::invalid(format!(
            "Invalid resource name {name:?}: expected {}.",
            pattern.join("/")
        )))
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
