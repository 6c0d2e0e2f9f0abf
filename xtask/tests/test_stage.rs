//! The built binary against fixture monorepos: `test`, `components`, exit codes.

use crate::support;

use support::Repo;

#[test]
fn passing_component_writes_junit_and_closes_with_counts() {
    let repo = Repo::new();
    repo.passing("alpha");
    let run = repo.run(&["test"]);
    assert_eq!(run.code, 0);
    assert_eq!(run.last_line(), "2 passed, 0 failed, 0 skipped");
    // The installer's own chatter stays in the task's log.
    assert!(!run.stderr.contains("Using Python"), "{}", run.stderr);
    // A passing task's output is printed only with --verbose.
    assert!(run.stdout.contains("\ntest:alpha passed in"), "{}", run.stdout);
    assert!(!run.stdout.contains("──── test:alpha") && !run.stdout.contains("2 passed in"), "{}", run.stdout);
    let junit = repo.read("target/test-results/alpha.xml");
    assert!(junit.contains("tests=\"2\""), "{junit}");
    let report: serde_json::Value = serde_json::from_str(&repo.read("target/xtask/report.json")).unwrap();
    assert_eq!(report["stage"], "test");
    assert_eq!(report["ok"], true);
    assert_eq!(report["tasks"][0]["outcome"]["result"], "passed");
    assert_eq!(report["tasks"][0]["counts"]["passed"], 2);

    // A second run reuses the environment; a changed pyproject rebuilds it.
    assert_eq!(repo.run(&["test", "alpha"]).code, 0);
    assert!(repo.read("target/xtask/logs/test-alpha.log").contains("environment target/venvs/alpha is up to date"));
    let pyproject = repo.read("components/alpha/pyproject.toml");
    repo.write("components/alpha/pyproject.toml", &format!("{pyproject}description = \"changed\"\n"));
    assert_eq!(repo.run(&["test", "alpha"]).code, 0);
    assert!(repo.read("target/xtask/logs/test-alpha.log").contains("building environment target/venvs/alpha"));
}

#[test]
fn failing_and_empty_components_fail_with_their_own_messages() {
    let repo = Repo::new();
    repo.passing("alpha");
    repo.failing("broken");
    repo.component("empty", &[], &[]);
    let run = repo.run(&["test", "-j", "2"]);
    assert_eq!(run.code, 1);
    // 2 + 1 tests passed; 1 test failed plus one component with no tests.
    assert_eq!(run.last_line(), "3 passed, 2 failed, 0 skipped");
    assert!(run.stdout.contains("planted failure"));
    assert!(run.stdout.contains("test:empty: no tests collected: a component without tests is a defect"));
    // Failures come last in the summary.
    let summary = &run.stdout[run.stdout.find("summary of test").unwrap()..];
    let (alpha, broken) = (summary.find("test:alpha").unwrap(), summary.find("test:broken").unwrap());
    assert!(alpha < broken, "{summary}");
    assert!(repo.path("target/test-results/broken.xml").exists());
}

#[test]
fn fail_fast_stops_starting_tasks() {
    let repo = Repo::new();
    repo.failing("a_broken");
    repo.passing("b_fine");
    // A result left by an earlier run is not this run's result.
    repo.write("target/test-results/b_fine.xml", "<testsuites><testsuite tests=\"7\"></testsuite></testsuites>");
    let run = repo.run(&["test", "--fail-fast", "-j", "1"]);
    assert_eq!(run.code, 1);
    assert!(run.stdout.contains("test:b_fine    not run       -       -        -"), "{}", run.stdout);
    assert!(run.stdout.contains("  test:b_fine: not run: --fail-fast: test:a_broken did not pass\n"), "{}", run.stdout);
    // The closing line counts tests; a suite that never ran is not "1 skipped".
    assert_eq!(run.last_line(), "1 passed, 1 failed, 0 skipped");
    assert!(!repo.path("target/venvs/b_fine").exists());
    assert!(!repo.path("target/test-results/b_fine.xml").exists());
}

