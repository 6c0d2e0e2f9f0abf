use super::*;
use serde_json::json;

fn check(deadline: u64) -> Check {
    Check {
        name: "storage-smoke".into(),
        component: "storage".into(),
        job: json!({}),
        deadline: Duration::from_secs(deadline),
    }
}

#[test]
fn a_job_is_judged_by_its_true_conditions() {
    assert_eq!(job_state(&json!({"status": {"active": 1}})), JobState::Running);
    let done = json!({"status": {"conditions": [
        {"type": "SuccessCriteriaMet", "status": "True"},
        {"type": "Complete", "status": "True"}]}});
    assert_eq!(job_state(&done), JobState::Passed);
    let failed = json!({"status": {"conditions": [
        {"type": "FailureTarget", "status": "True", "reason": "BackoffLimitExceeded"},
        {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit"}]}});
    assert_eq!(
        job_state(&failed),
        JobState::Failed("BackoffLimitExceeded (Job has reached the specified backoff limit)".into())
    );
    let deadline =
        json!({"status": {"conditions": [{"type": "Failed", "status": "True", "reason": "DeadlineExceeded"}]}});
    assert_eq!(
        job_state(&deadline),
        JobState::Failed("DeadlineExceeded: it ran into its activeDeadlineSeconds".into())
    );
    // Captured from the local cluster (1.34): the decision, before its pod has terminated.
    let decided = json!({"status": {"active": 1, "conditions": [{"lastProbeTime": "2026-12-02T02:27:03Z",
        "lastTransitionTime": "2026-12-02T02:27:03Z", "message": "Job was active longer than specified deadline",
        "reason": "DeadlineExceeded", "status": "True", "type": "FailureTarget"}]}});
    assert_eq!(
        job_state(&decided),
        JobState::Failed(
            "DeadlineExceeded: it ran into its activeDeadlineSeconds (Job was active longer than specified deadline)"
                .into()
        )
    );
    let not_yet = json!({"status": {"conditions": [{"type": "Failed", "status": "False"}]}});
    assert_eq!(job_state(&not_yet), JobState::Running);
}

#[test]
fn a_pod_that_cannot_pull_its_image_is_stuck() {
    let pod = json!({"status": {"containerStatuses": [{"name": "smoke", "state": {"waiting": {
        "reason": "ImagePullBackOff", "message": "Back-off pulling image \"r/x:1\""}}}]}});
    assert_eq!(stuck(&pod).unwrap(), "container smoke: ImagePullBackOff (Back-off pulling image \"r/x:1\")");
    let starting = json!({"status": {"containerStatuses": [{"name": "smoke", "state": {"waiting": {"reason": "ContainerCreating"}}}]}});
    assert_eq!(stuck(&starting), None);
    assert_eq!(stuck(&json!({"status": {"phase": "Pending"}})), None);
}

#[test]
fn each_verdict_names_the_check() {
    let c = check(60);
    let took = Duration::from_secs(4);
    assert_eq!(line(&c, &Verdict::Passed, took), "  passed   storage (check storage-smoke, 4s)");
    assert_eq!(
        line(&c, &Verdict::Failed("BackoffLimitExceeded".into()), took),
        "  FAILED   storage (check storage-smoke, 4s): BackoffLimitExceeded"
    );
    assert_eq!(
        line(&c, &Verdict::TimedOut, Duration::from_secs(90)),
        "  FAILED   storage (check storage-smoke): timed out after 90s (its deadline is 60s)"
    );
}

#[test]
fn each_check_is_judged_by_its_own_job_and_pods_in_one_poll_of_all() {
    let c = check(60);
    let job = |name: &str, kind: &str| json!({"metadata": {"name": name}, "status": {"conditions": [{"type": kind, "status": "True", "reason": "BackoffLimitExceeded"}]}});
    let pull = |job: &str| {
        json!({"metadata": {"labels": {"job-name": job}}, "status": {"containerStatuses": [{"name": "check",
            "state": {"waiting": {"reason": "ErrImagePull"}}}]}})
    };
    let soon = Duration::from_secs(1);
    // Another check's verdict and stuck pod are not this one's.
    let others = [job("cdc-smoke", "Failed")];
    assert_eq!(judge(&c, &others, &[pull("cdc-smoke")], soon), None);
    assert_eq!(
        judge(&c, &[job("cdc-smoke", "Failed"), job("storage-smoke", "Complete")], &[], soon),
        Some(Verdict::Passed)
    );
    assert_eq!(
        judge(&c, &others, &[pull("storage-smoke")], soon),
        Some(Verdict::Failed("container check: ErrImagePull".into()))
    );
    assert_eq!(
        judge(&c, &[job("storage-smoke", "Failed")], &[], soon),
        Some(Verdict::Failed("BackoffLimitExceeded".into()))
    );
    // Not created yet or running: its deadline plus the grace, then timed out.
    assert_eq!(judge(&c, &[], &[], Duration::from_secs(60) + GRACE - soon), None);
    assert_eq!(judge(&c, &[], &[], Duration::from_secs(60) + GRACE), Some(Verdict::TimedOut));
}

#[test]
fn a_check_job_carries_the_runs_trace_in_every_containers_environment_and_on_its_pod() {
    let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let job = json!({"kind": "Job", "spec": {"template": {
        "metadata": {"labels": {"app.kubernetes.io/name": "storage-smoke"}},
        "spec": {
            "initContainers": [{"name": "wait"}],
            "containers": [
                {"name": "smoke", "env": [{"name": "MLOPS_STORAGE_URL", "value": "http://storage"},
                                          {"name": "TRACEPARENT", "value": "00-stale"}]},
                {"name": "side"}
            ]
        }
    }}});
    let t = traced(&job, tp);
    let pod = &t["spec"]["template"];
    assert_eq!(pod["metadata"]["annotations"]["xtask.dev/traceparent"], tp);
    assert_eq!(pod["metadata"]["labels"], job["spec"]["template"]["metadata"]["labels"]);
    let want = json!({"name": "TRACEPARENT", "value": tp});
    for c in
        pod["spec"]["initContainers"].as_array().unwrap().iter().chain(pod["spec"]["containers"].as_array().unwrap())
    {
        let env = c["env"].as_array().unwrap();
        assert_eq!(env.iter().filter(|e| e["name"] == "TRACEPARENT").collect::<Vec<_>>(), [&want], "{c}");
    }
    assert_eq!(pod["spec"]["containers"][0]["env"][0]["name"], "MLOPS_STORAGE_URL");
}
