//! Cloud Run Admin API v2 through the official `google-cloud-run-v2` crate: the services of a
//! region, the revisions that serve them and the images those revisions run.

use super::auth::Auth;
use super::{call, configure};
use crate::error::{Error, Result};
use google_cloud_run_v2::client::{Revisions, Services};

/// One serving revision and the images it runs.
#[derive(Debug, Clone)]
pub struct Serving {
    /// The service id.
    pub service: String,
    /// The revision id.
    pub revision: String,
    /// Each container's image, as the revision holds it (the digest it runs).
    pub images: Vec<String>,
}

/// The Cloud Run clients of a run.
pub struct Run {
    services: Services,
    revisions: Revisions,
}

/// At most this many services are read from one region.
const MAX_SERVICES: usize = 10_000;

fn hint() -> &'static str {
    "grant the caller roles/run.viewer on the project (it holds run.services.list and run.revisions.get)"
}

impl Run {
    /// Clients for `CLOUDSDK_API_ENDPOINT_OVERRIDES_RUN` (Google's by default).
    pub async fn new(auth: &Auth, endpoint: Option<&String>) -> Result<Run> {
        let setup = |e: google_cloud_gax::client_builder::Error| {
            Error::Setup(format!("cannot create the Cloud Run client: {e}"))
        };
        let services = configure(Services::builder(), endpoint, auth.credentials())
            .build()
            .await
            .map_err(setup)?;
        let revisions = configure(Revisions::builder(), endpoint, auth.credentials())
            .build()
            .await
            .map_err(setup)?;
        Ok(Run {
            services,
            revisions,
        })
    }

    /// The revisions that serve traffic in `project`/`region`, one per service and traffic
    /// target (the latest ready one when traffic follows the latest).
    pub async fn serving(&self, project: &str, region: &str) -> Result<Vec<Serving>> {
        let parent = format!("projects/{project}/locations/{region}");
        let on_error = |e: google_cloud_gax::error::Error| {
            if super::unknown_project(&e) {
                return Error::ProjectNotFound {
                    project: project.to_string(),
                    reason: super::status_message(&e),
                };
            }
            super::error(
                e,
                format!("list the Cloud Run services of {parent}"),
                hint(),
            )
        };
        let mut services = Vec::new();
        let mut token = String::new();
        loop {
            let page_token = token.clone();
            let send = || {
                self.services
                    .list_services()
                    .set_parent(parent.clone())
                    .set_page_token(page_token.clone())
                    .send()
            };
            let page = call(
                &format!("Cloud Run services.list {parent}"),
                true,
                on_error,
                send,
            )
            .await?;
            services.extend(page.services);
            if services.len() > MAX_SERVICES {
                return Err(Error::Usage(format!(
                    "more than {MAX_SERVICES} Cloud Run services in {parent}"
                )));
            }
            if page.next_page_token.is_empty() {
                break;
            }
            token = page.next_page_token;
        }
        let mut out = Vec::new();
        for svc in services {
            let id = svc.name.rsplit('/').next().unwrap_or_default().to_string();
            let mut revisions: Vec<String> = svc
                .traffic_statuses
                .iter()
                .filter(|t| t.percent > 0 || !t.tag.is_empty())
                .map(|t| match t.revision.is_empty() {
                    true => svc.latest_ready_revision.clone(),
                    false => format!("{}/revisions/{}", svc.name, t.revision),
                })
                .filter(|r| !r.is_empty())
                .collect();
            if revisions.is_empty() && !svc.latest_ready_revision.is_empty() {
                revisions.push(svc.latest_ready_revision.clone());
            }
            revisions.dedup();
            for name in revisions {
                let what = format!("Cloud Run revisions.get {name}");
                let send = || self.revisions.get_revision().set_name(name.clone()).send();
                let rev = call(
                    &what,
                    true,
                    |e| super::error(e, format!("read Cloud Run revision {name}"), hint()),
                    send,
                )
                .await?;
                out.push(Serving {
                    service: id.clone(),
                    revision: name.rsplit('/').next().unwrap_or_default().to_string(),
                    images: rev.containers.into_iter().map(|c| c.image).collect(),
                });
            }
        }
        Ok(out)
    }
}
