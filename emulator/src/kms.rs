//! Cloud KMS v1: key rings, asymmetric signing keys and their versions (with the version state
//! machine gcloud drives: generation, disable/enable, scheduled destruction and restore),
//! getPublicKey and asymmetricSign with Google's CRC32C integrity fields.
//!
//! Request schemas follow `google/cloud/kms/v1/resources.proto` and `service.proto` (field
//! behaviours as the generated `google-cloud-kms-v1` model documents them).

use crate::crypto::Hash;
use crate::google::{decode_bytes, encode_bytes, int64_field, now, ApiError, ApiResult};
use crate::http::Reply;
use crate::router::{page, Call, Emulator};
use crate::schema::{self, f, Enum, Msg, Ty};
use crate::state::check_name;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// `CryptoKey.CryptoKeyPurpose`.
pub static PURPOSE: Enum = Enum {
    name: "google.cloud.kms.v1.CryptoKey.CryptoKeyPurpose",
    values: &[
        (0, "CRYPTO_KEY_PURPOSE_UNSPECIFIED"),
        (1, "ENCRYPT_DECRYPT"),
        (5, "ASYMMETRIC_SIGN"),
        (6, "ASYMMETRIC_DECRYPT"),
        (7, "RAW_ENCRYPT_DECRYPT"),
        (9, "MAC"),
        (10, "KEY_ENCAPSULATION"),
        (11, "AES_WRAPPING"),
    ],
};

/// `CryptoKeyVersion.CryptoKeyVersionAlgorithm`, every value of the proto.
pub static ALGORITHM: Enum = Enum {
    name: "google.cloud.kms.v1.CryptoKeyVersion.CryptoKeyVersionAlgorithm",
    values: &[
        (0, "CRYPTO_KEY_VERSION_ALGORITHM_UNSPECIFIED"),
        (1, "GOOGLE_SYMMETRIC_ENCRYPTION"),
        (2, "RSA_SIGN_PSS_2048_SHA256"),
        (3, "RSA_SIGN_PSS_3072_SHA256"),
        (4, "RSA_SIGN_PSS_4096_SHA256"),
        (5, "RSA_SIGN_PKCS1_2048_SHA256"),
        (6, "RSA_SIGN_PKCS1_3072_SHA256"),
        (7, "RSA_SIGN_PKCS1_4096_SHA256"),
        (8, "RSA_DECRYPT_OAEP_2048_SHA256"),
        (9, "RSA_DECRYPT_OAEP_3072_SHA256"),
        (10, "RSA_DECRYPT_OAEP_4096_SHA256"),
        (12, "EC_SIGN_P256_SHA256"),
        (13, "EC_SIGN_P384_SHA384"),
        (15, "RSA_SIGN_PSS_4096_SHA512"),
        (16, "RSA_SIGN_PKCS1_4096_SHA512"),
        (17, "RSA_DECRYPT_OAEP_4096_SHA512"),
        (18, "EXTERNAL_SYMMETRIC_ENCRYPTION"),
        (19, "AES_256_GCM"),
        (28, "RSA_SIGN_RAW_PKCS1_2048"),
        (29, "RSA_SIGN_RAW_PKCS1_3072"),
        (30, "RSA_SIGN_RAW_PKCS1_4096"),
        (31, "EC_SIGN_SECP256K1_SHA256"),
        (32, "HMAC_SHA256"),
        (33, "HMAC_SHA1"),
        (34, "HMAC_SHA384"),
        (35, "HMAC_SHA512"),
        (36, "HMAC_SHA224"),
        (37, "RSA_DECRYPT_OAEP_2048_SHA1"),
        (38, "RSA_DECRYPT_OAEP_3072_SHA1"),
        (39, "RSA_DECRYPT_OAEP_4096_SHA1"),
        (40, "EC_SIGN_ED25519"),
        (41, "AES_128_GCM"),
        (42, "AES_128_CBC"),
        (43, "AES_256_CBC"),
        (44, "AES_128_CTR"),
        (45, "AES_256_CTR"),
        (47, "ML_KEM_768"),
        (48, "ML_KEM_1024"),
        (56, "PQ_SIGN_ML_DSA_65"),
        (57, "PQ_SIGN_SLH_DSA_SHA2_128S"),
        (60, "PQ_SIGN_HASH_SLH_DSA_SHA2_128S_SHA256"),
        (63, "KEM_XWING"),
        (67, "PQ_SIGN_ML_DSA_65_EXTERNAL_MU"),
        (68, "PQ_SIGN_ML_DSA_44"),
        (69, "PQ_SIGN_ML_DSA_87"),
        (70, "PQ_SIGN_ML_DSA_44_EXTERNAL_MU"),
        (71, "PQ_SIGN_ML_DSA_87_EXTERNAL_MU"),
        (73, "AES_256_KWP"),
    ],
};

