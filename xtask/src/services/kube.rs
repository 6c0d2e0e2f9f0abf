//! A real Kubernetes cluster on 127.0.0.1 for tests and local deploys
//! (docs/cluster.md): etcd, kube-apiserver, kube-controller-manager,
//! kube-scheduler and kwok (fake kubelets), built from the pins by
//! `kube::build`, with fake nodes, hostPath volumes, and the real worker node
//! (`node`) where the environments' pods run (`XTASK_KUBE_NODE=0`: none,
//! every pod simulated). Each process is a `keeper::Spec` (`spec::process`):
//! a live one with the same identity is kept, a dead or changed one started
//! again, a leftover of ours without a pid file killed, a stranger on one of
//! its ports named.

pub mod admin;
pub mod build;
pub mod pause;
pub mod provisioner;
pub mod spec;
pub mod volumes;

use crate::error::UsageError;
use crate::fsutil::write_atomic;
use crate::services::keeper::{put, Spec};
use crate::services::node::root::{self, Via};
use crate::services::process;
use crate::services::state::Record;
use crate::services::{net, node, packages, Ctx, Service};
use admin::Admin;
use anyhow::{bail, Context, Result};
use base64::Engine;
use spec::{Layout, COMPONENTS};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use xshell::{cmd, Shell};

pub struct ControlPlane;

const NAME: &str = "kube";
const STAGES: &str = ".ci/kube/stages";

fn number(var: &str, default: u64) -> u64 {
    std::env::var(var).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Whether the real node runs (`XTASK_KUBE_NODE`: 1, the default, or 0).
fn real_node() -> Result<bool> {
    match std::env::var("XTASK_KUBE_NODE").ok().filter(|v| !v.is_empty()).as_deref() {
        None | Some("1") => Ok(true),
        Some("0") => Ok(false),
        Some(other) => Err(UsageError::new(format!("XTASK_KUBE_NODE must be 0 or 1, not `{other}`"))),
    }
}

fn layout(cx: &Ctx) -> Layout {
    Layout { state: cx.dirs.state_dir("XTASK_KUBE_STATE", "xtask-kube") }
}

pub fn cache(cx: &Ctx) -> PathBuf {
    cx.dirs.cache_dir("XTASK_KUBE_CACHE", "xtask-kube")
}

/// A running control plane, as `up` checks and starts it.
struct Plane<'a> {
    cx: &'a Ctx<'a>,
    l: Layout,
    bin: PathBuf,
    cache: PathBuf,
    deadline: Instant,
}

