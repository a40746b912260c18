//! Cloud KMS: the key version's public key and algorithm, and `asymmetricSign` with Google's
//! data-integrity checks (CRC32C of the digest sent, of the signature received).

use super::auth::Auth;
use super::{call, configure, Endpoints};
use crate::algorithm::{Hash, SigningAlgorithm};
use crate::error::{Error, Result};
use crate::model::PublicKey;
use crate::names::KeyVersionName;
use google_cloud_kms_v1::client::KeyManagementService;
use google_cloud_kms_v1::model::Digest;

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
