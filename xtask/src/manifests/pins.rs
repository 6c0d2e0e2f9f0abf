//! `cargo xtask manifests update ENV`: pin every deployed component's image in
//! the overlay's `images:` list (tag and, when known, digest) from the image
//! stage's report or one `--tag`, and make `deploy/base` list every
//! component's manifests folder. Both edits keep the files' comments and order.

use crate::error::UsageError;
use crate::manifests::edit::Pin;
use anyhow::Result;
use serde::Deserialize;

pub const REPORT: &str = "target/xtask/images.json";
pub const REBUILD: &str = "cargo xtask image build --push";

/// One component's entry in the image stage's report (`images.json`); fields
/// this stage does not use are ignored, so the report may grow.
#[derive(Debug, Clone, Deserialize)]
pub struct Built {
    pub component: String,
    /// Every registry's name for the image, the first one preferred.
    #[serde(default)]
    pub images: Vec<String>,
    /// Most specific first (full SHA, short SHA; or X.Y.Z, X.Y, latest).
    #[serde(default)]
    pub tags: Vec<String>,
    /// The commit the image was built from.
    pub revision: String,
    /// `X.Y.Z` when built from a release tag.
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub pushed: Vec<Pushed>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Pushed {
    pub image: String,
    pub tag: String,
    pub digest: Option<String>,
}

/// `images.json` as the image stage writes it (`format` 1; see docs/reference/files.md).
#[derive(Deserialize)]
struct Report {
    format: u32,
    components: std::collections::BTreeMap<String, Entry>,
}

#[derive(Deserialize)]
struct Entry {
    #[serde(default)]
    repositories: Vec<String>,
    #[serde(default)]
    tags: Vec<String>,
    commit: String,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    pushed: Vec<PushedEntry>,
}

#[derive(Deserialize)]
struct PushedEntry {
    repository: String,
    tag: String,
    digest: Option<String>,
}

/// The image stage's report: the one place its format is read.
pub fn read_report(text: &str) -> Result<Vec<Built>, String> {
    let report: Report = serde_json::from_str(text).map_err(|e| e.to_string())?;
    if report.format != 1 {
        return Err(format!("format {} is not one this xtask reads (1)", report.format));
    }
    Ok(report
        .components
        .into_iter()
        .map(|(component, e)| Built {
            component,
            images: e.repositories,
            tags: e.tags,
            revision: e.commit,
            version: e.version,
            pushed: e
                .pushed
                .into_iter()
                .map(|p| Pushed { image: p.repository, tag: p.tag, digest: p.digest })
                .collect(),
        })
        .collect())
}

/// The image one component runs: (name, tag, digest). The first registry that
/// got a push, its most specific pushed tag, and the digest the push reported;
/// an image that was built but not pushed is pinned by its first name and tag only.
pub fn choose(b: &Built) -> Option<(String, String, Option<String>)> {
    let pushed = |image: &str, tag: &str| b.pushed.iter().find(|p| p.image == image && p.tag == tag);
    for image in &b.images {
        for tag in &b.tags {
            if let Some(p) = pushed(image, tag) {
                let digest = p
                    .digest
                    .clone()
                    .or_else(|| b.pushed.iter().filter(|q| q.image == *image).find_map(|q| q.digest.clone()));
                return Some((image.clone(), tag.clone(), digest));
            }
        }
    }
    Some((b.images.first()?.clone(), b.tags.first()?.clone(), None))
}

fn short(sha: &str) -> &str {
    &sha[..sha.len().min(12)]
}

/// Pins for `wanted` (component, image its manifests name) from the report
/// of commit `head`. A component the report lacks is an error, or with
/// `partial` left as it is (returned second).
pub fn pins_from_report(
    wanted: &[(String, String)],
    report: &[Built],
    head: &str,
    partial: bool,
) -> Result<(Vec<Pin>, Vec<String>)> {
    if let Some(other) = report.iter().find(|b| b.revision != head) {
        return Err(UsageError::new(format!(
            "{REPORT} is from commit {}, but HEAD is {}: build and push this commit's images ({REBUILD})",
            short(&other.revision),
            short(head)
        )));
    }
    let (mut pins, mut left) = (Vec::new(), Vec::new());
    for (component, name) in wanted {
        match report.iter().find(|b| &b.component == component).and_then(choose) {
            Some((image, tag, digest)) => {
                pins.push(Pin { name: name.clone(), new_name: Some(image), new_tag: tag, digest })
            }
            None => left.push(component.clone()),
        }
    }
    if !left.is_empty() && !partial {
        return Err(UsageError::new(format!(
            "{REPORT} has no image of {}: build and push it ({REBUILD}), or pass --partial to leave it as it is",
            left.join(", ")
        )));
    }
    Ok((pins, left))
}

/// Pins of every component to `tag`, names left as the overlay has them, no digest.
pub fn pins_for_tag(wanted: &[(String, String)], tag: &str) -> Vec<Pin> {
    wanted
        .iter()
        .map(|(_, name)| Pin { name: name.clone(), new_name: None, new_tag: tag.into(), digest: None })
        .collect()
}

/// The pins as the committed overlay's render names the images: an image it
/// renames itself (a committed pin) is matched by its new name.
pub fn over_committed(committed: &str, pins: &[Pin]) -> Vec<Pin> {
    let doc = crate::manifests::yaml::parse(committed).unwrap_or(serde_json::Value::Null);
    let renamed = |name: &str| {
        doc["images"].as_array().into_iter().flatten().find(|e| e["name"] == name).and_then(|e| e["newName"].as_str())
    };
    pins.iter().map(|p| Pin { name: renamed(&p.name).unwrap_or(&p.name).to_string(), ..p.clone() }).collect()
}

#[cfg(test)]
#[path = "pins_tests.rs"]
mod tests;
