//! Binary Authorization's decision at deploy time, as Cloud Run asks for it: the project's policy
//! (allowlist patterns, then the default admission rule; Cloud Run has no cluster or namespace
//! scopes) applied to one image, with attestations checked by `binauthz::verify_attestation`,
//! the same check `validateAttestationOccurrence` makes.
//!
//! Sources: the policy reference (https://cloud.google.com/binary-authorization/docs/policy-yaml-reference:
//! `admissionWhitelistPatterns`, `defaultAdmissionRule`, `evaluationMode`, `enforcementMode`),
//! Cloud Run's set-up overview (https://cloud.google.com/binary-authorization/docs/run/overview:
//! "Cloud Run checks the policy each time you deploy a new revision"), and the denial texts
//! GKE and Cloud Run print (https://cloud.google.com/binary-authorization/docs/getting-started-cli:
//! "Image IMAGE denied by Binary Authorization default admission rule. Image IMAGE denied by
//! attestor ATTESTOR: No attestations found that were valid and signed by a key trusted by the
//! attestor"; "Denied by always_deny admission rule").

use crate::binauthz::verify_attestation;
use crate::state::State;
use serde_json::Value;

/// Why a policy refuses an image, and whether the rule only logs it (dry run).
#[derive(Debug, Clone, PartialEq)]
pub struct Violation {
    /// Binary Authorization's own sentence, as the deploy error and the audit log carry it.
    pub message: String,
    /// `enforcementMode: DRYRUN_AUDIT_LOG_ONLY`: admitted, and the violation logged.
    pub dry_run: bool,
}

/// Evaluates the project's policy for `image` (as it is deployed: a digest reference for any
/// rule that requires attestations). `Ok(())` admits it.
pub fn evaluate(state: &State, project: &str, image: &str) -> Result<(), Violation> {
    let Some(policy) = state.policies.get(project) else {
        // No policy set: the default policy allows every image (policy reference, "the default
        // policy ... allows all images").
        return Ok(());
    };
    for pattern in policy["admissionWhitelistPatterns"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["namePattern"].as_str())
    {
        if pattern_matches(pattern, image) {
            return Ok(());
        }
    }
    let rule = &policy["defaultAdmissionRule"];
    let dry_run = rule["enforcementMode"] == "DRYRUN_AUDIT_LOG_ONLY";
    let violation = |detail: String| Violation {
        message: format!(
            "Image {image} denied by Binary Authorization default admission rule. {detail}"
        ),
        dry_run,
    };
    match rule["evaluationMode"].as_str().unwrap_or_default() {
        "ALWAYS_ALLOW" => Ok(()),
        "ALWAYS_DENY" => Err(violation("Denied by always_deny admission rule".into())),
        _ => {
            let Some((repo, digest)) = image.split_once('@') else {
                // Attestations name a digest; a tag cannot be looked up (the message GKE prints
                // for a tag: "Expected digest with sha256 scheme, but got tag or malformed digest").
                return Err(violation(format!(
                    "Image {image} denied by attestor {}: Expected digest with sha256 scheme, but got tag or malformed digest",
                    first_attestor(rule)
                )));
            };
            let mut denials = Vec::new();
            for attestor in rule["requireAttestationsBy"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                if !attested(state, attestor, repo, digest) {
                    denials.push(format!(
                        "Image {image} denied by attestor {attestor}: No attestations found that were valid and signed by a key trusted by the attestor"
                    ));
                }
            }
            match denials.is_empty() {
                true => Ok(()),
                false => Err(violation(denials.join(". "))),
            }
        }
    }
}

fn first_attestor(rule: &Value) -> &str {
    rule["requireAttestationsBy"][0]
        .as_str()
        .unwrap_or_default()
}

/// Whether an occurrence on the attestor's note for `repo@digest` (with or without `https://`)
/// verifies under one of the attestor's keys now: a key removed from the attestor no longer
/// counts, whatever it signed before.
fn attested(state: &State, attestor: &str, repo: &str, digest: &str) -> bool {
    let Some(attestor_json) = state.attestors.get(attestor) else {
        return false;
    };
    let note = attestor_json["userOwnedGrafeasNote"]["noteReference"]
        .as_str()
        .unwrap_or_default();
    let uri = format!("{repo}@{digest}");
    state.occurrences.iter().any(|o| {
        let occ = &o.json;
        let resource = occ["resourceUri"].as_str().unwrap_or_default();
        occ["noteName"] == note
            && resource.strip_prefix("https://").unwrap_or(resource) == uri
            && verify_attestation(attestor_json, note, resource, &occ["attestation"]).is_ok()
    })
}

/// An allowlist pattern against an image: `**` at the end matches anything below the prefix,
/// `*` at the end anything within the last path segment, otherwise the name must be the
/// pattern (with or without the image's tag or digest), as the policy reference describes
/// `namePattern`.
pub fn pattern_matches(pattern: &str, image: &str) -> bool {
    let name = image.split_once('@').map_or(image, |(n, _)| n).to_string();
    let name = match name.rfind(':') {
        Some(i) if !name[i..].contains('/') => name[..i].to_string(),
        _ => name,
    };
    if let Some(prefix) = pattern.strip_suffix("**") {
        return name.starts_with(prefix) || image.starts_with(prefix);
    }
    if let Some(prefix) = pattern.strip_suffix('*') {
        return name
            .strip_prefix(prefix)
            .is_some_and(|rest| !rest.contains('/'));
    }
    pattern == name || pattern == image
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowlist_patterns_match_as_documented() {
        let img = "us-docker.pkg.dev/p/r/app@sha256:abc";
        assert!(pattern_matches("us-docker.pkg.dev/p/r/**", img));
        assert!(pattern_matches("us-docker.pkg.dev/p/r/*", img));
        assert!(!pattern_matches("us-docker.pkg.dev/p/*", img));
        assert!(pattern_matches("us-docker.pkg.dev/p/**", img));
        assert!(pattern_matches("us-docker.pkg.dev/p/r/app", img));
        assert!(pattern_matches(
            "127.0.0.1:5000/p/r/app",
            "127.0.0.1:5000/p/r/app:v1"
        ));
        assert!(!pattern_matches("us-docker.pkg.dev/p/r/ap", img));
    }
}
