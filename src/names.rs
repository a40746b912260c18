//! Google resource names the user gives us, parsed once at the edge so the rest of the code
//! holds values that are known to be well-formed.

use crate::error::{Error, Result};
use std::fmt;

/// Checks `name` against `collections` (`["projects", "attestors"]` for `projects/*/attestors/*`)
/// and returns the ids.
fn ids<'a>(name: &'a str, collections: &[&str]) -> Option<Vec<&'a str>> {
    let parts: Vec<&str> = name.split('/').collect();
    let well_formed = parts.len() == collections.len() * 2
        && parts
            .chunks(2)
            .zip(collections)
            .all(|(pair, c)| pair[0] == *c && valid_id(pair[1]));
    well_formed.then(|| parts.iter().skip(1).step_by(2).copied().collect())
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

/// The version name inside a KMS key id: gcloud's `//<KMS host>/v1/<name>` or cosign's and
/// Tekton Chains' `gcpkms://<name>`. Cosign documents its form with `/versions/N` where KMS
/// says `/cryptoKeyVersions/N`
/// (<https://docs.sigstore.dev/cosign/key_management/overview/#gcp>): both name one version.
fn version_in_key_id(key_id: &str) -> Option<String> {
    if let Some(name) = key_id.strip_prefix("gcpkms://") {
        return Some(match name.rsplit_once("/versions/") {
            Some((key, n)) if !key.contains("/cryptoKeyVersions/") => {
                format!("{key}/cryptoKeyVersions/{n}")
            }
            _ => name.to_string(),
        });
    }
    key_id
        .strip_prefix("//")
        .and_then(|rest| rest.split_once("/v1/").map(|(_, n)| n.to_string()))
}

/// `projects/P/locations/L/keyRings/R/cryptoKeys/K/cryptoKeyVersions/N`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyVersionName(String);

impl KeyVersionName {
    /// Also accepts the forms other tools print: gcloud's key id
    /// (`//cloudkms.googleapis.com/v1/...`) and cosign's `gcpkms://...`.
    pub fn parse(input: &str) -> Result<KeyVersionName> {
        let name = version_in_key_id(input).unwrap_or_else(|| input.to_string());
        let collections = [
            "projects",
            "locations",
            "keyRings",
            "cryptoKeys",
            "cryptoKeyVersions",
        ];
        match ids(&name, &collections) {
            Some(_) => Ok(KeyVersionName(name)),
            None => Err(Error::InvalidName {
                what: "KMS key version",
                input: input.to_string(),
                expected: "projects/PROJECT/locations/LOCATION/keyRings/RING/cryptoKeys/KEY/cryptoKeyVersions/N",
            }),
        }
    }

    /// The full name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The key (without the version) and the version number, for gcloud commands.
    pub fn key_and_version(&self) -> (&str, &str) {
        self.0
            .rsplit_once("/cryptoKeyVersions/")
            .unwrap_or((&self.0, ""))
    }

    /// True when an attestor key id names this version. Attestors file KMS keys under
    /// `//<KMS host>/v1/<version>` (gcloud) and sometimes `gcpkms://<version>` (Tekton Chains).
    pub fn is_named_by(&self, key_id: &str) -> bool {
        version_in_key_id(key_id).as_deref() == Some(self.0.as_str())
    }
}

impl fmt::Display for KeyVersionName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `projects/P/locations/L/keyRings/R/cryptoKeys/K`: a KMS key (`setup --kms-key`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CryptoKeyName {
    /// The key's project.
    pub project: String,
    /// Its location, e.g. `global`.
    pub location: String,
    /// Its key ring's id.
    pub key_ring: String,
    /// Its id.
    pub id: String,
}

impl CryptoKeyName {
    /// Parses a full key name.
    pub fn parse(input: &str) -> Result<CryptoKeyName> {
        match ids(input, &["projects", "locations", "keyRings", "cryptoKeys"]).as_deref() {
            Some([project, location, key_ring, id]) => Ok(CryptoKeyName {
                project: project.to_string(),
                location: location.to_string(),
                key_ring: key_ring.to_string(),
                id: id.to_string(),
            }),
            _ => Err(Error::InvalidName {
                what: "KMS key",
                input: input.to_string(),
                expected: "projects/PROJECT/locations/LOCATION/keyRings/RING/cryptoKeys/KEY",
            }),
        }
    }

    /// `projects/P/locations/L/keyRings/R`.
    pub fn key_ring(&self) -> String {
        format!(
            "projects/{}/locations/{}/keyRings/{}",
            self.project, self.location, self.key_ring
        )
    }
}

impl fmt::Display for CryptoKeyName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/cryptoKeys/{}", self.key_ring(), self.id)
    }
}

