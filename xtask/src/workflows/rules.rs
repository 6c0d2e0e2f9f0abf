//! What a careful GitHub user expects of every workflow, as findings:
//! third-party actions pinned by commit (`action-pin`: a tag can be moved by
//! its owner, a commit cannot), a timeout on every job that runs on a runner
//! (`job-timeout`: GitHub's default is six hours of billed minutes), secrets
//! only on the steps that use them (`secret-scope`: a job-wide secret reaches
//! every action of the job), and write permissions only on a job
//! (`permissions`).

use crate::findings::{Finding, Severity};

/// One `uses:` of an action: where, what, and the tag its comment names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uses {
    pub line: u32,
    pub column: u32,
    /// `owner/repo` (or `owner/repo/path`).
    pub action: String,
    /// After the `@`: a commit SHA when pinned, else a tag or branch.
    pub reference: String,
    /// The `# vX.Y.Z` comment after a SHA pin.
    pub tag: Option<String>,
}

impl Uses {
    pub fn pinned(&self) -> bool {
        self.reference.len() == 40 && self.reference.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    }
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

fn content(line: &str) -> bool {
    !line.trim().is_empty() && !line.trim_start().starts_with('#')
}

/// Every action a workflow uses; local workflows and actions (`./…`) and
/// `docker://` images aside.
pub fn uses(text: &str) -> Vec<Uses> {
    let mut found = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let key = line.trim_start().strip_prefix("- ").unwrap_or(line.trim_start());
        let Some(value) = key.strip_prefix("uses:") else { continue };
        let (value, comment) = match value.split_once(" #") {
            Some((v, c)) => (v.trim(), Some(c.trim().to_string()).filter(|c| !c.is_empty())),
            None => (value.trim(), None),
        };
        let value = value.trim_matches(['"', '\'']);
        if value.starts_with("./") || value.starts_with("docker://") {
            continue;
        }
        let (action, reference) = value.split_once('@').unwrap_or((value, ""));
        let column = (line.len() - key.len() + 1) as u32;
        found.push(Uses {
            line: i as u32 + 1,
            column,
            action: action.to_string(),
            reference: reference.to_string(),
            tag: comment,
        });
    }
    found
}

fn finding(file: &str, line: u32, column: u32, code: &str, message: String) -> Finding {
    Finding {
        tool: "workflows",
        file: file.to_string(),
        line: Some(line),
        column: Some(column),
        code: code.into(),
        message,
        severity: Severity::Medium,
    }
}

/// Every action not pinned by a commit SHA with its tag in a comment.
pub fn unpinned(file: &str, text: &str) -> Vec<Finding> {
    let fix = "pin the commit its tag names, the tag in a comment (`uses: OWNER/REPO@<40-hex sha> # vX.Y.Z`; docs/explanation/workflows.md says how to find it; `cargo xtask workflows pins` lists the pins)";
    uses(text)
        .into_iter()
        .filter_map(|u| {
            let name = format!("`{}@{}`", u.action, u.reference);
            let why = match (u.pinned(), &u.tag) {
                (false, _) => format!("{name} is pinned by a tag or branch, which its owner can move"),
                (true, None) => format!("{name} names no tag: add its tag in a comment"),
                (true, Some(_)) => return None,
            };
            Some(finding(file, u.line, u.column, "action-pin", format!("{why}: {fix}")))
        })
        .collect()
}

/// The lines (0-based) of a block's direct children: the content lines after
/// `head` indented deeper than it, at the first such line's indent.
fn children(lines: &[&str], head: usize, last: usize) -> Vec<usize> {
    let base = indent(lines[head]);
    let body: Vec<usize> = (head + 1..last.min(lines.len()))
        .take_while(|&i| !content(lines[i]) || indent(lines[i]) > base)
        .filter(|&i| content(lines[i]))
        .collect();
    let Some(at) = body.first().map(|&i| indent(lines[i])) else { return Vec::new() };
    body.into_iter().filter(|&i| indent(lines[i]) == at).collect()
}

fn key(line: &str) -> &str {
    line.trim().split(':').next().unwrap_or("").trim()
}

/// Every job that runs on a runner without `timeout-minutes` (a job calling
/// a reusable workflow cannot have one: its own jobs do).
pub fn without_timeout(file: &str, text: &str) -> Vec<Finding> {
    let lines: Vec<&str> = text.lines().collect();
    super::jobs::jobs(text)
        .into_iter()
        .filter_map(|(job, first, last)| {
            let keys: Vec<&str> = children(&lines, first as usize - 1, last as usize).iter().map(|&i| key(lines[i])).collect();
            (keys.contains(&"runs-on") && !keys.contains(&"timeout-minutes")).then(|| {
                let message = format!(
                    "job `{job}` has no `timeout-minutes`, so a hung step runs for GitHub's six hours: set one a little above its measured time (docs/explanation/workflows.md lists them)"
                );
                finding(file, first, indent(lines[first as usize - 1]) as u32 + 1, "job-timeout", message)
            })
        })
        .collect()
}

/// Every secret (or the job's token) given to more than the one step that
/// uses it: in the workflow's or a job's `env:` rather than a step's.
pub fn secrets_beyond_a_step(file: &str, text: &str) -> Vec<Finding> {
    let lines: Vec<&str> = text.lines().collect();
    let mut found = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let plain = line.split(" #").next().unwrap_or(line);
        if !content(line) || !(plain.contains("secrets.") || plain.contains("github.token")) {
            continue;
        }
        // Its enclosing keys, innermost first, by indentation.
        let mut ancestors = Vec::new();
        let mut at = indent(line);
        for l in lines[..i].iter().rev().filter(|l| content(l)) {
            if indent(l) < at {
                at = indent(l);
                ancestors.push(key(l.trim_start().trim_start_matches("- ")));
            }
        }
        // Anything under a job's `steps:` belongs to one step.
        if !ancestors.contains(&"steps") {
            let where_ = if ancestors.contains(&"jobs") { "a job" } else { "the workflow" };
            let message = format!(
                "`{}` is set for {where_}, so every step and action there can read it: move it to the `env:` of the one step that uses it",
                line.trim()
            );
            found.push(finding(file, i as u32 + 1, indent(line) as u32 + 1, "secret-scope", message));
        }
    }
    found
}

/// A workflow-wide `permissions:` that grants a write: every job then holds it.
pub fn workflow_writes(file: &str, text: &str) -> Vec<Finding> {
    let lines: Vec<&str> = text.lines().collect();
    let Some(head) = lines.iter().position(|l| l.trim_end() == "permissions:") else { return Vec::new() };
    children(&lines, head, lines.len())
        .into_iter()
        .filter(|&i| lines[i].split(':').nth(1).is_some_and(|v| v.trim() == "write"))
        .map(|i| {
            let message = format!(
                "`{}` is granted to every job of the workflow: grant it in the `permissions:` of the one job that needs it",
                lines[i].trim()
            );
            finding(file, i as u32 + 1, indent(lines[i]) as u32 + 1, "permissions", message)
        })
        .collect()
}

/// All of this file's rules over one workflow.
pub fn check(file: &str, text: &str) -> Vec<Finding> {
    let mut found = unpinned(file, text);
    found.extend(without_timeout(file, text));
    found.extend(secrets_beyond_a_step(file, text));
    found.extend(workflow_writes(file, text));
    found
}

#[cfg(test)]
#[path = "rules_tests.rs"]
mod tests;
