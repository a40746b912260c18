//! Real keys and signatures for the KMS algorithms Binary Authorization accepts, and checking
//! attestation signatures against PKIX public keys.

use p256::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePublicKey, LineEnding};
use rand_core::OsRng;
use rsa::{Pkcs1v15Sign, Pss, RsaPrivateKey, RsaPublicKey};
use sha2::{Digest, Sha256, Sha384, Sha512};

/// The hash a signing algorithm uses; also the field name KMS expects in `digest`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hash {
    Sha256,
    Sha384,
    Sha512,
}

impl Hash {
    pub fn field(self) -> &'static str {
        match self {
            Hash::Sha256 => "sha256",
            Hash::Sha384 => "sha384",
            Hash::Sha512 => "sha512",
        }
    }
    pub fn len(self) -> usize {
        match self {
            Hash::Sha256 => 32,
            Hash::Sha384 => 48,
            Hash::Sha512 => 64,
        }
    }
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            Hash::Sha256 => Sha256::digest(data).to_vec(),
            Hash::Sha384 => Sha384::digest(data).to_vec(),
            Hash::Sha512 => Sha512::digest(data).to_vec(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Padding {
    Pkcs1,
    Pss,
}

/// A KMS asymmetric signing algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    EcP256,
    EcP384,
    Rsa {
        bits: usize,
        padding: Padding,
        hash: Hash,
    },
}

/// KMS names, Binary Authorization's legacy names and the algorithm each stands for.
const NAMES: &[(&str, &str, Algorithm)] = {
    use Hash::*;
    use Padding::*;
    &[
        (
            "EC_SIGN_P256_SHA256",
            "ECDSA_P256_SHA256",
            Algorithm::EcP256,
        ),
        (
            "EC_SIGN_P384_SHA384",
            "ECDSA_P384_SHA384",
            Algorithm::EcP384,
        ),
        (
            "RSA_SIGN_PKCS1_2048_SHA256",
            "RSA_SIGN_PKCS1_2048_SHA256",
            Algorithm::Rsa {
                bits: 2048,
                padding: Pkcs1,
                hash: Sha256,
            },
        ),
        (
            "RSA_SIGN_PKCS1_3072_SHA256",
            "RSA_SIGN_PKCS1_3072_SHA256",
            Algorithm::Rsa {
                bits: 3072,
                padding: Pkcs1,
                hash: Sha256,
            },
        ),
        (
            "RSA_SIGN_PKCS1_4096_SHA256",
            "RSA_SIGN_PKCS1_4096_SHA256",
            Algorithm::Rsa {
                bits: 4096,
                padding: Pkcs1,
                hash: Sha256,
            },
        ),
        (
            "RSA_SIGN_PKCS1_4096_SHA512",
            "RSA_SIGN_PKCS1_4096_SHA512",
            Algorithm::Rsa {
                bits: 4096,
                padding: Pkcs1,
                hash: Sha512,
            },
        ),
        (
            "RSA_SIGN_PSS_2048_SHA256",
            "RSA_PSS_2048_SHA256",
            Algorithm::Rsa {
                bits: 2048,
                padding: Pss,
                hash: Sha256,
            },
        ),
        (
            "RSA_SIGN_PSS_3072_SHA256",
            "RSA_PSS_3072_SHA256",
            Algorithm::Rsa {
                bits: 3072,
                padding: Pss,
                hash: Sha256,
            },
        ),
        (
            "RSA_SIGN_PSS_4096_SHA256",
            "RSA_PSS_4096_SHA256",
            Algorithm::Rsa {
                bits: 4096,
                padding: Pss,
                hash: Sha256,
            },
        ),
        (
            "RSA_SIGN_PSS_4096_SHA512",
            "RSA_PSS_4096_SHA512",
            Algorithm::Rsa {
                bits: 4096,
                padding: Pss,
                hash: Sha512,
            },
        ),
    ]
};

impl Algorithm {
    /// Parses a KMS algorithm name (`EC_SIGN_P256_SHA256`).
    pub fn from_kms(name: &str) -> Option<Algorithm> {
        NAMES
            .iter()
            .find(|(kms, _, _)| *kms == name)
            .map(|(_, _, a)| *a)
    }
    /// Parses a Binary Authorization `signatureAlgorithm`, which accepts the legacy names
    /// (`ECDSA_P256_SHA256`, `RSA_PSS_2048_SHA256`) and the KMS-style aliases.
    pub fn from_binauthz(name: &str) -> Option<Algorithm> {
        NAMES
            .iter()
            .find(|(kms, legacy, _)| *kms == name || *legacy == name)
            .map(|(_, _, a)| *a)
    }
    pub fn kms_name(self) -> &'static str {
        NAMES
            .iter()
            .find(|(_, _, a)| *a == self)
            .map(|(kms, _, _)| *kms)
            .unwrap_or_default()
    }
    pub fn hash(self) -> Hash {
        match self {
            Algorithm::EcP256 => Hash::Sha256,
            Algorithm::EcP384 => Hash::Sha384,
            Algorithm::Rsa { hash, .. } => hash,
        }
    }
}

