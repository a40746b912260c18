//! Attestors the webhook trusts without asking Google: files holding the JSON that `gcloud
//! container binauthz attestors describe ATTESTOR --format=json` prints (the v1 resource, or
//! beta's `userOwnedDrydockNote`). A team's own keys (a `cosign.pub` among them) are the same
//! JSON with `pkixPublicKey.publicKeyPem` entries and, when no Container Analysis note holds
//! their attestations, no `noteReference`: such an attestor is satisfied by cosign signatures
//! alone.

use serde::Deserialize;

use crate::algorithm::SigningAlgorithm;
use crate::error::{Error, Result};
use crate::model::{Attestor, TrustedKey};
use crate::names::{AttestorName, NoteName};

/// An attestor as the webhook uses it: its keys, and its note when it has one.
#[derive(Debug, Clone)]
pub struct Trusted {
    /// `projects/P/attestors/A`, as the policy names it.
    pub name: AttestorName,
    /// The note its Container Analysis attestations hang from, when it has one.
    pub note: Option<NoteName>,
    /// Its keys, in its order.
    pub keys: Vec<TrustedKey>,
    /// Where it was read: a file, or Binary Authorization.
    pub source: String,
}

impl Trusted {
    /// As `verify`'s judgement takes it, when it has a note.
    pub fn model(&self) -> Option<Attestor> {
        Some(Attestor {
            name: self.name.clone(),
            note: self.note.clone()?,
            keys: self.keys.clone(),
        })
    }

    /// An attestor read from Binary Authorization.
    pub fn from_google(attestor: Attestor) -> Trusted {
        Trusted {
            name: attestor.name,
            note: Some(attestor.note),
            keys: attestor.keys,
            source: "Binary Authorization".into(),
        }
    }

    /// True when `signature` over `message` verifies under one of its PKIX keys (any one
    /// suffices, as for attestations). A key without a declared algorithm is tried under every
    /// algorithm its type allows, as cosign does with a bare `cosign.pub`.
    pub fn verifies(&self, message: &[u8], signature: &[u8]) -> bool {
        self.keys.iter().any(|k| match (&k.pem, k.algorithm) {
            (Some(pem), Some(a)) => a.verifies(pem, message, signature),
            (Some(pem), None) => {
                SigningAlgorithm::all().any(|a| a.verifies(pem, message, signature))
            }
            (None, _) => false,
        })
    }

