use super::*;
use serde_json::json;

fn stable() -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "storage", "labels": {NAME_LABEL: "storage"}},
        "spec": {"replicas": 3, "selector": {"matchLabels": {NAME_LABEL: "storage"}},
            "template": {"metadata": {"labels": {NAME_LABEL: "storage"}},
                "spec": {"containers": [{"name": "storage", "image": "s:2", "ports": [{"containerPort": 8080}]}]}}}})
}

#[test]
fn the_canary_deployment_is_the_template_under_its_own_name_and_selector() {
    let d = canary_deployment(&stable(), 1);
    assert_eq!(d["metadata"]["name"], "storage-canary");
    assert_eq!(d["spec"]["replicas"], 1);
    assert_eq!(d["spec"]["selector"]["matchLabels"], json!({NAME_LABEL: "storage", TRACK: "canary"}));
    // Still the component's pods: its Service selects them.
    assert_eq!(d["spec"]["template"]["metadata"]["labels"][NAME_LABEL], "storage");
    assert_eq!(d["spec"]["template"]["spec"], stable()["spec"]["template"]["spec"]);
}

#[test]
fn the_load_job_is_bounded_and_asks_what_the_component_serves() {
    let j = load_job("client:2", "http://storage:80", "storage", 20, 95, None);
    assert_eq!(j["spec"]["activeDeadlineSeconds"], 155);
    assert_eq!(j["spec"]["backoffLimit"], 0);
    let c = &j["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(c["image"], "client:2");
    let env: Vec<(String, String)> = c["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["name"].as_str().unwrap().into(), e["value"].as_str().unwrap().into()))
        .collect();
    assert!(env.contains(&("LOAD_PATHS".into(), "/datasets,/datasets/xtask-canary-load".into())), "{env:?}");
    assert!(env.contains(&("LOAD_RATE".into(), "20".into())));
    assert_eq!(
        service_url(&json!({"metadata": {"name": "storage"}, "spec": {"ports": [{"port": 80}]}})),
        "http://storage:80"
    );
}

fn pod(name: &str, canary: bool, ready: bool, deleting: bool) -> Value {
    let mut p = json!({"metadata": {"name": name, "labels": {NAME_LABEL: "storage"}},
        "spec": {"containers": [{"ports": [{"containerPort": 8080}]}]},
        "status": {"conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}});
    if canary {
        p["metadata"]["labels"][TRACK] = json!("canary");
    }
    if deleting {
        p["metadata"]["deletionTimestamp"] = json!("2026-12-02T00:00:00Z");
    }
    p
}

#[test]
fn only_ready_pods_count_and_tracks_add_up_per_side() {
    let pods = ready_pods(&[
        pod("a", false, true, false),
        pod("b", false, false, false),
        pod("c", true, true, false),
        pod("d", false, true, true),
    ]);
    assert_eq!(pods.iter().map(|p| (p.name.as_str(), p.canary)).collect::<Vec<_>>(), [("a", false), ("c", true)]);
    let at = |n: f64| Counts { requests: n, ..Counts::default() };
    let before: BTreeMap<String, Counts> = [("a".to_string(), at(10.0)), ("c".to_string(), at(2.0))].into();
    let after: BTreeMap<String, Counts> = [("a".to_string(), at(50.0)), ("c".to_string(), at(12.0))].into();
    let (s, c) = tracks(&pods, &before, &after);
    assert_eq!((s.requests, c.requests), (40.0, 10.0));
    // A pod read only once (new, or unreadable the first time) sits the window out.
    let (s, c) = tracks(&pods, &[("a".to_string(), at(10.0))].into(), &after);
    assert_eq!((s.requests, c.requests), (40.0, 0.0));
}

#[test]
fn the_load_job_carries_the_runs_trace_and_sends_it_with_every_request() {
    let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let j = load_job("client:2", "http://storage:80", "storage", 20, 95, Some(tp));
    let pod = &j["spec"]["template"];
    assert_eq!(pod["metadata"]["annotations"]["xtask.dev/traceparent"], tp);
    let c = &pod["spec"]["containers"][0];
    let env = c["env"].as_array().unwrap();
    assert_eq!(env.iter().filter(|e| e["name"] == "TRACEPARENT").count(), 1);
    assert!(env.contains(&json!({"name": "TRACEPARENT", "value": tp})), "{env:?}");
    assert!(env.iter().any(|e| e["name"] == "LOAD_PATHS"), "the load's own variables stay");
    // The script puts it on the requests' headers.
    let script = c["command"][2].as_str().unwrap();
    assert!(script.contains(r#"auth["traceparent"] = os.environ["TRACEPARENT"]"#), "{script}");
    assert!(script.contains("headers=auth"), "{script}");
    let untraced = load_job("client:2", "http://storage:80", "storage", 20, 95, None);
    assert!(untraced["spec"]["template"]["metadata"].get("annotations").is_none());
}
