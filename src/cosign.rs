//! cosign signatures of an image, in both of cosign's storage forms, written by `sign --cosign`
//! with the attestation's own signer and judged offline by `verify --cosign-key`:
//!
//! - `sig`: the "simple signing" payload for the digest, signed, as one layer of the OCI
//!   manifest tagged `sha256-HEX.sig` in the image's repository (cosign's
//!   `specs/SIGNATURE_SPEC.md`, https://github.com/sigstore/cosign/blob/main/specs/SIGNATURE_SPEC.md;
//!   containers/image reads the same tag with `use-sigstore-attachments`). A new signature is
//!   appended to the layers already there, so other signers' signatures stay.
//! - `bundle`: what cosign 3 writes and reads (`cosign sign` writes it by default, and once an
//!   image has a bundle, `cosign verify` judges only bundles, never the `.sig` tag): a sigstore
//!   bundle v0.3 (https://github.com/sigstore/protobuf-specs, `protos/sigstore_bundle.proto`)
//!   holding a DSSE envelope (`application/vnd.in-toto+json`) over an in-toto Statement v1 whose
//!   subject is the digest and whose predicate type is `https://sigstore.dev/cosign/sign/v1`
//!   (cosign v3.1.2 `cmd/cosign/cli/sign/sign.go`, `signDigestBundle`), signed over the DSSE
//!   PAE, with a public-key hint and no transparency-log entry; attached as an OCI 1.1 referrer
//!   shaped as cosign's `pkg/oci/remote/write.go` (`WriteAttestationNewBundleFormat`,
//!   `WriteReferrer`) writes it. Where the registry has no referrers API, the `sha256-HEX`
//!   referrers tag index lists it (OCI distribution spec, "Referrers tag schema",
//!   https://github.com/opencontainers/distribution-spec/blob/main/spec.md#referrers-tag-schema),
//!   with the manifest's artifactType and annotations as that schema asks. A bundle holding a
//!   message signature (what this tool wrote before) is read, never written: cosign 3 refuses it
//!   ("bundle does not contain a DSSE envelope", `pkg/cosign/verify.go`).
//!
//! Both are idempotent: a signature by the same key for the same digest and repository already
//! there is reported, not written again.

use base64::Engine;
use serde_json::{json, Value};

use crate::attestation::pae;
use crate::error::{Error, Result};
use crate::model::PublicKey;
use crate::reference::{Digest, ImageRef};
use crate::registry::{sha256_digest, Registry};
use crate::report::Checked;
use crate::signer::Signer;
use crate::signer::SignerKey;

/// The layer media type of a simple-signing payload (cosign's `SimpleSigningMediaType`).
pub const SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// The layer annotation holding the base64 signature.
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// The payload's `critical.type`.
pub const COSIGN_TYPE: &str = "cosign container image signature";
/// Bundle v0.3 media type: the layer's and the referrer's `artifactType` (cosign 3).
pub const BUNDLE_V03: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
/// What every sigstore bundle media type starts with (cosign reads any version from v0.3 on).
const BUNDLE_PREFIX: &str = "application/vnd.dev.sigstore.bundle";
/// The DSSE payload type of an in-toto statement.
pub const IN_TOTO: &str = "application/vnd.in-toto+json";
/// cosign 3's predicate type for an image signature in a bundle.
pub const SIGN_PREDICATE: &str = "https://sigstore.dev/cosign/sign/v1";
const STATEMENT_V1: &str = "https://in-toto.io/Statement/v1";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// The OCI empty descriptor's media type and content (`{}`), the config of artifacts.
const EMPTY: &str = "application/vnd.oci.empty.v1+json";
/// At most this many signatures per image are read, cosign's own cap (`maxAllowedSigsOrAtts`
/// in `pkg/cosign/fetch.go`): `.sig` layers, and bundle referrers likewise. More is an error
/// naming the count, as in cosign, never an endless walk.
pub const MAX_SIGNATURES: usize = 100;
/// A signature's payload or bundle blob is a few KiB (a bundle with a certificate chain, tens);
/// cosign reads attachments up to 128 MiB (`COSIGN_MAX_ATTACHMENT_SIZE`), we read a signature's
/// blob up to this, and judge a larger one invalid without downloading it.
pub const MAX_SIGNATURE_BLOB: u64 = 4 << 20;

/// What was written or found for one storage form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// `REPO@sha256:...` of the signature manifest (sig) or the referrer (bundle).
    pub manifest: ImageRef,
    /// True when this run wrote it.
    pub created: bool,
}

/// The tag of the signature manifest: `sha256-HEX.sig`.
pub fn sig_tag(digest: &Digest) -> String {
    format!("{}.sig", referrers_tag(digest))
}

