//! `--affected`: the components a change touches. The changed files are
//! those that differ between the merge-base with the base ref and the
//! working tree (uncommitted and untracked files count); a component is
//! affected when one of its files changed or when it depends on an affected
//! one. A change to shared configuration affects everything.

use crate::component::Workspace;
use crate::error::UsageError;
use anyhow::Result;
use std::collections::BTreeSet;
use std::path::Path;
use xshell::{cmd, Shell};

/// Shared configuration: a change here affects every component and the Rust workspace.
pub const SHARED: &[&str] = &[
    "tools/",
    "xtask/",
    ".cargo/",
    "Cargo.toml",
    "Cargo.lock",
    "rust-toolchain",
    "rust-toolchain.toml",
    "rustfmt.toml",
    "clippy.toml",
];

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Affected {
    /// Affected components, by folder name.
    pub components: BTreeSet<String>,
    /// Shared configuration changed (so every component is in `components`).
    pub shared: bool,
    /// A file outside `components/` changed (docs, CI files, the xtask):
    /// what the Rust workspace's own tests read besides the components.
    pub outside: bool,
}

/// Which components `changed` (repo-relative paths) affect. `with_tests`
/// follows test-only dependencies too (a component whose tests start
/// another one is affected by it).
pub fn affected(ws: &Workspace, changed: &[String], with_tests: bool) -> Affected {
    let shared = changed.iter().any(|p| SHARED.iter().any(|s| crate::inputs::covers(s, p)));
    let outside = changed.iter().any(|p| !p.starts_with("components/"));
    let mut hit: BTreeSet<String> = if shared {
        ws.components.iter().map(|c| c.name.clone()).collect()
    } else {
        changed
            .iter()
            .filter_map(|p| p.strip_prefix("components/")?.split('/').next())
            .filter(|name| ws.get(name).is_some())
            .map(String::from)
            .collect()
    };
    // Dependents, transitively: repeat until nothing new joins.
    loop {
        let before = hit.len();
        for c in &ws.components {
            let mut deps = c.depends_on.iter().chain(if with_tests { &c.test_depends_on[..] } else { &[] });
            if deps.any(|d| hit.contains(d)) {
                hit.insert(c.name.clone());
            }
        }
        if hit.len() == before {
            break;
        }
    }
    Affected { components: hit, shared, outside }
}

/// The base when none is given: the pull request's base on GitHub (its
/// commit from the event, else `origin/$GITHUB_BASE_REF`), else `origin/main`
/// when it exists, else `main`.
pub fn default_base(github_base_ref: Option<&str>, event_base_sha: Option<&str>, has_origin_main: bool) -> String {
    if let Some(sha) = event_base_sha.filter(|s| !s.is_empty()) {
        return sha.to_string();
    }
    if let Some(base) = github_base_ref.filter(|b| !b.is_empty()) {
        return format!("origin/{base}");
    }
    if has_origin_main { "origin/main" } else { "main" }.to_string()
}

/// The `git fetch` that brings `base` into a clone that lacks it.
pub fn fetch_hint(base: &str) -> String {
    match base.strip_prefix("origin/") {
        Some(branch) => format!("git fetch --no-tags origin +refs/heads/{branch}:refs/remotes/origin/{branch}"),
        // A branch, tag or commit on the remote.
        None => format!("git fetch --no-tags origin {base}"),
    }
}

/// The pull request's base commit from the GitHub event, if this is one.
fn event_base_sha() -> Option<String> {
    let path = std::env::var_os("GITHUB_EVENT_PATH")?;
    let event: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
    event["pull_request"]["base"]["sha"].as_str().map(String::from)
}

fn git_in(root: &Path) -> Result<impl Fn(&[&str]) -> Result<String, String>> {
    let sh = Shell::new()?;
    sh.change_dir(root);
    Ok(move |args: &[&str]| -> Result<String, String> {
        let out = cmd!(sh, "git {args...}").quiet().ignore_status().output().map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).lines().next().unwrap_or("git failed").trim().to_string())
        }
    })
}

/// The base ref (`base`, else the default) and the commit of its merge-base
/// with HEAD; a base this clone lacks is one line with the `git fetch` that
/// brings it. `what` names the flag in errors (`--affected`, `perf`).
pub fn merge_base(root: &Path, base: Option<&str>, what: &str) -> Result<(String, String)> {
    let git = git_in(root)?;
    if let Err(why) = git(&["rev-parse", "--is-inside-work-tree"]) {
        return Err(UsageError::new(format!("{what} needs a git work tree ({why}): run it in a clone")));
    }
    let base = match base {
        Some(b) => b.to_string(),
        None => {
            let origin_main = git(&["rev-parse", "--verify", "--quiet", "origin/main^{commit}"]).is_ok();
            let github_base = std::env::var("GITHUB_BASE_REF").ok();
            default_base(github_base.as_deref(), event_base_sha().as_deref(), origin_main)
        }
    };
    let shallow = git(&["rev-parse", "--is-shallow-repository"]).is_ok_and(|s| s.trim() == "true");
    if git(&["rev-parse", "--verify", "--quiet", &format!("{base}^{{commit}}")]).is_err() {
        return Err(UsageError::new(if shallow {
            format!("the base {base} is not in this shallow clone: fetch it with `{}`", fetch_hint(&base))
        } else {
            format!(
                "unknown base {base}: pass --base with a branch, tag or commit that exists (or `{}`)",
                fetch_hint(&base)
            )
        }));
    }
    let merge_base = match git(&["merge-base", &base, "HEAD"]) {
        Ok(mb) => mb.trim().to_string(),
        Err(_) if shallow => {
            return Err(UsageError::new(format!(
                "this shallow clone does not reach the merge-base of {base} and HEAD: deepen it with `git fetch --deepen=200 origin` (or `git fetch --unshallow`)"
            )))
        }
        Err(why) => {
            return Err(UsageError::new(format!(
                "{base} and HEAD have no common ancestor ({why}): pass --base with a ref from this history"
            )))
        }
    };
    Ok((base, merge_base))
}

/// The base ref and the files changed since its merge-base with HEAD.
pub fn changed_files(root: &Path, base: Option<&str>) -> Result<(String, Vec<String>)> {
    let (base, merge_base) = merge_base(root, base, "--affected")?;
    let git = git_in(root)?;
    let diff = git(&["diff", "--name-only", "-z", "--no-renames", &merge_base]).map_err(|why| {
        anyhow::anyhow!("git diff against {base} failed ({why}): check the repository with `git status`")
    })?;
    let untracked = git(&["ls-files", "-z", "-o", "--exclude-standard"])
        .map_err(|why| anyhow::anyhow!("git ls-files failed ({why}): check the repository with `git status`"))?;
    let mut files: Vec<String> =
        diff.split('\0').chain(untracked.split('\0')).filter(|p| !p.is_empty()).map(String::from).collect();
    files.sort();
    files.dedup();
    Ok((base, files))
}

#[cfg(test)]
#[path = "affected_tests.rs"]
mod tests;
