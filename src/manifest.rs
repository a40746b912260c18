//! Deploy manifests, read for the images they deploy and where each is written: Cloud Run
//! services and jobs as `gcloud run services describe --format export` (and `gcloud run jobs
//! describe --format export`) write them, and Kubernetes workloads (Pod, Deployment,
//! ReplicaSet, StatefulSet, DaemonSet, Job, CronJob, and `List`s of them), in multi-document
//! YAML. Each image comes with the byte span of its scalar as written, so `pin` can replace it
//! and leave every other byte alone. Pure: no network.

use saphyr::{LoadableYamlNode, MarkedYaml, SafelyIndex, Scalar, YamlData};

use crate::error::{Error, Result};
use crate::policy::Platform;

/// The annotation that makes Cloud Run enforce Binary Authorization on a service or job
/// (<https://cloud.google.com/binary-authorization/docs/run/enabling-binauthz-cloud-run>).
pub const RUN_BINAUTHZ: &str = "run.googleapis.com/binary-authorization";
/// Cloud Run's breakglass annotation: deploys despite the policy, logged for audit
/// (<https://cloud.google.com/binary-authorization/docs/run/using-breakglass-cloud-run>).
pub const RUN_BREAKGLASS: &str = "run.googleapis.com/binary-authorization-breakglass";
/// GKE's breakglass annotation on a pod (or a workload's pod template)
/// (<https://cloud.google.com/binary-authorization/docs/using-breakglass>).
pub const GKE_BREAKGLASS: &str = "alpha.image-policy.k8s.io/break-glass";

/// One image written in a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    /// The image as written.
    pub image: String,
    /// The scalar's byte range in the file, quotes included.
    pub start: usize,
    /// End (exclusive).
    pub end: usize,
    /// 1-based line of the scalar.
    pub line: usize,
    /// `Kind/name` of the object.
    pub workload: String,
    /// The container's name; `init:` marks an init container, `ephemeral:` an ephemeral one.
    pub container: String,
    /// Cloud Run for Knative Services and Cloud Run Jobs, GKE for Kubernetes kinds.
    pub platform: Platform,
    /// The object's namespace (Kubernetes), when it names one.
    pub namespace: Option<String>,
    /// The pod's `serviceAccountName` (Kubernetes), when it names one.
    pub service_account: Option<String>,
    /// The breakglass annotation that applies, when one does.
    pub breakglass: Option<String>,
}

/// A manifest file: its images, and what it says about enforcement.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// The file as named.
    pub file: String,
    /// Every image, in file order.
    pub sites: Vec<Site>,
    /// Things the reader should know (a Cloud Run service nothing enforces).
    pub warnings: Vec<String>,
}

/// Reads `text` (from `file`).
pub fn parse(file: &str, text: &str) -> Result<Manifest> {
    let docs = MarkedYaml::load_from_str(text).map_err(|e| Error::ManifestFile {
        file: file.to_string(),
        position: format!(
            "line {}, column {}",
            e.marker().line(),
            e.marker().col() + 1
        ),
        reason: format!("not YAML: {}", e.info()),
    })?;
    let offsets: Vec<usize> = text
        .char_indices()
        .map(|(i, _)| i)
        .chain([text.len()])
        .collect();
    let mut reader = Reader {
        file,
        text,
        offsets,
        manifest: Manifest {
            file: file.to_string(),
            sites: Vec::new(),
            warnings: Vec::new(),
        },
    };
    for doc in &docs {
        if matches!(doc.data, YamlData::Value(Scalar::Null)) {
            continue; // an empty document (`---` at the end)
        }
        reader.object(doc)?;
    }
    Ok(reader.manifest)
}

struct Reader<'a> {
    file: &'a str,
    text: &'a str,
    /// Byte offset of each char index (saphyr's markers count chars).
    offsets: Vec<usize>,
    manifest: Manifest,
}

/// A scalar's text, whatever its resolved type.
fn text_of(node: &MarkedYaml) -> Option<String> {
    match &node.data {
        YamlData::Value(Scalar::String(s)) => Some(s.to_string()),
        YamlData::Value(Scalar::Boolean(b)) => Some(b.to_string()),
        YamlData::Value(Scalar::Integer(i)) => Some(i.to_string()),
        YamlData::Representation(s, _, _) => Some(s.to_string()),
        _ => None,
    }
}

fn str_at(node: &MarkedYaml, path: &[&str]) -> Option<String> {
    let mut at = node;
    for key in path {
        at = at.get(*key)?;
    }
    text_of(at)
}

