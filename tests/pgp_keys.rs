//! `sign --pgp-private-key`: keys made by `gpg --quick-generate-key` (Debian's gnupg) in a
//! throwaway GNUPGHOME, added to the attestor with gcloud `--pgp-public-key-file` (the server
//! sets the id to the fingerprint); what we file is an attached signature that `gpg --decrypt`
//! accepts with the payload as its content and the emulator's validateAttestationOccurrence
//! verifies; an attestation made the documented gcloud way is found, not duplicated; the key
//! and its passphrase never reach a byte the process writes.

use crate::common::attest_command;
use crate::common::emulator::{unb64, Emulator, TOKEN};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A gpg home of its own; its agent is stopped when the test ends.
pub(crate) struct GnupgHome(PathBuf);

impl GnupgHome {
    fn new(dir: &Path, name: &str) -> GnupgHome {
        let home = dir.join(name);
        std::fs::create_dir_all(&home).unwrap();
        std::fs::set_permissions(&home, std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .unwrap();
        GnupgHome(home)
    }

    pub(crate) fn gpg(&self, args: &[&str]) -> Output {
        Command::new("gpg")
            .env("GNUPGHOME", &self.0)
            .args(["--batch", "--pinentry-mode", "loopback"])
            .args(args)
            .output()
            .unwrap_or_else(|e| {
                panic!("gpg is not installed ({e}); .ci/run installs Debian's gnupg")
            })
    }

    pub(crate) fn gpg_ok(&self, args: &[&str]) -> Vec<u8> {
        let out = self.gpg(args);
        assert!(
            out.status.success(),
            "gpg {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }
}

impl Drop for GnupgHome {
    fn drop(&mut self) {
        // The agent gpg started for this home only (addressed by its socket, not by name).
        let _ = Command::new("gpgconf")
            .env("GNUPGHOME", &self.0)
            .args(["--kill", "gpg-agent"])
            .output();
    }
}

/// A key made as the guides make it; `passphrase` "" leaves it unprotected.
pub(crate) struct Key {
    pub(crate) home: GnupgHome,
    pub(crate) fingerprint: String,
    pub(crate) secret: PathBuf,
    pub(crate) public: PathBuf,
}

pub(crate) fn make_key(dir: &Path, name: &str, algorithm: &str, passphrase: &str) -> Key {
    let home = GnupgHome::new(dir, &format!("gnupg-{name}"));
    home.gpg_ok(&[
        "--passphrase",
        passphrase,
        "--quick-generate-key",
        &format!("binauthz {name} <{name}@example.com>"),
        algorithm,
        "default",
        "never",
    ]);
    let listed = String::from_utf8(home.gpg_ok(&["--with-colons", "--list-keys"])).unwrap();
    let fingerprint = listed
        .lines()
        .find_map(|l| l.strip_prefix("fpr:"))
        .map(|l| l.trim_matches(':').to_string())
        .expect("fingerprint");
    let secret = dir.join(format!("{name}.secret.asc"));
    let armored = home.gpg_ok(&[
        "--passphrase",
        passphrase,
        "--armor",
        "--export-secret-keys",
        &fingerprint,
    ]);
    std::fs::write(&secret, armored).unwrap();
    std::fs::set_permissions(&secret, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let public = dir.join(format!("{name}.public.asc"));
    std::fs::write(&public, home.gpg_ok(&["--armor", "--export", &fingerprint])).unwrap();
    Key {
        home,
        fingerprint,
        secret,
        public,
    }
}

/// Environment variables for one run.
type Env<'a> = [(&'a str, &'a str)];

fn seed(repos: usize) -> String {
    let images: String = (0..repos)
        .map(|n| format!("  - repository: demo/apps/pgp-{n}\n    tag: v1\n"))
        .collect();
    format!("notes:\n  - name: projects/demo/notes/n1\nattestors:\n  - name: projects/demo/attestors/a1\n    note: projects/demo/notes/n1\nimages:\n{images}")
}

fn add_to_attestor(emu: &Emulator, key: &Key) {
    let added = emu.gcloud_ok(&[
        "container",
        "binauthz",
        "attestors",
        "public-keys",
        "add",
        "--attestor=projects/demo/attestors/a1",
        &format!("--pgp-public-key-file={}", key.public.display()),
    ]);
    assert!(added.contains(&key.fingerprint), "{added}");
}

/// `sign IMAGE --pgp-private-key KEY` with `env` (and the test token) and nothing else of this
/// machine's environment.
fn sign_pgp(
    emu: &Emulator,
    image: &str,
    key: &Path,
    extra: &[&str],
    env: &[(&str, &str)],
) -> (i32, String, String) {
    let home = emu.dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let mut cmd = attest_command(emu, &home);
    cmd.args([
        "sign",
        image,
        "--attestor=projects/demo/attestors/a1",
        "--pgp-private-key",
    ])
    .arg(key)
    .args(["--output=json"])
    .args(emu.registry_flags())
    .args(extra)
    .env("GOOGLE_OAUTH_ACCESS_TOKEN", TOKEN);
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

/// Neither the passphrase nor any line of the key file's armored body is in `written`.
fn assert_no_secret(written: &str, key: &Key, passphrase: &str) {
    if !passphrase.is_empty() {
        assert!(!written.contains(passphrase), "the passphrase leaked");
    }
    let text = std::fs::read_to_string(&key.secret).unwrap();
    for line in text
        .lines()
        .filter(|l| l.len() >= 16 && !l.starts_with("-----"))
    {
        assert!(!written.contains(line), "a line of the key file leaked");
    }
}

fn occurrences(emu: &Emulator) -> Vec<Value> {
    let listed = emu.ok("GET", "v1/projects/demo/occurrences", None);
    listed["occurrences"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn gpg_keys_added_with_gcloud_sign_attestations_gpg_and_the_emulator_accept() {
    let emu = Emulator::start(&seed(3));
    let dir = emu.dir.path();
    let passphrase = "correct horse battery staple";
    // An unprotected RSA key (gpg's default), and an Ed25519 key with a passphrase given once
    // by the environment and once by a file.
    let keys = [
        (make_key(dir, "plain", "default", ""), Vec::new()),
        (
            make_key(dir, "env", "ed25519", passphrase),
            vec![("BINAUTHZ_PGP_PASSPHRASE", passphrase)],
        ),
    ];
    let passphrase_file = dir.join("passphrase");
    std::fs::write(&passphrase_file, format!("{passphrase}\n")).unwrap();
    std::fs::set_permissions(
        &passphrase_file,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let file_flag = format!("--pgp-passphrase-file={}", passphrase_file.display());
    let runs: [(&Key, &[&str], &Env); 3] = [
        (&keys[0].0, &[], &keys[0].1),
        (&keys[1].0, &[], &keys[1].1),
        (&keys[1].0, &[&file_flag], &[]),
    ];
    for (key, _) in &keys {
        add_to_attestor(&emu, key);
    }
    for (n, (key, extra, env)) in runs.into_iter().enumerate() {
        let image = format!("{}/demo/apps/pgp-{n}:v1", emu.host());
        let outputs = dir.join(format!("outputs-{n}.json"));
        let outputs_flag = format!("--outputs-file={}", outputs.display());
        let with_outputs = [extra, &[outputs_flag.as_str()]].concat();
        let (code, stdout, stderr) = sign_pgp(&emu, &image, &key.secret, &with_outputs, env);
        assert_eq!(code, 0, "run {n}: {stderr}");
        let written = std::fs::read_to_string(&outputs).expect("the outputs file");
        assert_no_secret(&format!("{stdout}{stderr}{written}"), key, passphrase);
        assert!(
            !stderr.contains("warning"),
            "a 0600 key file is not warned about: {stderr}"
        );
        let outcome = serde_json::from_str::<Value>(&stdout).unwrap()[0].clone();
        assert_eq!(outcome["status"], "created", "run {n}");
        assert_eq!(outcome["public_key_id"], key.fingerprint.as_str());

        // gpg accepts the stored signature and yields the stored payload as its content.
        let occurrence = emu.ok(
            "GET",
            &format!("v1/{}", outcome["attestation"].as_str().unwrap()),
            None,
        );
        let att = &occurrence["attestation"];
        assert_eq!(
            att["signatures"][0]["publicKeyId"],
            key.fingerprint.as_str()
        );
        let payload = unb64(att["serializedPayload"].as_str().unwrap());
        let signed = dir.join(format!("run-{n}.gpg"));
        std::fs::write(
            &signed,
            unb64(att["signatures"][0]["signature"].as_str().unwrap()),
        )
        .unwrap();
        let decrypted = key.home.gpg(&["--decrypt", signed.to_str().unwrap()]);
        let gpg_says = String::from_utf8_lossy(&decrypted.stderr);
        assert!(decrypted.status.success(), "run {n}: {gpg_says}");
        assert!(gpg_says.contains("Good signature"), "run {n}: {gpg_says}");
        assert_eq!(
            decrypted.stdout, payload,
            "run {n}: gpg's content is the payload"
        );
        key.home.gpg_ok(&["--verify", signed.to_str().unwrap()]);

        let verdict = emu.ok(
            "POST",
            "v1/projects/demo/attestors/a1:validateAttestationOccurrence",
            Some(&json!({
                "attestation": att, "occurrenceNote": "projects/demo/notes/n1",
                "occurrenceResourceUri": outcome["image_ref"],
            })),
        );
        assert_eq!(verdict["result"], "VERIFIED", "run {n}: {verdict}");

        // A rerun finds it.
        let (code, stdout, stderr) = sign_pgp(&emu, &image, &key.secret, extra, env);
        assert_eq!(code, 0, "{stderr}");
        assert_eq!(
            serde_json::from_str::<Value>(&stdout).unwrap()[0]["status"],
            "existing",
            "run {n}"
        );
    }
    assert_eq!(occurrences(&emu).len(), 3);
}

#[test]
fn an_attestation_made_the_documented_gcloud_way_is_found_not_duplicated() {
    let emu = Emulator::start(&seed(1));
    let dir = emu.dir.path();
    let key = make_key(dir, "doc", "ed25519", "");
    add_to_attestor(&emu, &key);
    let digest = emu.registry_digest("demo/apps/pgp-0", "v1");
    let pinned = format!("{}/demo/apps/pgp-0@{digest}", emu.host());
    // https://cloud.google.com/binary-authorization/docs/making-attestations ("Create an
    // attestation with a PGP signature"): payload, `gpg --armor --sign`, attestations create.
    let payload = dir.join("payload.json");
    let made = emu.gcloud_ok(&[
        "container",
        "binauthz",
        "create-signature-payload",
        &format!("--artifact-url={pinned}"),
    ]);
    std::fs::write(&payload, made).unwrap();
    let signature = dir.join("signature.pgp");
    key.home.gpg_ok(&[
        "--local-user",
        &key.fingerprint,
        "--armor",
        "--output",
        signature.to_str().unwrap(),
        "--sign",
        payload.to_str().unwrap(),
    ]);
    emu.gcloud_ok(&[
        "beta",
        "container",
        "binauthz",
        "attestations",
        "create",
        &format!("--artifact-url={pinned}"),
        "--attestor=a1",
        "--attestor-project=demo",
        &format!("--signature-file={}", signature.display()),
        &format!("--public-key-id={}", key.fingerprint),
    ]);
    let filed = occurrences(&emu);
    assert_eq!(filed.len(), 1);
    let verdict = emu.ok(
        "POST",
        "v1/projects/demo/attestors/a1:validateAttestationOccurrence",
        Some(&json!({
            "attestation": filed[0]["attestation"], "occurrenceNote": "projects/demo/notes/n1",
            "occurrenceResourceUri": filed[0]["resourceUri"],
        })),
    );
    assert_eq!(verdict["result"], "VERIFIED", "{verdict}");

    let image = format!("{}/demo/apps/pgp-0:v1", emu.host());
    let (code, stdout, stderr) = sign_pgp(&emu, &image, &key.secret, &[], &[]);
    assert_eq!(code, 0, "{stderr}");
    let outcome = serde_json::from_str::<Value>(&stdout).unwrap()[0].clone();
    assert_eq!(outcome["status"], "existing", "{outcome}");
    assert_eq!(outcome["attestation"], filed[0]["name"]);
    assert_eq!(occurrences(&emu).len(), 1, "no duplicate");
}

#[test]
fn a_missing_or_wrong_passphrase_or_an_untrusted_key_is_named_and_nothing_is_written() {
    let emu = Emulator::start(&seed(1));
    let dir = emu.dir.path();
    let passphrase = "s3cret-Passphrase";
    let key = make_key(dir, "locked", "ed25519", passphrase);
    let image = format!("{}/demo/apps/pgp-0:v1", emu.host());

    // Not on the attestor yet: refused with the fix, before anything is written; the
    // group-readable key file is warned about, not refused.
    std::fs::set_permissions(
        &key.secret,
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )
    .unwrap();
    let env = [("BINAUTHZ_PGP_PASSPHRASE", passphrase)];
    let (code, stdout, stderr) = sign_pgp(&emu, &image, &key.secret, &[], &env);
    assert_eq!(code, 5, "{stderr}");
    // The fix is setup with the key's public half (gpg exports it; no file written).
    assert!(
        stderr.contains("binauthz-attest setup --attestor")
            && stderr.contains("--pgp-public-key <(gpg --armor --export"),
        "{stderr}"
    );
    assert!(stderr.contains(&key.fingerprint), "{stderr}");
    assert!(
        stderr.contains("can be read by group or others"),
        "{stderr}"
    );
    assert_no_secret(&format!("{stdout}{stderr}"), &key, passphrase);
    add_to_attestor(&emu, &key);

    let wrong = [("BINAUTHZ_PGP_PASSPHRASE", "not-the-passphrase")];
    let cases: [(&[(&str, &str)], &str); 2] = [
        (&[], "is protected by a passphrase and none was given"),
        (&wrong, "cannot be unlocked with the passphrase given"),
    ];
    for (env, named) in cases {
        let (code, stdout, stderr) = sign_pgp(&emu, &image, &key.secret, &[], env);
        assert_eq!(code, 2, "{stderr}");
        assert!(stderr.contains(named), "{stderr}");
        assert!(stderr.contains("BINAUTHZ_PGP_PASSPHRASE"), "{stderr}");
        assert!(!stderr.contains("not-the-passphrase"), "{stderr}");
        assert_no_secret(&format!("{stdout}{stderr}"), &key, passphrase);
    }
    assert!(occurrences(&emu).is_empty(), "nothing was written");

    // With the right one it signs.
    let (code, _, stderr) = sign_pgp(&emu, &image, &key.secret, &[], &env);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(occurrences(&emu).len(), 1);
}
