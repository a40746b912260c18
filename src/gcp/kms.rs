//! Cloud KMS: the key version's public key and algorithm, and `asymmetricSign` with Google's
//! data-integrity checks (CRC32C of the digest sent, of the signature received); for `setup`
//! and `rotate`, key rings, keys, their versions and the keys' IAM policies.

use super::auth::Auth;
use super::{call, configure, found_or_none, Endpoints, ADMIN};
use crate::algorithm::{Hash, SigningAlgorithm};
use crate::error::{Error, Result};
use crate::model::PublicKey;
use crate::names::{CryptoKeyName, KeyVersionName};
use google_cloud_iam_v1::model::{GetPolicyOptions, Policy};
use google_cloud_kms_v1::client::KeyManagementService;
use google_cloud_kms_v1::model::crypto_key::CryptoKeyPurpose;
use google_cloud_kms_v1::model::crypto_key_version::CryptoKeyVersionAlgorithm;
use google_cloud_kms_v1::model::{
    CryptoKey, CryptoKeyVersion, CryptoKeyVersionTemplate, Digest, KeyRing, ProtectionLevel,
};

const SIGNER_HINT: &str =
    "grant the caller roles/cloudkms.signerVerifier (or roles/cloudkms.publicKeyViewer to read the key) on the key";

/// The Cloud KMS client of a run.
#[derive(Clone)]
pub struct Kms {
    client: KeyManagementService,
}

impl Kms {
    /// A client for `endpoints.kms` (Google's by default) with the run's credentials.
    pub async fn new(auth: &Auth, endpoints: &Endpoints) -> Result<Kms> {
        let builder = configure(
            KeyManagementService::builder(),
            endpoints.kms.as_ref(),
            auth.credentials(),
        );
        let client = builder
            .build()
            .await
            .map_err(|e| Error::Setup(format!("cannot create the KMS client: {e}")))?;
        Ok(Kms { client })
    }

    /// The version's public key and algorithm (`cryptoKeyVersions.getPublicKey`), its PEM
    /// checked against the CRC32C KMS sends.
    pub async fn public_key(&self, version: &KeyVersionName) -> Result<PublicKey> {
        let what = format!("KMS getPublicKey {version}");
        let send = || {
            self.client
                .get_public_key()
                .set_name(version.as_str())
                .send()
        };
        let answer = call(
            &what,
            true,
            |e| {
                if e.http_status_code() == Some(404) {
                    return Error::KeyVersionNotFound {
                        key: version.to_string(),
                    };
                }
                match super::error(e, format!("read the public key of {version}"), SIGNER_HINT) {
                    Error::Rejected { reason, .. } => Error::KeyNotForSigning {
                        key: version.to_string(),
                        reason,
                    },
                    other => other,
                }
            },
            send,
        )
        .await?;
        let integrity = |reason: &str| Error::KmsIntegrity {
            key: version.to_string(),
            reason: reason.to_string(),
        };
        if answer
            .pem_crc32c
            .is_some_and(|crc| crc != i64::from(crc32c::crc32c(answer.pem.as_bytes())))
        {
            return Err(integrity("pemCrc32c does not match the PEM"));
        }
        let name = answer.algorithm.name().unwrap_or("unknown").to_string();
        let algorithm =
            SigningAlgorithm::from_kms(&name).ok_or_else(|| Error::KeyNotForSigning {
                key: version.to_string(),
                reason: format!("its algorithm is {name}"),
            })?;
        Ok(PublicKey {
            pem: answer.pem,
            algorithm,
        })
    }

    /// Signs `message` with the hash the key's algorithm names (`asymmetricSign`, CRC32C both
    /// ways). KMS changes nothing when it signs, so a lost answer is retried like a read.
    pub async fn sign(
        &self,
        version: &KeyVersionName,
        algorithm: SigningAlgorithm,
        message: &[u8],
    ) -> Result<Vec<u8>> {
        let hashed = bytes::Bytes::from(algorithm.hash.digest(message));
        let crc = i64::from(crc32c::crc32c(&hashed));
        let digest = match algorithm.hash {
            Hash::Sha256 => Digest::new().set_sha256(hashed),
            Hash::Sha384 => Digest::new().set_sha384(hashed),
            Hash::Sha512 => Digest::new().set_sha512(hashed),
        };
        let what = format!("KMS asymmetricSign {version}");
        let send = || {
            self.client
                .asymmetric_sign()
                .set_name(version.as_str())
                .set_digest(digest.clone())
                .set_digest_crc32c(crc)
                .send()
        };
        let answer = call(
            &what,
            true,
            |e| match e.http_status_code() {
                Some(404) => Error::KeyVersionNotFound {
                    key: version.to_string(),
                },
                _ => super::error(
                    e,
                    format!("sign with KMS key version {version}"),
                    SIGNER_HINT,
                ),
            },
            send,
        )
        .await?;
        let integrity = |reason: &str| Error::KmsIntegrity {
            key: version.to_string(),
            reason: reason.to_string(),
        };
        if !answer.verified_digest_crc32c {
            return Err(integrity("KMS did not confirm the digest's CRC32C"));
        }
        if answer.signature_crc32c != Some(i64::from(crc32c::crc32c(&answer.signature))) {
            return Err(integrity("signatureCrc32c does not match the signature"));
        }
        if answer.name != version.as_str() {
            return Err(integrity(&format!("KMS signed with {}", answer.name)));
        }
        Ok(answer.signature.to_vec())
    }
}

