use super::*;
use crate::plan::{CacheSpec, ExitPolicy, Task, WHOLE_TREE};
use std::collections::BTreeMap;
use std::path::Path;

fn task(root: &Path, files: &[&str], env: &[&str]) -> Task {
    Task {
        id: "test:storage".into(),
        stage: "test",
        component: "storage".into(),
        program: root.join("target/venvs/storage/bin/python"),
        args: vec!["-m".into(), "pytest".into(), "tests".into()],
        env: Vec::new(),
        cwd: root.join("components/storage"),
        needs: vec!["storage".into()],
        after: None,
        artifact: None,
        exit: ExitPolicy::Pytest,
        cache: Some(CacheSpec {
            files: files.iter().map(|f| f.to_string()).collect(),
            env: env.iter().map(|e| e.to_string()).collect(),
            values: Vec::new(),
            names: Vec::new(),
        }),
    }
}

fn tree(files: &[(&str, &str)]) -> Tree {
    Tree::from_hashes(files.iter().map(|(p, h)| (p.to_string(), h.to_string())).collect::<BTreeMap<_, _>>())
}

const FILES: &[(&str, &str)] = &[
    ("components/storage/src/a.py", "h-a"),
    ("components/storage/tests/test_a.py", "h-t"),
    ("components/client/src/c.py", "h-c"),
    ("tools/python-tools.txt", "h-pins"),
    ("README.md", "h-readme"),
];

fn key_of(root: &Path, t: &Task, tr: &Tree, tools: &[(String, String)], env: &[(&str, &str)]) -> String {
    let env: BTreeMap<String, String> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let lookup = |v: &str| env.get(v).cloned();
    key(&inputs(t, root, tr, tools, &lookup, &|| "rustc 1.0".into()).unwrap())
}

fn tools(stamp: &str) -> Vec<(String, String)> {
    vec![("storage".to_string(), stamp.to_string())]
}

#[test]
fn same_inputs_give_the_same_key_from_any_checkout_path() {
    let spec = ["components/storage/", "tools/"];
    let (a, b) = (Path::new("/home/dev/mono"), Path::new("/tmp/ci/checkout"));
    let tr = tree(FILES);
    let ka = key_of(a, &task(a, &spec, &["TZ"]), &tr, &tools("s1"), &[("TZ", "UTC")]);
    let kb = key_of(b, &task(b, &spec, &["TZ"]), &tr, &tools("s1"), &[("TZ", "UTC")]);
    assert_eq!(ka, kb);
    assert_eq!(ka, key_of(a, &task(a, &spec, &["TZ"]), &tr, &tools("s1"), &[("TZ", "UTC")]), "stable");
}

#[test]
fn every_kind_of_input_changes_the_key() {
    let root = Path::new("/r");
    let spec = ["components/storage/", "tools/"];
    let t = task(root, &spec, &["TZ"]);
    let base = key_of(root, &t, &tree(FILES), &tools("s1"), &[]);
    let with = |path: &str, hash: Option<&str>| {
        let mut files: Vec<(&str, &str)> = FILES.iter().copied().filter(|(p, _)| *p != path).collect();
        if let Some(h) = hash {
            files.push((path, h));
        }
        key_of(root, &t, &tree(&files), &tools("s1"), &[])
    };
    assert_ne!(with("components/storage/src/a.py", Some("h-a2")), base, "an edited file");
    assert_ne!(with("components/storage/src/new.py", Some("h-n")), base, "a new file");
    assert_ne!(with("components/storage/tests/test_a.py", None), base, "a deleted file");
    assert_ne!(with("tools/python-tools.txt", Some("h-pins2")), base, "the shared pins");
    assert_eq!(with("components/client/src/c.py", Some("h-c2")), base, "another component's file");
    assert_eq!(with("README.md", Some("h-readme2")), base, "an undeclared file");
    assert_ne!(key_of(root, &t, &tree(FILES), &tools("s2"), &[]), base, "the environment's stamp");
    assert_ne!(key_of(root, &t, &tree(FILES), &tools("s1"), &[("TZ", "UTC")]), base, "a declared variable");
    assert_eq!(key_of(root, &t, &tree(FILES), &tools("s1"), &[("OTHER", "1")]), base, "an undeclared variable");
    let mut args = t.clone();
    args.args.push("-x".into());
    assert_ne!(key_of(root, &args, &tree(FILES), &tools("s1"), &[]), base, "the command line");
    let mut valued = t.clone();
    valued.cache.as_mut().unwrap().values.push(("base-image".into(), "sha256:1".into()));
    assert_ne!(key_of(root, &valued, &tree(FILES), &tools("s1"), &[]), base, "a declared value");
    // A file moved between two declared folders is a different input.
    let renamed = with("components/storage/src/a.py", None);
    assert_ne!(renamed, base);
}

