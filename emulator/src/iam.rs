//! IAM, when the seed turns it on (`iam.enforce: true`): each method requires the permission
//! Google documents for it, predefined roles grant the permissions Google's IAM roles reference
//! lists, and allow policies sit on projects, key rings, keys, notes and attestors, inherited
//! from the project down (a key's effective policy is the union of the project's, the key
//! ring's and its own). get/setIamPolicy serve those policies as gcloud's
//! `add-iam-policy-binding` and `get-iam-policy` send them, with etags. Without the setting the
//! emulator allows every authenticated call, as it always did.

use crate::google::{decode_bytes, encode_bytes, ApiError, ApiResult};
use crate::http::Reply;
use crate::router::{Call, Emulator};
use crate::schema::{self, f, Msg, Ty};
use crate::state::State;
use serde_json::{json, Value};

/// The permissions a route needs, each on the resource it is checked on. Each method's page in
/// Google's REST reference names its permission ("Authorization requires the following IAM
/// permission on the specified resource"); Binary Authorization's are tabled in
/// https://cloud.google.com/binary-authorization/docs/reference/permissions-and-roles; Container
/// Analysis's in https://cloud.google.com/artifact-analysis/docs/ca-access-control (an
/// occurrence create needs `occurrences.create` on the project and `notes.attachOccurrence` on
/// the note it is attached to).
/// None for a route this table does not know: enforcement then refuses it (fail closed), so a
/// route added without its permission cannot pass unchecked.
pub fn required(route: &str, call: &Call) -> Option<Vec<(&'static str, String)>> {
    let on = |perm: &'static str| vec![(perm, checked_resource(&call.resource))];
    Some(match route {
        "kms.keyRings.create" => on("cloudkms.keyRings.create"),
        "kms.keyRings.list" => on("cloudkms.keyRings.list"),
        "kms.keyRings.get" => on("cloudkms.keyRings.get"),
        "kms.keyRings.getIamPolicy" => on("cloudkms.keyRings.getIamPolicy"),
        "kms.keyRings.setIamPolicy" => on("cloudkms.keyRings.setIamPolicy"),
        "kms.cryptoKeys.create" => on("cloudkms.cryptoKeys.create"),
        "kms.cryptoKeys.list" => on("cloudkms.cryptoKeys.list"),
        "kms.cryptoKeys.get" => on("cloudkms.cryptoKeys.get"),
        "kms.cryptoKeys.getIamPolicy" => on("cloudkms.cryptoKeys.getIamPolicy"),
        "kms.cryptoKeys.setIamPolicy" => on("cloudkms.cryptoKeys.setIamPolicy"),
        "kms.cryptoKeyVersions.create" => on("cloudkms.cryptoKeyVersions.create"),
        "kms.cryptoKeyVersions.list" => on("cloudkms.cryptoKeyVersions.list"),
        "kms.cryptoKeyVersions.get" => on("cloudkms.cryptoKeyVersions.get"),
        "kms.cryptoKeyVersions.patch" => on("cloudkms.cryptoKeyVersions.update"),
        "kms.cryptoKeyVersions.destroy" => on("cloudkms.cryptoKeyVersions.destroy"),
        "kms.cryptoKeyVersions.restore" => on("cloudkms.cryptoKeyVersions.restore"),
        "kms.cryptoKeyVersions.getPublicKey" => on("cloudkms.cryptoKeyVersions.viewPublicKey"),
        "kms.cryptoKeyVersions.asymmetricSign" => on("cloudkms.cryptoKeyVersions.useToSign"),
        "binauthz.attestors.create" => on("binaryauthorization.attestors.create"),
        "binauthz.attestors.list" => on("binaryauthorization.attestors.list"),
        "binauthz.attestors.get" => on("binaryauthorization.attestors.get"),
        "binauthz.attestors.update" => on("binaryauthorization.attestors.update"),
        "binauthz.attestors.delete" => on("binaryauthorization.attestors.delete"),
        "binauthz.attestors.getIamPolicy" => on("binaryauthorization.attestors.getIamPolicy"),
        "binauthz.attestors.setIamPolicy" => on("binaryauthorization.attestors.setIamPolicy"),
        "binauthz.attestors.validateAttestationOccurrence" => {
            on("binaryauthorization.attestors.verifyImageAttested")
        }
        "binauthz.policy.get" => on("binaryauthorization.policy.get"),
        "binauthz.policy.update" => on("binaryauthorization.policy.update"),
        "grafeas.notes.create" => on("containeranalysis.notes.create"),
        "grafeas.notes.list" => on("containeranalysis.notes.list"),
        "grafeas.notes.get" => on("containeranalysis.notes.get"),
        "grafeas.notes.delete" => on("containeranalysis.notes.delete"),
        "grafeas.notes.getIamPolicy" => on("containeranalysis.notes.getIamPolicy"),
        "grafeas.notes.setIamPolicy" => on("containeranalysis.notes.setIamPolicy"),
        "grafeas.notes.occurrences.list" => on("containeranalysis.notes.listOccurrences"),
        "grafeas.occurrences.create" => {
            let mut needs = on("containeranalysis.occurrences.create");
            let body: Value = serde_json::from_slice(&call.req.body).unwrap_or_default();
            let note = body["noteName"].as_str().or(body["note_name"].as_str());
            if let Some(note) = note.filter(|n| n.starts_with("projects/")) {
                needs.push(("containeranalysis.notes.attachOccurrence", note.to_string()));
            }
            needs
        }
        "grafeas.occurrences.list" => on("containeranalysis.occurrences.list"),
        "grafeas.occurrences.get" => on("containeranalysis.occurrences.get"),
        "grafeas.occurrences.delete" => on("containeranalysis.occurrences.delete"),
        "resourcemanager.projects.get" => on("resourcemanager.projects.get"),
        "resourcemanager.projects.getIamPolicy" => on("resourcemanager.projects.getIamPolicy"),
        "resourcemanager.projects.setIamPolicy" => on("resourcemanager.projects.setIamPolicy"),
        // Cloud Run, per https://cloud.google.com/run/docs/reference/iam/permissions (v1 calls
        // are checked on the location their regional host and namespace name).
        "run.services.list" | "run.v2.services.list" => run_on(call, "run.services.list"),
        "run.services.create" | "run.v2.services.create" => run_on(call, "run.services.create"),
        "run.services.get" | "run.v2.services.get" => run_on(call, "run.services.get"),
        "run.services.replace" | "run.v2.services.update" => run_on(call, "run.services.update"),
        "run.revisions.get" | "run.v2.revisions.get" => run_on(call, "run.revisions.get"),
        "run.services.getIamPolicy" => run_on(call, "run.services.getIamPolicy"),
        "run.v2.revisions.list" => run_on(call, "run.revisions.list"),
        "run.v2.jobs.list" => run_on(call, "run.jobs.list"),
        "run.v2.jobs.create" => run_on(call, "run.jobs.create"),
        "run.v2.jobs.get" => run_on(call, "run.jobs.get"),
        "run.v2.jobs.update" => run_on(call, "run.jobs.update"),
        // testIamPermissions needs no permission: it answers which ones the caller holds.
        "run.services.testIamPermissions" => Vec::new(),
        // entries.list: `logging.logEntries.list` on each project read
        // (https://cloud.google.com/logging/docs/reference/v2/rest/v2/entries/list).
        "logging.entries.list" => {
            let body: Value = serde_json::from_slice(&call.req.body).unwrap_or_default();
            crate::logging::projects_of(&body)
                .unwrap_or_default()
                .into_iter()
                .map(|p| ("logging.logEntries.list", format!("projects/{p}")))
                .collect()
        }
        // Impersonation checks its own grant (the account's tokenCreators).
        "iamcredentials.generateAccessToken" => Vec::new(),
        _ => return None,
    })
}

