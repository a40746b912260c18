//! The one seam between the sign pipeline and whatever holds the private key: "sign these
//! payload bytes; here is my public key and algorithm, and here is the entry (and so the key
//! id) the attestor files me under". Cloud KMS is the implementation today; a local PKIX key
//! and a PGP key plug in here without the pipeline changing.

pub mod kms;
pub mod pkix;

use std::future::Future;
use std::pin::Pin;

use crate::error::Result;
use crate::model::{Attestor, PublicKey, TrustedKey};

/// A boxed future, so signers of different kinds can sit behind one `dyn Signer`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Something that signs attestation payloads.
pub trait Signer: Send + Sync {
    /// The key as outputs and messages name it (a KMS key version name, a key file).
    fn key_name(&self) -> String;

    /// The public key and its algorithm, for the attestor match and the local check. A remote
    /// signer reads it here, beside the run's other lookups.
    fn public_key(&self) -> BoxFuture<'_, Result<PublicKey>>;

    /// The attestor's entry for this key (its id is what signatures are filed under) and the
    /// key as it will sign (the algorithm the entry declares), or the error that says how to
    /// make the attestor trust it. Fails closed: an attestation the attestor cannot verify is
    /// never written.
    fn entry_in<'a>(
        &self,
        attestor: &'a Attestor,
        key: &PublicKey,
    ) -> Result<(&'a TrustedKey, PublicKey)>;

    /// The signature over `payload` by the key whose public half is `key`.
    fn sign<'a>(&'a self, key: &'a PublicKey, payload: &'a [u8]) -> BoxFuture<'a, Result<Vec<u8>>>;
}
