//! A registry on loopback (127.0.0.1:5000; `XTASK_REGISTRY_ADDR` moves it)
//! with htpasswd auth, user `xtask` and a random password made once, kept
//! beside its storage (mode 0600, never printed). Debian's `docker-registry`
//! runs it here; on GitHub, where that package is not at hand, the
//! `registry:2` image from the hub does. Whatever else holds the port is
//! named, never taken over; a packaged registry service is stopped. Whether
//! ours runs is what answers on its port (a probe with the stored
//! credentials), not a pid file; once it must start, the keeper starts it.

use crate::error::UsageError;
use crate::fsutil::write_atomic;
use crate::services::keeper::{self, Spec};
use crate::services::net::{self, port_of};
use crate::services::process::{self, poll_until};
use crate::services::state::Record;
use crate::services::{packages, Ctx, Service};
use anyhow::{Context, Result};
use base64::Engine;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use xshell::cmd;

pub struct Registry;

const NAME: &str = "registry";
pub const USER: &str = "xtask";
pub const DEFAULT_ADDR: &str = "127.0.0.1:5000";
/// Where the pipeline's own images go in it.
pub const NAMESPACE: &str = "mlops";
const CONTAINER: &str = "xtask-registry";
const IMAGE: &str = "registry:2";
const PROBE: Duration = Duration::from_secs(3);

struct Files {
    dir: PathBuf,
    password: PathBuf,
    htpasswd: PathBuf,
    config: PathBuf,
    log: PathBuf,
    pid: PathBuf,
}

fn files(cx: &Ctx) -> Files {
    let dir = cx.dirs.state_dir("XTASK_REGISTRY_DIR", "xtask-registry");
    Files {
        password: dir.join("password"),
        htpasswd: dir.join("htpasswd"),
        config: dir.join("config.yml"),
        log: dir.join("registry.log"),
        pid: dir.join("registry.pid"),
        dir,
    }
}

/// The registry's password file (its user is [`USER`]).
pub fn password_file(cx: &Ctx) -> PathBuf {
    files(cx).password
}

pub fn addr() -> String {
    std::env::var("XTASK_REGISTRY_ADDR").ok().filter(|a| !a.is_empty()).unwrap_or_else(|| DEFAULT_ADDR.into())
}

/// The registry's configuration: `listen` is the address inside its
/// process (a container listens on all of its own addresses).
pub fn config(dir: &Path, listen: &str) -> String {
    let dir = dir.display();
    format!(
        "version: 0.1
log:
  level: info
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {dir}/storage
  delete:
    enabled: true
http:
  addr: {listen}
  headers:
    X-Content-Type-Options: [nosniff]
auth:
  htpasswd:
    realm: xtask-registry
    path: {dir}/htpasswd
"
    )
}

pub fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")))
}

/// What answers at the registry's address.
#[derive(Debug, PartialEq, Eq)]
pub enum Answer {
    /// Ours: 401 without credentials, 200 with the stored ones.
    Ours,
    /// Something else listens (its HTTP status, if it spoke HTTP).
    Other(Option<u16>),
    Nothing,
}

/// The verdict from the two probes and whether the port is held (pure).
pub fn judge(anonymous: Option<u16>, with_credentials: Option<u16>, port_held: bool) -> Answer {
    match (anonymous, with_credentials) {
        (Some(401), Some(200)) => Answer::Ours,
        (Some(s), _) => Answer::Other(Some(s)),
        (None, _) if port_held => Answer::Other(None),
        (None, _) => Answer::Nothing,
    }
}

fn probe(addr: &str, password: &str) -> Answer {
    let anonymous = net::get(addr, "/v2/", None, PROBE).map(|r| r.0);
    let auth = basic(USER, password);
    let with = if anonymous == Some(401) { net::get(addr, "/v2/", Some(&auth), PROBE).map(|r| r.0) } else { None };
    judge(anonymous, with, port_of(addr).and_then(net::holder).is_some())
}

/// The password, made once: 32 letters and digits from the kernel's random source.
fn password(f: &Files) -> Result<String> {
    if let Ok(pw) = std::fs::read_to_string(&f.password) {
        if !pw.trim().is_empty() {
            return Ok(pw.trim().to_string());
        }
    }
    let mut bytes = [0u8; 64];
    use std::io::Read;
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    let text = base64::engine::general_purpose::STANDARD.encode(bytes);
    let pw: String = text.chars().filter(char::is_ascii_alphanumeric).take(32).collect();
    write_atomic(&f.password, pw.as_bytes())?;
    std::fs::set_permissions(&f.password, std::fs::Permissions::from_mode(0o600))?;
    Ok(pw)
}

