//! The real node's configuration files, as pure functions of the layout
//! (tested in `files_tests.rs`): containerd's config and registry hosts,
//! the CNI network, the kubelet's and kube-proxy's configurations, and the
//! RBAC objects behind the node's identities.

use super::cgroups::Cgroups;
use crate::services::kube::spec::{cluster_role, service_account};

/// Pods of the real node get addresses from here; kwok's fake pods use 10.244.0.0/16,
/// so a fake address never equals a real one.
pub const POD_CIDR: &str = "10.245.0.0/16";
/// The CNI network and its Linux bridge.
pub const NETWORK: &str = "xtask-pods";
pub const BRIDGE: &str = "xtask-cni0";
/// Debian's containernetworking-plugins.
pub const CNI_BIN: &str = "/usr/lib/cni";
pub const CLUSTER_DOMAIN: &str = "cluster.local";
/// The label the real node carries (kwok's node carries `type: kwok`).
pub const NODE_LABEL: &str = "xtask.dev/real-node";

/// The identities the node's processes use (ServiceAccounts in kube-system,
/// each with a long-lived token Secret `<name>-token`): name and ClusterRole.
pub const IDENTITIES: [(&str, &str); 3] =
    [("xtask-node", "system:node"), ("xtask-kube-proxy", "system:node-proxier"), ("xtask-coredns", "xtask:coredns")];

/// The ServiceAccounts, their token Secrets, their bindings, and CoreDNS's ClusterRole.
/// Node identity without touching the apiserver's flags: no client certificates,
/// no token file entry, only objects (applied on every `up`).
pub fn rbac_yaml() -> String {
    let rules = [
        ("", "endpoints, services, pods, namespaces", "list, watch"),
        ("discovery.k8s.io", "endpointslices", "list, watch"),
    ];
    let mut out = cluster_role("xtask:coredns", &rules);
    for (name, role) in IDENTITIES {
        out.push_str(&service_account(name, role));
    }
    out
}

/// A TOML basic string.
fn toml_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Registry credentials for containerd's CRI (kept in its 0600 config).
pub struct RegistryAuth<'a> {
    pub host: &'a str,
    pub user: &'a str,
    pub password: &'a str,
}

/// Where containerd keeps things; none of it is dockerd's.
pub struct ContainerdPaths<'a> {
    pub root: &'a str,
    pub state: &'a str,
    pub socket: &'a str,
    pub certs_d: &'a str,
    pub cni_conf_dir: &'a str,
}

