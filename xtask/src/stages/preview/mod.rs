//! `cargo xtask preview up|down|list|sweep`: a pull request's own environment
//! `pr-<N>` (`manifests::preview` renders it, `release::preview` finds,
//! bounds and removes them on the cluster). `up` is in `up.rs`; the deploy
//! itself is `cargo xtask deploy pr-<N>` as a child of this binary, so a
//! preview is verified, smoke-checked and recorded like any release.

mod up;

use crate::cli::{ClusterArgs, PreviewArgs, PreviewCommand};
use crate::clock;
use crate::component::Workspace;
use crate::error::UsageError;
use crate::github;
use crate::kube::wait::parse_duration;
use crate::manifests::preview;
use crate::pipeline::trigger;
use crate::release::preview as previews;
use anyhow::Result;
use std::path::Path;
use xshell::{cmd, Shell};

pub fn run(ws: &Workspace, action: &PreviewCommand) -> Result<i32> {
    match action {
        PreviewCommand::Up(args) => up::run(ws, args),
        PreviewCommand::Down(args) => down(ws, args),
        PreviewCommand::List(args) => list(&args.cluster),
        PreviewCommand::Sweep { older_than, cluster } => sweep(&ws.root, older_than, cluster),
    }
}

/// The pull request GitHub's event is about: (number, from a fork).
pub(crate) fn github_pull_request() -> Result<Option<(u64, bool)>> {
    if !github::on_github() {
        return Ok(None);
    }
    let Some(path) = std::env::var("GITHUB_EVENT_PATH").ok().filter(|p| !p.is_empty()) else { return Ok(None) };
    let text = std::fs::read_to_string(&path)
        .map_err(|e| UsageError::new(format!("cannot read the event payload {path} (GITHUB_EVENT_PATH): {e}")))?;
    let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        UsageError::new(format!("the event payload {path} is not JSON ({e}): it must be the file GitHub wrote"))
    })?;
    Ok(trigger::pull_request_of(&json))
}

/// `--pr`, else GitHub's pull request, else the current branch hashed to a stable id.
fn pr_of(root: &Path, given: Option<u64>, github: Option<(u64, bool)>) -> Result<u64> {
    match (given, github) {
        (Some(0), _) => Err(UsageError::new("--pr 0 is no pull request: pass its number, e.g. --pr 42")),
        (Some(n), _) | (None, Some((n, _))) => Ok(n),
        (None, None) => {
            let sh = Shell::new()?;
            sh.change_dir(root);
            let branch = cmd!(sh, "git symbolic-ref --short -q HEAD").quiet().ignore_status().ignore_stderr().read()?;
            if branch.trim().is_empty() {
                return Err(UsageError::new(
                    "HEAD is not on a branch, so there is no preview id to derive: pass --pr N",
                ));
            }
            let id = preview::branch_id(branch.trim());
            println!("preview {}: the id of branch {}", preview::env_name(id), branch.trim());
            Ok(id)
        }
    }
}

/// Forget a removed preview's generated render.
fn forget(root: &Path, pr: u64) {
    let _ = std::fs::remove_dir_all(root.join(preview::dir(pr)));
}

fn down(ws: &Workspace, args: &PreviewArgs) -> Result<i32> {
    let gh = github_pull_request()?;
    let pr = pr_of(&ws.root, args.pr, gh)?;
    let timeout = parse_duration(&args.timeout).map_err(UsageError::new)?;
    let s = previews::connect(&args.cluster, pr)?;
    let env = preview::env_name(pr);
    let removed = previews::down(&s, pr, timeout)?;
    forget(&ws.root, pr);
    let line = if removed {
        format!("preview {env} removed: namespace {}, its data claim and volume", s.namespace)
    } else {
        format!("preview {env} does not exist on {}: nothing to remove", s.server)
    };
    println!("{line}");
    if gh.is_some_and(|(n, _)| n == pr) {
        github::append_summary(&format!("{line}\n"))?;
        if removed {
            let body = format!("**Preview `{env}`** was removed with the pull request (namespace `{}`).", s.namespace);
            if let Err(e) = github::comment::upsert(pr, &body, &|k| std::env::var(k).ok().filter(|v| !v.is_empty())) {
                eprintln!("warning: {e}");
            }
        }
    }
    Ok(0)
}

fn list(cluster: &ClusterArgs) -> Result<i32> {
    let mut s = previews::connect(cluster, 0)?;
    let all = previews::list(&mut s)?;
    if all.is_empty() {
        println!("no previews on {}", s.server);
    } else {
        println!("previews on {}", s.server);
        print!("{}", previews::table(&all, clock::now()));
    }
    Ok(0)
}

fn sweep(root: &Path, older_than: &str, cluster: &ClusterArgs) -> Result<i32> {
    let ttl = parse_duration(older_than).map_err(UsageError::new)?;
    let mut s = previews::connect(cluster, 0)?;
    let all = previews::list(&mut s)?;
    let old = previews::expired(&all, clock::now(), ttl);
    if old.is_empty() {
        println!("sweep: no preview idle for {older_than} or more ({} running)", all.len());
    }
    for pr in old {
        previews::down(&s, pr, std::time::Duration::from_secs(180))?;
        forget(root, pr);
        println!("sweep: removed preview {} (idle for {older_than} or more)", preview::env_name(pr));
    }
    Ok(0)
}
