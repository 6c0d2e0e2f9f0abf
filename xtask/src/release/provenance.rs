//! Where the images a render runs come from, and whether an environment
//! accepts them. The images report (`images.json`) says which commit each
//! image was built from; a rendered reference is matched to it by digest
//! (`name@sha256:…`), else by tag. Outside an `any`-guarded environment
//! every image of ours must be the deployed commit's build (`--force` lets
//! others through, recorded); a `release`-guarded one runs exactly the
//! digests pushed for the release, no exceptions. Pure: the report, the
//! render's images and HEAD in, a verdict out.

use crate::manifests::pins::Built;
use crate::manifests::rules::ImageRef;
use crate::release::guards::Guard;
use crate::release::records::Image;

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
pub fn origin(reference: &str, report: &[Built], ours: &[String]) -> Origin {
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

#[cfg(test)]
#[path = "provenance_tests.rs"]
mod tests;
