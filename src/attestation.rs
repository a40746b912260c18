//! Whether a filed attestation is one Binary Authorization admission would accept for an image:
//! it is filed for exactly this `REPO@DIGEST`, its payload names the same, and one of its
//! signatures verifies under the attestor key whose id it carries. `sign` relies on it to stay
//! idempotent; `verify` will report the reasons.

use crate::gcp::binauthz::Attestor;
use crate::gcp::grafeas::Attestation;
use crate::payload::{Payload, PAYLOAD_TYPE};

/// `Ok(key id)` when the attestation holds; `Err(reason)` otherwise.
pub fn check(
    attestation: &Attestation,
    attestor: &Attestor,
    image_ref: &str,
) -> Result<String, String> {
    let filed_for = attestation
        .resource_uri
        .strip_prefix("https://")
        .unwrap_or(&attestation.resource_uri);
    if filed_for != image_ref {
        return Err(format!("it is filed for {filed_for}, not {image_ref}"));
    }
    let payload: Payload = serde_json::from_slice(&attestation.payload)
        .map_err(|e| format!("its payload is not a signature payload ({e})"))?;
    let critical = &payload.critical;
    let signed = format!(
        "{}@{}",
        critical.identity.docker_reference, critical.image.docker_manifest_digest
    );
    if signed != image_ref || critical.kind != PAYLOAD_TYPE {
        return Err(format!("its payload signs {signed}, not {image_ref}"));
    }
    let mut reasons = Vec::new();
    for (key_id, signature) in &attestation.signatures {
        match attestor.key(key_id) {
            Some(key) => match (&key.pem, key.algorithm) {
                (Some(pem), Some(alg)) if alg.verifies(pem, &attestation.payload, signature) => {
                    return Ok(key_id.clone())
                }
                (Some(_), Some(_)) => {
                    reasons.push(format!("the signature by {key_id} does not verify"))
                }
                _ => reasons.push(format!(
                    "key {key_id} is not a PKIX key this tool can check"
                )),
            },
            None => reasons.push(unknown_key_id(
                attestor,
                key_id,
                &attestation.payload,
                signature,
            )),
        }
    }
    if reasons.is_empty() {
        reasons.push("it has no signatures".into());
    }
    Err(reasons.join("; "))
}

/// Why a signature filed under an id the attestor does not know fails; when the signature is
/// valid under one of the attestor's keys all the same (Tekton Chains' `gcpkms://` ids), say
/// so, since re-filing it under the right id is the fix.
fn unknown_key_id(attestor: &Attestor, key_id: &str, payload: &[u8], signature: &[u8]) -> String {
    let verifying = attestor.keys.iter().find(|k| match (&k.pem, k.algorithm) {
        (Some(pem), Some(alg)) => alg.verifies(pem, payload, signature),
        _ => false,
    });
    match verifying {
        Some(key) => format!(
            "Binary Authorization will reject this: the signature is valid but filed under key id {key_id}, \
             not the attestor's id {}",
            key.id
        ),
        None => format!("key id {key_id} is not one of {}'s key ids", attestor.name),
    }
}
