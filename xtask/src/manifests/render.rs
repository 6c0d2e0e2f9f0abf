//! What every manifests command shares: the environments (folders under
//! `deploy/overlays`), the composition (`deploy/base` lists every component's
//! manifests folder), this workspace's pins (`target/xtask/overlays/ENV`, over
//! the committed overlay), and rendering an environment with kustomize into
//! `target/xtask/manifests/ENV.yaml`.

use crate::component::{Component, Workspace};
use crate::error::UsageError;
use crate::fsutil::write_atomic;
use crate::kube::{self, Object};
use crate::manifests::edit;
use crate::manifests::preview;
use crate::manifests::rules;
use crate::manifests::yaml;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use xshell::{cmd, Shell};

pub const OVERLAYS: &str = "deploy/overlays";
pub const BASE: &str = "deploy/base/kustomization.yaml";

/// The environments a plan may deploy: the overlays, or the spec's three in a repo without any.
pub fn deployable(root: &Path) -> Result<Vec<String>> {
    if root.join(OVERLAYS).is_dir() {
        return environments(root);
    }
    Ok(["development", "staging", "production"].map(String::from).to_vec())
}

/// The environments: every folder under `deploy/overlays` with a kustomization.
pub fn environments(root: &Path) -> Result<Vec<String>> {
    let dir = root.join(OVERLAYS);
    let mut envs = Vec::new();
    let entries = std::fs::read_dir(&dir)
        .map_err(|e| UsageError::new(format!("cannot read {OVERLAYS} ({e}): the environments' overlays live there")))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot read {OVERLAYS}"))?;
        if entry.path().join("kustomization.yaml").is_file() {
            envs.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    envs.sort();
    Ok(envs)
}

/// `name`, when it is an environment; otherwise bad input listing the known ones.
pub fn environment(root: &Path, name: &str) -> Result<String> {
    let known = environments(root)?;
    if known.iter().any(|k| k == name) {
        return Ok(name.to_string());
    }
    // A preview exists once `preview up` has generated its kustomization.
    if preview::number(name).is_some() && pinned(root, name) {
        return Ok(name.to_string());
    }
    Err(UsageError::new(format!(
        "unknown environment `{name}`: known environments are {} (folders under {OVERLAYS})",
        known.join(", ")
    )))
}

pub fn overlay_file(env: &str) -> String {
    format!("{OVERLAYS}/{env}/kustomization.yaml")
}

/// Where `manifests update` writes an environment's pins: a kustomization in
/// the workspace over the committed overlay, so a run's pins never change the tree.
pub fn pinned_dir(env: &str) -> String {
    format!("target/xtask/overlays/{env}")
}

pub fn pinned_file(env: &str) -> String {
    format!("{}/kustomization.yaml", pinned_dir(env))
}

/// Has this workspace pinned `env`'s images?
pub fn pinned(root: &Path, env: &str) -> bool {
    root.join(pinned_file(env)).is_file()
}

/// What an environment renders from: this workspace's pins when
/// `manifests update` wrote them, else the committed overlay.
pub fn source(root: &Path, env: &str) -> String {
    if pinned(root, env) {
        pinned_dir(env)
    } else {
        format!("{OVERLAYS}/{env}")
    }
}

pub fn rendered_file(env: &str) -> String {
    format!("target/xtask/manifests/{env}.yaml")
}

/// A component whose manifests the platform deploys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployed {
    pub component: String,
    /// Its manifests folder as `deploy/base` lists it, e.g. `../../components/cdc/k8s`.
    pub resource: String,
}

/// The images of ours the manifests name (placeholders until pinned): each
/// deployed component with a Dockerfile, and the image its manifests run.
pub fn own_images(ws: &Workspace) -> Result<Vec<(String, String)>> {
    let mut wanted = Vec::new();
    for d in deployed(ws) {
        let c = ws.get(&d.component).expect("deployed components exist");
        if c.dockerfile.is_none() {
            continue;
        }
        let image = component_image(&ws.root, c)?.ok_or_else(|| {
            UsageError::new(format!("{} runs no image: name {}'s image in a container there", d.resource, c.name))
        })?;
        wanted.push((c.name.clone(), image));
    }
    Ok(wanted)
}

