//! What a run tells GitHub besides annotations: values for later steps and
//! jobs (`$GITHUB_OUTPUT`), and the step summary's markdown
//! (`$GITHUB_STEP_SUMMARY`): a component × stage table and a Mermaid `gantt`
//! chart of the run. Rendering is pure; writing appends only when GitHub
//! provides the file.

pub mod api;
pub mod comment;
pub mod environment;

use crate::exec::Outcome;
use crate::report::{self, Counts, Row};
use anyhow::{Context, Result};
use std::io::Write;
use std::path::Path;

/// Is this run inside GitHub Actions?
pub fn on_github() -> bool {
    std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true")
}

/// The `::add-mask::` commands that hide a secret in the job's log: one per
/// line, since the runner masks a line at a time (a multi-line secret masked
/// whole would show its lines).
pub fn mask_commands(secret: &str) -> Vec<String> {
    secret.lines().map(str::trim).filter(|l| !l.is_empty()).map(|l| format!("::add-mask::{l}")).collect()
}

/// On GitHub, masks a secret in the job's log before anything could print it.
pub fn mask(secret: &str) {
    if on_github() {
        for line in mask_commands(secret) {
            println!("{line}");
        }
    }
}

/// One `name=value` entry of `$GITHUB_OUTPUT`; a multi-line value in GitHub's
/// delimiter form.
pub fn output_entry(name: &str, value: &str) -> String {
    if value.contains('\n') {
        let mut delimiter = String::from("XTASK_EOF");
        while value.contains(&delimiter) {
            delimiter.push('_');
        }
        format!("{name}<<{delimiter}\n{value}\n{delimiter}\n")
    } else {
        format!("{name}={value}\n")
    }
}

/// Append outputs to `$GITHUB_OUTPUT` (nothing outside GitHub Actions).
pub fn set_outputs(pairs: &[(String, String)]) -> Result<()> {
    let text: String = pairs.iter().map(|(k, v)| output_entry(k, v)).collect();
    append_to("GITHUB_OUTPUT", &text)
}

/// Append `KEY=value` variables for later steps to `$GITHUB_ENV` (nothing outside GitHub Actions).
pub fn set_env(pairs: &[(String, String)]) -> Result<()> {
    let text: String = pairs.iter().map(|(k, v)| output_entry(k, v)).collect();
    append_to("GITHUB_ENV", &text)
}

/// Append markdown to `$GITHUB_STEP_SUMMARY` (nothing outside GitHub Actions).
pub fn append_summary(markdown: &str) -> Result<()> {
    append_to("GITHUB_STEP_SUMMARY", markdown)
}

fn append_to(var: &str, text: &str) -> Result<()> {
    let Some(path) = std::env::var_os(var).filter(|p| !p.is_empty()) else { return Ok(()) };
    let mut f =
        std::fs::OpenOptions::new().create(true).append(true).open(&path).with_context(|| {
            format!("cannot append to {var} ({}): check the runner's file", Path::new(&path).display())
        })?;
    f.write_all(text.as_bytes()).with_context(|| format!("cannot write to {var}"))
}

/// How a bar (or a table cell) ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Passed,
    Failed,
    NotRun,
}

impl State {
    pub fn mark(self) -> &'static str {
        match self {
            State::Passed => "✅",
            State::Failed => "❌",
            State::NotRun => "⏭️",
        }
    }
}

/// One task's bar in the gantt chart: seconds from the run's start.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    pub section: String,
    pub label: String,
    pub start: f64,
    pub seconds: f64,
    pub state: State,
}

/// Mermaid's gantt text may not hold `:` `;` `#` (they end a task's name or a statement).
fn mermaid_text(s: &str) -> String {
    s.chars().map(|c| if matches!(c, ':' | ';' | '#' | '\n' | '`') { ' ' } else { c }).collect()
}

/// A Mermaid `gantt` chart, one bar per task (tasks that did not run have none),
/// in a fenced block GitHub renders. Times are milliseconds from the run's start.
pub fn gantt(title: &str, bars: &[Bar]) -> String {
    let mut out =
        format!("```mermaid\ngantt\n    title {}\n    dateFormat x\n    axisFormat %M:%S\n", mermaid_text(title));
    let mut section: Option<&str> = None;
    for b in bars.iter().filter(|b| b.state != State::NotRun) {
        if section != Some(b.section.as_str()) {
            out += &format!("    section {}\n", mermaid_text(&b.section));
            section = Some(&b.section);
        }
        let start = (b.start * 1000.0).round().max(0.0) as u64;
        let end = start + ((b.seconds * 1000.0).round() as u64).max(1);
        let tag = if b.state == State::Passed { "done" } else { "crit" };
        out += &format!("    {} {:.1}s :{tag}, {start}, {end}\n", mermaid_text(&b.label), b.seconds);
    }
    out + "```\n"
}

