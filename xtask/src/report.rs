//! The end of every run: a summary table (failures last, so they are what
//! the reader sees), `target/xtask/report.json`, and on GitHub a markdown
//! table in `$GITHUB_STEP_SUMMARY`.

use crate::exec::{Finished, Outcome};
use crate::fsutil::write_atomic;
use anyhow::{Context, Result};
use serde::Serialize;
use std::io::Write;
use std::path::Path;

/// Test counts of one task (read from its JUnit file or its output).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub passed: u64,
    pub failed: u64,
    pub skipped: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Row {
    #[serde(flatten)]
    pub finished: Finished,
    pub command: String,
    pub counts: Option<Counts>,
}

#[derive(Serialize)]
struct Report<'a> {
    stage: &'a str,
    ok: bool,
    totals: Counts,
    tasks: &'a [Row],
}

fn rank(o: &Outcome) -> u8 {
    match o {
        Outcome::Passed => 0,
        Outcome::NotRun => 1,
        Outcome::Interrupted => 2,
        Outcome::Failed(_) => 3,
        Outcome::Error(_) => 4,
    }
}

/// Totals for the closing line. A task that did not pass but counted no
/// failing test (no tests collected, could not run) counts as one failure,
/// so the line never reads as green when the run was not.
pub fn totals(rows: &[Row]) -> Counts {
    let mut t = Counts::default();
    for r in rows {
        let c = r.counts.unwrap_or_default();
        t.passed += c.passed;
        t.skipped += c.skipped;
        t.failed += if r.finished.outcome.is_ok() || c.failed > 0 { c.failed } else { 1 };
    }
    t
}

pub fn closing_line(t: Counts) -> String {
    format!("{} passed, {} failed, {} skipped", t.passed, t.failed, t.skipped)
}

fn sorted(rows: &[Row]) -> Vec<&Row> {
    let mut v: Vec<&Row> = rows.iter().collect();
    v.sort_by_key(|r| (rank(&r.finished.outcome), r.finished.task.id.clone()));
    v
}

fn cell(c: Option<Counts>, f: impl Fn(Counts) -> u64) -> String {
    c.map(|c| f(c).to_string()).unwrap_or_else(|| "-".into())
}

pub fn table(stage: &str, rows: &[Row], root: &Path) -> String {
    let mut out = format!("\nsummary of {stage}\n");
    let head = ["task", "result", "passed", "failed", "skipped", "time"];
    let body: Vec<[String; 6]> = sorted(rows)
        .iter()
        .map(|r| {
            [
                r.finished.task.id.clone(),
                r.finished.outcome.label().to_string(),
                cell(r.counts, |c| c.passed),
                cell(r.counts, |c| c.failed),
                cell(r.counts, |c| c.skipped),
                format!("{:.1}s", r.finished.seconds),
            ]
        })
        .collect();
    let width = |i: usize| body.iter().map(|b| b[i].len()).chain([head[i].len()]).max().unwrap_or(0);
    let widths: Vec<usize> = (0..6).map(width).collect();
    let fmt_row = |cols: [&str; 6]| {
        let mut s = String::from("  ");
        for (i, c) in cols.iter().enumerate() {
            if i < 2 {
                s += &format!("{c:<w$}  ", w = widths[i]);
            } else {
                s += &format!("{c:>w$}  ", w = widths[i]);
            }
        }
        s.trim_end().to_string() + "\n"
    };
    out += &fmt_row(head);
    for b in &body {
        out += &fmt_row([&b[0], &b[1], &b[2], &b[3], &b[4], &b[5]]);
    }
    for r in sorted(rows) {
        if let Outcome::Failed(why) | Outcome::Error(why) = &r.finished.outcome {
            let log = r.finished.log.strip_prefix(root).unwrap_or(&r.finished.log);
            out += &format!("  {}: {why} (log: {})\n", r.finished.task.id, log.display());
        }
    }
    out
}

/// Write `target/xtask/report.json` (atomically) and return its JSON.
pub fn write_json(root: &Path, stage: &str, rows: &[Row]) -> Result<String> {
    let report =
        Report { stage, ok: rows.iter().all(|r| r.finished.outcome.is_ok()), totals: totals(rows), tasks: rows };
    let json = serde_json::to_string_pretty(&report)?;
    write_atomic(&root.join("target/xtask/report.json"), json.as_bytes())?;
    Ok(json)
}

/// Append a markdown table to `$GITHUB_STEP_SUMMARY` when GitHub provides one.
pub fn github_summary(stage: &str, rows: &[Row]) -> Result<()> {
    let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY") else {
        return Ok(());
    };
    let mut md = format!(
        "### xtask {stage}\n\n| task | result | passed | failed | skipped | time |\n|---|---|---:|---:|---:|---:|\n"
    );
    for r in sorted(rows) {
        let mark = if r.finished.outcome.is_ok() { "✅" } else { "❌" };
        md += &format!(
            "| {} | {mark} {} | {} | {} | {} | {:.1}s |\n",
            r.finished.task.id,
            r.finished.outcome.label(),
            cell(r.counts, |c| c.passed),
            cell(r.counts, |c| c.failed),
            cell(r.counts, |c| c.skipped),
            r.finished.seconds
        );
    }
    md += &format!("\n{}\n", closing_line(totals(rows)));
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .with_context(|| format!("cannot append to GITHUB_STEP_SUMMARY ({})", Path::new(&path).display()))?;
    f.write_all(md.as_bytes())?;
    Ok(())
}
