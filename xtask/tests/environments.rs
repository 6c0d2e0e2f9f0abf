//! Every environment of the real monorepo deploys onto the local cluster's
//! real node the way its release path requires, with its overlay as
//! committed (sizes, access modes, replicas), each into a namespace of the
//! test's own: the rollout completes, the smoke checks pass, the data claim
//! is bound to a volume of the size and access mode it asks for (the
//! cluster's default StorageClass provisions it). Every deploy verifies the
//! images first (signed by the machine's key, support::platform). Production
//! only from a release tag with --confirm, its images' provenance the
//! release's own commit; undeploying it gives its volume back to the
//! cluster, which deletes it.

use crate::support;

use std::time::{Duration, Instant};
use support::cluster::xtask;
use support::deploy::{cleanup, outcomes};
use support::platform::{namespace, on_the_real_node, platform, Build};
use support::{cluster, git, Cluster, Run};

/// The node's CPU each environment's deploy requests at its peak (its pods
/// as its overlay sizes them, one deploy so no surge, the three smoke Jobs at
/// 10m): development's storage and cdc at 50m, staging's two storage and cdc at
/// 100m, production's three storage and cdc at 250m. The environments run at
/// once as far as the node holds them; production takes half of it.
const DEVELOPMENT: u32 = 150;
const STAGING: u32 = 350;
const PRODUCTION: u32 = 1050;

fn ok(run: Run) -> Run {
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    run
}

fn refused(run: &Run, starts: &str) {
    assert_eq!(run.code, 2, "{}\n{}", run.stdout, run.stderr);
    // after the line naming the services record, when a machine record is read (outside `cargo xtask test`)
    let said = run.stderr.lines().find(|l| !l.starts_with("services: ")).unwrap_or_default();
    assert!(said.starts_with(&format!("error: {starts}")), "{}", run.stderr);
}

/// What a finished deploy of `env` must show: every smoke check passed,
/// storage at `replicas` on the real node, the claim bound as asked.
fn deployed(cluster: &Cluster, ns: &str, run: &Run, replicas: u64, size: &str) -> String {
    for c in ["storage (check storage-smoke", "cdc (check cdc-smoke", "client (check client-smoke"] {
        assert!(run.stdout.contains(&format!("passed   {c}")), "{}", run.stdout);
    }
    let storage = cluster.json(&["get", "deployment", "storage", "-n", ns, "-o", "json"]);
    assert_eq!(storage["spec"]["replicas"], replicas, "{storage}");
    assert_eq!(storage["status"]["availableReplicas"], replicas, "{}", storage["status"]);
    on_the_real_node(cluster, ns);
    let pvc = cluster.json(&["get", "pvc", "mlops-data", "-n", ns, "-o", "json"]);
    assert_eq!(pvc["status"]["phase"], "Bound", "{pvc}");
    assert_eq!(pvc["spec"]["resources"]["requests"]["storage"], size, "the overlay's size, as committed: {pvc}");
    assert_eq!(pvc["status"]["capacity"]["storage"], size, "{pvc}");
    assert_eq!(pvc["status"]["accessModes"], serde_json::json!(["ReadWriteMany"]), "{pvc}");
    assert_eq!(pvc["spec"]["storageClassName"], "xtask-hostpath", "the cluster's default class: {pvc}");
    let volume = pvc["spec"]["volumeName"].as_str().unwrap().to_string();
    let pv = cluster.json(&["get", "pv", &volume, "-o", "json"]);
    assert_eq!(pv["metadata"]["annotations"]["pv.kubernetes.io/provisioned-by"], "xtask.dev/hostpath", "{pv}");
    assert_eq!(pv["spec"]["persistentVolumeReclaimPolicy"], "Delete", "{pv}");
    volume
}

/// Deploy `env` as committed (main) into a namespace of its own and check it.
fn deploys_from_main(env: &str, replicas: u64, size: &str, share: u32) {
    let cluster = cluster();
    let ns = namespace(&env[..3]);
    // The images first: a share is held while the test has pods on the node.
    let copy = platform(env, &ns, Build::Main);
    let _node = support::node::share(share);
    let _cleanup = cleanup(Some(&cluster), &ns);
    let run = ok(xtask(copy.path(), &cluster, &["deploy", env, "--timeout", "300s"]));
    deployed(&cluster, &ns, &run, replicas, size);
}

