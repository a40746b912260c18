//! The seed file: what exists when the emulator starts. Documented in `emulator/README.md`.

use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Seed {
    /// Projects that exist besides those the seeded resources name; calls on any other project
    /// are refused as Google refuses a missing project.
    #[serde(default)]
    pub projects: Vec<String>,
    /// Timing knobs (generation delay, list lag, token lifetime).
    #[serde(default)]
    pub settings: Settings,
    /// Workload Identity Federation providers STS accepts subject tokens for.
    #[serde(default)]
    pub workload_identity_providers: Vec<ProviderSeed>,
    /// Bearer tokens accepted as they are, and the principal each stands for.
    #[serde(default)]
    pub tokens: Vec<TokenSeed>,
    #[serde(default)]
    pub service_accounts: Vec<ServiceAccountSeed>,
    #[serde(default)]
    pub authorized_users: Vec<AuthorizedUserSeed>,
    #[serde(default)]
    pub metadata: Option<MetadataSeed>,
    /// Host written into attestor key ids for KMS keys (`//HOST/v1/<version>`); gcloud uses the
    /// KMS endpoint's host, so the default is the emulator's own `127.0.0.1:PORT`.
    #[serde(default)]
    pub kms_key_id_host: Option<String>,
    #[serde(default)]
    pub keys: Vec<KeySeed>,
    #[serde(default)]
    pub notes: Vec<NoteSeed>,
    #[serde(default)]
    pub attestors: Vec<AttestorSeed>,
    /// Binary Authorization policies by project id, in Google's JSON/YAML shape.
    #[serde(default)]
    pub policies: BTreeMap<String, Value>,
    #[serde(default)]
    pub deny: Vec<DenySeed>,
    /// IAM enforcement and allow policies (`iam.rs`); absent: every authenticated call is allowed.
    #[serde(default)]
    pub iam: IamSeed,
    /// Small images generated into the registry at start-up.
    #[serde(default)]
    pub images: Vec<ImageSeed>,
}

/// Timing knobs; all default to what keeps tests deterministic.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Settings {
    /// How long a new asymmetric key version stays PENDING_GENERATION before it is ENABLED.
    #[serde(default)]
    pub key_generation_delay_ms: u64,
    /// When not 0, a version scheduled for destruction is DESTROYED after this long instead of
    /// its key's `destroyScheduledDuration` (at least 24 hours on Google), so tests can see it.
    #[serde(default)]
    pub key_destroy_delay_ms: u64,
    /// How long after its create an occurrence becomes visible to list calls (get sees it at once).
    #[serde(default)]
    pub occurrence_list_lag_ms: u64,
    /// Lifetime of the access tokens the emulator mints; a token past it answers 401.
    #[serde(default = "default_token_lifetime")]
    pub token_lifetime_secs: u64,
    /// At most this many occurrences per list page (0: no cap): Google may answer short pages.
    #[serde(default)]
    pub occurrence_page_cap: usize,
    /// At most this many log entries per `entries:list` page (0: no cap), to show paging.
    #[serde(default)]
    pub log_page_cap: usize,
}

fn default_token_lifetime() -> u64 {
    3600
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            key_generation_delay_ms: 0,
            key_destroy_delay_ms: 0,
            occurrence_list_lag_ms: 0,
            token_lifetime_secs: default_token_lifetime(),
            occurrence_page_cap: 0,
            log_page_cap: 0,
        }
    }
}

/// A workload identity pool provider (OIDC), with the issuer whose tokens it trusts.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProviderSeed {
    /// `projects/NUMBER/locations/global/workloadIdentityPools/POOL/providers/PROVIDER`.
    pub name: String,
    /// The `iss` subject tokens must carry, e.g. `https://token.actions.githubusercontent.com`.
    pub issuer: String,
    /// Audiences accepted in subject tokens; default `https://iam.googleapis.com/<name>` and
    /// `//iam.googleapis.com/<name>`, as Google's default audience check.
    #[serde(default)]
    pub allowed_audiences: Vec<String>,
    /// PKCS#8 RSA key the issuer signs with; generated when absent. Tokens for tests come from
    /// `POST /emulator/oidc-token`.
    #[serde(default)]
    pub private_key_pem: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ImageSeed {
    /// `PROJECT/REPO/IMAGE` under the emulator's host.
    pub repository: String,
    pub tag: String,
    /// The text of the image's one file (default: "hello from <repository>").
    #[serde(default)]
    pub content: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TokenSeed {
    pub token: String,
    pub principal: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServiceAccountSeed {
    pub email: String,
    /// Principals holding roles/iam.serviceAccountTokenCreator on this account (may call
    /// generateAccessToken for it): `user:..`, `serviceAccount:..`, `principal://..`, or
    /// `principalSet://iam.googleapis.com/<pool>/*` for every identity of a pool.
    #[serde(default)]
    pub token_creators: Vec<String>,
    /// PKCS#8 RSA private key; generated when absent.
    #[serde(default)]
    pub private_key_pem: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuthorizedUserSeed {
    pub client_id: String,
    pub client_secret: String,
    pub refresh_token: String,
    pub principal: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MetadataSeed {
    pub service_account: String,
    pub project_id: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KeySeed {
    /// `projects/P/locations/L/keyRings/R/cryptoKeys/K`; the key ring is created as needed.
    pub name: String,
    /// A KMS signing algorithm; absent means a symmetric ENCRYPT_DECRYPT key (no versions to sign with).
    #[serde(default)]
    pub algorithm: Option<String>,
    /// Versions to create (default 1).
    #[serde(default)]
    pub versions: Option<u32>,
    /// PKCS#8 private key for version 1, instead of a generated one.
    #[serde(default)]
    pub private_key_pem: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NoteSeed {
    pub name: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AttestorSeed {
    pub name: String,
    pub note: String,
    /// KMS key versions the attestor trusts (their public keys are read from the emulated KMS).
    #[serde(default)]
    pub key_versions: Vec<String>,
    #[serde(default)]
    pub pkix_keys: Vec<PkixKeySeed>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PkixKeySeed {
    pub pem: String,
    pub algorithm: String,
    #[serde(default)]
    pub id: Option<String>,
}

/// `iam:` in the seed file.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IamSeed {
    /// Each method requires its documented permission; off by default (allow-all).
    #[serde(default)]
    pub enforce: bool,
    /// Allow policies by resource (`projects/P`, a key ring, key, note or attestor).
    #[serde(default)]
    pub policies: BTreeMap<String, Vec<BindingSeed>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BindingSeed {
    pub role: String,
    pub members: Vec<String>,
}

/// Calls by `principal` (or `*`, anyone) on resources whose name starts with `resource` are
/// answered 403 PERMISSION_DENIED.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DenySeed {
    pub principal: String,
    pub resource: String,
}

impl Seed {
    pub fn from_yaml(text: &str) -> Result<Seed, String> {
        serde_norway::from_str(text).map_err(|e| e.to_string())
    }
}
