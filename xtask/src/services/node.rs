//! The local cluster's real worker node: a containerd of its own (Debian's
//! binary; its own config, root, state and socket, never dockerd's), the
//! kubelet and kube-proxy built at the control plane's pins, CoreDNS
//! (`coredns.rs`), a bridge network from Debian's CNI plugins, and a sandbox
//! image we build. Named `localhost` whatever the hostname (the apiserver
//! reaches the kubelet by the Node's name; `config::NODE_NAME` says why). `up` is idempotent and repairs what a `kill -9`
//! broke; `down` leaves no process, chain, bridge, namespace, mount or cgroup
//! behind and restores the sysctls the kubelet changed (`node/sweep.rs`).
//!
//! Entry points: `up`, `down`, `status` over [`Config`]; `cargo xtask node`
//! and the `kube` service (`cargo xtask services up|down kube`) call them
//! (docs/cluster.md).

mod cgroups;
mod config;
mod coredns;
mod files;
mod readiness;
pub mod root;
mod sweep;

use crate::error::UsageError;
use crate::services::keeper::put;
use crate::services::kube::spec;
use crate::services::{net, packages, process, Ctx};
use anyhow::{bail, Context, Result};
use base64::Engine;
use files::{ContainerdPaths, KubeletSettings, RegistryAuth};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use xshell::cmd;

pub use config::{state_dir, Config, PACKAGES};
pub use files::NODE_LABEL;
pub use readiness::{real_nodes, taint_args, NodeState};

const NAME: &str = "node";

fn say(cx: &Ctx, line: &str) {
    cx.say(NAME, line)
}

/// What must hold before anything starts; each problem names its fix.
fn preflight(cfg: &Config) -> Result<()> {
    // SAFETY: getuid has no preconditions.
    if unsafe { libc::getuid() } != 0 {
        bail!(UsageError::new("the node needs root (containers, mounts, iptables): run it as root"));
    }
    let missing = packages::missing(PACKAGES, &packages::on_path);
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
    if let Some(why) = readiness::not_loopback(&cfg.name, &addrs) {
        bail!(UsageError::new(why));
    }
    Ok(())
}

