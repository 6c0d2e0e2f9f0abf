//! The platform's manifests against a real cluster: `cargo xtask services up kube` starts
//! one (kube-apiserver, etcd, controller-manager, scheduler, kwok nodes) and
//! records its kubeconfig and kubectl in the services record. In CI (`CI=true`)
//! a missing cluster fails these tests; elsewhere they say loudly that they
//! did not run.

use crate::support;

use support::{cluster, unique, Cluster};

use std::path::Path;
use std::time::{Duration, Instant};

/// A namespace of this test's own, deleted when the test ends however it ends.
struct Namespace<'a> {
    name: String,
    cluster: &'a Cluster,
}

impl Drop for Namespace<'_> {
    fn drop(&mut self) {
        let _ = self.cluster.kubectl(&["delete", "namespace", &self.name, "--wait=false"]);
    }
}

/// The xtask on `root`, talking to `cluster` only when `--kubeconfig` names it.
fn xtask(root: &Path, cluster: &Cluster, args: &[&str]) -> support::Run {
    support::run(support::cluster::xtask_command(root, cluster, args))
}

/// Poll until every Deployment in `ns` has all its replicas available.
fn wait_available(cluster: &Cluster, ns: &str, deadline: Duration) -> Vec<String> {
    let end = Instant::now() + deadline;
    loop {
        let list: serde_json::Value =
            serde_json::from_str(&cluster.text(&["get", "deployments", "-n", ns, "-o", "json"])).unwrap();
        let items = list["items"].as_array().cloned().unwrap_or_default();
        let waiting: Vec<String> = items
            .iter()
            .filter(|d| {
                d["status"]["availableReplicas"].as_i64().unwrap_or(0) < d["spec"]["replicas"].as_i64().unwrap_or(1)
            })
            .map(|d| d["metadata"]["name"].as_str().unwrap_or("?").to_string())
            .collect();
        if !items.is_empty() && waiting.is_empty() {
            return items.iter().map(|d| d["metadata"]["name"].as_str().unwrap_or("?").to_string()).collect();
        }
        if Instant::now() > end {
            let state = cluster.text(&["get", "deployments,pods,pvc,events", "-n", ns, "-o", "wide"]);
            panic!("deployments {waiting:?} not available in {deadline:?}:\n{state}");
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
#[ignore = "needs the local cluster: cargo xtask test runs it when XTASK_TEST_KUBECONFIG is set"]
fn development_deploys_into_a_fresh_namespace_and_becomes_available() {
    let cluster = cluster();
    let root = support::copy_of_the_monorepo();
    support::cluster::simulated(&root.path().join("deploy/overlays/development"));
    let run = xtask(root.path(), &cluster, &["manifests", "render", "development"]);
    assert_eq!(run.code, 0);
    let ns = Namespace { name: format!("xtask-test-{}", unique()), cluster: &cluster };
    let rendered = std::fs::read_to_string(root.path().join("target/xtask/manifests/development.yaml")).unwrap();
    assert!(rendered.contains("name: mlops-development\n"), "{rendered}");
    let file = root.path().join("fresh.yaml");
    std::fs::write(&file, support::fixture_ns::labelled(&rendered.replace("mlops-development", &ns.name))).unwrap();
    let applied = cluster.text(&["apply", "--server-side", "--field-manager=xtask-test", "-f", file.to_str().unwrap()]);
    assert!(applied.contains(&format!("namespace/{} serverside-applied", ns.name)), "{applied}");
    let available = wait_available(&cluster, &ns.name, Duration::from_secs(180));
    assert_eq!(available, ["cdc", "storage"]);
    let pvc = cluster.text(&["get", "pvc", "mlops-data", "-n", &ns.name, "-o", "jsonpath={.status.phase}"]);
    assert_eq!(pvc, "Bound");
    let labels = cluster.text(&["get", "deployment", "storage", "-n", &ns.name, "-o", "jsonpath={.metadata.labels}"]);
    assert!(labels.contains("\"mlops.dev/environment\":\"development\""), "{labels}");
}

#[test]
#[ignore = "needs the local cluster: cargo xtask test runs it when XTASK_TEST_KUBECONFIG is set"]
fn validate_dry_runs_every_environment_against_the_cluster_and_changes_nothing() {
    let cluster = cluster();
    let root = support::copy_of_the_monorepo();
    let existed: Vec<bool> =
        ["mlops-development", "mlops-staging", "mlops-production"].iter().map(|n| cluster.has_namespace(n)).collect();
    let kubeconfig = cluster.kubeconfig.to_str().unwrap();
    let run = xtask(root.path(), &cluster, &["manifests", "validate", "--kubeconfig", kubeconfig]);
    assert_eq!(run.code, 0);
    assert!(run.stdout.contains("server-side dry run against https://"), "{}", run.stdout);
    for env in ["development", "staging", "production"] {
        assert!(run
            .stdout
            .lines()
            .any(|l| l.trim_start().starts_with(&format!("manifests-dry-run:{env}")) && l.contains("passed")));
    }
    let now: Vec<bool> =
        ["mlops-development", "mlops-staging", "mlops-production"].iter().map(|n| cluster.has_namespace(n)).collect();
    assert_eq!(now, existed, "a dry run creates no namespace");

    // Valid to the schema, refused by the server: the finding names the file.
    let service = root.path().join("components/storage/k8s/service.yaml");
    let text = std::fs::read_to_string(&service).unwrap();
    std::fs::write(&service, text.replace("  type: ClusterIP\n", "  type: ClusterIP\n  clusterIP: not-an-ip\n"))
        .unwrap();
    let run = xtask(root.path(), &cluster, &["manifests", "validate", "development", "--kubeconfig", kubeconfig]);
    assert_eq!(run.code, 1);
    let finding =
        run.stdout.lines().find(|l| l.contains("kubectl Invalid")).unwrap_or_else(|| panic!("{}", run.stdout));
    assert!(finding.trim_start().starts_with("components/storage/k8s/service.yaml:2: kubectl Invalid [High] Service \"storage\" is invalid: spec.clusterIP"), "{finding}");
    let result =
        |task: &str| run.stdout.lines().find(|l| l.trim_start().starts_with(task)).map(|l| l.split_whitespace().nth(1));
    assert_eq!(result("manifests-dry-run:development "), Some(Some("failed")), "{}", run.stdout);
    assert_eq!(result("manifests-schema:development "), Some(Some("passed")), "{}", run.stdout);
}
