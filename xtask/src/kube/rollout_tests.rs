use super::*;
use serde_json::json;

const IMAGE: &str = "127.0.0.1:5000/mlops/storage:abc@sha256:11";

fn deployment(generation: u64, observed: u64, replicas: u64, updated: u64, available: u64, total: u64) -> Value {
    json!({
        "metadata": {"name": "storage", "generation": generation, "labels": {"app.kubernetes.io/name": "storage"}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app.kubernetes.io/name": "storage"}},
            "template": {"spec": {"containers": [{"name": "storage", "image": IMAGE}]}}
        },
        "status": {
            "observedGeneration": observed, "replicas": total, "updatedReplicas": updated,
            "availableReplicas": available,
            "conditions": [{"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated"}]
        }
    })
}

fn pod(name: &str, image: &str, container_status: Value) -> Value {
    json!({
        "metadata": {"name": name, "labels": {"app.kubernetes.io/name": "storage"}},
        "spec": {"containers": [{"name": "storage", "image": image}]},
        "status": {"phase": "Running", "containerStatuses": [container_status]}
    })
}

fn expected() -> BTreeMap<(String, String), Want> {
    BTreeMap::from([(("Deployment".to_string(), "storage".to_string()), vec![IMAGE.to_string()].into())])
}

fn state(observed: &Observed) -> State {
    let w = verdict(observed, &expected());
    assert_eq!(w.len(), 1);
    assert_eq!(w[0].component, "storage");
    w[0].state.clone()
}

#[test]
fn rolled_out_by_kubectls_rules() {
    let ready = |d: Value| state(&Observed { deployments: vec![d], ..Observed::default() });
    assert_eq!(ready(deployment(2, 2, 2, 2, 2, 2)), State::Ready);
    assert_eq!(
        ready(deployment(3, 2, 2, 2, 2, 2)),
        State::Waiting("waiting for the deployment spec update to be observed".into())
    );
    assert_eq!(ready(deployment(2, 2, 2, 1, 1, 2)), State::Waiting("1 out of 2 new replicas have been updated".into()));
    assert_eq!(ready(deployment(2, 2, 2, 2, 2, 3)), State::Waiting("1 old replicas are pending termination".into()));
    assert_eq!(ready(deployment(2, 2, 2, 2, 1, 2)), State::Waiting("1 of 2 updated replicas are available".into()));
    let missing = verdict(&Observed::default(), &expected());
    assert_eq!(missing[0].state, State::Waiting("Deployment storage does not exist yet".into()));
}

#[test]
fn a_template_without_the_new_image_is_not_rolled_out() {
    let mut d = deployment(1, 1, 1, 1, 1, 1);
    d["spec"]["template"]["spec"]["containers"][0]["image"] = "old:1".into();
    let s = state(&Observed { deployments: vec![d], ..Observed::default() });
    assert!(matches!(s, State::Waiting(w) if w.contains("does not carry")));
}

#[test]
fn crash_loop_fails_fast_naming_pod_container_reason_and_events() {
    let crashing = pod(
        "storage-7d9-abcde",
        IMAGE,
        json!({"name": "storage", "ready": false, "restartCount": 4,
               "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 40s restarting failed container"}}}),
    );
    // A ready pod of the old template does not mask the new one's failure.
    let old = pod("storage-5c4-zzzzz", "old:1", json!({"name": "storage", "ready": true, "state": {"running": {}}}));
    let events = vec![
        json!({"involvedObject": {"kind": "Pod", "name": "storage-7d9-abcde"}, "reason": "BackOff",
               "message": "Back-off restarting failed container", "lastTimestamp": "2026-11-27T05:00:09Z"}),
        json!({"involvedObject": {"kind": "Pod", "name": "storage-7d9-abcde"}, "reason": "Started",
               "message": "Started container storage", "lastTimestamp": "2026-11-27T05:00:01Z"}),
        json!({"involvedObject": {"kind": "Pod", "name": "other"}, "reason": "Pulled", "message": "x"}),
    ];
    let observed = Observed {
        deployments: vec![deployment(2, 2, 1, 1, 0, 2)],
        pods: vec![old, crashing],
        events,
        ..Observed::default()
    };
    let State::Failed(f) = state(&observed) else { panic!("a crash loop fails") };
    assert_eq!(
        f.to_string(),
        "pod storage-7d9-abcde, container storage: CrashLoopBackOff (back-off 40s restarting failed container)"
    );
    assert_eq!(f.events, ["Started: Started container storage", "BackOff: Back-off restarting failed container"]);
}

