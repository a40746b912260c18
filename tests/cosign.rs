//! `sign --pae` and `sign --cosign` / `verify --cosign-key`, judged by verifiers nobody here
//! wrote: openssl over DSSE bytes the test builds itself, skopeo 1.18's sigstoreSigned policy
//! (containers/image) for the `.sig` tag, and sigstore-js for the sigstore bundle.

use crate::common::emulator::{openssl_verifies, unb64};
use crate::common::Format;
use crate::sign::{attest, google, occurrences, push, sign_ok, version};

/// The DSSE pre-authentication encoding, written here from the DSSE protocol document
/// (https://github.com/secure-systems-lab/dsse/blob/master/protocol.md), not from our code.
fn dsse_pae(payload_type: &str, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(b"DSSEv1 ");
    out.extend_from_slice(payload_type.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload_type.as_bytes());
    out.push(b' ');
    out.extend_from_slice(body.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(body);
    out
}

/// The emulator's KMS public key of `key`.
fn kms_pem(emu: &crate::common::emulator::Emulator, key: &str) -> String {
    emu.ok("GET", &format!("v1/{}/publicKey", version(key)), None)["pem"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn pae_signatures_cover_the_dsse_encoding_of_the_raw_payload_and_verify_accepts_them() {
    let emu = google("");
    let pem = kms_pem(&emu, "ec");
    for (repo, dsse_type) in [
        ("pae/default", None),
        ("pae/custom", Some("application/vnd.example.custom+json")),
    ] {
        let image = push(repo, Format::Oci);
        let mut extra = vec!["--pae", "--output=json"];
        let flag;
        if let Some(t) = dsse_type {
            flag = format!("--dsse-type={t}");
            extra.push(&flag);
        }
        let outcome = sign_ok(&emu, &image, "ec", &extra);
        assert_eq!(outcome["status"], "created", "{outcome}");
        let occurrence = occurrences(&emu, "demo")
            .into_iter()
            .find(|o| o["name"] == outcome["attestation"])
            .expect("the occurrence");
        let attestation = &occurrence["attestation"];
        let payload = unb64(attestation["serializedPayload"].as_str().unwrap());
        // The stored payload stays raw: the simple-signing JSON naming the image.
        let text = String::from_utf8(payload.clone()).unwrap();
        assert!(
            text.contains("\"type\": \"Google cloud binauthz container signature\"")
                && text.contains(outcome["digest"].as_str().unwrap()),
            "{text}"
        );
        let signature = unb64(attestation["signatures"][0]["signature"].as_str().unwrap());
        let t = dsse_type.unwrap_or("application/vnd.dev.cosign.simplesigning.v1+json");
        let dir = emu.dir.path();
        assert!(openssl_verifies(
            dir,
            "sha256",
            &pem,
            &dsse_pae(t, &payload),
            &signature,
            false
        ));
        assert!(!openssl_verifies(
            dir, "sha256", &pem, &payload, &signature, false
        ));

        // A rerun finds it (no second occurrence).
        let again = sign_ok(&emu, &image, "ec", &extra);
        assert_eq!(again["status"], "existing", "{again}");
        if dsse_type.is_none() {
            // verify accepts gcloud's default DSSE type.
            let (code, stdout, stderr) = attest(
                &emu,
                &[
                    "verify",
                    &image,
                    "--attestor=projects/demo/attestors/a1",
                    "--output=json",
                ],
            );
            assert_eq!(code, 0, "{stdout}{stderr}");
        }
    }
}
