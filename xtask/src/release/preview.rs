//! Pull-request previews on the cluster: which run (namespaces labelled
//! `xtask.dev/preview`), their age, commit and state from their release
//! records, which one makes room for a new one (the oldest idle), which a
//! sweep removes (idle longer than the TTL), and removing one: its namespace,
//! and with it the data claim, whose volume the cluster's provisioner deletes
//! (reclaim policy Delete). The decisions are pure; `list` and `down` read
//! and act.

use crate::cli::ClusterArgs;
use crate::clock;
use crate::github::on_github;
use crate::kube::cluster::Session;
use crate::kube::credentials;
use crate::kube::lease::{self, Decision};
use crate::manifests::preview::{self, LABEL};
use crate::release::history;
use crate::release::records::{Outcome, Release};
use anyhow::{Context, Result};
use serde_json::Value;
use std::time::{Duration, Instant};

/// One preview as the cluster has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preview {
    pub pr: u64,
    pub namespace: String,
    /// When its namespace was made (Unix seconds).
    pub created: u64,
    /// Its newest release's time, else `created`: what age and the TTL count from.
    pub active: u64,
    /// The commit its newest release deployed.
    pub commit: Option<String>,
    /// `deploying`, `removing`, or the newest release's outcome (`never deployed`).
    pub state: String,
    /// A deploy holds its lock (or the namespace is going): never removed to make room.
    pub busy: bool,
}

/// A session on the cluster in preview `pr`'s namespace.
pub fn connect(args: &ClusterArgs, pr: u64) -> Result<Session> {
    let kubeconfig = credentials::resolve(args.kubeconfig.as_deref(), on_github())?;
    Session::open(kubeconfig, args.context.as_deref(), &preview::namespace(pr))
}

/// A labelled namespace as (pull request, name, created, terminating); None for another one.
pub fn from_namespace(ns: &Value) -> Option<(u64, String, u64, bool)> {
    let pr = ns["metadata"]["labels"][LABEL].as_str()?.parse().ok()?;
    let name = ns["metadata"]["name"].as_str()?.to_string();
    (name == preview::namespace(pr)).then_some(())?;
    let created = ns["metadata"]["creationTimestamp"].as_str().and_then(clock::parse_rfc3339).unwrap_or(0);
    Some((pr, name, created, ns["status"]["phase"] == "Terminating"))
}

/// The newest release's commit, outcome and time.
pub fn newest(history: &[Release]) -> Option<(&str, &'static str, u64)> {
    let r = history.iter().max_by_key(|r| r.revision)?;
    Some((r.commit.as_str(), r.outcome.label(), clock::parse_rfc3339(&r.deployed_at).unwrap_or(0)))
}

/// The previews to remove so that `incoming` can run with at most `max`:
/// none when it runs already or there is room, else the oldest idle ones;
/// when none is idle, the one line saying what to do.
pub fn make_room(previews: &[Preview], max: usize, incoming: u64) -> Result<Vec<u64>, String> {
    let live: Vec<&Preview> = previews.iter().filter(|p| p.state != "removing").collect();
    if live.iter().any(|p| p.pr == incoming) || live.len() < max {
        return Ok(Vec::new());
    }
    let mut idle: Vec<&&Preview> = live.iter().filter(|p| !p.busy).collect();
    idle.sort_by_key(|p| (p.active, p.pr));
    let need = live.len() + 1 - max;
    if idle.len() < need {
        return Err(format!(
            "{} previews run (the most development's xtask.toml allows: previews = {max}) and none can make room: see `cargo xtask preview list`, then `cargo xtask preview down --pr N`",
            live.len()
        ));
    }
    Ok(idle.iter().take(need).map(|p| p.pr).collect())
}

/// The idle previews not active for `ttl` at `now`, oldest first.
pub fn expired(previews: &[Preview], now: u64, ttl: Duration) -> Vec<u64> {
    let mut old: Vec<&Preview> =
        previews.iter().filter(|p| !p.busy && now.saturating_sub(p.active) >= ttl.as_secs()).collect();
    old.sort_by_key(|p| (p.active, p.pr));
    old.iter().map(|p| p.pr).collect()
}

