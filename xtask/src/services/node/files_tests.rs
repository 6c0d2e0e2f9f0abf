use super::*;

/// This machine: cgroup v1, no systemd.
const V1: Cgroups = Cgroups { v2: false, systemd: false };
/// A GitHub runner (ubuntu-24.04): cgroup v2, systemd as init.
const RUNNER: Cgroups = Cgroups { v2: true, systemd: true };

fn paths() -> ContainerdPaths<'static> {
    ContainerdPaths {
        root: "/s/node/containerd/root",
        state: "/s/node/containerd/state",
        socket: "/s/node/containerd/containerd.sock",
        certs_d: "/s/node/containerd/certs.d",
        cni_conf_dir: "/s/node/cni/net.d",
    }
}

#[test]
fn containerd_has_its_own_paths_cri_cgroupfs_overlayfs_runc_and_restricted_oom_score() {
    let auth = RegistryAuth { host: "127.0.0.1:5000", user: "xtask", password: "p\"w\\d" };
    let text = containerd_toml(&paths(), &V1, "xtask.local/pause:1", Some(&auth));
    let v: toml::Value = toml::from_str(&text).unwrap();
    assert_eq!(v["root"].as_str(), Some("/s/node/containerd/root"));
    assert_eq!(v["state"].as_str(), Some("/s/node/containerd/state"));
    assert_eq!(v["grpc"]["address"].as_str(), Some("/s/node/containerd/containerd.sock"));
    let cri = &v["plugins"]["io.containerd.grpc.v1.cri"];
    assert_eq!(cri["sandbox_image"].as_str(), Some("xtask.local/pause:1"));
    assert_eq!(cri["restrict_oom_score_adj"].as_bool(), Some(true));
    assert_eq!(cri["containerd"]["snapshotter"].as_str(), Some("overlayfs"));
    let runc = &cri["containerd"]["runtimes"]["runc"];
    assert_eq!(runc["runtime_type"].as_str(), Some("io.containerd.runc.v2"));
    assert_eq!(runc["options"]["SystemdCgroup"].as_bool(), Some(false));
    assert_eq!(cri["cni"]["bin_dir"].as_str(), Some("/usr/lib/cni"));
    assert_eq!(cri["registry"]["config_path"].as_str(), Some("/s/node/containerd/certs.d"));
    let creds = &cri["registry"]["configs"]["127.0.0.1:5000"]["auth"];
    assert_eq!(creds["username"].as_str(), Some("xtask"));
    // a password with quotes and backslashes survives TOML
    assert_eq!(creds["password"].as_str(), Some("p\"w\\d"));
    assert!(!text.contains("/run/containerd") && !text.contains("/var/lib/containerd"), "{text}");
}

#[test]
fn without_a_registry_containerd_has_no_credentials() {
    let text = containerd_toml(&paths(), &V1, "xtask.local/pause:1", None);
    let v: toml::Value = toml::from_str(&text).unwrap();
    assert!(v["plugins"]["io.containerd.grpc.v1.cri"]["registry"].get("configs").is_none(), "{text}");
}

#[test]
fn the_registry_is_plain_http_on_loopback() {
    let v: toml::Value = toml::from_str(&hosts_toml("127.0.0.1:5000")).unwrap();
    assert_eq!(v["server"].as_str(), Some("http://127.0.0.1:5000"));
    assert!(v["host"]["http://127.0.0.1:5000"]["capabilities"].as_array().unwrap().len() == 2);
}

