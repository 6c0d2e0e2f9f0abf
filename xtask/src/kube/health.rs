//! What `status` says about the workloads that run (pure): each one's
//! rollout by the verdict's rules against its own template, every pod of a
//! Deployment that is not ready and why (its container's waiting reason and
//! message, restarts, the last termination; before any container exists, its
//! conditions: Unschedulable), and a one-line health per environment. A
//! Deployment reports 2/2 available from its old ReplicaSet while the new one
//! crash-loops: the pods say so, the counts do not.

use crate::kube::rollout::{self, Observed, State};
use crate::kube::want::Want;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// One pod that is not ready, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Trouble {
    pub pod: String,
    pub container: Option<String>,
    pub reason: String,
    pub message: String,
    pub restarts: u64,
    /// How the container's last run ended (`exit 1, Error`), when it ran.
    pub last_exit: Option<String>,
}

impl std::fmt::Display for Trouble {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "pod {}: ", self.pod)?;
        if let Some(c) = &self.container {
            write!(f, "container {c} ")?;
        }
        write!(f, "{}", self.reason)?;
        if !self.message.is_empty() {
            write!(f, " ({})", self.message)?;
        }
        if self.restarts > 0 {
            write!(f, ", {} restart{}", self.restarts, if self.restarts == 1 { "" } else { "s" })?;
        }
        if let Some(e) = &self.last_exit {
            write!(f, ", last {e}")?;
        }
        Ok(())
    }
}

/// Why `p` is not ready; None for a ready, finished or terminating pod.
pub fn trouble(p: &Value) -> Option<Trouble> {
    let status = &p["status"];
    if !p["metadata"]["deletionTimestamp"].is_null() || status["phase"] == "Succeeded" {
        return None;
    }
    let conditions = status["conditions"].as_array().cloned().unwrap_or_default();
    let condition = |t: &str| conditions.iter().find(|c| c["type"] == t).cloned();
    if condition("Ready").is_some_and(|c| c["status"] == "True") {
        return None;
    }
    let pod = p["metadata"]["name"].as_str().unwrap_or("?").to_string();
    let statuses = status["containerStatuses"].as_array().cloned().unwrap_or_default();
    let restarts = statuses.iter().map(|c| c["restartCount"].as_u64().unwrap_or(0)).sum();
    let Some(f) = rollout::not_ready(p) else {
        // No container yet: the pod's own conditions say why (scheduling, mostly).
        let why = condition("PodScheduled").filter(|c| c["status"] == "False").or_else(|| condition("Ready"));
        let text = |c: &Option<Value>, k: &str| c.as_ref().and_then(|c| c[k].as_str()).unwrap_or_default().to_string();
        let reason = Some(text(&why, "reason")).filter(|r| !r.is_empty());
        return Some(Trouble {
            pod,
            container: None,
            reason: reason.unwrap_or_else(|| status["phase"].as_str().unwrap_or("Pending").to_string()),
            message: text(&why, "message"),
            restarts,
            last_exit: None,
        });
    };
    let c = statuses.iter().find(|c| c["name"].as_str() == f.container.as_deref()).cloned().unwrap_or_default();
    let ended = &c["lastState"]["terminated"];
    let last_exit = ended.is_object().then(|| {
        let reason = ended["reason"].as_str().map(|r| format!(", {r}")).unwrap_or_default();
        format!("exit {}{reason}", ended["exitCode"].as_i64().unwrap_or(-1))
    });
    let message = if f.message.is_empty() && c["state"]["running"].is_object() {
        "running, its readiness probe does not pass".to_string()
    } else {
        f.message
    };
    Some(Trouble { pod, container: f.container, reason: f.reason, message, restarts, last_exit })
}

/// The pods of Deployment `d` (by its selector) that are not ready, by name.
pub fn troubles(d: &Value, pods: &[Value]) -> Vec<Trouble> {
    let Some(selector) = d["spec"]["selector"]["matchLabels"].as_object() else { return Vec::new() };
    let mut out: Vec<Trouble> = pods
        .iter()
        .filter(|p| selector.iter().all(|(k, v)| p["metadata"]["labels"][k] == *v))
        .filter_map(trouble)
        .collect();
    out.sort_by(|a, b| a.pod.cmp(&b.pod));
    out
}

/// A live workload's rollout: the verdict's rules against its own template.
pub fn rollout_of(kind: &str, obj: &Value, observed: &Observed) -> State {
    let Some(want) = Want::of(kind, obj) else { return State::Ready };
    let name = obj["metadata"]["name"].as_str().unwrap_or_default().to_string();
    let expected = BTreeMap::from([((kind.to_string(), name), want)]);
    rollout::verdict(observed, &expected).pop().map_or(State::Ready, |w| w.state)
}

/// The rollout in a few words: `rolled out`, `rolling out: …`, `failing: …`.
pub fn state_words(state: &State) -> String {
    match state {
        State::Ready => "rolled out".into(),
        State::Waiting(why) => format!("rolling out: {why}"),
        State::Failed(f) => format!("failing: {}", f.reason),
    }
}

/// One line for an environment's workloads: `ready (3 workloads)`, or each
/// one that is not, with its first pod's reason.
pub fn summary(workloads: &[(String, State, Vec<Trouble>)]) -> String {
    if workloads.is_empty() {
        return "no workloads".into();
    }
    let bad: Vec<String> = workloads
        .iter()
        .filter(|(_, state, troubles)| *state != State::Ready || !troubles.is_empty())
        .map(|(component, state, troubles)| {
            let pods = match troubles.first() {
                Some(t) => format!(", {} pod(s) not ready ({})", troubles.len(), t.reason),
                None => String::new(),
            };
            format!("{component} {}{pods}", state_words(state))
        })
        .collect();
    if bad.is_empty() {
        let n = workloads.len();
        format!("ready ({n} workload{})", if n == 1 { "" } else { "s" })
    } else {
        bad.join("; ")
    }
}

/// `127.0.0.1:5000/mlops/storage:1a2b…@sha256:…` → `storage:1a2b3c4d5e6f`:
/// the repository's last part and the tag (a commit SHA cut to 12).
pub fn short_image(reference: &str) -> String {
    let no_digest = reference.split('@').next().unwrap_or(reference);
    let last = no_digest.rsplit('/').next().unwrap_or(no_digest);
    match last.split_once(':') {
        Some((name, tag)) if tag.len() == 40 && tag.chars().all(|c| c.is_ascii_hexdigit()) => {
            format!("{name}:{}", &tag[..12])
        }
        _ => last.to_string(),
    }
}

#[cfg(test)]
#[path = "health_tests.rs"]
mod tests;
