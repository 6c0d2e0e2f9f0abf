//! The image stage: build every component's image from a context of wheels,
//! tag it by the tag policy, push it, and record what was pushed in
//! `target/xtask/images.json` (what the manifests stage consumes).

use crate::cli::{ImageArgs, RunArgs};
use crate::component::{Component, Workspace};
use crate::error::UsageError;
use crate::exec::{Outcome, Prepare, Printer};
use crate::fsutil::write_atomic;
use crate::plan::{ExitPolicy, Task};
use crate::registry::{self, Problem, Target};
use crate::report::Row;
use crate::stages::{self, image_context, on_github, Stage};
use crate::tags::{self, Source, TagSet};
use crate::{findings, python};
use anyhow::Result;
use serde_json::json;
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
    pub created: &'a str,
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
            let own = std::env::var(format!("XTASK_BASE_IMAGE_{}", c.name.to_uppercase().replace('-', "_"))).ok();
            if let Some(base) = own.as_deref().filter(|b| !b.is_empty()).or(c.base_image.as_deref()).or(r.base_image) {
                args.extend(["--build-arg".into(), format!("BASE_IMAGE={base}")]);
            }
            let version = r.tags.version.clone().unwrap_or_else(|| r.tags.revision.clone());
            let mut labels = vec![
                ("title", c.name.clone()),
                ("revision", r.tags.revision.clone()),
                ("version", version),
                ("created", r.created.to_string()),
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
            tasks.push(task(id.clone(), args, vec![format!("context:{}", c.name)], None));
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
        _ => Outcome::Failed("docker build failed: see the build log's tail below".into()),
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

/// `target/xtask/images.json`: per component, the image names, tags and pushed digests.
fn write_report(root: &Path, components: &[&Component], targets: &[Target], tags: &TagSet, rows: &[Row]) -> Result<()> {
    let mut out = Vec::new();
    for c in components {
        let built =
            rows.iter().any(|r| r.finished.task.id == format!("build:{}", c.name) && r.finished.outcome.is_ok());
        let id = std::fs::read_to_string(image_context::dir(root, &c.name).join("image-id")).ok().filter(|_| built);
        let pushed: Vec<_> = rows
            .iter()
            .filter(|r| r.finished.task.component == c.name && r.finished.outcome.is_ok())
            .filter(|r| is_push(&r.finished.task))
            .filter_map(|r| {
                let (image, tag) = r.finished.task.args[1].rsplit_once(':')?;
                Some(json!({ "image": image, "tag": tag, "digest": pushed_digest(&r.finished.output()) }))
            })
            .collect();
        out.push(json!({
            "component": c.name,
            "images": targets.iter().map(|t| format!("{}/{}", t.prefix, c.name)).collect::<Vec<_>>(),
            "tags": tags.tags,
            "version": tags.version,
            "revision": tags.revision,
            "dirty": tags.dirty,
            "image_id": id,
            "pushed": pushed,
        }));
    }
    let text = serde_json::to_string_pretty(&json!({ "images": out }))?;
    write_atomic(&root.join("target/xtask/images.json"), text.as_bytes())
}

/// The commit being built, from git.
fn source(sh: &Shell, reference: Option<String>, tag_given: bool) -> Result<Source> {
    let git = |args: &[&str]| -> Result<String, String> {
        let out = cmd!(sh, "git {args...}").quiet().ignore_status().output().map_err(|e| e.to_string())?;
        let err = String::from_utf8_lossy(&out.stderr).lines().next().unwrap_or("").trim().to_string();
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
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
    // A tree whose state cannot be read is not assumed clean.
    let dirty = match git(&["status", "--porcelain"]) {
        Ok(status) => !status.is_empty(),
        Err(_) if tag_given => false,
        Err(why) => {
            return Err(UsageError::new(format!(
                "cannot read the working tree's state ({why}): fix git, or pass --tag"
            )))
        }
    };
    // A release tag must name the commit being built, or the labels would lie.
    if let Some(tag) = reference.as_deref().and_then(|r| r.strip_prefix("refs/tags/")) {
        if let Ok(tagged) = git(&["rev-parse", "--verify", "--quiet", &format!("refs/tags/{tag}^{{commit}}")]) {
            if !tag_given && tagged != sha {
                return Err(UsageError::new(format!(
                    "tag {tag} is commit {}, but {} is checked out: check the tag out first",
                    &tagged[..tagged.len().min(12)],
                    &sha[..sha.len().min(12)]
                )));
            }
        }
    }
    let head_tags = git(&["tag", "--points-at", "HEAD"]).unwrap_or_default();
    Ok(Source { reference, sha, dirty, head_tags: head_tags.lines().map(String::from).collect() })
}

fn now_rfc3339() -> String {
    // SOURCE_DATE_EPOCH makes the label reproducible where wanted.
    let secs = std::env::var("SOURCE_DATE_EPOCH").ok().and_then(|s| s.parse::<i64>().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
    });
    let t = secs.rem_euclid(86_400);
    format!("{}T{:02}:{:02}:{:02}Z", findings::utc_date(secs), t / 3600, t % 3600 / 60, t % 60)
}

/// The engine must answer before anything is built.
fn check_docker(sh: &Shell) -> Result<()> {
    which::which("docker")
        .map_err(|_| UsageError::new("docker not found on PATH: install it (apt-get install docker.io)"))?;
    if cmd!(sh, "docker info --format '{{.ServerVersion}}'").quiet().ignore_stderr().read().is_err() {
        return Err(UsageError::new(
            "the Docker daemon is not running: start it (bash .ci/docker-up, or `sudo systemctl start docker`)",
        ));
    }
    Ok(())
}

/// `cargo xtask image build|push`.
pub fn run(ws: &Workspace, args: &ImageArgs, build: bool, push: bool, no_cache: bool) -> Result<i32> {
    let run: &RunArgs = &args.run;
    let (selected, _) = stages::select(ws, &run.components, &run.affected, false)?;
    // Named explicitly, a component without a Dockerfile is a mistake; otherwise it is skipped.
    if let Some(c) = selected.iter().find(|c| c.dockerfile.is_none() && !run.components.is_empty()) {
        return Err(UsageError::new(format!("components/{} has no Dockerfile, so it has no image: add one", c.name)));
    }
    let components: Vec<&Component> = selected.into_iter().filter(|c| c.dockerfile.is_some()).collect();
    let sh = Shell::new()?;
    sh.change_dir(&ws.root);
    let reference = args.reference.clone().or_else(|| std::env::var("GITHUB_REF").ok().filter(|r| !r.is_empty()));
    let src = source(&sh, reference, args.tag.is_some())?;
    let tags = tags::tags(&src, args.tag.as_deref())?;
    if push && tags.dirty && !args.allow_dirty {
        return Err(UsageError::new(
            "the working tree has uncommitted changes: commit them before pushing, or pass --allow-dirty",
        ));
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
    let base = args.base_image.clone().or_else(|| env("XTASK_BASE_IMAGE").filter(|b| !b.is_empty()));
    // The source label: the GitHub repository, else where this checkout came from.
    let source_url = env("GITHUB_REPOSITORY").map(|r| format!("https://github.com/{r}")).or_else(|| {
        let url = cmd!(sh, "git remote get-url origin").quiet().ignore_stderr().read().ok()?;
        // Only a web address without credentials in it.
        Some(url.trim().to_string()).filter(|u| u.contains("://") && !u.contains('@'))
    });
    let created = now_rfc3339();
    let request = Request {
        build,
        push,
        no_cache,
        tags: &tags,
        targets: &targets,
        base_image: base.as_deref(),
        source_url: source_url.as_deref(),
        created: &created,
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
    let contexts = image_context::Contexts::new(ws, &components, py.exe);
    if !run.dry_run {
        if on_github() {
            registry::mask(&targets);
        }
        check_docker(&sh)?;
        if push {
            for t in &targets {
                registry::login(&sh, t)?;
            }
        }
        let printer = Printer::new(on_github(), run.json);
        printer.line(&format!("image tags: {} (revision {})", tags.tags.join(", "), tags.revision));
    }
    let root = ws.root.clone();
    let epilogue = |rows: &[Row], out: &Printer| match write_report(&root, &components, &targets, &tags, rows) {
        Ok(()) => out.line("wrote target/xtask/images.json"),
        Err(e) => out.line(&format!("cannot write target/xtask/images.json: {e:#}")),
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
