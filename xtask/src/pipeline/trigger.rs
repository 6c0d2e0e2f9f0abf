//! The pipeline's trigger table: which stages an event runs, and the exact
//! `cargo xtask` command of each. A pure function of the event (name, ref,
//! requested environment), so every row of the table is a unit test.
//!
//! | event | stages |
//! |---|---|
//! | pull request | test (a leg per component + the full suite), quality, perf (the affected components with scenarios) |
//! | push to develop (or another branch) | test (a leg per component), quality |
//! | push to main | test, quality, image (SHA tags), manifests, deploy, verify: development |
//! | push of a release tag `vX.Y.Z` | test, quality, image (X.Y.Z, X.Y, latest), manifests, deploy, verify: the requested environment, staging by default |
//! | workflow_dispatch with an environment | test (legs + the full suite), quality, image (tags by the ref), manifests, deploy, verify: that environment |
//! | workflow_dispatch without one | test (legs + the full suite), quality, perf (every component with scenarios, against main) |
//! | pull request opened, synchronized or reopened | also preview: `preview up --pr N --build` after test and quality |
//! | pull request closed | preview-down only: `preview down --pr N` |
//! | schedule | preview-sweep only: `preview sweep --older-than 72h` |

use crate::images::tags::parse_version;
use serde::Serialize;

/// What GitHub (or the command line) says happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// `pull_request`, `push` or `workflow_dispatch`.
    pub name: String,
    /// `refs/heads/main`, `refs/tags/v1.2.3`, `refs/pull/7/merge`.
    pub reference: String,
    /// The environment asked for: `--environment`, else the dispatch input.
    pub requested: Option<String>,
    /// A pull request's action (`opened`, `synchronize`, `closed`…), from the payload.
    pub action: Option<String>,
}

/// The environment a release tag deploys to when none is requested.
pub const RELEASE_DEFAULT: &str = "staging";
/// How long a preview may sit idle before the scheduled sweep removes it.
pub const PREVIEW_TTL: &str = "72h";
/// Where a push to main lands.
pub const MAIN_ENVIRONMENT: &str = "development";

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Stage {
    pub name: &'static str,
    /// Arguments after `cargo xtask`.
    pub args: Vec<String>,
    /// Stages that must pass first.
    pub needs: Vec<&'static str>,
}

impl Stage {
    pub fn command(&self) -> String {
        let words: Vec<String> = self.args.iter().map(|a| crate::plan::quote(a)).collect();
        format!("cargo xtask {}", words.join(" "))
    }

