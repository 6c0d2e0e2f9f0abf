//! Canary releases (docs/explanation/canary.md): an environment whose
//! overlay declares `strategy = "canary"` (`strategy`) takes a release in
//! steps. Everything but the canary components rolls as usual; each canary
//! component gets a `NAME-canary` Deployment of the new template beside its
//! stable pods, both behind its Service (`cluster`); a load Job drives
//! bounded traffic through the Service; each pod's metrics are read through
//! the API server (`metrics`) and each window judged (`judge`). Then promote
//! (the stable Deployment takes the new template, the canary goes), abort
//! (the canary goes, stable untouched) or pause (the canary stays for
//! `cargo xtask canary ENV promote|abort`). Ctrl-C or a lost lock removes
//! the canary. A release through the canary, recorded as it goes, is the
//! release flow's (`release::canary`); the record holds `run::Record`.

pub mod cluster;
pub mod judge;
pub mod metrics;
pub mod run;
pub mod strategy;

use crate::canary::strategy::Canary;
use crate::kube::cluster::Session;
use crate::kube::Object;
use anyhow::Result;
use serde_json::Value;
use std::path::Path;

/// The canary component's Deployment and the Service that selects its pods.
#[derive(Debug, Clone)]
pub struct Part {
    pub component: String,
    pub deployment: Value,
    pub service: Option<Value>,
}

fn component_of(o: &Object) -> String {
    o.value["metadata"]["labels"][cluster::NAME_LABEL].as_str().unwrap_or(&o.name).to_string()
}

/// Does the Service select the Deployment's pods?
fn selects(service: &Value, deployment: &Value) -> bool {
    let Some(sel) = service["spec"]["selector"].as_object().filter(|s| !s.is_empty()) else { return false };
    let labels = &deployment["spec"]["template"]["metadata"]["labels"];
    sel.iter().all(|(k, v)| &labels[k] == v)
}

/// Every Deployment of the render as a part (with its Service, if one selects it).
pub fn parts(objects: &[Object]) -> Vec<Part> {
    objects
        .iter()
        .filter(|o| o.kind == "Deployment")
        .map(|d| Part {
            component: component_of(d),
            deployment: d.value.clone(),
            service: objects
                .iter()
                .find(|s| s.kind == "Service" && selects(&s.value, &d.value))
                .map(|s| s.value.clone()),
        })
        .collect()
}

/// `env`'s strategy read and checked against its render: for a canary, the
/// parts that take part. Bad input (file and line, or the component and the fix) as one line.
pub fn plan(root: &Path, env: &str, objects: &[Object]) -> Result<Option<(Canary, Vec<Part>)>, String> {
    match strategy::read(root, env)? {
        strategy::Strategy::Rolling => Ok(None),
        strategy::Strategy::Canary(c) => {
            let all = parts(objects);
            strategy::check_targets(&strategy::file_of(env), env, &c, &targets(&all))?;
            let mine = all.into_iter().filter(|p| c.components.contains(&p.component)).collect();
            Ok(Some((c, mine)))
        }
    }
}

/// The render's parts as the strategy checks see them.
pub fn targets(parts: &[Part]) -> Vec<strategy::Target> {
    parts
        .iter()
        .map(|p| strategy::Target {
            component: p.component.clone(),
            replicas: Some(p.deployment["spec"]["replicas"].as_u64().unwrap_or(1) as u32),
            has_service: p.service.is_some(),
        })
        .collect()
}

/// The image the load Job runs: the platform's client image when the render
/// has one (its smoke check runs it), else the first canary component's.
pub fn load_image(all: &[Object], parts: &[&Part]) -> Option<String> {
    // A Job's and a Deployment's pod template sit at the same place.
    let image_of = |v: &Value| v["spec"]["template"]["spec"]["containers"][0]["image"].as_str().map(String::from);
    all.iter()
        .filter(|o| o.kind == "Job" && component_of(o) == "client")
        .find_map(|o| image_of(&o.value))
        .or_else(|| parts.first().and_then(|p| image_of(&p.deployment)))
}

/// Delete every canary Deployment of the namespace (and the load Job): what
/// abort, Ctrl-C and a lost lock leave behind is the stable pods alone.
pub fn remove(s: &Session) -> Result<Vec<String>> {
    let mut gone = Vec::new();
    for d in s.get("deployments", Some(&format!("{}=canary", cluster::TRACK)))? {
        let name = d["metadata"]["name"].as_str().unwrap_or_default().to_string();
        s.delete("deployment", &name)?;
        gone.push(name);
    }
    let ns = s.namespace.clone();
    let load = format!("{}={}", cluster::NAME_LABEL, cluster::LOAD_JOB);
    s.run(
        &["delete", "jobs", "-l", &load, "-n", &ns, "--ignore-not-found", "--cascade=background", "--wait=false"],
        None,
    )?;
    Ok(gone)
}
