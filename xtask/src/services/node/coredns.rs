//! Cluster DNS for the real node: CoreDNS (built by `kube::build` from its
//! Go module, pinned in `.ci/kube/coredns/`) as a **host process**, listening
//! only on a link-local address put on the loopback interface, the address the
//! kubelet's `clusterDNS` hands every pod (NodeLocal DNSCache's pattern; that
//! one uses a dummy interface, which this kernel does not have). A pod reaches
//! it through its default route (the bridge), and the host delivers it locally.
//!
//! Why not a Deployment: a pod cannot reach the apiserver here (it listens on
//! 127.0.0.1 and the `kubernetes` Service has no endpoints), so an in-cluster
//! CoreDNS would need the host's network anyway; as a host process it is kept
//! like the control plane (pid file, identity, log, restarted after `kill -9`),
//! is up before the kubelet starts the first pod, and needs no image, no
//! scheduling decision and no Service address. It has no `forward` plugin: a
//! pod's DNS traffic stays on the machine (cluster names are answered, other
//! names are refused).

use super::proc::{self as node_proc, put, Ctx, Dirs, Proc};
use anyhow::{Context, Result};
use std::path::PathBuf;
use std::time::Instant;
use xshell::cmd;

/// The address pods send their queries to (the kubelet's `clusterDNS`).
pub const DNS_IP: &str = "169.254.20.10";
/// The interface that carries it.
pub const LINK: &str = "lo";
pub const HEALTH: &str = "127.0.0.1:18080";
pub const READY: &str = "127.0.0.1:18181";

/// CoreDNS as the node runs it.
#[derive(Debug, Clone)]
pub struct Config {
    /// kube-build's `coredns`.
    pub binary: PathBuf,
    /// Its directory (the Corefile).
    pub dir: PathBuf,
    /// Its identity's kubeconfig (ServiceAccount `xtask-coredns`).
    pub kubeconfig: PathBuf,
}

impl Config {
    pub fn corefile_path(&self) -> PathBuf {
        self.dir.join("Corefile")
    }

    fn proc(&self) -> Proc {
        Proc {
            name: "coredns",
            program: self.binary.clone(),
            args: vec!["-conf".into(), self.corefile_path().display().to_string()],
            inputs: vec![self.corefile_path(), self.kubeconfig.clone()],
        }
    }
}

/// The Corefile: Services and pods of `cluster.local` (and their reverse
/// zones) from the API, health and readiness on loopback, nothing forwarded.
pub fn corefile(kubeconfig: &str) -> String {
    format!(
        "# written by cargo xtask node up
.:53 {{
    bind {DNS_IP}
    errors
    health {HEALTH}
    ready {READY}
    kubernetes {domain} in-addr.arpa ip6.arpa {{
        kubeconfig {kubeconfig} xtask
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 30
    }}
    cache 30
    loadbalance
}}
",
        domain = super::files::CLUSTER_DOMAIN
    )
}

fn has_address(ctx: &Ctx) -> bool {
    let sh = &ctx.sh;
    let addrs = cmd!(sh, "ip -o -4 addr show dev {LINK}").quiet().read().unwrap_or_default();
    addrs.contains(&format!(" {DNS_IP}/32 "))
}

/// The DNS address on the loopback interface (added when missing).
fn ensure_address(ctx: &Ctx) -> Result<()> {
    if !has_address(ctx) {
        let sh = &ctx.sh;
        let cidr = format!("{DNS_IP}/32");
        cmd!(sh, "ip addr add {cidr} dev {LINK}").quiet().run().context("cannot add the cluster DNS address")?;
    }
    Ok(())
}

/// Start CoreDNS unless it runs as wanted, then wait for /health and /ready.
pub fn up(ctx: &Ctx, cfg: &Config, dirs: &Dirs, deadline: Instant) -> Result<()> {
    ensure_address(ctx)?;
    std::fs::create_dir_all(&cfg.dir).with_context(|| format!("cannot create {}", cfg.dir.display()))?;
    put(&cfg.corefile_path(), &corefile(&cfg.kubeconfig.display().to_string()))?;
    let p = cfg.proc();
    match p.running(dirs) {
        Some(pid) => ctx.say(&format!("coredns already running (pid {pid})")),
        None => {
            if let Some(pid) = node_proc::pid_of(dirs, "coredns") {
                ctx.say(&format!("restarting coredns (pid {pid}): its binary or configuration changed"));
                node_proc::stop(dirs, "coredns")?;
            }
            kill_leftovers(ctx, cfg);
            let pid = p.start(dirs)?;
            ctx.say(&format!("starting coredns (pid {pid}, {DNS_IP}:53; log: {})", dirs.log("coredns").display()));
        }
    }
    node_proc::wait_for(dirs, "coredns", "/health and /ready", deadline, || {
        node_proc::http_ok(HEALTH, "/health") && node_proc::http_ok(READY, "/ready")
    })
}

/// CoreDNS processes of ours without a pid file (our Corefile on their command line).
fn kill_leftovers(ctx: &Ctx, cfg: &Config) {
    let corefile = cfg.corefile_path().display().to_string();
    for pid in node_proc::find(|exe, args| exe.ends_with("coredns") && args.contains(&corefile)) {
        ctx.say(&format!("killing a leftover coredns (pid {pid}, no pid file)"));
        node_proc::kill_group(pid, std::time::Duration::from_secs(5));
    }
}

/// Stop CoreDNS and remove its address.
pub fn down(ctx: &Ctx, cfg: &Config, dirs: &Dirs) -> Result<()> {
    if node_proc::stop(dirs, "coredns")? {
        ctx.say("stopped coredns");
    }
    kill_leftovers(ctx, cfg);
    if has_address(ctx) {
        let sh = &ctx.sh;
        let cidr = format!("{DNS_IP}/32");
        cmd!(sh, "ip addr del {cidr} dev {LINK}").quiet().run().context("cannot remove the cluster DNS address")?;
        ctx.say(&format!("removed {DNS_IP} from {LINK}"));
    }
    Ok(())
}

/// Its pid when running and healthy.
pub fn status(dirs: &Dirs) -> Option<u32> {
    node_proc::pid_of(dirs, "coredns").filter(|_| node_proc::http_ok(HEALTH, "/health"))
}

#[cfg(test)]
#[path = "coredns_tests.rs"]
mod tests;
