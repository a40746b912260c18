//! Cloud Run: one store of services, revisions and jobs behind both surfaces Google serves, the
//! Knative-style v1 API `gcloud run deploy` speaks at the regional host
//! (`REGION-run.googleapis.com/apis/serving.knative.dev/v1/namespaces/PROJECT/services`) and the
//! Admin API v2 (`run.googleapis.com/v2/projects/P/locations/L/services|jobs`) the Rust SDK
//! speaks. Each new revision of a service that opted into Binary Authorization is judged by
//! `admission::evaluate` at deploy time, and what Binary Authorization refused, let through in
//! dry run or let through by breakglass is written to the audit log (`logging.rs`).
//!
//! Sources:
//! - v1 REST: https://cloud.google.com/run/docs/reference/rest/v1/namespaces.services (create,
//!   get, list, replaceService; errors `Resource 'S' of kind 'SERVICE' in region 'R' in project
//!   'P' does not exist.`), v2 REST: https://cloud.google.com/run/docs/reference/rest/v2/projects.locations.services
//!   and `.jobs` (create/patch answer a long-running Operation; `serviceId`/`jobId`).
//! - Binary Authorization on Cloud Run: https://cloud.google.com/binary-authorization/docs/run/overview
//!   ("Cloud Run checks the policy each time you deploy a new revision"; jobs are checked when
//!   executed, so a job's create and update are not; changes "do not retroactively apply to
//!   existing revisions"), https://cloud.google.com/binary-authorization/docs/run/using-breakglass-cloud-run
//!   (the breakglass justification; "a breakglass event is automatically logged ... regardless of
//!   whether the deployment satisfies or violates the policy"), and the v2 `BinaryAuthorization`
//!   message (https://cloud.google.com/run/docs/reference/rest/v2/BinaryAuthorization).
//! - The refusal: condition reason `ContainerImageUnauthorized` (v2 `CommonReason`
//!   `CONTAINER_IMAGE_UNAUTHORIZED`: "Container image is not authorized by policy."), message
//!   "Container image 'IMAGE' is not authorized by policy." followed by Binary Authorization's
//!   own sentence (Cloud Run troubleshooting, https://cloud.google.com/run/docs/troubleshooting).

use crate::admission::{self, Violation};
use crate::google::{int64_field, now, random_id, ApiError, ApiResult};
use crate::http::Reply;
use crate::router::{page, Call, Emulator};
use crate::state::State;
use serde_json::{json, Map, Value};

/// The annotation `gcloud run deploy --binary-authorization=default` sets on the service.
pub const BINAUTHZ_ANNOTATION: &str = "run.googleapis.com/binary-authorization";
/// The annotation `--breakglass=JUSTIFICATION` sets (gcloud's `k8s_object.py`).
pub const BREAKGLASS_ANNOTATION: &str = "run.googleapis.com/binary-authorization-breakglass";

