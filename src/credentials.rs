//! Registry credentials, found where the container tools keep them and in their order, so a
//! `skopeo login`, `podman login`, `docker login` or a mounted Kubernetes `.dockerconfigjson`
//! Secret is all a user has to do.
//!
//! Which files, in order (containers-auth.json(5); containers/image
//! `pkg/docker/config/config.go`, `getAuthFilePaths`): the file the user names
//! (`--registry-auth-file`, else `REGISTRY_AUTH_FILE`), and then no other, as skopeo and podman
//! do; otherwise `$XDG_RUNTIME_DIR/containers/auth.json` (`/run/containers/UID/auth.json` when
//! the variable is unset), `$XDG_CONFIG_HOME/containers/auth.json` (`~/.config/...`),
//! `$DOCKER_CONFIG/config.json` else `~/.docker/config.json`, and the legacy `~/.dockercfg`. The
//! first file holding a credential for the registry wins; a file that does not exist is skipped.
//!
//! Within one file, for `HOST/PATH/TO/REPO` (containers/image `findCredentialsInFile`; docker's
//! `config.json` reference, "Credential helpers" and "Credential store"):
//! 1. `credHelpers[HOST]`: that helper, and nothing else of this file;
//! 2. `credsStore`, the default helper (not for registries that take the Google token: a store
//!    set for every registry is not a credential configured for them);
//! 3. `auths`, most specific key first: `HOST/PATH/TO/REPO`, `HOST/PATH/TO`, `HOST/PATH`, `HOST`
//!    (the legacy file: `HOST` only);
//! 4. `auths` keys written as URLs (`https://HOST/v1/`, as `docker login` wrote them for years)
//!    and Docker Hub's names (`docker.io`, `index.docker.io`, `registry-1.docker.io`,
//!    `https://index.docker.io/v1/`), compared by host.
//!
//! An `auths` entry is `auth` (base64 of `USER:PASSWORD`), or `username` and `password`,
//! or `identitytoken` (an OAuth2 refresh token for the registry's token service), or
//! `registrytoken` (a bearer sent as is). An empty entry (`{}`, which `docker login` writes
//! beside a helper) is no credential.
//!
//! Helpers speak the docker-credential-helpers protocol (`client/client.go`): `docker-credential-
//! NAME get`, the server URL on stdin, `{"ServerURL","Username","Secret"}` on stdout, a username
//! `<token>` meaning the secret is an identity token; "credentials not found in native keychain"
//! means none. Each run is bounded by the attempt timeout of `retry.rs` (and the command's
//! `--timeout`), its answer read up to [`HELPER_ANSWER_LIMIT`].
//!
//! Hand-written: the crates.io candidate, `docker_credential` 1.4, reads only
//! `~/.docker/config.json` (no auth.json, no order, no `REGISTRY_AUTH_FILE`), matches keys exactly
//! (no namespaces, no URL keys), asks `credsStore` after `auths` (docker asks it first), and runs
//! helpers with blocking `std::process` with no timeout and an unbounded read.
//!
//! Every secret read here becomes an [`AccessToken`], so it is in the redaction set of `token.rs`
//! and its `Debug` never shows it.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::error::{exit, Error, Result};
use crate::retry::{self, Failure, Stopped};
use crate::token::{redact, AccessToken};

/// Auth files are small; a larger one is refused rather than read.
pub const FILE_LIMIT: u64 = 1 << 20;

/// A helper answers one short JSON object; more is refused.
pub const HELPER_ANSWER_LIMIT: u64 = 64 << 10;

/// What a credential helper answers when it holds nothing for the server
/// (docker-credential-helpers `credentials/error.go`).
const NOT_FOUND: &str = "credentials not found in native keychain";

/// Docker Hub's server address as docker keys it (`auths`, `credHelpers`, helpers' stores).
pub const DOCKER_HUB_SERVER: &str = "https://index.docker.io/v1/";

