//! Image references, parsed once at the edge into [`ImageRef`] and [`Digest`].
//!
//! Grammar follows Docker's (distribution/reference): the first path segment is the registry when
//! it contains `.` or `:` or is `localhost`, otherwise the registry is `docker.io`. Unlike Docker we
//! keep the repository as written (no `library/` added): gcloud writes it that way into the
//! signature payload, and the payload must match gcloud byte for byte. The registry client adds
//! `library/` itself when it talks to Docker Hub.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};

/// Where the registry is when the reference names none, as in Docker.
pub const DEFAULT_REGISTRY: &str = "docker.io";

/// A hash algorithm a manifest digest may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// `sha256:` with 64 hex digits.
    Sha256,
    /// `sha512:` with 128 hex digits.
    Sha512,
}

impl Algorithm {
    /// The name as written before the colon.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha512 => "sha512",
        }
    }

    /// Number of lowercase hex digits in a digest of this algorithm.
    pub fn hex_len(self) -> usize {
        match self {
            Algorithm::Sha256 => 64,
            Algorithm::Sha512 => 128,
        }
    }
}

/// A content digest such as `sha256:<64 hex>`, validated: a value of this type is well formed.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Digest {
    algorithm: Algorithm,
    hex: String,
}

impl Digest {
    /// Parses `ALGORITHM:HEX`; the error names the input and the expected form.
    pub fn parse(input: &str) -> Result<Digest> {
        digest_from_str(input).map_err(|reason| Error::InvalidDigest {
            input: input.to_string(),
            reason,
        })
    }

    /// The digest's hash algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The lowercase hex part, without the algorithm.
    pub fn hex(&self) -> &str {
        &self.hex
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm.name(), self.hex)
    }
}

impl FromStr for Digest {
    type Err = Error;
    fn from_str(s: &str) -> Result<Digest> {
        Digest::parse(s)
    }
}

/// Why `input` is not a digest, as a phrase that completes "invalid digest `x`: ...".
fn digest_from_str(input: &str) -> Result<Digest, String> {
    let Some((algorithm, hex)) = input.split_once(':') else {
        return Err("it has no `algorithm:` prefix".into());
    };
    let algorithm = match algorithm {
        "sha256" => Algorithm::Sha256,
        "sha512" => Algorithm::Sha512,
        other => return Err(format!("algorithm `{other}` is not supported")),
    };
    if let Some(c) = hex.chars().find(|c| !c.is_ascii_hexdigit()) {
        return Err(format!("`{c}` is not a hex digit"));
    }
    if hex.chars().any(|c| c.is_ascii_uppercase()) {
        return Err("hex digits must be lowercase".into());
    }
    if hex.len() != algorithm.hex_len() {
        return Err(format!(
            "{} needs {} hex digits, found {}",
            algorithm.name(),
            algorithm.hex_len(),
            hex.len()
        ));
    }
    Ok(Digest {
        algorithm,
        hex: hex.to_string(),
    })
}

/// A container image reference: registry, repository, and a tag and/or a digest.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ImageRef {
    registry: String,
    repository: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

impl ImageRef {
    /// Parses what a user wrote, e.g. `us-docker.pkg.dev/p/r/img:1.0`,
    /// `127.0.0.1:5000/demo/app@sha256:...` or `https://gcr.io/p/img:tag@sha256:...`.
    pub fn parse(input: &str) -> Result<ImageRef> {
        parse_reference(input).map_err(|reason| Error::InvalidReference {
            input: input.to_string(),
            reason,
        })
    }

