//! Processes as `/proc` shows them: known by pid *and* start time (a
//! recycled pid is not ours; a zombie leader whose threads still run is
//! running), found by program and command line, stopped as a process group
//! (TERM, then KILL after a grace), named in pid files. Also: polling with a
//! deadline, a log's last lines, file locks, commands with a time limit. The
//! daemons themselves are started and kept by `keeper`.

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};
use xshell::Cmd;

const POLL: Duration = Duration::from_millis(250);

/// A process by pid and start time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proc {
    pub name: String,
    pub pid: u32,
    /// Clock ticks after boot (`/proc/PID/stat` field 22).
    pub start: u64,
}

/// `/proc/PID/stat`: the state letter and the start time. The command name
/// (in parentheses) may hold spaces and parentheses, so fields count from the last `)`.
pub fn parse_stat(text: &str) -> Option<(char, u64)> {
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Some((fields.first()?.chars().next()?, fields.get(19)?.parse().ok()?))
}

fn stat(pid: u32) -> Option<(char, u64)> {
    parse_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// The live process `pid`, named `name` (None when there is none; a zombie is none).
/// A zombie leader whose other threads still run counts as live: a Go daemon's
/// main thread exits first, and its sockets close only with the last thread.
pub fn proc_of(name: &str, pid: u32) -> Option<Proc> {
    match stat(pid)? {
        ('Z' | 'X', _) if !threads_alive(pid) => None,
        (_, start) => Some(Proc { name: name.to_string(), pid, start }),
    }
}

/// Does any thread of `pid` still run (is not a zombie)?
fn threads_alive(pid: u32) -> bool {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return false };
    tasks.flatten().any(|t| {
        std::fs::read_to_string(t.path().join("stat"))
            .ok()
            .and_then(|text| parse_stat(&text))
            .is_some_and(|(state, _)| !matches!(state, 'Z' | 'X'))
    })
}

/// Does `p` still run (same pid, same start, not a zombie)?
pub fn is_running(p: &Proc) -> bool {
    proc_of(&p.name, p.pid).is_some_and(|now| now.start == p.start)
}

/// The program `pid` runs (None when it is gone or this user may not see it).
pub fn exe(pid: u32) -> Option<PathBuf> {
    let link = std::fs::read_link(format!("/proc/{pid}/exe")).ok()?;
    let text = link.to_string_lossy();
    Some(PathBuf::from(text.strip_suffix(" (deleted)").unwrap_or(&text)))
}

/// A process's command line, its arguments split (empty when it is gone).
pub fn cmdline(pid: u32) -> Vec<String> {
    let bytes = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    bytes.split(|c| *c == 0).filter(|a| !a.is_empty()).map(|a| String::from_utf8_lossy(a).into_owned()).collect()
}

/// Every live process but this one whose program and command line `matches`.
pub fn find(matches: &dyn Fn(&Path, &[String]) -> bool) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    let me = std::process::id();
    let mut pids: Vec<u32> = entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .filter(|pid| *pid != me && exe(*pid).is_some_and(|e| matches(&e, &cmdline(*pid))))
        .filter(|pid| proc_of("", *pid).is_some())
        .collect();
    pids.sort_unstable();
    pids
}

fn signal(pid: u32, sig: i32) {
    // SAFETY: kill(2) with a negative pid signals a process group; no memory is involved.
    unsafe {
        if libc::kill(-(pid as i32), sig) != 0 {
            libc::kill(pid as i32, sig);
        }
    }
}

/// Stop `p` and its process group: TERM, then KILL after `grace`.
pub fn stop(p: &Proc, grace: Duration) -> Result<()> {
    if !is_running(p) {
        return Ok(());
    }
    signal(p.pid, libc::SIGTERM);
    if poll_until(Instant::now() + grace, || !is_running(p)) {
        return Ok(());
    }
    signal(p.pid, libc::SIGKILL);
    if poll_until(Instant::now() + Duration::from_secs(5), || !is_running(p)) {
        return Ok(());
    }
    bail!("could not stop {} (pid {}): stop it by hand (kill -9 {})", p.name, p.pid, p.pid)
}

/// Poll `done` every 250 ms until it holds (true) or `deadline` passes (false).
pub fn poll_until(deadline: Instant, mut done: impl FnMut() -> bool) -> bool {
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(POLL);
    }
}

/// The last `n` lines of a file, indented.
pub fn tail(file: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(file).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].iter().map(|l| format!("  {l}")).collect::<Vec<_>>().join("\n")
}

/// A command's output, or None when it ran longer than `limit` (it is killed).
pub fn output_within(cmd: Cmd, limit: Duration) -> Result<Option<Output>> {
    let mut command: Command = cmd.into();
    let mut child = command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()?;
    let deadline = Instant::now() + limit;
    let done = poll_until(deadline, || matches!(child.try_wait(), Ok(Some(_)) | Err(_)));
    if !done {
        let _ = child.kill();
        let _ = child.wait();
        return Ok(None);
    }
    Ok(Some(child.wait_with_output()?))
}

/// An exclusive lock on a file, held until dropped (the kernel drops it if we die).
pub struct Lock(#[allow(dead_code)] File);

/// Take the lock at `path`, waiting up to `wait` for whoever holds it.
pub fn lock(path: &Path, wait: Duration, what: &str) -> Result<Lock> {
    lock_saying(path, wait, what, &|line| println!("{line}"))
}

/// [`lock`], saying that it waits through `say` (a command whose stdout is
/// data, such as `status --json`, says it on stderr).
pub fn lock_saying(path: &Path, wait: Duration, what: &str, say: &dyn Fn(&str)) -> Result<Lock> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let f = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    use std::os::fd::AsRawFd;
    // SAFETY: flock(2) on a descriptor this function owns.
    let try_lock = || unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) == 0 };
    if try_lock() {
        return Ok(Lock(f));
    }
    say(&format!("waiting for another run that holds {} ({what})", path.display()));
    if poll_until(Instant::now() + wait, try_lock) {
        return Ok(Lock(f));
    }
    bail!("another run has held {} for {}s ({what}): wait for it to end, or stop it", path.display(), wait.as_secs())
}

/// A pid file: `PID START`, written when the xtask started the process.
pub fn read_pid_file(path: &Path, name: &str) -> Option<Proc> {
    let text = std::fs::read_to_string(path).ok()?;
    let mut words = text.split_whitespace();
    let pid: u32 = words.next()?.parse().ok()?;
    match words.next().and_then(|s| s.parse().ok()) {
        Some(start) => Some(Proc { name: name.into(), pid, start }).filter(is_running),
        // Written by the shell scripts before the xtask: a pid alone.
        None => proc_of(name, pid),
    }
}

pub fn write_pid_file(path: &Path, p: &Proc) -> Result<()> {
    crate::fsutil::write_atomic(path, format!("{} {}\n", p.pid, p.start).as_bytes())
}

#[cfg(test)]
#[path = "process_tests.rs"]
mod tests;
