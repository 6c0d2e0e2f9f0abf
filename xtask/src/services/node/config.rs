//! The real node's configuration: where its files, sockets, logs and
//! binaries are (from the environment, or as the `kube` service sets them),
//! the Debian packages it needs, and its processes as the keeper runs them.

use super::cgroups::Cgroups;
use super::coredns;
use super::files;
use crate::error::UsageError;
use crate::services::keeper::{Files, Mark, Spec};
use crate::services::kube::admin::Admin;
use crate::services::kube::{build, spec::Layout};
use anyhow::Result;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The local cluster's state directory (`XTASK_KUBE_STATE`).
pub fn state_dir() -> PathBuf {
    PathBuf::from(
        std::env::var("XTASK_KUBE_STATE").ok().filter(|v| !v.is_empty()).unwrap_or("/var/lib/xtask-kube".into()),
    )
}

/// What the node needs from Debian: (command or file, package).
pub const PACKAGES: &[(&str, &str)] = &[
    ("containerd", "containerd"),
    ("runc", "runc"),
    ("ctr", "containerd"),
    ("iptables", "iptables"),
    ("ip", "iproute2"),
    ("/usr/lib/cni/bridge", "containernetworking-plugins"),
    ("/usr/lib/cni/firewall", "containernetworking-plugins"),
];

/// The Node's name. The apiserver reaches a kubelet by the Node's Hostname
/// address first, and the kubelet (anonymous, AlwaysAllow: a test node)
/// listens on 127.0.0.1 only: `localhost` resolves there on any machine,
/// where the hostname may not (a GitHub runner maps it to its 10.1.0.x
/// address, with `multi on`). The kubelet refuses a loopback `--node-ip`, so
/// naming the node is the one way to keep it on loopback.
pub const NODE_NAME: &str = "localhost";

/// Where a registry's credentials come from (the `registry` service).
#[derive(Debug, Clone)]
pub struct Registry {
    pub host: String,
    pub user: String,
    pub password_file: PathBuf,
}

/// The node as it should run.
#[derive(Debug, Clone)]
pub struct Config {
    /// The cluster's state (`XTASK_KUBE_STATE`); the node keeps its files in `node/`.
    pub cluster: Layout,
    /// kube-build's binaries: kubelet, kube-proxy, coredns, kubectl, pause.tar.
    pub bin: PathBuf,
    /// Debian's containerd.
    pub containerd: PathBuf,
    /// The Node's name: [`NODE_NAME`], whatever the machine's hostname.
    pub name: String,
    pub registry: Option<Registry>,
    pub deadline: Duration,
    /// Taints the node registers with (`key=value:Effect`); none by default.
    pub taints: Vec<String>,
    /// The machine's cgroups: the kubelet's and containerd's driver.
    pub cgroups: Cgroups,
}

impl Config {
    /// From the environment: `XTASK_KUBE_STATE`, `XTASK_KUBE_BIN`
    /// (or `bin`), `XTASK_CONTAINERD`, `XTASK_KUBE_DEADLINE`, `XTASK_NODE_TAINTS`,
    /// and the registry service's when its password file exists.
    pub fn from_env(bin: Option<PathBuf>) -> Result<Config> {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let cache = PathBuf::from(var("XTASK_KUBE_CACHE").unwrap_or("/var/cache/xtask-kube".into()));
        // `down` and `status` work without binaries (kube-down on a machine that
        // never built any); `up` says what is missing in its preflight.
        let bin = bin
            .or_else(|| var("XTASK_KUBE_BIN").map(PathBuf::from))
            .or_else(|| build::newest_bin(&cache))
            .unwrap_or_else(|| cache.join("unbuilt/bin"));
        let deadline = match var("XTASK_KUBE_DEADLINE") {
            Some(s) => Duration::from_secs(
                s.parse()
                    .map_err(|_| UsageError::new(format!("XTASK_KUBE_DEADLINE={s} is not a number of seconds")))?,
            ),
            None => Duration::from_secs(180),
        };
        let password_file =
            PathBuf::from(var("XTASK_REGISTRY_PASSWORD_FILE").unwrap_or("/var/lib/xtask-registry/password".into()));
        let registry = password_file.is_file().then(|| Registry {
            host: var("XTASK_NODE_REGISTRY").unwrap_or("127.0.0.1:5000".into()),
            user: var("XTASK_REGISTRY_USERNAME").unwrap_or("xtask".into()),
            password_file,
        });
        Ok(Config {
            cluster: Layout { state: state_dir() },
            bin,
            containerd: PathBuf::from(var("XTASK_CONTAINERD").unwrap_or("/usr/bin/containerd".into())),
            name: NODE_NAME.to_string(),
            registry,
            deadline,
            taints: var("XTASK_NODE_TAINTS")
                .map(|t| t.split(',').map(|s| s.trim().to_string()).collect())
                .unwrap_or_default(),
            cgroups: Cgroups::detect(),
        })
    }

