//! Processes of a performance run: each in its own process group with its
//! output in a log, bounded by a deadline, ended (the whole group) when done,
//! on a timeout, on Ctrl-C, or when dropped. A service is such a process that
//! must accept connections on its loopback port before a deadline.

use crate::exec::{interrupted, Interrupted};
use anyhow::{bail, Context, Result};
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// A port no one listens on now (the service binds it right after).
pub fn free_port() -> Result<u16> {
    let l = TcpListener::bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0)).context("cannot bind a loopback port")?;
    Ok(l.local_addr()?.port())
}

/// The last `n` lines of a log, for an error message.
pub fn tail(log: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let start = lines.len().saturating_sub(n);
    lines[start..].iter().map(|l| format!("  | {l}")).collect::<Vec<_>>().join("\n")
}

/// A running child in its own process group.
pub struct Process {
    child: Child,
    pub log: PathBuf,
}

impl Process {
    /// Start `cmd` with stdout into `stdout` and stderr into `log`.
    pub fn start(mut cmd: Command, stdout: &Path, log: &Path) -> Result<Process> {
        for f in [stdout, log] {
            if let Some(dir) = f.parent() {
                std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
            }
        }
        let out = std::fs::File::create(stdout).with_context(|| format!("cannot create {}", stdout.display()))?;
        let err = if stdout == log {
            out.try_clone()?
        } else {
            std::fs::File::create(log).with_context(|| format!("cannot create {}", log.display()))?
        };
        cmd.stdin(Stdio::null()).stdout(out).stderr(err).process_group(0);
        for var in crate::plan::SECRET_VARS {
            cmd.env_remove(var);
        }
        let program = cmd.get_program().to_string_lossy().into_owned();
        let child = cmd.spawn().with_context(|| format!("cannot start {program}"))?;
        Ok(Process { child, log: log.to_path_buf() })
    }

    fn signal(&self, signal: i32) {
        // SAFETY: kill(2) on our child's process group; no memory effects.
        unsafe {
            libc::kill(-(self.child.id() as i32), signal);
        }
    }

    /// Wait for the process to end by `deadline`: its status, or None when it
    /// is still running then (it is then ended).
    pub fn wait(&mut self, deadline: Instant) -> Result<Option<ExitStatus>> {
        loop {
            if let Some(status) = self.child.try_wait()? {
                self.signal(libc::SIGKILL); // whatever it left behind in its group
                return Ok(Some(status));
            }
            if interrupted() {
                self.stop();
                return Err(Interrupted.into());
            }
            if Instant::now() >= deadline {
                self.stop();
                return Ok(None);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Wait until something accepts connections on `port`, the process having
    /// exited or the deadline passed being an error naming `who` and the log's end.
    pub fn wait_ready(&mut self, port: u16, deadline: Instant, who: &str) -> Result<()> {
        let addr = SocketAddrV4::new(Ipv4Addr::LOCALHOST, port).into();
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "{who} did not start ({status}); the last lines of {}:\n{}",
                    self.log.display(),
                    tail(&self.log, 12)
                );
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            if interrupted() {
                return Err(Interrupted.into());
            }
            if Instant::now() >= deadline {
                self.stop();
                bail!(
                    "{who} did not listen on 127.0.0.1:{port} in time; the last lines of {}:\n{}",
                    self.log.display(),
                    tail(&self.log, 12)
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// How it ended, if it has.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// SIGTERM to the group, then SIGKILL after a grace period.
    pub fn stop(&mut self) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            self.signal(libc::SIGKILL);
            return;
        }
        self.signal(libc::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(5);
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        self.signal(libc::SIGKILL);
        let _ = self.child.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.stop();
    }
}