/// A service, in neither API's form: both render from it.
#[derive(Clone)]
pub struct Service {
    pub project: String,
    pub region: String,
    pub id: String,
    pub uid: String,
    pub generation: i64,
    pub create_time: String,
    pub update_time: String,
    pub creator: String,
    pub last_modifier: String,
    pub labels: Map<String, Value>,
    /// Service-level annotations, the Binary Authorization ones included (v1's form).
    pub annotations: Map<String, Value>,
    /// The revision template in v1's form (`metadata`, `spec.containers`).
    pub template: Value,
    pub latest_created: Option<String>,
    pub latest_ready: Option<String>,
    /// The Ready condition of the latest deploy: `None` when it succeeded, else (reason, message).
    pub failure: Option<(&'static str, String)>,
}

/// A revision: the images it runs, each by the digest it was resolved to at deploy.
#[derive(Clone)]
pub struct Revision {
    pub id: String,
    pub service: String,
    pub generation: i64,
    pub create_time: String,
    /// (image as written, `REPO@sha256:...` as run).
    pub images: Vec<(String, String)>,
    pub failure: Option<(&'static str, String)>,
}

/// A job: Binary Authorization is checked when it runs, not when it is written.
#[derive(Clone)]
pub struct Job {
    pub json: Value,
}

impl Service {
    /// The service's resource name, `projects/P/locations/L/services/S`.
    pub fn name(&self) -> String {
        format!(
            "projects/{}/locations/{}/services/{}",
            self.project, self.region, self.id
        )
    }
    fn binauthz(&self) -> Option<&str> {
        self.annotations
            .get(BINAUTHZ_ANNOTATION)
            .and_then(Value::as_str)
    }
    fn breakglass(&self) -> Option<&str> {
        self.annotations
            .get(BREAKGLASS_ANNOTATION)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    }
    fn images(&self) -> Vec<String> {
        self.template["spec"]["containers"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["image"].as_str().map(String::from))
            .collect()
    }
}

/// The region a v1 call addressed: gcloud prefixes it to the endpoint's host
/// (`connection_context.DeriveRegionalEndpoint`: `us-central1-run.googleapis.com`).
fn region_of_host(call: &Call) -> ApiResult<String> {
    let host = call.req.header("host").unwrap_or_default();
    let parts: Vec<&str> = host.splitn(3, '-').collect();
    let region = match parts.as_slice() {
        [a, b, _] if a.bytes().all(|c| c.is_ascii_lowercase())
            && b.bytes().any(|c| c.is_ascii_digit())
            && b.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()) =>
        {
            format!("{a}-{b}")
        }
        _ => {
            return Err(ApiError::invalid(format!(
                "Cloud Run's namespaced API is served at a regional endpoint (REGION-run.googleapis.com); host {host:?} names no region."
            )))
        }
    };
    Ok(region)
}

/// The v1 path's project (`namespaces/PROJECT`), which must exist.
fn namespace(state: &State, call: &Call) -> ApiResult<String> {
    let segs: Vec<&str> = call.resource.split('/').collect();
    let project = segs.get(3).copied().unwrap_or_default().to_string();
    if !state.project_exists(&project) {
        return Err(ApiError::unknown_project(&project, "run.googleapis.com"));
    }
    Ok(project)
}

/// The resource a v1 or v2 call acts on, as IAM checks it (`projects/P/locations/L/services[/S]`).
pub fn iam_resource(call: &Call) -> String {
    let segs: Vec<&str> = call.resource.split('/').collect();
    if call.version == "apis" {
        let region = region_of_host(call).unwrap_or_default();
        let project = segs.get(3).copied().unwrap_or_default();
        return format!("projects/{project}/locations/{region}");
    }
    // v2: a collection call is checked on its parent location, a resource on itself.
    if segs.len() % 2 == 1 {
        segs[..segs.len() - 1].join("/")
    } else {
        call.resource.clone()
    }
}

fn not_found(kind: &str, id: &str, region: &str, project: &str) -> ApiError {
    ApiError::not_found(format!(
        "Resource '{id}' of kind '{kind}' in region '{region}' in project '{project}' does not exist."
    ))
}

/// Cloud Run service names: "only lowercase alphanumeric characters and dashes, cannot begin
/// or end with a dash, and cannot be longer than 49 characters" (gcloud's and the console's
/// rule, https://cloud.google.com/run/docs/deploying#service).
fn check_service_id(id: &str) -> ApiResult<()> {
    let ok = !id.is_empty()
        && id.len() <= 49
        && id.starts_with(|c: char| c.is_ascii_lowercase())
        && !id.ends_with('-')
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    match ok {
        true => Ok(()),
        false => Err(ApiError::invalid(format!(
            "Invalid service name {id:?}: use only lowercase alphanumeric characters and dashes, begin with a letter, do not end with a dash, at most 49 characters."
        ))),
    }
}

/// The principal's email as audit logs and `creator` show it (`user:x@y` -> `x@y`).
fn email(principal: &str) -> String {
    principal
        .split_once(':')
        .map_or(principal, |(_, e)| e)
        .to_string()
}

/// Resolves an image to the `REPO@sha256:...` a revision runs: a digest reference as it is, a
/// tag through the emulator's own registry; anything else Cloud Run cannot pull
/// (`ContainerMissing`: "The container image path is incorrect").
fn resolve(state: &State, own_host: &str, image: &str) -> Result<String, String> {
    if let Some((repo, digest)) = image.split_once('@') {
        return match digest.strip_prefix("sha256:") {
            Some(hex) if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) => {
                Ok(format!("{repo}@{digest}"))
            }
            _ => Err(format!("Image '{image}' has a malformed digest.")),
        };
    }
    let (name, tag) = match image.rfind(':') {
        Some(i) if !image[i..].contains('/') => (&image[..i], &image[i + 1..]),
        _ => (image, "latest"),
    };
    let Some(path) = name.strip_prefix(&format!("{own_host}/")) else {
        return Err(format!("Image '{image}' not found."));
    };
    match state.registry.resolve(path, tag) {
        Ok((digest, _)) => Ok(format!("{name}@{digest}")),
        Err(_) => Err(format!("Image '{image}' not found.")),
    }
}

/// What Binary Authorization said about one deploy, for the revision and the audit log.
enum Judgement {
    Admitted,
    Denied(String),
    DryRun(String),
    Breakglass(String, Option<String>),
}