    /// The registry host, with its port if one was written (`docker.io` if none was).
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The repository path as written, e.g. `demo/r/img` (no `library/` added).
    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// The tag, when one was written.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The digest, when one was written.
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// `registry/repository`: what gcloud writes as the payload's `docker-reference`.
    pub fn repository_url(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The same repository pinned to `digest`, tag dropped: displays as `registry/repo@sha256:...`,
    /// the form Binary Authorization attests.
    pub fn with_digest(&self, digest: &Digest) -> ImageRef {
        ImageRef {
            registry: self.registry.clone(),
            repository: self.repository.clone(),
            tag: None,
            digest: Some(digest.clone()),
        }
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

impl FromStr for ImageRef {
    type Err = Error;
    fn from_str(s: &str) -> Result<ImageRef> {
        ImageRef::parse(s)
    }
}

/// Docker's limit on `registry/repository`.
const MAX_NAME_LEN: usize = 255;
const MAX_TAG_LEN: usize = 128;

/// Why `input` is not a reference, as a phrase that says how to fix it.
fn parse_reference(input: &str) -> Result<ImageRef, String> {
    if input.is_empty() {
        return Err("it is empty; pass an image such as REGISTRY/REPOSITORY:TAG".into());
    }
    if input.chars().any(char::is_whitespace) {
        return Err("it contains whitespace".into());
    }
    let rest = match input.split_once("://") {
        None => input,
        Some(("https", rest)) => rest,
        Some(("http", _)) => {
            return Err("`http://` is not accepted; drop it, and pass \
                 --insecure-registry HOST[:PORT] for a registry without TLS"
                .into())
        }
        Some((scheme, _)) => {
            return Err(format!(
                "scheme `{scheme}://` is not accepted; write REGISTRY/REPOSITORY[:TAG][@DIGEST], \
                 optionally prefixed with https://"
            ))
        }
    };

    let (name_tag, digest) = match rest.split_once('@') {
        Some((name_tag, digest)) => {
            let digest = digest_from_str(digest).map_err(|reason| {
                format!(
                    "digest `{digest}`: {reason}; expected sha256:<64 lowercase hex digits> \
                     or sha512:<128 lowercase hex digits>"
                )
            })?;
            (name_tag, Some(digest))
        }
        None => (rest, None),
    };

    // A `:` after the last `/` starts the tag; one before it belongs to a registry port.
    let (name, tag) = match name_tag.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => (name, Some(tag)),
        _ => (name_tag, None),
    };
    if let Some(tag) = tag {
        check_tag(tag)?;
    }

    let (registry, repository) = match name.split_once('/') {
        Some((first, path))
            if first.contains('.') || first.contains(':') || first == "localhost" =>
        {
            (first, path)
        }
        _ => (DEFAULT_REGISTRY, name),
    };
    check_registry(registry)?;
    check_repository(repository)?;
    if registry.len() + 1 + repository.len() > MAX_NAME_LEN {
        return Err(format!("the name is longer than {MAX_NAME_LEN} characters"));
    }

    Ok(ImageRef {
        registry: registry.to_string(),
        repository: repository.to_string(),
        tag: tag.map(str::to_string),
        digest,
    })
}

fn check_tag(tag: &str) -> Result<(), String> {
    let valid_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-');
    let ok = !tag.is_empty()
        && tag.len() <= MAX_TAG_LEN
        && tag.chars().all(valid_char)
        && !tag.starts_with(['.', '-']);
    if ok {
        Ok(())
    } else {
        Err(format!(
            "tag `{tag}` must be 1 to {MAX_TAG_LEN} letters, digits, `_`, `.` or `-`, \
             not starting with `.` or `-`"
        ))
    }
}

/// `host[:port]`, where host is DNS labels or a bracketed IPv6 address.
fn check_registry(registry: &str) -> Result<(), String> {
    let bad = || {
        format!(
            "registry `{registry}` is not a valid HOST[:PORT] (such as gcr.io or 127.0.0.1:5000)"
        )
    };
    let (host, port) = if let Some(v6) = registry.strip_prefix('[') {
        let (addr, after) = v6.split_once(']').ok_or_else(bad)?;
        if addr.is_empty() || !addr.chars().all(|c| c.is_ascii_hexdigit() || c == ':') {
            return Err(bad());
        }
        match after {
            "" => (addr, None),
            _ => (addr, Some(after.strip_prefix(':').ok_or_else(bad)?)),
        }
    } else {
        let (host, port) = match registry.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (registry, None),
        };
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        };
        if !host.split('.').all(label_ok) {
            return Err(bad());
        }
        (host, port)
    };
    if host.is_empty() {
        return Err(bad());
    }
    if let Some(port) = port {
        let valid = !port.is_empty()
            && port.chars().all(|c| c.is_ascii_digit())
            && port.parse::<u16>().is_ok_and(|p| p > 0);
        if !valid {
            return Err(format!(
                "registry `{registry}` has an invalid port `{port}` (1 to 65535)"
            ));
        }
    }
    Ok(())
}

