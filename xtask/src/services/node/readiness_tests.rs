use super::*;
use serde_json::json;

fn node(ready: Value) -> Value {
    json!({
        "metadata": {"name": "vm", "labels": {"xtask.dev/real-node": "true"}},
        "status": {
            "conditions": [{"type": "MemoryPressure", "status": "False"}, ready],
            "nodeInfo": {"containerRuntimeVersion": "containerd://1.6.20", "kubeletVersion": "v1.34.12"},
        },
    })
}

#[test]
fn a_ready_node_names_its_kubelet_and_runtime() {
    let n = NodeState::of(&node(json!({"type": "Ready", "status": "True", "reason": "KubeletReady"})));
    assert!(n.ready);
    assert_eq!(n.line(Path::new("/s/logs/kubelet.log")), "vm Ready (kubelet v1.34.12, containerd://1.6.20)");
}

#[test]
fn a_node_that_is_not_ready_says_why_and_what_to_do() {
    let n = NodeState::of(&node(json!({"type": "Ready", "status": "Unknown", "reason": "NodeStatusUnknown",
        "message": "Kubelet stopped posting node status."})));
    assert!(!n.ready);
    assert_eq!(
        n.line(Path::new("/s/logs/kubelet.log")),
        "vm NOT Ready (NodeStatusUnknown: Kubelet stopped posting node status.; kubelet v1.34.12, containerd://1.6.20): \
         run `cargo xtask services up`; the kubelet's log is /s/logs/kubelet.log"
    );
}

#[test]
fn a_registered_node_without_status_is_not_ready() {
    let n = NodeState::of(&json!({"metadata": {"name": "vm"}}));
    assert!(!n.ready);
    assert!(
        n.line(Path::new("/l")).starts_with("vm NOT Ready (no Ready condition yet; kubelet ?, no runtime)"),
        "{}",
        n.line(Path::new("/l"))
    );
}

#[test]
fn the_real_nodes_of_a_list() {
    let list = json!({"kind": "NodeList", "items": [node(json!({"type": "Ready", "status": "True"}))]});
    assert_eq!(real_nodes(&list).len(), 1);
    assert!(real_nodes(&json!({"items": []})).is_empty());
}

#[test]
fn up_owns_the_nodes_taints_but_not_the_controllers() {
    let node = json!({"spec": {"taints": [
        {"key": "xtask.dev/real-node-probe", "value": "true", "effect": "NoSchedule"},
        {"key": "node.kubernetes.io/not-ready", "effect": "NoExecute"},
        {"key": "keep", "value": "v", "effect": "NoSchedule"},
    ]}});
    assert_eq!(taint_args(&node, &["keep=v:NoSchedule".into()]), ["xtask.dev/real-node-probe:NoSchedule-"]);
    assert_eq!(taint_args(&node, &[]), ["xtask.dev/real-node-probe:NoSchedule-", "keep:NoSchedule-"]);
    assert_eq!(
        taint_args(&json!({"spec": {}}), &["a=b:NoExecute".into(), "c:NoSchedule".into()]),
        ["a=b:NoExecute", "c:NoSchedule"]
    );
    assert!(taint_args(&json!({"spec": {}}), &[]).is_empty());
}

#[test]
fn a_real_node_of_an_earlier_name_is_found_ours_is_not() {
    let named = |n: &str| json!({"metadata": {"name": n}});
    let list = json!({"items": [named("vm"), named("localhost"), named("fv-az123-456")]});
    assert_eq!(others(&list, "localhost"), ["vm", "fv-az123-456"]);
    assert_eq!(others(&json!({"items": [named("localhost")]}), "localhost"), Vec::<String>::new());
    // kubectl's error (no JSON): nothing to delete
    assert_eq!(others(&Value::Null, "localhost"), Vec::<String>::new());
}

#[test]
fn the_node_name_must_resolve_to_loopback_only() {
    let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
    assert_eq!(not_loopback("localhost", &[ip("127.0.0.1"), ip("::1")]), None);
    // a runner's hostname with `multi on`: its own address and a loopback line both come back
    assert_eq!(
        not_loopback("fv-az123-456", &[ip("10.203.7.1"), ip("127.0.0.1")]).unwrap(),
        "'fv-az123-456' resolves to 10.203.7.1, but the node's kubelet listens on 127.0.0.1 only and the apiserver dials it by that name: make /etc/hosts map `fv-az123-456` to 127.0.0.1 (and ::1) only"
    );
    assert_eq!(
        not_loopback("localhost", &[]).unwrap(),
        "'localhost' does not resolve, and the apiserver reaches the node's kubelet by it: make /etc/hosts map `localhost` to 127.0.0.1 (and ::1) only"
    );
}