impl Plane<'_> {
    fn sh(&self) -> &Shell {
        self.cx.sh
    }

    fn admin(&self) -> Admin {
        Admin::of(self.bin.join("kubectl"), &self.l)
    }

    /// kubectl as the admin, with a short request timeout.
    fn k(&self, args: &[&str]) -> xshell::Cmd<'_> {
        self.admin().cmd(self.sh(), Duration::from_secs(10), args).ignore_stderr()
    }

    fn spec(&self, c: &'static str) -> Spec {
        spec::process(c, &self.l, &self.bin, &self.cache)
    }

    fn say(&self, line: &str) {
        self.cx.say(NAME, line)
    }

    /// Keep `c` running as wanted (`healthy`: it answers as it should).
    fn ensure(&self, c: &'static str, healthy: bool) -> Result<()> {
        self.spec(c).ensure(healthy, &|m| self.say(m)).map(|_| ())
    }

    fn wait(&self, what: &str, c: &'static str, ready: impl FnMut() -> bool) -> Result<()> {
        self.spec(c).wait_for(what, self.deadline, ready)
    }

    fn etcd_healthy(&self) -> bool {
        net::get(&spec::etcd_addr(), "/health", None, Duration::from_secs(3))
            .is_some_and(|(s, body)| s == 200 && body.contains("\"health\":\"true\""))
    }

    fn https_ok(&self, port: u16) -> bool {
        let sh = self.sh();
        let url = format!("https://{}:{port}/healthz", spec::HOST);
        cmd!(sh, "curl -fsSk --max-time 3 {url}").quiet().ignore_stderr().read().is_ok_and(|o| o.trim() == "ok")
    }

    fn api_ready(&self) -> bool {
        self.k(&["get", "--raw", "/readyz"]).read().is_ok_and(|o| o.trim() == "ok")
    }

    /// The fake nodes as the API has them: (Ready, tainted) by name.
    fn fake_nodes(&self) -> Vec<(String, bool, bool)> {
        let json = self.k(&["get", "nodes", "-l", "type=kwok", "-o", "json"]).read().unwrap_or_default();
        spec::fake_nodes(&serde_json::from_str(&json).unwrap_or_default())
    }

    fn nodes_ready(&self, nodes: u64) -> bool {
        let found = self.fake_nodes();
        (0..nodes).all(|i| found.iter().any(|(n, ready, _)| *n == format!("kwok-node-{i}") && *ready))
    }

    /// What every run makes sure of is there already: the fake nodes Ready and
    /// tainted as the real node wants, and the volumes.
    fn converged(&self, nodes: u64, volumes: u64, real_node: bool) -> bool {
        let found = self.fake_nodes();
        let nodes_ok = (0..nodes).all(|i| {
            found.iter().any(|(n, ready, tainted)| *n == format!("kwok-node-{i}") && *ready && *tainted == real_node)
        });
        nodes_ok && self.release_volumes() >= volumes as usize
    }

    fn default_sa(&self) -> bool {
        self.k(&["-n", "default", "get", "serviceaccount", "default", "-o", "name"]).ignore_stdout().run().is_ok()
    }

    /// Retain keeps a volume's data; one whose claim is gone (Released) goes
    /// back to the pool, so repeated test runs do not run out of volumes.
    /// Returns how many of our volumes there are.
    fn release_volumes(&self) -> usize {
        let path = "jsonpath={range .items[*]}{.metadata.name} {.status.phase}{\"\\n\"}{end}";
        let listed = self.k(&["get", "pv", "-l", "xtask.dev/local-pv=true", "-o", path]).read().unwrap_or_default();
        let volumes: Vec<(&str, &str)> = listed.lines().filter_map(|l| l.split_once(' ')).collect();
        for (pv, _) in volumes.iter().filter(|(_, phase)| *phase == "Released") {
            let patch = "[{\"op\":\"remove\",\"path\":\"/spec/claimRef\"}]";
            let _ = self.k(&["patch", "pv", pv, "--type=json", "-p", patch]).ignore_stdout().run();
        }
        volumes.len()
    }

    /// The fake nodes (tainted while the real one runs) and the volumes,
    /// applied when they are not as wanted (a second time changes nothing).
    fn apply_objects(&self, nodes: u64, volumes: u64, real_node: bool) -> Result<()> {
        for n in 1..=volumes {
            let dir = self.l.volumes().join(format!("pv-{n}"));
            std::fs::create_dir_all(&dir)?;
            // Pods run as non-root (the platform's as uid 10001), and kubelets never
            // chown a hostPath volume: the directory itself must let them write.
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777))?;
        }
        let objects = spec::objects(nodes as u32, volumes as u32, &self.l.volumes(), real_node);
        self.k(&["apply", "-f", "-"])
            .stdin(objects)
            .ignore_stdout()
            .run()
            .context("could not create the fake nodes and volumes (kubectl apply failed)")?;
        Ok(())
    }

    /// The default StorageClass and its provisioner (dynamic volumes).
    fn provisioner_up(&self) -> Result<()> {
        let cfg = provisioner::Config { admin: self.admin(), cluster: self.l.clone() };
        provisioner::up(&cfg, self.deadline, &|m| self.say(m))
    }

    /// The real node: started in this process as root; for a user with
    /// passwordless sudo (a GitHub runner's), by this program under `sudo -n`.
    fn node_up(&self) -> Result<String> {
        let cfg = node_config(&self.l, &self.bin, self.deadline.saturating_duration_since(Instant::now()))?;
        match via(self.cx, "the real node (containers, mounts, iptables)")? {
            Via::Here => node::up(self.cx, &cfg)?,
            Via::Sudo => root::again(self.cx, &cfg, "up")?,
        }
        Ok(cfg.name)
    }

    fn version(&self) -> String {
        let json = self.k(&["version", "-o", "json"]).read().unwrap_or_default();
        serde_json::from_str::<serde_json::Value>(&json)
            .ok()
            .and_then(|v| v["serverVersion"]["gitVersion"].as_str().map(String::from))
            .unwrap_or_else(|| "?".into())
    }

    fn record(&self, key: &str, node: Option<&str>, how: &str) -> Record {
        let admin = self.l.admin().display().to_string();
        let mut env = vec![
            ("XTASK_TEST_KUBECONFIG".to_string(), admin.clone()),
            ("XTASK_KUBECTL".to_string(), self.admin().kubectl.display().to_string()),
        ];
        // On GitHub a deploy's cluster is only what the job's secrets name.
        if !self.cx.github {
            env.push(("KUBECONFIG".to_string(), admin));
        }
        Record {
            summary: format!(
                "Kubernetes {} on {}, {}{how}",
                self.version(),
                spec::server(),
                node.map_or_else(|| "no real node (XTASK_KUBE_NODE=0)".to_string(), |n| format!("real node {n}"))
            ),
            env: env.into_iter().collect(),
            processes: COMPONENTS.iter().filter_map(|c| self.spec(c).ours()).collect(),
            identity: key.to_string(),
        }
    }
}

