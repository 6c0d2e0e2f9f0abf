//! The tag policy: which tags an image gets, from the ref being built.
//! Pure functions, so every rule is a unit test.

use crate::error::UsageError;
use anyhow::Result;
use serde::Serialize;

/// What is being built: the ref (`GITHUB_REF`, `--ref`, or none for the
/// checked-out commit), the commit, and the working tree's state.
#[derive(Debug, Clone, Default)]
pub struct Source {
    pub reference: Option<String>,
    pub sha: String,
    /// Uncommitted changes that can change an image (see [`changes_that_count`]).
    pub dirty: bool,
    /// Tags pointing at the commit (used when no ref is given).
    pub head_tags: Vec<String>,
    /// For a tag ref, the commit the tag names; None when no such tag exists.
    pub tagged: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TagSet {
    pub tags: Vec<String>,
    /// `X.Y.Z` for a release, else None.
    pub version: Option<String>,
    pub revision: String,
    pub dirty: bool,
}

/// `vX.Y.Z` → `(X, Y, Z)`.
pub fn parse_version(tag: &str) -> Option<(u64, u64, u64)> {
    let mut parts = tag.strip_prefix('v')?.split('.');
    let mut next = || -> Option<u64> {
        let p = parts.next()?;
        (!p.is_empty() && p.chars().all(|c| c.is_ascii_digit()) && (p == "0" || !p.starts_with('0')))
            .then(|| p.parse().ok())?
    };
    let v = (next()?, next()?, next()?);
    parts.next().is_none().then_some(v)
}

/// A release ref's version, checked against the repository: the tag must
/// exist and name the commit being built, or the labels would lie.
fn release_tag<'a>(src: &Source, tag: &'a str) -> Result<(&'a str, (u64, u64, u64))> {
    let version = parse_version(tag).ok_or_else(|| {
        UsageError::new(format!("tag `{tag}` is not a release version: release tags look like v1.2.3 (or pass --tag)"))
    })?;
    let short = |sha: &str| sha[..sha.len().min(12)].to_string();
    match &src.tagged {
        None => Err(UsageError::new(format!(
            "tag {tag} does not exist in this repository: create it (git tag {tag}) or fetch it (git fetch --tags)"
        ))),
        Some(tagged) if *tagged != src.sha => Err(UsageError::new(format!(
            "tag {tag} is commit {}, but {} is checked out: check the tag out first",
            short(tagged),
            short(&src.sha)
        ))),
        Some(_) => Ok((tag, version)),
    }
}

/// The uncommitted changes that can change an image, from
/// `git status --porcelain=v1 -z --untracked-files=all`: every tracked
/// change, and untracked files only inside `folders` (the components built
/// and what their images are made from, each ending in `/`, or a file).
/// A scratch file outside them changes no image.
pub fn changes_that_count(status: &str, folders: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let mut entries = status.split('\0').filter(|e| !e.is_empty());
    while let Some(entry) = entries.next() {
        let (code, path) = (entry.get(..2).unwrap_or(""), entry.get(3..).unwrap_or(""));
        // A rename or copy is followed by its source path.
        if code.contains('R') || code.contains('C') {
            entries.next();
        }
        let inside =
            |p: &str| folders.iter().any(|f| if f.ends_with('/') { p.starts_with(f.as_str()) } else { p == f });
        if code != "??" || inside(path) {
            out.push(path.to_string());
        }
    }
    out
}

/// `a, b, c and 4 more`: a few names of a longer list.
pub fn some_of(names: &[String], few: usize) -> String {
    let shown = names.iter().take(few).cloned().collect::<Vec<_>>().join(", ");
    match names.len().saturating_sub(few) {
        0 => shown,
        more => format!("{shown} and {more} more"),
    }
}

/// A tag Docker accepts.
fn valid_docker_tag(tag: &str) -> bool {
    let mut chars = tag.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric() || c == '_')
        && tag.len() <= 128
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

/// The tags for `src`: a branch (or pull request) → the full and short
/// commit SHA; a release tag `vX.Y.Z` → `X.Y.Z`, `X.Y` and `latest`; any
/// other tag, a tag that does not exist, or one naming another commit than
/// the one being built → an error. A dirty tree adds `-dirty` and never gets
/// `latest`. `overridden` replaces all of it.
pub fn tags(src: &Source, overridden: Option<&str>) -> Result<TagSet> {
    let revision = src.sha.clone();
    if let Some(tag) = overridden {
        if !valid_docker_tag(tag) {
            return Err(UsageError::new(format!(
                "--tag `{tag}` is not a valid image tag: use letters, digits, `_`, `.` and `-` (at most 128)"
            )));
        }
        return Ok(TagSet { tags: vec![tag.to_string()], version: None, revision, dirty: src.dirty });
    }
    let release = match src.reference.as_deref() {
        Some(r) => match r.strip_prefix("refs/tags/") {
            Some(tag) => Some(release_tag(src, tag)?),
            None => None,
        },
        // No ref: the checked-out commit, released if a version tag points at it.
        None => src.head_tags.iter().filter_map(|t| parse_version(t).map(|v| (t.as_str(), v))).max_by_key(|(_, v)| *v),
    };
    let (mut tags, version) = match release {
        Some((_, (x, y, z))) => {
            let v = format!("{x}.{y}.{z}");
            (vec![v.clone(), format!("{x}.{y}"), "latest".to_string()], Some(v))
        }
        None => {
            anyhow::ensure!(src.sha.len() >= 7, "no commit to tag: `{}` is not a commit SHA", src.sha);
            (vec![src.sha.clone(), src.sha[..7].to_string()], None)
        }
    };
    if src.dirty {
        tags.retain(|t| t != "latest");
        tags.iter_mut().for_each(|t| t.push_str("-dirty"));
    }
    Ok(TagSet { tags, version, revision, dirty: src.dirty })
}

#[cfg(test)]
#[path = "tags_tests.rs"]
mod tests;
