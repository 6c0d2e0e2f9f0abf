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
