//! `cargo xtask`: the MLOps platform's CI/CD pipeline as one binary.
//! Parse flags, find the repo root, dispatch; each command lives in its own module.

mod affected;
mod cache;
mod canary;
mod checks;
mod cli;
mod clock;
mod component;
mod documentation;
mod error;
mod exec;
mod findings;
mod fsutil;
mod github;
mod images;
mod inputs;
mod kube;
mod manifests;
mod perf;
mod pipeline;
mod plan;
mod printer;
mod progress;
mod python;
mod release;
mod report;
mod runner;
mod services;
mod stages;
mod stats;
mod suites;
mod supply;
mod telemetry;
mod testing;
#[cfg(test)]
mod testkit;
mod workflows;

use anyhow::{Context, Result};
use checks::Check;
use clap::{CommandFactory, FromArgMatches, Parser};
use cli::{Cli, Command, ImageCommand};
use component::Workspace;
use error::UsageError;
use std::path::{Path, PathBuf};

fn main() {
    // Die quietly on a closed pipe (`cargo xtask doctor | head`), as command-line tools do.
    // SAFETY: restoring a default signal disposition at start-up, before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let matches = Cli::command().get_matches();
    let command = matches.subcommand_name().unwrap_or("xtask").to_string();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let code = exit_code(run(cli, Some(&command)));
    // On GitHub the run's trace id where a user finds it: the step's summary.
    if let Some(trace) = telemetry::own_trace_id().filter(|_| github::on_github()) {
        if let Err(e) = github::append_summary(&telemetry::summary_line(&command, &trace)) {
            eprintln!("warning: cannot write the trace id to the step summary: {e:#}");
        }
    }
    telemetry::finish(code);
    std::process::exit(code);
}

/// A command's result as the program's exit code, its error said on stderr.
fn exit_code(result: Result<i32>) -> i32 {
    match result {
        Ok(code) => code,
        // A failure after Ctrl-C (a tool killed by the terminal's signal) is the interrupt's.
        Err(e) if exec::interrupted() => {
            eprintln!("interrupted: {e:#}");
            130
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            error::exit_code(&e)
        }
    }
}

/// One of `ci`'s stages in this process: its command line parsed and run as
/// if typed at `root` (so `ci` imports no other stage), its exit code as
/// the program's would be. Its spans nest under `ci`'s stage span (no run of its own).
fn in_process(root: &Path, argv: &[String]) -> i32 {
    let words = ["xtask".to_string(), "--root".into(), root.display().to_string()];
    match Cli::try_parse_from(words.into_iter().chain(argv.iter().cloned())) {
        Ok(cli) => exit_code(run(cli, None)),
        Err(e) => {
            let _ = e.print();
            e.exit_code()
        }
    }
}