/// Where to look for registry credentials: the files, in order. Built once per run from the
/// flag and the environment; [`Credentials::default`] looks nowhere.
#[derive(Clone, Debug, Default)]
pub struct Credentials {
    files: Vec<AuthFile>,
    /// The user named one file: only it is read, and it must exist.
    explicit: bool,
}

/// One file of the search, and how it is written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthFile {
    /// Where it is.
    pub path: PathBuf,
    /// `~/.dockercfg`: the `auths` map itself, keyed by host only.
    pub legacy: bool,
    /// How the user named it, for errors: `--registry-auth-file`, `REGISTRY_AUTH_FILE`, or empty
    /// for a default location.
    pub named_by: &'static str,
}

/// A credential for one registry (or one of its namespaces).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Credential {
    /// A user name and password, for Basic auth or the token service's Basic login.
    Basic {
        /// Not secret; shown in no output all the same.
        username: String,
        /// Secret.
        password: AccessToken,
    },
    /// An OAuth2 refresh token, exchanged at the registry's token service for a bearer.
    IdentityToken(AccessToken),
    /// A bearer token sent as is.
    RegistryToken(AccessToken),
}

/// Where a credential came from, for messages (never its value).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// An `auths` entry.
    File {
        /// The file.
        path: PathBuf,
        /// The key that matched.
        key: String,
    },
    /// A credential helper named by a file (`credHelpers` or `credsStore`).
    Helper {
        /// `docker-credential-NAME`.
        program: String,
        /// The file that names it.
        path: PathBuf,
    },
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::File { path, key } => write!(f, "`auths` entry {key} of {}", path.display()),
            Source::Helper { program, path } => {
                write!(
                    f,
                    "credential helper {program} (named in {})",
                    path.display()
                )
            }
        }
    }
}

/// A credential found, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    /// The credential.
    pub credential: Credential,
    /// Where it came from.
    pub source: Source,
}

impl Credentials {
    /// The search of the container tools: `explicit` (`--registry-auth-file`, whose variable is
    /// BINAUTHZ_REGISTRY_AUTH_FILE), else `REGISTRY_AUTH_FILE`, as the only file; otherwise the
    /// default locations (module docs), read from `env` and the home directory.
    pub fn from_env(explicit: Option<PathBuf>, env: impl Fn(&str) -> Option<String>) -> Self {
        let var = |name: &str| env(name).filter(|v| !v.is_empty());
        let named = |path: PathBuf, named_by| Credentials {
            files: vec![AuthFile {
                path,
                legacy: false,
                named_by,
            }],
            explicit: true,
        };
        if let Some(path) = explicit {
            return named(path, "--registry-auth-file");
        }
        if let Some(path) = var("REGISTRY_AUTH_FILE") {
            return named(PathBuf::from(path), "REGISTRY_AUTH_FILE");
        }
        let home = var("HOME").map(PathBuf::from);
        let mut files = Vec::new();
        let mut add = |path: PathBuf, legacy| {
            files.push(AuthFile {
                path,
                legacy,
                named_by: "",
            })
        };
        match var("XDG_RUNTIME_DIR") {
            Some(dir) => add(Path::new(&dir).join("containers/auth.json"), false),
            None => {
                if let Some(uid) = process_uid() {
                    add(format!("/run/containers/{uid}/auth.json").into(), false)
                }
            }
        }
        match (var("XDG_CONFIG_HOME"), &home) {
            (Some(dir), _) => add(Path::new(&dir).join("containers/auth.json"), false),
            (None, Some(home)) => add(home.join(".config/containers/auth.json"), false),
            (None, None) => {}
        }
        match (var("DOCKER_CONFIG"), &home) {
            (Some(dir), _) => add(Path::new(&dir).join("config.json"), false),
            (None, Some(home)) => add(home.join(".docker/config.json"), false),
            (None, None) => {}
        }
        if let Some(home) = &home {
            add(home.join(".dockercfg"), true);
        }
        Credentials {
            files,
            explicit: false,
        }
    }