/// `ProtectionLevel`.
pub static PROTECTION_LEVEL: Enum = Enum {
    name: "google.cloud.kms.v1.ProtectionLevel",
    values: &[
        (0, "PROTECTION_LEVEL_UNSPECIFIED"),
        (1, "SOFTWARE"),
        (2, "HSM"),
        (3, "EXTERNAL"),
        (4, "EXTERNAL_VPC"),
        (5, "HSM_SINGLE_TENANT"),
    ],
};

/// `CryptoKeyVersion.CryptoKeyVersionState`: note PENDING_GENERATION is 5, ENABLED 1.
pub static STATE: Enum = Enum {
    name: "google.cloud.kms.v1.CryptoKeyVersion.CryptoKeyVersionState",
    values: &[
        (0, "CRYPTO_KEY_VERSION_STATE_UNSPECIFIED"),
        (1, "ENABLED"),
        (2, "DISABLED"),
        (3, "DESTROYED"),
        (4, "DESTROY_SCHEDULED"),
        (5, "PENDING_GENERATION"),
        (6, "PENDING_IMPORT"),
        (7, "IMPORT_FAILED"),
        (8, "GENERATION_FAILED"),
        (9, "PENDING_EXTERNAL_DESTRUCTION"),
        (10, "EXTERNAL_DESTRUCTION_FAILED"),
    ],
};

/// `KeyRing`: both fields are OUTPUT_ONLY, so gcloud's `{}` is the whole request.
static KEY_RING: Msg = Msg {
    fields: &[
        f("name", "name", Ty::Str).output_only(),
        f("createTime", "create_time", Ty::Timestamp).output_only(),
    ],
    oneofs: &[],
};

/// `CryptoKeyVersionTemplate`: `algorithm` REQUIRED, `protectionLevel` IMMUTABLE.
static TEMPLATE: Msg = Msg {
    fields: &[
        f(
            "protectionLevel",
            "protection_level",
            Ty::Enum(&PROTECTION_LEVEL),
        ),
        f("algorithm", "algorithm", Ty::Enum(&ALGORITHM)),
    ],
    oneofs: &[],
};

/// `CryptoKeyVersion`: only `state` (and the IMMUTABLE options) can come from a client.
static VERSION: Msg = Msg {
    fields: &[
        f("name", "name", Ty::Str).output_only(),
        f("state", "state", Ty::Enum(&STATE)),
        f(
            "protectionLevel",
            "protection_level",
            Ty::Enum(&PROTECTION_LEVEL),
        )
        .output_only(),
        f("algorithm", "algorithm", Ty::Enum(&ALGORITHM)).output_only(),
        f("attestation", "attestation", Ty::Opaque).output_only(),
        f("createTime", "create_time", Ty::Timestamp).output_only(),
        f("generateTime", "generate_time", Ty::Timestamp).output_only(),
        f("destroyTime", "destroy_time", Ty::Timestamp).output_only(),
        f("destroyEventTime", "destroy_event_time", Ty::Timestamp).output_only(),
        f("importJob", "import_job", Ty::Str).output_only(),
        f("importTime", "import_time", Ty::Timestamp).output_only(),
        f("importFailureReason", "import_failure_reason", Ty::Str).output_only(),
        f(
            "generationFailureReason",
            "generation_failure_reason",
            Ty::Str,
        )
        .output_only(),
        f(
            "externalDestructionFailureReason",
            "external_destruction_failure_reason",
            Ty::Str,
        )
        .output_only(),
        f(
            "externalProtectionLevelOptions",
            "external_protection_level_options",
            Ty::Opaque,
        ),
        f("reimportEligible", "reimport_eligible", Ty::Bool).output_only(),
        f(
            "trustedWrappingEnabled",
            "trusted_wrapping_enabled",
            Ty::Bool,
        ),
        f("hsmTrusted", "hsm_trusted", Ty::Bool).output_only(),
    ],
    oneofs: &[],
};

