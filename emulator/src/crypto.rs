//! Real keys and signatures for the KMS algorithms Binary Authorization accepts, and checking
//! attestation signatures against PKIX public keys.

use p256::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePublicKey, LineEnding};
use rand_core::OsRng;
use rsa::{Pkcs1v15Sign, Pss, RsaPrivateKey, RsaPublicKey};
use sha2::{Digest, Sha256, Sha384, Sha512};

/// The hash a signing algorithm uses; also the field name KMS expects in `digest`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hash {
    Sha256,
    Sha384,
    Sha512,
}

impl Hash {
    pub fn field(self) -> &'static str {
        match self {
            Hash::Sha256 => "sha256",
            Hash::Sha384 => "sha384",
            Hash::Sha512 => "sha512",
        }
    }
    pub fn len(self) -> usize {
        match self {
            Hash::Sha256 => 32,
            Hash::Sha384 => 48,
            Hash::Sha512 => 64,
        }
    }
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            Hash::Sha256 => Sha256::digest(data).to_vec(),
            Hash::Sha384 => Sha384::digest(data).to_vec(),
            Hash::Sha512 => Sha512::digest(data).to_vec(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Padding {
    Pkcs1,
    Pss,
}

/// A KMS asymmetric signing algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    EcP256,
    EcP384,
    Rsa {
        bits: usize,
        padding: Padding,
        hash: Hash,
    },
}

/// KMS names, Binary Authorization's legacy names and the algorithm each stands for.
const NAMES: &[(&str, &str, Algorithm)] = {
    use Hash::*;
    use Padding::*;
    &[
        (
            "EC_SIGN_P256_SHA256",
            "ECDSA_P256_SHA256",
            Algorithm::EcP256,
        ),
        (
            "EC_SIGN_P384_SHA384",
            "ECDSA_P384_SHA384",
            Algorithm::EcP384,
        ),
        (
            "RSA_SIGN_PKCS1_2048_SHA256",
            "RSA_SIGN_PKCS1_2048_SHA256",
            Algorithm::Rsa {
                bits: 2048,
                padding: Pkcs1,
                hash: Sha256,
            },
        ),
        (
            "RSA_SIGN_PKCS1_3072_SHA256",
            "RSA_SIGN_PKCS1_3072_SHA256",
            Algorithm::Rsa {
                bits: 3072,
                padding: Pkcs1,
                hash: Sha256,
            },
        ),
        (
            "RSA_SIGN_PKCS1_4096_SHA256",
            "RSA_SIGN_PKCS1_4096_SHA256",
            Algorithm::Rsa {
                bits: 4096,
                padding: Pkcs1,
                hash: Sha256,
            },
        ),
        (
            "RSA_SIGN_PKCS1_4096_SHA512",
            "RSA_SIGN_PKCS1_4096_SHA512",
            Algorithm::Rsa {
                bits: 4096,
                padding: Pkcs1,
                hash: Sha512,
            },
        ),
        (
            "RSA_SIGN_PSS_2048_SHA256",
            "RSA_PSS_2048_SHA256",
            Algorithm::Rsa {
                bits: 2048,
                padding: Pss,
                hash: Sha256,
            },
        ),
        (
            "RSA_SIGN_PSS_3072_SHA256",
            "RSA_PSS_3072_SHA256",
            Algorithm::Rsa {
                bits: 3072,
                padding: Pss,
                hash: Sha256,
            },
        ),
        (
            "RSA_SIGN_PSS_4096_SHA256",
            "RSA_PSS_4096_SHA256",
            Algorithm::Rsa {
                bits: 4096,
                padding: Pss,
                hash: Sha256,
            },
        ),
        (
            "RSA_SIGN_PSS_4096_SHA512",
            "RSA_PSS_4096_SHA512",
            Algorithm::Rsa {
                bits: 4096,
                padding: Pss,
                hash: Sha512,
            },
        ),
    ]
};

