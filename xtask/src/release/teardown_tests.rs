use super::*;

fn item(kind: &str, name: &str) -> Value {
    json!({"kind": kind, "metadata": {"name": name}})
}

#[test]
fn workloads_go_first_claims_last_each_once() {
    let items = [
        item("PersistentVolumeClaim", "data"),
        item("ConfigMap", "settings"),
        item("Deployment", "web"),
        item("Namespace", "ns"),
        item("CronJob", "nightly"),
        item("Deployment", "web"),
        item("Service", "web"),
    ];
    let names: Vec<String> = order(&items).into_iter().map(|(k, n)| format!("{k}/{n}")).collect();
    assert_eq!(
        names,
        ["Deployment/web", "CronJob/nightly", "ConfigMap/settings", "Service/web", "PersistentVolumeClaim/data"]
    );
}

/// A local-cluster volume bound to our claim, as the API server returns it.
fn pv(policy: &str, claim_uid: Option<&str>) -> Value {
    let mut v = json!({
        "apiVersion": "v1", "kind": "PersistentVolume",
        "metadata": {"name": "xtask-local-pv-3", "labels": {"xtask.dev/local-pv": "true"}},
        "spec": {"capacity": {"storage": "10Gi"}, "accessModes": ["ReadWriteOnce", "ReadWriteMany"],
                 "hostPath": {"path": "/var/lib/xtask-kube/volumes/pv-3", "type": ""},
                 "persistentVolumeReclaimPolicy": policy, "volumeMode": "Filesystem"},
        "status": {"phase": "Released"},
    });
    if let Some(uid) = claim_uid {
        v["spec"]["claimRef"] = json!({"kind": "PersistentVolumeClaim", "namespace": "fx", "name": "data", "uid": uid});
    }
    v
}

#[test]
fn a_retained_volume_is_handed_back_others_are_left_to_the_cluster_or_their_new_claim() {
    let claims = claims(&[json!({"kind": "PersistentVolumeClaim",
        "metadata": {"name": "data", "uid": "u-1"}, "spec": {"volumeName": "xtask-local-pv-3"}})]);
    assert_eq!(claims, [Claim { name: "data".into(), uid: "u-1".into(), volume: Some("xtask-local-pv-3".into()) }]);
    let c = &claims[0];
    assert_eq!(fate(Some(&pv("Retain", Some("u-1"))), c), Fate::HandBack);
    assert_eq!(fate(Some(&pv("Retain", None)), c), Fate::HandBack);
    assert_eq!(fate(Some(&pv("Delete", Some("u-1"))), c), Fate::Cluster("Delete".into()));
    assert_eq!(fate(Some(&pv("Retain", Some("u-2"))), c), Fate::Leave("it is bound to another claim now".into()));
    assert_eq!(fate(None, c), Fate::Gone);
    let patch: Value = serde_json::from_str(&hand_back(c)).unwrap();
    assert_eq!(patch[0]["op"], "test");
    assert_eq!(patch[0]["value"], "u-1");
    assert_eq!(patch[1], json!({"op": "remove", "path": "/spec/claimRef"}));
}

fn object(kind: &str, name: &str) -> Object {
    Object { kind: kind.into(), name: name.into(), namespace: Some("fx".into()), line: 1, value: item(kind, name) }
}

fn keep(mut v: Value) -> Value {
    v["metadata"]["annotations"] = json!({"mlops.dev/resource-policy": "keep"});
    v
}

#[test]
fn prune_never_deletes_a_claim_or_a_kept_object_unless_named() {
    let items = [
        item("Deployment", "web"),
        item("ConfigMap", "old-settings"),
        item("PersistentVolumeClaim", "web-data"),
        keep(item("Secret", "old-token")),
        item("NetworkPolicy", "old-policy"),
        item("PersistentVolumeClaim", "still-rendered"),
    ];
    let objects = [object("Deployment", "web"), object("PersistentVolumeClaim", "still-rendered")];
    let p = pruning(&items, &objects, &[]);
    assert_eq!(p.delete, [("ConfigMap".into(), "old-settings".into()), ("NetworkPolicy".into(), "old-policy".into())]);
    assert_eq!(
        p.held,
        [
            ("PersistentVolumeClaim".into(), "web-data".into(), "a claim: its volume and data may go with it".into()),
            ("Secret".into(), "old-token".into(), "mlops.dev/resource-policy: keep".into()),
        ]
    );
    assert_eq!(
        refusal("development", &p.held[..1]),
        "deploy development would prune PersistentVolumeClaim/web-data (a claim: its volume and data may go with it), which the render no longer has: put it back in the render, or pass --allow-data-loss web-data to delete it"
    );
    let allowed = pruning(&items, &objects, &["web-data".into()]);
    assert!(allowed.delete.contains(&("PersistentVolumeClaim".into(), "web-data".into())));
    assert_eq!(allowed.held.len(), 1);
}

#[test]
fn undeploy_keeps_what_is_marked_keep_unless_named() {
    let items = vec![
        item("Deployment", "web"),
        keep(item("PersistentVolumeClaim", "mlops-data")),
        item("PersistentVolumeClaim", "scratch"),
    ];
    let (delete, kept) = undeploy_split(items.clone(), &[]);
    assert_eq!(delete.len(), 2);
    assert_eq!(kept[0]["metadata"]["name"], "mlops-data");
    let (delete, kept) = undeploy_split(items, &["mlops-data".into()]);
    assert_eq!((delete.len(), kept.len()), (3, 0));
}

#[test]
fn network_policies_and_disruption_budgets_are_pruned() {
    assert!(PRUNABLE.split(',').any(|k| k == "networkpolicies"));
    assert!(PRUNABLE.split(',').any(|k| k == "poddisruptionbudgets"));
}