fn node_at<'n, 'i>(node: &'n MarkedYaml<'i>, path: &[&str]) -> Option<&'n MarkedYaml<'i>> {
    let mut at = node;
    for key in path {
        at = at.get(*key)?;
    }
    Some(at)
}

impl Reader<'_> {
    fn error(&self, node: &MarkedYaml, reason: String) -> Error {
        Error::ManifestFile {
            file: self.file.to_string(),
            position: format!(
                "line {}, column {}",
                node.span.start.line(),
                node.span.start.col() + 1
            ),
            reason,
        }
    }

    /// A warning for each annotation that looks like breakglass but is not the one this
    /// platform reads where it reads it (a misspelling, Cloud Run's on the revision template,
    /// GKE's on the workload instead of its pod template, a GKE value other than "true"):
    /// without it the deploy is denied with no word about the annotation.
    fn breakglass_hints(
        &mut self,
        obj: &MarkedYaml,
        platform: Platform,
        pod_meta: &[&str],
        workload: &str,
    ) {
        let (key, right_place, read_at): (&str, &[&str], &str) = match platform {
            Platform::Cloudrun => (
                RUN_BREAKGLASS,
                &[],
                "the Service's or Job's own metadata.annotations",
            ),
            Platform::Gke => (
                GKE_BREAKGLASS,
                pod_meta,
                "the pod's metadata.annotations (a workload's spec.template.metadata.annotations)",
            ),
        };
        let mut places: Vec<Vec<&str>> = vec![Vec::new()];
        match platform {
            Platform::Cloudrun => places.push(vec!["spec", "template"]),
            Platform::Gke if !pod_meta.is_empty() => places.push(pod_meta.to_vec()),
            Platform::Gke => {}
        }
        for place in places {
            let Some(node) = node_at(obj, &place) else {
                continue;
            };
            let Some(YamlData::Mapping(map)) = node
                .get("metadata")
                .and_then(|m| m.get("annotations"))
                .map(|a| &a.data)
            else {
                continue;
            };
            let at = match place.is_empty() {
                true => "metadata.annotations".to_string(),
                false => format!("{}.metadata.annotations", place.join(".")),
            };
            for (k, v) in map {
                let Some(name) = text_of(k) else { continue };
                let squashed = name.to_ascii_lowercase().replace(['-', '_', '.'], "");
                if !squashed.contains("breakglass") {
                    continue;
                }
                let product = match platform {
                    Platform::Cloudrun => "Cloud Run",
                    Platform::Gke => "GKE",
                };
                let right = name == key && place.as_slice() == right_place;
                let value = text_of(v).unwrap_or_default();
                let problem = if !right {
                    format!("`{name}` at {at} has no effect: {product} reads breakglass only from `{key}` on {read_at}")
                } else if platform == Platform::Gke && value != "true" {
                    format!("`{name}: {value}` has no effect: GKE breaks glass only for the value \"true\"")
                } else {
                    continue;
                };
                self.manifest.warnings.push(format!(
                    "{}: {workload}: {problem}; without it the deploy is judged by the policy",
                    self.file
                ));
            }
        }
    }

    fn object(&mut self, obj: &MarkedYaml) -> Result<()> {
        if !matches!(obj.data, YamlData::Mapping(_)) {
            return Err(self.error(
                obj,
                "expected a Kubernetes or Cloud Run object (a mapping with apiVersion and kind)"
                    .into(),
            ));
        }
        let kind = str_at(obj, &["kind"]).unwrap_or_default();
        let api = str_at(obj, &["apiVersion"]).unwrap_or_default();
        let name = str_at(obj, &["metadata", "name"]).unwrap_or_else(|| "(unnamed)".into());
        let workload = format!("{kind}/{name}");
        let namespace = str_at(obj, &["metadata", "namespace"]);
        let annotations =
            |node: &MarkedYaml, key: &str| str_at(node, &["metadata", "annotations", key]);
        // Where each kind keeps its pod spec, and whose metadata carries the breakglass.
        let (platform, pod_path, pod_meta): (Platform, &[&str], &[&str]) =
            match (api.as_str(), kind.as_str()) {
                ("v1", "List") => {
                    if let Some(YamlData::Sequence(items)) = obj.get("items").map(|n| &n.data) {
                        for item in items {
                            self.object(item)?;
                        }
                    }
                    return Ok(());
                }
                ("serving.knative.dev/v1", "Service") => {
                    (Platform::Cloudrun, &["spec", "template", "spec"], &[])
                }
                ("run.googleapis.com/v1", "Job") => (
                    Platform::Cloudrun,
                    &["spec", "template", "spec", "template", "spec"],
                    &[],
                ),
                ("v1", "Pod") => (Platform::Gke, &["spec"], &[]),
                ("apps/v1", "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet")
                | ("batch/v1", "Job") => (
                    Platform::Gke,
                    &["spec", "template", "spec"],
                    &["spec", "template"],
                ),
                ("batch/v1", "CronJob") => (
                    Platform::Gke,
                    &["spec", "jobTemplate", "spec", "template", "spec"],
                    &["spec", "jobTemplate", "spec", "template"],
                ),
                (_, "") => {
                    return Err(self.error(obj, "the object has no kind".into()));
                }
                // Other kinds (a ConfigMap, a Kubernetes Service) deploy no image.
                _ => return Ok(()),
            };
        let breakglass = match platform {
            Platform::Cloudrun => {
                annotations(obj, RUN_BREAKGLASS).map(|j| format!("{RUN_BREAKGLASS}: {j}"))
            }
            Platform::Gke => node_at(obj, pod_meta)
                .and_then(|pod| annotations(pod, GKE_BREAKGLASS))
                .filter(|v| v == "true")
                .map(|_| format!("{GKE_BREAKGLASS}: true")),
        };
        self.breakglass_hints(obj, platform, pod_meta, &workload);
        if platform == Platform::Cloudrun && annotations(obj, RUN_BINAUTHZ).is_none() {
            self.manifest.warnings.push(format!(
                "{}: {workload} has no `{RUN_BINAUTHZ}` annotation: Cloud Run enforces no Binary \
                 Authorization policy for it (add `{RUN_BINAUTHZ}: default`)",
                self.file
            ));
        }
        let Some(pod) = node_at(obj, pod_path) else {
            return Err(self.error(obj, format!("{workload} has no {}", pod_path.join("."))));
        };
        let service_account = str_at(pod, &["serviceAccountName"]);
        // Ephemeral containers (`kubectl debug`) run images too; on a Pod only.
        for (list, prefix) in [
            ("initContainers", "init:"),
            ("containers", ""),
            ("ephemeralContainers", "ephemeral:"),
        ] {
            let Some(node) = pod.get(list) else { continue };
            let YamlData::Sequence(containers) = &node.data else {
                return Err(self.error(node, format!("{workload}: {list} is not a list")));
            };
            for (index, c) in containers.iter().enumerate() {
                // A container without a name is named by its place, not "(unnamed)", which
                // read as if the workload had no name.
                let container = format!(
                    "{prefix}{}",
                    str_at(c, &["name"]).unwrap_or_else(|| format!("{list}[{index}]"))
                );
                let Some(image) = c.get("image") else {
                    return Err(
                        self.error(c, format!("{workload}: container {container} has no image"))
                    );
                };
                let site = self.site(image, &workload, &container)?;
                self.manifest.sites.push(Site {
                    platform,
                    namespace: namespace.clone(),
                    service_account: service_account.clone(),
                    breakglass: breakglass.clone(),
                    ..site
                });
            }
        }
        Ok(())
    }

    /// Where the image scalar is written: its text and byte span, quotes included.
    fn site(&self, node: &MarkedYaml, workload: &str, container: &str) -> Result<Site> {
        let value = text_of(node).filter(|v| !v.is_empty()).ok_or_else(|| {
            self.error(
                node,
                format!("{workload}: container {container}'s image is not a string"),
            )
        })?;
        let start = self.offsets[node.span.start.index().min(self.offsets.len() - 1)];
        let rest = &self.text[start..];
        let len = match rest.chars().next() {
            Some(q @ ('"' | '\'')) => rest[1..]
                .find(q)
                .map(|i| i + 2)
                .ok_or_else(|| self.error(node, "unterminated quoted image".into()))?,
            Some('|' | '>') => {
                return Err(self.error(node, format!("{workload}: container {container}'s image is a block scalar; write it on one line")));
            }
            _ => rest
                .find(|c: char| c.is_whitespace() || matches!(c, ',' | ']' | '}'))
                .unwrap_or(rest.len()),
        };
        let written = &self.text[start..start + len];
        let unquoted = written.trim_matches(|c| c == '"' || c == '\'');
        if unquoted != value {
            return Err(self.error(
                node,
                format!("{workload}: container {container}'s image `{value}` is written in a form pin cannot rewrite (escapes or line folding)"),
            ));
        }
        Ok(Site {
            image: value,
            start,
            end: start + len,
            line: node.span.start.line(),
            workload: workload.to_string(),
            container: container.to_string(),
            platform: Platform::Gke,
            namespace: None,
            service_account: None,
            breakglass: None,
        })
    }
}

#[cfg(test)]
#[path = "manifest/tests.rs"]
mod tests;
