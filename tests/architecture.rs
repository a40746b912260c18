//! The layering rules a reviewer would otherwise have to remember: the core reads no CI's
//! variables (only `src/ci/` does), and pure judgement knows no network module.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// String literals that name a CI's variable, outside doc comments and comments.
fn ci_variables_named(code: &str) -> Vec<String> {
    const PREFIXES: [&str; 5] = ["GITHUB_", "GITLAB", "CI_", "TEKTON", "JENKINS"];
    let mut found = Vec::new();
    for line in code.lines() {
        let code_part = line.split("//").next().unwrap_or_default();
        for literal in code_part.split('"').skip(1).step_by(2) {
            if PREFIXES.iter().any(|p| literal.starts_with(p)) {
                found.push(format!("{literal} in `{}`", line.trim()));
            }
        }
    }
    found
}

#[test]
fn the_scan_finds_a_ci_variable_read() {
    let code = "let sha = std::env::var(\"GITHUB_SHA\");\n/// GITHUB_SHA in a doc\nlet x = env(\"CI_JOB_ID\");";
    assert_eq!(ci_variables_named(code).len(), 2);
}

#[test]
fn only_the_ci_layer_reads_a_ci_variable() {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let ci_layer = src().join("ci");
    let mut offenders = Vec::new();
    for file in files.iter().filter(|f| !f.starts_with(&ci_layer)) {
        let code = std::fs::read_to_string(file).unwrap();
        for found in ci_variables_named(&code) {
            offenders.push(format!("{}: {found}", file.display()));
        }
    }
    assert!(files.len() > 20, "the scan saw the sources");
    assert!(
        offenders.is_empty(),
        "the core must get CI values from src/ci/:\n  {}",
        offenders.join("\n  ")
    );
}

#[test]
fn the_judgement_and_the_model_import_no_network_module() {
    for file in [
        "attestation.rs",
        "model.rs",
        "algorithm.rs",
        "policy.rs",
        "manifest.rs",
    ] {
        let code = std::fs::read_to_string(src().join(file)).unwrap();
        for network in [
            "crate::gcp",
            "crate::registry",
            "crate::commit_status",
            "reqwest",
        ] {
            assert!(!code.contains(network), "{file} uses {network}");
        }
    }
}

/// The `crate::` and `super::` paths a file names in code (comments and doc comments left out).
fn imports(code: &str) -> Vec<String> {
    let mut found = Vec::new();
    for line in code.lines() {
        let code_part = line.split("//").next().unwrap_or_default();
        for prefix in ["crate::", "super::"] {
            for (at, _) in code_part.match_indices(prefix) {
                let path: String = code_part[at..]
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                    .collect();
                found.push(path);
            }
        }
    }
    found
}

/// Files under `dir` (relative to src/) or the file itself.
fn sources(relative: &str) -> Vec<PathBuf> {
    let path = src().join(relative);
    let mut found = Vec::new();
    match path.is_dir() {
        true => rust_files(&path, &mut found),
        false => found.push(path),
    }
    found
}

/// Every file of `layer` that names one of `forbidden` (a `crate::` path prefix, or a crate).
fn offenders(layer: &[&str], forbidden: &[&str]) -> Vec<String> {
    let mut offenders = Vec::new();
    for file in layer.iter().flat_map(|l| sources(l)) {
        let code = std::fs::read_to_string(&file).unwrap();
        let named = imports(&code);
        for f in forbidden {
            let hit = match f.starts_with("crate::") {
                true => named
                    .iter()
                    .any(|p| p == f || p.starts_with(&format!("{f}::"))),
                false => code.contains(&format!("{f}::")),
            };
            if hit {
                offenders.push(format!("{} uses {f}", file.display()));
            }
        }
    }
    offenders
}

