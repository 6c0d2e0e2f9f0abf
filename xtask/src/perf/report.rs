//! A performance run's results: one row per scenario with its samples and
//! verdict (or the error that stopped it), as a table for the terminal, as
//! markdown for the GitHub step summary, and as `target/xtask/perf.json`.
//! Rendering is pure.

use crate::perf::judge::{Call, Verdict};
use crate::perf::run::{fmt, Measured};
use crate::perf::spec::Better;
use serde::Serialize;

/// Where every run's results are written.
pub const FILE: &str = "target/xtask/perf.json";

#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub component: String,
    pub scenario: String,
    pub metric: String,
    pub better: Better,
    pub threshold: f64,
    pub confidence: f64,
    pub measured: Measured,
    pub verdict: Option<Verdict>,
    /// Why the scenario has no verdict: a service or a sample failed.
    pub error: Option<String>,
}

impl Row {
    pub fn id(&self) -> String {
        format!("{}/{}", self.component, self.scenario)
    }

    pub fn failed(&self) -> bool {
        self.error.is_some() || self.verdict.as_ref().is_some_and(|v| v.call == Call::Regression)
    }

    fn label(&self) -> String {
        match (&self.error, &self.verdict) {
            (Some(_), _) => "ERROR".into(),
            (None, Some(v)) => match v.call {
                Call::Pass => "pass".into(),
                Call::Regression => "REGRESSION".into(),
                Call::Improvement => "improvement".into(),
                Call::Inconclusive => "inconclusive".into(),
            },
            (None, None) => "-".into(),
        }
    }

    /// The cells: scenario, metric, base, head, ratio [interval], p, seconds, verdict.
    fn cells(&self) -> [String; 8] {
        let (base, head, ratio, p) = match &self.verdict {
            Some(v) if v.ratio.is_finite() => (
                fmt(v.base_median),
                fmt(v.head_median),
                format!("{:.2} [{:.2}, {:.2}]", v.ratio, v.interval.0, v.interval.1),
                format!("{:.3}", v.p),
            ),
            _ => ("-".into(), "-".into(), "-".into(), "-".into()),
        };
        let arrow = match self.better {
            Better::Lower => "lower is better",
            Better::Higher => "higher is better",
        };
        let why = match (&self.error, &self.verdict) {
            (Some(e), _) => e.lines().next().unwrap_or("").to_string(),
            (None, Some(v)) => v.reason.clone(),
            (None, None) => String::new(),
        };
        [
            self.id(),
            format!("{} ({arrow})", self.metric),
            base,
            head,
            ratio,
            p,
            format!("{:.0}", self.measured.seconds),
            format!("{}: {why}", self.label()),
        ]
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub format: u32,
    /// The ref asked for, e.g. origin/main.
    pub base_ref: String,
    /// The merge-base of HEAD with it: the code measured as base.
    pub base_commit: String,
    pub head_commit: String,
    /// `--aa`: base compared with itself.
    pub aa: bool,
    pub rows: Vec<Row>,
}

/// Passing rows first, so failures are what the reader sees last.
fn ordered(rows: &[Row]) -> Vec<&Row> {
    let mut v: Vec<&Row> = rows.iter().collect();
    v.sort_by_key(|r| r.failed());
    v
}

const HEADERS: [&str; 8] = ["scenario", "metric", "base", "head", "ratio [interval]", "p", "seconds", "verdict"];

/// The table for the terminal, and a closing line.
pub fn table(report: &Report) -> String {
    let rows: Vec<[String; 8]> = ordered(&report.rows).iter().map(|r| r.cells()).collect();
    let mut widths = HEADERS.map(str::len);
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(widths)
            .enumerate()
            .map(|(i, (c, w))| if i == 7 { c.to_string() } else { format!("{c:<w$}") })
            .collect();
        format!("  {}\n", padded.join("  ").trim_end())
    };
    let mut out = line(HEADERS.to_vec());
    for r in &rows {
        out += &line(r.iter().map(String::as_str).collect());
    }
    for r in ordered(&report.rows) {
        if let Some(e) = &r.error {
            out += &format!("  {}: {e}\n", r.id());
        } else if r.measured.stopped.starts_with("budget") {
            out += &format!("  {}: stopped by its {}\n", r.id(), r.measured.stopped);
        }
    }
    out + &format!("\n{}\n", closing_line(report))
}

/// `3 scenario(s): 2 passed, 1 regression` and what was compared.
pub fn closing_line(report: &Report) -> String {
    let count = |c: Call| {
        report.rows.iter().filter(|r| r.error.is_none() && r.verdict.as_ref().is_some_and(|v| v.call == c)).count()
    };
    let errors = report.rows.iter().filter(|r| r.error.is_some()).count();
    let mut parts = vec![format!("{} passed", count(Call::Pass))];
    for (n, what) in [
        (count(Call::Regression), "regression(s)"),
        (count(Call::Improvement), "improvement(s)"),
        (count(Call::Inconclusive), "inconclusive"),
        (errors, "error(s)"),
    ] {
        if n > 0 {
            parts.push(format!("{n} {what}"));
        }
    }
    let what = if report.aa {
        format!("A/A: base {} against itself", short(&report.base_commit))
    } else {
        format!(
            "base {} (merge-base with {}) against head {}",
            short(&report.base_commit),
            report.base_ref,
            short(&report.head_commit)
        )
    };
    format!("{} scenario(s): {}; {what}", report.rows.len(), parts.join(", "))
}

fn short(c: &str) -> &str {
    &c[..c.len().min(10)]
}

/// The step summary's markdown.
pub fn markdown(report: &Report) -> String {
    let mut md = format!("### xtask perf\n\n| {} |\n|{}\n", HEADERS.join(" | "), "---|".repeat(HEADERS.len()));
    for r in ordered(&report.rows) {
        let mut cells = r.cells();
        cells[7] = format!("{} {}", if r.failed() { "❌" } else { "✅" }, cells[7]);
        let cells: Vec<String> = cells.iter().map(|c| c.replace('|', "\\|")).collect();
        md += &format!("| {} |\n", cells.join(" | "));
    }
    md + &format!("\n{}\n\n", closing_line(report))
}

/// 1 when a scenario regressed or could not be measured, else 0.
pub fn exit_code(report: &Report) -> i32 {
    i32::from(report.rows.iter().any(Row::failed))
}

#[cfg(test)]
#[path = "report_tests.rs"]
mod tests;
