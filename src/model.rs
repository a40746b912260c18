//! The domain: attestors, their trusted keys, filed attestations and public keys, as plain values
//! that know no network. `gcp/` converts Google's answers into these; the judgement
//! (`attestation.rs`) and the commands work on them alone, so they can be tested from literals.

use crate::algorithm::{same_public_key, SigningAlgorithm};
use crate::names::{AttestorName, KeyVersionName, NoteName};

/// A public key and the algorithm it signs with: what a signer holds and what checks a signature.
#[derive(Debug, Clone)]
pub struct PublicKey {
    /// SubjectPublicKeyInfo PEM (`-----BEGIN PUBLIC KEY-----`).
    pub pem: String,
    /// The algorithm signatures by this key use.
    pub algorithm: SigningAlgorithm,
}

impl PublicKey {
    /// True when `signature` over `message` verifies under this key.
    pub fn verifies(&self, message: &[u8], signature: &[u8]) -> bool {
        self.algorithm.verifies(&self.pem, message, signature)
    }
}

/// One key an attestor trusts: the exact id signatures must be filed under, and the key itself:
/// a PKIX key (PEM and algorithm) or an OpenPGP key.
#[derive(Debug, Clone)]
pub struct TrustedKey {
    /// The id Binary Authorization matches `publicKeyId` against, byte for byte.
    pub id: String,
    /// The PKIX public key, when the entry is one.
    pub pem: Option<String>,
    /// The declared `signatureAlgorithm`, when it is one we know.
    pub algorithm: Option<SigningAlgorithm>,
    /// The ASCII-armored OpenPGP public key, for a PGP entry (its id is the fingerprint).
    pub pgp: Option<String>,
}

impl TrustedKey {
    /// The entry as a checkable key: PKIX with a known algorithm.
    pub fn public_key(&self) -> Option<PublicKey> {
        Some(PublicKey {
            pem: self.pem.clone()?,
            algorithm: self.algorithm?,
        })
    }

    /// True when this entry holds `key`: the same SubjectPublicKeyInfo, and the same algorithm
    /// when the entry declares one.
    pub fn holds(&self, key: &PublicKey) -> bool {
        self.pem
            .as_deref()
            .is_some_and(|pem| same_public_key(pem, &key.pem))
            && self.algorithm.is_none_or(|a| a == key.algorithm)
    }
}

/// An attestor: the note its attestations hang from and the keys admission accepts.
#[derive(Debug, Clone)]
pub struct Attestor {
    /// `projects/P/attestors/A`.
    pub name: AttestorName,
    /// The Container Analysis note attestations are filed under.
    pub note: NoteName,
    /// The trusted keys, in the attestor's order.
    pub keys: Vec<TrustedKey>,
}

impl Attestor {
    /// The entry naming this KMS key version, matched by version name because the id's host
    /// part depends on the KMS endpoint gcloud used when adding it.
    pub fn key_for_version(&self, version: &KeyVersionName) -> Option<&TrustedKey> {
        self.keys.iter().find(|k| version.is_named_by(&k.id))
    }

    /// The entry whose PKIX key is `key`, whatever its id (`ni:///sha-256;...` for keys added
    /// from a PEM file, any URI an admin chose).
    pub fn key_holding(&self, key: &PublicKey) -> Option<&TrustedKey> {
        self.keys.iter().find(|k| k.holds(key))
    }

    /// The entry with exactly this id.
    pub fn key(&self, id: &str) -> Option<&TrustedKey> {
        self.keys.iter().find(|k| k.id == id)
    }
}

/// An ATTESTATION occurrence as filed: for which resource, the signed bytes and the signatures.
#[derive(Debug, Clone)]
pub struct Attestation {
    /// The occurrence name, `projects/P/occurrences/ID`.
    pub name: String,
    /// The resource it is filed for, as written (with or without `https://`).
    pub resource_uri: String,
    /// The serialized payload the signatures cover.
    pub payload: Vec<u8>,
    /// `(publicKeyId, signature bytes)` pairs.
    pub signatures: Vec<(String, Vec<u8>)>,
    /// Compact JWTs, the other form an attestation may take.
    pub jwts: Vec<String>,
}
