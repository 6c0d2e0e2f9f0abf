//! The manifests stage: `cargo xtask manifests update|render|validate|rules`.
//! `deploy/base` composes every component's `k8s/`; an overlay per
//! environment under `deploy/overlays` sets its namespace, labels, replicas,
//! resources and pinned images. See docs/explanation/manifests.md.

mod update;
mod validate;

use crate::cli::ManifestsCommand;
use crate::component::Workspace;
use crate::exec;
use crate::kube;
use crate::manifests::findings as manifests_findings;
use crate::manifests::render::{self, BASE};
use crate::manifests::rules;
use crate::manifests::yaml;
use anyhow::Result;
use std::path::Path;
use xshell::Shell;

pub fn run(ws: &Workspace, action: &ManifestsCommand) -> Result<i32> {
    match action {
        ManifestsCommand::Update(args) => update::run(ws, args),
        ManifestsCommand::Render { env } => render_command(ws, env),
        ManifestsCommand::Validate(args) => {
            exec::install_interrupt_handler()?;
            validate::run(ws, args)
        }
        ManifestsCommand::Rules { env, rendered, json } => rules_command(ws, env, rendered.as_deref(), *json),
    }
}

/// Say which components' manifests `deploy/base` leaves out (validate fails on it).
fn warn_undeployed(ws: &Workspace, env: &str) -> Result<()> {
    for d in render::undeployed(&ws.root, &render::deployed(ws))? {
        eprintln!(
            "warning: {BASE} does not list {}, so {env} does not deploy {}: `cargo xtask manifests update {env}` adds it",
            d.resource, d.component
        );
    }
    Ok(())
}

/// `cargo xtask manifests render ENV`: write the objects and list them with their images.
fn render_command(ws: &Workspace, env: &str) -> Result<i32> {
    let env = render::environment(&ws.root, env)?;
    warn_undeployed(ws, &env)?;
    let sh = Shell::new()?;
    let (text, objects) = render::render(&ws.root, &sh, &kube::kubectl()?, &env)?;
    render::write_rendered(&ws.root, &env, &text)?;
    let from = render::source(&ws.root, &env);
    println!("{}: {} objects (from {from})", render::rendered_file(&env), objects.len());
    for o in &objects {
        let images = rules::images(o);
        let ns = o.namespace.as_deref().map(|n| format!(" ({n})")).unwrap_or_default();
        println!("  {}{ns}{}", o.id(), images.iter().map(|i| format!("\n      {i}")).collect::<String>());
    }
    Ok(0)
}

/// `cargo xtask manifests rules ENV`: our rules on the rendered objects (exit 1 on findings).
fn rules_command(ws: &Workspace, env: &str, rendered: Option<&Path>, json: bool) -> Result<i32> {
    let root = &ws.root;
    let env = render::environment(root, env)?;
    let objects = match rendered {
        Some(file) => {
            let shown = file.display().to_string();
            let text = render::read(root, &shown)?;
            yaml::objects(&text).map_err(|e| {
                crate::error::UsageError::new(format!("{shown} line {}: {} (render it afresh)", e.line, e.message))
            })?
        }
        None => render::render(root, &Shell::new()?, &kube::kubectl()?, &env)?.1,
    };
    let undeployed = render::undeployed(root, &render::deployed(ws))?;
    let mut sources = crate::manifests::validate::sources(ws, &env)?;
    if !render::pinned(root, &env) {
        let later: Vec<String> = render::own_images(ws)?.into_iter().map(|(_, image)| image).collect();
        if !json {
            println!(
                "note: {env} is checked as committed: {} are pinned by `cargo xtask manifests update {env}` before a deploy, which checks them pinned",
                later.join(", ")
            );
        }
        sources = sources.pinned_later(later);
    }
    let base = render::read(root, BASE)?;
    let found = manifests_findings::rules(&sources, &env, &objects, &undeployed, &base);
    if json {
        println!("{}", serde_json::to_string_pretty(&found)?);
    } else {
        for f in &found {
            let at = f.line.map_or_else(|| f.file.clone(), |l| format!("{}:{l}", f.file));
            println!("{at}: {} {}", f.code, f.message);
        }
        println!("{} finding(s) in {env}", found.len());
    }
    Ok(if found.is_empty() { 0 } else { 1 })
}
