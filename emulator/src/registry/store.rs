//! What the emulated Artifact Registry holds: content-addressed blobs and manifests, tags, upload
//! sessions and the registry tokens it minted. Pure operations, no HTTP: the handlers in
//! `api.rs` turn their errors into the registry's error shape.

use super::{Digest, RegError};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// The manifest media types Artifact Registry stores for Docker repositories.
pub const MANIFEST_TYPES: [&str; 4] = [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST];

#[derive(Debug)]
pub struct Manifest {
    pub media_type: String,
    pub bytes: Arc<Vec<u8>>,
    /// The OCI 1.1 `subject` this manifest refers to (signatures, SBOMs...), for referrers.
    pub subject: Option<Digest>,
    /// `artifactType`, or the config's media type, as the referrers API reports it.
    pub artifact_type: Option<String>,
    pub annotations: Option<Value>,
}

#[derive(Default)]
pub struct Repository {
    pub manifests: HashMap<Digest, Manifest>,
    pub tags: BTreeMap<String, Digest>,
    /// Blobs linked into this repository (pushed or mounted here); content lives in `blobs`.
    pub blobs: BTreeSet<Digest>,
}

pub struct Upload {
    pub repository: String,
    pub data: Vec<u8>,
}

#[derive(Default)]
pub struct Store {
    /// Registry token -> principal, minted by `GET /v2/token`.
    pub tokens: HashMap<String, String>,
    /// Blob content by digest, shared by every repository that links it.
    pub blobs: HashMap<Digest, Arc<Vec<u8>>>,
    pub repositories: BTreeMap<String, Repository>,
    pub uploads: HashMap<String, Upload>,
}

impl Store {
    pub fn repository(&self, name: &str) -> Result<&Repository, RegError> {
        self.repositories
            .get(name)
            .ok_or_else(|| RegError::name_unknown(name))
    }

    /// The blob `digest` as seen from repository `name`.
    pub fn blob(&self, name: &str, digest: &Digest) -> Result<Arc<Vec<u8>>, RegError> {
        let linked = self
            .repositories
            .get(name)
            .is_some_and(|r| r.blobs.contains(digest));
        match self.blobs.get(digest) {
            Some(bytes) if linked => Ok(bytes.clone()),
            _ => Err(RegError::blob_unknown(digest)),
        }
    }

    /// Stores `bytes` as blob `expected` in repository `name`, after checking the digest.
    pub fn put_blob(
        &mut self,
        name: &str,
        expected: &Digest,
        bytes: Vec<u8>,
    ) -> Result<(), RegError> {
        let actual = Digest::of(&bytes);
        if actual != *expected {
            return Err(RegError::digest_invalid(format!(
                "The uploaded content has digest {actual}, not {expected}."
            )));
        }
        self.blobs
            .entry(actual.clone())
            .or_insert_with(|| Arc::new(bytes));
        self.repositories
            .entry(name.to_string())
            .or_default()
            .blobs
            .insert(actual);
        Ok(())
    }

    /// Links a blob of repository `from` into `name`; false when `from` does not hold it.
    pub fn mount(&mut self, name: &str, from: &str, digest: &Digest) -> bool {
        if self.blob(from, digest).is_err() {
            return false;
        }
        self.repositories
            .entry(name.to_string())
            .or_default()
            .blobs
            .insert(digest.clone());
        true
    }

    /// Resolves a tag or digest in repository `name` to the manifest's digest.
    pub fn resolve(&self, name: &str, reference: &str) -> Result<(Digest, &Manifest), RegError> {
        let repo = self.repository(name)?;
        let digest = match Digest::parse(reference) {
            Ok(d) => d,
            Err(_) if !reference.contains(':') => repo
                .tags
                .get(reference)
                .cloned()
                .ok_or_else(|| RegError::manifest_unknown(name, reference))?,
            Err(e) => return Err(e),
        };
        let manifest = repo
            .manifests
            .get(&digest)
            .ok_or_else(|| RegError::manifest_unknown(name, reference))?;
        Ok((digest, manifest))
    }

