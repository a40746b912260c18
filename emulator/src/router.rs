//! One table from (method, path) to a named route: names are what fault rules, counters and the
//! request log speak of. Google's paths are matched segment by segment, with the `:verb` suffix
//! of custom methods split off into a segment of its own; the registry's paths (`/v2/...`) by
//! their trailing segments, since repository names have any number of components.

use crate::google::{ApiError, ApiResult};
use crate::http::{Reply, Request};
use crate::registry::{self, api::RegResult};
use crate::{admin, auth, binauthz, faults::Faults, grafeas, iam, kms, logging, run, state::State};
use std::sync::Mutex;

pub struct Emulator {
    pub state: Mutex<State>,
    pub faults: Mutex<Faults>,
    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub base_url: String,
}

impl Emulator {
    /// Locks the state; a handler that panicked left it usable, so poisoning is ignored.
    pub fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
    pub fn faults(&self) -> std::sync::MutexGuard<'_, Faults> {
        self.faults.lock().unwrap_or_else(|p| p.into_inner())
    }
}

pub type Handler = fn(&Emulator, &Call) -> ApiResult<Reply>;
pub type RegistryHandler = fn(&Emulator, &Call) -> RegResult;

/// Which surface a route belongs to: it decides how callers authenticate and the error shape.
#[derive(Clone, Copy)]
pub enum Serve {
    /// Google's JSON APIs and credential endpoints: bearer tokens, Google's error shape.
    Google(Handler),
    /// Artifact Registry's Docker API: GAR's token auth, the registry's error shape.
    Registry(RegistryHandler),
}

#[derive(Clone, Copy)]
pub struct Route {
    pub name: &'static str,
    pub serve: Serve,
    /// API and registry routes need a credential; token, metadata and admin routes do not.
    pub api: bool,
}

/// A request matched to its route, with what the handler needs to know about the caller.
pub struct Call<'a> {
    pub req: &'a Request,
    /// `v1` or `v1beta1` for Google API routes.
    pub version: String,
    /// The resource path after the version, without a `:verb` (`projects/p/attestors/a`).
    pub resource: String,
    pub principal: String,
}

impl Call<'_> {
    /// The resource path without its last `n` segments (the parent of a collection call).
    pub fn parent(&self, n: usize) -> String {
        let parts: Vec<&str> = self.resource.split('/').collect();
        parts[..parts.len().saturating_sub(n)].join("/")
    }
    /// A required query parameter, e.g. `attestorId`.
    pub fn required_query(&self, name: &str) -> ApiResult<&str> {
        self.req
            .query(name)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| ApiError::invalid(format!("Missing required query parameter {name}.")))
    }
}

/// Path segments with a trailing `:verb` split off (`1:asymmetricSign` -> `1`, `:asymmetricSign`).
fn split_verb(req: &Request) -> Vec<&str> {
    let mut segs: Vec<&str> = req.segments.iter().map(String::as_str).collect();
    if segs
        .first()
        .is_some_and(|s| s.starts_with('v') && *s != "v2")
    {
        if let Some(last) = segs.pop() {
            match last.find(':') {
                Some(i) if i > 0 => {
                    segs.push(&last[..i]);
                    segs.push(&last[i..]);
                }
                _ => segs.push(last),
            }
        }
    }
    segs
}

const fn api(name: &'static str, handler: Handler) -> Route {
    Route {
        name,
        serve: Serve::Google(handler),
        api: true,
    }
}
const fn open(name: &'static str, handler: Handler) -> Route {
    Route {
        name,
        serve: Serve::Google(handler),
        api: false,
    }
}
const fn reg(name: &'static str, handler: RegistryHandler) -> Route {
    Route {
        name,
        serve: Serve::Registry(handler),
        api: true,
    }
}

