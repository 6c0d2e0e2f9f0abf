use super::*;
use serde_json::json;

const ROOT: &str = "/var/lib/xtask-kube/volumes/dynamic";

fn class(name: &str, provisioner: &str, policy: Option<&str>) -> Value {
    let mut c = json!({"kind": "StorageClass", "metadata": {"name": name}, "provisioner": provisioner});
    if let Some(p) = policy {
        c["reclaimPolicy"] = json!(p);
    }
    c
}

/// A claim as the API lists it after admission gave it the default class.
fn claim(ns: &str, name: &str, class: &str, size: &str, modes: &[&str], phase: &str) -> Value {
    json!({
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": name, "namespace": ns, "uid": format!("uid-{name}")},
        "spec": {"accessModes": modes, "resources": {"requests": {"storage": size}},
                 "storageClassName": class, "volumeMode": "Filesystem"},
        "status": {"phase": phase},
    })
}

fn pv(name: &str, phase: &str, policy: &str, path: &str, ours: bool) -> Value {
    let annotations = if ours { json!({"pv.kubernetes.io/provisioned-by": PROVISIONER}) } else { json!({}) };
    json!({
        "kind": "PersistentVolume",
        "metadata": {"name": name, "annotations": annotations},
        "spec": {"persistentVolumeReclaimPolicy": policy, "hostPath": {"path": path}},
        "status": {"phase": phase},
    })
}

fn root() -> PathBuf {
    PathBuf::from(ROOT)
}

#[test]
fn production_s_claim_gets_a_volume_of_its_own_size_and_access_mode() {
    let items = [
        class(CLASS, PROVISIONER, Some("Delete")),
        claim("mlops-production", "mlops-data", CLASS, "100Gi", &["ReadWriteMany"], "Pending"),
    ];
    let actions = plan(&items, &root());
    let [Action::Create { claim, pv, dir }] = actions.as_slice() else { panic!("{actions:?}") };
    assert_eq!(claim, "mlops-production/mlops-data");
    assert_eq!(dir, &root().join("pvc-uid-mlops-data_mlops-production_mlops-data"));
    assert_eq!(pv["metadata"]["name"], "pvc-uid-mlops-data");
    assert_eq!(pv["spec"]["capacity"]["storage"], "100Gi");
    assert_eq!(pv["spec"]["accessModes"], json!(["ReadWriteMany"]));
    assert_eq!(pv["spec"]["storageClassName"], CLASS);
    assert_eq!(pv["spec"]["persistentVolumeReclaimPolicy"], "Delete");
    assert_eq!(
        pv["spec"]["claimRef"],
        json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "namespace": "mlops-production",
               "name": "mlops-data", "uid": "uid-mlops-data"})
    );
    assert_eq!(pv["spec"]["hostPath"]["path"], dir.display().to_string());
    assert_eq!(pv["metadata"]["annotations"]["pv.kubernetes.io/provisioned-by"], PROVISIONER);
    assert_eq!(
        describe(&actions[0]),
        format!(
            "provisioning pvc-uid-mlops-data for mlops-production/mlops-data: 100Gi ReadWriteMany at {}",
            dir.display()
        )
    );
}

#[test]
fn a_class_of_ours_keeps_its_own_reclaim_policy_and_name() {
    let items =
        [class("keep", PROVISIONER, Some("Retain")), claim("a", "c", "keep", "1Gi", &["ReadWriteOnce"], "Pending")];
    let Some(Action::Create { pv, .. }) = plan(&items, &root()).pop() else { panic!() };
    assert_eq!(pv["spec"]["persistentVolumeReclaimPolicy"], "Retain");
    assert_eq!(pv["spec"]["storageClassName"], "keep");
    // No reclaimPolicy on the class: the API's default, Delete.
    let items = [class("d", PROVISIONER, None), claim("a", "c", "d", "1Gi", &["ReadWriteOnce"], "Pending")];
    let Some(Action::Create { pv, .. }) = plan(&items, &root()).pop() else { panic!() };
    assert_eq!(pv["spec"]["persistentVolumeReclaimPolicy"], "Delete");
}