impl Algorithm {
    /// Parses a KMS algorithm name (`EC_SIGN_P256_SHA256`).
    pub fn from_kms(name: &str) -> Option<Algorithm> {
        NAMES
            .iter()
            .find(|(kms, _, _)| *kms == name)
            .map(|(_, _, a)| *a)
    }
    /// Parses a Binary Authorization `signatureAlgorithm`, which accepts the legacy names
    /// (`ECDSA_P256_SHA256`, `RSA_PSS_2048_SHA256`) and the KMS-style aliases.
    pub fn from_binauthz(name: &str) -> Option<Algorithm> {
        NAMES
            .iter()
            .find(|(kms, legacy, _)| *kms == name || *legacy == name)
            .map(|(_, _, a)| *a)
    }
    pub fn kms_name(self) -> &'static str {
        NAMES
            .iter()
            .find(|(_, _, a)| *a == self)
            .map(|(kms, _, _)| *kms)
            .unwrap_or_default()
    }
    pub fn hash(self) -> Hash {
        match self {
            Algorithm::EcP256 => Hash::Sha256,
            Algorithm::EcP384 => Hash::Sha384,
            Algorithm::Rsa { hash, .. } => hash,
        }
    }
}

/// A private key held by the emulated KMS.
pub enum KeyPair {
    P256(p256::ecdsa::SigningKey),
    P384(p384::ecdsa::SigningKey),
    Rsa(Box<RsaPrivateKey>),
}

impl KeyPair {
    pub fn generate(alg: Algorithm) -> Result<KeyPair, String> {
        Ok(match alg {
            Algorithm::EcP256 => KeyPair::P256(p256::ecdsa::SigningKey::random(&mut OsRng)),
            Algorithm::EcP384 => KeyPair::P384(p384::ecdsa::SigningKey::random(&mut OsRng)),
            Algorithm::Rsa { bits, .. } => KeyPair::Rsa(Box::new(
                RsaPrivateKey::new(&mut OsRng, bits).map_err(|e| e.to_string())?,
            )),
        })
    }

    /// Loads a PKCS#8 PEM private key, checking that it fits the algorithm.
    pub fn from_pkcs8_pem(alg: Algorithm, pem: &str) -> Result<KeyPair, String> {
        let key = match alg {
            Algorithm::EcP256 => KeyPair::P256(
                p256::ecdsa::SigningKey::from_pkcs8_pem(pem).map_err(|e| e.to_string())?,
            ),
            Algorithm::EcP384 => KeyPair::P384(
                p384::ecdsa::SigningKey::from_pkcs8_pem(pem).map_err(|e| e.to_string())?,
            ),
            Algorithm::Rsa { bits, .. } => {
                let key = RsaPrivateKey::from_pkcs8_pem(pem).map_err(|e| e.to_string())?;
                if rsa::traits::PublicKeyParts::size(&key) * 8 != bits {
                    return Err(format!("the key is not {bits} bits"));
                }
                KeyPair::Rsa(Box::new(key))
            }
        };
        Ok(key)
    }

    /// The SubjectPublicKeyInfo PEM, as KMS `getPublicKey` returns it (trailing newline kept).
    pub fn public_pem(&self) -> String {
        let pem = match self {
            KeyPair::P256(k) => k.verifying_key().to_public_key_pem(LineEnding::LF),
            KeyPair::P384(k) => k.verifying_key().to_public_key_pem(LineEnding::LF),
            KeyPair::Rsa(k) => k.to_public_key().to_public_key_pem(LineEnding::LF),
        };
        pem.unwrap_or_default()
    }