/// A private key held by the emulated KMS.
pub enum KeyPair {
    P256(p256::ecdsa::SigningKey),
    P384(p384::ecdsa::SigningKey),
    Rsa(Box<RsaPrivateKey>),
}

impl KeyPair {
    pub fn generate(alg: Algorithm) -> Result<KeyPair, String> {
        Ok(match alg {
            Algorithm::EcP256 => KeyPair::P256(p256::ecdsa::SigningKey::random(&mut OsRng)),
            Algorithm::EcP384 => KeyPair::P384(p384::ecdsa::SigningKey::random(&mut OsRng)),
            Algorithm::Rsa { bits, .. } => KeyPair::Rsa(Box::new(
                RsaPrivateKey::new(&mut OsRng, bits).map_err(|e| e.to_string())?,
            )),
        })
    }

    /// Loads a PKCS#8 PEM private key, checking that it fits the algorithm.
    pub fn from_pkcs8_pem(alg: Algorithm, pem: &str) -> Result<KeyPair, String> {
        let key = match alg {
            Algorithm::EcP256 => KeyPair::P256(
                p256::ecdsa::SigningKey::from_pkcs8_pem(pem).map_err(|e| e.to_string())?,
            ),
            Algorithm::EcP384 => KeyPair::P384(
                p384::ecdsa::SigningKey::from_pkcs8_pem(pem).map_err(|e| e.to_string())?,
            ),
            Algorithm::Rsa { bits, .. } => {
                let key = RsaPrivateKey::from_pkcs8_pem(pem).map_err(|e| e.to_string())?;
                if rsa::traits::PublicKeyParts::size(&key) * 8 != bits {
                    return Err(format!("the key is not {bits} bits"));
                }
                KeyPair::Rsa(Box::new(key))
            }
        };
        Ok(key)
    }

    /// The SubjectPublicKeyInfo PEM, as KMS `getPublicKey` returns it (trailing newline kept).
    pub fn public_pem(&self) -> String {
        let pem = match self {
            KeyPair::P256(k) => k.verifying_key().to_public_key_pem(LineEnding::LF),
            KeyPair::P384(k) => k.verifying_key().to_public_key_pem(LineEnding::LF),
            KeyPair::Rsa(k) => k.to_public_key().to_public_key_pem(LineEnding::LF),
        };
        pem.unwrap_or_default()
    }

    /// Signs a precomputed digest as KMS `asymmetricSign` does: ECDSA as DER, RSA-PSS with
    /// MGF1 and a salt as long as the digest.
    pub fn sign_digest(&self, alg: Algorithm, digest: &[u8]) -> Result<Vec<u8>, String> {
        use p256::ecdsa::signature::hazmat::PrehashSigner;
        match (self, alg) {
            (KeyPair::P256(k), _) => {
                let sig: p256::ecdsa::Signature =
                    k.sign_prehash(digest).map_err(|e| e.to_string())?;
                Ok(sig.to_der().as_bytes().to_vec())
            }
            (KeyPair::P384(k), _) => {
                let sig: p384::ecdsa::Signature =
                    k.sign_prehash(digest).map_err(|e| e.to_string())?;
                Ok(sig.to_der().as_bytes().to_vec())
            }
            (KeyPair::Rsa(k), Algorithm::Rsa { padding, hash, .. }) => {
                let result = match (padding, hash) {
                    (Padding::Pkcs1, Hash::Sha256) => k.sign(Pkcs1v15Sign::new::<Sha256>(), digest),
                    (Padding::Pkcs1, Hash::Sha384) => k.sign(Pkcs1v15Sign::new::<Sha384>(), digest),
                    (Padding::Pkcs1, Hash::Sha512) => k.sign(Pkcs1v15Sign::new::<Sha512>(), digest),
                    (Padding::Pss, Hash::Sha256) => {
                        k.sign_with_rng(&mut OsRng, Pss::new_with_salt::<Sha256>(32), digest)
                    }
                    (Padding::Pss, Hash::Sha384) => {
                        k.sign_with_rng(&mut OsRng, Pss::new_with_salt::<Sha384>(48), digest)
                    }
                    (Padding::Pss, Hash::Sha512) => {
                        k.sign_with_rng(&mut OsRng, Pss::new_with_salt::<Sha512>(64), digest)
                    }
                };
                result.map_err(|e| e.to_string())
            }
            (KeyPair::Rsa(_), _) => Err("an RSA key cannot sign with an EC algorithm".into()),
        }
    }
}

