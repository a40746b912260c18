//! Binary Authorization v1 and v1beta1: attestors, the project policy, and
//! `validateAttestationOccurrence`, which checks signatures the way admission does.
//!
//! Schemas and rules follow `google/cloud/binaryauthorization/v1/resources.proto` and
//! `service.proto` (as the generated `google-cloud-binaryauthorization-v1` model documents
//! them); etags follow AIP-154.

use crate::crypto::{
    key_matches, pgp_fingerprint, pgp_verified_content, spki_der, verify_pem, Algorithm,
};
use crate::google::{decode_bytes, now, random_id, ApiError, ApiResult};
use crate::http::Reply;
use crate::router::{page, Call, Emulator};
use crate::schema::{self, f, Enum, Msg, Ty};
use crate::state::{check_name, State};
use base64::Engine;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// v1 calls the note field `userOwnedGrafeasNote`, v1beta1 `userOwnedDrydockNote`.
const V1_NOTE: &str = "userOwnedGrafeasNote";
const V1BETA1_NOTE: &str = "userOwnedDrydockNote";

/// `PkixPublicKey.SignatureAlgorithm`, aliases included (`allow_alias = true`).
static SIGNATURE_ALGORITHM: Enum = Enum {
    name: "google.cloud.binaryauthorization.v1.PkixPublicKey.SignatureAlgorithm",
    values: &[
        (0, "SIGNATURE_ALGORITHM_UNSPECIFIED"),
        (1, "RSA_PSS_2048_SHA256"),
        (1, "RSA_SIGN_PSS_2048_SHA256"),
        (2, "RSA_PSS_3072_SHA256"),
        (2, "RSA_SIGN_PSS_3072_SHA256"),
        (3, "RSA_PSS_4096_SHA256"),
        (3, "RSA_SIGN_PSS_4096_SHA256"),
        (4, "RSA_PSS_4096_SHA512"),
        (4, "RSA_SIGN_PSS_4096_SHA512"),
        (5, "RSA_SIGN_PKCS1_2048_SHA256"),
        (6, "RSA_SIGN_PKCS1_3072_SHA256"),
        (7, "RSA_SIGN_PKCS1_4096_SHA256"),
        (8, "RSA_SIGN_PKCS1_4096_SHA512"),
        (9, "ECDSA_P256_SHA256"),
        (9, "EC_SIGN_P256_SHA256"),
        (10, "ECDSA_P384_SHA384"),
        (10, "EC_SIGN_P384_SHA384"),
        (11, "ECDSA_P521_SHA512"),
        (11, "EC_SIGN_P521_SHA512"),
        (13, "ML_DSA_65"),
    ],
};

static EVALUATION_MODE: Enum = Enum {
    name: "google.cloud.binaryauthorization.v1.AdmissionRule.EvaluationMode",
    values: &[
        (0, "EVALUATION_MODE_UNSPECIFIED"),
        (1, "ALWAYS_ALLOW"),
        (2, "REQUIRE_ATTESTATION"),
        (3, "ALWAYS_DENY"),
    ],
};

static ENFORCEMENT_MODE: Enum = Enum {
    name: "google.cloud.binaryauthorization.v1.AdmissionRule.EnforcementMode",
    values: &[
        (0, "ENFORCEMENT_MODE_UNSPECIFIED"),
        (1, "ENFORCED_BLOCK_AND_AUDIT_LOG"),
        (2, "DRYRUN_AUDIT_LOG_ONLY"),
    ],
};

static GLOBAL_MODE: Enum = Enum {
    name: "google.cloud.binaryauthorization.v1.Policy.GlobalPolicyEvaluationMode",
    values: &[
        (0, "GLOBAL_POLICY_EVALUATION_MODE_UNSPECIFIED"),
        (1, "ENABLE"),
        (2, "DISABLE"),
    ],
};

