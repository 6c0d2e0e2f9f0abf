//! The image stage: build every component's image from a context of wheels,
//! tag it by the tag policy, push it, and record what was built and pushed in
//! `target/xtask/images.json` (what the manifests stage consumes).

use crate::cli::{BuildArgs, ImageArgs, RunArgs};
use crate::component::{Component, Workspace};
use crate::error::UsageError;
use crate::exec::{Outcome, Prepare, Printer};
use crate::plan::{ExitPolicy, Task};
use crate::registry::{self, Problem, Target};
use crate::report::Row;
use crate::stages::{self, image_context, on_github, Stage};
use crate::tags::{self, Source, TagSet};
use crate::{clock, python};
use anyhow::Result;
use std::collections::{BTreeMap, BTreeSet};
use xshell::{cmd, Shell};

#[path = "image_checks.rs"]
pub mod checks;
#[path = "image_report.rs"]
pub mod report;

/// What one run builds and pushes.
pub struct Request<'a> {
    pub build: bool,
    pub push: bool,
    pub no_cache: bool,
    pub tags: &'a TagSet,
    pub targets: &'a [Target],
    /// The global base image (`--base-image`/`XTASK_BASE_IMAGE`); a component's own wins.
    pub base_image: Option<&'a str>,
    pub source_url: Option<&'a str>,
    /// The source date (seconds): SOURCE_DATE_EPOCH, else the commit's time. The
    /// `created` label and BuildKit's timestamps take it, so a rebuild of the
    /// same commit is the same image.
    pub epoch: i64,
    /// GitHub Actions: build with buildx and its `type=gha` cache.
    pub github: bool,
}

/// Build tasks (each needing its context), each followed by its push tasks.
pub fn plan(ws: &Workspace, components: &[&Component], r: &Request) -> Vec<Task> {
    let root = &ws.root;
    let mut tasks = Vec::new();
    for c in components {
        let ctx = image_context::dir(root, &c.name);
        let ctx_rel = ctx.strip_prefix(root).unwrap_or(&ctx).display().to_string();
        let task = |id: String, args: Vec<String>, needs: Vec<String>, after: Option<String>| Task {
            id,
            stage: "image",
            component: c.name.clone(),
            program: "docker".into(),
            args,
            env: Vec::new(),
            cwd: root.clone(),
            needs,
            after,
            artifact: None,
            exit: ExitPolicy::Docker,
            // Never cached: builds and pushes change the Docker engine and registries, outside the repo.
            cache: None,
        };
        let mut previous = None;
        if r.build {
            let mut args: Vec<String> = if r.github {
                let scope = format!("scope={}", c.name);
                vec![
                    "buildx".into(),
                    "build".into(),
                    "--load".into(),
                    "--cache-from".into(),
                    format!("type=gha,{scope}"),
                ]
                .into_iter()
                .chain(["--cache-to".into(), format!("type=gha,mode=max,{scope}")])
                .collect()
            } else {
                vec!["build".into()]
            };
            args.extend(["--file".into(), format!("{ctx_rel}/Dockerfile")]);
            if r.no_cache {
                args.push("--no-cache".into());
            }
            if let Some((base, _)) = checks::base_image(c, r.base_image, &|k| std::env::var(k).ok()) {
                args.extend(["--build-arg".into(), format!("BASE_IMAGE={base}")]);
            }
            let version = r.tags.version.clone().unwrap_or_else(|| r.tags.revision.clone());
            let mut labels = vec![
                ("title", c.name.clone()),
                ("revision", r.tags.revision.clone()),
                ("version", version),
                ("created", clock::rfc3339(r.epoch)),
            ];
            if let Some(url) = r.source_url {
                labels.push(("source", url.to_string()));
            }
            for (k, v) in labels {
                args.extend(["--label".into(), format!("org.opencontainers.image.{k}={v}")]);
            }
            for t in r.targets {
                for tag in &r.tags.tags {
                    args.extend(["--tag".into(), format!("{}/{}:{tag}", t.prefix, c.name)]);
                }
            }
            args.extend(["--iidfile".into(), format!("{ctx_rel}/image-id"), ctx_rel.clone()]);
            let id = format!("build:{}", c.name);
            let mut build = task(id.clone(), args, vec![format!("context:{}", c.name)], None);
            // BuildKit (buildx) dates the image config and its history by it; the legacy builder ignores it.
            build.env.push(("SOURCE_DATE_EPOCH".into(), r.epoch.to_string()));
            tasks.push(build);
            previous = Some(id);
        }
        if r.push {
            for t in r.targets {
                for tag in &r.tags.tags {
                    let id = if r.targets.len() > 1 {
                        format!("push:{}:{}:{tag}", c.name, t.host)
                    } else {
                        format!("push:{}:{tag}", c.name)
                    };
                    let image = format!("{}/{}:{tag}", t.prefix, c.name);
                    tasks.push(task(id.clone(), vec!["push".into(), image], Vec::new(), previous.take()));
                    previous = Some(id);
                }
            }
        }
    }
    tasks
}

