//! Running a ci plan: each stage is its `cargo xtask …` command line, run in
//! this process through main's dispatcher (no second start, no second walk
//! of git), or, for the stages that talk to a cluster (whose output later
//! steps read), as a child process of this same binary, its output streamed
//! as it comes. A stage that does not pass
//! stops the stages that need it, never the independent ones (quality and the
//! tests both run and report). Each stage's report is kept as
//! `target/xtask/ci/<stage>.json` (every stage overwrites report.json), and the
//! run ends with a table of stages and, last, the test stage's count line.

use crate::exec;
use crate::github;
use crate::github::on_github;
use crate::manifests::pins::{read_report, REPORT};
use crate::pipeline::outcome::{self, Ran, StageResult};
use crate::pipeline::plan::NO_CREDENTIALS;
use crate::pipeline::trigger::{Pipeline, Stage};
use crate::report::{self, Counts};
use crate::telemetry;
use anyhow::{Context, Result};
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};
use xshell::{cmd, Shell};

/// Runs a stage's command line (words after `xtask`) in this process; returns its exit code.
pub type InProcess<'a> = dyn Fn(&[String]) -> i32 + 'a;

pub fn execute(
    root: &Path,
    exe: &Path,
    in_process: &InProcess<'_>,
    p: &Pipeline,
    stages: &[&Stage],
    credentials: bool,
) -> Result<i32> {
    let t0 = Instant::now();
    let keep = root.join("target/xtask/ci");
    std::fs::create_dir_all(&keep).with_context(|| format!("cannot create {}", keep.display()))?;
    let mut ran: Vec<Ran> = Vec::new();
    let mut outputs: Vec<(String, String)> = Vec::new();
    for &stage in stages {
        let start = t0.elapsed().as_secs_f64();
        let skip = if exec::interrupted() {
            Some(StageResult::NotRun("interrupted".into()))
        } else if let Some(why) = outcome::blocked(stage, &ran) {
            Some(StageResult::NotRun(why))
        } else if stage.needs_cluster() && !credentials && !on_github() {
            if !ran.iter().any(|r| matches!(r.result, StageResult::Skipped(_))) {
                println!("{NO_CREDENTIALS}");
            }
            Some(StageResult::Skipped("no cluster credentials".into()))
        } else {
            None
        };
        let span = telemetry::Span::task(stage.name).enter();
        if let Some(result) = skip {
            span.end(telemetry::Outcome::Skip, None);
            ran.push(Ran { stage, result, start, seconds: 0.0, report: None });
            continue;
        }
        println!("\n==> {}: {}", stage.name, stage.command());
        let report_file = root.join("target/xtask/report.json");
        let _ = std::fs::remove_file(&report_file);
        let (code, lines) = if stage.needs_cluster() {
            child(root, exe, &stage.args, &span)?
        } else {
            let code = in_process(&stage.args);
            let _ = std::io::stdout().flush();
            (Some(code), Vec::new())
        };
        let seconds = t0.elapsed().as_secs_f64() - start;
        let report = std::fs::read_to_string(&report_file).ok().and_then(|t| serde_json::from_str::<Value>(&t).ok());
        if report.is_some() {
            let _ = std::fs::copy(&report_file, keep.join(format!("{}.json", stage.name)));
        }
        let result = match code {
            Some(0) => StageResult::Passed,
            Some(130) => StageResult::Interrupted,
            _ if exec::interrupted() => StageResult::Interrupted,
            Some(c) => StageResult::Failed(c),
            None => StageResult::Failed(-1),
        };
        if result == StageResult::Passed {
            outputs.extend(stage_outputs(root, stage, &lines));
        }
        println!("==> {}: {} in {seconds:.1}s", stage.name, result.label());
        match &result {
            StageResult::Passed => span.end(telemetry::Outcome::Success, None),
            StageResult::Interrupted => span.end(telemetry::Outcome::Cancellation, Some("interrupted")),
            other => span.end(telemetry::Outcome::Failure, Some(&format!("stage {}", other.label()))),
        }
        ran.push(Ran { stage, result, start, seconds, report });
    }
    github::set_outputs(&outputs)?;
    if on_github() {
        github::append_summary(&outcome::summary_markdown(p, &ran))?;
    }
    print!("{}", outcome::table(p, &ran));
    let totals = ran
        .iter()
        .find(|r| r.stage.name == "test")
        .and_then(|r| r.report.as_ref())
        .and_then(|v| serde_json::from_value::<Counts>(v["totals"].clone()).ok())
        .unwrap_or_default();
    println!("{}", report::closing_line(totals));
    Ok(outcome::exit_code(&ran))
}

/// Run `xtask ARGS` from the root, its stdout streamed line by line (and
/// kept, for the values later steps read), stderr as it is. An interrupt
/// reaches a child on the terminal by itself; otherwise it is passed on.
fn child(root: &Path, exe: &Path, args: &[String], span: &telemetry::Span) -> Result<(Option<i32>, Vec<String>)> {
    let sh = Shell::new()?;
    sh.change_dir(root);
    let mut command: std::process::Command = cmd!(sh, "{exe} {args...}").into();
    command.stdout(Stdio::piped());
    span.propagate(&mut command);
    let mut child = command.spawn().with_context(|| format!("cannot start {}", exe.display()))?;
    let stdout = child.stdout.take().context("the child's output")?;
    let reader = std::thread::spawn(move || {
        let mut kept = Vec::new();
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
            kept.push(line);
        }
        kept
    });
    let mut signalled = false;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if exec::interrupted() && !signalled {
            // SAFETY: kill(2) on our own child's pid; no memory effects.
            unsafe {
                libc::kill(child.id() as i32, libc::SIGTERM);
            }
            signalled = true;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let lines = reader.join().unwrap_or_default();
    Ok((status.code(), lines))
}

/// `$GITHUB_OUTPUT` values a passed stage leaves: image digests, the environment deployed, the release revision.
fn stage_outputs(root: &Path, stage: &Stage, lines: &[String]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    match stage.name {
        "image" => {
            let Ok(built) =
                std::fs::read_to_string(root.join(REPORT)).map_err(|e| e.to_string()).and_then(|t| read_report(&t))
            else {
                return out;
            };
            let mut digests = serde_json::Map::new();
            for b in &built {
                if let Some(p) = b.pushed.iter().find(|p| p.digest.is_some()) {
                    let digest = p.digest.clone().unwrap_or_default();
                    out.push((format!("image-{}", b.component), format!("{}@{digest}", p.image)));
                    digests.insert(b.component.clone(), Value::String(digest));
                }
            }
            out.push(("digests".into(), Value::Object(digests).to_string()));
        }
        "deploy" => {
            out.push(("deployed-environment".into(), stage.args.get(1).cloned().unwrap_or_default()));
            if let Some(revision) = lines.iter().find_map(|l| outcome::revision(l)) {
                out.push(("revision".into(), revision));
            }
        }
        _ => {}
    }
    out
}
