//! `cargo xtask quality` and its single checks (`lint`, `fmt`, `imports`,
//! `typecheck`, `security`, `audit`): the checks' plan (`checks`), plus, when
//! everything is asked for, the manifests' validation and the workflows rule.

use crate::checks::{db_note, parse, plan, print_findings, review, rewrote_note, Check};
use crate::cli::RunArgs;
use crate::component::Workspace;
use crate::exec::Prepare;
use crate::findings;
use crate::manifests::validate as manifests_validate;
use crate::plan::{ExitPolicy, Task};
use crate::python::Envs;
use crate::report::Row;
use crate::runner::{self, Stage};
use crate::workflows;
use anyhow::Result;
use std::path::PathBuf;

/// `cargo xtask lint|fmt|imports|typecheck|security|audit|quality`.
pub fn run(ws: &Workspace, args: &RunArgs, checks: &[Check], fix: bool) -> Result<i32> {
    // mypy reads the tests, which import their test-only dependencies.
    let (components, affected) = runner::select(ws, &args.components, &args.affected, true)?;
    let whole = affected.as_ref().is_none_or(|a| a.shared);
    let cargo = runner::rust_workspace(ws, args, whole)?;
    let mut plan = plan(ws, &components, checks, fix, cargo.as_deref());
    // The manifests and the GitHub workflows are checked with every check, like the Rust workspace.
    let everything = checks.len() == Check::ALL.len() && args.components.is_empty() && whole;
    let manifests = if everything { manifests_validate::for_quality(ws)? } else { None };
    if let Some(m) = &manifests {
        plan.tasks.extend(m.tasks.iter().cloned());
        plan.envs.extend(m.envs.iter().cloned());
    }
    if everything {
        let xtask = crate::fsutil::own_program()?;
        plan.tasks.extend(workflows::tasks(&ws.root, &xtask).unwrap_or_default());
    }
    let envs = if plan.envs.is_empty() { None } else { Some(Envs::new(&ws.root, plan.envs)) };
    let root: PathBuf = ws.root.clone();
    let review = |t: &Task, code: Option<i32>, output: &str| review(&root, t, code, output);
    let describe = |row: Row| {
        let output = row.finished.output();
        let findings = parse(&root, &row.finished.task, &output).map(|r| r.unwrap_or_default());
        let note = match row.finished.task.exit {
            ExitPolicy::Tool("safety") => Some(db_note(&root)),
            ExitPolicy::Tool(tool) if fix && row.finished.outcome.is_ok() => {
                Some(rewrote_note(&findings::rewritten(tool, &output, &root)))
            }
            _ => None,
        };
        Row { findings, note, ..row }
    };
    // Named after the command that was typed: `fmt`, `imports`, … or `quality`.
    let name = if checks.len() == 1 { checks[0].name() } else { "quality" };
    let stage = Stage { name, review: Some(&review), describe: &describe, epilogue: &print_findings };
    let prep =
        manifests_validate::Prep { inner: envs.as_ref().map(|e| e as &dyn Prepare), validation: manifests.as_ref() };
    let prep = workflows::Installer { root: ws.root.clone(), inner: Some(&prep) };
    runner::run(&ws.root, &stage, &plan.tasks, Some(&prep), &args.exec, args.no_cache)
}
