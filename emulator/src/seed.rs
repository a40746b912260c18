//! The seed file: what exists when the emulator starts. Documented in `emulator/README.md`.

use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Seed {
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
    /// Small images generated into the registry at start-up.
    #[serde(default)]
    pub images: Vec<ImageSeed>,
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
        serde_yaml::from_str(text).map_err(|e| e.to_string())
    }
}
