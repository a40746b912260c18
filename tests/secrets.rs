//! Secrets never leave the process: recognisable fake tokens, key material and credential file
//! contents go in through every path (GOOGLE_OAUTH_ACCESS_TOKEN, `--access-token-file`,
//! CLOUDSDK_AUTH_ACCESS_TOKEN_FILE, service-account and authorized_user ADC files, the PKIX key
//! of `--pkix-private-key`, registry credentials from `--registry-auth-file` and from a
//! credential helper, and error bodies of a hostile server that echoes what it was sent),
//! under GitHub Actions, GitLab and no CI; then every byte the process wrote (stdout, stderr,
//! `$GITHUB_OUTPUT`, the step summary, the dotenv report, `--outputs-file`, anything else left in
//! its working directory) is scanned for them. Under GitHub Actions a secret may appear only as
//! the value of its own `::add-mask::` line, which the runner consumes.

use crate::common::attest_command;
use crate::common::emulator::Emulator;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;

const KEY: &str = "projects/demo/locations/global/keyRings/ring/cryptoKeys/ec/cryptoKeyVersions/1";
const SA: &str = "signer@demo.iam.gserviceaccount.com";
const ENV_TOKEN: &str = "ya29.SECRET-ENV-TOKEN-4f1c9a7e2b";
const FILE_TOKEN: &str = "ya29.SECRET-FILE-TOKEN-8d3e6b0a5c";
const GCLOUD_FILE_TOKEN: &str = "ya29.SECRET-GCLOUD-FILE-TOKEN-2a7f";
const CLIENT_SECRET: &str = "SECRET-CLIENT-SECRET-91be44";
const REFRESH_TOKEN: &str = "SECRET-REFRESH-TOKEN-1/0c55d2";
const GITHUB_TOKEN: &str = "ghs_SECRETgithubTOKEN5e8d1c0b";
/// The password of the registry credential in `--registry-auth-file` (for the emulator's Artifact
/// Registry, a Google token it knows, sent as Basic `oauth2accesstoken` to its token service).
const REGISTRY_PASSWORD: &str = "ya29.SECRET-REGISTRY-PASSWORD-3e9a1f";
/// The secret a credential helper answers with.
const HELPER_SECRET: &str = "ya29.SECRET-HELPER-ANSWER-6b2d8c";
/// Every token the emulator mints starts so (emulator/src/auth.rs `mint`): the ADC paths'
/// access tokens, whose values the test never sees.
const MINTED: &str = "ya29.emulator-";
/// The start of a JWT's header (`{"alg"` or `{"typ"`): a service-account key's self-signed JWT
/// is the bearer itself.
const JWT_HEADERS: &[&str] = &["eyJhbGci", "eyJ0eXAi"];

/// The CIs simulated: their variables, and where their outputs land (inside `out`).
#[derive(Clone, Copy, Debug)]
enum Ci {
    None,
    GitHub,
    GitLab,
}

fn ci_env(ci: Ci, out: &Path) -> Vec<(&'static str, String)> {
    match ci {
        // No CI: outputs through --outputs-file (added to the arguments).
        Ci::None => vec![],
        Ci::GitHub => vec![
            ("GITHUB_ACTIONS", "true".into()),
            ("CI", "true".into()),
            (
                "GITHUB_OUTPUT",
                out.join("github_output").display().to_string(),
            ),
            (
                "GITHUB_STEP_SUMMARY",
                out.join("step_summary").display().to_string(),
            ),
            ("GITHUB_REPOSITORY", "octo/app".into()),
            (
                "GITHUB_SHA",
                "6dcb09b5b57875f334f61aebed695e2e4193db5e".into(),
            ),
        ],
        // GitLab: the dotenv report goes to the working directory (`out`).
        Ci::GitLab => vec![("GITLAB_CI", "true".into()), ("CI", "true".into())],
    }
}

/// The emulator with the secrets' owners: tokens, a refresh-token user, a service account, an
/// attestor trusting a KMS key and one trusting `pkix_public` (PEM).
struct World {
    emu: Emulator,
    /// Credential and key files (never scanned: they are inputs).
    inputs: PathBuf,
    /// Strings that must never be written.
    secrets: Vec<(String, String)>,
}