/// `projects/P/attestors/A`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttestorName {
    /// The attestor's project.
    pub project: String,
    /// The attestor's id.
    pub id: String,
}

impl AttestorName {
    /// A full name, or a bare id with the project given separately (`--attestor-project`).
    pub fn parse(input: &str, project: Option<&str>) -> Result<AttestorName> {
        let full = match (input.contains('/'), project) {
            (false, Some(p)) => format!("projects/{p}/attestors/{input}"),
            _ => input.to_string(),
        };
        match ids(&full, &["projects", "attestors"]).as_deref() {
            Some([project, id]) => Ok(AttestorName {
                project: project.to_string(),
                id: id.to_string(),
            }),
            _ => Err(Error::InvalidName {
                what: "attestor",
                input: input.to_string(),
                expected:
                    "projects/PROJECT/attestors/ATTESTOR, or ATTESTOR with --attestor-project",
            }),
        }
    }
}

impl fmt::Display for AttestorName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "projects/{}/attestors/{}", self.project, self.id)
    }
}

/// `projects/P/notes/N`: the Container Analysis note an attestor's attestations hang from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NoteName {
    /// The note's project.
    pub project: String,
    /// The note's id.
    pub id: String,
}

impl NoteName {
    /// Parses `projects/P/notes/N`, as attestors hold it.
    pub fn parse(input: &str) -> Result<NoteName> {
        match ids(input, &["projects", "notes"]).as_deref() {
            Some([project, id]) => Ok(NoteName {
                project: project.to_string(),
                id: id.to_string(),
            }),
            _ => Err(Error::InvalidName {
                what: "note",
                input: input.to_string(),
                expected: "projects/PROJECT/notes/NOTE",
            }),
        }
    }
}

impl fmt::Display for NoteName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "projects/{}/notes/{}", self.project, self.id)
    }
}

/// A project id, e.g. for `--project`.
pub fn parse_project(input: &str) -> Result<String> {
    let ok = input.len() >= 2 && valid_id(input) && !input.contains('.');
    ok.then(|| input.to_string())
        .ok_or_else(|| Error::InvalidName {
            what: "project",
            input: input.to_string(),
            expected: "a project id such as my-project",
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const V: &str = "projects/p/locations/global/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1";

    #[test]
    fn key_versions_parse_from_every_form_tools_print() {
        for input in [
            V.to_string(),
            format!("//cloudkms.googleapis.com/v1/{V}"),
            format!("gcpkms://{V}"),
            // cosign's documented form: `.../cryptoKeys/K/versions/N`.
            format!("gcpkms://{}", V.replace("cryptoKeyVersions", "versions")),
        ] {
            assert_eq!(
                KeyVersionName::parse(&input).unwrap().as_str(),
                V,
                "{input}"
            );
        }
        for bad in [
            "projects/p/locations/global/keyRings/r/cryptoKeys/k",
            "",
            "projects/p/x/y",
        ] {
            let e = KeyVersionName::parse(bad).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{bad}");
        }
    }

    #[test]
    fn key_ids_match_by_version_name_whatever_the_host() {
        let v = KeyVersionName::parse(V).unwrap();
        assert!(v.is_named_by(&format!("//cloudkms.googleapis.com/v1/{V}")));
        assert!(v.is_named_by(&format!("//127.0.0.1:8080/v1/{V}")));
        assert!(v.is_named_by(&format!("gcpkms://{V}")));
        assert!(v.is_named_by(&format!(
            "gcpkms://{}",
            V.replace("cryptoKeyVersions", "versions")
        )));
        assert!(!v.is_named_by(&format!("//cloudkms.googleapis.com/v1/{V}0")));
        assert!(!v.is_named_by("ni:///sha-256;abc"));
        assert_eq!(
            v.key_and_version(),
            ("projects/p/locations/global/keyRings/r/cryptoKeys/k", "1")
        );
    }

    #[test]
    fn attestors_take_a_full_name_or_an_id_and_project() {
        let a = AttestorName::parse("projects/p/attestors/a", None).unwrap();
        assert_eq!(a, AttestorName::parse("a", Some("p")).unwrap());
        assert_eq!(a.to_string(), "projects/p/attestors/a");
        assert!(AttestorName::parse("a", None).is_err());
        assert!(AttestorName::parse("projects/p/notes/a", None).is_err());
        assert!(NoteName::parse("projects/p/locations/us/notes/n").is_err());
    }
}
