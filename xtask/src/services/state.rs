//! The services' record: what `services up` found running or started, the
//! variables later commands need from it, and the processes to check that it
//! still runs. Every command reads it at start (`apply_to_env`): a variable
//! the caller did not set comes from a service that still runs; a service
//! whose processes are gone is named, not used. Where it lives (the machine's,
//! a user's, an override) is `location`'s choice, said once per command.

use crate::fsutil::write_atomic;
use crate::services::location::{self, Located, Why};
use crate::services::process::{self, Proc};
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

const FORMAT: u32 = 1;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    pub format: u32,
    #[serde(default)]
    pub services: BTreeMap<String, Record>,
}

/// One service as `services up` left it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// One line: what runs, where, which version.
    pub summary: String,
    /// Variables later commands (and their children) get unless the caller set them.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// The processes it runs, to tell a live record from a stale one.
    #[serde(default)]
    pub processes: Vec<Proc>,
    /// What identifies this instance (versions, image ids, the build's key):
    /// part of the key of the tests that use it.
    #[serde(default)]
    pub identity: String,
}

impl Record {
    /// None when every recorded process still runs; else the first one gone.
    pub fn gone(&self) -> Option<&Proc> {
        self.processes.iter().find(|p| !process::is_running(p))
    }
}

/// The record this checkout reads; None when there is none.
pub fn load(root: &Path) -> Option<State> {
    load_at(&location::here(root).0?.path)
}

/// The record this checkout reads with the environment `env`.
pub fn load_with(root: &Path, env: &dyn Fn(&str) -> Option<String>) -> Option<State> {
    let euid = crate::services::euid();
    load_at(&location::for_reading(root, euid, env, &|p| location::fact(euid, p)).0?.path)
}

/// The record at `path`; None when there is none. A file this version
/// cannot read counts as none (the next `services up` writes it afresh).
pub fn load_at(path: &Path) -> Option<State> {
    let text = std::fs::read_to_string(path).ok()?;
    serde_json::from_str::<State>(&text).ok().filter(|s| s.format == FORMAT)
}

/// Written atomically; the machine's and a user's record readable by all and
/// writable by its owner only (a record anyone else could write is not trusted).
pub fn save_at(at: &Located, state: &State) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let state = State { format: FORMAT, ..state.clone() };
    let text = serde_json::to_string_pretty(&state).context("cannot serialise the services' state")? + "\n";
    if at.why != Why::Override {
        if let Some(dir) = at.path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))
                .with_context(|| format!("cannot make {} writable by its owner only", dir.display()))?;
        }
    }
    write_atomic(&at.path, text.as_bytes())?;
    std::fs::set_permissions(&at.path, std::fs::Permissions::from_mode(0o644))
        .with_context(|| format!("cannot make {} writable by its owner only", at.path.display()))
}

/// The records whose processes all still run; and the names of those that do not.
pub fn live(state: &State) -> (BTreeMap<&str, &Record>, Vec<String>) {
    let mut live = BTreeMap::new();
    let mut stale = Vec::new();
    for (name, r) in &state.services {
        match r.gone() {
            None => {
                live.insert(name.as_str(), r);
            }
            Some(p) => stale.push(format!("{name} ({} pid {} is gone)", p.name, p.pid)),
        }
    }
    (live, stale)
}

/// The variables the live records give that `is_set` says the caller has not
/// set, in name order (two services never give the same variable).
pub fn missing_vars(live: &BTreeMap<&str, &Record>, is_set: &dyn Fn(&str) -> bool) -> Vec<(String, String)> {
    let mut vars: BTreeMap<&str, &str> = BTreeMap::new();
    for r in live.values() {
        for (k, v) in &r.env {
            vars.insert(k, v);
        }
    }
    vars.into_iter().filter(|(k, _)| !is_set(k)).map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// Set by the command that read the record: what it starts (stages, tasks)
/// inherits what it filled in, and neither reads the record nor notes again.
const READ: &str = "XTASK_SERVICES_READ";
/// The variables the record filled in (comma-separated), and the record's
/// path: how a command says where its cluster and registry come from.
pub const GAVE: &str = "XTASK_SERVICES_GAVE";
pub const USED: &str = "XTASK_SERVICES_USED";

/// At start-up, before any thread: fill in the variables the recorded
/// services give, say which record and why, and name the recorded services
/// that no longer run (once per command line a user typed, on stderr).
pub fn apply_to_env(root: &Path) {
    if std::env::var_os(READ).is_some() {
        return;
    }
    std::env::set_var(READ, "1");
    let (found, refused) = location::here(root);
    for (path, why) in refused {
        eprintln!(
            "note: the services record {} is ignored: {why} (only root's or your own is trusted)",
            path.display()
        );
    }
    let Some(at) = found else { return };
    let Some(state) = load_at(&at.path) else { return };
    let described = at.describe(root);
    eprintln!("services: {described}");
    let (live, stale) = live(&state);
    let gave = missing_vars(&live, &|k| std::env::var_os(k).is_some());
    let names: Vec<&str> = gave.iter().map(|(k, _)| k.as_str()).collect();
    std::env::set_var(GAVE, names.join(","));
    std::env::set_var(USED, at.path.strip_prefix(root).unwrap_or(&at.path));
    for (k, v) in &gave {
        std::env::set_var(k, v);
    }
    if !stale.is_empty() {
        eprintln!(
            "note: the services record records {}, which no longer run{}: `cargo xtask services up` starts them again",
            stale.join(", "),
            if stale.len() == 1 { "s" } else { "" }
        );
    }
}

/// Where the caller's `var` came from, for the lines that say which cluster
/// and registry a command uses: the services record (when `apply_to_env`
/// filled it in), else the environment; None when it is not set.
pub fn origin(var: &str, env: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    env(var).filter(|v| !v.is_empty())?;
    if from_record(var, env) {
        let used = env(USED).unwrap_or_else(|| "the services record".into());
        return Some(format!("{var} from the services record {used}: set {var} or pass its flag to use another"));
    }
    Some(format!("{var} from the environment"))
}

/// Whether the services record filled `var` in (the caller did not set it).
pub fn from_record(var: &str, env: &dyn Fn(&str) -> Option<String>) -> bool {
    env(GAVE).unwrap_or_default().split(',').any(|g| g == var)
}

/// What the tests' cache key holds of the services: each live one's identity.
pub fn fingerprint(live: &BTreeMap<&str, &Record>) -> String {
    live.iter().map(|(k, r)| format!("{k}={}", r.identity)).collect::<Vec<_>>().join(";")
}

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;
