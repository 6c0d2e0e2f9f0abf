//! `cargo xtask ci` on fixture monorepos: plans compared with expected files,
//! GitHub's event read from its variables, stages run in ci's own process,
//! and the workflow checks of the quality stage.

use crate::support;

use std::path::Path;
use support::{git, run, Repo};

fn fixture(rel: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()))
}

/// The command with no cluster credentials anywhere (HOME is the repo, which has no .kube).
fn ci(repo: &Repo, args: &[&str]) -> std::process::Command {
    let mut all = vec!["ci"];
    all.extend_from_slice(args);
    let mut cmd = repo.command(&all);
    cmd.env_remove("KUBECONFIG").env_remove("KUBECONFIG_B64").env("HOME", repo.root());
    cmd
}

fn two_components() -> Repo {
    let repo = Repo::new();
    repo.passing("alpha");
    repo.passing("beta");
    repo
}

/// The repo committed on main with `tag` at HEAD, as a release's checkout is.
fn tagged(repo: &Repo, tag: &str) {
    git(repo.root(), &["init", "-q", "-b", "main"]);
    git(repo.root(), &["add", "-A"]);
    git(repo.root(), &["commit", "-qm", "release"]);
    git(repo.root(), &["tag", tag]);
}

#[test]
fn plan_for_push_to_main_and_for_a_release_tag_match_the_expected_files() {
    let repo = two_components();
    tagged(&repo, "v1.4.0");
    let main = run(ci(&repo, &["--event", "push", "--ref", "refs/heads/main", "--plan"]));
    assert_eq!(main.code, 0);
    assert_eq!(main.stdout, fixture("ci/push-main.plan"));
    let release = run(ci(&repo, &["--event", "push", "--ref", "refs/tags/v1.4.0", "--plan"]));
    assert_eq!(release.code, 0);
    assert_eq!(release.stdout, fixture("ci/release.plan"));
    let production = run(ci(
        &repo,
        &[
            "--event",
            "push",
            "--ref",
            "refs/tags/v1.4.0",
            "--environment",
            "production",
            "--plan",
            "--json",
            "--confirm",
        ],
    ));
    let plan: serde_json::Value = serde_json::from_str(&production.stdout).unwrap();
    let commands: Vec<&str> =
        plan["stages"].as_array().unwrap().iter().map(|s| s["command"].as_str().unwrap()).collect();
    assert_eq!(
        commands,
        [
            "cargo xtask test",
            "cargo xtask quality",
            "cargo xtask image build --push --ref refs/tags/v1.4.0",
            "cargo xtask manifests update production",
            "cargo xtask deploy production --confirm",
            "cargo xtask verify production",
        ]
    );
    assert_eq!((plan["version"].as_str(), plan["environment"].as_str()), (Some("1.4.0"), Some("production")));
}

#[test]
fn no_github_variables_mean_the_pull_request_plan() {
    let repo = two_components();
    let r = run(ci(&repo, &["--plan"]));
    assert_eq!(r.code, 0);
    assert!(r.stdout.starts_with("ci plan: pull request (pull_request HEAD)\n"), "{}", r.stdout);
    assert!(
        r.stdout.ends_with(
            "  test     cargo xtask test\n  quality  cargo xtask quality\n  perf     cargo xtask perf --affected\n"
        ),
        "{}",
        r.stdout
    );
}

#[test]
fn a_new_component_folder_is_in_the_matrix_and_the_plan_with_no_other_edit() {
    let repo = two_components();
    repo.passing("gamma");
    let list = repo.run(&["components", "--json"]);
    let matrix: serde_json::Value = serde_json::from_str(&list.stdout).unwrap();
    let names: Vec<&str> = matrix.as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["alpha", "beta", "gamma"]);
    let plan = run(ci(&repo, &["--event", "push", "--ref", "refs/heads/main", "--plan", "--json"]));
    let plan: serde_json::Value = serde_json::from_str(&plan.stdout).unwrap();
    assert_eq!(plan["components"], serde_json::json!(["alpha", "beta", "gamma"]));
}