/// Checks `signature` over `message` with a SubjectPublicKeyInfo PEM, as Binary Authorization
/// does for a PKIX attestor key. Any parse failure is a failed verification.
pub fn verify_pem(alg: Algorithm, pem: &str, message: &[u8], signature: &[u8]) -> bool {
    use p256::ecdsa::signature::Verifier;
    match alg {
        Algorithm::EcP256 => {
            let (Ok(key), Ok(sig)) = (
                p256::ecdsa::VerifyingKey::from_public_key_pem(pem),
                p256::ecdsa::Signature::from_der(signature),
            ) else {
                return false;
            };
            key.verify(message, &sig).is_ok()
        }
        Algorithm::EcP384 => {
            let (Ok(key), Ok(sig)) = (
                p384::ecdsa::VerifyingKey::from_public_key_pem(pem),
                p384::ecdsa::Signature::from_der(signature),
            ) else {
                return false;
            };
            key.verify(message, &sig).is_ok()
        }
        Algorithm::Rsa { padding, hash, .. } => {
            let Ok(key) = RsaPublicKey::from_public_key_pem(pem) else {
                return false;
            };
            let digest = hash.digest(message);
            let result = match (padding, hash) {
                (Padding::Pkcs1, Hash::Sha256) => {
                    key.verify(Pkcs1v15Sign::new::<Sha256>(), &digest, signature)
                }
                (Padding::Pkcs1, Hash::Sha384) => {
                    key.verify(Pkcs1v15Sign::new::<Sha384>(), &digest, signature)
                }
                (Padding::Pkcs1, Hash::Sha512) => {
                    key.verify(Pkcs1v15Sign::new::<Sha512>(), &digest, signature)
                }
                (Padding::Pss, Hash::Sha256) => {
                    key.verify(Pss::new::<Sha256>(), &digest, signature)
                }
                (Padding::Pss, Hash::Sha384) => {
                    key.verify(Pss::new::<Sha384>(), &digest, signature)
                }
                (Padding::Pss, Hash::Sha512) => {
                    key.verify(Pss::new::<Sha512>(), &digest, signature)
                }
            };
            result.is_ok()
        }
    }
}

/// The DER SubjectPublicKeyInfo inside a PEM, for server-assigned key ids.
pub fn spki_der(pem: &str) -> Option<Vec<u8>> {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(body.trim())
        .ok()
}

/// Verifies an RS256 JWT signature (service-account assertions) with an RSA public key.
pub fn verify_rs256(public: &RsaPublicKey, signed: &[u8], signature: &[u8]) -> bool {
    public
        .verify(
            Pkcs1v15Sign::new::<Sha256>(),
            &Sha256::digest(signed),
            signature,
        )
        .is_ok()
}

/// Signs an RS256 JWT (the ID tokens the token endpoint answers with).
pub fn sign_rs256(key: &RsaPrivateKey, signed: &[u8]) -> Vec<u8> {
    key.sign(Pkcs1v15Sign::new::<Sha256>(), &Sha256::digest(signed))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_algorithm_signs_a_digest_that_verifies_over_the_message() {
        for (kms, _, alg) in NAMES.iter().filter(|(_, _, a)| {
            !matches!(
                a,
                Algorithm::Rsa {
                    bits: 3072 | 4096,
                    ..
                }
            )
        }) {
            let key = KeyPair::generate(*alg).unwrap();
            let message = b"payload";
            let sig = key.sign_digest(*alg, &alg.hash().digest(message)).unwrap();
            assert!(verify_pem(*alg, &key.public_pem(), message, &sig), "{kms}");
            assert!(
                !verify_pem(*alg, &key.public_pem(), b"other", &sig),
                "{kms}"
            );
        }
    }

    #[test]
    fn binauthz_names_accept_legacy_and_kms_aliases() {
        assert_eq!(
            Algorithm::from_binauthz("ECDSA_P256_SHA256"),
            Some(Algorithm::EcP256)
        );
        assert_eq!(
            Algorithm::from_binauthz("EC_SIGN_P256_SHA256"),
            Some(Algorithm::EcP256)
        );
        assert_eq!(
            Algorithm::from_binauthz("RSA_PSS_2048_SHA256"),
            Algorithm::from_kms("RSA_SIGN_PSS_2048_SHA256")
        );
        assert_eq!(Algorithm::from_kms("ECDSA_P256_SHA256"), None);
    }
}
