//! What every stage shares: which components a run covers (`select`), whether
//! the Rust workspace joins it, and `run`: print the plan (`--dry-run`), or
//! execute it and report, the same way for every stage.

use crate::affected::{self, Affected};
use crate::cache::key::{Lookup, Session};
use crate::cli::{AffectedArgs, ExecArgs, RunArgs};
use crate::component::{Component, Workspace};
use crate::error::UsageError;
use crate::exec::{self, Options, Prepare, Review};
use crate::github::on_github;
use crate::plan::Task;
use crate::printer::Printer;
use crate::report::{self, Row};
use anyhow::Result;
use serde_json::json;
use std::path::{Path, PathBuf};

/// The components a run covers: those named, those `--affected` (with what
/// affected them), or all. `with_tests` follows test-only dependencies.
pub fn select<'a>(
    ws: &'a Workspace,
    names: &[String],
    args: &AffectedArgs,
    with_tests: bool,
) -> Result<(Vec<&'a Component>, Option<Affected>)> {
    if !args.affected {
        // `xtask` names the Rust workspace's tasks (`test:xtask`, `lint:xtask`), not a component.
        let components: Vec<String> = names.iter().filter(|n| n.as_str() != RUST).cloned().collect();
        if components.is_empty() && !names.is_empty() {
            return Ok((Vec::new(), None));
        }
        return Ok((ws.select(&components)?, None));
    }
    if !names.is_empty() {
        return Err(UsageError::new("name components or pass --affected, not both"));
    }
    let (base, changed) = affected::changed_files(&ws.root, args.base.as_deref())?;
    let found = affected::affected(ws, &changed, with_tests);
    let names: Vec<&str> = found.components.iter().map(String::as_str).collect();
    let list = if names.is_empty() { "none".to_string() } else { names.join(", ") };
    eprintln!("affected since {base}: {} changed file(s); components: {list}", changed.len());
    let picked = ws.components.iter().filter(|c| found.components.contains(&c.name)).collect();
    Ok((picked, Some(found)))
}

/// The name the summary gives the Rust workspace's tasks, selectable like a component.
pub const RUST: &str = "xtask";

/// cargo, when the run covers the Rust workspace too: `xtask` named, or no component named,
/// `include` (what `--affected` says), and a workspace at the root (fixture
/// monorepos have none).
pub fn rust_workspace(ws: &Workspace, args: &RunArgs, include: bool) -> Result<Option<PathBuf>> {
    let named = args.components.iter().any(|c| c == RUST);
    let has_workspace = ws.root.join("Cargo.toml").is_file();
    if named && !has_workspace {
        return Err(UsageError::new(format!("{} has no Cargo.toml, so there is no `xtask` to run", ws.root.display())));
    }
    if !named && (!args.components.is_empty() || !include || !has_workspace) {
        return Ok(None);
    }
    let cargo =
        which::which("cargo").map_err(|_| UsageError::new("cargo not found on PATH: install Rust with rustup"))?;
    Ok(Some(cargo))
}

/// How a stage reads its finished tasks, beyond exit codes.
pub struct Stage<'a> {
    pub name: &'a str,
    /// Outcome from exit code and output, where the exit code alone is ambiguous.
    pub review: Option<Review<'a>>,
    /// Fill in what the stage knows about a finished task: counts, findings, notes.
    pub describe: &'a dyn Fn(Row) -> Row,
    /// Printed after every task ended, before the summary table.
    pub epilogue: &'a dyn Fn(&[Row], &Printer),
}

