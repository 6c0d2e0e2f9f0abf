//! The state file, `target/xtask/services.json`: what `services up` found
//! running or started, the variables later commands need from it, and the
//! processes to check that it still runs. Every command reads it at start
//! (`apply_to_env`): a variable the caller did not set comes from a service
//! that still runs; a service whose processes are gone is named, not used.
//!
//! In the checkout, not machine-wide: the commands that read it already find
//! the repo root, any user (a GitHub runner's) can write it, fixture repos in
//! tests never see it, and a checkout only uses what it checked itself.

use crate::fsutil::write_atomic;
use crate::services::process::{self, Proc};
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

pub const FILE: &str = "target/xtask/services.json";
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

/// The state file of `root`; None when there is none. A file this version
/// cannot read counts as none (the next `services up` writes it afresh).
pub fn load(root: &Path) -> Option<State> {
    let text = std::fs::read_to_string(root.join(FILE)).ok()?;
    serde_json::from_str::<State>(&text).ok().filter(|s| s.format == FORMAT)
}

pub fn save(root: &Path, state: &State) -> Result<()> {
    let state = State { format: FORMAT, ..state.clone() };
    let text = serde_json::to_string_pretty(&state).context("cannot serialise the services' state")? + "\n";
    write_atomic(&root.join(FILE), text.as_bytes())
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

/// At start-up, before any thread: fill in the variables the recorded
/// services give, and name the recorded services that no longer run (once
/// per command line a user typed, on stderr).
pub fn apply_to_env(root: &Path) {
    if std::env::var_os(READ).is_some() {
        return;
    }
    std::env::set_var(READ, "1");
    let Some(state) = load(root) else { return };
    let (live, stale) = live(&state);
    for (k, v) in missing_vars(&live, &|k| std::env::var_os(k).is_some()) {
        std::env::set_var(k, v);
    }
    if !stale.is_empty() {
        eprintln!(
            "note: {FILE} records {}, which no longer run{}: `cargo xtask services up` starts them again",
            stale.join(", "),
            if stale.len() == 1 { "s" } else { "" }
        );
    }
}

/// What the tests' cache key holds of the services: each live one's identity.
pub fn fingerprint(live: &BTreeMap<&str, &Record>) -> String {
    live.iter().map(|(k, r)| format!("{k}={}", r.identity)).collect::<Vec<_>>().join(";")
}

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;
