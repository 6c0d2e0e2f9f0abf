//! Running a ci plan: each stage is one `cargo xtask …` child process of this
//! same binary, its output streamed as it comes. A stage that does not pass
//! stops the stages that need it, never the independent ones (quality and the
//! tests both run and report). Each stage's report is kept as
//! `target/xtask/ci/<stage>.json` (every stage overwrites report.json), and the
//! run ends with a table of stages and, last, the test stage's count line.

use crate::exec;
use crate::github::{self, Bar, Cell, State};
use crate::report::{self, Counts};
use crate::stages::ci::NO_CREDENTIALS;
use crate::stages::manifests_update::{read_report, REPORT};
use crate::stages::on_github;
use crate::trigger::{Pipeline, Stage};
use anyhow::{Context, Result};
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};
use xshell::{cmd, Shell};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StageResult {
    Passed,
    /// The stage's exit code: 1 a task failed, 2 bad input, others could not run.
    Failed(i32),
    NotRun(String),
    Skipped(String),
    Interrupted,
}

impl StageResult {
    fn label(&self) -> String {
        match self {
            StageResult::Passed => "passed".into(),
            StageResult::Failed(1) => "failed".into(),
            StageResult::Failed(2) => "error (bad input)".into(),
            StageResult::Failed(c) => format!("error (exit {c})"),
            StageResult::NotRun(_) => "not run".into(),
            StageResult::Skipped(_) => "skipped".into(),
            StageResult::Interrupted => "interrupted".into(),
        }
    }
}

pub struct Ran<'a> {
    pub stage: &'a Stage,
    pub result: StageResult,
    pub start: f64,
    pub seconds: f64,
    /// The stage's report.json, when it writes one.
    pub report: Option<Value>,
}

/// Why `stage` cannot run given what ran before it (needs outside this run are not checked).
pub fn blocked(stage: &Stage, before: &[Ran]) -> Option<String> {
    stage.needs.iter().find_map(|need| {
        let ran = before.iter().find(|r| r.stage.name == *need)?;
        (ran.result != StageResult::Passed).then(|| format!("{need} did not pass"))
    })
}

/// The exit code: that of the first stage that did not pass, 130 after an interrupt.
pub fn exit_code(ran: &[Ran]) -> i32 {
    if ran.iter().any(|r| r.result == StageResult::Interrupted) {
        return 130;
    }
    ran.iter().find_map(|r| if let StageResult::Failed(c) = r.result { Some(c) } else { None }).unwrap_or(0)
}

pub fn execute(root: &Path, exe: &Path, p: &Pipeline, stages: &[&Stage], credentials: bool) -> Result<i32> {
    let t0 = Instant::now();
    let keep = root.join("target/xtask/ci");
    std::fs::create_dir_all(&keep).with_context(|| format!("cannot create {}", keep.display()))?;
    let mut ran: Vec<Ran> = Vec::new();
    let mut outputs: Vec<(String, String)> = Vec::new();
    for &stage in stages {
        let start = t0.elapsed().as_secs_f64();
        let skip = if exec::interrupted() {
            Some(StageResult::NotRun("interrupted".into()))
        } else if let Some(why) = blocked(stage, &ran) {
            Some(StageResult::NotRun(why))
        } else if stage.needs_cluster() && !credentials && !on_github() {
            if !ran.iter().any(|r| matches!(r.result, StageResult::Skipped(_))) {
                println!("{NO_CREDENTIALS}");
            }
            Some(StageResult::Skipped("no cluster credentials".into()))
        } else {
            None
        };
        if let Some(result) = skip {
            ran.push(Ran { stage, result, start, seconds: 0.0, report: None });
            continue;
        }
        println!("\n==> {}: {}", stage.name, stage.command());
        let report_file = root.join("target/xtask/report.json");
        let _ = std::fs::remove_file(&report_file);
        let (code, lines) = child(root, exe, &stage.args)?;
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
        ran.push(Ran { stage, result, start, seconds, report });
    }
    github::set_outputs(&outputs)?;
    if on_github() {
        github::append_summary(&summary_markdown(p, &ran))?;
    }
    print!("{}", table(p, &ran));
    let totals = ran
        .iter()
        .find(|r| r.stage.name == "test")
        .and_then(|r| r.report.as_ref())
        .and_then(|v| serde_json::from_value::<Counts>(v["totals"].clone()).ok())
        .unwrap_or_default();
    println!("{}", report::closing_line(totals));
    Ok(exit_code(&ran))
}

