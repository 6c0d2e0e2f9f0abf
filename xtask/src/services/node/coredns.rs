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

use crate::services::keeper::{self, put, Mark, Spec};
use crate::services::{net, Ctx};
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
    /// Its pid file, identity and log.
    pub files: keeper::Files,
}

impl Config {
    pub fn corefile_path(&self) -> PathBuf {
        self.dir.join("Corefile")
    }

    /// Known without a pid file by our Corefile on its command line.
    fn spec(&self) -> Spec {
        let corefile = self.corefile_path().display().to_string();
        let args = vec!["-conf".into(), corefile.clone()];
        Spec {
            inputs: vec![self.corefile_path(), self.kubeconfig.clone()],
            mark: Mark::Arg(corefile),
            ..Spec::new("coredns", self.binary.clone(), args, self.files.clone())
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

fn has_address(cx: &Ctx) -> bool {
    let sh = cx.sh;
    let addrs = cmd!(sh, "ip -o -4 addr show dev {LINK}").quiet().read().unwrap_or_default();
    addrs.contains(&format!(" {DNS_IP}/32 "))
}

/// Start CoreDNS unless it runs as wanted (the DNS address on the loopback
/// interface, added when missing), then wait for /health and /ready.
pub fn up(cx: &Ctx, cfg: &Config, deadline: Instant) -> Result<()> {
    if !has_address(cx) {
        let (sh, cidr) = (cx.sh, format!("{DNS_IP}/32"));
        cmd!(sh, "ip addr add {cidr} dev {LINK}").quiet().run().context("cannot add the cluster DNS address")?;
    }
    std::fs::create_dir_all(&cfg.dir).with_context(|| format!("cannot create {}", cfg.dir.display()))?;
    put(&cfg.corefile_path(), &corefile(&cfg.kubeconfig.display().to_string()))?;
    let spec = cfg.spec();
    spec.ensure(true, &|m| cx.say("node", m))?;
    spec.wait_for("/health and /ready", deadline, || net::ok(HEALTH, "/health") && net::ok(READY, "/ready"))
}

/// Stop CoreDNS and remove its address.
pub fn down(cx: &Ctx, cfg: &Config) -> Result<()> {
    cfg.spec().stop(&|m| cx.say("node", m))?;
    if has_address(cx) {
        let (sh, cidr) = (cx.sh, format!("{DNS_IP}/32"));
        cmd!(sh, "ip addr del {cidr} dev {LINK}").quiet().run().context("cannot remove the cluster DNS address")?;
        cx.say("node", &format!("removed {DNS_IP} from {LINK}"));
    }
    Ok(())
}

/// Its pid when running and healthy.
pub fn status(cfg: &Config) -> Option<u32> {
    cfg.spec().ours().map(|p| p.pid).filter(|_| net::ok(HEALTH, "/health"))
}

#[cfg(test)]
#[path = "coredns_tests.rs"]
mod tests;
