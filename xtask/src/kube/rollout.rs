//! The rollout verdict: a pure function over the objects read from the API
//! (Deployments, CronJobs, Pods, Events as JSON), so every rule is a unit
//! test on captured JSON. The polling around it is `wait`'s (the end of
//! every deploy, rollback, canary step and `verify`).
//!
//! A Deployment is judged by kubectl's own rules (`kubectl rollout status`,
//! `polymorphichelpers/rollout_status.go`), in kubectl's order: nothing in
//! its status counts until the controller has observed its generation (right
//! after an apply the status, conditions included, still describes the
//! previous template); then a `ProgressDeadlineExceeded` condition fails it;
//! then every replica must be updated, no old replica left, and every
//! updated replica available. One rule of ours joins them, also only once the
//! generation is observed: a pod of the current ReplicaSet stuck in a reason
//! that never heals by itself fails the rollout without waiting for any deadline.

use crate::kube::want::{self, images_of, Want};
use serde_json::Value;
use std::collections::BTreeMap;

/// Container waiting reasons that mean the rollout will not succeed.
const FATAL_REASONS: [&str; 6] = [
    "CrashLoopBackOff",
    "ImagePullBackOff",
    "ErrImagePull",
    "CreateContainerConfigError",
    "CreateContainerError",
    "InvalidImageName",
];

/// The objects one look at the environment's namespace returned.
#[derive(Debug, Default, Clone)]
pub struct Observed {
    pub deployments: Vec<Value>,
    pub replicasets: Vec<Value>,
    pub cronjobs: Vec<Value>,
    pub pods: Vec<Value>,
    pub events: Vec<Value>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    Ready,
    /// Still progressing; why, in kubectl's words.
    Waiting(String),
    Failed(Failure),
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Failure {
    pub pod: Option<String>,
    pub container: Option<String>,
    pub reason: String,
    pub message: String,
    /// The failing pod's last events, oldest first (`Reason: message`).
    pub events: Vec<String>,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.pod, &self.container) {
            (Some(p), Some(c)) => write!(f, "pod {p}, container {c}: {}", self.reason)?,
            (Some(p), None) => write!(f, "pod {p}: {}", self.reason)?,
            _ => write!(f, "{}", self.reason)?,
        }
        if !self.message.is_empty() {
            write!(f, " ({})", self.message)?;
        }
        Ok(())
    }
}

/// One workload's state, named by its component (`app.kubernetes.io/name`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workload {
    pub component: String,
    pub kind: &'static str,
    pub name: String,
    pub state: State,
}

/// The objects of one kind in the observation.
fn of_kind<'a>(observed: &'a Observed, kind: &str) -> Option<&'a [Value]> {
    match kind {
        "Deployment" => Some(&observed.deployments),
        "CronJob" => Some(&observed.cronjobs),
        _ => None,
    }
}

/// The state of every workload the deploy expects (`kind`, `name`) → what
/// the render wants of it (images, replicas, labels).
pub fn verdict(observed: &Observed, expected: &BTreeMap<(String, String), Want>) -> Vec<Workload> {
    let mut out = Vec::new();
    for ((kind, name), want) in expected {
        let Some(list) = of_kind(observed, kind) else { continue };
        let kind_name = if kind == "CronJob" { "CronJob" } else { "Deployment" };
        let found = list.iter().find(|o| o["metadata"]["name"] == name.as_str());
        let component = found.map_or_else(|| name.clone(), component_of);
        let state = match found {
            None => State::Waiting(format!("{kind} {name} does not exist yet")),
            Some(obj) if kind_name == "CronJob" => cronjob_state(obj, want),
            Some(obj) => deployment_state(obj, want, observed),
        };
        out.push(Workload { component, kind: kind_name, name: name.clone(), state });
    }
    out
}

/// Where the cluster differs from the render, a line per difference naming
/// the workload (one that does not exist included); empty when it runs what
/// the render wants, whether or not it is rolled out yet.
pub fn mismatches(observed: &Observed, expected: &BTreeMap<(String, String), Want>) -> Vec<String> {
    let mut out = Vec::new();
    for ((kind, name), want) in expected {
        let Some(list) = of_kind(observed, kind) else { continue };
        match list.iter().find(|o| o["metadata"]["name"] == name.as_str()) {
            None => out.push(format!("{kind} {name}: not in the cluster")),
            Some(obj) => {
                let who = format!("{} ({kind} {name})", component_of(obj));
                out.extend(want::differences(kind, obj, want).into_iter().map(|d| format!("{who}: {d}")));
            }
        }
    }
    out
}

