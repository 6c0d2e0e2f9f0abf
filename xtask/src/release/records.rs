//! Releases live in the cluster, so every machine sees the same history: one
//! Secret per revision in the environment's namespace (a Secret, not a
//! ConfigMap, because the rendered manifests may hold Secrets themselves),
//! labelled so they can be listed, holding the rendered manifests (gzip) and
//! what was deployed (commit, version, image digests, who, when, outcome).
//! Everything here is pure: building, reading and choosing among records.
//!
//! How the history reads: `succeeded` is a release that was verified and
//! still stands (the newest one runs now); `rolled-back` is one that ran and
//! was undone by a later rollback (`undone_by`); a rollback is a new revision
//! re-applying an earlier one's manifests (`source_revision`, always the
//! original deploy), `succeeded` when it verifies. So pressing `rollback`
//! again goes one release further back, never to what already runs.

use crate::canary::run::Record;
use crate::telemetry::TRACE_ANNOTATION;
use anyhow::{Context, Result};
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::io::{Read, Write};

/// How many revisions an environment keeps.
pub const KEEP: usize = 10;
pub const LABEL_RELEASE: &str = "mlops.dev/release";
pub const LABEL_ENV: &str = "mlops.dev/environment";
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "xtask");

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Applied, being verified (a crashed deploy leaves this, never "succeeded").
    Pending,
    Succeeded,
    /// Verify failed; the previous release was put back.
    Failed,
    /// It ran and a later rollback undid it (`undone_by`).
    RolledBack,
    /// `undeploy` deleted what the releases applied; nothing of ours runs.
    Undeployed,
    /// Its canary was judged worse (or interrupted, or aborted by hand): the
    /// canary went, the stable pods kept serving the previous release.
    Aborted,
}

impl Outcome {
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Pending => "pending",
            Outcome::Succeeded => "succeeded",
            Outcome::Failed => "failed",
            Outcome::RolledBack => "rolled-back",
            Outcome::Undeployed => "undeployed",
            Outcome::Aborted => "aborted",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Image {
    pub component: String,
    /// The reference as applied: `name:tag@sha256:…` or `name:tag`.
    pub reference: String,
    /// The commit it was built from, as the images report says; `None`
    /// when the report does not know the image (or for a foreign image).
    #[serde(default)]
    pub built_from: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Release {
    pub revision: u64,
    pub environment: String,
    /// The commit checked out when it was deployed (HEAD); each image says
    /// what it was built from.
    pub commit: String,
    pub version: Option<String>,
    pub images: Vec<Image>,
    pub deployed_by: String,
    /// RFC 3339, UTC.
    pub deployed_at: String,
    pub outcome: Outcome,
    /// What happened, in a line (e.g. the failure that caused a rollback).
    #[serde(default)]
    pub description: String,
    /// For a rollback: the original deploy whose manifests were re-applied.
    #[serde(default)]
    pub source_revision: Option<u64>,
    /// For a rolled-back release: the rollback that undid it.
    #[serde(default)]
    pub undone_by: Option<u64>,
    /// The render's files (overlay, base, components' k8s/) that differed
    /// from the commit when it was deployed: what ran is not all in git.
    #[serde(default)]
    pub uncommitted: Vec<String>,
    /// Deployed with `--force` past a refusal (pins not of this commit, a failed revision).
    #[serde(default)]
    pub forced: bool,
    /// The canary this release went through (canary environments only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary: Option<Record>,
    /// The W3C `traceparent` of the pipeline run that made this revision: its
    /// pods and objects carry it too (`xtask.dev/traceparent`), so a pod leads
    /// to its release and run, and back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
}

impl Release {
    /// The deploy whose manifests this revision runs (itself, unless it is a rollback).
    pub fn source(&self) -> u64 {
        self.source_revision.unwrap_or(self.revision)
    }
}

/// The newest revision that recorded its run's `traceparent`, and its trace id.
pub fn last_trace(history: &[Release]) -> Option<(u64, String)> {
    history
        .iter()
        .filter_map(|r| Some((r.revision, r.traceparent.as_deref()?.split('-').nth(1)?.to_string())))
        .max_by_key(|(revision, _)| *revision)
}

/// The last deploy's trace: `trace T (revision N): cargo xtask logs ENV --trace T`.
pub fn trace_line(env: &str, history: &[Release]) -> Option<String> {
    let (revision, trace) = last_trace(history)?;
    Some(format!("trace {trace} (revision {revision}): cargo xtask logs {env} --trace {trace}"))
}

pub fn secret_name(revision: u64) -> String {
    format!("mlops-release.v{revision}")
}

/// The Secret recording `r` with its rendered manifests, ready to apply.
pub fn to_secret(r: &Release, namespace: &str, manifests: &str) -> Result<Value> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(manifests.as_bytes())?;
    let b64 = base64::engine::general_purpose::STANDARD;
    let annotations = match &r.traceparent {
        Some(tp) => json!({ TRACE_ANNOTATION: tp }),
        None => json!({}),
    };
    Ok(json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "mlops.dev/release.v1",
        "metadata": {
            "name": secret_name(r.revision),
            "namespace": namespace,
            "annotations": annotations,
            "labels": {
                MANAGED_BY.0: MANAGED_BY.1,
                LABEL_RELEASE: "true",
                LABEL_ENV: r.environment,
                "mlops.dev/revision": r.revision.to_string(),
                "mlops.dev/outcome": r.outcome.label(),
            },
        },
        "data": {
            "release.json": b64.encode(serde_json::to_vec(r)?),
            "manifests.yaml.gz": b64.encode(gz.finish()?),
        },
    }))
}

