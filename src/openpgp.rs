//! OpenPGP attestations: Binary Authorization's PGP attestor keys (`asciiArmoredPgpPublicKey`,
//! id = the V4 fingerprint) check an attached signature (`gpg --sign`, armored or binary) that
//! carries the payload. Written on `pgp` (rpgp), a pure-Rust OpenPGP implementation.

use std::io::Cursor;

use pgp::composed::{Deserializable, Message, SignedPublicKey};
use pgp::types::KeyDetails;

/// An armored OpenPGP public key, parsed.
pub struct PgpKey(SignedPublicKey);

impl PgpKey {
    /// Parses an ASCII-armored public key block.
    pub fn parse(armored: &str) -> Result<PgpKey, String> {
        SignedPublicKey::from_string(armored)
            .map(|(key, _)| PgpKey(key))
            .map_err(|e| format!("not an OpenPGP public key ({e})"))
    }

    /// The V4 fingerprint in upper-case hex: the id Binary Authorization files the key under.
    pub fn fingerprint(&self) -> String {
        format!("{:X}", self.0.fingerprint())
    }

    /// The content of `signed` (an attached signature, armored or binary) when its signature
    /// verifies under the primary key or one of the subkeys.
    pub fn verified_content(&self, signed: &[u8]) -> Result<Vec<u8>, String> {
        let armored = signed.starts_with(b"-----BEGIN PGP");
        let parsed = if armored {
            Message::from_armor(Cursor::new(signed)).map(|(m, _)| m)
        } else {
            Message::from_bytes(Cursor::new(signed))
        };
        let mut message =
            parsed.map_err(|e| format!("the signature is not an OpenPGP message ({e})"))?;
        // gpg compresses what it signs by default: the signed message is inside.
        while message.is_compressed() {
            message = message
                .decompress()
                .map_err(|e| format!("the OpenPGP message cannot be decompressed ({e})"))?;
        }
        let content = message
            .as_data_vec()
            .map_err(|e| format!("the OpenPGP message cannot be read ({e})"))?;
        let by_primary = message.verify(&self.0.primary_key).is_ok();
        let by_subkey = || {
            self.0
                .public_subkeys
                .iter()
                .any(|sub| message.verify(&sub.key).is_ok())
        };
        if by_primary || by_subkey() {
            Ok(content)
        } else {
            Err("the OpenPGP signature does not verify".into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Made with GnuPG: tests/vectors/pgp/README.md has the commands.
    const KEY: &str = include_str!("../tests/vectors/pgp/key.asc");
    const SIGNED: &[u8] = include_bytes!("../tests/vectors/pgp/payload.json.asc");
    const PAYLOAD: &[u8] = include_bytes!("../tests/vectors/pgp/payload.json");
    const FINGERPRINT: &str = "DF9C5389F10EE2F534196BCA0A6B9FBED2853DDB";

    #[test]
    fn the_fingerprint_is_gpgs() {
        assert_eq!(PgpKey::parse(KEY).unwrap().fingerprint(), FINGERPRINT);
    }

    #[test]
    fn an_attached_signature_verifies_and_yields_the_payload() {
        let key = PgpKey::parse(KEY).unwrap();
        assert_eq!(key.verified_content(SIGNED).unwrap(), PAYLOAD);
    }

    #[test]
    fn a_tampered_message_or_garbage_is_refused() {
        let key = PgpKey::parse(KEY).unwrap();
        // Dearmor by hand, check the binary form verifies, then flip one byte of it.
        let text = String::from_utf8(SIGNED.to_vec()).unwrap();
        let body: String = text
            .lines()
            .skip_while(|l| !l.is_empty())
            .skip(1)
            .take_while(|l| !l.starts_with('=') && !l.starts_with("-----"))
            .collect();
        use base64::Engine;
        let mut binary = base64::engine::general_purpose::STANDARD
            .decode(body)
            .unwrap();
        assert!(
            key.verified_content(&binary).is_ok(),
            "the binary form verifies too"
        );
        // gpg compressed the content; a flipped byte anywhere breaks the message or its
        // signature, and either is refused.
        let at = binary.len() / 2;
        binary[at] ^= 0x01;
        assert!(key.verified_content(&binary).is_err());
        assert!(key.verified_content(b"not a message").is_err());
        assert!(PgpKey::parse("-----BEGIN PGP PUBLIC KEY BLOCK-----\nnope\n").is_err());
    }
}
