//! A fixture monorepo deployed into a namespace of the test's own on the
//! local cluster: one component `web` (a Deployment and a ConfigMap),
//! development and production overlays, builds committed with an images
//! report. Used by the deploy, verify, status and rollback tests.

use super::{git, Cluster, Repo, Run};
use std::path::PathBuf;
use std::process::Command;

/// The Deployment `web` of `replicas` pods: `spec` more lines of its spec
/// (each ending in a newline), `template` its pods' (metadata and spec,
/// indented as in place).
pub fn web_deployment(replicas: u32, spec: &str, template: &str) -> String {
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {{app.kubernetes.io/name: web}}
spec:
  replicas: {replicas}
{spec}  selector:
    matchLabels: {{app.kubernetes.io/name: web}}
  template:
{template}"
    )
}

/// The component `web`'s Deployment, simulated on the fake node: `fault`
/// for kwok to play, the cluster's default progress deadline when `None`.
pub fn web(image: &str, replicas: u32, fault: Option<&str>, deadline_s: Option<u32>) -> String {
    let fault = fault.map(|f| format!("\n        xtask.dev/fault: {f}")).unwrap_or_default();
    let deadline = deadline_s.map(|s| format!("  progressDeadlineSeconds: {s}\n")).unwrap_or_default();
    let template = format!(
        "    metadata:
      labels:
        app.kubernetes.io/name: web{fault}
    spec:
      # simulated by kwok (the image does not exist): the fake node, not the real one
      nodeSelector: {{type: kwok}}
      tolerations: [{{key: xtask.dev/fake-node, operator: Exists, effect: NoSchedule}}]
      securityContext: {{runAsNonRoot: true, runAsUser: 10001}}
      containers:
        - name: web
          image: {image}
          readinessProbe: {{httpGet: {{path: /healthz, port: 8080}}}}
          livenessProbe: {{httpGet: {{path: /healthz, port: 8080}}}}
          resources:
            requests: {{cpu: 10m, memory: 32Mi}}
            limits: {{cpu: 100m, memory: 64Mi}}
          securityContext: {{allowPrivilegeEscalation: false}}
"
    );
    web_deployment(replicas, &deadline, &template)
}

pub const CONFIG: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web-settings\ndata:\n  LEVEL: info\n";

/// A namespace of a test's own, deleted when the test ends however it ends.
pub struct Cleanup(Option<(PathBuf, PathBuf)>, String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some((kubeconfig, kubectl)) = &self.0 {
            let c = Cluster { kubeconfig: kubeconfig.clone(), kubectl: kubectl.clone() };
            let _ = c.kubectl(&["delete", "namespace", &self.1, "--wait=false"]);
        }
    }
}

pub fn cleanup(cluster: Option<&Cluster>, namespace: &str) -> Cleanup {
    Cleanup(cluster.map(|c| (c.kubeconfig.clone(), c.kubectl.clone())), namespace.to_string())
}

/// The built xtask on `repo` as a person deploying runs it: nothing of the
/// caller's kubeconfig or CI, a home of the fixture's own, and `cluster`'s
/// kubeconfig and kubectl when there is one.
pub fn command(repo: &Repo, cluster: Option<&Cluster>, args: &[&str]) -> Command {
    let mut cmd = repo.command(args);
    for var in ["KUBECONFIG", "KUBECONFIG_B64", "CI"] {
        cmd.env_remove(var);
    }
    cmd.env("HOME", repo.root());
    if let Some(c) = cluster {
        cmd.env("KUBECONFIG", &c.kubeconfig).env("XTASK_KUBECTL", &c.kubectl);
    }
    cmd
}

pub struct Fixture {
    pub repo: Repo,
    pub namespace: String,
    pub cluster: Option<Cluster>,
    _cleanup: Cleanup,
}

impl Fixture {
    /// A monorepo with one component `web` (a Deployment and a ConfigMap), a
    /// development overlay deploying into a namespace of this test's own,
    /// committed, with an images report of that commit.
    pub fn new(test: &str, cluster: Option<Cluster>) -> Fixture {
        let repo = Repo::new();
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() % 100_000;
        let namespace = format!("fx-{test}-{t}");
        repo.component("web", &[], &[]);
        repo.write("components/web/k8s/kustomization.yaml", "resources:\n  - deployment.yaml\n  - config.yaml\n");
        repo.write("components/web/k8s/config.yaml", CONFIG);
        repo.write("deploy/base/kustomization.yaml", "resources:\n  - ../../components/web/k8s\n");
        for env in ["development", "production"] {
            repo.write(
                &format!("deploy/overlays/{env}/kustomization.yaml"),
                &format!(
                    "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: {namespace}\nresources:\n  - ../../base\n  - namespace.yaml\nlabels:\n  - pairs:\n      mlops.dev/environment: {env}\n      app.kubernetes.io/managed-by: xtask\n    includeTemplates: true\n"
                ),
            );
            repo.write(
                &format!("deploy/overlays/{env}/namespace.yaml"),
                &super::fixture_ns::namespace_yaml(&namespace),
            );
        }
        // Its images do not exist (kwok runs the pods): a development that deploys them unverified.
        repo.write("deploy/overlays/development/xtask.toml", "verify-images = false\n");
        let f = Fixture { _cleanup: cleanup(cluster.as_ref(), &namespace), repo, namespace, cluster };
        f.build("reg.test/fx/web:1", None, 600);
        f
    }

    /// Commit a new build of web (image, fault label) and its images report.
    pub fn build(&self, image: &str, fault: Option<&str>, deadline_s: u32) {
        self.build_manifest(image, &web(image, 2, fault, Some(deadline_s)));
    }

