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
    /// `google.rpc` detail messages (`BadRequest`, `ErrorInfo`), as Google attaches them.
    pub details: Vec<Value>,
}

impl ApiError {
    pub fn new(code: u16, status: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            code,
            status,
            message: message.into(),
            details: Vec::new(),
        }
    }
    /// Adds one entry to the error's `details` (an ErrorInfo, a BadRequest), as Google's answers carry.
    pub fn with_detail(mut self, detail: Value) -> Self {
        self.details.push(detail);
        self
    }
    /// Google's answer for a project it does not know: 403, not 404, so that a caller cannot
    /// tell a missing project from one it may not see (observed answer, with ErrorInfo
    /// reason CONSUMER_INVALID).
    pub fn unknown_project(project: &str, service: &str) -> Self {
        Self::denied(format!("Permission denied on resource project {project}.")).with_detail(
            json!({"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "CONSUMER_INVALID",
                   "domain": "googleapis.com",
                   "metadata": {"consumer": format!("projects/{project}"), "containerInfo": project, "service": service}}),
        )
    }
    /// AIP-154: a stale etag on an update is ABORTED (409).
    pub fn aborted(message: impl Into<String>) -> Self {
        Self::new(409, "ABORTED", message)
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
        let mut error = json!({"code": self.code, "message": self.message, "status": self.status});
        if !self.details.is_empty() {
            error["details"] = json!(self.details);
        }
        json!({ "error": error })
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

/// The current time as Google writes it (RFC 3339, UTC, microseconds).
pub fn now() -> String {
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
    );
    time::OffsetDateTime::now_utc()
        .format(&format)
        .unwrap_or_default()
}

/// The time `secs` seconds from now, as Google writes it.
pub fn time_after(secs: i64) -> String {
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
    );
    (time::OffsetDateTime::now_utc() + time::Duration::seconds(secs))
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
    fn random_ids_look_like_uuids() {
        let id = random_id();
        assert_eq!(id.len(), 36);
        assert_ne!(id, random_id());
    }
}
