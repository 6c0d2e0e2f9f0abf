//! Fixture namespaces of the xtask's own tests never outlive their run. Each
//! carries `xtask.dev/fixture=true` and its run's id (`xtask.dev/test-run`,
//! from `XTASK_TEST_RUN`, which the test stage sets for its suites). The test
//! stage removes its run's namespaces when the run ends or is interrupted (a
//! test binary stopped by a signal runs no destructor); the test command and
//! `services up` remove fixture namespaces older than [`STALE_AFTER_S`] (a run
//! killed outright, or one from before the labels: the `fx-` prefix). Leaked
//! ones once filled the node and left production's cdc unschedulable.
//! Which namespaces go is a pure function of the list as read and the clock.

use crate::clock;
use anyhow::{Context, Result};
use serde_json::Value;
use std::path::Path;
use xshell::{cmd, Shell};

/// The variable naming the test run, set by the test stage for its suites.
pub const RUN_VAR: &str = "XTASK_TEST_RUN";
pub const RUN_LABEL: &str = "xtask.dev/test-run";
pub const FIXTURE_LABEL: &str = "xtask.dev/fixture";
/// Fixture namespaces made before the labels are known by this prefix.
pub const PREFIX: &str = "fx-";
/// A fixture namespace older than this belongs to no running test: the
/// slowest suite takes about 20 minutes on a busy machine.
pub const STALE_AFTER_S: u64 = 2 * 3600;
/// Each call to the API server is bounded, so an interrupted run ends promptly.
const TIMEOUT: &str = "--request-timeout=10s";

/// Which fixture namespaces to remove.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which<'a> {
    /// Those of one test run.
    Run(&'a str),
    /// Those created at least `age_s` before `now` (Unix seconds).
    OlderThan { now: u64, age_s: u64 },
}

/// A new test run's id: a valid label value, unique on this machine.
pub fn run_id() -> String {
    format!("{}-{}", clock::now(), std::process::id())
}

/// A namespace the xtask's tests made: labelled as a fixture, or named with
/// the fixture prefix. Never the platform's (`mlops-*`) nor the cluster's own.
pub fn is_fixture(ns: &Value) -> bool {
    let name = ns["metadata"]["name"].as_str().unwrap_or_default();
    if name.is_empty() || name.starts_with("mlops-") || name.starts_with("kube-") || name == "default" {
        return false;
    }
    ns["metadata"]["labels"][FIXTURE_LABEL] == "true" || name.starts_with(PREFIX)
}

/// The names of the fixture namespaces in `list` (`kubectl get namespaces -o
/// json`) that `which` selects, sorted; those already being deleted are left to finish.
pub fn select(list: &Value, which: Which) -> Vec<String> {
    let items = list["items"].as_array().map(Vec::as_slice).unwrap_or_default();
    let mut out: Vec<String> = items
        .iter()
        .filter(|ns| is_fixture(ns) && ns["metadata"]["deletionTimestamp"].is_null())
        .filter(|ns| match which {
            Which::Run(id) => !id.is_empty() && ns["metadata"]["labels"][RUN_LABEL] == id,
            Which::OlderThan { now, age_s } => ns["metadata"]["creationTimestamp"]
                .as_str()
                .and_then(clock::parse_rfc3339)
                .is_some_and(|created| created.saturating_add(age_s) <= now),
        })
        .filter_map(|ns| ns["metadata"]["name"].as_str().map(String::from))
        .collect();
    out.sort();
    out
}

/// Remove the fixture namespaces `which` selects on the cluster of
/// `kubeconfig`, without waiting for their contents to go; their names.
pub fn sweep(sh: &Shell, kubectl: &Path, kubeconfig: &Path, which: Which) -> Result<Vec<String>> {
    let out = cmd!(sh, "{kubectl} --kubeconfig {kubeconfig} get namespaces -o json {TIMEOUT}")
        .quiet()
        .ignore_status()
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "cannot list the cluster's namespaces: {}",
        super::error_message(&String::from_utf8_lossy(&out.stderr))
    );
    let list: Value = serde_json::from_slice(&out.stdout).context("kubectl printed no namespace list")?;
    let names = select(&list, which);
    if !names.is_empty() {
        let each = &names;
        let out = cmd!(
            sh,
            "{kubectl} --kubeconfig {kubeconfig} delete namespace {each...} --wait=false --ignore-not-found {TIMEOUT}"
        )
        .quiet()
        .ignore_status()
        .output()?;
        anyhow::ensure!(
            out.status.success(),
            "cannot delete the fixture namespaces {}: {}",
            names.join(", "),
            super::error_message(&String::from_utf8_lossy(&out.stderr))
        );
    }
    Ok(names)
}

/// One line saying what a sweep of `which` did, or None when it removed nothing.
pub fn line(which: Which, result: &Result<Vec<String>>) -> Option<String> {
    let (what, fix) = match which {
        Which::Run(id) => (format!("of test run {id}"), format!("kubectl delete namespace -l {RUN_LABEL}={id}")),
        Which::OlderThan { age_s, .. } => (
            format!("older than {} h", age_s as f64 / 3600.0),
            format!("kubectl delete namespace NAME (those labelled {FIXTURE_LABEL}=true or named {PREFIX}*)"),
        ),
    };
    match result {
        Ok(names) if names.is_empty() => None,
        Ok(names) => Some(format!("removed {} fixture namespace(s) {what}: {}", names.len(), names.join(", "))),
        Err(e) => Some(format!(
            "note: cannot remove the fixture namespaces {what} ({e:#}): once the cluster answers, `{fix}`"
        )),
    }
}

#[cfg(test)]
#[path = "sweep_tests.rs"]
mod tests;