/// The referrers tag of the tag schema: `sha256-HEX`.
pub fn referrers_tag(digest: &Digest) -> String {
    digest.to_string().replace(':', "-")
}

/// The simple-signing payload cosign signs for `digest` in `repository` (compact JSON, keys in
/// cosign's order, `optional` null, no trailing newline).
pub fn simple_signing_payload(repository: &str, digest: &Digest) -> Vec<u8> {
    let s = |v: &str| Value::String(v.to_string()).to_string();
    format!(
        r#"{{"critical":{{"identity":{{"docker-reference":{}}},"image":{{"docker-manifest-digest":{}}},"type":{}}},"optional":null}}"#,
        s(repository),
        s(&digest.to_string()),
        s(COSIGN_TYPE)
    )
    .into_bytes()
}

/// `Ok` when a simple-signing payload signs `digest` in `repository`: its digest is this one
/// and its identity names the repository (with or without a tag, as containers/image's
/// `matchRepository` and cosign accept).
pub fn check_simple_signing(
    payload: &[u8],
    repository: &str,
    digest: &Digest,
) -> Result<(), String> {
    let value: Value =
        serde_json::from_slice(payload).map_err(|e| format!("its payload is not JSON ({e})"))?;
    let critical = &value["critical"];
    if critical["type"] != COSIGN_TYPE {
        return Err(format!(
            "its payload type is {}, not {COSIGN_TYPE}",
            critical["type"]
        ));
    }
    let signed = critical["image"]["docker-manifest-digest"]
        .as_str()
        .unwrap_or_default();
    if signed != digest.to_string() {
        return Err(format!("its payload signs digest {signed}, not {digest}"));
    }
    let identity = critical["identity"]["docker-reference"]
        .as_str()
        .unwrap_or_default();
    if repository_of(identity) != repository {
        return Err(format!("its payload names {identity}, not {repository}"));
    }
    Ok(())
}

/// `registry/repo` of a reference written with or without a tag or digest.
fn repository_of(reference: &str) -> &str {
    let without_digest = reference.split('@').next().unwrap_or(reference);
    match without_digest.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => repo,
        _ => without_digest,
    }
}

/// The in-toto statement cosign 3 signs for an image (v3.1.2 `sign.go`, `signDigestBundle`):
/// one subject, the digest with cosign's (empty) annotations and no name, the sign predicate
/// type and an empty predicate. cosign binds the digest, not the repository; so does this.
pub fn statement(digest: &Digest) -> Vec<u8> {
    json!({
        "_type": STATEMENT_V1,
        "subject": [{"digest": {digest.algorithm().name(): digest.hex()}, "annotations": {}}],
        "predicateType": SIGN_PREDICATE,
        "predicate": {},
    })
    .to_string()
    .into_bytes()
}

/// `Ok` when a statement's subject is `digest` (and names `repository`, when it names one) and
/// its predicate is cosign's image signature.
pub fn check_statement(statement: &[u8], repository: &str, digest: &Digest) -> Result<(), String> {
    let value: Value = serde_json::from_slice(statement)
        .map_err(|e| format!("its statement is not JSON ({e})"))?;
    if value["predicateType"] != SIGN_PREDICATE {
        return Err(format!(
            "its predicate type is {}, not {SIGN_PREDICATE}",
            value["predicateType"]
        ));
    }
    let subjects = value["subject"].as_array().cloned().unwrap_or_default();
    let ours = subjects
        .iter()
        .find(|s| s["digest"][digest.algorithm().name()].as_str() == Some(digest.hex()));
    let Some(subject) = ours else {
        return Err(format!("its statement's subjects do not include {digest}"));
    };
    match subject["name"].as_str() {
        Some(name) if !name.is_empty() && repository_of(name) != repository => {
            Err(format!("its statement names {name}, not {repository}"))
        }
        _ => Ok(()),
    }
}

/// A sigstore bundle v0.3 in protobuf JSON, as sigstore-go's `sign.Bundle` (under cosign 3)
/// writes it for a key without a transparency log: the DSSE envelope over `statement` with one
/// signature and no key id, and the public key named by its hint (base64 SHA-256 of its
/// SubjectPublicKeyInfo). Empty fields are left out, as protobuf JSON leaves them out.
pub fn bundle(statement: &[u8], signature: &[u8], key: &PublicKey) -> Vec<u8> {
    let b64 = |d: &[u8]| base64::engine::general_purpose::STANDARD.encode(d);
    json!({
        "mediaType": BUNDLE_V03,
        "verificationMaterial": {"publicKey": {"hint": key_hint(&key.pem)}},
        "dsseEnvelope": {
            "payload": b64(statement),
            "payloadType": IN_TOTO,
            "signatures": [{"sig": b64(signature)}],
        },
    })
    .to_string()
    .into_bytes()
}