/// A duration in words (`3d4h`, `2h5m`, `40s`).
pub fn age(secs: u64) -> String {
    match secs {
        s if s >= 86_400 => format!("{}d{}h", s / 86_400, s % 86_400 / 3600),
        s if s >= 3600 => format!("{}h{}m", s / 3600, s % 3600 / 60),
        s if s >= 60 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// The previews as a table (`preview list`, `status`).
pub fn table(previews: &[Preview], now: u64) -> String {
    let mut rows = vec![["PREVIEW", "NAMESPACE", "AGE", "IDLE", "COMMIT", "STATE"].map(String::from)];
    for p in previews {
        let commit = p.commit.as_deref().map_or("-".to_string(), |c| c[..c.len().min(12)].to_string());
        rows.push([
            preview::env_name(p.pr),
            p.namespace.clone(),
            age(now.saturating_sub(p.created)),
            age(now.saturating_sub(p.active)),
            commit,
            p.state.clone(),
        ]);
    }
    let widths: Vec<usize> = (0..6).map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0)).collect();
    rows.iter()
        .map(|r| {
            let cells: Vec<String> = (0..6).map(|i| format!("{:<w$}", r[i], w = widths[i])).collect();
            format!("{}\n", cells.join("  ").trim_end())
        })
        .collect()
}

/// Every preview on the cluster, by pull request.
pub fn list(s: &mut Session) -> Result<Vec<Preview>> {
    let text = s.run(&["get", "namespaces", "-l", LABEL, "-o", "json"], None)?;
    let json: Value = serde_json::from_str(&text).context("kubectl printed JSON that does not parse")?;
    let mut out = Vec::new();
    let home = s.namespace.clone();
    for ns in json["items"].as_array().into_iter().flatten() {
        let Some((pr, name, created, terminating)) = from_namespace(ns) else { continue };
        s.namespace = name.clone();
        let history = if terminating { Vec::new() } else { history::releases(s, &preview::env_name(pr))? };
        let lease = if terminating { None } else { s.get_one("lease", lease::NAME)? };
        let held = matches!(lease::decide(lease.as_ref(), "", clock::now()), Decision::Held { .. });
        let newest = newest(&history);
        let state = match (terminating, held, newest) {
            (true, _, _) => "removing".to_string(),
            (_, true, _) => "deploying".to_string(),
            (_, _, Some((_, outcome, _))) if outcome == Outcome::Pending.label() => "pending (not verified)".into(),
            (_, _, Some((_, outcome, _))) => outcome.to_string(),
            (_, _, None) => "never deployed".to_string(),
        };
        out.push(Preview {
            pr,
            namespace: name,
            created,
            active: newest.map_or(created, |(_, _, at)| at.max(created)),
            commit: newest.map(|(c, _, _)| c.to_string()),
            state,
            busy: held || terminating,
        });
    }
    s.namespace = home;
    out.sort_by_key(|p| p.pr);
    Ok(out)
}

/// The volumes bound to claims in `namespace`.
fn volumes_of(s: &Session, namespace: &str) -> Result<Vec<String>> {
    let text = s.run(&["get", "persistentvolumes", "-o", "json"], None)?;
    let json: Value = serde_json::from_str(&text).context("kubectl printed JSON that does not parse")?;
    Ok(json["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|pv| pv["spec"]["claimRef"]["namespace"] == namespace)
        .filter_map(|pv| pv["metadata"]["name"].as_str().map(String::from))
        .collect())
}

/// Remove preview `pr`: its namespace (the claim, the token, the records go
/// with it), then wait until the namespace and its claims' volumes are gone.
/// False when there was no such preview.
pub fn down(s: &Session, pr: u64, timeout: Duration) -> Result<bool> {
    let ns = preview::namespace(pr);
    let found = s.run(&["get", "namespace", &ns, "-o", "json", "--ignore-not-found"], None)?;
    let is_preview = serde_json::from_str::<Value>(&found).ok().as_ref().and_then(from_namespace).is_some();
    if found.trim().is_empty() || !is_preview {
        return Ok(false);
    }
    let volumes = volumes_of(s, &ns)?;
    s.run(&["delete", "namespace", &ns, "--wait=false"], None)?;
    let deadline = Instant::now() + timeout;
    let mut pause = crate::kube::poll::Backoff::cluster();
    loop {
        let ns_left = !s.run(&["get", "namespace", &ns, "--ignore-not-found", "-o", "name"], None)?.trim().is_empty();
        // The claims go with the namespace: their volumes are looked at once it is gone.
        let pv_left: Vec<String> = if ns_left {
            Vec::new()
        } else {
            volumes_of(s, &ns)?.into_iter().filter(|v| volumes.contains(v)).collect()
        };
        if !ns_left && pv_left.is_empty() {
            for v in &volumes {
                println!("  volume   {v}: deleted with its claim");
            }
            return Ok(true);
        }
        if Instant::now() >= deadline {
            anyhow::bail!(
                "preview {} is still going after {}s ({}): look at `kubectl get namespace {ns} -o yaml` and run `cargo xtask preview down --pr {pr}` again",
                preview::env_name(pr),
                timeout.as_secs(),
                if ns_left { "its namespace is still terminating".to_string() } else { format!("namespace gone; volumes {} left", pv_left.join(", ")) }
            );
        }
        pause.sleep();
    }
}

#[cfg(test)]
#[path = "preview_tests.rs"]
mod tests;
