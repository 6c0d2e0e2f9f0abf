//! The one keeper of the daemons the services start as host processes: the
//! control plane's five, the node's containerd, CoreDNS, kubelet and
//! kube-proxy, the volume provisioner, the registry and dockerd. A [`Spec`]
//! says what should run (program, flags, the files whose content counts,
//! where its pid file, identity and log live, how a leftover of ours is
//! known, its ports); [`Spec::ensure`] makes it so, by the pure [`decide`]:
//! a live process of ours with the same identity is kept, a changed or
//! unhealthy one restarted, a dead one (a stale pid file after `kill -9`)
//! started again.
//!
//! Starting stops ours first (TERM to its process group, KILL after a
//! grace), kills leftovers of ours that no pid file names, frees its ports
//! from our leftovers (a stranger is named, never killed), and runs it in a
//! session of its own (it outlives the xtask; Ctrl-C in a terminal does not
//! reach it), with no descriptor of ours and its output appended to its log.
//! One that dies at once is an error with its log's last lines. A process is
//! known by pid *and* start time (a recycled pid is not ours); a zombie
//! leader whose threads still run counts as running (`process::proc_of`).
//!
//! Not decided by [`Spec::look`], though started through [`Spec::start`]:
//! the Docker engine (we may find one running that someone else started:
//! `docker info` decides) and the registry (a probe with its credentials
//! decides). BuildKit is a container, not a host process: Docker starts it,
//! and `buildx::builder::ensure` decides by [`decide`] (its container, its
//! image, buildx reaching it). The collector runs as no daemon at all: the
//! service builds it, each telemetry test starts its own.

use crate::error::UsageError;
use crate::services::process::{self, Proc};
use crate::services::{net, short_sum};
use anyhow::{Context, Result};
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use xshell::{cmd, Shell};

/// How long a new process must live to count as started.
const SETTLE: Duration = Duration::from_millis(300);

/// Where a daemon's pid file (`PID START`), identity and log live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Files {
    pub pid: PathBuf,
    pub id: PathBuf,
    pub log: PathBuf,
}

impl Files {
    /// `<run>/<name>.pid`, `<run>/<name>.id` and `<logs>/<name>.log`.
    pub fn under(run: &Path, logs: &Path, name: &str) -> Files {
        Files {
            pid: run.join(format!("{name}.pid")),
            id: run.join(format!("{name}.id")),
            log: logs.join(format!("{name}.log")),
        }
    }
}

/// How a process of ours is known when no pid file names it (a lost pid
/// file, an interrupted start): its program has our program's file name, and …
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mark {
    /// … lives under this folder (a build cache only we fill).
    Under(PathBuf),
    /// … has this argument (our own configuration file).
    Arg(String),
    /// Only its pid file knows it.
    PidFile,
}

/// One daemon as it should run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    pub name: &'static str,
    pub program: PathBuf,
    pub args: Vec<String>,
    /// Files whose content is part of the identity: a changed file restarts the process.
    pub inputs: Vec<PathBuf>,
    pub files: Files,
    pub mark: Mark,
    /// Ports it listens on: held by a leftover of ours, freed; by anything else, an error naming it.
    pub ports: Vec<u16>,
    /// How long it has to stop after TERM before KILL.
    pub grace: Duration,
}

/// What was found of a daemon: a live process of ours, with the wanted
/// program and identity, answering as it should.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Found {
    pub ours: bool,
    pub same: bool,
    pub healthy: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Keep,
    Start,
    Restart(Why),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    Changed,
    Unhealthy,
}

/// What to do with a daemon (pure).
pub fn decide(found: Found) -> Decision {
    match found {
        Found { ours: false, .. } => Decision::Start,
        Found { same: false, .. } => Decision::Restart(Why::Changed),
        Found { healthy: false, .. } => Decision::Restart(Why::Unhealthy),
        Found { .. } => Decision::Keep,
    }
}

/// What `look` found and what it decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Look {
    pub ours: Option<Proc>,
    pub decision: Decision,
}

/// The process `ensure` leaves running, and whether it started it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kept {
    pub proc: Proc,
    pub started: bool,
}

impl Spec {
    /// No inputs, known by its pid file alone, no ports, 10 s to stop.
    pub fn new(name: &'static str, program: PathBuf, args: Vec<String>, files: Files) -> Spec {
        Spec {
            name,
            program,
            args,
            inputs: Vec::new(),
            files,
            mark: Mark::PidFile,
            ports: Vec::new(),
            grace: Duration::from_secs(10),
        }
    }