/// `PkixPublicKey` (v1 has `keyId`; v1beta1 does not).
static PKIX_V1: Msg = Msg {
    fields: &[
        f("publicKeyPem", "public_key_pem", Ty::Str),
        f(
            "signatureAlgorithm",
            "signature_algorithm",
            Ty::Enum(&SIGNATURE_ALGORITHM),
        ),
        f("keyId", "key_id", Ty::Str),
    ],
    oneofs: &[],
};
static PKIX_V1BETA1: Msg = Msg {
    fields: &[
        f("publicKeyPem", "public_key_pem", Ty::Str),
        f(
            "signatureAlgorithm",
            "signature_algorithm",
            Ty::Enum(&SIGNATURE_ALGORITHM),
        ),
    ],
    oneofs: &[],
};

/// `AttestorPublicKey`: `oneof public_key { ascii_armored_pgp_public_key, pkix_public_key }`.
static KEY_V1: Msg = Msg {
    fields: &[
        f("comment", "comment", Ty::Str),
        f("id", "id", Ty::Str),
        f(
            "asciiArmoredPgpPublicKey",
            "ascii_armored_pgp_public_key",
            Ty::Str,
        ),
        f("pkixPublicKey", "pkix_public_key", Ty::Msg(&PKIX_V1)),
    ],
    oneofs: &[("public_key", &["asciiArmoredPgpPublicKey", "pkixPublicKey"])],
};
static KEY_V1BETA1: Msg = Msg {
    fields: &[
        f("comment", "comment", Ty::Str),
        f("id", "id", Ty::Str),
        f(
            "asciiArmoredPgpPublicKey",
            "ascii_armored_pgp_public_key",
            Ty::Str,
        ),
        f("pkixPublicKey", "pkix_public_key", Ty::Msg(&PKIX_V1BETA1)),
    ],
    oneofs: &[("public_key", &["asciiArmoredPgpPublicKey", "pkixPublicKey"])],
};

/// `UserOwnedGrafeasNote` (v1) / `UserOwnedDrydockNote` (v1beta1).
static NOTE_V1: Msg = Msg {
    fields: &[
        f("noteReference", "note_reference", Ty::Str),
        f("publicKeys", "public_keys", Ty::Msg(&KEY_V1)).repeated(),
        f(
            "delegationServiceAccountEmail",
            "delegation_service_account_email",
            Ty::Str,
        )
        .output_only(),
    ],
    oneofs: &[],
};
static NOTE_V1BETA1: Msg = Msg {
    fields: &[
        f("noteReference", "note_reference", Ty::Str),
        f("publicKeys", "public_keys", Ty::Msg(&KEY_V1BETA1)).repeated(),
        f(
            "delegationServiceAccountEmail",
            "delegation_service_account_email",
            Ty::Str,
        )
        .output_only(),
    ],
    oneofs: &[],
};

/// `Attestor`: `name` is overwritten from the URL (CreateAttestorRequest / UpdateAttestorRequest),
/// `updateTime` OUTPUT_ONLY, `etag` OPTIONAL (AIP-154).
static ATTESTOR_V1: Msg = Msg {
    fields: &[
        f("name", "name", Ty::Str),
        f("description", "description", Ty::Str),
        f(V1_NOTE, "user_owned_grafeas_note", Ty::Msg(&NOTE_V1)),
        f("updateTime", "update_time", Ty::Timestamp).output_only(),
        f("etag", "etag", Ty::Str),
    ],
    oneofs: &[("attestor_type", &[V1_NOTE])],
};
static ATTESTOR_V1BETA1: Msg = Msg {
    fields: &[
        f("name", "name", Ty::Str),
        f("description", "description", Ty::Str),
        f(
            V1BETA1_NOTE,
            "user_owned_drydock_note",
            Ty::Msg(&NOTE_V1BETA1),
        ),
        f("updateTime", "update_time", Ty::Timestamp).output_only(),
        f("etag", "etag", Ty::Str),
    ],
    oneofs: &[("attestor_type", &[V1BETA1_NOTE])],
};

