//! IAM enforcement: `seeds/iam.yaml` as shipped, permissions per method, policies inherited from
//! the project, and get/setIamPolicy as gcloud's `add-iam-policy-binding`,
//! `remove-iam-policy-binding` and `get-iam-policy` send them.

mod common;

use common::Emulator;
use serde_json::{json, Value};

const KEY: &str = "projects/demo/locations/global/keyRings/ring/cryptoKeys/key";
const CI: &str = "serviceAccount:ci@demo.iam.gserviceaccount.com";

fn iam_seed() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/seeds/iam.yaml"))
        .expect("emulator/seeds/iam.yaml")
}

/// The shipped seed plus a key, a note and an attestor made by its admin.
fn started() -> Emulator {
    let emu = Emulator::start_raw(&iam_seed(), &[]);
    let admin = |method: &str, path: &str, body: Value| {
        let (status, answer) = emu.call_as(Some("admin-token"), method, path, Some(&body));
        assert_eq!(status, 200, "{method} {path}: {answer}");
    };
    admin(
        "POST",
        "v1/projects/demo/locations/global/keyRings?keyRingId=ring",
        json!({}),
    );
    admin(
        "POST",
        "v1/projects/demo/locations/global/keyRings/ring/cryptoKeys?cryptoKeyId=key",
        json!({"purpose": "ASYMMETRIC_SIGN", "versionTemplate": {"algorithm": "EC_SIGN_P256_SHA256"}}),
    );
    admin(
        "POST",
        "v1/projects/demo/notes?noteId=n",
        json!({"attestation": {"hint": {"humanReadableName": "n"}}}),
    );
    admin(
        "POST",
        "v1/projects/demo/attestors?attestorId=a",
        json!({"userOwnedGrafeasNote": {"noteReference": "projects/demo/notes/n"}}),
    );
    emu
}

fn public_key_as(emu: &Emulator, token: &str) -> (u16, Value) {
    emu.call_as(
        Some(token),
        "GET",
        &format!("v1/{KEY}/cryptoKeyVersions/1/publicKey"),
        None,
    )
}

#[test]
fn the_shipped_seed_denies_ci_everything_in_googles_shape_and_lets_both_read_the_image() {
    let emu = started();
    let (status, body) = public_key_as(&emu, "ci-token");
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["status"], "PERMISSION_DENIED");
    assert_eq!(
        body["error"]["message"],
        format!("Permission 'cloudkms.cryptoKeyVersions.viewPublicKey' denied on resource '{KEY}/cryptoKeyVersions/1' (or it may not exist).")
    );
    let info = &body["error"]["details"][0];
    assert_eq!(info["reason"], "IAM_PERMISSION_DENIED");
    assert_eq!(
        info["metadata"]["permission"],
        "cloudkms.cryptoKeyVersions.viewPublicKey"
    );
    assert_eq!(public_key_as(&emu, "admin-token").0, 200);
    for route in [
        "v1/projects/demo/attestors/a",
        "v1/projects/demo/notes/n/occurrences",
        "v1/projects/demo/policy",
    ] {
        let (status, body) = emu.call_as(Some("ci-token"), "GET", route, None);
        assert_eq!(status, 403, "{route}: {body}");
    }
    // The registry is not under IAM: both tokens resolve the seeded image.
    for token in ["admin-token", "ci-token"] {
        let head = ureq::head(&format!("{}v2/demo/apps/hello/manifests/v1", emu.url))
            .set("Authorization", &format!("Bearer {token}"))
            .set("Accept", "application/vnd.oci.image.manifest.v1+json")
            .call();
        assert!(head.is_ok(), "{token}: {head:?}");
    }
}

#[test]
fn an_occurrence_create_needs_attach_on_the_note_and_create_on_the_project() {
    let emu = started();
    let occurrence = json!({"resourceUri": "https://r/demo/app@sha256:0000000000000000000000000000000000000000000000000000000000000000",
        "noteName": "projects/demo/notes/n",
        "attestation": {"serializedPayload": "e30=", "signatures": [{"publicKeyId": "k", "signature": "AAAA"}]}});
    let create = || {
        emu.call_as(
            Some("ci-token"),
            "POST",
            "v1/projects/demo/occurrences",
            Some(&occurrence),
        )
    };
    let grant = |resource: &str, role: &str| {
        let path = format!("v1/{resource}:setIamPolicy");
        let current = emu.call_as(
            Some("admin-token"),
            "POST",
            &format!("v1/{resource}:getIamPolicy"),
            Some(&json!({})),
        );
        assert_eq!(current.0, 200, "{}", current.1);
        let mut bindings = current.1["bindings"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        bindings.push(json!({"role": role, "members": [CI]}));
        let policy = json!({"policy": {"bindings": bindings, "etag": current.1["etag"]}});
        let (status, body) = emu.call_as(Some("admin-token"), "POST", &path, Some(&policy));
        assert_eq!(status, 200, "{body}");
    };
    let (status, body) = create();
    assert_eq!(status, 403);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("'containeranalysis.occurrences.create' denied on resource 'projects/demo'"),
        "{body}"
    );
    grant(
        "projects/demo",
        "roles/containeranalysis.occurrences.editor",
    );
    let (status, body) = create();
    assert_eq!(status, 403);
    assert!(
        body["error"]["message"].as_str().unwrap().contains(
            "'containeranalysis.notes.attachOccurrence' denied on resource 'projects/demo/notes/n'"
        ),
        "{body}"
    );
    grant(
        "projects/demo/notes/n",
        "roles/containeranalysis.notes.attacher",
    );
    let (status, body) = create();
    assert_eq!(status, 200, "{body}");
}