/// `CryptoKey`.
static CRYPTO_KEY: Msg = Msg {
    fields: &[
        f("name", "name", Ty::Str).output_only(),
        f("primary", "primary", Ty::Msg(&VERSION)).output_only(),
        f("purpose", "purpose", Ty::Enum(&PURPOSE)),
        f("createTime", "create_time", Ty::Timestamp).output_only(),
        f("nextRotationTime", "next_rotation_time", Ty::Timestamp),
        f("rotationPeriod", "rotation_period", Ty::Duration),
        f("versionTemplate", "version_template", Ty::Msg(&TEMPLATE)),
        f("labels", "labels", Ty::Str).map(),
        f("importOnly", "import_only", Ty::Bool),
        f(
            "destroyScheduledDuration",
            "destroy_scheduled_duration",
            Ty::Duration,
        ),
        f("cryptoKeyBackend", "crypto_key_backend", Ty::Str),
        f(
            "keyAccessJustificationsPolicy",
            "key_access_justifications_policy",
            Ty::Opaque,
        ),
    ],
    oneofs: &[("rotation_schedule", &["rotationPeriod"])],
};

/// `Digest`: a oneof of the three hashes.
static DIGEST: Msg = Msg {
    fields: &[
        f("sha256", "sha256", Ty::Bytes),
        f("sha384", "sha384", Ty::Bytes),
        f("sha512", "sha512", Ty::Bytes),
    ],
    oneofs: &[("digest", &["sha256", "sha384", "sha512"])],
};

/// `AsymmetricSignRequest` (`body: "*"`); `digestCrc32c`/`dataCrc32c` are
/// `google.protobuf.Int64Value`, written as int64.
static SIGN_REQUEST: Msg = Msg {
    fields: &[
        f("name", "name", Ty::Str),
        f("digest", "digest", Ty::Msg(&DIGEST)),
        f("digestCrc32c", "digest_crc32c", Ty::Int64),
        f("data", "data", Ty::Bytes),
        f("dataCrc32c", "data_crc32c", Ty::Int64),
    ],
    oneofs: &[],
};

/// `DestroyCryptoKeyVersionRequest` / `RestoreCryptoKeyVersionRequest` (`body: "*"`).
static NAME_ONLY: Msg = Msg {
    fields: &[f("name", "name", Ty::Str)],
    oneofs: &[],
};

pub fn create_key_ring(emu: &Emulator, call: &Call) -> ApiResult<Reply> {
    let name = format!("{}/{}", call.resource, call.required_query("keyRingId")?);
    check_name(&name, &["projects", "locations", "keyRings"])?;
    schema::parse(&call.req.body, &KEY_RING, "key_ring")?;
    let mut state = emu.state();
    if state.key_rings.contains_key(&name) {
        return Err(ApiError::already_exists(format!(
            "KeyRing {name} already exists."
        )));
    }
    let ring = json!({"name": name, "createTime": now()});
    state.key_rings.insert(name, ring.clone());
    Ok(Reply::json(&ring))
}

pub fn get_key_ring(emu: &Emulator, call: &Call) -> ApiResult<Reply> {
    let state = emu.state();
    let ring = state.key_rings.get(&call.resource);
    ring.map(Reply::json)
        .ok_or_else(|| ApiError::not_found(format!("KeyRing {} not found.", call.resource)))
}

pub fn list_key_rings(emu: &Emulator, call: &Call) -> ApiResult<Reply> {
    let prefix = format!("{}/", call.resource);
    let state = emu.state();
    let items = state
        .key_rings
        .iter()
        .filter(|(n, _)| n.starts_with(&prefix))
        .map(|(_, v)| v.clone())
        .collect();
    page(call, "keyRings", items)
}

