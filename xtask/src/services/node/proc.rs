//! The node's long-running processes (containerd, CoreDNS, the kubelet,
//! kube-proxy), kept the way the `kube` service keeps the control plane's: a pid
//! file and an identity (program, arguments, the content of its configuration
//! files) per process in the state's `run/`, its output appended to
//! `logs/<name>.log`, its own session so it outlives the xtask and can be
//! stopped as a group. A live process with the same identity is kept; a dead
//! one (stale pid file after `kill -9`) is started again; a changed one is
//! restarted. Also what every step of the services shares: the context
//! (`Ctx`: a shell and where to say things) and `put` for their files.

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use xshell::Shell;

/// What every service step gets: a shell, and where to say what it does.
pub struct Ctx {
    pub sh: Shell,
    pub tag: &'static str,
}

impl Ctx {
    pub fn new(tag: &'static str) -> Result<Ctx> {
        Ok(Ctx { sh: Shell::new()?, tag })
    }
    pub fn say(&self, msg: &str) {
        println!("[{}] {msg}", self.tag);
    }
}

/// Write a file (0600, atomically) only when its content changes, so an
/// unchanged configuration keeps its process running.
pub fn put(path: &Path, content: &str) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if std::fs::read_to_string(path).is_ok_and(|old| old == content) {
        return Ok(());
    }
    crate::fsutil::write_atomic(path, content.as_bytes())?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("cannot make {} private", path.display()))
}

/// Where pid files and logs live (the state's `run/` and `logs/`).
#[derive(Debug, Clone)]
pub struct Dirs {
    pub run: PathBuf,
    pub logs: PathBuf,
}

impl Dirs {
    pub fn log(&self, name: &str) -> PathBuf {
        self.logs.join(format!("{name}.log"))
    }
    fn pid_file(&self, name: &str) -> PathBuf {
        self.run.join(format!("{name}.pid"))
    }
    fn id_file(&self, name: &str) -> PathBuf {
        self.run.join(format!("{name}.id"))
    }
}

/// One process as it should run.
#[derive(Debug, Clone)]
pub struct Proc {
    pub name: &'static str,
    pub program: PathBuf,
    pub args: Vec<String>,
    /// Files whose content is part of the identity: a changed file restarts the process.
    pub inputs: Vec<PathBuf>,
}

impl Proc {
    /// A short hash of the program, its arguments and its inputs' content.
    pub fn identity(&self) -> String {
        let mut h = Sha256::new();
        h.update(self.program.as_os_str().as_encoded_bytes());
        for a in &self.args {
            h.update(b"\0");
            h.update(a.as_bytes());
        }
        for f in &self.inputs {
            h.update(b"\0file\0");
            h.update(std::fs::read(f).unwrap_or_default());
        }
        h.finalize().iter().take(8).map(|b| format!("{b:02x}")).collect()
    }

    /// The pid of our process for this name when it is alive and runs the wanted program and identity.
    pub fn running(&self, dirs: &Dirs) -> Option<u32> {
        let pid = pid_of(dirs, self.name)?;
        if exe_of(pid).as_deref() != Some(self.program.as_path()) {
            return None;
        }
        let id = std::fs::read_to_string(dirs.id_file(self.name)).unwrap_or_default();
        (id.trim() == self.identity()).then_some(pid)
    }

    /// Start it (stopping an older one of ours first): its own session, output
    /// appended to its log, no descriptor of ours inherited.
    pub fn start(&self, dirs: &Dirs) -> Result<u32> {
        stop(dirs, self.name)?;
        std::fs::create_dir_all(&dirs.logs).with_context(|| format!("cannot create {}", dirs.logs.display()))?;
        std::fs::create_dir_all(&dirs.run).with_context(|| format!("cannot create {}", dirs.run.display()))?;
        let log_path = dirs.log(self.name);
        let mut log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .with_context(|| format!("cannot open {}", log_path.display()))?;
        writeln!(log, "=== {} xtask starts {}", crate::clock::rfc3339(crate::clock::now() as i64), self.name)?;
        let err = log.try_clone()?;
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.args).stdin(Stdio::null()).stdout(log).stderr(err).current_dir("/");
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // A caller's umask (077 for secrets) would make containerd's snapshot
                // folders 0700 and every non-root container unable to read its own /.
                libc::umask(0o022);
                // Inherited descriptors (a caller's lock, its pipes) must not live on in
                // a daemon: close-on-exec for everything above stderr.
                const CLOSE_RANGE_CLOEXEC: libc::c_uint = 4;
                if libc::syscall(libc::SYS_close_range, 3 as libc::c_uint, libc::c_uint::MAX, CLOSE_RANGE_CLOEXEC) != 0
                {
                    for fd in 3..1024 {
                        libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
                    }
                }
                Ok(())
            });
        }
        let child = cmd.spawn().with_context(|| format!("cannot start {}", self.program.display()))?;
        let pid = child.id();
        // Not waited for: it outlives us (a zombie only until we exit; `alive` sees through that).
        std::mem::forget(child);
        crate::fsutil::write_atomic(&dirs.pid_file(self.name), format!("{pid}\n").as_bytes())?;
        crate::fsutil::write_atomic(&dirs.id_file(self.name), format!("{}\n", self.identity()).as_bytes())?;
        Ok(pid)
    }
}

/// The pid in NAME's pid file, when that process is alive.
pub fn pid_of(dirs: &Dirs, name: &str) -> Option<u32> {
    let pid: u32 = std::fs::read_to_string(dirs.pid_file(name)).ok()?.trim().parse().ok()?;
    alive(pid).then_some(pid)
}