#[test]
fn image_pull_errors_fail_fast_and_a_slow_start_does_not() {
    for reason in ["ImagePullBackOff", "ErrImagePull", "CreateContainerConfigError"] {
        let p = pod(
            "storage-1",
            IMAGE,
            json!({"name": "storage", "ready": false, "state": {"waiting": {"reason": reason}}}),
        );
        let observed =
            Observed { deployments: vec![deployment(1, 1, 1, 1, 0, 1)], pods: vec![p], ..Observed::default() };
        assert!(matches!(state(&observed), State::Failed(f) if f.reason == reason), "{reason}");
    }
    let starting = pod(
        "storage-1",
        IMAGE,
        json!({"name": "storage", "ready": false, "state": {"waiting": {"reason": "ContainerCreating"}}}),
    );
    let observed =
        Observed { deployments: vec![deployment(1, 1, 1, 1, 0, 1)], pods: vec![starting], ..Observed::default() };
    assert!(matches!(state(&observed), State::Waiting(_)));
}

#[test]
fn progress_deadline_exceeded_fails_with_the_not_ready_pod() {
    let mut d = deployment(1, 1, 1, 1, 0, 1);
    d["status"]["conditions"] = json!([{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
        "message": "ReplicaSet \"storage-7d9\" has timed out progressing."}]);
    let never = pod("storage-7d9-q", IMAGE, json!({"name": "storage", "ready": false, "state": {"running": {}}}));
    let State::Failed(f) = state(&Observed { deployments: vec![d], pods: vec![never], ..Observed::default() }) else {
        panic!("the deadline fails the rollout")
    };
    assert_eq!(
        f.to_string(),
        "pod storage-7d9-q, container storage: ProgressDeadlineExceeded (ReplicaSet \"storage-7d9\" has timed out progressing.)"
    );
}