/// base64 of the SHA-256 of the key's SubjectPublicKeyInfo DER.
pub fn key_hint(pem: &str) -> String {
    let body: String = pem
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("-----"))
        .collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(body)
        .unwrap_or_default();
    use sha2::Digest as _;
    base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(der))
}

/// A bundle's DSSE envelope: payload type, payload and signatures.
#[derive(Debug)]
pub struct Envelope {
    /// `payloadType`.
    pub payload_type: String,
    /// The decoded payload.
    pub payload: Vec<u8>,
    /// The decoded signatures.
    pub signatures: Vec<Vec<u8>>,
}

/// What a bundle signs: a DSSE envelope (cosign 3's form) or a message signature (the older
/// form: a signature over an artifact named by its digest, here the simple-signing payload).
#[derive(Debug)]
pub enum BundleContent {
    /// `dsseEnvelope`.
    Dsse(Envelope),
    /// `messageSignature`: the SHA-256 of the message signed, and the signature.
    Message {
        /// `messageDigest.digest`, decoded.
        sha256: Vec<u8>,
        /// `signature`, decoded.
        signature: Vec<u8>,
    },
}

/// The content of a bundle, or why it is not one we can judge.
pub fn parse_bundle(bytes: &[u8]) -> Result<BundleContent, String> {
    let value: Value =
        serde_json::from_slice(bytes).map_err(|e| format!("the bundle is not JSON ({e})"))?;
    let media_type = value["mediaType"].as_str().unwrap_or_default();
    if !media_type.starts_with(BUNDLE_PREFIX) {
        return Err(format!(
            "its media type {media_type:?} is not a sigstore bundle's"
        ));
    }
    let decode = |v: &Value| {
        base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap_or_default())
            .map_err(|e| format!("its bundle has invalid base64 ({e})"))
    };
    let message = &value["messageSignature"];
    if message.is_object() {
        let algorithm = message["messageDigest"]["algorithm"]
            .as_str()
            .unwrap_or_default();
        if algorithm != "SHA2_256" {
            return Err(format!(
                "its message signature's digest algorithm is {algorithm:?}, not SHA2_256"
            ));
        }
        return Ok(BundleContent::Message {
            sha256: decode(&message["messageDigest"]["digest"])?,
            signature: decode(&message["signature"])?,
        });
    }
    let envelope = &value["dsseEnvelope"];
    if !envelope.is_object() {
        return Err("it holds neither a DSSE envelope nor a message signature".into());
    }
    Ok(BundleContent::Dsse(Envelope {
        payload_type: envelope["payloadType"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        payload: decode(&envelope["payload"])?,
        signatures: envelope["signatures"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|s| decode(&s["sig"]))
            .collect::<Result<_, _>>()?,
    }))
}

/// One signature layer of a `.sig` manifest.
pub struct SigLayer {
    /// The layer descriptor as stored (kept verbatim when appending).
    pub descriptor: Value,
    /// The payload blob's digest.
    pub digest: String,
    /// The decoded signature annotation, when present and valid base64.
    pub signature: Option<Vec<u8>>,
}

/// The `.sig` manifest of `digest` in `image`'s repository, when there is one: its digest and
/// its layers.
pub async fn sig_manifest(
    registry: &Registry,
    image: &ImageRef,
    digest: &Digest,
) -> Result<Option<(String, Vec<SigLayer>)>> {
    let Some((bytes, manifest_digest)) = registry
        .manifest_raw(image, &sig_tag(digest), &[OCI_MANIFEST, DOCKER_MANIFEST])
        .await?
    else {
        return Ok(None);
    };
    let value: Value = serde_json::from_slice(&bytes).map_err(|e| Error::Registry {
        registry: image.registry().to_string(),
        image: format!("{}:{}", image.repository_url(), sig_tag(digest)),
        reason: format!("its signature manifest is not JSON ({e})"),
    })?;
    let layers = value["layers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|layer| SigLayer {
            descriptor: layer.clone(),
            digest: layer["digest"].as_str().unwrap_or_default().to_string(),
            signature: layer["annotations"][SIGNATURE_ANNOTATION]
                .as_str()
                .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok()),
        })
        .collect::<Vec<_>>();
    if layers.len() > MAX_SIGNATURES {
        return Err(Error::Registry {
            registry: image.registry().to_string(),
            image: format!("{}:{}", image.repository_url(), sig_tag(digest)),
            reason: format!(
                "its signature manifest has {} layers; at most {MAX_SIGNATURES} signatures per \
                 image are read (cosign's limit too): remove the stale ones",
                layers.len()
            ),
        });
    }
    Ok(Some((manifest_digest, layers)))
}

