//! `cargo xtask image build|push`: build every component's image, tag it by
//! the tag policy, push it, and record what was built and pushed in
//! `target/xtask/images.json` (what the manifests stage consumes).

use crate::cli::{BuildArgs, ImageArgs, RunArgs};
use crate::component::{Component, Workspace};
use crate::error::UsageError;
use crate::exec::Prepare;
use crate::github::on_github;
use crate::images::buildx::{self, Buildx, Cache};
use crate::images::plan::{self, Request};
use crate::images::{checks, context, registry, report, tags};
use crate::printer::Printer;
use crate::python;
use crate::report::Row;
use crate::runner::{self, Stage};
use crate::supply;
use anyhow::Result;
use std::collections::BTreeMap;
use xshell::{cmd, Shell};

/// `cargo xtask image build` (with `build`) and `cargo xtask image push` (without).
pub fn run(ws: &Workspace, args: &ImageArgs, build_args: Option<&BuildArgs>) -> Result<i32> {
    let run: &RunArgs = &args.run;
    let (build, push) = (build_args.is_some(), build_args.is_none_or(|b| b.push));
    if run.components.iter().any(|c| c == runner::RUST) {
        return Err(UsageError::new("the xtask has no image: name components that have a Dockerfile"));
    }
    let (selected, _) = runner::select(ws, &run.components, &run.affected, false)?;
    // Named explicitly, a component without a Dockerfile is a mistake; otherwise it is skipped.
    if let Some(c) = selected.iter().find(|c| c.dockerfile.is_none() && !run.components.is_empty()) {
        return Err(UsageError::new(format!("components/{} has no Dockerfile, so it has no image: add one", c.name)));
    }
    let components: Vec<&Component> = selected.into_iter().filter(|c| c.dockerfile.is_some()).collect();
    let sh = Shell::new()?;
    sh.change_dir(&ws.root);
    let reference = args.reference.clone().or_else(|| std::env::var("GITHUB_REF").ok().filter(|r| !r.is_empty()));
    let co = plan::checkout(&sh, reference, args.tag.is_some(), &plan::image_inputs(ws, &components))?;
    let tags = tags::tags(&co.source, args.tag.as_deref())?;
    if push && tags.dirty && !args.allow_dirty {
        return Err(UsageError::new(format!(
            "uncommitted changes would go into the images ({}): commit them before pushing, or pass --allow-dirty",
            tags::some_of(&co.changed, 3)
        )));
    }
    let env = |k: &str| std::env::var(k).ok();
    let mut targets = registry::targets(args.registry.as_deref(), &env)?;
    // A registry the services record chose (not the caller) is said, with how to choose another.
    if args.registry.is_none() && crate::services::state::from_record("XTASK_REGISTRY", &env) {
        eprintln!("{}", registry::line(None, &env));
    }
    if targets.is_empty() {
        if push {
            return Err(UsageError::new(
                "no registry to push to: pass --registry (e.g. localhost:5000) or set XTASK_REGISTRY, GITHUB_REPOSITORY or DOCKER_HUB_USERNAME",
            ));
        }
        targets.push(registry::local_target());
    }
    let base =
        build_args.and_then(|b| b.base_image.clone()).or_else(|| env("XTASK_BASE_IMAGE").filter(|b| !b.is_empty()));
    // The source label: the GitHub repository, else where this checkout came from.
    let source_url = env("GITHUB_REPOSITORY").map(|r| format!("https://github.com/{r}")).or_else(|| {
        let url = cmd!(sh, "git remote get-url origin").quiet().ignore_stderr().read().ok()?;
        // Only a web address without credentials in it.
        Some(url.trim().to_string()).filter(|u| u.contains("://") && !u.contains('@'))
    });
    let dry_run = run.exec.dry_run;
    if !dry_run {
        if on_github() {
            registry::mask(&targets);
        }
        checks::check_docker(&sh)?;
        if build {
            checks::check_base_images(&sh, ws, &components, base.as_deref())?;
        }
    }
    // The builder: buildx (made to answer) or plain docker build, said once; its cache's state per
    // component (in the registry a run pushes to, else a local folder).
    let said = std::cell::RefCell::new(Vec::new());
    let (bx, fallback) = if build {
        let say = |l: &str| said.borrow_mut().push(l.to_string());
        let cache_in = targets.first().filter(|_| push).map(|t| t.prefix.as_str());
        buildx::decide(&sh, &env, cache_in, !dry_run, &say)?
    } else {
        (None, None)
    };
    // Each base image as an OCI layout, handed to the builder as a named context.
    let base_contexts = match &bx {
        Some(_) => buildx::base_contexts(&sh, ws, &components, base.as_deref(), !dry_run)?,
        None => BTreeMap::new(),
    };
    // A push logs in inside a Docker config of this run's own (removed when `login` drops).
    let plugin = bx.as_ref().map(|b| buildx::plugin(&b.config));
    let login = if push && !dry_run { registry::RunConfig::login_all(&sh, &targets, plugin.as_deref())? } else { None };
    let with_credentials = push && targets.iter().any(|t| t.credentials.is_some());
    let docker_config = match &login {
        Some(l) => Some(l.dir().to_path_buf()),
        None => (dry_run && with_credentials).then(registry::RunConfig::path),
    };
    let mut cache_use = BTreeMap::new();
    if let (Some(Buildx { cache: Cache::Local(dir), .. }), false) = (&bx, dry_run) {
        for c in &components {
            let (use_, warning) = buildx::local_use(dir, &c.name);
            said.borrow_mut().extend(warning.map(|w| format!("warning: {w}")));
            cache_use.insert(c.name.clone(), use_);
        }
    }
    said.borrow_mut().extend(fallback.map(|f| format!("note: {f}")));
    if let Some(b) = &bx {
        let cache = match &b.cache {
            Cache::Registry(prefix) => format!("type=registry at {prefix}/<component>:{}", buildx::CACHE_TAG),
            Cache::Local(dir) => format!("type=local under {}", dir.display()),
        };
        said.borrow_mut()
            .push(format!("image builder: docker buildx, cache {cache} (one per component, exported mode=max)"));
        for (component, context) in &base_contexts {
            said.borrow_mut().push(format!("base of {component}: {context}"));
        }
    }
    let request = Request {
        build,
        push,
        no_cache: run.no_cache,
        tags: &tags,
        targets: &targets,
        base_image: base.as_deref(),
        source_url: source_url.as_deref(),
        epoch: co.epoch,
        buildx: bx.as_ref(),
        cache_use: &cache_use,
        base_contexts: &base_contexts,
        docker_config: docker_config.as_deref(),
    };
    let tasks = plan::plan(ws, &components, &request);
    if dry_run && !run.exec.json {
        // As shell comments: the printed plan stays a script.
        for line in said.borrow().iter() {
            println!("# {line}");
        }
    }
    let py = python::interpreter(&sh)?;
    if build && !py.version.starts_with("3.11.") {
        return Err(UsageError::new(format!(
            "{} is Python {}, but the images run Python 3.11 and take wheels built for it: point XTASK_PYTHON at a Python 3.11",
            py.exe.display(),
            py.version
        )));
    }
    let contexts = context::Contexts::new(ws, &components, py.exe, co.epoch);
    // A push alone sends images built earlier: their ids, known before anything is pushed.
    let mut pushed_ids = BTreeMap::new();
    if !dry_run {
        registry::mask(&targets);
        if !build {
            pushed_ids = checks::images_to_push(&sh, &tasks, args, &ws.root)?;
        }
        if push {
            // Nothing is pushed that cannot be signed.
            supply::attest::signer()?;
        }
        let printer = Printer::new(on_github(), run.exec.json);
        for line in said.borrow().iter() {
            printer.line(line);
        }
        printer.line(&format!("image tags: {} (revision {})", tags.tags.join(", "), tags.revision));
    }
    let root = ws.root.clone();
    let epilogue = |rows: &[Row], out: &Printer| {
        let mut ids = pushed_ids.clone();
        if build {
            for c in &components {
                let built = rows
                    .iter()
                    .any(|r| r.finished.task.id == format!("build:{}", c.name) && r.finished.outcome.is_ok());
                let file = context::dir(&root, &c.name).join("image-id");
                if let Some(id) = std::fs::read_to_string(file).ok().filter(|_| built) {
                    ids.insert(c.name.clone(), id.trim().to_string());
                }
            }
        }
        let new = report::records(&components, &targets, &tags, co.reference.as_deref(), &ids, rows);
        match report::update(&root, new, build) {
            Ok(notes) => {
                for note in notes {
                    out.line(&format!("note: {note}"));
                }
                out.line(&format!("wrote {}", report::PATH));
            }
            Err(e) => out.line(&format!("cannot write {}: {e:#}", report::PATH)),
        }
    };
    let name = if build { "image build" } else { "image push" };
    let stage = Stage { name, review: Some(&plan::review), describe: &plan::describe, epilogue: &epilogue };
    let code = runner::run(&ws.root, &stage, &tasks, Some(&contexts as &dyn Prepare), &run.exec, run.no_cache);
    // Every digest pushed gets its SBOM, provenance and signature (supply::attest), the
    // pushes of a run where another component failed too.
    if push && !dry_run && code.is_ok() && targets.iter().any(|t| !t.host.is_empty()) {
        supply::attest::after_push(&supply::attest::AfterPush {
            root: &ws.root,
            components: &components,
            tasks: &tasks,
            targets: &targets,
            tags: &tags.tags,
            epoch: co.epoch,
            base: base.as_deref(),
            buildx: bx.as_ref().map(|b| b.config.as_path()),
        })?;
    }
    // The run's logins go with its config; the caller's own Docker config was never touched.
    drop(login);
    code
}
