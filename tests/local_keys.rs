//! `sign --pkix-private-key`: keys made by openssl, added to the attestor with gcloud from their
//! PEM (the server assigns `ni:///sha-256;...` ids); what we file is listed by gcloud, verified
//! by `openssl dgst -verify` over the stored payload and by the emulator's
//! validateAttestationOccurrence, found again on a rerun, and the key never reaches the output.

use crate::common::emulator::{unb64, Emulator};
use crate::sign::attest;
use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;

fn openssl(args: &[&str]) -> Vec<u8> {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// (openssl key generation, gcloud's algorithm name, key file name)
const KEYS: &[(&[&str], &str, &str)] = &[
    (
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ],
        "ecdsa-p256-sha256",
        "p256.pkcs8.pem",
    ),
    (
        &["ecparam", "-name", "secp384r1", "-genkey", "-noout"],
        "ecdsa-p384-sha384",
        "p384.sec1.pem",
    ),
    (
        &[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:3072",
        ],
        "rsa-pss-3072-sha256",
        "rsa3072.pkcs8.pem",
    ),
    (
        &["genrsa", "-traditional", "4096"],
        "rsa-sign-pkcs1-4096-sha512",
        "rsa4096.pkcs1.pem",
    ),
];

fn seed(repos: usize) -> String {
    let images: String = (0..repos)
        .map(|n| format!("  - repository: demo/apps/local-{n}\n    tag: v1\n"))
        .collect();
    format!("notes:\n  - name: projects/demo/notes/n1\nattestors:\n  - name: projects/demo/attestors/a1\n    note: projects/demo/notes/n1\nimages:\n{images}")
}

#[test]
fn openssl_keys_added_with_gcloud_sign_attestations_every_peer_accepts() {
    let emu = Emulator::start(&seed(KEYS.len()));
    let dir = emu.dir.path();
    let flags = emu.registry_flags();
    for (n, (generate, algorithm, name)) in KEYS.iter().enumerate() {
        let private = dir.join(name);
        let pem = openssl(generate);
        std::fs::write(&private, &pem).unwrap();
        std::fs::set_permissions(
            &private,
            std::os::unix::fs::PermissionsExt::from_mode(0o600),
        )
        .unwrap();
        let public = dir.join(format!("{name}.pub"));
        openssl(&[
            "pkey",
            "-in",
            private.to_str().unwrap(),
            "-pubout",
            "-out",
            public.to_str().unwrap(),
        ]);
        let added = emu.gcloud_ok(&[
            "container",
            "binauthz",
            "attestors",
            "public-keys",
            "add",
            "--attestor=projects/demo/attestors/a1",
            &format!("--pkix-public-key-file={}", public.display()),
            &format!("--pkix-public-key-algorithm={algorithm}"),
        ]);
        assert!(added.contains("ni:///sha-256;"), "{added}");

        let image = format!("{}/demo/apps/local-{n}:v1", emu.host());
        let mut args = vec![
            "sign",
            &image,
            "--attestor=projects/demo/attestors/a1",
            "--pkix-private-key",
            private.to_str().unwrap(),
            "--output=json",
        ];
        args.extend(flags.iter().map(String::as_str));
        let (code, stdout, stderr) = attest(&emu, &args);
        assert_eq!(code, 0, "{name}: {stderr}");
        let secret = String::from_utf8_lossy(&pem);
        let body: String = secret.lines().filter(|l| !l.starts_with("-----")).collect();
        assert!(
            !stdout.contains(&body[..40]) && !stderr.contains(&body[..40]),
            "{name}: the key leaked"
        );
        let outcome: Value = serde_json::from_str::<Value>(&stdout).unwrap()[0].clone();
        assert_eq!(outcome["status"], "created", "{name}");
        assert!(outcome["public_key_id"]
            .as_str()
            .unwrap()
            .starts_with("ni:///sha-256;"));

        // gcloud lists it; openssl verifies the stored signature over the stored payload; the
        // emulator's validateAttestationOccurrence accepts it.
        let listed = emu.gcloud_ok(&[
            "container",
            "binauthz",
            "attestations",
            "list",
            "--attestor=a1",
            "--attestor-project=demo",
            &format!("--artifact-url={}", outcome["image_ref"].as_str().unwrap()),
            "--format=json",
        ]);
        let listed: Value = serde_json::from_str(&listed).unwrap();
        assert_eq!(listed.as_array().map(Vec::len), Some(1), "{name}: {listed}");
        let occurrence = emu.ok(
            "GET",
            &format!("v1/{}", outcome["attestation"].as_str().unwrap()),
            None,
        );
        let att = &occurrence["attestation"];
        let payload_file = dir.join(format!("{name}.payload"));
        let signature_file = dir.join(format!("{name}.sig"));
        std::fs::write(
            &payload_file,
            unb64(att["serializedPayload"].as_str().unwrap()),
        )
        .unwrap();
        std::fs::write(
            &signature_file,
            unb64(att["signatures"][0]["signature"].as_str().unwrap()),
        )
        .unwrap();
        verify_with_openssl(&public, algorithm, &payload_file, &signature_file);
        let verdict = emu.ok(
            "POST",
            "v1/projects/demo/attestors/a1:validateAttestationOccurrence",
            Some(&json!({
                "attestation": att, "occurrenceNote": "projects/demo/notes/n1",
                "occurrenceResourceUri": outcome["image_ref"],
            })),
        );
        assert_eq!(verdict["result"], "VERIFIED", "{name}: {verdict}");

        // A rerun finds it.
        let (code, stdout, stderr) = attest(&emu, &args);
        assert_eq!(code, 0, "{stderr}");
        assert_eq!(
            serde_json::from_str::<Value>(&stdout).unwrap()[0]["status"],
            "existing",
            "{name}"
        );
    }
}

