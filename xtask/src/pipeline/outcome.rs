//! How a ci run's stages ended (pure): what a failed stage blocks, the exit
//! code, the deploy's revision, the summary table and the step summary.

use crate::github::{self, Bar, Cell, State};
use crate::pipeline::trigger::{Pipeline, Stage};
use serde_json::Value;

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
    pub fn label(&self) -> String {
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
#[path = "outcome_tests.rs"]
mod tests;
