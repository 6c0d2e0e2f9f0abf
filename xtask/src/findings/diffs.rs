//! black and isort: both print unified diffs (and their own error lines).

use super::{finding, Finding, Severity};

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