#[test]
fn cargo_tasks_key_the_toolchain_and_the_whole_tree() {
    let root = Path::new("/r");
    let mut t = task(root, &[WHOLE_TREE], &[]);
    t.program = "/home/u/.cargo/bin/cargo".into();
    let env = |_: &str| None;
    let with = |rustc: &str, tr: &Tree| key(&inputs(&t, root, tr, &[], &env, &|| rustc.to_string()).unwrap());
    let base = with("rustc 1.90", &tree(FILES));
    assert_ne!(with("rustc 1.91", &tree(FILES)), base);
    let mut files = FILES.to_vec();
    files[4] = ("README.md", "h-readme2");
    assert_ne!(with("rustc 1.90", &tree(&files)), base, "the xtask's tidy tests read the docs");
}

#[test]
fn a_task_without_a_cache_spec_has_no_key() {
    let root = Path::new("/r");
    let mut t = task(root, &[], &[]);
    t.cache = None;
    assert!(inputs(&t, root, &tree(FILES), &[], &|_| None, &String::new).is_none());
}

#[test]
fn diff_names_what_changed() {
    let old =
        vec![("file:a".to_string(), "1".to_string()), ("file:gone".into(), "2".into()), ("tool:x".into(), "3".into())];
    let new =
        vec![("file:a".to_string(), "9".to_string()), ("file:new".into(), "4".into()), ("tool:x".into(), "3".into())];
    assert_eq!(diff(&old, &new), ["changed  file:a", "added    file:new", "removed  file:gone"]);
    assert!(diff(&new, &new).is_empty());
}

#[test]
fn declared_inputs_cover_folders_files_and_everything() {
    use crate::inputs::covers;
    assert!(covers("components/storage/", "components/storage/src/a.py"));
    assert!(!covers("components/storage/", "components/storage-extra/a.py"));
    assert!(covers("Cargo.toml", "Cargo.toml"));
    assert!(!covers("Cargo.toml", "Cargo.toml.bak"));
    assert!(covers("xtask", "xtask/src/main.rs"));
    assert!(covers(WHOLE_TREE, "anything/at/all"));
}

#[test]
fn a_names_input_changes_with_a_file_added_or_removed_not_with_its_contents() {
    let root = Path::new("/r");
    let mut t = task(root, &["README.md"], &[]);
    t.cache.as_mut().unwrap().names = vec![WHOLE_TREE.into()];
    let base = key_of(root, &t, &tree(FILES), &[], &[]);
    let mut edited: Vec<(&str, &str)> = FILES.to_vec();
    edited[2].1 = "h-c2";
    assert_eq!(key_of(root, &t, &tree(&edited), &[], &[]), base, "a component's contents are not read");
    edited.push(("components/client/src/new.py", "h-n"));
    assert_ne!(key_of(root, &t, &tree(&edited), &[], &[]), base, "a new path is");
    assert_ne!(key_of(root, &t, &tree(&FILES[1..]), &[], &[]), base, "so is a removed one");
}
