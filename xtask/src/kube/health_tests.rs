use super::*;

/// Captured from kube-apiserver v1.34.12 with kwok pods: storage 2/2 from its
/// old ReplicaSet while the new one crash-loops; web never ready; cdc failing
/// to pull; client unschedulable.
fn captured() -> Observed {
    let list: Value = serde_json::from_str(include_str!("../../tests/fixtures/status/stuck.json")).unwrap();
    let mut o = Observed::default();
    for item in list["items"].as_array().unwrap() {
        match item["kind"].as_str() {
            Some("Deployment") => o.deployments.push(item.clone()),
            Some("ReplicaSet") => o.replicasets.push(item.clone()),
            Some("Pod") => o.pods.push(item.clone()),
            _ => {}
        }
    }
    o
}

fn deployment<'a>(o: &'a Observed, name: &str) -> &'a Value {
    o.deployments.iter().find(|d| d["metadata"]["name"] == name).unwrap()
}

#[test]
fn a_deployment_at_two_of_two_shows_its_crash_looping_new_pod() {
    let o = captured();
    let storage = deployment(&o, "storage");
    assert_eq!(
        (storage["status"]["availableReplicas"].as_u64(), storage["spec"]["replicas"].as_u64()),
        (Some(2), Some(2))
    );
    let t = troubles(storage, &o.pods);
    assert_eq!(t.len(), 1, "{t:?}");
    assert!(t[0].pod.starts_with("storage-"));
    assert_eq!(t[0].reason, "CrashLoopBackOff");
    assert_eq!(
        t[0].to_string(),
        format!(
            "pod {}: container storage CrashLoopBackOff (back-off 10s restarting failed container=storage), 2 restarts, last exit 1, Error",
            t[0].pod
        )
    );
    assert!(matches!(rollout_of("Deployment", storage, &o), State::Failed(f) if f.reason == "CrashLoopBackOff"));
}

#[test]
fn never_ready_pull_errors_and_unschedulable_pods_say_why() {
    let o = captured();
    let why = |name: &str| {
        let t = troubles(deployment(&o, name), &o.pods);
        assert_eq!(t.len(), 1, "{t:?}");
        (t[0].container.clone(), t[0].reason.clone(), t[0].message.clone())
    };
    assert_eq!(
        why("web"),
        (Some("web".into()), "NotReady".into(), "running, its readiness probe does not pass".into())
    );
    assert_eq!(
        why("cdc"),
        (Some("cdc".into()), "ImagePullBackOff".into(), "Back-off pulling image \"127.0.0.1:5000/mlops/cdc:1\"".into())
    );
    let (container, reason, message) = why("client");
    assert_eq!((container, reason.as_str()), (None, "Unschedulable"));
    assert!(message.contains("node(s) didn't match Pod's node affinity/selector"), "{message}");
}

#[test]
fn an_environment_in_one_line() {
    let o = captured();
    let rows: Vec<(String, State, Vec<Trouble>)> = ["storage", "web"]
        .iter()
        .map(|n| {
            let d = deployment(&o, n);
            (n.to_string(), rollout_of("Deployment", d, &o), troubles(d, &o.pods))
        })
        .collect();
    assert_eq!(
        summary(&rows),
        "storage failing: CrashLoopBackOff, 1 pod(s) not ready (CrashLoopBackOff); web rolling out: 0 of 1 updated replicas are available, 1 pod(s) not ready (NotReady)"
    );
    assert_eq!(summary(&[("a".into(), State::Ready, Vec::new())]), "ready (1 workload)");
    assert_eq!(summary(&[]), "no workloads");
}

#[test]
fn images_in_short() {
    let sha = "0123456789abcdef0123456789abcdef01234567";
    assert_eq!(short_image(&format!("127.0.0.1:5000/mlops/storage:{sha}@sha256:aa")), "storage:0123456789ab");
    assert_eq!(short_image("ghcr.io/o/cdc:1.2.3"), "cdc:1.2.3");
    assert_eq!(short_image("busybox"), "busybox");
}