fn run_on(call: &Call, perm: &'static str) -> Vec<(&'static str, String)> {
    vec![(perm, crate::run::iam_resource(call))]
}

/// The resource a permission is checked on: the parent for a collection call
/// (`.../keyRings` -> the location), the version for `.../publicKey`, the resource otherwise.
fn checked_resource(resource: &str) -> String {
    let segments: Vec<&str> = resource.split('/').collect();
    if segments.len() % 2 == 1 && segments.last() != Some(&"policy") {
        segments[..segments.len() - 1].join("/")
    } else {
        resource.to_string()
    }
}

/// Predefined roles and their permissions, as Google's IAM roles reference lists them:
/// https://cloud.google.com/iam/docs/roles-permissions/cloudkms,
/// https://cloud.google.com/iam/docs/roles-permissions/containeranalysis,
/// https://cloud.google.com/iam/docs/roles-permissions/binaryauthorization. `roles/owner`
/// (https://cloud.google.com/iam/docs/roles-overview#basic) holds every permission here.
pub fn role_permissions(role: &str) -> Option<&'static [&'static str]> {
    const PROJECT: [&str; 2] = [
        "resourcemanager.projects.get",
        "resourcemanager.projects.list",
    ];
    Some(match role {
        "roles/cloudkms.signerVerifier" => &[
            "cloudkms.cryptoKeyVersions.useToSign",
            "cloudkms.cryptoKeyVersions.useToVerify",
            "cloudkms.cryptoKeyVersions.viewPublicKey",
            "cloudkms.locations.get",
            "cloudkms.locations.list",
            PROJECT[0],
        ],
        "roles/cloudkms.signer" => &[
            "cloudkms.cryptoKeyVersions.useToSign",
            "cloudkms.locations.get",
            "cloudkms.locations.list",
            PROJECT[0],
        ],
        "roles/cloudkms.publicKeyViewer" => &[
            "cloudkms.cryptoKeyVersions.viewPublicKey",
            "cloudkms.locations.get",
            "cloudkms.locations.list",
            PROJECT[0],
        ],
        "roles/cloudkms.viewer" => &[
            "cloudkms.cryptoKeyVersions.get",
            "cloudkms.cryptoKeyVersions.list",
            "cloudkms.cryptoKeys.get",
            "cloudkms.cryptoKeys.list",
            "cloudkms.keyRings.get",
            "cloudkms.keyRings.list",
            "cloudkms.locations.get",
            "cloudkms.locations.list",
            PROJECT[0],
        ],
        "roles/containeranalysis.notes.attacher" => &[
            "containeranalysis.notes.attachOccurrence",
            PROJECT[0],
            PROJECT[1],
        ],
        "roles/containeranalysis.notes.occurrences.viewer" => &[
            "containeranalysis.notes.listOccurrences",
            PROJECT[0],
            PROJECT[1],
        ],
        "roles/containeranalysis.notes.viewer" => &[
            "containeranalysis.notes.get",
            "containeranalysis.notes.list",
            PROJECT[0],
            PROJECT[1],
        ],
        "roles/containeranalysis.occurrences.editor" => &[
            "containeranalysis.occurrences.create",
            "containeranalysis.occurrences.delete",
            "containeranalysis.occurrences.get",
            "containeranalysis.occurrences.list",
            "containeranalysis.occurrences.update",
            PROJECT[0],
            PROJECT[1],
        ],
        "roles/containeranalysis.occurrences.viewer" => &[
            "containeranalysis.occurrences.get",
            "containeranalysis.occurrences.list",
            PROJECT[0],
            PROJECT[1],
        ],
        "roles/binaryauthorization.attestorsViewer" => &[
            "binaryauthorization.attestors.get",
            "binaryauthorization.attestors.list",
            PROJECT[0],
            PROJECT[1],
        ],
        "roles/binaryauthorization.attestorsVerifier" => &[
            "binaryauthorization.attestors.get",
            "binaryauthorization.attestors.list",
            "binaryauthorization.attestors.verifyImageAttested",
            PROJECT[0],
            PROJECT[1],
        ],
        "roles/binaryauthorization.policyViewer" => {
            &["binaryauthorization.policy.get", PROJECT[0], PROJECT[1]]
        }
        // https://cloud.google.com/iam/docs/roles-permissions/run (the permissions modelled here).
        "roles/run.admin" => &[
            "run.services.create",
            "run.services.get",
            "run.services.list",
            "run.services.update",
            "run.services.delete",
            "run.services.getIamPolicy",
            "run.services.setIamPolicy",
            "run.revisions.get",
            "run.revisions.list",
            "run.jobs.create",
            "run.jobs.get",
            "run.jobs.list",
            "run.jobs.update",
            PROJECT[0],
            PROJECT[1],
        ],
        "roles/run.developer" => &[
            "run.services.create",
            "run.services.get",
            "run.services.list",
            "run.services.update",
            "run.services.delete",
            "run.services.getIamPolicy",
            "run.revisions.get",
            "run.revisions.list",
            "run.jobs.create",
            "run.jobs.get",
            "run.jobs.list",
            "run.jobs.update",
            PROJECT[0],
            PROJECT[1],
        ],
        "roles/run.viewer" => &[
            "run.services.get",
            "run.services.list",
            "run.services.getIamPolicy",
            "run.revisions.get",
            "run.revisions.list",
            "run.jobs.get",
            "run.jobs.list",
            PROJECT[0],
            PROJECT[1],
        ],
        // https://cloud.google.com/iam/docs/roles-permissions/logging
        "roles/logging.viewer" | "roles/logging.privateLogViewer" => &[
            "logging.logEntries.list",
            "logging.logs.list",
            "logging.logServices.list",
            PROJECT[0],
        ],
        "roles/owner" => &[],
        _ => return None,
    })
}

