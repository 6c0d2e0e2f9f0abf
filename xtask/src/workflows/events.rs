//! The events each workflow declares, as `cargo xtask ci` sees them on
//! GitHub, and the `ci --only` stages its steps name: a push to each branch it
//! names, each sample tag its tag filters admit, a pull request per activity
//! type it declares (a `closed` one plans only the preview's teardown), a
//! schedule (on main), a dispatch
//! with each value of its `environment` input, and, for a workflow another
//! one calls (`workflow_call`), every event of its callers. Each sample is
//! what GitHub would hand the job (`GITHUB_EVENT_NAME`, `GITHUB_REF`, the
//! payload at `GITHUB_EVENT_PATH`), so a test can plan every one of them.

use super::filters::admits;
use anyhow::{Context, Result};
use serde::Serialize;
use serde_json::{json, Value};
use std::path::Path;

/// The tags a tag filter is tried with: a release and pre-releases.
pub const SAMPLE_TAGS: &[&str] = &["v1.2.3", "v1.2.3-rc1", "v2.0.0-beta.1"];
/// The release tag a dispatch is tried on when its environment's guard refuses main.
pub const RELEASE_REF: &str = "refs/tags/v1.2.3";
/// The activity types a `pull_request:` without `types:` runs on.
pub const PULL_TYPES: [&str; 3] = ["opened", "synchronize", "reopened"];
/// A pull request's merge ref, as GitHub sets it.
pub const PULL_REF: &str = "refs/pull/7/merge";

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sample {
    /// The workflow whose steps run (`.github/workflows/x.yml`).
    pub workflow: String,
    /// `GITHUB_EVENT_NAME`.
    pub event: String,
    /// `GITHUB_REF`.
    #[serde(rename = "ref")]
    pub reference: String,
    /// The event's payload (`GITHUB_EVENT_PATH`'s content).
    pub payload: Value,
    /// The `--only` stages of the workflow's `cargo xtask ci` steps.
    pub only: Vec<String>,
    /// Whether a step plans (`cargo xtask ci --plan`).
    pub plans: bool,
    /// The workflow that declared the event, when it calls this one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub caller: Option<String>,
}

fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a.iter().filter_map(|s| s.as_str().map(String::from)).collect(),
        _ => Vec::new(),
    }
}

/// The workflow's `on:` as a map of event → its settings.
fn triggers(file: &str, text: &str) -> Result<serde_json::Map<String, Value>> {
    let doc: Value = serde_saphyr::from_str(text).with_context(|| format!("{file} is not YAML"))?;
    Ok(match &doc["on"] {
        Value::String(e) => [(e.clone(), Value::Null)].into_iter().collect(),
        Value::Array(a) => a.iter().filter_map(|e| Some((e.as_str()?.to_string(), Value::Null))).collect(),
        Value::Object(m) => m.clone(),
        _ => anyhow::bail!("{file} has no `on:` events"),
    })
}

/// What each of the workflow's `cargo xtask ci` steps names: its `--only`
/// stages and whether one plans.
fn ci_steps(text: &str) -> (Vec<String>, bool) {
    let (mut only, mut plans) = (Vec::new(), false);
    for step in super::steps(text) {
        let [command] = step.commands.as_slice() else { continue };
        let words: Vec<&str> = command.split_whitespace().collect();
        if !words.starts_with(&["cargo", "xtask", "ci"]) {
            continue;
        }
        plans |= words.contains(&"--plan");
        for w in words.windows(2).filter(|w| w[0] == "--only") {
            for stage in w[1].split(',') {
                if !only.iter().any(|o| o == stage) {
                    only.push(stage.to_string());
                }
            }
        }
    }
    (only, plans)
}

/// The refs and payloads of one workflow's own events (`workflow_call` aside).
/// `dispatch_ref` is the ref a dispatch of an environment is tried on.
fn own_events(file: &str, text: &str, dispatch_ref: &dyn Fn(&str) -> String) -> Result<Vec<(String, String, Value)>> {
    let mut out = Vec::new();
    for (event, settings) in triggers(file, text)? {
        match event.as_str() {
            "push" => {
                let (branches, tags) = (strings(&settings["branches"]), strings(&settings["tags"]));
                let unfiltered = branches.is_empty() && tags.is_empty();
                let literal = |b: &String| !b.contains(['*', '?', '+', '[', '!']);
                let mut refs: Vec<String> =
                    branches.iter().filter(|b| literal(b)).map(|b| format!("refs/heads/{b}")).collect();
                if unfiltered {
                    refs.push("refs/heads/main".into());
                }
                refs.extend(SAMPLE_TAGS.iter().filter(|t| admits(&tags, t)).map(|t| format!("refs/tags/{t}")));
                out.extend(refs.into_iter().map(|r| ("push".to_string(), r.clone(), json!({ "ref": r }))));
            }
            // One sample per activity type it declares (GitHub's default: opened, synchronize, reopened).
            "pull_request" => {
                let mut types = strings(&settings["types"]);
                if types.is_empty() {
                    types = PULL_TYPES.map(String::from).to_vec();
                }
                for action in types {
                    let payload = json!({ "action": action, "number": 7, "pull_request": { "number": 7 } });
                    out.push((event.clone(), PULL_REF.into(), payload));
                }
            }
            // GitHub runs a schedule on the default branch.
            "schedule" => {
                out.push((event, "refs/heads/main".into(), json!({ "schedule": settings[0]["cron"] })));
            }
            "workflow_dispatch" => {
                let options = strings(&settings["inputs"]["environment"]["options"]);
                if options.is_empty() {
                    let r = "refs/heads/main".to_string();
                    out.push((event.clone(), r.clone(), json!({ "ref": r, "inputs": {} })));
                }
                for env in options {
                    let r = dispatch_ref(&env);
                    out.push((event.clone(), r.clone(), json!({ "ref": r, "inputs": { "environment": env } })));
                }
            }
            // A called workflow runs with its caller's event.
            "workflow_call" => {}
            other => anyhow::bail!(
                "{file}: event `{other}` is not in the pipeline's trigger table: use pull_request, push, workflow_dispatch or schedule"
            ),
        }
    }
    Ok(out)
}

/// The local workflows a workflow's jobs call (`uses: ./.github/workflows/x.yml`).
fn called(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("uses:").map(str::trim))
        .filter_map(|u| u.strip_prefix("./"))
        .map(String::from)
        .collect()
}

/// Every sample of every workflow under `root`, in file order.
pub fn samples(root: &Path, dispatch_ref: &dyn Fn(&str) -> String) -> Result<Vec<Sample>> {
    let files = super::files(root);
    let texts: Vec<(String, String)> = files
        .iter()
        .map(|f| Ok((f.clone(), std::fs::read_to_string(root.join(f)).with_context(|| format!("cannot read {f}"))?)))
        .collect::<Result<_>>()?;
    let mut out = Vec::new();
    for (file, text) in &texts {
        let (only, plans) = ci_steps(text);
        let sample = |(event, reference, payload): (String, String, Value), caller: Option<String>| Sample {
            workflow: file.clone(),
            event,
            reference,
            payload,
            only: only.clone(),
            plans,
            caller,
        };
        for e in own_events(file, text, dispatch_ref)? {
            out.push(sample(e, None));
        }
        if triggers(file, text)?.contains_key("workflow_call") {
            for (caller, caller_text) in texts.iter().filter(|(_, t)| called(t).contains(file)) {
                for e in own_events(caller, caller_text, dispatch_ref)? {
                    out.push(sample(e, Some(caller.clone())));
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
#[path = "events_tests.rs"]
mod tests;
