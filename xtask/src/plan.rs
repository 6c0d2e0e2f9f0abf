//! A task is plain data: what to run, where, with what. Stages build plans;
//! the executor runs them; tests assert on them.

use serde::Serialize;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Serialize)]
pub struct Task {
    /// Unique within a plan, e.g. `test:storage`.
    pub id: String,
    pub stage: &'static str,
    pub component: String,
    pub program: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub cwd: PathBuf,
    /// What must be ready before the command runs (a virtualenv, a build
    /// context), made by the stage's [`crate::exec::Prepare`].
    pub needs: Vec<String>,
    /// Run only after this task (by id) passed, right after it.
    pub after: Option<String>,
    /// A file the task writes that is its result (JUnit XML); removed before
    /// the task starts, and again if it is interrupted, so stale or partial
    /// files are never reported.
    pub artifact: Option<PathBuf>,
    /// How to read the program's exit code.
    pub exit: ExitPolicy,
    /// What the task's result depends on besides its command line, for the
    /// task cache; `None`: never cached (side effects outside the repo).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache: Option<CacheSpec>,
}

/// A task's declared inputs (see `cache::key` for the whole key).
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct CacheSpec {
    /// Repo-relative files, and folders ending in `/`, whose contents the
    /// result depends on, as git sees the tree; [`WHOLE_TREE`] is every file.
    pub files: Vec<String>,
    /// Environment variables whose values the result depends on.
    pub env: Vec<String>,
    /// Other named inputs known when planning, e.g. a base image's id.
    pub values: Vec<(String, String)>,
    /// Folders (or [`WHOLE_TREE`]) whose file *names* the result depends on,
    /// not their contents: a docs check that every path it names exists.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub names: Vec<String>,
}

/// Environment variables that hold secrets (the registries' passwords, the
/// GitHub token, a signing key and its password): no task's process inherits them.
pub const SECRET_VARS: &[&str] =
    &["GITHUB_TOKEN", "DOCKER_HUB_PASSWORD", "XTASK_REGISTRY_PASSWORD", "COSIGN_PRIVATE_KEY", "COSIGN_PASSWORD"];

/// In [`CacheSpec::files`]: every file of the tree.
pub const WHOLE_TREE: &str = "";

/// What a non-zero exit code means for a given tool.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum ExitPolicy {
    /// pytest: 1 tests failed, 5 no tests collected (a defect), other codes: could not run.
    Pytest,
    /// cargo test and clippy: 101 problems found, other codes: could not run.
    Cargo,
    /// docker build and push: any non-zero exit is a failure (the stage's
    /// review tells a refusing or unreachable registry apart).
    Docker,
    /// A code-quality tool, read by `findings::judge` (e.g. safety's 64 is findings).
    Tool(&'static str),
}

impl Task {
    /// The command as a user would type it from the repo root.
    pub fn command_line(&self, root: &Path) -> String {
        command_line(root, &self.cwd, &self.env, &self.program, &self.args)
    }
}

/// A command as a user would type it from the repo root.
pub fn command_line(root: &Path, cwd: &Path, env: &[(String, String)], program: &Path, args: &[String]) -> String {
    let mut words: Vec<String> = env.iter().map(|(k, v)| format!("{k}={}", quote(v))).collect();
    words.push(quote(&relative(root, cwd, program)));
    words.extend(args.iter().map(|a| quote(a)));
    let cmd = words.join(" ");
    match cwd.strip_prefix(root) {
        Ok(dir) if dir.as_os_str().is_empty() => cmd,
        Ok(dir) => format!("(cd {} && {cmd})", quote(&dir.display().to_string())),
        Err(_) => format!("(cd {} && {cmd})", quote(&cwd.display().to_string())),
    }
}

/// `path` as seen from `cwd` when both are inside `root` (so printed commands
/// carry no machine-specific prefix); otherwise as it is.
pub fn relative(root: &Path, cwd: &Path, path: &Path) -> String {
    match (cwd.strip_prefix(root), path.strip_prefix(root)) {
        (Ok(c), Ok(p)) if path.is_absolute() => {
            let up = "../".repeat(c.components().count());
            format!("{up}{}", p.display())
        }
        _ => path.display().to_string(),
    }
}

/// Quote a word for a POSIX shell only when it needs it.
pub fn quote(word: &str) -> String {
    let plain = !word.is_empty() && word.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}
