//! What must hold before the image stage starts anything, each failure one
//! line saying what to do: an engine that answers, base images that are here
//! (or pullable), and for a push alone, the images it sends.

use crate::cli::ImageArgs;
use crate::component::{Component, Workspace};
use crate::error::UsageError;
use crate::images::registry::{self, Problem};
use crate::images::report::Images;
use crate::plan::Task;
use anyhow::Result;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use xshell::{cmd, Shell};

/// Where a component's base image comes from, for messages that say what to change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BaseFrom {
    /// `XTASK_BASE_IMAGE_<COMPONENT>`.
    Own(String),
    /// `[tool.xtask] base-image` in its pyproject.
    Config,
    /// `--base-image` or `XTASK_BASE_IMAGE`.
    Global,
    /// The Dockerfile's `ARG BASE_IMAGE=` default.
    Dockerfile,
}

/// `XTASK_BASE_IMAGE_<COMPONENT>`: one component's base image.
pub fn own_base_var(component: &str) -> String {
    format!("XTASK_BASE_IMAGE_{}", component.to_uppercase().replace('-', "_"))
}

/// The BASE_IMAGE build argument of a component: its own variable, else its
/// `[tool.xtask] base-image`, else the global one; None keeps the Dockerfile's default.
pub fn base_image(
    c: &Component,
    global: Option<&str>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Option<(String, BaseFrom)> {
    let var = own_base_var(&c.name);
    if let Some(own) = env(&var).filter(|b| !b.is_empty()) {
        return Some((own, BaseFrom::Own(var)));
    }
    c.base_image.clone().map(|b| (b, BaseFrom::Config)).or_else(|| global.map(|b| (b.to_string(), BaseFrom::Global)))
}

/// The default of `ARG BASE_IMAGE=…` in a Dockerfile.
pub fn dockerfile_default(text: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let mut words = l.split_whitespace();
        let arg = words.next()?.eq_ignore_ascii_case("ARG");
        let value = words.next()?.strip_prefix("BASE_IMAGE=")?.trim_matches(|c| c == '"' || c == '\'');
        (arg && !value.is_empty()).then(|| value.to_string())
    })
}

/// One line for a base image that is neither local nor pullable, naming what to do.
pub fn base_missing(component: &str, base: &str, from: &BaseFrom, why: &str) -> String {
    let fix = match from {
        BaseFrom::Own(var) => format!("or set {var} (or XTASK_BASE_IMAGE) to an image you have"),
        BaseFrom::Config => format!(
            "or set {} to an image you have (XTASK_BASE_IMAGE does not replace a component's [tool.xtask] base-image)",
            own_base_var(component)
        ),
        BaseFrom::Global | BaseFrom::Dockerfile => {
            "then set XTASK_BASE_IMAGE=local/python:3.11-bookworm (or pass --base-image)".to_string()
        }
    };
    format!("base image {base} of {component} is neither local nor pullable ({why}): build the local base images with `cargo xtask services up base-images`, {fix}")
}

/// The engine must answer before anything is built.
pub fn check_docker(sh: &Shell) -> Result<()> {
    which::which("docker")
        .map_err(|_| UsageError::new("docker not found on PATH: install it (apt-get install docker.io)"))?;
    if cmd!(sh, "docker info --format '{{.ServerVersion}}'").quiet().ignore_stderr().read().is_err() {
        return Err(UsageError::new(
            "the Docker daemon is not running: start it (cargo xtask services up docker, or `sudo systemctl start docker`)",
        ));
    }
    Ok(())
}

