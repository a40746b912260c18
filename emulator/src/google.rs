//! Google's JSON conventions, shared by every API the emulator serves: the error shape, bytes
//! fields in either base64 alphabet, enums as names or numbers, RFC 3339 timestamps.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use serde_json::{json, Value};

/// An API error in Google's shape: `{"error":{"code":N,"message":"...","status":"NAME"}}`.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub code: u16,
    pub status: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(code: u16, status: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            code,
            status,
            message: message.into(),
        }
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(400, "INVALID_ARGUMENT", message)
    }
    pub fn failed_precondition(message: impl Into<String>) -> Self {
        Self::new(400, "FAILED_PRECONDITION", message)
    }
    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(401, "UNAUTHENTICATED", message)
    }
    pub fn denied(message: impl Into<String>) -> Self {
        Self::new(403, "PERMISSION_DENIED", message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(404, "NOT_FOUND", message)
    }
    pub fn already_exists(message: impl Into<String>) -> Self {
        Self::new(409, "ALREADY_EXISTS", message)
    }
    /// The canonical status for an HTTP code, for injected faults.
    pub fn for_status(code: u16) -> Self {
        let status = match code {
            400 => "INVALID_ARGUMENT",
            401 => "UNAUTHENTICATED",
            403 => "PERMISSION_DENIED",
            404 => "NOT_FOUND",
            409 => "ABORTED",
            429 => "RESOURCE_EXHAUSTED",
            501 => "UNIMPLEMENTED",
            503 => "UNAVAILABLE",
            504 => "DEADLINE_EXCEEDED",
            _ => "INTERNAL",
        };
        Self::new(code, status, format!("Injected fault: {status}."))
    }
    pub fn body(&self) -> Value {
        json!({"error": {"code": self.code, "message": self.message, "status": self.status}})
    }
}

pub type ApiResult<T = Value> = Result<T, ApiError>;

/// Decodes a bytes field the way Google's JSON parser does: standard or URL-safe alphabet,
/// padded or not.
pub fn decode_bytes(field: &str, value: &str) -> ApiResult<Vec<u8>> {
    let url_safe: String = value
        .trim_end_matches('=')
        .chars()
        .map(|c| match c {
            '+' => '-',
            '/' => '_',
            c => c,
        })
        .collect();
    let unpadded = URL_SAFE_NO_PAD.decode(url_safe);
    unpadded.map_err(|e| {
        ApiError::invalid(format!(
            "Invalid value at '{field}' (TYPE_BYTES), Base64 decoding failed: {e}"
        ))
    })
}

/// Encodes bytes as Google answers them: standard alphabet, padded.
pub fn encode_bytes(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Reads an int64 field that proto3 JSON allows as a number or a decimal string.
pub fn int64_field(value: Option<&Value>) -> Option<i64> {
    match value? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// Integer enum values (what the Rust SDK sends with `enum-encoding=int`) by field name. Field
/// names are unique enough across these APIs that one table serves all of them.
fn enum_names(field: &str) -> &'static [(i64, &'static str)] {
    match field {
        "kind" => &[
            (0, "NOTE_KIND_UNSPECIFIED"),
            (1, "VULNERABILITY"),
            (2, "BUILD"),
            (3, "IMAGE"),
            (4, "PACKAGE"),
            (5, "DEPLOYMENT"),
            (6, "DISCOVERY"),
            (7, "ATTESTATION"),
            (8, "UPGRADE"),
            (9, "COMPLIANCE"),
            (10, "DSSE_ATTESTATION"),
            (11, "VULNERABILITY_ASSESSMENT"),
            (12, "SBOM_REFERENCE"),
        ],
        "purpose" => &[
            (0, "CRYPTO_KEY_PURPOSE_UNSPECIFIED"),
            (1, "ENCRYPT_DECRYPT"),
            (5, "ASYMMETRIC_SIGN"),
            (6, "ASYMMETRIC_DECRYPT"),
            (7, "RAW_ENCRYPT_DECRYPT"),
            (9, "MAC"),
        ],
        "algorithm" => &[
            (1, "GOOGLE_SYMMETRIC_ENCRYPTION"),
            (2, "RSA_SIGN_PSS_2048_SHA256"),
            (3, "RSA_SIGN_PSS_3072_SHA256"),
            (4, "RSA_SIGN_PSS_4096_SHA256"),
            (5, "RSA_SIGN_PKCS1_2048_SHA256"),
            (6, "RSA_SIGN_PKCS1_3072_SHA256"),
            (7, "RSA_SIGN_PKCS1_4096_SHA256"),
            (12, "EC_SIGN_P256_SHA256"),
            (13, "EC_SIGN_P384_SHA384"),
            (15, "RSA_SIGN_PSS_4096_SHA512"),
            (16, "RSA_SIGN_PKCS1_4096_SHA512"),
        ],
        "protectionLevel" => &[(1, "SOFTWARE"), (2, "HSM"), (3, "EXTERNAL")],
        "signatureAlgorithm" => &[
            (1, "RSA_PSS_2048_SHA256"),
            (2, "RSA_PSS_3072_SHA256"),
            (3, "RSA_PSS_4096_SHA256"),
            (4, "RSA_PSS_4096_SHA512"),
            (5, "RSA_SIGN_PKCS1_2048_SHA256"),
            (6, "RSA_SIGN_PKCS1_3072_SHA256"),
            (7, "RSA_SIGN_PKCS1_4096_SHA256"),
            (8, "RSA_SIGN_PKCS1_4096_SHA512"),
            (9, "ECDSA_P256_SHA256"),
            (10, "ECDSA_P384_SHA384"),
            (11, "ECDSA_P521_SHA512"),
        ],
        "evaluationMode" => &[
            (1, "ALWAYS_ALLOW"),
            (2, "REQUIRE_ATTESTATION"),
            (3, "ALWAYS_DENY"),
        ],
        "enforcementMode" => &[
            (1, "ENFORCED_BLOCK_AND_AUDIT_LOG"),
            (2, "DRYRUN_AUDIT_LOG_ONLY"),
        ],
        "globalPolicyEvaluationMode" => &[(1, "ENABLE"), (2, "DISABLE")],
        "state" => &[
            (1, "PENDING_GENERATION"),
            (2, "ENABLED"),
            (3, "DISABLED"),
            (4, "DESTROYED"),
        ],
        _ => &[],
    }
}

