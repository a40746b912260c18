//! `setup --pkix-public-key` / `--pgp-public-key` against the emulator with IAM enforced
//! (`emulator/seeds/iam.yaml`): the owner registers a key the team holds (openssl, gpg) with the
//! attestor, idempotently, with no KMS grants; the CI identity then signs with the private half
//! using exactly what setup granted.

use crate::common::attest_command;
use crate::common::emulator::Emulator;
use crate::pgp_keys::make_key;
use serde_json::Value;
use std::process::Command;

const CI: &str = "serviceAccount:ci@demo.iam.gserviceaccount.com";

fn start() -> Emulator {
    let seed = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/emulator/seeds/iam.yaml"
    ))
    .expect("emulator/seeds/iam.yaml");
    Emulator::start_raw(&seed, &[])
}

/// binauthz-attest with `token`, the emulator as Google and as the image's registry.
fn attest_as(
    emu: &Emulator,
    token: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> (i32, String, String) {
    let home = emu.dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let host = emu.host();
    let mut cmd = attest_command(emu, &home);
    cmd.env("GOOGLE_OAUTH_ACCESS_TOKEN", token)
        .args(["--insecure-registry", &host, "--google-registry", &host])
        .args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn setup(emu: &Emulator, attestor: &str, key: &[&str]) -> (i32, Value, String) {
    let mut args = vec![
        "setup",
        "--attestor",
        attestor,
        "--signer",
        CI,
        "--output",
        "json",
    ];
    args.extend(key);
    let (code, out, err) = attest_as(emu, "admin-token", &args, &[]);
    let summary = serde_json::from_str::<Value>(&out)
        .map(|v| v[0].clone())
        .unwrap_or(Value::Null);
    (code, summary, err)
}

/// The calls since the last reset that write (getIamPolicy is a read sent as POST).
fn writes(emu: &Emulator) -> Vec<String> {
    let log = emu.ok("GET", "emulator/requests", None);
    log["requests"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter(|r| r["method"] != "GET" && !r["path"].as_str().unwrap().ends_with(":getIamPolicy"))
        .map(|r| {
            format!(
                "{} {}",
                r["method"].as_str().unwrap(),
                r["path"].as_str().unwrap()
            )
        })
        .collect()
}

fn reset(emu: &Emulator) {
    emu.ok("POST", "emulator/reset", None);
}

fn openssl(args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// What setup did, as (what, action) pairs.
fn actions(summary: &Value) -> Vec<(String, String)> {
    summary["changes"]
        .as_array()
        .unwrap_or_else(|| panic!("no changes in {summary}"))
        .iter()
        .map(|c| {
            (
                c["what"].as_str().unwrap().into(),
                c["action"].as_str().unwrap().into(),
            )
        })
        .collect()
}

/// Runs setup for `key` on `attestor` (plan, apply, rerun) and checks what each did; answers
/// the applied summary.
fn set_up_twice(emu: &Emulator, attestor: &str, key: &[&str]) -> Value {
    reset(emu);
    let (code, plan, err) = setup(emu, attestor, &[key, &["--plan"]].concat());
    assert_eq!(code, 0, "{err}");
    assert_eq!(writes(emu), Vec::<String>::new(), "--plan wrote");
    let (code, done, err) = setup(emu, attestor, key);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        plan["keyId"], done["keyId"],
        "--plan names the id the server assigns"
    );
    assert!(done.get("keyVersion").is_none(), "{done}");
    let what: Vec<String> = actions(&done).into_iter().map(|(w, _)| w).collect();
    assert!(
        !what.iter().any(|w| w.starts_with("key") || w == "version"),
        "no KMS step for a key the team holds: {done}"
    );
    let grants: usize = done["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["what"] == "iam" && c["action"] != "unchanged")
        .map(|c| c["detail"].as_str().unwrap().matches(" to ").count())
        .sum();
    assert!(
        !done.to_string().contains("cloudkms"),
        "no KMS grants: {done}"
    );
    assert!(grants >= 1, "{done}");
    reset(emu);
    let (code, again, err) = setup(emu, attestor, key);
    assert_eq!(code, 0, "{err}");
    assert_eq!(writes(emu), Vec::<String>::new(), "the rerun wrote");
    assert!(
        actions(&again).iter().all(|(_, a)| a == "unchanged"),
        "{again}"
    );
    assert_eq!(again["keyId"], done["keyId"]);
    done
}

#[test]
fn setup_registers_held_pkix_and_pgp_keys_once_and_ci_signs_with_them() {
    let emu = start();
    let dir = emu.dir.path();
    let image = format!("{}/demo/apps/hello:v1", emu.host());

    // PKIX: an openssl P-256 key; the algorithm is the curve's.
    let private = dir.join("p256.pem");
    let public = dir.join("p256.pub");
    openssl(&[
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-out",
        private.to_str().unwrap(),
    ]);
    openssl(&[
        "pkey",
        "-in",
        private.to_str().unwrap(),
        "-pubout",
        "-out",
        public.to_str().unwrap(),
    ]);
    let pkix = "projects/demo/attestors/pkix-builds";
    let done = set_up_twice(&emu, pkix, &["--pkix-public-key", public.to_str().unwrap()]);
    let id = done["keyId"].as_str().unwrap();
    assert!(id.starts_with("ni:///sha-256;"), "{done}");
    assert_eq!(
        done["sign"],
        format!("binauthz-attest sign --attestor {pkix} --pkix-private-key PRIVATE_KEY_FILE IMAGE")
    );
    let described = emu.gcloud_as(
        "admin-token",
        &[
            "container",
            "binauthz",
            "attestors",
            "describe",
            pkix,
            "--format=json",
        ],
    );
    let described: Value = serde_json::from_slice(&described.stdout).expect("attestor JSON");
    let keys = &described["userOwnedGrafeasNote"]["publicKeys"];
    assert_eq!(keys.as_array().map(Vec::len), Some(1), "{described}");
    assert_eq!(keys[0]["id"], id);
    assert_eq!(
        keys[0]["pkixPublicKey"]["signatureAlgorithm"],
        "ECDSA_P256_SHA256"
    );
    let (code, out, err) = attest_as(
        &emu,
        "ci-token",
        &[
            "sign",
            &image,
            "--attestor",
            pkix,
            "--pkix-private-key",
            private.to_str().unwrap(),
            "--output",
            "json",
        ],
        &[],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()[0]["public_key_id"],
        id
    );

    // PGP: a gpg key; the id is its fingerprint.
    let key = make_key(dir, "setup", "ed25519", "");
    let pgp = "projects/demo/attestors/pgp-builds";
    let done = set_up_twice(
        &emu,
        pgp,
        &["--pgp-public-key", key.public.to_str().unwrap()],
    );
    assert_eq!(done["keyId"], key.fingerprint.as_str());
    let (code, out, err) = attest_as(
        &emu,
        "ci-token",
        &[
            "sign",
            &image,
            "--attestor",
            pgp,
            "--pgp-private-key",
            key.secret.to_str().unwrap(),
            "--output",
            "json",
        ],
        &[],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()[0]["public_key_id"],
        key.fingerprint.as_str()
    );
}

#[test]
fn setup_names_what_is_wrong_with_a_held_key() {
    let emu = start();
    let dir = emu.dir.path();
    let private = dir.join("rsa.pem");
    let public = dir.join("rsa.pub");
    openssl(&[
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        "rsa_keygen_bits:2048",
        "-out",
        private.to_str().unwrap(),
    ]);
    openssl(&[
        "pkey",
        "-in",
        private.to_str().unwrap(),
        "-pubout",
        "-out",
        public.to_str().unwrap(),
    ]);
    let attestor = "projects/demo/attestors/rsa-builds";
    let cases: [(&[&str], &str); 4] = [
        (
            &["--pkix-public-key", public.to_str().unwrap()],
            "is an RSA key: pass --algorithm",
        ),
        (
            &[
                "--pkix-public-key",
                public.to_str().unwrap(),
                "--algorithm",
                "ecdsa-p256-sha256",
            ],
            "does not fit --algorithm ecdsa-p256-sha256",
        ),
        (
            &["--pkix-public-key", private.to_str().unwrap()],
            "holds no `PUBLIC KEY` block",
        ),
        (
            &["--pgp-public-key", public.to_str().unwrap()],
            "not an OpenPGP public key",
        ),
    ];
    reset(&emu);
    for (key, named) in cases {
        let (code, _, err) = setup(&emu, attestor, key);
        assert_eq!(code, 2, "{key:?}: {err}");
        assert!(err.contains(named), "{key:?}: {err}");
    }
    assert_eq!(writes(&emu), Vec::<String>::new());
    // With the algorithm, it is registered as declared.
    let (code, done, err) = setup(
        &emu,
        attestor,
        &[
            "--pkix-public-key",
            public.to_str().unwrap(),
            "--algorithm",
            "rsa-pss-2048-sha256",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(done["keyId"]
        .as_str()
        .unwrap()
        .starts_with("ni:///sha-256;"));
    // Asking for another algorithm for the same key is refused, never altered.
    let (code, _, err) = setup(
        &emu,
        attestor,
        &[
            "--pkix-public-key",
            public.to_str().unwrap(),
            "--algorithm",
            "rsa-sign-pkcs1-2048-sha256",
        ],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("with algorithm RSA_PSS_2048_SHA256"), "{err}");
}
