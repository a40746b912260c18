//! Local key files: the OpenPGP passphrase (file or variable) and the warning for a private key
//! file others can read. Shared by `sign`, `rotate --reattest` and the signers they load.

use crate::error::{Error, Result};
use crate::signer::pgp::PASSPHRASE_ENV;

/// The OpenPGP key's passphrase: the first line of `--pgp-passphrase-file` (as gpg's
/// `--passphrase-file` reads it), else `BINAUTHZ_PGP_PASSPHRASE`, else none. Never printed.
pub fn pgp_passphrase(file: Option<&std::path::Path>) -> Result<Option<String>> {
    if let Some(path) = file {
        warn_if_readable_by_others(path);
        let text = crate::bounded::read_to_string(path, crate::bounded::KEY_FILE).map_err(|e| {
            Error::Usage(format!(
                "--pgp-passphrase-file {}: cannot be read ({}); give a file whose first line is the passphrase",
                path.display(),
                e.kind()
            ))
        })?;
        let passphrase = text.lines().next().unwrap_or_default().to_string();
        crate::token::hold_secret(&passphrase);
        return Ok(Some(passphrase));
    }
    let passphrase = std::env::var(PASSPHRASE_ENV).ok().filter(|p| !p.is_empty());
    // In the redaction set, so no server's or library's text can carry it to a log.
    if let Some(p) = &passphrase {
        crate::token::hold_secret(p);
    }
    Ok(passphrase)
}

/// A private key file that group or others may read is worth a warning, not a refusal: CI
/// secret files often are.
pub fn warn_if_readable_by_others(path: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path) {
        if meta.permissions().mode() & 0o077 != 0 {
            let warning = format!(
                "the private key file {} can be read by group or others; chmod 600 it",
                path.display()
            );
            KEY_FILE_WARNINGS
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(warning);
        }
    }
}

/// Key-file warnings met while a signer was built (deep in the sign services, which `rotate`
/// shares), kept for the command's report: the CI layer prints or annotates them.
static KEY_FILE_WARNINGS: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// The key-file warnings so far, once.
pub fn take_key_file_warnings() -> Vec<String> {
    std::mem::take(&mut *KEY_FILE_WARNINGS.lock().unwrap_or_else(|e| e.into_inner()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_passphrase_read_is_redacted_from_text() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("passphrase");
        std::fs::write(&file, "correct-horse-battery\nsecond line\n").unwrap();
        let read = pgp_passphrase(Some(&file)).unwrap();
        assert_eq!(read.as_deref(), Some("correct-horse-battery"));
        assert_eq!(
            crate::token::redact("unlock failed for correct-horse-battery"),
            format!("unlock failed for {}", crate::token::REDACTED)
        );
    }
}