pub fn resolve(req: &Request) -> Option<Route> {
    let segs = split_verb(req);
    let m = req.method.as_str();
    let route = match (m, segs.as_slice()) {
        // IAM policies (get/setIamPolicy) on the resources that hold them, and Resource
        // Manager's projects.get (v1), as gcloud calls them: KMS and Binary Authorization
        // (gcloud uses v1alpha2 for attestors) GET getIamPolicy, the others POST it.
        ("GET", ["v1", "projects", _, "locations", _, "keyRings", _, ":getIamPolicy"]) => {
            api("kms.keyRings.getIamPolicy", iam::get_policy)
        }
        ("POST", ["v1", "projects", _, "locations", _, "keyRings", _, ":setIamPolicy"]) => {
            api("kms.keyRings.setIamPolicy", iam::set_policy)
        }
        (
            "GET",
            ["v1", "projects", _, "locations", _, "keyRings", _, "cryptoKeys", _, ":getIamPolicy"],
        ) => api("kms.cryptoKeys.getIamPolicy", iam::get_policy),
        (
            "POST",
            ["v1", "projects", _, "locations", _, "keyRings", _, "cryptoKeys", _, ":setIamPolicy"],
        ) => api("kms.cryptoKeys.setIamPolicy", iam::set_policy),
        (
            "GET",
            ["v1" | "v1beta1" | "v1alpha2", "projects", _, "attestors", _, ":getIamPolicy"],
        ) => api("binauthz.attestors.getIamPolicy", iam::get_policy),
        (
            "POST",
            ["v1" | "v1beta1" | "v1alpha2", "projects", _, "attestors", _, ":setIamPolicy"],
        ) => api("binauthz.attestors.setIamPolicy", iam::set_policy),
        ("POST", ["v1", "projects", _, "notes", _, ":getIamPolicy"]) => {
            api("grafeas.notes.getIamPolicy", iam::get_policy)
        }
        ("POST", ["v1", "projects", _, "notes", _, ":setIamPolicy"]) => {
            api("grafeas.notes.setIamPolicy", iam::set_policy)
        }
        ("GET", ["v1", "projects", _]) => api("resourcemanager.projects.get", iam::get_project),
        ("POST", ["v1", "projects", _, ":getIamPolicy"]) => {
            api("resourcemanager.projects.getIamPolicy", iam::get_policy)
        }
        ("POST", ["v1", "projects", _, ":setIamPolicy"]) => {
            api("resourcemanager.projects.setIamPolicy", iam::set_policy)
        }
        // Cloud KMS v1.
        ("POST", ["v1", "projects", _, "locations", _, "keyRings"]) => {
            api("kms.keyRings.create", kms::create_key_ring)
        }
        ("GET", ["v1", "projects", _, "locations", _, "keyRings"]) => {
            api("kms.keyRings.list", kms::list_key_rings)
        }
        ("GET", ["v1", "projects", _, "locations", _, "keyRings", _]) => {
            api("kms.keyRings.get", kms::get_key_ring)
        }
        ("POST", ["v1", "projects", _, "locations", _, "keyRings", _, "cryptoKeys"]) => {
            api("kms.cryptoKeys.create", kms::create_crypto_key)
        }
        ("GET", ["v1", "projects", _, "locations", _, "keyRings", _, "cryptoKeys"]) => {
            api("kms.cryptoKeys.list", kms::list_crypto_keys)
        }
        ("GET", ["v1", "projects", _, "locations", _, "keyRings", _, "cryptoKeys", _]) => {
            api("kms.cryptoKeys.get", kms::get_crypto_key)
        }
        (
            "POST",
            ["v1", "projects", _, "locations", _, "keyRings", _, "cryptoKeys", _, "cryptoKeyVersions"],
        ) => api("kms.cryptoKeyVersions.create", kms::create_version),
        (
            "GET",
            ["v1", "projects", _, "locations", _, "keyRings", _, "cryptoKeys", _, "cryptoKeyVersions"],
        ) => api("kms.cryptoKeyVersions.list", kms::list_versions),
        (
            "GET",
            ["v1", "projects", _, "locations", _, "keyRings", _, "cryptoKeys", _, "cryptoKeyVersions", _],
        ) => api("kms.cryptoKeyVersions.get", kms::get_version),
        (
            "PATCH",
            ["v1", "projects", _, "locations", _, "keyRings", _, "cryptoKeys", _, "cryptoKeyVersions", _],
        ) => api("kms.cryptoKeyVersions.patch", kms::patch_version),
        (
            "POST",
            ["v1", "projects", _, "locations", _, "keyRings", _, "cryptoKeys", _, "cryptoKeyVersions", _, ":destroy"],
        ) => api("kms.cryptoKeyVersions.destroy", kms::destroy_version),
        (
            "POST",
            ["v1", "projects", _, "locations", _, "keyRings", _, "cryptoKeys", _, "cryptoKeyVersions", _, ":restore"],
        ) => api("kms.cryptoKeyVersions.restore", kms::restore_version),
        (
            "GET",
            ["v1", "projects", _, "locations", _, "keyRings", _, "cryptoKeys", _, "cryptoKeyVersions", _, "publicKey"],
        ) => api("kms.cryptoKeyVersions.getPublicKey", kms::get_public_key),
        (
            "POST",
            ["v1", "projects", _, "locations", _, "keyRings", _, "cryptoKeys", _, "cryptoKeyVersions", _, ":asymmetricSign"],
        ) => api("kms.cryptoKeyVersions.asymmetricSign", kms::asymmetric_sign),
        // Binary Authorization v1 and v1beta1.
        ("POST", ["v1" | "v1beta1", "projects", _, "attestors"]) => {
            api("binauthz.attestors.create", binauthz::create_attestor)
        }
        ("GET", ["v1" | "v1beta1", "projects", _, "attestors"]) => {
            api("binauthz.attestors.list", binauthz::list_attestors)
        }
        ("GET", ["v1" | "v1beta1", "projects", _, "attestors", _]) => {
            api("binauthz.attestors.get", binauthz::get_attestor)
        }
        ("PUT", ["v1" | "v1beta1", "projects", _, "attestors", _]) => {
            api("binauthz.attestors.update", binauthz::update_attestor)
        }
        ("DELETE", ["v1" | "v1beta1", "projects", _, "attestors", _]) => {
            api("binauthz.attestors.delete", binauthz::delete_attestor)
        }
        (
            "POST",
            ["v1" | "v1beta1", "projects", _, "attestors", _, ":validateAttestationOccurrence"],
        ) => api(
            "binauthz.attestors.validateAttestationOccurrence",
            binauthz::validate_occurrence,
        ),
        ("GET", ["v1" | "v1beta1", "projects", _, "policy"]) => {
            api("binauthz.policy.get", binauthz::get_policy)
        }
        ("PUT", ["v1" | "v1beta1", "projects", _, "policy"]) => {
            api("binauthz.policy.update", binauthz::update_policy)
        }
        // Container Analysis v1.
        ("POST", ["v1", "projects", _, "notes"]) => {
            api("grafeas.notes.create", grafeas::create_note)
        }
        ("GET", ["v1", "projects", _, "notes"]) => api("grafeas.notes.list", grafeas::list_notes),
        ("GET", ["v1", "projects", _, "notes", _]) => api("grafeas.notes.get", grafeas::get_note),
        ("DELETE", ["v1", "projects", _, "notes", _]) => {
            api("grafeas.notes.delete", grafeas::delete_note)
        }
        ("GET", ["v1", "projects", _, "notes", _, "occurrences"]) => api(
            "grafeas.notes.occurrences.list",
            grafeas::list_note_occurrences,
        ),
        ("POST", ["v1", "projects", _, "occurrences"]) => {
            api("grafeas.occurrences.create", grafeas::create_occurrence)
        }
        ("GET", ["v1", "projects", _, "occurrences"]) => {
            api("grafeas.occurrences.list", grafeas::list_occurrences)
        }
        ("GET", ["v1", "projects", _, "occurrences", _]) => {
            api("grafeas.occurrences.get", grafeas::get_occurrence)
        }
        ("DELETE", ["v1", "projects", _, "occurrences", _]) => {
            api("grafeas.occurrences.delete", grafeas::delete_occurrence)
        }
        // Cloud Run: the Knative-style v1 surface gcloud deploys through (at the regional host),
        // its testIamPermissions, and the Admin API v2 the SDK lists.
        ("GET", ["apis", "serving.knative.dev", "v1", "namespaces", _, "services"]) => {
            api("run.services.list", run::v1_list)
        }
        ("POST", ["apis", "serving.knative.dev", "v1", "namespaces", _, "services"]) => {
            api("run.services.create", run::v1_create)
        }
        ("GET", ["apis", "serving.knative.dev", "v1", "namespaces", _, "services", _]) => {
            api("run.services.get", run::v1_get)
        }
        ("PUT", ["apis", "serving.knative.dev", "v1", "namespaces", _, "services", _]) => {
            api("run.services.replace", run::v1_replace)
        }
        ("GET", ["apis", "serving.knative.dev", "v1", "namespaces", _, "revisions", _]) => {
            api("run.revisions.get", run::v1_get_revision)
        }
        ("POST", ["v1", "projects", _, "locations", _, "services", _, ":testIamPermissions"]) => {
            api(
                "run.services.testIamPermissions",
                run::v1_test_iam_permissions,
            )
        }
        ("GET", ["v1", "projects", _, "locations", _, "services", _, ":getIamPolicy"]) => {
            api("run.services.getIamPolicy", run::v1_get_iam_policy)
        }
        ("GET", ["v2", "projects", _, "locations", _, "services"]) => {
            api("run.v2.services.list", run::v2_list_services)
        }
        ("POST", ["v2", "projects", _, "locations", _, "services"]) => {
            api("run.v2.services.create", run::v2_create_service)
        }
        ("GET", ["v2", "projects", _, "locations", _, "services", _]) => {
            api("run.v2.services.get", run::v2_get_service)
        }
        ("PATCH", ["v2", "projects", _, "locations", _, "services", _]) => {
            api("run.v2.services.update", run::v2_update_service)
        }
        ("GET", ["v2", "projects", _, "locations", _, "services", _, "revisions"]) => {
            api("run.v2.revisions.list", run::v2_list_revisions)
        }
        ("GET", ["v2", "projects", _, "locations", _, "services", _, "revisions", _]) => {
            api("run.v2.revisions.get", run::v2_get_revision)
        }
        ("GET", ["v2", "projects", _, "locations", _, "jobs"]) => {
            api("run.v2.jobs.list", run::v2_list_jobs)
        }
        ("POST", ["v2", "projects", _, "locations", _, "jobs"]) => {
            api("run.v2.jobs.create", run::v2_create_job)
        }
        ("GET", ["v2", "projects", _, "locations", _, "jobs", _]) => {
            api("run.v2.jobs.get", run::v2_get_job)
        }
        ("PATCH", ["v2", "projects", _, "locations", _, "jobs", _]) => {
            api("run.v2.jobs.update", run::v2_update_job)
        }
        // Cloud Logging v2 (the registry owns other /v2/ paths, so its verb is not split off).
        ("POST", ["v2", "entries:list"]) => api("logging.entries.list", logging::list_entries),
        // Credentials: OAuth2, STS, IAM Credentials, metadata server.
        ("POST", ["token"]) => open("oauth2.token", auth::oauth_token),
        ("POST", ["v1", "token"]) => open("sts.token", auth::sts_token),
        ("POST", ["v1", "projects", _, "serviceAccounts", _, ":generateAccessToken"]) => api(
            "iamcredentials.generateAccessToken",
            auth::generate_access_token,
        ),
        ("GET", ["computeMetadata", ..]) | ("GET", []) => open("metadata", auth::metadata),
        // Artifact Registry's Docker API (distribution spec); `name` is PROJECT/REPO/IMAGE[/..].
        ("GET", ["v2"]) => reg("registry.base", registry::api::base),
        ("GET", ["v2", "token"]) => Route {
            name: "registry.token",
            serve: Serve::Registry(registry::auth::token),
            api: false,
        },
        ("HEAD", ["v2", _, .., "manifests", _]) => {
            reg("registry.manifests.head", registry::api::manifest_get)
        }
        ("GET", ["v2", _, .., "manifests", _]) => {
            reg("registry.manifests.get", registry::api::manifest_get)
        }
        ("PUT", ["v2", _, .., "manifests", _]) => {
            reg("registry.manifests.put", registry::api::manifest_put)
        }
        ("DELETE", ["v2", _, .., "manifests", _]) => {
            reg("registry.manifests.delete", registry::api::manifest_delete)
        }
        ("POST", ["v2", _, .., "blobs", "uploads"]) => {
            reg("registry.uploads.start", registry::api::upload_start)
        }
        ("PATCH", ["v2", _, .., "blobs", "uploads", _]) => {
            reg("registry.uploads.patch", registry::api::upload_patch)
        }
        ("PUT", ["v2", _, .., "blobs", "uploads", _]) => {
            reg("registry.uploads.put", registry::api::upload_put)
        }
        ("GET", ["v2", _, .., "blobs", "uploads", _]) => {
            reg("registry.uploads.get", registry::api::upload_status)
        }
        ("DELETE", ["v2", _, .., "blobs", "uploads", _]) => {
            reg("registry.uploads.delete", registry::api::upload_cancel)
        }
        ("HEAD", ["v2", _, .., "blobs", _]) => reg("registry.blobs.head", registry::api::blob_get),
        ("GET", ["v2", _, .., "blobs", _]) => reg("registry.blobs.get", registry::api::blob_get),
        ("GET", ["v2", _, .., "tags", "list"]) => {
            reg("registry.tags.list", registry::api::tags_list)
        }
        ("GET", ["v2", _, .., "referrers", _]) => {
            reg("registry.referrers", registry::api::referrers)
        }
        (_, ["v2", ..]) => reg("registry.unsupported", registry::api::unsupported),
        // The emulator's own admin surface.
        (_, ["emulator", ..]) => open("emulator.admin", admin::handle),
        _ => return None,
    };
    Some(route)
}