    /// Stores a manifest under its digest (and `reference` when it is a tag), after checking
    /// what a registry checks: the media type, a digest reference against the bytes, and that
    /// every blob or child manifest it names is already in the repository.
    pub fn put_manifest(
        &mut self,
        name: &str,
        reference: &str,
        content_type: Option<&str>,
        bytes: Vec<u8>,
    ) -> Result<(Digest, Option<Digest>), RegError> {
        let digest = Digest::of(&bytes);
        let tag = match Digest::parse(reference) {
            Ok(given) if given == digest => None,
            Ok(given) => {
                return Err(RegError::digest_invalid(format!(
                    "The manifest's digest is {digest}, not {given}."
                )))
            }
            Err(e) if reference.contains(':') => return Err(e),
            Err(_) if valid_tag(reference) => Some(reference.to_string()),
            Err(_) => return Err(RegError::tag_invalid(reference)),
        };
        let body: Value = serde_json::from_slice(&bytes)
            .map_err(|e| RegError::manifest_invalid(format!("The manifest is not JSON: {e}.")))?;
        let declared = body["mediaType"].as_str();
        let media_type = match (content_type, declared) {
            (Some(c), Some(d)) if MANIFEST_TYPES.contains(&c) && c != d => {
                return Err(RegError::manifest_invalid(format!(
                    "Content-Type {c} differs from the manifest's mediaType {d}."
                )))
            }
            (Some(c), _) if MANIFEST_TYPES.contains(&c) => c,
            (_, Some(d)) if MANIFEST_TYPES.contains(&d) => d,
            (c, d) => {
                return Err(RegError::manifest_invalid(format!(
                    "Unsupported manifest media type {:?}: Artifact Registry's Docker repositories take {}.",
                    c.or(d).unwrap_or("(none)"),
                    MANIFEST_TYPES.join(", ")
                )))
            }
        }
        .to_string();
        if body["schemaVersion"] != json!(2) {
            return Err(RegError::manifest_invalid(
                "Only schemaVersion 2 manifests are accepted.",
            ));
        }
        let repo = self.repositories.get(name);
        let is_index = media_type == OCI_INDEX || media_type == DOCKER_LIST;
        let referenced: Vec<&Value> = if is_index {
            body["manifests"].as_array().into_iter().flatten().collect()
        } else {
            std::iter::once(&body["config"])
                .chain(body["layers"].as_array().into_iter().flatten())
                .collect()
        };
        for descriptor in referenced {
            let child = descriptor["digest"]
                .as_str()
                .ok_or_else(|| RegError::manifest_invalid("A descriptor has no digest."))
                .and_then(Digest::parse)?;
            let present = repo.is_some_and(|r| {
                if is_index {
                    r.manifests.contains_key(&child)
                } else {
                    r.blobs.contains(&child)
                }
            });
            if !present {
                return Err(RegError::manifest_blob_unknown(&child));
            }
        }
        let subject = match body["subject"]["digest"].as_str() {
            Some(s) => Some(Digest::parse(s)?),
            None => None,
        };
        let artifact_type = body["artifactType"]
            .as_str()
            .or(body["config"]["mediaType"].as_str())
            .map(String::from);
        let annotations = body.get("annotations").cloned();
        let repo = self.repositories.entry(name.to_string()).or_default();
        repo.manifests.insert(
            digest.clone(),
            Manifest {
                media_type,
                bytes: Arc::new(bytes),
                subject: subject.clone(),
                artifact_type,
                annotations,
            },
        );
        if let Some(tag) = tag {
            repo.tags.insert(tag, digest.clone());
        }
        Ok((digest, subject))
    }

