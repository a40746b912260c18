//! Artifact Registry's Docker API: the Docker Registry HTTP API v2 / OCI distribution API under
//! `/v2/`, with GAR's authentication (a registry token from `/v2/token` for Basic
//! `oauth2accesstoken:<Google token>`, or the Google token itself as the bearer) and the
//! registry's own error shape, `{"errors":[{"code":"...","message":"..."}]}`.

pub mod api;
pub mod auth;
pub mod seed_image;
pub mod store;

use crate::http::Reply;
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

/// A `sha256:<64 lowercase hex>` content digest, validated once when parsed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(String);

impl Digest {
    pub fn of(bytes: &[u8]) -> Digest {
        let hex: String = Sha256::digest(bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Digest(format!("sha256:{hex}"))
    }

    pub fn parse(text: &str) -> Result<Digest, RegError> {
        let Some((algorithm, hex)) = text.split_once(':') else {
            return Err(RegError::digest_invalid(format!(
                "{text:?} is not a digest (expected sha256:<hex>)."
            )));
        };
        if algorithm != "sha256" {
            return Err(RegError::digest_invalid(format!(
                "Digest algorithm {algorithm:?} is not supported; use sha256."
            )));
        }
        let ok = hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if ok {
            Ok(Digest(text.to_string()))
        } else {
            Err(RegError::digest_invalid(format!(
                "{text:?} is not a sha256 digest (64 lowercase hex digits)."
            )))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Digest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// An error in the registry's shape, with the status it travels under and, for 401, the
/// `WWW-Authenticate` challenge that tells a client where to get a token.
#[derive(Debug, Clone, PartialEq)]
pub struct RegError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
    pub detail: Option<Value>,
    pub challenge: Option<String>,
}

impl RegError {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> RegError {
        RegError {
            status,
            code,
            message: message.into(),
            detail: None,
            challenge: None,
        }
    }
    fn with_detail(mut self, detail: Value) -> RegError {
        self.detail = Some(detail);
        self
    }
    pub fn digest_invalid(message: impl Into<String>) -> RegError {
        Self::new(400, "DIGEST_INVALID", message)
    }
    pub fn manifest_invalid(message: impl Into<String>) -> RegError {
        Self::new(400, "MANIFEST_INVALID", message)
    }
    pub fn tag_invalid(tag: &str) -> RegError {
        Self::new(400, "TAG_INVALID", format!("{tag:?} is not a valid tag."))
    }
    pub fn name_invalid(message: impl Into<String>) -> RegError {
        Self::new(400, "NAME_INVALID", message)
    }
    pub fn name_unknown(name: &str) -> RegError {
        Self::new(
            404,
            "NAME_UNKNOWN",
            format!("Repository {name} is not known to the emulated registry."),
        )
        .with_detail(json!({"name": name}))
    }
    pub fn manifest_unknown(name: &str, reference: &str) -> RegError {
        Self::new(
            404,
            "MANIFEST_UNKNOWN",
            format!("Manifest {reference} is not known in repository {name}."),
        )
        .with_detail(json!({"name": name, "reference": reference}))
    }
    pub fn manifest_blob_unknown(digest: &Digest) -> RegError {
        Self::new(
            400,
            "MANIFEST_BLOB_UNKNOWN",
            format!(
                "The manifest references {digest}, which is not in the repository: push it first."
            ),
        )
        .with_detail(json!({"digest": digest.as_str()}))
    }
    pub fn blob_unknown(digest: &Digest) -> RegError {
        Self::new(
            404,
            "BLOB_UNKNOWN",
            format!("Blob {digest} is not known in this repository."),
        )
        .with_detail(json!({"digest": digest.as_str()}))
    }
    pub fn upload_unknown(uuid: &str) -> RegError {
        Self::new(
            404,
            "BLOB_UPLOAD_UNKNOWN",
            format!("Upload {uuid} is not in progress in this repository."),
        )
    }
    pub fn unauthorized(message: impl Into<String>, challenge: String) -> RegError {
        let mut e = Self::new(401, "UNAUTHORIZED", message);
        e.challenge = Some(challenge);
        e
    }
    pub fn denied(message: impl Into<String>) -> RegError {
        Self::new(403, "DENIED", message)
    }

    /// The error an injected fault answers with on a registry route.
    pub fn for_status(status: u16) -> RegError {
        let code = match status {
            400 => "INVALID",
            401 => "UNAUTHORIZED",
            403 => "DENIED",
            404 => "NOT_FOUND",
            405 => "UNSUPPORTED",
            429 => "TOOMANYREQUESTS",
            503 => "UNAVAILABLE",
            504 => "DEADLINE_EXCEEDED",
            _ => "UNKNOWN",
        };
        Self::new(status, code, format!("Injected fault: {code}."))
    }

    pub fn reply(&self) -> Reply {
        let mut error = json!({"code": self.code, "message": self.message});
        if let Some(detail) = &self.detail {
            error["detail"] = detail.clone();
        }
        let reply = Reply::with_status(self.status, &json!({"errors": [error]}));
        match &self.challenge {
            Some(c) => reply.header("www-authenticate", c),
            None => reply,
        }
    }
}

/// A repository path under the registry host, `PROJECT/REPO/IMAGE[/...]` as on
/// `LOCATION-docker.pkg.dev`; checked once, at the edge.
pub struct RepositoryName {
    pub name: String,
    pub project: String,
    pub repo: String,
}

impl RepositoryName {
    pub fn parse(components: &[String]) -> Result<RepositoryName, RegError> {
        let name = components.join("/");
        if components.len() < 3 {
            return Err(RegError::name_invalid(format!(
                "Repository {name:?} is not PROJECT/REPOSITORY/IMAGE: Artifact Registry's Docker paths have at least three components."
            )));
        }
        let component_ok = |c: &String| {
            !c.is_empty()
                && c.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
                })
                && c.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
                && c.bytes().last().is_some_and(|b| b.is_ascii_alphanumeric())
        };
        if !components.iter().all(component_ok) {
            return Err(RegError::name_invalid(format!(
                "Repository {name:?} has an invalid component (lowercase letters, digits and . _ - only)."
            )));
        }
        Ok(RepositoryName {
            project: components[0].clone(),
            repo: components[1].clone(),
            name,
        })
    }

    /// The resource name seed denials are matched against (`projects/P/repositories/R`), so a
    /// denial on `projects/P` covers the project's registry.
    pub fn resource(&self) -> String {
        format!("projects/{}/repositories/{}", self.project, self.repo)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_are_sha256_hex() {
        let d = Digest::of(b"");
        assert_eq!(
            d.as_str(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(Digest::parse(d.as_str()).unwrap(), d);
        for bad in [
            "sha256:abc",
            "sha512:00",
            "latest",
            &d.as_str().to_uppercase(),
        ] {
            assert_eq!(Digest::parse(bad).unwrap_err().code, "DIGEST_INVALID");
        }
    }

    #[test]
    fn repository_names_are_gar_shaped() {
        let parts = |s: &str| s.split('/').map(String::from).collect::<Vec<_>>();
        let name = RepositoryName::parse(&parts("demo/containers/app")).unwrap();
        assert_eq!(name.resource(), "projects/demo/repositories/containers");
        assert!(RepositoryName::parse(&parts("demo/app")).is_err());
        assert!(RepositoryName::parse(&parts("demo/Repo/app")).is_err());
    }

    #[test]
    fn errors_use_the_registry_shape() {
        let reply = RegError::for_status(503).reply();
        let body: Value = serde_json::from_slice(&reply.body).unwrap();
        assert_eq!(reply.status, 503);
        assert_eq!(body["errors"][0]["code"], "UNAVAILABLE");
    }
}
