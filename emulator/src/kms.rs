//! Cloud KMS v1: key rings, asymmetric signing keys and their versions, getPublicKey and
//! asymmetricSign with Google's CRC32C integrity fields.

use crate::crypto::Hash;
use crate::google::{
    decode_bytes, encode_bytes, int64_field, now, parse_body, ApiError, ApiResult,
};
use crate::http::Reply;
use crate::router::{page, Call, Emulator};
use crate::state::check_name;
use serde_json::{json, Value};

pub fn create_key_ring(emu: &Emulator, call: &Call) -> ApiResult<Reply> {
    let name = format!("{}/{}", call.resource, call.required_query("keyRingId")?);
    check_name(&name, &["projects", "locations", "keyRings"])?;
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
    let mut body = parse_body(&call.req.body)?;
    if call.req.query("skipInitialVersionCreation") == Some("true") {
        body["skipInitialVersionCreation"] = json!(true);
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
    let version = emu.state().create_version(&call.parent(1))?;
    Ok(Reply::json(&version))
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
    let (pem, alg) = emu.state().public_key(&version)?;
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
    let body = parse_body(&call.req.body)?;
    let state = emu.state();
    let name = &call.resource;
    let version = state
        .versions
        .get(name)
        .ok_or_else(|| ApiError::not_found(format!("CryptoKeyVersion {name} not found.")))?;
    if version.json["state"] != "ENABLED" {
        return Err(ApiError::failed_precondition(format!(
            "{name} is not enabled, current state is: {}.",
            version.json["state"]
        )));
    }
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