/// Rewrites integer enums into their names, in place, so the rest of the emulator sees one
/// dialect. An unknown number is an error, as on Google's side.
pub fn normalise_enums(value: &mut Value) -> ApiResult<()> {
    match value {
        Value::Object(map) => {
            for (key, field) in map.iter_mut() {
                if let Value::Number(n) = field {
                    let table = enum_names(key);
                    if !table.is_empty() {
                        let n = n.as_i64().unwrap_or(-1);
                        let name = table.iter().find(|(v, _)| *v == n).map(|(_, name)| *name);
                        let name = name.ok_or_else(|| {
                            ApiError::invalid(format!("Invalid value at '{key}': {n}"))
                        })?;
                        *field = Value::String(name.to_string());
                        continue;
                    }
                }
                normalise_enums(field)?;
            }
        }
        Value::Array(items) => items.iter_mut().try_for_each(normalise_enums)?,
        _ => {}
    }
    Ok(())
}

/// Parses a request body as a JSON object with enums normalised; an empty body is `{}`.
pub fn parse_body(body: &[u8]) -> ApiResult<Value> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    let mut value: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::invalid(format!("Invalid JSON payload received. {e}")))?;
    if !value.is_object() {
        return Err(ApiError::invalid(
            "Invalid JSON payload received. Expected an object.",
        ));
    }
    normalise_enums(&mut value)?;
    Ok(value)
}

/// The current time as Google writes it (RFC 3339, UTC, microseconds).
pub fn now() -> String {
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
    );
    time::OffsetDateTime::now_utc()
        .format(&format)
        .unwrap_or_default()
}

/// A fresh random identifier (UUID v4 form), for occurrence names and minted tokens.
pub fn random_id() -> String {
    let b: [u8; 16] = rand::random();
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
        u16::from_be_bytes([b[4], b[5]]),
        u16::from_be_bytes([b[6], b[7]]) & 0x0fff,
        (u16::from_be_bytes([b[8], b[9]]) & 0x3fff) | 0x8000,
        u64::from_be_bytes([0, 0, b[10], b[11], b[12], b[13], b[14], b[15]]),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_decode_in_both_alphabets_with_or_without_padding() {
        let data = [0xfbu8, 0xff, 0xfe, 0x01];
        for text in ["+//+AQ==", "-__-AQ==", "-__-AQ", "+//+AQ"] {
            assert_eq!(decode_bytes("f", text).unwrap(), data, "{text}");
        }
        assert_eq!(encode_bytes(&data), "+//+AQ==");
        assert!(decode_bytes("f", "!!").is_err());
    }

    #[test]
    fn integer_enums_become_names_and_unknown_numbers_are_rejected() {
        let mut v =
            json!({"kind": 7, "attestation": {}, "x": [{"signatureAlgorithm": 9}], "pageSize": 3});
        normalise_enums(&mut v).unwrap();
        assert_eq!(
            v,
            json!({"kind": "ATTESTATION", "attestation": {}, "x": [{"signatureAlgorithm": "ECDSA_P256_SHA256"}], "pageSize": 3})
        );
        assert!(normalise_enums(&mut json!({"kind": 99})).is_err());
    }

    #[test]
    fn random_ids_look_like_uuids() {
        let id = random_id();
        assert_eq!(id.len(), 36);
        assert_ne!(id, random_id());
    }
}