    /// Signs a precomputed digest as KMS `asymmetricSign` does: ECDSA as DER, RSA-PSS with
    /// MGF1 and a salt as long as the digest.
    pub fn sign_digest(&self, alg: Algorithm, digest: &[u8]) -> Result<Vec<u8>, String> {
        use p256::ecdsa::signature::hazmat::PrehashSigner;
        match (self, alg) {
            (KeyPair::P256(k), _) => {
                let sig: p256::ecdsa::Signature =
                    k.sign_prehash(digest).map_err(|e| e.to_string())?;
                Ok(sig.to_der().as_bytes().to_vec())
            }
            (KeyPair::P384(k), _) => {
                let sig: p384::ecdsa::Signature =
                    k.sign_prehash(digest).map_err(|e| e.to_string())?;
                Ok(sig.to_der().as_bytes().to_vec())
            }
            (KeyPair::Rsa(k), Algorithm::Rsa { padding, hash, .. }) => {
                let result = match (padding, hash) {
                    (Padding::Pkcs1, Hash::Sha256) => k.sign(Pkcs1v15Sign::new::<Sha256>(), digest),
                    (Padding::Pkcs1, Hash::Sha384) => k.sign(Pkcs1v15Sign::new::<Sha384>(), digest),
                    (Padding::Pkcs1, Hash::Sha512) => k.sign(Pkcs1v15Sign::new::<Sha512>(), digest),
                    (Padding::Pss, Hash::Sha256) => {
                        k.sign_with_rng(&mut OsRng, Pss::new_with_salt::<Sha256>(32), digest)
                    }
                    (Padding::Pss, Hash::Sha384) => {
                        k.sign_with_rng(&mut OsRng, Pss::new_with_salt::<Sha384>(48), digest)
                    }
                    (Padding::Pss, Hash::Sha512) => {
                        k.sign_with_rng(&mut OsRng, Pss::new_with_salt::<Sha512>(64), digest)
                    }
                };
                result.map_err(|e| e.to_string())
            }
            (KeyPair::Rsa(_), _) => Err("an RSA key cannot sign with an EC algorithm".into()),
        }
    }
}

/// Checks `signature` over `message` with a SubjectPublicKeyInfo PEM, as Binary Authorization
/// does for a PKIX attestor key. Any parse failure is a failed verification.
pub fn verify_pem(alg: Algorithm, pem: &str, message: &[u8], signature: &[u8]) -> bool {
    use p256::ecdsa::signature::Verifier;
    match alg {
        Algorithm::EcP256 => {
            let (Ok(key), Ok(sig)) = (
                p256::ecdsa::VerifyingKey::from_public_key_pem(pem),
                p256::ecdsa::Signature::from_der(signature),
            ) else {
                return false;
            };
            key.verify(message, &sig).is_ok()
        }
        Algorithm::EcP384 => {
            let (Ok(key), Ok(sig)) = (
                p384::ecdsa::VerifyingKey::from_public_key_pem(pem),
                p384::ecdsa::Signature::from_der(signature),
            ) else {
                return false;
            };
            key.verify(message, &sig).is_ok()
        }
        Algorithm::Rsa { padding, hash, .. } => {
            let Ok(key) = RsaPublicKey::from_public_key_pem(pem) else {
                return false;
            };
            let digest = hash.digest(message);
            let result = match (padding, hash) {
                (Padding::Pkcs1, Hash::Sha256) => {
                    key.verify(Pkcs1v15Sign::new::<Sha256>(), &digest, signature)
                }
                (Padding::Pkcs1, Hash::Sha384) => {
                    key.verify(Pkcs1v15Sign::new::<Sha384>(), &digest, signature)
                }
                (Padding::Pkcs1, Hash::Sha512) => {
                    key.verify(Pkcs1v15Sign::new::<Sha512>(), &digest, signature)
                }
                (Padding::Pss, Hash::Sha256) => {
                    key.verify(Pss::new::<Sha256>(), &digest, signature)
                }
                (Padding::Pss, Hash::Sha384) => {
                    key.verify(Pss::new::<Sha384>(), &digest, signature)
                }
                (Padding::Pss, Hash::Sha512) => {
                    key.verify(Pss::new::<Sha512>(), &digest, signature)
                }
            };
            result.is_ok()
        }
    }
}

