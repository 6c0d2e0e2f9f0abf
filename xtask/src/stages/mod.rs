//! One module per stage. Each turns (components, options) into a plan of
//! tasks; `run` executes and reports any plan the same way.

pub mod test;

use crate::cli::RunArgs;
use crate::exec::{self, Finished, Options, Printer};
use crate::plan::{self, Task};
use crate::python::Envs;
use crate::report::{self, Counts, Row};
use anyhow::Result;
use serde_json::json;
use std::path::Path;

/// Is this run inside GitHub Actions?
pub fn on_github() -> bool {
    std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true")
}

/// Print the plan (`--dry-run`), or execute it and report. Returns the exit code.
pub fn run(
    root: &Path,
    stage: &str,
    tasks: &[Task],
    envs: Option<&Envs>,
    args: &RunArgs,
    counts: impl Fn(&Finished) -> Option<Counts>,
) -> Result<i32> {
    if args.dry_run {
        return dry_run(root, stage, tasks, envs, args.json);
    }
    let jobs = args.jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let out = Printer::new(on_github(), args.json);
    out.line(&format!("{stage}: {} task(s), {jobs} at a time", tasks.len()));
    let opts = Options { jobs, fail_fast: args.fail_fast, out };
    let finished = exec::execute(root, tasks, envs, &opts);
    let rows: Vec<Row> = finished
        .into_iter()
        .map(|f| Row { command: f.task.command_line(root), counts: counts(&f), finished: f })
        .collect();
    let json = report::write_json(root, stage, &rows)?;
    report::github_summary(stage, &rows)?;
    let totals = report::totals(&rows);
    opts.out.line(&report::table(stage, &rows, root));
    opts.out.line(&report::closing_line(totals));
    if args.json {
        println!("{json}");
    }
    if exec::interrupted() {
        eprintln!("interrupted: running tasks were stopped and their partial results removed");
        return Ok(130);
    }
    Ok(if rows.iter().all(|r| r.finished.outcome.is_ok()) { 0 } else { 1 })
}

fn dry_run(root: &Path, stage: &str, tasks: &[Task], envs: Option<&Envs>, as_json: bool) -> Result<i32> {
    let mut env_names: Vec<&str> = Vec::new();
    for name in tasks.iter().flat_map(|t| &t.python_envs) {
        if !env_names.contains(&name.as_str()) {
            env_names.push(name);
        }
    }
    let mut env_json = Vec::new();
    let mut lines = Vec::new();
    for name in env_names {
        let Some(envs) = envs else { break };
        let fresh = envs.is_fresh(name)?;
        let commands: Vec<String> = if fresh {
            Vec::new()
        } else {
            envs.build_commands(name)
                .into_iter()
                .map(|(program, args)| plan::command_line(root, root, &[], &program, &args))
                .collect()
        };
        if fresh {
            lines.push(format!("# target/venvs/{name} is up to date"));
        } else {
            lines.push(format!("# build target/venvs/{name}"));
            lines.extend(commands.iter().cloned());
        }
        env_json.push(json!({ "name": name, "fresh": fresh, "commands": commands }));
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
        let plan = json!({ "stage": stage, "environments": env_json, "tasks": task_json });
        println!("{}", serde_json::to_string_pretty(&plan)?);
    } else {
        for l in lines {
            println!("{l}");
        }
    }
    Ok(0)
}
