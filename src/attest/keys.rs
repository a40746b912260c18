//! Attestor key entries, for `setup` and `rotate`: a KMS key version (gcloud's id form) or a key
//! the team holds, given by its public half: a PKIX PEM (Binary Authorization assigns the
//! `ni:///sha-256;...` id) or an ASCII-armored OpenPGP key (the id is its fingerprint). Both as
//! `gcloud container binauthz attestors public-keys add` files them
//! (<https://cloud.google.com/binary-authorization/docs/creating-attestors-cli>).

use std::path::Path;

use crate::algorithm::{same_public_key, SigningAlgorithm};
use crate::error::{Error, Result};
use crate::model::TrustedKey;
use crate::names::{AttestorName, KeyVersionName};
use crate::openpgp::PgpKey;

/// A key entry for the attestor: the entry to add, how to recognise it among the attestor's
/// keys, and how messages name it.
pub struct Entry {
    /// The entry to add; its id is empty where Binary Authorization assigns it.
    pub key: TrustedKey,
    /// True for the attestor entry that holds this key.
    pub holds: Box<dyn Fn(&TrustedKey) -> bool + Send + Sync>,
    /// The key as messages name it.
    pub shown: String,
}

/// A KMS version's entry, under gcloud's id form (`//<KMS host>/v1/<version>`, ARCHITECTURE.md
/// "Key ids"). An entry matches by version name: the host of an id added by another tool may
/// be another endpoint's.
pub fn kms_entry(
    kms_host: &str,
    version: &str,
    pem: Option<&str>,
    algorithm: SigningAlgorithm,
) -> Entry {
    let key_id = format!("//{kms_host}/v1/{version}");
    let named = KeyVersionName::parse(version).ok();
    Entry {
        key: TrustedKey {
            id: key_id.clone(),
            pem: Some(pem.unwrap_or_default().to_string()),
            algorithm: Some(algorithm),
            pgp: None,
        },
        holds: Box::new(move |k: &TrustedKey| named.as_ref().is_some_and(|v| v.is_named_by(&k.id))),
        shown: key_id,
    }
}

/// The public half of a key the team holds.
pub enum LocalKey {
    /// A PKIX key: its SubjectPublicKeyInfo PEM and the algorithm it signs with.
    Pkix {
        /// The file, as given.
        path: String,
        /// The PEM as read.
        pem: String,
        /// The signature algorithm the attestor declares for it.
        algorithm: SigningAlgorithm,
    },
    /// An OpenPGP key.
    Pgp {
        /// The file, as given.
        path: String,
        /// The armored key as read.
        armored: String,
        /// Its upper-case V4 fingerprint: the id Binary Authorization files it under.
        fingerprint: String,
    },
}

impl LocalKey {
    /// A PEM public key file, with `--algorithm` when given: EC keys default to their curve's
    /// one algorithm; RSA keys need it (the padding and hash are not in the key).
    pub fn pkix(path: &Path, algorithm: Option<&str>) -> Result<LocalKey> {
        let shown = path.display().to_string();
        let bad = |reason: String| {
            Error::Usage(format!(
                "--pkix-public-key {shown}: {reason}; give a PEM public key (openssl pkey -in KEY -pubout)"
            ))
        };
        let pem = crate::bounded::read_to_string(path, crate::bounded::KEY_FILE)
            .map_err(|e| bad(format!("cannot be read ({})", e.kind())))?;
        if !pem.contains("-----BEGIN PUBLIC KEY-----") {
            return Err(bad("holds no `PUBLIC KEY` block".into()));
        }
        let fitting: Vec<SigningAlgorithm> =
            SigningAlgorithm::all().filter(|a| a.fits(&pem)).collect();
        if fitting.is_empty() {
            return Err(bad(
                "is not an EC P-256/P-384 or RSA key Binary Authorization accepts".into(),
            ));
        }
        let algorithm = match algorithm {
            Some(name) => {
                let wanted = SigningAlgorithm::from_binauthz(
                    &name.trim().to_ascii_uppercase().replace('-', "_"),
                )
                .ok_or_else(|| {
                    Error::Usage(format!(
                        "--algorithm {name} is not a signature algorithm Binary Authorization accepts for PKIX keys (e.g. ecdsa-p256-sha256, rsa-pss-3072-sha256, rsa-sign-pkcs1-4096-sha512)"
                    ))
                })?;
                if !fitting.contains(&wanted) {
                    return Err(bad(format!("does not fit --algorithm {name}")));
                }
                wanted
            }
            None if fitting.len() == 1 => fitting[0],
            None => {
                return Err(Error::Usage(format!(
                    "--pkix-public-key {shown} is an RSA key: pass --algorithm (e.g. rsa-pss-3072-sha256, rsa-sign-pkcs1-4096-sha512), as the attestor must declare the padding and hash it signs with"
                )))
            }
        };
        Ok(LocalKey::Pkix {
            path: shown,
            pem,
            algorithm,
        })
    }

    /// An ASCII-armored OpenPGP public key file.
    pub fn pgp(path: &Path) -> Result<LocalKey> {
        let shown = path.display().to_string();
        let bad = |reason: String| {
            Error::Usage(format!(
                "--pgp-public-key {shown}: {reason}; give an ASCII-armored OpenPGP public key (gpg --armor --export FINGERPRINT)"
            ))
        };
        let armored = crate::bounded::read_to_string(path, crate::bounded::KEY_FILE)
            .map_err(|e| bad(format!("cannot be read ({})", e.kind())))?;
        if armored.contains("PRIVATE KEY BLOCK") {
            return Err(bad(
                "holds a secret key, which must never reach the attestor".into(),
            ));
        }
        let key = PgpKey::parse(&armored).map_err(bad)?;
        Ok(LocalKey::Pgp {
            path: shown,
            fingerprint: key.fingerprint(),
            armored,
        })
    }