/// Alive and not a zombie.
pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // "pid (comm) S ...": the state follows the last ')'
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.trim_start().chars().next())
            .is_some_and(|s| s != 'Z' && s != 'X'),
        Err(_) => false,
    }
}

/// The executable a process runs (without the " (deleted)" of a replaced file).
pub fn exe_of(pid: u32) -> Option<PathBuf> {
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).ok()?;
    let s = exe.to_string_lossy();
    Some(PathBuf::from(s.strip_suffix(" (deleted)").unwrap_or(&s)))
}

/// A process's command line, its arguments split.
pub fn cmdline_of(pid: u32) -> Vec<String> {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| {
            b.split(|c| *c == 0).filter(|a| !a.is_empty()).map(|a| String::from_utf8_lossy(a).into_owned()).collect()
        })
        .unwrap_or_default()
}

/// Every live process whose executable and command line satisfy `matches`.
pub fn find(matches: impl Fn(&Path, &[String]) -> bool) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    let me = std::process::id();
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| pid != me && alive(pid))
        .filter(|&pid| exe_of(pid).is_some_and(|exe| matches(&exe, &cmdline_of(pid))))
        .collect()
}

/// TERM the process group, wait up to `grace`, then KILL it. True when it had been running.
pub fn kill_group(pid: u32, grace: Duration) -> bool {
    if !alive(pid) {
        return false;
    }
    let signal = |sig| unsafe {
        // SAFETY: plain kill(2); a group first, the process itself when it leads none.
        if libc::kill(-(pid as libc::pid_t), sig) != 0 {
            libc::kill(pid as libc::pid_t, sig);
        }
    };
    signal(libc::SIGTERM);
    let end = Instant::now() + grace;
    while alive(pid) && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(100));
    }
    signal(libc::SIGKILL);
    let end = Instant::now() + Duration::from_secs(5);
    while alive(pid) && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(50));
    }
    true
}

/// Stop our process for NAME (when its pid file names a live one) and forget it.
pub fn stop(dirs: &Dirs, name: &str) -> Result<bool> {
    let stopped = match pid_of(dirs, name) {
        Some(pid) => {
            let stopped = kill_group(pid, Duration::from_secs(10));
            if alive(pid) {
                bail!("could not stop {name} (pid {pid}): it survived SIGKILL; see `ps -o pid,stat,wchan -p {pid}`");
            }
            stopped
        }
        None => false,
    };
    forget(dirs, name);
    Ok(stopped)
}

/// Drop NAME's pid and identity files (its process is gone).
pub fn forget(dirs: &Dirs, name: &str) {
    let _ = std::fs::remove_file(dirs.pid_file(name));
    let _ = std::fs::remove_file(dirs.id_file(name));
}

/// The last `n` lines of a file, each indented, for an error message.
pub fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].iter().map(|l| format!("\n  {l}")).collect()
}

/// The error when NAME died or did not get ready: one line naming its log, then its last lines.
pub fn failure(dirs: &Dirs, name: &str, what: &str) -> anyhow::Error {
    let log = dirs.log(name);
    anyhow::anyhow!("{name} {what}; its log is {} (last lines below){}", log.display(), tail(&log, 15))
}

/// Poll `ready` until it holds; fail early when NAME's process dies, or at the deadline.
pub fn wait_for(dirs: &Dirs, name: &str, what: &str, deadline: Instant, mut ready: impl FnMut() -> bool) -> Result<()> {
    loop {
        if ready() {
            return Ok(());
        }
        if pid_of(dirs, name).is_none() {
            forget(dirs, name);
            return Err(failure(dirs, name, &format!("exited while waiting for {what}")));
        }
        if Instant::now() >= deadline {
            return Err(failure(dirs, name, &format!("did not get ready in time: no {what}")));
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// GET http://ADDR/PATH on loopback and whether it answered 200 (health endpoints).
pub fn http_ok(addr: &str, path: &str) -> bool {
    use std::io::Read;
    let Ok(addr) = addr.parse::<std::net::SocketAddr>() else { return false };
    let Ok(mut s) = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)) else { return false };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    // one write: a request in pieces may be answered (and the connection reset) before its end
    if s.write_all(format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    s.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.") && &head[9..12] == b"200"
}

#[cfg(test)]
#[path = "proc_tests.rs"]
mod tests;

/// The long-lived token of WHO's ServiceAccount in kube-system (its Secret
/// `<who>-token`, filled by the token controller), waiting for it until
/// `deadline`; `hint` says where to look when it never comes.
pub fn token_of(sh: &Shell, kubectl: &Path, admin: &Path, who: &str, deadline: Instant, hint: &str) -> Result<String> {
    use base64::Engine;
    let secret = format!("{who}-token");
    let path = "jsonpath={.data.token}";
    loop {
        let b64 = xshell::cmd!(
            sh,
            "{kubectl} --kubeconfig {admin} --request-timeout=10s -n kube-system get secret {secret} -o {path}"
        )
        .quiet()
        .ignore_stderr()
        .read()
        .unwrap_or_default();
        let token = base64::engine::general_purpose::STANDARD.decode(b64.trim()).unwrap_or_default();
        if !token.is_empty() {
            return String::from_utf8(token).context("a ServiceAccount token is not text");
        }
        if Instant::now() >= deadline {
            bail!("no token in Secret kube-system/{secret}: is kube-controller-manager running? ({hint})");
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}
