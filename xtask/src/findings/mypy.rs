//! mypy: `PATH:LINE:COL: error: MESSAGE  [code]`, with the notes that follow an error.

use super::location;
use super::{finding, Finding, Severity};

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
