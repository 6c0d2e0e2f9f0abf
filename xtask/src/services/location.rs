//! Where the services' record lives. The services belong to the machine, so
//! their record does too: every checkout and worktree on the machine finds
//! the same one, whoever cloned it.
//!
//! In order, the first that applies:
//! 1. `XTASK_SERVICES_FILE` (a path; relative to the checkout's root): an
//!    override, read and written whether it exists or not. A checkout that
//!    runs services of its own sets it to `target/xtask/services.json`.
//! 2. Not root: the user's own record (`$XDG_STATE_HOME/xtask/services.json`,
//!    else `~/.local/state/…`), when it exists: what this user brought up.
//! 3. The machine record, `/var/lib/xtask/services.json` (root's: every user reads it).
//! 4. The checkout's `target/xtask/services.json` from before machine records
//!    (read only; the next `services up` moves it to the machine record).
//!
//! A record is only trusted when its owner is root or the user reading it,
//! and neither it nor its folder is writable by anyone else: a second user on
//! the machine must not be able to write what root's commands act on.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The record of a checkout from before machine records.
pub const CHECKOUT_FILE: &str = "target/xtask/services.json";
/// The override's variable.
pub const FILE_VAR: &str = "XTASK_SERVICES_FILE";
/// Where the machine record's folder is (default `/var/lib/xtask`): for tests.
pub const MACHINE_VAR: &str = "XTASK_SERVICES_MACHINE_DIR";
const MACHINE_DIR: &str = "/var/lib/xtask";
const NAME: &str = "services.json";

/// Why a record is the one used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Why {
    Override,
    User,
    Machine,
    /// A checkout's record from before machine records; the machine record's path.
    Legacy(PathBuf),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    pub path: PathBuf,
    pub why: Why,
}

impl Located {
    /// `PATH (why)`, the path relative to `root` when inside it.
    pub fn describe(&self, root: &Path) -> String {
        let path = self.path.strip_prefix(root).unwrap_or(&self.path).display();
        let why = match &self.why {
            Why::Override => format!("{FILE_VAR}: this checkout's override"),
            Why::User => "this user's record: not root".into(),
            Why::Machine => "the machine record".into(),
            Why::Legacy(machine) => format!(
                "this checkout's record from before machine records: `cargo xtask services up` moves it to {}",
                machine.display()
            ),
        };
        format!("{path} ({why})")
    }
}

/// What a candidate file is, as far as the choice goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fact {
    Missing,
    Trusted,
    /// Exists but someone else could have written it: why.
    Untrusted(String),
}

/// The machine record's and the user's record's paths.
pub fn machine_file(env: &dyn Fn(&str) -> Option<String>) -> PathBuf {
    let dir = env(MACHINE_VAR).filter(|v| v.starts_with('/')).unwrap_or_else(|| MACHINE_DIR.into());
    Path::new(&dir).join(NAME)
}

fn user_file(env: &dyn Fn(&str) -> Option<String>) -> PathBuf {
    let state = env("XDG_STATE_HOME")
        .filter(|v| v.starts_with('/'))
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env("HOME").unwrap_or_else(|| "/tmp".into())).join(".local/state"));
    state.join("xtask").join(NAME)
}

fn override_file(root: &Path, env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    env(FILE_VAR).filter(|v| !v.is_empty()).map(|v| root.join(v))
}

/// The record a command reads (pure over `env` and `fact`), and the records
/// passed over because they cannot be trusted (path, why).
pub fn for_reading(
    root: &Path,
    euid: u32,
    env: &dyn Fn(&str) -> Option<String>,
    fact: &dyn Fn(&Path) -> Fact,
) -> (Option<Located>, Vec<(PathBuf, String)>) {
    if let Some(path) = override_file(root, env) {
        return (Some(Located { path, why: Why::Override }), Vec::new());
    }
    let machine = machine_file(env);
    let mut candidates = Vec::new();
    if euid != 0 {
        candidates.push((user_file(env), Why::User));
    }
    candidates.push((machine.clone(), Why::Machine));
    candidates.push((root.join(CHECKOUT_FILE), Why::Legacy(machine)));
    let mut refused = Vec::new();
    for (path, why) in candidates {
        match fact(&path) {
            Fact::Missing => {}
            Fact::Trusted => return (Some(Located { path, why }), refused),
            Fact::Untrusted(reason) => refused.push((path, reason)),
        }
    }
    (None, refused)
}

/// The record `services up|down` writes: the override, else root's machine
/// record, else the user's own.
pub fn for_writing(root: &Path, euid: u32, env: &dyn Fn(&str) -> Option<String>) -> Located {
    if let Some(path) = override_file(root, env) {
        return Located { path, why: Why::Override };
    }
    if euid == 0 {
        Located { path: machine_file(env), why: Why::Machine }
    } else {
        Located { path: user_file(env), why: Why::User }
    }
}

/// Whether `owner`/`mode` of a file or its folder may be trusted by `euid`.
pub fn trust(euid: u32, owner: u32, mode: u32) -> Result<(), String> {
    if owner != 0 && owner != euid {
        return Err(format!("owned by uid {owner}, neither root nor this user"));
    }
    if mode & 0o022 != 0 {
        return Err(format!("writable by its group or others (mode {:o})", mode & 0o7777));
    }
    Ok(())
}

/// The file's fact on this machine: its own and its folder's owner and mode.
pub fn fact(euid: u32, path: &Path) -> Fact {
    let Ok(meta) = std::fs::metadata(path) else { return Fact::Missing };
    let dir = path.parent().and_then(|d| std::fs::metadata(d).ok());
    let checks = [Some(&meta), dir.as_ref()];
    for (what, m) in ["the file", "its folder"].iter().zip(checks) {
        if let Some(m) = m {
            if let Err(why) = trust(euid, m.uid(), m.mode()) {
                return Fact::Untrusted(format!("{what} is {why}"));
            }
        }
    }
    Fact::Trusted
}

/// The process environment, empty values as unset.
pub fn env_var(k: &str) -> Option<String> {
    std::env::var(k).ok().filter(|v| !v.is_empty())
}

/// The record this process reads, and those refused.
pub fn here(root: &Path) -> (Option<Located>, Vec<(PathBuf, String)>) {
    let euid = super::euid();
    for_reading(root, euid, &env_var, &|p| fact(euid, p))
}

#[cfg(test)]
#[path = "location_tests.rs"]
mod tests;
