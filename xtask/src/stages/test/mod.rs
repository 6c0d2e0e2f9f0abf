//! `cargo xtask test [COMPONENT...] [-- PYTEST_ARGS]`: every component's
//! pytest suite and the Rust workspace's tests, planned by `testing`. The
//! xtask's suites label the namespaces they make with this run's id; the
//! stage removes them when the run ends or is interrupted, and first those
//! that older runs leaked (`kube::sweep`).

use crate::cli::RunArgs;
use crate::component::Workspace;
use crate::exec::Prepare;
use crate::kube::sweep::{self, Which};
use crate::python::{EnvSpec, Envs};
use crate::report::Row;
use crate::runner::{self, Stage};
use crate::testing::{counts, plan};
use anyhow::Result;
use std::path::PathBuf;
use xshell::Shell;

/// `cargo xtask test`: discover, plan, prepare environments, execute, report.
/// Arguments for pytest narrow the run to the Python suites.
pub fn run(ws: &Workspace, args: &RunArgs, pytest_args: &[String]) -> Result<i32> {
    let (components, affected) = runner::select(ws, &args.components, &args.affected, true)?;
    // The xtask's tests read files outside components/ (docs, CI, its own sources).
    let include = affected.is_none_or(|a| a.outside);
    let cargo = if pytest_args.is_empty() { runner::rust_workspace(ws, args, include)? } else { None };
    // A fresh id even inside another run's test (a fixture's `cargo xtask
    // test`): sweeping an inherited id would remove the outer run's namespaces.
    let run_id = sweep::run_id();
    // Set before any task starts, so every suite's test binary inherits it (the
    // cache keys do not read it: it would make every run a miss).
    std::env::set_var(sweep::RUN_VAR, &run_id);
    let fixtures = cargo.as_ref().filter(|_| !args.exec.dry_run).and_then(|_| test_cluster());
    if let Some(c) = &fixtures {
        c.sweep(Which::OlderThan { now: crate::clock::now(), age_s: sweep::STALE_AFTER_S });
    }
    let tasks = plan(ws, &components, cargo.as_deref(), pytest_args)?;
    let envs = if components.is_empty() {
        None
    } else {
        let specs = components.iter().map(|c| EnvSpec::for_tests(ws, c)).collect();
        Some(Envs::new(&ws.root, specs))
    };
    let describe = |row: Row| Row { counts: counts(&row.finished), ..row };
    let stage = Stage { name: "test", review: None, describe: &describe, epilogue: &|_, _| {} };
    let code =
        runner::run(&ws.root, &stage, &tasks, envs.as_ref().map(|e| e as &dyn Prepare), &args.exec, args.no_cache);
    // Ended, failed or interrupted (the executor has stopped the test binaries,
    // which then ran no destructor): what the run made goes.
    if let Some(c) = &fixtures {
        c.sweep(Which::Run(&run_id));
    }
    code
}

/// The cluster the xtask's tests use (`XTASK_TEST_KUBECONFIG`, recorded by
/// `services up kube`), when there is one.
struct TestCluster {
    kubectl: PathBuf,
    kubeconfig: PathBuf,
}

fn test_cluster() -> Option<TestCluster> {
    let kubeconfig = PathBuf::from(std::env::var_os("XTASK_TEST_KUBECONFIG").filter(|v| !v.is_empty())?);
    let kubectl = crate::kube::kubectl().ok()?;
    kubeconfig.is_file().then_some(TestCluster { kubectl, kubeconfig })
}

impl TestCluster {
    /// Remove the fixture namespaces `which` selects and say so; a cluster that
    /// does not answer is a note, never the run's failure.
    fn sweep(&self, which: Which) {
        let done =
            Shell::new().map_err(Into::into).and_then(|sh| sweep::sweep(&sh, &self.kubectl, &self.kubeconfig, which));
        if let Some(line) = sweep::line(which, &done) {
            eprintln!("test: {line}");
        }
    }
}