    /// 16 hex digits of sha256 over the program, each flag and each input's
    /// path and content sum, a line each (the control plane's shell script's
    /// identity, so its running processes stay ours).
    pub fn identity(&self) -> String {
        let mut text = format!("{}\n", self.program.display());
        for a in &self.args {
            text += &format!("{a}\n");
        }
        for f in &self.inputs {
            text += &format!("{}={}\n", f.display(), short_sum(&std::fs::read(f).unwrap_or_default()));
        }
        short_sum(text.as_bytes())
    }

    /// Our process, as its pid file names it: alive (pid and start time) and
    /// running a program of our program's file name, whatever its flags.
    pub fn ours(&self) -> Option<Proc> {
        process::read_pid_file(&self.files.pid, self.name)
            .filter(|p| process::exe(p.pid).is_some_and(|e| e.file_name() == self.program.file_name()))
    }

    fn same(&self, p: &Proc) -> bool {
        let id = std::fs::read_to_string(&self.files.id).unwrap_or_default();
        process::exe(p.pid).as_deref() == Some(self.program.as_path()) && id.trim() == self.identity()
    }

    /// Our process, running this program with this identity.
    pub fn running(&self) -> Option<Proc> {
        self.ours().filter(|p| self.same(p))
    }

    /// What runs, and what to do about it (`healthy`: whether it answers, as its caller probed).
    pub fn look(&self, healthy: bool) -> Look {
        let ours = self.ours();
        let same = ours.as_ref().is_some_and(|p| self.same(p));
        Look { decision: decide(Found { ours: ours.is_some(), same, healthy }), ours }
    }

    /// Keep it, restart it or start it, as `look` decided.
    pub fn act(&self, look: Look, say: &dyn Fn(&str)) -> Result<Kept> {
        let why = match (look.decision, look.ours) {
            (Decision::Keep, Some(p)) => {
                say(&format!("{} already running (pid {})", self.name, p.pid));
                return Ok(Kept { proc: p, started: false });
            }
            (Decision::Restart(Why::Changed), _) => "its program, flags or configuration changed",
            (Decision::Restart(Why::Unhealthy), _) => "it runs but does not answer",
            _ => "",
        };
        let proc = self.launch(why, say)?;
        Ok(Kept { proc, started: true })
    }

    /// `act` on what `look` finds.
    pub fn ensure(&self, healthy: bool, say: &dyn Fn(&str)) -> Result<Kept> {
        self.act(self.look(healthy), say)
    }

    /// Start it afresh (ours stopped first, whatever it runs).
    pub fn start(&self, say: &dyn Fn(&str)) -> Result<Proc> {
        self.launch("", say)
    }

