//! The distribution API's handlers: manifests, blobs, uploads, tags and referrers, each behind
//! GAR's authentication (done by the router) and the seed's project denials (done here, once
//! the repository is known).

use super::auth::origin;
use super::store::OCI_INDEX;
use super::{Digest, RegError, RepositoryName};
use crate::google::random_id;
use crate::http::{Reply, Request};
use crate::router::{Call, Emulator};
use serde_json::json;

pub type RegResult = Result<Reply, RegError>;

/// The repository named by the path between `v2` and the last `tail` segments, checked against
/// the seed's denials for the caller.
fn target(emu: &Emulator, call: &Call, tail: usize) -> Result<RepositoryName, RegError> {
    let segs = &call.req.segments;
    let name = RepositoryName::parse(&segs[1..segs.len().saturating_sub(tail).max(1)])?;
    allowed(emu, call, &name)?;
    Ok(name)
}

fn allowed(emu: &Emulator, call: &Call, name: &RepositoryName) -> Result<(), RegError> {
    match emu.state().denial(&call.principal, &name.resource()) {
        Some(d) => Err(RegError::denied(format!(
            "Permission denied on repository {} (project {}): the emulator's seed denies {} on {}.",
            name.name, name.project, call.principal, d.resource
        ))),
        None => Ok(()),
    }
}

fn last<'a>(call: &'a Call<'_>) -> &'a str {
    call.req.segments.last().map_or("", String::as_str)
}

/// A reply carrying `bytes` as they are; a HEAD gets the headers (with the length) and no body.
fn content(req: &Request, status: u16, media_type: &str, bytes: &[u8]) -> Reply {
    let head = req.method == "HEAD";
    let reply = Reply {
        status,
        headers: vec![("content-type".into(), media_type.into())],
        body: if head { Vec::new() } else { bytes.to_vec() },
    };
    if head {
        reply.header("content-length", &bytes.len().to_string())
    } else {
        reply
    }
}

/// A reply without a body (201, 202, 204), with `Content-Length: 0` as registries send it.
fn empty(status: u16) -> Reply {
    Reply {
        status,
        headers: Vec::new(),
        body: Vec::new(),
    }
}

/// `GET /v2/`: 200 `{}` for an accepted credential (the router answered 401 otherwise).
pub fn base(_emu: &Emulator, _call: &Call) -> RegResult {
    Ok(Reply::json(&json!({})).header("docker-distribution-api-version", "registry/2.0"))
}

/// Any other path under `/v2/`.
pub fn unsupported(_emu: &Emulator, call: &Call) -> RegResult {
    Err(RegError::new(
        405,
        "UNSUPPORTED",
        format!(
            "The emulated registry serves no {} {}.",
            call.req.method, call.req.path
        ),
    ))
}

/// `HEAD`/`GET /v2/<name>/manifests/<tag|digest>`: the stored bytes and media type.
pub fn manifest_get(emu: &Emulator, call: &Call) -> RegResult {
    let name = target(emu, call, 2)?;
    let state = emu.state();
    let (digest, manifest) = state.registry.resolve(&name.name, last(call))?;
    Ok(
        content(call.req, 200, &manifest.media_type, &manifest.bytes)
            .header("docker-content-digest", digest.as_str()),
    )
}

/// `PUT /v2/<name>/manifests/<tag|digest>`.
pub fn manifest_put(emu: &Emulator, call: &Call) -> RegResult {
    let name = target(emu, call, 2)?;
    let content_type = call
        .req
        .header("content-type")
        .map(|c| c.split(';').next().unwrap_or_default().trim());
    let (digest, subject) = emu.state().registry.put_manifest(
        &name.name,
        last(call),
        content_type,
        call.req.body.clone(),
    )?;
    let location = format!(
        "{}/v2/{}/manifests/{digest}",
        origin(emu, call.req),
        name.name
    );
    let reply = empty(201)
        .header("location", &location)
        .header("docker-content-digest", digest.as_str());
    Ok(match subject {
        Some(s) => reply.header("oci-subject", s.as_str()),
        None => reply,
    })
}