/// Makes a new revision of `svc` from its template: resolves the images, applies Binary
/// Authorization when the service opted in, records the revision and writes the audit entry.
fn roll_out(
    state: &mut State,
    own_host: &str,
    svc: &mut Service,
    principal: &str,
    method: &str,
) -> ApiResult<()> {
    svc.generation += 1;
    let rev_id = format!(
        "{}-{:05}-{}",
        svc.id,
        svc.generation,
        &random_id().replace('-', "")[..3]
    );
    let mut images = Vec::new();
    let mut failure = None;
    for image in svc.images() {
        match resolve(state, own_host, &image) {
            Ok(digest) => images.push((image, digest)),
            Err(message) => {
                failure = Some(("ContainerMissing", message));
                break;
            }
        }
    }
    let mut judgement = Judgement::Admitted;
    if failure.is_none() && svc.binauthz().is_some() {
        let violations: Vec<Violation> = images
            .iter()
            .filter_map(|(_, run)| admission::evaluate(state, &svc.project, run).err())
            .collect();
        let text = |v: &[Violation]| {
            v.iter()
                .map(|v| v.message.clone())
                .collect::<Vec<_>>()
                .join(" ")
        };
        judgement = match (svc.breakglass(), violations.is_empty()) {
            (Some(why), true) => Judgement::Breakglass(why.to_string(), None),
            (Some(why), false) => Judgement::Breakglass(why.to_string(), Some(text(&violations))),
            (None, true) => Judgement::Admitted,
            (None, false) if violations.iter().all(|v| v.dry_run) => {
                Judgement::DryRun(text(&violations))
            }
            (None, false) => {
                let enforced: Vec<Violation> =
                    violations.into_iter().filter(|v| !v.dry_run).collect();
                let image = images
                    .iter()
                    .find(|(_, run)| enforced[0].message.contains(run.as_str()))
                    .map_or_else(String::new, |(i, _)| i.clone());
                Judgement::Denied(format!(
                    "Container image '{image}' is not authorized by policy. {}",
                    text(&enforced)
                ))
            }
        };
        if let Judgement::Denied(message) = &judgement {
            failure = Some(("ContainerImageUnauthorized", message.clone()));
        }
    }
    let t = now();
    svc.update_time = t.clone();
    svc.last_modifier = email(principal);
    svc.latest_created = Some(rev_id.clone());
    if failure.is_none() {
        svc.latest_ready = Some(rev_id.clone());
    }
    svc.failure = failure.clone();
    let revision = Revision {
        id: rev_id.clone(),
        service: svc.id.clone(),
        generation: svc.generation,
        create_time: t,
        images,
        failure,
    };
    let key = format!(
        "projects/{}/locations/{}/revisions/{rev_id}",
        svc.project, svc.region
    );
    state.run_revisions.insert(key, revision);
    let entry = match judgement {
        Judgement::Admitted => None,
        Judgement::Denied(message) => Some(("ERROR", None, message)),
        Judgement::DryRun(message) => Some(("WARNING", Some(format!("Dry run: {message}")), message)),
        Judgement::Breakglass(why, violation) => Some((
            "NOTICE",
            Some(format!(
                "Breakglass: Binary Authorization enforcement was bypassed with justification: {why}"
            )),
            violation.unwrap_or_default(),
        )),
    };
    if let Some((severity, status_message, _)) = entry {
        crate::logging::write_system_event(
            state,
            crate::logging::SystemEvent {
                project: &svc.project,
                region: &svc.region,
                service: &svc.id,
                revision: &rev_id,
                principal: &email(principal),
                method,
                severity,
                status_message,
                response: render_v1(state, svc),
            },
        );
    }
    Ok(())
}

/// The v1 (Knative) form of a service.
pub fn render_v1(state: &State, svc: &Service) -> Value {
    let mut annotations = svc.annotations.clone();
    annotations.insert("serving.knative.dev/creator".into(), json!(svc.creator));
    annotations.insert(
        "serving.knative.dev/lastModifier".into(),
        json!(svc.last_modifier),
    );
    let mut labels = svc.labels.clone();
    labels.insert("cloud.googleapis.com/location".into(), json!(svc.region));
    let (status, reason, message) = match &svc.failure {
        None => ("True", None, None),
        Some((r, m)) => ("False", Some(*r), Some(m.clone())),
    };
    let mut ready =
        json!({"type": "Ready", "status": status, "lastTransitionTime": svc.update_time});
    let mut configs = json!({"type": "ConfigurationsReady", "status": status, "lastTransitionTime": svc.update_time});
    if let (Some(r), Some(m)) = (reason, &message) {
        for c in [&mut ready, &mut configs] {
            c["reason"] = json!(r);
            c["message"] = json!(m);
        }
    }
    let url = format!(
        "https://{}-{}.{}.run.app",
        svc.id,
        crate::iam::project_number(&svc.project),
        svc.region
    );
    let mut out = json!({
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Service",
        "metadata": {
            "name": svc.id,
            "namespace": crate::iam::project_number(&svc.project).to_string(),
            "selfLink": format!("/apis/serving.knative.dev/v1/namespaces/{}/services/{}", crate::iam::project_number(&svc.project), svc.id),
            "uid": svc.uid,
            "resourceVersion": format!("\"{}\"", svc.generation),
            "generation": svc.generation,
            "creationTimestamp": svc.create_time,
            "labels": labels,
            "annotations": annotations,
        },
        "spec": {"template": svc.template, "traffic": [{"percent": 100, "latestRevision": true}]},
        "status": {
            "observedGeneration": svc.generation,
            "conditions": [ready, configs, {"type": "RoutesReady", "status": if svc.latest_ready.is_some() {"True"} else {"False"}, "lastTransitionTime": svc.update_time}],
            "latestCreatedRevisionName": svc.latest_created,
        },
    });
    if let Some(r) = &svc.latest_ready {
        out["status"]["latestReadyRevisionName"] = json!(r);
        out["status"]["traffic"] =
            json!([{"revisionName": r, "percent": 100, "latestRevision": true}]);
        out["status"]["url"] = json!(url);
        out["status"]["address"] = json!({"url": url});
    }
    let _ = state;
    out
}

