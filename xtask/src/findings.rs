//! The code-quality tools' output as findings: parse what each tool prints, judge its exit
//! code, and render GitHub workflow annotations.
//!
//! The command lines ([`command`]) are chosen so the output is line-oriented or JSON, has no
//! colour whatever the terminal or `FORCE_COLOR` says, and carries file:line locations. Tools
//! run with cwd = the repo root on paths like `components/storage/src`. flake8, mypy and bandit
//! print paths as given; black and isort print absolute paths for files found in a directory,
//! so callers pass every finding list through [`relativize`].

use anyhow::{Context, Result};
use serde::Deserialize;
use std::collections::BTreeMap;
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

/// flake8's default format: `PATH:ROW:COL: CODE TEXT`.
pub fn flake8(output: &str) -> Vec<Finding> {
    let mut found = Vec::new();
    for l in output.lines() {
        let Some((file, line, column, rest)) = location(l) else { continue };
        let (code, message) = rest.split_once(' ').unwrap_or((rest, ""));
        // E9: syntax/IO errors; F: pyflakes (undefined names, unused imports): likely bugs.
        let severity = if code.starts_with("E9") || code.starts_with('F') { Severity::High } else { Severity::Medium };
        found.push(finding("flake8", file, line, column, code, message, severity));
    }
    found
}

/// `black --check --diff` stdout (one finding per file, at its first change), plus the
/// `error: ...` lines of stderr if the caller appends them (files black could not parse).
pub fn black(output: &str) -> Vec<Finding> {
    let mut found: Vec<Finding> = diffs(output)
        .into_iter()
        .map(|d| {
            let message = format!("would reformat ({} changed region(s); run black)", d.hunks);
            finding("black", &d.path, d.first_line, None, "reformat", &message, Severity::Low)
        })
        .collect();
    let lines: Vec<&str> = output.lines().collect();
    for (i, l) in lines.iter().enumerate() {
        let Some(err) = l.strip_prefix("error: ") else { continue };
        // Either `cannot format PATH: MESSAGE` or `CONTEXT: PATH:LINE:COL` (a parse error,
        // followed by the source line, a caret and `ParseError: ...`).
        if let Some((file, message)) = err.strip_prefix("cannot format ").and_then(|r| r.split_once(": ")) {
            found.push(finding("black", file, None, None, "error", message, Severity::Medium));
        } else if let Some((head, col)) = err.rsplit_once(':') {
            let Some((head, line)) = head.rsplit_once(':') else { continue };
            let Some((context, file)) = head.rsplit_once(": ") else { continue };
            let (Ok(line), Ok(col)) = (line.parse::<u32>(), col.parse::<u32>()) else { continue };
            let detail =
                lines[i + 1..].iter().take(3).find(|d| d.starts_with("ParseError: ") || d.starts_with("TokenError: "));
            let message = match detail {
                Some(d) => format!("{context} ({d})"),
                None => context.to_string(),
            };
            found.push(finding("black", file, Some(line), Some(col), "error", &message, Severity::Medium));
        }
    }
    found
}

/// `isort --check-only --diff` stdout, and/or the `ERROR: PATH Imports are incorrectly sorted`
/// lines of stderr; a file in both is reported once, at its diff's first change.
pub fn isort(output: &str) -> Vec<Finding> {
    const MSG: &str = "imports are incorrectly sorted and/or formatted (run isort)";
    let mut found: Vec<Finding> = diffs(output)
        .into_iter()
        .map(|d| finding("isort", &d.path, d.first_line, None, "unsorted", MSG, Severity::Low))
        .collect();
    for l in output.lines() {
        let Some(file) =
            l.strip_prefix("ERROR: ").and_then(|r| r.strip_suffix(" Imports are incorrectly sorted and/or formatted."))
        else {
            continue;
        };
        if !found.iter().any(|f| f.file == file) {
            found.push(finding("isort", file, None, None, "unsorted", MSG, Severity::Low));
        }
    }
    found
}

/// `PATH:LINE:COL: error: MESSAGE  [code]`, or `PATH: error: ...` when mypy cannot read a file.
/// The `note:` lines right after an error (e.g. the possible overload variants) belong to it:
/// they go on its message, one per line (a note about another place names it), so an
/// annotation carries them; notes on their own are skipped.
pub fn mypy(output: &str) -> Vec<Finding> {
    let mut found: Vec<Finding> = Vec::new();
    let mut open = false;
    for l in output.lines() {
        let (file, line, column, rest) = match location(l) {
            Some(loc) => loc,
            None => match l.split_once(": error: ") {
                Some((file, _)) => (file, None, None, &l[file.len() + 2..]),
                None => {
                    open = false;
                    continue;
                }
            },
        };
        if let (Some(note), true, Some(last)) = (rest.strip_prefix("note: "), open, found.last_mut()) {
            let elsewhere = last.file != file.strip_prefix("./").unwrap_or(file) || last.line != line;
            let at = match (elsewhere, line) {
                (true, Some(n)) => format!("{file}:{n}: "),
                _ => String::new(),
            };
            last.message += &format!("\n{at}{note}");
            continue;
        }
        open = false;
        let Some(msg) = rest.strip_prefix("error: ") else { continue };
        open = true;
        let (message, code) = match msg.strip_suffix(']').and_then(|m| m.rsplit_once("  [")) {
            Some((m, c)) => (m, c),
            None => (msg, "error"),
        };
        found.push(finding("mypy", file, line, column, code, message, Severity::High));
    }
    found
}

