//! `cargo xtask manifests update ENV`: add every component's manifests to
//! `deploy/base` and pin the images the report says were pushed for this
//! commit (or `--tag`) in the environment's overlay; `--check` only reports.

use crate::cli::UpdateArgs;
use crate::component::Workspace;
use crate::error::UsageError;
use crate::fsutil::write_atomic;
use crate::manifests::edit as manifests_edit;
use crate::manifests::pins::{pins_for_tag, pins_from_report, read_report, Built, REBUILD, REPORT};
use crate::manifests::render::{self, BASE};
use anyhow::Result;
use std::path::Path;
use xshell::{cmd, Shell};

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
