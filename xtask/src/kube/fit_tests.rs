use super::*;
use serde_json::json;

fn deployment(name: &str, strategy: Value, replicas: u64, cpu: &str, memory: &str) -> Object {
    let value = json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": "app", "labels": {"app.kubernetes.io/name": name}},
        "spec": {"replicas": replicas, "strategy": strategy, "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": {
                "nodeSelector": {"type": "kwok"},
                "tolerations": [{"key": "fake", "operator": "Exists", "effect": "NoSchedule"}],
                "containers": [{"name": name, "resources": {"requests": {"cpu": cpu, "memory": memory}}}]}}}});
    Object { kind: "Deployment".into(), name: name.into(), namespace: Some("app".into()), line: 1, value }
}

fn node(name: &str, cpu: &str, memory: &str, kwok: bool) -> Value {
    let mut n = json!({"metadata": {"name": name, "labels": {}},
        "spec": {}, "status": {"allocatable": {"cpu": cpu, "memory": memory, "pods": "110"}}});
    if kwok {
        n["metadata"]["labels"]["type"] = json!("kwok");
        n["spec"]["taints"] = json!([{"key": "fake", "value": "true", "effect": "NoSchedule"}]);
    }
    n
}

fn pod(ns: &str, app: &str, node: &str, cpu: &str, memory: &str) -> Value {
    json!({"metadata": {"namespace": ns, "labels": {"app": app}}, "status": {"phase": "Running"},
        "spec": {"nodeName": node, "containers": [{"resources": {"requests": {"cpu": cpu, "memory": memory}}}]}})
}

#[test]
fn which_rollouts_stop_running_pods_first() {
    let d = |strategy: Value, replicas| deployment("web", strategy, replicas, "1", "1Gi").value;
    assert_eq!(stops_first(&d(json!({"type": "Recreate"}), 1)).unwrap(), "strategy Recreate");
    // The default 25%: rounded down, none unavailable with 1 to 3 replicas, one with 4.
    assert_eq!(stops_first(&d(Value::Null, 1)), None);
    assert_eq!(stops_first(&d(Value::Null, 3)), None);
    assert_eq!(stops_first(&d(Value::Null, 4)).unwrap(), "maxUnavailable 1 of 4");
    let rolling =
        |u: Value, s: Value| json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": u, "maxSurge": s}});
    assert_eq!(stops_first(&d(rolling(json!(0), json!(1)), 2)), None);
    assert_eq!(stops_first(&d(rolling(json!("50%"), json!(0)), 2)).unwrap(), "maxUnavailable 1 of 2");
    // Both 0 is not allowed to stall: the controller takes one down.
    assert_eq!(stops_first(&d(rolling(json!(0), json!(0)), 2)).unwrap(), "maxUnavailable 1 of 2");
}

#[test]
fn a_pod_requests_its_containers_or_its_largest_init_container_and_limits_stand_in_for_requests() {
    let spec = json!({
        "containers": [{"resources": {"requests": {"cpu": "500m", "memory": "128974848"}}},
                       {"resources": {"limits": {"cpu": "1e3m", "memory": "1Gi"}}}],
        "initContainers": [{"resources": {"requests": {"cpu": "2", "memory": "1Mi"}}}],
        "overhead": {"cpu": "250m"}});
    let [cpu, memory] = pod_requests(&spec);
    assert_eq!(cpu, 2250);
    assert_eq!(memory, (128_974_848 + 1_073_741_824) * 1000);
}

#[test]
fn taints_selectors_and_cordons_decide_the_nodes_a_pod_may_use() {
    let spec = &deployment("web", Value::Null, 1, "1", "1Gi").value["spec"]["template"]["spec"];
    assert!(eligible(&node("k", "32", "256Gi", true), spec));
    assert!(!eligible(&node("real", "2", "24Gi", false), spec), "the node selector");
    let plain = json!({"containers": []});
    assert!(!eligible(&node("k", "32", "256Gi", true), &plain), "an untolerated taint");
    let mut cordoned = node("real", "2", "24Gi", false);
    assert!(eligible(&cordoned, &plain));
    cordoned["spec"]["unschedulable"] = json!(true);
    assert!(!eligible(&cordoned, &plain));
    let everything = json!({"tolerations": [{"operator": "Exists"}]});
    assert!(eligible(&node("k", "32", "256Gi", true), &everything));
}

#[test]
fn a_recreate_that_does_not_fit_is_named_with_what_is_short() {
    let nodes = [node("kwok-0", "32", "256Gi", true), node("real", "2", "24Gi", false)];
    let web = deployment("web", json!({"type": "Recreate"}), 2, "7", "32Mi");
    // A planted pod takes 20 of the 32 cpus: one new pod fits, the second does not.
    let planted = pod("hog", "hog", "kwok-0", "20", "1Gi");
    let running = pod("app", "web", "kwok-0", "7", "32Mi");
    let short = check(&nodes, &[planted.clone(), running.clone()], std::slice::from_ref(&web));
    assert_eq!(
        short,
        ["web (Deployment web, strategy Recreate: it stops its running pods first): pod 2 of 2 (cpu 7, memory 32Mi) would not fit: cpu short by 2 (the most free on a node is 5)"]
    );
    // The pods it replaces give their room back; the real node is not one it may use.
    assert!(check(&nodes, &[running.clone(), running], std::slice::from_ref(&web)).is_empty());
    // Memory, in the units people write.
    let big = deployment("web", json!({"type": "Recreate"}), 1, "1", "300Gi");
    let short = check(&nodes, std::slice::from_ref(&planted), &[big]);
    assert!(
        short[0].ends_with(
            "pod 1 of 1 (cpu 1, memory 300Gi) would not fit: memory short by 45Gi (the most free on a node is 255Gi)"
        ),
        "{short:?}"
    );
    // A rolling update that keeps its pods is not checked: its new pods wait beside the old ones.
    let rolling = deployment("web", Value::Null, 2, "1000", "1Gi");
    assert!(check(&nodes, &[planted], &[rolling]).is_empty());
}

#[test]
fn finished_pods_hold_no_room_and_no_eligible_node_is_said_so() {
    let nodes = [node("kwok-0", "4", "8Gi", true)];
    let web = deployment("web", json!({"type": "Recreate"}), 1, "3", "1Gi");
    let mut done = pod("other", "batch", "kwok-0", "3", "1Gi");
    done["status"]["phase"] = json!("Succeeded");
    assert!(check(&nodes, &[done], std::slice::from_ref(&web)).is_empty());
    let short = check(&[node("real", "64", "64Gi", false)], &[], &[web]);
    assert!(short[0].ends_with("no node may run its pods (node selector, taints, cordoned)"), "{short:?}");
}
