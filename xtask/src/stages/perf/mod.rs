//! `cargo xtask perf [COMPONENT...] [--base REF] [--affected] [--aa]`: each
//! component's scenarios (`perf::spec`), measured on the base tree (the
//! merge-base, in a worktree) and on this one, alternating, each tree with
//! its own virtualenv and service; judged (`perf::judge`), reported as a
//! table, `target/xtask/perf.json` and the GitHub step summary.

use crate::cli::{AffectedArgs, PerfArgs};
use crate::component::{Component, Workspace};
use crate::error::UsageError;
use crate::exec::{Log, Prepare};
use crate::perf::judge::judge;
use crate::perf::report::{self, Report, Row};
use crate::perf::run::{measure, start_services, Measured, Tree};
use crate::perf::schedule::Side;
use crate::perf::spec::{self, Scenario, Scenarios};
use crate::perf::tree;
use crate::printer::Printer;
use crate::python::{EnvSpec, Envs};
use crate::{affected, fsutil, github, runner};
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use xshell::{cmd, Shell};

/// `cargo xtask perf`: 0 no regression, 1 a regression or a scenario not measured, 130 interrupted.
pub fn run(ws: &Workspace, args: &PerfArgs) -> Result<i32> {
    let out = Printer::new(github::on_github(), args.json);
    match compare(ws, args, &out) {
        Err(e) if e.is::<crate::exec::Interrupted>() => {
            out.line("perf: interrupted: services and samples stopped, no results written");
            Ok(130)
        }
        done => done,
    }
}

fn compare(ws: &Workspace, args: &PerfArgs, out: &Printer) -> Result<i32> {
    let root = &ws.root;
    let selection = AffectedArgs { affected: args.affected, base: args.base.clone() };
    let (picked, _) = runner::select(ws, &args.components, &selection, false)?;
    let mut declared: Vec<(&Component, Scenarios)> = Vec::new();
    for c in picked {
        let file = root.join(&c.path).join(spec::FILE);
        if !file.is_file() {
            if !args.components.is_empty() {
                return Err(UsageError::new(format!(
                    "{} has no {}: declare its scenarios there (docs/explanation/performance.md)",
                    c.name,
                    rel(root, &file)
                )));
            }
            continue;
        }
        let text = std::fs::read_to_string(&file).with_context(|| format!("cannot read {}", rel(root, &file)))?;
        let mut s = spec::parse(&text).map_err(|e| UsageError::new(e.describe(&rel(root, &file))))?;
        if !args.scenario.is_empty() {
            s.scenarios.retain(|x| args.scenario.contains(&x.name));
        }
        if !s.scenarios.is_empty() {
            declared.push((c, s));
        }
    }
    // With --affected a named scenario may just not be affected this time.
    let unknown = |n: &&String| !declared.iter().any(|(_, s)| s.scenarios.iter().any(|x| &x.name == *n));
    if let Some(missing) = args.scenario.iter().find(unknown).filter(|_| !args.affected) {
        return Err(UsageError::new(format!(
            "no scenario named `{missing}` in the components measured: see their perf.toml"
        )));
    }
    let (base_ref, base_commit) = affected::merge_base(root, args.base.as_deref(), "perf")?;
    let head_commit = git_head(root)?;
    let mut report = Report { format: 1, base_ref, base_commit, head_commit, aa: args.aa, rows: Vec::new() };
    if declared.is_empty() {
        out.line("perf: no component to measure has a perf.toml: nothing to compare");
    } else {
        out.line(&format!(
            "perf: base {} (merge-base with {}){}",
            tree::short(&report.base_commit),
            report.base_ref,
            if args.aa { ", compared with itself (--aa)" } else { "" }
        ));
        let base_root = tree::checkout(root, &report.base_commit)?;
        let base_ws = Workspace::discover(&base_root).context("cannot read the base tree's components")?;
        for (c, s) in &declared {
            report.rows.extend(component(ws, &base_ws, c, s, args.aa, out)?);
        }
    }
    let json = serde_json::to_string_pretty(&report)?;
    fsutil::write_atomic(&root.join(report::FILE), format!("{json}\n").as_bytes())?;
    out.line(&report::table(&report));
    github::append_summary(&report::markdown(&report))?;
    if args.json {
        println!("{json}");
    }
    Ok(report::exit_code(&report))
}