/// One task in a stage's report, as the component × stage table shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    pub component: String,
    pub stage: String,
    pub state: State,
    pub seconds: f64,
    pub counts: Option<Counts>,
    pub findings: Option<usize>,
}

/// A markdown table: a row per component, a column per stage; a cell sums the
/// component's tasks in that stage (worst result, total time, counts, findings).
pub fn matrix(cells: &[Cell]) -> String {
    let mut stages: Vec<&str> = Vec::new();
    let mut components: Vec<&str> = Vec::new();
    for c in cells {
        if !stages.contains(&c.stage.as_str()) {
            stages.push(&c.stage);
        }
        if !components.contains(&c.component.as_str()) {
            components.push(&c.component);
        }
    }
    let mut md = format!("| component | {} |\n|---|{}\n", stages.join(" | "), "---|".repeat(stages.len()));
    for comp in components {
        let mut row = vec![comp.to_string()];
        for stage in &stages {
            let mine: Vec<&Cell> = cells.iter().filter(|c| c.component == comp && c.stage == *stage).collect();
            row.push(cell_text(&mine));
        }
        md += &format!("| {} |\n", row.join(" | "));
    }
    md
}

fn cell_text(cells: &[&Cell]) -> String {
    if cells.is_empty() {
        return "-".into();
    }
    let state = if cells.iter().any(|c| c.state == State::Failed) {
        State::Failed
    } else if cells.iter().all(|c| c.state == State::NotRun) {
        State::NotRun
    } else {
        State::Passed
    };
    let seconds: f64 = cells.iter().map(|c| c.seconds).sum();
    let mut text = format!("{} {seconds:.1}s", state.mark());
    if cells.iter().any(|c| c.counts.is_some()) {
        let t = cells.iter().filter_map(|c| c.counts).fold(Counts::default(), |a, c| Counts {
            passed: a.passed + c.passed,
            failed: a.failed + c.failed,
            skipped: a.skipped + c.skipped,
        });
        text += &format!(" · {}/{}/{} passed/failed/skipped", t.passed, t.failed, t.skipped);
    }
    if cells.iter().any(|c| c.findings.is_some()) {
        text += &format!(" · {} finding(s)", cells.iter().filter_map(|c| c.findings).sum::<usize>());
    }
    text
}

/// The executor's start and end times of each task, as gantt bars.
pub fn bars(stage: &str, rows: &[Row]) -> Vec<Bar> {
    let state = |o: &Outcome| match o {
        Outcome::Passed => State::Passed,
        Outcome::NotRun(_) => State::NotRun,
        _ => State::Failed,
    };
    let mut bars: Vec<Bar> = rows
        .iter()
        .map(|r| Bar {
            section: stage.to_string(),
            label: r.finished.task.id.clone(),
            start: r.finished.start,
            seconds: r.finished.seconds,
            state: state(&r.finished.outcome),
        })
        .collect();
    bars.sort_by(|a, b| a.start.total_cmp(&b.start));
    bars
}

/// Append a markdown table and a gantt chart of the tasks to
/// `$GITHUB_STEP_SUMMARY` when GitHub provides one.
pub fn stage_summary(stage: &str, rows: &[Row]) -> Result<()> {
    let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY") else { return Ok(()) };
    let cols = report::columns(rows);
    let names: Vec<&str> = cols.iter().map(|c| c.0).collect();
    let mut md = format!("### xtask {stage}\n\n| {} |\n|{}\n", names.join(" | "), "---|".repeat(cols.len()));
    for r in report::sorted(rows) {
        let mark = if r.finished.outcome.is_ok() { "✅ " } else { "❌ " };
        let cells: Vec<String> =
            cols.iter().enumerate().map(|(i, (_, f))| if i == 1 { format!("{mark}{}", f(r)) } else { f(r) }).collect();
        md += &format!("| {} |\n", cells.join(" | "));
    }
    md += &format!("\n{}\n\n", report::closing_line(report::totals(rows)));
    md += &gantt(&format!("xtask {stage}"), &bars(stage, rows));
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .with_context(|| format!("cannot append to GITHUB_STEP_SUMMARY ({})", Path::new(&path).display()))?;
    f.write_all(md.as_bytes())?;
    Ok(())
}

#[cfg(test)]
#[path = "github_tests.rs"]
mod tests;
