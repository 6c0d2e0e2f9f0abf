use super::*;

fn layout() -> Layout {
    Layout { state: "/var/lib/xtask-kube".into() }
}

#[test]
fn each_component_has_its_flags_and_ports() {
    let l = layout();
    let etcd = args("etcd", &l);
    assert!(etcd.contains(&"--data-dir=/var/lib/xtask-kube/etcd".to_string()));
    assert!(etcd.contains(&"--unsafe-no-fsync".to_string()));
    let api = args("kube-apiserver", &l);
    assert!(api.contains(&"--token-auth-file=/var/lib/xtask-kube/pki/tokens.csv".to_string()));
    assert!(api.contains(&"--endpoint-reconciler-type=none".to_string()));
    let kcm = args("kube-controller-manager", &l);
    assert_eq!(kcm[0], "--kubeconfig=/var/lib/xtask-kube/kubeconfigs/controller-manager.kubeconfig");
    assert_eq!(kcm.last().unwrap(), "--profiling=false");
    assert!(args("kwok", &l).contains(&"--config=/var/lib/xtask-kube/kwok.yaml".to_string()));
    assert_eq!(ports("etcd"), [2379, 2380]);
    assert_eq!(ports("kwok"), [] as [u16; 0]);
}

#[test]
fn identity_follows_binary_flags_and_kwok_stages() {
    let dir = tempfile::tempdir().unwrap();
    let l = Layout { state: dir.path().to_path_buf() };
    let (bin, cache) = (Path::new("/cache/abc/bin"), Path::new("/cache"));
    let etcd = process("etcd", &l, bin, cache);
    assert_eq!(etcd.program, Path::new("/cache/abc/bin/etcd"));
    assert_eq!(etcd.files.pid, dir.path().join("run/etcd.pid"));
    assert_eq!(etcd.files.log, dir.path().join("logs/etcd.log"));
    assert_eq!((etcd.ports.as_slice(), &etcd.mark), ([2379, 2380].as_slice(), &Mark::Under(cache.into())));
    let a = etcd.identity();
    // As the shell script computed it: the binary, each flag, a line each.
    let text = format!("/cache/abc/bin/etcd\n{}\n", args("etcd", &l).join("\n"));
    assert_eq!(a, crate::services::short_sum(text.as_bytes()));
    assert_ne!(process("etcd", &l, Path::new("/cache/def/bin"), cache).identity(), a);
    let kwok = process("kwok", &l, bin, cache);
    std::fs::write(l.kwok_config(), "s1").unwrap();
    let k = kwok.identity();
    std::fs::write(l.kwok_config(), "s2").unwrap();
    assert_ne!(kwok.identity(), k, "kwok's stages are part of its identity");
    assert_eq!(process("etcd", &l, bin, cache).identity(), a, "and only of kwok's");
}

#[test]
fn kubeconfigs_tokens_and_objects() {
    let kc = kubeconfig("Q0E=", "xtask-admin", "t0k");
    assert!(kc.contains("    server: https://127.0.0.1:6443\n    certificate-authority-data: Q0E=\n"));
    assert!(kc.contains("- name: xtask-admin\n  user:\n    token: t0k\n"));
    assert!(kc.ends_with("current-context: xtask\n"));
    let tokens = token_line("a1", "xtask-admin", "system:masters") + &token_line("b2", "system:kube-scheduler", "");
    assert_eq!(
        tokens,
        "a1,xtask-admin,xtask-admin,\"system:masters\"\nb2,system:kube-scheduler,system:kube-scheduler\n"
    );
    assert_eq!(token_of(&tokens, "system:kube-scheduler").as_deref(), Some("b2"));
    assert_eq!(token_of(&tokens, "nobody"), None);
    let objs = objects(2, 10, Path::new("/v"), false);
    assert_eq!(objs.matches("kind: Node").count(), 2);
    assert!(objs.contains("spec:\n  taints: []\n"));
    let tainted = objects(1, 1, Path::new("/v"), true);
    assert!(tainted.contains("  taints: [{key: xtask.dev/fake-node, value: \"true\", effect: NoSchedule}]\n"));
    let parsed = crate::kube::objects(&tainted).unwrap();
    assert_eq!(parsed[0].value["spec"]["taints"][0]["key"], "xtask.dev/fake-node");
    assert_eq!(parsed[1].kind, "PersistentVolume");
    assert!(objs.contains("name: kwok-node-1\n"));
    assert!(objs.contains("  name: xtask-local-pv-1\n") && objs.contains("    path: /v/pv-10\n"));
    assert_eq!(kwok_config(&["a: 1\n".into(), "b: 2\n".into()]), "---\na: 1\n---\nb: 2\n");
}

#[test]
fn fake_nodes_are_read_with_readiness_and_taint() {
    let list = serde_json::json!({"items": [
        {"metadata": {"name": "kwok-node-0"}, "spec": {"taints": [{"key": "xtask.dev/fake-node", "value": "true", "effect": "NoSchedule"}]},
         "status": {"conditions": [{"type": "Ready", "status": "True"}]}},
        {"metadata": {"name": "kwok-node-1"}, "spec": {}, "status": {"conditions": [{"type": "Ready", "status": "Unknown"}]}},
    ]});
    assert_eq!(fake_nodes(&list), [("kwok-node-0".to_string(), true, true), ("kwok-node-1".to_string(), false, false)]);
    assert_eq!(fake_nodes(&serde_json::Value::Null), []);
}

#[test]
fn a_cluster_role_has_a_rule_each_the_core_group_quoted() {
    let text = cluster_role("xtask:r", &[("", "pods", "get"), ("apps", "deployments, replicasets", "list, watch")]);
    assert!(
        text.starts_with("apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: xtask:r\n")
    );
    assert!(text.contains("- apiGroups: [\"\"]\n  resources: [pods]\n  verbs: [get]\n"));
    assert!(text.ends_with("- apiGroups: [apps]\n  resources: [deployments, replicasets]\n  verbs: [list, watch]\n"));
}
