//! A PKIX private key the team holds (a CI secret file, Vault, an air-gapped host), read from a
//! PEM file: PKCS#8, SEC1 (`EC PRIVATE KEY`) or PKCS#1 (`RSA PRIVATE KEY`). The algorithm is the
//! one the attestor declares for the matching public key, or `--signature-algorithm`. The key
//! never leaves this process and is never printed: errors name the file, not its content.

use std::sync::Arc;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, EcdsaSigningAlgorithm, KeyPair, RsaKeyPair};

use super::{BoxFuture, Signer, SignerKey};
use crate::algorithm::{Signing, SigningAlgorithm};
use crate::error::{Error, Result};
use crate::model::{Attestor, PublicKey, TrustedKey};

/// The parsed private key.
enum Key {
    /// The key and its curve as Binary Authorization names it (`P256`, `P384`, `P521`): the
    /// key signs with that curve's one algorithm.
    Ec(EcdsaKeyPair, &'static str),
    Rsa(RsaKeyPair),
}

/// Signs with a local PKIX key.
pub struct PkixSigner {
    path: String,
    /// The flag that named the key, for messages.
    flag: &'static str,
    /// Shared with the blocking threads that sign.
    key: Arc<Key>,
    /// SubjectPublicKeyInfo PEM of the key, to find it on the attestor.
    public_pem: String,
    /// `--signature-algorithm`, when given.
    algorithm: Option<SigningAlgorithm>,
}

impl std::fmt::Debug for PkixSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("PkixSigner")
            .field("path", &self.path)
            .finish()
    }
}

impl PkixSigner {
    /// Reads the key file. `algorithm` is `--signature-algorithm`, when given.
    pub fn load(path: &std::path::Path, algorithm: Option<SigningAlgorithm>) -> Result<PkixSigner> {
        let shown = path.display().to_string();
        let bad = |reason: &str| {
            Error::Usage(format!(
                "--pkix-private-key {shown}: {reason}; give an unencrypted PEM private key (PKCS#8 `PRIVATE KEY`, `EC PRIVATE KEY` or `RSA PRIVATE KEY`)"
            ))
        };
        let text = crate::bounded::read_to_string(path, crate::bounded::KEY_FILE)
            .map_err(|e| bad(&format!("cannot be read ({})", e.kind())))?;
        let wanted = ["PRIVATE KEY", "EC PRIVATE KEY", "RSA PRIVATE KEY"];
        let (label, der) = crate::pem::preferred_block(&text, &wanted)
            .map_err(|e| bad(&e))?
            .ok_or_else(|| bad("holds no PEM block"))?;
        let key = match label.as_str() {
            "PRIVATE KEY" | "EC PRIVATE KEY" => pkcs8_or_sec1(&der, label == "PRIVATE KEY")
                .ok_or_else(|| bad("is not an EC P-256/P-384/P-521 or RSA 2048-8192 key"))?,
            "RSA PRIVATE KEY" => RsaKeyPair::from_der(&der)
                .map(Key::Rsa)
                .map_err(|_| bad("is not an RSA 2048-8192 key"))?,
            "ENCRYPTED PRIVATE KEY" => return Err(bad("is encrypted")),
            "ENCRYPTED SIGSTORE PRIVATE KEY" | "ENCRYPTED COSIGN PRIVATE KEY" => {
                return Err(bad("is a cosign key file: pass it as --cosign-private-key"))
            }
            _ => return Err(bad(&format!("holds a `{label}` block"))),
        };
        PkixSigner::from_key(shown.clone(), "--pkix-private-key", key, algorithm)
            .map_err(|r| bad(&r))
    }