fn component_of(obj: &Value) -> String {
    let labels = &obj["metadata"]["labels"];
    labels["app.kubernetes.io/name"].as_str().or(obj["metadata"]["name"].as_str()).unwrap_or("?").to_string()
}

/// The pod template's spec of a `kind` workload: a Deployment's, or a CronJob's jobs'.
fn pod_spec_of<'a>(kind: &str, obj: &'a Value) -> Option<&'a Value> {
    want::pod_template(kind, obj).map(|t| &t["spec"])
}

fn sorted(images: &[String]) -> Vec<String> {
    let mut v = images.to_vec();
    v.sort();
    v
}

/// The render's replicas and labels the object lacks, as a waiting reason.
fn differs(kind: &str, obj: &Value, want: &Want) -> Option<State> {
    let d = want::differences(kind, obj, want);
    (!d.is_empty()).then(|| State::Waiting(format!("it differs from the render: {}", d.join("; "))))
}

/// A CronJob has nothing to roll out: its pod template must carry the new images.
fn cronjob_state(obj: &Value, want: &Want) -> State {
    let images = &want.images;
    let have = pod_spec_of("CronJob", obj).map(images_of).unwrap_or_default();
    if have != sorted(images) {
        return State::Waiting(format!("its pod template runs {} instead of {}", have.join(", "), images.join(", ")));
    }
    differs("CronJob", obj, want).unwrap_or(State::Ready)
}

fn deployment_state(d: &Value, want: &Want, observed: &Observed) -> State {
    let images = &want.images;
    if pod_spec_of("Deployment", d).map(images_of) != Some(sorted(images)) {
        return State::Waiting(format!("its pod template does not carry {} yet", images.join(", ")));
    }
    if let Some(waiting) = differs("Deployment", d, want) {
        return waiting;
    }
    let status = &d["status"];
    let n = |v: &Value| v.as_u64().unwrap_or(0);
    // kubectl: `Generation <= Status.ObservedGeneration` before anything else is read.
    if n(&status["observedGeneration"]) < n(&d["metadata"]["generation"]) {
        return State::Waiting("waiting for the deployment spec update to be observed".into());
    }
    let progressing = status["conditions"].as_array().into_iter().flatten().find(|c| c["type"] == "Progressing");
    if let Some(c) = progressing.filter(|c| c["reason"] == "ProgressDeadlineExceeded") {
        let mut f = failing_pod(d, observed).unwrap_or_default();
        f.reason = "ProgressDeadlineExceeded".into();
        f.message = c["message"].as_str().unwrap_or_default().to_string();
        return State::Failed(f);
    }
    // Pods the API refuses to create (a ResourceQuota or LimitRange says no) never come.
    let refused = status["conditions"].as_array().into_iter().flatten().find(|c| {
        c["type"] == "ReplicaFailure" && c["status"] == "True" && c["message"].as_str().is_some_and(forbidden)
    });
    if let Some(c) = refused {
        return State::Failed(Failure {
            reason: c["reason"].as_str().unwrap_or("ReplicaFailure").to_string(),
            message: c["message"].as_str().unwrap_or_default().to_string(),
            ..Failure::default()
        });
    }
    if let Some(f) = failing_pod(d, observed).filter(|f| FATAL_REASONS.contains(&f.reason.as_str())) {
        return State::Failed(f);
    }
    let want = d["spec"]["replicas"].as_u64().unwrap_or(1);
    let (updated, total, available) =
        (n(&status["updatedReplicas"]), n(&status["replicas"]), n(&status["availableReplicas"]));
    if updated < want {
        State::Waiting(format!("{updated} out of {want} new replicas have been updated"))
    } else if total > updated {
        State::Waiting(format!("{} old replicas are pending termination", total - updated))
    } else if available < updated {
        State::Waiting(format!("{available} of {updated} updated replicas are available"))
    } else {
        State::Ready
    }
}

