//! Where the images a render runs come from, and whether an environment
//! accepts them. The images report (`images.json`) says which commit each
//! image was built from; a rendered reference is matched to it by digest
//! (`name@sha256:…`), else by tag. Outside an `any`-guarded environment
//! every image of ours must be the deployed commit's build (`--force` lets
//! others through, recorded); a `release`-guarded one runs exactly the
//! digests pushed for the release, no exceptions. The verdict is pure (the
//! report, the render's images and HEAD in, a verdict out); the facts it and
//! the guards take are read here: the images report, git's view of HEAD
//! (ref, tags, commit, what the render's inputs change), the render's images.

use crate::component::Workspace;
use crate::error::UsageError;
use crate::kube::want;
use crate::kube::Object;
use crate::manifests::pins::{self, Built, REPORT};
use crate::manifests::render;
use crate::manifests::rules::ImageRef;
use crate::release::guards::{Facts, Guard};
use crate::release::records::Image;
use anyhow::Result;
use std::path::Path;
use xshell::{cmd, Shell};

/// Where one rendered image comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The report's build from `commit`; `by_digest` when its pushed digest matched.
    Built { commit: String, by_digest: bool },
    /// One of our images (the report or our manifests name it) that the report has no build of.
    Unknown,
    /// Someone else's image (nothing of ours names it): not judged.
    Foreign,
}

/// The origin of `reference`. `ours` are further names of our images (what
/// the components' manifests name before the overlay pins them).
fn origin(reference: &str, report: &[Built], ours: &[String]) -> Origin {
    let r = ImageRef::parse(reference);
    let (name, tag, digest) = (r.name.as_str(), r.tag.as_deref(), r.digest.as_deref());
    let mut known = ours.iter().any(|o| o == name);
    for b in report {
        let named = b.images.iter().any(|i| i == name) || b.pushed.iter().any(|p| p.image == name);
        if !named {
            continue;
        }
        known = true;
        let found = match (digest, tag) {
            (Some(d), _) => b.pushed.iter().any(|p| p.image == name && p.digest.as_deref() == Some(d)),
            (None, t) => {
                let t = t.unwrap_or("latest");
                b.pushed.iter().any(|p| p.image == name && p.tag == t) || b.tags.iter().any(|x| x == t)
            }
        };
        if found {
            return Origin::Built { commit: b.revision.clone(), by_digest: digest.is_some() };
        }
    }
    if known {
        Origin::Unknown
    } else {
        Origin::Foreign
    }
}

/// One image the render runs, as recorded, with its origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub image: Image,
    pub origin: Origin,
}

/// The render's images (component, reference) with their origins.
pub fn applied(images: &[(String, String)], report: &[Built], ours: &[String]) -> Vec<Applied> {
    images
        .iter()
        .map(|(component, reference)| {
            let origin = origin(reference, report, ours);
            let built_from = match &origin {
                Origin::Built { commit, .. } => Some(commit.clone()),
                _ => None,
            };
            Applied { image: Image { component: component.clone(), reference: reference.clone(), built_from }, origin }
        })
        .collect()
}

fn short(commit: &str) -> &str {
    &commit[..commit.len().min(12)]
}

/// Each image `guard` would not take, in words.
pub fn problems(guard: Guard, head: &str, applied: &[Applied]) -> Vec<String> {
    let mut out = Vec::new();
    for a in applied {
        let what = format!("{} runs {}", a.image.component, a.image.reference);
        match &a.origin {
            Origin::Foreign => {}
            Origin::Unknown => out.push(format!("{what}, which the images report has no build of")),
            Origin::Built { commit, .. } if commit != head => {
                out.push(format!("{what}, built from {}, not HEAD {}", short(commit), short(head)))
            }
            Origin::Built { by_digest: false, .. } if guard == Guard::Release => {
                out.push(format!("{what}, pinned by tag, not by the digest pushed for it"))
            }
            Origin::Built { .. } => {}
        }
    }
    out
}

