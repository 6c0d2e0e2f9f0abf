use super::*;

#[test]
fn every_suite_has_a_distinct_name_and_no_test_file_is_in_two() {
    let mut names: Vec<&str> = SUITES.iter().map(|s| s.name).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), SUITES.len());
    let all: Vec<String> = SUITES.iter().flat_map(|s| s.files.iter().map(|f| f.to_string())).collect();
    check(&all).unwrap();
    assert_eq!(SUITES.iter().filter(|s| s.files.is_empty()).count(), 1, "one suite is the unit tests");
}

#[test]
fn a_file_in_two_suites_is_named_with_both() {
    // The table itself never holds one (above); the check reads any table's files the same way.
    let err = check(&["nowhere".into(), "tidy".into()]).unwrap_err().to_string();
    assert!(err.starts_with("xtask/tests/nowhere.rs is in no test:xtask suite"), "{err}");
    let err = check(&["a".into(), "b".into()]).unwrap_err().to_string();
    assert!(err.starts_with("xtask/tests/a.rs, xtask/tests/b.rs are in no test:xtask suite"), "{err}");
}

#[test]
fn only_suites_that_build_or_deploy_components_read_their_sources() {
    for s in SUITES {
        let builds = s.components.iter().any(|p| matches!(p, Part::Images));
        assert_eq!(builds, ["node", "images"].contains(&s.name), "{}", s.name);
        assert!(!s.reads.iter().any(|r| r.starts_with("components/")), "{}: components come from `components`", s.name);
    }
    let tidy = SUITES.iter().find(|s| s.name == "tidy").unwrap();
    assert!(tidy.components.is_empty() && !tidy.services);
}

#[test]
fn targets_filter_the_test_binary_to_the_present_modules_or_name_the_unit_tests() {
    let unit = SUITES.iter().find(|s| s.files.is_empty()).unwrap();
    assert_eq!(targets(unit, &[]), (vec!["--bins".to_string()], vec![]));
    let tidy = SUITES.iter().find(|s| s.name == "tidy").unwrap();
    let (cargo, filters) = targets(tidy, &["tidy".into(), "floors".into(), "canary".into()]);
    assert_eq!(
        (cargo, filters),
        (vec!["--test".into(), "integration".into()], vec!["floors::".into(), "tidy::".into()])
    );
    assert_eq!(targets(tidy, &["tidy".into()]).1, ["tidy::"]);
    assert_eq!(targets(tidy, &[]), (vec![], vec![]));
    let node = SUITES.iter().find(|s| s.name == "node").unwrap();
    assert_eq!(targets(node, &["canary".into()]).1, ["canary::", "--test-threads=10"]);
}

#[test]
fn a_test_file_that_is_no_module_of_the_binary_is_named_with_the_line_to_add() {
    let dir = tempfile::tempdir().unwrap();
    let tests = dir.path().join("xtask/tests");
    assert!(test_files(dir.path()).unwrap().is_empty(), "no tests folder: no tests");
    std::fs::create_dir_all(tests.join("support")).unwrap();
    for f in ["lib.rs", "tidy.rs", "canary.rs", "floors.rs", "support/mod.rs"] {
        std::fs::write(tests.join(f), "").unwrap();
    }
    std::fs::write(tests.join("lib.rs"), "//! the root\n\nmod support;\n\nmod tidy;\n").unwrap();
    let err = test_files(dir.path()).unwrap_err();
    assert_eq!(crate::error::exit_code(&err), 2);
    assert_eq!(
        err.to_string(),
        "xtask/tests/canary.rs, xtask/tests/floors.rs are no module of the test binary, so never run: add `mod canary; mod floors;` to xtask/tests/lib.rs"
    );
    std::fs::write(tests.join("lib.rs"), "mod support;\nmod canary;\nmod floors;\nmod tidy;\n").unwrap();
    assert_eq!(test_files(dir.path()).unwrap(), ["canary", "floors", "tidy"]);
}

#[test]
fn the_node_suite_reads_what_the_shared_platform_s_images_are_built_from() {
    let dir = tempfile::tempdir().unwrap();
    let c = dir.path().join("components/app");
    std::fs::create_dir_all(&c).unwrap();
    std::fs::write(c.join("pyproject.toml"), "[project]\nname = \"app\"\n").unwrap();
    std::fs::write(c.join("Dockerfile"), "FROM scratch\n").unwrap();
    let ws = Workspace::discover(dir.path()).unwrap();
    let node = SUITES.iter().find(|s| s.name == "node").unwrap();
    let files = files(&ws, node);
    // The tutorial spells out the push command the shared platform fixture runs.
    for f in ["components/app/", "components/app/Dockerfile", "deploy/", "docs/tutorial/first-run.md"] {
        assert!(files.contains(&f.to_string()), "{f}: {files:?}");
    }
}