/// A pod creation the API refused for good: over the namespace's quota or
/// outside its limits (not a webhook's passing outage).
fn forbidden(message: &str) -> bool {
    message.contains("exceeded quota")
        || message.contains("forbidden: maximum")
        || message.contains("forbidden: minimum")
}

/// The annotation the deployment controller numbers a Deployment's
/// templates with, on the Deployment and on each of its ReplicaSets.
const REVISION: &str = "deployment.kubernetes.io/revision";

/// Whether `p` belongs to `d`'s current template: it carries the
/// `pod-template-hash` of the ReplicaSet of the Deployment's revision. A
/// crash-looping pod of an earlier template (the one a fix replaces, even
/// with the same image) is not the new rollout's. Without ReplicaSets in the
/// observation, a pod running the template's images counts.
fn of_current_template(d: &Value, p: &Value, observed: &Observed) -> bool {
    if observed.replicasets.is_empty() {
        return images_of(&p["spec"]) == images_of(&d["spec"]["template"]["spec"]);
    }
    let revision = &d["metadata"]["annotations"][REVISION];
    let owned_by_d = |rs: &Value| {
        rs["metadata"]["ownerReferences"].as_array().into_iter().flatten().any(|o| {
            o["kind"] == "Deployment"
                && o["name"] == d["metadata"]["name"]
                && (d["metadata"]["uid"].is_null() || o["uid"] == d["metadata"]["uid"])
        })
    };
    observed.replicasets.iter().any(|rs| {
        let hash = &rs["metadata"]["labels"]["pod-template-hash"];
        owned_by_d(rs)
            && !revision.is_null()
            && rs["metadata"]["annotations"][REVISION] == *revision
            && !hash.is_null()
            && p["metadata"]["labels"]["pod-template-hash"] == *hash
    })
}

/// The first pod of the Deployment's current template that is not ready,
/// with its container's waiting reason (or the pod's own) and its events.
fn failing_pod(d: &Value, observed: &Observed) -> Option<Failure> {
    let selector = d["spec"]["selector"]["matchLabels"].as_object()?;
    let mut pods: Vec<&Value> = observed
        .pods
        .iter()
        .filter(|p| selector.iter().all(|(k, v)| p["metadata"]["labels"][k] == *v))
        .filter(|p| of_current_template(d, p, observed))
        .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
        .collect();
    pods.sort_by_key(|p| p["metadata"]["name"].as_str().unwrap_or_default().to_string());
    pods.into_iter().find_map(|p| {
        let mut f = not_ready(p)?;
        f.events = events_of(f.pod.as_deref().unwrap_or_default(), &observed.events);
        Some(f)
    })
}

/// Why a pod is not ready, from its container statuses: the first container
/// waiting or not ready, with its waiting reason (`NotReady` when it runs but
/// fails its readiness probe). None for a ready pod or one with no statuses yet.
pub fn not_ready(p: &Value) -> Option<Failure> {
    let statuses = p["status"]["containerStatuses"].as_array()?;
    let waiting = statuses.iter().find(|c| c["state"]["waiting"].is_object() || c["ready"] == false)?;
    let w = &waiting["state"]["waiting"];
    Some(Failure {
        pod: Some(p["metadata"]["name"].as_str().unwrap_or("?").to_string()),
        container: waiting["name"].as_str().map(String::from),
        reason: w["reason"].as_str().unwrap_or("NotReady").to_string(),
        message: w["message"].as_str().unwrap_or_default().to_string(),
        events: Vec::new(),
    })
}

/// The last few events about a pod, oldest first.
fn events_of(pod: &str, events: &[Value]) -> Vec<String> {
    let time = |e: &Value| {
        e["lastTimestamp"]
            .as_str()
            .or(e["eventTime"].as_str())
            .or(e["firstTimestamp"].as_str())
            .unwrap_or("")
            .to_string()
    };
    let mut about: Vec<&Value> =
        events.iter().filter(|e| e["involvedObject"]["kind"] == "Pod" && e["involvedObject"]["name"] == pod).collect();
    about.sort_by_key(|e| time(e));
    let start = about.len().saturating_sub(5);
    about[start..]
        .iter()
        .map(|e| format!("{}: {}", e["reason"].as_str().unwrap_or("?"), e["message"].as_str().unwrap_or("").trim()))
        .collect()
}

#[cfg(test)]
#[path = "rollout_tests.rs"]
mod tests;
