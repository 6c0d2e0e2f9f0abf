//! `cargo xtask test [COMPONENT...] [-- PYTEST_ARGS]`: every component's
//! pytest suite and the Rust workspace's tests, planned by `testing`.

use crate::cli::RunArgs;
use crate::component::Workspace;
use crate::exec::Prepare;
use crate::python::{EnvSpec, Envs};
use crate::report::Row;
use crate::runner::{self, Stage};
use crate::testing::{counts, plan};
use anyhow::Result;

/// `cargo xtask test`: discover, plan, prepare environments, execute, report.
/// Arguments for pytest narrow the run to the Python suites.
pub fn run(ws: &Workspace, args: &RunArgs, pytest_args: &[String]) -> Result<i32> {
    let (components, affected) = runner::select(ws, &args.components, &args.affected, true)?;
    // The xtask's tests read files outside components/ (docs, CI, its own sources).
    let include = affected.is_none_or(|a| a.outside);
    let cargo = if pytest_args.is_empty() { runner::rust_workspace(ws, args, include)? } else { None };
    let tasks = plan(ws, &components, cargo.as_deref(), pytest_args)?;
    let envs = if components.is_empty() {
        None
    } else {
        let specs = components.iter().map(|c| EnvSpec::for_tests(ws, c)).collect();
        Some(Envs::new(&ws.root, specs))
    };
    let describe = |row: Row| Row { counts: counts(&row.finished), ..row };
    let stage = Stage { name: "test", review: None, describe: &describe, epilogue: &|_, _| {} };
    runner::run(&ws.root, &stage, &tasks, envs.as_ref().map(|e| e as &dyn Prepare), &args.exec, args.no_cache)
}
