//! The lookup order and key matching, from literals.

use super::*;

fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
    move |name| {
        vars.iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.to_string())
    }
}

fn paths(c: &Credentials) -> Vec<String> {
    c.files()
        .iter()
        .map(|f| f.path.display().to_string())
        .collect()
}

#[test]
fn default_files_come_in_the_container_tools_order() {
    let c = Credentials::from_env(
        None,
        env(&[
            ("HOME", "/home/u"),
            ("XDG_RUNTIME_DIR", "/run/user/1000"),
            ("XDG_CONFIG_HOME", "/cfg"),
            ("DOCKER_CONFIG", "/dc"),
        ]),
    );
    assert_eq!(
        paths(&c),
        [
            "/run/user/1000/containers/auth.json",
            "/cfg/containers/auth.json",
            "/dc/config.json",
            "/home/u/.dockercfg",
        ]
    );
    assert!(c.files()[3].legacy && !c.files()[2].legacy);
    let c = Credentials::from_env(None, env(&[("HOME", "/home/u")]));
    let p = paths(&c);
    assert!(p[0].starts_with("/run/containers/") && p[0].ends_with("/auth.json"));
    assert_eq!(
        &p[1..],
        [
            "/home/u/.config/containers/auth.json",
            "/home/u/.docker/config.json",
            "/home/u/.dockercfg"
        ]
    );
}

#[test]
fn a_named_file_is_the_only_one_read_and_the_flag_beats_the_variable() {
    let vars = [
        ("HOME", "/home/u"),
        ("REGISTRY_AUTH_FILE", "/env/auth.json"),
    ];
    let c = Credentials::from_env(None, env(&vars));
    assert_eq!(paths(&c), ["/env/auth.json"]);
    assert_eq!(c.files()[0].named_by, "REGISTRY_AUTH_FILE");
    let c = Credentials::from_env(Some("/flag/auth.json".into()), env(&vars));
    assert_eq!(paths(&c), ["/flag/auth.json"]);
    assert!(c.where_to_put("r.io").contains("/flag/auth.json"));
    // An empty variable is unset, as the tools treat it.
    let c = Credentials::from_env(None, env(&[("HOME", "/h"), ("REGISTRY_AUTH_FILE", "")]));
    assert_eq!(c.files().len(), 4);
}

#[test]
fn namespaced_keys_are_tried_most_specific_first() {
    assert_eq!(
        lookup_order("my-registry.local", "namespace/user/image", false),
        [
            "my-registry.local/namespace/user/image",
            "my-registry.local/namespace/user",
            "my-registry.local/namespace",
            "my-registry.local",
        ]
    );
    assert_eq!(lookup_order("r.io:5000", "a", true), ["r.io:5000"]);
}

fn file(legacy: bool) -> AuthFile {
    AuthFile {
        path: "/f/auth.json".into(),
        legacy,
        named_by: "",
    }
}

fn b64(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(text)
}

fn found(json: &str, registry: &str, repository: &str) -> Result<Option<Found>> {
    let config = parse(json.as_bytes(), false).unwrap();
    entry_match(&config, &file(false), registry, repository)
}

fn basic(found: Option<Found>) -> Option<(String, String, String)> {
    let found = found?;
    let key = match found.source {
        Source::File { key, .. } => key,
        Source::Helper { program, .. } => program,
    };
    match found.credential {
        Credential::Basic { username, password } => {
            Some((key, username, password.secret().to_string()))
        }
        other => panic!("not basic: {other:?}"),
    }
}

#[test]
fn the_most_specific_auths_entry_wins() {
    let json = format!(
        r#"{{"auths": {{
            "nexus.corp/team/app": {{"auth": "{}"}},
            "nexus.corp/team": {{"auth": "{}"}},
            "nexus.corp": {{"auth": "{}"}}
        }}}}"#,
        b64("app:pw-app-000"),
        b64("team:pw-team-000"),
        b64("host:pw-host-000")
    );
    let user = |repo| basic(found(&json, "nexus.corp", repo).unwrap()).unwrap().1;
    assert_eq!(user("team/app"), "app");
    assert_eq!(user("team/other"), "team");
    assert_eq!(user("teamx/app"), "host");
    assert_eq!(user("other"), "host");
    assert!(found(&json, "other.corp", "team/app").unwrap().is_none());
}