    /// The files searched, in order.
    pub fn files(&self) -> &[AuthFile] {
        &self.files
    }

    /// Where a user should put credentials for `registry`, for the error that says none were
    /// found: the file they named, or the tools' defaults.
    pub fn where_to_put(&self, registry: &str) -> String {
        match (self.explicit, self.files.first()) {
            (true, Some(file)) => format!(
                "add an `auths` entry for {registry} to {} ({}), e.g. with `skopeo login \
                 --authfile {} {registry}`",
                file.path.display(),
                file.named_by,
                file.path.display()
            ),
            _ => format!(
                "log in with `skopeo login {registry}` or `docker login {registry}` (they write \
                 $XDG_RUNTIME_DIR/containers/auth.json and ~/.docker/config.json, which are read \
                 here), or pass --registry-auth-file FILE (REGISTRY_AUTH_FILE) naming an auth.json, \
                 a config.json or a mounted .dockerconfigjson Secret"
            ),
        }
    }

    /// The credential for `repository` (its API name, e.g. `library/nginx`) on `registry`
    /// (`HOST[:PORT]`), or `None`. `google`: the registry takes the Google token, so only a
    /// credential configured for it counts, not the default `credsStore`.
    pub async fn lookup(
        &self,
        registry: &str,
        repository: &str,
        google: bool,
    ) -> Result<Option<Found>> {
        for file in &self.files {
            let Some(config) = read_file(file, self.explicit, registry).await? else {
                continue;
            };
            let ask = |program: String| async move {
                let server = helper_server_url(registry);
                let answer = run_helper(&program, &server, registry, &file.path).await?;
                Ok::<_, Error>(answer.map(|credential| Found {
                    credential,
                    source: Source::Helper {
                        program,
                        path: file.path.clone(),
                    },
                }))
            };
            if let Some(program) = cred_helper(&config, file, registry)? {
                match ask(program).await? {
                    Some(found) => return Ok(Some(found)),
                    // A helper that holds nothing: the next file may (containers/image).
                    None => continue,
                }
            }
            if let Some(program) = creds_store(&config, file, registry, google)? {
                // Docker asks only the store; an `auths` entry is then a marker, but a written
                // one still counts when the store holds nothing.
                if let Some(found) = ask(program).await? {
                    return Ok(Some(found));
                }
            }
            if let Some(found) = entry_match(&config, file, registry, repository)? {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }
}

/// The parts of `auth.json` / `config.json` read here; other fields are ignored, as the tools do.
#[derive(Debug, Default, Deserialize)]
struct ConfigFile {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: BTreeMap<String, String>,
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
}

/// One `auths` entry (docker's `types.AuthConfig` fields that carry a credential).
#[derive(Debug, Default, Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
    #[serde(default)]
    registrytoken: Option<String>,
}

/// Reads and parses `file`; `None` when it does not exist (an error when the user named it).
async fn read_file(file: &AuthFile, explicit: bool, registry: &str) -> Result<Option<ConfigFile>> {
    let bad = |reason: String| Error::RegistryAuthFile {
        file: describe(file),
        registry: registry.to_string(),
        reason,
    };
    let bytes = match crate::bounded::read_async(&file.path, FILE_LIMIT).await {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => return Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
            return Err(bad(format!("is larger than {} KiB", FILE_LIMIT >> 10)))
        }
        Err(e) => return Err(bad(format!("cannot be read ({e})"))),
    };
    parse(&bytes, file.legacy).map(Some).map_err(bad)
}

/// The file named for errors: the path, and the flag or variable that named it.
fn describe(file: &AuthFile) -> String {
    match file.named_by {
        "" => file.path.display().to_string(),
        by => format!("{} ({by})", file.path.display()),
    }
}