    /// The entry to add: without an id, which Binary Authorization computes (`ni:///sha-256;`
    /// for a PKIX key added without one, the fingerprint for a PGP key).
    pub fn entry(&self) -> Entry {
        match self {
            LocalKey::Pkix {
                path,
                pem,
                algorithm,
            } => {
                let ours = pem.clone();
                Entry {
                    key: TrustedKey {
                        id: String::new(),
                        pem: Some(pem.clone()),
                        algorithm: Some(*algorithm),
                        pgp: None,
                    },
                    holds: Box::new(move |k: &TrustedKey| {
                        k.pem
                            .as_deref()
                            .is_some_and(|stored| same_public_key(stored, &ours))
                    }),
                    shown: path.clone(),
                }
            }
            LocalKey::Pgp {
                armored,
                fingerprint,
                ..
            } => {
                let ours = fingerprint.clone();
                Entry {
                    key: TrustedKey {
                        id: String::new(),
                        pem: None,
                        algorithm: None,
                        pgp: Some(armored.clone()),
                    },
                    holds: Box::new(move |k: &TrustedKey| {
                        k.pgp.is_some() && k.id.eq_ignore_ascii_case(&ours)
                    }),
                    shown: fingerprint.clone(),
                }
            }
        }
    }

    /// The id the attestor files the key under, after checking that its entry declares this
    /// key's algorithm. `held` is None when `--plan` would add it: the id is then the one
    /// Binary Authorization will assign.
    pub fn check_held(&self, held: Option<&TrustedKey>, attestor: &AttestorName) -> Result<String> {
        match (self, held) {
            (LocalKey::Pgp { fingerprint, .. }, held) => {
                Ok(held.map_or(fingerprint, |k| &k.id).to_string())
            }
            (LocalKey::Pkix { pem, .. }, None) => Ok(ni_id(pem)),
            (
                LocalKey::Pkix {
                    path, algorithm, ..
                },
                Some(k),
            ) => {
                let id = k.id.clone();
                match k.algorithm {
                    Some(d) if d != *algorithm => Err(Error::Usage(format!(
                        "attestor {attestor} holds {path} as key {id} with algorithm {}, not {}; setup never alters a key entry: pass --algorithm {}, or remove the key from the attestor and rerun",
                        d.binauthz_name,
                        algorithm.binauthz_name,
                        d.binauthz_name.to_ascii_lowercase().replace('_', "-")
                    ))),
                    _ => Ok(id),
                }
            }
        }
    }

    /// The `sign` flag for the private half.
    pub fn sign_flag(&self) -> &'static str {
        match self {
            LocalKey::Pkix { .. } => "pkix-private-key",
            LocalKey::Pgp { .. } => "pgp-private-key",
        }
    }
}

/// The id Binary Authorization gives a PKIX key added without one: `ni:///sha-256;` and the
/// unpadded base64url SHA-256 of the DER SubjectPublicKeyInfo (RFC 6920; AttestorPublicKey.id,
/// <https://cloud.google.com/binary-authorization/docs/reference/rest/v1/projects.attestors#attestorpublickey>).
pub fn ni_id(pem: &str) -> String {
    use base64::Engine;
    use sha2::Digest as _;
    let body: String = pem
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("-----"))
        .collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(body)
        .unwrap_or_default();
    format!(
        "ni:///sha-256;{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(der))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    // A P-256 public key (openssl ecparam ... | ec -pubout); its id computed with openssl:
    //   openssl pkey -pubin -outform DER | openssl dgst -sha256 -binary | base64 | tr '+/' '-_' | tr -d =
    #[test]
    fn a_cosign_pub_is_a_pkix_public_key() {
        // The public key `cosign generate-key-pair` wrote (tests/vectors/cosign/README.md).
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/vectors/cosign/cosign.pub");
        match LocalKey::pkix(&path, None).unwrap() {
            LocalKey::Pkix { algorithm, .. } => {
                assert_eq!(algorithm.binauthz_name, "ECDSA_P256_SHA256")
            }
            _ => panic!("a PKIX key"),
        }
    }

    const PEM: &str = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEEXk2pwIOoK55wFChpb1COU6uD9vX\nAPkO4cCn/MiyXHt1o15xRH2xrO5wK7xcN3axN/zOLUoenOJEZv51OlEECQ==\n-----END PUBLIC KEY-----\n";

    #[test]
    fn the_ni_id_is_the_unpadded_base64url_sha256_of_the_der_key() {
        assert_eq!(
            ni_id(PEM),
            "ni:///sha-256;qX5qKyOJ1ReqOiPEUbIdk1Y15gDdowdQFkcJb0FFdgA"
        );
    }

    #[test]
    fn an_ec_key_takes_its_curves_algorithm_and_refuses_another() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.pub");
        std::fs::write(&path, PEM).unwrap();
        match LocalKey::pkix(&path, None).unwrap() {
            LocalKey::Pkix { algorithm, .. } => {
                assert_eq!(algorithm.binauthz_name, "ECDSA_P256_SHA256")
            }
            LocalKey::Pgp { .. } => panic!("a PKIX key"),
        }
        let err = LocalKey::pkix(&path, Some("ecdsa-p384-sha384"))
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("does not fit --algorithm"), "{err}");
        let err = LocalKey::pgp(&path).err().unwrap().to_string();
        assert!(err.contains("not an OpenPGP public key"), "{err}");
    }
}
