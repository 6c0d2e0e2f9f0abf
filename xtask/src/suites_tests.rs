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
        let builds = s.components.iter().any(|p| matches!(p, Part::Images | Part::Pinned));
        assert_eq!(builds, ["node", "images"].contains(&s.name), "{}", s.name);
        assert!(!s.reads.iter().any(|r| r.starts_with("components/")), "{}: components come from `components`", s.name);
    }
    let tidy = SUITES.iter().find(|s| s.name == "tidy").unwrap();
    assert!(tidy.components.is_empty() && !tidy.services);
}

#[test]
fn targets_name_the_present_files_or_the_binary() {
    let unit = SUITES.iter().find(|s| s.files.is_empty()).unwrap();
    assert_eq!(targets(unit, &[]), ["--bins"]);
    let tidy = SUITES.iter().find(|s| s.name == "tidy").unwrap();
    assert_eq!(targets(tidy, &["tidy".into()]), ["--test", "tidy"]);
    assert!(targets(tidy, &[]).is_empty());
}

#[test]
fn the_node_suite_reads_the_pins_or_without_them_what_it_builds_them_from() {
    let dir = tempfile::tempdir().unwrap();
    let c = dir.path().join("components/app");
    std::fs::create_dir_all(&c).unwrap();
    std::fs::write(c.join("pyproject.toml"), "[project]\nname = \"app\"\n").unwrap();
    std::fs::write(c.join("Dockerfile"), "FROM scratch\n").unwrap();
    let ws = Workspace::discover(dir.path()).unwrap();
    let smoke = SUITES.iter().find(|s| s.name == "node").unwrap();
    assert!(files(&ws, smoke, false).contains(&"components/app/".to_string()));
    let pinned = files(&ws, smoke, true);
    assert!(!pinned.contains(&"components/app/".to_string()), "{pinned:?}");
    assert!(pinned.contains(&"components/app/Dockerfile".to_string()) && pinned.contains(&"deploy/".to_string()));
    assert_eq!(pins(dir.path()), None);
    let file = dir.path().join(crate::manifests::render::pinned_file(PINNED_ENV));
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, "images: []\n").unwrap();
    assert!(pins(dir.path()).is_some());
}
