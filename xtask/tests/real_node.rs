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
    c.create_namespace(&ns.1);
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
    let _node = support::node::share(10);
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
    let _node = support::node::share(10);
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
        // its own services record (none): the machine's would add its `services:` line
        .env("XTASK_SERVICES_FILE", t.path().join("services.json"))
        .env_remove("XTASK_SERVICES_READ")
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

/// A program as root: itself when this is root, else through `sudo -n`.
fn as_root(program: &str) -> Command {
    // SAFETY: geteuid(2) cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        Command::new(program)
    } else {
        let mut c = Command::new("sudo");
        c.args(["-n", program]);
        c
    }
}

/// Run as root; panics with its output when it fails.
fn root(program: &str, args: &[&str]) -> String {
    let out = as_root(program).args(args).output().unwrap();
    assert!(out.status.success(), "{program} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A GitHub runner's conditions, made here and undone however the test ends:
/// a user with passwordless sudo, an address of the machine's own (one end
/// of a veth pair into a network namespace of the test's) that the runner's
/// hostname resolves to, and a process holding a UTS and mount namespace
/// where that hostname is set and /etc/hosts and /etc/host.conf are bind-mounted.
struct Runner {
    user: String,
    sudoers: String,
    netns: String,
    veth: String,
    holder: Option<std::process::Child>,
}

impl Drop for Runner {
    fn drop(&mut self) {
        if let Some(mut h) = self.holder.take() {
            let _ = as_root("kill").args(["-KILL", &h.id().to_string()]).status();
            let _ = h.wait();
        }
        let quiet = |program: &str, args: &[&str]| {
            let _ = as_root(program).args(args).stdout(Stdio::null()).stderr(Stdio::null()).status();
        };
        quiet("ip", &["link", "delete", &self.veth]);
        quiet("ip", &["netns", "delete", &self.netns]);
        quiet("rm", &["-f", &self.sudoers]);
        quiet("userdel", &["--remove", &self.user]);
    }
}

/// The kubelet's and containerd's pids from the node's pid files (`PID START`).
fn node_pids(state: &std::path::Path) -> Vec<String> {
    ["kubelet", "containerd", "kube-proxy", "coredns"]
        .iter()
        .map(|p| {
            let text = root("cat", &[state.join(format!("run/{p}.pid")).to_str().unwrap()]);
            format!("{p} {}", text.trim())
        })
        .collect()
}

#[test]
#[ignore = "needs the local cluster's machine (root or passwordless sudo; sudo, ip, unshare, nsenter, runuser, useradd): cargo xtask test runs it when XTASK_TEST_KUBECONFIG is set"]
fn as_a_runners_sudo_user_whose_hostname_is_off_loopback_the_node_up_keeps_the_machines_node() {
    let c = cluster_with_node();
    // `node up` on the machine's own node: were it to restart it (what this
    // guards against), every pod of another test would go with it. Alone.
    let _node = support::node::whole();
    for tool in ["sudo", "ip", "unshare", "nsenter", "runuser", "useradd", "userdel", "visudo"] {
        assert!(
            which::which(tool).is_ok(),
            "this test needs {tool}: apt-get install -y sudo iproute2 util-linux passwd"
        );
    }
    // SAFETY: geteuid(2) cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        assert!(root("id", &["-u"]).trim() == "0", "this test needs root or passwordless sudo");
    }
    // the cluster's state and binaries, as services up recorded them
    let state = c.kubeconfig.parent().unwrap().to_path_buf();
    let bin = c.kubectl.parent().unwrap().to_path_buf();
    let before = node_pids(&state);
    let hosts_before = std::fs::read_to_string("/etc/hosts").unwrap();
    let hostname_before = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();

    let n = std::process::id() % 100_000;
    let mut r = Runner {
        user: format!("xtr{n}"),
        sudoers: format!("/etc/sudoers.d/xtask-runner-test-{n}"),
        netns: format!("xtr-ns-{n}"),
        veth: format!("xtrh{n}"),
        holder: None,
    };
    let t = tempfile::tempdir().unwrap();
    std::fs::set_permissions(t.path(), std::fs::Permissions::from_mode(0o755)).unwrap();

    // the runner's user: passwordless sudo, not root, not on GitHub
    root("useradd", &["--create-home", "--shell", "/bin/bash", &r.user]);
    let rule = t.path().join("sudoers");
    std::fs::write(&rule, format!("{} ALL=(ALL) NOPASSWD:ALL\n", r.user)).unwrap();
    root("visudo", &["-c", "-q", "-f", rule.to_str().unwrap()]);
    root("install", &["-m", "0440", rule.to_str().unwrap(), &r.sudoers]);

    // an address the machine owns (as a runner's eth0 10.1.0.x), never one outside it
    let peer = format!("xtrn{n}");
    root("ip", &["netns", "add", &r.netns]);
    root("ip", &["link", "add", &r.veth, "type", "veth", "peer", "name", &peer, "netns", &r.netns]);
    root("ip", &["addr", "add", "10.203.7.1/30", "dev", &r.veth]);
    root("ip", &["link", "set", &r.veth, "up"]);
    root("ip", &["-n", &r.netns, "addr", "add", "10.203.7.2/30", "dev", &peer]);
    root("ip", &["-n", &r.netns, "link", "set", &peer, "up"]);
    assert!(root("ip", &["route", "get", "10.203.7.1"]).starts_with("local 10.203.7.1 "), "a local address");

    // the runner's name resolution: its hostname on that address, `multi on`
    let (hosts, host_conf) = (t.path().join("hosts"), t.path().join("host.conf"));
    std::fs::write(
        &hosts,
        "127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n10.203.7.1 fv-az123-456.internal.cloudapp.net fv-az123-456\n",
    )
    .unwrap();
    std::fs::write(&host_conf, "multi on\n").unwrap();
    let holder =
        as_root("unshare").args(["--uts", "--mount", "--propagation", "private", "sleep", "600"]).spawn().unwrap();
    let pid = holder.id().to_string();
    r.holder = Some(holder);
    // with sudo in between, the holder is sudo's child: its namespaces are the sleep's
    let target = || {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
            let sleep = children.split_whitespace().next().map(String::from);
            let me = std::fs::read_link(format!("/proc/{pid}/exe")).ok();
            if me.as_ref().is_some_and(|e| e.ends_with("sleep")) {
                return pid.clone();
            }
            if let Some(s) = sleep {
                if std::fs::read_link(format!("/proc/{s}/exe")).is_ok_and(|e| e.ends_with("sleep")) {
                    return s;
                }
            }
            assert!(Instant::now() < deadline, "unshare did not start sleep");
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    let ns = target();
    let enter = |args: &[&str]| root("nsenter", &[&["--target", &ns, "--uts", "--mount", "--"][..], args].concat());
    enter(&["hostname", "fv-az123-456"]);
    enter(&["mount", "--bind", hosts.to_str().unwrap(), "/etc/hosts"]);
    enter(&["mount", "--bind", host_conf.to_str().unwrap(), "/etc/host.conf"]);
    // what the user sees there: the runner's conditions
    // sudo drops the environment: the user's is given through env(1)
    let home = format!("HOME=/home/{}", r.user);
    let kube_state = format!("XTASK_KUBE_STATE={}", state.display());
    let user = |args: &[&str]| {
        let mut cmd = as_root("nsenter");
        cmd.args(["--target", &ns, "--uts", "--mount", "--", "runuser", "-u", &r.user, "--", "env", "-i", &home]);
        cmd.args(["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", &kube_state]).args(args);
        cmd
    };
    let out = |mut cmd: Command| String::from_utf8_lossy(&cmd.output().unwrap().stdout).into_owned();
    assert_eq!(out(user(&["hostname"])).trim(), "fv-az123-456");
    let resolved = out(user(&["getent", "ahostsv4", "fv-az123-456"]));
    assert!(resolved.starts_with("10.203.7.1 "), "{resolved}");
    assert_ne!(out(user(&["id", "-u"])).trim(), "0");

    // the xtask as that user (a copy it can run), on a checkout of its own: the node through sudo -n
    let xtask = t.path().join("xtask");
    std::fs::copy(env!("CARGO_BIN_EXE_xtask"), &xtask).unwrap();
    let checkout = t.path().join("checkout");
    std::fs::create_dir_all(checkout.join("components")).unwrap();
    root("chown", &["-R", &r.user, checkout.to_str().unwrap()]);
    let mut up = user(&[xtask.to_str().unwrap(), "--root", checkout.to_str().unwrap(), "node", "up"]);
    up.args(["--bin", bin.to_str().unwrap()]).current_dir(&checkout);
    let run = support::run(up);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("[node] node localhost already up"), "{}", run.stdout);

    // the machine's node was kept, Ready, under its name; nothing of the machine changed
    assert_eq!(node_pids(&state), before, "the machine's node was restarted");
    let node = c.json(&["get", "node", "localhost", "-o", "json"]);
    let ready = node["status"]["conditions"].as_array().unwrap().iter().find(|c| c["type"] == "Ready").unwrap();
    assert_eq!(ready["status"], "True", "{node:#}");
    assert_eq!(std::fs::read_to_string("/etc/hosts").unwrap(), hosts_before);
    assert_eq!(std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap(), hostname_before);
    drop(r);
    assert!(!std::path::Path::new(&format!("/etc/sudoers.d/xtask-runner-test-{n}")).exists());
}

#[test]
fn node_shares_fit_within_the_free_room_and_one_too_big_runs_alone() {
    use support::node::{fits, millicores, Held};
    assert_eq!((millicores("2"), millicores("1.5"), millicores("250m"), millicores("")), (2000, 1500, 250, 0));
    let held = |millicores, holders, whole_waiting| Held { millicores, holders, whole_waiting };
    assert!(fits(&held(0, 0, 0), 5000, 1900), "alone, whatever it asks");
    assert!(fits(&held(1050, 1, 0), 350, 1900));
    assert!(!fits(&held(1050, 1, 0), 900, 1900));
    assert!(!fits(&held(0, 0, 1), 10, 1900), "a test waiting for the whole node goes first");
}