fn pem_body_lines(pem: &str) -> Vec<String> {
    pem.lines()
        .filter(|l| !l.starts_with("-----") && l.len() >= 16)
        .map(str::to_string)
        .collect()
}

impl World {
    fn start(images: usize) -> World {
        let inputs = tempfile::Builder::new()
            .prefix("binauthz-secrets-in-")
            .tempdir()
            .unwrap()
            .keep();
        let private = inputs.join("pkix.pem");
        let out = Command::new("openssl")
            .args([
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
            ])
            .output()
            .expect("openssl is required: apt-get install openssl");
        assert!(out.status.success());
        std::fs::write(&private, &out.stdout).unwrap();
        std::fs::set_permissions(
            &private,
            std::os::unix::fs::PermissionsExt::from_mode(0o600),
        )
        .unwrap();
        let pkix_private = String::from_utf8(out.stdout).unwrap();
        let public = Command::new("openssl")
            .args(["pkey", "-pubout", "-in"])
            .arg(&private)
            .output()
            .unwrap();
        assert!(public.status.success());
        let pkix_public = String::from_utf8(public.stdout).unwrap();
        let indented: String = pkix_public
            .lines()
            .map(|l| format!("          {l}\n"))
            .collect();
        let mut seed = format!(
            "keys:\n  - name: projects/demo/locations/global/keyRings/ring/cryptoKeys/ec\n    algorithm: EC_SIGN_P256_SHA256\nnotes:\n  - name: projects/demo/notes/n1\nattestors:\n  - name: projects/demo/attestors/a1\n    note: projects/demo/notes/n1\n    keyVersions: [{KEY}]\n  - name: projects/demo/attestors/local\n    note: projects/demo/notes/n1\n    pkixKeys:\n      - algorithm: ECDSA_P256_SHA256\n        pem: |\n{indented}serviceAccounts:\n  - email: {SA}\nauthorizedUsers:\n  - clientId: secrets-client\n    clientSecret: {CLIENT_SECRET}\n    refreshToken: {REFRESH_TOKEN}\n    principal: user:dev@example.com\nimages:\n"
        );
        for n in 0..images {
            seed.push_str(&format!(
                "  - repository: demo/apps/s{n}\n    tag: v1\n    content: secrets {n}\n"
            ));
        }
        let emu = Emulator::start(&seed);
        for token in [
            ENV_TOKEN,
            FILE_TOKEN,
            GCLOUD_FILE_TOKEN,
            REGISTRY_PASSWORD,
            HELPER_SECRET,
        ] {
            emu.ok(
                "POST",
                "emulator/tokens",
                Some(&json!({"token": token, "principal": "user:dev@example.com"})),
            );
        }
        let sa_key = emu.ok("GET", &format!("emulator/service-accounts/{SA}/key"), None);
        std::fs::write(inputs.join("sa.json"), sa_key.to_string()).unwrap();
        let user = json!({"type": "authorized_user", "client_id": "secrets-client",
            "client_secret": CLIENT_SECRET, "refresh_token": REFRESH_TOKEN,
            "token_uri": format!("{}token", emu.url)});
        std::fs::write(inputs.join("user.json"), user.to_string()).unwrap();
        std::fs::write(inputs.join("token"), format!("{FILE_TOKEN}\n")).unwrap();
        std::fs::write(inputs.join("gcloud-token"), GCLOUD_FILE_TOKEN).unwrap();
        // Registry credentials for the emulator's Artifact Registry: an auth.json entry, and a
        // docker config whose credHelpers entry names a helper on PATH.
        let basic = {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD
                .encode(format!("oauth2accesstoken:{REGISTRY_PASSWORD}"))
        };
        let host = emu.host();
        std::fs::write(
            inputs.join("auth.json"),
            json!({"auths": {host.as_str(): {"auth": basic}}}).to_string(),
        )
        .unwrap();
        std::fs::create_dir_all(inputs.join("docker")).unwrap();
        std::fs::write(
            inputs.join("docker/config.json"),
            json!({"credHelpers": {host.as_str(): "secrets"}}).to_string(),
        )
        .unwrap();
        std::fs::create_dir_all(inputs.join("bin")).unwrap();
        let helper = inputs.join("bin/docker-credential-secrets");
        std::fs::write(
            &helper,
            format!(
                "#!/bin/sh\nIFS= read -r server || true\nprintf '{{\"ServerURL\":\"%s\",\"Username\":\"oauth2accesstoken\",\"Secret\":\"{HELPER_SECRET}\"}}' \"$server\"\n"
            ),
        )
        .unwrap();
        std::fs::set_permissions(&helper, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();

        let mut secrets: Vec<(String, String)> = [
            ("GOOGLE_OAUTH_ACCESS_TOKEN", ENV_TOKEN),
            ("--access-token-file", FILE_TOKEN),
            ("CLOUDSDK_AUTH_ACCESS_TOKEN_FILE", GCLOUD_FILE_TOKEN),
            ("GITHUB_TOKEN", GITHUB_TOKEN),
            ("authorized_user client_secret", CLIENT_SECRET),
            ("authorized_user refresh_token", REFRESH_TOKEN),
            ("a minted access token", MINTED),
            ("the --registry-auth-file password", REGISTRY_PASSWORD),
            ("the credential helper's answer", HELPER_SECRET),
        ]
        .iter()
        .map(|(what, s)| (what.to_string(), s.to_string()))
        .collect();
        secrets.push(("the --registry-auth-file auth (base64)".into(), basic));
        secrets.extend(JWT_HEADERS.iter().map(|h| {
            (
                "a JWT (the service account's bearer)".to_string(),
                h.to_string(),
            )
        }));
        secrets.push((
            "service account private_key_id".into(),
            sa_key["private_key_id"].as_str().unwrap().to_string(),
        ));
        for line in pem_body_lines(sa_key["private_key"].as_str().unwrap()) {
            secrets.push(("service account private_key".into(), line));
        }
        for line in pem_body_lines(&pkix_private) {
            secrets.push(("--pkix-private-key".into(), line));
        }
        World {
            emu,
            inputs,
            secrets,
        }
    }

    fn image(&self, n: usize) -> String {
        format!("{}/demo/apps/s{n}:v1", self.emu.host())
    }
}

/// One way credentials or keys reach the process.
struct Path_ {
    name: &'static str,
    /// Variables, with `{in}` standing for the inputs directory.
    env: &'static [(&'static str, &'static str)],
    /// Arguments after the image, with `{in}` standing for the inputs directory.
    args: &'static [&'static str],
    /// A rule for the emulator (a hostile route), if any.
    fault: Option<fn() -> Value>,
    /// `--github-status` against a GitHub API that answers 401 echoing the token it was sent.
    hostile_github: bool,
    /// The exit code.
    code: i32,
    /// The echoed secret reaches our error, so stderr must show it replaced by `<redacted>`
    /// (proof the echo happened and was cleaned, not merely absent).
    redacted: bool,
}

