//! Dynamic provisioning on the local cluster, as data (pure): the default
//! StorageClass and what the provisioner does with the claims and volumes the
//! API lists. A real cluster's default class provisions each claim with a
//! volume of its own, of the size and access modes it asks for; here the
//! volume is a hostPath folder on the one real node (capacity is what the
//! claim asked, not enforced, as with local-path provisioners), made for the
//! claim and deleted with it (reclaim policy `Delete`, the class's default).
//!
//! kube-controller-manager's own hostPath provisioner cannot do this: it
//! offers `ReadWriteOnce` only (the platform's data claim is
//! `ReadWriteMany`) and writes under /tmp with mode 0750 (the platform's
//! pods run as uid 10001).

use super::spec;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The default StorageClass's name and the provisioner it names.
pub const CLASS: &str = "xtask-hostpath";
pub const PROVISIONER: &str = "xtask.dev/hostpath";
const PROVISIONED_BY: &str = "pv.kubernetes.io/provisioned-by";

/// The provisioner's identity: a ServiceAccount in kube-system with a
/// long-lived token Secret, allowed only what a provisioner does.
pub const IDENTITY: &str = "xtask-provisioner";

/// The default StorageClass (a claim without `storageClassName` gets it, by
/// the DefaultStorageClass admission plugin; bound at once: one node), and
/// the provisioner's identity and role.
pub fn objects() -> String {
    let rules = [
        ("", "persistentvolumeclaims", "get, list, watch"),
        ("", "persistentvolumes", "get, list, watch, create, delete"),
        ("storage.k8s.io", "storageclasses", "get, list, watch"),
    ];
    let role = "xtask:provisioner";
    format!("{}{}---\n{}", spec::cluster_role(role, &rules), spec::service_account(IDENTITY, role), storage_class())
}

/// The default StorageClass.
pub fn storage_class() -> String {
    format!(
        "apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: {CLASS}
  annotations:
    storageclass.kubernetes.io/is-default-class: \"true\"
provisioner: {PROVISIONER}
reclaimPolicy: Delete
volumeBindingMode: Immediate
"
    )
}

/// What the provisioner does on one pass.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Make `dir` (writable by any uid) and create the volume `pv`, bound to `claim`.
    Create { claim: String, pv: Value, dir: PathBuf },
    /// Delete volume `pv` (its claim is gone, its policy is Delete), then its folder.
    Delete { pv: String, dir: Option<PathBuf> },
    /// A claim of our class this provisioner cannot serve, and why.
    Refuse { claim: String, reason: String },
}

fn s<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or_default()
}

/// One pass over a list of StorageClasses, PersistentVolumes and claims
/// (`kubectl get storageclass,pv,pvc -A -o json`): a volume for each pending
/// claim of a class of ours, the deletion of each released volume of ours.
/// Volume folders live under `root`; nothing outside it is ever removed.
pub fn plan(items: &[Value], root: &Path) -> Vec<Action> {
    let of_kind = |k: &'static str| items.iter().filter(move |i| i["kind"] == k);
    // Our classes (any class naming our provisioner) and their reclaim policy.
    let classes: BTreeMap<&str, &str> = of_kind("StorageClass")
        .filter(|c| c["provisioner"] == PROVISIONER)
        .map(|c| (s(c, "/metadata/name"), c["reclaimPolicy"].as_str().unwrap_or("Delete")))
        .collect();
    let volumes: Vec<&str> = of_kind("PersistentVolume").map(|v| s(v, "/metadata/name")).collect();
    let mut out = Vec::new();
    for c in of_kind("PersistentVolumeClaim") {
        let Some(policy) = classes.get(s(c, "/spec/storageClassName")) else { continue };
        let (ns, name, uid) = (s(c, "/metadata/namespace"), s(c, "/metadata/name"), s(c, "/metadata/uid"));
        let pv_name = format!("pvc-{uid}");
        let pending = s(c, "/status/phase") == "Pending" && s(c, "/spec/volumeName").is_empty();
        if !pending
            || uid.is_empty()
            || c["metadata"]["deletionTimestamp"].is_string()
            || volumes.contains(&pv_name.as_str())
        {
            continue;
        }
        let claim = format!("{ns}/{name}");
        let size = s(c, "/spec/resources/requests/storage");
        let refuse = |reason: &str| Action::Refuse { claim: claim.clone(), reason: reason.to_string() };
        if !c["spec"]["selector"].is_null() {
            out.push(refuse("a claim with a selector binds existing volumes only; remove spec.selector"));
        } else if s(c, "/spec/volumeMode") == "Block" {
            out.push(refuse("hostPath volumes are filesystems; ask for volumeMode Filesystem"));
        } else if size.is_empty() {
            out.push(refuse("it asks for no size (spec.resources.requests.storage)"));
        } else {
            let dir = root.join(format!("{pv_name}_{ns}_{name}"));
            let pv = json!({
                "apiVersion": "v1",
                "kind": "PersistentVolume",
                "metadata": {
                    "name": pv_name,
                    "labels": {"xtask.dev/provisioned": "true"},
                    "annotations": {PROVISIONED_BY: PROVISIONER},
                },
                "spec": {
                    "capacity": {"storage": size},
                    "accessModes": c["spec"]["accessModes"],
                    "persistentVolumeReclaimPolicy": policy,
                    "storageClassName": s(c, "/spec/storageClassName"),
                    "volumeMode": "Filesystem",
                    "claimRef": {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                                 "namespace": ns, "name": name, "uid": uid},
                    "hostPath": {"path": dir.display().to_string(), "type": "DirectoryOrCreate"},
                },
            });
            out.push(Action::Create { claim, pv, dir });
        }
    }
    for v in of_kind("PersistentVolume") {
        let ours = v["metadata"]["annotations"][PROVISIONED_BY] == PROVISIONER;
        let released = matches!(s(v, "/status/phase"), "Released" | "Failed");
        let delete = s(v, "/spec/persistentVolumeReclaimPolicy") == "Delete";
        if ours && released && delete && !v["metadata"]["deletionTimestamp"].is_string() {
            let path = Path::new(s(v, "/spec/hostPath/path"));
            // Only a folder of ours: directly under root, never root itself.
            let dir = (path.parent() == Some(root)).then(|| path.to_path_buf());
            out.push(Action::Delete { pv: s(v, "/metadata/name").to_string(), dir });
        }
    }
    out
}

/// A one-line account of an action for the provisioner's log.
pub fn describe(a: &Action) -> String {
    match a {
        Action::Create { claim, pv, dir } => format!(
            "provisioning {} for {claim}: {} {} at {}",
            s(pv, "/metadata/name"),
            s(pv, "/spec/capacity/storage"),
            pv["spec"]["accessModes"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(","),
            dir.display()
        ),
        Action::Delete { pv, dir } => match dir {
            Some(d) => format!("deleting {pv} (its claim is gone) and {}", d.display()),
            None => format!("deleting {pv} (its claim is gone; its folder is not ours, left alone)"),
        },
        Action::Refuse { claim, reason } => format!("cannot provision {claim}: {reason}"),
    }
}

#[cfg(test)]
#[path = "volumes_tests.rs"]
mod tests;