static ADMISSION_RULE: Msg = Msg {
    fields: &[
        f(
            "evaluationMode",
            "evaluation_mode",
            Ty::Enum(&EVALUATION_MODE),
        ),
        f("requireAttestationsBy", "require_attestations_by", Ty::Str).repeated(),
        f(
            "enforcementMode",
            "enforcement_mode",
            Ty::Enum(&ENFORCEMENT_MODE),
        ),
    ],
    oneofs: &[],
};

static WHITELIST_PATTERN: Msg = Msg {
    fields: &[f("namePattern", "name_pattern", Ty::Str)],
    oneofs: &[],
};

/// The per-scope rule maps of a policy, with the key format each documents.
const RULE_MAPS: [&str; 4] = [
    "clusterAdmissionRules",
    "kubernetesNamespaceAdmissionRules",
    "kubernetesServiceAccountAdmissionRules",
    "istioServiceIdentityAdmissionRules",
];

/// `Policy`.
pub static POLICY: Msg = Msg {
    fields: &[
        f("name", "name", Ty::Str).output_only(),
        f("description", "description", Ty::Str),
        f(
            "globalPolicyEvaluationMode",
            "global_policy_evaluation_mode",
            Ty::Enum(&GLOBAL_MODE),
        ),
        f(
            "admissionWhitelistPatterns",
            "admission_whitelist_patterns",
            Ty::Msg(&WHITELIST_PATTERN),
        )
        .repeated(),
        f(
            "clusterAdmissionRules",
            "cluster_admission_rules",
            Ty::Msg(&ADMISSION_RULE),
        )
        .map(),
        f(
            "kubernetesNamespaceAdmissionRules",
            "kubernetes_namespace_admission_rules",
            Ty::Msg(&ADMISSION_RULE),
        )
        .map(),
        f(
            "kubernetesServiceAccountAdmissionRules",
            "kubernetes_service_account_admission_rules",
            Ty::Msg(&ADMISSION_RULE),
        )
        .map(),
        f(
            "istioServiceIdentityAdmissionRules",
            "istio_service_identity_admission_rules",
            Ty::Msg(&ADMISSION_RULE),
        )
        .map(),
        f(
            "defaultAdmissionRule",
            "default_admission_rule",
            Ty::Msg(&ADMISSION_RULE),
        ),
        f("updateTime", "update_time", Ty::Timestamp).output_only(),
        f("etag", "etag", Ty::Str),
    ],
    oneofs: &[],
};

/// `ValidateAttestationOccurrenceRequest` (`body: "*"`).
static VALIDATE_REQUEST: Msg = Msg {
    fields: &[
        f("attestor", "attestor", Ty::Str),
        f(
            "attestation",
            "attestation",
            Ty::Msg(&crate::grafeas::ATTESTATION),
        ),
        f("occurrenceNote", "occurrence_note", Ty::Str),
        f("occurrenceResourceUri", "occurrence_resource_uri", Ty::Str),
    ],
    oneofs: &[],
};

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

/// A new etag (AIP-154: "an opaque string ... must change when the resource changes").
fn new_etag() -> String {
    format!("\"{}\"", random_id().replace('-', "")[..16].to_owned())
}

/// AIP-154: an update that carries an etag must carry the current one, else ABORTED.
fn check_etag(sent: &Value, stored: Option<&Value>, what: &str) -> ApiResult<()> {
    let Some(sent) = sent.as_str().filter(|s| !s.is_empty()) else {
        return Ok(());
    };
    let current = stored.and_then(|s| s["etag"].as_str()).unwrap_or_default();
    if sent != current {
        return Err(ApiError::aborted(format!(
            "The etag of {what} does not match: it was changed since it was read. Read it again and retry."
        )));
    }
    Ok(())
}