#[derive(Deserialize)]
struct BanditReport {
    #[serde(default)]
    errors: Vec<BanditError>,
    results: Vec<BanditIssue>,
}

#[derive(Deserialize)]
struct BanditError {
    filename: String,
    reason: String,
}

#[derive(Deserialize)]
struct BanditIssue {
    filename: String,
    line_number: u32,
    col_offset: Option<u32>,
    test_id: String,
    test_name: String,
    issue_text: String,
    issue_severity: String,
    issue_confidence: String,
}

/// `bandit -f json` stdout. Files bandit could not scan become Medium findings (code `error`):
/// bandit itself exits 0 for them.
pub fn bandit(json: &str) -> Result<Vec<Finding>> {
    let report: BanditReport = serde_json::from_str(from_brace(json)).context("parsing bandit's JSON report")?;
    let mut found = Vec::new();
    for i in report.results {
        let severity = match i.issue_severity.as_str() {
            "HIGH" => Severity::High,
            "MEDIUM" => Severity::Medium,
            _ => Severity::Low,
        };
        let message = format!("{} [{}, confidence {}]", i.issue_text, i.test_name, i.issue_confidence.to_lowercase());
        // bandit's col_offset is 0-based (Python's ast); annotations count from 1.
        let column = i.col_offset.map(|c| c + 1);
        found.push(finding("bandit", &i.filename, Some(i.line_number), column, &i.test_id, &message, severity));
    }
    for e in report.errors {
        let message = format!("not scanned: {}", e.reason);
        found.push(finding("bandit", &e.filename, None, None, "error", &message, Severity::Medium));
    }
    Ok(found)
}

#[derive(Deserialize)]
struct SafetyReport {
    vulnerabilities: Vec<SafetyVuln>,
    #[serde(default)]
    affected_packages: BTreeMap<String, SafetyPackage>,
}

#[derive(Deserialize)]
struct SafetyVuln {
    vulnerability_id: String,
    package_name: String,
    analyzed_version: String,
    vulnerable_spec: String,
    advisory: String,
    #[serde(rename = "CVE")]
    cve: Option<String>,
    more_info_url: Option<String>,
}

#[derive(Deserialize)]
struct SafetyPackage {
    found: Option<String>,
}

/// `safety check --json` stdout. `requirements` holds (path as passed to `-r`, file text) for
/// each requirements file: safety names the file a package came from but not the line, so the
/// line is looked up in the text. Code = the CVE, or `PYUP-<id>` for advisories without one.
pub fn safety(json: &str, requirements: &[(&str, &str)]) -> Result<Vec<Finding>> {
    let report: SafetyReport = serde_json::from_str(from_brace(json)).context("parsing safety's JSON report")?;
    // affected_packages is keyed by the name as written in the file, vulnerabilities by its
    // canonical form.
    let found_in: BTreeMap<String, String> =
        report.affected_packages.into_iter().filter_map(|(name, p)| Some((canonical(&name), p.found?))).collect();
    let mut found = Vec::new();
    for v in report.vulnerabilities {
        let pkg = canonical(&v.package_name);
        let file = found_in.get(&pkg).map(String::as_str).or(requirements.first().map(|r| r.0)).unwrap_or("");
        let text = requirements.iter().find(|r| r.0 == file).map(|r| r.1);
        let line = text.and_then(|t| requirement_line(t, &pkg));
        let code = v.cve.filter(|c| !c.is_empty()).unwrap_or_else(|| format!("PYUP-{}", v.vulnerability_id));
        let mut message =
            format!("{} {} is vulnerable ({}): {}", v.package_name, v.analyzed_version, v.vulnerable_spec, v.advisory);
        if let Some(url) = v.more_info_url.filter(|u| !u.is_empty()) {
            message += &format!(" More info: {url}");
        }
        found.push(finding("safety", file, line, None, &code, &message, Severity::High));
    }
    Ok(found)
}

/// The offline database's identity, from `$meta` of tools/safety-db/insecure_full.json:
/// safety itself reports only the folder, never the data's date.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SafetyDb {
    pub advisory: String,
    pub timestamp: i64,
    /// The timestamp's UTC day, `YYYY-MM-DD`.
    pub date: String,
}