#[test]
fn a_cronjob_is_ready_when_its_template_carries_the_image() {
    let cron = |image: &str| {
        json!({"metadata": {"name": "spark-features", "labels": {"app.kubernetes.io/name": "spark"}},
               "spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "spark", "image": image}]}}}}}})
    };
    let want =
        BTreeMap::from([(("CronJob".to_string(), "spark-features".to_string()), vec!["spark:2".to_string()].into())]);
    let ready = verdict(&Observed { cronjobs: vec![cron("spark:2")], ..Observed::default() }, &want);
    assert_eq!((ready[0].component.as_str(), &ready[0].state), ("spark", &State::Ready));
    let stale = verdict(&Observed { cronjobs: vec![cron("spark:1")], ..Observed::default() }, &want);
    assert!(matches!(&stale[0].state, State::Waiting(w) if w.contains("runs spark:1 instead of spark:2")));
}

// kubectl's rules (polymorphichelpers/rollout_status.go), one test each, in kubectl's order.

fn with_deadline_exceeded(mut d: Value) -> Value {
    d["status"]["conditions"] = json!([{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
        "message": "ReplicaSet \"storage-5c4\" has timed out progressing."}]);
    d
}

fn only(d: Value) -> State {
    state(&Observed { deployments: vec![d], ..Observed::default() })
}

#[test]
fn rule_1_nothing_counts_before_the_controller_observes_the_generation() {
    // Right after a fix is applied on top of a failed rollout: the old
    // condition and counts are still there, the new generation not yet seen.
    let stale = with_deadline_exceeded(deployment(3, 2, 2, 1, 0, 2));
    assert_eq!(only(stale), State::Waiting("waiting for the deployment spec update to be observed".into()));
    // Not even a crash-looping pod fails it yet: its evidence may be the old template's.
    let crashing = pod(
        "storage-7d9-abcde",
        IMAGE,
        json!({"name": "storage", "ready": false, "state": {"waiting": {"reason": "CrashLoopBackOff"}}}),
    );
    let observed =
        Observed { deployments: vec![deployment(3, 2, 2, 1, 0, 2)], pods: vec![crashing], ..Observed::default() };
    assert_eq!(state(&observed), State::Waiting("waiting for the deployment spec update to be observed".into()));
}

#[test]
fn rule_2_progress_deadline_exceeded_fails_once_the_generation_is_observed() {
    let observed = with_deadline_exceeded(deployment(3, 3, 2, 1, 0, 2));
    assert!(matches!(only(observed), State::Failed(f) if f.reason == "ProgressDeadlineExceeded"));
    // A controller ahead of the spec (observedGeneration > generation) counts as observed, as in kubectl.
    let ahead = with_deadline_exceeded(deployment(3, 4, 2, 1, 0, 2));
    assert!(matches!(only(ahead), State::Failed(_)));
}

#[test]
fn rule_3_fewer_updated_replicas_than_wanted() {
    assert_eq!(only(deployment(2, 2, 3, 1, 1, 3)), State::Waiting("1 out of 3 new replicas have been updated".into()));
}

#[test]
fn rule_4_old_replicas_pending_termination() {
    assert_eq!(only(deployment(2, 2, 2, 2, 2, 4)), State::Waiting("2 old replicas are pending termination".into()));
}

#[test]
fn rule_5_updated_replicas_not_yet_available() {
    assert_eq!(only(deployment(2, 2, 2, 2, 0, 2)), State::Waiting("0 of 2 updated replicas are available".into()));
}

#[test]
fn every_rule_holds_then_it_is_rolled_out() {
    assert_eq!(only(deployment(2, 2, 2, 2, 2, 2)), State::Ready);
    // A Deployment without spec.replicas wants one (the API's default).
    let mut d = deployment(1, 1, 1, 1, 1, 1);
    d["spec"].as_object_mut().unwrap().remove("replicas");
    assert_eq!(only(d), State::Ready);
}

/// A fix that keeps the image (a config change): the crash-looping pod of the
/// previous ReplicaSet is not the new template's and does not fail it.
#[test]
fn a_crash_loop_of_the_previous_replicaset_does_not_fail_a_fix_with_the_same_image() {
    let rs = |name: &str, hash: &str, revision: &str| {
        json!({"metadata": {"name": name, "labels": {"pod-template-hash": hash},
               "annotations": {"deployment.kubernetes.io/revision": revision},
               "ownerReferences": [{"kind": "Deployment", "name": "storage", "uid": "u1"}]}})
    };
    let mut d = deployment(4, 4, 2, 1, 0, 3);
    d["metadata"]["uid"] = "u1".into();
    d["metadata"]["annotations"] = json!({"deployment.kubernetes.io/revision": "3"});
    let mut old = pod(
        "storage-aaa-1",
        IMAGE,
        json!({"name": "storage", "ready": false, "state": {"waiting": {"reason": "CrashLoopBackOff"}}}),
    );
    old["metadata"]["labels"]["pod-template-hash"] = "aaa".into();
    let mut new = pod("storage-bbb-1", IMAGE, json!({"name": "storage", "ready": true, "state": {"running": {}}}));
    new["metadata"]["labels"]["pod-template-hash"] = "bbb".into();
    let observed = Observed {
        deployments: vec![d.clone()],
        replicasets: vec![rs("storage-aaa", "aaa", "2"), rs("storage-bbb", "bbb", "3")],
        pods: vec![old.clone(), new.clone()],
        ..Observed::default()
    };
    assert_eq!(state(&observed), State::Waiting("1 out of 2 new replicas have been updated".into()));
    // The same crash loop in the current ReplicaSet fails it.
    old["metadata"]["labels"]["pod-template-hash"] = "bbb".into();
    let observed = Observed { pods: vec![old, new], ..observed };
    assert!(matches!(state(&observed), State::Failed(f) if f.reason == "CrashLoopBackOff"));
}

/// After a rollback the overlay renders three replicas and a label the
/// cluster lacks; the cluster runs two of two of an older revision: that is
/// not "rolled out", and the difference is named.
#[test]
fn a_healthy_workload_that_differs_from_the_render_is_not_rolled_out() {
    let mut d = deployment(2, 2, 2, 2, 2, 2);
    d["metadata"]["labels"]["mlops.dev/environment"] = "staging".into();
    let want = Want {
        images: vec![IMAGE.to_string()],
        replicas: Some(3),
        labels: BTreeMap::from([
            ("mlops.dev/environment".to_string(), "staging".to_string()),
            ("mlops.dev/tier".to_string(), "data".to_string()),
        ]),
        ..Want::default()
    };
    let expected = BTreeMap::from([(("Deployment".to_string(), "storage".to_string()), want)]);
    let observed = Observed { deployments: vec![d], ..Observed::default() };
    let w = verdict(&observed, &expected);
    assert_eq!(
        w[0].state,
        State::Waiting(
            "it differs from the render: replicas: the cluster runs 2, the overlay renders 3; label mlops.dev/tier: the cluster has none, the overlay renders data"
                .into()
        )
    );
    assert_eq!(
        mismatches(&observed, &expected),
        [
            "storage (Deployment storage): replicas: the cluster runs 2, the overlay renders 3",
            "storage (Deployment storage): label mlops.dev/tier: the cluster has none, the overlay renders data"
        ]
    );
    assert_eq!(mismatches(&Observed::default(), &expected), ["Deployment storage: not in the cluster"]);
}

/// Captured from kube-apiserver v1.34.12: a never-ready storage past its
/// progress deadline, then a fix applied. The watch sees the new generation
/// with the old `ProgressDeadlineExceeded` condition before the controller
/// observes it; the fix is waited for, never failed, and ends rolled out.
#[test]
fn a_fix_applied_over_an_exceeded_deadline_is_not_failed_by_the_stale_condition() {
    let captured: Value =
        serde_json::from_str(include_str!("../../tests/fixtures/rollout/fix-over-deadline.json")).unwrap();
    let objects = captured["objects"].as_array().unwrap();
    let fix = objects.last().unwrap();
    let want = Want::of("Deployment", fix).unwrap();
    let expected = BTreeMap::from([(("Deployment".to_string(), "storage".to_string()), want)]);
    let states: Vec<State> = objects
        .iter()
        .map(|d| verdict(&Observed { deployments: vec![d.clone()], ..Observed::default() }, &expected)[0].state.clone())
        .collect();
    assert!(matches!(&states[0], State::Failed(f) if f.reason == "ProgressDeadlineExceeded"), "{:?}", states[0]);
    let stale = &objects[1];
    assert!(stale["metadata"]["generation"].as_u64() > stale["status"]["observedGeneration"].as_u64());
    let conditions = stale["status"]["conditions"].as_array().unwrap();
    assert!(conditions.iter().any(|c| c["type"] == "Progressing" && c["reason"] == "ProgressDeadlineExceeded"));
    assert_eq!(states[1], State::Waiting("waiting for the deployment spec update to be observed".into()));
    for s in &states[1..states.len() - 1] {
        assert!(matches!(s, State::Waiting(_)), "{s:?}");
    }
    assert_eq!(states.last(), Some(&State::Ready));
}

#[test]
fn pods_a_quota_refuses_fail_the_rollout_with_the_apis_message() {
    let mut d = deployment(2, 2, 1, 0, 0, 0);
    let message = "pods \"storage-5d\" is forbidden: exceeded quota: preview, requested: requests.cpu=400m, used: requests.cpu=0, limited: requests.cpu=300m";
    d["status"]["conditions"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate", "message": message}));
    let State::Failed(f) = only(d.clone()) else { panic!("a refused pod fails the rollout") };
    assert_eq!((f.reason.as_str(), f.message.as_str()), ("FailedCreate", message));
    // another refusal (a webhook down for a moment) is waited out
    d["status"]["conditions"][1]["message"] = json!("Internal error occurred: failed calling webhook");
    assert!(matches!(only(d), State::Waiting(_)));
}
