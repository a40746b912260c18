//! Whether a filed attestation is one Binary Authorization admission would accept for an image:
//! it is filed for exactly this `REPO@DIGEST`, its payload names the same, and one of its
//! signatures verifies under the attestor key whose id it carries. `sign` relies on it to stay
//! idempotent; `verify` reports the reasons. Pure: it knows the model, never the network.

use crate::algorithm::SigningAlgorithm;
use crate::model::{Attestation, Attestor};
use crate::openpgp::PgpKey;
use crate::payload::{Payload, PAYLOAD_TYPE};

/// The DSSE type gcloud `sign-and-create --pae-encode-payload` uses unless `--dsse-type` says
/// otherwise (its `--dsse-type` default, read from gcloud's source).
pub const GCLOUD_DSSE_TYPE: &str = "application/vnd.dev.cosign.simplesigning.v1+json";

/// The DSSE pre-authentication encoding of `body` (DSSE protocol v1, as gcloud's `PaeEncode`
/// writes it): `DSSEv1 LEN(type) type LEN(body) body`, lengths in ASCII decimal.
pub fn pae(dsse_type: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!("DSSEv1 {} {dsse_type} {} ", dsse_type.len(), body.len()).into_bytes();
    out.extend_from_slice(body);
    out
}

/// `Ok(key id)` when the attestation holds; `Err(reason)` otherwise. A signature may cover the
/// payload itself or its DSSE pre-authentication encoding (`--pae-encode-payload`).
pub fn check(
    attestation: &Attestation,
    attestor: &Attestor,
    image_ref: &str,
) -> Result<String, String> {
    check_with(attestation, attestor, image_ref, None)
}

