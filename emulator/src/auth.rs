//! Who is calling: bearer tokens on API calls, and the endpoints that mint them (OAuth2 token,
//! STS token exchange, IAM Credentials, the metadata server), checked as Google checks them:
//! JWT audiences, scopes and lifetimes, STS subject tokens against a seeded OIDC issuer, the
//! token-creator right for impersonation, and access tokens that expire.

use crate::crypto::{sign_rs256, verify_rs256};
use crate::google::{random_id, ApiError, ApiResult};
use crate::http::{Reply, Request};
use crate::router::{service_of, Call, Emulator};
use crate::schema::{self, f, Msg, Ty};
use crate::state::State;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The token endpoint audiences Google accepts in a JWT-bearer grant ("aud: ... the value is
/// always https://oauth2.googleapis.com/token", OAuth 2.0 for Server to Server Applications;
/// the two older endpoints are still honoured).
const TOKEN_AUDIENCES: &[&str] = &[
    "https://oauth2.googleapis.com/token",
    "https://accounts.google.com/o/oauth2/token",
    "https://www.googleapis.com/oauth2/v4/token",
];

const CLOUD_PLATFORM: &str = "https://www.googleapis.com/auth/cloud-platform";

/// A JWT may live at most an hour ("exp ... has a maximum of 1 hour after the issued time");
/// Google's own client libraries add 10 s of clock-skew fudge on both ends, so allow 60 s.
const MAX_JWT_LIFETIME: u64 = 3600 + 60;
/// How far in the future `iat` may be (clock skew).
const MAX_SKEW: u64 = 300;

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

const MISSING: &str = "Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential.";
const INVALID: &str = "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.";

/// The principal behind an API call's bearer token: a token the seed lists or the emulator
/// minted (and that has not expired), or a self-signed service-account JWT whose audience or
/// scope Google accepts for the API `route` belongs to.
pub fn authenticate(state: &State, req: &Request, route: &str) -> ApiResult<String> {
    let token = req
        .bearer()
        .ok_or_else(|| ApiError::unauthenticated(MISSING))?;
    principal_for(state, token, service_of(route)).ok_or_else(|| ApiError::unauthenticated(INVALID))
}

/// The principal a Google access token stands for, if the emulator accepts it (the registry
/// takes the same tokens, as Basic `oauth2accesstoken` passwords or bearers).
pub fn principal_of_token(state: &State, token: &str) -> Option<String> {
    principal_for(state, token, "artifactregistry.googleapis.com")
}

fn principal_for(state: &State, token: &str, service: &str) -> Option<String> {
    if let Some(principal) = state.tokens.get(token) {
        return Some(principal.clone());
    }
    if let Some((principal, expires)) = state.minted.get(token) {
        return (*expires > Instant::now()).then(|| principal.clone());
    }
    let claims = verified_sa_jwt(state, token).ok()?;
    // Self-signed JWTs ("Addendum: Service account authorization without OAuth"): the `aud`
    // is the API's service endpoint, `https://SERVICE/`, or the JWT carries a `scope`.
    let aud = claims["aud"].as_str().unwrap_or_default();
    let audience_ok = aud.trim_end_matches('/') == format!("https://{service}");
    let scope_ok = claims["scope"]
        .as_str()
        .is_some_and(|s| s.split(' ').any(|s| s == CLOUD_PLATFORM));
    (audience_ok || scope_ok).then(|| claims["iss"].as_str().unwrap_or_default().to_string())
}

/// Decodes a JWT's header and claims without checking its signature.
fn jwt_parts(token: &str) -> Option<(Value, Value)> {
    let mut parts = token.split('.');
    let decode = |p: &str| -> Option<Value> {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p.trim_end_matches('=')).ok()?).ok()
    };
    let header = decode(parts.next()?)?;
    let claims = decode(parts.next()?)?;
    Some((header, claims))
}

