//! Binary Authorization v1 and v1beta1: attestors, the project policy, and
//! `validateAttestationOccurrence`, which checks signatures the way admission does.

use crate::crypto::{spki_der, verify_pem, Algorithm};
use crate::google::{decode_bytes, now, parse_body, ApiError, ApiResult};
use crate::http::Reply;
use crate::router::{page, Call, Emulator};
use crate::state::{check_name, State};
use base64::Engine;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// v1 calls the note field `userOwnedGrafeasNote`, v1beta1 `userOwnedDrydockNote`.
const V1_NOTE: &str = "userOwnedGrafeasNote";
const V1BETA1_NOTE: &str = "userOwnedDrydockNote";

/// An attestor as the given API version shows it (stored in the v1 form).
fn render(attestor: &Value, version: &str) -> Value {
    let mut out = attestor.clone();
    if version == "v1beta1" {
        if let Some(obj) = out.as_object_mut() {
            if let Some(mut note) = obj.remove(V1_NOTE) {
                for key in note["publicKeys"].as_array_mut().into_iter().flatten() {
                    if let Some(pkix) = key.get_mut("pkixPublicKey").and_then(Value::as_object_mut)
                    {
                        pkix.remove("keyId"); // v1beta1 has no such field
                    }
                }
                obj.insert(V1BETA1_NOTE.into(), note);
            }
        }
    }
    out
}

