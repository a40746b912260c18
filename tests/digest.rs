//! `digest` against a real registry (Debian's docker-registry) holding images pushed by skopeo.

use crate::common::{registry, run, Format, Layout, DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST};

/// Pushes a fresh image to `repo:tag` and returns what the registry says its digest is.
fn pushed(repo: &str, tag: &str, format: Format, media_type: &str) -> String {
    let reg = registry();
    let layout = match format {
        Format::MultiArch => Layout::multi_arch(repo),
        _ => Layout::image(repo),
    };
    reg.push(layout.path(), &format!("{repo}:{tag}"), format);
    let (status, digest, content_type) = reg.head_manifest(repo, tag);
    assert_eq!(status, 200, "{repo}:{tag} was pushed");
    assert_eq!(
        content_type.as_deref(),
        Some(media_type),
        "{repo}:{tag} manifest type"
    );
    digest.expect("docker-registry sends Docker-Content-Digest")
}

fn digest_of(image: &str) -> (i32, String, String) {
    run(&["--insecure-registry", &registry().host, "digest", image])
}

fn assert_resolves(repo: &str, format: Format, media_type: &str) {
    let served = pushed(repo, "v1", format, media_type);
    let host = &registry().host;
    let (code, stdout, stderr) = digest_of(&format!("{host}/{repo}:v1"));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout, format!("{host}/{repo}@{served}\n"));
}

#[test]
fn tag_of_oci_manifest_resolves_to_the_registry_digest() {
    assert_resolves("t/oci", Format::Oci, OCI_MANIFEST);
}

#[test]
fn tag_of_docker_schema2_manifest_resolves_to_the_registry_digest() {
    assert_resolves("t/docker-v2s2", Format::DockerV2s2, DOCKER_MANIFEST);
}

#[test]
fn tag_of_multi_arch_index_resolves_to_the_index_digest() {
    assert_resolves("t/multi-arch", Format::MultiArch, OCI_INDEX);
}

#[test]
fn digest_reference_is_checked_and_printed_without_the_tag() {
    let served = pushed("t/by-digest", "v1", Format::Oci, OCI_MANIFEST);
    let host = &registry().host;
    for image in [
        format!("{host}/t/by-digest@{served}"),
        format!("https://{host}/t/by-digest:v1@{served}"),
    ] {
        let (code, stdout, stderr) = digest_of(&image);
        assert_eq!(code, 0, "{image}: {stderr}");
        assert_eq!(stdout, format!("{host}/t/by-digest@{served}\n"));
    }
}

#[test]
fn several_images_print_one_line_each_in_order() {
    let a = pushed("t/batch-a", "v1", Format::Oci, OCI_MANIFEST);
    let b = pushed("t/batch-b", "v1", Format::DockerV2s2, DOCKER_MANIFEST);
    let host = &registry().host;
    let (ia, ib) = (
        format!("{host}/t/batch-a:v1"),
        format!("{host}/t/batch-b:v1"),
    );
    let (code, stdout, stderr) = run(&["digest", &ib, &ia, &ib, "--insecure-registry", host]);
    assert_eq!(code, 0, "{stderr}");
    let expected = format!("{host}/t/batch-b@{b}\n{host}/t/batch-a@{a}\n{host}/t/batch-b@{b}\n");
    assert_eq!(stdout, expected);
}