/// Judges every layer of the `.sig` manifest: one [`Checked`] each.
pub async fn check_sig(
    registry: &Registry,
    image: &ImageRef,
    digest: &Digest,
    verifies: &(dyn Fn(&[u8], &[u8]) -> bool + Sync),
) -> Result<Vec<Checked>> {
    let repository = image.repository_url();
    let Some((manifest, layers)) = sig_manifest(registry, image, digest).await? else {
        return Ok(Vec::new());
    };
    let mut checked = Vec::new();
    for (n, layer) in layers.iter().enumerate() {
        let name = format!("{repository}:{}@{manifest} layer {n}", sig_tag(digest));
        let result = judge_sig_layer(registry, image, digest, layer, verifies).await?;
        checked.push(Checked {
            name,
            resource_uri: image.with_digest(digest).to_string(),
            public_key_ids: Vec::new(),
            valid: result.is_ok(),
            verified_by: None,
            reason: result.err().unwrap_or_default(),
        });
    }
    Ok(checked)
}

async fn judge_sig_layer(
    registry: &Registry,
    image: &ImageRef,
    digest: &Digest,
    layer: &SigLayer,
    verifies: &(dyn Fn(&[u8], &[u8]) -> bool + Sync),
) -> Result<Result<(), String>> {
    if layer.descriptor["mediaType"] != SIMPLE_SIGNING {
        return Ok(Err(format!(
            "its media type is {}, not {SIMPLE_SIGNING}",
            layer.descriptor["mediaType"]
        )));
    }
    let Some(signature) = &layer.signature else {
        return Ok(Err(format!(
            "it has no valid {SIGNATURE_ANNOTATION} annotation"
        )));
    };
    let payload = match signature_blob(registry, image, &layer.descriptor).await? {
        Ok(payload) => payload,
        Err(reason) => return Ok(Err(reason)),
    };
    if let Err(reason) = check_simple_signing(&payload, &image.repository_url(), digest) {
        return Ok(Err(reason));
    }
    Ok(match verifies(&payload, signature) {
        true => Ok(()),
        false => Err("its signature does not verify with the key".into()),
    })
}

/// The blob a signature layer's `descriptor` names, or why it is not a signature: gone, larger
/// than [`MAX_SIGNATURE_BLOB`] (declared, or served), or not the size its descriptor declares.
/// Its digest is checked by the registry client.
async fn signature_blob(
    registry: &Registry,
    image: &ImageRef,
    descriptor: &Value,
) -> Result<std::result::Result<Vec<u8>, String>> {
    let digest = descriptor["digest"].as_str().unwrap_or_default();
    let declared = descriptor["size"].as_u64();
    let limit = crate::bounded::size(MAX_SIGNATURE_BLOB);
    if let Some(size) = declared.filter(|&n| n > MAX_SIGNATURE_BLOB) {
        return Ok(Err(format!(
            "its blob is {size} bytes, more than the {limit} a signature is read up to"
        )));
    }
    let blob = match registry.blob(image, digest, MAX_SIGNATURE_BLOB).await {
        Ok(blob) => blob,
        // A layer whose blob is gone is not a signature; the others still count.
        Err(Error::ImageNotFound { .. }) => return Ok(Err("its blob is missing".into())),
        Err(Error::BlobTooLarge { .. }) => {
            return Ok(Err(format!(
                "its blob runs past the {limit} a signature is read up to"
            )))
        }
        Err(e) => return Err(e),
    };
    if let Some(size) = declared.filter(|&n| n != blob.len() as u64) {
        return Ok(Err(format!(
            "its blob is {} bytes, but its descriptor says {size}",
            blob.len()
        )));
    }
    Ok(Ok(blob))
}

/// Judges every sigstore bundle referrer of the image: one [`Checked`] each.
pub async fn check_bundles(
    registry: &Registry,
    image: &ImageRef,
    digest: &Digest,
    verifies: &(dyn Fn(&[u8], &[u8]) -> bool + Sync),
) -> Result<Vec<Checked>> {
    let repository = image.repository_url();
    let mut checked = Vec::new();
    for referrer in bundle_candidates(registry, image, digest).await? {
        let Some(result) =
            judge_bundle(registry, image, digest, &referrer, Accept::Both, verifies).await?
        else {
            continue;
        };
        checked.push(Checked {
            name: format!("{repository}@{referrer}"),
            resource_uri: image.with_digest(digest).to_string(),
            public_key_ids: Vec::new(),
            valid: result.is_ok(),
            verified_by: None,
            reason: result.err().unwrap_or_default(),
        });
    }
    Ok(checked)
}