/// [`check`], also accepting signatures over the DSSE encoding with `dsse_type` (gcloud
/// `--dsse-type`), besides gcloud's default type.
pub fn check_with(
    attestation: &Attestation,
    attestor: &Attestor,
    image_ref: &str,
    dsse_type: Option<&str>,
) -> Result<String, String> {
    let filed_for = attestation
        .resource_uri
        .strip_prefix("https://")
        .unwrap_or(&attestation.resource_uri);
    if filed_for != image_ref {
        return Err(format!("it is filed for {filed_for}, not {image_ref}"));
    }
    if attestation.signatures.is_empty() && !attestation.jwts.is_empty() {
        return Err(
            "not checked: it is a JWT attestation, which this tool does not verify yet".into(),
        );
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
    if attestor.keys.is_empty() {
        return Err(format!("attestor {} has no public keys", attestor.name));
    }
    let mut signed_forms = vec![
        attestation.payload.clone(),
        pae(GCLOUD_DSSE_TYPE, &attestation.payload),
    ];
    if let Some(other) = dsse_type.filter(|t| *t != GCLOUD_DSSE_TYPE) {
        signed_forms.push(pae(other, &attestation.payload));
    }
    let mut reasons = Vec::new();
    for (key_id, signature) in &attestation.signatures {
        let Some(key) = attestor.key(key_id) else {
            reasons.push(unknown_key_id(attestor, key_id, &signed_forms, signature));
            continue;
        };
        if let Some(armored) = &key.pgp {
            match pgp_check(armored, signature, image_ref) {
                Ok(()) => return Ok(key_id.clone()),
                Err(reason) => reasons.push(format!("the PGP signature by {key_id}: {reason}")),
            }
            continue;
        }
        let Some(public) = key.public_key() else {
            // A PKIX entry that declares no algorithm we know: the key itself decides, so a
            // rerun of `sign` finds what it filed instead of filing it again.
            let undeclared = key
                .pem
                .as_deref()
                .and_then(|pem| other_algorithm(pem, &signed_forms, signature));
            match undeclared {
                Some(_) => return Ok(key_id.clone()),
                None => reasons.push(format!(
                    "key {key_id} is not a PKIX key this tool can check"
                )),
            }
            continue;
        };
        if signed_forms.iter().any(|m| public.verifies(m, signature)) {
            return Ok(key_id.clone());
        }
        reasons.push(
            match other_algorithm(&public.pem, &signed_forms, signature) {
                Some(used) => format!(
                    "the signature by {key_id} verifies with {} but the attestor declares {}: \
                 Binary Authorization will reject it",
                    used.binauthz_name, public.algorithm.binauthz_name
                ),
                None => format!("the signature by {key_id} does not verify"),
            },
        );
    }
    if reasons.is_empty() {
        reasons.push("it has no signatures".into());
    }
    Err(reasons.join("; "))
}

/// An attached OpenPGP signature that verifies under `armored` and carries the payload that
/// names `image_ref` (the payload Binary Authorization reads is the one inside the signature).
fn pgp_check(armored: &str, signature: &[u8], image_ref: &str) -> Result<(), String> {
    let key = PgpKey::parse(armored)?;
    let content = key.verified_content(signature)?;
    let payload: Payload = serde_json::from_slice(&content)
        .map_err(|e| format!("the signed content is not a signature payload ({e})"))?;
    let critical = &payload.critical;
    let signed = format!(
        "{}@{}",
        critical.identity.docker_reference, critical.image.docker_manifest_digest
    );
    match signed == image_ref && critical.kind == PAYLOAD_TYPE {
        true => Ok(()),
        false => Err(format!(
            "the signed payload names {signed}, not {image_ref}"
        )),
    }
}

/// An algorithm other than the declared one under which the key's signature verifies.
fn other_algorithm(pem: &str, forms: &[Vec<u8>], signature: &[u8]) -> Option<SigningAlgorithm> {
    SigningAlgorithm::all().find(|alg| forms.iter().any(|m| alg.verifies(pem, m, signature)))
}

/// Why a signature filed under an id the attestor does not know fails; when the signature is
/// valid under one of the attestor's keys all the same (Tekton Chains' `gcpkms://` ids), say
/// so, since re-filing it under the right id is the fix.
fn unknown_key_id(
    attestor: &Attestor,
    key_id: &str,
    forms: &[Vec<u8>],
    signature: &[u8],
) -> String {
    let verifying = attestor.keys.iter().find(|k| {
        k.public_key()
            .is_some_and(|key| forms.iter().any(|m| key.verifies(m, signature)))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algorithm::SigningAlgorithm;
    use crate::model::TrustedKey;
    use crate::names::{AttestorName, NoteName};
    use crate::reference::ImageRef;
    use base64::Engine;

    // A P-256 key and its signature over the payload of IMAGE, made with openssl:
    //   binauthz-attest payload IMAGE > p.json   (byte for byte gcloud's, see tests/payload.rs)
    //   openssl ecparam -name prime256v1 -genkey -noout -out k.pem; openssl ec -in k.pem -pubout
    //   openssl dgst -sha256 -sign k.pem p.json | base64 -w0
    const IMAGE: &str = "us-docker.pkg.dev/p/r/app@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const PEM: &str = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEEXk2pwIOoK55wFChpb1COU6uD9vX\nAPkO4cCn/MiyXHt1o15xRH2xrO5wK7xcN3axN/zOLUoenOJEZv51OlEECQ==\n-----END PUBLIC KEY-----\n";
    const SIGNATURE: &str = "MEQCIBYeDHY1QCWmuR+Mfm/R+PlnkH7pI3EM07BfyOto79fYAiBvoDEqdA47r7mCcIgmgYwh7N8AY5RNtxFoUBBO0bOzlA==";
    // Another P-256 key (openssl, as above), which did not sign.
    const OTHER_PEM: &str = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE8qjRMCWSItS3/uO7XT+MrBJJ3F1i\n9xFm2u/QPbhCOaJpwhYmJ66WO+/VIHxbpooVldNAMugjuSBtKWgsDvd/UQ==\n-----END PUBLIC KEY-----\n";
    // The same key's signature over the DSSE encoding of that payload, as gcloud
    // `sign-and-create --pae-encode-payload` signs (PAE bytes built by hand, then openssl dgst).
    const PAE_SIGNATURE: &str = "MEUCIQC9tpOZ6Uhx/pmhWgTp/m9tvdgGW2GM/LcBRFqEdmRmpQIgRbRp0r31jbEt6BXMPuP75t93FKibeHMKdQ4kGqtMCvo=";
    const KEY_ID: &str = "//cloudkms.googleapis.com/v1/projects/p/locations/global/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1";

    fn payload(image: &str) -> Vec<u8> {
        Payload::for_pinned(&ImageRef::parse(image).unwrap())
            .unwrap()
            .to_bytes()
    }

    fn signature() -> Vec<u8> {
        base64::engine::general_purpose::STANDARD
            .decode(SIGNATURE)
            .unwrap()
    }

    fn attestor(keys: &[(&str, &str)]) -> Attestor {
        Attestor {
            name: AttestorName::parse("projects/p/attestors/a", None).unwrap(),
            note: NoteName::parse("projects/p/notes/n").unwrap(),
            keys: keys
                .iter()
                .map(|(id, pem)| TrustedKey {
                    id: id.to_string(),
                    pem: Some(pem.to_string()),
                    algorithm: SigningAlgorithm::from_binauthz("ECDSA_P256_SHA256"),
                    pgp: None,
                })
                .collect(),
        }
    }

    fn filed(resource: &str, payload: Vec<u8>, signatures: &[(&str, Vec<u8>)]) -> Attestation {
        Attestation {
            name: "projects/p/occurrences/o".into(),
            resource_uri: resource.into(),
            payload,
            signatures: signatures
                .iter()
                .map(|(id, s)| (id.to_string(), s.clone()))
                .collect(),
            jwts: Vec::new(),
        }
    }

    #[test]
    fn a_signature_under_the_attestors_id_holds_with_or_without_https() {
        let a = attestor(&[(KEY_ID, PEM)]);
        for resource in [IMAGE.to_string(), format!("https://{IMAGE}")] {
            let att = filed(&resource, payload(IMAGE), &[(KEY_ID, signature())]);
            assert_eq!(check(&att, &a, IMAGE), Ok(KEY_ID.to_string()));
        }
    }

    #[test]
    fn pae_matches_the_dsse_specification() {
        // The example of the DSSE protocol document (secure-systems-lab/dsse, protocol.md).
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
        );
    }

    #[test]
    fn a_signature_over_the_dsse_encoding_holds() {
        let pae_signature = base64::engine::general_purpose::STANDARD
            .decode(PAE_SIGNATURE)
            .unwrap();
        let att = filed(IMAGE, payload(IMAGE), &[(KEY_ID, pae_signature)]);
        assert_eq!(
            check(&att, &attestor(&[(KEY_ID, PEM)]), IMAGE),
            Ok(KEY_ID.to_string())
        );
    }

    #[test]
    fn a_declared_algorithm_other_than_the_signatures_is_named() {
        let mut a = attestor(&[(KEY_ID, PEM)]);
        a.keys[0].algorithm = SigningAlgorithm::from_binauthz("ECDSA_P384_SHA384");
        let att = filed(IMAGE, payload(IMAGE), &[(KEY_ID, signature())]);
        let reason = check(&att, &a, IMAGE).unwrap_err();
        assert!(
            reason.contains(
                "verifies with ECDSA_P256_SHA256 but the attestor declares ECDSA_P384_SHA384"
            ),
            "{reason}"
        );
    }

    #[test]
    fn an_entry_without_a_declared_algorithm_is_judged_by_its_key() {
        let mut a = attestor(&[(KEY_ID, PEM)]);
        a.keys[0].algorithm = None;
        let att = filed(IMAGE, payload(IMAGE), &[(KEY_ID, signature())]);
        assert_eq!(check(&att, &a, IMAGE), Ok(KEY_ID.to_string()));
        a.keys[0].pem = Some(OTHER_PEM.into());
        assert!(check(&att, &a, IMAGE).is_err());
    }

    #[test]
    fn jwt_attestations_and_attestors_without_keys_are_not_passed() {
        let mut att = filed(IMAGE, payload(IMAGE), &[]);
        att.jwts = vec!["eyJhbGciOi.e30.sig".into()];
        let reason = check(&att, &attestor(&[(KEY_ID, PEM)]), IMAGE).unwrap_err();
        assert!(
            reason.starts_with("not checked: it is a JWT attestation"),
            "{reason}"
        );
        let att = filed(IMAGE, payload(IMAGE), &[(KEY_ID, signature())]);
        let reason = check(&att, &attestor(&[]), IMAGE).unwrap_err();
        assert_eq!(reason, "attestor projects/p/attestors/a has no public keys");
    }

    #[test]
    fn filed_for_another_image_is_refused() {
        let other = IMAGE.replace("/app@", "/web@");
        let att = filed(&other, payload(IMAGE), &[(KEY_ID, signature())]);
        let reason = check(&att, &attestor(&[(KEY_ID, PEM)]), IMAGE).unwrap_err();
        assert!(
            reason.starts_with("it is filed for us-docker.pkg.dev/p/r/web@"),
            "{reason}"
        );
    }

    #[test]
    fn a_payload_naming_another_image_or_no_payload_is_refused() {
        let other = IMAGE.replace("/app@", "/web@");
        let a = attestor(&[(KEY_ID, PEM)]);
        let att = filed(IMAGE, payload(&other), &[(KEY_ID, signature())]);
        let reason = check(&att, &a, IMAGE).unwrap_err();
        assert!(
            reason.starts_with("its payload signs us-docker.pkg.dev/p/r/web@"),
            "{reason}"
        );
        let att = filed(IMAGE, b"not json".to_vec(), &[(KEY_ID, signature())]);
        let reason = check(&att, &a, IMAGE).unwrap_err();
        assert!(
            reason.starts_with("its payload is not a signature payload"),
            "{reason}"
        );
    }

    #[test]
    fn a_signature_that_does_not_verify_is_refused() {
        let mut forged = signature();
        let last = forged.len() - 1;
        forged[last] ^= 1;
        let att = filed(IMAGE, payload(IMAGE), &[(KEY_ID, forged)]);
        let reason = check(&att, &attestor(&[(KEY_ID, PEM)]), IMAGE).unwrap_err();
        assert_eq!(reason, format!("the signature by {KEY_ID} does not verify"));
        let att = filed(IMAGE, payload(IMAGE), &[(KEY_ID, signature())]);
        let reason = check(&att, &attestor(&[(KEY_ID, OTHER_PEM)]), IMAGE).unwrap_err();
        assert_eq!(reason, format!("the signature by {KEY_ID} does not verify"));
    }

    #[test]
    fn a_valid_signature_under_an_id_the_attestor_lacks_is_named_as_misfiled() {
        let chains_id = KEY_ID.replace("//cloudkms.googleapis.com/v1/", "gcpkms://");
        let att = filed(IMAGE, payload(IMAGE), &[(&chains_id, signature())]);
        let reason = check(&att, &attestor(&[(KEY_ID, PEM)]), IMAGE).unwrap_err();
        assert!(
            reason.contains("the signature is valid but filed under key id gcpkms://")
                && reason.contains(&format!("not the attestor's id {KEY_ID}")),
            "{reason}"
        );
        let reason = check(&att, &attestor(&[(KEY_ID, OTHER_PEM)]), IMAGE).unwrap_err();
        assert!(
            reason.contains("is not one of projects/p/attestors/a's key ids"),
            "{reason}"
        );
    }

    #[test]
    fn a_pgp_entry_or_no_signature_is_refused_with_its_reason() {
        let mut a = attestor(&[(KEY_ID, PEM)]);
        a.keys[0].pem = None;
        let att = filed(IMAGE, payload(IMAGE), &[(KEY_ID, signature())]);
        let reason = check(&att, &a, IMAGE).unwrap_err();
        assert_eq!(
            reason,
            format!("key {KEY_ID} is not a PKIX key this tool can check")
        );
        let att = filed(IMAGE, payload(IMAGE), &[]);
        assert_eq!(
            check(&att, &attestor(&[(KEY_ID, PEM)]), IMAGE),
            Err("it has no signatures".to_string())
        );
    }
}
