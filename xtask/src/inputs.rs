//! Git's view of the tree, hashed: the file inputs of the task cache.
//! Tracked files that still exist and untracked files git does not ignore
//! (`git ls-files -co --exclude-standard`), so a new file counts and
//! `target/` is never walked. Contents are hashed (blake3), not mtimes.

use anyhow::Result;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use xshell::{cmd, Shell};

/// Listings kept for the rest of the process, once [`share_listing`] is called.
static SHARED: OnceLock<Mutex<BTreeMap<PathBuf, Vec<String>>>> = OnceLock::new();

/// From now on this process lists each root once: `ci` runs its stages
/// in-process, and between them only `target/` (ignored by git) is written.
pub fn share_listing() {
    SHARED.get_or_init(Default::default);
}

/// Repo-relative paths (with `/`) of every file git considers part of the
/// tree; `Err(why)` when the folder is no git work tree (or git is missing).
pub fn list(root: &Path) -> Result<Vec<String>, String> {
    let Some(shared) = SHARED.get() else { return list_now(root) };
    if let Some(files) = shared.lock().unwrap_or_else(|e| e.into_inner()).get(root) {
        return Ok(files.clone());
    }
    let files = list_now(root)?;
    shared.lock().unwrap_or_else(|e| e.into_inner()).insert(root.to_path_buf(), files.clone());
    Ok(files)
}

fn list_now(root: &Path) -> Result<Vec<String>, String> {
    if which::which("git").is_err() {
        return Err("git is not on PATH".into());
    }
    let sh = Shell::new().map_err(|e| e.to_string())?;
    sh.change_dir(root);
    let out = cmd!(sh, "git ls-files -z -co --exclude-standard")
        .quiet()
        .ignore_status()
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(err.lines().next().unwrap_or("git ls-files failed").trim().to_string());
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut files: Vec<String> = text.split('\0').filter(|p| !p.is_empty()).map(String::from).collect();
    files.sort();
    files.dedup();
    Ok(files)
}

/// Does a declared input (`dir/`, `file`, or `""` for everything) cover `path`?
pub fn covers(spec: &str, path: &str) -> bool {
    if spec.is_empty() || path == spec {
        return true;
    }
    match path.strip_prefix(spec) {
        Some(rest) => spec.ends_with('/') || rest.starts_with('/'),
        None => false,
    }
}

/// Content hashes of the files the run's tasks declare.
#[derive(Debug, Default, Clone)]
pub struct Tree {
    files: BTreeMap<String, String>,
    /// Every listed path (for inputs that are file names, not contents).
    names: Vec<String>,
}

impl Tree {
    /// Hash every listed file covered by one of `specs`. A listed file that
    /// is gone (deleted, not yet staged) is left out, as if `git rm`ed.
    pub fn hash(root: &Path, listed: &[String], specs: &[&str]) -> Tree {
        let files = listed
            .iter()
            .filter(|p| specs.iter().any(|s| covers(s, p)))
            .filter_map(|p| Some((p.clone(), file_hash(&root.join(p))?)))
            .collect();
        Tree { files, names: listed.to_vec() }
    }

    /// A tree from known hashes (tests).
    #[cfg(test)]
    pub fn from_hashes(files: BTreeMap<String, String>) -> Tree {
        let names = files.keys().cloned().collect();
        Tree { files, names }
    }

    /// blake3 of the names of the listed files under `spec` (not their contents).
    pub fn names_hash(&self, spec: &str) -> String {
        let mut h = blake3::Hasher::new();
        for name in self.names.iter().filter(|p| covers(spec, p)) {
            h.update(name.as_bytes());
            h.update(b"\n");
        }
        h.finalize().to_hex().to_string()
    }

    /// The files under `spec`, with their hashes.
    pub fn under<'a>(&'a self, spec: &'a str) -> impl Iterator<Item = (&'a String, &'a String)> + 'a {
        self.files.iter().filter(move |(p, _)| covers(spec, p))
    }
}

/// blake3 of a file's contents; None when it is missing. A file that exists
/// but cannot be read gets a hash of its error, so it never matches content.
pub fn file_hash(path: &Path) -> Option<String> {
    match std::fs::read(path) {
        Ok(bytes) => Some(blake3::hash(&bytes).to_hex().to_string()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => Some(format!("unreadable: {}", e.kind())),
    }
}

/// Size and modification time: enough to tell a replaced binary apart without running it.
fn stat(path: &Path) -> String {
    match std::fs::metadata(path) {
        Ok(m) => {
            let mtime = m.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok());
            format!("{} {} {}", path.display(), m.len(), mtime.map_or(0, |d| d.as_nanos()))
        }
        Err(_) => format!("{} missing", path.display()),
    }
}

/// Which Rust toolchain the Rust tasks run with, cheaply: under `cargo
/// xtask`, cargo names itself in `CARGO`, and its `rustc` sits beside it (a
/// toolchain update replaces both). Otherwise `rustc -vV` is asked, once.
pub fn rust_toolchain() -> String {
    if let Some(cargo) = std::env::var_os("CARGO").map(std::path::PathBuf::from) {
        let rustc = cargo.with_file_name("rustc");
        if rustc.is_file() {
            return format!("{}\n{}", stat(&cargo), stat(&rustc));
        }
    }
    let asked = Shell::new().ok().and_then(|sh| cmd!(sh, "rustc -vV").quiet().ignore_stderr().read().ok());
    asked.unwrap_or_else(|| "rustc not found".into())
}

/// The interpreter behind a virtualenv's `bin/python` (resolved through its
/// symlinks), by size and mtime: an interpreter upgraded in place changes it.
pub fn interpreter_stat(venv_python: &Path) -> String {
    match std::fs::canonicalize(venv_python) {
        Ok(real) => stat(&real),
        Err(_) => format!("{} missing", venv_python.display()),
    }
}