    /// Commit web's Deployment as given (running `image`) and its images report.
    pub fn build_manifest(&self, image: &str, deployment: &str) {
        self.repo.write("components/web/k8s/deployment.yaml", deployment);
        let root = self.repo.root();
        if !root.join(".git").exists() {
            git(root, &["init", "-q"]);
        }
        git(root, &["add", "-A"]);
        git(root, &["commit", "-qm", image, "--allow-empty"]);
        let head = git(root, &["rev-parse", "HEAD"]).trim().to_string();
        let (name, tag) = image.rsplit_once(':').unwrap();
        let report = serde_json::json!({"format": 1, "components": {"web": {
            "repositories": [name], "tags": [tag], "version": null, "commit": head, "ref": "refs/heads/main",
            "dirty": false, "image_id": "sha256:id", "pushed": [{"repository": name, "tag": tag, "digest": null}],
        }}});
        self.repo.write("target/xtask/images.json", &report.to_string());
    }

    pub fn command(&self, args: &[&str]) -> Command {
        command(&self.repo, self.cluster.as_ref(), args)
    }

    pub fn run(&self, args: &[&str]) -> Run {
        super::run(self.command(args))
    }

    pub fn status(&self) -> serde_json::Value {
        let run = self.run(&["status", "development", "--json"]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        serde_json::from_str(&run.stdout).unwrap()
    }
}

pub fn outcomes(status: &serde_json::Value) -> Vec<(u64, String)> {
    let h = status["history"].as_array().unwrap();
    h.iter().map(|r| (r["revision"].as_u64().unwrap(), r["outcome"].as_str().unwrap().to_string())).collect()
}

/// web's Deployment with strategy Recreate and `cpu` requested per pod (limits alike).
pub fn recreate(image: &str, cpu: &str) -> String {
    web(image, 2, None, Some(600))
        .replace("  replicas: 2\n", "  replicas: 2\n  strategy: {type: Recreate}\n")
        .replace("requests: {cpu: 10m, memory: 32Mi}", &format!("requests: {{cpu: \"{cpu}\", memory: 32Mi}}"))
        .replace("limits: {cpu: 100m, memory: 64Mi}", &format!("limits: {{cpu: \"{cpu}\", memory: 64Mi}}"))
}

/// Held for the whole of a test that fills the fake node (`plant_hog`), so
/// two such tests never count on the same free room.
pub fn kwok_room() -> std::sync::MutexGuard<'static, ()> {
    static ROOM: std::sync::Mutex<()> = std::sync::Mutex::new(());
    ROOM.lock().unwrap_or_else(|e| e.into_inner())
}

/// Millicores of a cpu quantity as pods write it (`250m`, `2`, `0.5`).
fn millicores(q: &str) -> u64 {
    match q.strip_suffix('m') {
        Some(m) => m.parse().unwrap(),
        None => (q.parse::<f64>().unwrap() * 1000.0).ceil() as u64,
    }
}

/// The fake (kwok) node's free cpu in millicores: allocatable minus what its pods request.
pub fn kwok_free_cpu(c: &Cluster) -> u64 {
    let node = c.json(&["get", "nodes", "-l", "type=kwok", "-o", "json"]);
    let node = &node["items"][0];
    let name = node["metadata"]["name"].as_str().expect("no kwok node: `cargo xtask services up kube`");
    let pods = c.json(&["get", "pods", "-A", "--field-selector", &format!("spec.nodeName={name}"), "-o", "json"]);
    let used: u64 = pods["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| !matches!(p["status"]["phase"].as_str(), Some("Succeeded" | "Failed")))
        .flat_map(|p| p["spec"]["containers"].as_array().cloned().unwrap_or_default())
        .filter_map(|c| c["resources"]["requests"]["cpu"].as_str().map(millicores))
        .sum();
    millicores(node["status"]["allocatable"]["cpu"].as_str().unwrap()).saturating_sub(used)
}

/// A namespace of its own holding one pod bound to the fake node that
/// requests all of its free cpu but `leave` millicores (a leaked test
/// namespace filling the node); deleted when the returned guard drops.
pub fn plant_hog(c: &Cluster, test: &str, leave: u64) -> Cleanup {
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() % 100_000;
    let ns = format!("fx-hog-{test}-{t}");
    let guard = cleanup(Some(c), &ns);
    let free = kwok_free_cpu(c);
    assert!(free > leave + 1000, "the fake node has only {free}m cpu free: leaked fx-* namespaces? (kubectl get ns)");
    let pod = serde_json::json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "hog", "namespace": ns},
        "spec": {"nodeSelector": {"type": "kwok"},
            "tolerations": [{"key": "xtask.dev/fake-node", "operator": "Exists", "effect": "NoSchedule"}],
            "containers": [{"name": "hog", "image": "reg.test/fx/hog:1",
                "resources": {"requests": {"cpu": format!("{}m", free - leave), "memory": "32Mi"}}}]}});
    let file = std::env::temp_dir().join(format!("{ns}.json"));
    let namespace = serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
    let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": [namespace, pod]});
    std::fs::write(&file, list.to_string()).unwrap();
    c.text(&["apply", "-f", file.to_str().unwrap()]);
    let _ = std::fs::remove_file(&file);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let p = c.json(&["get", "pod", "hog", "-n", &ns, "-o", "json"]);
        if p["spec"]["nodeName"].is_string() {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the planted pod was never scheduled: {}", p["status"]);
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    guard
}