const KMS_ARGS: &[&str] = &[
    "--attestor=projects/demo/attestors/a1",
    "--kms-key-version",
    KEY,
];

const PATHS: &[Path_] = &[
    Path_ {
        name: "--registry-auth-file: Basic through the registry's token service",
        env: &[("GOOGLE_OAUTH_ACCESS_TOKEN", ENV_TOKEN)],
        args: &[
            "--registry-auth-file",
            "{in}/auth.json",
            "--attestor=projects/demo/attestors/a1",
            "--kms-key-version",
            KEY,
        ],
        fault: None,
        hostile_github: false,
        code: 0,
        redacted: false,
    },
    Path_ {
        name: "credHelpers: a credential helper's answer",
        env: &[
            ("GOOGLE_OAUTH_ACCESS_TOKEN", ENV_TOKEN),
            ("DOCKER_CONFIG", "{in}/docker"),
            ("PATH", "{in}/bin:/usr/bin:/bin"),
        ],
        args: KMS_ARGS,
        fault: None,
        hostile_github: false,
        code: 0,
        redacted: false,
    },
    Path_ {
        name: "hostile registry: 403 echoing the --registry-auth-file password",
        env: &[("GOOGLE_OAUTH_ACCESS_TOKEN", ENV_TOKEN)],
        args: &[
            "--registry-auth-file",
            "{in}/auth.json",
            "--attestor=projects/demo/attestors/a1",
            "--kms-key-version",
            KEY,
        ],
        fault: Some(|| {
            json!({"route": "registry.*", "status": 403,
                "message": format!("denied: password {REGISTRY_PASSWORD} may not pull")})
        }),
        hostile_github: false,
        code: 3,
        redacted: true,
    },
    Path_ {
        name: "GOOGLE_OAUTH_ACCESS_TOKEN",
        env: &[("GOOGLE_OAUTH_ACCESS_TOKEN", ENV_TOKEN)],
        args: KMS_ARGS,
        fault: None,
        hostile_github: false,
        code: 0,
        redacted: false,
    },
    Path_ {
        name: "--access-token-file",
        env: &[],
        args: &[
            "--access-token-file",
            "{in}/token",
            "--attestor=projects/demo/attestors/a1",
            "--kms-key-version",
            KEY,
        ],
        fault: None,
        hostile_github: false,
        code: 0,
        redacted: false,
    },
    Path_ {
        name: "CLOUDSDK_AUTH_ACCESS_TOKEN_FILE",
        env: &[("CLOUDSDK_AUTH_ACCESS_TOKEN_FILE", "{in}/gcloud-token")],
        args: KMS_ARGS,
        fault: None,
        hostile_github: false,
        code: 0,
        redacted: false,
    },
    Path_ {
        name: "ADC: service-account key",
        env: &[("GOOGLE_APPLICATION_CREDENTIALS", "{in}/sa.json")],
        args: KMS_ARGS,
        fault: None,
        hostile_github: false,
        code: 0,
        redacted: false,
    },
    Path_ {
        name: "ADC: authorized_user",
        env: &[("GOOGLE_APPLICATION_CREDENTIALS", "{in}/user.json")],
        args: KMS_ARGS,
        fault: None,
        hostile_github: false,
        code: 0,
        redacted: false,
    },
    Path_ {
        name: "--pkix-private-key",
        env: &[("GOOGLE_OAUTH_ACCESS_TOKEN", ENV_TOKEN)],
        args: &[
            "--attestor=projects/demo/attestors/local",
            "--pkix-private-key",
            "{in}/pkix.pem",
        ],
        fault: None,
        hostile_github: false,
        code: 0,
        redacted: false,
    },
    Path_ {
        name: "hostile KMS: 401 echoing the bearer",
        env: &[("GOOGLE_OAUTH_ACCESS_TOKEN", ENV_TOKEN)],
        args: KMS_ARGS,
        fault: Some(|| {
            json!({"route": "kms.*", "status": 401, "times": 1,
                "message": format!("Request had invalid authentication credentials: Bearer {ENV_TOKEN}")})
        }),
        hostile_github: false,
        code: 3,
        redacted: true,
    },
    Path_ {
        name: "hostile attestors.get: 400 echoing the token file's token",
        env: &[],
        args: &[
            "--access-token-file",
            "{in}/token",
            "--attestor=projects/demo/attestors/a1",
            "--kms-key-version",
            KEY,
        ],
        fault: Some(|| {
            json!({"route": "binauthz.*", "status": 400,
                "message": format!("bad request from Authorization: Bearer {FILE_TOKEN}")})
        }),
        hostile_github: false,
        code: 2,
        redacted: true,
    },
    Path_ {
        name: "hostile create: 502 proxy page echoing the request",
        env: &[("GOOGLE_OAUTH_ACCESS_TOKEN", ENV_TOKEN)],
        args: KMS_ARGS,
        fault: Some(|| {
            json!({"route": "grafeas.occurrences.create", "status": 502,
                "body": format!("<html><body>502 Bad Gateway<pre>POST /v1/projects/demo/occurrences\nAuthorization: Bearer {ENV_TOKEN}\n</pre></body></html>")})
        }),
        hostile_github: false,
        code: 6,
        redacted: true,
    },
    Path_ {
        name: "hostile registry: 403 echoing the bearer",
        env: &[("GOOGLE_OAUTH_ACCESS_TOKEN", ENV_TOKEN)],
        args: KMS_ARGS,
        fault: Some(|| {
            json!({"route": "registry.*", "status": 403,
                "message": format!("denied: token {ENV_TOKEN} may not pull")})
        }),
        hostile_github: false,
        code: 3,
        redacted: true,
    },
    Path_ {
        name: "hostile token endpoint: 400 echoing the refresh grant",
        env: &[("GOOGLE_APPLICATION_CREDENTIALS", "{in}/user.json")],
        args: KMS_ARGS,
        fault: Some(|| {
            json!({"route": "oauth2.token", "status": 400,
                "message": format!("invalid_grant: client_secret={CLIENT_SECRET}&refresh_token={REFRESH_TOKEN}")})
        }),
        hostile_github: false,
        code: 3,
        redacted: false,
    },
    Path_ {
        name: "hostile KMS, ADC service-account key: 401 echoing the JWT bearer",
        env: &[("GOOGLE_APPLICATION_CREDENTIALS", "{in}/sa.json")],
        args: KMS_ARGS,
        fault: Some(|| {
            json!({"route": "kms.cryptoKeyVersions.asymmetricSign", "status": 401,
                "message": "Request had invalid authentication credentials: {authorization}"})
        }),
        hostile_github: false,
        code: 3,
        redacted: true,
    },
    Path_ {
        name: "hostile attestors.get, ADC authorized_user: 502 page echoing the minted token",
        env: &[("GOOGLE_APPLICATION_CREDENTIALS", "{in}/user.json")],
        args: KMS_ARGS,
        fault: Some(|| {
            json!({"route": "binauthz.attestors.get", "status": 502,
                "body": "<html>502 Bad Gateway; upstream request had Authorization: {authorization}</html>"})
        }),
        hostile_github: false,
        code: 6,
        redacted: true,
    },
    Path_ {
        name: "hostile GitHub API: 401 echoing GITHUB_TOKEN (--github-status)",
        env: &[
            ("GOOGLE_OAUTH_ACCESS_TOKEN", ENV_TOKEN),
            ("GITHUB_TOKEN", GITHUB_TOKEN),
            ("GITHUB_REPOSITORY", "octo/app"),
            ("GITHUB_SHA", "6dcb09b5b57875f334f61aebed695e2e4193db5e"),
        ],
        args: &[
            "--attestor=projects/demo/attestors/a1",
            "--kms-key-version",
            KEY,
            "--github-status",
        ],
        fault: None,
        hostile_github: true,
        // A token GitHub rejects is the caller's to fix: exit 3 (README, "Exit codes").
        code: 3,
        redacted: false,
    },
];

