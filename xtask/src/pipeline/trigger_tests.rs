//! One test per row of the spec's trigger table, from recorded event payloads
//! shaped like GitHub's (xtask/tests/fixtures/events).

use super::*;

fn envs() -> Vec<String> {
    ["development", "production", "staging"].map(String::from).to_vec()
}

/// The plan for a recorded event, read the way `cargo xtask ci` reads GitHub's.
fn plan(name: &str, payload: &str, flag: Option<&str>) -> Pipeline {
    let event = from_github(name, None, Some(payload), flag).unwrap();
    decide(&event, &envs()).unwrap()
}

fn commands(p: &Pipeline) -> Vec<String> {
    p.stages.iter().map(|s| format!("{}: {}", s.name, s.command())).collect()
}

const PULL_REQUEST: &str = include_str!("../../tests/fixtures/events/pull_request.json");
const PUSH_DEVELOP: &str = include_str!("../../tests/fixtures/events/push_develop.json");
const PUSH_MAIN: &str = include_str!("../../tests/fixtures/events/push_main.json");
const PUSH_TAG: &str = include_str!("../../tests/fixtures/events/push_tag.json");
const DISPATCH_PRODUCTION: &str = include_str!("../../tests/fixtures/events/workflow_dispatch_production.json");
const DISPATCH_STAGING: &str = include_str!("../../tests/fixtures/events/workflow_dispatch_staging.json");
const DISPATCH_TESTS: &str = include_str!("../../tests/fixtures/events/workflow_dispatch_tests.json");

#[test]
fn pull_request_runs_tests_per_component_the_full_suite_quality_and_perf() {
    let p = plan("pull_request", PULL_REQUEST, None);
    assert_eq!(p.reference, "refs/pull/42/merge");
    assert_eq!(p.trigger, "pull request");
    assert!(p.full_suite);
    assert_eq!(
        commands(&p),
        [
            "test: cargo xtask test",
            "quality: cargo xtask quality",
            "perf: cargo xtask perf --affected",
            "preview: cargo xtask preview up --pr 42 --build"
        ]
    );
    assert_eq!(p.stage("preview").unwrap().needs, ["test", "quality"]);
    assert_eq!(p.environment, None);
}