/// Whether `principal` holds `permission` on `resource` through the policies on it and its
/// ancestors (every prefix `projects/P`, `projects/P/locations/L/keyRings/R`, ...).
pub fn allows(state: &State, principal: &str, permission: &str, resource: &str) -> bool {
    let segments: Vec<&str> = resource.split('/').collect();
    (2..=segments.len())
        .filter_map(|n| state.iam_policies.get(&segments[..n].join("/")))
        .flat_map(|policy| policy["bindings"].as_array().into_iter().flatten())
        .filter(|b| {
            let members: Vec<String> = b["members"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|m| m.as_str().map(String::from))
                .collect();
            crate::auth::holds(&members, principal)
                || members
                    .iter()
                    .any(|m| m == "allUsers" || m == "allAuthenticatedUsers")
        })
        .any(|b| {
            let role = b["role"].as_str().unwrap_or_default();
            role == "roles/owner"
                || role_permissions(role).is_some_and(|perms| perms.contains(&permission))
        })
}

/// Refuses the call unless the caller holds every permission it needs, in Google's words:
/// `Permission 'P' denied on resource 'R' (or it may not exist).` with an `ErrorInfo` of reason
/// `IAM_PERMISSION_DENIED` naming both (the shape of Google's IAM denials, e.g. in the IAM
/// troubleshooting guide https://cloud.google.com/iam/docs/troubleshooting-access).
pub fn authorize(state: &State, route: &str, call: &Call) -> ApiResult<()> {
    let Some(needs) = required(route, call) else {
        return Err(ApiError::denied(format!(
            "Permission denied on resource '{}': the emulator models no permission for {route}.",
            call.resource
        )));
    };
    for (permission, resource) in needs {
        if !allows(state, &call.principal, permission, &resource) {
            return Err(ApiError::denied(format!(
                "Permission '{permission}' denied on resource '{resource}' (or it may not exist)."
            ))
            .with_detail(json!({
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "IAM_PERMISSION_DENIED",
                "domain": "iam.googleapis.com",
                "metadata": {"permission": permission, "resource": resource},
            })));
        }
    }
    Ok(())
}