/// Every component with a manifests folder.
pub fn deployed(ws: &Workspace) -> Vec<Deployed> {
    ws.components
        .iter()
        .filter_map(|c| {
            let dir = c.manifests.as_ref()?;
            Some(Deployed { component: c.name.clone(), resource: format!("../../{}", dir.display()) })
        })
        .collect()
}

/// The deployed components `deploy/base` does not list (so no environment deploys them).
pub fn undeployed(root: &Path, deployed: &[Deployed]) -> Result<Vec<Deployed>> {
    let text = read(root, BASE)?;
    let listed = edit::resources(&text).map_err(|e| malformed(BASE, &e))?;
    let listed: Vec<&str> = listed.iter().map(|(_, r)| r.trim_end_matches('/')).collect();
    Ok(deployed.iter().filter(|d| !listed.contains(&d.resource.as_str())).cloned().collect())
}

/// The image a component's own manifests run (what an overlay's `images:`
/// entry names): the one whose last path part is the component's name, or
/// the only one there is. None when its manifests run no image.
pub fn component_image(root: &Path, c: &Component) -> Result<Option<String>> {
    let Some(dir) = &c.manifests else { return Ok(None) };
    let mut names: Vec<String> = Vec::new();
    for entry in walkdir::WalkDir::new(root.join(dir)).sort_by_file_name() {
        let entry = entry.with_context(|| format!("cannot read {}", dir.display()))?;
        let path = entry.path();
        if !path.extension().is_some_and(|e| e == "yaml" || e == "yml") || path.ends_with("kustomization.yaml") {
            continue;
        }
        let rel = path.strip_prefix(root).unwrap_or(path).display().to_string();
        let objects = yaml::objects(&read(root, &rel)?)
            .map_err(|e| UsageError::new(format!("{rel} line {}: {} (fix the manifest)", e.line, e.message)))?;
        for image in objects.iter().flat_map(rules::images) {
            let name = rules::ImageRef::parse(&image).name;
            if !names.contains(&name) {
                names.push(name);
            }
        }
    }
    let own = names.iter().find(|n| n.rsplit('/').next() == Some(c.name.as_str()));
    Ok(own.or(if names.len() == 1 { names.first() } else { None }).cloned())
}

/// `kubectl kustomize` of what `env` renders from (`source`): the text and its objects.
pub fn render(root: &Path, sh: &Shell, kubectl: &Path, env: &str) -> Result<(String, Vec<Object>)> {
    let dir = source(root, env);
    let text = kustomize(sh, kubectl, &root.join(&dir), &dir)?;
    let objects = yaml::objects(&text)
        .map_err(|e| anyhow::anyhow!("kustomize printed YAML that does not parse (line {}): {}", e.line, e.message))?;
    Ok((text, objects))
}

/// `kubectl kustomize DIR`: the objects as YAML, or kustomize's message as bad input.
fn kustomize(sh: &Shell, kubectl: &Path, dir: &Path, shown: &str) -> Result<String> {
    let out = cmd!(sh, "{kubectl} kustomize {dir}")
        .quiet()
        .ignore_status()
        .output()
        .with_context(|| format!("cannot run {}: {}", kubectl.display(), kube::INSTALL))?;
    if !out.status.success() {
        let why = kube::error_message(&String::from_utf8_lossy(&out.stderr));
        return Err(UsageError::new(format!("kustomize cannot render {shown}: {why} (fix the kustomization)")));
    }
    String::from_utf8(out.stdout).context("kustomize printed something that is not UTF-8")
}

/// Write the rendered objects to `target/xtask/manifests/ENV.yaml`, atomically.
pub fn write_rendered(root: &Path, env: &str, text: &str) -> Result<PathBuf> {
    let path = root.join(rendered_file(env));
    write_atomic(&path, text.as_bytes())?;
    Ok(path)
}

pub fn read(root: &Path, rel: &str) -> Result<String> {
    std::fs::read_to_string(root.join(rel)).map_err(|e| UsageError::new(format!("cannot read {rel}: {e}")))
}

/// A kustomization the line editor could not read, as bad input naming the file.
pub fn malformed(file: &str, e: &anyhow::Error) -> anyhow::Error {
    UsageError::new(format!("{file} {e:#} (fix the file)"))
}