#[test]
fn github_variables_and_the_dispatch_payload_decide_and_become_step_outputs() {
    let repo = two_components();
    tagged(&repo, "v1.4.0");
    let outputs = repo.path("github-output");
    let mut cmd = ci(&repo, &["--plan"]);
    let payload = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/events/workflow_dispatch_production.json");
    // On GitHub: the deploy job bound to `production` approves the deploy, so the plan needs no --confirm.
    cmd.env("GITHUB_ACTIONS", "true")
        .env("GITHUB_EVENT_NAME", "workflow_dispatch")
        .env("GITHUB_REF", "refs/tags/v1.4.0")
        .env("GITHUB_EVENT_PATH", payload)
        .env("GITHUB_OUTPUT", &outputs);
    let r = run(cmd);
    assert_eq!(r.code, 0);
    assert!(r.stdout.starts_with("ci plan: workflow_dispatch of production (workflow_dispatch refs/tags/v1.4.0)\n"));
    assert_eq!(
        repo.read("github-output"),
        "trigger=workflow_dispatch of production\nenvironment=production\nversion=1.4.0\nfull-suite=true\n\
         deploy=true\nstages=[\"test\",\"quality\",\"image\",\"manifests\",\"deploy\",\"verify\"]\ncomponents=[\"alpha\",\"beta\"]\n"
    );
    // `components --json` leaves the matrix there too.
    let mut cmd = repo.command(&["components", "--json"]);
    cmd.env("GITHUB_OUTPUT", &outputs);
    assert_eq!(run(cmd).code, 0);
    let out = repo.read("github-output");
    assert!(out.contains("\nmatrix=[{") && out.contains("\"name\":\"alpha\""), "{out}");
}

#[test]
fn bad_events_are_usage_errors() {
    let repo = two_components();
    let r = run(ci(&repo, &["--event", "push", "--ref", "refs/tags/nightly", "--plan"]));
    assert_eq!(r.code, 2);
    assert_eq!(r.stderr.trim(), "error: tag `nightly` is not a release tag: releases are tagged vX.Y.Z, e.g. v1.2.3");
    let r = run(ci(&repo, &["--event", "push", "--ref", "refs/heads/develop", "--only", "deploy"]));
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("the push to develop plan has no `deploy` stage: it has test, quality"), "{}", r.stderr);
}

#[test]
fn without_cluster_credentials_the_plan_stops_before_deploy_and_says_so_once() {
    let repo = two_components();
    let r = run(ci(&repo, &["--event", "push", "--ref", "refs/heads/main", "--only", "deploy,verify"]));
    assert_eq!(r.code, 0, "earlier stages passed: no credentials is not a failure");
    let said: Vec<&str> = r.stdout.lines().filter(|l| l.starts_with("no cluster credentials")).collect();
    assert_eq!(said.len(), 1, "{}", r.stdout);
    assert!(r.stdout.contains("  deploy: skipped: no cluster credentials\n"), "{}", r.stdout);
    assert_eq!(r.last_line(), "0 passed, 0 failed, 0 skipped");
}

