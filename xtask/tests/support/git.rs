//! Fixture repositories under git, committed with an identity of their own.

use std::path::Path;
use std::process::Command;

/// Run git in `dir` with an identity of its own; panics on failure; its stdout.
pub fn git(dir: &Path, args: &[&str]) -> String {
    git_with(dir, args, &[])
}

fn git_with(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> String {
    let out = Command::new("git")
        .args(args)
        .envs(env.iter().copied())
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "fixture")
        .env("GIT_AUTHOR_EMAIL", "fixture@example.invalid")
        .env("GIT_COMMITTER_NAME", "fixture")
        .env("GIT_COMMITTER_EMAIL", "fixture@example.invalid")
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The commit HEAD names.
pub fn head(dir: &Path) -> String {
    git(dir, &["rev-parse", "HEAD"]).trim().to_string()
}

/// A new repository in `dir` with everything in it committed.
pub fn init_and_commit(dir: &Path) {
    git(dir, &["init", "-q"]);
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-qm", "fixture"]);
}

/// As [`init_and_commit`], at a fixed date on a branch of a fixed name: the
/// same tree gives the same commit in every run.
pub fn init_and_commit_at_a_fixed_date(dir: &Path) {
    git(dir, &["init", "-q", "-b", "main"]);
    git(dir, &["add", "-A"]);
    let date = "2026-01-01T00:00:00Z";
    git_with(dir, &["commit", "-qm", "fixture"], &[("GIT_AUTHOR_DATE", date), ("GIT_COMMITTER_DATE", date)]);
}
