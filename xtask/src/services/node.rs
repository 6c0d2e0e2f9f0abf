//! The local cluster's real worker node: a containerd of its own (Debian's
//! binary; its own config, root, state and socket, never dockerd's), the
//! kubelet and kube-proxy built at the control plane's pins, CoreDNS
//! (`coredns.rs`), a bridge network from Debian's CNI plugins, and a sandbox
//! image we build. Named after the machine's hostname (the apiserver reaches
//! the kubelet through it). `up` is idempotent and repairs what a `kill -9`
//! broke; `down` leaves no process, chain, bridge, namespace, mount or cgroup
//! behind and restores the sysctls the kubelet changed (`node/sweep.rs`).
//!
//! Entry points: `up`, `down`, `status` over [`Config`]; `cargo xtask node`
//! and the `kube` service (`cargo xtask services up|down kube`) call them
//! (docs/cluster.md).

pub mod config;
pub mod coredns;
pub mod files;
pub mod proc;
pub mod readiness;
pub mod sweep;

use crate::error::UsageError;
use anyhow::{bail, Context, Result};
use base64::Engine;
use files::{ContainerdPaths, KubeletSettings, RegistryAuth};
use proc::{self as node_proc, put, Dirs, Proc};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use xshell::cmd;

pub use config::{state_dir, Config};
use config::{API, PACKAGES};
pub use files::NODE_LABEL;
pub use proc::Ctx;
pub use readiness::{real_nodes, taint_args, NodeState};

/// What must hold before anything starts; each problem names its fix.
fn preflight(cfg: &Config) -> Result<()> {
    // SAFETY: getuid has no preconditions.
    if unsafe { libc::getuid() } != 0 {
        bail!(UsageError::new("the node needs root (containers, mounts, iptables): run it as root"));
    }
    let missing: Vec<&str> =
        PACKAGES.iter().filter(|(_, bin)| !Path::new(bin).exists()).map(|(package, _)| *package).collect();
    if !missing.is_empty() {
        bail!(UsageError::new(format!(
            "the node needs Debian's {}: apt-get install -y {}",
            missing.join(", "),
            missing.join(" ")
        )));
    }
    if !cfg.containerd.is_file() {
        bail!(UsageError::new(format!("no containerd at {}: apt-get install -y containerd", cfg.containerd.display())));
    }
    for b in ["kubelet", "kube-proxy", "coredns", "kubectl", "pause.tar", "pause.name", "pause.digest"] {
        if !cfg.bin.join(b).is_file() {
            bail!(UsageError::new(format!(
                "{} has no {b}: build the node's binaries with `cargo xtask services up kube`",
                cfg.bin.display()
            )));
        }
    }
    use std::net::ToSocketAddrs;
    let addrs: Vec<std::net::IpAddr> =
        (cfg.name.as_str(), 0).to_socket_addrs().map(|a| a.map(|a| a.ip()).collect()).unwrap_or_default();
    let fix = format!("add `127.0.0.1 {}` to /etc/hosts", cfg.name);
    if addrs.is_empty() {
        bail!(UsageError::new(format!(
            "the hostname '{}' does not resolve, and the apiserver reaches the kubelet by it: {fix}",
            cfg.name
        )));
    }
    // the kubelet (anonymous, AlwaysAllow: a test node) listens on loopback only
    if let Some(ip) = addrs.iter().find(|ip| !ip.is_loopback()) {
        bail!(UsageError::new(format!(
            "the hostname '{}' resolves to {ip}, but the node's kubelet listens on 127.0.0.1 only and the apiserver dials it by that name: {fix}",
            cfg.name
        )));
    }
    Ok(())
}

