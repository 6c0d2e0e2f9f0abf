use super::*;
use serde_json::{json, Value};

fn render(image: &str, replicas: u64) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: fx\n  labels:\n    app.kubernetes.io/name: web\n    mlops.dev/environment: development\nspec:\n  replicas: {replicas}\n  template:\n    metadata:\n      labels:\n        app.kubernetes.io/name: web\n    spec:\n      containers:\n        - name: web\n          image: {image}\n"
    )
}

fn record(revision: u64, outcome: Outcome, image: &str, replicas: u64) -> Recorded {
    Recorded {
        release: Release {
            revision,
            environment: "development".into(),
            commit: format!("c{revision}"),
            version: None,
            images: Vec::new(),
            deployed_by: "me".into(),
            deployed_at: "2026-12-01T10:00:00Z".into(),
            outcome,
            description: String::new(),
            source_revision: None,
            undone_by: None,
            uncommitted: Vec::new(),
            forced: false,
            canary: None,
            traceparent: None,
        },
        manifests: render(image, replicas),
    }
}

/// The live Deployment as the API returns it (with fields the render leaves out).
fn live(image: &str, replicas: u64) -> Observed {
    let d: Value = json!({
        "metadata": {"name": "web", "namespace": "fx", "generation": 4, "labels": {
            "app.kubernetes.io/name": "web", "mlops.dev/environment": "development", "app.kubernetes.io/managed-by": "xtask"}},
        "spec": {"replicas": replicas, "template": {"metadata": {"labels": {"app.kubernetes.io/name": "web"}},
                 "spec": {"containers": [{"name": "web", "image": image, "imagePullPolicy": "IfNotPresent"}]}}},
        "status": {"observedGeneration": 4, "replicas": replicas}
    });
    Observed { deployments: vec![d], ..Observed::default() }
}

fn revision(r: Option<&Recorded>) -> Option<u64> {
    r.map(|r| r.release.revision)
}

#[test]
fn an_interrupted_deploy_that_applied_is_what_runs() {
    let h = [record(1, Outcome::Succeeded, "web:1", 2), record(2, Outcome::Pending, "web:2", 2)];
    assert_eq!(revision(running(&h, &live("web:2", 2))), Some(2));
    assert_eq!(revision(unfinished(&h)), Some(2));
}

#[test]
fn a_pending_record_whose_apply_never_happened_is_not() {
    let h = [record(1, Outcome::Succeeded, "web:1", 2), record(2, Outcome::Pending, "web:2", 2)];
    assert_eq!(revision(running(&h, &live("web:1", 2))), Some(1));
}

#[test]
fn a_rollback_runs_as_its_own_revision_and_a_hand_edit_as_none() {
    let h = [
        record(1, Outcome::Succeeded, "web:1", 2),
        record(2, Outcome::Failed, "web:2", 2),
        record(3, Outcome::Succeeded, "web:1", 2),
    ];
    assert_eq!(revision(running(&h, &live("web:1", 2))), Some(3));
    assert_eq!(unfinished(&h).map(|r| r.release.revision), None);
    // Scaled by hand: no recorded release is what runs.
    assert_eq!(revision(running(&h, &live("web:1", 5))), None);
    assert_eq!(revision(of_render(&h, &render("web:1", 2))), Some(3));
    assert_eq!(revision(of_render(&h, &render("web:9", 2))), None);
}

#[test]
fn the_way_out_of_an_unverified_revision() {
    let mut h: Vec<Release> = [
        record(1, Outcome::Succeeded, "web:1", 2),
        record(2, Outcome::Failed, "web:2", 2),
        record(3, Outcome::Succeeded, "web:1", 2),
        record(4, Outcome::Pending, "web:3", 2),
    ]
    .into_iter()
    .map(|r| r.release)
    .collect();
    // 3 is the deploy's rollback to 1: it stands (`rolled-back` is for what a rollback undid).
    h[2].source_revision = Some(1);
    assert_eq!(crate::release::records::rollback_target(&h, Some(3), false).map(|r| r.revision), Ok(3));
    assert_eq!(
        unverified("staging", &h, 4),
        "revision 4 is applied, not verified (recorded as pending): finish it with `cargo xtask verify staging`, or undo it with `cargo xtask rollback staging --to 3`"
    );
    assert_eq!(
        unverified("staging", &h[..1], 1),
        "revision 1 is applied, not verified (recorded as pending): finish it with `cargo xtask verify staging`; no earlier verified release exists to go back to"
    );
}

#[test]
fn a_failed_rollback_that_runs_is_named_by_the_manifests_its_pods_run() {
    let mut rollback = record(3, Outcome::Failed, "web:1", 2).release;
    rollback.source_revision = Some(1);
    assert_eq!(
        runs_line(&rollback, true, "ready (1 workload)"),
        "running revision 1's manifests, healthy now: ready (1 workload) (revision 3, the rollback that applied them, is recorded as failed: it did not verify before its deadline)"
    );
    let failed = record(1, Outcome::Failed, "web:1", 2).release;
    assert_eq!(
        runs_line(&failed, false, "web progressing"),
        "running revision 1's manifests, not healthy: web progressing (revision 1 is recorded as failed: it did not verify before its deadline)"
    );
    let ok = record(2, Outcome::Succeeded, "web:2", 2).release;
    assert_eq!(runs_line(&ok, true, "ready (1 workload)"), "running revision 2 (succeeded)");
}
