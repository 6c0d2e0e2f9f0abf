use super::*;
use std::fs;

/// A monorepo in a temp dir with the given (folder, pyproject) pairs.
fn repo(components: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, pyproject) in components {
        let c = dir.path().join("components").join(name);
        fs::create_dir_all(&c).unwrap();
        if !pyproject.is_empty() {
            fs::write(c.join("pyproject.toml"), pyproject).unwrap();
        }
    }
    dir
}

fn project(name: &str, deps: &[&str]) -> String {
    let deps: Vec<String> = deps.iter().map(|d| format!("\"{d}\"")).collect();
    format!("[project]\nname = \"{name}\"\ndependencies = [{}]\n", deps.join(", "))
}

fn error_of(root: &Path) -> (String, i32) {
    let e = Workspace::discover(root).err().expect("discovery fails");
    (format!("{e:#}"), crate::error::exit_code(&e))
}

#[test]
fn discovers_components_and_maps_dependencies_by_project_name() {
    let dir = repo(&[
        ("storage", &project("mlops-storage", &["pyarrow>=15"])),
        ("cdc", &project("mlops-cdc", &["MLOps_Storage >= 0.1", "requests"])),
        ("notes", ""),
    ]);
    let ws = Workspace::discover(dir.path()).unwrap();
    let names: Vec<_> = ws.components.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["cdc", "storage"]);
    assert_eq!(ws.get("cdc").unwrap().depends_on, ["storage"]);
    assert!(ws.get("storage").unwrap().depends_on.is_empty());
    assert_eq!(ws.skipped, ["notes"]);
}

#[test]
fn conventions_and_overrides() {
    let mut spark = project("mlops-spark", &[]);
    spark += "[tool.xtask]\ntests = \"checks\"\nbase-image = \"local/jre\"\n";
    let dir = repo(&[("spark", &spark), ("plain", &project("plain", &[]))]);
    fs::write(dir.path().join("components/plain/Dockerfile"), "FROM x\n").unwrap();
    fs::create_dir(dir.path().join("components/plain/k8s")).unwrap();
    let ws = Workspace::discover(dir.path()).unwrap();
    let spark = ws.get("spark").unwrap();
    assert_eq!(spark.tests, Path::new("components/spark/checks"));
    assert_eq!(spark.base_image.as_deref(), Some("local/jre"));
    assert!(spark.dockerfile.is_none() && spark.manifests.is_none());
    let plain = ws.get("plain").unwrap();
    assert_eq!(plain.tests, Path::new("components/plain/tests"));
    assert_eq!(plain.dockerfile.as_deref(), Some(Path::new("components/plain/Dockerfile")));
    assert_eq!(plain.manifests.as_deref(), Some(Path::new("components/plain/k8s")));
}

#[test]
fn test_extra_dependencies_are_test_edges_and_in_the_closure() {
    let client = "[project]\nname = \"mlops-client\"\n[project.optional-dependencies]\ntest = [\"mlops-storage\"]\n";
    let dir =
        repo(&[("base", &project("base", &[])), ("storage", &project("mlops-storage", &["base"])), ("client", client)]);
    let ws = Workspace::discover(dir.path()).unwrap();
    let c = ws.get("client").unwrap();
    assert!(c.depends_on.is_empty());
    assert_eq!(c.test_depends_on, ["storage"]);
    assert_eq!(c.test_extra.as_deref(), Some("test"));
    let closure: Vec<_> = ws.test_closure(c).iter().map(|c| c.name.clone()).collect();
    assert_eq!(closure, ["base", "storage"]);
}

#[test]
fn a_cycle_is_an_error_naming_it() {
    let dir = repo(&[("a", &project("a", &["b"])), ("b", &project("b", &["c"])), ("c", &project("c", &["a"]))]);
    let (msg, code) = error_of(dir.path());
    assert!(msg.contains("dependency cycle between components: a -> b -> c -> a"), "{msg}");
    assert_eq!(code, 2);
}

#[test]
fn malformed_pyproject_names_file_and_line() {
    let dir = repo(&[("ok", &project("ok", &[])), ("bad", "[project]\nname = \"bad\"\ndependencies = [\n")]);
    let (msg, code) = error_of(dir.path());
    assert!(msg.starts_with("malformed components/bad/pyproject.toml line 3"), "{msg}");
    assert_eq!(code, 2);
}

#[test]
fn malformed_line_is_right_when_the_error_starts_a_line() {
    let dir = repo(&[("bad", "[project]\nname = \"bad\"\n=oops\n")]);
    let (msg, _) = error_of(dir.path());
    assert!(msg.starts_with("malformed components/bad/pyproject.toml line 3:"), "{msg}");
}

#[test]
fn unknown_xtask_key_and_missing_project_are_errors() {
    let dir = repo(&[("x", "[project]\nname = \"x\"\n[tool.xtask]\ntest-dir = \"t\"\n")]);
    let (msg, _) = error_of(dir.path());
    assert!(msg.contains("unknown field `test-dir`"), "{msg}");
    let dir = repo(&[("y", "[tool.other]\n")]);
    assert!(error_of(dir.path()).0.contains("has no [project] table"));
}

#[test]
fn select_reports_unknown_and_non_components() {
    let dir = repo(&[("storage", &project("s", &[])), ("cdc", &project("c", &[])), ("docs", "")]);
    let ws = Workspace::discover(dir.path()).unwrap();
    let e = ws.select(&["nope".into()]).unwrap_err();
    assert_eq!(format!("{e}"), "unknown component `nope`: known components are cdc, storage");
    assert_eq!(crate::error::exit_code(&e), 2);
    let e = ws.select(&["docs".into()]).unwrap_err();
    assert!(format!("{e}").contains("components/docs has no pyproject.toml"));
    let picked: Vec<_> = ws.select(&["storage".into(), "cdc".into()]).unwrap().iter().map(|c| c.name.clone()).collect();
    assert_eq!(picked, ["cdc", "storage"]);
}

#[test]
fn requirement_names_are_normalised() {
    assert_eq!(requirement_name("Foo.Bar[x]>=1; python_version>'3'"), "Foo.Bar");
    assert_eq!(requirement_name("pkg @ file:///x"), "pkg");
    assert_eq!(normalise("Foo__Bar.-baz"), "foo-bar-baz");
}

#[test]
fn two_components_with_one_project_name_are_refused() {
    let dir = repo(&[
        ("storage", &project("mlops-storage", &[])),
        ("storage2", &project("MLOps_Storage", &[])),
        ("cdc", &project("mlops-cdc", &["mlops-storage"])),
    ]);
    let (msg, code) = error_of(dir.path());
    assert_eq!(code, 2);
    assert!(msg.contains("components/storage and components/storage2 both have project name `MLOps_Storage`"), "{msg}");
}

#[test]
fn a_component_can_be_named_by_its_folder() {
    let dir = repo(&[("storage", &project("mlops-storage", &[])), ("cdc", &project("mlops-cdc", &[]))]);
    let root = dir.path().canonicalize().unwrap();
    let ws = Workspace::discover(&root).unwrap();
    let given = [
        root.join("components/storage/").display().to_string(),
        root.join("components/cdc/tests").display().to_string(),
    ];
    let names: Vec<_> = ws.select(&given).unwrap().iter().map(|c| c.name.clone()).collect();
    assert_eq!(names, ["cdc", "storage"]);
    let e = ws.select(&[root.join("README.md").display().to_string()]).err().unwrap();
    assert!(format!("{e:#}").starts_with("unknown component `"), "{e:#}");
}
