//! The serving certificate, reloaded when its files change: cert-manager (or a renewed
//! `admission certs`) replaces `tls.crt` and `tls.key` in place, and the next handshake uses the
//! new pair without a restart. A background task looks at both files' modification times every
//! [`POLL`]; a pair that does not load (one file written, the other not yet, or a key that does
//! not match) keeps the previous pair until a consistent one is there. Handshakes only read
//! the current pair, so no file is read on the connection path.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::error::{Error, Result};

/// How often the files are looked at.
pub const POLL: Duration = Duration::from_secs(1);
/// The largest certificate or key file read.
const FILE_MAX: u64 = 1 << 20;

/// The current certificate and key, and where they come from.
#[derive(Debug)]
pub struct Certs {
    cert_file: PathBuf,
    key_file: PathBuf,
    provider: Arc<CryptoProvider>,
    current: RwLock<Arc<CertifiedKey>>,
    stamps: RwLock<Stamps>,
}

type Stamps = (Option<SystemTime>, Option<SystemTime>);

impl ResolvesServerCert for Certs {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        )
    }
}

async fn read(path: &PathBuf, what: &str) -> Result<Vec<u8>> {
    crate::bounded::read_async(path, FILE_MAX)
        .await
        .map_err(|e| Error::Usage(format!("cannot read {what} {} ({e})", path.display())))
}

async fn stamps(cert: &PathBuf, key: &PathBuf) -> Stamps {
    let modified = |m: std::io::Result<std::fs::Metadata>| m.and_then(|m| m.modified()).ok();
    (
        modified(tokio::fs::metadata(cert).await),
        modified(tokio::fs::metadata(key).await),
    )
}

impl Certs {
    /// Loads the pair; an error names the file at fault and the fix.
    pub async fn load(cert_file: PathBuf, key_file: PathBuf) -> Result<Arc<Certs>> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let stamped = stamps(&cert_file, &key_file).await;
        let pair = pair(&provider, &cert_file, &key_file).await?;
        Ok(Arc::new(Certs {
            cert_file,
            key_file,
            provider,
            current: RwLock::new(Arc::new(pair)),
            stamps: RwLock::new(stamped),
        }))
    }

    /// The crypto provider the server config must use.
    pub fn provider(&self) -> Arc<CryptoProvider> {
        self.provider.clone()
    }

    /// Loads the pair again when either file changed. `Ok(true)` when a new pair is served.
    pub async fn refresh(&self) -> Result<bool> {
        let now = stamps(&self.cert_file, &self.key_file).await;
        if *self.stamps.read().unwrap_or_else(|e| e.into_inner()) == now {
            return Ok(false);
        }
        let pair = pair(&self.provider, &self.cert_file, &self.key_file).await?;
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(pair);
        *self.stamps.write().unwrap_or_else(|e| e.into_inner()) = now;
        Ok(true)
    }
}

async fn pair(
    provider: &CryptoProvider,
    cert_file: &PathBuf,
    key_file: &PathBuf,
) -> Result<CertifiedKey> {
    let cert_pem = read(cert_file, "--tls-cert-file").await?;
    let key_pem = read(key_file, "--tls-private-key-file").await?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| {
            Error::Usage(format!(
                "--tls-cert-file {} is not PEM certificates ({e})",
                cert_file.display()
            ))
        })?;
    if chain.is_empty() {
        return Err(Error::Usage(format!(
            "--tls-cert-file {} holds no CERTIFICATE block",
            cert_file.display()
        )));
    }
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
        Error::Usage(format!(
            "--tls-private-key-file {} holds no private key ({e})",
            key_file.display()
        ))
    })?;
    CertifiedKey::from_der(chain, key, provider).map_err(|e| {
        Error::Usage(format!(
            "--tls-cert-file {} and --tls-private-key-file {} are not a pair ({e}): give the key \
             the certificate was issued for",
            cert_file.display(),
            key_file.display()
        ))
    })
}