fn rel(root: &Path, p: &Path) -> String {
    p.strip_prefix(root).unwrap_or(p).display().to_string()
}

fn git_head(root: &Path) -> Result<String> {
    let sh = Shell::new()?;
    sh.change_dir(root);
    cmd!(sh, "git rev-parse HEAD").quiet().read().context("cannot read HEAD's commit: is this a git clone?")
}

/// The rows of one component: every scenario an error when its trees cannot be made ready.
fn component(
    ws: &Workspace,
    base_ws: &Workspace,
    c: &Component,
    s: &Scenarios,
    aa: bool,
    out: &Printer,
) -> Result<Vec<Row>> {
    let row = |x: &Scenario, measured: Measured, error: Option<String>| Row {
        component: c.name.clone(),
        scenario: x.name.clone(),
        metric: x.metric.clone(),
        better: x.better,
        threshold: x.threshold,
        confidence: x.confidence,
        verdict: error.is_none().then(|| judge(&measured.base, &measured.head, x)),
        measured,
        error,
    };
    let Some(base_c) = base_ws.get(&c.name) else {
        out.line(&format!("perf: {} is new since the base: nothing to compare it with", c.name));
        return Ok(Vec::new());
    };
    let mut trees = match ready(ws, base_ws, c, base_c, s, aa, out) {
        Ok(t) => t,
        Err(e) if e.is::<crate::exec::Interrupted>() => return Err(e),
        Err(e) => {
            let msg = format!("{e:#}");
            return Ok(s.scenarios.iter().map(|x| row(x, Measured::default(), Some(msg.clone()))).collect());
        }
    };
    let mut rows = Vec::new();
    for x in &s.scenarios {
        out.line(&format!("perf: {}/{}: {} pairs at most, {}s budget", c.name, x.name, x.samples, x.budget.as_secs()));
        match measure(x, &c.name, s.service.as_ref(), &mut trees, out) {
            Ok(m) => rows.push(row(x, m, None)),
            Err(e) if e.is::<crate::exec::Interrupted>() => return Err(e),
            Err(e) => rows.push(row(x, Measured::default(), Some(format!("{e:#}")))),
        }
    }
    Ok(rows)
}

/// Both trees with their virtualenvs built and their services listening.
fn ready(
    ws: &Workspace,
    base_ws: &Workspace,
    c: &Component,
    base_c: &Component,
    s: &Scenarios,
    aa: bool,
    out: &Printer,
) -> Result<[Tree; 2]> {
    let logs = ws.root.join("target/xtask/perf/logs").join(&c.name);
    let harness = ws.root.join(&c.path);
    let base_env = EnvSpec::for_tests(base_ws, base_c);
    let head_env = if aa { base_env.clone() } else { EnvSpec::for_tests(ws, c) };
    prepare(&ws.root, &base_ws.root, &base_env, Side::Base, &logs, out)?;
    let head_root: PathBuf = if aa { base_ws.root.clone() } else { ws.root.clone() };
    if !aa {
        prepare(&ws.root, &ws.root, &head_env, Side::Head, &logs, out)?;
    }
    let mut trees = [
        Tree::new(Side::Base, &base_ws.root, &base_env.dir, &harness, &logs, &c.name)?,
        Tree::new(Side::Head, &head_root, &head_env.dir, &harness, &logs, &c.name)?,
    ];
    if let Some(service) = &s.service {
        out.line(&format!("perf: starting the base and head services of {}", c.name));
        let started = std::time::Instant::now();
        start_services(&mut trees, service, &c.name)?;
        out.line(&format!("perf: both services of {} listen ({:.0}s)", c.name, started.elapsed().as_secs_f64()));
    }
    Ok(trees)
}

fn prepare(head: &Path, root: &Path, env: &EnvSpec, side: Side, logs: &Path, out: &Printer) -> Result<()> {
    let envs = Envs::new(root, vec![env.clone()]);
    let path = logs.join(format!("{}-environment.log", side.name()));
    let mut log = Log::create(path.clone())?;
    out.line(&format!("perf: {} environment {}", side.name(), rel(head, &env.dir)));
    envs.ensure(&env.name, &mut log).with_context(|| {
        format!("cannot prepare the {} environment of {} (log: {})", side.name(), env.name, rel(head, &path))
    })
}
