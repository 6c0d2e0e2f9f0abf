//! What `undeploy` deletes, in which order, and what becomes of each volume
//! (pure). It deletes the objects the releases applied — those in the
//! namespace carrying our labels, never the release records or the lock —
//! workloads first (so nothing restarts a pod that uses a claim), claims
//! last; then each claim's volume: one kept by its reclaim policy (`Retain`)
//! is handed back (its `claimRef` removed: `Available` again, data kept)
//! instead of being left `Released`, where no new claim can bind it. The
//! deploy's prune deletes the same kind of objects, those a new render no
//! longer has (`prune`, the one function here that talks to the cluster).

use crate::kube::cluster::Session;
use crate::kube::Object;
use crate::release::records;
use anyhow::Result;
use serde_json::{json, Value};

/// Workloads first, claims last, the rest between.
fn rank(kind: &str) -> u8 {
    match kind {
        "Deployment" | "StatefulSet" | "DaemonSet" | "CronJob" | "Job" | "ReplicaSet" | "Pod" => 0,
        "PersistentVolumeClaim" => 2,
        _ => 1,
    }
}

/// The objects to delete, as (kind, name), in order; each once.
pub fn order(items: &[Value]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for item in items {
        let kind = item["kind"].as_str().unwrap_or_default();
        let name = item["metadata"]["name"].as_str().unwrap_or_default();
        if kind.is_empty() || name.is_empty() || kind == "Namespace" || kind == "Lease" {
            continue;
        }
        if !out.iter().any(|(k, n)| k == kind && n == name) {
            out.push((kind.to_string(), name.to_string()));
        }
    }
    out.sort_by_key(|(kind, _)| rank(kind));
    out
}

/// A claim being deleted: its name, uid, and the volume bound to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub name: String,
    pub uid: String,
    pub volume: Option<String>,
}

/// The claims among the listed objects.
pub fn claims(items: &[Value]) -> Vec<Claim> {
    items
        .iter()
        .filter(|i| i["kind"] == "PersistentVolumeClaim")
        .map(|i| Claim {
            name: i["metadata"]["name"].as_str().unwrap_or_default().to_string(),
            uid: i["metadata"]["uid"].as_str().unwrap_or_default().to_string(),
            volume: i["spec"]["volumeName"].as_str().filter(|v| !v.is_empty()).map(String::from),
        })
        .collect()
}

/// What becomes of a volume once its claim is gone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fate {
    /// Reclaim policy Retain: hand it back (Available, data kept).
    HandBack,
    /// The cluster deletes or recycles it (policy Delete, Recycle).
    Cluster(String),
    /// Not ours to touch: bound to another claim now.
    Leave(String),
    /// Deleted already: its policy was Delete and the cluster was quick.
    Gone,
}

/// The fate of volume `pv` (as read; `None`: it is gone) once `claim` is deleted.
pub fn fate(pv: Option<&Value>, claim: &Claim) -> Fate {
    let Some(pv) = pv else { return Fate::Gone };
    let bound = &pv["spec"]["claimRef"];
    if !bound.is_null() && bound["uid"].as_str() != Some(claim.uid.as_str()) {
        return Fate::Leave("it is bound to another claim now".into());
    }
    match pv["spec"]["persistentVolumeReclaimPolicy"].as_str().unwrap_or("Retain") {
        "Retain" => Fate::HandBack,
        other => Fate::Cluster(other.to_string()),
    }
}

/// The JSON patch that hands a volume back, only while it still names our claim.
pub fn hand_back(claim: &Claim) -> String {
    json!([
        {"op": "test", "path": "/spec/claimRef/uid", "value": claim.uid},
        {"op": "remove", "path": "/spec/claimRef"},
    ])
    .to_string()
}

/// Kinds a render may hold that prune and undeploy look at (with our labels only).
pub const PRUNABLE: &str = "deployments,services,cronjobs,configmaps,secrets,persistentvolumeclaims,serviceaccounts";

/// The label selector of what this environment's releases applied (not the records).
pub fn applied_selector(env: &str) -> String {
    format!(
        "{}={},{}={env},!{}",
        records::MANAGED_BY.0,
        records::MANAGED_BY.1,
        records::LABEL_ENV,
        records::LABEL_RELEASE
    )
}

/// Delete this environment's objects that the render no longer has.
pub fn prune(s: &Session, env: &str, objects: &[Object]) -> Result<()> {
    for item in s.get(PRUNABLE, Some(&applied_selector(env)))? {
        let (kind, name) =
            (item["kind"].as_str().unwrap_or_default(), item["metadata"]["name"].as_str().unwrap_or_default());
        if !objects.iter().any(|o| o.kind == kind && o.name == name) {
            println!("  prune    {kind}/{name} (no longer rendered)");
            s.delete(kind, name)?;
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "teardown_tests.rs"]
mod tests;