pub fn safety_db(insecure_full_json: &str) -> Result<SafetyDb> {
    let db: serde_json::Value = serde_json::from_str(insecure_full_json).context("parsing the safety database")?;
    let meta = &db["$meta"];
    let timestamp = meta["timestamp"].as_i64().context("the safety database has no $meta.timestamp")?;
    let advisory = meta["advisory"].as_str().unwrap_or_default().to_string();
    Ok(SafetyDb { advisory, date: utc_date(timestamp), timestamp })
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

fn finding(
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
fn location(s: &str) -> Option<(&str, Option<u32>, Option<u32>, &str)> {
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

fn number(s: &str) -> Option<(u32, &str)> {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    Some((s[..end].parse().ok()?, &s[end..]))
}

struct FileDiff {
    path: String,
    first_line: Option<u32>,
    hunks: usize,
}

/// Unified diffs as black and isort print them. Hunk bodies are consumed by the counts in
/// their `@@` header, so a removed line that itself starts with `--` is not a new file.
fn diffs(output: &str) -> Vec<FileDiff> {
    let mut files: Vec<FileDiff> = Vec::new();
    let (mut old_left, mut new_left, mut old_line) = (0u32, 0u32, 0u32);
    let mut lines = output.lines().peekable();
    while let Some(l) = lines.next() {
        if old_left > 0 || new_left > 0 {
            let change = match l.chars().next() {
                Some(' ') | None => {
                    (old_left, new_left) = (old_left.saturating_sub(1), new_left.saturating_sub(1));
                    old_line += 1;
                    false
                }
                Some('-') => {
                    old_left = old_left.saturating_sub(1);
                    old_line += 1;
                    true
                }
                Some('+') => {
                    new_left = new_left.saturating_sub(1);
                    true
                }
                Some('\\') => false, // "\ No newline at end of file"
                _ => {
                    (old_left, new_left) = (0, 0); // a truncated hunk: resync on headers
                    false
                }
            };
            if let (true, Some(f)) = (change, files.last_mut()) {
                // A removed line was counted already; an insertion goes before the next old line.
                let at = if l.starts_with('-') { old_line - 1 } else { old_line };
                f.first_line.get_or_insert(at.max(1));
            }
            if old_left > 0 || new_left > 0 || change {
                continue;
            }
        }
        if let (Some(path), Some(next)) = (l.strip_prefix("--- "), lines.peek()) {
            if next.starts_with("+++ ") {
                lines.next();
                let path = path.split('\t').next().unwrap_or(path);
                let path = path.strip_suffix(":before").unwrap_or(path);
                files.push(FileDiff { path: path.to_string(), first_line: None, hunks: 0 });
            }
        } else if let Some(range) = l.strip_prefix("@@ -") {
            let (start, old_count, new_count) = hunk_header(range).unwrap_or((0, 0, 0));
            (old_left, new_left) = (old_count, new_count);
            // A pure insertion (`-5,0`) starts after old line 5.
            old_line = if old_count == 0 { start + 1 } else { start };
            if let Some(f) = files.last_mut() {
                f.hunks += 1;
            }
        }
    }
    files
}

/// `A[,B] +C[,D] @@` → (A, B, D); a missing count means 1.
fn hunk_header(range: &str) -> Option<(u32, u32, u32)> {
    let (old, rest) = range.split_once(" +")?;
    let new = rest.split(' ').next()?;
    let count = |r: &str| -> Option<(u32, u32)> {
        match r.split_once(',') {
            Some((a, b)) => Some((a.parse().ok()?, b.parse().ok()?)),
            None => Some((r.parse().ok()?, 1)),
        }
    };
    let ((start, old_count), (_, new_count)) = (count(old)?, count(new)?);
    Some((start, old_count, new_count))
}

/// PEP 503 name normalization: lowercase, runs of `-`, `_`, `.` become one `-`.
fn canonical(name: &str) -> String {
    let mut out = String::new();
    for part in name.split(['-', '_', '.']).filter(|p| !p.is_empty()) {
        if !out.is_empty() {
            out.push('-');
        }
        out.push_str(&part.to_ascii_lowercase());
    }
    out
}

/// 1-based line of the requirement naming `package` (canonical), ignoring comments and options.
fn requirement_line(text: &str, package: &str) -> Option<u32> {
    text.lines()
        .position(|l| {
            let l = l.split('#').next().unwrap_or("").trim();
            let name: String = l.chars().take_while(|c| c.is_ascii_alphanumeric() || "-_.".contains(*c)).collect();
            !l.starts_with('-') && !name.is_empty() && canonical(&name) == package
        })
        .map(|i| i as u32 + 1)
}

/// Tools may print a line or two before their JSON; parse from the first `{`.
fn from_brace(s: &str) -> &str {
    s.find('{').map_or(s, |i| &s[i..])
}

/// Days since 1970-01-01 to a civil date (H. Hinnant's algorithm), no date crate needed.
pub fn utc_date(timestamp: i64) -> String {
    let z = timestamp.div_euclid(86_400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

#[cfg(test)]
#[path = "findings_tests.rs"]
mod tests;