#[test]
fn a_closed_pull_request_plans_only_its_previews_teardown() {
    let payload = r#"{"action": "closed", "number": 42, "pull_request": {"number": 42, "merged": true}}"#;
    let p = plan("pull_request", payload, None);
    assert_eq!(p.trigger, "pull request closed");
    assert_eq!(commands(&p), ["preview-down: cargo xtask preview down --pr 42"]);
    assert!(p.stage("preview-down").unwrap().needs_cluster());
    for action in ["opened", "synchronize", "reopened"] {
        let payload = format!(r#"{{"action": "{action}", "number": 42, "pull_request": {{"number": 42}}}}"#);
        assert!(plan("pull_request", &payload, None).stage("preview").is_some(), "{action}");
    }
    // a pull request's plan without a number (a local run on HEAD) has no preview
    let local = decide(&from_github("pull_request", Some("HEAD"), None, None).unwrap(), &envs()).unwrap();
    assert_eq!(local.names(), ["test", "quality", "perf"]);
}

#[test]
fn the_schedule_sweeps_expired_previews_and_nothing_else() {
    // GitHub runs a schedule on the default branch, and says so in GITHUB_REF.
    let event = from_github("schedule", Some("refs/heads/main"), Some(r#"{"schedule": "17 3 * * *"}"#), None).unwrap();
    let p = decide(&event, &envs()).unwrap();
    assert_eq!(commands(&p), ["preview-sweep: cargo xtask preview sweep --older-than 72h"]);
}

#[test]
fn a_forks_pull_request_is_told_apart_by_its_heads_repository() {
    let own = serde_json::json!({"number": 5, "pull_request": {"number": 5,
        "head": {"repo": {"full_name": "acme/platform", "fork": false}}, "base": {"repo": {"full_name": "acme/platform"}}}});
    assert_eq!(pull_request_of(&own), Some((5, false)));
    let mut fork = own.clone();
    fork["pull_request"]["head"]["repo"] = serde_json::json!({"full_name": "mallory/platform", "fork": true});
    assert_eq!(pull_request_of(&fork), Some((5, true)));
    fork["pull_request"]["head"]["repo"]["fork"] = serde_json::json!(false);
    assert_eq!(pull_request_of(&fork), Some((5, true)), "another repository is a fork whatever its flag");
    assert_eq!(pull_request_of(&serde_json::json!({"ref": "refs/heads/main"})), None);
}

#[test]
fn push_to_develop_runs_tests_and_quality_and_deploys_nothing() {
    let p = plan("push", PUSH_DEVELOP, None);
    assert_eq!(p.trigger, "push to develop");
    assert!(!p.full_suite, "on push the tests run as one leg per component");
    assert_eq!(p.names(), ["test", "quality"]);
    assert_eq!(p.environment, None);
}

#[test]
fn push_to_main_builds_sha_images_and_deploys_development() {
    let p = plan("push", PUSH_MAIN, None);
    assert_eq!(p.trigger, "push to main");
    assert_eq!(
        commands(&p),
        [
            "test: cargo xtask test",
            "quality: cargo xtask quality",
            "image: cargo xtask image build --push --ref refs/heads/main",
            "manifests: cargo xtask manifests update development",
            "deploy: cargo xtask deploy development",
            "verify: cargo xtask verify development",
        ]
    );
    assert_eq!((p.environment.as_deref(), p.version.as_deref()), (Some("development"), None));
    let needs: Vec<_> = p.stages.iter().map(|s| (s.name, s.needs.clone())).collect();
    assert_eq!(
        needs,
        [
            ("test", vec![]),
            ("quality", vec![]),
            ("image", vec!["test", "quality"]),
            ("manifests", vec!["image"]),
            ("deploy", vec!["manifests"]),
            ("verify", vec!["deploy"]),
        ]
    );
}

#[test]
fn release_tag_deploys_staging_unless_another_environment_is_requested() {
    let p = plan("push", PUSH_TAG, None);
    assert_eq!(p.trigger, "release v1.4.0");
    assert_eq!((p.environment.as_deref(), p.version.as_deref()), (Some("staging"), Some("1.4.0")));
    assert_eq!(p.stage("image").unwrap().command(), "cargo xtask image build --push --ref refs/tags/v1.4.0");
    assert_eq!(p.stage("deploy").unwrap().command(), "cargo xtask deploy staging");
    let p = plan("push", PUSH_TAG, Some("production"));
    assert_eq!(p.stage("verify").unwrap().command(), "cargo xtask verify production");
}

#[test]
fn workflow_dispatch_with_an_environment_deploys_that_environment() {
    let p = plan("workflow_dispatch", DISPATCH_STAGING, None);
    assert_eq!(p.trigger, "workflow_dispatch of staging");
    assert!(p.full_suite, "a dispatch runs the full suite too");
    assert_eq!(p.names(), ["test", "quality", "image", "manifests", "deploy", "verify"]);
    assert_eq!(p.stage("manifests").unwrap().command(), "cargo xtask manifests update staging");
    assert_eq!(p.version, None);
    // Dispatched on a release tag: the release's version tags.
    let p = plan("workflow_dispatch", DISPATCH_PRODUCTION, None);
    assert_eq!((p.environment.as_deref(), p.version.as_deref()), (Some("production"), Some("1.4.0")));
    assert_eq!(p.stage("deploy").unwrap().command(), "cargo xtask deploy production");
    // The flag wins over the payload's input.
    let p = plan("workflow_dispatch", DISPATCH_PRODUCTION, Some("staging"));
    assert_eq!(p.environment.as_deref(), Some("staging"));
}

#[test]
fn workflow_dispatch_without_an_environment_runs_the_tests_and_every_perf_scenario() {
    let p = plan("workflow_dispatch", DISPATCH_TESTS, None);
    assert!(p.full_suite);
    assert_eq!(p.names(), ["test", "quality", "perf"]);
    // A manual run of performance.yml: every component's scenarios, not only the affected ones.
    assert_eq!(p.stage("perf").unwrap().command(), "cargo xtask perf");
    // A dispatch that deploys runs no perf.
    assert!(plan("workflow_dispatch", DISPATCH_STAGING, None).stage("perf").is_none());
}

#[test]
fn github_ref_wins_over_the_payload_and_locally_there_is_no_payload() {
    let e = from_github("push", Some("refs/heads/main"), Some(PUSH_DEVELOP), None).unwrap();
    assert_eq!(e.reference, "refs/heads/main");
    let e = from_github("push", Some("refs/tags/v2.0.0"), None, Some("production")).unwrap();
    assert_eq!(
        e,
        Event {
            name: "push".into(),
            reference: "refs/tags/v2.0.0".into(),
            requested: Some("production".into()),
            action: None
        }
    );
    assert!(from_github("push", None, None, None).unwrap_err().contains("GITHUB_REF"));
    assert!(from_github("push", None, Some("{not json"), None).unwrap_err().contains("not JSON"));
}

#[test]
fn bad_events_are_one_line_saying_what_to_do() {
    let decide = |name: &str, r: &str, env: Option<&str>| {
        decide(
            &Event { name: name.into(), reference: r.into(), requested: env.map(String::from), action: None },
            &envs(),
        )
    };
    assert!(decide("push", "refs/tags/nightly", None).unwrap_err().contains("releases are tagged vX.Y.Z"));
    assert!(decide("issues", "refs/heads/main", None)
        .unwrap_err()
        .contains("pull_request, push, workflow_dispatch or schedule"));
    assert!(decide("push", "refs/tags/v1.0.0", Some("qa")).unwrap_err().contains("unknown environment `qa`"));
    assert!(decide("push", "refs/heads/main", Some("production")).unwrap_err().contains("deploys development"));
    assert!(decide("pull_request", "refs/pull/1/merge", Some("staging")).unwrap_err().contains("deploys nothing"));
    // Another branch is tested like develop.
    assert_eq!(decide("push", "refs/heads/feature/x", None).unwrap().names(), ["test", "quality"]);
}

#[test]
fn only_selects_stages_of_the_plan() {
    let p = plan("push", PUSH_MAIN, None);
    let picked: Vec<_> = select(&p, &["deploy".into(), "verify".into()]).unwrap().iter().map(|s| s.name).collect();
    assert_eq!(picked, ["deploy", "verify"]);
    assert_eq!(select(&p, &[]).unwrap().len(), 6);
    let p = plan("push", PUSH_DEVELOP, None);
    assert_eq!(
        select(&p, &["deploy".into()]).unwrap_err(),
        "the push to develop plan has no `deploy` stage: it has test, quality"
    );
}

#[test]
fn a_workflow_on_closed_pull_requests_and_a_schedule_is_sampled_and_plans_only_the_teardown_and_the_sweep() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join(".github/workflows")).unwrap();
    let job = |only: &str| {
        format!("jobs:\n  j:\n    runs-on: ubuntu-latest\n    steps:\n      - run: cargo xtask ci --only {only}\n")
    };
    let teardown = format!("on:\n  pull_request:\n    types: [closed]\n{}", job("preview-down"));
    let sweep = format!("on:\n  schedule:\n    - cron: '17 3 * * *'\n{}", job("preview-sweep"));
    std::fs::write(dir.path().join(".github/workflows/preview-down.yml"), teardown).unwrap();
    std::fs::write(dir.path().join(".github/workflows/preview-sweep.yml"), sweep).unwrap();
    let samples = crate::workflows::events::samples(dir.path(), &|_| String::new()).unwrap();
    let plans: Vec<Vec<&str>> = samples
        .iter()
        .map(|s| {
            let event = from_github(&s.event, Some(&s.reference), Some(&s.payload.to_string()), None).unwrap();
            let p = decide(&event, &envs()).unwrap();
            assert!(select(&p, &s.only).is_ok(), "{} plans its --only stages", s.workflow);
            p.names()
        })
        .collect();
    assert_eq!(samples[0].payload["action"], "closed");
    assert_eq!(plans, [vec!["preview-down"], vec!["preview-sweep"]]);
}
