//! Who is calling the registry, the way Artifact Registry decides it: a registry token minted at
//! `/v2/token`, a Google access token sent directly as the bearer, or HTTP Basic
//! `oauth2accesstoken:<Google access token>` (what docker's gcloud credential helper sends).

use super::RegError;
use crate::auth::principal_of_token;
use crate::google::random_id;
use crate::http::{Reply, Request};
use crate::router::{Call, Emulator};
use crate::state::State;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::json;

/// The username GAR takes with a Google access token as the password.
pub const TOKEN_USER: &str = "oauth2accesstoken";
const LIFETIME_SECS: u64 = 3600;

/// What a request authenticated with, for the request log (never the credential itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    GoogleToken,
    RegistryToken,
    /// A credential was sent, but the emulator does not accept it.
    Invalid,
    None,
}

impl Credential {
    pub fn as_str(self) -> &'static str {
        match self {
            Credential::GoogleToken => "google-token",
            Credential::RegistryToken => "registry-token",
            Credential::Invalid => "invalid",
            Credential::None => "none",
        }
    }
}

/// The Google access token of a Basic `oauth2accesstoken:<token>` header, if that is what was sent.
fn basic_google_token(req: &Request) -> Option<String> {
    let value = req.header("authorization")?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (user, password) = decoded.split_once(':')?;
    (user == TOKEN_USER && !password.is_empty()).then(|| password.to_string())
}

/// The principal behind a request's credential and which kind it was; `None` when the
/// credential is missing or not accepted. Registry tokens and Basic credentials count only on
/// the registry (`registry`); Google's APIs take Google bearer tokens alone.
pub fn identify(state: &State, req: &Request, registry: bool) -> (Credential, Option<String>) {
    if let Some(token) = req.bearer() {
        if let Some(p) = state.registry.tokens.get(token).filter(|_| registry) {
            return (Credential::RegistryToken, Some(p.clone()));
        }
        return match principal_of_token(state, token) {
            Some(p) => (Credential::GoogleToken, Some(p)),
            None => (Credential::Invalid, None),
        };
    }
    if let Some(token) = basic_google_token(req).filter(|_| registry) {
        return match principal_of_token(state, &token) {
            Some(p) => (Credential::GoogleToken, Some(p)),
            None => (Credential::Invalid, None),
        };
    }
    match req.header("authorization") {
        Some(_) => (Credential::Invalid, None),
        None => (Credential::None, None),
    }
}

/// `http://HOST` as the client addressed the emulator (its `Host` header), so that challenges
/// and `Location` headers point where the client can reach.
pub fn origin(emu: &Emulator, req: &Request) -> String {
    match req.header("host") {
        Some(host) if !host.is_empty() => format!("http://{host}"),
        _ => emu.base_url.clone(),
    }
}

/// GAR's challenge: `Bearer realm="<origin>/v2/token",service="<host>"`.
pub fn challenge(emu: &Emulator, req: &Request) -> String {
    let origin = origin(emu, req);
    let host = origin.trim_start_matches("http://");
    format!("Bearer realm=\"{origin}/v2/token\",service=\"{host}\"")
}

/// Authenticates a registry call (any route under `/v2/` but the token endpoint).
pub fn authenticate(emu: &Emulator, req: &Request) -> Result<String, RegError> {
    let (credential, principal) = identify(&emu.state(), req, true);
    principal.ok_or_else(|| {
        let message = match credential {
            Credential::None => "Authentication required: send Authorization: Bearer <token from /v2/token or a Google access token>, or Basic oauth2accesstoken:<Google access token>.",
            _ => "The credential is not accepted: the Google access token is unknown or expired.",
        };
        RegError::unauthorized(message, challenge(emu, req))
    })
}

/// `GET /v2/token?service=...&scope=repository:NAME:pull,push`: trades Basic
/// `oauth2accesstoken:<Google access token>` for a registry token. No anonymous tokens: GAR
/// grants none for private repositories.
pub fn token(emu: &Emulator, call: &Call) -> Result<Reply, RegError> {
    let req = call.req;
    let principal = basic_google_token(req).and_then(|t| principal_of_token(&emu.state(), &t));
    let Some(principal) = principal else {
        let message = if req.header("authorization").is_some() {
            "Token exchange needs HTTP Basic oauth2accesstoken:<a valid Google access token>."
        } else {
            "Anonymous access is not allowed: send HTTP Basic oauth2accesstoken:<Google access token>."
        };
        return Err(RegError::unauthorized(message, challenge(emu, req)));
    };
    let token = format!("emulator-registry-{}", random_id());
    emu.state().registry.tokens.insert(token.clone(), principal);
    Ok(Reply::json(&json!({
        "token": token,
        "access_token": token,
        "expires_in": LIFETIME_SECS,
        "issued_at": crate::google::now(),
    })))
}
