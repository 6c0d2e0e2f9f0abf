//! Who runs the node's root-only work (containers, mounts, iptables): this
//! process when it is root, else this program again under `sudo -n` when the
//! user has passwordless sudo (a GitHub runner's user; a developer's), else
//! one error saying what to allow. The decision is pure (`root_tests.rs`);
//! `probe` asks sudo once, `again` re-runs `cargo xtask node ACTION`.

use super::Config;
use crate::services::Ctx;
use anyhow::{Context, Result};
use xshell::{cmd, Shell};

/// Where the node's work runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Via {
    /// In this process: it is root.
    Here,
    /// In this program again, as root through `sudo -n`.
    Sudo,
}

/// What `sudo -n true` said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sudo {
    Works,
    Missing,
    /// It asked for a password, or refused this user: its first line.
    Refused(String),
}

/// How `what` (root-only work of the node) runs for `euid`; `probe` asks
/// sudo, only when it is needed. An error is one line naming the fix.
pub fn decide(euid: u32, what: &str, probe: impl FnOnce() -> Sudo) -> Result<Via, String> {
    if euid == 0 {
        return Ok(Via::Here);
    }
    let without = "or run as root (XTASK_KUBE_NODE=0 runs the cluster without the node)";
    match probe() {
        Sudo::Works => Ok(Via::Sudo),
        Sudo::Missing => Err(format!(
            "{what} needs root, and sudo is not installed: install it and allow this user passwordless sudo, {without}"
        )),
        Sudo::Refused(line) => Err(format!(
            "{what} needs root, and `sudo -n` refused ({line}): allow this user passwordless sudo (NOPASSWD), {without}"
        )),
    }
}

/// Ask sudo, without a prompt, whether this user may run as root.
pub fn probe(sh: &Shell) -> Sudo {
    if which::which("sudo").is_err() {
        return Sudo::Missing;
    }
    match cmd!(sh, "sudo -n true").quiet().ignore_stdout().ignore_status().output() {
        Ok(out) if out.status.success() => Sudo::Works,
        Ok(out) => {
            let text = String::from_utf8_lossy(&out.stderr);
            let line = text.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("no reason given");
            Sudo::Refused(line.to_string())
        }
        Err(e) => Sudo::Refused(format!("{e}")),
    }
}

/// The variables `node ACTION` reads that sudo's `env_reset` would drop,
/// as `NAME=value` for `env`: the cluster's state always, the rest when set.
pub fn carried(cfg: &Config, var: &dyn Fn(&str) -> Option<String>) -> Vec<String> {
    let mut out = vec![
        format!("XTASK_KUBE_STATE={}", cfg.cluster.state.display()),
        format!("XTASK_KUBE_DEADLINE={}", cfg.deadline.as_secs()),
    ];
    for k in [
        "XTASK_CONTAINERD",
        "XTASK_NODE_TAINTS",
        "XTASK_NODE_REGISTRY",
        "XTASK_REGISTRY_USERNAME",
        "XTASK_REGISTRY_PASSWORD_FILE",
    ] {
        if let Some(v) = var(k).filter(|v| !v.is_empty()) {
            out.push(format!("{k}={v}"));
        }
    }
    out
}

/// `cargo xtask node ACTION` as root through `sudo -n`, told where the cluster is.
pub fn again(cx: &Ctx, cfg: &Config, action: &str) -> Result<()> {
    let exe = crate::fsutil::own_program()?;
    let vars = carried(cfg, &|k| std::env::var(k).ok());
    let (sh, root, bin) = (cx.sh, cx.root, &cfg.bin);
    cmd!(sh, "sudo -n env {vars...} {exe} --root {root} node {action} --bin {bin}")
        .run()
        .with_context(|| format!("the real node did not {action} as root (sudo -n): XTASK_KUBE_NODE=0 runs without it"))
}

#[cfg(test)]
#[path = "root_tests.rs"]
mod tests;