/// Bring the node up (or check it is): containerd, the sandbox image, the
/// identities, CoreDNS, the kubelet (until the Node is Ready), kube-proxy.
pub fn up(ctx: &Ctx, cfg: &Config) -> Result<()> {
    let t0 = Instant::now();
    let deadline = t0 + cfg.deadline;
    preflight(cfg)?;
    let dirs = cfg.dirs();
    let d = cfg.dir();
    let procs = [cfg.containerd_proc(), cfg.kubelet_proc(), cfg.kube_proxy_proc()];
    let settled = |n: &Value| NodeState::of(n).ready && taint_args(n, &cfg.taints).is_empty();
    if procs.iter().all(|p| p.running(&dirs).is_some())
        && coredns::status(&dirs).is_some()
        && node_json(ctx, cfg).is_some_and(|n| settled(&n))
    {
        // Image garbage collection (disk pressure) can take the sandbox image from a running node.
        let pause = std::fs::read_to_string(cfg.bin.join("pause.name"))?.trim().to_string();
        import_pause(ctx, cfg, &pause)?;
        ctx.say(&format!("node {} already up (containerd, coredns, kubelet, kube-proxy)", cfg.name));
        return Ok(());
    }
    for sub in ["containerd/root", "containerd/state", "cni/net.d", "cni/ipam", "kubelet/pki", "pod-logs", "coredns"] {
        std::fs::create_dir_all(d.join(sub)).with_context(|| format!("cannot create {}", d.join(sub).display()))?;
    }
    // The kubelet changes these at start: keep what they were, once, for `down`.
    if !cfg.sysctls_saved().exists() {
        put(&cfg.sysctls_saved(), &sweep::read_sysctls())?;
    }

    // containerd
    let password = match &cfg.registry {
        Some(r) => Some(
            std::fs::read_to_string(&r.password_file)
                .with_context(|| format!("cannot read the registry password {}", r.password_file.display()))?
                .trim()
                .to_string(),
        ),
        None => None,
    };
    let auth = cfg.registry.as_ref().zip(password.as_deref()).map(|(r, p)| RegistryAuth {
        host: &r.host,
        user: &r.user,
        password: p,
    });
    let s = |p: PathBuf| p.display().to_string();
    let paths = ContainerdPaths {
        root: &s(d.join("containerd/root")),
        state: &s(d.join("containerd/state")),
        socket: &s(cfg.socket()),
        certs_d: &s(d.join("containerd/certs.d")),
        cni_conf_dir: &s(d.join("cni/net.d")),
    };
    let pause = std::fs::read_to_string(cfg.bin.join("pause.name"))?.trim().to_string();
    put(&cfg.containerd_config(), &files::containerd_toml(&paths, &pause, auth.as_ref()))?;
    if let (Some(r), Some(h)) = (&cfg.registry, cfg.hosts_toml()) {
        put(&h, &files::hosts_toml(&r.host))?;
    }
    put(&d.join("cni/net.d/10-xtask-pods.conflist"), &files::cni_conflist(&s(d.join("cni/ipam"))))?;
    let containerd = cfg.containerd_proc();
    ensure(ctx, &containerd, &dirs, || kill_containerd_leftovers(ctx, cfg))?;
    let sock = cfg.socket();
    node_proc::wait_for(&dirs, "containerd", "its socket", deadline, || {
        std::os::unix::net::UnixStream::connect(&sock).is_ok() && ctr(ctx, cfg, &["version"]).is_ok()
    })?;
    import_pause(ctx, cfg, &pause)?;

    // identities
    let objects = files::rbac_yaml();
    let (kubectl, admin) = (cfg.kubectl(), cfg.admin());
    let sh = &ctx.sh;
    cmd!(sh, "{kubectl} --kubeconfig {admin} --request-timeout=20s apply -f -")
        .stdin(objects.as_str())
        .quiet()
        .ignore_stdout()
        .run()
        .context("could not create the node's ServiceAccounts and bindings (kubectl apply failed): is the control plane up? cargo xtask services up kube")?;
    let ca = std::fs::read(cfg.state.join("pki/serving/apiserver.crt"))
        .context("no apiserver certificate: is the control plane up?")?;
    let ca = base64::engine::general_purpose::STANDARD.encode(ca);
    for (who, _) in files::IDENTITIES {
        let hint = format!("its log: {}", cfg.log_of("kube-controller-manager").display());
        let token = node_proc::token_of(&ctx.sh, &cfg.kubectl(), &cfg.admin(), who, deadline, &hint)?;
        put(&cfg.kubeconfig_of(who), &files::kubeconfig(API, &ca, who, &token))?;
    }

    // DNS, then the kubelet and kube-proxy
    let dns = cfg.coredns();
    coredns::up(ctx, &dns, &dirs, deadline)?;
    put(&d.join("resolv.conf"), &format!("nameserver {}\n", coredns::DNS_IP))?;
    let settings = KubeletSettings {
        runtime_socket: &s(cfg.socket()),
        resolv_conf: &s(d.join("resolv.conf")),
        pod_logs_dir: &s(d.join("pod-logs")),
        cluster_dns: coredns::DNS_IP,
        taints: &cfg.taints,
    };
    put(&d.join("kubelet.yaml"), &files::kubelet_yaml(&settings))?;
    let kubelet = cfg.kubelet_proc();
    ensure(ctx, &kubelet, &dirs, || kill_cache_leftovers(ctx, cfg, "kubelet"))?;
    node_proc::wait_for(&dirs, "kubelet", "/healthz", deadline, || node_proc::http_ok("127.0.0.1:10248", "/healthz"))?;
    node_proc::wait_for(&dirs, "kubelet", &format!("node {} Ready", cfg.name), deadline, || {
        node_ready(ctx, cfg) == Some(true)
    })?;
    // registerWithTaints applies to a new Node only: an earlier run's taints go here
    if let Some(node) = node_json(ctx, cfg) {
        let changes = taint_args(&node, &cfg.taints);
        if !changes.is_empty() {
            let (kubectl, admin, name) = (cfg.kubectl(), cfg.admin(), &cfg.name);
            let sh = &ctx.sh;
            let said = changes.join(" ");
            cmd!(sh, "{kubectl} --kubeconfig {admin} --request-timeout=10s taint node {name} {changes...} --overwrite")
                .quiet()
                .ignore_stdout()
                .run()
                .context("could not set the node's taints")?;
            ctx.say(&format!("taints of node {}: {said}", cfg.name));
        }
    }
    put(&d.join("kube-proxy.yaml"), &files::kube_proxy_yaml(&s(cfg.kubeconfig_of("xtask-kube-proxy")), &cfg.name))?;
    let proxy = cfg.kube_proxy_proc();
    ensure(ctx, &proxy, &dirs, || kill_cache_leftovers(ctx, cfg, "kube-proxy"))?;
    node_proc::wait_for(&dirs, "kube-proxy", "/healthz", deadline, || {
        node_proc::http_ok("127.0.0.1:10256", "/healthz")
    })?;
    let seconds = t0.elapsed().as_secs_f64();
    ctx.say(&format!(
        "node {} Ready after {seconds:.1}s: {} (pods {}, DNS {}; logs: {})",
        cfg.name,
        runtime_version(ctx, cfg).unwrap_or_else(|| "containerd".into()),
        files::POD_CIDR,
        coredns::DNS_IP,
        dirs.logs.display()
    ));
    Ok(())
}