    /// True when it holds a key a cosign signature can be checked with.
    pub fn has_pkix_keys(&self) -> bool {
        self.keys.iter().any(|k| k.pem.is_some())
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct File {
    name: Option<String>,
    user_owned_grafeas_note: Option<Note>,
    user_owned_drydock_note: Option<Note>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Note {
    note_reference: Option<String>,
    #[serde(default)]
    public_keys: Vec<Key>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Key {
    #[serde(default)]
    id: String,
    pkix_public_key: Option<Pkix>,
    ascii_armored_pgp_public_key: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Pkix {
    public_key_pem: String,
    signature_algorithm: Option<String>,
}

/// Reads an attestor file (`file` names it in errors).
pub fn parse(file: &str, text: &str) -> Result<Trusted> {
    let bad = |reason: String| {
        Error::Usage(format!(
            "--attestor-file {file}: {reason}; expected the JSON of `gcloud container binauthz \
             attestors describe ATTESTOR --format=json`"
        ))
    };
    let parsed: File = serde_json::from_str(text).map_err(|e| bad(format!("not JSON ({e})")))?;
    let name = parsed
        .name
        .ok_or_else(|| bad("it has no `name` (projects/PROJECT/attestors/ATTESTOR)".into()))?;
    let name = AttestorName::parse(&name, None).map_err(|e| bad(e.to_string()))?;
    let note = parsed
        .user_owned_grafeas_note
        .or(parsed.user_owned_drydock_note)
        .ok_or_else(|| bad("it has no `userOwnedGrafeasNote`".into()))?;
    let note_name = note
        .note_reference
        .filter(|n| !n.is_empty())
        .map(|n| NoteName::parse(&n))
        .transpose()
        .map_err(|e| bad(e.to_string()))?;
    let mut keys = Vec::new();
    for (i, key) in note.public_keys.into_iter().enumerate() {
        let entry = match (key.pkix_public_key, key.ascii_armored_pgp_public_key) {
            (Some(pkix), _) => {
                if !pkix.public_key_pem.contains("-----BEGIN PUBLIC KEY-----") {
                    return Err(bad(format!(
                        "publicKeys[{i}].pkixPublicKey.publicKeyPem is not a PUBLIC KEY PEM block"
                    )));
                }
                let algorithm = match pkix.signature_algorithm.as_deref() {
                    None | Some("") | Some("SIGNATURE_ALGORITHM_UNSPECIFIED") => None,
                    Some(a) => Some(SigningAlgorithm::from_binauthz(a).ok_or_else(|| {
                        bad(format!(
                            "publicKeys[{i}].pkixPublicKey.signatureAlgorithm `{a}` is not one \
                             Binary Authorization defines"
                        ))
                    })?),
                };
                TrustedKey {
                    id: key.id,
                    pem: Some(pkix.public_key_pem),
                    algorithm,
                    pgp: None,
                }
            }
            (None, Some(pgp)) => TrustedKey {
                id: key.id,
                pem: None,
                algorithm: None,
                pgp: Some(pgp),
            },
            (None, None) => {
                return Err(bad(format!(
                    "publicKeys[{i}] holds neither pkixPublicKey nor asciiArmoredPgpPublicKey"
                )))
            }
        };
        keys.push(entry);
    }
    if keys.is_empty() {
        return Err(bad(
            "it lists no publicKeys, so nothing it could attest would verify".into(),
        ));
    }
    if note_name.is_none() && !keys.iter().any(|k| k.pem.is_some()) {
        return Err(bad(
            "it has no noteReference and no PKIX key: neither attestations nor cosign \
             signatures could satisfy it"
                .into(),
        ));
    }
    Ok(Trusted {
        name,
        note: note_name,
        keys,
        source: format!("--attestor-file {file}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PEM: &str = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----\n";

    #[test]
    fn gcloud_describe_json_reads_with_its_note_and_keys() {
        let text = serde_json::json!({
            "name": "projects/demo/attestors/a1",
            "updateTime": "2026-12-01T10:00:00.000000Z",
            "userOwnedGrafeasNote": {
                "noteReference": "projects/demo/notes/n1",
                "delegationServiceAccountEmail": "service-1@gcp-sa-binaryauthorization.iam.gserviceaccount.com",
                "publicKeys": [{
                    "id": "//cloudkms.googleapis.com/v1/projects/demo/locations/global/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1",
                    "pkixPublicKey": {"publicKeyPem": PEM, "signatureAlgorithm": "ECDSA_P256_SHA256"}
                }]
            }
        })
        .to_string();
        let a = parse("a1.json", &text).unwrap();
        assert_eq!(a.name.to_string(), "projects/demo/attestors/a1");
        assert_eq!(a.note.unwrap().to_string(), "projects/demo/notes/n1");
        assert_eq!(a.keys.len(), 1);
        assert!(a.keys[0].algorithm.is_some());
    }

    #[test]
    fn a_cosign_pub_attestor_needs_no_note() {
        let text = serde_json::json!({
            "name": "projects/tenant/attestors/team",
            "userOwnedGrafeasNote": {"publicKeys": [{"id": "cosign.pub", "pkixPublicKey": {"publicKeyPem": PEM}}]}
        })
        .to_string();
        let a = parse("team.json", &text).unwrap();
        assert!(a.note.is_none() && a.model().is_none());
        assert!(a.keys[0].algorithm.is_none());
    }

    #[test]
    fn files_that_would_trust_nothing_are_refused_naming_the_file() {
        for (text, needle) in [
            (r#"{"userOwnedGrafeasNote": {}}"#, "no `name`"),
            (
                r#"{"name": "projects/p/attestors/a"}"#,
                "no `userOwnedGrafeasNote`",
            ),
            (
                r#"{"name": "projects/p/attestors/a", "userOwnedGrafeasNote": {"noteReference": "projects/p/notes/n"}}"#,
                "no publicKeys",
            ),
            (
                r#"{"name": "projects/p/attestors/a", "userOwnedGrafeasNote": {"publicKeys": [{"id": "x", "pkixPublicKey": {"publicKeyPem": "nope"}}]}}"#,
                "not a PUBLIC KEY",
            ),
            ("not json", "not JSON"),
        ] {
            let e = parse("bad.json", text).unwrap_err().to_string();
            assert!(e.contains("bad.json") && e.contains(needle), "{e}");
        }
    }
}