#[test]
fn the_pod_network_is_a_bridge_with_portmap_and_firewall_outside_kwoks_range() {
    let v: serde_json::Value = serde_json::from_str(&cni_conflist("/s/node/cni/ipam")).unwrap();
    let types: Vec<&str> = v["plugins"].as_array().unwrap().iter().map(|p| p["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["bridge", "portmap", "firewall"]);
    assert_eq!(v["plugins"][0]["ipam"]["ranges"][0][0]["subnet"], "10.245.0.0/16");
    assert_eq!(v["plugins"][0]["ipam"]["dataDir"], "/s/node/cni/ipam");
    assert_eq!(v["plugins"][0]["bridge"], BRIDGE);
}

fn yaml(text: &str) -> serde_json::Value {
    serde_saphyr::from_str(text).unwrap()
}

#[test]
fn the_kubelet_serves_on_loopback_with_cgroupfs_on_cgroup_v1_and_the_cluster_dns() {
    let taints = vec!["xtask.dev/test=yes:NoExecute".to_string()];
    let s = KubeletSettings {
        runtime_socket: "/s/node/containerd/containerd.sock",
        resolv_conf: "/s/node/resolv.conf",
        pod_logs_dir: "/s/node/pod-logs",
        cluster_dns: "169.254.20.10",
        taints: &taints,
        cgroups: V1,
    };
    let v = yaml(&kubelet_yaml(&s));
    assert_eq!(v["kind"], "KubeletConfiguration");
    assert_eq!(v["address"], "127.0.0.1");
    assert_eq!(v["readOnlyPort"], 0);
    assert_eq!(v["cgroupDriver"], "cgroupfs");
    assert_eq!(v["failCgroupV1"], false);
    assert_eq!(v["failSwapOn"], false);
    assert_eq!(v["authorization"]["mode"], "AlwaysAllow");
    assert_eq!(v["containerRuntimeEndpoint"], "unix:///s/node/containerd/containerd.sock");
    assert_eq!(v["clusterDNS"][0], "169.254.20.10");
    assert_eq!(v["clusterDomain"], "cluster.local");
    // Absolute thresholds: a shared disk with gigabytes free is no pressure.
    assert_eq!(v["evictionHard"]["imagefs.available"], "2Gi");
    assert_eq!(v["evictionHard"]["nodefs.available"], "2Gi");
    assert_eq!(
        v["registerWithTaints"][0],
        serde_json::json!({"key": "xtask.dev/test", "value": "yes", "effect": "NoExecute"})
    );
    let none = yaml(&kubelet_yaml(&KubeletSettings { taints: &[], ..s }));
    assert_eq!(none["registerWithTaints"], serde_json::json!([]));
}

#[test]
fn kube_proxy_uses_iptables_and_changes_no_sysctl() {
    let v = yaml(&kube_proxy_yaml("/s/node/xtask-kube-proxy.kubeconfig", "localhost"));
    assert_eq!(v["mode"], "iptables");
    assert_eq!(v["hostnameOverride"], "localhost");
    assert_eq!(v["clusterCIDR"], POD_CIDR);
    assert_eq!(v["iptables"]["localhostNodePorts"], false);
    assert_eq!(v["conntrack"]["maxPerCore"], 0);
    assert_eq!(v["conntrack"]["tcpEstablishedTimeout"], "0s");
    assert_eq!(v["conntrack"]["tcpCloseWaitTimeout"], "0s");
    assert_eq!(v["clientConnection"]["kubeconfig"], "/s/node/xtask-kube-proxy.kubeconfig");
}

#[test]
fn each_identity_has_an_account_a_token_and_its_role() {
    let docs: Vec<serde_json::Value> = rbac_yaml().split("\n---\n").map(yaml).collect();
    assert_eq!(docs.len(), 1 + 3 * IDENTITIES.len());
    for (name, role) in IDENTITIES {
        let binding = docs.iter().find(|d| d["kind"] == "ClusterRoleBinding" && d["metadata"]["name"] == name).unwrap();
        assert_eq!(binding["roleRef"]["name"], role);
        assert_eq!(binding["subjects"][0]["name"], name);
        let secret =
            docs.iter().find(|d| d["kind"] == "Secret" && d["metadata"]["name"] == format!("{name}-token")).unwrap();
        assert_eq!(secret["type"], "kubernetes.io/service-account-token");
        assert_eq!(secret["metadata"]["annotations"]["kubernetes.io/service-account.name"], name);
    }
    assert!(IDENTITIES.contains(&("xtask-node", "system:node")));
    assert!(IDENTITIES.contains(&("xtask-kube-proxy", "system:node-proxier")));
}

#[test]
fn the_cgroup_driver_follows_the_machine_and_this_machines_config_is_unchanged() {
    let kubelet = |cgroups| {
        kubelet_yaml(&KubeletSettings {
            runtime_socket: "/s/node/containerd/containerd.sock",
            resolv_conf: "/s/node/resolv.conf",
            pod_logs_dir: "/s/node/pod-logs",
            cluster_dns: "169.254.20.10",
            taints: &[],
            cgroups,
        })
    };
    let containerd = |cgroups| containerd_toml(&paths(), &cgroups, "xtask.local/pause:1", None);
    // cgroup v1 without systemd: the lines as they were before detection, so the running node is kept
    assert!(
        kubelet(V1).contains("  mode: AlwaysAllow\ncgroupDriver: cgroupfs\nfailCgroupV1: false\nfailSwapOn: false\n")
    );
    assert!(containerd(V1).contains("\n        SystemdCgroup = false\n"));
    // a runner: systemd's driver on both sides, pods under kubepods.slice
    let v = yaml(&kubelet(RUNNER));
    assert_eq!(v["cgroupDriver"], "systemd");
    assert!(v.get("failCgroupV1").is_none(), "{v:#}");
    let c: toml::Value = toml::from_str(&containerd(RUNNER)).unwrap();
    let runc = &c["plugins"]["io.containerd.grpc.v1.cri"]["containerd"]["runtimes"]["runc"];
    assert_eq!(runc["options"]["SystemdCgroup"].as_bool(), Some(true));
    // the two never disagree, on any machine
    for (v2, systemd) in [(false, false), (true, true), (true, false), (false, true)] {
        let g = Cgroups { v2, systemd };
        let k = yaml(&kubelet(g));
        let c: toml::Value = toml::from_str(&containerd(g)).unwrap();
        let runc = &c["plugins"]["io.containerd.grpc.v1.cri"]["containerd"]["runtimes"]["runc"];
        assert_eq!(k["cgroupDriver"] == "systemd", runc["options"]["SystemdCgroup"].as_bool().unwrap(), "{g:?}");
    }
}