/// Debian's docker-registry as the keeper runs it (`program`: where it is; to stop it, its name will do).
fn spec(f: &Files, program: PathBuf) -> Spec {
    let files = keeper::Files { pid: f.pid.clone(), id: f.dir.join("registry.id"), log: f.log.clone() };
    Spec::new("docker-registry", program, vec!["serve".into(), f.config.display().to_string()], files)
}

fn container_exists(cx: &Ctx) -> bool {
    let sh = cx.sh;
    cmd!(sh, "docker container inspect {CONTAINER}").quiet().ignore_stdout().ignore_stderr().run().is_ok()
}

/// Stop the registry the xtask started (process or container); whether there was one.
fn stop_ours(cx: &Ctx, f: &Files) -> Result<bool> {
    let mut stopped = spec(f, "docker-registry".into()).stop(&|_| {})? > 0;
    if cx.github && container_exists(cx) {
        let sh = cx.sh;
        cmd!(sh, "docker rm -f {CONTAINER}").quiet().ignore_stdout().run()?;
        stopped = true;
    }
    Ok(stopped)
}

fn packaged_service_active(cx: &Ctx) -> bool {
    let sh = cx.sh;
    which::which("systemctl").is_ok()
        && cmd!(sh, "systemctl is-active --quiet docker-registry").quiet().ignore_stderr().run().is_ok()
}

fn record(addr: &str, f: &Files, github: bool, how: &str) -> Record {
    let pw = f.password.display().to_string();
    let mut env = vec![
        ("XTASK_TEST_REGISTRY", addr.to_string()),
        ("XTASK_TEST_REGISTRY_USER", USER.to_string()),
        ("XTASK_TEST_REGISTRY_PASSWORD_FILE", pw.clone()),
    ];
    // On GitHub the pipeline publishes to the repository's registry; here, to this one.
    if !github {
        env.extend([
            ("XTASK_REGISTRY", format!("{addr}/{NAMESPACE}")),
            ("XTASK_REGISTRY_USERNAME", USER.to_string()),
            ("XTASK_REGISTRY_PASSWORD_FILE", pw),
        ]);
    }
    let holder = port_of(addr).and_then(net::holder);
    let processes = holder.and_then(|h| process::proc_of("registry", h.pid?)).into_iter().collect();
    Record {
        summary: format!("{addr}, user {USER}, password in {}{how}", f.password.display()),
        env: env.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
        processes,
        identity: addr.to_string(),
    }
}

