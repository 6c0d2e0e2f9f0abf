//! flake8: `PATH:ROW:COL: CODE TEXT` lines.

use super::location;
use super::{finding, Finding, Severity};

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
