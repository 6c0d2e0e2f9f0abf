//! Our rules for the objects an environment deploys, a pure function over
//! parsed objects (`manifests::yaml` of the rendered environment):
//!
//! | rule | what it asks |
//! |---|---|
//! | `labels` | every object carries `mlops.dev/environment: ENV` and `app.kubernetes.io/managed-by: xtask` |
//! | `image-digest` | outside development (and its previews `pr-<N>`), every image is pinned by digest (`@sha256:…`) |
//! | `image-latest` | outside development, no image is tagged `latest` or left untagged |
//! | `probes` | every container of a Deployment, StatefulSet or DaemonSet has a readiness and a liveness probe |
//! | `resources` | every container requests and limits cpu and memory |
//! | `non-root` | every container runs as non-root, unprivileged, without privilege escalation |

use crate::kube::Object;
use serde_json::Value;

/// The environment the image rules leave alone (it may run `latest`, unpinned builds).
const DEVELOPMENT: &str = "development";

/// A pull request's preview `pr-<N>` renders development's overlay, so
/// development's rules apply (`manifests::preview` names them; it reads
/// this file, so the check is not imported back from it).
fn is_preview(env: &str) -> bool {
    env.strip_prefix("pr-")
        .is_some_and(|n| !n.is_empty() && !n.starts_with('0') && n.bytes().all(|b| b.is_ascii_digit()))
}
const ENVIRONMENT_LABEL: &str = "mlops.dev/environment";
const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
pub const MANAGED_BY: &str = "xtask";

/// One broken rule: which object (and container), which rule, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub kind: String,
    pub name: String,
    pub container: Option<String>,
    /// The container's image, for the image rules (the overlay pins it).
    pub image: Option<String>,
    pub rule: &'static str,
    pub message: String,
}

/// Every rule over every object of `env`.
pub fn check(env: &str, objects: &[Object]) -> Vec<Violation> {
    let mut found = Vec::new();
    for o in objects {
        let v = |container: Option<&str>, image: Option<&str>, rule, message: String| Violation {
            kind: o.kind.clone(),
            name: o.name.clone(),
            container: container.map(String::from),
            image: image.map(String::from),
            rule,
            message,
        };
        let labels = &o.value["metadata"]["labels"];
        let mut missing = Vec::new();
        for (key, want) in [(ENVIRONMENT_LABEL, env), (MANAGED_BY_LABEL, MANAGED_BY)] {
            if labels[key].as_str() != Some(want) {
                missing.push(format!("{key}: {want}"));
            }
        }
        if !missing.is_empty() {
            let message = format!("{} is not labelled {} (the overlay's labels add them)", o.id(), missing.join(", "));
            found.push(v(None, None, "labels", message));
        }
        let Some(pod) = pod_spec(o) else { continue };
        let serves = matches!(o.kind.as_str(), "Deployment" | "StatefulSet" | "DaemonSet");
        for (field, c) in containers(pod) {
            let name = c["name"].as_str().unwrap_or("?");
            let at = format!("{} container {name}", o.id());
            let image = c["image"].as_str().unwrap_or_default();
            if env != DEVELOPMENT && !is_preview(env) {
                let r = ImageRef::parse(image);
                if r.digest.is_none() {
                    let message = format!(
                        "{at}: image {image} is not pinned by digest in {env} (cargo xtask manifests update {env})"
                    );
                    found.push(v(Some(name), Some(image), "image-digest", message));
                }
                if r.tag.as_deref() == Some("latest") || (r.tag.is_none() && r.digest.is_none()) {
                    let message = format!("{at}: image {image} runs `latest` in {env}: pin a version tag");
                    found.push(v(Some(name), Some(image), "image-latest", message));
                }
            }
            if serves && field == "containers" {
                let missing: Vec<&str> =
                    ["readinessProbe", "livenessProbe"].into_iter().filter(|p| c[*p].is_null()).collect();
                if !missing.is_empty() {
                    let message = format!("{at} has no {}", missing.join(" and no "));
                    found.push(v(Some(name), None, "probes", message));
                }
            }
            let missing: Vec<String> = ["requests", "limits"]
                .iter()
                .flat_map(|k| ["cpu", "memory"].map(|r| (*k, r)))
                .filter(|(k, r)| c["resources"][*k][*r].is_null())
                .map(|(k, r)| format!("{k}.{r}"))
                .collect();
            if !missing.is_empty() {
                let message = format!("{at} sets no resources {}", missing.join(", "));
                found.push(v(Some(name), None, "resources", message));
            }
            let problems = root_problems(&pod["securityContext"], &c["securityContext"]);
            if !problems.is_empty() {
                let message = format!("{at}: {}", problems.join("; "));
                found.push(v(Some(name), None, "non-root", message));
            }
        }
    }
    found
}

/// What is wrong with the security context a container ends up with (its
/// own settings override the pod's).
fn root_problems(pod: &Value, own: &Value) -> Vec<&'static str> {
    let get = |key: &str| if own[key].is_null() { &pod[key] } else { &own[key] };
    let mut problems = Vec::new();
    if get("runAsNonRoot") != &Value::Bool(true) {
        problems.push("runAsNonRoot is not true");
    }
    if get("runAsUser").as_i64() == Some(0) {
        problems.push("runAsUser is 0 (root)");
    }
    if own["privileged"] == Value::Bool(true) {
        problems.push("it is privileged");
    }
    if own["allowPrivilegeEscalation"] != Value::Bool(false) {
        problems.push("allowPrivilegeEscalation is not false");
    }
    problems
}

/// The pod spec inside a workload, where it has one.
pub fn pod_spec(o: &Object) -> Option<&Value> {
    let spec = &o.value["spec"];
    let pod = match o.kind.as_str() {
        "Pod" => spec,
        "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" | "Job" => &spec["template"]["spec"],
        "CronJob" => &spec["jobTemplate"]["spec"]["template"]["spec"],
        _ => return None,
    };
    pod.is_object().then_some(pod)
}

/// A pod's init containers and containers, each with the field it is listed in.
pub fn containers(pod: &Value) -> Vec<(&'static str, &Value)> {
    let mut out = Vec::new();
    for field in ["initContainers", "containers"] {
        for c in pod[field].as_array().into_iter().flatten() {
            out.push((field, c));
        }
    }
    out
}

/// Every image the object's containers run.
pub fn images(o: &Object) -> Vec<String> {
    pod_spec(o)
        .map(|pod| containers(pod).iter().filter_map(|(_, c)| c["image"].as_str().map(String::from)).collect())
        .unwrap_or_default()
}

/// An image reference split into its parts: `name[:tag][@digest]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    pub name: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

impl ImageRef {
    pub fn parse(image: &str) -> ImageRef {
        let (rest, digest) = match image.split_once('@') {
            Some((r, d)) => (r, Some(d.to_string())),
            None => (image, None),
        };
        // A colon after the last slash separates the tag (one before it is a registry's port).
        let last = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last..].find(':') {
            Some(i) => (&rest[..last + i], Some(rest[last + i + 1..].to_string())),
            None => (rest, None),
        };
        ImageRef { name: name.to_string(), tag, digest }
    }
}

#[cfg(test)]
#[path = "rules_tests.rs"]
mod tests;