/// The referrers of the image that may be sigstore bundles: those listed as bundles, and those
/// listed with no artifact type or the empty config's media type, which is how cosign's registry
/// library (go-containerregistry `remote.commitSubjectReferrers`) lists its bundles in the
/// referrers tag index. Other artifact types (SBOMs, attestations of other tools) are not read.
async fn bundle_candidates(
    registry: &Registry,
    image: &ImageRef,
    digest: &Digest,
) -> Result<Vec<String>> {
    let candidates: Vec<String> = registry
        .referrers(image, digest, None)
        .await?
        .into_iter()
        .filter(|e| {
            matches!(e.artifact_type.as_deref(), None | Some(EMPTY))
                || e.artifact_type
                    .as_deref()
                    .is_some_and(|t| t.starts_with(BUNDLE_PREFIX))
        })
        .map(|e| e.digest)
        .collect();
    if candidates.len() > MAX_SIGNATURES {
        return Err(Error::Registry {
            registry: image.registry().to_string(),
            image: image.with_digest(digest).to_string(),
            reason: format!(
                "it has {} referrers that may be signature bundles; at most {MAX_SIGNATURES} \
                 signatures per image are read (cosign's limit too): remove the stale ones",
                candidates.len()
            ),
        });
    }
    Ok(candidates)
}

/// One referrer judged as a bundle signature of the image; `None` when it is not a sigstore
/// bundle at all (cosign's `GetBundles` skips those too).
async fn judge_bundle(
    registry: &Registry,
    image: &ImageRef,
    digest: &Digest,
    referrer: &str,
    form: Accept,
    verifies: &(dyn Fn(&[u8], &[u8]) -> bool + Sync),
) -> Result<Option<Result<(), String>>> {
    let Some((bytes, _)) = registry
        .manifest_raw(image, referrer, &[OCI_MANIFEST])
        .await?
    else {
        return Ok(Some(Err("the referrer manifest is gone".into())));
    };
    let manifest: Value = serde_json::from_slice(&bytes).unwrap_or_default();
    // cosign's `ociremote.Bundle`: exactly one layer, of a sigstore bundle media type.
    let layers = manifest["layers"].as_array().cloned().unwrap_or_default();
    let is_bundle = |l: &Value| {
        l["mediaType"]
            .as_str()
            .is_some_and(|t| t.starts_with(BUNDLE_PREFIX))
    };
    let Some(layer) = layers.iter().find(|l| is_bundle(l)) else {
        return Ok(None);
    };
    Ok(Some(
        judge_bundle_layer(registry, image, digest, layer, form, verifies).await?,
    ))
}

async fn judge_bundle_layer(
    registry: &Registry,
    image: &ImageRef,
    digest: &Digest,
    layer: &Value,
    form: Accept,
    verifies: &(dyn Fn(&[u8], &[u8]) -> bool + Sync),
) -> Result<Result<(), String>> {
    let blob = match signature_blob(registry, image, layer).await? {
        Ok(blob) => blob,
        Err(reason) => return Ok(Err(reason)),
    };
    let envelope = match parse_bundle(&blob) {
        Ok(BundleContent::Dsse(envelope)) => envelope,
        Ok(BundleContent::Message { sha256, signature }) => {
            return Ok(judge_message_signature(
                image, digest, &sha256, &signature, form, verifies,
            ))
        }
        Err(reason) => return Ok(Err(reason)),
    };
    if envelope.payload_type != IN_TOTO {
        return Ok(Err(format!(
            "its envelope's payload type is {}, not {IN_TOTO}",
            envelope.payload_type
        )));
    }
    if let Err(reason) = check_statement(&envelope.payload, &image.repository_url(), digest) {
        return Ok(Err(reason));
    }
    let signed = pae(IN_TOTO, &envelope.payload);
    Ok(
        match envelope.signatures.iter().any(|s| verifies(&signed, s)) {
            true => Ok(()),
            false => Err("no signature of its envelope verifies with the key".into()),
        },
    )
}

/// Which bundle forms count: `verify` reads both, `sign` looks for the one it writes (a
/// message-signature bundle alone would leave cosign 3 refusing the image).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Accept {
    DsseOnly,
    Both,
}

/// The older bundle form: a message signature over the simple-signing payload of the digest in
/// this repository (its SHA-256 must be that payload's, and the signature over it verify).
fn judge_message_signature(
    image: &ImageRef,
    digest: &Digest,
    sha256: &[u8],
    signature: &[u8],
    form: Accept,
    verifies: &(dyn Fn(&[u8], &[u8]) -> bool + Sync),
) -> Result<(), String> {
    if form == Accept::DsseOnly {
        return Err("it holds a message signature, which cosign 3 refuses (\"bundle does not contain a DSSE envelope\")".into());
    }
    let payload = simple_signing_payload(&image.repository_url(), digest);
    use sha2::Digest as _;
    if sha2::Sha256::digest(&payload)[..] != *sha256 {
        return Err(format!(
            "its message signature signs another message than the simple-signing payload of {digest}"
        ));
    }
    match verifies(&payload, signature) {
        true => Ok(()),
        false => Err("its message signature does not verify with the key".into()),
    }
}