    /// Deploy and verify talk to a cluster.
    pub fn needs_cluster(&self) -> bool {
        matches!(self.name, "deploy" | "verify" | "preview" | "preview-down" | "preview-sweep")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pipeline {
    /// In words, e.g. `push to main`, `release v1.2.3`.
    pub trigger: String,
    pub event: String,
    #[serde(rename = "ref")]
    pub reference: String,
    /// On GitHub the tests also run as one job for the whole suite (besides a leg per component).
    pub full_suite: bool,
    /// Where the plan deploys, if it does.
    pub environment: Option<String>,
    /// `X.Y.Z` for a release tag.
    pub version: Option<String>,
    pub stages: Vec<Stage>,
}

impl Pipeline {
    pub fn stage(&self, name: &str) -> Option<&Stage> {
        self.stages.iter().find(|s| s.name == name)
    }

    pub fn names(&self) -> Vec<&'static str> {
        self.stages.iter().map(|s| s.name).collect()
    }
}

/// The event from GitHub's variables: `GITHUB_EVENT_NAME`, `GITHUB_REF` (else
/// the payload's `ref`, or a pull request's merge ref) and the payload at
/// `GITHUB_EVENT_PATH` (a dispatch's `inputs.environment`). A flag's
/// environment wins over the payload's.
pub fn from_github(
    name: &str,
    github_ref: Option<&str>,
    payload: Option<&str>,
    flag: Option<&str>,
) -> Result<Event, String> {
    let json: serde_json::Value = match payload {
        Some(text) => serde_json::from_str(text).map_err(|e| {
            format!("the event payload (GITHUB_EVENT_PATH) is not JSON ({e}): it must be the file GitHub wrote")
        })?,
        None => serde_json::Value::Null,
    };
    let from_payload = || -> Option<String> {
        if let Some(r) = json["ref"].as_str().filter(|r| r.starts_with("refs/")) {
            return Some(r.to_string());
        }
        json["number"]
            .as_u64()
            .or_else(|| json["pull_request"]["number"].as_u64())
            .map(|n| format!("refs/pull/{n}/merge"))
    };
    let reference =
        github_ref.filter(|r| !r.is_empty()).map(String::from).or_else(from_payload).ok_or_else(|| {
            format!("no ref for the {name} event: set GITHUB_REF (or pass --ref, e.g. refs/heads/main)")
        })?;
    let input = json["inputs"]["environment"].as_str().filter(|e| !e.is_empty()).map(String::from);
    let action = json["action"].as_str().map(String::from);
    Ok(Event { name: name.to_string(), reference, requested: flag.map(String::from).or(input), action })
}

/// A pull request event's number and whether it comes from a fork (its head
/// in another repository): a fork's code never reaches the cluster's credentials.
pub fn pull_request_of(payload: &serde_json::Value) -> Option<(u64, bool)> {
    let pr = &payload["pull_request"];
    let number = pr["number"].as_u64().or_else(|| payload["number"].as_u64())?;
    let (head, base) = (&pr["head"]["repo"], &pr["base"]["repo"]);
    let fork = head["fork"] == true
        || (head["full_name"].is_string() && base["full_name"].is_string() && head["full_name"] != base["full_name"]);
    Some((number, fork))
}

/// The pull request's number in its merge ref (`refs/pull/7/merge`).
fn pull_number(reference: &str) -> Option<u64> {
    reference.strip_prefix("refs/pull/")?.split('/').next()?.parse().ok()
}

/// The stages `event` runs. `environments` are the deployable ones (the
/// overlays); an error is one line saying what to pass instead.
pub fn decide(event: &Event, environments: &[String]) -> Result<Pipeline, String> {
    let reference = event.reference.as_str();
    let branch = reference.strip_prefix("refs/heads/");
    let tag = reference.strip_prefix("refs/tags/");
    let mut p = Pipeline {
        trigger: String::new(),
        event: event.name.clone(),
        reference: reference.to_string(),
        full_suite: false,
        environment: None,
        version: None,
        stages: Vec::new(),
    };
    let no_environment = |what: &str| -> Result<(), String> {
        match &event.requested {
            Some(env) => Err(format!(
                "a {what} deploys nothing, so --environment {env} does not apply: deploy from main, a release tag or workflow_dispatch"
            )),
            None => Ok(()),
        }
    };
    match event.name.as_str() {
        "pull_request" if event.action.as_deref() == Some("closed") => {
            no_environment("closed pull request")?;
            p.trigger = "pull request closed".into();
        }
        "pull_request" => {
            no_environment("pull request")?;
            p.trigger = "pull request".into();
            p.full_suite = true;
        }
        "schedule" => {
            no_environment("scheduled run")?;
            p.trigger = "schedule".into();
        }
        "push" => match (branch, tag) {
            (Some("main"), _) => {
                if let Some(env) = event.requested.as_deref().filter(|e| *e != MAIN_ENVIRONMENT) {
                    return Err(format!(
                        "a push to main deploys {MAIN_ENVIRONMENT}, not {env}: deploy {env} from a release tag or workflow_dispatch"
                    ));
                }
                p.trigger = "push to main".into();
                p.environment = Some(MAIN_ENVIRONMENT.into());
            }
            (Some(b), _) => {
                no_environment(&format!("push to {b}"))?;
                p.trigger = format!("push to {b}");
            }
            (None, Some(t)) => {
                let (x, y, z) = parse_version(t).ok_or_else(|| {
                    format!("tag `{t}` is not a release tag: releases are tagged vX.Y.Z, e.g. v1.2.3")
                })?;
                let env = event.requested.clone().unwrap_or_else(|| RELEASE_DEFAULT.into());
                p.trigger = format!("release {t}");
                p.version = Some(format!("{x}.{y}.{z}"));
                p.environment = Some(env);
            }
            _ => {
                return Err(format!(
                    "a push needs a branch or tag ref (refs/heads/… or refs/tags/…), not `{reference}`"
                ))
            }
        },
        "workflow_dispatch" => match &event.requested {
            Some(env) => {
                if let Some((x, y, z)) = tag.and_then(parse_version) {
                    p.version = Some(format!("{x}.{y}.{z}"));
                }
                p.trigger = format!("workflow_dispatch of {env}");
                p.environment = Some(env.clone());
                p.full_suite = true;
            }
            None => {
                p.trigger = "workflow_dispatch".into();
                p.full_suite = true;
            }
        },
        other => {
            return Err(format!(
                "event `{other}` is not in the pipeline's trigger table: use pull_request, push, workflow_dispatch or schedule"
            ))
        }
    }
    if let Some(env) = &p.environment {
        if !environments.iter().any(|e| e == env) {
            return Err(format!(
                "unknown environment `{env}`: choose one of {} (folders under deploy/overlays)",
                environments.join(", ")
            ));
        }
    }
    p.stages = stages(&p);
    Ok(p)
}

fn stages(p: &Pipeline) -> Vec<Stage> {
    let stage = |name, args: &[&str], needs: &[&'static str]| Stage {
        name,
        args: args.iter().map(|a| a.to_string()).collect(),
        needs: needs.to_vec(),
    };
    // A closed pull request only loses its preview; the schedule only sweeps.
    if p.trigger == "pull request closed" {
        let pr = pull_number(&p.reference).map(|n| n.to_string()).unwrap_or_default();
        return vec![stage("preview-down", &["preview", "down", "--pr", &pr], &[])];
    }
    if p.event == "schedule" {
        return vec![stage("preview-sweep", &["preview", "sweep", "--older-than", PREVIEW_TTL], &[])];
    }
    let mut out = vec![stage("test", &["test"], &[]), stage("quality", &["quality"], &[])];
    if p.event == "pull_request" {
        out.push(stage("perf", &["perf", "--affected"], &[]));
        if let Some(pr) = pull_number(&p.reference) {
            out.push(stage("preview", &["preview", "up", "--pr", &pr.to_string(), "--build"], &["test", "quality"]));
        }
    }
    // A manual run of the performance workflow: every scenario, this ref against main.
    if p.event == "workflow_dispatch" && p.environment.is_none() {
        out.push(stage("perf", &["perf"], &[]));
    }
    if let Some(env) = p.environment.as_deref() {
        out.push(stage("image", &["image", "build", "--push", "--ref", &p.reference], &["test", "quality"]));
        out.push(stage("manifests", &["manifests", "update", env], &["image"]));
        out.push(stage("deploy", &["deploy", env], &["manifests"]));
        out.push(stage("verify", &["verify", env], &["deploy"]));
    }
    out
}

/// The stages to run when only `only` are asked for (all when empty); a name
/// the plan lacks is an error naming the ones it has.
pub fn select<'a>(p: &'a Pipeline, only: &[String]) -> Result<Vec<&'a Stage>, String> {
    if let Some(missing) = only.iter().find(|o| p.stage(o).is_none()) {
        return Err(format!("the {} plan has no `{missing}` stage: it has {}", p.trigger, p.names().join(", ")));
    }
    Ok(p.stages.iter().filter(|s| only.is_empty() || only.iter().any(|o| o == s.name)).collect())
}

#[cfg(test)]
#[path = "trigger_tests.rs"]
mod tests;