/// Validates and stores an attestor given in either API version's form.
pub fn insert_attestor(
    state: &mut State,
    name: &str,
    mut body: Value,
    update: bool,
) -> ApiResult<Value> {
    check_name(name, &["projects", "attestors"])?;
    let exists = state.attestors.contains_key(name);
    if update && !exists {
        return Err(ApiError::not_found(format!("Attestor {name} not found.")));
    }
    if !update && exists {
        return Err(ApiError::already_exists(format!(
            "Attestor {name} already exists."
        )));
    }
    let obj = body
        .as_object_mut()
        .ok_or_else(|| ApiError::invalid("Attestor must be an object."))?;
    let mut note = obj
        .remove(V1_NOTE)
        .or_else(|| obj.remove(V1BETA1_NOTE))
        .ok_or_else(|| {
            ApiError::invalid(format!(
                "Attestor {name} needs {V1_NOTE} (v1) or {V1BETA1_NOTE} (v1beta1)."
            ))
        })?;
    let reference = note["noteReference"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    check_name(&reference, &["projects", "notes"]).map_err(|_| {
        ApiError::invalid(format!(
            "Invalid noteReference {reference:?}: expected projects/*/notes/*."
        ))
    })?;
    if let Some(note) = note.as_object_mut() {
        note.remove("delegationServiceAccountEmail");
        let keys = note.entry("publicKeys").or_insert_with(|| json!([]));
        let mut seen = Vec::new();
        for key in keys.as_array_mut().into_iter().flatten() {
            let id = check_public_key(key)?;
            if seen.contains(&id) {
                return Err(ApiError::invalid(format!(
                    "Duplicate public key id {id} on attestor {name}."
                )));
            }
            seen.push(id);
        }
    }
    obj.remove("updateTime");
    obj.insert("name".into(), json!(name));
    obj.insert(V1_NOTE.into(), note);
    obj.insert("updateTime".into(), json!(now()));
    state.attestors.insert(name.to_string(), body.clone());
    Ok(body)
}

/// Checks one attestor key and gives a PKIX key without an id the server-assigned one:
/// `ni:///sha-256;` + unpadded base64url of SHA-256 over the DER SubjectPublicKeyInfo.
fn check_public_key(key: &mut Value) -> ApiResult<String> {
    if let Some(pkix) = key.get("pkixPublicKey") {
        let alg = pkix["signatureAlgorithm"].as_str().unwrap_or_default();
        if Algorithm::from_binauthz(alg).is_none() {
            return Err(ApiError::invalid(format!(
                "Unsupported pkixPublicKey.signatureAlgorithm {alg:?}."
            )));
        }
        let pem = pkix["publicKeyPem"].as_str().unwrap_or_default();
        let der = spki_der(pem).ok_or_else(|| {
            ApiError::invalid("pkixPublicKey.publicKeyPem is not a PEM public key.")
        })?;
        if key
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .is_empty()
        {
            let hash = Sha256::digest(der);
            key["id"] = json!(format!(
                "ni:///sha-256;{}",
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(hash)
            ));
        }
    } else if key.get("asciiArmoredPgpPublicKey").is_none() {
        return Err(ApiError::invalid(
            "A public key needs pkixPublicKey or asciiArmoredPgpPublicKey.",
        ));
    }
    match key.get("id").and_then(Value::as_str) {
        Some(id) if !id.is_empty() => Ok(id.to_string()),
        _ => Err(ApiError::invalid(
            "The emulator cannot compute PGP fingerprints: give the key an id.",
        )),
    }
}

pub fn create_attestor(emu: &Emulator, call: &Call) -> ApiResult<Reply> {
    let name = format!("{}/{}", call.resource, call.required_query("attestorId")?);
    let attestor = insert_attestor(&mut emu.state(), &name, parse_body(&call.req.body)?, false)?;
    Ok(Reply::json(&render(&attestor, &call.version)))
}

pub fn update_attestor(emu: &Emulator, call: &Call) -> ApiResult<Reply> {
    let attestor = insert_attestor(
        &mut emu.state(),
        &call.resource,
        parse_body(&call.req.body)?,
        true,
    )?;
    Ok(Reply::json(&render(&attestor, &call.version)))
}

pub fn get_attestor(emu: &Emulator, call: &Call) -> ApiResult<Reply> {
    let state = emu.state();
    let attestor = state
        .attestors
        .get(&call.resource)
        .ok_or_else(|| attestor_not_found(&call.resource))?;
    Ok(Reply::json(&render(attestor, &call.version)))
}

pub fn list_attestors(emu: &Emulator, call: &Call) -> ApiResult<Reply> {
    let prefix = format!("{}/", call.resource);
    let state = emu.state();
    let items = state
        .attestors
        .iter()
        .filter(|(n, _)| n.starts_with(&prefix))
        .map(|(_, a)| render(a, &call.version));
    page(call, "attestors", items.collect())
}

pub fn delete_attestor(emu: &Emulator, call: &Call) -> ApiResult<Reply> {
    match emu.state().attestors.remove(&call.resource) {
        Some(_) => Ok(Reply::json(&json!({}))),
        None => Err(attestor_not_found(&call.resource)),
    }
}

fn attestor_not_found(name: &str) -> ApiError {
    ApiError::not_found(format!("Attestor {name} not found."))
}

pub fn validate_occurrence(emu: &Emulator, call: &Call) -> ApiResult<Reply> {
    let body = parse_body(&call.req.body)?;
    let state = emu.state();
    let attestor = state
        .attestors
        .get(&call.resource)
        .ok_or_else(|| attestor_not_found(&call.resource))?;
    let note = body["occurrenceNote"].as_str().unwrap_or_default();
    let uri = body["occurrenceResourceUri"].as_str().unwrap_or_default();
    let answer = match verify_attestation(attestor, note, uri, &body["attestation"]) {
        Ok(()) => json!({"result": "VERIFIED"}),
        Err(reason) => json!({"result": "ATTESTATION_NOT_VERIFIABLE", "denialReason": reason}),
    };
    Ok(Reply::json(&answer))
}

/// Checks an attestation as Binary Authorization admission does: the note is the attestor's,
/// the payload names exactly this image digest, and a signature verifies under the attestor key
/// whose id equals its `publicKeyId`.
pub fn verify_attestation(
    attestor: &Value,
    note: &str,
    resource_uri: &str,
    attestation: &Value,
) -> Result<(), String> {
    let expected_note = attestor[V1_NOTE]["noteReference"]
        .as_str()
        .unwrap_or_default();
    if note != expected_note {
        return Err(format!(
            "occurrence note {note:?} is not the attestor's note {expected_note:?}"
        ));
    }
    let payload = decode_bytes(
        "serializedPayload",
        attestation["serializedPayload"]
            .as_str()
            .unwrap_or_default(),
    )
    .map_err(|e| e.message)?;
    let parsed: Value =
        serde_json::from_slice(&payload).map_err(|e| format!("the payload is not JSON: {e}"))?;
    let critical = &parsed["critical"];
    let signed_uri = format!(
        "{}@{}",
        critical["identity"]["docker-reference"]
            .as_str()
            .unwrap_or_default(),
        critical["image"]["docker-manifest-digest"]
            .as_str()
            .unwrap_or_default()
    );
    let uri = resource_uri
        .strip_prefix("https://")
        .unwrap_or(resource_uri);
    if signed_uri != uri {
        return Err(format!(
            "the payload signs {signed_uri:?}, not the occurrence's resource {uri:?}"
        ));
    }
    let keys = attestor[V1_NOTE]["publicKeys"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut reasons = Vec::new();
    for sig in attestation["signatures"].as_array().into_iter().flatten() {
        let id = sig["publicKeyId"].as_str().unwrap_or_default();
        let Some(key) = keys.iter().find(|k| k["id"] == id) else {
            reasons.push(format!("no public key with id {id:?} on the attestor"));
            continue;
        };
        let pkix = &key["pkixPublicKey"];
        let Some(alg) = pkix["signatureAlgorithm"]
            .as_str()
            .and_then(Algorithm::from_binauthz)
        else {
            reasons.push(format!(
                "key {id:?} is not a PKIX key the emulator can check"
            ));
            continue;
        };
        let signature = decode_bytes("signature", sig["signature"].as_str().unwrap_or_default())
            .map_err(|e| e.message)?;
        if verify_pem(
            alg,
            pkix["publicKeyPem"].as_str().unwrap_or_default(),
            &payload,
            &signature,
        ) {
            return Ok(());
        }
        reasons.push(format!("the signature by {id:?} does not verify"));
    }
    if reasons.is_empty() {
        reasons.push("the attestation has no signatures".into());
    }
    Err(reasons.join("; "))
}

fn default_policy(project: &str) -> Value {
    json!({
        "name": format!("projects/{project}/policy"),
        "globalPolicyEvaluationMode": "ENABLE",
        "defaultAdmissionRule": {"evaluationMode": "ALWAYS_ALLOW", "enforcementMode": "ENFORCED_BLOCK_AND_AUDIT_LOG"},
    })
}

pub fn get_policy(emu: &Emulator, call: &Call) -> ApiResult<Reply> {
    let project = call.parent(1).trim_start_matches("projects/").to_string();
    let state = emu.state();
    let policy = state
        .policies
        .get(&project)
        .cloned()
        .unwrap_or_else(|| default_policy(&project));
    Ok(Reply::json(&policy))
}

const POLICY_FIELDS: &[&str] = &[
    "name",
    "description",
    "globalPolicyEvaluationMode",
    "admissionWhitelistPatterns",
    "clusterAdmissionRules",
    "kubernetesNamespaceAdmissionRules",
    "kubernetesServiceAccountAdmissionRules",
    "istioServiceIdentityAdmissionRules",
    "defaultAdmissionRule",
    "updateTime",
    "etag",
];

pub fn update_policy(emu: &Emulator, call: &Call) -> ApiResult<Reply> {
    let project = call.parent(1).trim_start_matches("projects/").to_string();
    let mut policy = parse_body(&call.req.body)?;
    let obj = policy
        .as_object_mut()
        .ok_or_else(|| ApiError::invalid("Policy must be an object."))?;
    if let Some(unknown) = obj.keys().find(|k| !POLICY_FIELDS.contains(&k.as_str())) {
        return Err(ApiError::invalid(format!(
            "Invalid JSON payload received. Unknown name \"{unknown}\" at 'policy'."
        )));
    }
    if !obj
        .get("defaultAdmissionRule")
        .is_some_and(Value::is_object)
    {
        return Err(ApiError::invalid(
            "Policy.defaultAdmissionRule is required.",
        ));
    }
    obj.remove("etag");
    obj.insert("name".into(), json!(call.resource));
    obj.insert("updateTime".into(), json!(now()));
    emu.state().policies.insert(project, policy.clone());
    Ok(Reply::json(&policy))
}