    /// A signer from a PKCS#8 private key held in memory (a decrypted cosign key); `shown` and
    /// `flag` name it in messages.
    pub fn from_pkcs8(
        shown: &str,
        flag: &'static str,
        der: &[u8],
        algorithm: Option<SigningAlgorithm>,
    ) -> Result<PkixSigner> {
        let bad = |reason: &str| Error::Usage(format!("{flag} {shown}: {reason}"));
        let key = pkcs8_or_sec1(der, true).ok_or_else(|| {
            bad("holds no EC P-256/P-384/P-521 or RSA 2048-8192 key (Binary Authorization and cosign share only those)")
        })?;
        PkixSigner::from_key(shown.to_string(), flag, key, algorithm).map_err(|r| bad(&r))
    }

    fn from_key(
        shown: String,
        flag: &'static str,
        key: Key,
        algorithm: Option<SigningAlgorithm>,
    ) -> std::result::Result<PkixSigner, String> {
        let spki = match &key {
            Key::Ec(k, _) => k.public_key().as_der().map(|d| d.as_ref().to_vec()),
            Key::Rsa(k) => k.public_key().as_der().map(|d| d.as_ref().to_vec()),
        }
        .map_err(|_| "its public key cannot be encoded".to_string())?;
        Ok(PkixSigner {
            path: shown,
            flag,
            key: Arc::new(key),
            public_pem: to_pem(&spki),
            algorithm,
        })
    }

    /// Whether `algorithm` can sign with this key (curve and key type).
    fn fits(&self, algorithm: SigningAlgorithm) -> bool {
        match (&*self.key, algorithm.signing) {
            (Key::Ec(_, curve), Signing::Ecdsa(_)) => algorithm
                .binauthz_name
                .strip_prefix("ECDSA_")
                .is_some_and(|rest| rest.starts_with(curve)),
            (Key::Rsa(_), Signing::Rsa(_)) => true,
            _ => false,
        }
    }
}

/// The key of `der`: EC (PKCS#8 or SEC1), or RSA when `pkcs8` says the DER may be PKCS#8 RSA.
fn pkcs8_or_sec1(der: &[u8], pkcs8: bool) -> Option<Key> {
    ec_key(der)
        .map(|(pair, alg)| Key::Ec(pair, alg))
        .or_else(|| {
            pkcs8
                .then(|| RsaKeyPair::from_pkcs8(der).ok())
                .flatten()
                .map(Key::Rsa)
        })
}