#[test]
fn stages_run_in_one_process_reading_git_once_quality_failing_does_not_stop_the_tests() {
    let repo = two_components();
    // A lint defect: quality fails, the tests still run and their count closes the log.
    repo.write("components/beta/src/beta_pkg/unused.py", "import os\n");
    git(repo.root(), &["init", "-q", "-b", "main"]);
    // git as found on PATH, behind a wrapper that notes each call.
    let real =
        String::from_utf8(std::process::Command::new("sh").args(["-c", "command -v git"]).output().unwrap().stdout)
            .unwrap();
    let bin = tempfile::tempdir().unwrap();
    let calls = bin.path().join("calls");
    let wrapper = bin.path().join("git");
    std::fs::write(
        &wrapper,
        format!("#!/bin/sh\necho \"$*\" >> '{}'\nexec '{}' \"$@\"\n", calls.display(), real.trim()),
    )
    .unwrap();
    std::fs::set_permissions(&wrapper, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", bin.path().display(), std::env::var("PATH").unwrap());
    let summary = repo.path("step-summary");
    let mut cmd = ci(&repo, &[]);
    cmd.env("GITHUB_ACTIONS", "true").env("GITHUB_STEP_SUMMARY", &summary).env("XTASK_SAFETY_DB", "offline");
    cmd.env("PATH", path);
    let r = run(cmd);
    assert_eq!(r.code, 1);
    // Both stages ran in ci's process, which listed the tree once for both task caches.
    let calls = std::fs::read_to_string(&calls).unwrap();
    assert_eq!(calls.lines().filter(|l| l.starts_with("ls-files")).count(), 1, "{calls}");
    assert!(r.stdout.contains("\n==> test: cargo xtask test\n"), "{}", r.stdout);
    assert!(r.stdout.contains("\n==> quality: cargo xtask quality\n"), "{}", r.stdout);
    assert!(r.stdout.contains("  test     passed "), "{}", r.stdout);
    assert!(r.stdout.contains("  quality  failed "), "{}", r.stdout);
    assert_eq!(r.last_line(), "4 passed, 0 failed, 0 skipped");
    // The test stage's report was kept before quality overwrote report.json.
    let kept: serde_json::Value = serde_json::from_str(&repo.read("target/xtask/ci/test.json")).unwrap();
    assert_eq!(kept["stage"], "test");
    // The step summary: each stage's own table and chart, then the run's.
    let md = repo.read("step-summary");
    assert!(md.contains("### xtask test\n"), "{md}");
    assert!(md.contains("### xtask ci: pull request\n"), "{md}");
    assert!(md.contains("| quality | ❌ failed |"), "{md}");
    assert!(md.contains("| component | test | quality |\n"), "{md}");
    assert!(md.contains("```mermaid\ngantt\n    title xtask ci  pull request\n"), "{md}");
    assert!(md.contains("    section test\n    test alpha "), "{md}");
}

#[test]
fn quality_reports_actionlint_and_thin_run_findings_on_a_planted_workflow() {
    let repo = Repo::new();
    repo.write(
        ".github/workflows/bad.yml",
        "name: bad\non: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: cargo xtask test ${{ foo.bar }}\n      - run: |\n          cargo xtask test\n          echo done\n",
    );
    let r = repo.run(&["quality"]);
    assert_eq!(r.code, 1);
    let line =
        |needle: &str| r.stdout.lines().find(|l| l.contains(needle)).unwrap_or_else(|| panic!("no `{needle}`")).trim();
    assert!(
        line("actionlint expression")
            .starts_with(".github/workflows/bad.yml:7:35: actionlint expression [High] undefined variable \"foo\""),
        "{}",
        r.stdout
    );
    assert!(
        line("workflows thin-run [Medium] `cargo")
            .starts_with(".github/workflows/bad.yml:7:9: workflows thin-run [Medium]"),
        "{}",
        r.stdout
    );
    assert!(
        line("workflows thin-run [Medium] 2 lines").starts_with(".github/workflows/bad.yml:8:9: workflows thin-run"),
        "{}",
        r.stdout
    );
    let report: serde_json::Value = serde_json::from_str(&repo.read("target/xtask/report.json")).unwrap();
    let ids: Vec<&str> =
        report["tasks"].as_array().unwrap().iter().map(|t| t["task"]["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["workflows:actionlint", "workflows:thin"]);
}

/// A run the deploy would refuse fails in its first second: exit 2, one line
/// naming the fix, before any stage starts (the plan promises nothing it cannot keep).
#[test]
fn a_doomed_run_fails_before_any_stage_with_one_line_naming_the_fix() {
    let repo = two_components();
    tagged(&repo, "v1.4.0");
    let one_line = |r: &support::Run, starts: &str| {
        assert_eq!(r.code, 2, "{}\n{}", r.stdout, r.stderr);
        assert_eq!(r.stderr.trim().lines().count(), 1, "{}", r.stderr);
        assert!(r.stderr.starts_with(&format!("error: {starts}")), "{}", r.stderr);
        assert!(!r.stdout.contains("==>"), "no stage ran: {}", r.stdout);
    };
    // A dispatch to production from a branch: planned or run, refused at once.
    let dispatch = ["--event", "workflow_dispatch", "--ref", "refs/heads/main", "--environment", "production"];
    let started = std::time::Instant::now();
    one_line(&run(ci(&repo, &dispatch)), "production is deployed only from a release");
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "refused in its first seconds");
    one_line(&run(ci(&repo, &[&dispatch[..], &["--plan"]].concat())), "production is deployed only from a release");
    // A release tag that does not exist, or is not the checkout.
    let r = run(ci(&repo, &["--event", "push", "--ref", "refs/tags/v9.9.9", "--plan"]));
    one_line(&r, "tag `v9.9.9` does not exist here: tag the release (git tag v9.9.9");
    git(repo.root(), &["commit", "-qm", "after the release", "--allow-empty"]);
    let r = run(ci(&repo, &["--event", "push", "--ref", "refs/tags/v1.4.0", "--plan"]));
    one_line(&r, "tag `v1.4.0` is commit ");
    assert!(r.stderr.contains("check the tag out first (git checkout v1.4.0)"), "{}", r.stderr);
    git(repo.root(), &["checkout", "-q", "v1.4.0"]);
    // Production from the release: off GitHub only with --confirm.
    let release =
        ["--event", "workflow_dispatch", "--ref", "refs/tags/v1.4.0", "--environment", "production", "--plan"];
    one_line(&run(ci(&repo, &release)), "deploying to production needs --confirm");
    assert_eq!(run(ci(&repo, &[&release[..], &["--confirm"]].concat())).code, 0);
    assert_eq!(run(ci(&repo, &[&release[..], &["--only", "test,quality"]].concat())).code, 0);
}

/// An overlay with another name than the three is guarded like production
/// unless its `xtask.toml` says otherwise.
#[test]
fn another_overlay_is_guarded_like_production_unless_its_settings_say_otherwise() {
    let repo = two_components();
    for env in ["development", "qa"] {
        repo.write(&format!("deploy/overlays/{env}/kustomization.yaml"), "resources: []\n");
    }
    tagged(&repo, "v1.4.0");
    git(repo.root(), &["commit", "-qm", "after the release", "--allow-empty"]);
    let qa = ["--event", "workflow_dispatch", "--ref", "refs/heads/main", "--environment", "qa", "--plan"];
    let r = run(ci(&repo, &qa));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("qa is deployed only from a release"), "{}", r.stderr);
    repo.write("deploy/overlays/qa/xtask.toml", "guard = \"any\"\n");
    assert_eq!(run(ci(&repo, &qa)).code, 0);
    repo.write("deploy/overlays/qa/xtask.toml", "guard = \"lenient\"\n");
    let r = run(ci(&repo, &qa));
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("deploy/overlays/qa/xtask.toml sets guard = \"lenient\""), "{}", r.stderr);
}

