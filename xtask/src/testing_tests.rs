use super::*;
use crate::component::Workspace;
use std::fs;

fn workspace() -> (tempfile::TempDir, Workspace) {
    crate::testkit::workspace(&[
        (
            "components/storage/pyproject.toml",
            "[project]\nname = \"mlops-storage\"\n[project.optional-dependencies]\ntest = [\"hypothesis\"]\n",
        ),
        ("components/storage/tests/", ""),
        (
            "components/cdc/pyproject.toml",
            "[project]\nname = \"mlops-cdc\"\ndependencies = [\"mlops-storage\"]\n[tool.xtask]\ntests = \"checks\"\n",
        ),
        ("components/cdc/checks/", ""),
    ])
}

#[test]
fn plan_runs_pytest_in_each_components_venv_with_junit_output() {
    let (_dir, ws) = workspace();
    let comps = ws.select(&[]).unwrap();
    let tasks = plan(&ws, &comps, None, &[]).unwrap();
    let lines: Vec<String> = tasks.iter().map(|t| t.command_line(&ws.root)).collect();
    assert_eq!(
        lines,
        [
            "(cd components/cdc && ../../target/venvs/cdc/bin/python -m pytest checks -ra --junitxml=../../target/test-results/cdc.xml)",
            "(cd components/storage && ../../target/venvs/storage/bin/python -m pytest tests -ra --junitxml=../../target/test-results/storage.xml)",
        ]
    );
    assert_eq!(tasks[0].needs, ["cdc"]);
    fs::remove_dir(ws.root.join("components/cdc/checks")).unwrap();
    let without = plan(&ws, &comps[..1], None, &[]).unwrap();
    assert_eq!(without[0].args[..3], ["-m", "pytest", "-ra"], "no tests folder: pytest finds none and says so");
    assert_eq!(tasks[1].artifact.as_deref(), Some(ws.root.join("target/test-results/storage.xml").as_path()));
}

/// A workspace with the xtask's test files as named, each a module of the test binary.
fn with_tests(ws: &Workspace, files: &[&str]) {
    fs::create_dir_all(ws.root.join("xtask/tests")).unwrap();
    for f in files {
        fs::write(ws.root.join(format!("xtask/tests/{f}.rs")), "").unwrap();
    }
    let lib: String = files.iter().map(|f| format!("mod {f};\n")).collect();
    fs::write(ws.root.join("xtask/tests/lib.rs"), lib).unwrap();
}

#[test]
fn plan_adds_one_task_per_xtask_suite_first_keyed_by_what_it_reads() {
    let (_dir, ws) = workspace();
    with_tests(&ws, &["tidy", "floors", "real_images"]);
    let cargo = Path::new("/usr/bin/cargo");
    let comps = ws.select(&[]).unwrap();
    let tasks = plan(&ws, &comps, Some(cargo), &[]).unwrap();
    let ids: Vec<&str> = tasks.iter().map(|t| t.id.as_str()).collect();
    // Suites whose files are absent are left out; the unit tests always run.
    assert_eq!(ids, ["test:xtask:images", "test:xtask:unit", "test:xtask:tidy", "test:cdc", "test:storage"]);
    // With no service variables set and no services record (this machine's
    // may have both): the record is the workspace's own, which does not exist.
    let none =
        |k: &str| (k == crate::services::location::FILE_VAR).then(|| "target/xtask/no-services.json".to_string());
    let tasks = cargo_tests(&ws.root, &ws, cargo, &none).unwrap();
    let lines: Vec<String> = tasks.iter().map(|t| t.command_line(&ws.root)).collect();
    assert_eq!(
        lines,
        [
            "/usr/bin/cargo test -p xtask --quiet --test integration -- real_images:: --test-threads=6",
            "/usr/bin/cargo test -p xtask --quiet --bins",
            "/usr/bin/cargo test -p xtask --quiet --test integration -- floors:: tidy::",
        ]
    );
    let spec = |i: usize| tasks[i].cache.clone().unwrap();
    // Images: every component's image inputs and the services; tidy: the docs and the tree's names, no component.
    assert!(spec(0).files.contains(&"components/storage/".to_string()), "{:?}", spec(0).files);
    assert_eq!(spec(0).values, [("services".to_string(), String::new())]);
    assert!(spec(2).files.contains(&"docs/".to_string()) && spec(2).names == [""]);
    for i in 1..3 {
        assert!(!spec(i).files.iter().any(|f| f.starts_with("components/")), "{:?}", spec(i).files);
        assert!(spec(i).values.is_empty() && spec(i).files.contains(&"xtask/src/".to_string()));
    }
}

#[test]
fn a_test_file_in_no_suite_or_in_two_fails_the_plan_naming_the_fix() {
    let (_dir, ws) = workspace();
    with_tests(&ws, &["tidy", "canary_stage"]);
    let err = plan(&ws, &[], Some(Path::new("/usr/bin/cargo")), &[]).unwrap_err().to_string();
    assert_eq!(
        err,
        "xtask/tests/canary_stage.rs is in no test:xtask suite: add it to the suite whose inputs it reads in SUITES (xtask/src/suites.rs)"
    );
    assert!(crate::suites::check(&["tidy".into()]).is_ok());
}