/// `google.iam.v1.Policy` (https://cloud.google.com/iam/docs/reference/rest/v1/Policy).
static POLICY: Msg = Msg {
    fields: &[
        f("version", "version", Ty::Int64),
        f("bindings", "bindings", Ty::Msg(&BINDING)).repeated(),
        f("auditConfigs", "audit_configs", Ty::Opaque).repeated(),
        f("etag", "etag", Ty::Bytes),
    ],
    oneofs: &[],
};
static BINDING: Msg = Msg {
    fields: &[
        f("role", "role", Ty::Str),
        f("members", "members", Ty::Str).repeated(),
        f("condition", "condition", Ty::Opaque),
    ],
    oneofs: &[],
};
static SET_REQUEST: Msg = Msg {
    fields: &[
        f("policy", "policy", Ty::Msg(&POLICY)),
        f("updateMask", "update_mask", Ty::Str),
    ],
    oneofs: &[],
};
static OPTIONS: Msg = Msg {
    fields: &[f(
        "requestedPolicyVersion",
        "requested_policy_version",
        Ty::Int64,
    )],
    oneofs: &[],
};
static GET_REQUEST: Msg = Msg {
    fields: &[f("options", "options", Ty::Msg(&OPTIONS))],
    oneofs: &[],
};

/// The resource an IAM call names must exist: 404 as each API answers for it.
fn existing(state: &State, resource: &str) -> ApiResult<()> {
    let exists = match resource.split('/').count() {
        2 => state.project_exists(resource.trim_start_matches("projects/")),
        _ => {
            state.key_rings.contains_key(resource)
                || state.crypto_keys.contains_key(resource)
                || state.notes.contains_key(resource)
                || state.attestors.contains_key(resource)
        }
    };
    if exists {
        Ok(())
    } else {
        Err(ApiError::not_found(format!(
            "Resource {resource} not found."
        )))
    }
}

