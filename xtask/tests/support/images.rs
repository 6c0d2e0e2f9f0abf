//! Fixtures of the image stage: components with Dockerfiles under git, a
//! committed copy of the monorepo's sources, the images report.

use super::git::init_and_commit;
use super::Repo;
use std::path::Path;
use std::process::Command;

/// A Dockerfile that builds on the local base image and sees its wheels.
pub const GOOD: &str =
    "ARG BASE_IMAGE=local/python:3.11-bookworm\nFROM ${BASE_IMAGE}\nCOPY wheels/ /tmp/wheels/\nRUN ls /tmp/wheels/app\n";

/// A fixture monorepo committed to git, with components whose Dockerfiles are given.
pub fn git_repo(components: &[(&str, &str)]) -> Repo {
    let repo = Repo::new();
    // As the monorepo's: what wheel builds leave in a component is no change.
    repo.write(".gitignore", "/target/\nbuild/\n*.egg-info/\n__pycache__/\n");
    for (name, dockerfile) in components {
        repo.passing(name);
        repo.write(&format!("components/{name}/Dockerfile"), dockerfile);
    }
    init_and_commit(repo.root());
    repo
}

/// The monorepo's components and tools, copied into a temp dir and committed
/// (the images need their sources): a test writes its contexts and reports
/// there, not into the checkout.
pub fn copy_of_the_sources() -> tempfile::TempDir {
    let dir = uncommitted_sources();
    init_and_commit(dir.path());
    dir
}

/// The same copy committed at a fixed date by a fixed identity: the same
/// sources give the same commit in every run, so a build of it has the same
/// inputs as the previous run's.
pub fn copy_of_the_sources_at_a_fixed_commit() -> tempfile::TempDir {
    let dir = uncommitted_sources();
    super::git::init_and_commit_at_a_fixed_date(dir.path());
    dir
}

fn uncommitted_sources() -> tempfile::TempDir {
    let real = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = tempfile::tempdir().unwrap();
    for top in ["components", "tools"] {
        let entries = walkdir::WalkDir::new(real.join(top)).into_iter().filter_entry(|e| {
            let n = e.file_name().to_string_lossy();
            !(n == "build"
                || n == "__pycache__"
                || n.ends_with(".egg-info")
                || n.starts_with(".pytest")
                || n == ".mypy_cache")
        });
        for e in entries {
            let e = e.unwrap();
            let to = dir.path().join(e.path().strip_prefix(&real).unwrap());
            if e.file_type().is_dir() {
                std::fs::create_dir_all(&to).unwrap();
            } else {
                std::fs::copy(e.path(), &to).unwrap();
            }
        }
    }
    std::fs::copy(real.join(".gitignore"), dir.path().join(".gitignore")).unwrap();
    dir
}

/// `target/xtask/images.json`, of the format this xtask writes.
pub fn images_json(root: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(root.join("target/xtask/images.json")).unwrap();
    let images: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(images["format"], 1, "{text}");
    images
}

/// The tutorial's spelled-out push command as written: the variables before `cargo xtask`, and its arguments.
pub fn readme_push_command() -> (Vec<(String, String)>, Vec<String>) {
    let page =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/tutorial/first-run.md")).unwrap();
    let line = page
        .lines()
        .find(|l| l.contains("cargo xtask image build --push --registry"))
        .expect("docs/tutorial/first-run.md spells a push out");
    let words: Vec<&str> = line.split(" #").next().unwrap().split_whitespace().collect();
    let at = words.iter().position(|w| *w == "cargo").unwrap();
    assert_eq!(words[at + 1], "xtask", "{line}");
    let env = words[..at]
        .iter()
        .map(|w| w.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())).expect("only VAR=value before cargo"))
        .collect();
    (env, words[at + 2..].iter().map(|w| w.to_string()).collect())
}

/// The xtask against `root`, with nothing of the caller's CI settings (base images, registries) but `env`.
pub fn xtask_in(root: &Path, args: &[String], env: &[(String, String)], docker_config: &Path) -> super::Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_xtask"));
    for (var, _) in std::env::vars() {
        if ["GITHUB_", "XTASK_", "DOCKER_HUB_", "RUNNER_"].iter().any(|p| var.starts_with(p)) {
            cmd.env_remove(var);
        }
    }
    // A push signs what it pushes: the signing service's tools and key pair.
    super::signing(&mut cmd);
    cmd.args(["--root", root.to_str().unwrap()])
        .args(args)
        .envs(env.iter().cloned())
        .env("DOCKER_CONFIG", docker_config);
    super::run(cmd)
}
