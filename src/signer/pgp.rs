//! An OpenPGP secret key the team holds (`gpg --armor --export-secret-keys`), read from an
//! ASCII-armored file. Binary Authorization's PGP attestor keys check an attached signature that
//! carries the payload, filed under the key's upper-case V4 fingerprint: what
//! `gpg --sign payload.json` writes and
//! `gcloud container binauthz attestations create --signature-file=payload.json.gpg
//! --public-key-id=FINGERPRINT` files
//! (<https://cloud.google.com/binary-authorization/docs/making-attestations>, "Create an
//! attestation with a PGP signature"). The key and its
//! passphrase never leave this process and are never printed: errors name the file only.

use pgp::composed::{Deserializable, MessageBuilder, SignedSecretKey};
use pgp::packet::{SecretKey, SecretSubkey};
use pgp::types::{KeyDetails, Password, SecretParams, SigningKey};

use super::{BoxFuture, Signer, SignerKey};
use crate::error::{Error, Result};
use crate::model::{Attestor, TrustedKey};
use crate::openpgp::PgpKey;

/// The environment variable that holds the key's passphrase (or `--pgp-passphrase-file`).
pub const PASSPHRASE_ENV: &str = "BINAUTHZ_PGP_PASSPHRASE";

/// Which part of the key signs: the primary key, or a subkey flagged for signing when the
/// primary is not (gpg picks the same way).
enum Part {
    Primary,
    Subkey(usize),
}

/// The signing (sub)key, unlocked once at load: the passphrase is not kept, and a batch does
/// not run the key's S2K derivation once per image.
enum Unlocked {
    Primary(SecretKey),
    Subkey(SecretSubkey),
}

/// Signs with a local OpenPGP key.
pub struct PgpSigner {
    path: String,
    /// Never printed (`Debug` leaves it out); shared with the blocking threads that sign.
    key: std::sync::Arc<Unlocked>,
    /// The public half, armored, and its fingerprint: what the attestor must hold.
    public: String,
    fingerprint: String,
}

impl std::fmt::Debug for PgpSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key or the passphrase.
        f.debug_struct("PgpSigner")
            .field("path", &self.path)
            .field("fingerprint", &self.fingerprint)
            .finish()
    }
}

impl PgpSigner {
    /// Reads the armored secret key in `path` and unlocks it with `passphrase` (none: the key
    /// must be unprotected), so a wrong passphrase is named before any image is looked at.
    pub fn load(path: &std::path::Path, passphrase: Option<String>) -> Result<PgpSigner> {
        let shown = path.display().to_string();
        let bad = |reason: &str| {
            Error::Usage(format!(
                "--pgp-private-key {shown}: {reason}; give an ASCII-armored OpenPGP secret key (gpg --armor --export-secret-keys FINGERPRINT)"
            ))
        };
        let text = crate::bounded::read_to_string(path, crate::bounded::KEY_FILE)
            .map_err(|e| bad(&format!("cannot be read ({})", e.kind())))?;
        if !text.contains("-----BEGIN PGP PRIVATE KEY BLOCK-----") {
            return Err(bad("holds no `PGP PRIVATE KEY BLOCK`"));
        }
        // rpgp's parse errors may quote packet bytes: only say that it failed.
        let (key, _) = SignedSecretKey::from_string(&text)
            .map_err(|_| bad("is not a readable OpenPGP secret key"))?;
        let part = signing_part(&key).ok_or_else(|| bad("has no key that may sign"))?;
        let encrypted = match part {
            Part::Primary => key.primary_key.secret_params().is_encrypted(),
            Part::Subkey(i) => key.secret_subkeys[i].key.secret_params().is_encrypted(),
        };
        let passphrase = passphrase.unwrap_or_default();
        if encrypted && passphrase.is_empty() {
            return Err(Error::PgpPassphrase {
                key: shown,
                reason: "is protected by a passphrase and none was given".into(),
            });
        }
        let pw = Password::from(passphrase.as_str());
        drop(passphrase);
        let plain = match part {
            Part::Primary => key.primary_key.unlock(&pw, |_, p| Ok(p.clone())),
            Part::Subkey(i) => key.secret_subkeys[i].key.unlock(&pw, |_, p| Ok(p.clone())),
        };
        let Ok(Ok(plain)) = plain else {
            return Err(Error::PgpPassphrase {
                key: shown,
                reason: "cannot be unlocked with the passphrase given (it is wrong)".into(),
            });
        };
        let plain = SecretParams::Plain(plain);
        let unlocked = match part {
            Part::Primary => {
                SecretKey::new(key.primary_key.public_key().clone(), plain).map(Unlocked::Primary)
            }
            Part::Subkey(i) => {
                SecretSubkey::new(key.secret_subkeys[i].key.public_key().clone(), plain)
                    .map(Unlocked::Subkey)
            }
        }
        .map_err(|_| bad("its unlocked key cannot be rebuilt"))?;
        let public = key
            .to_public_key()
            .to_armored_string(Default::default())
            .map_err(|_| bad("its public key cannot be encoded"))?;
        let fingerprint = format!("{:X}", key.primary_key.fingerprint());
        Ok(PgpSigner {
            path: shown,
            key: std::sync::Arc::new(unlocked),
            public,
            fingerprint,
        })
    }