/// Parses an attestor body of the given API version into the stored v1 form.
pub fn parse_attestor(body: &[u8], version: &str) -> ApiResult<Value> {
    let mut attestor = if version == "v1beta1" {
        schema::parse(body, &ATTESTOR_V1BETA1, "attestor")?
    } else {
        schema::parse(body, &ATTESTOR_V1, "attestor")?
    };
    if let Some(obj) = attestor.as_object_mut() {
        if let Some(note) = obj.remove(V1BETA1_NOTE) {
            obj.insert(V1_NOTE.into(), note);
        }
    }
    Ok(attestor)
}

/// Validates and stores an attestor (already in the v1 form).
pub fn insert_attestor(
    state: &mut State,
    name: &str,
    mut body: Value,
    update: bool,
) -> ApiResult<Value> {
    check_name(name, &["projects", "attestors"])?;
    let existing = state.attestors.get(name).cloned();
    if update && existing.is_none() {
        return Err(attestor_not_found(name));
    }
    if !update && existing.is_some() {
        return Err(ApiError::already_exists(format!(
            "Attestor {name} already exists."
        )));
    }
    check_etag(&body["etag"], existing.as_ref(), name)?;
    let obj = body
        .as_object_mut()
        .ok_or_else(|| ApiError::invalid("Attestor must be an object."))?;
    // oneof attestor_type: the only member is the user-owned note, so it must be set.
    let mut note = obj.remove(V1_NOTE).ok_or_else(|| {
        schema::bad_request(
            "attestor.user_owned_grafeas_note",
            format!("Attestor {name} needs {V1_NOTE} (v1) or {V1BETA1_NOTE} (v1beta1)."),
        )
    })?;
    // UserOwnedGrafeasNote.note_reference: "Required ... in the format projects/*/notes/*.
    // This field may not be updated."
    let reference = note["noteReference"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    check_name(&reference, &["projects", "notes"]).map_err(|_| {
        schema::bad_request(
            "attestor.user_owned_grafeas_note.note_reference",
            format!("Invalid noteReference {reference:?}: expected projects/*/notes/*."),
        )
    })?;
    if let Some(old) = &existing {
        if old[V1_NOTE]["noteReference"] != reference.as_str() {
            return Err(schema::bad_request(
                "attestor.user_owned_grafeas_note.note_reference",
                format!(
                    "Attestor {name}: noteReference may not be updated (it is {}).",
                    old[V1_NOTE]["noteReference"]
                ),
            ));
        }
    }
    // The note is "a Attestation.Authority Note, created by the user": it must exist and be
    // of kind ATTESTATION.
    match state.notes.get(&reference) {
        None => {
            return Err(ApiError::invalid(format!(
                "Note {reference} referenced by attestor {name} does not exist."
            )))
        }
        Some(n) if n["kind"] != "ATTESTATION" => {
            return Err(ApiError::invalid(format!(
                "Note {reference} referenced by attestor {name} is of kind {}, not ATTESTATION.",
                n["kind"].as_str().unwrap_or_default()
            )))
        }
        Some(_) => {}
    }
    if let Some(note) = note.as_object_mut() {
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
        // OUTPUT_ONLY: the service account Binary Authorization reads occurrences as: the
        // project's Binary Authorization service agent, named by the same project number
        // Resource Manager answers (one number per project, as Google has).
        let project_id = name
            .strip_prefix("projects/")
            .and_then(|rest| rest.split('/').next())
            .unwrap_or_default();
        let project_number = crate::iam::project_number(project_id);
        note.insert(
            "delegationServiceAccountEmail".into(),
            json!(format!(
                "service-{project_number}@gcp-sa-binaryauthorization.iam.gserviceaccount.com"
            )),
        );
    }
    obj.insert("name".into(), json!(name));
    obj.insert(V1_NOTE.into(), note);
    obj.insert("updateTime".into(), json!(now()));
    obj.insert("etag".into(), json!(new_etag()));
    state.attestors.insert(name.to_string(), body.clone());
    Ok(body)
}

/// RFC 3986 `URI` (with a scheme) or network-path reference (`//host/...`, the form gcloud
/// writes for KMS keys and Google accepts), in URI characters only.
fn is_uri(id: &str) -> bool {
    let chars_ok = id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-._~:/?#[]@!$&'()*+,;=%".contains(&b));
    let scheme = id.split_once(':').is_some_and(|(s, _)| {
        s.starts_with(|c: char| c.is_ascii_alphabetic())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
    });
    chars_ok && (scheme || id.starts_with("//"))
}

/// Checks one attestor key and sets the id the server computes (AttestorPublicKey docs):
/// PGP ids are always the V4 fingerprint ("If `id` is provided by the caller, it will be
/// overwritten"); a PKIX id given by the caller "MUST be a valid RFC3986 URI", and a missing
/// one is `ni:///sha-256;` + unpadded base64url of SHA-256 over the DER SubjectPublicKeyInfo.
fn check_public_key(key: &mut Value) -> ApiResult<String> {
    if let Some(pkix) = key.get("pkixPublicKey").cloned() {
        let alg = pkix["signatureAlgorithm"].as_str().unwrap_or_default();
        if alg.is_empty() || alg == "SIGNATURE_ALGORITHM_UNSPECIFIED" {
            return Err(ApiError::invalid(
                "pkixPublicKey.signatureAlgorithm is required.",
            ));
        }
        let pem = pkix["publicKeyPem"].as_str().unwrap_or_default();
        let der = spki_der(pem).filter(|d| !d.is_empty()).ok_or_else(|| {
            ApiError::invalid("pkixPublicKey.publicKeyPem is not a PEM public key.")
        })?;
        key_matches(alg, &der).map_err(|why| {
            ApiError::invalid(format!(
                "pkixPublicKey.signatureAlgorithm {alg} does not match the public key: {why}."
            ))
        })?;
        let id = key["id"].as_str().unwrap_or_default().to_string();
        // PkixPublicKey.key_id: "can either match that value exactly, or be left blank".
        let key_id = pkix["keyId"].as_str().unwrap_or_default();
        if !key_id.is_empty() && !id.is_empty() && key_id != id {
            return Err(ApiError::invalid(format!(
                "pkixPublicKey.keyId {key_id:?} must be empty or equal the key's id {id:?}."
            )));
        }
        let id = if id.is_empty() {
            key_id.to_string()
        } else {
            id
        };
        if id.is_empty() {
            let hash = Sha256::digest(der);
            key["id"] = json!(format!(
                "ni:///sha-256;{}",
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(hash)
            ));
        } else if !is_uri(&id) {
            return Err(ApiError::invalid(format!(
                "Public key id {id:?} is not a valid RFC3986 URI, which a PKIX key id must be."
            )));
        } else {
            key["id"] = json!(id);
        }
    } else if let Some(armored) = key.get("asciiArmoredPgpPublicKey").cloned() {
        let fingerprint =
            pgp_fingerprint(armored.as_str().unwrap_or_default()).ok_or_else(|| {
                ApiError::invalid(
                    "asciiArmoredPgpPublicKey is not an ASCII-armored OpenPGP V4 public key.",
                )
            })?;
        key["id"] = json!(fingerprint);
    } else {
        return Err(ApiError::invalid(
            "A public key needs pkixPublicKey or asciiArmoredPgpPublicKey.",
        ));
    }
    Ok(key["id"].as_str().unwrap_or_default().to_string())
}

pub fn create_attestor(emu: &Emulator, call: &Call) -> ApiResult<Reply> {
    let id = call.required_query("attestorId")?;
    let name = format!("{}/{id}", call.resource);
    let mut body = parse_attestor(&call.req.body, &call.version)?;
    // A new attestor has no etag to check against.
    if let Some(obj) = body.as_object_mut() {
        obj.remove("etag");
    }
    let attestor = insert_attestor(&mut emu.state(), &name, body, false)?;
    Ok(Reply::json(&render(&attestor, &call.version)))
}

pub fn update_attestor(emu: &Emulator, call: &Call) -> ApiResult<Reply> {
    let body = parse_attestor(&call.req.body, &call.version)?;
    let attestor = insert_attestor(&mut emu.state(), &call.resource, body, true)?;
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
    let body = schema::parse(&call.req.body, &VALIDATE_REQUEST, "")?;
    // ValidateAttestationOccurrenceRequest: attestation, occurrence_note and
    // occurrence_resource_uri are all REQUIRED.
    for (field, proto) in [
        ("attestation", "attestation"),
        ("occurrenceNote", "occurrence_note"),
        ("occurrenceResourceUri", "occurrence_resource_uri"),
    ] {
        if body.get(field).is_none_or(|v| v == "" || v == &json!({})) {
            return Err(schema::bad_request(proto, format!("{proto} is required.")));
        }
    }
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
        if let Some(armored) = key["asciiArmoredPgpPublicKey"].as_str() {
            let signature =
                decode_bytes("signature", sig["signature"].as_str().unwrap_or_default())
                    .map_err(|e| e.message)?;
            match pgp_signed_uri(armored, &signature) {
                Ok(signed) if signed == uri => return Ok(()),
                Ok(signed) => reasons.push(format!(
                    "the PGP signature by {id:?} signs {signed:?}, not {uri:?}"
                )),
                Err(why) => reasons.push(format!("the PGP signature by {id:?}: {why}")),
            }
            continue;
        }
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

/// The `REPO@DIGEST` the payload inside an attached OpenPGP signature names, when the signature
/// verifies: for PGP keys the signed content is the payload admission reads.
fn pgp_signed_uri(armored: &str, signature: &[u8]) -> Result<String, String> {
    let content = pgp_verified_content(armored, signature)?;
    let parsed: Value = serde_json::from_slice(&content)
        .map_err(|e| format!("the signed content is not JSON: {e}"))?;
    let critical = &parsed["critical"];
    Ok(format!(
        "{}@{}",
        critical["identity"]["docker-reference"]
            .as_str()
            .unwrap_or_default(),
        critical["image"]["docker-manifest-digest"]
            .as_str()
            .unwrap_or_default()
    ))
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

pub fn update_policy(emu: &Emulator, call: &Call) -> ApiResult<Reply> {
    let project = call.parent(1).trim_start_matches("projects/").to_string();
    let policy = schema::parse(&call.req.body, &POLICY, "policy")?;
    let stored = insert_policy(&mut emu.state(), &project, policy)?;
    Ok(Reply::json(&stored))
}

/// Validates and stores a project's policy (from a request or the seed).
pub fn insert_policy(state: &mut State, project: &str, policy: Value) -> ApiResult<Value> {
    let mut policy = schema::check(policy, &POLICY, "policy")?;
    check_etag(&policy["etag"], state.policies.get(project), "the policy")?;
    // Policy.default_admission_rule is REQUIRED.
    let Some(default) = policy.get("defaultAdmissionRule") else {
        return Err(schema::bad_request(
            "policy.default_admission_rule",
            "Policy.defaultAdmissionRule is required.".into(),
        ));
    };
    check_rule(state, default, "policy.default_admission_rule")?;
    // At most one kind of per-scope rule map (issue #23, after the Policy reference: a policy
    // scopes its rules by cluster, or by namespace, service account or Istio identity).
    let used: Vec<&str> = RULE_MAPS
        .into_iter()
        .filter(|m| policy[*m].as_object().is_some_and(|o| !o.is_empty()))
        .collect();
    if used.len() > 1 {
        return Err(ApiError::invalid(format!(
            "A policy may set only one kind of per-scope admission rules, not {}.",
            used.join(" and ")
        )));
    }
    for map in RULE_MAPS {
        for (spec, rule) in policy[map].as_object().into_iter().flatten() {
            check_scope(map, spec)?;
            check_rule(state, rule, &format!("policy.{map}[{spec}]"))?;
        }
    }
    for pattern in policy["admissionWhitelistPatterns"]
        .as_array()
        .into_iter()
        .flatten()
    {
        if pattern["namePattern"]
            .as_str()
            .unwrap_or_default()
            .is_empty()
        {
            return Err(ApiError::invalid(
                "admissionWhitelistPatterns.namePattern must not be empty.",
            ));
        }
    }
    policy["name"] = json!(format!("projects/{project}/policy"));
    policy["updateTime"] = json!(now());
    policy["etag"] = json!(new_etag());
    state.policies.insert(project.to_string(), policy.clone());
    Ok(policy)
}

/// The key format of each per-scope rule map (Policy field docs).
fn check_scope(map: &str, spec: &str) -> ApiResult<()> {
    let ok = match map {
        // `location.clusterId`.
        "clusterAdmissionRules" => spec
            .split_once('.')
            .is_some_and(|(l, c)| !l.is_empty() && !c.is_empty()),
        // `[a-z.-]+`.
        "kubernetesNamespaceAdmissionRules" => {
            !spec.is_empty()
                && spec
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'.' || b == b'-')
        }
        // `namespace:serviceaccount`.
        "kubernetesServiceAccountAdmissionRules" => spec
            .split_once(':')
            .is_some_and(|(n, s)| !n.is_empty() && !s.is_empty()),
        // `spiffe://<domain>/ns/<namespace>/sa/<serviceaccount>` or without `spiffe://`.
        _ => spec.contains("/ns/") && spec.contains("/sa/"),
    };
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid(format!("Invalid key {spec:?} in {map}.")))
    }
}

