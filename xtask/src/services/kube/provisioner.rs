//! The local cluster's volume provisioner (`kube::volumes` decides, this
//! runs it): a host process started by `services up kube` beside the control
//! plane, kept by the keeper like the node's processes (pid file, identity,
//! log; restarted when it has not passed for a minute). It is
//! this program itself (`xtask services provisioner`), copied into the
//! cluster's state so it does not depend on a checkout's `target/`.
//!
//! Each pass lists classes, volumes and claims in one call and acts; a
//! `kubectl get pvc --watch` wakes it when a claim changes, and it passes
//! again every few seconds anyway (a released volume, a missed event).

use super::admin::Admin;
use super::spec::{self, Layout};
use super::volumes::{self, Action};
use crate::cli::ProvisionerArgs;
use crate::services::keeper::{put, Decision, Files, Mark, Spec};
use anyhow::{Context, Result};
use base64::Engine as _;
use std::collections::BTreeSet;
use std::io::BufRead;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};
use xshell::Shell;

pub const NAME: &str = "provisioner";
/// The provisioner's behaviour version: a running one of another version is
/// restarted, one of the same is kept whichever checkout asks.
pub const REV: &str = "3";
/// A pass at least this often.
const RESYNC: Duration = Duration::from_secs(10);

/// The provisioner as `services up kube` runs it.
pub struct Config {
    /// The admin's kubectl, to set up the class and the provisioner's identity.
    pub admin: Admin,
    /// The cluster's state: the program's copy and its heartbeat live in `provisioner/`.
    pub cluster: Layout,
}

impl Config {
    fn home(&self) -> PathBuf {
        self.cluster.state.join(NAME)
    }
    fn program(&self) -> PathBuf {
        self.home().join("xtask")
    }
    /// Its own kubeconfig (written here, 0600).
    fn kubeconfig(&self) -> PathBuf {
        self.cluster.kubeconfig_of(NAME)
    }
    /// Where the volumes' folders go.
    fn volumes(&self) -> PathBuf {
        self.cluster.volumes().join("dynamic")
    }
    pub fn heartbeat(&self) -> PathBuf {
        self.home().join("heartbeat")
    }
    /// Its pid file, identity and log beside the control plane's; a leftover is our copy of the program.
    pub fn spec(&self) -> Spec {
        let p = |p: &Path| p.display().to_string();
        let args = vec![
            "services".into(),
            "provisioner".into(),
            format!("--kubectl={}", p(&self.admin.kubectl)),
            format!("--kubeconfig={}", p(&self.kubeconfig())),
            format!("--volumes={}", p(&self.volumes())),
            format!("--heartbeat={}", p(&self.heartbeat())),
            format!("--rev={REV}"),
        ];
        Spec {
            // A new token (a cluster made anew) restarts it.
            inputs: vec![self.kubeconfig()],
            mark: Mark::Under(self.home()),
            ..Spec::new(NAME, self.program(), args, Files::under(&self.cluster.run(), &self.cluster.logs(), NAME))
        }
    }
}

/// The default StorageClass and the provisioner's identity applied, the
/// provisioner running (started when it is not, runs another version, or
/// has not passed for a minute) and through its first pass.
pub fn up(cfg: &Config, deadline: Instant, say: &dyn Fn(&str)) -> Result<()> {
    let sh = Shell::new()?;
    cfg.admin
        .cmd(&sh, Duration::from_secs(10), &["apply", "-f", "-"])
        .stdin(volumes::objects())
        .ignore_stdout()
        .run()
        .with_context(|| format!("could not create the default StorageClass {}", volumes::CLASS))?;
    let token = cfg.admin.token(&sh, volumes::IDENTITY, deadline, "cargo xtask services status kube")?;
    let ca = cfg.cluster.serving_crt();
    let ca = base64::engine::general_purpose::STANDARD
        .encode(std::fs::read(&ca).with_context(|| format!("cannot read {}", ca.display()))?);
    put(&cfg.kubeconfig(), &spec::kubeconfig(&ca, volumes::IDENTITY, &token))?;
    let p = cfg.spec();
    let look = p.look(fresh(&cfg.heartbeat(), SystemTime::now() - RESYNC * 6));
    if look.decision == Decision::Keep {
        return Ok(());
    }
    for dir in [cfg.home(), cfg.volumes()] {
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    // A copy of this program: the running one keeps its file, a checkout can go.
    let me = crate::fsutil::own_program()?;
    let tmp = cfg.home().join(format!(".xtask.{}", std::process::id()));
    std::fs::copy(&me, &tmp).with_context(|| format!("cannot copy {} to {}", me.display(), tmp.display()))?;
    std::fs::rename(&tmp, cfg.program())?;
    let started = SystemTime::now();
    p.act(look, say)?;
    say(&format!("the volume provisioner serves the default StorageClass {}", volumes::CLASS));
    p.wait_for("its first pass", deadline, || fresh(&cfg.heartbeat(), started))
}

/// Stop it (the StorageClass stays: claims keep their class).
pub fn down(cfg: &Config, say: &dyn Fn(&str)) -> Result<bool> {
    Ok(cfg.spec().stop(say)? > 0)
}

/// Its pid when it runs and passed in the last minute.
pub fn status(cfg: &Config) -> Option<u32> {
    cfg.spec().ours().map(|p| p.pid).filter(|_| fresh(&cfg.heartbeat(), SystemTime::now() - RESYNC * 6))
}

fn fresh(heartbeat: &Path, since: SystemTime) -> bool {
    std::fs::metadata(heartbeat).and_then(|m| m.modified()).is_ok_and(|t| t >= since)
}

/// kubectl as the provisioner runs it: its own kubeconfig, 20 s a request.
struct Kube {
    sh: Shell,
    kubectl: Admin,
}

impl Kube {
    fn cmd(&self, args: &[&str]) -> xshell::Cmd<'_> {
        self.kubectl.cmd(&self.sh, Duration::from_secs(20), args)
    }
}