    pub(super) fn dir(&self) -> PathBuf {
        self.cluster.state.join("node")
    }
    /// kubectl (the build's) as the cluster's admin.
    pub(super) fn admin(&self) -> Admin {
        Admin::of(self.bin.join("kubectl"), &self.cluster)
    }
    /// A process's pid file and identity in the cluster's `run/`, its log in `logs/`.
    pub(super) fn files(&self, name: &str) -> Files {
        Files::under(&self.cluster.run(), &self.cluster.logs(), name)
    }
    /// A binary of `name` from the build cache (any key) runs ours: only we start those.
    fn cached(&self) -> Mark {
        Mark::Under(self.bin.parent().and_then(Path::parent).map(Path::to_path_buf).unwrap_or_default())
    }
    pub fn socket(&self) -> PathBuf {
        self.dir().join("containerd/containerd.sock")
    }
    pub(super) fn containerd_config(&self) -> PathBuf {
        self.dir().join("containerd/config.toml")
    }
    pub(super) fn hosts_toml(&self) -> Option<PathBuf> {
        let r = self.registry.as_ref()?;
        Some(self.dir().join("containerd/certs.d").join(&r.host).join("hosts.toml"))
    }
    pub(super) fn kubeconfig_of(&self, who: &str) -> PathBuf {
        self.dir().join(format!("{who}.kubeconfig"))
    }
    pub(super) fn sysctls_saved(&self) -> PathBuf {
        self.dir().join("sysctls.saved")
    }
    /// What `down` sweeps mounts from.
    pub(super) fn mount_roots(&self) -> Vec<PathBuf> {
        vec![self.dir()]
    }
    pub fn log_of(&self, name: &str) -> PathBuf {
        self.files(name).log
    }

    pub(super) fn coredns(&self) -> coredns::Config {
        coredns::Config {
            binary: self.bin.join("coredns"),
            dir: self.dir().join("coredns"),
            kubeconfig: self.kubeconfig_of("xtask-coredns"),
            files: self.files("coredns"),
        }
    }

    /// Our containerd: known without a pid file by its config on its command line.
    pub(super) fn containerd(&self) -> Spec {
        let config = self.containerd_config().display().to_string();
        let mut inputs = vec![self.containerd_config()];
        inputs.extend(self.hosts_toml());
        let args = vec!["--config".into(), config.clone()];
        Spec {
            inputs,
            mark: Mark::Arg(config),
            ..Spec::new("containerd", self.containerd.clone(), args, self.files("containerd"))
        }
    }

    pub(super) fn kubelet(&self) -> Spec {
        let d = self.dir();
        let args = vec![
            format!("--config={}", d.join("kubelet.yaml").display()),
            format!("--kubeconfig={}", self.kubeconfig_of("xtask-node").display()),
            format!("--root-dir={}", d.join("kubelet").display()),
            format!("--cert-dir={}", d.join("kubelet/pki").display()),
            format!("--hostname-override={}", self.name),
            format!("--node-labels={}=true", files::NODE_LABEL),
        ];
        Spec {
            inputs: vec![d.join("kubelet.yaml"), self.kubeconfig_of("xtask-node")],
            mark: self.cached(),
            ..Spec::new("kubelet", self.bin.join("kubelet"), args, self.files("kubelet"))
        }
    }

    pub(super) fn kube_proxy(&self) -> Spec {
        let d = self.dir();
        let args = vec![format!("--config={}", d.join("kube-proxy.yaml").display())];
        Spec {
            inputs: vec![d.join("kube-proxy.yaml"), self.kubeconfig_of("xtask-kube-proxy")],
            mark: self.cached(),
            ..Spec::new("kube-proxy", self.bin.join("kube-proxy"), args, self.files("kube-proxy"))
        }
    }
}
