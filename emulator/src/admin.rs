//! The emulator's own endpoints under `/emulator/`: health, request log, counters, fault rules,
//! extra tokens, and credential files for seeded service accounts. Not logged or counted.

use crate::faults::Rule;
use crate::google::{ApiError, ApiResult};
use crate::http::Reply;
use crate::router::{Call, Emulator};
use rsa::pkcs8::{EncodePrivateKey, LineEnding};
use serde_json::{json, Value};

pub fn handle(emu: &Emulator, call: &Call) -> ApiResult<Reply> {
    let req = call.req;
    let segs: Vec<&str> = req.segments.iter().skip(1).map(String::as_str).collect();
    match (req.method.as_str(), segs.as_slice()) {
        ("GET", ["health"]) => Ok(Reply::json(&json!({"ok": true}))),
        ("GET", ["requests"]) => Ok(Reply::json(&json!({"requests": emu.faults().log}))),
        ("GET", ["counters"]) => Ok(Reply::json(&json!({"routes": emu.faults().counters}))),
        ("POST", ["reset"]) | ("DELETE", ["requests"]) => {
            emu.faults().reset();
            Ok(Reply::json(&json!({})))
        }
        ("GET", ["faults"]) => Ok(Reply::json(&json!({"rules": emu.faults().rules}))),
        ("POST", ["faults"]) => {
            let rule: Rule = serde_json::from_slice(&req.body)
                .map_err(|e| ApiError::invalid(format!("Bad fault rule: {e}")))?;
            emu.faults().rules.push(rule);
            Ok(Reply::json(&json!({"rules": emu.faults().rules})))
        }
        ("DELETE", ["faults"]) => {
            emu.faults().rules.clear();
            Ok(Reply::json(&json!({})))
        }
        ("POST", ["tokens"]) => {
            let body: Value =
                serde_json::from_slice(&req.body).map_err(|e| ApiError::invalid(e.to_string()))?;
            let (Some(token), Some(principal)) =
                (body["token"].as_str(), body["principal"].as_str())
            else {
                return Err(ApiError::invalid(
                    "Expected {\"token\": ..., \"principal\": ...}.",
                ));
            };
            emu.state()
                .tokens
                .insert(token.to_string(), principal.to_string());
            Ok(Reply::json(&json!({})))
        }
        ("GET", ["service-accounts", email, "key"]) => service_account_key(emu, email),
        ("POST", ["oidc-token"]) => {
            let body: Value =
                serde_json::from_slice(&req.body).map_err(|e| ApiError::invalid(e.to_string()))?;
            Ok(Reply::json(&crate::auth::oidc_token(emu, &body)?))
        }
        _ => Err(ApiError::not_found(format!(
            "No emulator admin endpoint {} {}.",
            req.method, req.path
        ))),
    }
}

/// A service-account key file whose `token_uri` points at this emulator, as Google's console
/// would download it.
fn service_account_key(emu: &Emulator, email: &str) -> ApiResult<Reply> {
    let state = emu.state();
    let account = state
        .service_accounts
        .get(email)
        .ok_or_else(|| ApiError::not_found(format!("Service account {email} not found.")))?;
    let pem = account
        .key
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| ApiError::new(500, "INTERNAL", e.to_string()))?;
    let project = email
        .split('@')
        .nth(1)
        .and_then(|d| d.split('.').next())
        .unwrap_or("emulator");
    Ok(Reply::json(&json!({
        "type": "service_account",
        "project_id": project,
        "private_key_id": account.key_id,
        "private_key": pem.as_str(),
        "client_email": email,
        "client_id": "100000000000000000000",
        "auth_uri": format!("{}/o/oauth2/auth", emu.base_url),
        "token_uri": format!("{}/token", emu.base_url),
    })))
}