#[test]
fn url_keys_and_docker_hub_names_match_by_host() {
    let json = format!(
        r#"{{"auths": {{
            "https://index.docker.io/v1/": {{"auth": "{}"}},
            "https://harbor.corp:8443/v2/": {{"auth": "{}"}},
            "http://plain.corp": {{"username": "u", "password": "pw-plain-000"}}
        }}}}"#,
        b64("hub:pw-hub-000"),
        b64("harbor:pw-harbor-000")
    );
    for hub in ["docker.io", "index.docker.io", "registry-1.docker.io"] {
        let (key, user, _) = basic(found(&json, hub, "library/nginx").unwrap()).unwrap();
        assert_eq!((key.as_str(), user.as_str()), (DOCKER_HUB_SERVER, "hub"));
    }
    let (_, user, _) = basic(found(&json, "harbor.corp:8443", "p/a").unwrap()).unwrap();
    assert_eq!(user, "harbor");
    let (_, user, pw) = basic(found(&json, "plain.corp", "a").unwrap()).unwrap();
    assert_eq!((user.as_str(), pw.as_str()), ("u", "pw-plain-000"));
    // A port is part of the host.
    assert!(found(&json, "harbor.corp", "p/a").unwrap().is_none());
    // A key with a path but no scheme is a namespace, not a host.
    let json = format!(
        r#"{{"auths": {{"r.io/v1/": {{"auth": "{}"}}}}}}"#,
        b64("a:b")
    );
    assert!(found(&json, "r.io", "x").unwrap().is_none());
}

