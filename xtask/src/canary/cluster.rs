//! The canary on the cluster: the canary Deployment made from the release's
//! template (pure), the bounded load Job (pure), each pod's metrics read
//! through the API server's pod proxy, and the pods told apart by track.

use crate::canary::metrics::{self, Counts};
use crate::kube::cluster::Session;
use anyhow::{Context, Result};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// The label that tells canary pods from stable ones.
pub const TRACK: &str = "mlops.dev/track";
pub const NAME_LABEL: &str = "app.kubernetes.io/name";
/// The load Job's name.
pub const LOAD_JOB: &str = "canary-load";

fn canary_name(deployment: &str) -> String {
    format!("{deployment}-canary")
}

/// The canary Deployment: the release's template under another name, with
/// `replicas` pods labelled `track: canary` (in its selector too, so it never
/// adopts stable pods). Its pods keep the component's labels, so the
/// component's Service sends them their share of the traffic.
pub fn canary_deployment(stable: &Value, replicas: u32) -> Value {
    let mut d = stable.clone();
    let name = canary_name(stable["metadata"]["name"].as_str().unwrap_or_default());
    d["metadata"]["name"] = json!(name);
    d["metadata"]["labels"][TRACK] = json!("canary");
    d["spec"]["replicas"] = json!(replicas);
    d["spec"]["selector"]["matchLabels"][TRACK] = json!("canary");
    d["spec"]["template"]["metadata"]["labels"][TRACK] = json!("canary");
    d
}

/// What the load Job requests of a component: storage's reads of a dataset
/// it writes once (every request with the environment's token, when there
/// is one: staging and production refuse reads without it), cdc's
/// events endpoint (a GET is refused 405 without writing), else `/`.
fn load_paths(component: &str) -> (Vec<&'static str>, Option<&'static str>) {
    match component {
        "storage" => (vec!["/datasets", "/datasets/xtask-canary-load"], Some("/datasets/xtask-canary-load")),
        "cdc" => (vec!["/events"], None),
        _ => (vec!["/"], None),
    }
}

const LOAD_SCRIPT: &str = r#"import os, time, urllib.request, urllib.error
base, rate, seconds = os.environ["LOAD_URL"], float(os.environ["LOAD_RATE"]), float(os.environ["LOAD_SECONDS"])
paths, put = os.environ["LOAD_PATHS"].split(","), os.environ.get("LOAD_PUT")
token = "/var/run/secrets/mlops/token"
auth = {"Authorization": "Bearer " + open(token).read().strip()} if os.path.exists(token) else {}
if os.environ.get("TRACEPARENT"):
    auth["traceparent"] = os.environ["TRACEPARENT"]
if put and auth:
    req = urllib.request.Request(base + put, data=b"id,n\n1,1\n", method="PUT", headers={"Content-Type": "text/csv", **auth})
    try:
        print("PUT", put, urllib.request.urlopen(req, timeout=10).status, flush=True)
    except Exception as e:
        print("PUT", put, "failed:", e, flush=True)
codes, start, i = {}, time.monotonic(), 0
while time.monotonic() - start < seconds:
    path = paths[i % len(paths)]
    i += 1
    try:
        with urllib.request.urlopen(urllib.request.Request(base + path, headers=auth), timeout=5) as r:
            r.read()
            code = r.status
    except urllib.error.HTTPError as e:
        code = e.code
    except Exception as e:
        code = type(e).__name__
    codes[code] = codes.get(code, 0) + 1
    time.sleep(max(0.0, start + i / rate - time.monotonic()))
print("sent", i, "requests in", round(time.monotonic() - start, 1), "s:", codes, flush=True)
"#;

/// The load Job: `rate` requests per second through `url` for `seconds`,
/// from `image` (the platform's client image), bounded by its own deadline;
/// every request in the run's trace when there is one (`traceparent`).
pub fn load_job(image: &str, url: &str, component: &str, rate: u32, seconds: u64, traceparent: Option<&str>) -> Value {
    let job = untraced_load_job(image, url, component, rate, seconds);
    match traceparent {
        Some(tp) => crate::kube::smoke::traced(&job, tp),
        None => job,
    }
}

