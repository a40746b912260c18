//! The Binary Authorization signature payload ("simple signing" JSON), byte-identical to what
//! `gcloud container binauthz create-signature-payload` prints: attestations signed by either
//! tool then carry the same bytes. Pinned by vectors from real gcloud in `tests/vectors/`.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::reference::{Digest, ImageRef};

/// The `type` gcloud writes; Binary Authorization checks it.
pub const PAYLOAD_TYPE: &str = "Google cloud binauthz container signature";

/// The payload. Fields are declared in sorted key order: serde writes them in declaration order,
/// and gcloud sorts keys.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payload {
    /// Everything the signature binds.
    pub critical: Critical,
}

/// The `critical` object of the simple-signing format.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Critical {
    /// Which repository.
    pub identity: Identity,
    /// Which manifest.
    pub image: Image,
    /// Always [`PAYLOAD_TYPE`].
    #[serde(rename = "type")]
    pub kind: String,
}

/// The repository the payload names.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// `registry/repository`, no tag or digest, as the user wrote it.
    #[serde(rename = "docker-reference")]
    pub docker_reference: String,
}

/// The manifest the payload names.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Image {
    /// `sha256:...`.
    #[serde(rename = "docker-manifest-digest")]
    pub docker_manifest_digest: String,
}

impl Payload {
    /// The payload attesting `image` (its repository) at `digest`.
    pub fn new(image: &ImageRef, digest: &Digest) -> Payload {
        Payload {
            critical: Critical {
                identity: Identity {
                    docker_reference: image.repository_url(),
                },
                image: Image {
                    docker_manifest_digest: digest.to_string(),
                },
                kind: PAYLOAD_TYPE.to_string(),
            },
        }
    }

    /// The payload for a reference that carries its digest; a tag alone is not enough, because
    /// an attestation is for content, not for a name that can move.
    pub fn for_pinned(image: &ImageRef) -> Result<Payload> {
        match image.digest() {
            Some(digest) => Ok(Payload::new(image, digest)),
            None => Err(Error::Usage(format!(
                "{image} has no digest; pass IMAGE@sha256:<digest> (the `digest` command prints it)"
            ))),
        }
    }

    /// The exact bytes to sign: gcloud's `json.dumps(indent=2, sort_keys=True)` plus a newline.
    pub fn to_bytes(&self) -> Vec<u8> {
        // Plain structs of strings always serialise; were that ever to break, stop rather than
        // sign an empty payload.
        let mut bytes =
            serde_json::to_vec_pretty(self).expect("the simple-signing payload serialises");
        bytes.push(b'\n');
        bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "784d46ae41f4718f2ea9714246ec9a1f9216825403103997ba2dd4afc9753490";

    #[test]
    fn bytes_match_the_documented_gcloud_output() {
        let image = ImageRef::parse(&format!("us-docker.pkg.dev/demo/r/img@sha256:{HEX}")).unwrap();
        let payload = Payload::for_pinned(&image).unwrap();
        let expected = format!(
            "{{\n  \"critical\": {{\n    \"identity\": {{\n      \"docker-reference\": \
             \"us-docker.pkg.dev/demo/r/img\"\n    }},\n    \"image\": {{\n      \
             \"docker-manifest-digest\": \"sha256:{HEX}\"\n    }},\n    \"type\": \
             \"Google cloud binauthz container signature\"\n  }}\n}}\n"
        );
        assert_eq!(String::from_utf8(payload.to_bytes()).unwrap(), expected);
    }

    #[test]
    fn tag_is_dropped_from_docker_reference() {
        let image = ImageRef::parse(&format!("https://gcr.io/p/img:v1@sha256:{HEX}")).unwrap();
        let p = Payload::for_pinned(&image).unwrap();
        assert_eq!(p.critical.identity.docker_reference, "gcr.io/p/img");
    }

    #[test]
    fn a_tag_without_digest_is_a_usage_error() {
        let image = ImageRef::parse("gcr.io/p/img:v1").unwrap();
        let err = Payload::for_pinned(&image).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("gcr.io/p/img:v1 has no digest"));
    }

    #[test]
    fn round_trips_through_serde() {
        let image = ImageRef::parse(&format!("gcr.io/p/img@sha256:{HEX}")).unwrap();
        let p = Payload::for_pinned(&image).unwrap();
        let back: Payload = serde_json::from_slice(&p.to_bytes()).unwrap();
        assert_eq!(back, p);
    }
}