/// Signs with `signer` and checks the signature locally before anything is stored.
async fn signed(signer: &dyn Signer, key: &PublicKey, message: &[u8]) -> Result<Vec<u8>> {
    let signature = signer.sign(&SignerKey::Pkix(key.clone()), message).await?;
    if !key.verifies(message, &signature) {
        return Err(Error::SignatureDoesNotVerify {
            key: signer.key_name(),
        });
    }
    Ok(signature)
}

/// The `sig` form: finds a valid signature by `key` in the `.sig` manifest, or appends one.
pub async fn write_sig(
    registry: &Registry,
    image: &ImageRef,
    digest: &Digest,
    signer: &dyn Signer,
    key: &PublicKey,
) -> Result<Stored> {
    let repository = image.repository_url();
    let existing = sig_manifest(registry, image, digest).await?;
    let verifies = |m: &[u8], s: &[u8]| key.verifies(m, s);
    let mut kept = Vec::new();
    if let Some((manifest, layers)) = existing {
        for layer in layers {
            if judge_sig_layer(registry, image, digest, &layer, &verifies)
                .await?
                .is_ok()
            {
                return Ok(Stored {
                    manifest: image.with_digest(&Digest::parse(&manifest)?),
                    created: false,
                });
            }
            kept.push(layer);
        }
    }
    let payload = simple_signing_payload(&repository, digest);
    let signature = signed(signer, key, &payload).await?;
    let payload_digest = registry.push_blob(image, &payload).await?;
    let b64 = base64::engine::general_purpose::STANDARD.encode(&signature);
    let mut layers: Vec<Value> = kept.into_iter().map(|l| l.descriptor).collect();
    layers.push(json!({
        "mediaType": SIMPLE_SIGNING,
        "digest": payload_digest,
        "size": payload.len(),
        "annotations": {SIGNATURE_ANNOTATION: b64},
    }));
    // The config lists each layer's digest as a diff id, as cosign and containers/image write it.
    let diff_ids: Vec<Value> = layers.iter().map(|l| l["digest"].clone()).collect();
    let config = json!({
        "architecture": "", "os": "", "config": {},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    })
    .to_string()
    .into_bytes();
    let config_digest = registry.push_blob(image, &config).await?;
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": config.len()},
        "layers": layers,
    })
    .to_string()
    .into_bytes();
    let manifest_digest = registry
        .push_manifest(image, &sig_tag(digest), &manifest, OCI_MANIFEST)
        .await?;
    Ok(Stored {
        manifest: image.with_digest(&Digest::parse(&manifest_digest)?),
        created: true,
    })
}

