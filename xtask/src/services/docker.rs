//! The Docker engine: installed from Debian when missing, started when it
//! does not answer (`dockerd` in its own session, a few attempts: a hard
//! kill can leave state that makes the next start exit at once), checked by
//! `docker info`. `down` stops only an engine the xtask started. Not a
//! daemon the keeper decides about: an engine someone else started counts
//! as up (`docker info` answers); the keeper only starts and stops ours.

use crate::error::UsageError;
use crate::services::keeper::{self, Spec};
use crate::services::process::{self, Proc};
use crate::services::state::Record;
use crate::services::{packages, Ctx, Service};
use anyhow::Result;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use xshell::cmd;

pub struct Docker;

const NAME: &str = "docker";
const ATTEMPTS: u32 = 3;

/// Why `docker info` failed, as one line naming the fix (None: not running).
pub fn refused(stderr: &str, root: bool) -> Option<String> {
    let denied = stderr.to_ascii_lowercase().contains("permission denied");
    (denied && !root).then(|| {
        "this user may not use the Docker engine (permission denied on its socket): run `cargo xtask services up` as root, or add the user to the docker group and log in again".to_string()
    })
}

fn info(cx: &Ctx) -> Result<String, String> {
    let (sh, format) = (cx.sh, "{{.ServerVersion}}");
    let out = process::output_within(cmd!(sh, "docker info --format {format}"), Duration::from_secs(10));
    match out {
        Ok(Some(o)) if o.status.success() => Ok(String::from_utf8_lossy(&o.stdout).trim().to_string()),
        Ok(Some(o)) => Err(String::from_utf8_lossy(&o.stderr).trim().to_string()),
        Ok(None) => Err("`docker info` did not answer within 10s".into()),
        Err(e) => Err(format!("{e:#}")),
    }
}

/// dockerd as the keeper starts it (`program`: where it is; to stop it, its name will do).
fn spec(cx: &Ctx, program: PathBuf) -> Spec {
    let dir = cx.dirs.state_dir("XTASK_DOCKER_DIR", "xtask-docker");
    let log =
        std::env::var("XTASK_DOCKERD_LOG").map(PathBuf::from).unwrap_or_else(|_| "/var/log/dockerd-ci.log".into());
    let files = keeper::Files { pid: dir.join("dockerd.pid"), id: dir.join("dockerd.id"), log };
    Spec { grace: Duration::from_secs(30), ..Spec::new("dockerd", program, Vec::new(), files) }
}

/// The engine's process, as dockerd's own pid file names it (when readable).
fn engine_proc() -> Option<Proc> {
    let pid = std::fs::read_to_string("/var/run/docker.pid").ok()?.trim().parse().ok()?;
    process::proc_of("dockerd", pid)
}

fn record(version: &str, how: &str) -> Record {
    Record {
        summary: format!("engine {version} answering{how}"),
        processes: engine_proc().into_iter().collect(),
        identity: version.to_string(),
        ..Record::default()
    }
}

impl Service for Docker {
    fn name(&self) -> &'static str {
        NAME
    }

    fn up(&self, cx: &Ctx) -> Result<Record> {
        if !cx.github {
            packages::ensure(cx, NAME, &[("docker", "docker.io"), ("dockerd", "docker.io")])?;
        } else if which::which("docker").is_err() {
            return Err(UsageError::new(
                "docker is not on this runner's PATH: use a runner image with Docker (ubuntu-latest has it)",
            ));
        }
        let err = match info(cx) {
            Ok(v) => return Ok(record(&v, " (already running)")),
            Err(e) => e,
        };
        if let Some(why) = refused(&err, cx.euid == 0) {
            return Err(UsageError::new(why));
        }
        cx.need_root("starting the Docker engine")?;
        let dockerd = which::which("dockerd")
            .map_err(|_| UsageError::new("dockerd is not on PATH: apt-get install docker.io"))?;
        let spec = spec(cx, dockerd);
        let log = &spec.files.log;
        let t0 = Instant::now();
        let deadline = t0 + Duration::from_secs(60);
        for attempt in 1..=ATTEMPTS {
            let running = process::find(&|exe, _| exe.file_name().is_some_and(|n| n == "dockerd"));
            // An engine that is starting up is waited for, not doubled.
            let p = match running.first().and_then(|pid| process::proc_of("dockerd", *pid)) {
                Some(p) => p,
                None => {
                    for stale in ["/var/run/docker.pid", "/var/run/docker/containerd/containerd.pid"] {
                        let _ = std::fs::remove_file(stale);
                    }
                    cx.say(NAME, &format!("starting dockerd, attempt {attempt}"));
                    // One that dies at once is tried again, like one that dies later.
                    match spec.start(&|m| cx.say(NAME, m)) {
                        Ok(p) => p,
                        Err(_) if attempt < ATTEMPTS => continue,
                        Err(e) => return Err(e),
                    }
                }
            };
            process::poll_until(deadline, || info(cx).is_ok() || !process::is_running(&p));
            if let Ok(v) = info(cx) {
                cx.say(NAME, &format!("engine ready after {:.1}s", t0.elapsed().as_secs_f64()));
                return Ok(record(&v, ""));
            }
            if process::is_running(&p) || Instant::now() >= deadline {
                break;
            }
        }
        Err(anyhow::anyhow!(
            "dockerd did not answer `docker info` within 60s ({ATTEMPTS} attempts); its log ends:\n{}\n(whole log: {})",
            process::tail(log, 15),
            log.display()
        ))
    }

    fn down(&self, cx: &Ctx, _purge: bool) -> Result<String> {
        let spec = spec(cx, "dockerd".into());
        match (spec.ours(), engine_proc()) {
            (Some(p), _) => {
                spec.stop(&|_| {})?;
                Ok(format!("stopped the engine the xtask started (pid {})", p.pid))
            }
            (_, Some(p)) => Ok(format!("left running: the xtask did not start this engine (pid {})", p.pid)),
            (_, None) => Ok("not running".into()),
        }
    }

    fn status(&self, cx: &Ctx) -> Result<String, String> {
        info(cx).map(|v| format!("engine {v} answering")).map_err(|e| format!("not answering: {}", first_line(&e)))
    }
}

pub fn first_line(text: &str) -> &str {
    text.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("")
}