/// The stored policy, or the empty one Google answers for a resource that never had one
/// (`{"etag": "ACAB"}`, version 1).
fn current(state: &State, resource: &str) -> Value {
    state
        .iam_policies
        .get(resource)
        .cloned()
        .unwrap_or_else(|| json!({"version": 1, "etag": "ACAB"}))
}

/// `getIamPolicy` on any resource kind: GET with `options.requestedPolicyVersion` (KMS, Binary
/// Authorization) or POST with `{"options": {...}}` (Resource Manager, Container Analysis).
pub fn get_policy(emu: &Emulator, call: &Call) -> ApiResult<Reply> {
    if call.req.method == "POST" {
        schema::parse(&call.req.body, &GET_REQUEST, "")?;
    }
    let state = emu.state();
    existing(&state, &call.resource)?;
    Ok(Reply::json(&current(&state, &call.resource)))
}

/// `setIamPolicy`: replaces the policy; an `etag` that is not the current one is 409 ABORTED
/// (https://cloud.google.com/iam/docs/policies#etag: "IAM rejects the request" when the etag
/// does not match); every role must be one the emulator knows (Google: "Role ... is not
/// supported for this resource."), every member a known member form.
pub fn set_policy(emu: &Emulator, call: &Call) -> ApiResult<Reply> {
    let body = schema::parse(&call.req.body, &SET_REQUEST, "")?;
    let mut policy = body
        .get("policy")
        .cloned()
        .ok_or_else(|| schema::bad_request("policy", "policy is required.".into()))?;
    let mut state = emu.state();
    existing(&state, &call.resource)?;
    let old = current(&state, &call.resource);
    if let Some(etag) = policy["etag"].as_str() {
        let sent = decode_bytes("policy.etag", etag)?;
        let have = decode_bytes("etag", old["etag"].as_str().unwrap_or_default())?;
        if sent != have {
            return Err(ApiError::aborted(
                "There were concurrent policy changes. Please retry the whole read-modify-write with exponential backoff.",
            ));
        }
    }
    let mut bindings = Vec::new();
    for b in policy["bindings"].as_array().cloned().unwrap_or_default() {
        if b.get("condition").is_some() {
            return Err(ApiError::invalid(
                "The emulator does not model IAM conditions.",
            ));
        }
        let role = b["role"].as_str().unwrap_or_default();
        if role_permissions(role).is_none() {
            return Err(ApiError::invalid(format!(
                "Role {role} is not supported for this resource."
            )));
        }
        let members: Vec<&str> = b["members"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        for m in &members {
            let known = ["user:", "serviceAccount:", "group:", "domain:"]
                .iter()
                .any(|p| m.strip_prefix(p).is_some_and(|rest| !rest.is_empty()))
                || m.starts_with("principal://")
                || m.starts_with("principalSet://")
                || *m == "allUsers"
                || *m == "allAuthenticatedUsers";
            if !known {
                return Err(ApiError::invalid(format!("Invalid member: {m}.")));
            }
        }
        if !members.is_empty() {
            bindings.push(json!({"role": role, "members": members}));
        }
    }
    state.iam_serial += 1;
    let etag = encode_bytes(&state.iam_serial.to_be_bytes());
    policy = json!({"version": 1, "bindings": bindings, "etag": etag});
    if bindings_empty(&policy) {
        policy.as_object_mut().map(|p| p.remove("bindings"));
    }
    state
        .iam_policies
        .insert(call.resource.clone(), policy.clone());
    Ok(Reply::json(&policy))
}

fn bindings_empty(policy: &Value) -> bool {
    policy["bindings"].as_array().is_none_or(Vec::is_empty)
}

/// Resource Manager `projects.get` (v1): the project and its number, which names its service
/// agents (`service-NUMBER@gcp-sa-binaryauthorization.iam.gserviceaccount.com`).
pub fn get_project(emu: &Emulator, call: &Call) -> ApiResult<Reply> {
    let state = emu.state();
    let id = call.resource.trim_start_matches("projects/");
    existing(&state, &call.resource)?;
    Ok(Reply::json(&json!({
        "projectNumber": project_number(id).to_string(),
        "projectId": id,
        "lifecycleState": "ACTIVE",
        "name": id,
    })))
}

/// A stable 12-digit number per project id (Google's are assigned; ours only need to be fixed).
pub fn project_number(id: &str) -> u64 {
    let hash = id.bytes().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100000001b3)
    });
    100_000_000_000 + hash % 900_000_000_000
}