pub fn create_crypto_key(emu: &Emulator, call: &Call) -> ApiResult<Reply> {
    let name = format!("{}/{}", call.resource, call.required_query("cryptoKeyId")?);
    let mut body = schema::parse(&call.req.body, &CRYPTO_KEY, "crypto_key")?;
    match call.req.query("skipInitialVersionCreation") {
        None | Some("" | "false") => {}
        Some("true") => body["skipInitialVersionCreation"] = json!(true),
        Some(other) => {
            return Err(ApiError::invalid(format!(
                "Invalid value at 'skip_initial_version_creation' (TYPE_BOOL), \"{other}\""
            )))
        }
    }
    // CreateCryptoKeyRequest.trusted_wrapping_enabled: "only supported for keys with
    // CryptoKeyVersionTemplate.protection_level HSM_SINGLE_TENANT", and the emulator's keys are
    // all SOFTWARE; the Rust SDK sends `false` on every create.
    match call.req.query("trustedWrappingEnabled") {
        None | Some("" | "false") => {}
        Some("true") => {
            return Err(ApiError::invalid(
                "trusted_wrapping_enabled is only supported for keys with protection level HSM_SINGLE_TENANT.",
            ))
        }
        Some(other) => {
            return Err(ApiError::invalid(format!(
                "Invalid value at 'trusted_wrapping_enabled' (TYPE_BOOL), \"{other}\""
            )))
        }
    }
    // CryptoKey.rotation_period: "Key rotation is not supported for asymmetric keys" (KMS
    // reference, CryptoKey fields), so it is refused with ASYMMETRIC_SIGN.
    if body["purpose"] == "ASYMMETRIC_SIGN" && body.get("rotationPeriod").is_some() {
        return Err(ApiError::invalid(
            "Asymmetric CryptoKeys cannot have a rotation period.",
        ));
    }
    let key = emu.state().create_crypto_key(&name, body, false)?;
    Ok(Reply::json(&key))
}

pub fn get_crypto_key(emu: &Emulator, call: &Call) -> ApiResult<Reply> {
    let state = emu.state();
    let key = state.crypto_keys.get(&call.resource).map(|k| &k.json);
    key.map(Reply::json)
        .ok_or_else(|| ApiError::not_found(format!("CryptoKey {} not found.", call.resource)))
}

pub fn list_crypto_keys(emu: &Emulator, call: &Call) -> ApiResult<Reply> {
    let prefix = format!("{}/", call.resource);
    let state = emu.state();
    if !state.key_rings.contains_key(&call.parent(1)) {
        return Err(ApiError::not_found(format!(
            "KeyRing {} not found.",
            call.parent(1)
        )));
    }
    let items = state
        .crypto_keys
        .iter()
        .filter(|(n, _)| n.starts_with(&prefix))
        .map(|(_, k)| k.json.clone())
        .collect();
    page(call, "cryptoKeys", items)
}

pub fn create_version(emu: &Emulator, call: &Call) -> ApiResult<Reply> {
    let body = schema::parse(&call.req.body, &VERSION, "crypto_key_version")?;
    // A new version's state is set by KMS (PENDING_GENERATION, then ENABLED).
    if body.get("state").is_some_and(|s| s != "ENABLED") {
        return Err(ApiError::invalid(
            "A new CryptoKeyVersion's state may only be unset or ENABLED.",
        ));
    }
    let version = emu.state().create_version(&call.parent(1))?;
    Ok(Reply::json(&version))
}

/// `PATCH .../cryptoKeyVersions/N?updateMask=state` (gcloud `kms keys versions enable` and
/// `disable`). UpdateCryptoKeyVersionRequest.update_mask is REQUIRED; `state` may move only
/// between ENABLED and DISABLED (CryptoKeyVersionState: PENDING_GENERATION "may not be used,
/// enabled, disabled, or destroyed yet"; DESTROY_SCHEDULED goes back through `:restore`).
pub fn patch_version(emu: &Emulator, call: &Call) -> ApiResult<Reply> {
    let body = schema::parse(&call.req.body, &VERSION, "crypto_key_version")?;
    let mask = call.required_query("updateMask")?;
    let mut state = emu.state();
    let name = &call.resource;
    let version = state
        .versions
        .get_mut(name)
        .ok_or_else(|| version_not_found(name))?;
    for field in mask.split(',').map(str::trim) {
        match field {
            "state" => {
                let wanted = body["state"].as_str().unwrap_or_default();
                let current = version.state().to_string();
                let allowed = matches!(
                    (current.as_str(), wanted),
                    ("ENABLED" | "DISABLED", "ENABLED" | "DISABLED")
                );
                if !allowed {
                    return Err(ApiError::failed_precondition(format!(
                        "The request cannot be fulfilled. Resource {name} has value {current} in field crypto_key_version.state; it cannot be set to {}.",
                        if wanted.is_empty() { "CRYPTO_KEY_VERSION_STATE_UNSPECIFIED" } else { wanted }
                    )));
                }
                version.json["state"] = json!(wanted);
            }
            other => {
                return Err(ApiError::invalid(format!(
                    "The emulator cannot update field {other:?} of a CryptoKeyVersion; update_mask may name state."
                )))
            }
        }
    }
    Ok(Reply::json(&version.json))
}