/// The v2 form of a service (google.cloud.run.v2.Service).
fn render_v2(svc: &Service) -> Value {
    let name = svc.name();
    let location = format!("projects/{}/locations/{}", svc.project, svc.region);
    let containers: Vec<Value> = svc.template["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            let mut out = json!({"image": c["image"]});
            if let Some(n) = c["name"].as_str().filter(|n| !n.is_empty()) {
                out["name"] = json!(n);
            }
            out
        })
        .collect();
    let mut binauthz = json!({});
    if let Some(mode) = svc.binauthz() {
        binauthz = match mode {
            "default" => json!({"useDefault": true}),
            policy => json!({"policy": policy}),
        };
        if let Some(why) = svc.breakglass() {
            binauthz["breakglassJustification"] = json!(why);
        }
    }
    let mut terminal = json!({"type": "Ready", "state": "CONDITION_SUCCEEDED", "lastTransitionTime": svc.update_time});
    if let Some((reason, message)) = &svc.failure {
        terminal["state"] = json!("CONDITION_FAILED");
        terminal["message"] = json!(message);
        terminal["reason"] = json!(match *reason {
            "ContainerImageUnauthorized" => "CONTAINER_IMAGE_UNAUTHORIZED",
            _ => "CONTAINER_MISSING",
        });
    }
    let mut out = json!({
        "name": name,
        "uid": svc.uid,
        "generation": svc.generation.to_string(),
        "labels": svc.labels,
        "createTime": svc.create_time,
        "updateTime": svc.update_time,
        "creator": svc.creator,
        "lastModifier": svc.last_modifier,
        "launchStage": "GA",
        "ingress": "INGRESS_TRAFFIC_ALL",
        "template": {"containers": containers},
        "traffic": [{"type": "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST", "percent": 100}],
        "observedGeneration": svc.generation.to_string(),
        "terminalCondition": terminal,
        "reconciling": false,
        "etag": format!("\"{}\"", svc.generation),
    });
    if svc.binauthz().is_some() {
        out["binaryAuthorization"] = binauthz;
    }
    if let Some(r) = &svc.latest_created {
        out["latestCreatedRevision"] =
            json!(format!("{location}/services/{}/revisions/{r}", svc.id));
    }
    if let Some(r) = &svc.latest_ready {
        out["latestReadyRevision"] = json!(format!("{location}/services/{}/revisions/{r}", svc.id));
        out["trafficStatuses"] = json!([{"type": "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST", "revision": r, "percent": 100}]);
        out["uri"] = json!(format!(
            "https://{}-{}.{}.run.app",
            svc.id,
            crate::iam::project_number(&svc.project),
            svc.region
        ));
    }
    out
}

/// The v2 form of a revision (google.cloud.run.v2.Revision). A revision runs the digest its
/// image resolved to when it was created (v1 shows it as `status.imageDigest`); v2's Revision
/// message has no field of its own for it, so each container's `image` is answered as that
/// resolved `REPO@sha256:...`.
fn render_revision_v2(project: &str, region: &str, rev: &Revision) -> Value {
    let service = format!(
        "projects/{project}/locations/{region}/services/{}",
        rev.service
    );
    let mut ready = json!({"type": "Ready", "state": "CONDITION_SUCCEEDED"});
    if let Some((reason, message)) = &rev.failure {
        ready["state"] = json!("CONDITION_FAILED");
        ready["message"] = json!(message);
        ready["reason"] = json!(match *reason {
            "ContainerImageUnauthorized" => "CONTAINER_IMAGE_UNAUTHORIZED",
            _ => "CONTAINER_MISSING",
        });
    }
    json!({
        "name": format!("{service}/revisions/{}", rev.id),
        "uid": random_id(),
        "generation": rev.generation.to_string(),
        "createTime": rev.create_time,
        "updateTime": rev.create_time,
        "service": service,
        "launchStage": "GA",
        "containers": rev.images.iter().map(|(_, d)| json!({"image": d})).collect::<Vec<_>>(),
        "conditions": [ready],
        "observedGeneration": rev.generation.to_string(),
        "reconciling": false,
    })
}