/// Seeds a policy (`iam.policies` in the seed file), checked as setIamPolicy checks it.
pub fn seed_policy(
    state: &mut State,
    resource: &str,
    bindings: &[(String, Vec<String>)],
) -> Result<(), String> {
    for (role, members) in bindings {
        if role_permissions(role).is_none() {
            return Err(format!("IAM policy of {resource}: unknown role {role}"));
        }
        if members.is_empty() {
            return Err(format!("IAM policy of {resource}: {role} has no members"));
        }
    }
    state.iam_serial += 1;
    let bindings: Vec<Value> = bindings
        .iter()
        .map(|(role, members)| json!({"role": role, "members": members}))
        .collect();
    let etag = encode_bytes(&state.iam_serial.to_be_bytes());
    state.iam_policies.insert(
        resource.to_string(),
        json!({"version": 1, "bindings": bindings, "etag": etag}),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collection_calls_are_checked_on_their_parent() {
        assert_eq!(
            checked_resource("projects/p/locations/global/keyRings"),
            "projects/p/locations/global"
        );
        assert_eq!(checked_resource("projects/p/policy"), "projects/p/policy");
        assert_eq!(
            checked_resource(
                "projects/p/locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1/publicKey"
            ),
            "projects/p/locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1"
        );
        assert_eq!(checked_resource("projects/p/notes/n"), "projects/p/notes/n");
    }

    #[test]
    fn policies_are_inherited_from_the_project() {
        let mut state = State::default();
        let who = "serviceAccount:ci@p.iam.gserviceaccount.com";
        seed_policy(
            &mut state,
            "projects/p",
            &[(
                "roles/containeranalysis.occurrences.editor".into(),
                vec![who.into()],
            )],
        )
        .unwrap();
        seed_policy(
            &mut state,
            "projects/p/locations/l/keyRings/r/cryptoKeys/k",
            &[("roles/cloudkms.signer".into(), vec![who.into()])],
        )
        .unwrap();
        let version = "projects/p/locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1";
        assert!(allows(
            &state,
            who,
            "cloudkms.cryptoKeyVersions.useToSign",
            version
        ));
        assert!(!allows(
            &state,
            who,
            "cloudkms.cryptoKeyVersions.viewPublicKey",
            version
        ));
        assert!(!allows(
            &state,
            who,
            "cloudkms.cryptoKeyVersions.useToSign",
            "projects/p/locations/l/keyRings/r/cryptoKeys/other/cryptoKeyVersions/1"
        ));
        assert!(allows(
            &state,
            who,
            "containeranalysis.occurrences.create",
            "projects/p"
        ));
        assert!(!allows(
            &state,
            "user:x@example.com",
            "containeranalysis.occurrences.create",
            "projects/p"
        ));
    }
}
