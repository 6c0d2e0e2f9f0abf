//! What a render says each workload must be, and how a live object differs
//! from it (pure): the images its containers run, its replicas when the render
//! sets them, and the labels the render puts on the object and on its pod
//! template (the overlay's environment and managed-by labels among them).
//! A healthy workload of an older revision is not what the overlay renders:
//! verify names the difference instead of calling it rolled out.

use crate::kube::Object;
use serde_json::Value;
use std::collections::BTreeMap;

/// One workload as rendered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Want {
    /// Its containers' images, sorted.
    pub images: Vec<String>,
    /// `spec.replicas` when the render sets it (a Deployment).
    pub replicas: Option<u64>,
    pub labels: BTreeMap<String, String>,
    pub template_labels: BTreeMap<String, String>,
}

impl Want {
    /// What `obj` (a rendered Deployment or CronJob) asks for; None for other kinds.
    pub fn of(kind: &str, obj: &Value) -> Option<Want> {
        let template = pod_template(kind, obj)?;
        Some(Want {
            images: images_of(&template["spec"]),
            replicas: obj["spec"]["replicas"].as_u64(),
            labels: labels(&obj["metadata"]["labels"]),
            template_labels: labels(&template["metadata"]["labels"]),
        })
    }
}

/// The workloads a render deploys (`kind`, `name`) and what each must be.
pub fn wanted(objects: &[Object]) -> BTreeMap<(String, String), Want> {
    objects.iter().filter_map(|o| Some(((o.kind.clone(), o.name.clone()), Want::of(&o.kind, &o.value)?))).collect()
}

/// Only images: what a verdict on captured objects often needs.
impl From<Vec<String>> for Want {
    fn from(images: Vec<String>) -> Want {
        Want { images, ..Want::default() }
    }
}

/// A workload's pod template: a Deployment's, or a CronJob's jobs'.
pub fn pod_template<'a>(kind: &str, obj: &'a Value) -> Option<&'a Value> {
    match kind {
        "Deployment" => Some(&obj["spec"]["template"]),
        "CronJob" => Some(&obj["spec"]["jobTemplate"]["spec"]["template"]),
        _ => None,
    }
}

/// The images a pod spec's containers run, sorted.
pub fn images_of(pod_spec: &Value) -> Vec<String> {
    let mut v: Vec<String> = pod_spec["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["image"].as_str().map(String::from))
        .collect();
    v.sort();
    v
}

fn labels(v: &Value) -> BTreeMap<String, String> {
    let text = |v: &Value| v.as_str().map_or_else(|| v.to_string(), String::from);
    v.as_object().into_iter().flatten().map(|(k, v)| (k.clone(), text(v))).collect()
}

/// How the live `kind` object differs from what the render wants, a line per
/// difference; empty when the cluster carries everything the render sets.
pub fn differences(kind: &str, live: &Value, want: &Want) -> Vec<String> {
    let mut out = Vec::new();
    let template = pod_template(kind, live).unwrap_or(&Value::Null);
    let images = images_of(&template["spec"]);
    let mut rendered = want.images.clone();
    rendered.sort();
    if images != rendered {
        out.push(format!("images: the cluster runs {}, the overlay renders {}", list(&images), list(&rendered)));
    }
    if let Some(n) = want.replicas {
        let have = live["spec"]["replicas"].as_u64().unwrap_or(1);
        if have != n {
            out.push(format!("replicas: the cluster runs {have}, the overlay renders {n}"));
        }
    }
    for (what, wanted, have) in [
        ("label", &want.labels, labels(&live["metadata"]["labels"])),
        ("pod template label", &want.template_labels, labels(&template["metadata"]["labels"])),
    ] {
        for (k, v) in wanted {
            match have.get(k) {
                Some(h) if h == v => {}
                Some(h) => out.push(format!("{what} {k}: the cluster has {h}, the overlay renders {v}")),
                None => out.push(format!("{what} {k}: the cluster has none, the overlay renders {v}")),
            }
        }
    }
    out
}

fn list(images: &[String]) -> String {
    if images.is_empty() {
        "no image".into()
    } else {
        images.join(", ")
    }
}

#[cfg(test)]
#[path = "want_tests.rs"]
mod tests;