/// The `bundle` form: finds a valid bundle referrer by `key`, or attaches one (and lists it in
/// the referrers tag where the registry has no referrers API).
pub async fn write_bundle(
    registry: &Registry,
    image: &ImageRef,
    digest: &Digest,
    signer: &dyn Signer,
    key: &PublicKey,
) -> Result<Stored> {
    let verifies = |m: &[u8], s: &[u8]| key.verifies(m, s);
    for referrer in bundle_candidates(registry, image, digest).await? {
        let judged = judge_bundle(
            registry,
            image,
            digest,
            &referrer,
            Accept::DsseOnly,
            &verifies,
        )
        .await?;
        if matches!(judged, Some(Ok(()))) {
            return Ok(Stored {
                manifest: image.with_digest(&Digest::parse(&referrer)?),
                created: false,
            });
        }
    }
    let subject = subject(registry, image, digest).await?;
    let statement = statement(digest);
    let signature = signed(signer, key, &pae(IN_TOTO, &statement)).await?;
    let bundle = bundle(&statement, &signature, key);
    let bundle_digest = registry.push_blob(image, &bundle).await?;
    let empty_digest = registry.push_blob(image, b"{}").await?;
    // cosign v3.1.2 `pkg/oci/remote/write.go`: the creation time, the content kind and the
    // predicate type as annotations; the config is the empty descriptor, carrying the artifact
    // type as cosign's `WriteReferrer` sets it.
    let annotations = json!({
        "org.opencontainers.image.created": created_now(),
        "dev.sigstore.bundle.content": "dsse-envelope",
        "dev.sigstore.bundle.predicateType": SIGN_PREDICATE,
    });
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": EMPTY, "size": 2, "digest": empty_digest, "artifactType": BUNDLE_V03},
        "layers": [{"mediaType": BUNDLE_V03, "size": bundle.len(), "digest": bundle_digest}],
        "annotations": annotations,
        "subject": subject,
        "artifactType": BUNDLE_V03,
    })
    .to_string()
    .into_bytes();
    let manifest_digest = sha256_digest(&manifest);
    registry
        .push_manifest(image, &manifest_digest, &manifest, OCI_MANIFEST)
        .await?;
    let listed = registry
        .referrers(image, digest, Some(BUNDLE_V03))
        .await?
        .iter()
        .any(|e| e.digest == manifest_digest);
    if !listed {
        // No referrers API: keep the tag schema's index (other referrers stay listed).
        let tag = referrers_tag(digest);
        let mut index = match registry.manifest_raw(image, &tag, &[OCI_INDEX]).await? {
            Some((bytes, _)) => serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            None => Value::Null,
        };
        if !index["manifests"].is_array() {
            index = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []});
        }
        if let Some(manifests) = index["manifests"].as_array_mut() {
            manifests.push(json!({
                "mediaType": OCI_MANIFEST,
                "digest": manifest_digest,
                "size": manifest.len(),
                "artifactType": BUNDLE_V03,
                "annotations": annotations,
            }));
        }
        registry
            .push_manifest(image, &tag, index.to_string().as_bytes(), OCI_INDEX)
            .await?;
    }
    Ok(Stored {
        manifest: image.with_digest(&Digest::parse(&manifest_digest)?),
        created: true,
    })
}

