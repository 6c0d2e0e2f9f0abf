//! A ci plan as people and programs read it: text, JSON, and the values later
//! steps and jobs read from `$GITHUB_OUTPUT`.

use crate::github::on_github;
use crate::pipeline::trigger::{Pipeline, Stage};
use serde_json::json;

/// Are there cluster credentials for deploy and verify? (`kube::credentials` reads them.)
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