/// Checks `iat`/`exp`: present, not expired, not from the future, at most an hour apart.
fn lifetime_ok(claims: &Value) -> bool {
    let now = unix_now();
    match (claims["iat"].as_u64(), claims["exp"].as_u64()) {
        (Some(iat), Some(exp)) => {
            exp > now && iat <= now + MAX_SKEW && exp > iat && exp - iat <= MAX_JWT_LIFETIME
        }
        _ => false,
    }
}

/// Why a service-account JWT is refused, in the token endpoint's words.
enum JwtError {
    Signature,
    Lifetime,
}

/// The claims of an RS256 JWT signed by a seeded service account's key (`iss`), within its
/// lifetime.
fn verified_sa_jwt(state: &State, token: &str) -> Result<Value, JwtError> {
    let (signed, signature) = token.rsplit_once('.').ok_or(JwtError::Signature)?;
    let (header, claims) = jwt_parts(token).ok_or(JwtError::Signature)?;
    if header["alg"] != "RS256" {
        return Err(JwtError::Signature);
    }
    let account = claims["iss"]
        .as_str()
        .and_then(|iss| state.service_accounts.get(iss))
        .ok_or(JwtError::Signature)?;
    let signature = URL_SAFE_NO_PAD
        .decode(signature.trim_end_matches('='))
        .map_err(|_| JwtError::Signature)?;
    if !verify_rs256(&account.key.to_public_key(), signed.as_bytes(), &signature) {
        return Err(JwtError::Signature);
    }
    if !lifetime_ok(&claims) {
        return Err(JwtError::Lifetime);
    }
    Ok(claims)
}

/// Records a new access token for `principal`, valid for `lifetime` seconds (at most the
/// seeded token lifetime), and returns it with its lifetime.
fn mint(emu: &Emulator, principal: &str, lifetime: Option<u64>) -> (String, u64) {
    let token = format!("ya29.emulator-{}", random_id());
    let mut state = emu.state();
    let secs = lifetime
        .unwrap_or(state.settings.token_lifetime_secs)
        .min(state.settings.token_lifetime_secs);
    state.minted.insert(
        token.clone(),
        (
            principal.to_string(),
            Instant::now() + Duration::from_secs(secs),
        ),
    );
    (token, secs)
}

fn oauth_error(error: &str, description: &str) -> Reply {
    Reply::with_status(
        400,
        &json!({"error": error, "error_description": description}),
    )
}

fn token_answer((token, secs): (String, u64)) -> Reply {
    Reply::json(&json!({"access_token": token, "expires_in": secs, "token_type": "Bearer"}))
}

/// `POST /token`: the JWT-bearer grant for service-account keys (an access token, or an ID
/// token when the assertion asks for `target_audience`) and the refresh-token grant.
pub fn oauth_token(emu: &Emulator, call: &Call) -> ApiResult<Reply> {
    let get = |k: &str| call.req.form_value(k);
    match get("grant_type").as_str() {
        "urn:ietf:params:oauth:grant-type:jwt-bearer" => {
            let assertion = get("assertion");
            let claims = match verified_sa_jwt(&emu.state(), &assertion) {
                Ok(claims) => claims,
                Err(JwtError::Signature) => {
                    return Ok(oauth_error("invalid_grant", "Invalid JWT Signature."))
                }
                Err(JwtError::Lifetime) => return Ok(oauth_error(
                    "invalid_grant",
                    "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.",
                )),
            };
            let aud = claims["aud"].as_str().unwrap_or_default();
            if !TOKEN_AUDIENCES.contains(&aud) {
                return Ok(oauth_error(
                    "invalid_grant",
                    &format!("Invalid JWT: Failed audience check. The audience {aud:?} is not https://oauth2.googleapis.com/token."),
                ));
            }
            let email = claims["iss"].as_str().unwrap_or_default().to_string();
            match claims["target_audience"].as_str() {
                Some(audience) => Ok(Reply::json(
                    &json!({"id_token": id_token(emu, &email, audience)}),
                )),
                None => {
                    let scope = claims["scope"].as_str().unwrap_or_default();
                    if scope.trim().is_empty() {
                        return Ok(oauth_error(
                            "invalid_scope",
                            "Empty or missing scope not allowed.",
                        ));
                    }
                    Ok(token_answer(mint(emu, &email, None)))
                }
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
                Some(p) => Ok(token_answer(mint(emu, &p, None))),
                None => Ok(oauth_error("invalid_grant", "Bad Request")),
            }
        }
        other => Ok(oauth_error(
            "unsupported_grant_type",
            &format!("Invalid grant_type: {other}"),
        )),
    }
}