/// Parses a file's bytes; the error says where, never what (the text around is a secret).
fn parse(bytes: &[u8], legacy: bool) -> std::result::Result<ConfigFile, String> {
    let position = |e: serde_json::Error| {
        let what = match e.classify() {
            serde_json::error::Category::Data => "is not in the auth file format",
            _ => "is not valid JSON",
        };
        format!("{what} (line {}, column {})", e.line(), e.column())
    };
    if legacy {
        let auths = serde_json::from_slice(bytes).map_err(position)?;
        return Ok(ConfigFile {
            auths,
            ..ConfigFile::default()
        });
    }
    serde_json::from_slice(bytes).map_err(position)
}

/// The registries docker and containers/image treat as Docker Hub.
fn is_docker_hub(host: &str) -> bool {
    matches!(
        host,
        "docker.io" | "index.docker.io" | "registry-1.docker.io"
    )
}

/// The host a key names, compared case-sensitively as the tools do, Docker Hub's names folded
/// (containers/image `normalizeAuthFileKey`, `normalizeRegistry`).
fn normalized_key_host(key: &str, legacy: bool) -> String {
    let stripped = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"));
    let host = match (stripped, legacy) {
        (Some(rest), _) => rest.split('/').next().unwrap_or(rest),
        (None, true) => key.split('/').next().unwrap_or(key),
        (None, false) => key,
    };
    normalized_host(host)
}

fn normalized_host(host: &str) -> String {
    match is_docker_hub(host) {
        true => "index.docker.io".to_string(),
        false => host.to_string(),
    }
}

/// The server URL a helper is asked for: docker's key for Docker Hub, the host elsewhere.
fn helper_server_url(registry: &str) -> String {
    match is_docker_hub(registry) {
        true => DOCKER_HUB_SERVER.to_string(),
        false => registry.to_string(),
    }
}

/// `credHelpers` keys that name `registry`: the host, and for Docker Hub docker's key too.
fn helper_keys(registry: &str) -> Vec<&str> {
    match is_docker_hub(registry) {
        true => vec![
            registry,
            "docker.io",
            "index.docker.io",
            "registry-1.docker.io",
            DOCKER_HUB_SERVER,
        ],
        false => vec![registry],
    }
}

/// `auths` keys for `registry/repository`, most specific first (containers/image
/// `authKeyLookupOrder`); the legacy file knows hosts only.
fn lookup_order(registry: &str, repository: &str, legacy: bool) -> Vec<String> {
    if legacy {
        return vec![registry.to_string()];
    }
    let mut key = format!("{registry}/{repository}");
    let mut keys = vec![key.clone()];
    while let Some(slash) = key.rfind('/') {
        key.truncate(slash);
        keys.push(key.clone());
    }
    keys
}

/// The helper `credHelpers` names for `registry` (step 1 of the module docs).
fn cred_helper(config: &ConfigFile, file: &AuthFile, registry: &str) -> Result<Option<String>> {
    helper_keys(registry)
        .iter()
        .find_map(|key| config.cred_helpers.get(*key))
        .map(|name| helper_program(name, file, registry))
        .transpose()
}

/// The default helper, `credsStore`, unless the registry takes the Google token (step 2).
fn creds_store(
    config: &ConfigFile,
    file: &AuthFile,
    registry: &str,
    google: bool,
) -> Result<Option<String>> {
    match config.creds_store.as_deref() {
        Some(store) if !google && !store.is_empty() => {
            helper_program(store, file, registry).map(Some)
        }
        _ => Ok(None),
    }
}

/// The `auths` entry for `registry/repository`, if any (steps 3 and 4 of the module docs).
fn entry_match(
    config: &ConfigFile,
    file: &AuthFile,
    registry: &str,
    repository: &str,
) -> Result<Option<Found>> {
    let exact = lookup_order(registry, repository, file.legacy)
        .into_iter()
        .find_map(|key| config.auths.get(&key).map(|entry| (key, entry)));
    let wanted = normalized_host(registry);
    let by_host = || {
        config
            .auths
            .iter()
            .find(|(key, _)| normalized_key_host(key, file.legacy) == wanted)
            .map(|(key, entry)| (key.clone(), entry))
    };
    let Some((key, entry)) = exact.or_else(by_host) else {
        return Ok(None);
    };
    let credential = decode(entry).map_err(|reason| Error::RegistryAuthFile {
        file: describe(file),
        registry: registry.to_string(),
        reason: format!("its `auths` entry {key} {reason}"),
    })?;
    Ok(credential.map(|credential| Found {
        credential,
        source: Source::File {
            path: file.path.clone(),
            key,
        },
    }))
}

