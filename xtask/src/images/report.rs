//! `target/xtask/images.json`: every image the stage built or pushed, per
//! component, kept across runs (a later run merges into it, never drops what
//! it did not touch). The manifests stage pins images from it. The format is
//! documented in docs/reference/files.md ("images.json"); `format` changes only with
//! an incompatible change.

use crate::component::Component;
use crate::fsutil::write_atomic;
use crate::images::registry::Target;
use crate::images::tags::TagSet;
use crate::report::Row;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

pub const PATH: &str = "target/xtask/images.json";
pub const FORMAT: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Images {
    pub format: u32,
    /// By component name.
    pub components: BTreeMap<String, Image>,
}

impl Default for Images {
    fn default() -> Images {
        Images { format: FORMAT, components: BTreeMap::new() }
    }
}

/// One component's image, as the local engine holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Image {
    /// `sha256:…`, the local image id (the same for every name below).
    pub image_id: String,
    /// Every repository the image is named in, e.g. `127.0.0.1:5000/mlops/storage`.
    pub repositories: Vec<String>,
    /// Its tags, in every repository.
    pub tags: Vec<String>,
    /// `X.Y.Z` for a release build, else null.
    pub version: Option<String>,
    /// The commit it was built from (its `org.opencontainers.image.revision`).
    pub commit: String,
    /// The git ref it was built for (`refs/heads/main`, `refs/tags/v1.2.3`), null for a detached commit.
    #[serde(rename = "ref")]
    pub reference: Option<String>,
    /// Built with uncommitted changes (its tags end in `-dirty`).
    pub dirty: bool,
    /// Every reference pushed, with the digest the registry gave it.
    pub pushed: Vec<Pushed>,
    /// Whether the last build of this commit (clean) gave the same image id
    /// as the one before it; null until a commit is built twice.
    #[serde(default)]
    pub reproducible: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pushed {
    pub repository: String,
    pub tag: String,
    /// `sha256:…`: pin `repository@digest`.
    pub digest: String,
}

/// Record `new` over what was recorded for its component: the same image
/// gains names and pushes (a push replaces an earlier one of the same
/// reference); another image replaces the record, whose pushes were of
/// another image.
pub fn merge(old: Option<Image>, new: Image) -> Image {
    let Some(old) = old.filter(|o| o.image_id == new.image_id) else { return new };
    let reproducible = new.reproducible.or(old.reproducible);
    let union = |a: Vec<String>, b: Vec<String>| {
        let mut out = a;
        for x in b {
            if !out.contains(&x) {
                out.push(x);
            }
        }
        out
    };
    let mut pushed: Vec<Pushed> = old
        .pushed
        .into_iter()
        .filter(|p| !new.pushed.iter().any(|n| n.repository == p.repository && n.tag == p.tag))
        .collect();
    pushed.extend(new.pushed);
    Image {
        repositories: union(old.repositories, new.repositories),
        tags: union(old.tags, new.tags),
        pushed,
        reproducible,
        ..new
    }
}

/// The report as it is on disk: none yet is empty; one this version cannot
/// read (an older format, a broken file) is `Err` with why, to start afresh.
pub fn read(root: &Path) -> Result<Images, String> {
    let path = root.join(PATH);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Images::default()),
        Err(e) => return Err(e.to_string()),
    };
    let images: Images = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    if images.format != FORMAT {
        return Err(format!("format {} is not {FORMAT}", images.format));
    }
    Ok(images)
}

/// Write the report atomically: a reader never sees half a file.
pub fn write(root: &Path, images: &Images) -> Result<()> {
    let text = serde_json::to_string_pretty(images).context("cannot serialise images.json")?;
    write_atomic(&root.join(PATH), format!("{text}\n").as_bytes())
}

/// What this run adds to `images.json`: per component with an image (`ids`),
/// its names, the commit and ref it was built from, and the pushes that passed.
pub fn records(
    components: &[&Component],
    targets: &[Target],
    tags: &TagSet,
    reference: Option<&str>,
    ids: &BTreeMap<String, String>,
    rows: &[Row],
) -> Vec<(String, Image)> {
    let mut out = Vec::new();
    for c in components {
        let Some(id) = ids.get(&c.name) else { continue };
        let pushed = rows
            .iter()
            .filter(|r| r.finished.task.component == c.name && r.finished.outcome.is_ok())
            .filter(|r| crate::images::is_push(&r.finished.task))
            .filter_map(|r| {
                let (repository, tag) = r.finished.task.args[1].rsplit_once(':')?;
                let digest = crate::images::pushed_digest(&r.finished.output())?;
                Some(Pushed { repository: repository.into(), tag: tag.into(), digest })
            })
            .collect();
        let image = Image {
            image_id: id.clone(),
            repositories: targets.iter().map(|t| format!("{}/{}", t.prefix, c.name)).collect(),
            tags: tags.tags.clone(),
            version: tags.version.clone(),
            commit: tags.revision.clone(),
            reference: reference.map(String::from),
            dirty: tags.dirty,
            pushed,
            reproducible: None,
        };
        out.push((c.name.clone(), image));
    }
    out
}

/// A rebuild of a clean commit against the record of its earlier build: the
/// same image id or not; None when it is not a rebuild of the same clean commit.
pub fn reproducible(old: Option<&Image>, new: &Image) -> Option<bool> {
    let old = old.filter(|o| o.commit == new.commit && !o.dirty && !new.dirty)?;
    Some(old.image_id == new.image_id)
}

/// Merge this run's images into `target/xtask/images.json` (`built`: this
/// run built them, so a rebuild of the same commit tells whether it was
/// reproducible, a line per component); notes to print, first one when the
/// old file could not be read.
pub fn update(root: &Path, new: Vec<(String, Image)>, built: bool) -> Result<Vec<String>> {
    let (mut images, mut notes) = match read(root) {
        Ok(images) => (images, Vec::new()),
        Err(why) => (Images::default(), vec![format!("{PATH} could not be read ({why}): started it afresh")]),
    };
    for (name, mut image) in new {
        let old = images.components.remove(&name);
        if built {
            image.reproducible = reproducible(old.as_ref(), &image);
            match (image.reproducible, &old) {
                (Some(true), _) => notes.push(format!(
                    "{name}: reproducible: this rebuild of {} is the same image ({})",
                    image.commit, image.image_id
                )),
                (Some(false), Some(o)) => notes.push(format!(
                    "{name}: NOT reproducible: this rebuild of {} is {}, the earlier build was {}",
                    image.commit, image.image_id, o.image_id
                )),
                _ => {}
            }
        }
        images.components.insert(name, merge(old, image));
    }
    write(root, &images)?;
    Ok(notes)
}