/// Bring the node up (or check it is): containerd, the sandbox image, the
/// identities, CoreDNS, the kubelet (until the Node is Ready), kube-proxy.
pub fn up(cx: &Ctx, cfg: &Config) -> Result<()> {
    let t0 = Instant::now();
    let deadline = t0 + cfg.deadline;
    preflight(cfg)?;
    let d = cfg.dir();
    let specs = [cfg.containerd(), cfg.kubelet(), cfg.kube_proxy()];
    let settled = |n: &Value| NodeState::of(n).ready && taint_args(n, &cfg.taints).is_empty();
    if specs.iter().all(|p| p.running().is_some())
        && coredns::status(&cfg.coredns()).is_some()
        && node_json(cx, cfg).is_some_and(|n| settled(&n))
        && stale_nodes(cx, cfg).is_empty()
    {
        // Image garbage collection (disk pressure) can take the sandbox image from a running node.
        let pause = std::fs::read_to_string(cfg.bin.join("pause.name"))?.trim().to_string();
        import_pause(cx, cfg, &pause)?;
        say(cx, &format!("node {} already up (containerd, coredns, kubelet, kube-proxy)", cfg.name));
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
    put(&cfg.containerd_config(), &files::containerd_toml(&paths, &cfg.cgroups, &pause, auth.as_ref()))?;
    if let (Some(r), Some(h)) = (&cfg.registry, cfg.hosts_toml()) {
        put(&h, &files::hosts_toml(&r.host))?;
    }
    put(&d.join("cni/net.d/10-xtask-pods.conflist"), &files::cni_conflist(&s(d.join("cni/ipam"))))?;
    let containerd = cfg.containerd();
    containerd.ensure(true, &|m| say(cx, m))?;
    let sock = cfg.socket();
    containerd.wait_for("its socket", deadline, || {
        std::os::unix::net::UnixStream::connect(&sock).is_ok() && ctr(cx, cfg, &["version"]).is_ok()
    })?;
    import_pause(cx, cfg, &pause)?;

    // identities
    let admin = cfg.admin();
    admin
        .cmd(cx.sh, Duration::from_secs(20), &["apply", "-f", "-"])
        .stdin(files::rbac_yaml())
        .ignore_stdout()
        .run()
        .context("could not create the node's ServiceAccounts and bindings (kubectl apply failed): is the control plane up? cargo xtask services up kube")?;
    let ca = std::fs::read(cfg.cluster.serving_crt()).context("no apiserver certificate: is the control plane up?")?;
    let ca = base64::engine::general_purpose::STANDARD.encode(ca);
    for (who, _) in files::IDENTITIES {
        let hint = format!("its log: {}", cfg.log_of("kube-controller-manager").display());
        let token = admin.token(cx.sh, who, deadline, &hint)?;
        put(&cfg.kubeconfig_of(who), &spec::kubeconfig(&ca, who, &token))?;
    }

    // DNS, then the kubelet and kube-proxy
    coredns::up(cx, &cfg.coredns(), deadline)?;
    put(&d.join("resolv.conf"), &format!("nameserver {}\n", coredns::DNS_IP))?;
    let settings = KubeletSettings {
        runtime_socket: &s(cfg.socket()),
        resolv_conf: &s(d.join("resolv.conf")),
        pod_logs_dir: &s(d.join("pod-logs")),
        cluster_dns: coredns::DNS_IP,
        taints: &cfg.taints,
        cgroups: cfg.cgroups,
    };
    put(&d.join("kubelet.yaml"), &files::kubelet_yaml(&settings))?;
    let kubelet = cfg.kubelet();
    kubelet.ensure(true, &|m| say(cx, m))?;
    kubelet.wait_for("/healthz", deadline, || net::ok("127.0.0.1:10248", "/healthz"))?;
    kubelet.wait_for(&format!("node {} Ready", cfg.name), deadline, || node_ready(cx, cfg) == Some(true))?;
    // registerWithTaints applies to a new Node only: an earlier run's taints go here
    if let Some(node) = node_json(cx, cfg) {
        let changes = taint_args(&node, &cfg.taints);
        if !changes.is_empty() {
            let mut args = vec!["taint", "node", &cfg.name];
            args.extend(changes.iter().map(String::as_str));
            args.push("--overwrite");
            admin
                .cmd(cx.sh, Duration::from_secs(10), &args)
                .ignore_stdout()
                .run()
                .context("could not set the node's taints")?;
            say(cx, &format!("taints of node {}: {}", cfg.name, changes.join(" ")));
        }
    }
    // A node of an earlier name (the hostname, before the node was `localhost`):
    // its pods are bound to a kubelet that no longer runs, so it goes.
    for old in stale_nodes(cx, cfg) {
        admin
            .cmd(cx.sh, Duration::from_secs(20), &["delete", "node", &old, "--ignore-not-found"])
            .ignore_stdout()
            .run()
            .with_context(|| format!("could not delete the earlier real node {old}"))?;
        say(cx, &format!("deleted the real node's earlier Node {old} (the node is {} now)", cfg.name));
    }
    put(&d.join("kube-proxy.yaml"), &files::kube_proxy_yaml(&s(cfg.kubeconfig_of("xtask-kube-proxy")), &cfg.name))?;
    let proxy = cfg.kube_proxy();
    proxy.ensure(true, &|m| say(cx, m))?;
    proxy.wait_for("/healthz", deadline, || net::ok("127.0.0.1:10256", "/healthz"))?;
    let seconds = t0.elapsed().as_secs_f64();
    say(
        cx,
        &format!(
            "node {} Ready after {seconds:.1}s: {} (pods {}, DNS {}; logs: {})",
            cfg.name,
            runtime_version(cx, cfg).unwrap_or_else(|| "containerd".into()),
            files::POD_CIDR,
            coredns::DNS_IP,
            cfg.cluster.logs().display()
        ),
    );
    Ok(())
}

/// `ctr` against our containerd, in the CRI's namespace.
fn ctr(cx: &Ctx, cfg: &Config, args: &[&str]) -> Result<String> {
    let sh = cx.sh;
    let sock = cfg.socket();
    Ok(cmd!(sh, "ctr --address {sock} --namespace k8s.io {args...}").quiet().ignore_stderr().read()?)
}

/// Import the sandbox image unless containerd has it at the digest kube-build made.
fn import_pause(cx: &Ctx, cfg: &Config, name: &str) -> Result<()> {
    let digest = std::fs::read_to_string(cfg.bin.join("pause.digest"))?.trim().to_string();
    let filter = format!("name=={name}");
    let listed = ctr(cx, cfg, &["images", "ls", &filter]).unwrap_or_default();
    if listed.lines().skip(1).any(|l| l.split_whitespace().nth(2) == Some(digest.as_str())) {
        return Ok(());
    }
    let tar = cfg.bin.join("pause.tar");
    let sh = cx.sh;
    let sock = cfg.socket();
    cmd!(sh, "ctr --address {sock} --namespace k8s.io images import {tar}")
        .quiet()
        .ignore_stdout()
        .run()
        .with_context(|| format!("could not import the sandbox image {} into the node's containerd", tar.display()))?;
    say(cx, &format!("imported the sandbox image {name} ({digest})"));
    Ok(())
}

fn node_json(cx: &Ctx, cfg: &Config) -> Option<Value> {
    let args = ["get", "node", &cfg.name, "-o", "json"];
    let out = cfg.admin().cmd(cx.sh, Duration::from_secs(5), &args).ignore_stderr().read().ok()?;
    serde_json::from_str(&out).ok()
}

/// Real nodes (by label) other than ours: left by an earlier name.
fn stale_nodes(cx: &Ctx, cfg: &Config) -> Vec<String> {
    let args = ["get", "nodes", "-l", NODE_LABEL, "-o", "json"];
    let out = cfg.admin().cmd(cx.sh, Duration::from_secs(5), &args).ignore_stderr().read().unwrap_or_default();
    let list = serde_json::from_str(&out).unwrap_or_default();
    readiness::others(&list, &cfg.name)
}

fn node_ready(cx: &Ctx, cfg: &Config) -> Option<bool> {
    node_json(cx, cfg).map(|n| NodeState::of(&n).ready)
}

fn runtime_version(cx: &Ctx, cfg: &Config) -> Option<String> {
    node_json(cx, cfg).map(|n| NodeState::of(&n).runtime)
}

/// What runs of the node (pid or not, per process), and its Node.
pub struct Status {
    pub processes: Vec<(&'static str, Option<u32>)>,
    pub node: Option<NodeState>,
}

pub fn status(cx: &Ctx, cfg: &Config) -> Status {
    let mut processes: Vec<(&'static str, Option<u32>)> = Vec::new();
    for p in [cfg.containerd(), cfg.kubelet(), cfg.kube_proxy()] {
        processes.push((p.name, p.ours().map(|p| p.pid)));
    }
    processes.insert(1, ("coredns", coredns::status(&cfg.coredns())));
    Status { processes, node: node_json(cx, cfg).map(|n| NodeState::of(&n)) }
}

/// The shims of our containerd (their `-address` is our socket).
fn our_shims(cfg: &Config) -> Vec<u32> {
    let sock = cfg.socket().display().to_string();
    process::find(&|exe, args| {
        exe.file_name().is_some_and(|f| f.to_string_lossy().starts_with("containerd-shim"))
            && args.windows(2).any(|w| w[0] == "-address" && w[1] == sock)
    })
}

/// Stop the pods' containers through containerd: TERM, a grace period, KILL, delete.
fn stop_containers(cx: &Ctx, cfg: &Config) -> usize {
    let Ok(list) = ctr(cx, cfg, &["tasks", "ls"]) else { return 0 };
    let running: Vec<String> =
        list.lines().skip(1).filter_map(|l| l.split_whitespace().next().map(String::from)).collect();
    for id in &running {
        let _ = ctr(cx, cfg, &["tasks", "kill", "--signal", "SIGTERM", id]);
    }
    let end = Instant::now() + Duration::from_secs(10);
    while Instant::now() < end {
        let list = ctr(cx, cfg, &["tasks", "ls"]).unwrap_or_default();
        if list.lines().skip(1).all(|l| l.split_whitespace().nth(2) == Some("STOPPED")) {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    for id in &running {
        let _ = ctr(cx, cfg, &["tasks", "kill", "--all", "--signal", "SIGKILL", id]);
        let _ = ctr(cx, cfg, &["tasks", "delete", "--force", id]);
    }
    let containers = ctr(cx, cfg, &["containers", "ls", "-q"]).unwrap_or_default();
    for id in containers.lines().filter(|l| !l.trim().is_empty()) {
        let _ = ctr(cx, cfg, &["containers", "delete", id.trim()]);
    }
    running.len()
}

/// Stop the node and remove every trace of it from the machine. Keeps its
/// files (images stay pulled, identities stay) and the Node object. Every step
/// runs even when an earlier one failed; the failures are reported together.
pub fn down(cx: &Ctx, cfg: &Config) -> Result<()> {
    let sh = cx.sh;
    let mut failed: Vec<String> = Vec::new();
    let mut step = |what: &str, r: Result<()>| {
        if let Err(e) = r {
            failed.push(format!("{what}: {e:#}"));
        }
    };
    for p in [cfg.kube_proxy(), cfg.kubelet()] {
        step(&format!("stopping {}", p.name), p.stop(&|m| say(cx, m)).map(|_| ()));
    }
    step(
        "stopping containerd",
        (|| {
            let containerd = cfg.containerd();
            if containerd.ours().is_some() {
                let n = stop_containers(cx, cfg);
                if n > 0 {
                    say(cx, &format!("stopped {n} container(s)"));
                }
            }
            containerd.stop(&|m| say(cx, m))?;
            for p in our_shims(cfg).into_iter().filter_map(|pid| process::proc_of("containerd-shim", pid)) {
                let _ = process::stop(&p, Duration::from_secs(2));
            }
            Ok(())
        })(),
    );
    step(
        "removing the kubepods cgroups",
        (|| {
            let removed = sweep::remove_kubepods_cgroups()?;
            if removed > 0 {
                say(cx, &format!("removed {removed} kubepods cgroup(s)"));
            }
            Ok(())
        })(),
    );
    step("stopping coredns", coredns::down(cx, &cfg.coredns()));
    step(
        "removing iptables chains",
        (|| {
            // kube-proxy's own cleanup first (iptables, ipvs, nftables), then whatever is left
            let proxy = cfg.bin.join("kube-proxy");
            if proxy.is_file() {
                let _ = cmd!(sh, "{proxy} --cleanup").quiet().ignore_stdout().ignore_stderr().ignore_status().run();
            }
            for swept in sweep::sweep_iptables(sh)? {
                say(cx, &format!("removed KUBE-*/CNI-* chains ({swept})"));
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
                say(cx, &format!("unmounted {unmounted} mount(s) under {}", cfg.dir().display()));
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
                say(cx, &format!("removed the bridge {}", files::BRIDGE));
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
                    say(cx, &format!("restored {}", restored.join(", ")));
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