/// Keep P when it runs as wanted, else clear leftovers and start it.
fn ensure(ctx: &Ctx, p: &Proc, dirs: &Dirs, leftovers: impl FnOnce()) -> Result<()> {
    if let Some(pid) = p.running(dirs) {
        ctx.say(&format!("{} already running (pid {pid})", p.name));
        return Ok(());
    }
    if let Some(pid) = node_proc::pid_of(dirs, p.name) {
        ctx.say(&format!("restarting {} (pid {pid}): its binary, flags or configuration changed", p.name));
        node_proc::stop(dirs, p.name)?;
    }
    leftovers();
    let pid = p.start(dirs)?;
    ctx.say(&format!("starting {} (pid {pid}; log: {})", p.name, dirs.log(p.name).display()));
    // A process that dies at once (bad flag, busy socket) is reported here, with its log.
    std::thread::sleep(Duration::from_millis(300));
    if node_proc::pid_of(dirs, p.name).is_none() {
        node_proc::forget(dirs, p.name);
        return Err(node_proc::failure(dirs, p.name, "exited right after it started"));
    }
    Ok(())
}

/// `ctr` against our containerd, in the CRI's namespace.
fn ctr(ctx: &Ctx, cfg: &Config, args: &[&str]) -> Result<String> {
    let sh = &ctx.sh;
    let sock = cfg.socket();
    Ok(cmd!(sh, "ctr --address {sock} --namespace k8s.io {args...}").quiet().ignore_stderr().read()?)
}

/// Import the sandbox image unless containerd has it at the digest kube-build made.
fn import_pause(ctx: &Ctx, cfg: &Config, name: &str) -> Result<()> {
    let digest = std::fs::read_to_string(cfg.bin.join("pause.digest"))?.trim().to_string();
    let filter = format!("name=={name}");
    let listed = ctr(ctx, cfg, &["images", "ls", &filter]).unwrap_or_default();
    if listed.lines().skip(1).any(|l| l.split_whitespace().nth(2) == Some(digest.as_str())) {
        return Ok(());
    }
    let tar = cfg.bin.join("pause.tar");
    let sh = &ctx.sh;
    let sock = cfg.socket();
    cmd!(sh, "ctr --address {sock} --namespace k8s.io images import {tar}")
        .quiet()
        .ignore_stdout()
        .run()
        .with_context(|| format!("could not import the sandbox image {} into the node's containerd", tar.display()))?;
    ctx.say(&format!("imported the sandbox image {name} ({digest})"));
    Ok(())
}