    /// Deletes a tag, or a manifest by digest together with the tags that point at it.
    pub fn delete_manifest(&mut self, name: &str, reference: &str) -> Result<(), RegError> {
        self.resolve(name, reference)?;
        let repo = self
            .repositories
            .get_mut(name)
            .ok_or_else(|| RegError::name_unknown(name))?;
        match Digest::parse(reference) {
            Ok(digest) => {
                repo.manifests.remove(&digest);
                repo.tags.retain(|_, d| *d != digest);
            }
            Err(_) => {
                repo.tags.remove(reference);
            }
        }
        Ok(())
    }

    /// One page of tags in lexical order: those after `last`, at most `n` (all when absent),
    /// and whether more follow.
    pub fn tags(
        &self,
        name: &str,
        n: Option<usize>,
        last: Option<&str>,
    ) -> Result<(Vec<String>, bool), RegError> {
        let repo = self.repository(name)?;
        let after = repo
            .tags
            .keys()
            .filter(|t| last.is_none_or(|l| t.as_str() > l));
        let all: Vec<String> = after.cloned().collect();
        let n = n.unwrap_or(all.len());
        let more = all.len() > n;
        Ok((all.into_iter().take(n).collect(), more))
    }

    /// The OCI 1.1 referrers of `subject` in repository `name`: an image index of descriptors,
    /// filtered by `artifact_type` when given.
    pub fn referrers(&self, name: &str, subject: &Digest, artifact_type: Option<&str>) -> Value {
        let mut found: Vec<(&Digest, &Manifest)> = self
            .repositories
            .get(name)
            .map(|r| {
                r.manifests
                    .iter()
                    .filter(|(_, m)| m.subject.as_ref() == Some(subject))
                    .filter(|(_, m)| {
                        artifact_type.is_none_or(|t| m.artifact_type.as_deref() == Some(t))
                    })
                    .collect()
            })
            .unwrap_or_default();
        found.sort_by(|a, b| a.0.cmp(b.0));
        let manifests: Vec<Value> = found
            .into_iter()
            .map(|(digest, m)| {
                let mut d = json!({"mediaType": m.media_type, "digest": digest.as_str(), "size": m.bytes.len()});
                if let Some(t) = &m.artifact_type {
                    d["artifactType"] = json!(t);
                }
                if let Some(a) = &m.annotations {
                    d["annotations"] = a.clone();
                }
                d
            })
            .collect();
        json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests})
    }
}

