//! The manifests in tests/manifests read as their kinds say.

use super::*;

fn read(name: &str) -> Manifest {
    let path = format!("{}/tests/manifests/{name}", env!("CARGO_MANIFEST_DIR"));
    parse(name, &std::fs::read_to_string(path).unwrap()).unwrap()
}

fn spans_hold_the_images(name: &str, m: &Manifest) {
    let path = format!("{}/tests/manifests/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(path).unwrap();
    for s in &m.sites {
        let written = &text[s.start..s.end];
        assert_eq!(written.trim_matches(['"', '\'']), s.image, "{s:?}");
    }
}

#[test]
fn a_cloud_run_service_as_gcloud_exports_it() {
    let m = read("run-service.yaml");
    spans_hold_the_images("run-service.yaml", &m);
    let sites: Vec<(&str, &str, Platform)> = m
        .sites
        .iter()
        .map(|s| (s.image.as_str(), s.container.as_str(), s.platform))
        .collect();
    assert_eq!(
        sites,
        [
            ("REGISTRY/demo/app:v1", "app", Platform::Cloudrun),
            ("REGISTRY/demo/app@DIGEST", "sidecar", Platform::Cloudrun)
        ]
    );
    assert!(m.warnings.is_empty(), "{:?}", m.warnings);
}

#[test]
fn a_deployment_with_an_init_container() {
    let m = read("deployment.yaml");
    spans_hold_the_images("deployment.yaml", &m);
    let names: Vec<&str> = m.sites.iter().map(|s| s.container.as_str()).collect();
    assert_eq!(names, ["init:migrate", "web"]);
    assert!(m.sites.iter().all(|s| s.platform == Platform::Gke
        && s.namespace.as_deref() == Some("prod")
        && s.service_account.as_deref() == Some("deployer")));
}

#[test]
fn multi_document_files_lists_cronjobs_and_breakglass() {
    let m = read("multi.yaml");
    spans_hold_the_images("multi.yaml", &m);
    let sites: Vec<(&str, bool)> = m
        .sites
        .iter()
        .map(|s| (s.workload.as_str(), s.breakglass.is_some()))
        .collect();
    assert_eq!(
        sites,
        [
            ("CronJob/nightly", false),
            ("Pod/emergency", true),
            ("DaemonSet/agent", false)
        ]
    );
}

#[test]
fn a_cloud_run_job_with_breakglass_and_no_enforcement_annotation() {
    let m = read("run-job.yaml");
    assert_eq!(m.sites.len(), 1);
    assert_eq!(
        m.sites[0].breakglass.as_deref(),
        Some("run.googleapis.com/binary-authorization-breakglass: incident 42")
    );
    assert!(
        m.warnings[0].contains("no `run.googleapis.com/binary-authorization`"),
        "{:?}",
        m.warnings
    );
}

#[test]
fn bad_manifests_name_file_and_position() {
    let e = parse(
        "bad.yaml",
        "kind: Pod\napiVersion: v1\nspec:\n  containers: [\n",
    )
    .unwrap_err();
    assert_eq!(e.exit_code(), 2);
    assert!(e.to_string().starts_with("manifest bad.yaml, line "), "{e}");
    let e = parse(
        "bad.yaml",
        "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - name: x\n",
    )
    .unwrap_err();
    assert!(
        e.to_string().contains("line 5") && e.to_string().contains("has no image"),
        "{e}"
    );
    let e = parse("bad.yaml", "- a\n").unwrap_err();
    assert!(e.to_string().contains("line 1"), "{e}");
}
