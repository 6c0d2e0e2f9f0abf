//! The documentation's checked parts. The CLI reference is generated from
//! clap ([`cli_ref`]); every Mermaid diagram of the README and `docs/` must
//! parse with mermaid's own parser ([`mermaid`], run in node) and name only
//! what exists: each diagram declares, in a `%% names: KIND…` line, which
//! kinds of names its nodes are, and every node's label (or id, when it has
//! none) must be one of them ([`unknown_names`]). The kinds come from the
//! code and the repo: workflow jobs, commands, services, environments,
//! guards, events, pipeline stages, canary states.

pub mod cli_ref;
pub mod mermaid;

use crate::manifests::render;
use crate::pipeline::trigger::{self, Event};
use crate::{cli, release, services, workflows};
use anyhow::{Context, Result};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The Markdown pages: the README and everything under `docs/`, sorted.
pub fn pages(root: &Path) -> Result<Vec<PathBuf>> {
    let mut out = vec![PathBuf::from("README.md")];
    for e in walkdir::WalkDir::new(root.join("docs")).sort_by_file_name() {
        let e = e.context("reading docs/")?;
        if e.file_type().is_file() && e.path().extension().is_some_and(|x| x == "md") {
            out.push(e.path().strip_prefix(root).unwrap_or(e.path()).to_path_buf());
        }
    }
    Ok(out)
}

/// One ```mermaid block of a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagram {
    /// `docs/x.md:LINE` of its opening fence.
    pub place: String,
    /// The kinds its `%% names:` line declares.
    pub kinds: Vec<String>,
    pub text: String,
}

/// The Mermaid blocks of a page (`file` names it in messages).
pub fn diagrams(file: &str, text: &str) -> Vec<Diagram> {
    let mut out = Vec::new();
    let mut open: Option<(usize, Vec<&str>)> = None;
    for (i, line) in text.lines().enumerate() {
        match &mut open {
            None if line.trim_start().starts_with("```mermaid") => open = Some((i + 1, Vec::new())),
            None => {}
            Some((start, body)) if line.trim_start().starts_with("```") => {
                let kinds = body
                    .iter()
                    .find_map(|l| l.trim().strip_prefix("%% names:"))
                    .map(|k| k.split_whitespace().map(String::from).collect())
                    .unwrap_or_default();
                out.push(Diagram { place: format!("{file}:{start}"), kinds, text: body.join("\n") });
                open = None;
            }
            Some((_, body)) => body.push(line),
        }
    }
    out
}

/// A node as mermaid's parser read it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct Node {
    pub id: String,
    pub label: String,
}

/// The names each kind allows. `commands` holds command paths
/// (`image build`): a label `cargo xtask image build --push` names one.
pub type Vocabulary = BTreeMap<String, BTreeSet<String>>;

/// What a diagram names that does not exist, one line each (empty: all good).
pub fn unknown_names(d: &Diagram, nodes: &[Node], vocabulary: &Vocabulary) -> Vec<String> {
    if d.kinds.is_empty() {
        let kinds: Vec<&String> = vocabulary.keys().collect();
        return vec![format!(
            "{}: the diagram declares no names: add a line `%% names: KIND...` (kinds: {})",
            d.place,
            kinds.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", ")
        )];
    }
    let mut out = Vec::new();
    for kind in d.kinds.iter().filter(|k| !vocabulary.contains_key(*k)) {
        out.push(format!("{}: `%% names: {kind}` is no kind the check knows", d.place));
    }
    for n in nodes {
        let label = n.label.split("<br").next().unwrap_or("").trim();
        let label = if label.is_empty() { n.id.as_str() } else { label };
        if !d.kinds.iter().any(|k| names(vocabulary, k, label)) {
            out.push(format!("{}: node `{}` (\"{label}\") is no {} that exists", d.place, n.id, d.kinds.join(" or ")));
        }
    }
    out
}

/// Whether `label` is a name of `kind`: equal to one, a command path after
/// `cargo xtask` (its arguments follow), or the head of a name with a colon
/// (a canary state `not started: …`).
fn names(vocabulary: &Vocabulary, kind: &str, label: &str) -> bool {
    let Some(set) = vocabulary.get(kind) else { return false };
    if kind == "commands" {
        let Some(rest) = label.strip_prefix("cargo xtask ") else { return false };
        let words: Vec<&str> =
            rest.split_whitespace().take_while(|w| w.chars().all(|c| c.is_ascii_lowercase() || c == '-')).collect();
        // The longest run of words that is a command path, and at least the first word.
        return (1..=words.len()).rev().any(|n| set.contains(&words[..n].join(" ")));
    }
    set.contains(label) || set.iter().any(|n| n.strip_prefix(label).is_some_and(|r| r.starts_with(':')))
}

/// The names the diagrams may use, read from the code and the repo.
pub fn vocabulary(root: &Path) -> Result<Vocabulary> {
    let mut v = Vocabulary::new();
    let mut commands = BTreeSet::new();
    command_paths(&<cli::Cli as clap::CommandFactory>::command(), &mut Vec::new(), &mut commands);
    v.insert("commands".into(), commands);
    v.insert("services".into(), services::names().into_iter().map(String::from).collect());
    let environments = render::environments(root)?;
    let mut envs: BTreeSet<String> = environments.iter().cloned().collect();
    envs.insert("pr-N".into());
    v.insert("environments".into(), envs);
    v.insert("guards".into(), release::guards::Guard::ALL.iter().map(|g| g.label().to_string()).collect());
    v.insert("canary".into(), release::canary::STATES.iter().map(|s| s.to_string()).collect());
    let mut stages = BTreeSet::new();
    let mut events = BTreeSet::new();
    for file in workflows::files(root) {
        let text = std::fs::read_to_string(root.join(&file)).with_context(|| format!("reading {file}"))?;
        let jobs = workflows::jobs::jobs(&text).into_iter().map(|(name, _, _)| name).collect();
        let name = Path::new(&file).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or(file.clone());
        v.insert(format!("jobs:{name}"), jobs);
        events.extend(workflow_events(&text));
    }
    v.insert("events".into(), events);
    for (name, reference, action) in [
        ("pull_request", "refs/pull/1/merge", Some("opened")),
        ("pull_request", "refs/pull/1/merge", Some("closed")),
        ("schedule", "refs/heads/main", None),
        ("push", "refs/heads/main", None),
        ("push", "refs/heads/develop", None),
        ("push", "refs/tags/v1.2.3", None),
        ("workflow_dispatch", "refs/heads/main", None),
    ] {
        let event =
            Event { name: name.into(), reference: reference.into(), requested: None, action: action.map(String::from) };
        if let Ok(p) = trigger::decide(&event, &environments) {
            stages.extend(p.names().into_iter().map(String::from));
        }
    }
    v.insert("stages".into(), stages);
    Ok(v)
}

fn command_paths(cmd: &clap::Command, path: &mut Vec<String>, out: &mut BTreeSet<String>) {
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        path.push(sub.get_name().to_string());
        out.insert(path.join(" "));
        command_paths(sub, path, out);
        path.pop();
    }
}

/// The events a workflow's `on:` lists (its keys one level in).
fn workflow_events(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut inside = false;
    for line in text.lines() {
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        if indent == 0 {
            inside = line.trim_end() == "on:";
            continue;
        }
        if inside && indent == 2 {
            if let Some(key) = line.trim().strip_suffix(':').or_else(|| line.trim().split_once(':').map(|(k, _)| k)) {
                out.push(key.trim().to_string());
            }
        }
    }
    out
}

#[cfg(test)]
#[path = "docs_tests.rs"]
mod tests;