#[test]
fn gcloud_grants_reads_and_revokes_roles_on_keys_attestors_and_projects() {
    let emu = started();
    let add = |kind: &[&str], role: &str| {
        let mut args: Vec<&str> = kind.to_vec();
        args.extend(["--member", CI, "--role", role, "--format=json"]);
        emu.gcloud_as("admin-token", &args)
    };
    let out = add(
        &[
            "kms",
            "keys",
            "add-iam-policy-binding",
            "key",
            "--keyring=ring",
            "--location=global",
        ],
        "roles/cloudkms.signerVerifier",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(public_key_as(&emu, "ci-token").0, 200);

    let policy = emu.gcloud_as(
        "admin-token",
        &[
            "kms",
            "keys",
            "get-iam-policy",
            "key",
            "--keyring=ring",
            "--location=global",
            "--format=json",
        ],
    );
    let policy: Value = serde_json::from_slice(&policy.stdout).expect("policy JSON");
    assert_eq!(
        policy["bindings"],
        json!([{"role": "roles/cloudkms.signerVerifier", "members": [CI]}])
    );
    assert!(policy["etag"].is_string());

    let out = add(
        &[
            "container",
            "binauthz",
            "attestors",
            "add-iam-policy-binding",
            "a",
        ],
        "roles/binaryauthorization.attestorsViewer",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (status, _) = emu.call_as(
        Some("ci-token"),
        "GET",
        "v1/projects/demo/attestors/a",
        None,
    );
    assert_eq!(status, 200);

    // A project grant reaches every key of the project (inheritance).
    let out = emu.gcloud_as(
        "admin-token",
        &[
            "kms",
            "keys",
            "remove-iam-policy-binding",
            "key",
            "--keyring=ring",
            "--location=global",
            "--member",
            CI,
            "--role",
            "roles/cloudkms.signerVerifier",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(public_key_as(&emu, "ci-token").0, 403);
    let out = add(
        &["projects", "add-iam-policy-binding", "demo"],
        "roles/cloudkms.publicKeyViewer",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(public_key_as(&emu, "ci-token").0, 200);
    let project = emu.gcloud_as(
        "admin-token",
        &["projects", "get-iam-policy", "demo", "--format=json"],
    );
    let project: Value = serde_json::from_slice(&project.stdout).expect("policy JSON");
    let roles: Vec<&str> = project["bindings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["roles/owner", "roles/cloudkms.publicKeyViewer"]);

    // Without the grant, gcloud prints Google's denial naming the permission.
    let out = emu.gcloud_as(
        "ci-token",
        &[
            "kms",
            "keys",
            "get-iam-policy",
            "key",
            "--keyring=ring",
            "--location=global",
        ],
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cloudkms.cryptoKeys.getIamPolicy"),
        "{stderr}"
    );
}

#[test]
fn set_iam_policy_refuses_stale_etags_unknown_roles_and_bad_members() {
    let emu = started();
    let path = format!("v1/{KEY}:setIamPolicy");
    let set = |policy: Value| {
        emu.call_as(
            Some("admin-token"),
            "POST",
            &path,
            Some(&json!({"policy": policy})),
        )
    };
    let (status, first) =
        set(json!({"bindings": [{"role": "roles/cloudkms.signer", "members": [CI]}]}));
    assert_eq!(status, 200, "{first}");
    let (status, body) = set(json!({"bindings": [], "etag": "ACAB"}));
    assert_eq!(
        (status, body["error"]["status"].as_str()),
        (409, Some("ABORTED")),
        "{body}"
    );
    let (status, body) = set(json!({"bindings": [], "etag": first["etag"]}));
    assert_eq!(status, 200, "{body}");
    assert!(body.get("bindings").is_none(), "{body}");
    let (status, body) = set(json!({"bindings": [{"role": "roles/made.up", "members": [CI]}]}));
    assert_eq!(status, 400);
    assert_eq!(
        body["error"]["message"],
        "Role roles/made.up is not supported for this resource."
    );
    let (status, _) =
        set(json!({"bindings": [{"role": "roles/cloudkms.signer", "members": ["ci@demo"]}]}));
    assert_eq!(status, 400);
    let (status, body) = emu.call_as(
        Some("admin-token"),
        "POST",
        &path,
        Some(&json!({"policy": {"bogus": 1}})),
    );
    assert_eq!(status, 400, "{body}");
    let (status, _) = emu.call_as(
        Some("admin-token"),
        "GET",
        "v1/projects/demo/locations/global/keyRings/ring/cryptoKeys/missing:getIamPolicy",
        None,
    );
    assert_eq!(status, 404);
    let (status, project) = emu.call_as(Some("admin-token"), "GET", "v1/projects/demo", None);
    assert_eq!(status, 200);
    assert_eq!(project["projectId"], "demo");
    assert!(project["projectNumber"].as_str().unwrap().len() == 12);
}