fn is_push(task: &Task) -> bool {
    task.args.first().is_some_and(|a| a == "push")
}

/// Passed, failed (the build or push itself failed) or error (the registry
/// refused us or could not be reached), from docker's exit code and words.
fn review(task: &Task, code: Option<i32>, output: &str) -> Outcome {
    let pushing = is_push(task);
    match (code, registry::classify(output)) {
        (Some(0), _) => Outcome::Passed,
        (_, Some(Problem::Auth)) if pushing => Outcome::Error(
            "the registry refused the push: authentication failed (log in, or set the registry credentials)".into(),
        ),
        (_, Some(Problem::Unreachable)) if pushing => {
            Outcome::Error("the registry is unreachable: is it running?".into())
        }
        _ if pushing => Outcome::Failed("docker push failed: see the log".into()),
        _ => Outcome::Failed("docker build failed: see the build log's tail above".into()),
    }
}

/// The digest `docker push` reports (`<tag>: digest: sha256:… size: N`).
pub fn pushed_digest(output: &str) -> Option<String> {
    output
        .split_whitespace()
        .skip_while(|w| *w != "digest:")
        .nth(1)
        .filter(|d| d.starts_with("sha256:"))
        .map(String::from)
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    all[all.len().saturating_sub(lines)..].iter().map(|l| format!("\n    | {l}")).collect()
}

fn describe(row: Row) -> Row {
    let output = row.finished.output();
    let pushing = is_push(&row.finished.task);
    let note = match (&row.finished.outcome, pushing) {
        (Outcome::Passed, true) => {
            pushed_digest(&output).map(|d| format!("pushed {} ({d})", row.finished.task.args[1]))
        }
        (Outcome::Failed(_) | Outcome::Error(_), false) => Some(format!("build log tail:{}", tail(&output, 12))),
        _ => None,
    };
    Row { note, ..row }
}

/// The commit being built and the tree's state, from git.
struct Checkout {
    source: Source,
    /// The uncommitted changes that make it dirty.
    changed: Vec<String>,
    /// The ref recorded in images.json: the one given, else HEAD's branch.
    reference: Option<String>,
    epoch: i64,
}

/// Read the checkout. `inputs` are what the images are made from (component
/// folders ending in `/`, Dockerfiles), relative to the monorepo root.
fn checkout(sh: &Shell, reference: Option<String>, tag_given: bool, inputs: &[String]) -> Result<Checkout> {
    let git = |args: &[&str]| -> Result<String, String> {
        let out = cmd!(sh, "git {args...}").quiet().ignore_status().output().map_err(|e| e.to_string())?;
        let err = String::from_utf8_lossy(&out.stderr).lines().next().unwrap_or("").trim().to_string();
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim_end_matches('\n').to_string())
        } else {
            Err(err)
        }
    };
    let sha = match git(&["rev-parse", "HEAD"]) {
        Ok(sha) => sha,
        Err(_) if tag_given => "unknown".to_string(),
        Err(why) => {
            return Err(UsageError::new(format!(
                "cannot read the commit to tag ({why}): image tags come from git, so commit first, or pass --tag"
            )))
        }
    };
    // git status names paths from the repository's top, which may be above the monorepo root.
    let prefix = git(&["rev-parse", "--show-prefix"]).unwrap_or_default();
    let inputs: Vec<String> = inputs.iter().map(|i| format!("{prefix}{i}")).collect();
    // A tree whose state cannot be read is not assumed clean.
    let changed = match git(&["status", "--porcelain=v1", "-z", "--untracked-files=all"]) {
        Ok(status) => tags::changes_that_count(&status, &inputs),
        Err(_) if tag_given => Vec::new(),
        Err(why) => {
            return Err(UsageError::new(format!(
                "cannot read the working tree's state ({why}): fix git, or pass --tag"
            )))
        }
    };
    let tagged = reference
        .as_deref()
        .and_then(|r| r.strip_prefix("refs/tags/"))
        .and_then(|tag| git(&["rev-parse", "--verify", "--quiet", &format!("refs/tags/{tag}^{{commit}}")]).ok());
    let head_tags = git(&["tag", "--points-at", "HEAD"]).unwrap_or_default();
    let head_ref = git(&["symbolic-ref", "--quiet", "HEAD"]).ok();
    let epoch = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .or_else(|| git(&["show", "-s", "--format=%ct", "HEAD"]).ok()?.trim().parse().ok())
        // No commit (only with --tag): the build's own time.
        .unwrap_or_else(|| {
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
        });
    let source = Source {
        reference: reference.clone(),
        sha,
        dirty: !changed.is_empty(),
        head_tags: head_tags.lines().map(String::from).collect(),
        tagged,
    };
    Ok(Checkout { source, changed, reference: reference.or(head_ref), epoch })
}