#[test]
fn the_services_record_gives_cargo_test_its_variables_the_cluster_tests_and_its_key() {
    use crate::services::location::{Located, Why};
    use crate::services::state::{save_at, Record, State};
    let (_dir, ws) = workspace();
    with_tests(&ws, &["tidy", "deploy_stage"]);
    let me = crate::services::process::proc_of("me", std::process::id()).unwrap();
    let kube = Record { identity: "f33d".into(), processes: vec![me], ..Record::default() };
    let at = Located { path: ws.root.join("target/xtask/services.json"), why: Why::Override };
    save_at(&at, &State { format: 1, services: [("kube".to_string(), kube)].into() }).unwrap();
    // As `apply_to_env` leaves them: the record's variables in the environment.
    let var = |k: &str| match k {
        "XTASK_TEST_KUBECONFIG" => Some("/var/lib/xtask-kube/kubeconfig".to_string()),
        "XTASK_SERVICES_FILE" => Some("target/xtask/services.json".to_string()),
        _ => None,
    };
    let tasks = cargo_tests(&ws.root, &ws, Path::new("/usr/bin/cargo"), &var).unwrap();
    assert_eq!(
        tasks[0].command_line(&ws.root),
        "XTASK_TEST_KUBECONFIG=/var/lib/xtask-kube/kubeconfig /usr/bin/cargo test -p xtask --quiet --test integration -- deploy_stage:: --include-ignored"
    );
    // The cluster suite (kwok) reads the services, not the workspace's pins.
    let values = [("services".to_string(), "kube=f33d".to_string())];
    assert_eq!(tasks[0].cache.clone().unwrap().values, values);
    // The tidy suite uses no service: neither their variables nor their identities.
    let tidy = tasks.iter().find(|t| t.id == "test:xtask:tidy").unwrap();
    assert!(tidy.env.is_empty() && tidy.cache.clone().unwrap().values.is_empty());
    assert!(tidy.args.ends_with(&["--".into(), "tidy::".into(), "--include-ignored".into()]));
    let unit = tasks.iter().find(|t| t.id == "test:xtask:unit").unwrap();
    assert!(unit.args.ends_with(&["--bins".into(), "--".into(), "--include-ignored".into()]));
}

#[test]
fn env_spec_installs_component_with_extra_and_its_dependencies() {
    let (_dir, ws) = workspace();
    let cdc = EnvSpec::for_tests(&ws, ws.get("cdc").unwrap());
    assert_eq!(
        cdc.install,
        ["-e", "./components/cdc", "-e", "./components/storage", "pytest", "-c", "tools/python-tools.txt"]
    );
    let storage = EnvSpec::for_tests(&ws, ws.get("storage").unwrap());
    assert_eq!(storage.install[..2], ["-e", "./components/storage[test]"]);
    assert_eq!(storage.inputs.len(), 2);
}

#[test]
fn junit_counts_sum_suites() {
    let xml = r#"<?xml version="1.0"?><testsuites name="pytest tests"><testsuite name="pytest" errors="1" failures="2" skipped="3" tests="10" time="0.1"><testcase/></testsuite></testsuites>"#;
    assert_eq!(junit_counts(xml), Some(Counts { passed: 4, failed: 3, skipped: 3 }));
    assert_eq!(junit_counts("<testsuites></testsuites>"), None);
    assert_eq!(junit_counts("partial <testsui"), None);
}

#[test]
fn cargo_counts_sum_result_lines() {
    let out = "running 3 tests\n...\ntest result: ok. 3 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.00s\n\ntest result: FAILED. 5 passed; 2 failed; 0 ignored; 0 measured; 0 filtered out\n";
    assert_eq!(cargo_counts(out), Some(Counts { passed: 8, failed: 2, skipped: 1 }));
    assert_eq!(cargo_counts("error: could not compile"), None);
}

/// A suite runs the one test binary filtered to its modules: the other
/// modules' tests are "filtered out", neither run nor skipped; its cluster
/// tests left out are "ignored", so skipped.
#[test]
fn a_suite_of_the_filtered_test_binary_counts_only_its_own_tests() {
    let out = "running 12 tests\n....iiiiiiii\ntest result: ok. 4 passed; 0 failed; 8 ignored; 0 measured; 128 filtered out; finished in 1.20s\n";
    assert_eq!(cargo_counts(out), Some(Counts { passed: 4, failed: 0, skipped: 8 }));
}

#[test]
fn pytest_arguments_follow_the_stage_own() {
    let (_dir, ws) = workspace();
    let comps = ws.select(&["storage".into()]).unwrap();
    let tasks = plan(&ws, &comps, None, &["-k".into(), "round trip".into()]).unwrap();
    assert_eq!(
        tasks[0].command_line(&ws.root),
        "(cd components/storage && ../../target/venvs/storage/bin/python -m pytest tests -ra --junitxml=../../target/test-results/storage.xml -k 'round trip')"
    );
}

#[test]
fn cluster_tests_run_with_a_recorded_or_named_cluster_or_on_ci_and_are_skipped_otherwise() {
    assert!(include_cluster_tests(true, None, None), "`services up` recorded a running cluster");
    assert!(include_cluster_tests(false, Some("/var/lib/xtask-kube/kubeconfig"), None));
    assert!(include_cluster_tests(false, None, Some("true")));
    assert!(!include_cluster_tests(false, None, None));
    assert!(!include_cluster_tests(false, Some(""), Some("false")));
}

#[test]
fn the_cluster_variables_are_part_of_the_xtask_tests_key() {
    for var in SERVICE_TEST_ENV.iter().chain(&["CI"]) {
        assert!(CARGO_TEST_ENV.contains(var), "{var} changes what test:xtask does but is not in its key");
    }
}

#[test]
fn ignored_tests_count_as_skipped() {
    let out = "test result: ok. 236 passed; 0 failed; 7 ignored; 0 measured; 0 filtered out; finished in 3.2s\n";
    assert_eq!(cargo_counts(out), Some(Counts { passed: 236, failed: 0, skipped: 7 }));
}