fn provisioner(l: &Layout, kubectl: PathBuf) -> provisioner::Config {
    provisioner::Config { admin: Admin::of(kubectl, l), cluster: l.clone() }
}

/// The real node's configuration: the cluster's state and binaries, the
/// registry's credentials when the registry service keeps them.
fn node_config(l: &Layout, bin: &Path, deadline: Duration) -> Result<node::Config> {
    let mut cfg = node::Config::from_env(Some(bin.to_path_buf()))?;
    cfg.cluster = l.clone();
    cfg.deadline = deadline.max(Duration::from_secs(60));
    Ok(cfg)
}

/// The newest build with a kubelet (for `down` and `status`, which build nothing).
fn newest_bin(cache: &Path) -> PathBuf {
    build::newest_bin(cache).unwrap_or_else(|| cache.join("unbuilt/bin"))
}

/// Who runs the node's root-only work (`node::root`): bad input when no one can.
pub fn via(cx: &Ctx, what: &str) -> Result<Via> {
    root::decide(cx.euid, what, || root::probe(cx.sh)).map_err(UsageError::new)
}

fn random_token() -> Result<String> {
    use std::io::Read;
    let mut bytes = [0u8; 64];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    let text = base64::engine::general_purpose::STANDARD.encode(bytes);
    Ok(text.chars().filter(char::is_ascii_alphanumeric).take(40).collect())
}