fn verify_with_openssl(public: &Path, algorithm: &str, payload: &Path, signature: &Path) {
    let digest = if algorithm.ends_with("sha512") {
        "-sha512"
    } else if algorithm.ends_with("sha384") {
        "-sha384"
    } else {
        "-sha256"
    };
    let mut args = vec![
        "dgst",
        digest,
        "-verify",
        public.to_str().unwrap(),
        "-signature",
        signature.to_str().unwrap(),
    ];
    if algorithm.starts_with("rsa-pss") {
        args.extend([
            "-sigopt",
            "rsa_padding_mode:pss",
            "-sigopt",
            "rsa_pss_saltlen:-1",
        ]);
    }
    args.push(payload.to_str().unwrap());
    let out = String::from_utf8(openssl(&args)).unwrap();
    assert!(out.contains("Verified OK"), "{algorithm}: {out}");
}

#[test]
fn a_key_the_attestor_does_not_hold_is_refused_before_anything_is_written() {
    let emu = Emulator::start(&seed(1));
    let private = emu.dir.path().join("stranger.pem");
    std::fs::write(
        &private,
        openssl(&[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ]),
    )
    .unwrap();
    let image = format!("{}/demo/apps/local-0:v1", emu.host());
    let flags = emu.registry_flags();
    let mut args = vec![
        "sign",
        &image,
        "--attestor=projects/demo/attestors/a1",
        "--pkix-private-key",
        private.to_str().unwrap(),
    ];
    args.extend(flags.iter().map(String::as_str));
    let (code, _, stderr) = attest(&emu, &args);
    assert_eq!(code, 5, "{stderr}");
    assert!(
        // The fix is setup with the key's public half, read from the private key file
        // (no file written, no algorithm to fill in).
        stderr.contains("binauthz-attest setup --attestor projects/demo/attestors/a1 --pkix-public-key <(openssl pkey -in"),
        "the fix is named: {stderr}"
    );
    assert!(
        stderr.contains("can be read by group or others"),
        "a 0644 key file is warned about: {stderr}"
    );
    let listed = emu.ok("GET", "v1/projects/demo/occurrences", None);
    assert!(listed["occurrences"].as_array().is_none_or(Vec::is_empty));
}