/// The v1 form of a revision (serving.knative.dev/v1 Revision).
fn render_revision_v1(project: &str, rev: &Revision) -> Value {
    let (status, extra) = match &rev.failure {
        None => ("True", json!({})),
        Some((r, m)) => ("False", json!({"reason": r, "message": m})),
    };
    let mut ready = json!({"type": "Ready", "status": status});
    if let (Some(obj), Some(extra)) = (ready.as_object_mut(), extra.as_object()) {
        obj.extend(extra.clone());
    }
    json!({
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Revision",
        "metadata": {"name": rev.id, "namespace": crate::iam::project_number(project).to_string(),
                     "generation": 1, "creationTimestamp": rev.create_time,
                     "labels": {"serving.knative.dev/service": rev.service}},
        "spec": {"containers": rev.images.iter().map(|(i, _)| json!({"image": i})).collect::<Vec<_>>()},
        "status": {"conditions": [ready], "observedGeneration": 1,
                   "imageDigest": rev.images.first().map(|(_, d)| d.clone())},
    })
}

/// What a client writes of a service: its annotations, labels and revision template (v1's form).
type Written = (Map<String, Value>, Map<String, Value>, Value);

/// Reads a v1 Service body: the fields Cloud Run takes from it (name, annotations, labels, the
/// template). Every container needs an image (v1 Container: "image: Required").
fn parse_v1(body: &[u8], project: &str) -> ApiResult<(String, Written)> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::invalid(format!("Invalid JSON payload received. {e}")))?;
    if v["apiVersion"] != "serving.knative.dev/v1" || v["kind"] != "Service" {
        return Err(ApiError::invalid(
            "apiVersion must be serving.knative.dev/v1 and kind Service.",
        ));
    }
    let name = v["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    check_service_id(&name)?;
    if let Some(ns) = v["metadata"]["namespace"].as_str() {
        if ns != project && ns != crate::iam::project_number(project).to_string() {
            return Err(ApiError::invalid(format!(
                "metadata.namespace {ns:?} does not match the project {project:?} of the request."
            )));
        }
    }
    let containers = v["spec"]["template"]["spec"]["containers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if containers.is_empty()
        || containers
            .iter()
            .any(|c| c["image"].as_str().is_none_or(str::is_empty))
    {
        return Err(ApiError::invalid(
            "spec.template.spec.containers[].image: Required.",
        ));
    }
    let annotations = v["metadata"]["annotations"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    check_binauthz_annotations(&annotations)?;
    let labels = v["metadata"]["labels"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    Ok((name, (annotations, labels, v["spec"]["template"].clone())))
}

/// `run.googleapis.com/binary-authorization` takes `default` or a policy name; breakglass needs
/// Binary Authorization on (v2 BinaryAuthorization.breakglass_justification: "If useDefault is
/// False, then it must be empty").
fn check_binauthz_annotations(annotations: &Map<String, Value>) -> ApiResult<()> {
    let mode = annotations.get(BINAUTHZ_ANNOTATION).and_then(Value::as_str);
    if let Some(m) = mode {
        if m != "default" && !m.starts_with("projects/") {
            return Err(ApiError::invalid(format!(
                "Annotation {BINAUTHZ_ANNOTATION} must be \"default\" or a policy name projects/P/platforms/cloudRun/NAME, not {m:?}."
            )));
        }
    }
    if annotations.contains_key(BREAKGLASS_ANNOTATION) && mode.is_none() {
        return Err(ApiError::invalid(format!(
            "Annotation {BREAKGLASS_ANNOTATION} requires {BINAUTHZ_ANNOTATION}."
        )));
    }
    Ok(())
}

fn own_host(emu: &Emulator) -> String {
    emu.base_url.trim_start_matches("http://").to_string()
}

fn v1_key(project: &str, region: &str, id: &str) -> String {
    format!("projects/{project}/locations/{region}/services/{id}")
}

/// v1 `namespaces.services.get`.
pub fn v1_get(emu: &Emulator, call: &Call) -> ApiResult<Reply> {
    let region = region_of_host(call)?;
    let state = emu.state();
    let project = namespace(&state, call)?;
    let id = call.resource.rsplit('/').next().unwrap_or_default();
    let svc = state
        .run_services
        .get(&v1_key(&project, &region, id))
        .ok_or_else(|| not_found("SERVICE", id, &region, &project))?;
    Ok(Reply::json(&render_v1(&state, svc)))
}

/// v1 `namespaces.services.list`.
pub fn v1_list(emu: &Emulator, call: &Call) -> ApiResult<Reply> {
    let region = region_of_host(call)?;
    let state = emu.state();
    let project = namespace(&state, call)?;
    let items: Vec<Value> = state
        .run_services
        .values()
        .filter(|s| s.project == project && s.region == region)
        .map(|s| render_v1(&state, s))
        .collect();
    Ok(Reply::json(&json!({
        "apiVersion": "serving.knative.dev/v1", "kind": "ServiceList",
        "metadata": {}, "items": items,
    })))
}

/// v1 `namespaces.services.create`: a new service and its first revision.
pub fn v1_create(emu: &Emulator, call: &Call) -> ApiResult<Reply> {
    let region = region_of_host(call)?;
    let host = own_host(emu);
    let mut state = emu.state();
    let project = namespace(&state, call)?;
    let (id, (annotations, labels, template)) = parse_v1(&call.req.body, &project)?;
    let key = v1_key(&project, &region, &id);
    if state.run_services.contains_key(&key) {
        return Err(ApiError::already_exists(format!(
            "Resource '{id}' already exists."
        )));
    }
    let t = now();
    let mut svc = Service {
        project,
        region,
        id,
        uid: random_id(),
        generation: 0,
        create_time: t.clone(),
        update_time: t,
        creator: email(&call.principal),
        last_modifier: email(&call.principal),
        labels,
        annotations,
        template,
        latest_created: None,
        latest_ready: None,
        failure: None,
    };
    roll_out(
        &mut state,
        &host,
        &mut svc,
        &call.principal,
        "google.cloud.run.v1.Services.CreateService",
    )?;
    let out = render_v1(&state, &svc);
    state.run_services.insert(key, svc);
    Ok(Reply::json(&out))
}

/// v1 `namespaces.services.replaceService`: a changed template or annotations roll out a new
/// revision, which Binary Authorization judges again.
pub fn v1_replace(emu: &Emulator, call: &Call) -> ApiResult<Reply> {
    let region = region_of_host(call)?;
    let host = own_host(emu);
    let mut state = emu.state();
    let project = namespace(&state, call)?;
    let id = call
        .resource
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_string();
    let (name, (annotations, labels, template)) = parse_v1(&call.req.body, &project)?;
    if name != id {
        return Err(ApiError::invalid(format!(
            "metadata.name {name:?} does not match the service {id:?} of the request."
        )));
    }
    let key = v1_key(&project, &region, &id);
    let mut svc = state
        .run_services
        .get(&key)
        .cloned()
        .ok_or_else(|| not_found("SERVICE", &id, &region, &project))?;
    // Annotations Cloud Run sets itself are not the client's to change.
    let mut annotations = annotations;
    annotations.remove("serving.knative.dev/creator");
    annotations.remove("serving.knative.dev/lastModifier");
    svc.annotations = annotations;
    svc.labels = labels;
    svc.labels.remove("cloud.googleapis.com/location");
    svc.template = template;
    roll_out(
        &mut state,
        &host,
        &mut svc,
        &call.principal,
        "google.cloud.run.v1.Services.ReplaceService",
    )?;
    let out = render_v1(&state, &svc);
    state.run_services.insert(key, svc);
    Ok(Reply::json(&out))
}

/// v1 `namespaces.revisions.get`.
pub fn v1_get_revision(emu: &Emulator, call: &Call) -> ApiResult<Reply> {
    let region = region_of_host(call)?;
    let state = emu.state();
    let project = namespace(&state, call)?;
    let id = call.resource.rsplit('/').next().unwrap_or_default();
    let rev = state
        .run_revisions
        .get(&format!(
            "projects/{project}/locations/{region}/revisions/{id}"
        ))
        .ok_or_else(|| not_found("REVISION", id, &region, &project))?;
    Ok(Reply::json(&render_revision_v1(&project, rev)))
}

/// v1 `projects.locations.services.testIamPermissions`: the subset of the asked permissions
/// the caller holds on the service (every one when IAM is not enforced).
pub fn v1_test_iam_permissions(emu: &Emulator, call: &Call) -> ApiResult<Reply> {
    let body: Value = serde_json::from_slice(&call.req.body)
        .map_err(|e| ApiError::invalid(format!("Invalid JSON payload received. {e}")))?;
    let state = emu.state();
    let held: Vec<&str> = body["permissions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter(|p| {
            !state.iam_enforced || crate::iam::allows(&state, &call.principal, p, &call.resource)
        })
        .collect();
    Ok(Reply::json(&json!({ "permissions": held })))
}

/// v1 `projects.locations.services.getIamPolicy`: Cloud Run services carry no bindings here,
/// so the answer is the empty policy Google gives a resource that never had one; gcloud reads
/// it on a redeploy with `--no-allow-unauthenticated` to see whether `allUsers` must go.
pub fn v1_get_iam_policy(emu: &Emulator, call: &Call) -> ApiResult<Reply> {
    let (project, region) = v2_location(call);
    let id = call.resource.rsplit('/').next().unwrap_or_default();
    let state = emu.state();
    if !state.run_services.contains_key(&call.resource) {
        return Err(not_found("SERVICE", id, &region, &project));
    }
    Ok(Reply::json(&json!({"version": 1, "etag": "ACAB"})))
}

/// The `(project, region)` of a v2 path `projects/P/locations/L/...`.
fn v2_location(call: &Call) -> (String, String) {
    let segs: Vec<&str> = call.resource.split('/').collect();
    (
        segs.get(1).copied().unwrap_or_default().to_string(),
        segs.get(3).copied().unwrap_or_default().to_string(),
    )
}

/// A long-running operation that is already done, as v2 create and update answer.
fn operation(project: &str, region: &str, ty: &str, response: Value) -> Reply {
    let mut response = response;
    response["@type"] = json!(format!("type.googleapis.com/google.cloud.run.v2.{ty}"));
    Reply::json(&json!({
        "name": format!("projects/{project}/locations/{region}/operations/{}", random_id()),
        "metadata": {"@type": format!("type.googleapis.com/google.cloud.run.v2.{ty}")},
        "done": true,
        "response": response,
    }))
}

/// v2 `services.list`.
pub fn v2_list_services(emu: &Emulator, call: &Call) -> ApiResult<Reply> {
    let (project, region) = v2_location(call);
    let state = emu.state();
    let items: Vec<Value> = state
        .run_services
        .values()
        .filter(|s| s.project == project && (region == "-" || s.region == region))
        .map(render_v2)
        .collect();
    page(call, "services", items)
}

/// v2 `services.get`.
pub fn v2_get_service(emu: &Emulator, call: &Call) -> ApiResult<Reply> {
    let (project, region) = v2_location(call);
    let state = emu.state();
    let id = call.resource.rsplit('/').next().unwrap_or_default();
    let svc = state
        .run_services
        .get(&call.resource)
        .ok_or_else(|| not_found("SERVICE", id, &region, &project))?;
    Ok(Reply::json(&render_v2(svc)))
}

/// Reads the v2 Service fields the emulator keeps into v1's template and annotations.
fn v2_body(body: &[u8]) -> ApiResult<Written> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::invalid(format!("Invalid JSON payload received. {e}")))?;
    let containers: Vec<Value> = v["template"]["containers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if containers.is_empty()
        || containers
            .iter()
            .any(|c| c["image"].as_str().is_none_or(str::is_empty))
    {
        return Err(ApiError::invalid(
            "service.template.containers[].image: Required.",
        ));
    }
    let mut annotations = v["annotations"].as_object().cloned().unwrap_or_default();
    let b = &v["binaryAuthorization"];
    if b["useDefault"] == true {
        annotations.insert(BINAUTHZ_ANNOTATION.into(), json!("default"));
    } else if let Some(p) = b["policy"].as_str() {
        annotations.insert(BINAUTHZ_ANNOTATION.into(), json!(p));
    }
    if let Some(why) = b["breakglassJustification"]
        .as_str()
        .filter(|s| !s.is_empty())
    {
        annotations.insert(BREAKGLASS_ANNOTATION.into(), json!(why));
    }
    check_binauthz_annotations(&annotations)?;
    let labels = v["labels"].as_object().cloned().unwrap_or_default();
    let template = json!({"spec": {"containers": containers.iter().map(|c| json!({"image": c["image"], "name": c["name"].as_str().unwrap_or_default()})).collect::<Vec<_>>()}});
    Ok((annotations, labels, template))
}

/// v2 `services.create` (`serviceId`).
pub fn v2_create_service(emu: &Emulator, call: &Call) -> ApiResult<Reply> {
    let (project, region) = v2_location(call);
    let id = call.required_query("serviceId")?.to_string();
    check_service_id(&id)?;
    let (annotations, labels, template) = v2_body(&call.req.body)?;
    let host = own_host(emu);
    let mut state = emu.state();
    let key = v1_key(&project, &region, &id);
    if state.run_services.contains_key(&key) {
        return Err(ApiError::already_exists(format!(
            "Resource '{id}' already exists."
        )));
    }
    let t = now();
    let mut svc = Service {
        project: project.clone(),
        region: region.clone(),
        id,
        uid: random_id(),
        generation: 0,
        create_time: t.clone(),
        update_time: t,
        creator: email(&call.principal),
        last_modifier: email(&call.principal),
        labels,
        annotations,
        template,
        latest_created: None,
        latest_ready: None,
        failure: None,
    };
    roll_out(
        &mut state,
        &host,
        &mut svc,
        &call.principal,
        "google.cloud.run.v2.Services.CreateService",
    )?;
    let out = render_v2(&svc);
    state.run_services.insert(key, svc);
    Ok(operation(&project, &region, "Service", out))
}

/// v2 `services.patch`: the whole service as sent (the emulator takes no update mask).
pub fn v2_update_service(emu: &Emulator, call: &Call) -> ApiResult<Reply> {
    let (project, region) = v2_location(call);
    let (annotations, labels, template) = v2_body(&call.req.body)?;
    let host = own_host(emu);
    let mut state = emu.state();
    let id = call
        .resource
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_string();
    let mut svc = state
        .run_services
        .get(&call.resource)
        .cloned()
        .ok_or_else(|| not_found("SERVICE", &id, &region, &project))?;
    svc.annotations = annotations;
    svc.labels = labels;
    svc.template = template;
    roll_out(
        &mut state,
        &host,
        &mut svc,
        &call.principal,
        "google.cloud.run.v2.Services.UpdateService",
    )?;
    let out = render_v2(&svc);
    state.run_services.insert(call.resource.clone(), svc);
    Ok(operation(&project, &region, "Service", out))
}

/// v2 `services.revisions.list`.
pub fn v2_list_revisions(emu: &Emulator, call: &Call) -> ApiResult<Reply> {
    let (project, region) = v2_location(call);
    let service = call.parent(1);
    let id = service.rsplit('/').next().unwrap_or_default().to_string();
    let state = emu.state();
    if !state.run_services.contains_key(&service) {
        return Err(not_found("SERVICE", &id, &region, &project));
    }
    let items: Vec<Value> = state
        .run_revisions
        .iter()
        .filter(|(k, r)| {
            k.starts_with(&format!("projects/{project}/locations/{region}/")) && r.service == id
        })
        .map(|(_, r)| render_revision_v2(&project, &region, r))
        .collect();
    page(call, "revisions", items)
}

/// v2 `services.revisions.get`.
pub fn v2_get_revision(emu: &Emulator, call: &Call) -> ApiResult<Reply> {
    let (project, region) = v2_location(call);
    let segs: Vec<&str> = call.resource.split('/').collect();
    let (service, id) = (
        segs.get(5).copied().unwrap_or_default(),
        segs.get(7).copied().unwrap_or_default(),
    );
    let state = emu.state();
    let rev = state
        .run_revisions
        .get(&format!(
            "projects/{project}/locations/{region}/revisions/{id}"
        ))
        .filter(|r| r.service == service)
        .ok_or_else(|| not_found("REVISION", id, &region, &project))?;
    Ok(Reply::json(&render_revision_v2(&project, &region, rev)))
}

/// v2 `jobs.create` (`jobId`): stored as sent, with Google's output fields. Binary
/// Authorization is not consulted ("You can still update the job successfully").
pub fn v2_create_job(emu: &Emulator, call: &Call) -> ApiResult<Reply> {
    let (project, region) = v2_location(call);
    let id = call.required_query("jobId")?.to_string();
    check_service_id(&id)?;
    let mut job: Value = serde_json::from_slice(&call.req.body)
        .map_err(|e| ApiError::invalid(format!("Invalid JSON payload received. {e}")))?;
    let containers = job["template"]["template"]["containers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if containers.is_empty()
        || containers
            .iter()
            .any(|c| c["image"].as_str().is_none_or(str::is_empty))
    {
        return Err(ApiError::invalid(
            "job.template.template.containers[].image: Required.",
        ));
    }
    let name = format!("projects/{project}/locations/{region}/jobs/{id}");
    let mut state = emu.state();
    if state.run_jobs.contains_key(&name) {
        return Err(ApiError::already_exists(format!(
            "Resource '{id}' already exists."
        )));
    }
    let t = now();
    job["name"] = json!(name);
    job["uid"] = json!(random_id());
    job["generation"] = json!("1");
    job["createTime"] = json!(t);
    job["updateTime"] = json!(t);
    job["creator"] = json!(email(&call.principal));
    job["terminalCondition"] = json!({"type": "Ready", "state": "CONDITION_SUCCEEDED"});
    state.run_jobs.insert(name, Job { json: job.clone() });
    Ok(operation(&project, &region, "Job", job))
}

/// v2 `jobs.get`.
pub fn v2_get_job(emu: &Emulator, call: &Call) -> ApiResult<Reply> {
    let (project, region) = v2_location(call);
    let id = call.resource.rsplit('/').next().unwrap_or_default();
    let state = emu.state();
    let job = state
        .run_jobs
        .get(&call.resource)
        .ok_or_else(|| not_found("JOB", id, &region, &project))?;
    Ok(Reply::json(&job.json))
}

/// v2 `jobs.list`.
pub fn v2_list_jobs(emu: &Emulator, call: &Call) -> ApiResult<Reply> {
    let prefix = format!("{}/", call.resource);
    let state = emu.state();
    let items: Vec<Value> = state
        .run_jobs
        .iter()
        .filter(|(k, _)| k.starts_with(&prefix))
        .map(|(_, j)| j.json.clone())
        .collect();
    page(call, "jobs", items)
}

/// v2 `jobs.patch`.
pub fn v2_update_job(emu: &Emulator, call: &Call) -> ApiResult<Reply> {
    let (project, region) = v2_location(call);
    let id = call
        .resource
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_string();
    let mut job: Value = serde_json::from_slice(&call.req.body)
        .map_err(|e| ApiError::invalid(format!("Invalid JSON payload received. {e}")))?;
    let mut state = emu.state();
    let old = state
        .run_jobs
        .get(&call.resource)
        .cloned()
        .ok_or_else(|| not_found("JOB", &id, &region, &project))?;
    let generation = int64_field(old.json.get("generation")).unwrap_or(1) + 1;
    for field in ["name", "uid", "createTime", "creator", "terminalCondition"] {
        job[field] = old.json[field].clone();
    }
    job["generation"] = json!(generation.to_string());
    job["updateTime"] = json!(now());
    state
        .run_jobs
        .insert(call.resource.clone(), Job { json: job.clone() });
    Ok(operation(&project, &region, "Job", job))
}
