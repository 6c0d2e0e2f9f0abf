//! `cargo xtask manifests update ENV`: pin every deployed component's image in
//! the overlay's `images:` list (tag and, when known, digest) from the image
//! stage's report or one `--tag`, and make `deploy/base` list every
//! component's manifests folder. Both edits keep the files' comments and order.

use crate::cli::UpdateArgs;
use crate::component::Workspace;
use crate::error::UsageError;
use crate::fsutil::write_atomic;
use crate::stages::manifests_edit::{self, Pin};
use crate::stages::manifests_render::{self as render, BASE};
use anyhow::Result;
use serde::Deserialize;
use std::path::Path;
use xshell::{cmd, Shell};

pub const REPORT: &str = "target/xtask/images.json";
const REBUILD: &str = "cargo xtask image build --push";

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

/// `images.json` as the image stage writes it (`format` 1; see docs/ci-cd.md).
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

fn head(root: &Path) -> Result<String> {
    let sh = Shell::new()?;
    sh.change_dir(root);
    let out = cmd!(sh, "git rev-parse HEAD").quiet().ignore_status().output()?;
    if !out.status.success() {
        let why = String::from_utf8_lossy(&out.stderr).lines().next().unwrap_or("").trim().to_string();
        return Err(UsageError::new(format!(
            "cannot read the checked-out commit ({why}): the images report must be this commit's; commit first, or pin with --tag"
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The report at `file` (relative to the current folder), else the repo's.
fn report(root: &Path, file: Option<&Path>) -> Result<Vec<Built>> {
    let (path, shown) = match file {
        Some(f) => (f.to_path_buf(), f.display().to_string()),
        None => (root.join(REPORT), REPORT.to_string()),
    };
    let text = std::fs::read_to_string(&path).map_err(|e| {
        UsageError::new(format!(
            "cannot read the images report {shown} ({e}): build and push the images first ({REBUILD})"
        ))
    })?;
    read_report(&text).map_err(|why| {
        UsageError::new(format!("the images report {shown} is malformed ({why}): write it afresh ({REBUILD})"))
    })
}

/// Write `new` over `file` unless it is the same; with `check`, only show the
/// diff. Returns whether the file was out of date.
fn apply(root: &Path, file: &str, old: &str, new: &str, check: bool) -> Result<bool> {
    if old == new {
        return Ok(false);
    }
    if check {
        println!("{file} is out of date:\n{}", manifests_edit::diff(old, new));
    } else {
        write_atomic(&root.join(file), new.as_bytes())?;
        println!("updated {file}");
    }
    Ok(true)
}

/// `cargo xtask manifests update ENV`.
pub fn run(ws: &Workspace, args: &UpdateArgs) -> Result<i32> {
    let root = &ws.root;
    let env = render::environment(root, &args.env)?;
    let deployed = render::deployed(ws);
    // Components with an image of ours: those with a Dockerfile.
    let mut wanted = Vec::new();
    for d in &deployed {
        let c = ws.get(&d.component).expect("deployed components exist");
        if c.dockerfile.is_none() {
            continue;
        }
        let image = render::component_image(root, c)?.ok_or_else(|| {
            UsageError::new(format!("{} runs no image: name {}'s image in a container there", d.resource, c.name))
        })?;
        wanted.push((c.name.clone(), image));
    }
    let (pins, left) = match &args.tag {
        Some(tag) => (pins_for_tag(&wanted, tag), Vec::new()),
        None => {
            let built = report(root, args.images.as_deref())?;
            pins_from_report(&wanted, &built, &head(root)?, args.partial)?
        }
    };
    let base = render::read(root, BASE)?;
    let resources: Vec<String> = deployed.iter().map(|d| d.resource.clone()).collect();
    let new_base = manifests_edit::add_resources(&base, &resources).map_err(|e| render::malformed(BASE, &e))?;
    let file = render::overlay_file(&env);
    let overlay = render::read(root, &file)?;
    let new_overlay = manifests_edit::pin_images(&overlay, &pins).map_err(|e| render::malformed(&file, &e))?;
    let stale =
        apply(root, BASE, &base, &new_base, args.check)? | apply(root, &file, &overlay, &new_overlay, args.check)?;
    for name in &left {
        println!("{name}: not in the images report, left as it is (--partial)");
    }
    for p in &pins {
        let at = p.new_name.as_deref().unwrap_or(&p.name);
        let digest = p.digest.as_deref().map(|d| format!("@{d}")).unwrap_or_else(|| " (no digest known)".into());
        println!("  {} -> {at}:{}{digest}", p.name, p.new_tag);
    }
    if stale && args.check {
        println!("run `cargo xtask manifests update {env}` to bring it up to date");
        return Ok(1);
    }
    if !stale {
        println!("{file} is up to date");
    }
    Ok(0)
}

#[cfg(test)]
#[path = "manifests_update_tests.rs"]
mod tests;