fn node_json(ctx: &Ctx, cfg: &Config) -> Option<Value> {
    let sh = &ctx.sh;
    let (kubectl, admin, name) = (cfg.kubectl(), cfg.admin(), &cfg.name);
    let out = cmd!(sh, "{kubectl} --kubeconfig {admin} --request-timeout=5s get node {name} -o json")
        .quiet()
        .ignore_stderr()
        .read()
        .ok()?;
    serde_json::from_str(&out).ok()
}

fn node_ready(ctx: &Ctx, cfg: &Config) -> Option<bool> {
    node_json(ctx, cfg).map(|n| NodeState::of(&n).ready)
}

fn runtime_version(ctx: &Ctx, cfg: &Config) -> Option<String> {
    node_json(ctx, cfg).map(|n| NodeState::of(&n).runtime)
}

/// What runs of the node (pid or not, per process), and its Node.
pub struct Status {
    pub processes: Vec<(&'static str, Option<u32>)>,
    pub node: Option<NodeState>,
}

pub fn status(ctx: &Ctx, cfg: &Config) -> Status {
    let dirs = cfg.dirs();
    let mut processes: Vec<(&'static str, Option<u32>)> = Vec::new();
    for p in [cfg.containerd_proc(), cfg.kubelet_proc(), cfg.kube_proxy_proc()] {
        processes.push((p.name, node_proc::pid_of(&dirs, p.name)));
    }
    processes.insert(1, ("coredns", coredns::status(&dirs)));
    Status { processes, node: node_json(ctx, cfg).map(|n| NodeState::of(&n)) }
}

/// containerd processes of ours without a pid file (our config on their command line).
fn kill_containerd_leftovers(ctx: &Ctx, cfg: &Config) {
    let config = cfg.containerd_config().display().to_string();
    for pid in node_proc::find(|exe, args| exe.ends_with("containerd") && args.contains(&config)) {
        ctx.say(&format!("killing a leftover containerd (pid {pid}, no pid file)"));
        node_proc::kill_group(pid, Duration::from_secs(5));
    }
}

/// NAME run from kube-build's cache (any key) without a pid file: only we start those.
fn kill_cache_leftovers(ctx: &Ctx, cfg: &Config, name: &str) {
    let cache = cfg.bin.parent().and_then(Path::parent).map(Path::to_path_buf).unwrap_or_default();
    for pid in node_proc::find(|exe, _| exe.starts_with(&cache) && exe.file_name().is_some_and(|f| f == name)) {
        ctx.say(&format!("killing a leftover {name} (pid {pid}, no pid file)"));
        node_proc::kill_group(pid, Duration::from_secs(5));
    }
}

/// The shims of our containerd (their `-address` is our socket).
fn our_shims(cfg: &Config) -> Vec<u32> {
    let sock = cfg.socket().display().to_string();
    node_proc::find(|exe, args| {
        exe.file_name().is_some_and(|f| f.to_string_lossy().starts_with("containerd-shim"))
            && args.windows(2).any(|w| w[0] == "-address" && w[1] == sock)
    })
}

/// Stop the pods' containers through containerd: TERM, a grace period, KILL, delete.
fn stop_containers(ctx: &Ctx, cfg: &Config) -> usize {
    let Ok(list) = ctr(ctx, cfg, &["tasks", "ls"]) else { return 0 };
    let running: Vec<String> =
        list.lines().skip(1).filter_map(|l| l.split_whitespace().next().map(String::from)).collect();
    for id in &running {
        let _ = ctr(ctx, cfg, &["tasks", "kill", "--signal", "SIGTERM", id]);
    }
    let end = Instant::now() + Duration::from_secs(10);
    while Instant::now() < end {
        let list = ctr(ctx, cfg, &["tasks", "ls"]).unwrap_or_default();
        if list.lines().skip(1).all(|l| l.split_whitespace().nth(2) == Some("STOPPED")) {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    for id in &running {
        let _ = ctr(ctx, cfg, &["tasks", "kill", "--all", "--signal", "SIGKILL", id]);
        let _ = ctr(ctx, cfg, &["tasks", "delete", "--force", id]);
    }
    let containers = ctr(ctx, cfg, &["containers", "ls", "-q"]).unwrap_or_default();
    for id in containers.lines().filter(|l| !l.trim().is_empty()) {
        let _ = ctr(ctx, cfg, &["containers", "delete", id.trim()]);
    }
    running.len()
}

/// Stop the node and remove every trace of it from the machine. Keeps its
/// files (images stay pulled, identities stay) and the Node object. Every step
/// runs even when an earlier one failed; the failures are reported together.
pub fn down(ctx: &Ctx, cfg: &Config) -> Result<()> {
    let dirs = cfg.dirs();
    let sh = &ctx.sh;
    let mut failed: Vec<String> = Vec::new();
    let mut step = |what: &str, r: Result<()>| {
        if let Err(e) = r {
            failed.push(format!("{what}: {e:#}"));
        }
    };
    for name in ["kube-proxy", "kubelet"] {
        step(
            &format!("stopping {name}"),
            (|| {
                if node_proc::stop(&dirs, name)? {
                    ctx.say(&format!("stopped {name}"));
                }
                kill_cache_leftovers(ctx, cfg, name);
                Ok(())
            })(),
        );
    }
    step(
        "stopping containerd",
        (|| {
            if node_proc::pid_of(&dirs, "containerd").is_some() {
                let n = stop_containers(ctx, cfg);
                if n > 0 {
                    ctx.say(&format!("stopped {n} container(s)"));
                }
            }
            if node_proc::stop(&dirs, "containerd")? {
                ctx.say("stopped containerd");
            }
            kill_containerd_leftovers(ctx, cfg);
            for pid in our_shims(cfg) {
                node_proc::kill_group(pid, Duration::from_secs(2));
            }
            Ok(())
        })(),
    );
    step(
        "removing the kubepods cgroups",
        (|| {
            let removed = sweep::remove_kubepods_cgroups()?;
            if removed > 0 {
                ctx.say(&format!("removed {removed} kubepods cgroup(s)"));
            }
            Ok(())
        })(),
    );
    step("stopping coredns", coredns::down(ctx, &cfg.coredns(), &dirs));
    step(
        "removing iptables chains",
        (|| {
            // kube-proxy's own cleanup first (iptables, ipvs, nftables), then whatever is left
            let proxy = cfg.bin.join("kube-proxy");
            if proxy.is_file() {
                let _ = cmd!(sh, "{proxy} --cleanup").quiet().ignore_stdout().ignore_stderr().ignore_status().run();
            }
            for swept in sweep::sweep_iptables(sh)? {
                ctx.say(&format!("removed KUBE-*/CNI-* chains ({swept})"));
            }
            Ok(())
        })(),
    );
    step(
        "unmounting",
        (|| {
            let roots = cfg.mount_roots();
            let roots: Vec<&Path> = roots.iter().map(PathBuf::as_path).collect();
            let unmounted = sweep::unmount_under(&roots)?;
            if unmounted > 0 {
                ctx.say(&format!("unmounted {unmounted} mount(s) under {}", cfg.dir().display()));
            }
            let netns = cfg.dir().join("containerd/state/io.containerd.grpc.v1.cri/netns");
            if netns.is_dir() {
                std::fs::remove_dir_all(&netns).with_context(|| format!("cannot remove {}", netns.display()))?;
            }
            Ok(())
        })(),
    );
    step(
        "removing the pod network",
        (|| {
            for port in sweep::bridge_ports(sh, files::BRIDGE) {
                sweep::delete_link(sh, &port)?;
            }
            if sweep::delete_link(sh, files::BRIDGE)? {
                ctx.say(&format!("removed the bridge {}", files::BRIDGE));
            }
            // addresses handed out (the next start's pods are new ones)
            let _ = std::fs::remove_dir_all(cfg.dir().join("cni/ipam"));
            if let Ok(entries) = std::fs::read_dir("/var/lib/cni/results") {
                for e in entries.flatten() {
                    if e.file_name().to_string_lossy().starts_with(&format!("{}-", files::NETWORK)) {
                        let _ = std::fs::remove_file(e.path());
                    }
                }
            }
            Ok(())
        })(),
    );
    step(
        "restoring sysctls",
        (|| {
            if let Ok(saved) = std::fs::read_to_string(cfg.sysctls_saved()) {
                let restored = sweep::restore_sysctls(&saved)?;
                if !restored.is_empty() {
                    ctx.say(&format!("restored {}", restored.join(", ")));
                }
                std::fs::remove_file(cfg.sysctls_saved())?;
            }
            Ok(())
        })(),
    );
    if !failed.is_empty() {
        bail!("the node did not stop cleanly: {}", failed.join("; "));
    }
    Ok(())
}