    fn launch(&self, why: &str, say: &dyn Fn(&str)) -> Result<Proc> {
        self.halt(why, say)?;
        self.free_ports(say)?;
        let f = &self.files;
        for file in [&f.pid, &f.id, &f.log] {
            if let Some(dir) = file.parent() {
                std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
            }
        }
        let mut log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&f.log)
            .with_context(|| format!("cannot open {}", f.log.display()))?;
        writeln!(log, "=== {} xtask starts {}", crate::clock::rfc3339(crate::clock::now() as i64), self.name)?;
        let sh = Shell::new()?;
        let (program, args) = (&self.program, &self.args);
        let mut command: Command = cmd!(sh, "{program} {args...}").into();
        command.stdin(Stdio::null()).stdout(log.try_clone()?).stderr(log).current_dir("/");
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            command.pre_exec(|| {
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
        let child = command.spawn().with_context(|| format!("cannot start {}", program.display()))?;
        // Not waited for: it outlives us. If it dies first it stays a zombie, which counts as gone.
        let pid = child.id();
        let Some(p) = process::proc_of(self.name, pid) else {
            return Err(self.failure("exited right after it started"));
        };
        process::write_pid_file(&f.pid, &p)?;
        crate::fsutil::write_atomic(&f.id, format!("{}\n", self.identity()).as_bytes())?;
        say(&format!("starting {} (pid {pid}; log: {})", self.name, f.log.display()));
        // One that dies at once (a bad flag, a busy socket) is reported here, with its log.
        if process::poll_until(Instant::now() + SETTLE, || !process::is_running(&p)) {
            self.forget();
            return Err(self.failure("exited right after it started"));
        }
        Ok(p)
    }

    /// Stop ours and every leftover of ours, and forget the pid file and
    /// identity; how many processes were stopped.
    pub fn stop(&self, say: &dyn Fn(&str)) -> Result<usize> {
        self.halt("", say)
    }

    /// `stop`, saying why when it is a restart.
    fn halt(&self, why: &str, say: &dyn Fn(&str)) -> Result<usize> {
        let mut stopped = 0;
        if let Some(p) = self.ours() {
            let doing = if why.is_empty() { "stopping" } else { "restarting" };
            let why = if why.is_empty() { String::new() } else { format!(": {why}") };
            say(&format!("{doing} {} (pid {}){why}", self.name, p.pid));
            process::stop(&p, self.grace)?;
            stopped += 1;
        }
        self.forget();
        for p in self.leftovers() {
            say(&format!("killing a leftover {} (pid {}, no pid file)", self.name, p.pid));
            let _ = process::stop(&p, Duration::from_secs(5));
            stopped += 1;
        }
        Ok(stopped)
    }

    /// Drop the pid file and identity (the process is gone).
    pub fn forget(&self) {
        let _ = std::fs::remove_file(&self.files.pid);
        let _ = std::fs::remove_file(&self.files.id);
    }

    /// Whether a program (and its command line) is one of ours by [`Mark`].
    fn marks(&self, exe: &Path, args: &[String]) -> bool {
        exe.file_name() == self.program.file_name()
            && match &self.mark {
                Mark::Under(dir) => exe.starts_with(dir),
                Mark::Arg(a) => args.contains(a),
                Mark::PidFile => false,
            }
    }

    /// Processes of ours that no pid file names.
    fn leftovers(&self) -> Vec<Proc> {
        let named = self.ours().map(|p| p.pid);
        process::find(&|exe, args| self.marks(exe, args))
            .into_iter()
            .filter(|pid| Some(*pid) != named)
            .filter_map(|pid| process::proc_of(self.name, pid))
            .collect()
    }

    /// Its ports are free: a leftover of ours holding one is killed, anything else is named.
    fn free_ports(&self, say: &dyn Fn(&str)) -> Result<()> {
        for &port in &self.ports {
            let mut stranger = None;
            let free = process::poll_until(Instant::now() + Duration::from_secs(10), || {
                let Some(h) = net::holder(port) else { return true };
                let ours = h.pid.zip(h.exe.as_deref()).filter(|(pid, exe)| self.marks(exe, &process::cmdline(*pid)));
                match ours.and_then(|(pid, _)| process::proc_of(self.name, pid)) {
                    Some(p) => {
                        say(&format!("killing a leftover {} holding port {port}", h.describe()));
                        let _ = process::stop(&p, Duration::ZERO);
                        false
                    }
                    None => {
                        stranger = Some(h);
                        true
                    }
                }
            });
            if let Some(h) = stranger.or_else(|| (!free).then(|| net::holder(port)).flatten()) {
                return Err(UsageError::new(format!(
                    "port {port} (needed by {}) is held by {}: stop it, then run `cargo xtask services up` again",
                    self.name,
                    h.describe()
                )));
            }
        }
        Ok(())
    }

    /// Poll `ready` until it holds; fail early when our process dies, or at
    /// the deadline: one line naming its log, then the log's last lines.
    pub fn wait_for(&self, what: &str, deadline: Instant, mut ready: impl FnMut() -> bool) -> Result<()> {
        let mut died = false;
        let done = process::poll_until(deadline, || {
            ready() || {
                died = self.ours().is_none();
                died
            }
        });
        if done && !died {
            return Ok(());
        }
        if died {
            self.forget();
            return Err(self.failure(&format!("exited while waiting for {what}")));
        }
        Err(self.failure(&format!("did not get ready in time: no {what}")))
    }

    /// The error when it died or did not get ready: one line naming its log, then its last lines.
    fn failure(&self, what: &str) -> anyhow::Error {
        let log = &self.files.log;
        let tail = process::tail(log, 15);
        let tail = if tail.is_empty() { tail } else { format!("\n{tail}") };
        anyhow::anyhow!("{} {what}; its log is {} (last lines below){tail}", self.name, log.display())
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

#[cfg(test)]
#[path = "keeper_tests.rs"]
mod tests;