/// Runs a resolved route: authenticates API calls, applies seeded denials, calls the handler.
pub fn dispatch(emu: &Emulator, req: &Request, route: Route) -> Reply {
    let segs = split_verb(req);
    let version = segs.first().copied().unwrap_or_default().to_string();
    let resource = segs
        .iter()
        .skip(1)
        .filter(|s| !s.starts_with(':'))
        .copied()
        .collect::<Vec<_>>()
        .join("/");
    let mut call = Call {
        req,
        version,
        resource,
        principal: String::new(),
    };
    let handler = match route.serve {
        Serve::Registry(handler) => {
            // Registry denials need the repository, which the handler parses.
            if route.api {
                match registry::auth::authenticate(emu, req) {
                    Ok(principal) => call.principal = principal,
                    Err(e) => return e.reply(),
                }
            }
            return handler(emu, &call).unwrap_or_else(|e| e.reply());
        }
        Serve::Google(handler) => handler,
    };
    if route.api {
        let mut state = emu.state();
        state.settle();
        match auth::authenticate(&state, req, route.name) {
            Ok(principal) => call.principal = principal,
            Err(e) => return Reply::error(&e),
        }
        if let Err(e) = check_query(req, route.name) {
            return Reply::error(&e);
        }
        // A project the seed does not know: Google answers 403 PERMISSION_DENIED "Permission
        // denied on resource project P." (ErrorInfo reason CONSUMER_INVALID), never 404.
        // `projects/-` is IAM Credentials' wildcard project.
        if let Some(project) = call.resource.strip_prefix("projects/") {
            let project = project.split('/').next().unwrap_or_default();
            if project != "-" && !state.project_exists(project) {
                return Reply::error(&ApiError::unknown_project(project, service_of(route.name)));
            }
        }
        if let Some(deny) = state.denial(&call.principal, &call.resource) {
            let e = ApiError::denied(format!(
                "Permission denied on resource '{}' (or it may not exist): the emulator's seed denies {} on {}.",
                call.resource, call.principal, deny.resource
            ));
            return Reply::error(&e);
        }
        if state.iam_enforced {
            if let Err(e) = iam::authorize(&state, route.name, &call) {
                return Reply::error(&e);
            }
        }
    }
    handler(emu, &call).unwrap_or_else(|e| Reply::error(&e))
}

