//! The rule that every job starts the services its commands need: for each
//! `run:` step, `services::needed_by` says what its `cargo xtask` command
//! needs running, and a `cargo xtask services up [NAME...]` step earlier in
//! the same job must have started it (a named service brings what it needs).
//! A job on GitHub starts from a bare runner: nothing else would.

use crate::findings::{Finding, Severity};
use crate::services;

/// The jobs of a workflow: name and the range of its lines (1-based, inclusive).
pub fn jobs(text: &str) -> Vec<(String, u32, u32)> {
    let lines: Vec<&str> = text.lines().collect();
    let indent = |l: &str| l.len() - l.trim_start().len();
    let content = |l: &&str| !l.trim().is_empty() && !l.trim_start().starts_with('#');
    let Some(start) = lines.iter().position(|l| l.trim_end() == "jobs:") else { return Vec::new() };
    let end =
        lines[start + 1..].iter().position(|l| content(l) && indent(l) == 0).map_or(lines.len(), |e| start + 1 + e);
    let Some(job_indent) = lines[start + 1..end].iter().find(|l| content(l)).map(|l| indent(l)) else {
        return Vec::new();
    };
    let heads: Vec<(usize, String)> = (start + 1..end)
        .filter(|&i| content(&lines[i]) && indent(lines[i]) == job_indent)
        .filter_map(|i| Some((i, lines[i].trim().strip_suffix(':')?.trim_matches(['"', '\'']).to_string())))
        .collect();
    heads
        .iter()
        .enumerate()
        .map(|(n, (i, name))| {
            let last = heads.get(n + 1).map_or(end, |(next, _)| *next);
            (name.clone(), *i as u32 + 1, last as u32)
        })
        .collect()
}

/// Every step whose command needs a service its job has not started before it.
pub fn services_not_started(file: &str, text: &str) -> Vec<Finding> {
    let known = services::names();
    let needs = |n: &str| services::get(n).map(|s| s.needs().to_vec()).unwrap_or_default();
    let steps = super::steps(text);
    let mut found = Vec::new();
    for (job, first, last) in jobs(text) {
        let mut started: Vec<&str> = Vec::new();
        for step in steps.iter().filter(|s| s.line > first && s.line <= last) {
            let [command] = step.commands.as_slice() else { continue };
            let plain = super::without_matrix_values(command);
            let Some(rest) = plain.strip_prefix("cargo xtask ") else { continue };
            let words: Vec<&str> = rest.split_whitespace().collect();
            if words.starts_with(&["services", "up"]) {
                let names: Vec<String> =
                    words[2..].iter().filter(|w| !w.starts_with('-')).map(|w| w.to_string()).collect();
                // Unknown names are the command's own error, at run time.
                started.extend(services::select(&names, &known, &needs).unwrap_or_default());
                continue;
            }
            let missing: Vec<&str> = services::needed_by(&words).into_iter().filter(|n| !started.contains(n)).collect();
            if missing.is_empty() {
                continue;
            }
            // Name the fewest: a service brings what it needs.
            let fewest: Vec<&str> =
                missing.iter().copied().filter(|m| !missing.iter().any(|o| o != m && needs(o).contains(m))).collect();
            // Plain `services up` (every service) when the full suite's are all missing.
            let full_suite = services::needed_by(&["test"]);
            let start = if started.is_empty() && full_suite.iter().all(|n| missing.contains(n)) {
                "cargo xtask services up".to_string()
            } else {
                format!("cargo xtask services up {}", fewest.join(" "))
            };
            let message = format!(
                "`{command}` needs {} running, which job `{job}` does not start before it: add a step `run: {start}` before this one",
                missing.join(", ")
            );
            found.push(Finding {
                tool: "workflows",
                file: file.to_string(),
                line: Some(step.line),
                column: Some(step.column),
                code: "services".into(),
                message,
                severity: Severity::Medium,
            });
        }
    }
    found
}

#[cfg(test)]
#[path = "jobs_tests.rs"]
mod tests;
