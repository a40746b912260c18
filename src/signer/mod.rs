//! The one seam between the sign pipeline and whatever holds the private key: "sign these
//! payload bytes; here is my public key and algorithm, and here is the entry (and so the key
//! id) the attestor files me under". Cloud KMS, a local PKIX key, a cosign key file and a local
//! OpenPGP key plug in here without the pipeline changing.

pub mod cosign_key;
pub mod kms;
pub mod pgp;
pub mod pkix;

use std::future::Future;
use std::pin::Pin;

use crate::error::{Error, Result};
use crate::model::{Attestor, PublicKey, TrustedKey};
use crate::openpgp::PgpKey;

/// The public half a signer signs as: what the attestor must hold and what checks the signature
/// locally before anything is written.
#[derive(Debug, Clone)]
pub enum SignerKey {
    /// A PKIX key and its algorithm (Cloud KMS, `--pkix-private-key`): a raw signature.
    Pkix(PublicKey),
    /// An OpenPGP key (`--pgp-private-key`): an attached signature that carries the payload.
    Pgp {
        /// The ASCII-armored public key.
        armored: String,
        /// Its upper-case V4 fingerprint.
        fingerprint: String,
    },
}

impl SignerKey {
    /// True when `signature` is one by this key over exactly `payload`.
    pub fn verifies(&self, payload: &[u8], signature: &[u8]) -> bool {
        match self {
            SignerKey::Pkix(key) => key.verifies(payload, signature),
            SignerKey::Pgp { armored, .. } => PgpKey::parse(armored)
                .and_then(|key| key.verified_content(signature))
                .is_ok_and(|content| content == payload),
        }
    }

    /// The PKIX key, for signers that only ever hold one.
    pub fn pkix(&self) -> Result<&PublicKey> {
        match self {
            SignerKey::Pkix(key) => Ok(key),
            SignerKey::Pgp { fingerprint, .. } => Err(Error::Setup(format!(
                "OpenPGP key {fingerprint} given to a PKIX signer"
            ))),
        }
    }
}

/// A boxed future, so signers of different kinds can sit behind one `dyn Signer`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Something that signs attestation payloads.
pub trait Signer: Send + Sync {
    /// The key as outputs and messages name it (a KMS key version name, a key file).
    fn key_name(&self) -> String;

    /// The public key and its algorithm, for the attestor match and the local check. A remote
    /// signer reads it here, beside the run's other lookups.
    fn public_key(&self) -> BoxFuture<'_, Result<SignerKey>>;

    /// The attestor's entry for this key (its id is what signatures are filed under) and the
    /// key as it will sign (the algorithm the entry declares), or the error that says how to
    /// make the attestor trust it. Fails closed: an attestation the attestor cannot verify is
    /// never written.
    fn entry_in<'a>(
        &self,
        attestor: &'a Attestor,
        key: &SignerKey,
    ) -> Result<(&'a TrustedKey, SignerKey)>;

    /// The signature over `payload` by the key whose public half is `key`.
    fn sign<'a>(&'a self, key: &'a SignerKey, payload: &'a [u8]) -> BoxFuture<'a, Result<Vec<u8>>>;
}