/// The record a release Secret holds. Records written before `rolled-back`
/// meant "undone" used it for a verified rollback's own revision (they have no
/// `undone_by`): those read as `succeeded`, which is what they were.
pub fn from_secret(secret: &Value) -> Result<Release> {
    let name = secret["metadata"]["name"].as_str().unwrap_or("?");
    let raw = data(secret, "release.json").with_context(|| format!("release {name} is unreadable"))?;
    let mut r: Release =
        serde_json::from_slice(&raw).with_context(|| format!("release {name} holds a malformed record"))?;
    if r.outcome == Outcome::RolledBack && r.undone_by.is_none() {
        r.outcome = Outcome::Succeeded;
    }
    Ok(r)
}

/// The rendered manifests a release Secret holds.
pub fn manifests_of(secret: &Value) -> Result<String> {
    let name = secret["metadata"]["name"].as_str().unwrap_or("?");
    let gz = data(secret, "manifests.yaml.gz").with_context(|| format!("release {name} has no manifests"))?;
    let mut text = String::new();
    flate2::read::GzDecoder::new(gz.as_slice())
        .read_to_string(&mut text)
        .with_context(|| format!("release {name}'s manifests are corrupt"))?;
    Ok(text)
}

fn data(secret: &Value, key: &str) -> Result<Vec<u8>> {
    let text = secret["data"][key].as_str().with_context(|| format!("no `{key}` in its data"))?;
    Ok(base64::engine::general_purpose::STANDARD.decode(text)?)
}

/// The revision after the highest recorded.
pub fn next_revision(history: &[Release]) -> u64 {
    history.iter().map(|r| r.revision).max().unwrap_or(0) + 1
}

/// What runs now: the newest release that was verified and not undone;
/// none when nothing was ever verified or `undeploy` came after it.
pub fn current(history: &[Release]) -> Option<&Release> {
    last_word(history).filter(|r| r.outcome == Outcome::Succeeded)
}

/// The `undeploy` that came after every standing release, if one did: nothing of ours runs since.
pub fn undeployed(history: &[Release]) -> Option<&Release> {
    last_word(history).filter(|r| r.outcome == Outcome::Undeployed)
}

/// The newest release that verified or undeploy that removed them.
fn last_word(history: &[Release]) -> Option<&Release> {
    history.iter().filter(|r| matches!(r.outcome, Outcome::Succeeded | Outcome::Undeployed)).max_by_key(|r| r.revision)
}

fn short(commit: &str) -> &str {
    &commit[..commit.len().min(12)]
}

