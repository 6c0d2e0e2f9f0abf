//! The code-quality tools' output as findings: parse what each tool prints, judge its exit
//! code, and render GitHub workflow annotations.
//!
//! The command lines ([`command`]) are chosen so the output is line-oriented or JSON, has no
//! colour whatever the terminal or `FORCE_COLOR` says, and carries file:line locations. Tools
//! run with cwd = the repo root on paths like `components/storage/src`. flake8, mypy and bandit
//! print paths as given; black and isort print absolute paths for files found in a directory,
//! so callers pass every finding list through [`relativize`].

mod bandit;
mod diffs;
mod flake8;
mod mypy;
mod safety;

pub use bandit::bandit;
pub use diffs::{black, isort};
pub use flake8::flake8;
pub use mypy::mypy;
pub use safety::{safety, safety_db, SafetyDb};

use std::path::Path;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Finding {
    pub tool: &'static str,
    pub file: String,
    pub line: Option<u32>,
    pub column: Option<u32>,
    pub code: String,
    pub message: String,
    pub severity: Severity,
}

/// Declaration order is the sort order: most severe first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    High,
    Medium,
    Low,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Clean,
    Findings,
    Error,
}

/// The argv (program first) that makes `tool`'s output parseable by the function of the same
/// name. `paths` are source folders, or for safety the requirements files (checked offline
/// against tools/safety-db, see its README).
pub fn command(tool: &str, paths: &[&str]) -> Vec<String> {
    let flags: &[&str] = match tool {
        "flake8" => &["--config", "tools/flake8.cfg", "--color=never"],
        // -q keeps stderr for errors only; the diff (stdout) gives each file's first changed line.
        "black" => &["--check", "--diff", "-q", "--no-color", "--config", "tools/quality.toml"],
        "isort" => &["--check-only", "--diff", "--settings-path", "tools/quality.toml"],
        "mypy" => &[
            "--config-file",
            "tools/quality.toml",
            "--show-column-numbers",
            "--show-error-codes",
            "--no-error-summary",
            "--no-pretty",
            "--no-color-output",
        ],
        "bandit" => &["-f", "json", "-q", "-c", "tools/quality.toml", "-r"],
        "safety" => &["check", "--json", "--db", "tools/safety-db"],
        _ => &[],
    };
    let mut argv: Vec<String> = std::iter::once(tool).chain(flags.iter().copied()).map(String::from).collect();
    for p in paths {
        if tool == "safety" {
            argv.push("-r".into());
        }
        argv.push(p.to_string());
    }
    argv
}

/// What an exit code means, verified against the pinned versions:
/// - flake8 7.5: 0 clean, 1 findings (also a missing `--config` file or path), 2 bad usage.
/// - black 26.10: 0 clean, 1 would reformat, 123 a file could not be parsed/formatted, 2 bad usage.
/// - isort 9.0: 0 clean, 1 findings (also a missing path or settings file, with a traceback), 2 bad usage.
/// - mypy 2.4: 0 clean, 1 type errors, 2 blocking error: syntax errors (still printed as
///   parseable `error:` lines), missing file or config, bad usage.
/// - bandit 1.9: 0 clean, 1 issues, 2 bad usage or config. Files it cannot read or parse do
///   NOT change the code: they land in the JSON's `errors`, which [`bandit`] reports as findings.
/// - safety 2.3.5: 0 clean, 64 vulnerabilities, 1 failure, 2 bad usage (missing -r file),
///   65/66 API key/rate limit, 67 local database not found, 68 fetch failed, 69 malformed db.
///
/// Exit 1 alone is ambiguous for flake8 and isort; [`verdict`] settles it with the parsed findings.
pub fn judge(tool: &str, code: i32) -> Verdict {
    let findings = if tool == "safety" { 64 } else { 1 };
    match code {
        0 => Verdict::Clean,
        c if c == findings => Verdict::Findings,
        _ => Verdict::Error,
    }
}