/// The DER SubjectPublicKeyInfo inside a PEM, for server-assigned key ids.
pub fn spki_der(pem: &str) -> Option<Vec<u8>> {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(body.trim())
        .ok()
}

/// Checks that a SubjectPublicKeyInfo (DER) is a key of the kind a Binary Authorization
/// `signatureAlgorithm` names: PkixPublicKey.signature_algorithm "must match the structure and
/// any object identifiers encoded in public_key_pem (i.e. this algorithm must match that of
/// the public key)" (resources.proto).
pub fn key_matches(alg: &str, der: &[u8]) -> Result<(), String> {
    use p256::pkcs8::DecodePublicKey as _;
    let rsa_bits = |bits: usize| match RsaPublicKey::from_public_key_der(der) {
        Ok(k) if rsa::traits::PublicKeyParts::size(&k) * 8 == bits => Ok(()),
        Ok(k) => Err(format!(
            "the key is RSA {} bits, {alg} needs {bits}",
            rsa::traits::PublicKeyParts::size(&k) * 8
        )),
        Err(_) => Err(format!("the key is not an RSA key, {alg} needs one")),
    };
    match alg {
        "ECDSA_P256_SHA256" | "EC_SIGN_P256_SHA256" => p256::PublicKey::from_public_key_der(der)
            .map(|_| ())
            .map_err(|_| format!("the key is not a P-256 EC key, {alg} needs one")),
        "ECDSA_P384_SHA384" | "EC_SIGN_P384_SHA384" => p384::PublicKey::from_public_key_der(der)
            .map(|_| ())
            .map_err(|_| format!("the key is not a P-384 EC key, {alg} needs one")),
        "ECDSA_P521_SHA512" | "EC_SIGN_P521_SHA512" => {
            // id-ecPublicKey with the secp521r1 curve OID (1.3.132.0.35).
            let ec = [0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
            let p521 = [0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23];
            let has = |pat: &[u8]| der.windows(pat.len()).any(|w| w == pat);
            if has(&ec) && has(&p521) {
                Ok(())
            } else {
                Err(format!("the key is not a P-521 EC key, {alg} needs one"))
            }
        }
        _ => {
            let bits = [2048, 3072, 4096]
                .into_iter()
                .find(|b| alg.contains(&format!("_{b}_")));
            match bits {
                Some(bits) if alg.starts_with("RSA_") => rsa_bits(bits),
                _ => Err(format!("the emulator cannot check keys for {alg}")),
            }
        }
    }
}

/// The OpenPGP V4 fingerprint (RFC 4880 §12.2: SHA-1 over 0x99, the two-octet length and the
/// public-key packet body) of an ASCII-armored public key, as upper-case hex: the id Binary
/// Authorization computes for `asciiArmoredPgpPublicKey`.
pub fn pgp_fingerprint(armored: &str) -> Option<String> {
    use base64::Engine;
    let body: String = armored
        .lines()
        .map(str::trim)
        .skip_while(|l| !l.starts_with("-----BEGIN PGP PUBLIC KEY BLOCK-----"))
        .skip(1)
        .skip_while(|l| !l.is_empty()) // armor headers end with an empty line
        .skip(1)
        .take_while(|l| !l.starts_with('=') && !l.starts_with("-----"))
        .collect();
    let data = base64::engine::general_purpose::STANDARD
        .decode(body)
        .ok()?;
    let tag = *data.first()?;
    if tag & 0x80 == 0 {
        return None;
    }
    let (packet_type, len, start) = if tag & 0x40 != 0 {
        // New format: one-, two- or five-octet length.
        let first = *data.get(1)? as usize;
        match first {
            0..=191 => (tag & 0x3f, first, 2),
            192..=223 => (
                tag & 0x3f,
                ((first - 192) << 8) + *data.get(2)? as usize + 192,
                3,
            ),
            255 => (
                tag & 0x3f,
                u32::from_be_bytes(data.get(2..6)?.try_into().ok()?) as usize,
                6,
            ),
            _ => return None,
        }
    } else {
        let kind = (tag >> 2) & 0x0f;
        match tag & 0x03 {
            0 => (kind, *data.get(1)? as usize, 2),
            1 => (
                kind,
                u16::from_be_bytes([*data.get(1)?, *data.get(2)?]) as usize,
                3,
            ),
            2 => (
                kind,
                u32::from_be_bytes(data.get(1..5)?.try_into().ok()?) as usize,
                5,
            ),
            _ => return None,
        }
    };
    // Tag 6: public-key packet, version 4.
    let packet = data.get(start..start + len)?;
    if packet_type != 6 || packet.first() != Some(&4) {
        return None;
    }
    let mut hashed = vec![0x99, (len >> 8) as u8, len as u8];
    hashed.extend_from_slice(packet);
    Some(sha1(&hashed).iter().map(|b| format!("{b:02X}")).collect())
}

/// The content of `signed`, an attached OpenPGP signature (binary or ASCII-armored, compressed
/// or not: `gpg --sign`, `gpg --armor --sign`), when its signature verifies under the primary
/// key or a subkey of the ASCII-armored public key `armored`.
pub fn pgp_verified_content(armored: &str, signed: &[u8]) -> Result<Vec<u8>, String> {
    use pgp::composed::{Deserializable, Message, SignedPublicKey};
    let (key, _) = SignedPublicKey::from_string(armored)
        .map_err(|e| format!("the attestor's PGP key cannot be read ({e})"))?;
    let parsed = if signed.starts_with(b"-----BEGIN PGP") {
        Message::from_armor(std::io::Cursor::new(signed)).map(|(m, _)| m)
    } else {
        Message::from_bytes(std::io::Cursor::new(signed))
    };
    let mut message =
        parsed.map_err(|e| format!("the signature is not an OpenPGP message ({e})"))?;
    while message.is_compressed() {
        message = message
            .decompress()
            .map_err(|e| format!("the OpenPGP message cannot be decompressed ({e})"))?;
    }
    let content = message
        .as_data_vec()
        .map_err(|e| format!("the OpenPGP message cannot be read ({e})"))?;
    let verified = message.verify(&key.primary_key).is_ok()
        || key
            .public_subkeys
            .iter()
            .any(|sub| message.verify(&sub.key).is_ok());
    match verified {
        true => Ok(content),
        false => Err("the OpenPGP signature does not verify".into()),
    }
}

/// SHA-1 (FIPS 180-4), only for OpenPGP fingerprints, which are defined over it.
fn sha1(message: &[u8]) -> [u8; 20] {
    let mut h: [u32; 5] = [0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0];
    let mut data = message.to_vec();
    data.push(0x80);
    while data.len() % 64 != 56 {
        data.push(0);
    }
    data.extend_from_slice(&((message.len() as u64) * 8).to_be_bytes());
    for block in data.chunks(64) {
        let mut w = [0u32; 80];
        for (i, word) in block.chunks(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = h;
        for (i, wi) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | (!b & d), 0x5A827999),
                20..=39 => (b ^ c ^ d, 0x6ED9EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1BBCDC),
                _ => (b ^ c ^ d, 0xCA62C1D6),
            };
            let t = a
                .rotate_left(5)
                .wrapping_add(f)
                .wrapping_add(e)
                .wrapping_add(k)
                .wrapping_add(*wi);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = t;
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e]) {
            *x = x.wrapping_add(y);
        }
    }
    let mut out = [0u8; 20];
    for (i, x) in h.iter().enumerate() {
        out[i * 4..i * 4 + 4].copy_from_slice(&x.to_be_bytes());
    }
    out
}

