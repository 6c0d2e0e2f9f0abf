//! What `undeploy` deletes, in which order, and what becomes of each volume
//! (pure). It deletes the objects the releases applied — those in the
//! namespace carrying our labels, never the release records or the lock —
//! workloads first (so nothing restarts a pod that uses a claim), claims
//! last; then each claim's volume: one kept by its reclaim policy (`Retain`)
//! is handed back (its `claimRef` removed: `Available` again, data kept)
//! instead of being left `Released`, where no new claim can bind it. The
//! deploy's prune deletes the same kind of objects, those a new render no
//! longer has (`prune`, with `plan_prune` the only functions here that talk
//! to the cluster) — never a claim, nor an object marked [`KEEP`], unless
//! `--allow-data-loss NAME` names it; undeploy keeps what is marked [`KEEP`]
//! on the same terms.

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
pub const PRUNABLE: &str = "deployments,services,cronjobs,configmaps,secrets,persistentvolumeclaims,serviceaccounts,networkpolicies,poddisruptionbudgets";

/// The annotation that keeps an object from prune and undeploy unless
/// `--allow-data-loss NAME` names it (Helm's `helm.sh/resource-policy: keep`, ours).
pub const KEEP: (&str, &str) = ("mlops.dev/resource-policy", "keep");

/// Does the object carry [`KEEP`]?
pub fn kept(item: &Value) -> bool {
    item["metadata"]["annotations"][KEEP.0] == KEEP.1
}

/// Why prune must not delete this object unless `--allow-data-loss` names
/// it: a claim takes its data with it (with reclaim policy Delete), and an
/// object marked [`KEEP`] asked to stay.
pub fn guarded(item: &Value) -> Option<String> {
    if item["kind"] == "PersistentVolumeClaim" {
        Some("a claim: its volume and data may go with it".into())
    } else if kept(item) {
        Some(format!("{}: {}", KEEP.0, KEEP.1))
    } else {
        None
    }
}

/// What prune does with this environment's objects (`items`, as listed)
/// that the render no longer has.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Pruning {
    /// (kind, name) to delete.
    pub delete: Vec<(String, String)>,
    /// (kind, name, why) kept: guarded and not named by `--allow-data-loss`.
    pub held: Vec<(String, String, String)>,
}

/// The objects no longer rendered, split into those to delete and those held (pure).
pub fn pruning(items: &[Value], objects: &[Object], allowed: &[String]) -> Pruning {
    let mut p = Pruning::default();
    for item in items {
        let (kind, name) =
            (item["kind"].as_str().unwrap_or_default(), item["metadata"]["name"].as_str().unwrap_or_default());
        if kind.is_empty() || name.is_empty() || objects.iter().any(|o| o.kind == kind && o.name == name) {
            continue;
        }
        match guarded(item) {
            Some(why) if !allowed.iter().any(|a| a == name) => p.held.push((kind.into(), name.into(), why)),
            _ => p.delete.push((kind.into(), name.into())),
        }
    }
    p
}

/// Undeploy's split of what it found: (to delete, kept) — kept when marked
/// [`KEEP`] and not named by `--allow-data-loss` (pure).
pub fn undeploy_split(items: Vec<Value>, allowed: &[String]) -> (Vec<Value>, Vec<Value>) {
    items.into_iter().partition(|i| {
        let name = i["metadata"]["name"].as_str().unwrap_or_default();
        !kept(i) || allowed.iter().any(|a| a == name)
    })
}

/// The one line refusing a deploy whose prune would delete guarded objects.
pub fn refusal(env: &str, held: &[(String, String, String)]) -> String {
    let what: Vec<String> = held.iter().map(|(k, n, why)| format!("{k}/{n} ({why})")).collect();
    let names: Vec<String> = held.iter().map(|(_, n, _)| format!("--allow-data-loss {n}")).collect();
    format!(
        "deploy {env} would prune {}, which the render no longer has: put it back in the render, or pass {} to delete it",
        what.join(", "),
        names.join(" ")
    )
}

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

/// What prune would do now, read from the cluster.
pub fn plan_prune(s: &Session, env: &str, objects: &[Object], allowed: &[String]) -> Result<Pruning> {
    Ok(pruning(&s.get(PRUNABLE, Some(&applied_selector(env)))?, objects, allowed))
}

/// Delete this environment's objects that the render no longer has; a
/// guarded one not named in `allowed` stays, with a warning (deploy refuses
/// before its apply; a rollback or a resumed canary has no flag to give).
pub fn prune(s: &Session, env: &str, objects: &[Object], allowed: &[String]) -> Result<()> {
    let p = plan_prune(s, env, objects, allowed)?;
    for (kind, name) in &p.delete {
        println!("  prune    {kind}/{name} (no longer rendered)");
        s.delete(kind, name)?;
    }
    for (kind, name, why) in &p.held {
        eprintln!(
            "warning: kept {kind}/{name}, no longer rendered ({why}): delete it with `cargo xtask deploy {env} --allow-data-loss {name}` or by hand"
        );
    }
    Ok(())
}

#[cfg(test)]
#[path = "teardown_tests.rs"]
mod tests;
