//! cosign's own key files, as `cosign generate-key-pair` writes them (`cosign.key`), so a team
//! that signs with cosign adopts this tool without re-keying.
//!
//! The format (cosign `pkg/cosign/keys.go`, `LoadPrivateKey` and `marshalKeyPair`): one PEM block
//! labelled `ENCRYPTED SIGSTORE PRIVATE KEY` (cosign 2 and later) or `ENCRYPTED COSIGN PRIVATE
//! KEY` (older cosign), whose bytes are the JSON of go-securesystemslib's `encrypted` package
//! (`encrypted/encrypted.go`): `kdf` (scrypt: `params` N, r, p and a `salt`), `cipher`
//! (`nacl/secretbox` and its 24-byte `nonce`) and the `ciphertext`, each byte string in standard
//! base64. The plaintext is the PKCS#8 private key. Only the three scrypt parameter sets that
//! package writes are accepted (its `CheckParams`: a file cannot make us spend minutes).
//!
//! The password is `COSIGN_PASSWORD` exactly as cosign reads it (`readPasswordFn` in
//! `cmd/cosign/cli/generate/generate_key_pair.go`: set, even to the empty string, it is the
//! password), or the content of `--cosign-password-file`. scrypt is slow by design, so the key
//! is opened once per run, on a blocking thread; then it signs as a PKIX key does.

use std::path::{Path, PathBuf};

use base64::Engine;
use crypto_secretbox::aead::{Aead, KeyInit};
use crypto_secretbox::XSalsa20Poly1305;
use serde::Deserialize;
use zeroize::Zeroizing;

use super::pkix::PkixSigner;
use super::{BoxFuture, Signer, SignerKey};
use crate::algorithm::SigningAlgorithm;
use crate::error::{Error, Result};
use crate::model::{Attestor, TrustedKey};

/// The variable cosign reads the key's password from.
pub const PASSWORD_ENV: &str = "COSIGN_PASSWORD";
/// The PEM label cosign 2 and later write.
pub const SIGSTORE_LABEL: &str = "ENCRYPTED SIGSTORE PRIVATE KEY";
/// The PEM label older cosign wrote, still read by cosign.
pub const COSIGN_LABEL: &str = "ENCRYPTED COSIGN PRIVATE KEY";

/// A key file is a few hundred bytes; anything past this is not one.
const MAX_KEY_FILE: u64 = 64 * 1024;
/// go-securesystemslib's scrypt parameter sets (legacy, standard, OWASP): (N, r, p).
const SCRYPT_PARAMS: [(u64, u32, u32); 3] = [(1 << 15, 8, 1), (1 << 16, 8, 1), (1 << 17, 8, 1)];

/// The key's password and where it came from (for messages). Its `Debug` never shows it, and
/// it is wiped when dropped.
pub struct Password {
    bytes: Zeroizing<Vec<u8>>,
    /// `COSIGN_PASSWORD` or `--cosign-password-file FILE`.
    pub from: String,
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Password(<redacted>, from {})", self.from)
    }
}

impl Password {
    /// `--cosign-password-file` when given (its content; see [`CosignKey::open`] for a trailing
    /// newline), else `COSIGN_PASSWORD` when set (an empty value is the empty password, as in
    /// cosign). The password joins the redaction set.
    pub fn read(file: Option<&Path>) -> Result<Password> {
        let password = match file {
            Some(path) => {
                let bytes = read_bounded(path).map_err(|reason| {
                    Error::Usage(format!(
                        "--cosign-password-file {}: {reason}; give a file holding the cosign key's password",
                        path.display()
                    ))
                })?;
                Password {
                    bytes: Zeroizing::new(bytes),
                    from: format!("--cosign-password-file {}", path.display()),
                }
            }
            None => {
                use std::os::unix::ffi::OsStringExt;
                let value = std::env::var_os(PASSWORD_ENV).ok_or_else(|| {
                    Error::Usage(format!(
                        "--cosign-private-key needs the key's password: set {PASSWORD_ENV} (an empty value is the empty password) or pass --cosign-password-file"
                    ))
                })?;
                Password {
                    bytes: Zeroizing::new(value.into_vec()),
                    from: PASSWORD_ENV.to_string(),
                }
            }
        };
        if let Ok(text) = std::str::from_utf8(&password.bytes) {
            crate::token::hold_secret(text.trim_end_matches(['\n', '\r']));
        }
        Ok(password)
    }

    /// Wraps known bytes (tests, callers that hold the password already).
    pub fn from_bytes(bytes: Vec<u8>, from: &str) -> Password {
        Password {
            bytes: Zeroizing::new(bytes),
            from: from.to_string(),
        }
    }
}

