//! The base tree: the merge-base of HEAD with the base ref, checked out in a
//! git worktree under `target/xtask/perf/base` and kept between runs (its
//! own `target/`, with its virtualenvs, survives a checkout).

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use xshell::{cmd, Shell};

/// Where the base tree lives, relative to the repo root.
pub const DIR: &str = "target/xtask/perf/base";

/// The base tree at `commit`, made or moved there; its path.
pub fn checkout(root: &Path, commit: &str) -> Result<PathBuf> {
    let sh = Shell::new()?;
    sh.change_dir(root);
    let dir = root.join(DIR);
    let ours = dir.join(".git").is_file()
        && cmd!(sh, "git -C {dir} rev-parse --show-toplevel")
            .quiet()
            .ignore_stderr()
            .read()
            .is_ok_and(|top| Path::new(top.trim()) == dir.canonicalize().unwrap_or_default());
    if ours {
        cmd!(sh, "git -C {dir} checkout --quiet --detach --force {commit}")
            .quiet()
            .run()
            .with_context(|| format!("cannot check out {commit} in {DIR}: remove the folder and run again"))?;
        // Everything but the tree's own target/ (its virtualenvs) goes.
        cmd!(sh, "git -C {dir} clean -ffdqx -e /target/").quiet().run().context("cannot clean the base tree")?;
        return Ok(dir);
    }
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("cannot remove {}", dir.display()))?;
    }
    cmd!(sh, "git worktree prune").quiet().run().context("git worktree prune failed")?;
    let out = cmd!(sh, "git worktree add --quiet --detach --force {dir} {commit}").quiet().ignore_status().output()?;
    if !out.status.success() {
        bail!(
            "cannot check out the base {commit} in {DIR}: {}; check `git worktree list`",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(dir)
}

/// The short form of a commit, for messages.
pub fn short(commit: &str) -> &str {
    &commit[..commit.len().min(10)]
}