#[test]
fn insecure_registries_can_come_from_the_environment() {
    let served = pushed("t/env", "v1", Format::Oci, OCI_MANIFEST);
    let host = &registry().host;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_binauthz-attest"))
        .args(["digest", &format!("{host}/t/env:v1")])
        .env("BINAUTHZ_INSECURE_REGISTRIES", format!("other:5000,{host}"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{host}/t/env@{served}\n")
    );
}

#[test]
fn one_manifest_head_per_resolution() {
    pushed("t/round-trips", "v1", Format::Oci, OCI_MANIFEST);
    let reg = registry();
    let (heads, gets) = (
        reg.requests_to("HEAD", "/v2/t/round-trips/manifests/"),
        reg.requests_to("GET", "/v2/t/round-trips/manifests/"),
    );
    let (code, _, stderr) = digest_of(&format!("{}/t/round-trips:v1", reg.host));
    assert_eq!(code, 0, "{stderr}");
    // The access log is written after each response; the binary has exited by now.
    assert_eq!(
        reg.requests_to("HEAD", "/v2/t/round-trips/manifests/"),
        heads + 1
    );
    assert_eq!(reg.requests_to("GET", "/v2/t/round-trips/manifests/"), gets);
}

#[test]
fn unknown_tag_is_not_found_and_names_the_image() {
    pushed("t/known", "v1", Format::Oci, OCI_MANIFEST);
    let image = format!("{}/t/known:no-such-tag", registry().host);
    let (code, stdout, stderr) = digest_of(&image);
    assert_eq!(code, 4, "{stderr}");
    assert!(stdout.is_empty());
    assert!(
        stderr.starts_with(&format!("error: image {image} was not found")),
        "{stderr}"
    );
}

#[test]
fn unknown_repository_is_not_found_and_names_the_image() {
    let image = format!("{}/t/never-pushed:v1", registry().host);
    let (code, _, stderr) = digest_of(&image);
    assert_eq!(code, 4, "{stderr}");
    assert!(
        stderr.contains(&format!("image {image} was not found")),
        "{stderr}"
    );
}

#[test]
fn unknown_digest_is_not_found() {
    pushed("t/known-repo", "v1", Format::Oci, OCI_MANIFEST);
    let image = format!("{}/t/known-repo@sha256:{}", registry().host, "0".repeat(64));
    let (code, _, stderr) = digest_of(&image);
    assert_eq!(code, 4, "{stderr}");
    assert!(stderr.contains(&image), "{stderr}");
}

#[test]
fn malformed_reference_is_a_usage_error_naming_the_input() {
    for bad in [
        "Gcr.io/P/Img:1",
        "gcr.io/p/img@sha256:abc",
        "http://127.0.0.1:5000/a",
        "",
    ] {
        let (code, stdout, stderr) = run(&["digest", bad]);
        assert_eq!(code, 2, "{bad:?}: {stderr}");
        assert!(stdout.is_empty());
        assert!(stderr.contains(&format!("`{bad}`")), "{bad:?}: {stderr}");
    }
}

#[test]
fn plain_http_registry_needs_the_insecure_flag() {
    pushed("t/needs-flag", "v1", Format::Oci, OCI_MANIFEST);
    let image = format!("{}/t/needs-flag:v1", registry().host);
    let (code, _, stderr) = run(&["digest", &image]);
    assert_eq!(code, 6, "{stderr}");
    let host = &registry().host;
    assert!(
        stderr.contains(&format!("registry {host} failed")),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("pass --insecure-registry {host}")),
        "{stderr}"
    );
}

/// The registry client reads the system trust roots once per process and hands them to each
/// client it builds: a registry whose CA is in `SSL_CERT_FILE` is trusted, over HTTPS (no
/// `--insecure-registry`), and one whose CA is not is refused with the registry named.
#[test]
fn a_registry_over_tls_is_trusted_by_the_system_roots_alone() {
    let served = pushed("t/tls", "v1", Format::Oci, OCI_MANIFEST);
    let mirror = registry().tls_mirror();
    let image = format!("{}/t/tls:v1", mirror.host);
    let digest_with_roots = |roots: &std::path::Path| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_binauthz-attest"))
            .args(["digest", &image])
            .env_remove("BINAUTHZ_INSECURE_REGISTRIES")
            .env_remove("SSL_CERT_DIR")
            .env("SSL_CERT_FILE", roots)
            .env("GCE_METADATA_HOST", "127.0.0.1:9")
            .env("GCE_METADATA_ROOT", "127.0.0.1:9")
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };

    let (code, stdout, stderr) = digest_with_roots(&mirror.ca);
    assert_eq!(code, 0, "trusted through SSL_CERT_FILE: {stderr}");
    assert_eq!(stdout, format!("{}/t/tls@{served}\n", mirror.host));

    // Another CA: the handshake fails, and nothing is printed.
    let other = tempfile::tempdir().unwrap();
    let other_ca = other.path().join("other.crt");
    let made = binauthz_attest::admission::certs::generate(&["127.0.0.1".into()], 1).unwrap();
    std::fs::write(&other_ca, made.ca_cert).unwrap();
    let (code, stdout, stderr) = digest_with_roots(&other_ca);
    assert_ne!(code, 0, "an unknown CA must be refused: {stdout}");
    assert_eq!(stdout, "");
    assert!(
        stderr.contains(&mirror.host),
        "names the registry: {stderr}"
    );
}