/// Now as RFC 3339 UTC seconds, as cosign writes `org.opencontainers.image.created` (Go's
/// `time.RFC3339` of a UTC time: `2026-12-03T13:05:00Z`).
fn created_now() -> String {
    let now = time::OffsetDateTime::now_utc();
    now.replace_nanosecond(0)
        .unwrap_or(now)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// The image's descriptor as a referrer's `subject`: media type, digest, size.
async fn subject(registry: &Registry, image: &ImageRef, digest: &Digest) -> Result<Value> {
    let accept = [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST];
    let (bytes, _) = registry
        .manifest_raw(image, &digest.to_string(), &accept)
        .await?
        .ok_or_else(|| Error::ImageNotFound {
            image: image.with_digest(digest).to_string(),
        })?;
    let value: Value = serde_json::from_slice(&bytes).unwrap_or_default();
    let media_type = match value["mediaType"].as_str() {
        Some(t) => t.to_string(),
        None if value["manifests"].is_array() => OCI_INDEX.to_string(),
        None => OCI_MANIFEST.to_string(),
    };
    Ok(json!({"mediaType": media_type, "digest": digest.to_string(), "size": bytes.len()}))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

    #[test]
    fn the_payload_is_cosigns_byte_for_byte() {
        // cosign's payload for an image (sigstore/sigstore pkg/signature/payload, as in
        // cosign's SIGNATURE_SPEC.md): compact, `optional` null, no newline.
        let digest = Digest::parse(DIGEST).unwrap();
        assert_eq!(
            String::from_utf8(simple_signing_payload("us-docker.pkg.dev/p/r/app", &digest))
                .unwrap(),
            format!(
                r#"{{"critical":{{"identity":{{"docker-reference":"us-docker.pkg.dev/p/r/app"}},"image":{{"docker-manifest-digest":"{DIGEST}"}},"type":"cosign container image signature"}},"optional":null}}"#
            )
        );
        assert_eq!(sig_tag(&digest), format!("sha256-{}.sig", &DIGEST[7..]));
    }

    #[test]
    fn payloads_are_judged_by_digest_and_repository_tag_or_not() {
        let digest = Digest::parse(DIGEST).unwrap();
        let repo = "127.0.0.1:5000/app";
        assert!(
            check_simple_signing(&simple_signing_payload(repo, &digest), repo, &digest).is_ok()
        );
        // skopeo writes the tag into the identity.
        let skopeo = format!(
            r#"{{"critical":{{"identity":{{"docker-reference":"{repo}:v1"}},"image":{{"docker-manifest-digest":"{DIGEST}"}},"type":"cosign container image signature"}},"optional":{{"creator":"containers/image 5.34.2"}}}}"#
        );
        assert!(check_simple_signing(skopeo.as_bytes(), repo, &digest).is_ok());
        let other = simple_signing_payload("127.0.0.1:5000/web", &digest);
        assert!(check_simple_signing(&other, repo, &digest)
            .unwrap_err()
            .contains("127.0.0.1:5000/web"));
        let other_digest = Digest::parse(&format!("sha256:{}", "b".repeat(64))).unwrap();
        assert!(
            check_simple_signing(&simple_signing_payload(repo, &other_digest), repo, &digest)
                .is_err()
        );
    }

    #[test]
    fn statements_name_the_digest_and_repository() {
        let digest = Digest::parse(DIGEST).unwrap();
        let repo = "127.0.0.1:5000/app";
        let s = statement(&digest);
        // cosign 3's shape (sign.go `signDigestBundle`): no subject name, empty annotations.
        assert_eq!(
            serde_json::from_slice::<Value>(&s).unwrap(),
            json!({"_type": STATEMENT_V1,
                "subject": [{"digest": {"sha256": digest.hex()}, "annotations": {}}],
                "predicateType": SIGN_PREDICATE, "predicate": {}})
        );
        assert!(check_statement(&s, repo, &digest).is_ok());
        // A statement that names another repository is not this image's.
        let named = format!(
            r#"{{"_type":"{STATEMENT_V1}","subject":[{{"name":"127.0.0.1:5000/web","digest":{{"sha256":"{}"}}}}],"predicateType":"{SIGN_PREDICATE}","predicate":{{}}}}"#,
            digest.hex()
        );
        assert!(check_statement(named.as_bytes(), repo, &digest).is_err());
        // cosign 3's own statement has no subject name: the digest decides.
        let cosign = format!(
            r#"{{"_type":"{STATEMENT_V1}","subject":[{{"digest":{{"sha256":"{}"}}}}],"predicateType":"{SIGN_PREDICATE}","predicate":{{}}}}"#,
            digest.hex()
        );
        assert!(check_statement(cosign.as_bytes(), repo, &digest).is_ok());
    }

    #[test]
    fn bundles_are_v03_with_a_public_key_hint_and_no_log_entries() {
        let digest = Digest::parse(DIGEST).unwrap();
        let key = PublicKey {
            pem: "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n".into(),
            algorithm: crate::algorithm::SigningAlgorithm::from_kms("EC_SIGN_P256_SHA256").unwrap(),
        };
        let s = statement(&digest);
        let bytes = bundle(&s, b"sig", &key);
        let value: Value = serde_json::from_slice(&bytes).unwrap();
        // base64 of SHA-256 of the DER bytes 00 00 00; protobuf JSON leaves empty fields out.
        assert_eq!(
            value,
            json!({"mediaType": BUNDLE_V03,
                "verificationMaterial": {"publicKey": {"hint": "cJ6AyISHokEeHuTfufIqhhSS0gxHZRUMDHlKvXD4FHw="}},
                "dsseEnvelope": {"payload": base64::engine::general_purpose::STANDARD.encode(&s),
                    "payloadType": IN_TOTO, "signatures": [{"sig": "c2ln"}]}})
        );
        let BundleContent::Dsse(envelope) = parse_bundle(&bytes).unwrap() else {
            panic!("a DSSE bundle")
        };
        assert_eq!(envelope.payload_type, IN_TOTO);
        assert_eq!(envelope.payload, s);
        assert_eq!(envelope.signatures, vec![b"sig".to_vec()]);
        let message = json!({"mediaType": BUNDLE_V03, "messageSignature": {
            "messageDigest": {"algorithm": "SHA2_256", "digest": "AAAA"}, "signature": "c2ln"}});
        assert!(matches!(
            parse_bundle(message.to_string().as_bytes()).unwrap(),
            BundleContent::Message { sha256, signature } if sha256 == [0, 0, 0] && signature == b"sig"
        ));
        let neither = json!({"mediaType": BUNDLE_V03}).to_string();
        assert!(parse_bundle(neither.as_bytes())
            .unwrap_err()
            .contains("neither a DSSE envelope"));
    }

    #[test]
    fn bare_cosign_means_both_and_a_form_needs_equals() {
        use crate::cli::{Cli, Command, CosignForm};
        use clap::Parser;
        let form = |args: &[&str]| {
            let base = [
                "b",
                "sign",
                "--attestor=a",
                "--attestor-project=p",
                "--kms-key-version=k",
            ];
            let cli = Cli::try_parse_from(base.iter().chain(args)).unwrap();
            match cli.command {
                Command::Sign(s) => (s.cosign, s.images.len()),
                _ => unreachable!(),
            }
        };
        assert_eq!(
            form(&["--cosign", "gcr.io/p/i"]),
            (Some(CosignForm::Both), 1)
        );
        assert_eq!(
            form(&["--cosign=sig", "gcr.io/p/i"]),
            (Some(CosignForm::Sig), 1)
        );
        assert_eq!(form(&["gcr.io/p/i"]), (None, 1));
    }
}