fn untraced_load_job(image: &str, url: &str, component: &str, rate: u32, seconds: u64) -> Value {
    let (paths, put) = load_paths(component);
    let mut env = vec![
        json!({"name": "LOAD_URL", "value": url}),
        json!({"name": "LOAD_RATE", "value": rate.to_string()}),
        json!({"name": "LOAD_SECONDS", "value": seconds.to_string()}),
        json!({"name": "LOAD_PATHS", "value": paths.join(",")}),
    ];
    if let Some(p) = put {
        env.push(json!({"name": "LOAD_PUT", "value": p}));
    }
    json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": LOAD_JOB, "labels": {NAME_LABEL: LOAD_JOB, "app.kubernetes.io/part-of": "mlops-platform"}},
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": seconds + 60,
            "ttlSecondsAfterFinished": 300,
            "template": {
                "metadata": {"labels": {NAME_LABEL: LOAD_JOB}},
                "spec": {
                    "restartPolicy": "Never",
                    "automountServiceAccountToken": false,
                    "securityContext": {"runAsNonRoot": true, "runAsUser": 10001, "runAsGroup": 10001, "fsGroup": 10001,
                        "seccompProfile": {"type": "RuntimeDefault"}},
                    "containers": [{
                        "name": "load",
                        "image": image,
                        "imagePullPolicy": "IfNotPresent",
                        "command": ["python3", "-c", LOAD_SCRIPT],
                        "env": env,
                        "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"cpu": "500m", "memory": "128Mi"}},
                        "securityContext": {"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true,
                            "capabilities": {"drop": ["ALL"]}},
                        "volumeMounts": [{"name": "storage-token", "mountPath": "/var/run/secrets/mlops", "readOnly": true}],
                    }],
                    "volumes": [{"name": "storage-token", "secret": {"secretName": "storage-token", "optional": true,
                        "defaultMode": 288, "items": [{"key": "token", "path": "token"}]}}],
                },
            },
        },
    })
}

/// The Service's in-cluster URL (`http://NAME:PORT`).
pub fn service_url(service: &Value) -> String {
    let name = service["metadata"]["name"].as_str().unwrap_or_default();
    let port = service["spec"]["ports"][0]["port"].as_u64().unwrap_or(80);
    format!("http://{name}:{port}")
}

/// A ready, not terminating pod the Service sends traffic to, by track.
#[derive(Debug, Clone, PartialEq)]
pub struct Pod {
    pub name: String,
    pub canary: bool,
    pub port: u64,
}

/// The ready pods among `pods` (those the Service's endpoints hold).
pub fn ready_pods(pods: &[Value]) -> Vec<Pod> {
    pods.iter()
        .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
        .filter(|p| {
            p["status"]["conditions"]
                .as_array()
                .is_some_and(|cs| cs.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"))
        })
        .map(|p| Pod {
            name: p["metadata"]["name"].as_str().unwrap_or_default().to_string(),
            canary: p["metadata"]["labels"][TRACK] == "canary",
            port: p["spec"]["containers"][0]["ports"][0]["containerPort"].as_u64().unwrap_or(8080),
        })
        .collect()
}

/// The selector of a Service as `k=v,…`.
pub fn selector(service: &Value) -> String {
    let sel = service["spec"]["selector"].as_object().cloned().unwrap_or_default();
    sel.iter().map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default())).collect::<Vec<_>>().join(",")
}

/// The pods the Service selects, ready.
pub fn pods(s: &Session, service: &Value) -> Result<Vec<Pod>> {
    Ok(ready_pods(&s.get("pods", Some(&selector(service)))?))
}

/// One pod's metrics through the API server's pod proxy.
pub fn scrape(s: &Session, pod: &Pod) -> Result<Counts> {
    let path = format!("/api/v1/namespaces/{}/pods/{}:{}/proxy/metrics", s.namespace, pod.name, pod.port);
    let text = s.run(&["get", "--raw", &path, "--request-timeout=10s"], None).with_context(|| {
        format!("cannot read the metrics of pod {} (GET /metrics through the API server)", pod.name)
    })?;
    Ok(metrics::counts(&text))
}

/// Every pod's counters now, by pod name. A pod that cannot be read (it
/// just went away, say) is left out with a warning: its side has less data,
/// and too little data is a pause, never a pass.
pub fn scrape_all(s: &Session, pods: &[Pod]) -> BTreeMap<String, Counts> {
    let mut out = BTreeMap::new();
    for p in pods {
        match scrape(s, p) {
            Ok(c) => {
                out.insert(p.name.clone(), c);
            }
            Err(e) => eprintln!("warning: {e:#}"),
        }
    }
    out
}

/// The windows of two rounds of scrapes, summed by track: (stable, canary).
/// A pod not read in both rounds (new, or unreadable once) sits this window
/// out: its counters since it started are not this window's traffic.
pub fn tracks(pods: &[Pod], before: &BTreeMap<String, Counts>, after: &BTreeMap<String, Counts>) -> (Counts, Counts) {
    let window = |canary: bool| {
        let ws: Vec<Counts> = pods
            .iter()
            .filter(|p| p.canary == canary)
            .filter_map(|p| Some(metrics::window(before.get(&p.name)?, after.get(&p.name)?)))
            .collect();
        metrics::sum(&ws)
    };
    (window(false), window(true))
}

#[cfg(test)]
#[path = "cluster_tests.rs"]
mod tests;
