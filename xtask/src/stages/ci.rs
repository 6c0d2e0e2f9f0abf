//! `cargo xtask ci`: read the event (GitHub's variables, or `--event`,
//! `--ref`, `--environment`), decide the stages (`trigger.rs`, pure), then
//! print them (`--plan`) or run them (`ci_run.rs`). With no GitHub variables
//! and no flags it is the pull-request plan: tests and quality.

use crate::cli::CiArgs;
use crate::component::Workspace;
use crate::error::UsageError;
use crate::github;
use crate::stages::{ci_run, manifests_render, on_github};
use crate::trigger::{self, Event, Pipeline, Stage};
use anyhow::{Context, Result};
use serde_json::json;
use std::path::Path;
use xshell::{cmd, Shell};

/// The environments a plan may deploy: the overlays, or the spec's three in a repo without any.
fn environments(root: &Path) -> Result<Vec<String>> {
    if root.join(manifests_render::OVERLAYS).is_dir() {
        return manifests_render::environments(root);
    }
    Ok(["development", "staging", "production"].map(String::from).to_vec())
}

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
    tags.lines().find(|t| crate::tags::parse_version(t).is_some()).map(|t| format!("refs/tags/{t}"))
}

/// Are there cluster credentials for deploy and verify? (`credentials.rs` reads them.)
pub fn has_credentials() -> bool {
    let set = |k: &str| std::env::var_os(k).is_some_and(|v| !v.is_empty());
    let home = std::env::var_os("HOME").map(std::path::PathBuf::from).unwrap_or_default();
    set("KUBECONFIG") || set("KUBECONFIG_B64") || home.join(".kube/config").is_file()
}

pub const NO_CREDENTIALS: &str =
    "no cluster credentials (KUBECONFIG, KUBECONFIG_B64 or ~/.kube/config): the plan stops before deploy";

/// The plan as people read it.
pub fn plan_text(p: &Pipeline, stages: &[&Stage], components: &[String], credentials: bool) -> String {
    let mut out = format!("ci plan: {} ({} {})\n", p.trigger, p.event, p.reference);
    let legs = if components.is_empty() { "none".to_string() } else { components.join(", ") };
    let suite = if p.full_suite { " and the full suite" } else { "" };
    out += &format!("  on GitHub the tests run as a leg per component ({legs}){suite}\n");
    match (&p.environment, &p.version) {
        (Some(env), Some(v)) => {
            let minor = v.rsplit_once('.').map_or(v.as_str(), |(m, _)| m);
            out += &format!("  deploys {env}, images tagged {v}, {minor} and latest\n");
        }
        (Some(env), None) => out += &format!("  deploys {env}, images tagged with the commit SHA\n"),
        _ => out += "  builds no images and deploys nothing\n",
    }
    let width = stages.iter().map(|s| s.name.len()).max().unwrap_or(0);
    let command_width = stages.iter().map(|s| s.command().len()).max().unwrap_or(0);
    for s in stages {
        let line = match s.needs.as_slice() {
            [] => format!("  {:<width$}  {}", s.name, s.command()),
            needs => format!("  {:<width$}  {:<command_width$}  after {}", s.name, s.command(), needs.join(", ")),
        };
        out += &format!("{line}\n");
    }
    if !credentials && stages.iter().any(|s| s.needs_cluster()) && !on_github() {
        out += &format!("  {NO_CREDENTIALS}\n");
    }
    out
}

pub fn plan_json(p: &Pipeline, stages: &[&Stage], components: &[String]) -> serde_json::Value {
    let stages: Vec<_> = stages
        .iter()
        .map(|s| json!({ "name": s.name, "command": s.command(), "args": s.args, "needs": s.needs }))
        .collect();
    json!({
        "trigger": p.trigger,
        "event": p.event,
        "ref": p.reference,
        "environment": p.environment,
        "version": p.version,
        "full_suite": p.full_suite,
        "components": components,
        "stages": stages,
    })
}

/// What later steps and jobs read from `$GITHUB_OUTPUT` about the plan.
pub fn plan_outputs(p: &Pipeline, components: &[String]) -> Vec<(String, String)> {
    let s = |v: &str| v.to_string();
    vec![
        (s("trigger"), p.trigger.clone()),
        (s("environment"), p.environment.clone().unwrap_or_default()),
        (s("version"), p.version.clone().unwrap_or_default()),
        (s("full-suite"), p.full_suite.to_string()),
        (s("deploy"), p.stage("deploy").is_some().to_string()),
        (s("stages"), serde_json::to_string(&p.names()).unwrap_or_default()),
        (s("components"), serde_json::to_string(components).unwrap_or_default()),
    ]
}

/// `cargo xtask ci`.
pub fn run(ws: &Workspace, args: &CiArgs) -> Result<i32> {
    let root = &ws.root;
    let event = event(root, args)?;
    let pipeline = trigger::decide(&event, &environments(root)?).map_err(UsageError::new)?;
    let mut stages = trigger::select(&pipeline, &args.only).map_err(UsageError::new)?;
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
    let exe = std::env::current_exe().context("cannot find the xtask's own program")?;
    ci_run::execute(root, &exe, &pipeline, &stages, has_credentials())
}
