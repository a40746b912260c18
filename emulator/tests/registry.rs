//! The emulated Artifact Registry as real clients see it: skopeo pushes and reads OCI, Docker
//! schema 2 and multi-arch images with a Google token, GAR's challenge and token exchange, a
//! Google token as the bearer (one HEAD per digest), digest checks, denials, faults and counters.

mod common;

use common::oci::{sha256, skopeo, Layout, DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST};
use common::{Emulator, TOKEN};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json";

struct Response {
    /// `METHOD path`, for failure messages.
    request: String,
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
    /// The first registry error code of the body.
    fn code(&self) -> String {
        self.json()["errors"][0]["code"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
    /// Asserts the status and the first registry error code together.
    #[track_caller]
    fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(
            (self.status, self.code().as_str()),
            (status, code),
            "{}: {}",
            self.request,
            String::from_utf8_lossy(&self.body)
        );
    }
}

/// One request to the emulator with exactly these headers and body.
fn send(
    emu: &Emulator,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Response {
    let mut req = ureq::request(
        method,
        &format!("{}{}", emu.url, path.trim_start_matches('/')),
    );
    for (name, value) in headers {
        req = req.set(name, value);
    }
    let result = match body {
        Some(b) => req.send_bytes(b),
        None => req.call(),
    };
    let response = match result {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{method} {path}: {e}"),
    };
    let status = response.status();
    let headers = response
        .headers_names()
        .into_iter()
        .map(|n| {
            let v = response.header(&n).unwrap_or_default().to_string();
            (n, v)
        })
        .collect();
    let mut body = Vec::new();
    std::io::Read::read_to_end(&mut response.into_reader(), &mut body).expect("body");
    Response {
        request: format!("{method} {path}"),
        status,
        headers,
        body,
    }
}

/// A request with only this `Authorization` value and no body.
fn authed(emu: &Emulator, method: &str, path: &str, authorization: &str) -> Response {
    send(emu, method, path, &[("Authorization", authorization)], None)
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn basic(user: &str, password: &str) -> String {
    use base64::Engine;
    let pair = format!("{user}:{password}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

/// Pushes one blob through a chunked upload; returns its digest.
fn push_blob(emu: &Emulator, repo: &str, bytes: &[u8]) -> String {
    let auth = bearer(TOKEN);
    let digest = sha256(bytes);
    let r = send(
        emu,
        "POST",
        &format!("v2/{repo}/blobs/uploads/?digest={digest}"),
        &[("Authorization", &auth)],
        Some(bytes),
    );
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    digest
}

/// Pushes a one-layer OCI image under `tag`; returns the manifest's bytes and digest.
fn push_image(emu: &Emulator, repo: &str, tag: &str, extra: Value) -> (Vec<u8>, String) {
    let config = push_blob(emu, repo, b"{}");
    let layer = push_blob(emu, repo, tag.as_bytes());
    let mut manifest = json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": 2},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer, "size": tag.len()}]});
    if let (Some(m), Value::Object(extra)) = (manifest.as_object_mut(), extra) {
        m.extend(extra);
    }
    let bytes = serde_json::to_vec(&manifest).unwrap();
    let auth = bearer(TOKEN);
    let r = send(
        emu,
        "PUT",
        &format!("v2/{repo}/manifests/{tag}"),
        &[("Authorization", &auth), ("Content-Type", OCI_MANIFEST)],
        Some(&bytes),
    );
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let digest = sha256(&bytes);
    assert_eq!(r.header("docker-content-digest"), Some(digest.as_str()));
    (bytes, digest)
}

fn requests(emu: &Emulator) -> Vec<Value> {
    emu.ok("GET", "emulator/requests", None)["requests"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn calls(emu: &Emulator) -> u64 {
    let counters = emu.ok("GET", "emulator/counters", None);
    counters["routes"]
        .as_object()
        .map(|routes| {
            routes
                .values()
                .map(|r| r["calls"].as_u64().unwrap_or(0))
                .sum()
        })
        .unwrap_or(0)
}

fn skopeo_ok(args: &[&str]) -> String {
    let out = skopeo(args);
    assert!(
        out.status.success(),
        "skopeo {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn skopeo_copies_oci_docker_and_multi_arch_images_with_a_google_token_and_reads_them_back() {
    let emu = Emulator::start("");
    let creds = format!("oauth2accesstoken:{TOKEN}");
    let inspect_raw = |reference: &str| {
        skopeo_ok(&[
            "inspect",
            "--raw",
            "--tls-verify=false",
            "--creds",
            &creds,
            reference,
        ])
    };
    let cases = [
        ("oci", Layout::image("oci image"), &[][..], OCI_MANIFEST),
        (
            "docker",
            Layout::image("docker image"),
            &["--format", "v2s2"][..],
            DOCKER_MANIFEST,
        ),
        (
            "multi",
            Layout::multi_arch("multi"),
            &["--all"][..],
            OCI_INDEX,
        ),
    ];
    for (tag, layout, flags, media_type) in &cases {
        let reference = format!("docker://{}/demo/containers/app:{tag}", emu.host());
        emu.ok("POST", "emulator/reset", None);
        let mut args = vec![
            "copy",
            "--quiet",
            "--insecure-policy",
            "--dest-tls-verify=false",
            "--dest-creds",
            &creds,
        ];
        args.extend_from_slice(flags);
        let source = format!("oci:{}", layout.path().display());
        args.push(&source);
        args.push(&reference);
        skopeo_ok(&args);
        let log = requests(&emu);
        eprintln!(
            "skopeo copy {tag}: {} registry requests: {:?}",
            log.len(),
            log.iter()
                .map(|e| e["route"].as_str().unwrap_or_default())
                .collect::<Vec<_>>()
        );
        // skopeo trades the Google token for a registry token, then uses that.
        assert!(log
            .iter()
            .any(|e| e["route"] == "registry.token" && e["credential"] == "google-token"));
        assert!(log.iter().any(|e| e["route"] == "registry.manifests.put"
            && e["credential"] == "registry-token"
            && e["status"] == 201));

        let head = send(
            &emu,
            "HEAD",
            &format!("v2/demo/containers/app/manifests/{tag}"),
            &[("Authorization", &bearer(TOKEN)), ("Accept", ACCEPT)],
            None,
        );
        assert_eq!(head.status, 200);
        assert_eq!(head.header("content-type"), Some(*media_type));
        let digest = head.header("docker-content-digest").unwrap().to_string();

        let raw = inspect_raw(&reference);
        assert_eq!(sha256(raw.as_bytes()), digest, "stored bytes changed");
        assert_eq!(
            head.header("content-length"),
            Some(raw.len().to_string().as_str())
        );
        let inspected: Value = serde_json::from_str(&skopeo_ok(&[
            "inspect",
            "--tls-verify=false",
            "--creds",
            &creds,
            &reference,
        ]))
        .unwrap();
        // skopeo reports the top-level digest, the index's for a multi-arch image.
        assert_eq!(inspected["Digest"], digest.as_str(), "{inspected}");
        if *media_type == OCI_INDEX {
            let index: Value = serde_json::from_str(&raw).unwrap();
            let children = index["manifests"].as_array().unwrap();
            assert_eq!(children.len(), 2);
            for child in children {
                let child = child["digest"].as_str().unwrap();
                let path = format!("v2/demo/containers/app/manifests/{child}");
                let r = authed(&emu, "HEAD", &path, &bearer(TOKEN));
                assert_eq!(r.header("docker-content-digest"), Some(child));
            }
        }
    }
    // The Docker copy is really schema 2: its raw manifest says so.
    let raw = inspect_raw(&format!(
        "docker://{}/demo/containers/app:docker",
        emu.host()
    ));
    assert!(raw.contains(DOCKER_MANIFEST));
    // And the multi-arch image copies back out whole, blobs and all, under the same digest.
    let back = tempfile::tempdir().unwrap();
    let multi = format!("docker://{}/demo/containers/app:multi", emu.host());
    let dest = format!("oci:{}", back.path().display());
    skopeo_ok(&[
        "copy",
        "--quiet",
        "--all",
        "--insecure-policy",
        "--src-tls-verify=false",
        "--src-creds",
        &creds,
        &multi,
        &dest,
    ]);
    let index: Value =
        serde_json::from_slice(&std::fs::read(back.path().join("index.json")).unwrap()).unwrap();
    let head = authed(
        &emu,
        "HEAD",
        "v2/demo/containers/app/manifests/multi",
        &bearer(TOKEN),
    );
    assert_eq!(
        index["manifests"][0]["digest"].as_str(),
        head.header("docker-content-digest")
    );
    let tags = authed(
        &emu,
        "GET",
        "v2/demo/containers/app/tags/list",
        &bearer(TOKEN),
    );
    assert_eq!(tags.json()["tags"], json!(["docker", "multi", "oci"]));
}

#[test]
fn skopeo_without_credentials_or_with_a_wrong_token_is_refused() {
    let emu = Emulator::start("");
    let layout = Layout::image("refused");
    let source = format!("oci:{}", layout.path().display());
    let reference = format!("docker://{}/demo/containers/app:v1", emu.host());
    let base = ["copy", "--insecure-policy", "--dest-tls-verify=false"];
    let anonymous = skopeo(&[&base[..], &[source.as_str(), reference.as_str()]].concat());
    assert!(!anonymous.status.success());
    let stderr = String::from_utf8_lossy(&anonymous.stderr);
    assert!(stderr.contains("unauthorized"), "{stderr}");
    let wrong = skopeo(
        &[
            &base[..],
            &[
                "--dest-creds",
                "oauth2accesstoken:not-a-token",
                source.as_str(),
                reference.as_str(),
            ],
        ]
        .concat(),
    );
    assert!(!wrong.status.success());
    let statuses: Vec<u64> = requests(&emu)
        .iter()
        .filter(|e| e["route"] == "registry.token")
        .map(|e| e["status"].as_u64().unwrap())
        .collect();
    assert!(!statuses.is_empty() && statuses.iter().all(|s| *s == 401));
    let tags = authed(
        &emu,
        "GET",
        "v2/demo/containers/app/tags/list",
        &bearer(TOKEN),
    );
    tags.assert_error(404, "NAME_UNKNOWN");
}

#[test]
fn the_base_challenges_like_gar_and_the_token_endpoint_takes_only_basic_google_tokens() {
    let emu = Emulator::start("");
    let anonymous = send(&emu, "GET", "v2/", &[], None);
    anonymous.assert_error(401, "UNAUTHORIZED");
    assert_eq!(
        anonymous.header("www-authenticate").unwrap(),
        format!(
            "Bearer realm=\"http://{0}/v2/token\",service=\"{0}\"",
            emu.host()
        )
    );
    let google = authed(&emu, "GET", "v2/", &bearer(TOKEN));
    assert_eq!((google.status, google.json()), (200, json!({})));
    let basic_direct = authed(&emu, "GET", "v2/", &basic("oauth2accesstoken", TOKEN));
    assert_eq!(basic_direct.status, 200);

    let token_path = format!(
        "v2/token?service={}&scope=repository:demo/containers/app:pull,push",
        emu.host()
    );
    for refused in [
        None,
        Some(basic("oauth2accesstoken", "not-a-token")),
        Some(basic("someone", TOKEN)),
        Some(bearer(TOKEN)),
    ] {
        let headers: Vec<(&str, &str)> = refused
            .iter()
            .map(|v| ("Authorization", v.as_str()))
            .collect();
        let r = send(&emu, "GET", &token_path, &headers, None);
        assert_eq!(
            (r.status, r.code().as_str()),
            (401, "UNAUTHORIZED"),
            "{refused:?}"
        );
        assert!(r.header("www-authenticate").is_some());
    }
    let granted = authed(&emu, "GET", &token_path, &basic("oauth2accesstoken", TOKEN)).json();
    let registry_token = granted["token"].as_str().unwrap().to_string();
    assert_eq!(granted["access_token"], registry_token.as_str());
    assert_eq!(granted["expires_in"], 3600);
    emu.ok("POST", "emulator/reset", None);
    let r = authed(&emu, "GET", "v2/", &bearer(&registry_token));
    assert_eq!(r.status, 200);
    // A registry token is not a Google token: the Google APIs refuse it.
    assert_eq!(
        emu.call_as(Some(&registry_token), "GET", "v1/projects/demo/notes", None)
            .0,
        401
    );
    let log = requests(&emu);
    assert_eq!(log[0]["credential"], "registry-token");
    assert_eq!(log[0]["auth"], "bearer");
    assert_eq!(log[1]["credential"], "invalid");
    let text = serde_json::to_string(&log).unwrap();
    assert!(!text.contains(&registry_token) && !text.contains(TOKEN));
}

#[test]
fn a_google_token_as_the_bearer_resolves_a_digest_in_one_head() {
    let emu = Emulator::start("");
    let (bytes, digest) = push_image(&emu, "demo/containers/app", "v1", json!({}));
    emu.ok("POST", "emulator/reset", None);
    let started = Instant::now();
    let head = send(
        &emu,
        "HEAD",
        "v2/demo/containers/app/manifests/v1",
        &[("Authorization", &bearer(TOKEN)), ("Accept", ACCEPT)],
        None,
    );
    let elapsed = started.elapsed();
    eprintln!("manifest HEAD with a Google bearer: {elapsed:?}");
    assert_eq!(head.status, 200);
    assert_eq!(head.header("docker-content-digest"), Some(digest.as_str()));
    assert_eq!(head.header("content-type"), Some(OCI_MANIFEST));
    assert_eq!(
        head.header("content-length"),
        Some(bytes.len().to_string().as_str())
    );
    assert!(head.body.is_empty());
    let log = requests(&emu);
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(log[0]["route"], "registry.manifests.head");
    assert_eq!(log[0]["credential"], "google-token");
    assert_eq!(log[0]["auth"], "bearer");
    // GET by digest answers the same bytes.
    let path = format!("v2/demo/containers/app/manifests/{digest}");
    let get = authed(&emu, "GET", &path, &bearer(TOKEN));
    assert_eq!(get.body, bytes);
}

#[test]
fn uploads_check_digests_in_chunks_monolithic_and_mounted() {
    let emu = Emulator::start("");
    let auth = bearer(TOKEN);
    let repo = "v2/demo/containers/app";
    let uploads = format!("{repo}/blobs/uploads/");
    let hello_world = sha256(b"hello world");
    let start = authed(&emu, "POST", &uploads, &auth);
    assert_eq!(start.status, 202);
    assert_eq!(start.header("range"), Some("0-0"));
    let uuid = start.header("docker-upload-uuid").unwrap().to_string();
    let location = start.header("location").unwrap().to_string();
    assert_eq!(location, format!("{}{repo}/blobs/uploads/{uuid}", emu.url));
    let path = location.trim_start_matches(&emu.url).to_string();
    let chunk = [("Authorization", auth.as_str()), ("Content-Range", "0-4")];
    let patched = send(&emu, "PATCH", &path, &chunk, Some(b"hello"));
    assert_eq!(
        (patched.status, patched.header("range")),
        (202, Some("0-4"))
    );
    let out_of_order = send(&emu, "PATCH", &path, &chunk, Some(b"again"));
    assert_eq!(out_of_order.status, 416);
    let done = send(
        &emu,
        "PUT",
        &format!("{path}?digest={hello_world}"),
        &[("Authorization", &auth)],
        Some(b" world"),
    );
    assert_eq!(done.status, 201, "{}", String::from_utf8_lossy(&done.body));
    assert_eq!(
        done.header("docker-content-digest"),
        Some(hello_world.as_str())
    );
    let blob = authed(&emu, "GET", &format!("{repo}/blobs/{hello_world}"), &auth);
    assert_eq!(blob.body, b"hello world");

    // A digest that is not the content's.
    let start = authed(&emu, "POST", &uploads, &auth);
    let path = start
        .header("location")
        .unwrap()
        .trim_start_matches(&emu.url)
        .to_string();
    let wrong = send(
        &emu,
        "PUT",
        &format!("{path}?digest={}", sha256(b"something else")),
        &[("Authorization", &auth)],
        Some(b"content"),
    );
    wrong.assert_error(400, "DIGEST_INVALID");
    let monolithic_wrong = send(
        &emu,
        "POST",
        &format!("{uploads}?digest={}", sha256(b"x")),
        &[("Authorization", &auth)],
        Some(b"y"),
    );
    assert_eq!(monolithic_wrong.code(), "DIGEST_INVALID");
    let missing = format!("{repo}/blobs/{}", sha256(b"content"));
    assert_eq!(authed(&emu, "HEAD", &missing, &auth).status, 404);

    // Mounting from a repository that holds the blob links it; otherwise a plain upload starts.
    for (to, from, status) in [("other", "app", 201), ("third", "nothing", 202)] {
        let path = format!(
            "v2/demo/containers/{to}/blobs/uploads/?mount={hello_world}&from=demo/containers/{from}"
        );
        assert_eq!(authed(&emu, "POST", &path, &auth).status, status, "{path}");
    }
}

#[test]
fn manifests_are_checked_tags_page_and_referrers_list_by_subject() {
    let emu = Emulator::start("");
    let auth = bearer(TOKEN);
    let (_, subject) = push_image(&emu, "demo/containers/app", "v1", json!({}));
    for tag in ["v2", "v3", "v4"] {
        push_image(&emu, "demo/containers/app", tag, json!({}));
    }
    let absent = json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha256(b"absent"), "size": 6},
        "layers": []});
    let absent = serde_json::to_vec(&absent).unwrap();
    let put = [
        ("Authorization", auth.as_str()),
        ("Content-Type", OCI_MANIFEST),
    ];
    let bad = "v2/demo/containers/app/manifests/bad";
    send(&emu, "PUT", bad, &put, Some(&absent)).assert_error(400, "MANIFEST_BLOB_UNKNOWN");
    let misdigested = format!("v2/demo/containers/app/manifests/{}", sha256(b"other"));
    let r = send(&emu, "PUT", &misdigested, &put, Some(&absent));
    assert_eq!(r.code(), "DIGEST_INVALID");
    for (path, status, code) in [
        ("containers/app/manifests/nope", 404, "MANIFEST_UNKNOWN"),
        ("containers/nope/manifests/v1", 404, "NAME_UNKNOWN"),
        ("app/manifests/v1", 400, "NAME_INVALID"),
    ] {
        authed(&emu, "GET", &format!("v2/demo/{path}"), &auth).assert_error(status, code);
    }

    let page = authed(&emu, "GET", "v2/demo/containers/app/tags/list?n=2", &auth);
    assert_eq!(page.json()["tags"], json!(["v1", "v2"]));
    assert_eq!(
        page.header("link"),
        Some("</v2/demo/containers/app/tags/list?n=2&last=v2>; rel=\"next\"")
    );
    let next = "v2/demo/containers/app/tags/list?n=2&last=v2";
    let next = authed(&emu, "GET", next, &auth);
    assert_eq!(next.json()["tags"], json!(["v3", "v4"]));
    assert_eq!(next.header("link"), None);

    // A deleted tag is gone.
    for (method, status) in [("DELETE", 202), ("HEAD", 404)] {
        let r = authed(&emu, method, "v2/demo/containers/app/manifests/v4", &auth);
        assert_eq!(r.status, status, "{method}");
    }

    let (_, referrer) = push_image(
        &emu,
        "demo/containers/app",
        "sig",
        json!({"artifactType": "application/vnd.dev.cosign.artifact.sig.v1+json",
               "subject": {"mediaType": OCI_MANIFEST, "digest": subject, "size": 1}}),
    );
    let referrers = format!("v2/demo/containers/app/referrers/{subject}");
    let index = authed(&emu, "GET", &referrers, &auth);
    assert_eq!(index.header("content-type"), Some(OCI_INDEX));
    let manifests = &index.json()["manifests"];
    assert_eq!(manifests.as_array().unwrap().len(), 1, "{manifests}");
    assert_eq!(manifests[0]["digest"], referrer.as_str());
    assert_eq!(
        manifests[0]["artifactType"],
        "application/vnd.dev.cosign.artifact.sig.v1+json"
    );
}

#[test]
fn a_denied_project_answers_403_denied() {
    let emu = Emulator::start(
        "  - token: intruder-token\n    principal: user:intruder@example.com\ndeny:\n  - principal: user:intruder@example.com\n    resource: projects/locked\n",
    );
    push_image(&emu, "locked/containers/app", "v1", json!({}));
    let intruder = bearer("intruder-token");
    // A HEAD answers no body, so only its status is checked.
    for (method, project, rest, status, code) in [
        ("HEAD", "locked", "manifests/v1", 403, None),
        ("GET", "locked", "manifests/v1", 403, Some("DENIED")),
        ("GET", "locked", "tags/list", 403, Some("DENIED")),
        ("POST", "locked", "blobs/uploads/", 403, Some("DENIED")),
        // Other projects stay open to the same principal.
        ("GET", "open", "tags/list", 404, Some("NAME_UNKNOWN")),
    ] {
        let path = format!("v2/{project}/containers/app/{rest}");
        let r = authed(&emu, method, &path, &intruder);
        match code {
            Some(code) => r.assert_error(status, code),
            None => assert_eq!(r.status, status, "{method} {path}"),
        }
    }
}

#[test]
fn latency_and_a_503_on_the_manifest_head_show_in_the_counters() {
    let emu = Emulator::start_with(
        "",
        &[
            "--latency",
            "registry.manifests.head=150",
            "--fault",
            "registry.manifests.head=503x1",
            "--fault",
            "registry.manifests.get=503x1",
        ],
    );
    push_image(&emu, "demo/containers/app", "v1", json!({}));
    let auth = bearer(TOKEN);
    let path = "v2/demo/containers/app/manifests/v1";
    let started = Instant::now();
    assert_eq!(authed(&emu, "HEAD", path, &auth).status, 503);
    assert_eq!(authed(&emu, "HEAD", path, &auth).status, 200);
    assert!(started.elapsed() >= Duration::from_millis(300));
    let get = authed(&emu, "GET", path, &auth);
    get.assert_error(503, "UNAVAILABLE");
    assert!(
        get.json().get("error").is_none(),
        "Google's shape on a registry route"
    );
    let counters = emu.ok("GET", "emulator/counters", None);
    let head = &counters["routes"]["registry.manifests.head"];
    assert_eq!(head["calls"], 2);
    assert_eq!(head["statuses"], json!({"200": 1, "503": 1}));
    let millis: Vec<u64> = requests(&emu)
        .iter()
        .filter(|e| e["route"] == "registry.manifests.head")
        .map(|e| e["millis"].as_u64().unwrap())
        .collect();
    assert!(millis.iter().all(|m| *m >= 150), "{millis:?}");
    assert!(calls(&emu) > 2);
}
