//! Whether a rollout that stops its running pods first will find room for
//! the new ones (pure, but for `read`). A Deployment with strategy
//! `Recreate`, or a rolling update whose `maxUnavailable` resolves above 0,
//! takes running pods away before the new ones are scheduled: when the new
//! ones do not fit, the component is down until the deadline and the rollback
//! (whose pods do not fit either, once others took the room) may not bring it
//! back. So deploy places the new pods first, on paper: each node's
//! allocatable minus what the pods bound to it request (the replaced
//! Deployments' own pods left out), per resource (cpu, memory), on the nodes
//! the pod may run on (node selector, taints and tolerations, not cordoned).
//! Node affinity, priorities and preemption are not modelled: a pod the
//! check places may still wait, never the other way round.

use crate::kube::cluster::Session;
use crate::kube::quantity::{self, Milli};
use crate::kube::Object;
use anyhow::{Context, Result};
use serde_json::Value;

/// The resources compared, in the order messages name them.
pub const RESOURCES: [&str; 2] = ["cpu", "memory"];

type Amounts = [Milli; 2];

/// Why this Deployment's rollout stops running pods first (`None`: it does not).
pub fn stops_first(deployment: &Value) -> Option<String> {
    let strategy = &deployment["spec"]["strategy"];
    if strategy["type"] == "Recreate" {
        return Some("strategy Recreate".into());
    }
    let replicas = deployment["spec"]["replicas"].as_u64().unwrap_or(1);
    let rolling = &strategy["rollingUpdate"];
    // The controller's rounding: maxUnavailable down, maxSurge up; both 0 means 1 unavailable.
    let unavailable = resolve(&rolling["maxUnavailable"], replicas, false);
    let surge = resolve(&rolling["maxSurge"], replicas, true);
    let unavailable = if unavailable == 0 && surge == 0 { 1 } else { unavailable };
    (unavailable > 0).then(|| format!("maxUnavailable {unavailable} of {replicas}"))
}

/// `maxUnavailable`/`maxSurge`: a count, or a percentage of the replicas (default 25%).
fn resolve(v: &Value, replicas: u64, up: bool) -> u64 {
    let percent = match v {
        Value::Number(n) => return n.as_u64().unwrap_or(0),
        Value::String(s) => s.trim_end_matches('%').parse::<u64>().unwrap_or(25),
        _ => 25,
    };
    let scaled = replicas * percent;
    if up {
        scaled.div_ceil(100)
    } else {
        scaled / 100
    }
}

/// What a container asks for: its requests, else its limits (the API's default).
fn container(c: &Value) -> Amounts {
    RESOURCES.map(|r| {
        let q = c["resources"]["requests"][r].as_str().or(c["resources"]["limits"][r].as_str());
        q.and_then(quantity::parse).unwrap_or(0)
    })
}

/// What a pod requests: its containers together or its largest init container, plus its overhead.
pub fn pod_requests(spec: &Value) -> Amounts {
    let list = |key: &str| spec[key].as_array().cloned().unwrap_or_default();
    let mut total = [0; 2];
    for c in list("containers") {
        total = add(total, container(&c));
    }
    for c in list("initContainers") {
        let init = container(&c);
        total = [total[0].max(init[0]), total[1].max(init[1])];
    }
    let overhead = RESOURCES.map(|r| spec["overhead"][r].as_str().and_then(quantity::parse).unwrap_or(0));
    add(total, overhead)
}

fn add(a: Amounts, b: Amounts) -> Amounts {
    [a[0] + b[0], a[1] + b[1]]
}

fn tolerates(tolerations: &[Value], taint: &Value) -> bool {
    tolerations.iter().any(|t| {
        let key = t["key"].as_str().unwrap_or_default();
        let exists = t["operator"] == "Exists";
        let key_ok = (key.is_empty() && exists) || key == taint["key"].as_str().unwrap_or_default();
        let value_ok = exists || t["value"].as_str().unwrap_or_default() == taint["value"].as_str().unwrap_or_default();
        let effect_ok = t["effect"].as_str().is_none_or(|e| e.is_empty() || taint["effect"] == e);
        key_ok && value_ok && effect_ok
    })
}

/// May a pod of this spec run on this node: not cordoned, its node selector
/// met, every taint that repels tolerated.
pub fn eligible(node: &Value, spec: &Value) -> bool {
    if node["spec"]["unschedulable"] == true {
        return false;
    }
    let labels = &node["metadata"]["labels"];
    let selector_ok = spec["nodeSelector"].as_object().is_none_or(|sel| sel.iter().all(|(k, v)| &labels[k] == v));
    let tolerations = spec["tolerations"].as_array().cloned().unwrap_or_default();
    let taints = node["spec"]["taints"].as_array().cloned().unwrap_or_default();
    selector_ok
        && taints
            .iter()
            .filter(|t| t["effect"] == "NoSchedule" || t["effect"] == "NoExecute")
            .all(|t| tolerates(&tolerations, t))
}

