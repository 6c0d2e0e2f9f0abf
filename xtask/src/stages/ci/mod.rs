//! `cargo xtask ci`: read the event (GitHub's variables, or `--event`,
//! `--ref`, `--environment`), decide the stages (`pipeline::trigger`, pure), then
//! refuse at once what the deploy would refuse (`pipeline::preflight`: the
//! guard, the release tag, --confirm), then print the stages (`--plan`) or
//! run them (`run.rs`, through the dispatcher main hands it: no stage imports another). With no GitHub variables and no flags it is the
//! pull-request plan: tests and quality.

mod run;

use crate::cli::CiArgs;
use crate::component::Workspace;
use crate::error::UsageError;
use crate::github;
use crate::manifests::render as manifests_render;
use crate::pipeline::plan::{has_credentials, plan_json, plan_outputs, plan_text};
use crate::pipeline::preflight::{self, Checkout};
use crate::pipeline::trigger::{self, Event, Stage};
use crate::release::guards;
use anyhow::Result;
use std::path::Path;
use xshell::{cmd, Shell};

/// The event: flags first, then GitHub's variables, then the pull-request default.
fn event(root: &Path, args: &CiArgs) -> Result<Event> {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let github_event = var("GITHUB_EVENT_NAME");
    let name = args.event.clone().or_else(|| github_event.clone()).unwrap_or_else(|| "pull_request".into());
    // The payload describes GitHub's event only; a different --event has none.
    let payload =
        match (var("GITHUB_EVENT_PATH"), github_event.as_deref() == Some(name.as_str())) {
            (Some(path), true) => Some(std::fs::read_to_string(&path).map_err(|e| {
                UsageError::new(format!("cannot read the event payload {path} (GITHUB_EVENT_PATH): {e}"))
            })?),
            _ => None,
        };
    let reference = args.reference.clone().or_else(|| var("GITHUB_REF"));
    let reference = match (reference, &payload) {
        (Some(r), _) => Some(r),
        (None, Some(_)) => None,
        // A pull request's plan does not depend on its ref: outside git it is just HEAD.
        (None, None) => checked_out_ref(root).or_else(|| (name == "pull_request").then(|| "HEAD".into())),
    };
    trigger::from_github(&name, reference.as_deref(), payload.as_deref(), args.environment.as_deref())
        .map_err(UsageError::new)
}

/// The checked-out branch as a ref (`refs/heads/x`), else a release tag at HEAD.
fn checked_out_ref(root: &Path) -> Option<String> {
    let sh = Shell::new().ok()?;
    sh.change_dir(root);
    let branch = cmd!(sh, "git symbolic-ref -q HEAD").quiet().ignore_stderr().read().unwrap_or_default();
    if !branch.is_empty() {
        return Some(branch);
    }
    let tags = cmd!(sh, "git tag --points-at HEAD").quiet().ignore_stderr().read().unwrap_or_default();
    tags.lines().find(|t| crate::images::tags::parse_version(t).is_some()).map(|t| format!("refs/tags/{t}"))
}

/// The checked-out commit and the commit the plan's tag names, as git says.
fn checkout(root: &Path, reference: &str) -> Checkout {
    let Ok(sh) = Shell::new() else { return Checkout::default() };
    sh.change_dir(root);
    let commit = |spec: String| {
        cmd!(sh, "git rev-parse -q --verify {spec}").quiet().ignore_stderr().read().ok().filter(|c| !c.is_empty())
    };
    Checkout {
        head: commit("HEAD^{commit}".into()),
        tag_commit: reference.strip_prefix("refs/tags/").and_then(|t| commit(format!("refs/tags/{t}^{{commit}}"))),
    }
}

/// `cargo xtask ci`. `stage` runs a stage's command line in this process (main's dispatcher).
pub fn run(ws: &Workspace, args: &CiArgs, stage: &run::InProcess<'_>) -> Result<i32> {
    let root = &ws.root;
    let event = event(root, args)?;
    let pipeline = trigger::decide(&event, &manifests_render::deployable(root)?).map_err(UsageError::new)?;
    let mut stages = trigger::select(&pipeline, &args.only).map_err(UsageError::new)?;
    // What the deploy would refuse, refused now: before tests, checks and images run.
    if let Some(env) = &pipeline.environment {
        let guard = guards::read(root, env)?;
        let deploys = stages.iter().any(|s| s.name == "deploy");
        let checkout = checkout(root, &pipeline.reference);
        preflight::check(&pipeline, guard, &checkout, args.confirm, github::on_github(), deploys)
            .map_err(UsageError::new)?;
    }
    let confirmed: Vec<Stage>;
    if args.confirm {
        confirmed = stages
            .iter()
            .map(|s| {
                let mut s = (*s).clone();
                if s.name == "deploy" {
                    s.args.push("--confirm".into());
                }
                s
            })
            .collect();
        stages = confirmed.iter().collect();
    }
    let components: Vec<String> = ws.components.iter().map(|c| c.name.clone()).collect();
    github::set_outputs(&plan_outputs(&pipeline, &components))?;
    if args.plan {
        if args.json {
            println!("{}", serde_json::to_string_pretty(&plan_json(&pipeline, &stages, &components))?);
        } else {
            print!("{}", plan_text(&pipeline, &stages, &components, has_credentials()));
        }
        return Ok(0);
    }
    // Running, the missing credentials are said once, where the plan stops.
    print!("{}", plan_text(&pipeline, &stages, &components, true));
    let exe = crate::fsutil::own_program()?;
    run::execute(root, &exe, stage, &pipeline, &stages, has_credentials())
}
