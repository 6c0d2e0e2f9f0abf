//! The local cluster `cargo xtask services up kube` starts, and the built
//! xtask run against it.

use super::{run, service_var, Run};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The local cluster `cargo xtask services up kube` starts (it records
/// `XTASK_TEST_KUBECONFIG` and `XTASK_KUBECTL` in the services record).
pub struct Cluster {
    pub kubeconfig: PathBuf,
    pub kubectl: PathBuf,
}

impl Cluster {
    pub fn kubectl(&self, args: &[&str]) -> Output {
        Command::new(&self.kubectl).arg("--kubeconfig").arg(&self.kubeconfig).args(args).output().unwrap()
    }

    pub fn text(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(out.status.success(), "kubectl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        serde_json::from_str(&self.text(args)).unwrap()
    }

    pub fn has_namespace(&self, ns: &str) -> bool {
        self.kubectl(&["get", "namespace", ns]).status.success()
    }

    /// Create namespace `ns`, labelled as this run's fixture (never a bare
    /// `create namespace`: a killed test's would outlive its run).
    pub fn create_namespace(&self, ns: &str) {
        use std::io::Write;
        let mut child = Command::new(&self.kubectl)
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(["create", "-f", "-"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(super::fixture_ns::namespace_yaml(ns).as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "create namespace {ns}: {}", String::from_utf8_lossy(&out.stderr));
    }
}

/// The cluster the run was given. The tests that need it are `#[ignore]`d
/// (plain `cargo test` counts them as skipped); `cargo xtask test` includes
/// them when `services up` recorded a cluster and always on CI, so here a
/// missing cluster is a failure that says how to start one, never a silent pass.
pub fn cluster() -> Cluster {
    let kubeconfig = service_var("XTASK_TEST_KUBECONFIG").map(PathBuf::from).unwrap_or_else(|| {
        panic!("no cluster: start one with `cargo xtask services up kube` (it records XTASK_TEST_KUBECONFIG and XTASK_KUBECTL in the services record)")
    });
    assert!(
        kubeconfig.is_file(),
        "XTASK_TEST_KUBECONFIG={} does not exist: run `cargo xtask services up kube`",
        kubeconfig.display()
    );
    Cluster { kubeconfig, kubectl: service_var("XTASK_KUBECTL").unwrap_or_else(|| "kubectl".into()).into() }
}

/// A pod's container `name` running python (the program `python`) on
/// `script` in `image` within `limits`: a list item `indent` spaces in.
pub fn python_container(indent: usize, name: &str, image: &str, python: &str, script: &str, limits: &str) -> String {
    let pad = " ".repeat(indent);
    format!(
        "{pad}- name: {name}\n{pad}  image: {image}\n{pad}  command: [{python}, -c, {script:?}]\n\
         {pad}  resources:\n{pad}    requests: {{cpu: 10m, memory: 32Mi}}\n{pad}    limits: {limits}\n"
    )
}

/// The built xtask on `root` with `cluster`'s kubectl and nothing of GitHub's
/// or of a caller's storage token in its environment, nor a kubeconfig: it
/// talks to the cluster only when `--kubeconfig` names it.
pub fn xtask_command(root: &Path, cluster: &Cluster, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_xtask"));
    cmd.arg("--root").arg(root).args(args).env("XTASK_KUBECTL", &cluster.kubectl).env_remove("KUBECONFIG");
    for (var, _) in std::env::vars() {
        if var.starts_with("GITHUB_") || var.starts_with("XTASK_STORAGE_TOKEN") {
            cmd.env_remove(var);
        }
    }
    cmd
}

/// The built xtask on `root` against `cluster` (its kubeconfig in `KUBECONFIG`).
pub fn xtask(root: &Path, cluster: &Cluster, args: &[&str]) -> Run {
    let mut cmd = xtask_command(root, cluster, args);
    cmd.env("KUBECONFIG", &cluster.kubeconfig);
    run(cmd)
}

/// Test-only scheduling for an overlay whose images need not exist: its
/// Deployments' and CronJobs' pods select the fake (kwok) node and tolerate its
/// taint, so kwok simulates them. `services up kube` taints the fake node when it
/// starts the real one, where every other pod (the environments') runs.
pub fn simulated(overlay: &Path) {
    let file = overlay.join("kustomization.yaml");
    let text = fs::read_to_string(&file).unwrap();
    assert!(text.contains("\npatches:\n"), "{} has no patches: list", file.display());
    let ops = "      - op: add\n        path: POD/nodeSelector\n        value: {type: kwok}\n      - op: add\n        path: POD/tolerations\n        value: [{key: xtask.dev/fake-node, operator: Exists, effect: NoSchedule}]\n";
    let patches = format!(
        "  - target: {{kind: Deployment}}\n    patch: |-\n{}  - target: {{kind: CronJob}}\n    patch: |-\n{}",
        ops.replace("POD", "/spec/template/spec"),
        ops.replace("POD", "/spec/jobTemplate/spec/template/spec")
    );
    fs::write(&file, text.replacen("\npatches:\n", &format!("\npatches:\n{patches}"), 1)).unwrap();
}
