//! What the local control plane is, as data (pure): each process's flags,
//! ports and spec for the keeper, the kubeconfigs, the fake nodes and
//! volumes. The identity of a process is its binary, its flags and (kwok)
//! its stages: a live process with the same identity is kept, a changed one
//! restarted.

use crate::services::keeper::{Files, Mark, Spec};
use std::path::{Path, PathBuf};

pub const HOST: &str = "127.0.0.1";
pub const API_PORT: u16 = 6443;
const ETCD_PORT: u16 = 2379;
const ETCD_PEER_PORT: u16 = 2380;
const KCM_PORT: u16 = 10257;
const SCHED_PORT: u16 = 10259;
const SERVICE_CIDR: &str = "10.96.0.0/16";
const POD_CIDR: &str = "10.244.0.0/16";

/// The processes, in start order.
pub const COMPONENTS: [&str; 5] = ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"];

/// The users of the token file: (name, groups).
pub const USERS: [(&str, &str); 4] = [
    ("xtask-admin", "system:masters"),
    ("system:kube-controller-manager", ""),
    ("system:kube-scheduler", ""),
    ("xtask-kwok", "system:masters"),
];

/// Where the cluster's state lives (`XTASK_KUBE_STATE`).
#[derive(Debug, Clone)]
pub struct Layout {
    pub state: PathBuf,
}

impl Layout {
    pub fn pki(&self) -> PathBuf {
        self.state.join("pki")
    }
    pub fn serving(&self) -> PathBuf {
        self.pki().join("serving")
    }
    pub fn serving_crt(&self) -> PathBuf {
        self.serving().join("apiserver.crt")
    }
    pub fn tokens(&self) -> PathBuf {
        self.pki().join("tokens.csv")
    }
    pub fn kubeconfigs(&self) -> PathBuf {
        self.state.join("kubeconfigs")
    }
    pub fn admin(&self) -> PathBuf {
        self.state.join("kubeconfig")
    }
    pub fn run(&self) -> PathBuf {
        self.state.join("run")
    }
    pub fn logs(&self) -> PathBuf {
        self.state.join("logs")
    }
    pub fn kwok_config(&self) -> PathBuf {
        self.state.join("kwok.yaml")
    }
    pub fn volumes(&self) -> PathBuf {
        self.state.join("volumes")
    }
    /// The kubeconfig a component runs with.
    pub fn kubeconfig_of(&self, component: &str) -> PathBuf {
        let file = match component {
            "kube-controller-manager" => "controller-manager",
            "kube-scheduler" => "scheduler",
            other => other,
        };
        self.kubeconfigs().join(format!("{file}.kubeconfig"))
    }
}

/// The ports `component` listens on.
pub fn ports(component: &str) -> &'static [u16] {
    match component {
        "etcd" => &[ETCD_PORT, ETCD_PEER_PORT],
        "kube-apiserver" => &[API_PORT],
        "kube-controller-manager" => &[KCM_PORT],
        "kube-scheduler" => &[SCHED_PORT],
        _ => &[],
    }
}

/// The port a component's `/healthz` answers HTTPS on.
pub fn health_port(component: &str) -> Option<u16> {
    match component {
        "kube-controller-manager" => Some(KCM_PORT),
        "kube-scheduler" => Some(SCHED_PORT),
        _ => None,
    }
}

pub fn etcd_addr() -> String {
    format!("{HOST}:{ETCD_PORT}")
}

pub fn server() -> String {
    format!("https://{HOST}:{API_PORT}")
}

