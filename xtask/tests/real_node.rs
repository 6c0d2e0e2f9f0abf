//! The local cluster's real worker node (`cargo xtask services up` starts it, named
//! `localhost` whatever the machine's hostname): real containers from the local registry, a real
//! crash loop with real restarts, Service names resolved by CoreDNS, and a
//! node whose containerd cannot start. In CI (`CI=true`) a missing cluster
//! fails these tests; elsewhere they are counted as skipped.

use crate::support;

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::{cluster, Cluster};

/// A namespace of a test's own, deleted when the test ends however it ends.
struct Namespace<'a>(&'a Cluster, String);

impl Drop for Namespace<'_> {
    fn drop(&mut self) {
        let _ = self.0.kubectl(&["delete", "namespace", &self.1, "--wait=false"]);
    }
}

fn namespace<'a>(c: &'a Cluster, test: &str) -> Namespace<'a> {
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() % 100_000;
    let ns = Namespace(c, format!("node-{test}-{t}"));
    c.text(&["create", "namespace", &ns.1]);
    ns
}

fn apply(c: &Cluster, ns: &str, yaml: &str) {
    let mut child = Command::new(&c.kubectl)
        .arg("--kubeconfig")
        .arg(&c.kubeconfig)
        .args(["-n", ns, "apply", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(yaml.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "kubectl apply: {}\n{yaml}", String::from_utf8_lossy(&out.stderr));
}

/// A pod on the real node: selected by its label, and tolerating whatever
/// taint a developer put on it (the local cluster puts none there).
fn pod(name: &str, restart: &str, script: &str) -> String {
    format!(
        "apiVersion: v1
kind: Pod
metadata:
  name: {name}
spec:
  restartPolicy: {restart}
  nodeSelector: {{xtask.dev/real-node: \"true\"}}
  tolerations: [{{operator: Exists}}]
  securityContext: {{runAsNonRoot: true, runAsUser: 10001}}
  containers:
{container}",
        container = support::cluster::python_container(
            4,
            "main",
            support::python_image::pushed(),
            "python3",
            script,
            "{cpu: 200m, memory: 128Mi}"
        )
    )
}

/// Poll `check` over the pod's JSON until it holds; on the deadline, fail with the pod and its events.
fn wait_pod(
    c: &Cluster,
    ns: &str,
    name: &str,
    what: &str,
    check: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        let out = c.kubectl(&["-n", ns, "get", "pod", name, "-o", "json"]);
        if out.status.success() {
            let p: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            if check(&p) {
                return p;
            }
            if Instant::now() >= deadline {
                let events = c.kubectl(&["-n", ns, "get", "events", "--sort-by=.lastTimestamp"]);
                panic!("pod {name} never got {what}:\n{p:#}\n{}", String::from_utf8_lossy(&events.stdout));
            }
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// The cluster, which must have the real node (fail at once, not at a pod's deadline).
fn cluster_with_node() -> Cluster {
    let c = cluster();
    let nodes = c.text(&["get", "nodes", "-l", "xtask.dev/real-node=true", "-o", "name"]);
    assert!(
        !nodes.trim().is_empty(),
        "the cluster has no real node (label xtask.dev/real-node): start it with `cargo xtask services up` (XTASK_KUBE_NODE=0 leaves it out)"
    );
    c
}

#[test]
#[ignore = "needs the local cluster: cargo xtask test runs it when XTASK_TEST_KUBECONFIG is set"]
fn a_container_that_exits_1_really_crash_loops_and_its_previous_log_has_its_line() {
    let c = cluster_with_node();
    let _node = support::node::turn();
    let ns = namespace(&c, "crash");
    apply(
        &c,
        &ns.1,
        &pod("crasher", "Always", "print('xtask-node-test: about to fail', flush=True); raise SystemExit(1)"),
    );
    let p = wait_pod(&c, &ns.1, "crasher", "CrashLoopBackOff after 2 restarts", |p| {
        let s = &p["status"]["containerStatuses"][0];
        s["restartCount"].as_u64().unwrap_or(0) >= 2 && s["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    });
    // really run: by the real node (named localhost, whatever the hostname), in containerd, with a real pod address
    assert_eq!(p["spec"]["nodeName"], "localhost", "{p:#}");
    let s = &p["status"]["containerStatuses"][0];
    assert_eq!(s["lastState"]["terminated"]["exitCode"], 1, "{p:#}");
    assert_eq!(s["lastState"]["terminated"]["reason"], "Error", "{p:#}");
    assert!(s["containerID"].as_str().unwrap_or("").starts_with("containerd://"), "{p:#}");
    assert!(p["status"]["podIP"].as_str().unwrap_or("").starts_with("10.245."), "{p:#}");
    let logs = c.text(&["-n", &ns.1, "logs", "crasher", "--previous"]);
    assert_eq!(logs, "xtask-node-test: about to fail\n");
}

#[test]
#[ignore = "needs the local cluster: cargo xtask test runs it when XTASK_TEST_KUBECONFIG is set"]
fn a_pod_resolves_service_names_through_coredns() {
    let c = cluster_with_node();
    let _node = support::node::turn();
    let ns = namespace(&c, "dns");
    apply(&c, &ns.1, "apiVersion: v1\nkind: Service\nmetadata:\n  name: echo\nspec:\n  ports: [{port: 80}]\n");
    let ip = c.text(&["-n", &ns.1, "get", "service", "echo", "-o", "jsonpath={.spec.clusterIP}"]);
    let script = format!(
        "import socket\nfor n in ['echo', 'echo.{ns}', 'echo.{ns}.svc.cluster.local', 'kubernetes.default']:\n    print(n, socket.gethostbyname(n))",
        ns = ns.1
    );
    apply(&c, &ns.1, &pod("resolver", "Never", &script));
    wait_pod(&c, &ns.1, "resolver", "to finish", |p| {
        matches!(p["status"]["phase"].as_str(), Some("Succeeded" | "Failed"))
    });
    let logs = c.text(&["-n", &ns.1, "logs", "resolver"]);
    let api = c.text(&["-n", "default", "get", "service", "kubernetes", "-o", "jsonpath={.spec.clusterIP}"]);
    let want =
        format!("echo {ip}\necho.{ns} {ip}\necho.{ns}.svc.cluster.local {ip}\nkubernetes.default {api}\n", ns = ns.1);
    assert_eq!(logs, want);
}

#[test]
#[ignore = "needs the local cluster's machine (root, the node's Debian packages): cargo xtask test runs it when XTASK_TEST_KUBECONFIG is set"]
fn a_containerd_that_cannot_start_is_one_line_naming_its_log_then_its_last_lines() {
    let t = tempfile::tempdir().unwrap();
    let state = t.path().join("state");
    let bin = t.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    // what kube-build makes, as stand-ins: the run must stop at containerd
    for f in ["kubelet", "kube-proxy", "coredns", "kubectl", "pause.tar", "pause.name", "pause.digest"] {
        std::fs::write(bin.join(f), "stand-in\n").unwrap();
    }
    let containerd = t.path().join("containerd");
    std::fs::write(
        &containerd,
        "#!/bin/sh\necho 'containerd: failed to load TOML: no such plugin' >&2\necho 'containerd: exiting' >&2\nexit 1\n",
    )
    .unwrap();
    std::fs::set_permissions(&containerd, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["node", "up", "--bin"])
        .arg(&bin)
        .env("XTASK_KUBE_STATE", &state)
        .env("XTASK_CONTAINERD", &containerd)
        .env("XTASK_KUBE_DEADLINE", "20")
        .env_remove("XTASK_NODE_TAINTS")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let log: PathBuf = state.join("logs/containerd.log");
    let mut lines = stderr.lines();
    let first = lines.next().unwrap();
    // "right after it started", or "while waiting for its socket" on a slow machine
    assert!(first.starts_with("error: containerd exited "), "{stderr}");
    assert!(first.ends_with(&format!("; its log is {} (last lines below)", log.display())), "{stderr}");
    let rest: Vec<&str> = lines.collect();
    assert!(rest[0].starts_with("  === ") && rest[0].ends_with(" xtask starts containerd"), "{stderr}");
    assert_eq!(rest[1..], ["  containerd: failed to load TOML: no such plugin", "  containerd: exiting"]);
    // nothing of it runs; the node's machine-wide state was not touched
    assert!(!state.join("run/containerd.pid").exists());
}