/// `DELETE /v2/<name>/manifests/<tag|digest>`: a tag, or a manifest and its tags.
pub fn manifest_delete(emu: &Emulator, call: &Call) -> RegResult {
    let name = target(emu, call, 2)?;
    emu.state()
        .registry
        .delete_manifest(&name.name, last(call))?;
    Ok(empty(202))
}

/// `HEAD`/`GET /v2/<name>/blobs/<digest>`.
pub fn blob_get(emu: &Emulator, call: &Call) -> RegResult {
    let name = target(emu, call, 2)?;
    let digest = Digest::parse(last(call))?;
    let bytes = emu.state().registry.blob(&name.name, &digest)?;
    Ok(content(call.req, 200, "application/octet-stream", &bytes)
        .header("docker-content-digest", digest.as_str()))
}

/// A created blob: 201 with its `Location` and digest.
fn blob_created(emu: &Emulator, req: &Request, name: &RepositoryName, digest: &Digest) -> Reply {
    let location = format!("{}/v2/{}/blobs/{digest}", origin(emu, req), name.name);
    empty(201)
        .header("location", &location)
        .header("docker-content-digest", digest.as_str())
}

/// An upload in progress: its `Location`, id and the `Range` received so far.
fn upload_progress(
    emu: &Emulator,
    req: &Request,
    status: u16,
    name: &RepositoryName,
    uuid: &str,
    received: usize,
) -> Reply {
    let location = format!("{}/v2/{}/blobs/uploads/{uuid}", origin(emu, req), name.name);
    empty(status)
        .header("location", &location)
        .header("docker-upload-uuid", uuid)
        .header("range", &format!("0-{}", received.saturating_sub(1)))
}

/// `POST /v2/<name>/blobs/uploads/`: a monolithic upload (`?digest=`), a cross-repository mount
/// (`?mount=&from=`, falling back to a new session when the source lacks the blob), or a new
/// upload session.
pub fn upload_start(emu: &Emulator, call: &Call) -> RegResult {
    let name = target(emu, call, 2)?;
    let req = call.req;
    if let Some(digest) = req.query("digest") {
        let digest = Digest::parse(digest)?;
        emu.state()
            .registry
            .put_blob(&name.name, &digest, req.body.clone())?;
        return Ok(blob_created(emu, req, &name, &digest));
    }
    if let (Some(mount), Some(from)) = (req.query("mount"), req.query("from")) {
        let digest = Digest::parse(mount)?;
        let parts: Vec<String> = from.split('/').map(String::from).collect();
        let source = RepositoryName::parse(&parts)?;
        allowed(emu, call, &source)?;
        if emu
            .state()
            .registry
            .mount(&name.name, &source.name, &digest)
        {
            return Ok(blob_created(emu, req, &name, &digest));
        }
    }
    let uuid = random_id();
    emu.state().registry.uploads.insert(
        uuid.clone(),
        super::store::Upload {
            repository: name.name.clone(),
            data: Vec::new(),
        },
    );
    Ok(upload_progress(emu, req, 202, &name, &uuid, 0))
}

/// Appends the request body to upload `uuid` of `name`, checking `Content-Range` when sent.
fn append(
    emu: &Emulator,
    req: &Request,
    name: &RepositoryName,
    uuid: &str,
) -> Result<usize, RegError> {
    let mut state = emu.state();
    let upload = state
        .registry
        .uploads
        .get_mut(uuid)
        .filter(|u| u.repository == name.name)
        .ok_or_else(|| RegError::upload_unknown(uuid))?;
    if let Some(range) = req.header("content-range") {
        let start = range
            .split('-')
            .next()
            .and_then(|s| s.trim().parse::<usize>().ok());
        if start != Some(upload.data.len()) {
            return Err(RegError::new(
                416,
                "BLOB_UPLOAD_INVALID",
                format!(
                    "Content-Range {range} does not continue the {} bytes received.",
                    upload.data.len()
                ),
            ));
        }
    }
    upload.data.extend_from_slice(&req.body);
    Ok(upload.data.len())
}

