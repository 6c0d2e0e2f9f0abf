use super::*;

fn repo(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join(".github/workflows")).unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(".github/workflows").join(name), text).unwrap();
    }
    dir
}

const DEPLOY: &str = "\
on:
  push:
    branches: [main, 'release/**']
    tags: ['v*.*.*', '!v*.*.*-*']
  workflow_dispatch:
    inputs:
      environment:
        type: choice
        options: [development, production]
jobs:
  tests:
    uses: ./.github/workflows/tests.yml
  image:
    runs-on: ubuntu-latest
    steps:
      - run: cargo xtask ci --only image
      - run: cargo xtask ci --only deploy,verify
";

const TESTS: &str = "\
on: [pull_request, workflow_call]
jobs:
  plan:
    runs-on: ubuntu-latest
    steps:
      - run: cargo xtask ci --plan
";

#[test]
fn each_declared_event_is_sampled_as_github_hands_it_over() {
    let dir = repo(&[("deploy.yml", DEPLOY), ("tests.yml", TESTS)]);
    let on_tag = |env: &str| if env == "production" { RELEASE_REF.to_string() } else { "refs/heads/main".to_string() };
    let samples = samples(dir.path(), &on_tag).unwrap();
    let rows: Vec<(String, &str, &str, Option<&str>)> = samples
        .iter()
        .map(|s| {
            let file = s.workflow.rsplit('/').next().unwrap().to_string();
            (file, s.event.as_str(), s.reference.as_str(), s.payload["inputs"]["environment"].as_str())
        })
        .collect();
    let row = |f: &str, e, r, i| (f.to_string(), e, r, i);
    assert_eq!(
        rows,
        [
            // A glob branch is not sampled; only the release tag passes the filter.
            row("deploy.yml", "push", "refs/heads/main", None),
            row("deploy.yml", "push", "refs/tags/v1.2.3", None),
            row("deploy.yml", "workflow_dispatch", "refs/heads/main", Some("development")),
            row("deploy.yml", "workflow_dispatch", "refs/tags/v1.2.3", Some("production")),
            row("tests.yml", "pull_request", PULL_REF, None),
            row("tests.yml", "pull_request", PULL_REF, None),
            row("tests.yml", "pull_request", PULL_REF, None),
            // Called: the caller's events.
            row("tests.yml", "push", "refs/heads/main", None),
            row("tests.yml", "push", "refs/tags/v1.2.3", None),
            row("tests.yml", "workflow_dispatch", "refs/heads/main", Some("development")),
            row("tests.yml", "workflow_dispatch", "refs/tags/v1.2.3", Some("production")),
        ]
    );
    assert_eq!(samples[0].only, ["image", "deploy", "verify"]);
    assert!(!samples[0].plans && samples[4].plans && samples[4].only.is_empty());
    assert_eq!(samples[7].caller.as_deref(), Some(".github/workflows/deploy.yml"));
    assert_eq!(samples[4].payload["pull_request"]["number"], 7);
    let actions: Vec<&str> = samples[4..7].iter().map(|s| s.payload["action"].as_str().unwrap()).collect();
    assert_eq!(actions, PULL_TYPES, "GitHub's default activity types");
    assert_eq!(samples[1].payload["ref"], "refs/tags/v1.2.3");
}

#[test]
fn an_event_outside_the_trigger_table_is_an_error_naming_it() {
    let dir = repo(&[("triage.yml", "on:\n  issues:\n    types: [opened]\njobs: {}\n")]);
    let err = samples(dir.path(), &|_| String::new()).unwrap_err().to_string();
    assert!(err.contains("event `issues` is not in the pipeline's trigger table"), "{err}");
}