/// System parameters every Google REST API takes ("System parameters", Cloud APIs docs);
/// `$`-prefixed forms are what the Rust SDK sends.
const SYSTEM_PARAMS: &[&str] = &[
    "alt",
    "$alt",
    "fields",
    "$fields",
    "key",
    "prettyPrint",
    "$prettyPrint",
    "quotaUser",
    "$quotaUser",
    "$.xgafv",
    "access_token",
    "oauth_token",
    "callback",
    "upload_protocol",
    "uploadType",
];

/// The query parameters each method's request message binds (its fields not in the path or
/// body, per the REST reference of each method).
fn method_params(route: &str) -> &'static [&'static str] {
    match route {
        "kms.keyRings.create" => &["keyRingId"],
        "kms.cryptoKeys.create" => &[
            "cryptoKeyId",
            "skipInitialVersionCreation",
            "trustedWrappingEnabled",
        ],
        "kms.keyRings.list" => &["pageSize", "pageToken", "filter", "orderBy"],
        "kms.cryptoKeys.list" => &["pageSize", "pageToken", "filter", "orderBy", "versionView"],
        "kms.cryptoKeyVersions.list" => &["pageSize", "pageToken", "filter", "orderBy", "view"],
        "kms.cryptoKeyVersions.patch" => &["updateMask"],
        "kms.cryptoKeyVersions.getPublicKey" => &["publicKeyFormat"],
        "binauthz.attestors.create" => &["attestorId"],
        "binauthz.attestors.list" => &["pageSize", "pageToken"],
        // Run v1 list takes Kubernetes list options; gcloud sends none of them on deploy.
        "run.services.list" => &[
            "labelSelector",
            "fieldSelector",
            "limit",
            "continue",
            "resourceVersion",
            "watch",
            "includeUninitialized",
        ],
        "run.v2.services.list" | "run.v2.revisions.list" | "run.v2.jobs.list" => {
            &["pageSize", "pageToken", "showDeleted"]
        }
        "run.v2.services.create" => &["serviceId", "validateOnly"],
        "run.v2.jobs.create" => &["jobId", "validateOnly"],
        "run.v2.services.update" | "run.v2.jobs.update" => {
            &["updateMask", "validateOnly", "allowMissing"]
        }
        "run.services.replace" | "run.services.create" => &["dryRun"],
        "run.services.getIamPolicy" => &["options.requestedPolicyVersion"],
        "grafeas.notes.create" => &["noteId"],
        "grafeas.notes.list" | "grafeas.occurrences.list" => {
            &["filter", "pageSize", "pageToken", "returnPartialSuccess"]
        }
        "grafeas.notes.occurrences.list" => &["filter", "pageSize", "pageToken"],
        "kms.keyRings.getIamPolicy"
        | "kms.cryptoKeys.getIamPolicy"
        | "binauthz.attestors.getIamPolicy" => &["options.requestedPolicyVersion"],
        _ => &[],
    }
}

