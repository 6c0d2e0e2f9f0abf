use super::*;
use crate::manifests::yaml;
use serde_json::json;

/// The render of the issue: storage at three replicas, labelled by the overlay.
const RENDERED: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: storage
  labels:
    app.kubernetes.io/name: storage
    mlops.dev/environment: staging
    mlops.dev/tier: data
spec:
  replicas: 3
  template:
    metadata:
      labels:
        app.kubernetes.io/name: storage
        mlops.dev/environment: staging
    spec:
      containers:
        - name: storage
          image: reg/storage:2@sha256:bb
";

fn rendered() -> Want {
    let objects = yaml::objects(RENDERED).unwrap();
    Want::of(&objects[0].kind, &objects[0].value).unwrap()
}

/// As the API server returned it after a rollback to an older revision (trimmed).
fn live(replicas: u64, tier: Option<&str>, image: &str) -> Value {
    let mut d = json!({
        "kind": "Deployment",
        "metadata": {"name": "storage", "generation": 7, "labels": {
            "app.kubernetes.io/name": "storage", "mlops.dev/environment": "staging",
            "app.kubernetes.io/managed-by": "xtask"}},
        "spec": {"replicas": replicas, "template": {
            "metadata": {"labels": {"app.kubernetes.io/name": "storage", "mlops.dev/environment": "staging"}},
            "spec": {"containers": [{"name": "storage", "image": image, "imagePullPolicy": "IfNotPresent"}]}}},
        "status": {"observedGeneration": 7, "replicas": replicas, "updatedReplicas": replicas,
                   "availableReplicas": replicas, "readyReplicas": replicas}
    });
    if let Some(t) = tier {
        d["metadata"]["labels"]["mlops.dev/tier"] = t.into();
    }
    d
}

#[test]
fn the_render_asks_for_images_replicas_and_labels() {
    let w = rendered();
    assert_eq!(w.images, ["reg/storage:2@sha256:bb"]);
    assert_eq!(w.replicas, Some(3));
    assert_eq!(w.labels["mlops.dev/tier"], "data");
    assert_eq!(w.template_labels["mlops.dev/environment"], "staging");
    assert_eq!(Want::of("Service", &json!({})), None);
}

#[test]
fn a_healthy_older_revision_is_named_as_different() {
    let d = differences("Deployment", &live(2, None, "reg/storage:2@sha256:bb"), &rendered());
    assert_eq!(
        d,
        [
            "replicas: the cluster runs 2, the overlay renders 3",
            "label mlops.dev/tier: the cluster has none, the overlay renders data"
        ]
    );
    let d = differences("Deployment", &live(3, Some("web"), "reg/storage:1@sha256:aa"), &rendered());
    assert_eq!(
        d,
        [
            "images: the cluster runs reg/storage:1@sha256:aa, the overlay renders reg/storage:2@sha256:bb",
            "label mlops.dev/tier: the cluster has web, the overlay renders data"
        ]
    );
}

#[test]
fn what_the_render_leaves_out_is_not_a_difference() {
    // Extra labels and defaulted fields on the live object are the cluster's business.
    assert!(differences("Deployment", &live(3, Some("data"), "reg/storage:2@sha256:bb"), &rendered()).is_empty());
    // Without `replicas` in the render (an autoscaler owns it), any count is fine.
    let w = Want { replicas: None, ..rendered() };
    assert!(differences("Deployment", &live(5, Some("data"), "reg/storage:2@sha256:bb"), &w).is_empty());
}

#[test]
fn the_workloads_and_their_images_come_from_the_render() {
    let text = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: storage\nspec:\n  template:\n    spec:\n      containers:\n        - name: s\n          image: r/storage:1@sha256:aa\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: storage\n---\napiVersion: batch/v1\nkind: CronJob\nmetadata:\n  name: spark\nspec:\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          containers:\n            - name: spark\n              image: r/spark:1\n";
    let objects = yaml::objects(text).unwrap();
    let e = wanted(&objects);
    assert_eq!(e.len(), 2);
    assert_eq!(e[&("Deployment".to_string(), "storage".to_string())].images, ["r/storage:1@sha256:aa"]);
    assert_eq!(e[&("CronJob".to_string(), "spark".to_string())].images, ["r/spark:1"]);
}