/// The JSON inside the PEM block (go-securesystemslib `encrypted.data`).
#[derive(Deserialize)]
struct Sealed {
    kdf: Kdf,
    cipher: Cipher,
    ciphertext: String,
}

#[derive(Deserialize)]
struct Kdf {
    name: String,
    params: KdfParams,
    salt: String,
}

#[derive(Deserialize)]
struct KdfParams {
    #[serde(rename = "N")]
    n: u64,
    r: u32,
    p: u32,
}

#[derive(Deserialize)]
struct Cipher {
    name: String,
    nonce: String,
}

/// A cosign key file, read and parsed but not yet opened.
pub struct CosignKey {
    /// The file, as messages name it.
    pub shown: String,
    sealed: Sealed,
}

impl CosignKey {
    /// Reads and parses `path` (bounded; nothing is decrypted yet).
    pub fn read(path: &Path) -> Result<CosignKey> {
        let shown = path.display().to_string();
        let bytes = read_bounded(path).map_err(|reason| bad(&shown, &reason))?;
        let text = String::from_utf8(bytes).map_err(|_| bad(&shown, "is not a PEM text file"))?;
        CosignKey::parse(&shown, &text)
    }

    /// Parses a key file's text; `shown` names it in errors (its content never appears).
    pub fn parse(shown: &str, text: &str) -> Result<CosignKey> {
        let (label, body) = crate::pem::preferred_block(text, &[SIGSTORE_LABEL, COSIGN_LABEL])
            .map_err(|e| bad(shown, &e))?
            .ok_or_else(|| bad(shown, "holds no PEM block"))?;
        if label != SIGSTORE_LABEL && label != COSIGN_LABEL {
            let hint = match label.as_str() {
                "PRIVATE KEY" | "EC PRIVATE KEY" | "RSA PRIVATE KEY" => {
                    "; an unencrypted key is read by --pkix-private-key"
                }
                _ => "",
            };
            return Err(bad(shown, &format!("holds a `{label}` block{hint}")));
        }
        let sealed: Sealed = serde_json::from_slice(&body)
            .map_err(|_| bad(shown, "is not cosign's encrypted key JSON"))?;
        if sealed.kdf.name != "scrypt" || sealed.cipher.name != "nacl/secretbox" {
            return Err(bad(
                shown,
                &format!(
                    "is sealed with {} and {}, not scrypt and nacl/secretbox",
                    sealed.kdf.name, sealed.cipher.name
                ),
            ));
        }
        let p = &sealed.kdf.params;
        if !SCRYPT_PARAMS.contains(&(p.n, p.r, p.p)) {
            return Err(bad(
                shown,
                &format!(
                    "has scrypt parameters N={} r={} p={}, not one of the sets cosign writes",
                    p.n, p.r, p.p
                ),
            ));
        }
        Ok(CosignKey {
            shown: shown.to_string(),
            sealed,
        })
    }

    /// The PKCS#8 private key, decrypted with `password`. Slow (scrypt): call it off the async
    /// runtime. A password file's one trailing newline (an editor's, or `echo`'s) is tried
    /// without it when the exact content does not open the key.
    pub fn open(&self, password: &Password) -> Result<Zeroizing<Vec<u8>>> {
        let b64 = |field: &str, v: &str| {
            base64::engine::general_purpose::STANDARD
                .decode(v)
                .map_err(|_| bad(&self.shown, &format!("has an invalid {field}")))
        };
        let salt = b64("salt", &self.sealed.kdf.salt)?;
        let nonce = b64("nonce", &self.sealed.cipher.nonce)?;
        let ciphertext = b64("ciphertext", &self.sealed.ciphertext)?;
        if nonce.len() != 24 {
            return Err(bad(&self.shown, "has a nonce that is not 24 bytes"));
        }
        let p = &self.sealed.kdf.params;
        // N is one of SCRYPT_PARAMS: a power of two, so its log is exact.
        let params = scrypt::Params::new(p.n.trailing_zeros() as u8, p.r, p.p, 32)
            .map_err(|_| bad(&self.shown, "has scrypt parameters scrypt refuses"))?;
        let attempt = |secret: &[u8]| -> Option<Zeroizing<Vec<u8>>> {
            let mut key = Zeroizing::new([0u8; 32]);
            scrypt::scrypt(secret, &salt, &params, key.as_mut()).ok()?;
            let cipher = XSalsa20Poly1305::new(key.as_ref().into());
            cipher
                .decrypt(nonce.as_slice().into(), ciphertext.as_slice())
                .ok()
                .map(Zeroizing::new)
        };
        let exact = password.bytes.as_slice();
        let trimmed = exact
            .strip_suffix(b"\r\n")
            .or_else(|| exact.strip_suffix(b"\n"))
            .filter(|_| password.from != PASSWORD_ENV);
        attempt(exact)
            .or_else(|| trimmed.and_then(attempt))
            .ok_or_else(|| Error::CosignKeyPassword {
                key: self.shown.clone(),
                from: password.from.clone(),
            })
    }
}