/// Verifies an RS256 JWT signature (service-account assertions) with an RSA public key.
pub fn verify_rs256(public: &RsaPublicKey, signed: &[u8], signature: &[u8]) -> bool {
    public
        .verify(
            Pkcs1v15Sign::new::<Sha256>(),
            &Sha256::digest(signed),
            signature,
        )
        .is_ok()
}

/// Signs an RS256 JWT (the ID tokens the token endpoint answers with).
pub fn sign_rs256(key: &RsaPrivateKey, signed: &[u8]) -> Vec<u8> {
    key.sign(Pkcs1v15Sign::new::<Sha256>(), &Sha256::digest(signed))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_algorithm_signs_a_digest_that_verifies_over_the_message() {
        for (kms, _, alg) in NAMES.iter().filter(|(_, _, a)| {
            !matches!(
                a,
                Algorithm::Rsa {
                    bits: 3072 | 4096,
                    ..
                }
            )
        }) {
            let key = KeyPair::generate(*alg).unwrap();
            let message = b"payload";
            let sig = key.sign_digest(*alg, &alg.hash().digest(message)).unwrap();
            assert!(verify_pem(*alg, &key.public_pem(), message, &sig), "{kms}");
            assert!(
                !verify_pem(*alg, &key.public_pem(), b"other", &sig),
                "{kms}"
            );
        }
    }

    #[test]
    fn sha1_matches_the_fips_vectors() {
        let hex = |b: [u8; 20]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        assert_eq!(
            hex(sha1(b"abc")),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert_eq!(hex(sha1(b"")), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    }

    #[test]
    fn keys_must_match_their_declared_algorithm() {
        use p256::pkcs8::EncodePublicKey;
        let ec = KeyPair::generate(Algorithm::EcP256).unwrap();
        let der = spki_der(&ec.public_pem()).unwrap();
        assert!(key_matches("ECDSA_P256_SHA256", &der).is_ok());
        assert!(key_matches("EC_SIGN_P256_SHA256", &der).is_ok());
        assert!(key_matches("ECDSA_P384_SHA384", &der).is_err());
        assert!(key_matches("RSA_PSS_2048_SHA256", &der).is_err());
        let p384 = p384::ecdsa::SigningKey::random(&mut OsRng);
        let der = p384.verifying_key().to_public_key_der().unwrap();
        assert!(key_matches("ECDSA_P384_SHA384", der.as_bytes()).is_ok());
        assert!(key_matches("ECDSA_P521_SHA512", der.as_bytes()).is_err());
    }

    #[test]
    fn binauthz_names_accept_legacy_and_kms_aliases() {
        assert_eq!(
            Algorithm::from_binauthz("ECDSA_P256_SHA256"),
            Some(Algorithm::EcP256)
        );
        assert_eq!(
            Algorithm::from_binauthz("EC_SIGN_P256_SHA256"),
            Some(Algorithm::EcP256)
        );
        assert_eq!(
            Algorithm::from_binauthz("RSA_PSS_2048_SHA256"),
            Algorithm::from_kms("RSA_SIGN_PSS_2048_SHA256")
        );
        assert_eq!(Algorithm::from_kms("ECDSA_P256_SHA256"), None);
    }

    // gpg-made vectors (tests/vectors/pgp/README.md in the CLI has the commands).
    const PGP_KEY: &str = include_str!("../../tests/vectors/pgp/key.asc");
    const PGP_SIGNED: &[u8] = include_bytes!("../../tests/vectors/pgp/payload.json.asc");
    const PGP_PAYLOAD: &[u8] = include_bytes!("../../tests/vectors/pgp/payload.json");

    #[test]
    fn an_attached_gpg_signature_verifies_and_a_tampered_one_does_not() {
        assert_eq!(
            pgp_verified_content(PGP_KEY, PGP_SIGNED).as_deref(),
            Ok(PGP_PAYLOAD)
        );
        let mut tampered = PGP_SIGNED.to_vec();
        let at = tampered.len() / 2;
        tampered[at] = if tampered[at] == b'A' { b'B' } else { b'A' };
        assert!(pgp_verified_content(PGP_KEY, &tampered).is_err());
        assert!(pgp_verified_content(PGP_KEY, b"not a message").is_err());
    }
}