/// The release a rollback goes to. Without `to`: the newest release before
/// the current one that still stands and runs other manifests than it (so a
/// second rollback goes further back) — or the current one itself when a
/// newer revision was applied and never verified. With `to`: that revision,
/// refused when it never verified (failed, pending) or is what runs now, unless `force`.
pub fn rollback_target(history: &[Release], to: Option<u64>, force: bool) -> Result<&Release, String> {
    let now = current(history);
    // A newer revision that never verified (interrupted, or failed and not put back) may be what the
    // cluster runs: then putting the current release back is the rollback.
    let unsettled = history.iter().max_by_key(|r| r.revision).is_some_and(|r| {
        matches!(r.outcome, Outcome::Pending | Outcome::Failed) && now.is_some_and(|n| r.revision > n.revision)
    });
    if let Some(rev) = to {
        let target = history.iter().find(|r| r.revision == rev).ok_or_else(|| {
            let known: Vec<String> = history.iter().map(|r| r.revision.to_string()).collect();
            format!("no revision {rev} in this environment's history (known: {})", known.join(", "))
        })?;
        const VERIFIED: &str = "`cargo xtask status` lists the verified releases; pass --force to apply it anyway";
        let why = match target.outcome {
            Outcome::Undeployed => {
                return Err(format!("revision {rev} is an undeploy, not a release: name a deployed revision"))
            }
            Outcome::Aborted => Some(format!(
                "revision {rev} was aborted as a canary{}: {VERIFIED}",
                if target.description.is_empty() { String::new() } else { format!(" ({})", target.description) }
            )),
            Outcome::Failed => Some(format!(
                "revision {rev} failed its verify{}: {VERIFIED}",
                if target.description.is_empty() { String::new() } else { format!(" ({})", target.description) }
            )),
            Outcome::Pending => {
                Some(format!("revision {rev} never verified (it is pending: interrupted or under way): {VERIFIED}"))
            }
            Outcome::Succeeded | Outcome::RolledBack => match now {
                Some(n) if n.source() == target.source() && !unsettled => Some(format!(
                    "revision {rev} is what runs now (as revision {}): nothing to roll back; pass --force to re-apply it",
                    n.revision
                )),
                _ => None,
            },
        };
        return match why {
            Some(why) if !force => Err(why),
            _ => Ok(target),
        };
    }
    let Some(now) = now else {
        return Err(match undeployed(history) {
            Some(u) => format!(
                "nothing runs: revision {} undeployed this environment; name the release to put back with --to",
                u.revision
            ),
            None => "nothing to roll back: no release of this environment was ever verified".into(),
        });
    };
    if unsettled {
        return Ok(now);
    }
    history
        .iter()
        .filter(|r| r.revision < now.revision && r.outcome == Outcome::Succeeded && r.source() != now.source())
        .max_by_key(|r| r.revision)
        .ok_or_else(|| {
            let runs = if now.source() == now.revision {
                format!("revision {}", now.revision)
            } else {
                format!("revision {} (revision {}'s manifests)", now.revision, now.source())
            };
            format!(
                "nothing to roll back to: {runs} runs now and no earlier release stands (the others failed or were rolled back); name one with --to"
            )
        })
}

/// The releases a rollback to `target` undoes: every standing release after
/// it that runs other manifests. They read `rolled-back` once the rollback verified.
pub fn undone(history: &[Release], target: &Release) -> Vec<u64> {
    history
        .iter()
        .filter(|r| r.outcome == Outcome::Succeeded && r.revision > target.revision && r.source() != target.source())
        .map(|r| r.revision)
        .collect()
}

/// `r` as undone by the rollback `by`.
pub fn mark_undone(r: &Release, by: u64) -> Release {
    Release { outcome: Outcome::RolledBack, undone_by: Some(by), ..r.clone() }
}

/// Revisions beyond the newest [`KEEP`], oldest first, to delete.
pub fn to_prune(history: &[Release]) -> Vec<u64> {
    let mut revs: Vec<u64> = history.iter().map(|r| r.revision).collect();
    revs.sort_unstable();
    let extra = revs.len().saturating_sub(KEEP);
    revs.truncate(extra);
    revs
}

/// What a reader needs beside the outcome: what it did, and how it stands.
fn notes(r: &Release, running: Option<u64>) -> Vec<String> {
    let mut out = Vec::new();
    if !r.description.is_empty() {
        out.push(r.description.clone());
    }
    if let Some(by) = r.undone_by {
        out.push(format!("rolled back by revision {by}"));
    }
    let mut others: Vec<&str> =
        r.images.iter().filter_map(|i| i.built_from.as_deref()).filter(|c| *c != r.commit).map(short).collect();
    others.dedup();
    if !others.is_empty() {
        out.push(format!("images built from {}", others.join(", ")));
    }
    if !r.uncommitted.is_empty() {
        out.push(format!("uncommitted: {}", r.uncommitted.join(", ")));
    }
    if r.forced {
        out.push("forced".into());
    }
    if running == Some(r.revision) {
        out.push("running now".into());
    }
    out
}

/// `helm history`-like lines, newest last; the notes say what each did and
/// which one runs now.
pub fn history_table(history: &[Release]) -> String {
    let mut rows: Vec<&Release> = history.iter().collect();
    rows.sort_by_key(|r| r.revision);
    let running = current(history).map(|r| r.revision);
    let mut out =
        format!("{:<9}{:<22}{:<13}{:<10}{:<14}{}\n", "REVISION", "DEPLOYED", "OUTCOME", "VERSION", "COMMIT", "BY");
    for r in rows {
        let notes = notes(r, running);
        let what = if notes.is_empty() { String::new() } else { format!("  {}", notes.join("; ")) };
        out += &format!(
            "{:<9}{:<22}{:<13}{:<10}{:<14}{}{what}\n",
            r.revision,
            r.deployed_at,
            r.outcome.label(),
            r.version.as_deref().unwrap_or("-"),
            short(&r.commit),
            r.deployed_by
        );
    }
    out
}

#[cfg(test)]
#[path = "records_tests.rs"]
mod tests;