/// AdmissionRule: evaluation_mode and enforcement_mode REQUIRED; require_attestations_by
/// "must be non-empty when the evaluation_mode field specifies REQUIRE_ATTESTATION, otherwise
/// it must be empty", each `projects/*/attestors/*`, and "each attestor must exist before a
/// policy can reference it".
fn check_rule(state: &State, rule: &Value, path: &str) -> ApiResult<()> {
    let mode = rule["evaluationMode"].as_str().unwrap_or_default();
    if mode.is_empty() || mode == "EVALUATION_MODE_UNSPECIFIED" {
        return Err(schema::bad_request(
            &format!("{path}.evaluation_mode"),
            format!("{path}.evaluation_mode is required."),
        ));
    }
    let enforcement = rule["enforcementMode"].as_str().unwrap_or_default();
    if enforcement.is_empty() || enforcement == "ENFORCEMENT_MODE_UNSPECIFIED" {
        return Err(schema::bad_request(
            &format!("{path}.enforcement_mode"),
            format!("{path}.enforcement_mode is required."),
        ));
    }
    let attestors: Vec<&str> = rule["requireAttestationsBy"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    match (mode == "REQUIRE_ATTESTATION", attestors.is_empty()) {
        (true, true) => {
            return Err(ApiError::invalid(format!(
                "{path}.require_attestations_by must be non-empty when evaluation_mode is REQUIRE_ATTESTATION."
            )))
        }
        (false, false) => {
            return Err(ApiError::invalid(format!(
                "{path}.require_attestations_by must be empty when evaluation_mode is {mode}."
            )))
        }
        _ => {}
    }
    for attestor in attestors {
        check_name(attestor, &["projects", "attestors"])?;
        if !state.attestors.contains_key(attestor) {
            return Err(ApiError::invalid(format!(
                "Attestor {attestor} named in {path}.require_attestations_by does not exist."
            )));
        }
    }
    Ok(())
}
