//! Who is calling: bearer tokens on API calls, and the endpoints that mint them (OAuth2 token,
//! STS token exchange, IAM Credentials, the metadata server).

use crate::crypto::{sign_rs256, verify_rs256};
use crate::google::{random_id, ApiError, ApiResult};
use crate::http::{Reply, Request};
use crate::router::{Call, Emulator};
use crate::state::State;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};
use std::time::{SystemTime, UNIX_EPOCH};

const LIFETIME_SECS: u64 = 3600;

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// The principal behind an API call's bearer token: a token the seed lists or the emulator
/// minted, or a self-signed service-account JWT (what `google-cloud-auth` sends for a key file).
pub fn authenticate(state: &State, req: &Request) -> ApiResult<String> {
    let token = req.bearer().ok_or_else(|| {
        ApiError::unauthenticated(
            "Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential.",
        )
    })?;
    principal_of_token(state, token).ok_or_else(|| {
        ApiError::unauthenticated(
            "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.",
        )
    })
}

/// The principal a Google access token stands for, if the emulator accepts it (the registry
/// takes the same tokens, as Basic `oauth2accesstoken` passwords or bearers).
pub fn principal_of_token(state: &State, token: &str) -> Option<String> {
    if let Some(principal) = state.tokens.get(token) {
        return Some(principal.clone());
    }
    verified_sa_jwt(state, token)
        .map(|claims| claims["iss"].as_str().unwrap_or_default().to_string())
}

/// Decodes a JWT's claims without checking its signature.
fn jwt_claims(token: &str) -> Option<Value> {
    let claims = token.split('.').nth(1)?;
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims.trim_end_matches('=')).ok()?).ok()
}

/// The claims of an unexpired RS256 JWT signed by a seeded service account's key (`iss`).
fn verified_sa_jwt(state: &State, token: &str) -> Option<Value> {
    let (signed, signature) = token.rsplit_once('.')?;
    let claims = jwt_claims(token)?;
    let account = state.service_accounts.get(claims["iss"].as_str()?)?;
    let signature = URL_SAFE_NO_PAD
        .decode(signature.trim_end_matches('='))
        .ok()?;
    let fresh = claims["exp"].as_u64().is_some_and(|exp| exp > unix_now());
    (fresh && verify_rs256(&account.key.to_public_key(), signed.as_bytes(), &signature))
        .then_some(claims)
}

/// Records a new access token for `principal` and returns it.
fn mint(emu: &Emulator, principal: &str) -> String {
    let token = format!("ya29.emulator-{}", random_id());
    emu.state()
        .tokens
        .insert(token.clone(), principal.to_string());
    token
}

fn oauth_error(error: &str, description: &str) -> Reply {
    Reply::with_status(
        400,
        &json!({"error": error, "error_description": description}),
    )
}

fn token_answer(token: String) -> Reply {
    Reply::json(
        &json!({"access_token": token, "expires_in": LIFETIME_SECS, "token_type": "Bearer"}),
    )
}

/// `POST /token`: the JWT-bearer grant for service-account keys (an access token, or an ID
/// token when the assertion asks for `target_audience`) and the refresh-token grant.
pub fn oauth_token(emu: &Emulator, call: &Call) -> ApiResult<Reply> {
    let get = |k: &str| call.req.form_value(k);
    match get("grant_type").as_str() {
        "urn:ietf:params:oauth:grant-type:jwt-bearer" => {
            let assertion = get("assertion");
            let claims = verified_sa_jwt(&emu.state(), &assertion);
            let Some(claims) = claims else {
                return Ok(oauth_error("invalid_grant", "Invalid JWT Signature."));
            };
            let email = claims["iss"].as_str().unwrap_or_default().to_string();
            match claims["target_audience"].as_str() {
                Some(audience) => Ok(Reply::json(
                    &json!({"id_token": id_token(emu, &email, audience)}),
                )),
                None => Ok(token_answer(mint(emu, &email))),
            }
        }
        "refresh_token" => {
            let principal = emu
                .state()
                .authorized_users
                .iter()
                .find(|u| {
                    u.client_id == get("client_id")
                        && u.client_secret == get("client_secret")
                        && u.refresh_token == get("refresh_token")
                })
                .map(|u| u.principal.clone());
            match principal {
                Some(p) => Ok(token_answer(mint(emu, &p))),
                None => Ok(oauth_error("invalid_grant", "Bad Request")),
            }
        }
        other => Ok(oauth_error(
            "unsupported_grant_type",
            &format!("Invalid grant_type: {other}"),
        )),
    }
}