#[test]
fn entry_forms_decode_as_docker_writes_them() {
    let one = |entry: &str| {
        let json = format!(r#"{{"auths": {{"r.io": {entry}}}}}"#);
        found(&json, "r.io", "a/b")
    };
    // Unpadded base64 and a trailing NUL, as some writers leave them.
    let (_, user, pw) = basic(
        one(&format!(
            r#"{{"auth": "{}"}}"#,
            b64("u:p:w\0").trim_end_matches('=')
        ))
        .unwrap(),
    )
    .unwrap();
    assert_eq!((user.as_str(), pw.as_str()), ("u", "p:w"));
    let token = one(r#"{"auth": "", "identitytoken": "refresh-token-abc"}"#)
        .unwrap()
        .unwrap();
    assert!(
        matches!(&token.credential, Credential::IdentityToken(t) if t.secret() == "refresh-token-abc")
    );
    let bearer = one(r#"{"registrytoken": "bearer-token-abc"}"#)
        .unwrap()
        .unwrap();
    assert!(matches!(&bearer.credential, Credential::RegistryToken(_)));
    // docker login's marker beside a helper: no credential.
    assert!(one("{}").unwrap().is_none());
    assert!(one(r#"{"auth": ""}"#).unwrap().is_none());
    for bad in [
        r#"{"auth": "not base64!"}"#,
        &format!(r#"{{"auth": "{}"}}"#, b64("no-colon")),
        r#"{"username": "u"}"#,
    ] {
        let e = one(bad).unwrap_err();
        assert_eq!(e.exit_code(), 2, "{bad}");
        assert!(e.to_string().contains("/f/auth.json"), "{e}");
        assert!(e.to_string().contains("r.io"), "{e}");
    }
}

#[test]
fn a_malformed_file_says_where_and_never_what() {
    let e = parse(
        br#"{"auths": {"r.io": {"auth": "c2VjcmV0OnNlY3JldA=="}"#,
        false,
    )
    .unwrap_err();
    assert!(e.contains("line 1"), "{e}");
    assert!(!e.contains("c2VjcmV0"), "{e}");
    let e = parse(br#"{"auths": {"r.io": {"auth": 5}}}"#, false).unwrap_err();
    assert!(e.starts_with("is not in the auth file format"), "{e}");
    // The legacy file is the auths map itself.
    let legacy = parse(br#"{"https://r.io/v1/": {"auth": "YTpi"}}"#, true).unwrap();
    assert!(entry_match(&legacy, &file(true), "r.io", "x")
        .unwrap()
        .is_some());
}

#[test]
fn helpers_are_named_per_registry_and_the_store_skips_google_registries() {
    let config = parse(
        br#"{"credHelpers": {"nexus.corp": "corp", "https://index.docker.io/v1/": "hub"},
             "credsStore": "desktop"}"#,
        false,
    )
    .unwrap();
    let f = file(false);
    let helper = |r| cred_helper(&config, &f, r).unwrap();
    assert_eq!(
        helper("nexus.corp").as_deref(),
        Some("docker-credential-corp")
    );
    assert_eq!(
        helper("docker.io").as_deref(),
        Some("docker-credential-hub")
    );
    assert_eq!(helper("other.corp"), None);
    assert_eq!(
        creds_store(&config, &f, "r.io", false).unwrap().as_deref(),
        Some("docker-credential-desktop")
    );
    assert_eq!(creds_store(&config, &f, "r.io", true).unwrap(), None);
    assert_eq!(helper_server_url("docker.io"), DOCKER_HUB_SERVER);
    assert_eq!(helper_server_url("nexus.corp:8443"), "nexus.corp:8443");
    let config = parse(br#"{"credHelpers": {"r.io": "../../bin/sh"}}"#, false).unwrap();
    assert_eq!(cred_helper(&config, &f, "r.io").unwrap_err().exit_code(), 2);
}

#[tokio::test]
async fn the_first_file_with_a_credential_wins_and_a_missing_named_file_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("first.json");
    let second = dir.path().join("second.json");
    std::fs::write(&first, br#"{"auths": {"other.io": {"auth": "YTpi"}}}"#).unwrap();
    std::fs::write(
        &second,
        format!(
            r#"{{"auths": {{"r.io": {{"auth": "{}"}}}}}}"#,
            b64("second:pw-2nd-0000")
        ),
    )
    .unwrap();
    let files = |paths: &[&Path]| Credentials {
        files: paths
            .iter()
            .map(|p| AuthFile {
                path: p.to_path_buf(),
                legacy: false,
                named_by: "",
            })
            .collect(),
        explicit: false,
    };
    let missing = dir.path().join("missing.json");
    let c = files(&[&missing, &first, &second]);
    let got = c.lookup("r.io", "a", false).await.unwrap().unwrap();
    assert!(matches!(got.source, Source::File { ref path, .. } if path == &second));
    let named = Credentials::from_env(Some(missing.clone()), env(&[]));
    let e = named.lookup("r.io", "a", false).await.unwrap_err();
    assert_eq!(e.exit_code(), 2);
    assert!(e.to_string().contains("--registry-auth-file"), "{e}");
    // A file that names a helper that is not installed: a named error.
    std::fs::write(&first, br#"{"credHelpers": {"r.io": "absent-h28"}}"#).unwrap();
    let e = files(&[&first, &second])
        .lookup("r.io", "a", false)
        .await
        .unwrap_err();
    assert_eq!(e.exit_code(), 2);
    let text = e.to_string();
    assert!(
        text.contains("docker-credential-absent-h28") && text.contains("r.io"),
        "{text}"
    );
    assert!(text.contains("first.json"), "{text}");
}

/// A helper script at an absolute path (the protocol's `get`), answering with `body`.
fn script(dir: &Path, name: &str, body: &str) -> String {
    let path = dir.join(name);
    std::fs::write(
        &path,
        format!("#!/bin/sh\nIFS= read -r server || true\n{body}\n"),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    path.display().to_string()
}

#[tokio::test]
async fn helpers_answer_by_the_docker_credential_helpers_protocol() {
    let dir = tempfile::tempdir().unwrap();
    let ask = |program: String| async move {
        run_helper(
            &program,
            "r.io:5000",
            "r.io:5000",
            Path::new("/f/config.json"),
        )
        .await
    };
    // The server URL arrives on stdin; the answer is the protocol's JSON.
    let echo = script(
        dir.path(),
        "echo",
        r#"printf '{"ServerURL":"%s","Username":"%s","Secret":"helper-secret-123"}' "$server" "$server""#,
    );
    match ask(echo).await.unwrap() {
        Some(Credential::Basic { username, password }) => {
            assert_eq!(username, "r.io:5000");
            assert_eq!(password.secret(), "helper-secret-123");
        }
        other => panic!("{other:?}"),
    }
    // `<token>` means an identity token.
    let token = script(
        dir.path(),
        "token",
        r#"echo '{"ServerURL":"r.io","Username":"<token>","Secret":"refresh-123456"}'"#,
    );
    assert!(matches!(
        ask(token).await.unwrap(),
        Some(Credential::IdentityToken(t)) if t.secret() == "refresh-123456"
    ));
    // Not found: none, and the lookup goes on.
    let none = script(
        dir.path(),
        "none",
        "echo 'credentials not found in native keychain'; exit 1",
    );
    assert!(ask(none).await.unwrap().is_none());
    // A failure names the helper and says what it said; an endless answer is cut off.
    let fails = script(dir.path(), "fails", "echo 'vault sealed' >&2; exit 4");
    let e = ask(fails).await.unwrap_err();
    assert_eq!(e.exit_code(), 3);
    assert!(
        e.to_string().contains("vault sealed") && e.to_string().contains("r.io:5000"),
        "{e}"
    );
    let endless = script(dir.path(), "endless", "exec yes");
    let e = ask(endless).await.unwrap_err();
    assert!(e.to_string().contains("longer than 64 KiB"), "{e}");
}