fn check_repository(repository: &str) -> Result<(), String> {
    if repository.is_empty() {
        return Err("the repository is missing; write REGISTRY/REPOSITORY[:TAG]".into());
    }
    if repository.chars().any(|c| c.is_ascii_uppercase()) {
        return Err(format!("repository `{repository}` must be lowercase"));
    }
    for component in repository.split('/') {
        if component.is_empty() {
            return Err(format!(
                "repository `{repository}` has an empty path component (`//` or a leading or \
                 trailing `/`)"
            ));
        }
        if !path_component_ok(component) {
            return Err(format!(
                "repository path component `{component}` may hold only lowercase letters and \
                 digits, joined by single `.`, `_`, `__` or dashes"
            ));
        }
    }
    Ok(())
}

/// Docker's `[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*`.
fn path_component_ok(component: &str) -> bool {
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    let mut separator = String::new();
    let mut seen_alnum = false;
    for c in component.chars() {
        if alnum(c) {
            let sep_ok = separator.is_empty()
                || separator == "."
                || separator == "_"
                || separator == "__"
                || separator.chars().all(|s| s == '-');
            if !sep_ok || (!seen_alnum && !separator.is_empty()) {
                return false;
            }
            separator.clear();
            seen_alnum = true;
        } else if matches!(c, '.' | '_' | '-') {
            separator.push(c);
        } else {
            return false;
        }
    }
    seen_alnum && separator.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "784d46ae41f4718f2ea9714246ec9a1f9216825403103997ba2dd4afc9753490";

    fn parse(s: &str) -> ImageRef {
        ImageRef::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn reason(s: &str) -> String {
        match ImageRef::parse(s) {
            Err(Error::InvalidReference { input, reason }) => {
                assert_eq!(input, s, "the error names the input");
                reason
            }
            other => panic!("{s}: expected InvalidReference, got {other:?}"),
        }
    }

    #[test]
    fn artifact_registry_reference_with_tag() {
        let r = parse("us-docker.pkg.dev/demo/r/img:1.0");
        assert_eq!(r.registry(), "us-docker.pkg.dev");
        assert_eq!(r.repository(), "demo/r/img");
        assert_eq!(r.tag(), Some("1.0"));
        assert_eq!(r.digest(), None);
        assert_eq!(r.repository_url(), "us-docker.pkg.dev/demo/r/img");
        assert_eq!(r.to_string(), "us-docker.pkg.dev/demo/r/img:1.0");
    }

    #[test]
    fn registry_with_port_is_not_a_tag() {
        let r = parse(&format!("127.0.0.1:5000/demo/app@sha256:{HEX}"));
        assert_eq!(r.registry(), "127.0.0.1:5000");
        assert_eq!(r.repository(), "demo/app");
        assert_eq!(r.tag(), None);
        assert_eq!(r.digest().map(Digest::hex), Some(HEX));
        assert_eq!(r.repository_url(), "127.0.0.1:5000/demo/app");

        let r = parse("localhost:5000/app");
        assert_eq!(
            (r.registry(), r.repository(), r.tag()),
            ("localhost:5000", "app", None)
        );
        let r = parse("localhost:5000/app:v2");
        assert_eq!(r.tag(), Some("v2"));
    }

    #[test]
    fn first_segment_is_a_registry_only_with_dot_colon_or_localhost() {
        assert_eq!(parse("localhost/app").registry(), "localhost");
        assert_eq!(parse("gcr.io/p/img").registry(), "gcr.io");
        let r = parse("myorg/app:1");
        assert_eq!((r.registry(), r.repository()), ("docker.io", "myorg/app"));
    }

    #[test]
    fn docker_hub_names_are_kept_as_written_like_gcloud() {
        let r = parse("nginx:1.25");
        assert_eq!(r.repository_url(), "docker.io/nginx");
        let r = parse("docker.io/library/nginx");
        assert_eq!(r.repository_url(), "docker.io/library/nginx");
        let r = parse("docker.io/nginx");
        assert_eq!(r.repository_url(), "docker.io/nginx");
    }

    #[test]
    fn https_prefix_is_accepted_and_removed() {
        let r = parse(&format!("https://gcr.io/p/img:v1@sha256:{HEX}"));
        assert_eq!(r.registry(), "gcr.io");
        assert_eq!(r.tag(), Some("v1"));
        assert_eq!(r.to_string(), format!("gcr.io/p/img:v1@sha256:{HEX}"));
    }

    #[test]
    fn with_digest_drops_the_tag() {
        let r = parse("gcr.io/p/img:v1");
        let d = Digest::parse(&format!("sha256:{HEX}")).unwrap();
        assert_eq!(
            r.with_digest(&d).to_string(),
            format!("gcr.io/p/img@sha256:{HEX}")
        );
    }

    #[test]
    fn plain_http_scheme_points_at_insecure_registry_flag() {
        assert!(reason("http://127.0.0.1:5000/a").contains("--insecure-registry"));
        assert!(reason("oci://gcr.io/a").contains("scheme `oci://`"));
    }

    #[test]
    fn repository_must_be_lowercase() {
        assert!(reason("gcr.io/P/Img").contains("must be lowercase"));
    }

    #[test]
    fn repository_components_follow_docker_grammar() {
        for ok in ["a__b", "c-d.e", "a---b", "a_b", "0x"] {
            parse(&format!("r.io/{ok}"));
        }
        for bad in ["-a", "a-", "a..b", "a___b", "_a", "a.", "a$b", "a._b"] {
            let why = reason(&format!("r.io/{bad}"));
            assert!(why.contains(&format!("`{bad}`")), "{bad}: {why}");
        }
        assert!(reason("r.io/a//b").contains("empty path component"));
        assert!(reason("r.io/a/").contains("empty path component"));
        assert!(
            reason("r.io/").contains("empty path component") || reason("r.io/").contains("missing")
        );
    }

    #[test]
    fn invalid_tags_are_rejected() {
        assert!(reason("r.io/a:").contains("tag ``"));
        assert!(reason("r.io/a:-x").contains("tag `-x`"));
        assert!(reason(&format!("r.io/a:{}", "x".repeat(129))).contains("tag"));
        parse(&format!("r.io/a:{}", "x".repeat(128)));
        parse("r.io/a:V1.2_rc-3");
    }

    #[test]
    fn invalid_registries_are_rejected() {
        assert!(reason("r.io:0/a").contains("invalid port"));
        assert!(reason("r.io:99999/a").contains("invalid port"));
        assert!(reason("r.io:/a").contains("invalid port"));
        assert!(reason("-r.io/a").contains("not a valid HOST"));
        assert!(reason("r..io/a").contains("not a valid HOST"));
        let r = parse("[::1]:5000/a");
        assert_eq!(r.registry(), "[::1]:5000");
    }

    #[test]
    fn empty_and_whitespace_inputs_are_rejected() {
        assert!(reason("").contains("empty"));
        assert!(reason(" gcr.io/a").contains("whitespace"));
        assert!(reason("gcr.io/a b").contains("whitespace"));
    }

    #[test]
    fn bad_digest_in_a_reference_names_the_digest() {
        let why = reason("gcr.io/a@sha256:abc");
        assert!(
            why.contains("`sha256:abc`") && why.contains("64 hex digits, found 3"),
            "{why}"
        );
        assert!(reason(&format!("gcr.io/a@sha256:{}", HEX.to_uppercase())).contains("lowercase"));
        assert!(reason(&format!("gcr.io/a@md5:{HEX}")).contains("`md5`"));
    }

    #[test]
    fn overlong_names_are_rejected() {
        let long = format!("r.io/{}", "a".repeat(260));
        assert!(reason(&long).contains("longer than 255"));
    }

    #[test]
    fn digest_parses_and_displays_both_algorithms() {
        let d = Digest::parse(&format!("sha256:{HEX}")).unwrap();
        assert_eq!(d.algorithm(), Algorithm::Sha256);
        assert_eq!(d.to_string(), format!("sha256:{HEX}"));
        let d512 = Digest::parse(&format!("sha512:{HEX}{HEX}")).unwrap();
        assert_eq!(d512.algorithm(), Algorithm::Sha512);
        assert!(matches!(
            Digest::parse(HEX),
            Err(Error::InvalidDigest { .. })
        ));
        assert!(Digest::parse(&format!("sha512:{HEX}")).is_err());
        assert!(Digest::parse(&format!("sha256:{HEX}0")).is_err());
        assert!(Digest::parse(&format!("sha256:{}g", &HEX[1..])).is_err());
    }
}