/// Refuses a query parameter the method does not have, as Google's front end does:
/// `Invalid JSON payload received. Unknown name "x": Cannot bind query parameter. Field 'x'
/// could not be found in request message.` KMS list filters and orders are bound but not
/// implemented here, so a non-empty one is refused rather than ignored.
fn check_query(req: &Request, route: &str) -> ApiResult<()> {
    let params = method_params(route);
    for (name, value) in &req.query {
        if !SYSTEM_PARAMS.contains(&name.as_str()) && !params.contains(&name.as_str()) {
            return Err(crate::schema::bad_request(
                name,
                format!("Invalid JSON payload received. Unknown name \"{name}\": Cannot bind query parameter. Field '{name}' could not be found in request message."),
            ));
        }
        if route.starts_with("kms.")
            && matches!(name.as_str(), "filter" | "orderBy")
            && !value.is_empty()
        {
            return Err(ApiError::new(
                501,
                "UNIMPLEMENTED",
                format!("The emulator does not implement {name} on KMS lists."),
            ));
        }
    }
    Ok(())
}

/// The Google service a route belongs to, as error details name it.
pub fn service_of(route: &str) -> &'static str {
    match route.split('.').next().unwrap_or_default() {
        "kms" => "cloudkms.googleapis.com",
        "binauthz" => "binaryauthorization.googleapis.com",
        "grafeas" => "containeranalysis.googleapis.com",
        "iamcredentials" => "iamcredentials.googleapis.com",
        "resourcemanager" => "cloudresourcemanager.googleapis.com",
        "run" => "run.googleapis.com",
        "logging" => "logging.googleapis.com",
        _ => "googleapis.com",
    }
}