/// Run a command; `command` names a process's own run (its trace context
/// starts here), None a `ci` stage run in-process.
fn run(cli: Cli, command: Option<&str>) -> Result<i32> {
    // The volume provisioner is a daemon of the cluster, not of a checkout: it needs no root.
    if let Command::Services { action: cli::ServicesCommand::Provisioner(a) } = &cli.command {
        return services::kube::provisioner::run(a);
    }
    let root = find_root(cli.root.as_deref())?;
    // Before any thread starts: the trace context every child process inherits.
    if let Some(command) = command {
        telemetry::init(&root, command);
    }
    // What `services up` recorded fills in the variables the caller did not set.
    if !matches!(cli.command, Command::Services { .. }) {
        services::state::apply_to_env(&root);
    }
    match cli.command {
        Command::Components { json, affected } => {
            let ws = discover(&root)?;
            let (components, _) = runner::select(&ws, &[], &affected, true)?;
            stages::components::print(&components, json)?;
            Ok(0)
        }
        Command::Test(args) => {
            let ws = discover(&root)?;
            exec::install_interrupt_handler()?;
            stages::test::run(&ws, &args.run, &args.pytest)
        }
        Command::Quality(args) => quality(&root, &args, &Check::ALL, false),
        Command::Lint(args) => quality(&root, &args, &[Check::Lint], false),
        Command::Fmt(a) => quality(&root, &a.run, &[Check::Format], !a.check),
        Command::Imports(a) => quality(&root, &a.run, &[Check::Imports], !a.check),
        Command::Typecheck(args) => quality(&root, &args, &[Check::Typecheck], false),
        Command::Security(args) => quality(&root, &args, &[Check::Security], false),
        Command::Audit(args) => quality(&root, &args, &[Check::Audit], false),
        Command::Image { action } => {
            let ws = discover(&root)?;
            exec::install_interrupt_handler()?;
            match action {
                ImageCommand::Build { image, build } => stages::image::run(&ws, &image, Some(&build)),
                ImageCommand::Push(image) => stages::image::run(&ws, &image, None),
                ImageCommand::Sbom { component, reference } => {
                    supply::sbom::show(&ws, &component, reference.as_deref())
                }
            }
        }
        Command::Manifests { action } => stages::manifests::run(&discover(&root)?, &action),
        Command::Deploy(args) => stages::deploy::run(&discover(&root)?, &args),
        Command::Verify(args) => stages::verify::run(&discover(&root)?, &args),
        Command::Status(args) => stages::status::run(&discover(&root)?, &args),
        Command::Logs(args) => stages::logs::run(&discover(&root)?, &args),
        Command::Rollback(args) => stages::rollback::run(&discover(&root)?, &args),
        Command::Canary(args) => stages::canary::run(&discover(&root)?, &args),
        Command::Perf(args) => {
            let ws = discover(&root)?;
            exec::install_interrupt_handler()?;
            stages::perf::run(&ws, &args)
        }
        Command::Undeploy(args) => stages::undeploy::run(&discover(&root)?, &args),
        Command::Preview { action } => stages::preview::run(&discover(&root)?, &action),
        Command::Doctor => stages::doctor::run(&root),
        Command::Node { action } => stages::node::run(&root, &action),
        Command::Ci(args) => {
            let ws = discover(&root)?;
            exec::install_interrupt_handler()?;
            // Its stages run here, one after another: git's view is read once for all.
            inputs::share_listing();
            stages::ci::run(&ws, &args, &|argv: &[String]| in_process(&root, argv))
        }
        Command::Workflows { json, action } => stages::workflows::run(&root, json, action.as_ref()),
        Command::Cache { action } => stages::cache::run(&discover(&root)?, action),
        Command::Services { action } => stages::services::run(&root, &action),
        Command::Docs { action } => stages::docs::run(&root, &action),
    }
}

fn quality(root: &Path, args: &cli::RunArgs, checks: &[Check], fix: bool) -> Result<i32> {
    let ws = discover(root)?;
    exec::install_interrupt_handler()?;
    stages::quality::run(&ws, args, checks, fix)
}

fn discover(root: &Path) -> Result<Workspace> {
    let ws = Workspace::discover(root)?;
    for name in &ws.skipped {
        eprintln!("note: components/{name} has no pyproject.toml: not a component, skipped");
    }
    Ok(ws)
}

/// `--root`, or the nearest folder at or above the current one that holds `components/`.
fn find_root(given: Option<&Path>) -> Result<PathBuf> {
    if let Some(dir) = given {
        let dir = dir.canonicalize().map_err(|e| {
            UsageError::new(format!("--root {} cannot be used ({e}): pass the monorepo root", dir.display()))
        })?;
        if !dir.join("components").is_dir() {
            return Err(UsageError::new(format!(
                "{} has no components/ folder: pass the monorepo root",
                dir.display()
            )));
        }
        return Ok(dir);
    }
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    cwd.ancestors()
        .find(|d| d.join("components").is_dir())
        .map(Path::to_path_buf)
        .ok_or_else(|| UsageError::new("no components/ folder here or above: run inside the monorepo or pass --root"))
}