/// An ID token signed by the service account's own key.
fn id_token(emu: &Emulator, email: &str, audience: &str) -> String {
    let state = emu.state();
    let Some(account) = state.service_accounts.get(email) else {
        return String::new();
    };
    let now = unix_now();
    let header = json!({"alg": "RS256", "typ": "JWT", "kid": account.key_id});
    let claims = json!({"iss": "https://accounts.google.com", "aud": audience, "sub": email, "email": email,
                        "iat": now, "exp": now + LIFETIME_SECS});
    let signed = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = sign_rs256(&account.key, signed.as_bytes());
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature))
}

/// `POST /v1/token` (STS): exchanges an external subject token (GitHub or GitLab OIDC) for a
/// federated access token, as Workload Identity Federation does.
pub fn sts_token(emu: &Emulator, call: &Call) -> ApiResult<Reply> {
    let get = |k: &str| call.req.form_value(k);
    if get("grant_type") != "urn:ietf:params:oauth:grant-type:token-exchange" {
        return Ok(oauth_error(
            "invalid_request",
            "Invalid value for \"grant_type\".",
        ));
    }
    let subject = get("subject_token");
    if subject.is_empty() || get("subject_token_type").is_empty() {
        return Ok(oauth_error(
            "invalid_request",
            "subject_token and subject_token_type are required.",
        ));
    }
    let sub = jwt_claims(&subject)
        .and_then(|c| c["sub"].as_str().map(String::from))
        .unwrap_or_else(|| "unknown".into());
    let pool = get("audience")
        .trim_start_matches("//iam.googleapis.com/")
        .to_string();
    let principal = format!("principal://iam.googleapis.com/{pool}/subject/{sub}");
    Ok(Reply::json(&json!({
        "access_token": mint(emu, &principal),
        "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
        "token_type": "Bearer",
        "expires_in": LIFETIME_SECS,
    })))
}

/// `POST /v1/projects/-/serviceAccounts/EMAIL:generateAccessToken` (impersonation).
pub fn generate_access_token(emu: &Emulator, call: &Call) -> ApiResult<Reply> {
    let email = call
        .resource
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_string();
    if !emu.state().service_accounts.contains_key(&email) {
        return Err(ApiError::not_found(format!(
            "Service account {email} not found."
        )));
    }
    let expire = time::OffsetDateTime::now_utc() + time::Duration::seconds(LIFETIME_SECS as i64);
    let expire = expire
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    Ok(Reply::json(
        &json!({"accessToken": mint(emu, &email), "expireTime": expire}),
    ))
}

/// The GCE metadata server's paths that credentials libraries read.
pub fn metadata(emu: &Emulator, call: &Call) -> ApiResult<Reply> {
    let req = call.req;
    let flavored = |r: Reply| r.header("metadata-flavor", "Google");
    if req.segments.is_empty() {
        return Ok(flavored(Reply::text(200, "computeMetadata/\n")));
    }
    if req.header("metadata-flavor") != Some("Google") {
        return Ok(flavored(Reply::text(
            403,
            "Missing required header: Metadata-Flavor: Google\n",
        )));
    }
    let path = req.segments[1..].join("/");
    let configured = emu.state().metadata.clone();
    let Some((account, project)) = configured else {
        return Ok(flavored(Reply::text(
            404,
            "The emulator's seed configures no metadata server.\n",
        )));
    };
    let sa_path = path
        .strip_prefix("v1/instance/service-accounts/")
        .map(|rest| {
            let (who, what) = rest.split_once('/').unwrap_or((rest, ""));
            (who == "default" || who == account, what)
        });
    let reply = match (path.as_str(), sa_path) {
        ("v1" | "v1/", _) => Reply::text(200, "instance/\nproject/\n"),
        ("v1/project/project-id", _) => Reply::text(200, &project),
        ("v1/universe/universe-domain", _) => Reply::text(200, "googleapis.com"),
        (_, Some((true, "token"))) => token_answer(mint(emu, &account)),
        (_, Some((true, "email"))) => Reply::text(200, &account),
        (_, Some((true, ""))) => Reply::json(&json!({"aliases": ["default"], "email": account,
                                                   "scopes": ["https://www.googleapis.com/auth/cloud-platform"]})),
        _ => Reply::text(404, "Not found\n"),
    };
    Ok(flavored(reply))
}