/// Does this pod belong to the Deployment (its namespace, its selector's labels)?
fn owned(pod: &Value, d: &Object) -> bool {
    let labels = &pod["metadata"]["labels"];
    let sel = d.value["spec"]["selector"]["matchLabels"].as_object();
    pod["metadata"]["namespace"].as_str() == d.namespace.as_deref()
        && sel.is_some_and(|sel| !sel.is_empty() && sel.iter().all(|(k, v)| &labels[k] == v))
}

/// One line per stop-first Deployment of the render whose new pods would not
/// all fit, naming what is short; empty when they all fit.
pub fn check(nodes: &[Value], pods: &[Value], objects: &[Object]) -> Vec<String> {
    let replaced: Vec<(&Object, String)> = objects
        .iter()
        .filter(|o| o.kind == "Deployment")
        .filter_map(|o| stops_first(&o.value).map(|why| (o, why)))
        .collect();
    if replaced.is_empty() {
        return Vec::new();
    }
    // Each node's free room once the replaced Deployments' pods are gone.
    let mut free: Vec<Amounts> = nodes
        .iter()
        .map(|n| {
            let name = &n["metadata"]["name"];
            let used = pods
                .iter()
                .filter(|p| &p["spec"]["nodeName"] == name)
                .filter(|p| !matches!(p["status"]["phase"].as_str(), Some("Succeeded" | "Failed")))
                .filter(|p| !replaced.iter().any(|(d, _)| owned(p, d)))
                .fold([0; 2], |acc, p| add(acc, pod_requests(&p["spec"])));
            let alloc =
                RESOURCES.map(|r| n["status"]["allocatable"][r].as_str().and_then(quantity::parse).unwrap_or(0));
            [alloc[0].saturating_sub(used[0]), alloc[1].saturating_sub(used[1])]
        })
        .collect();
    let mut short = Vec::new();
    for (d, why) in replaced {
        let spec = &d.value["spec"]["template"]["spec"];
        let need = pod_requests(spec);
        let replicas = d.value["spec"]["replicas"].as_u64().unwrap_or(1);
        let fits = |f: &Amounts| f[0] >= need[0] && f[1] >= need[1];
        let candidates: Vec<usize> = (0..nodes.len()).filter(|&i| eligible(&nodes[i], spec)).collect();
        for k in 1..=replicas {
            // The roomiest node that fits, as the scheduler's spreading would pick.
            let pick = candidates.iter().copied().filter(|&i| fits(&free[i])).max_by_key(|&i| free[i][0]);
            match pick {
                Some(i) => free[i] = [free[i][0] - need[0], free[i][1] - need[1]],
                None => {
                    short.push(shortfall(d, &why, k, replicas, need, &candidates, &free));
                    break;
                }
            }
        }
    }
    short
}

/// The line for a Deployment whose pod `k` of `n` finds no room.
fn shortfall(d: &Object, why: &str, k: u64, n: u64, need: Amounts, candidates: &[usize], free: &[Amounts]) -> String {
    let who = format!("{} (Deployment {}, {why}: it stops its running pods first)", component(d), d.name);
    let each = RESOURCES.iter().zip(need).map(|(r, q)| format!("{r} {}", quantity::show(r, q))).collect::<Vec<_>>();
    if candidates.is_empty() {
        return format!("{who}: no node may run its pods (node selector, taints, cordoned)");
    }
    let what: Vec<String> = RESOURCES
        .iter()
        .enumerate()
        .filter_map(|(i, r)| {
            let most = candidates.iter().map(|&c| free[c][i]).max().unwrap_or(0);
            (most < need[i]).then(|| {
                format!(
                    "{r} short by {} (the most free on a node is {})",
                    quantity::show(r, need[i] - most),
                    quantity::show(r, most)
                )
            })
        })
        .collect();
    let what = if what.is_empty() { "no single node has room for both".to_string() } else { what.join(", ") };
    format!("{who}: pod {k} of {n} ({}) would not fit: {what}", each.join(", "))
}

fn component(d: &Object) -> String {
    d.value["metadata"]["labels"]["app.kubernetes.io/name"].as_str().unwrap_or(&d.name).to_string()
}

/// The nodes and the bound pods of the whole cluster, then [`check`]; no read
/// when nothing in the render stops its pods first.
pub fn read(s: &Session, objects: &[Object]) -> Result<Vec<String>> {
    if !objects.iter().any(|o| o.kind == "Deployment" && stops_first(&o.value).is_some()) {
        return Ok(Vec::new());
    }
    let items = |args: &[&str]| -> Result<Vec<Value>> {
        let list: Value =
            serde_json::from_str(&s.run(args, None)?).context("kubectl printed JSON that does not parse")?;
        Ok(list["items"].as_array().cloned().unwrap_or_default())
    };
    let nodes = items(&["get", "nodes", "-o", "json"])?;
    let selector = "--field-selector=status.phase!=Succeeded,status.phase!=Failed";
    let pods = items(&["get", "pods", "--all-namespaces", selector, "-o", "json"])?;
    Ok(check(&nodes, &pods, objects))
}

#[cfg(test)]
#[path = "fit_tests.rs"]
mod tests;