/// `:destroy`: ENABLED or DISABLED -> DESTROY_SCHEDULED, destroyed after the key's
/// `destroyScheduledDuration` (DestroyCryptoKeyVersion reference).
pub fn destroy_version(emu: &Emulator, call: &Call) -> ApiResult<Reply> {
    schema::parse(&call.req.body, &NAME_ONLY, "")?;
    let mut state = emu.state();
    let name = call.resource.clone();
    let key = call.parent(2);
    let duration = state
        .crypto_keys
        .get(&key)
        .and_then(|k| k.json["destroyScheduledDuration"].as_str())
        .and_then(|d| d.trim_end_matches('s').parse::<f64>().ok())
        .unwrap_or(2_592_000.0);
    let knob = state.settings.key_destroy_delay_ms;
    let delay = if knob > 0 {
        Duration::from_millis(knob)
    } else {
        Duration::from_secs_f64(duration)
    };
    let version = state
        .versions
        .get_mut(&name)
        .ok_or_else(|| version_not_found(&name))?;
    let current = version.state().to_string();
    if !matches!(current.as_str(), "ENABLED" | "DISABLED") {
        return Err(ApiError::failed_precondition(format!(
            "The request cannot be fulfilled. Resource {name} has value {current} in field crypto_key_version.state."
        )));
    }
    version.json["state"] = json!("DESTROY_SCHEDULED");
    version.json["destroyTime"] = json!(crate::google::time_after(delay.as_secs() as i64));
    version.transition_at = Some(Instant::now() + delay);
    Ok(Reply::json(&version.json))
}

/// `:restore`: DESTROY_SCHEDULED -> DISABLED (RestoreCryptoKeyVersion reference).
pub fn restore_version(emu: &Emulator, call: &Call) -> ApiResult<Reply> {
    schema::parse(&call.req.body, &NAME_ONLY, "")?;
    let mut state = emu.state();
    let name = &call.resource;
    let version = state
        .versions
        .get_mut(name)
        .ok_or_else(|| version_not_found(name))?;
    if version.state() != "DESTROY_SCHEDULED" {
        return Err(ApiError::failed_precondition(format!(
            "The request cannot be fulfilled. Resource {name} has value {} in field crypto_key_version.state.",
            version.state()
        )));
    }
    version.json["state"] = json!("DISABLED");
    version.transition_at = None;
    if let Some(obj) = version.json.as_object_mut() {
        obj.remove("destroyTime");
    }
    Ok(Reply::json(&version.json))
}

fn version_not_found(name: &str) -> ApiError {
    ApiError::not_found(format!("CryptoKeyVersion {name} not found."))
}

/// Signing and public-key reads need an ENABLED version (CryptoKeyVersionState: DISABLED
/// "may not be used", PENDING_GENERATION "may not be used ... yet").
fn require_enabled(version: &crate::state::KeyVersion, name: &str) -> ApiResult<()> {
    match version.state() {
        "ENABLED" => Ok(()),
        other => Err(ApiError::failed_precondition(format!(
            "{name} is not enabled, current state is: {other}."
        ))),
    }
}

pub fn get_version(emu: &Emulator, call: &Call) -> ApiResult<Reply> {
    let state = emu.state();
    let version = state.versions.get(&call.resource).map(|v| &v.json);
    version.map(Reply::json).ok_or_else(|| {
        ApiError::not_found(format!("CryptoKeyVersion {} not found.", call.resource))
    })
}

pub fn list_versions(emu: &Emulator, call: &Call) -> ApiResult<Reply> {
    let key = call.parent(1);
    let prefix = format!("{}/", call.resource);
    let state = emu.state();
    if !state.crypto_keys.contains_key(&key) {
        return Err(ApiError::not_found(format!("CryptoKey {key} not found.")));
    }
    // Numeric order: version 10 comes after version 9.
    let mut items: Vec<(u64, Value)> = state
        .versions
        .iter()
        .filter(|(n, _)| n.starts_with(&prefix))
        .map(|(n, v)| {
            (
                n.rsplit('/')
                    .next()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0),
                v.json.clone(),
            )
        })
        .collect();
    items.sort_by_key(|(n, _)| *n);
    page(
        call,
        "cryptoKeyVersions",
        items.into_iter().map(|(_, v)| v).collect(),
    )
}