/// Every event each workflow declares, handed over as GitHub does
/// (`GITHUB_EVENT_NAME`, `GITHUB_REF`, the payload at `GITHUB_EVENT_PATH`),
/// plans each `--only` stage that workflow's steps name, and plans where a
/// step plans: on a copy of the monorepo committed on main with the release
/// tag the samples use (`cargo xtask workflows events` lists them).
#[test]
fn every_event_each_workflow_declares_plans_the_stages_its_steps_name() {
    let copy = support::copy_of_the_monorepo();
    let root = copy.path();
    git(root, &["init", "-q", "-b", "main"]);
    git(root, &["add", "-A"]);
    git(root, &["commit", "-qm", "release"]);
    git(root, &["tag", "v1.2.3"]);
    let xtask = |args: &[&str]| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_xtask"));
        cmd.arg("--root").arg(root).args(args).env("HOME", root).env_remove("KUBECONFIG").env_remove("KUBECONFIG_B64");
        cmd
    };
    let listed = run(xtask(&["workflows", "events", "--json"]));
    assert_eq!(listed.code, 0);
    let samples: Vec<serde_json::Value> = serde_json::from_str(&listed.stdout).unwrap();
    let mut planned = Vec::new();
    for (n, s) in samples.iter().enumerate() {
        let payload = root.join(format!("event-{n}.json"));
        std::fs::write(&payload, s["payload"].to_string()).unwrap();
        let mut onlys: Vec<Vec<&str>> =
            s["only"].as_array().unwrap().iter().map(|o| vec!["--only", o.as_str().unwrap()]).collect();
        if s["plans"].as_bool().unwrap() {
            onlys.push(Vec::new());
        }
        for only in onlys {
            let mut args = vec!["ci", "--plan"];
            args.extend(&only);
            let mut cmd = xtask(&args);
            cmd.env("GITHUB_ACTIONS", "true")
                .env("GITHUB_EVENT_NAME", s["event"].as_str().unwrap())
                .env("GITHUB_REF", s["ref"].as_str().unwrap())
                .env("GITHUB_EVENT_PATH", &payload)
                .env("GITHUB_OUTPUT", root.join("github-output"));
            let r = run(cmd);
            let what = format!("{} on {} {} {only:?}", s["workflow"], s["event"], s["ref"]);
            assert_eq!(r.code, 0, "{what}: {}", r.stderr);
            planned.push(what);
        }
    }
    // The rows that failed on GitHub before: a manual performance run, and every deploy stage of a release.
    let has = |w: &str, e: &str, only: &str| planned.iter().any(|p| p.contains(w) && p.contains(e) && p.contains(only));
    assert!(has("performance.yml", "workflow_dispatch", "\"perf\""), "{planned:#?}");
    assert!(has("build-and-deploy.yml", "refs/tags/v1.2.3", "\"deploy\""), "{planned:#?}");
    assert!(!planned.iter().any(|p| p.contains("-rc")), "pre-release tags start no run: {planned:#?}");
    assert!(planned.len() >= 30, "{} plans", planned.len());
}