fn sign_jwt(key: &rsa::RsaPrivateKey, key_id: &str, claims: &Value) -> String {
    let header = json!({"alg": "RS256", "typ": "JWT", "kid": key_id});
    let signed = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = sign_rs256(key, signed.as_bytes());
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature))
}

/// An ID token signed by the service account's own key.
fn id_token(emu: &Emulator, email: &str, audience: &str) -> String {
    let state = emu.state();
    let Some(account) = state.service_accounts.get(email) else {
        return String::new();
    };
    let now = unix_now();
    let claims = json!({"iss": "https://accounts.google.com", "aud": audience, "sub": email, "email": email,
                        "iat": now, "exp": now + 3600});
    sign_jwt(&account.key, &account.key_id, &claims)
}

/// An OIDC token from a seeded provider's issuer, as GitHub or GitLab would issue it, for
/// tests of Workload Identity Federation (`POST /emulator/oidc-token`): `provider` (its name),
/// `sub`, and optionally `aud`, `iss`, `lifetimeSecs` and extra `claims`.
pub fn oidc_token(emu: &Emulator, body: &Value) -> ApiResult<Value> {
    let state = emu.state();
    let name = body["provider"].as_str().unwrap_or_default();
    let provider = state
        .providers
        .iter()
        .find(|p| p.name == name)
        .ok_or_else(|| ApiError::not_found(format!("No seeded provider {name:?}.")))?;
    let now = unix_now();
    let lifetime = body["lifetimeSecs"].as_u64().unwrap_or(300);
    let mut claims = json!({
        "iss": body["iss"].as_str().unwrap_or(&provider.issuer),
        "aud": body["aud"].as_str().unwrap_or(&provider.audiences[0]),
        "sub": body["sub"].as_str().unwrap_or("repo:example/app:ref:refs/heads/main"),
        "iat": now,
        "exp": now + lifetime,
    });
    for (k, v) in body["claims"].as_object().into_iter().flatten() {
        claims[k] = v.clone();
    }
    Ok(json!({"token": sign_jwt(&provider.key, &provider.key_id, &claims)}))
}

const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
/// STS accepts OIDC subject tokens as `jwt` or `id_token` (STS `token` reference,
/// subjectTokenType).
const OIDC_TOKEN_TYPES: &[&str] = &[
    "urn:ietf:params:oauth:token-type:jwt",
    "urn:ietf:params:oauth:token-type:id_token",
];

