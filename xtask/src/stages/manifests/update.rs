//! `cargo xtask manifests update ENV`: add every component's manifests to
//! `deploy/base` and pin the images the report says were pushed for this
//! commit (or `--tag`). The pins are this workspace's: a kustomization in
//! `target/xtask/overlays/ENV` over the committed overlay, which every render
//! and deploy here uses, so a run never leaves the tree changed. `--commit`
//! also commits them into the overlay, on a branch of their own (never
//! pushed); `--check` only reports.

use crate::cli::UpdateArgs;
use crate::component::Workspace;
use crate::error::UsageError;
use crate::fsutil::write_atomic;
use crate::manifests::edit::{self as manifests_edit, Pin};
use crate::manifests::pins::{over_committed, pins_for_tag, pins_from_report, read_report, Built, REBUILD, REPORT};
use crate::manifests::render::{self, BASE, OVERLAYS};
use anyhow::{Context, Result};
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

/// The workspace's kustomization for `env`: the committed overlay, and the pins.
pub fn layer(env: &str, pins: &[Pin]) -> Result<String> {
    let head = format!(
        "# This workspace's pins for {env}, written by `cargo xtask manifests update {env}`:
# the committed overlay with the images this run pushed. Never committed
# (`--commit` commits them on a branch of their own); renders and deploys
# from this workspace use it while it exists.
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ../../../../{OVERLAYS}/{env}
"
    );
    if pins.is_empty() {
        return Ok(head);
    }
    manifests_edit::pin_images(&head, pins)
}

/// `cargo xtask manifests update ENV`.
pub fn run(ws: &Workspace, args: &UpdateArgs) -> Result<i32> {
    let root = &ws.root;
    let env = render::environment(root, &args.env)?;
    let deployed = render::deployed(ws);
    let wanted = render::own_images(ws)?;
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
    let committed_file = render::overlay_file(&env);
    let committed = render::read(root, &committed_file)?;
    crate::manifests::yaml::parse(&committed)
        .map_err(|e| render::malformed(&committed_file, &anyhow::anyhow!("line {}: {}", e.line, e.message)))?;
    let file = render::pinned_file(&env);
    let old = std::fs::read_to_string(root.join(&file)).unwrap_or_default();
    let new = layer(&env, &over_committed(&committed, &pins)).map_err(|e| render::malformed(&file, &e))?;
    let stale = apply(root, BASE, &base, &new_base, args.check)? | apply(root, &file, &old, &new, args.check)?;
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
    if args.commit {
        let pinned =
            manifests_edit::pin_images(&committed, &pins).map_err(|e| render::malformed(&committed_file, &e))?;
        let mut files = vec![(committed_file, pinned)];
        if new_base != base {
            files.push((BASE.to_string(), new_base));
        }
        commit(root, &env, &files)?;
    }
    Ok(0)
}

/// Commit `files` (path, text) over HEAD on the branch `xtask/pins/ENV-<commit>`,
/// with git's plumbing and an index of its own: the working tree, the index
/// and the checked-out branch stay as they are. Never pushed.
fn commit(root: &Path, env: &str, files: &[(String, String)]) -> Result<()> {
    let head = head(root)?;
    let short = &head[..12.min(head.len())];
    let branch = format!("xtask/pins/{env}-{short}");
    let sh = Shell::new()?;
    sh.change_dir(root);
    let index = root.join("target/xtask/pins.index");
    let _ = std::fs::remove_file(&index);
    std::fs::create_dir_all(root.join("target/xtask"))?;
    let git = |args: &[&str], stdin: Option<&str>| -> Result<String> {
        let c = cmd!(sh, "git {args...}").env("GIT_INDEX_FILE", &index).quiet();
        let c = match stdin {
            Some(text) => c.stdin(text),
            None => c,
        };
        c.read().with_context(|| format!("git {} failed", args.first().unwrap_or(&"")))
    };
    git(&["read-tree", "HEAD"], None)?;
    for (path, text) in files {
        let blob = git(&["hash-object", "-w", "--stdin"], Some(text))?;
        git(&["update-index", "--add", "--cacheinfo", &format!("100644,{blob},{path}")], None)?;
    }
    let tree = git(&["write-tree"], None)?;
    let message = format!(
        "{OVERLAYS}/{env}: pin the images of {short}\n\nWritten by `cargo xtask manifests update {env} --commit`."
    );
    let made = git(&["commit-tree", &tree, "-p", &head, "-m", &message], None)
        .context("git could not commit: set an identity (git config user.name and user.email)")?;
    git(&["branch", "-f", &branch, &made], None)?;
    let _ = std::fs::remove_file(&index);
    println!(
        "committed the pins as {} on branch {branch} (not pushed): `git push origin {branch}` and open a pull request",
        &made[..12.min(made.len())]
    );
    Ok(())
}
