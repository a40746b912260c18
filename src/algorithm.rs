//! Signature algorithms as KMS and Binary Authorization name them, and the local check of a
//! signature against a PEM public key, done before anything is written.

use aws_lc_rs::signature::{self, ParsedPublicKey, VerificationAlgorithm};
use sha2::{Digest as _, Sha256, Sha384, Sha512};

/// The digest KMS expects for a key (`digest.sha256` etc.).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hash {
    /// SHA-256 (EC P-256 and most RSA keys).
    Sha256,
    /// SHA-384 (EC P-384).
    Sha384,
    /// SHA-512 (the `_SHA512` RSA keys).
    Sha512,
}

impl Hash {
    /// The hash of `data`.
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            Hash::Sha256 => Sha256::digest(data).to_vec(),
            Hash::Sha384 => Sha384::digest(data).to_vec(),
            Hash::Sha512 => Sha512::digest(data).to_vec(),
        }
    }
}

/// An asymmetric signing algorithm Binary Authorization can check.
#[derive(Clone, Copy)]
pub struct SigningAlgorithm {
    /// The KMS name, e.g. `EC_SIGN_P256_SHA256`.
    pub kms_name: &'static str,
    /// Binary Authorization's legacy name, which gcloud writes on attestors.
    pub binauthz_name: &'static str,
    /// The hash signed: what KMS is sent.
    pub hash: Hash,
    verifier: &'static dyn VerificationAlgorithm,
    /// How a local private key signs with it.
    pub signing: Signing,
}

/// The signing half of an algorithm, for keys held locally (`--pkix-private-key`).
#[derive(Clone, Copy)]
pub enum Signing {
    /// ECDSA with an ASN.1 DER signature, as KMS returns and Binary Authorization checks.
    Ecdsa(&'static signature::EcdsaSigningAlgorithm),
    /// RSA with PKCS#1 v1.5 or PSS padding.
    Rsa(&'static dyn signature::RsaEncoding),
}

/// The KMS name identifies an algorithm.
impl PartialEq for SigningAlgorithm {
    fn eq(&self, other: &Self) -> bool {
        self.kms_name == other.kms_name
    }
}
impl Eq for SigningAlgorithm {}

impl std::fmt::Debug for SigningAlgorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.kms_name)
    }
}

const fn alg(
    kms_name: &'static str,
    binauthz_name: &'static str,
    hash: Hash,
    verifier: &'static dyn VerificationAlgorithm,
    signing: Signing,
) -> SigningAlgorithm {
    SigningAlgorithm {
        kms_name,
        binauthz_name,
        hash,
        verifier,
        signing,
    }
}

const ALGORITHMS: &[SigningAlgorithm] = &[
    // Binary Authorization accepts P-521 PKIX keys; KMS has no such key, so its "KMS name" is
    // ours and never matches a KMS answer.
    alg(
        "EC_SIGN_P521_SHA512",
        "ECDSA_P521_SHA512",
        Hash::Sha512,
        &signature::ECDSA_P521_SHA512_ASN1,
        Signing::Ecdsa(&signature::ECDSA_P521_SHA512_ASN1_SIGNING),
    ),
    alg(
        "EC_SIGN_P256_SHA256",
        "ECDSA_P256_SHA256",
        Hash::Sha256,
        &signature::ECDSA_P256_SHA256_ASN1,
        Signing::Ecdsa(&signature::ECDSA_P256_SHA256_ASN1_SIGNING),
    ),
    alg(
        "EC_SIGN_P384_SHA384",
        "ECDSA_P384_SHA384",
        Hash::Sha384,
        &signature::ECDSA_P384_SHA384_ASN1,
        Signing::Ecdsa(&signature::ECDSA_P384_SHA384_ASN1_SIGNING),
    ),
    alg(
        "RSA_SIGN_PKCS1_2048_SHA256",
        "RSA_SIGN_PKCS1_2048_SHA256",
        Hash::Sha256,
        &signature::RSA_PKCS1_2048_8192_SHA256,
        Signing::Rsa(&signature::RSA_PKCS1_SHA256),
    ),
    alg(
        "RSA_SIGN_PKCS1_3072_SHA256",
        "RSA_SIGN_PKCS1_3072_SHA256",
        Hash::Sha256,
        &signature::RSA_PKCS1_2048_8192_SHA256,
        Signing::Rsa(&signature::RSA_PKCS1_SHA256),
    ),
    alg(
        "RSA_SIGN_PKCS1_4096_SHA256",
        "RSA_SIGN_PKCS1_4096_SHA256",
        Hash::Sha256,
        &signature::RSA_PKCS1_2048_8192_SHA256,
        Signing::Rsa(&signature::RSA_PKCS1_SHA256),
    ),
    alg(
        "RSA_SIGN_PKCS1_4096_SHA512",
        "RSA_SIGN_PKCS1_4096_SHA512",
        Hash::Sha512,
        &signature::RSA_PKCS1_2048_8192_SHA512,
        Signing::Rsa(&signature::RSA_PKCS1_SHA512),
    ),
    alg(
        "RSA_SIGN_PSS_2048_SHA256",
        "RSA_PSS_2048_SHA256",
        Hash::Sha256,
        &signature::RSA_PSS_2048_8192_SHA256,
        Signing::Rsa(&signature::RSA_PSS_SHA256),
    ),
    alg(
        "RSA_SIGN_PSS_3072_SHA256",
        "RSA_PSS_3072_SHA256",
        Hash::Sha256,
        &signature::RSA_PSS_2048_8192_SHA256,
        Signing::Rsa(&signature::RSA_PSS_SHA256),
    ),
    alg(
        "RSA_SIGN_PSS_4096_SHA256",
        "RSA_PSS_4096_SHA256",
        Hash::Sha256,
        &signature::RSA_PSS_2048_8192_SHA256,
        Signing::Rsa(&signature::RSA_PSS_SHA256),
    ),
    alg(
        "RSA_SIGN_PSS_4096_SHA512",
        "RSA_PSS_4096_SHA512",
        Hash::Sha512,
        &signature::RSA_PSS_2048_8192_SHA512,
        Signing::Rsa(&signature::RSA_PSS_SHA512),
    ),
];