/// Key rings, keys and versions: what `setup` creates or checks and `rotate` adds to. Reads
/// answer None for a 404 (the caller decides what a missing resource means); writes that
/// create are not idempotent, so never retried (a rerun finds what a lost answer created).
impl Kms {
    /// Whether the key ring of `key` exists (`keyRings.get`).
    pub async fn key_ring_exists(&self, key: &CryptoKeyName) -> Result<bool> {
        let ring = key.key_ring();
        let what = format!("KMS keyRings.get {ring}");
        let send = || self.client.get_key_ring().set_name(ring.clone()).send();
        let found = call(
            &what,
            true,
            |e| super::error(e, format!("read {ring}"), ADMIN),
            send,
        )
        .await;
        Ok(found_or_none(found)?.is_some())
    }

    /// Creates the key ring of `key` (`keyRings.create`).
    pub async fn create_key_ring(&self, key: &CryptoKeyName) -> Result<()> {
        let ring = key.key_ring();
        let what = format!("KMS keyRings.create {ring}");
        let send = || {
            self.client
                .create_key_ring()
                .set_parent(format!(
                    "projects/{}/locations/{}",
                    key.project, key.location
                ))
                .set_key_ring_id(key.key_ring.clone())
                .set_key_ring(KeyRing::new())
                .send()
        };
        let action = format!("create key ring {ring}");
        call(&what, false, |e| super::error(e, action, ADMIN), send).await?;
        Ok(())
    }

    /// The key (`cryptoKeys.get`); None when it does not exist.
    pub async fn crypto_key(&self, key: &CryptoKeyName) -> Result<Option<CryptoKey>> {
        let name = key.to_string();
        let what = format!("KMS cryptoKeys.get {name}");
        let send = || self.client.get_crypto_key().set_name(name.clone()).send();
        found_or_none(
            call(
                &what,
                true,
                |e| super::error(e, format!("read {name}"), ADMIN),
                send,
            )
            .await,
        )
    }

    /// Creates an asymmetric signing key whose versions use `algorithm` in software
    /// (`cryptoKeys.create`); KMS generates its version 1.
    pub async fn create_crypto_key(
        &self,
        key: &CryptoKeyName,
        algorithm: SigningAlgorithm,
    ) -> Result<()> {
        let name = key.to_string();
        let what = format!("KMS cryptoKeys.create {name}");
        let body = CryptoKey::new()
            .set_purpose(CryptoKeyPurpose::AsymmetricSign)
            .set_version_template(
                CryptoKeyVersionTemplate::new()
                    .set_algorithm(CryptoKeyVersionAlgorithm::from(algorithm.kms_name))
                    .set_protection_level(ProtectionLevel::Software),
            );
        let send = || {
            self.client
                .create_crypto_key()
                .set_parent(key.key_ring())
                .set_crypto_key_id(key.id.clone())
                .set_crypto_key(body.clone())
                .send()
        };
        let action = format!("create KMS key {name}");
        call(&what, false, |e| super::error(e, action, ADMIN), send).await?;
        Ok(())
    }

    /// The key's versions (`cryptoKeyVersions.list`), one page of up to 1000: more versions
    /// than that is not a key `setup` or `rotate` is asked to handle.
    pub async fn versions(&self, key: &str) -> Result<Vec<CryptoKeyVersion>> {
        let what = format!("KMS cryptoKeyVersions.list {key}");
        let send = || {
            self.client
                .list_crypto_key_versions()
                .set_parent(key)
                .set_page_size(1000)
                .send()
        };
        let action = format!("list the versions of {key}");
        let page = call(&what, true, |e| super::error(e, action, ADMIN), send).await?;
        Ok(page.crypto_key_versions)
    }

    /// The version (`cryptoKeyVersions.get`); None when it does not exist.
    pub async fn version(&self, version: &KeyVersionName) -> Result<Option<CryptoKeyVersion>> {
        let what = format!("KMS cryptoKeyVersions.get {version}");
        let send = || {
            self.client
                .get_crypto_key_version()
                .set_name(version.as_str())
                .send()
        };
        let action = format!("read KMS key version {version}");
        found_or_none(call(&what, true, |e| super::error(e, action, ADMIN), send).await)
    }

    /// Adds a version to `key` (`cryptoKeyVersions.create`): KMS numbers it.
    pub async fn create_version(&self, key: &str) -> Result<CryptoKeyVersion> {
        let what = format!("KMS cryptoKeyVersions.create {key}");
        let send = || {
            self.client
                .create_crypto_key_version()
                .set_parent(key)
                .set_crypto_key_version(CryptoKeyVersion::new())
                .send()
        };
        let action = format!("create a version of {key}");
        call(&what, false, |e| super::error(e, action, ADMIN), send).await
    }

    /// The key's IAM policy (`getIamPolicy`, the client's IAM mixin).
    pub async fn iam_policy(&self, key: &CryptoKeyName) -> Result<Policy> {
        let name = key.to_string();
        let what = format!("KMS cryptoKeys.getIamPolicy {name}");
        let send = || {
            self.client
                .get_iam_policy()
                .set_resource(name.clone())
                .set_options(
                    GetPolicyOptions::new().set_requested_policy_version(super::POLICY_VERSION),
                )
                .send()
        };
        let action = format!("read the IAM policy of {name}");
        call(&what, true, |e| super::error(e, action, ADMIN), send).await
    }

    /// Replaces the key's IAM policy (`setIamPolicy`; the etag read with it guards the write,
    /// so it is sent once: a lost answer is resolved by rerunning the read-modify-write).
    pub async fn set_iam_policy(
        &self,
        key: &CryptoKeyName,
        policy: Policy,
        action: String,
    ) -> Result<Policy> {
        let name = key.to_string();
        let what = format!("KMS cryptoKeys.setIamPolicy {name}");
        let send = || {
            self.client
                .set_iam_policy()
                .set_resource(name.clone())
                .set_policy(policy.clone())
                .send()
        };
        call(&what, false, |e| super::error(e, action, ADMIN), send).await
    }
}