#[test]
fn the_import_scan_reads_paths_outside_comments() {
    let code =
        "use crate::gcp::kms::Kms;\n/// crate::registry in a doc\nlet x = super::keys::ni_id(p);";
    assert_eq!(
        imports(code),
        ["crate::gcp::kms::Kms", "super::keys::ni_id"]
    );
    assert_eq!(
        offenders(&["attest/keys.rs"], &["crate::nonexistent"]),
        Vec::<String>::new()
    );
}

#[test]
fn the_model_knows_no_network_and_no_pipeline() {
    let model = [
        "model.rs",
        "attestation.rs",
        "algorithm.rs",
        "policy.rs",
        "manifest.rs",
        "reference.rs",
        "names.rs",
        "payload.rs",
        "report.rs",
        "openpgp.rs",
    ];
    let forbidden = [
        "crate::gcp",
        "crate::registry",
        "crate::signer",
        "crate::cosign",
        "crate::commit_status",
        "crate::attest",
        "crate::commands",
        "crate::ci",
        "reqwest",
        "oci_client",
    ];
    let found = offenders(&model, &forbidden);
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[test]
fn the_clients_never_import_the_core_the_ci_layer_or_each_other() {
    let above = [
        "crate::attest",
        "crate::commands",
        "crate::ci",
        "crate::cli",
    ];
    let rules: [(&str, &[&str]); 3] = [
        // Google's clients convert to the model; they know no judgement built on it.
        (
            "gcp",
            &[
                "crate::registry",
                "crate::signer",
                "crate::policy",
                "crate::cosign",
            ],
        ),
        (
            "registry.rs",
            &["crate::gcp", "crate::signer", "crate::cosign"],
        ),
        // A KMS signer signs through the KMS client (its public face), nothing else remote.
        ("signer", &["crate::registry", "crate::cosign"]),
    ];
    let mut found = Vec::new();
    for (layer, siblings) in rules {
        found.extend(offenders(&[layer], &above));
        found.extend(offenders(&[layer], siblings));
    }
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[test]
fn the_ci_layer_takes_plain_values() {
    let found = offenders(
        &["ci"],
        &[
            "crate::gcp",
            "crate::registry",
            "crate::signer",
            "crate::attest",
            "crate::commands",
        ],
    );
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[test]
fn commands_reach_outside_only_through_the_core() {
    let found = offenders(
        &["commands"],
        &[
            "crate::gcp",
            "crate::registry",
            "crate::signer",
            "crate::cosign",
            "crate::commit_status",
            "reqwest",
            "oci_client",
        ],
    );
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[test]
fn commands_are_thin_and_never_import_each_other() {
    let mut found = Vec::new();
    for file in sources("commands") {
        let code = std::fs::read_to_string(&file).unwrap();
        let lines = code.lines().count();
        if lines >= 300 {
            found.push(format!("{} has {lines} lines (under 300)", file.display()));
        }
        if file.ends_with("mod.rs") {
            continue;
        }
        // `super::` names only what mod.rs shares (print, Context, Report, ...), never a
        // sibling command module.
        let siblings: Vec<String> = sources("commands")
            .iter()
            .filter_map(|f| f.file_stem()?.to_str().map(String::from))
            .filter(|s| s != "mod")
            .collect();
        for path in imports(&code) {
            let module = path
                .strip_prefix("crate::commands::")
                .or_else(|| path.strip_prefix("super::"));
            if let Some(module) = module {
                let first = module.split("::").next().unwrap_or_default();
                if siblings.iter().any(|s| s == first) || path.starts_with("crate::commands") {
                    found.push(format!("{} uses {path}", file.display()));
                }
            }
        }
        if code.contains("use super::{") {
            let list = code
                .split("use super::{")
                .nth(1)
                .and_then(|rest| rest.split('}').next())
                .unwrap_or_default();
            for item in list.split(',').map(str::trim) {
                if siblings.iter().any(|s| s == item) {
                    found.push(format!("{} uses super::{item}", file.display()));
                }
            }
        }
    }
    assert!(found.is_empty(), "{}", found.join("\n"));
}