/// Signs with a cosign key file: opened once, then a PKIX key (ECDSA or RSA, the kinds cosign
/// and Binary Authorization share).
pub struct CosignKeySigner {
    inner: PkixSigner,
}

impl std::fmt::Debug for CosignKeySigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("CosignKeySigner")
            .field("key", &self.inner.key_name())
            .finish()
    }
}

impl CosignKeySigner {
    /// Reads `path`, reads the password (`--cosign-password-file` or `COSIGN_PASSWORD`) and
    /// opens the key on a blocking thread. `algorithm` is `--signature-algorithm`, when given.
    pub async fn load(
        path: PathBuf,
        password_file: Option<PathBuf>,
        algorithm: Option<SigningAlgorithm>,
    ) -> Result<CosignKeySigner> {
        let opened = tokio::task::spawn_blocking(move || {
            let key = CosignKey::read(&path)?;
            let password = Password::read(password_file.as_deref())?;
            let der = key.open(&password)?;
            PkixSigner::from_pkcs8(&key.shown, "--cosign-private-key", &der, algorithm)
        })
        .await
        .map_err(|e| Error::Setup(format!("opening the cosign key failed: {e}")))??;
        Ok(CosignKeySigner { inner: opened })
    }
}

impl Signer for CosignKeySigner {
    fn key_name(&self) -> String {
        self.inner.key_name()
    }

    fn public_key(&self) -> BoxFuture<'_, Result<SignerKey>> {
        self.inner.public_key()
    }

    fn entry_in<'a>(
        &self,
        attestor: &'a Attestor,
        key: &SignerKey,
    ) -> Result<(&'a TrustedKey, SignerKey)> {
        self.inner
            .entry_in(attestor, key)
            .map_err(|e| match e {
                // The public half is the `cosign.pub` beside the key, not something openssl can
                // derive from an encrypted file.
                Error::KeyNotTrustedByAttestor { attestor: a, key, .. } => {
                    Error::KeyNotTrustedByAttestor {
                        command: format!(
                            "gcloud container binauthz attestors public-keys add --attestor={} --attestor-project={} --pkix-public-key-file=cosign.pub --pkix-public-key-algorithm=ecdsa-p256-sha256 (cosign.pub: the public key `cosign generate-key-pair` wrote beside {key}, or `cosign public-key --key {key}`)",
                            attestor.name.id, attestor.name.project
                        ),
                        attestor: a,
                        key,
                    }
                }
                other => other,
            })
    }

    fn sign<'a>(&'a self, key: &'a SignerKey, payload: &'a [u8]) -> BoxFuture<'a, Result<Vec<u8>>> {
        self.inner.sign(key, payload)
    }
}

fn bad(shown: &str, reason: &str) -> Error {
    Error::Usage(format!(
        "--cosign-private-key {shown}: {reason}; give the cosign.key that `cosign generate-key-pair` wrote (PEM `{SIGSTORE_LABEL}` or `{COSIGN_LABEL}`)"
    ))
}

