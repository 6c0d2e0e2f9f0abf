//! One module per stage. Each turns (components, options) into a plan of
//! tasks; `run` executes and reports any plan the same way.

pub mod ci;
pub mod ci_run;
pub mod deploy;
pub mod deploy_steps;
pub mod image;
pub mod image_context;
pub mod manifests;
pub mod manifests_edit;
pub mod manifests_findings;
pub mod manifests_render;
pub mod manifests_update;
pub mod manifests_validate;
pub mod quality;
pub mod status;
pub mod test;
pub mod verify;

use crate::cli::RunArgs;
use crate::component::Workspace;
use crate::error::UsageError;
use crate::exec::{self, Options, Prepare, Printer, Review};
use crate::plan::Task;
use crate::report::{self, Row};
use anyhow::Result;
use serde_json::json;
use std::path::{Path, PathBuf};

/// Is this run inside GitHub Actions?
pub fn on_github() -> bool {
    std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true")
}

/// cargo, when the run covers the Rust workspace too: no component named and
/// a workspace at the root (fixture monorepos have none).
pub fn rust_workspace(ws: &Workspace, args: &RunArgs) -> Result<Option<PathBuf>> {
    if !args.components.is_empty() || !ws.root.join("Cargo.toml").is_file() {
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
pub fn run(root: &Path, stage: &Stage, tasks: &[Task], prep: Option<&dyn Prepare>, args: &RunArgs) -> Result<i32> {
    if args.dry_run {
        return dry_run(root, stage.name, tasks, prep, args.json);
    }
    let jobs = args.jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let out = Printer::new(on_github(), args.json);
    out.line(&format!("{}: {} task(s), {jobs} at a time", stage.name, tasks.len()));
    let opts = Options { jobs, fail_fast: args.fail_fast, verbose: args.verbose, out, review: stage.review };
    let finished = exec::execute(root, tasks, prep, &opts);
    let rows: Vec<Row> = finished.into_iter().map(|f| (stage.describe)(Row::new(root, f))).collect();
    let json = report::write_json(root, stage.name, &rows)?;
    report::github_summary(stage.name, &rows)?;
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