/// The service-account key pair and the token file, made once (0600).
fn keys(sh: &Shell, l: &Layout) -> Result<()> {
    let (key, public) = (l.pki().join("sa.key"), l.pki().join("sa.pub"));
    if !key.is_file() || !public.is_file() {
        let (key_tmp, pub_tmp) = (l.pki().join("sa.key.tmp"), l.pki().join("sa.pub.tmp"));
        cmd!(sh, "openssl genrsa -out {key_tmp} 2048")
            .quiet()
            .ignore_stderr()
            .run()
            .context("openssl genrsa failed")?;
        cmd!(sh, "openssl rsa -in {key_tmp} -pubout -out {pub_tmp}")
            .quiet()
            .ignore_stderr()
            .run()
            .context("openssl rsa -pubout failed")?;
        std::fs::rename(pub_tmp, &public)?;
        std::fs::rename(key_tmp, &key)?;
    }
    if !l.tokens().is_file() {
        let mut text = String::new();
        for (user, groups) in spec::USERS {
            text += &spec::token_line(&random_token()?, user, groups);
        }
        write_atomic(&l.tokens(), text.as_bytes())?;
    }
    for f in [l.tokens(), key] {
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

fn kubeconfigs(l: &Layout) -> Result<()> {
    let ca = base64::engine::general_purpose::STANDARD.encode(std::fs::read(l.serving_crt())?);
    let tokens = std::fs::read_to_string(l.tokens())?;
    let token = |u: &str| {
        spec::token_of(&tokens, u)
            .with_context(|| format!("{} has no token for {u}: delete it and run services up", l.tokens().display()))
    };
    put(&l.admin(), &spec::kubeconfig(&ca, "xtask-admin", &token("xtask-admin")?))?;
    for (c, user) in [
        ("kube-controller-manager", "system:kube-controller-manager"),
        ("kube-scheduler", "system:kube-scheduler"),
        ("kwok", "xtask-kwok"),
    ] {
        put(&l.kubeconfig_of(c), &spec::kubeconfig(&ca, user, &token(user)?))?;
    }
    Ok(())
}

/// kwok's configuration from the stage files (an input of its identity).
fn stages(cx: &Ctx, l: &Layout) -> Result<()> {
    let dir = cx.root.join(STAGES);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .with_context(|| format!("cannot read {STAGES}: restore it from git"))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    let texts: Vec<String> = files.iter().map(std::fs::read_to_string).collect::<std::io::Result<_>>()?;
    let config = spec::kwok_config(&texts);
    if !config.contains("kind: Stage") {
        bail!("no kwok stages in {STAGES}: restore them from git");
    }
    put(&l.kwok_config(), &config)
}

impl Service for ControlPlane {
    fn name(&self) -> &'static str {
        NAME
    }

    fn has_build(&self) -> bool {
        true
    }

    fn build(&self, cx: &Ctx) -> Result<()> {
        build::ensure(cx, &build::plan(cx.sh, cx.root, &cache(cx))?).map(drop)
    }

    fn up(&self, cx: &Ctx) -> Result<Record> {
        let real_node = real_node()?;
        if !cx.github {
            // sudo: how a non-root user runs the node's root work, and what
            // the node suite's runner test gives its user (a fresh Debian has none).
            packages::ensure(cx, NAME, &[("curl", "curl"), ("openssl", "openssl"), ("sudo", "sudo")])?;
        }
        if real_node {
            packages::ensure(cx, NAME, node::PACKAGES)?;
        }
        let l = layout(cx);
        for d in [l.pki(), l.serving(), l.kubeconfigs(), l.run(), l.logs(), l.state.join("etcd"), l.volumes()] {
            std::fs::create_dir_all(&d).with_context(|| format!("cannot create {}", d.display()))?;
        }
        std::fs::set_permissions(&l.state, std::fs::Permissions::from_mode(0o700))?;
        // up and down never run at the same time.
        let _lock = process::lock(&l.state.join(".lock"), Duration::from_secs(300), "services up/down kube")?;
        let cache = cache(cx);
        let build = build::plan(cx.sh, cx.root, &cache)?;
        let bin = build::ensure(cx, &build)?;
        // The start's deadline and time count from here: a fresh machine's build takes minutes.
        let t0 = Instant::now();
        keys(cx.sh, &l)?;
        stages(cx, &l)?;
        let deadline = t0 + Duration::from_secs(number("XTASK_KUBE_DEADLINE", 180));
        let p = Plane { cx, l, bin, cache, deadline };
        // Volumes: enough for several test runs at once (a deleted claim's volume
        // comes back at the next `services up`).
        let (nodes, volumes) = (number("XTASK_KUBE_NODES", 1), number("XTASK_KUBE_PVS", 32));

        let all_running = COMPONENTS.iter().all(|c| p.spec(c).running().is_some());
        if all_running && p.l.admin().is_file() && p.api_ready() && p.nodes_ready(nodes) && p.default_sa() {
            // The fake node's taint follows XTASK_KUBE_NODE; volumes made when missing.
            if !p.converged(nodes, volumes, real_node) {
                p.apply_objects(nodes, volumes, real_node)?;
                p.release_volumes();
            }
            p.provisioner_up()?;
            let node = if real_node { Some(p.node_up()?) } else { None };
            return Ok(p.record(&build.key, node.as_deref(), " (already running)"));
        }
        // An etcd that runs but does not answer is started again.
        p.ensure("etcd", p.etcd_healthy())?;
        p.wait("etcd /health", "etcd", || p.etcd_healthy())?;
        p.ensure("kube-apiserver", true)?;
        // Its self-signed serving certificate is made in --cert-dir on first start.
        let crt = p.l.serving_crt();
        p.wait("its serving certificate", "kube-apiserver", || crt.is_file())?;
        kubeconfigs(&p.l)?;
        p.wait("kube-apiserver /readyz", "kube-apiserver", || p.api_ready())?;
        for c in ["kube-controller-manager", "kube-scheduler", "kwok"] {
            p.ensure(c, true)?;
        }
        for c in ["kube-controller-manager", "kube-scheduler"] {
            let port = spec::health_port(c).expect("a health port");
            p.wait(&format!("{c} /healthz"), c, || p.https_ok(port))?;
        }
        p.apply_objects(nodes, volumes, real_node)?;
        p.release_volumes();
        p.provisioner_up()?;
        p.wait(&format!("{nodes} kwok node(s) Ready"), "kwok", || p.nodes_ready(nodes))?;
        p.wait("ServiceAccount default/default", "kube-controller-manager", || p.default_sa())?;
        let node = if real_node { Some(p.node_up()?) } else { None };
        cx.say(
            NAME,
            &format!(
                "control plane up after {:.1}s ({nodes} fake node(s), {volumes} volumes; logs: {})",
                t0.elapsed().as_secs_f64(),
                p.l.logs().display()
            ),
        );
        Ok(p.record(&build.key, node.as_deref(), ""))
    }

    fn down(&self, cx: &Ctx, purge: bool) -> Result<String> {
        let l = layout(cx);
        let _lock = if l.state.is_dir() {
            Some(process::lock(&l.state.join(".lock"), Duration::from_secs(300), "services up/down kube")?)
        } else {
            None
        };
        // The real node first: it needs nothing from the control plane to stop.
        if l.state.join("node").is_dir() {
            let cfg = node_config(&l, &newest_bin(&cache(cx)), Duration::from_secs(180))?;
            match via(cx, "stopping the real node")? {
                Via::Here => node::down(cx, &cfg)?,
                Via::Sudo => root::again(cx, &cfg, "down")?,
            }
        }
        let mut stopped = usize::from(provisioner::down(&provisioner(&l, PathBuf::new()), &|m| cx.say(NAME, m))?);
        let cache = cache(cx);
        let bin = newest_bin(&cache);
        for &c in COMPONENTS.iter().rev() {
            stopped += spec::process(c, &l, &bin, &cache).stop(&|m| cx.say(NAME, m))?;
        }
        let mut busy = Vec::new();
        for port in COMPONENTS.iter().flat_map(|c| spec::ports(c)) {
            if !process::poll_until(Instant::now() + Duration::from_secs(5), || net::holder(*port).is_none()) {
                busy.push(format!("{port} by {}", net::holder(*port).map(|h| h.describe()).unwrap_or_default()));
            }
        }
        if !busy.is_empty() {
            bail!("control-plane ports still held after the stop (not started by the xtask?): {}", busy.join(", "));
        }
        let mut line = if stopped == 0 { "not running".to_string() } else { format!("stopped {stopped} process(es)") };
        if purge && l.state.is_dir() {
            if [Path::new("/"), Path::new("/var"), Path::new("/var/lib")].contains(&l.state.as_path()) {
                bail!("refusing to remove {}: point XTASK_KUBE_STATE at the cluster's own folder", l.state.display());
            }
            std::fs::remove_dir_all(&l.state).with_context(|| format!("cannot remove {}", l.state.display()))?;
            line += &format!("; removed {} (etcd data, keys, tokens, logs)", l.state.display());
        }
        Ok(line + &format!("; binaries kept in {}", cache.display()))
    }

    fn status(&self, cx: &Ctx) -> Result<String, String> {
        let l = layout(cx);
        let cache = cache(cx);
        let bin = newest_bin(&cache);
        let ours = |c| spec::process(c, &l, &bin, &cache).ours();
        let gone: Vec<&str> = COMPONENTS.iter().copied().filter(|c| ours(c).is_none()).collect();
        if !gone.is_empty() {
            return Err(format!("not running: {}", gone.join(", ")));
        }
        let kubectl = ours("kube-apiserver").and_then(|p| process::exe(p.pid)).map(|e| e.with_file_name("kubectl"));
        let Some(kubectl) = kubectl else { return Ok(format!("running on {}", spec::server())) };
        let admin = Admin::of(kubectl.clone(), &l);
        let ready = admin.cmd(cx.sh, Duration::from_secs(5), &["get", "--raw", "/readyz"]).ignore_stderr().read();
        if ready.map_or(true, |o| o.trim() != "ok") {
            return Err(format!("running, but {} does not answer /readyz", spec::server()));
        }
        let line = format!("ready on {} (kubeconfig {})", spec::server(), admin.kubeconfig.display());
        let provisioner = provisioner(&l, kubectl.clone());
        if provisioner::status(&provisioner).is_none() {
            return Err(format!(
                "the control plane is {line}, but its volume provisioner does not run (log {}): cargo xtask services up",
                provisioner.spec().files.log.display()
            ));
        }
        if !real_node().unwrap_or(true) {
            return Ok(line + ", no real node");
        }
        let bin = kubectl.parent().unwrap_or(Path::new("/")).to_path_buf();
        let cfg = node_config(&l, &bin, Duration::from_secs(10)).map_err(|e| format!("{e:#}"))?;
        let log = cfg.log_of("kubelet");
        match node::status(cx, &cfg).node {
            Some(n) if n.ready => Ok(format!("{line}, real node {}", n.line(&log))),
            Some(n) => Err(format!("the control plane is {line}, but the real node is {}", n.line(&log))),
            None => Err(format!("the control plane is {line}, but the real node {} is not registered", cfg.name)),
        }
    }
}
