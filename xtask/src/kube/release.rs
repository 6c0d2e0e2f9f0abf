//! Releases live in the cluster, so every machine sees the same history: one
//! Secret per revision in the environment's namespace (a Secret, not a
//! ConfigMap, because the rendered manifests may hold Secrets themselves),
//! labelled so they can be listed, holding the rendered manifests (gzip) and
//! what was deployed (commit, version, image digests, who, when, outcome).
//! Everything here is pure: building, reading and choosing among records.

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
    /// A rollback to an earlier revision's manifests, verified.
    RolledBack,
}

impl Outcome {
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Pending => "pending",
            Outcome::Succeeded => "succeeded",
            Outcome::Failed => "failed",
            Outcome::RolledBack => "rolled-back",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Image {
    pub component: String,
    /// The reference as applied: `name:tag@sha256:…` or `name:tag`.
    pub reference: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Release {
    pub revision: u64,
    pub environment: String,
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
    /// For a rollback: the revision whose manifests were re-applied.
    #[serde(default)]
    pub source_revision: Option<u64>,
}

pub fn secret_name(revision: u64) -> String {
    format!("mlops-release.v{revision}")
}

/// The Secret recording `r` with its rendered manifests, ready to apply.
pub fn to_secret(r: &Release, namespace: &str, manifests: &str) -> Result<Value> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(manifests.as_bytes())?;
    let b64 = base64::engine::general_purpose::STANDARD;
    Ok(json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "mlops.dev/release.v1",
        "metadata": {
            "name": secret_name(r.revision),
            "namespace": namespace,
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

/// The record a release Secret holds.
pub fn from_secret(secret: &Value) -> Result<Release> {
    let name = secret["metadata"]["name"].as_str().unwrap_or("?");
    let raw = data(secret, "release.json").with_context(|| format!("release {name} is unreadable"))?;
    serde_json::from_slice(&raw).with_context(|| format!("release {name} holds a malformed record"))
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

/// What runs now: the newest release that was verified (a deploy or a rollback).
pub fn current(history: &[Release]) -> Option<&Release> {
    history.iter().filter(|r| matches!(r.outcome, Outcome::Succeeded | Outcome::RolledBack)).max_by_key(|r| r.revision)
}

/// The release a rollback goes to: `to` when given (it must exist), else the
/// newest verified release before the current one.
pub fn rollback_target(history: &[Release], to: Option<u64>) -> Result<&Release, String> {
    if let Some(rev) = to {
        return history.iter().find(|r| r.revision == rev).ok_or_else(|| {
            let known: Vec<String> = history.iter().map(|r| r.revision.to_string()).collect();
            format!("no revision {rev} in this environment's history (known: {})", known.join(", "))
        });
    }
    let now = current(history).ok_or("nothing to roll back: no release of this environment was ever verified")?;
    history
        .iter()
        .filter(|r| r.revision < now.revision && matches!(r.outcome, Outcome::Succeeded | Outcome::RolledBack))
        .max_by_key(|r| r.revision)
        .ok_or_else(|| format!("nothing to roll back to: revision {} is the only verified release", now.revision))
}

/// Revisions beyond the newest [`KEEP`], oldest first, to delete.
pub fn to_prune(history: &[Release]) -> Vec<u64> {
    let mut revs: Vec<u64> = history.iter().map(|r| r.revision).collect();
    revs.sort_unstable();
    let extra = revs.len().saturating_sub(KEEP);
    revs.truncate(extra);
    revs
}

/// `helm history`-like lines, newest last.
pub fn history_table(history: &[Release]) -> String {
    let mut rows: Vec<&Release> = history.iter().collect();
    rows.sort_by_key(|r| r.revision);
    let mut out =
        format!("{:<9}{:<22}{:<13}{:<10}{:<14}{}\n", "REVISION", "DEPLOYED", "OUTCOME", "VERSION", "COMMIT", "BY");
    for r in rows {
        let commit = &r.commit[..r.commit.len().min(12)];
        let what = if r.description.is_empty() { String::new() } else { format!("  {}", r.description) };
        out += &format!(
            "{:<9}{:<22}{:<13}{:<10}{:<14}{}{what}\n",
            r.revision,
            r.deployed_at,
            r.outcome.label(),
            r.version.as_deref().unwrap_or("-"),
            commit,
            r.deployed_by
        );
    }
    out
}

#[cfg(test)]
#[path = "release_tests.rs"]
mod tests;