/// A tag as the distribution spec allows it: `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`.
pub fn valid_tag(tag: &str) -> bool {
    let mut chars = tag.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
    first_ok
        && tag.len() <= 128
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store_with_blobs(name: &str, blobs: &[&[u8]]) -> (Store, Vec<Digest>) {
        let mut store = Store::default();
        let digests = blobs
            .iter()
            .map(|b| {
                let d = Digest::of(b);
                store.put_blob(name, &d, b.to_vec()).unwrap();
                d
            })
            .collect();
        (store, digests)
    }

    fn image(config: &Digest, layer: &Digest) -> Vec<u8> {
        json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
               "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config.as_str(), "size": 2},
               "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer.as_str(), "size": 5}]})
        .to_string()
        .into_bytes()
    }

    #[test]
    fn blobs_are_checked_against_their_digest_and_seen_only_where_linked() {
        let (mut store, d) = store_with_blobs("p/r/a", &[b"{}"]);
        let err = store
            .put_blob("p/r/a", &d[0], b"other".to_vec())
            .unwrap_err();
        assert_eq!((err.status, err.code), (400, "DIGEST_INVALID"));
        assert!(store.blob("p/r/a", &d[0]).is_ok());
        assert_eq!(store.blob("p/r/b", &d[0]).unwrap_err().code, "BLOB_UNKNOWN");
        assert!(store.mount("p/r/b", "p/r/a", &d[0]));
        assert!(store.blob("p/r/b", &d[0]).is_ok());
        assert!(!store.mount("p/r/c", "p/r/x", &d[0]));
    }

    #[test]
    fn manifests_need_their_blobs_and_a_matching_digest() {
        let (mut store, d) = store_with_blobs("p/r/a", &[b"{}", b"layer"]);
        let bytes = image(&d[0], &d[1]);
        let missing = image(&d[0], &Digest::of(b"absent"));
        let err = store
            .put_manifest("p/r/a", "v1", Some(OCI_MANIFEST), missing)
            .unwrap_err();
        assert_eq!(err.code, "MANIFEST_BLOB_UNKNOWN");
        let wrong = Digest::of(b"not the manifest");
        let err = store
            .put_manifest("p/r/a", wrong.as_str(), Some(OCI_MANIFEST), bytes.clone())
            .unwrap_err();
        assert_eq!(err.code, "DIGEST_INVALID");
        let err = store
            .put_manifest("p/r/a", "v1", Some(DOCKER_MANIFEST), bytes.clone())
            .unwrap_err();
        assert_eq!(err.code, "MANIFEST_INVALID");
        let (digest, _) = store
            .put_manifest("p/r/a", "v1", Some(OCI_MANIFEST), bytes.clone())
            .unwrap();
        assert_eq!(digest, Digest::of(&bytes));
        let (by_tag, m) = store.resolve("p/r/a", "v1").unwrap();
        assert_eq!((by_tag, m.bytes.as_slice()), (digest.clone(), &bytes[..]));
        assert_eq!(
            store.resolve("p/r/a", "v2").unwrap_err().code,
            "MANIFEST_UNKNOWN"
        );
        assert_eq!(
            store.resolve("p/r/zz", "v1").unwrap_err().code,
            "NAME_UNKNOWN"
        );
        // An index needs its children as manifests of the repository.
        let index = json!({"schemaVersion": 2, "mediaType": OCI_INDEX,
                           "manifests": [{"mediaType": OCI_MANIFEST, "digest": digest.as_str(), "size": bytes.len()}]});
        let index = index.to_string().into_bytes();
        assert!(store
            .put_manifest("p/r/b", "all", None, index.clone())
            .is_err());
        assert!(store.put_manifest("p/r/a", "all", None, index).is_ok());
        store.delete_manifest("p/r/a", digest.as_str()).unwrap();
        assert!(store.resolve("p/r/a", "v1").is_err());
    }

    #[test]
    fn tags_page_in_lexical_order() {
        let (mut store, d) = store_with_blobs("p/r/a", &[b"{}", b"layer"]);
        for tag in ["c", "a", "b"] {
            store
                .put_manifest("p/r/a", tag, Some(OCI_MANIFEST), image(&d[0], &d[1]))
                .unwrap();
        }
        assert_eq!(
            store.tags("p/r/a", Some(2), None).unwrap(),
            (vec!["a".into(), "b".into()], true)
        );
        assert_eq!(
            store.tags("p/r/a", Some(2), Some("b")).unwrap(),
            (vec!["c".into()], false)
        );
        assert!(valid_tag("v1.0-rc_1") && !valid_tag(".x") && !valid_tag(""));
    }

    #[test]
    fn referrers_list_manifests_by_subject() {
        let (mut store, d) = store_with_blobs("p/r/a", &[b"{}", b"layer"]);
        let (subject, _) = store
            .put_manifest("p/r/a", "v1", None, image(&d[0], &d[1]))
            .unwrap();
        let mut sig: Value = serde_json::from_slice(&image(&d[0], &d[1])).unwrap();
        sig["artifactType"] = json!("application/vnd.dev.sigstore.bundle.v0.3+json");
        sig["subject"] = json!({"mediaType": OCI_MANIFEST, "digest": subject.as_str(), "size": 1});
        let bytes = serde_json::to_vec(&sig).unwrap();
        let (sig_digest, named) = store
            .put_manifest("p/r/a", Digest::of(&bytes).as_str(), None, bytes)
            .unwrap();
        assert_eq!(named, Some(subject.clone()));
        let index = store.referrers("p/r/a", &subject, None);
        assert_eq!(index["manifests"][0]["digest"], sig_digest.as_str());
        assert_eq!(
            store.referrers("p/r/a", &subject, Some("other"))["manifests"],
            json!([])
        );
    }
}