/// Whether `env` takes these images: `Ok` with the problems let through
/// (an `any` guard, or `--force` below `release`), or the one-line refusal.
pub fn judge(env: &str, guard: Guard, head: &str, applied: &[Applied], force: bool) -> Result<Vec<String>, String> {
    let found = problems(guard, head, applied);
    let Some(first) = found.first() else { return Ok(found) };
    let more = match found.len() {
        1 => String::new(),
        n => format!(" (and {} more)", n - 1),
    };
    match guard {
        Guard::Any => Ok(found),
        Guard::Main if force => Ok(found),
        Guard::Main => Err(format!(
            "{env}'s pins are not this commit's images: {first}{more}: pin them (cargo xtask manifests update {env}), or pass --force to deploy them anyway"
        )),
        Guard::Release => Err(format!(
            "{env}'s pins are not the release's images: {first}{more}: pin the release's images (cargo xtask manifests update {env}) and commit them"
        )),
    }
}

/// The image stage's report, which says what was built and pushed.
pub fn images_report(root: &Path) -> Result<Vec<Built>> {
    let text = std::fs::read_to_string(root.join(REPORT)).map_err(|_| {
        UsageError::new(format!(
            "no images report ({REPORT}): build and push the images first (cargo xtask image build --push), then pin them (cargo xtask manifests update ENV)"
        ))
    })?;
    pins::read_report(&text).map_err(|why| {
        UsageError::new(format!(
            "the images report {REPORT} is malformed ({why}): write it afresh (cargo xtask image build --push)"
        ))
    })
}

/// What the guards judge: the ref, the release at HEAD, the images' version, approvals.
pub fn facts(root: &Path, built: &[Built], confirmed: bool) -> Result<Facts> {
    let sh = Shell::new()?;
    sh.change_dir(root);
    let git = |args: &[&str]| cmd!(sh, "git {args...}").quiet().ignore_stderr().read().unwrap_or_default();
    let github_ref = std::env::var("GITHUB_REF").ok().filter(|r| !r.is_empty());
    let branch = match github_ref.as_deref().and_then(|r| r.strip_prefix("refs/heads/")) {
        Some(b) => Some(b.to_string()),
        None => Some(git(&["symbolic-ref", "--short", "-q", "HEAD"])).filter(|b| !b.is_empty()),
    };
    let release_tags: Vec<String> = git(&["tag", "--points-at", "HEAD"]).lines().map(String::from).collect();
    let commit = git(&["rev-parse", "HEAD"]);
    let github_environment =
        crate::github::on_github().then(|| std::env::var("XTASK_GITHUB_ENVIRONMENT").ok()).flatten();
    Ok(Facts {
        branch,
        release_tags,
        images_version: built.first().and_then(|b| b.version.clone()),
        confirmed,
        github_environment,
        commit,
    })
}

/// The images a render runs: (component, reference), by workload.
pub fn images_of(objects: &[Object]) -> Vec<(String, String)> {
    let wanted = want::wanted(objects);
    let mut out = Vec::new();
    for o in objects {
        let Some(images) = wanted.get(&(o.kind.clone(), o.name.clone())).map(|w| &w.images) else { continue };
        let component = o.value["metadata"]["labels"]["app.kubernetes.io/name"].as_str().unwrap_or(&o.name);
        out.extend(images.iter().map(|i| (component.to_string(), i.clone())));
    }
    out
}

/// The names our images have in the components' own manifests (before an
/// overlay pins them): an image so named is ours even when no report knows it.
pub fn our_image_names(ws: &Workspace) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for c in ws.components.iter().filter(|c| c.dockerfile.is_some()) {
        out.extend(render::component_image(&ws.root, c)?);
    }
    Ok(out)
}

/// The render's inputs (`deploy/`, the components' `k8s/`) that differ from
/// HEAD: what a deploy applies that git does not hold.
pub fn uncommitted(root: &Path, env: &str) -> Vec<String> {
    let sh = match Shell::new() {
        Ok(sh) => sh,
        Err(_) => return Vec::new(),
    };
    sh.change_dir(root);
    let specs = ["deploy", ":(glob)components/*/k8s/**"];
    let out = cmd!(sh, "git status --porcelain --untracked-files=all -- {specs...}").quiet().ignore_stderr().read();
    let mut files: Vec<String> =
        out.unwrap_or_default().lines().filter(|l| l.len() > 3).map(|l| l[3..].trim_matches('"').to_string()).collect();
    // This workspace's pins (`manifests update`) are outside git by design, and differ from it.
    if render::pinned(root, env) {
        files.push(render::pinned_file(env));
    }
    files
}

#[cfg(test)]
#[path = "provenance_tests.rs"]
mod tests;