/// The EC key of `der` (PKCS#8 or SEC1) on the curve that takes it, with that curve's
/// algorithm.
fn ec_key(der: &[u8]) -> Option<(EcdsaKeyPair, &'static str)> {
    use aws_lc_rs::signature::{
        ECDSA_P256_SHA256_ASN1_SIGNING, ECDSA_P384_SHA384_ASN1_SIGNING,
        ECDSA_P521_SHA512_ASN1_SIGNING,
    };
    let curves: [(&'static EcdsaSigningAlgorithm, &str); 3] = [
        (&ECDSA_P256_SHA256_ASN1_SIGNING, "P256"),
        (&ECDSA_P384_SHA384_ASN1_SIGNING, "P384"),
        (&ECDSA_P521_SHA512_ASN1_SIGNING, "P521"),
    ];
    curves.into_iter().find_map(|(alg, curve)| {
        EcdsaKeyPair::from_private_key_der(alg, der)
            .ok()
            .map(|pair| (pair, curve))
    })
}

fn to_pem(spki: &[u8]) -> String {
    crate::pem::encode("PUBLIC KEY", spki)
}

impl Signer for PkixSigner {
    fn key_name(&self) -> String {
        self.path.clone()
    }

    fn public_key(&self) -> BoxFuture<'_, Result<SignerKey>> {
        // The algorithm is settled against the attestor's entry in `entry_in`; until then, any
        // algorithm that fits the key stands in.
        let provisional = self
            .algorithm
            .or_else(|| SigningAlgorithm::all().find(|a| self.fits(*a)));
        let key = provisional
            .map(|algorithm| {
                SignerKey::Pkix(PublicKey {
                    pem: self.public_pem.clone(),
                    algorithm,
                })
            })
            .ok_or_else(|| {
                Error::Usage(format!(
                    "{} {}: no signature algorithm Binary Authorization accepts fits this key",
                    self.flag, self.path
                ))
            });
        Box::pin(async move { key })
    }

    fn entry_in<'a>(
        &self,
        attestor: &'a Attestor,
        key: &SignerKey,
    ) -> Result<(&'a TrustedKey, SignerKey)> {
        let key = key.pkix()?;
        let same_key = |k: &&TrustedKey| {
            k.pem
                .as_deref()
                .is_some_and(|pem| crate::algorithm::same_public_key(pem, &key.pem))
        };
        let entry = attestor.keys.iter().find(same_key).ok_or_else(|| {
            Error::KeyNotTrustedByAttestor {
                attestor: attestor.name.to_string(),
                key: format!("the PKIX key in {}", self.path),
                // Its public half straight from the private key file (bash process
                // substitution): no file is written, and setup picks the algorithm itself.
                command: format!(
                    "binauthz-attest setup --attestor {} --pkix-public-key <(openssl pkey -in {} -pubout)",
                    attestor.name, self.path
                ),
            }
        })?;
        // The attestor's declared algorithm is what admission checks with; a flag that says
        // otherwise would write an attestation that never verifies.
        let algorithm = match (self.algorithm, entry.algorithm) {
            (Some(flag), Some(declared)) if flag != declared => {
                return Err(Error::Usage(format!(
                    "--signature-algorithm {} differs from {}, which attestor {} declares for key {}: drop the flag or fix the attestor",
                    flag.binauthz_name, declared.binauthz_name, attestor.name, entry.id
                )))
            }
            (_, Some(declared)) => declared,
            (Some(flag), None) => flag,
            (None, None) => {
                return Err(Error::Usage(format!(
                    "attestor {} declares no signature algorithm for key {}: pass --signature-algorithm",
                    attestor.name, entry.id
                )))
            }
        };
        if !self.fits(algorithm) {
            return Err(Error::AttestorKeyMismatch {
                attestor: attestor.name.to_string(),
                key_id: entry.id.clone(),
                key: self.path.clone(),
            });
        }
        let signing_key = PublicKey {
            pem: key.pem.clone(),
            algorithm,
        };
        Ok((entry, SignerKey::Pkix(signing_key)))
    }

    fn sign<'a>(&'a self, key: &'a SignerKey, payload: &'a [u8]) -> BoxFuture<'a, Result<Vec<u8>>> {
        let signing = match key.pkix() {
            Ok(key) => key.algorithm.signing,
            Err(e) => return Box::pin(async move { Err(e) }),
        };
        // On a blocking thread: RSA signing takes milliseconds, and a batch's signatures then
        // run side by side instead of one after another on the runtime.
        let (key, payload, path) = (Arc::clone(&self.key), payload.to_vec(), self.path.clone());
        Box::pin(async move {
            let failed = || Error::Setup(format!("signing with {path} failed"));
            tokio::task::spawn_blocking(move || sign_with(&key, signing, &payload))
                .await
                .map_err(|_| failed())?
                .ok_or_else(failed)
        })
    }
}

/// The raw signature over `payload` by `key`, under the algorithm the attestor declared; `None`
/// when the two do not fit or the key fails.
fn sign_with(key: &Key, signing: Signing, payload: &[u8]) -> Option<Vec<u8>> {
    let rng = SystemRandom::new();
    match (key, signing) {
        (Key::Ec(k, _), Signing::Ecdsa(_)) => {
            k.sign(&rng, payload).ok().map(|s| s.as_ref().to_vec())
        }
        (Key::Rsa(k), Signing::Rsa(padding)) => {
            let mut out = vec![0; k.public_modulus_len()];
            k.sign(padding, &rng, payload, &mut out).ok().map(|()| out)
        }
        _ => None,
    }
}
