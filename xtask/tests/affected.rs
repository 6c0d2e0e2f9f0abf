//! `--affected` against a fixture monorepo under git: storage, cdc and spark
//! depending on it, client needing it for its tests only.

use crate::support;

use support::git as git_in;

use std::process::Command;
use support::Repo;

/// The fixture on `main`, committed, with a `feature` branch checked out.
fn monorepo() -> Repo {
    let repo = Repo::new();
    repo.write(".gitignore", "/target/\n__pycache__/\n");
    repo.component("storage", &[], &[("test_s.py", "def test_s():\n    pass\n")]);
    repo.component("cdc", &["fx-storage"], &[("test_c.py", "def test_c():\n    pass\n")]);
    repo.component("spark", &["fx-storage"], &[("test_p.py", "def test_p():\n    pass\n")]);
    repo.component("client", &[], &[("test_l.py", "def test_l():\n    pass\n")]);
    let pyproject = repo.read("components/client/pyproject.toml");
    repo.write(
        "components/client/pyproject.toml",
        &format!("{pyproject}\n[project.optional-dependencies]\ntest = [\"fx-storage\"]\n"),
    );
    repo.write("docs/notes.md", "notes\n");
    git_in(repo.root(), &["init", "--quiet", "--initial-branch=main"]);
    git_in(repo.root(), &["add", "-A"]);
    git_in(repo.root(), &["commit", "--quiet", "-m", "monorepo"]);
    git_in(repo.root(), &["checkout", "--quiet", "-b", "feature"]);
    repo
}

/// The component names `components --affected --json` lists.
fn affected(repo: &Repo, extra: &[&str]) -> Vec<String> {
    let run = repo.run(&[&["components", "--affected", "--json"], extra].concat());
    assert_eq!(run.code, 0, "{}", run.stderr);
    let list: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    list.as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap().to_string()).collect()
}

#[test]
fn a_leaf_change_affects_the_leaf_and_uncommitted_changes_count() {
    let repo = monorepo();
    assert!(affected(&repo, &[]).is_empty(), "nothing changed since main");
    repo.write("components/client/src/client_pkg/__init__.py", "X = 1\n");
    assert_eq!(affected(&repo, &[]), ["client"], "an uncommitted edit");
    git_in(repo.root(), &["commit", "--quiet", "-am", "client"]);
    assert_eq!(affected(&repo, &["--base", "main"]), ["client"], "a committed one");
}

#[test]
fn a_dependency_change_affects_every_dependent() {
    let repo = monorepo();
    repo.write("components/storage/src/storage_pkg/new.py", "X = 1\n");
    assert_eq!(affected(&repo, &[]), ["cdc", "client", "spark", "storage"], "an untracked file counts");
    // The test stage plans what is affected.
    let plan = repo.run(&["test", "--affected", "--dry-run"]);
    assert!(plan.stdout.contains("components/client"), "{}", plan.stdout);
}

#[test]
fn shared_configuration_affects_everything_and_docs_nothing() {
    let repo = monorepo();
    repo.write("docs/notes.md", "more notes\n");
    assert!(affected(&repo, &[]).is_empty());
    repo.write("tools/python-tools.txt", "pytest==8.0.0\n");
    assert_eq!(affected(&repo, &[]), ["cdc", "client", "spark", "storage"]);
}

#[test]
fn deleted_and_renamed_files_affect_both_ends() {
    let repo = monorepo();
    git_in(repo.root(), &["rm", "--quiet", "components/cdc/tests/test_c.py"]);
    assert_eq!(affected(&repo, &[]), ["cdc"], "a deleted file");
    git_in(repo.root(), &["reset", "--quiet", "--hard"]);
    git_in(repo.root(), &["mv", "components/spark/tests/test_p.py", "components/client/tests/test_p.py"]);
    git_in(repo.root(), &["commit", "--quiet", "-m", "move"]);
    assert_eq!(affected(&repo, &[]), ["client", "spark"], "a file renamed from spark into client");
}

#[test]
fn a_bad_base_and_a_shallow_clone_say_what_to_do() {
    let repo = monorepo();
    let run = repo.run(&["components", "--affected", "--base", "nope"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("unknown base nope: pass --base"), "{}", run.stderr);
    let run = repo.run(&["test", "client", "--affected"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("name components or pass --affected, not both"), "{}", run.stderr);

    // A shallow clone of `feature` alone has no main.
    repo.write("components/client/README.md", "x\n");
    git_in(repo.root(), &["add", "-A"]);
    git_in(repo.root(), &["commit", "--quiet", "-m", "more"]);
    let clone = tempfile::tempdir().unwrap();
    let url = format!("file://{}", repo.root().display());
    let target = clone.path().join("c");
    let target_s = target.to_str().unwrap();
    git_in(clone.path(), &["clone", "--quiet", "--depth=1", "--branch=feature", &url, target_s]);
    // `components --affected` in the clone: refused (exit 2); what it says.
    let refused = || {
        let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
            .args(["components", "--affected"])
            .current_dir(&target)
            .env_remove("GITHUB_BASE_REF")
            .env_remove("GITHUB_EVENT_PATH")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let stderr = refused();
    assert!(stderr.contains("the base main is not in this shallow clone: fetch it with `git fetch"), "{stderr}");
    // With the base fetched but the history too short, the fix is to deepen it.
    git_in(&target, &["fetch", "--quiet", "--depth=1", "origin", "+refs/heads/main:refs/remotes/origin/main"]);
    let stderr = refused();
    assert!(stderr.contains("git fetch --deepen"), "{stderr}");
}