/// A component's flags.
pub fn args(component: &str, l: &Layout) -> Vec<String> {
    let p = |path: PathBuf| path.display().to_string();
    let state = p(l.state.clone());
    let kubeconfig = p(l.kubeconfig_of(component));
    let with_kubeconfig = |port: u16, extra: &[String]| {
        let mut a = vec![
            format!("--kubeconfig={kubeconfig}"),
            format!("--authentication-kubeconfig={kubeconfig}"),
            format!("--authorization-kubeconfig={kubeconfig}"),
            format!("--bind-address={HOST}"),
            format!("--secure-port={port}"),
            "--leader-elect=false".into(),
        ];
        a.extend(extra.iter().cloned());
        a.push("--profiling=false".into());
        a
    };
    match component {
        "etcd" => vec![
            "--name=xtask".into(),
            format!("--data-dir={state}/etcd"),
            format!("--listen-client-urls=http://{HOST}:{ETCD_PORT}"),
            format!("--advertise-client-urls=http://{HOST}:{ETCD_PORT}"),
            format!("--listen-peer-urls=http://{HOST}:{ETCD_PEER_PORT}"),
            format!("--initial-advertise-peer-urls=http://{HOST}:{ETCD_PEER_PORT}"),
            format!("--initial-cluster=xtask=http://{HOST}:{ETCD_PEER_PORT}"),
            "--auto-compaction-retention=1".into(),
            "--quota-backend-bytes=4294967296".into(),
            // A test cluster: survives kill -9 (the page cache stays), not a power cut.
            "--unsafe-no-fsync".into(),
            "--log-level=warn".into(),
        ],
        "kube-apiserver" => vec![
            format!("--etcd-servers=http://{HOST}:{ETCD_PORT}"),
            format!("--bind-address={HOST}"),
            format!("--advertise-address={HOST}"),
            format!("--secure-port={API_PORT}"),
            format!("--cert-dir={}", p(l.serving())),
            format!("--token-auth-file={}", p(l.tokens())),
            "--authorization-mode=Node,RBAC".into(),
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local".into(),
            format!("--service-account-key-file={}", p(l.pki().join("sa.pub"))),
            format!("--service-account-signing-key-file={}", p(l.pki().join("sa.key"))),
            format!("--service-cluster-ip-range={SERVICE_CIDR}"),
            "--allow-privileged=true".into(),
            "--profiling=false".into(),
            // The "kubernetes" Service would point at 127.0.0.1, which Endpoints reject.
            "--endpoint-reconciler-type=none".into(),
        ],
        "kube-controller-manager" => with_kubeconfig(
            KCM_PORT,
            &[
                "--use-service-account-credentials=true".into(),
                format!("--service-account-private-key-file={}", p(l.pki().join("sa.key"))),
                format!("--root-ca-file={}", p(l.serving_crt())),
                "--cluster-name=xtask".into(),
                "--controllers=*,-service-lb-controller,-cloud-node-lifecycle-controller,-node-route-controller".into(),
            ],
        ),
        "kube-scheduler" => with_kubeconfig(SCHED_PORT, &[]),
        "kwok" => vec![
            format!("--kubeconfig={kubeconfig}"),
            format!("--config={}", p(l.kwok_config())),
            "--manage-all-nodes=false".into(),
            "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake".into(),
            format!("--cidr={POD_CIDR}"),
            "--node-lease-duration-seconds=40".into(),
        ],
        other => unreachable!("no component {other}"),
    }
}

/// The fake nodes of a `kubectl get nodes -o json` list: (name, Ready, tainted).
pub fn fake_nodes(list: &serde_json::Value) -> Vec<(String, bool, bool)> {
    let items = list["items"].as_array().map(Vec::as_slice).unwrap_or_default();
    items
        .iter()
        .map(|n| {
            let conditions = n["status"]["conditions"].as_array().map(Vec::as_slice).unwrap_or_default();
            let ready = conditions.iter().any(|c| c["type"] == "Ready" && c["status"] == "True");
            let taints = n["spec"]["taints"].as_array().map(Vec::as_slice).unwrap_or_default();
            let tainted = taints.iter().any(|t| t["key"] == "xtask.dev/fake-node");
            (n["metadata"]["name"].as_str().unwrap_or_default().to_string(), ready, tainted)
        })
        .collect()
}

/// `component` as the keeper runs it: the build's binary, its flags, kwok's
/// stages (its configuration file) as an input, its ports; a leftover is a
/// binary of its name from the build cache.
pub fn process(component: &'static str, l: &Layout, bin: &Path, cache: &Path) -> Spec {
    Spec {
        inputs: if component == "kwok" { vec![l.kwok_config()] } else { Vec::new() },
        mark: Mark::Under(cache.to_path_buf()),
        ports: ports(component).to_vec(),
        ..Spec::new(component, bin.join(component), args(component, l), Files::under(&l.run(), &l.logs(), component))
    }
}

/// kwok's configuration: every stage file, as one multi-document YAML.
pub fn kwok_config(stages: &[String]) -> String {
    stages.iter().map(|s| format!("---\n{s}")).collect()
}

