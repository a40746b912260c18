//! The Cloud KMS signer: the private key never leaves KMS; we send the digest and get the
//! signature back (`gcp/kms.rs` does the call and its integrity checks).

use super::{BoxFuture, Signer, SignerKey};
use crate::error::{Error, Result};
use crate::gcp::kms::Kms;
use crate::model::{Attestor, PublicKey, TrustedKey};
use crate::names::KeyVersionName;

/// Signs with one KMS key version.
pub struct KmsSigner {
    kms: Kms,
    version: KeyVersionName,
}

impl KmsSigner {
    /// A signer for `version`, reached through `kms`.
    pub fn new(kms: Kms, version: KeyVersionName) -> KmsSigner {
        KmsSigner { kms, version }
    }
}

impl Signer for KmsSigner {
    fn key_name(&self) -> String {
        self.version.to_string()
    }

    fn public_key(&self) -> BoxFuture<'_, Result<SignerKey>> {
        Box::pin(async move {
            self.kms
                .public_key(&self.version)
                .await
                .map(SignerKey::Pkix)
        })
    }

    fn entry_in<'a>(
        &self,
        attestor: &'a Attestor,
        key: &SignerKey,
    ) -> Result<(&'a TrustedKey, SignerKey)> {
        // KMS decides the algorithm; the entry must agree (checked in `trusted_entry`).
        trusted_entry(attestor, &self.version, key.pkix()?).map(|entry| (entry, key.clone()))
    }

    fn sign<'a>(&'a self, key: &'a SignerKey, payload: &'a [u8]) -> BoxFuture<'a, Result<Vec<u8>>> {
        Box::pin(async move {
            let algorithm = key.pkix()?.algorithm;
            self.kms.sign(&self.version, algorithm, payload).await
        })
    }
}

/// The attestor's entry for a KMS key version: the one whose id names the version (gcloud's
/// `//cloudkms.googleapis.com/v1/...`), else one holding the same PEM under another id (a key
/// added from a PEM file gets `ni:///sha-256;...`). The entry must hold the key KMS serves, with
/// its algorithm, or Binary Authorization could never verify what we write.
pub fn trusted_entry<'a>(
    attestor: &'a Attestor,
    version: &KeyVersionName,
    key: &PublicKey,
) -> Result<&'a TrustedKey> {
    let Some(entry) = attestor
        .key_for_version(version)
        .or_else(|| attestor.key_holding(key))
    else {
        let (crypto_key, number) = version.key_and_version();
        return Err(Error::KeyNotTrustedByAttestor {
            attestor: attestor.name.to_string(),
            key: format!("KMS key version {version}"),
            command: format!(
                "gcloud container binauthz attestors public-keys add --attestor={} --attestor-project={} --keyversion={crypto_key}/cryptoKeyVersions/{number}",
                attestor.name.id, attestor.name.project
            ),
        });
    };
    // An entry without a PEM (gcloud always files one for KMS keys) is taken at its word.
    let same_key = entry.pem.is_none() || entry.holds(key);
    let same_algorithm = entry.algorithm.is_none_or(|a| a == key.algorithm);
    if !(same_key && same_algorithm) {
        return Err(Error::AttestorKeyMismatch {
            attestor: attestor.name.to_string(),
            key_id: entry.id.clone(),
            key: version.to_string(),
        });
    }
    Ok(entry)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algorithm::SigningAlgorithm;
    use crate::names::{AttestorName, NoteName};

    const VERSION: &str = "projects/p/locations/global/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1";
    // Two P-256 public keys made with openssl (ecparam -name prime256v1 -genkey | ec -pubout).
    const PEM: &str = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE7f0siQ+L9UjNPqs+p/cMascxsqEQ\nCPyWa7OOXgR3RJnXPTSAWnF5iGc7GsM05GsSRvWTZPkT/y7N8SvhEwJUwg==\n-----END PUBLIC KEY-----\n";
    const OTHER_PEM: &str = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEEXk2pwIOoK55wFChpb1COU6uD9vX\nAPkO4cCn/MiyXHt1o15xRH2xrO5wK7xcN3axN/zOLUoenOJEZv51OlEECQ==\n-----END PUBLIC KEY-----\n";

    fn p256() -> SigningAlgorithm {
        SigningAlgorithm::from_kms("EC_SIGN_P256_SHA256").unwrap()
    }

    fn key() -> PublicKey {
        PublicKey {
            pem: PEM.into(),
            algorithm: p256(),
        }
    }

    fn attestor(keys: &[(&str, &str, Option<&str>)]) -> Attestor {
        Attestor {
            name: AttestorName::parse("projects/p/attestors/a", None).unwrap(),
            note: NoteName::parse("projects/p/notes/n").unwrap(),
            keys: keys
                .iter()
                .map(|(id, pem, alg)| TrustedKey {
                    id: id.to_string(),
                    pem: Some(pem.to_string()),
                    algorithm: alg.and_then(SigningAlgorithm::from_binauthz),
                    pgp: None,
                })
                .collect(),
        }
    }

    fn version() -> KeyVersionName {
        KeyVersionName::parse(VERSION).unwrap()
    }

    #[test]
    fn the_entry_naming_the_version_is_found_whatever_the_host() {
        let gcloud_id = format!("//cloudkms.googleapis.com/v1/{VERSION}");
        let a = attestor(&[
            ("ni:///sha-256;other", OTHER_PEM, None),
            (&gcloud_id, PEM, Some("ECDSA_P256_SHA256")),
        ]);
        assert_eq!(trusted_entry(&a, &version(), &key()).unwrap().id, gcloud_id);
    }

    #[test]
    fn a_key_added_from_its_pem_is_found_under_its_ni_id() {
        let a = attestor(&[("ni:///sha-256;abc", PEM, Some("ECDSA_P256_SHA256"))]);
        assert_eq!(
            trusted_entry(&a, &version(), &key()).unwrap().id,
            "ni:///sha-256;abc"
        );
    }

    #[test]
    fn an_attestor_without_the_key_is_refused_with_the_command_that_adds_it() {
        let a = attestor(&[("ni:///sha-256;other", OTHER_PEM, None)]);
        let e = trusted_entry(&a, &version(), &key()).unwrap_err();
        assert_eq!(e.exit_code(), 5);
        assert!(e.to_string().contains("public-keys add --attestor=a --attestor-project=p --keyversion=projects/p/locations/global/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1"), "{e}");
    }

    #[test]
    fn an_entry_with_another_pem_or_algorithm_is_a_mismatch() {
        let id = format!("//cloudkms.googleapis.com/v1/{VERSION}");
        for (pem, alg) in [
            (OTHER_PEM, Some("ECDSA_P256_SHA256")),
            (PEM, Some("RSA_SIGN_PKCS1_2048_SHA256")),
        ] {
            let a = attestor(&[(&id, pem, alg)]);
            let e = trusted_entry(&a, &version(), &key()).unwrap_err();
            assert!(matches!(e, Error::AttestorKeyMismatch { .. }), "{e}");
        }
    }
}