/// The credential an entry holds (`None` for an empty marker entry).
fn decode(entry: &AuthEntry) -> std::result::Result<Option<Credential>, String> {
    let some = |v: &Option<String>| v.clone().filter(|v| !v.is_empty());
    if let Some(token) = some(&entry.identitytoken) {
        return Ok(Some(Credential::IdentityToken(AccessToken::new(token))));
    }
    if let Some(token) = some(&entry.registrytoken) {
        return Ok(Some(Credential::RegistryToken(AccessToken::new(token))));
    }
    if let Some(auth) = some(&entry.auth) {
        use base64::Engine as _;
        let engine = base64::engine::general_purpose::GeneralPurpose::new(
            &base64::alphabet::STANDARD,
            base64::engine::GeneralPurposeConfig::new()
                .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
        );
        let decoded = engine
            .decode(auth.trim())
            .map_err(|_| "has an `auth` value that is not base64".to_string())?;
        let text = String::from_utf8(decoded)
            .map_err(|_| "has an `auth` value that is not UTF-8 text".to_string())?;
        let (username, password) = text
            .split_once(':')
            .ok_or_else(|| "has an `auth` value that is not base64 of USER:PASSWORD".to_string())?;
        // containers/image trims NULs some writers leave after the password.
        let password = password.trim_matches('\0');
        return Ok(Some(Credential::Basic {
            username: username.to_string(),
            password: AccessToken::new(password),
        }));
    }
    match (some(&entry.username), entry.password.clone()) {
        (Some(username), Some(password)) => Ok(Some(Credential::Basic {
            username,
            password: AccessToken::new(password),
        })),
        (None, None) => Ok(None),
        _ => Err("has a `username` without a `password` or the reverse".to_string()),
    }
}

/// `docker-credential-NAME`, for a helper name from `file`.
fn helper_program(name: &str, file: &AuthFile, registry: &str) -> Result<String> {
    // A name is a suffix (docker `credentials.NewNativeStore`); a path would run anything.
    if name.is_empty() || name.contains('/') {
        return Err(Error::RegistryAuthFile {
            file: describe(file),
            registry: registry.to_string(),
            reason: format!(
                "names the credential helper `{name}`, which is not a helper name (the part \
                 after docker-credential-)"
            ),
        });
    }
    Ok(format!("docker-credential-{name}"))
}

/// A helper's answer to `get` (docker-credential-helpers `credentials.Credentials`).
#[derive(Deserialize)]
struct HelperAnswer {
    #[serde(rename = "Username", default)]
    username: String,
    #[serde(rename = "Secret", default)]
    secret: String,
}

/// Runs `program get` for `server`; `None` when the helper holds nothing for it.
async fn run_helper(
    program: &str,
    server: &str,
    registry: &str,
    file: &Path,
) -> Result<Option<Credential>> {
    let failed = |code: i32, reason: String| Error::CredentialHelper {
        program: program.to_string(),
        registry: registry.to_string(),
        file: file.display().to_string(),
        reason,
        exit_code: code,
    };
    let what = format!("credential helper {program} for {registry}");
    let classify = |_: &Error| Failure::Permanent;
    let answer = retry::run(&what, false, classify, || {
        helper_get(program, server, &failed)
    })
    .await
    .map_err(|stopped| match stopped {
        Stopped::Failed(e) | Stopped::RetryAfterTooLong { error: e, .. } => e,
        Stopped::TimedOut(limit) => failed(
            exit::REMOTE,
            format!("it did not answer within {} s", limit.as_secs()),
        ),
    })?;
    let Some(answer) = answer else {
        return Ok(None);
    };
    let secret = AccessToken::new(answer.secret);
    Ok(Some(match answer.username.as_str() {
        "<token>" => Credential::IdentityToken(secret),
        _ => Credential::Basic {
            username: answer.username,
            password: secret,
        },
    }))
}