/// At most [`MAX_KEY_FILE`] bytes of `path`, or why not.
fn read_bounded(path: &Path) -> std::result::Result<Vec<u8>, String> {
    crate::bounded::read(path, MAX_KEY_FILE).map_err(|e| match e.kind() {
        std::io::ErrorKind::InvalidData => format!("is {e}"),
        kind => format!("cannot be read ({kind})"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Seals `plaintext` as go-securesystemslib does (standard parameters), for the tests: the
    /// reference vectors from cosign itself are in tests/cosign_keys.rs.
    fn seal(plaintext: &[u8], password: &[u8], label: &str) -> String {
        let (salt, nonce) = ([7u8; 32], [9u8; 24]);
        let params = scrypt::Params::new(15, 8, 1, 32).unwrap();
        let mut key = [0u8; 32];
        scrypt::scrypt(password, &salt, &params, &mut key).unwrap();
        let sealed = XSalsa20Poly1305::new((&key).into())
            .encrypt((&nonce).into(), plaintext)
            .unwrap();
        let b64 = |d: &[u8]| base64::engine::general_purpose::STANDARD.encode(d);
        let json = serde_json::json!({
            "kdf": {"name": "scrypt", "params": {"N": 32768, "r": 8, "p": 1}, "salt": b64(&salt)},
            "cipher": {"name": "nacl/secretbox", "nonce": b64(&nonce)},
            "ciphertext": b64(&sealed),
        });
        format!(
            "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
            b64(json.to_string().as_bytes())
        )
    }

    /// A key pair cosign 2.5 generated (tests/vectors/cosign/README.md says how).
    const VECTOR_KEY: &str = include_str!("../../tests/vectors/cosign/cosign.key");
    const VECTOR_PUB: &str = include_str!("../../tests/vectors/cosign/cosign.pub");

    #[tokio::test]
    async fn a_key_cosign_generated_opens_and_its_public_half_is_cosign_pub() {
        let key = CosignKey::parse("cosign.key", VECTOR_KEY).unwrap();
        let der = key
            .open(&Password::from_bytes(
                b"vector password".to_vec(),
                PASSWORD_ENV,
            ))
            .unwrap();
        let signer =
            PkixSigner::from_pkcs8("cosign.key", "--cosign-private-key", &der, None).unwrap();
        let SignerKey::Pkix(public) = signer.public_key().await.unwrap() else {
            panic!("a PKIX key")
        };
        assert!(crate::algorithm::same_public_key(&public.pem, VECTOR_PUB));
        assert_eq!(public.algorithm.binauthz_name, "ECDSA_P256_SHA256");
        let wrong = key.open(&Password::from_bytes(b"vector".to_vec(), PASSWORD_ENV));
        assert!(matches!(wrong, Err(Error::CosignKeyPassword { .. })));
    }

    #[test]
    fn both_labels_open_with_the_password_and_a_wrong_one_is_named() {
        for label in [SIGSTORE_LABEL, COSIGN_LABEL] {
            let key = CosignKey::parse("cosign.key", &seal(b"pkcs8", b"pw", label)).unwrap();
            let opened = key
                .open(&Password::from_bytes(b"pw".to_vec(), PASSWORD_ENV))
                .unwrap();
            assert_eq!(opened.as_slice(), b"pkcs8");
            let wrong = key
                .open(&Password::from_bytes(b"nope".to_vec(), PASSWORD_ENV))
                .unwrap_err();
            assert!(matches!(wrong, Error::CosignKeyPassword { .. }), "{wrong}");
            assert_eq!(wrong.exit_code(), 2);
        }
    }

    #[test]
    fn the_empty_password_is_a_password_and_a_files_newline_is_forgiven() {
        let key = CosignKey::parse("k", &seal(b"der", b"", SIGSTORE_LABEL)).unwrap();
        assert!(key
            .open(&Password::from_bytes(Vec::new(), PASSWORD_ENV))
            .is_ok());
        let key = CosignKey::parse("k", &seal(b"der", b"pw", SIGSTORE_LABEL)).unwrap();
        let file = Password::from_bytes(b"pw\n".to_vec(), "--cosign-password-file f");
        assert!(key.open(&file).is_ok());
        // The variable is taken exactly, as cosign takes it.
        let env = Password::from_bytes(b"pw\n".to_vec(), PASSWORD_ENV);
        assert!(key.open(&env).is_err());
    }

    #[test]
    fn other_files_and_costly_parameters_are_refused_before_any_work() {
        let plain = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
        let e = CosignKey::parse("k", plain).err().unwrap().to_string();
        assert!(e.contains("--pkix-private-key"), "{e}");
        let costly = seal(b"x", b"pw", SIGSTORE_LABEL);
        let (_, body) = crate::pem::preferred_block(&costly, &[]).unwrap().unwrap();
        let json = String::from_utf8(body)
            .unwrap()
            .replace("32768", "1073741824");
        let b64 = base64::engine::general_purpose::STANDARD.encode(json);
        let costly =
            format!("-----BEGIN {SIGSTORE_LABEL}-----\n{b64}\n-----END {SIGSTORE_LABEL}-----\n");
        let e = CosignKey::parse("k", &costly).err().unwrap().to_string();
        assert!(e.contains("N=1073741824"), "{e}");
        assert_eq!(
            format!(
                "{:?}",
                Password::from_bytes(b"s3cret".to_vec(), PASSWORD_ENV)
            ),
            "Password(<redacted>, from COSIGN_PASSWORD)"
        );
    }
}
