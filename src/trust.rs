//! The system trust roots, read from one file instead of a directory walk.
//!
//! Every HTTP client in the process (one per Google API in the SDK, the registry's, the token
//! source's) loads the system roots itself, through `rustls-native-certs`. Unless told
//! otherwise, that reads the CA bundle *and* every file of the certificate directory
//! (`/etc/ssl/certs`: 300 files on Debian), per client: measured at about 17 ms of wall and
//! 20 ms of CPU per run, most of a one-image `sign`'s local time (bench/RESULTS.md). The SDK
//! builds its own clients, so the roots cannot be loaded once and shared; instead the process
//! points `SSL_CERT_FILE` at the bundle, which `rustls-native-certs` then reads alone
//! (<https://docs.rs/rustls-native-certs/0.8/rustls_native_certs/fn.load_native_certs.html>).
//!
//! The bundle is the whole store wherever the distribution maintains it (Debian's and Alpine's
//! `update-ca-certificates`, Red Hat's `update-ca-trust` write every trusted CA into it). A
//! user who sets `SSL_CERT_FILE` or `SSL_CERT_DIR` is left alone: setting `SSL_CERT_DIR` is
//! also the way back to the directory walk, for a CA dropped into the directory by hand.

use std::path::PathBuf;

/// The `SSL_CERT_FILE` to set for this process: the system's CA bundle, when neither
/// `SSL_CERT_FILE` nor `SSL_CERT_DIR` is set and a bundle exists.
pub fn bundle_file() -> Option<PathBuf> {
    if openssl_probe::has_ssl_cert_env_vars() {
        return None;
    }
    openssl_probe::probe().cert_file
}

/// The system trust roots in DER, read and decoded once per process, for the HTTP clients built
/// here (the registry's): each `reqwest` client left to itself decodes the whole bundle again
/// (about 9 M instructions each, bench/RESULTS.md). Honours `SSL_CERT_FILE` and `SSL_CERT_DIR`
/// as `rustls-native-certs` does; empty when nothing could be read, and the client then falls
/// back to its own lookup, which reports the failure on the first TLS handshake.
pub fn system_roots() -> &'static [Vec<u8>] {
    static ROOTS: std::sync::OnceLock<Vec<Vec<u8>>> = std::sync::OnceLock::new();
    ROOTS.get_or_init(|| {
        rustls_native_certs::load_native_certs()
            .certs
            .into_iter()
            .map(|der| der.as_ref().to_vec())
            .collect()
    })
}
