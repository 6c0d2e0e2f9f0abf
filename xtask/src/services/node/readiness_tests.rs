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