/// The component folders and Dockerfiles the images are made from (with their run-time dependencies').
fn image_inputs(ws: &Workspace, components: &[&Component]) -> Vec<String> {
    let mut inputs = BTreeSet::new();
    for c in components {
        for d in image_context::closure(ws, c) {
            inputs.insert(format!("{}/", d.path.display()));
        }
        if let Some(f) = &c.dockerfile {
            inputs.insert(f.display().to_string());
        }
    }
    inputs.into_iter().collect()
}

/// `cargo xtask image build` (with `build`) and `cargo xtask image push` (without).
pub fn run(ws: &Workspace, args: &ImageArgs, build_args: Option<&BuildArgs>) -> Result<i32> {
    let run: &RunArgs = &args.run;
    let (build, push) = (build_args.is_some(), build_args.is_none_or(|b| b.push));
    let (selected, _) = stages::select(ws, &run.components, &run.affected, false)?;
    // Named explicitly, a component without a Dockerfile is a mistake; otherwise it is skipped.
    if let Some(c) = selected.iter().find(|c| c.dockerfile.is_none() && !run.components.is_empty()) {
        return Err(UsageError::new(format!("components/{} has no Dockerfile, so it has no image: add one", c.name)));
    }
    let components: Vec<&Component> = selected.into_iter().filter(|c| c.dockerfile.is_some()).collect();
    let sh = Shell::new()?;
    sh.change_dir(&ws.root);
    let reference = args.reference.clone().or_else(|| std::env::var("GITHUB_REF").ok().filter(|r| !r.is_empty()));
    let co = checkout(&sh, reference, args.tag.is_some(), &image_inputs(ws, &components))?;
    let tags = tags::tags(&co.source, args.tag.as_deref())?;
    if push && tags.dirty && !args.allow_dirty {
        return Err(UsageError::new(format!(
            "uncommitted changes would go into the images ({}): commit them before pushing, or pass --allow-dirty",
            tags::some_of(&co.changed, 3)
        )));
    }
    let env = |k: &str| std::env::var(k).ok();
    let mut targets = registry::targets(args.registry.as_deref(), &env)?;
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
    let request = Request {
        build,
        push,
        no_cache: run.no_cache,
        tags: &tags,
        targets: &targets,
        base_image: base.as_deref(),
        source_url: source_url.as_deref(),
        epoch: co.epoch,
        github: on_github(),
    };
    let tasks = plan(ws, &components, &request);
    let py = python::interpreter(&sh)?;
    if build && !py.version.starts_with("3.11.") {
        return Err(UsageError::new(format!(
            "{} is Python {}, but the images run Python 3.11 and take wheels built for it: point XTASK_PYTHON at a Python 3.11",
            py.exe.display(),
            py.version
        )));
    }
    let contexts = image_context::Contexts::new(ws, &components, py.exe, co.epoch);
    // A push alone sends images built earlier: their ids, known before anything is pushed.
    let mut pushed_ids = BTreeMap::new();
    if !run.dry_run {
        if on_github() {
            registry::mask(&targets);
        }
        checks::check_docker(&sh)?;
        if build {
            checks::check_base_images(&sh, ws, &components, base.as_deref())?;
        } else {
            pushed_ids = checks::images_to_push(&sh, &tasks, args, &ws.root)?;
        }
        if push {
            for t in &targets {
                registry::login(&sh, t)?;
            }
        }
        let printer = Printer::new(on_github(), run.json);
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
                let file = image_context::dir(&root, &c.name).join("image-id");
                if let Some(id) = std::fs::read_to_string(file).ok().filter(|_| built) {
                    ids.insert(c.name.clone(), id.trim().to_string());
                }
            }
        }
        let new = report::records(&components, &targets, &tags, co.reference.as_deref(), &ids, rows);
        match report::update(&root, new) {
            Ok(note) => {
                if let Some(note) = note {
                    out.line(&format!("note: {note}"));
                }
                out.line(&format!("wrote {}", report::PATH));
            }
            Err(e) => out.line(&format!("cannot write {}: {e:#}", report::PATH)),
        }
    };
    let name = if build { "image build" } else { "image push" };
    let stage = Stage { name, review: Some(&review), describe: &describe, epilogue: &epilogue };
    let code = stages::run(&ws.root, &stage, &tasks, Some(&contexts as &dyn Prepare), run);
    if push && !run.dry_run {
        // docker login stores the credential in the Docker config: do not leave it there.
        for t in targets.iter().filter(|t| t.credentials.is_some()) {
            registry::logout(&sh, t);
        }
    }
    code
}

#[cfg(test)]
#[path = "image_tests.rs"]
mod tests;
