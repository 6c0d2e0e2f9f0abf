use super::*;

/// storage <- cdc, storage <- spark, storage <-(tests only)- client.
fn workspace() -> (tempfile::TempDir, Workspace) {
    crate::testkit::workspace(&[
        ("components/storage/pyproject.toml", "[project]\nname = \"mlops-storage\"\n"),
        ("components/cdc/pyproject.toml", "[project]\nname = \"mlops-cdc\"\ndependencies = [\"mlops-storage\"]\n"),
        (
            "components/spark/pyproject.toml",
            "[project]\nname = \"mlops-spark\"\ndependencies = [\"mlops-storage>=0.1\"]\n",
        ),
        (
            "components/client/pyproject.toml",
            "[project]\nname = \"mlops-client\"\n[project.optional-dependencies]\ntest = [\"mlops-storage\"]\n",
        ),
    ])
}

fn names(a: &Affected) -> Vec<&str> {
    a.components.iter().map(String::as_str).collect()
}

fn changed(paths: &[&str]) -> Vec<String> {
    paths.iter().map(|p| p.to_string()).collect()
}

#[test]
fn a_leaf_change_affects_only_the_leaf() {
    let (_d, ws) = workspace();
    let a = affected(&ws, &changed(&["components/client/src/mlops_client/cli.py"]), true);
    assert_eq!(names(&a), ["client"]);
    assert!(!a.shared && !a.outside);
}

#[test]
fn a_dependency_change_affects_its_dependents() {
    let (_d, ws) = workspace();
    let change = changed(&["components/storage/src/mlops_storage/store.py"]);
    assert_eq!(names(&affected(&ws, &change, true)), ["cdc", "client", "spark", "storage"]);
    // client needs storage only for its tests.
    assert_eq!(names(&affected(&ws, &change, false)), ["cdc", "spark", "storage"]);
}

#[test]
fn shared_configuration_affects_everything() {
    let (_d, ws) = workspace();
    for path in ["tools/python-tools.txt", "Cargo.lock", "xtask/src/main.rs", ".cargo/config.toml"] {
        let a = affected(&ws, &changed(&[path]), false);
        assert_eq!(names(&a), ["cdc", "client", "spark", "storage"], "{path}");
        assert!(a.shared && a.outside);
    }
}

#[test]
fn docs_and_unknown_folders_affect_no_component() {
    let (_d, ws) = workspace();
    let a = affected(&ws, &changed(&["docs/ci-cd.md", "components/notes.txt", "components/scratch/x.py"]), true);
    assert!(a.components.is_empty());
    assert!(a.outside && !a.shared);
    assert_eq!(affected(&ws, &[], true), Affected::default());
}

#[test]
fn the_base_defaults_to_the_pull_requests_then_origin_main_then_main() {
    assert_eq!(default_base(Some("release"), Some("abc123"), true), "abc123");
    assert_eq!(default_base(Some("release"), None, true), "origin/release");
    assert_eq!(default_base(Some(""), None, true), "origin/main");
    assert_eq!(default_base(None, None, false), "main");
}

#[test]
fn the_fetch_hint_names_the_missing_ref() {
    assert_eq!(fetch_hint("origin/main"), "git fetch --no-tags origin +refs/heads/main:refs/remotes/origin/main");
    assert_eq!(fetch_hint("abc123"), "git fetch --no-tags origin abc123");
}
