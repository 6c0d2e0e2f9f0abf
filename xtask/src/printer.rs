//! Where human output goes: stdout, or stderr when stdout carries JSON; on
//! GitHub Actions each task's output is folded into a group.

use std::io::Write;
use std::sync::Mutex;

/// Where human output goes: stdout, or stderr when stdout carries JSON.
/// On GitHub Actions each task's output is folded into a group.
pub struct Printer {
    pub github: bool,
    pub to_stderr: bool,
    lock: Mutex<()>,
}

impl Printer {
    pub fn new(github: bool, to_stderr: bool) -> Printer {
        Printer { github, to_stderr, lock: Mutex::new(()) }
    }

    pub fn line(&self, text: &str) {
        let _g = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        self.write(&format!("{text}\n"));
    }

    pub fn block(&self, title: &str, body: &str) {
        let _g = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let body = if body.is_empty() || body.ends_with('\n') { body.to_string() } else { format!("{body}\n") };
        if self.github {
            self.write(&format!("::group::{title}\n{body}::endgroup::\n"));
        } else {
            self.write(&format!("──── {title} ────\n{body}"));
        }
    }

    fn write(&self, text: &str) {
        // The live progress line is cleared while a line is written.
        crate::progress::quiet(|| self.write_now(text))
    }

    fn write_now(&self, text: &str) {
        if self.to_stderr {
            let _ = std::io::stderr().write_all(text.as_bytes());
        } else {
            let mut o = std::io::stdout().lock();
            let _ = o.write_all(text.as_bytes());
            let _ = o.flush();
        }
    }
}