/// containerd's config: CRI with the machine's cgroup driver (the kubelet's),
/// overlayfs and runc; the sandbox image
/// we build; `restrict_oom_score_adj` (root here lacks CAP_SYS_RESOURCE, and
/// without it every pod fails in runc with "can't get final child's PID from
/// pipe"); network namespaces under its own state; registries from `certs_d`.
pub fn containerd_toml(
    p: &ContainerdPaths,
    cgroups: &Cgroups,
    sandbox_image: &str,
    auth: Option<&RegistryAuth>,
) -> String {
    let mut out = format!(
        "# written by cargo xtask node up; containerd of the local cluster's real node
version = 2
root = {root}
state = {state}
# plugins that would share paths with another containerd, or that cannot work here
disabled_plugins = [\"io.containerd.internal.v1.opt\", \"io.containerd.snapshotter.v1.aufs\", \"io.containerd.snapshotter.v1.btrfs\", \"io.containerd.snapshotter.v1.devmapper\", \"io.containerd.snapshotter.v1.zfs\", \"io.containerd.tracing.processor.v1.otlp\"]

[grpc]
  address = {socket}

[plugins.\"io.containerd.grpc.v1.cri\"]
  sandbox_image = {sandbox}
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  stream_server_address = \"127.0.0.1\"
  stream_server_port = \"0\"
  [plugins.\"io.containerd.grpc.v1.cri\".containerd]
    snapshotter = \"overlayfs\"
    default_runtime_name = \"runc\"
    [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc]
      runtime_type = \"io.containerd.runc.v2\"
      [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc.options]
        SystemdCgroup = {systemd}
  [plugins.\"io.containerd.grpc.v1.cri\".cni]
    bin_dir = {cni_bin}
    conf_dir = {cni_conf}
    max_conf_num = 1
  [plugins.\"io.containerd.grpc.v1.cri\".registry]
    config_path = {certs_d}
",
        root = toml_str(p.root),
        state = toml_str(p.state),
        socket = toml_str(p.socket),
        sandbox = toml_str(sandbox_image),
        systemd = cgroups.systemd,
        cni_bin = toml_str(CNI_BIN),
        cni_conf = toml_str(p.cni_conf_dir),
        certs_d = toml_str(p.certs_d),
    );
    if let Some(a) = auth {
        out.push_str(&format!(
            "    [plugins.\"io.containerd.grpc.v1.cri\".registry.configs.{host}.auth]
      username = {user}
      password = {password}
",
            host = toml_str(a.host),
            user = toml_str(a.user),
            password = toml_str(a.password),
        ));
    }
    out
}

/// `certs.d/<host>/hosts.toml`: a plain-HTTP registry on loopback.
pub fn hosts_toml(host: &str) -> String {
    format!(
        "server = \"http://{host}\"

[host.\"http://{host}\"]
  capabilities = [\"pull\", \"resolve\"]
"
    )
}

/// The pod network: a bridge with host-local addresses, port mappings, and the
/// firewall plugin (Docker's `FORWARD DROP` policy otherwise drops pod to pod
/// and pod to ClusterIP traffic). containerd adds loopback itself.
pub fn cni_conflist(ipam_dir: &str) -> String {
    serde_json::to_string_pretty(&serde_json::json!({
        "cniVersion": "1.0.0",
        "name": NETWORK,
        "plugins": [
            {"type": "bridge", "bridge": BRIDGE, "isGateway": true, "ipMasq": true, "hairpinMode": true,
             "ipam": {"type": "host-local", "ranges": [[{"subnet": POD_CIDR}]],
                      "routes": [{"dst": "0.0.0.0/0"}], "dataDir": ipam_dir}},
            {"type": "portmap", "capabilities": {"portMappings": true}},
            {"type": "firewall", "backend": "iptables"},
        ],
    }))
    .expect("a JSON value serialises")
        + "\n"
}

/// What the kubelet's configuration depends on.
pub struct KubeletSettings<'a> {
    pub runtime_socket: &'a str,
    pub resolv_conf: &'a str,
    pub pod_logs_dir: &'a str,
    pub cluster_dns: &'a str,
    /// `key=value:Effect` taints the node registers with.
    pub taints: &'a [String],
    pub cgroups: Cgroups,
}

/// The kubelet: eviction thresholds in bytes, not the default percentages (a
/// shared machine's disk is mostly other people's: 15% of it free is a disk
/// pressure taint that stops every pod while gigabytes are free); serving on
/// loopback only (anonymous + AlwaysAllow is for a test node; the apiserver
/// reaches it by the Node's name, `localhost`), the machine's cgroup driver,
/// swap tolerated, no certificate rotation.
pub fn kubelet_yaml(s: &KubeletSettings) -> String {
    let mut out = format!(
        "# written by cargo xtask node up
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: 127.0.0.1
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication:
  anonymous:
    enabled: true
  webhook:
    enabled: false
authorization:
  mode: AlwaysAllow
{cgroups}failSwapOn: false
containerRuntimeEndpoint: unix://{socket}
clusterDomain: {CLUSTER_DOMAIN}
clusterDNS:
- {dns}
resolvConf: {resolv}
podLogsDir: {logs}
rotateCertificates: false
serverTLSBootstrap: false
evictionHard:
  imagefs.available: 2Gi
  nodefs.available: 2Gi
  nodefs.inodesFree: 5%
  memory.available: 256Mi
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
",
        socket = s.runtime_socket,
        dns = s.cluster_dns,
        resolv = s.resolv_conf,
        logs = s.pod_logs_dir,
        cgroups = s.cgroups.kubelet_lines(),
    );
    if s.taints.is_empty() {
        out.push_str("registerWithTaints: []\n");
    } else {
        out.push_str("registerWithTaints:\n");
        for t in s.taints {
            let (kv, effect) = t.rsplit_once(':').unwrap_or((t, "NoSchedule"));
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            out.push_str(&format!("- key: {k}\n  value: \"{v}\"\n  effect: {effect}\n"));
        }
    }
    out
}

/// kube-proxy in iptables mode. Health and metrics on loopback; it changes no
/// sysctl (no localhost node ports; conntrack's table size and TCP timeouts
/// left as they are: unset, its defaults would set them to 1 day and 1 hour),
/// so stopping it leaves only its chains, which `down` removes.
pub fn kube_proxy_yaml(kubeconfig: &str, node: &str) -> String {
    format!(
        "# written by cargo xtask node up
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection:
  kubeconfig: {kubeconfig}
hostnameOverride: {node}
mode: iptables
clusterCIDR: {POD_CIDR}
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
nodePortAddresses: [primary]
iptables:
  localhostNodePorts: false
conntrack:
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
"
    )
}

#[cfg(test)]
#[path = "files_tests.rs"]
mod tests;