/// [`judge`], corrected by what was parsed: "findings" with nothing parsed means the tool failed
/// (flake8/isort exit 1 on a missing config); a clean exit with findings (bandit's unreadable
/// files) is findings.
pub fn verdict(tool: &str, code: i32, findings: &[Finding]) -> Verdict {
    match (judge(tool, code), findings.is_empty()) {
        (Verdict::Findings, true) => Verdict::Error,
        (Verdict::Clean, false) => Verdict::Findings,
        (v, _) => v,
    }
}

/// GitHub workflow command for one finding; Low is a warning, the rest errors.
pub fn annotation(f: &Finding) -> String {
    let level = if f.severity == Severity::Low { "warning" } else { "error" };
    let mut props = Vec::new();
    if !f.file.is_empty() {
        props.push(format!("file={}", escape_property(&f.file)));
    }
    if let Some(line) = f.line {
        props.push(format!("line={line}"));
        if let Some(col) = f.column {
            props.push(format!("col={col}"));
        }
    }
    props.push(format!("title={}", escape_property(&format!("{} {}", f.tool, f.code))));
    format!("::{level} {}::{}", props.join(","), escape_data(&f.message))
}

/// The files a fixing run rewrote, relative to `root` where under it:
/// black's `reformatted PATH`, isort's `Fixing PATH`, and `rustfmt -l`'s bare paths.
pub fn rewritten(tool: &str, output: &str, root: &Path) -> Vec<String> {
    let roots = [Some(root.to_path_buf()), root.canonicalize().ok()];
    let mut files: Vec<String> = output
        .lines()
        .filter_map(|l| match tool {
            "black" => l.strip_prefix("reformatted "),
            "isort" => l.strip_prefix("Fixing "),
            "rustfmt" => Some(l).filter(|l| l.ends_with(".rs")),
            _ => None,
        })
        .map(|f| {
            let f = f.trim();
            let rel = roots.iter().flatten().find_map(|r| Path::new(f).strip_prefix(r).ok());
            rel.map_or_else(|| f.to_string(), |r| r.to_string_lossy().into_owned())
        })
        .collect();
    files.sort();
    files.dedup();
    files
}

/// Rewrites absolute paths under `root` (as given, or canonical: black resolves symlinks)
/// relative to it; other paths are left as printed.
pub fn relativize(findings: &mut [Finding], root: &Path) {
    let roots = [Some(root.to_path_buf()), root.canonicalize().ok()];
    for f in findings {
        let rel = roots.iter().flatten().find_map(|r| Path::new(&f.file).strip_prefix(r).ok());
        if let Some(rel) = rel {
            f.file = rel.to_string_lossy().into_owned();
        }
    }
}

fn escape_data(s: &str) -> String {
    s.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

pub(super) fn finding(
    tool: &'static str,
    file: &str,
    line: Option<u32>,
    column: Option<u32>,
    code: &str,
    message: &str,
    severity: Severity,
) -> Finding {
    // flake8 reports a missing path at line 0 (annotations need a real line or none);
    // bandit puts `./` before a file given directly rather than found in a folder.
    let line = line.filter(|&l| l > 0);
    let file = file.strip_prefix("./").unwrap_or(file);
    Finding { tool, file: file.into(), line, column, code: code.into(), message: message.into(), severity }
}

/// Splits `PATH:LINE[:COL]: REST` at the first `:digits` followed by `: ` (or `:digits: `).
pub(super) fn location(s: &str) -> Option<(&str, Option<u32>, Option<u32>, &str)> {
    for (i, _) in s.match_indices(':') {
        let Some((line, rest)) = number(&s[i + 1..]) else { continue };
        let (column, rest) = match rest.strip_prefix(':').and_then(number) {
            Some((c, r)) => (Some(c), r),
            None => (None, rest),
        };
        if let Some(rest) = rest.strip_prefix(": ") {
            return Some((&s[..i], Some(line), column, rest));
        }
    }
    None
}

pub(super) fn number(s: &str) -> Option<(u32, &str)> {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    Some((s[..end].parse().ok()?, &s[end..]))
}

/// Tools may print a line or two before their JSON; parse from the first `{`.
pub(super) fn from_brace(s: &str) -> &str {
    s.find('{').map_or(s, |i| &s[i..])
}

#[cfg(test)]
#[path = "findings_tests.rs"]
mod tests;
