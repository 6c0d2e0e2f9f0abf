//! The end of every run: a summary table (failures last, so they are what
//! the reader sees), `target/xtask/report.json`, and on GitHub a markdown
//! table in `$GITHUB_STEP_SUMMARY`.

use crate::exec::{Finished, Outcome};
use crate::findings::Finding;
use crate::fsutil::write_atomic;
use anyhow::Result;
use serde::Serialize;
use std::path::Path;

/// Test counts of one task (read from its JUnit file or its output).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
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
    /// What a code-quality tool reported (None for stages without findings).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub findings: Option<Vec<Finding>>,
    /// A fact the reader needs beside the result (e.g. which vulnerability database).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Row {
    pub fn new(root: &Path, finished: Finished) -> Row {
        Row { command: finished.task.command_line(root), finished, counts: None, findings: None, note: None }
    }
}

#[derive(Serialize)]
struct Report<'a> {
    stage: &'a str,
    ok: bool,
    totals: Counts,
    tasks: &'a [Row],
}

/// The result column: a replayed success reads `cached`.
fn label(f: &Finished) -> &'static str {
    if f.cached {
        "cached"
    } else {
        f.outcome.label()
    }
}

fn rank(o: &Outcome) -> u8 {
    match o {
        Outcome::Passed => 0,
        Outcome::NotRun(_) => 1,
        Outcome::Interrupted => 2,
        Outcome::Failed(_) => 3,
        Outcome::Error(_) => 4,
    }
}

/// Totals for the closing line: tests where a task counted them, else the
/// task itself. A task that ran and did not pass but counted no failing test
/// (no tests collected, could not run) counts as one failure, so the line
/// never reads as green when the run was not. Tasks that did not run, or were
/// interrupted, count nothing: the table says in words what became of them.
pub fn totals(rows: &[Row]) -> Counts {
    let mut t = Counts::default();
    for r in rows {
        let ok = r.finished.outcome.is_ok();
        match (&r.finished.outcome, r.counts) {
            (Outcome::NotRun(_) | Outcome::Interrupted, _) => {}
            (_, Some(c)) => {
                t.passed += c.passed;
                t.skipped += c.skipped;
                t.failed += if ok || c.failed > 0 { c.failed } else { 1 };
            }
            (_, None) if ok => t.passed += 1,
            (_, None) => t.failed += 1,
        }
    }
    t
}

pub fn closing_line(t: Counts) -> String {
    format!("{} passed, {} failed, {} skipped", t.passed, t.failed, t.skipped)
}

pub fn sorted(rows: &[Row]) -> Vec<&Row> {
    let mut v: Vec<&Row> = rows.iter().collect();
    v.sort_by_key(|r| (rank(&r.finished.outcome), r.finished.task.id.clone()));
    v
}

/// A table column: its heading and how a row fills it.
pub type Column = (&'static str, Box<dyn Fn(&Row) -> String>);

/// The table's columns: test counts and findings only where the stage has them.
pub fn columns(rows: &[Row]) -> Vec<Column> {
    let count = |f: fn(Counts) -> u64| -> Box<dyn Fn(&Row) -> String> {
        Box::new(move |r: &Row| r.counts.map(|c| f(c).to_string()).unwrap_or_else(|| "-".into()))
    };
    let mut cols: Vec<Column> = vec![
        ("task", Box::new(|r: &Row| r.finished.task.id.clone())),
        ("result", Box::new(|r: &Row| label(&r.finished).to_string())),
    ];
    if rows.iter().any(|r| r.counts.is_some()) {
        cols.push(("passed", count(|c| c.passed)));
        cols.push(("failed", count(|c| c.failed)));
        cols.push(("skipped", count(|c| c.skipped)));
    }
    if rows.iter().any(|r| r.findings.is_some()) {
        cols.push((
            "findings",
            Box::new(|r: &Row| r.findings.as_ref().map(|f| f.len().to_string()).unwrap_or_else(|| "-".into())),
        ));
    }
    cols.push(("time", Box::new(|r: &Row| format!("{:.1}s", r.finished.seconds))));
    cols
}

pub fn table(stage: &str, rows: &[Row], root: &Path) -> String {
    let cols = columns(rows);
    let body: Vec<Vec<String>> = sorted(rows).iter().map(|r| cols.iter().map(|(_, f)| f(r)).collect()).collect();
    let widths: Vec<usize> =
        (0..cols.len()).map(|i| body.iter().map(|b| b[i].len()).chain([cols[i].0.len()]).max().unwrap_or(0)).collect();
    let fmt_row = |cells: Vec<&str>| {
        let mut s = String::from("  ");
        for (i, c) in cells.iter().enumerate() {
            // Names left, numbers right.
            if i < 2 {
                s += &format!("{c:<w$}  ", w = widths[i]);
            } else {
                s += &format!("{c:>w$}  ", w = widths[i]);
            }
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = format!("\nsummary of {stage}\n");
    out += &fmt_row(cols.iter().map(|c| c.0).collect());
    for b in &body {
        out += &fmt_row(b.iter().map(String::as_str).collect());
    }
    for r in sorted(rows) {
        if let Some(note) = &r.note {
            out += &format!("  {}: {note}\n", r.finished.task.id);
        }
        let id = &r.finished.task.id;
        match &r.finished.outcome {
            Outcome::Failed(why) | Outcome::Error(why) => {
                let log = r.finished.log.strip_prefix(root).unwrap_or(&r.finished.log);
                out += &format!("  {id}: {why} (log: {})\n", log.display());
            }
            Outcome::NotRun(why) => out += &format!("  {id}: not run: {why}\n"),
            Outcome::Interrupted => out += &format!("  {id}: interrupted: stopped, its partial results removed\n"),
            Outcome::Passed => {}
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::Finished;
    use crate::plan::{ExitPolicy, Task};
    use std::path::PathBuf;

    fn row(outcome: Outcome, counts: Option<Counts>) -> Row {
        let task = Task {
            id: "t".into(),
            stage: "test",
            component: "c".into(),
            program: "p".into(),
            args: Vec::new(),
            env: Vec::new(),
            cwd: PathBuf::from("/"),
            needs: Vec::new(),
            after: None,
            artifact: None,
            exit: ExitPolicy::Pytest,
            cache: None,
        };
        let finished =
            Finished { task, outcome, seconds: 0.0, start: 0.0, log: PathBuf::new(), output_start: 0, cached: false };
        Row { counts, ..Row::new(Path::new("/"), finished) }
    }

    #[test]
    fn totals_count_tests_where_known_and_tasks_otherwise() {
        let c = |passed, failed, skipped| Some(Counts { passed, failed, skipped });
        let rows = [
            row(Outcome::Passed, c(5, 0, 1)),
            row(Outcome::Failed("tests failed".into()), c(3, 2, 0)),
            row(Outcome::Failed("no tests collected".into()), c(0, 0, 0)),
            row(Outcome::Error("could not run".into()), None),
            row(Outcome::NotRun("--fail-fast: a did not pass".into()), Some(Counts::default())),
            row(Outcome::Interrupted, None),
            row(Outcome::Passed, None),
        ];
        assert_eq!(totals(&rows), Counts { passed: 9, failed: 4, skipped: 1 });
        assert_eq!(closing_line(totals(&rows)), "9 passed, 4 failed, 1 skipped");
        let table = table("test", &rows, Path::new("/"));
        assert!(table.contains("  t: not run: --fail-fast: a did not pass\n"), "{table}");
        assert!(table.contains("  t: interrupted: stopped, its partial results removed\n"), "{table}");
    }
}