    /// The V4 fingerprint in upper case: the id Binary Authorization files the key under.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The attached signature over `payload`, binary, uncompressed.
    fn attached(key: &Unlocked, payload: &[u8]) -> Option<Vec<u8>> {
        let signing: &dyn SigningKey = match key {
            Unlocked::Primary(k) => k,
            Unlocked::Subkey(k) => k,
        };
        let mut builder = MessageBuilder::from_bytes("", payload.to_vec());
        builder.sign(signing, Password::empty(), signing.hash_alg());
        builder.to_vec(rand::thread_rng()).ok()
    }
}

/// The primary key when its self-signatures allow signing (or say nothing), else the first
/// subkey whose binding allows it.
fn signing_part(key: &SignedSecretKey) -> Option<Part> {
    let flags: Vec<_> = key
        .details
        .users
        .iter()
        .flat_map(|u| &u.signatures)
        .chain(&key.details.direct_signatures)
        .map(|s| s.key_flags())
        .collect();
    let silent = flags.iter().all(|f| *f == Default::default());
    let primary_signs = silent || flags.iter().any(|f| f.sign());
    if primary_signs {
        return Some(Part::Primary);
    }
    key.secret_subkeys
        .iter()
        .position(|sub| sub.signatures.iter().any(|s| s.key_flags().sign()))
        .map(Part::Subkey)
}

impl Signer for PgpSigner {
    fn key_name(&self) -> String {
        self.path.clone()
    }

    fn public_key(&self) -> BoxFuture<'_, Result<SignerKey>> {
        let key = SignerKey::Pgp {
            armored: self.public.clone(),
            fingerprint: self.fingerprint.clone(),
        };
        Box::pin(async move { Ok(key) })
    }

    fn entry_in<'a>(
        &self,
        attestor: &'a Attestor,
        key: &SignerKey,
    ) -> Result<(&'a TrustedKey, SignerKey)> {
        // Binary Authorization sets a PGP entry's id to the upper-case fingerprint; an entry
        // written another way is matched by the key it holds.
        let holds = |k: &&TrustedKey| {
            k.pgp.as_deref().is_some_and(|armored| {
                k.id.eq_ignore_ascii_case(&self.fingerprint)
                    || PgpKey::parse(armored).is_ok_and(|p| p.fingerprint() == self.fingerprint)
            })
        };
        let entry = attestor.keys.iter().find(holds).ok_or_else(|| {
            Error::KeyNotTrustedByAttestor {
                attestor: attestor.name.to_string(),
                key: format!("the OpenPGP key {} in {}", self.fingerprint, self.path),
                command: format!(
                    "binauthz-attest setup --attestor {} --pgp-public-key <(gpg --armor --export {})",
                    attestor.name, self.fingerprint
                ),
            }
        })?;
        Ok((entry, key.clone()))
    }

    fn sign<'a>(
        &'a self,
        _key: &'a SignerKey,
        payload: &'a [u8],
    ) -> BoxFuture<'a, Result<Vec<u8>>> {
        // On a blocking thread (RSA signing takes milliseconds), so a batch signs in parallel.
        let (key, payload, path) = (self.key.clone(), payload.to_vec(), self.path.clone());
        Box::pin(async move {
            let failed = || Error::Setup(format!("signing with {path} failed"));
            tokio::task::spawn_blocking(move || PgpSigner::attached(&key, &payload))
                .await
                .map_err(|_| failed())?
                .ok_or_else(failed)
        })
    }
}
