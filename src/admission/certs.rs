//! `admission certs`: a CA and a serving certificate for the webhook's Service
//! (`SERVICE.NAMESPACE.svc`, the name the API server calls it by for a `clientConfig.service`),
//! for clusters without cert-manager, generated with rcgen. Written as `ca.crt`, `ca.key`,
//! `tls.crt`, `tls.key` (keys mode 0600), all or none; stdout gets the `caBundle` to paste into
//! the ValidatingWebhookConfiguration (base64 of `ca.crt`).

use std::path::{Path, PathBuf};

use base64::Engine;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};

use crate::error::{Error, Result};

/// What `admission certs` writes.
pub struct Generated {
    /// The CA certificate (PEM): the `caBundle`.
    pub ca_cert: String,
    /// The CA key (PEM), kept to issue the next serving certificate from the same CA.
    pub ca_key: String,
    /// The serving certificate (PEM).
    pub cert: String,
    /// Its key (PEM).
    pub key: String,
}

/// The names the serving certificate holds: the Service's DNS names, then `extra` (an IP
/// address or a host name each; e.g. `127.0.0.1` for a webhook registered by `url`).
pub fn names(service: &str, namespace: &str, extra: &[String]) -> Vec<String> {
    let mut names = vec![
        format!("{service}.{namespace}.svc"),
        format!("{service}.{namespace}.svc.cluster.local"),
        format!("{service}.{namespace}"),
        service.to_string(),
    ];
    names.extend(extra.iter().cloned());
    names
}

fn failed(e: rcgen::Error) -> Error {
    Error::Setup(format!("cannot generate the certificates: {e}"))
}

/// A new CA and a serving certificate it signed for `names`, valid for `days` days.
pub fn generate(names: &[String], days: u32) -> Result<Generated> {
    let now = time::OffsetDateTime::now_utc();
    // An hour back, for clocks a little behind ours.
    let not_before = now - time::Duration::hours(1);
    let not_after = now + time::Duration::days(i64::from(days));

    let ca_key = KeyPair::generate().map_err(failed)?;
    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(failed)?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "binauthz-attest admission CA");
    ca.distinguished_name = dn;
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca.not_before = not_before;
    ca.not_after = not_after;
    let ca_cert = ca.self_signed(&ca_key).map_err(failed)?;
    let issuer = Issuer::from_params(&ca, &ca_key);

    let key = KeyPair::generate().map_err(failed)?;
    // rcgen reads each name as an IP address when it is one, else as a DNS name.
    let mut leaf = CertificateParams::new(names.to_vec()).map_err(failed)?;
    let mut dn = DistinguishedName::new();
    dn.push(
        DnType::CommonName,
        names.first().cloned().unwrap_or_default(),
    );
    leaf.distinguished_name = dn;
    leaf.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf.use_authority_key_identifier_extension = true;
    leaf.not_before = not_before;
    leaf.not_after = not_after;
    let cert = leaf.signed_by(&key, &issuer).map_err(failed)?;
    Ok(Generated {
        ca_cert: ca_cert.pem(),
        ca_key: ca_key.serialize_pem(),
        cert: cert.pem(),
        key: key.serialize_pem(),
    })
}

impl Generated {
    /// The `caBundle` field's value: base64 of the CA certificate's PEM.
    pub fn ca_bundle(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(&self.ca_cert)
    }

    /// Writes the four files into `dir`, all or none; refuses to replace existing ones unless
    /// `force`.
    pub fn write(&self, dir: &Path, force: bool) -> Result<Vec<PathBuf>> {
        let files = [
            ("ca.crt", &self.ca_cert, false),
            ("ca.key", &self.ca_key, true),
            ("tls.crt", &self.cert, false),
            ("tls.key", &self.key, true),
        ];
        std::fs::create_dir_all(dir).map_err(|e| {
            Error::Usage(format!("cannot create --out-dir {} ({e})", dir.display()))
        })?;
        if !force {
            if let Some((name, _, _)) = files.iter().find(|(n, _, _)| dir.join(n).exists()) {
                return Err(Error::Usage(format!(
                    "{} exists: choose another --out-dir, or pass --force to replace the four files",
                    dir.join(name).display()
                )));
            }
        }
        // Each to a temporary name first, then renamed: a failure leaves no half set.
        let mut staged = Vec::new();
        for (name, text, secret) in files {
            let temp = dir.join(format!(".{name}.tmp"));
            let written = write_file(&temp, text, secret);
            if let Err(e) = written {
                for (t, _) in &staged {
                    let _ = std::fs::remove_file(t);
                }
                return Err(Error::Usage(format!(
                    "cannot write {} ({e})",
                    dir.join(name).display()
                )));
            }
            staged.push((temp, dir.join(name)));
        }
        let mut out = Vec::new();
        for (temp, path) in staged {
            std::fs::rename(&temp, &path)
                .map_err(|e| Error::Usage(format!("cannot write {} ({e})", path.display())))?;
            out.push(path);
        }
        Ok(out)
    }
}

fn write_file(path: &Path, text: &str, secret: bool) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(if secret { 0o600 } else { 0o644 });
    }
    let mut file = options.open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_serving_certificate_loads_with_its_key_and_names_the_service() {
        let n = names("binauthz-attest", "binauthz-attest", &["127.0.0.1".into()]);
        assert_eq!(n[0], "binauthz-attest.binauthz-attest.svc");
        let g = generate(&n, 30).unwrap();
        assert!(g.ca_cert.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(g.key.contains("PRIVATE KEY"));
        use rustls_pki_types::pem::PemObject;
        let chain: Vec<_> = rustls_pki_types::CertificateDer::pem_slice_iter(g.cert.as_bytes())
            .collect::<std::result::Result<_, _>>()
            .unwrap();
        let key = rustls_pki_types::PrivateKeyDer::from_pem_slice(g.key.as_bytes()).unwrap();
        let provider = rustls::crypto::aws_lc_rs::default_provider();
        rustls::sign::CertifiedKey::from_der(chain, key, &provider).unwrap();
        let bundle = base64::engine::general_purpose::STANDARD
            .decode(g.ca_bundle())
            .unwrap();
        assert_eq!(bundle, g.ca_cert.as_bytes());
    }
}