/// Run `xtask ARGS` from the root, its stdout streamed line by line (and
/// kept, for the values later steps read), stderr as it is. An interrupt
/// reaches a child on the terminal by itself; otherwise it is passed on.
fn child(root: &Path, exe: &Path, args: &[String]) -> Result<(Option<i32>, Vec<String>)> {
    let sh = Shell::new()?;
    sh.change_dir(root);
    let mut command: std::process::Command = cmd!(sh, "{exe} {args...}").into();
    command.stdout(Stdio::piped());
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
            if let Some(revision) = lines.iter().find_map(|l| revision(l)) {
                out.push(("revision".into(), revision));
            }
        }
        _ => {}
    }
    out
}

/// The revision in the deploy's closing line `deployed ENV revision N: …`.
pub fn revision(line: &str) -> Option<String> {
    let rest = line.strip_prefix("deployed ")?;
    let n = rest.split(" revision ").nth(1)?.split(|c: char| !c.is_ascii_digit()).next()?;
    (!n.is_empty()).then(|| n.to_string())
}

pub fn table(p: &Pipeline, ran: &[Ran]) -> String {
    let rows: Vec<[String; 4]> = ran
        .iter()
        .map(|r| {
            let time = if r.seconds > 0.0 { format!("{:.1}s", r.seconds) } else { "-".into() };
            [r.stage.name.to_string(), r.result.label(), time, r.stage.command()]
        })
        .collect();
    let head = ["stage", "result", "time", "command"].map(String::from);
    let w: Vec<usize> = (0..4).map(|i| rows.iter().chain([&head]).map(|r| r[i].len()).max().unwrap_or(0)).collect();
    let line = |r: &[String; 4]| {
        format!("  {:<a$}  {:<b$}  {:>c$}  {}\n", r[0], r[1], r[2], r[3], a = w[0], b = w[1], c = w[2])
    };
    let mut out = format!("\nsummary of ci: {}\n{}", p.trigger, line(&head));
    for r in &rows {
        out += &line(r);
    }
    for r in ran {
        match &r.result {
            StageResult::NotRun(why) => out += &format!("  {}: not run: {why}\n", r.stage.name),
            StageResult::Skipped(why) => out += &format!("  {}: skipped: {why}\n", r.stage.name),
            _ => {}
        }
    }
    out
}

fn state(result: &str) -> State {
    match result {
        "passed" => State::Passed,
        "not-run" => State::NotRun,
        _ => State::Failed,
    }
}

/// The step summary: the stages, a component × stage table from the stages'
/// reports, and a gantt chart of every task (a stage without a report is one bar).
pub fn summary_markdown(p: &Pipeline, ran: &[Ran]) -> String {
    let mut md = format!("### xtask ci: {}\n\n| stage | result | time | command |\n|---|---|---|---|\n", p.trigger);
    let (mut cells, mut bars) = (Vec::new(), Vec::new());
    for r in ran {
        let mark = match r.result {
            StageResult::Passed => State::Passed.mark(),
            StageResult::NotRun(_) | StageResult::Skipped(_) => State::NotRun.mark(),
            _ => State::Failed.mark(),
        };
        md += &format!(
            "| {} | {mark} {} | {:.1}s | `{}` |\n",
            r.stage.name,
            r.result.label(),
            r.seconds,
            r.stage.command()
        );
        let tasks = r.report.as_ref().and_then(|v| v["tasks"].as_array().cloned()).unwrap_or_default();
        for t in &tasks {
            let st = state(t["outcome"]["result"].as_str().unwrap_or(""));
            let seconds = t["seconds"].as_f64().unwrap_or(0.0);
            cells.push(Cell {
                component: t["task"]["component"].as_str().unwrap_or("-").to_string(),
                stage: r.stage.name.to_string(),
                state: st,
                seconds,
                counts: serde_json::from_value(t["counts"].clone()).ok(),
                findings: t["findings"].as_array().map(Vec::len),
            });
            let label = t["task"]["id"].as_str().unwrap_or("-").to_string();
            let start = r.start + t["start"].as_f64().unwrap_or(0.0);
            bars.push(Bar { section: r.stage.name.into(), label, start, seconds, state: st });
        }
        if tasks.is_empty() && r.seconds > 0.0 {
            let st = if r.result == StageResult::Passed { State::Passed } else { State::Failed };
            let label = r.stage.name.to_string();
            bars.push(Bar { section: r.stage.name.into(), label, start: r.start, seconds: r.seconds, state: st });
        }
    }
    if !cells.is_empty() {
        md += &format!("\n{}", github::matrix(&cells));
    }
    md += &format!("\n{}", github::gantt(&format!("xtask ci: {}", p.trigger), &bars));
    md
}

#[cfg(test)]
#[path = "ci_tests.rs"]
mod tests;
