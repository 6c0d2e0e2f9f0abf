//! The image stage's plan: build tasks from a context of wheels, tagged by the
//! tag policy, each followed by its pushes; the review of docker's output; the
//! checkout (commit, dirty files, source date) the tags come from.

use crate::clock;
use crate::component::{Component, Workspace};
use crate::error::UsageError;
use crate::exec::Outcome;
use crate::images::buildx::{self, Buildx, Use};
use crate::images::context as image_context;
use crate::images::registry::{self, Problem, Target};
use crate::images::tags::{self, Source, TagSet};
use crate::images::{is_push, pushed_digest};
use crate::plan::{ExitPolicy, Task};
use crate::report::Row;
use anyhow::Result;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use xshell::{cmd, Shell};

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
    /// Build with buildx (its cache per component) instead of plain `docker build`.
    pub buildx: Option<&'a Buildx>,
    /// What each component's local cache allows (absent: everything).
    pub cache_use: &'a BTreeMap<String, Use>,
    /// Each component's `--build-context` for its base (`BASE=oci-layout://…@sha256:…`), for buildx.
    pub base_contexts: &'a BTreeMap<String, String>,
    /// The run's own Docker config with its logins (`registry::RunConfig`), when it has one.
    pub docker_config: Option<&'a Path>,
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
            let mut args: Vec<String> = match r.buildx {
                Some(bx) => {
                    let use_ = r.cache_use.get(&c.name).copied().unwrap_or(Use { from: true, to: true });
                    ["buildx", "build", "--output", buildx::OUTPUT]
                        .map(String::from)
                        .into_iter()
                        .chain(buildx::cache_args(&bx.cache, &c.name, use_))
                        .collect()
                }
                None => vec!["build".into()],
            };
            args.extend(["--file".into(), format!("{ctx_rel}/Dockerfile")]);
            if r.no_cache {
                args.push("--no-cache".into());
            }
            if let Some((base, _)) = crate::images::checks::base_image(c, r.base_image, &|k| std::env::var(k).ok()) {
                args.extend(["--build-arg".into(), format!("BASE_IMAGE={base}")]);
            }
            // The base from the engine as an OCI layout: no builder has to see the engine's images.
            if let (Some(_), Some(context)) = (r.buildx, r.base_contexts.get(&c.name)) {
                args.extend(["--build-context".into(), context.clone()]);
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
            // BuildKit (buildx) dates the image config, its history and (rewrite-timestamp) its
            // files by it; the legacy builder ignores it.
            build.env.push(("SOURCE_DATE_EPOCH".into(), r.epoch.to_string()));
            // The builder lives in a Docker config of its own (plugin, builder); a run that logged
            // in uses its own config (the registry cache's credentials) and finds the builder by BUILDX_CONFIG.
            if let Some(bx) = r.buildx {
                match r.docker_config {
                    Some(run) => {
                        build.env.push(("DOCKER_CONFIG".into(), run.display().to_string()));
                        build.env.push(("BUILDX_CONFIG".into(), bx.config.join("buildx").display().to_string()));
                    }
                    None => build.env.push(("DOCKER_CONFIG".into(), bx.config.display().to_string())),
                }
            }
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
                    let mut push = task(id.clone(), vec!["push".into(), image], Vec::new(), previous.take());
                    if let Some(run) = r.docker_config {
                        push.env.push(("DOCKER_CONFIG".into(), run.display().to_string()));
                    }
                    tasks.push(push);
                    previous = Some(id);
                }
            }
        }
    }
    tasks
}

/// Passed, failed (the build or push itself failed) or error (the registry
/// refused us or could not be reached), from docker's exit code and words.
pub fn review(task: &Task, code: Option<i32>, output: &str) -> Outcome {
    let pushing = is_push(task);
    match (code, registry::classify(output)) {
        (Some(0), _) => Outcome::Passed,
        (_, Some(Problem::Auth)) if pushing => Outcome::Error(
            "the registry refused the push: authentication failed (set XTASK_REGISTRY_USERNAME and XTASK_REGISTRY_PASSWORD_FILE, or docker login to the registry)".into(),
        ),
        (_, Some(Problem::Unreachable)) if pushing => {
            Outcome::Error("the registry is unreachable: is it running?".into())
        }
        _ if pushing => Outcome::Failed("docker push failed: see the log".into()),
        _ => Outcome::Failed("docker build failed: see the build log's tail above".into()),
    }
}

pub fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    all[all.len().saturating_sub(lines)..].iter().map(|l| format!("\n    | {l}")).collect()
}

pub fn describe(row: Row) -> Row {
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
pub struct Checkout {
    pub source: Source,
    /// The uncommitted changes that make it dirty.
    pub changed: Vec<String>,
    /// The ref recorded in images.json: the one given, else HEAD's branch.
    pub reference: Option<String>,
    pub epoch: i64,
}

/// Read the checkout. `inputs` are what the images are made from (component
/// folders ending in `/`, Dockerfiles), relative to the monorepo root.
pub fn checkout(sh: &Shell, reference: Option<String>, tag_given: bool, inputs: &[String]) -> Result<Checkout> {
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
pub fn image_inputs(ws: &Workspace, components: &[&Component]) -> Vec<String> {
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

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