/// Answers one page of a list with the API's default page size (100) and no short pages.
pub fn page(call: &Call, field: &str, items: Vec<serde_json::Value>) -> ApiResult<Reply> {
    page_with(call, field, items, 100, 0)
}

/// Answers one page of a list: `pageSize` (0 or absent: `default`, at most 1000, negative
/// refused), an offset `pageToken`, and at most `cap` items per page when `cap` is not 0 (a
/// short page, which AIP-158 allows: "the server may return fewer results than requested"),
/// as `{"<field>": [...], "nextPageToken": "..."}`.
pub fn page_with(
    call: &Call,
    field: &str,
    items: Vec<serde_json::Value>,
    default: usize,
    cap: usize,
) -> ApiResult<Reply> {
    let size = match call.req.query("pageSize").filter(|s| !s.is_empty()) {
        Some(s) => s.parse::<i32>().map_err(|_| {
            ApiError::invalid(format!(
                "Invalid value at 'page_size' (TYPE_INT32), \"{s}\""
            ))
        })?,
        None => 0,
    };
    if size < 0 {
        return Err(ApiError::invalid(format!(
            "page_size must not be negative, got {size}."
        )));
    }
    let mut size = if size == 0 {
        default
    } else {
        (size as usize).min(1000)
    };
    if cap > 0 {
        size = size.min(cap);
    }
    let start = match call.req.query("pageToken").filter(|s| !s.is_empty()) {
        Some(t) => t
            .parse::<usize>()
            .map_err(|_| ApiError::invalid(format!("Invalid page token {t:?}.")))?,
        None => 0,
    };
    let total = items.len();
    let chunk: Vec<_> = items.into_iter().skip(start).take(size).collect();
    let mut body = serde_json::json!({ field: chunk });
    if start + size < total {
        body["nextPageToken"] = serde_json::json!((start + size).to_string());
    }
    if field != "occurrences" && field != "notes" {
        body["totalSize"] = serde_json::json!(total);
    }
    Ok(Reply::json(&body))
}