#[test]
fn bad_flags_and_a_bad_root_are_usage_errors() {
    let repo = Repo::new();
    repo.passing("alpha");
    let run = repo.run(&["test", "-j", "0"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("invalid value '0' for '--jobs <N>': must be at least 1"), "{}", run.stderr);
    let run = repo.run(&["--root", "/nonexistent/monorepo", "components"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("--root /nonexistent/monorepo cannot be used"));
    let empty = tempfile::tempdir().unwrap();
    let run = repo.run(&["--root", empty.path().to_str().unwrap(), "components"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("has no components/ folder: pass the monorepo root"));
}

#[test]
fn unknown_component_lists_the_known_ones() {
    let repo = Repo::new();
    repo.passing("alpha");
    repo.passing("beta");
    let run = repo.run(&["test", "gamma"]);
    assert_eq!(run.code, 2);
    assert_eq!(run.stderr.trim(), "error: unknown component `gamma`: known components are alpha, beta");
}

#[test]
fn folder_without_pyproject_is_noted_or_refused_when_named() {
    let repo = Repo::new();
    repo.passing("alpha");
    repo.write("components/notes/README.md", "not a component\n");
    let run = repo.run(&["components"]);
    assert_eq!(run.code, 0);
    assert!(run.stderr.contains("note: components/notes has no pyproject.toml: not a component, skipped"));
    let run = repo.run(&["test", "notes"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("components/notes has no pyproject.toml, so it is not a component"));
}

#[test]
fn malformed_pyproject_and_cycles_are_bad_input() {
    let repo = Repo::new();
    repo.write("components/bad/pyproject.toml", "[project]\nname = \"bad\"\nversion = 1.0.0\n");
    let run = repo.run(&["test"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.starts_with("error: malformed components/bad/pyproject.toml line 3:"), "{}", run.stderr);

    let repo = Repo::new();
    repo.component("a", &["fx-b"], &[]);
    repo.component("b", &["fx-a"], &[]);
    let run = repo.run(&["components"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("dependency cycle between components: a -> b -> a"), "{}", run.stderr);
}

#[test]
fn dry_run_prints_exact_commands_and_runs_nothing() {
    let repo = Repo::new();
    repo.passing("alpha");
    let run = repo.run(&["test", "--dry-run"]);
    assert_eq!(run.code, 0);
    assert!(run.stdout.contains("# build target/venvs/alpha"));
    assert!(run.stdout.contains(
        "(cd components/alpha && ../../target/venvs/alpha/bin/python -m pytest tests -ra --junitxml=../../target/test-results/alpha.xml)"
    ));
    assert!(!repo.path("target/venvs").exists());
    assert!(!repo.path("target/test-results").exists());

    let run = repo.run(&["test", "--dry-run", "--json"]);
    let plan: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(plan["stage"], "test");
    assert_eq!(plan["prepare"][0]["name"], "alpha");
    assert_eq!(plan["prepare"][0]["fresh"], false);
    assert_eq!(plan["tasks"][0]["id"], "test:alpha");
    assert_eq!(
        plan["tasks"][0]["artifact"].as_str().unwrap(),
        repo.path("target/test-results/alpha.xml").to_str().unwrap()
    );
}

#[test]
fn json_prints_the_report_on_stdout() {
    let repo = Repo::new();
    repo.failing("broken");
    let run = repo.run(&["test", "--json"]);
    assert_eq!(run.code, 1);
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(report["ok"], false);
    assert_eq!(report["totals"]["failed"], 1);
    assert_eq!(report["tasks"][0]["outcome"]["result"], "failed");
    assert!(run.stderr.contains("1 passed, 1 failed, 0 skipped"));
}

#[test]
fn github_actions_gets_groups_and_a_step_summary() {
    let repo = Repo::new();
    repo.passing("alpha");
    let summary = repo.path("summary.md");
    let mut cmd = repo.command(&["test"]);
    cmd.env("GITHUB_ACTIONS", "true").env("GITHUB_STEP_SUMMARY", &summary);
    let run = support::run(cmd);
    assert_eq!(run.code, 0);
    assert!(run.stdout.contains("::group::test:alpha passed in"));
    assert!(run.stdout.contains("::endgroup::"));
    let md = std::fs::read_to_string(summary).unwrap();
    assert!(md.contains("| test:alpha | ✅ passed | 2 | 0 | 0 |"), "{md}");
    // The run's trace id, once, where a GitHub user finds it.
    assert_eq!(md.matches("trace of `cargo xtask test`: `").count(), 1, "{md}");
}

#[test]
fn components_table_and_matrix_json() {
    let repo = Repo::new();
    repo.passing("storage");
    repo.component("cdc", &["fx-storage"], &[]);
    repo.write("components/storage/Dockerfile", "FROM scratch\n");
    repo.write("components/storage/k8s/kustomization.yaml", "resources: []\n");
    repo.write(
        "components/client/pyproject.toml",
        "[project]\nname = \"fx-client\"\n[project.optional-dependencies]\ntest = [\"fx-storage\"]\n",
    );
    let run = repo.run(&["components"]);
    assert_eq!(
        run.stdout,
        "name     language  depends on  tests also need  image  manifests\n\
         cdc      python    storage     -                no     no\n\
         client   python    -           storage          no     no\n\
         storage  python    -           -                yes    yes\n"
    );
    let run = repo.run(&["components", "--json"]);
    let list: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(list[0]["name"], "cdc");
    assert_eq!(list[0]["depends_on"][0], "storage");
    assert_eq!(list[1]["test_depends_on"][0], "storage");
    assert_eq!(list[2]["has_image"], true);
}

#[test]
fn pytest_arguments_after_the_separator_and_a_component_named_by_its_folder() {
    let repo = Repo::new();
    repo.passing("alpha");
    let run = repo.run(&["test", "components/alpha/", "-v", "--", "-k", "test_answer"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("──── test:alpha passed in"), "--verbose prints the output: {}", run.stdout);
    assert!(run.stdout.contains("1 passed, 1 deselected"), "{}", run.stdout);
    assert_eq!(run.last_line(), "1 passed, 0 failed, 0 skipped");
    let run = repo.run(&["test", "--dry-run", "--", "-x"]);
    assert!(run.stdout.contains("--junitxml=../../target/test-results/alpha.xml -x"), "{}", run.stdout);
}

/// Every task name the summary prints can be selected the same way: `xtask`
/// is the Rust workspace (`test:xtask:<suite>`, `lint:xtask`, `fmt:xtask`).
#[test]
fn the_xtask_is_selected_by_the_name_the_summary_gives_it() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let xtask = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_xtask"))
            .arg("--root")
            .arg(&root)
            .args(args)
            .env_remove("XTASK_TEST_KUBECONFIG")
            .env_remove("CI")
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, plan, err) = xtask(&["test", "xtask", "--dry-run"]);
    assert_eq!(code, Some(0), "{err}");
    // One task per suite of the xtask's tests, and nothing else.
    let lines: Vec<&str> = plan.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(lines.len(), 8, "{plan}");
    assert!(lines.iter().all(|l| l.contains("cargo test -p xtask --quiet")), "{plan}");
    let (code, plan, err) = xtask(&["test", "xtask", "storage", "--dry-run"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(plan.contains("pytest") && plan.contains("test -p xtask --quiet --bins"), "{plan}");
    let (code, plan, err) = xtask(&["lint", "xtask", "--dry-run"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(plan.contains("clippy") && !plan.contains("flake8"), "{plan}");
    let (code, _, err) = xtask(&["image", "build", "xtask", "--dry-run"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("the xtask has no image"), "{err}");
}

/// doctor reports every service `services up` starts, the registry and the
/// base images included, up or down with the command that starts it.
#[test]
fn doctor_reports_the_registry_and_the_base_images() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_xtask"))
        .arg("--root")
        .arg(&root)
        .arg("doctor")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    for service in ["docker", "registry", "base-images", "buildx", "kube"] {
        let line = stdout
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{service} ")))
            .unwrap_or_else(|| panic!("no {service} line:\n{stdout}"));
        assert!(line.contains(" up ") || line.contains(&format!("cargo xtask services up {service}")), "{line}");
    }
}
