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
