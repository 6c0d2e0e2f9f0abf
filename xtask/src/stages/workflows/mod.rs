//! `cargo xtask workflows [--json]`: the rules over every GitHub workflow:
//! every `run:` step is one `cargo xtask` command (`workflows::thin`), every
//! job starts the services its commands need (`workflows::jobs`), actions are
//! pinned by commit, jobs have timeouts, secrets stay on their step and write
//! permissions on their job (`workflows::rules`), and every event a workflow
//! declares plans the `ci --only` stages its steps name (`workflows::events`
//! through `pipeline::trigger`). `workflows pins` lists the pinned actions;
//! `workflows events` the events a test plans one by one.

use crate::cli::WorkflowsCommand;
use crate::findings::{Finding, Severity};
use crate::manifests::render as manifests_render;
use crate::pipeline::trigger::{self, Event};
use crate::release::guards;
use crate::workflows::events::{self, Sample, RELEASE_REF};
use crate::workflows::{files, jobs, rules, thin};
use anyhow::{Context, Result};
use std::path::Path;

/// `cargo xtask workflows …`.
pub fn run(root: &Path, json: bool, action: Option<&WorkflowsCommand>) -> Result<i32> {
    match action {
        None => check(root, json),
        Some(WorkflowsCommand::Pins { json }) => pins(root, *json),
        Some(WorkflowsCommand::Events { json }) => {
            let samples = samples(root)?;
            if *json {
                println!("{}", serde_json::to_string_pretty(&samples)?);
            } else {
                for s in &samples {
                    let via = s.caller.as_deref().map(|c| format!(" (called by {c})")).unwrap_or_default();
                    let env = s.payload["inputs"]["environment"].as_str().map(|e| format!(" environment={e}"));
                    let only = if s.only.is_empty() { String::new() } else { format!(" --only {}", s.only.join(",")) };
                    println!("{}{via}: {} {}{}{only}", s.workflow, s.event, s.reference, env.unwrap_or_default());
                }
            }
            Ok(0)
        }
    }
}

/// The ref a dispatch of `env` is tried on: main when its guard takes main, else a release tag.
fn dispatch_ref(root: &Path) -> impl Fn(&str) -> String + '_ {
    move |env: &str| {
        let guard = guards::read(root, env).unwrap_or(guards::Guard::Any);
        match guards::check_ref(env, guard, Some("main"), None) {
            Ok(()) => "refs/heads/main".into(),
            Err(_) => RELEASE_REF.into(),
        }
    }
}

fn samples(root: &Path) -> Result<Vec<Sample>> {
    events::samples(root, &dispatch_ref(root))
}

/// Every sample whose plan fails, or lacks a stage its workflow's steps name.
fn unplannable(root: &Path) -> Result<Vec<Finding>> {
    let environments = manifests_render::deployable(root)?;
    let mut found = Vec::new();
    for s in samples(root)? {
        let event = trigger::from_github(&s.event, Some(&s.reference), Some(&s.payload.to_string()), None)
            .and_then(|e: Event| trigger::decide(&e, &environments))
            .and_then(|p| trigger::select(&p, &s.only).map(|_| ()));
        if let Err(why) = event {
            let via = s.caller.as_deref().map(|c| format!(", called by {c}")).unwrap_or_default();
            let message = format!(
                "on {} {}{via}, `cargo xtask ci` cannot plan: {why}: change the workflow's trigger or its steps' `--only` stages",
                s.event, s.reference
            );
            found.push(Finding {
                tool: "workflows",
                file: s.workflow.clone(),
                line: Some(1),
                column: Some(1),
                code: "plan-stage".into(),
                message,
                severity: Severity::High,
            });
        }
    }
    Ok(found)
}

fn check(root: &Path, json: bool) -> Result<i32> {
    let mut found = Vec::new();
    for file in files(root) {
        let text = std::fs::read_to_string(root.join(&file)).with_context(|| format!("cannot read {file}"))?;
        found.extend(thin(&file, &text));
        found.extend(jobs::services_not_started(&file, &text));
        found.extend(rules::check(&file, &text));
    }
    found.extend(unplannable(root)?);
    if json {
        println!("{}", serde_json::to_string_pretty(&found)?);
    } else {
        for f in &found {
            println!("{}:{}:{}: {} {}", f.file, f.line.unwrap_or(0), f.column.unwrap_or(0), f.code, f.message);
        }
        println!("{} workflow(s) checked, {} finding(s)", files(root).len(), found.len());
    }
    Ok(if found.is_empty() { 0 } else { 1 })
}

/// `cargo xtask workflows pins`: each action, the commit it is pinned to,
/// its tag, and where it is used.
fn pins(root: &Path, json: bool) -> Result<i32> {
    let mut rows: Vec<(String, String, String, Vec<String>, bool)> = Vec::new();
    for file in files(root) {
        let text = std::fs::read_to_string(root.join(&file)).with_context(|| format!("cannot read {file}"))?;
        for u in rules::uses(&text) {
            let tag = u.tag.clone().unwrap_or_else(|| "-".into());
            let at = format!("{file}:{}", u.line);
            match rows.iter_mut().find(|r| r.0 == u.action && r.1 == u.reference) {
                Some(row) => row.3.push(at),
                None => rows.push((u.action.clone(), u.reference.clone(), tag, vec![at], u.pinned())),
            }
        }
    }
    rows.sort();
    let unpinned = rows.iter().filter(|r| !r.4).count();
    if json {
        let list: Vec<serde_json::Value> = rows
            .iter()
            .map(|(a, c, t, w, _)| serde_json::json!({ "action": a, "commit": c, "tag": t, "used": w }))
            .collect();
        println!("{}", serde_json::to_string_pretty(&list)?);
    } else {
        let width = rows.iter().map(|r| r.0.len()).max().unwrap_or(0);
        for (action, commit, tag, used, _) in &rows {
            println!("{action:width$}  {commit:40}  {tag:10}  {} use(s)", used.len());
        }
        println!("{} action(s), {unpinned} not pinned by commit", rows.len());
    }
    Ok(if unpinned == 0 { 0 } else { 1 })
}