/// Each component's base image (the Dockerfile's default when nothing else names one) and where it came from.
pub fn bases<'a>(
    ws: &Workspace,
    components: &[&'a Component],
    global: Option<&str>,
) -> Vec<(&'a Component, String, BaseFrom)> {
    let env = |k: &str| std::env::var(k).ok();
    let mut out = Vec::new();
    for c in components {
        let Some(dockerfile) = &c.dockerfile else { continue };
        let chosen = base_image(c, global, &env).or_else(|| {
            let text = std::fs::read_to_string(ws.root.join(dockerfile)).unwrap_or_default();
            dockerfile_default(&text).map(|base| (base, BaseFrom::Dockerfile))
        });
        out.extend(chosen.map(|(base, from)| (*c, base, from)));
    }
    out
}

/// Every base image is local, or pulled now; otherwise one line saying how to get one.
pub fn check_base_images(sh: &Shell, ws: &Workspace, components: &[&Component], global: Option<&str>) -> Result<()> {
    let mut seen = BTreeSet::new();
    for (c, base, from) in bases(ws, components, global) {
        if !seen.insert(base.clone())
            || cmd!(sh, "docker image inspect {base}").quiet().ignore_stdout().ignore_stderr().run().is_ok()
        {
            continue;
        }
        let out = cmd!(sh, "docker pull --quiet {base}").quiet().ignore_status().output()?;
        if out.status.success() {
            continue;
        }
        let text = String::from_utf8_lossy(&out.stderr);
        let why = match registry::classify(&text) {
            Some(Problem::Unreachable) => "no registry that has it is reachable".to_string(),
            Some(Problem::Auth) => "its registry refused access".to_string(),
            None => text.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("docker pull failed").to_string(),
        };
        return Err(UsageError::new(base_missing(&c.name, &base, &from, &why)));
    }
    Ok(())
}

/// One line for references to push that are no local image: the build to
/// run, or the `docker tag` naming an image built earlier for them.
pub fn not_built(missing: &[(String, String)], known: &Images, rebuild_flags: &str) -> String {
    let (component, reference) = &missing[0];
    let mut msg = format!(
        "{reference} is not an image here: build it first (cargo xtask image build {component}{rebuild_flags})"
    );
    let tag = reference.rsplit_once(':').map_or("", |(_, t)| t);
    if let Some(image) = known.components.get(component).filter(|i| i.tags.iter().any(|t| t == tag)) {
        if let Some(repository) = image.repositories.first() {
            msg += &format!(", or name the image built earlier so (docker tag {repository}:{tag} {reference})");
        }
    }
    if missing.len() > 1 {
        msg += &format!(" (and {} more references are not here)", missing.len() - 1);
    }
    msg
}

/// The local image id of each component to push. A reference that is not a
/// local image, or tags of one component on different images, are bad input.
pub fn images_to_push(sh: &Shell, tasks: &[Task], args: &ImageArgs, root: &Path) -> Result<BTreeMap<String, String>> {
    let mut ids: BTreeMap<String, String> = BTreeMap::new();
    let mut missing = Vec::new();
    for t in tasks.iter().filter(|t| crate::images::is_push(t)) {
        let reference = &t.args[1];
        match cmd!(sh, "docker image inspect --format '{{.Id}}' {reference}").quiet().ignore_stderr().read() {
            Ok(id) => {
                let id = id.trim().to_string();
                if let Some(other) = ids.get(&t.component).filter(|o| **o != id) {
                    return Err(UsageError::new(format!(
                        "the tags of {} name different images ({other} and {id} at {reference}): build it again with `cargo xtask image build {}`",
                        t.component, t.component
                    )));
                }
                ids.insert(t.component.clone(), id);
            }
            Err(_) => missing.push((t.component.clone(), reference.clone())),
        }
    }
    if !missing.is_empty() {
        let mut flags = String::new();
        for (flag, value) in [("--ref", &args.reference), ("--tag", &args.tag), ("--registry", &args.registry)] {
            if let Some(v) = value {
                flags += &format!(" {flag} {}", crate::plan::quote(v));
            }
        }
        return Err(UsageError::new(not_built(
            &missing,
            &crate::images::report::read(root).unwrap_or_default(),
            &flags,
        )));
    }
    Ok(ids)
}