/// The daemon: pass, wait for a claim to change (or RESYNC), pass again.
pub fn run(a: &ProvisionerArgs) -> Result<i32> {
    let kubectl = Admin { kubectl: a.kubectl.clone(), kubeconfig: a.kubeconfig.clone() };
    let k = Kube { sh: Shell::new()?, kubectl };
    let (tx, rx) = mpsc::channel::<bool>();
    let mut watching = false;
    let mut refused = BTreeSet::new();
    let mut soon = false;
    loop {
        if !watching {
            watching = watch(&k, tx.clone()).is_ok();
        }
        match pass(&k, &a.volumes, &mut refused) {
            Ok(()) => crate::fsutil::write_atomic(&a.heartbeat, crate::clock::now().to_string().as_bytes())?,
            Err(e) => println!("{} pass failed: {e:#}", stamp()),
        }
        // A pass after a change is followed by another soon: a deleted claim's
        // volume turns Released only once the binder has seen the deletion.
        let wait = if std::mem::take(&mut soon) { Duration::from_secs(2) } else { RESYNC };
        if let Ok(alive) = rx.recv_timeout(wait) {
            watching &= alive;
            soon = true;
            // The rest of a burst (a namespace's claims) in the same pass, bounded.
            let end = Instant::now() + Duration::from_millis(200);
            while let Some(left) = end.checked_duration_since(Instant::now()) {
                match rx.recv_timeout(left) {
                    Ok(alive) => watching &= alive,
                    Err(_) => break,
                }
            }
        }
    }
}

fn stamp() -> String {
    crate::clock::rfc3339(crate::clock::now() as i64)
}

/// `kubectl get pvc -A --watch-only`: one message per change, `false` when it ends.
fn watch(k: &Kube, tx: mpsc::Sender<bool>) -> Result<()> {
    // No request timeout (0): a watch lasts.
    let args = ["get", "pvc", "-A", "--watch-only", "-o", "name"];
    let mut command: Command = k.kubectl.cmd(&k.sh, Duration::ZERO, &args).into();
    // SAFETY: prctl(2) is async-signal-safe. The watch dies with us, even by kill -9.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut command, || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child =
        command.stdin(Stdio::null()).stdout(Stdio::piped()).spawn().context("cannot start kubectl get --watch")?;
    let out = child.stdout.take().expect("piped");
    std::thread::spawn(move || {
        for _ in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(true).is_err() {
                return;
            }
        }
        let _ = child.wait();
        let _ = tx.send(false);
    });
    Ok(())
}

/// One pass: list, decide, act; each action's outcome in the log.
fn pass(k: &Kube, root: &Path, refused: &mut BTreeSet<String>) -> Result<()> {
    let text = k.cmd(&["get", "storageclass,pv,pvc", "-A", "-o", "json"]).read().context("kubectl get failed")?;
    let list: serde_json::Value = serde_json::from_str(&text).context("kubectl get printed no JSON list")?;
    let items = list["items"].as_array().map(Vec::as_slice).unwrap_or_default();
    for action in volumes::plan(items, root) {
        if let Action::Refuse { claim, .. } = &action {
            // Said once per claim, not every pass.
            if refused.insert(claim.clone()) {
                println!("{} {}", stamp(), volumes::describe(&action));
            }
            continue;
        }
        println!("{} {}", stamp(), volumes::describe(&action));
        if let Err(e) = act(k, &action) {
            println!("{} failed: {e:#}", stamp());
        }
    }
    Ok(())
}

fn act(k: &Kube, action: &Action) -> Result<()> {
    match action {
        Action::Create { pv, dir, .. } => {
            std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
            // Pods run as non-root and no kubelet chowns a hostPath volume.
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o777))?;
            let out = k.cmd(&["create", "-f", "-"]).stdin(pv.to_string()).ignore_status().output()?;
            let err = String::from_utf8_lossy(&out.stderr);
            anyhow::ensure!(out.status.success() || err.contains("AlreadyExists"), "kubectl create: {}", err.trim());
        }
        Action::Delete { pv, dir } => {
            k.cmd(&["delete", "pv", pv, "--wait=false", "--ignore-not-found"]).ignore_stdout().run()?;
            if let Some(dir) = dir.as_ref().filter(|d| d.exists()) {
                std::fs::remove_dir_all(dir).with_context(|| format!("cannot remove {}", dir.display()))?;
            }
        }
        Action::Refuse { .. } => {}
    }
    Ok(())
}