impl SigningAlgorithm {
    /// A KMS algorithm name; None for algorithms that cannot sign attestations.
    pub fn from_kms(name: &str) -> Option<SigningAlgorithm> {
        ALGORITHMS.iter().find(|a| a.kms_name == name).copied()
    }

    /// An attestor key's `signatureAlgorithm`: the legacy name or its KMS-style alias.
    pub fn from_binauthz(name: &str) -> Option<SigningAlgorithm> {
        ALGORITHMS
            .iter()
            .find(|a| a.binauthz_name == name || a.kms_name == name)
            .copied()
    }

    /// Every algorithm, for diagnosing a signature made with another one than declared.
    pub fn all() -> impl Iterator<Item = SigningAlgorithm> {
        ALGORITHMS.iter().copied()
    }

    /// True when `signature` over `message` verifies with the SubjectPublicKeyInfo `pem`.
    pub fn verifies(&self, pem: &str, message: &[u8], signature: &[u8]) -> bool {
        let Some(der) = pem_to_der(pem) else {
            return false;
        };
        ParsedPublicKey::new(self.verifier, der)
            .is_ok_and(|key| key.verify_sig(message, signature).is_ok())
    }
}

impl SigningAlgorithm {
    /// True when the SubjectPublicKeyInfo `pem` is a key of this algorithm's kind (EC on its
    /// curve, or RSA; an RSA key's size is left to Binary Authorization, which checks it).
    pub fn fits(&self, pem: &str) -> bool {
        pem_to_der(pem).is_some_and(|der| ParsedPublicKey::new(self.verifier, der).is_ok())
    }
}

/// The DER bytes of the `PUBLIC KEY` block of a PEM.
fn pem_to_der(pem: &str) -> Option<Vec<u8>> {
    crate::pem::public_key_der(pem)
}

/// Two PEMs hold the same key, whatever their line wrapping.
pub fn same_public_key(a: &str, b: &str) -> bool {
    matches!((pem_to_der(a), pem_to_der(b)), (Some(x), Some(y)) if x == y)
}

#[cfg(test)]
mod tests {
    use super::*;

    // A P-256 key and an ECDSA signature over "payload", made with openssl:
    //   openssl ecparam -name prime256v1 -genkey -noout -out k.pem
    //   openssl ec -in k.pem -pubout; printf payload | openssl dgst -sha256 -sign k.pem | base64 -w0
    const PEM: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE7f0siQ+L9UjNPqs+p/cMascxsqEQ
CPyWa7OOXgR3RJnXPTSAWnF5iGc7GsM05GsSRvWTZPkT/y7N8SvhEwJUwg==
-----END PUBLIC KEY-----
";
    const SIG: &str = "MEQCIB0MxQgS6zYQmsnKhxgoqfNhoa10BiQ6v/anU0xP+nwGAiABiaL3VStRafgC7b63KCm89GWVtpJtv9D5r61BohdXzA==";

    #[test]
    fn an_openssl_signature_verifies_and_a_tampered_message_does_not() {
        use base64::Engine;
        let sig = base64::engine::general_purpose::STANDARD
            .decode(SIG)
            .unwrap();
        let alg = SigningAlgorithm::from_kms("EC_SIGN_P256_SHA256").unwrap();
        assert!(alg.verifies(PEM, b"payload", &sig));
        assert!(!alg.verifies(PEM, b"payloaD", &sig));
        let wrong = SigningAlgorithm::from_kms("RSA_SIGN_PKCS1_2048_SHA256").unwrap();
        assert!(!wrong.verifies(PEM, b"payload", &sig));
    }

    #[test]
    fn names_map_both_ways() {
        assert_eq!(
            SigningAlgorithm::from_binauthz("ECDSA_P256_SHA256"),
            SigningAlgorithm::from_kms("EC_SIGN_P256_SHA256")
        );
        assert_eq!(
            SigningAlgorithm::from_binauthz("RSA_SIGN_PSS_2048_SHA256")
                .unwrap()
                .binauthz_name,
            "RSA_PSS_2048_SHA256"
        );
        assert_eq!(
            SigningAlgorithm::from_kms("GOOGLE_SYMMETRIC_ENCRYPTION"),
            None
        );
    }
}