/// A GitHub API on loopback answering every request 401 with a body that quotes the request's
/// `Authorization` header, until the returned flag is set.
fn hostile_github() -> (String, std::sync::Arc<std::sync::atomic::AtomicBool>) {
    use std::io::{BufRead, BufReader, Write};
    use std::sync::atomic::Ordering;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stopped = stop.clone();
    std::thread::spawn(move || {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        while !stopped.load(Ordering::SeqCst) && std::time::Instant::now() < deadline {
            let Ok((stream, _)) = listener.accept() else {
                std::thread::sleep(std::time::Duration::from_millis(10));
                continue;
            };
            stream.set_nonblocking(false).unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut authorization = String::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
                    break;
                }
                if let Some((name, value)) = line.split_once(':') {
                    if name.eq_ignore_ascii_case("authorization") {
                        authorization = value.trim().to_string();
                    }
                }
            }
            let body = json!({"message": format!("Bad credentials: you sent {authorization}"),
                "documentation_url": "https://docs.github.com/rest"})
            .to_string();
            let mut stream = stream;
            let _ = write!(stream, "HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
        }
    });
    (url, stop)
}

/// Every file under `dir`, with its bytes.
fn files_under(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(files_under(&path));
        } else {
            found.push((path.clone(), std::fs::read(&path).unwrap()));
        }
    }
    found
}

