//! A live line on a terminal while tasks run: which are running and for how
//! long, and the time since the run started. Hand-written (a dozen lines of
//! escape codes do not need a crate). Only when stderr is a terminal, not on
//! CI (`CI`, `GITHUB_ACTIONS`) and not with `TERM=dumb`: there the executor's
//! plain `started`/`passed` lines are all there is.

use std::io::{IsTerminal, Write};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Mutex;
use std::time::{Duration, Instant};

struct State {
    start: Instant,
    running: Vec<(String, Instant)>,
    shown: bool,
}

static STATE: Mutex<Option<State>> = Mutex::new(None);

pub fn enabled() -> bool {
    let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
    std::io::stderr().is_terminal()
        && var("CI").is_none()
        && var("GITHUB_ACTIONS").is_none()
        && var("TERM").is_none_or(|t| t != "dumb")
}

/// The line: elapsed time, then the running tasks (longest-running first), cut to `width`.
pub fn line(elapsed: Duration, running: &[(&str, Duration)], width: usize) -> String {
    let mut tasks: Vec<&(&str, Duration)> = running.iter().collect();
    tasks.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let list: Vec<String> = tasks.iter().map(|(id, d)| format!("{id} {}s", d.as_secs())).collect();
    let text = format!("[{}] running {}: {}", clock(elapsed), running.len(), list.join(", "));
    if text.chars().count() <= width {
        return text;
    }
    let cut: String = text.chars().take(width.saturating_sub(1)).collect();
    format!("{cut}…")
}

fn clock(d: Duration) -> String {
    let s = d.as_secs();
    format!("{:02}:{:02}", s / 60, s % 60)
}

/// Shows the line until dropped; does nothing when the terminal has no use for it.
pub struct Live {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Live {
    pub fn start() -> Live {
        if !enabled() {
            return Live { stop: None, thread: None };
        }
        *lock() = Some(State { start: Instant::now(), running: Vec::new(), shown: false });
        let (tx, rx) = mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            while let Err(RecvTimeoutError::Timeout) = rx.recv_timeout(Duration::from_millis(250)) {
                draw();
            }
        });
        Live { stop: Some(tx), thread: Some(thread) }
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
            let mut state = lock();
            erase(&mut state);
            *state = None;
        }
    }
}

fn lock() -> std::sync::MutexGuard<'static, Option<State>> {
    STATE.lock().unwrap_or_else(|p| p.into_inner())
}

pub fn started(id: &str) {
    if let Some(s) = lock().as_mut() {
        s.running.push((id.to_string(), Instant::now()));
    }
}

pub fn finished(id: &str) {
    if let Some(s) = lock().as_mut() {
        s.running.retain(|(r, _)| r != id);
    }
}

/// Run `print` with the line out of the way (it comes back at the next tick).
pub fn quiet<T>(print: impl FnOnce() -> T) -> T {
    let mut state = lock();
    erase(&mut state);
    print()
}

fn erase(state: &mut Option<State>) {
    if let Some(s) = state.as_mut().filter(|s| s.shown) {
        let _ = std::io::stderr().write_all(b"\r\x1b[2K");
        s.shown = false;
    }
}

fn draw() {
    let mut state = lock();
    let Some(s) = state.as_mut() else { return };
    if s.running.is_empty() {
        erase(&mut state);
        return;
    }
    let now = Instant::now();
    let running: Vec<(&str, Duration)> = s.running.iter().map(|(id, t)| (id.as_str(), now - *t)).collect();
    let text = line(now - s.start, &running, width());
    let _ = std::io::stderr().write_all(format!("\r\x1b[2K{text}").as_bytes());
    s.shown = true;
}

/// The terminal's width (stderr), 80 when it cannot be asked.
fn width() -> usize {
    // SAFETY: TIOCGWINSZ fills a winsize struct we own; it has no other effect.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    let ok = unsafe { libc::ioctl(libc::STDERR_FILENO, libc::TIOCGWINSZ, &mut ws) } == 0;
    if ok && ws.ws_col > 0 {
        ws.ws_col as usize
    } else {
        80
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_lists_running_tasks_longest_first_and_fits_the_width() {
        let s = Duration::from_secs;
        let running = [("test:cdc", s(3)), ("test:spark", s(65)), ("test:storage", s(3))];
        assert_eq!(line(s(66), &running, 200), "[01:06] running 3: test:spark 65s, test:cdc 3s, test:storage 3s");
        assert_eq!(line(s(66), &running, 24), "[01:06] running 3: test…");
    }
}