#[test]
#[ignore = "needs the local cluster: cargo xtask test runs it when XTASK_TEST_KUBECONFIG is set"]
fn development_deploys_on_the_real_node_and_passes_its_smoke_checks() {
    deploys_from_main("development", 1, "1Gi", DEVELOPMENT);
}

#[test]
#[ignore = "needs the local cluster: cargo xtask test runs it when XTASK_TEST_KUBECONFIG is set"]
fn staging_deploys_from_main_on_the_real_node_and_passes_its_smoke_checks() {
    deploys_from_main("staging", 2, "10Gi", STAGING);
}

#[test]
#[ignore = "needs the local cluster: cargo xtask test runs it when XTASK_TEST_KUBECONFIG is set"]
fn production_deploys_a_confirmed_release_with_its_100gi_shared_volume_and_undeploys() {
    let cluster = cluster();
    let ns = namespace("pro");
    let copy = platform("production", &ns, Build::Release("1.0.0"));
    let _node = support::node::share(PRODUCTION);
    let _cleanup = cleanup(Some(&cluster), &ns);
    let root = copy.path();

    // The release path's guard first: no --confirm, no release tag at HEAD.
    refused(
        &xtask(root, &cluster, &["deploy", "production"]),
        "deploying to production needs --confirm (or a GitHub job bound to the `production` environment)",
    );
    git(root, &["tag", "-d", "v1.0.0"]);
    refused(
        &xtask(root, &cluster, &["deploy", "production", "--confirm"]),
        "production is deployed only from a release",
    );
    git(root, &["tag", "v1.0.0"]);
    assert!(!cluster.has_namespace(&ns), "a refused deploy applies nothing");

    let run = ok(xtask(root, &cluster, &["deploy", "production", "--confirm", "--timeout", "420s"]));
    // Verified first: each image signed, its provenance the release's own commit, its SBOM attached.
    let release = git(root, &["rev-parse", "HEAD"]);
    for c in ["cdc", "spark", "storage"] {
        let line = format!("{c}: verified: signature, provenance (commit {}), sbom", &release[..12]);
        assert!(run.stdout.contains(&line), "no `{line}` in: {}", run.stdout);
    }
    let volume = deployed(&cluster, &ns, &run, 3, "100Gi");
    let status = ok(xtask(root, &cluster, &["status", "production", "--json"]));
    let status: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(outcomes(&status), [(1, "succeeded".to_string())], "{status}");

    // Undeployed, the data claim stays (marked keep) until --allow-data-loss names it...
    let run = ok(xtask(root, &cluster, &["undeploy", "production", "--confirm"]));
    assert!(
        run.stdout.contains("  keep     PersistentVolumeClaim/mlops-data (mlops.dev/resource-policy: keep"),
        "{}",
        run.stdout
    );
    assert!(cluster.kubectl(&["get", "pvc", "mlops-data", "-n", &ns]).status.success(), "the kept claim is gone");
    // ...then its volume goes back to the cluster (policy Delete), which deletes it.
    let run = ok(xtask(root, &cluster, &["undeploy", "production", "--confirm", "--allow-data-loss", "mlops-data"]));
    let reclaimed = format!("volume   {volume}: the cluster reclaims it (reclaim policy Delete)");
    let deleted = format!("volume   {volume}: deleted by the cluster already (with its claim)");
    assert!(run.stdout.contains(&reclaimed) || run.stdout.contains(&deleted), "{}", run.stdout);
    let deadline = Instant::now() + Duration::from_secs(90);
    while cluster.kubectl(&["get", "pv", &volume]).status.success() {
        assert!(
            Instant::now() < deadline,
            "volume {volume} is still there: see the provisioner's log (/var/lib/xtask-kube/logs/provisioner.log)"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}