/// `PATCH /v2/<name>/blobs/uploads/<uuid>`: one chunk.
pub fn upload_patch(emu: &Emulator, call: &Call) -> RegResult {
    let name = target(emu, call, 3)?;
    let uuid = last(call);
    let received = append(emu, call.req, &name, uuid)?;
    Ok(upload_progress(emu, call.req, 202, &name, uuid, received))
}

/// `PUT /v2/<name>/blobs/uploads/<uuid>?digest=`: the last chunk (maybe empty), then the
/// digest check; the session ends either way.
pub fn upload_put(emu: &Emulator, call: &Call) -> RegResult {
    let name = target(emu, call, 3)?;
    let uuid = last(call);
    let digest = Digest::parse(call.req.query("digest").unwrap_or_default())?;
    append(emu, call.req, &name, uuid)?;
    let mut state = emu.state();
    let upload = state
        .registry
        .uploads
        .remove(uuid)
        .ok_or_else(|| RegError::upload_unknown(uuid))?;
    state.registry.put_blob(&name.name, &digest, upload.data)?;
    Ok(blob_created(emu, call.req, &name, &digest))
}

/// `GET /v2/<name>/blobs/uploads/<uuid>`: how much has arrived.
pub fn upload_status(emu: &Emulator, call: &Call) -> RegResult {
    let name = target(emu, call, 3)?;
    let uuid = last(call);
    let received = emu
        .state()
        .registry
        .uploads
        .get(uuid)
        .filter(|u| u.repository == name.name)
        .map(|u| u.data.len())
        .ok_or_else(|| RegError::upload_unknown(uuid))?;
    Ok(upload_progress(emu, call.req, 204, &name, uuid, received))
}

/// `DELETE /v2/<name>/blobs/uploads/<uuid>`: cancels the upload.
pub fn upload_cancel(emu: &Emulator, call: &Call) -> RegResult {
    let name = target(emu, call, 3)?;
    let uuid = last(call);
    let mut state = emu.state();
    match state.registry.uploads.get(uuid) {
        Some(u) if u.repository == name.name => {
            state.registry.uploads.remove(uuid);
            Ok(empty(204))
        }
        _ => Err(RegError::upload_unknown(uuid)),
    }
}

/// `GET /v2/<name>/tags/list?n=&last=`, with a `Link: <...>; rel="next"` header while more follow.
pub fn tags_list(emu: &Emulator, call: &Call) -> RegResult {
    let name = target(emu, call, 2)?;
    let n = match call.req.query("n").filter(|s| !s.is_empty()) {
        Some(s) => Some(s.parse::<usize>().map_err(|_| {
            RegError::new(
                400,
                "PAGINATION_NUMBER_INVALID",
                format!("n={s:?} is not a number."),
            )
        })?),
        None => None,
    };
    let last = call.req.query("last").filter(|s| !s.is_empty());
    let (tags, more) = emu.state().registry.tags(&name.name, n, last)?;
    let reply = Reply::json(&json!({"name": name.name, "tags": tags}));
    Ok(match (more, tags.last(), n) {
        (true, Some(last), Some(n)) => reply.header(
            "link",
            &format!(
                "</v2/{}/tags/list?n={n}&last={last}>; rel=\"next\"",
                name.name
            ),
        ),
        _ => reply,
    })
}

/// `GET /v2/<name>/referrers/<digest>?artifactType=`: OCI 1.1 referrers as an image index.
pub fn referrers(emu: &Emulator, call: &Call) -> RegResult {
    let name = target(emu, call, 2)?;
    let subject = Digest::parse(last(call))?;
    let filter = call.req.query("artifactType").filter(|s| !s.is_empty());
    let index = emu.state().registry.referrers(&name.name, &subject, filter);
    let bytes = serde_json::to_vec(&index).unwrap_or_default();
    let reply = content(call.req, 200, OCI_INDEX, &bytes);
    Ok(match filter {
        Some(_) => reply.header("oci-filters-applied", "artifactType"),
        None => reply,
    })
}