pub fn get_public_key(emu: &Emulator, call: &Call) -> ApiResult<Reply> {
    let version = call.parent(1);
    let state = emu.state();
    if let Some(v) = state.versions.get(&version) {
        require_enabled(v, &version)?;
    }
    match call.req.query("publicKeyFormat") {
        None | Some("" | "PEM" | "PUBLIC_KEY_FORMAT_UNSPECIFIED" | "0" | "1") => {}
        Some(other) => {
            return Err(ApiError::invalid(format!(
                "The emulator serves publicKeyFormat PEM only, not {other:?}."
            )))
        }
    }
    let (pem, alg) = state.public_key(&version)?;
    Ok(Reply::json(&json!({
        "pem": pem,
        "algorithm": alg.kms_name(),
        "pemCrc32c": crc32c::crc32c(pem.as_bytes()).to_string(),
        "name": version,
        "protectionLevel": "SOFTWARE",
    })))
}

/// Signs `digest` (or `data`, hashed here) as KMS does, checking the digest's hash and length
/// against the key's algorithm and any CRC32C the client sent.
pub fn asymmetric_sign(emu: &Emulator, call: &Call) -> ApiResult<Reply> {
    let body = schema::parse(&call.req.body, &SIGN_REQUEST, "")?;
    let state = emu.state();
    let name = &call.resource;
    let version = state
        .versions
        .get(name)
        .ok_or_else(|| version_not_found(name))?;
    require_enabled(version, name)?;
    let (alg, key) = version.signing.as_ref().ok_or_else(|| {
        ApiError::invalid(format!(
            "Key {name} has purpose ENCRYPT_DECRYPT and cannot be used with AsymmetricSign."
        ))
    })?;
    let hash = alg.hash();
    let (digest, checked_field) = match (body.get("digest"), body.get("data")) {
        (Some(d), None) => (read_digest(d, hash, alg.kms_name())?, "digest"),
        (None, Some(Value::String(data))) => (hash.digest(&decode_bytes("data", data)?), "data"),
        _ => {
            return Err(ApiError::invalid(
                "Exactly one of digest or data must be set.",
            ))
        }
    };
    let crc_field = format!("{checked_field}Crc32c");
    let verified = match int64_field(body.get(&crc_field)) {
        Some(crc) => {
            let signed: Vec<u8> = if checked_field == "digest" {
                digest.clone()
            } else {
                decode_bytes("data", body["data"].as_str().unwrap_or_default())?
            };
            if u64::from(crc32c::crc32c(&signed)) != crc as u64 {
                return Err(ApiError::invalid(format!(
                    "The checksum in field {} did not match the data in field {checked_field}.",
                    if checked_field == "digest" {
                        "digest_crc32c"
                    } else {
                        "data_crc32c"
                    }
                )));
            }
            true
        }
        None => false,
    };
    let signature = key
        .sign_digest(*alg, &digest)
        .map_err(|e| ApiError::new(500, "INTERNAL", e))?;
    let mut answer = json!({
        "signature": encode_bytes(&signature),
        "signatureCrc32c": crc32c::crc32c(&signature).to_string(),
        "name": name,
        "protectionLevel": "SOFTWARE",
    });
    answer[if checked_field == "digest" {
        "verifiedDigestCrc32c"
    } else {
        "verifiedDataCrc32c"
    }] = json!(verified);
    Ok(Reply::json(&answer))
}

fn read_digest(digest: &Value, hash: Hash, alg: &str) -> ApiResult<Vec<u8>> {
    let fields: Vec<(&String, &Value)> = digest
        .as_object()
        .map(|m| m.iter().collect())
        .unwrap_or_default();
    let [(field, Value::String(text))] = fields.as_slice() else {
        return Err(ApiError::invalid(
            "digest must set exactly one of sha256, sha384, sha512.",
        ));
    };
    if field.as_str() != hash.field() {
        return Err(ApiError::invalid(format!(
            "The requested algorithm {alg} requires a {} digest, got {field}.",
            hash.field()
        )));
    }
    let bytes = decode_bytes(&format!("digest.{field}"), text)?;
    if bytes.len() != hash.len() {
        return Err(ApiError::invalid(format!(
            "Digest length for {field} must be {} bytes, got {} bytes.",
            hash.len(),
            bytes.len()
        )));
    }
    Ok(bytes)
}