/// Print the plan (`--dry-run`), or execute it and report. Returns the exit code.
pub fn run(
    root: &Path,
    stage: &Stage,
    tasks: &[Task],
    prep: Option<&dyn Prepare>,
    args: &ExecArgs,
    no_cache: bool,
) -> Result<i32> {
    if args.dry_run {
        if let Some(p) = prep.filter(|_| tasks.iter().any(|t| !t.needs.is_empty())) {
            p.check()?;
        }
        return dry_run(root, stage.name, tasks, prep, args.json);
    }
    let jobs = args.jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let out = Printer::new(on_github(), args.json);
    let session = open_cache(root, tasks, !no_cache);
    let lookups: Vec<Option<Lookup>> = match &session {
        Some(s) => tasks.iter().map(|t| s.lookup(t, &exec::fingerprints(t, prep)?)).collect(),
        None => Vec::new(),
    };
    let hit = |i: usize| lookups.get(i).and_then(Option::as_ref).is_some_and(|l| l.hit.is_some());
    // Checked up front (a missing interpreter is exit 2), and only when something will be prepared.
    if let Some(p) = prep.filter(|_| tasks.iter().enumerate().any(|(i, t)| !t.needs.is_empty() && !hit(i))) {
        p.check()?;
    }
    let cached = (0..tasks.len()).filter(|&i| hit(i)).count();
    out.line(&format!("{}: {} task(s), {cached} cached, {jobs} at a time", stage.name, tasks.len()));
    let cache = session.as_ref().map(|s| (s, lookups.as_slice()));
    let opts = Options { jobs, fail_fast: args.fail_fast, verbose: args.verbose, out, review: stage.review, cache };
    let finished = exec::execute(root, tasks, prep, &opts);
    if let Some(Err(e)) = session.as_ref().map(Session::finish) {
        opts.out.line(&format!("note: cannot trim target/xtask/cache: {e:#}"));
    }
    let rows: Vec<Row> = finished.into_iter().map(|f| (stage.describe)(Row::new(root, f))).collect();
    let json = report::write_json(root, stage.name, &rows)?;
    crate::github::stage_summary(stage.name, &rows)?;
    (stage.epilogue)(&rows, &opts.out);
    opts.out.line(&report::table(stage.name, &rows, root));
    opts.out.line(&report::closing_line(report::totals(&rows)));
    if args.json {
        println!("{json}");
    }
    if exec::interrupted() {
        eprintln!("interrupted: running tasks were stopped and their partial results removed");
        return Ok(130);
    }
    Ok(if rows.iter().all(|r| r.finished.outcome.is_ok()) { 0 } else { 1 })
}

/// The task cache for this run; None (with a note) outside a git work tree,
/// where there is no view of the tree to hash.
fn open_cache(root: &Path, tasks: &[Task], read: bool) -> Option<Session> {
    if tasks.iter().all(|t| t.cache.is_none()) {
        return None;
    }
    match Session::open(root, tasks, read) {
        Ok(s) => Some(s),
        Err(why) => {
            eprintln!("note: the task cache is off: {} is not a git work tree ({why})", root.display());
            None
        }
    }
}

fn dry_run(root: &Path, stage: &str, tasks: &[Task], prep: Option<&dyn Prepare>, as_json: bool) -> Result<i32> {
    let mut needs: Vec<&str> = Vec::new();
    for name in tasks.iter().flat_map(|t| &t.needs) {
        if !needs.contains(&name.as_str()) {
            needs.push(name);
        }
    }
    let mut prep_json = Vec::new();
    let mut lines = Vec::new();
    for name in needs {
        let Some(prep) = prep else { break };
        let fresh = prep.is_fresh(name)?;
        let commands = if fresh { Vec::new() } else { prep.commands(name) };
        if fresh {
            lines.push(format!("# {} is up to date", prep.label(name)));
        } else {
            lines.push(format!("# build {}", prep.label(name)));
            lines.extend(commands.iter().cloned());
        }
        prep_json.push(json!({ "name": name, "fresh": fresh, "commands": commands }));
    }
    let task_json: Vec<_> = tasks
        .iter()
        .map(|t| {
            lines.push(t.command_line(root));
            let mut v = serde_json::to_value(t).expect("tasks serialise");
            v["command"] = json!(t.command_line(root));
            v
        })
        .collect();
    if as_json {
        let plan = json!({ "stage": stage, "prepare": prep_json, "tasks": task_json });
        println!("{}", serde_json::to_string_pretty(&plan)?);
    } else {
        for l in lines {
            println!("{l}");
        }
    }
    Ok(0)
}