impl Service for Registry {
    fn name(&self) -> &'static str {
        NAME
    }

    fn needs(&self) -> &'static [&'static str] {
        &["docker"]
    }

    fn up(&self, cx: &Ctx) -> Result<Record> {
        if !cx.github {
            packages::ensure(cx, NAME, &[("docker-registry", "docker-registry"), ("htpasswd", "apache2-utils")])?;
        }
        let f = files(cx);
        std::fs::create_dir_all(f.dir.join("storage")).with_context(|| format!("cannot create {}", f.dir.display()))?;
        std::fs::set_permissions(&f.dir, std::fs::Permissions::from_mode(0o700))?;
        let pw = password(&f)?;
        let addr = addr();
        match probe(&addr, &pw) {
            Answer::Ours => return Ok(record(&addr, &f, cx.github, " (already running)")),
            Answer::Nothing => {}
            Answer::Other(status) => {
                let said = status.map(|s| format!(", HTTP {s}")).unwrap_or_default();
                if packaged_service_active(cx) {
                    cx.need_root("stopping the packaged docker-registry service")?;
                    cx.say(
                        NAME,
                        "stopping the packaged docker-registry service (it holds the port with its own configuration)",
                    );
                    let sh = cx.sh;
                    cmd!(sh, "systemctl disable --now docker-registry").quiet().ignore_stderr().run()?;
                } else if stop_ours(cx, &f)? {
                    cx.say(
                        NAME,
                        &format!("restarted: the registry on {addr} did not accept the stored credentials{said}"),
                    );
                } else {
                    let holder = port_of(&addr).and_then(net::holder).map(|h| h.describe());
                    return Err(UsageError::new(format!(
                        "{addr} is held by {}{said}, not the xtask's registry: stop it, or set XTASK_REGISTRY_ADDR to a free address",
                        holder.unwrap_or_else(|| "another program".into())
                    )));
                }
            }
        }
        let htpasswd = htpasswd_line(cx, &pw)?;
        write_atomic(&f.htpasswd, htpasswd.as_bytes())?;
        let started = if cx.github {
            write_atomic(&f.config, config(&f.dir, ":5000").as_bytes())?;
            let (dir, conf) = (f.dir.display().to_string(), f.config.display().to_string());
            let publish = format!("{addr}:5000");
            let volume = format!("{dir}:{dir}");
            let sh = cx.sh;
            // A stopped container of ours keeps its name: it goes first.
            if container_exists(cx) {
                cmd!(sh, "docker rm -f {CONTAINER}").quiet().ignore_stdout().run()?;
            }
            cmd!(sh, "docker run -d --name {CONTAINER} -p {publish} -v {volume} {IMAGE} {conf}")
                .quiet()
                .ignore_stdout()
                .run()?;
            None
        } else {
            write_atomic(&f.config, config(&f.dir, &addr).as_bytes())?;
            cx.say(NAME, &format!("starting docker-registry on {addr}"));
            let exe = which::which("docker-registry").context("docker-registry is not on PATH")?;
            let spec = spec(&f, exe);
            spec.start(&|m| cx.say(NAME, m))?;
            Some(spec)
        };
        let t0 = Instant::now();
        let deadline = t0 + Duration::from_secs(30);
        let what = format!("401 from http://{addr}/v2/");
        let answers = || net::get(&addr, "/v2/", None, PROBE).is_some_and(|r| r.0 == 401);
        match started {
            Some(spec) => spec.wait_for(&what, deadline, answers)?,
            None if !poll_until(deadline, answers) => anyhow::bail!("timed out waiting for {what}"),
            None => {}
        }
        if probe(&addr, &pw) != Answer::Ours {
            anyhow::bail!("the registry on {addr} answers but rejects the stored credentials: run `cargo xtask services down registry --purge`, then up");
        }
        cx.say(NAME, &format!("ready after {:.1}s", t0.elapsed().as_secs_f64()));
        Ok(record(&addr, &f, cx.github, ""))
    }

    fn down(&self, cx: &Ctx, purge: bool) -> Result<String> {
        let f = files(cx);
        let stopped = stop_ours(cx, &f)?;
        let mut line = if stopped { format!("stopped the registry on {}", addr()) } else { "not running".to_string() };
        if let Some(h) = port_of(&addr()).and_then(net::holder) {
            line += &format!("; {} still holds {} (not started by the xtask)", h.describe(), addr());
        }
        if purge && f.dir.is_dir() {
            std::fs::remove_dir_all(&f.dir).with_context(|| format!("cannot remove {}", f.dir.display()))?;
            line += &format!("; removed {} (password, stored images)", f.dir.display());
        }
        Ok(line)
    }

    fn status(&self, cx: &Ctx) -> Result<String, String> {
        let f = files(cx);
        let pw = std::fs::read_to_string(&f.password).unwrap_or_default();
        match probe(&addr(), pw.trim()) {
            Answer::Ours => Ok(format!("{} answering, user {USER}", addr())),
            Answer::Nothing => Err(format!("nothing answers on {}", addr())),
            Answer::Other(_) => Err(format!("{} answers, but not with the stored credentials", addr())),
        }
    }
}

/// The htpasswd line for the password (bcrypt), made by `htpasswd` reading
/// the password on stdin; on GitHub without it, by the httpd image's copy.
fn htpasswd_line(cx: &Ctx, pw: &str) -> Result<String> {
    let sh = cx.sh;
    let c = if which::which("htpasswd").is_ok() || !cx.github {
        cmd!(sh, "htpasswd -iBn {USER}")
    } else {
        cmd!(sh, "docker run --rm -i --entrypoint htpasswd httpd:2.4-alpine -iBn {USER}")
    };
    let out = c.stdin(pw).quiet().ignore_stderr().read().context("htpasswd could not hash the registry's password")?;
    Ok(out.trim_end().to_string() + "\n")
}