/// Runs every path under every CI and scans what the process wrote; returns the leaks found.
fn leaks_of(world: &World, image: usize, path: &Path_, ci: Ci) -> Vec<String> {
    let emu = &world.emu;
    let out = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let inputs = world.inputs.display().to_string();
    let fill = |s: &str| s.replace("{in}", &inputs);
    if let Some(rule) = path.fault {
        emu.ok("POST", "emulator/faults", Some(&rule()));
    }
    let host = emu.host();
    let mut cmd = attest_command(emu, home.path());
    cmd.current_dir(out.path())
        .args(["--insecure-registry", &host, "--google-registry", &host])
        .arg("sign")
        .arg(world.image(image))
        .args(path.args.iter().map(|a| fill(a)));
    if let Ci::None = ci {
        cmd.arg("--outputs-file")
            .arg(out.path().join("outputs.json"));
    }
    for (k, v) in path.env {
        cmd.env(k, fill(v));
    }
    for (k, v) in ci_env(ci, out.path()) {
        cmd.env(k, v);
    }
    let github = path.hostile_github.then(hostile_github);
    if let Some((url, _)) = &github {
        cmd.env("GITHUB_API_URL", url);
    }
    let done = cmd.output().unwrap();
    if let Some((_, stop)) = github {
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
    }
    emu.ok("DELETE", "emulator/faults", None);
    let code = done.status.code().unwrap_or(-1);
    let mut written = vec![
        ("stdout".to_string(), done.stdout.clone()),
        ("stderr".to_string(), done.stderr.clone()),
    ];
    written.extend(
        files_under(out.path())
            .into_iter()
            .map(|(p, bytes)| (p.display().to_string(), bytes)),
    );
    let mut leaks = Vec::new();
    if code != path.code {
        leaks.push(format!(
            "{} under {ci:?}: exit {code}, expected {}: {}",
            path.name,
            path.code,
            String::from_utf8_lossy(&done.stderr)
        ));
    }
    if path.redacted && !String::from_utf8_lossy(&done.stderr).contains("<redacted>") {
        leaks.push(format!(
            "{} under {ci:?}: the echoed secret was not shown as <redacted>: {}",
            path.name,
            String::from_utf8_lossy(&done.stderr)
        ));
    }
    // The scan is only worth the places it read: after a success each CI's outputs must be
    // there (a run that stops before its images writes none).
    let expected: &[&str] = match ci {
        _ if code != 0 => &[],
        Ci::None => &["outputs.json"],
        Ci::GitHub => &["github_output", "step_summary"],
        Ci::GitLab => &["binauthz-attest.env"],
    };
    for name in expected {
        let file = out.path().join(name);
        assert!(
            file.is_file() && std::fs::metadata(&file).unwrap().len() > 0,
            "{} under {ci:?}: {name} was not written; wrote {:?}",
            path.name,
            files_under(out.path())
                .iter()
                .map(|(p, _)| p.display().to_string())
                .collect::<Vec<_>>()
        );
    }
    for (place, bytes) in &written {
        let text = String::from_utf8_lossy(bytes);
        for line in text.lines() {
            // The runner consumes `::add-mask::VALUE`: the one place a secret is meant to be.
            if matches!(ci, Ci::GitHub) && line.starts_with("::add-mask::") {
                continue;
            }
            for (what, secret) in &world.secrets {
                if line.contains(secret.as_str()) {
                    leaks.push(format!(
                        "{} under {ci:?}: {what} in {place}: {line}",
                        path.name
                    ));
                }
            }
        }
    }
    leaks
}

#[test]
fn no_secret_reaches_any_byte_the_process_writes() {
    let cis = [Ci::None, Ci::GitHub, Ci::GitLab];
    let world = World::start(PATHS.len() * cis.len());
    let mut leaks = Vec::new();
    let mut n = 0;
    for path in PATHS {
        for ci in cis {
            leaks.extend(leaks_of(&world, n, path, ci));
            n += 1;
        }
    }
    let _ = std::fs::remove_dir_all(&world.inputs);
    assert!(
        leaks.is_empty(),
        "{} leaks:\n{}",
        leaks.len(),
        leaks.join("\n")
    );
}