/// A kubeconfig for `user` with `token`, trusting the apiserver's certificate.
pub fn kubeconfig(ca_b64: &str, user: &str, token: &str) -> String {
    let server = server();
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: xtask
  cluster:
    server: {server}
    certificate-authority-data: {ca_b64}
users:
- name: {user}
  user:
    token: {token}
contexts:
- name: xtask
  context:
    cluster: xtask
    user: {user}
    namespace: default
current-context: xtask
"
    )
}

/// A ClusterRole `name` allowing each rule's (API group, resources, verbs);
/// the core group is "".
pub fn cluster_role(name: &str, rules: &[(&str, &str, &str)]) -> String {
    let mut out =
        format!("apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: {name}\nrules:\n");
    for (group, resources, verbs) in rules {
        let group = if group.is_empty() { "\"\"" } else { group };
        out += &format!("- apiGroups: [{group}]\n  resources: [{resources}]\n  verbs: [{verbs}]\n");
    }
    out
}

/// A ServiceAccount in kube-system with a long-lived token Secret
/// `<name>-token`, bound to the ClusterRole `role`: an identity for a process
/// on the host, made of objects only.
pub fn service_account(name: &str, role: &str) -> String {
    format!(
        "---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {name}
  namespace: kube-system
---
apiVersion: v1
kind: Secret
type: kubernetes.io/service-account-token
metadata:
  name: {name}-token
  namespace: kube-system
  annotations:
    kubernetes.io/service-account.name: {name}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: {name}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: {role}
subjects:
- kind: ServiceAccount
  name: {name}
  namespace: kube-system
"
    )
}

/// A token file line: `token,user,uid[,"groups"]`.
pub fn token_line(token: &str, user: &str, groups: &str) -> String {
    if groups.is_empty() {
        format!("{token},{user},{user}\n")
    } else {
        format!("{token},{user},{user},\"{groups}\"\n")
    }
}

/// The token of `user` in a token file.
pub fn token_of(tokens: &str, user: &str) -> Option<String> {
    tokens.lines().find_map(|l| {
        let f: Vec<&str> = l.split(',').collect();
        (f.get(1) == Some(&user)).then(|| f[0].to_string())
    })
}

/// The taint the fake node carries while the real one runs: only pods that
/// tolerate it (tests of simulated states) go there.
pub const FAKE_TAINT: &str = "[{key: xtask.dev/fake-node, value: \"true\", effect: NoSchedule}]";

/// The fake nodes kwok runs (tainted while a real node runs) and the
/// pre-made volumes claims that ask for no class (`storageClassName: ""`)
/// bind to; the default class's claims get volumes of their own (`kube::volumes`).
pub fn objects(nodes: u32, volumes: u32, dir: &Path, tainted: bool) -> String {
    let taints = if tainted { FAKE_TAINT } else { "[]" };
    let mut out = String::new();
    for i in 0..nodes {
        out += &format!(
            "---
apiVersion: v1
kind: Node
metadata:
  name: kwok-node-{i}
  annotations:
    kwok.x-k8s.io/node: fake
    node.alpha.kubernetes.io/ttl: \"0\"
  labels:
    type: kwok
    xtask.dev/fake-node: \"true\"
    kubernetes.io/arch: amd64
    kubernetes.io/os: linux
    kubernetes.io/hostname: kwok-node-{i}
spec:
  taints: {taints}
status:
  allocatable: {{cpu: \"32\", memory: 256Gi, pods: \"110\", ephemeral-storage: 1Ti}}
  capacity: {{cpu: \"32\", memory: 256Gi, pods: \"110\", ephemeral-storage: 1Ti}}
"
        );
    }
    for n in 1..=volumes {
        out += &format!(
            "---
apiVersion: v1
kind: PersistentVolume
metadata:
  name: xtask-local-pv-{n}
  labels:
    xtask.dev/local-pv: \"true\"
spec:
  capacity: {{storage: 10Gi}}
  accessModes: [ReadWriteOnce, ReadWriteMany]
  persistentVolumeReclaimPolicy: Retain
  volumeMode: Filesystem
  hostPath:
    path: {}/pv-{n}
    type: DirectoryOrCreate
",
            dir.display()
        );
    }
    out
}

#[cfg(test)]
#[path = "spec_tests.rs"]
mod tests;