/// `POST /v1/token` (STS, `token` method): exchanges an OIDC subject token (GitHub, GitLab)
/// for a federated access token, checking what Workload Identity Federation checks: the grant
/// and token types, the audience names a provider, and the subject token's signature (the
/// provider's issuer key), issuer, audience and expiry.
pub fn sts_token(emu: &Emulator, call: &Call) -> ApiResult<Reply> {
    let get = |k: &str| call.req.form_value(k);
    if get("grant_type") != TOKEN_EXCHANGE {
        return Ok(oauth_error(
            "unsupported_grant_type",
            &format!(
                "Unsupported grant type {:?}; expected {TOKEN_EXCHANGE}.",
                get("grant_type")
            ),
        ));
    }
    if get("requested_token_type") != ACCESS_TOKEN_TYPE {
        return Ok(oauth_error(
            "invalid_request",
            &format!("Invalid value for \"requested_token_type\": expected {ACCESS_TOKEN_TYPE}."),
        ));
    }
    if !OIDC_TOKEN_TYPES.contains(&get("subject_token_type").as_str()) {
        return Ok(oauth_error(
            "invalid_request",
            "Invalid value for \"subject_token_type\": an OIDC provider takes urn:ietf:params:oauth:token-type:jwt or id_token.",
        ));
    }
    if get("scope").trim().is_empty() {
        return Ok(oauth_error(
            "invalid_scope",
            "The scope parameter is required when exchanging an external credential for a Google access token.",
        ));
    }
    let audience = get("audience");
    let state = emu.state();
    let provider = audience
        .strip_prefix("//iam.googleapis.com/")
        .and_then(|name| state.providers.iter().find(|p| p.name == name));
    let Some(provider) = provider else {
        return Ok(oauth_error(
            "invalid_target",
            "The target service indicated by the \"audience\" parameters is invalid. This might either be because the pool or provider is disabled or deleted or because it doesn't exist.",
        ));
    };
    let subject = get("subject_token");
    let Some((header, claims)) = jwt_parts(&subject) else {
        return Ok(oauth_error(
            "invalid_grant",
            "The subject token is not a JWT.",
        ));
    };
    let signature = subject.rsplit_once('.').and_then(|(signed, sig)| {
        Some((
            signed,
            URL_SAFE_NO_PAD.decode(sig.trim_end_matches('=')).ok()?,
        ))
    });
    let verified = header["alg"] == "RS256"
        && signature.is_some_and(|(signed, sig)| {
            verify_rs256(&provider.key.to_public_key(), signed.as_bytes(), &sig)
        });
    if !verified {
        return Ok(oauth_error(
            "invalid_grant",
            "Invalid ID Token: the signature does not verify with the issuer's keys.",
        ));
    }
    let iss = claims["iss"].as_str().unwrap_or_default();
    if iss != provider.issuer {
        return Ok(oauth_error(
            "invalid_grant",
            &format!(
                "The issuer in ID Token {iss} does not match the expected ones: {}.",
                provider.issuer
            ),
        ));
    }
    let auds: Vec<&str> = match &claims["aud"] {
        Value::String(s) => vec![s.as_str()],
        Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    if !auds
        .iter()
        .any(|a| provider.audiences.iter().any(|p| p == a))
    {
        return Ok(oauth_error(
            "invalid_grant",
            &format!("The audience in ID Token {auds:?} does not match the expected audience."),
        ));
    }
    if claims["exp"].as_u64().is_none_or(|exp| exp <= unix_now()) {
        return Ok(oauth_error("invalid_grant", "The ID Token has expired."));
    }
    let sub = claims["sub"].as_str().unwrap_or_default();
    if sub.is_empty() {
        return Ok(oauth_error(
            "invalid_grant",
            "The ID Token has no sub claim.",
        ));
    }
    let pool = provider.name[..provider.name.rfind("/providers/").unwrap_or(0)].to_string();
    drop(state);
    let principal = format!("principal://iam.googleapis.com/{pool}/subject/{sub}");
    let (token, secs) = mint(emu, &principal, None);
    Ok(Reply::json(&json!({
        "access_token": token,
        "issued_token_type": ACCESS_TOKEN_TYPE,
        "token_type": "Bearer",
        "expires_in": secs,
    })))
}

/// `GenerateAccessTokenRequest` (`body: "*"`).
static GENERATE_ACCESS_TOKEN: Msg = Msg {
    fields: &[
        f("name", "name", Ty::Str),
        f("delegates", "delegates", Ty::Str).repeated(),
        f("scope", "scope", Ty::Str).repeated(),
        f("lifetime", "lifetime", Ty::Duration),
    ],
    oneofs: &[],
};

/// Whether `principal` is one of `members` (IAM member forms: `user:`, `serviceAccount:`,
/// `principal://...`, and `principalSet://.../workloadIdentityPools/POOL/*`).
fn holds(members: &[String], principal: &str) -> bool {
    members.iter().any(|m| {
        m == principal
            || m.strip_prefix("serviceAccount:") == Some(principal)
            || m.strip_prefix("principalSet://")
                .and_then(|set| set.strip_suffix("/*"))
                .is_some_and(|pool| {
                    principal
                        .strip_prefix("principal://")
                        .is_some_and(|p| p.starts_with(&format!("{pool}/subject/")))
                })
    })
}

/// `POST /v1/projects/-/serviceAccounts/EMAIL:generateAccessToken` (impersonation): the
/// caller needs iam.serviceAccounts.getAccessToken (roles/iam.serviceAccountTokenCreator) on
/// the account, `scope` is REQUIRED, `lifetime` at most 3600 s.
pub fn generate_access_token(emu: &Emulator, call: &Call) -> ApiResult<Reply> {
    let body = schema::parse(&call.req.body, &GENERATE_ACCESS_TOKEN, "")?;
    // name: "projects/-/serviceAccounts/{ACCOUNT_EMAIL_OR_UNIQUEID}. The - wildcard character
    // is required; replacing it with a project ID is invalid." (generateAccessToken reference)
    if !call.resource.starts_with("projects/-/") {
        return Err(schema::bad_request(
            "name",
            format!(
                "Invalid resource name {:?}: the project must be the wildcard '-'.",
                call.resource
            ),
        ));
    }
    let email = call
        .resource
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_string();
    let creators = emu
        .state()
        .service_accounts
        .get(&email)
        .map(|a| a.token_creators.clone());
    let Some(creators) = creators else {
        return Err(ApiError::not_found(format!(
            "Not found; Gaia id not found for email {email}"
        )));
    };
    if !holds(&creators, &call.principal) {
        return Err(ApiError::denied(
            "Permission 'iam.serviceAccounts.getAccessToken' denied on resource (or it may not exist).",
        )
        .with_detail(json!({"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "IAM_PERMISSION_DENIED",
                            "domain": "iam.googleapis.com",
                            "metadata": {"permission": "iam.serviceAccounts.getAccessToken"}})));
    }
    if body["scope"].as_array().is_none_or(|s| s.is_empty()) {
        return Err(schema::bad_request("scope", "Scope required.".into()));
    }
    let lifetime = match body["lifetime"].as_str() {
        Some(d) => {
            let secs = d.trim_end_matches('s').parse::<f64>().unwrap_or(0.0);
            if !(1.0..=3600.0).contains(&secs) {
                return Err(schema::bad_request(
                    "lifetime",
                    format!("The lifetime {d} must be between 1s and 3600s."),
                ));
            }
            Some(secs as u64)
        }
        None => None,
    };
    let (token, secs) = mint(emu, &email, lifetime);
    let expire = time::OffsetDateTime::now_utc() + time::Duration::seconds(secs as i64);
    let expire = expire
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    Ok(Reply::json(
        &json!({"accessToken": token, "expireTime": expire}),
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
        (_, Some((true, "token"))) => token_answer(mint(emu, &account, None)),
        (_, Some((true, "email"))) => Reply::text(200, &account),
        (_, Some((true, ""))) => Reply::json(&json!({"aliases": ["default"], "email": account,
                                                   "scopes": [CLOUD_PLATFORM]})),
        _ => Reply::text(404, "Not found\n"),
    };
    Ok(flavored(reply))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_creators_match_members_and_pools() {
        let members = vec![
            "serviceAccount:ci@p.iam.gserviceaccount.com".to_string(),
            "principalSet://iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/ci/*".to_string(),
        ];
        assert!(holds(&members, "ci@p.iam.gserviceaccount.com"));
        assert!(holds(&members, "principal://iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/ci/subject/repo:o/r"));
        assert!(!holds(&members, "principal://iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/other/subject/x"));
        assert!(!holds(&members, "user:dev@example.com"));
    }
}