/// One `get`: spawn, write the server URL, read both streams bounded, wait. The child is killed
/// if this future is dropped (the run's `--timeout`).
async fn helper_get(
    program: &str,
    server: &str,
    failed: &impl Fn(i32, String) -> Error,
) -> Result<Option<HelperAnswer>> {
    let mut child = tokio::process::Command::new(program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => failed(
                exit::USAGE,
                "it is not installed (no such program on PATH): install it, or remove the \
                 entry that names it"
                    .to_string(),
            ),
            _ => failed(exit::OTHER, format!("it cannot be started ({e})")),
        })?;
    let io_failed = |e: std::io::Error| failed(exit::OTHER, format!("talking to it failed ({e})"));
    if let Some(mut stdin) = child.stdin.take() {
        // A helper that exits without reading is judged by its exit status below.
        let _ = stdin.write_all(server.as_bytes()).await;
    }
    // stderr is drained beside (a helper may write much there before it answers) and read
    // only when the helper failed; stdout is the answer, read up to the limit.
    let stderr = child.stderr.take().map(|s| {
        tokio::spawn(async move {
            let mut err = Vec::new();
            let _ = s.take(HELPER_ANSWER_LIMIT).read_to_end(&mut err).await;
            err
        })
    });
    let mut out = Vec::new();
    if let Some(stdout) = child.stdout.take() {
        stdout
            .take(HELPER_ANSWER_LIMIT + 1)
            .read_to_end(&mut out)
            .await
            .map_err(io_failed)?;
    }
    if out.len() as u64 > HELPER_ANSWER_LIMIT {
        // Returning drops the child, which kills it.
        return Err(failed(
            exit::AUTH,
            format!(
                "its answer is longer than {} KiB",
                HELPER_ANSWER_LIMIT >> 10
            ),
        ));
    }
    let status = child.wait().await.map_err(io_failed)?;
    if !status.success() {
        let said = String::from_utf8_lossy(&out);
        if said.trim() == NOT_FOUND {
            return Ok(None);
        }
        let err = match stderr {
            Some(task) => tokio::time::timeout(std::time::Duration::from_secs(1), task)
                .await
                .ok()
                .and_then(|joined| joined.ok())
                .unwrap_or_default(),
            None => Vec::new(),
        };
        let message = first_line(&said).or_else(|| first_line(&String::from_utf8_lossy(&err)));
        return Err(failed(
            exit::AUTH,
            match message {
                Some(m) => format!("it failed ({status}): {m}"),
                None => format!("it failed ({status})"),
            },
        ));
    }
    serde_json::from_slice::<HelperAnswer>(&out)
        .map(Some)
        .map_err(|_| {
            failed(
                exit::AUTH,
                "its answer is not the protocol's JSON ({\"ServerURL\",\"Username\",\"Secret\"})"
                    .to_string(),
            )
        })
}

/// The first non-empty line of a helper's message, short and cleaned of held secrets.
fn first_line(text: &str) -> Option<String> {
    let line = text.lines().map(str::trim).find(|l| !l.is_empty())?;
    let line: String = line.chars().take(200).collect();
    Some(redact(&line))
}

/// The process's user id, as the owner of `/proc/self` (containers/image uses the uid for the
/// `/run/containers/UID` default).
fn process_uid() -> Option<u32> {
    use std::os::unix::fs::MetadataExt as _;
    std::fs::metadata("/proc/self").ok().map(|m| m.uid())
}

#[cfg(test)]
mod tests;