#[test]
fn claims_not_ours_bound_being_deleted_or_already_provisioned_are_left_alone() {
    let mut deleting = claim("a", "gone", CLASS, "1Gi", &["ReadWriteOnce"], "Pending");
    deleting["metadata"]["deletionTimestamp"] = json!("2026-12-02T00:00:00Z");
    let mut named = claim("a", "named", CLASS, "1Gi", &["ReadWriteOnce"], "Pending");
    named["spec"]["volumeName"] = json!("xtask-local-pv-3");
    let items = [
        class(CLASS, PROVISIONER, Some("Delete")),
        class("other", "example.com/nfs", Some("Delete")),
        claim("a", "other", "other", "1Gi", &["ReadWriteOnce"], "Pending"),
        claim("a", "none", "", "1Gi", &["ReadWriteOnce"], "Pending"),
        claim("a", "bound", CLASS, "1Gi", &["ReadWriteOnce"], "Bound"),
        deleting,
        named,
        claim("a", "made", CLASS, "1Gi", &["ReadWriteOnce"], "Pending"),
        pv("pvc-uid-made", "Available", "Delete", &format!("{ROOT}/pvc-uid-made_a_made"), true),
    ];
    assert_eq!(plan(&items, &root()), []);
}

#[test]
fn claims_it_cannot_serve_are_refused_with_the_fix() {
    let mut selector = claim("a", "sel", CLASS, "1Gi", &["ReadWriteOnce"], "Pending");
    selector["spec"]["selector"] = json!({"matchLabels": {"disk": "fast"}});
    let mut block = claim("a", "blk", CLASS, "1Gi", &["ReadWriteOnce"], "Pending");
    block["spec"]["volumeMode"] = json!("Block");
    let mut sizeless = claim("a", "nosize", CLASS, "1Gi", &["ReadWriteOnce"], "Pending");
    sizeless["spec"]["resources"] = json!({});
    let items = [class(CLASS, PROVISIONER, None), selector, block, sizeless];
    let said: Vec<String> = plan(&items, &root()).iter().map(describe).collect();
    assert_eq!(
        said,
        [
            "cannot provision a/sel: a claim with a selector binds existing volumes only; remove spec.selector",
            "cannot provision a/blk: hostPath volumes are filesystems; ask for volumeMode Filesystem",
            "cannot provision a/nosize: it asks for no size (spec.resources.requests.storage)",
        ]
    );
}

#[test]
fn a_released_volume_of_ours_is_deleted_with_its_folder_and_nothing_else_is() {
    let mut deleting = pv("pvc-going", "Released", "Delete", &format!("{ROOT}/pvc-going_a_b"), true);
    deleting["metadata"]["deletionTimestamp"] = json!("2026-12-02T00:00:00Z");
    let items = [
        pv("pvc-1", "Released", "Delete", &format!("{ROOT}/pvc-1_a_b"), true),
        pv("pvc-2", "Failed", "Delete", "/etc", true),
        pv("pvc-3", "Released", "Retain", &format!("{ROOT}/pvc-3_a_b"), true),
        pv("pvc-4", "Bound", "Delete", &format!("{ROOT}/pvc-4_a_b"), true),
        pv("xtask-local-pv-1", "Released", "Delete", "/var/lib/xtask-kube/volumes/pv-1", false),
        pv("pvc-5", "Released", "Delete", ROOT, true),
        deleting,
    ];
    let actions = plan(&items, &root());
    assert_eq!(
        actions,
        [
            Action::Delete { pv: "pvc-1".into(), dir: Some(root().join("pvc-1_a_b")) },
            // A folder outside ours (or ours itself) is never removed.
            Action::Delete { pv: "pvc-2".into(), dir: None },
            Action::Delete { pv: "pvc-5".into(), dir: None },
        ]
    );
    assert_eq!(describe(&actions[1]), "deleting pvc-2 (its claim is gone; its folder is not ours, left alone)");
}

#[test]
fn the_storage_class_is_the_default_and_names_the_provisioner() {
    let class: Value = serde_saphyr::from_str(&storage_class()).unwrap();
    assert_eq!(class["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"], "true");
    assert_eq!(class["provisioner"], PROVISIONER);
    assert_eq!(class["reclaimPolicy"], "Delete");
    assert_eq!(class["volumeBindingMode"], "Immediate");
}

#[test]
fn the_provisioner_may_do_what_a_provisioner_does_and_no_more() {
    let text = objects();
    assert!(text.ends_with(&storage_class()), "{text}");
    let rules = &text[text.find("rules:").unwrap()..text.find("---").unwrap()];
    assert_eq!(
        rules.lines().filter(|l| l.trim_start().starts_with("verbs:")).collect::<Vec<_>>(),
        ["  verbs: [get, list, watch]", "  verbs: [get, list, watch, create, delete]", "  verbs: [get, list, watch]"]
    );
    assert!(!text.contains('*'), "{text}");
    assert!(text.contains(&format!("name: {IDENTITY}-token\n")), "{text}");
}
