//! PEM text (RFC 7468) through the `pem` crate (already in the tree under rcgen), so every
//! reader here agrees: blocks are told apart by their labels, text around them is ignored, and
//! one block's bytes are never merged with another's.

/// The blocks of `text`, in order: `(label, decoded bytes)`.
pub fn blocks(text: &str) -> Result<Vec<(String, Vec<u8>)>, String> {
    let parsed = ::pem::parse_many(text).map_err(|e| format!("its PEM is malformed ({e})"))?;
    Ok(parsed
        .into_iter()
        .map(|p| (p.tag().to_string(), p.into_contents()))
        .collect())
}

/// The first block whose label is one of `labels`; else the first block of any label (so the
/// caller can name what it found instead); `None` when `text` holds no PEM block at all.
pub fn preferred_block(text: &str, labels: &[&str]) -> Result<Option<(String, Vec<u8>)>, String> {
    let mut all = blocks(text)?;
    match all
        .iter()
        .position(|(label, _)| labels.contains(&label.as_str()))
    {
        Some(i) => Ok(Some(all.swap_remove(i))),
        None => Ok(all.into_iter().next()),
    }
}

/// The DER of the first `PUBLIC KEY` (SubjectPublicKeyInfo) block of `text`.
pub fn public_key_der(text: &str) -> Option<Vec<u8>> {
    blocks(text)
        .ok()?
        .into_iter()
        .find(|(label, _)| label == "PUBLIC KEY")
        .map(|(_, der)| der)
}

/// `der` as a PEM block labelled `label`: LF line ends, 64 columns, a final newline (what
/// openssl writes and Google's APIs return).
pub fn encode(label: &str, der: &[u8]) -> String {
    let config = ::pem::EncodeConfig::new().set_line_ending(::pem::LineEnding::LF);
    ::pem::encode_config(&::pem::Pem::new(label, der), config)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPKI: &str = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEEXk2pwIOoK55wFChpb1COU6uD9vX\nAPkO4cCn/MiyXHt1o15xRH2xrO5wK7xcN3axN/zOLUoenOJEZv51OlEECQ==\n-----END PUBLIC KEY-----\n";

    #[test]
    fn a_public_key_is_found_among_other_blocks_and_text_and_never_merged_with_them() {
        let der = public_key_der(SPKI).unwrap();
        let mixed = format!(
            "issued by the platform team\n-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n{SPKI}"
        );
        assert_eq!(public_key_der(&mixed).unwrap(), der);
        let cert_only = SPKI.replace("PUBLIC KEY", "CERTIFICATE");
        assert_eq!(public_key_der(&cert_only), None);
    }

    #[test]
    fn the_wanted_label_wins_and_otherwise_the_first_block_is_named() {
        let text = "-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n";
        let (label, _) = preferred_block(text, &["EC PRIVATE KEY"]).unwrap().unwrap();
        assert_eq!(label, "EC PRIVATE KEY");
        let (label, _) = preferred_block(text, &["PRIVATE KEY"]).unwrap().unwrap();
        assert_eq!(label, "EC PARAMETERS");
        assert_eq!(preferred_block("no pem here", &[]).unwrap(), None);
    }

    #[test]
    fn encoding_is_what_openssl_writes() {
        let der = public_key_der(SPKI).unwrap();
        assert_eq!(encode("PUBLIC KEY", &der), SPKI);
    }
}
