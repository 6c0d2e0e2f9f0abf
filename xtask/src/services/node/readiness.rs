//! The Node's readiness as the API shows it, as pure functions over its JSON
//! (tested in `readiness_tests.rs`): Ready or not and why, its kubelet and
//! runtime versions (what `doctor` prints), and the taints `up` must change.

use serde_json::Value;
use std::path::Path;

/// `key=value:Effect` (or `key:Effect`) as key, value, effect.
fn taint_parts(t: &str) -> (String, String, String) {
    let (kv, effect) = t.rsplit_once(':').unwrap_or((t, "NoSchedule"));
    let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
    (k.to_string(), v.to_string(), effect.to_string())
}

/// The `kubectl taint` arguments that make a Node's taints the wanted ones
/// (`up` owns them; those the node controllers manage, `node.kubernetes.io/*`
/// and `node.cloudprovider.kubernetes.io/*`, are left alone). Pure.
pub fn taint_args(node: &Value, wanted: &[String]) -> Vec<String> {
    let wanted: Vec<(String, String, String)> = wanted.iter().map(|t| taint_parts(t)).collect();
    let current: Vec<(String, String, String)> = node["spec"]["taints"]
        .as_array()
        .map(|ts| {
            ts.iter()
                .map(|t| {
                    let text = |f: &str| t[f].as_str().unwrap_or("").to_string();
                    (text("key"), text("value"), text("effect"))
                })
                .collect()
        })
        .unwrap_or_default();
    let system = |k: &str| k.starts_with("node.kubernetes.io/") || k.starts_with("node.cloudprovider.kubernetes.io/");
    let mut args: Vec<String> =
        current.iter().filter(|t| !system(&t.0) && !wanted.contains(t)).map(|(k, _, e)| format!("{k}:{e}-")).collect();
    args.extend(wanted.iter().filter(|t| !current.contains(t)).map(|(k, v, e)| {
        if v.is_empty() {
            format!("{k}:{e}")
        } else {
            format!("{k}={v}:{e}")
        }
    }));
    args
}

/// A Node as `doctor` and `status` report it (pure, from the API's JSON).
#[derive(Debug, Clone, PartialEq)]
pub struct NodeState {
    pub name: String,
    pub ready: bool,
    /// The Ready condition's reason and message when it is not True.
    pub why: String,
    pub runtime: String,
    pub kubelet: String,
}

impl NodeState {
    pub fn of(node: &Value) -> NodeState {
        let ready = node["status"]["conditions"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["type"] == "Ready"))
            .cloned()
            .unwrap_or(Value::Null);
        let text = |v: &Value| v.as_str().unwrap_or("").to_string();
        NodeState {
            name: text(&node["metadata"]["name"]),
            ready: ready["status"] == "True",
            why: match (ready["reason"].as_str(), ready["message"].as_str()) {
                (None, None) => "no Ready condition yet".into(),
                (r, m) => {
                    format!("{}: {}", r.unwrap_or("NotReady"), m.unwrap_or("")).trim_end_matches(": ").to_string()
                }
            },
            runtime: text(&node["status"]["nodeInfo"]["containerRuntimeVersion"]),
            kubelet: text(&node["status"]["nodeInfo"]["kubeletVersion"]),
        }
    }

    /// One line for doctor: Ready or not, runtime and version, and the fix.
    pub fn line(&self, log: &Path) -> String {
        if self.ready {
            format!("{} Ready (kubelet {}, {})", self.name, self.kubelet, self.runtime)
        } else {
            format!(
                "{} NOT Ready ({}; kubelet {}, {}): run `cargo xtask services up`; the kubelet's log is {}",
                self.name,
                self.why,
                if self.kubelet.is_empty() { "?" } else { &self.kubelet },
                if self.runtime.is_empty() { "no runtime" } else { &self.runtime },
                log.display()
            )
        }
    }
}

/// The real nodes in `kubectl get nodes -l xtask.dev/real-node -o json`.
pub fn real_nodes(list: &Value) -> Vec<NodeState> {
    list["items"].as_array().map(|items| items.iter().map(NodeState::of).collect()).unwrap_or_default()
}

/// The names in a Node list other than `ours` (real nodes of an earlier name).
pub fn others(list: &Value, ours: &str) -> Vec<String> {
    real_nodes(list).into_iter().map(|n| n.name).filter(|n| !n.is_empty() && n != ours).collect()
}

/// Why the Node's name cannot reach the kubelet, which listens on 127.0.0.1
/// only (the apiserver dials it by that name), or None when it can.
pub fn not_loopback(name: &str, addrs: &[std::net::IpAddr]) -> Option<String> {
    let fix = format!("make /etc/hosts map `{name}` to 127.0.0.1 (and ::1) only");
    if addrs.is_empty() {
        return Some(format!("'{name}' does not resolve, and the apiserver reaches the node's kubelet by it: {fix}"));
    }
    addrs.iter().find(|ip| !ip.is_loopback()).map(|ip| {
        format!(
            "'{name}' resolves to {ip}, but the node's kubelet listens on 127.0.0.1 only and the apiserver dials it by that name: {fix}"
        )
    })
}

#[cfg(test)]
#[path = "readiness_tests.rs"]
mod tests;
