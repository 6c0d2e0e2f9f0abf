//! Canary releases (`deploy` on an environment whose overlay declares
//! `strategy = "canary"`, and `cargo xtask canary ENV ...`) on a fixture
//! monorepo of the test's own: one component `web`, a real Python HTTP server
//! on the local cluster's real node that serves its requests and Prometheus
//! metrics (the families storage and cdc expose), behind a Service, deployed
//! into a namespace of the test's own. A release can make it slower
//! (`DELAY_MS`). Bad input needs no cluster.

use crate::support;

use std::process::{Command, Stdio};
use support::deploy::cleanup;
use support::{cluster, git, Cluster, Repo, Run};

/// The fixture's server: `/healthz`, `/metrics` (Prometheus text format:
/// `http_requests_total`, the `http_request_duration_seconds` histogram) and
/// any other GET answered after `DELAY_MS` milliseconds.
const SERVER: &str = r#"import http.server, os, threading, time
delay = float(os.environ.get("DELAY_MS", "0")) / 1000
bounds = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]
lock, counts, buckets, total = threading.Lock(), {}, {}, {}
class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass
    def answer(self, status, body, kind="application/json"):
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_GET(self):
        path = self.path.split("?")[0]
        if path == "/metrics":
            with lock:
                lines = ['http_requests_total{method="GET",route="%s",status="%s"} %d' % (r, s, n) for (r, s), n in counts.items()]
                for r, bs in buckets.items():
                    lines += ['http_request_duration_seconds_bucket{le="%s",method="GET",route="%s"} %d' % (b, r, n) for b, n in bs]
                    lines.append('http_request_duration_seconds_sum{method="GET",route="%s"} %f' % (r, total[r]))
            return self.answer(200, ("\n".join(lines) + "\n").encode(), "text/plain; version=0.0.4")
        started = time.perf_counter()
        route = "/healthz" if path == "/healthz" else "/"
        if route != "/healthz":
            time.sleep(delay)
        self.answer(200, b'{"ok": true}')
        took = time.perf_counter() - started
        with lock:
            counts[(route, "200")] = counts.get((route, "200"), 0) + 1
            old = dict(buckets.get(route, []))
            buckets[route] = [(b, old.get(b, 0) + (took <= b)) for b in bounds] + [("+Inf", old.get("+Inf", 0) + 1)]
            total[route] = total.get(route, 0.0) + took
http.server.ThreadingHTTPServer(("", 8080), H).serve_forever()
"#;

fn web(image: &str, replicas: u32, release: u32, delay_ms: u32) -> String {
    let template = format!(
        "    metadata:
      labels: {{app.kubernetes.io/name: web}}
      annotations: {{fixture.dev/release: \"{release}\"}}
    spec:
      nodeSelector: {{xtask.dev/real-node: \"true\"}}
      tolerations: [{{operator: Exists}}]
      securityContext: {{runAsNonRoot: true, runAsUser: 10001}}
      containers:
        - name: web
          image: {image}
          command: [python3, -c, {SERVER:?}]
          env: [{{name: DELAY_MS, value: \"{delay_ms}\"}}]
          ports: [{{name: http, containerPort: 8080}}]
          readinessProbe: {{httpGet: {{path: /healthz, port: 8080}}, periodSeconds: 2}}
          livenessProbe: {{httpGet: {{path: /healthz, port: 8080}}}}
          securityContext: {{allowPrivilegeEscalation: false}}
          resources:
            requests: {{cpu: 10m, memory: 32Mi}}
            limits: {{cpu: 300m, memory: 64Mi}}
"
    );
    support::deploy::web_deployment(replicas, "", &template)
}

const SERVICE: &str = "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  labels: {app.kubernetes.io/name: web}\nspec:\n  selector: {app.kubernetes.io/name: web}\n  ports: [{name: http, port: 80, targetPort: 8080}]\n";

/// The node's CPU a live canary test's pods request at their peak: two
/// stable pods, the canary, a rolling update's surge pod and the load Job, 10m each.
const NODE_SHARE: u32 = 50;

/// The shortest windows that still judge: the 5 s the strategy allows at
/// least, at 30 req/s a third of which reach the canary (about 50 requests a
/// window, `min_requests` 20). The judge's false alarms and its power at these
/// settings are unit tests over windows recorded with them
/// (`xtask/src/canary/judge_recorded_tests.rs`); live, one promote and one abort.
pub const ROLLOUT: &str = "strategy = \"canary\"\n\n[canary]\ncomponents = [\"web\"]\nreplicas = 1\nanalyses = 2\ninterval = \"5s\"\nfailure_threshold = 1\nmin_requests = 20\nload_rate = 30\n";

/// A canary starved of traffic, whose analyses last long enough (16 s) for
/// the lock's renewal (every 10 s) to notice the lock taken in the middle.
const STARVED: &str = "strategy = \"canary\"\n\n[canary]\ncomponents = [\"web\"]\nreplicas = 1\nanalyses = 2\ninterval = \"8s\"\nfailure_threshold = 1\nmin_requests = 5000\nload_rate = 20\n";

struct Fx {
    repo: Repo,
    namespace: String,
    cluster: Option<Cluster>,
    /// web's image, signed for this fixture (on a cluster).
    signed: std::sync::OnceLock<String>,
}

impl Fx {
    /// `web` (with a Service unless `service` is false) and a production overlay
    /// (any build may deploy it) with the given rollout strategy.
    fn new(test: &str, cluster: Option<Cluster>, rollout: &str, service: bool) -> (Fx, support::deploy::Cleanup) {
        let repo = Repo::new();
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() % 100_000;
        let namespace = format!("fx-{test}-{t}");
        repo.component("web", &[], &[]);
        // An image of its own (on a cluster: the python image, retagged and pushed signed).
        repo.write("components/web/Dockerfile", "FROM scratch\n");
        let resources = if service { "  - deployment.yaml\n  - service.yaml\n" } else { "  - deployment.yaml\n" };
        repo.write("components/web/k8s/kustomization.yaml", &format!("resources:\n{resources}"));
        repo.write("components/web/k8s/service.yaml", SERVICE);
        repo.write("deploy/base/kustomization.yaml", "resources:\n  - ../../components/web/k8s\n");
        let env = "live";
        repo.write(
            &format!("deploy/overlays/{env}/kustomization.yaml"),
            &format!("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: {namespace}\nresources:\n  - ../../base\n  - namespace.yaml\nlabels:\n  - pairs:\n      mlops.dev/environment: {env}\n      app.kubernetes.io/managed-by: xtask\n    includeTemplates: true\n"),
        );
        repo.write(&format!("deploy/overlays/{env}/namespace.yaml"), &support::fixture_ns::namespace_yaml(&namespace));
        repo.write(&format!("deploy/overlays/{env}/xtask.toml"), "guard = \"any\"\n");
        repo.write(&format!("deploy/overlays/{env}/rollout.toml"), rollout);
        let guard = cleanup(cluster.as_ref(), &namespace);
        (Fx { repo, namespace, cluster, signed: std::sync::OnceLock::new() }, guard)
    }

    /// Commit a release of web and its images report.
    fn release(&self, replicas: u32, release: u32, delay_ms: u32) {
        let root = self.repo.root();
        if !root.join(".git").exists() {
            git(root, &["init", "-q"]);
        }
        let image = match self.cluster.is_some() {
            true => self.signed_python().to_string(),
            false => "reg.test/fx/web:1".to_string(),
        };
        self.repo.write("components/web/k8s/deployment.yaml", &web(&image, replicas, release, delay_ms));
        git(root, &["add", "-A"]);
        git(root, &["commit", "-qm", &format!("release {release}"), "--allow-empty"]);
        let head = git(root, &["rev-parse", "HEAD"]).trim().to_string();
        let (reference, digest) = match image.split_once('@') {
            Some((r, d)) => (r, serde_json::json!(d)),
            None => (image.as_str(), serde_json::Value::Null),
        };
        let (name, tag) = reference.rsplit_once(':').unwrap();
        let report = serde_json::json!({"format": 1, "components": {"web": {
            "repositories": [name], "tags": [tag], "version": null, "commit": head, "ref": "refs/heads/main",
            "dirty": false, "image_id": "sha256:id", "pushed": [{"repository": name, "tag": tag, "digest": digest}],
        }}});
        self.repo.write("target/xtask/images.json", &report.to_string());
    }

    /// The python image as web's, pushed once by this fixture's `image push`
    /// (signed, its provenance a commit every release descends from): the
    /// live environment verifies what it deploys, as production does.
    fn signed_python(&self) -> &str {
        self.signed.get_or_init(|| {
            let root = self.repo.root();
            git(root, &["add", "-A"]);
            git(root, &["commit", "-qm", "the image's sources", "--allow-empty"]);
            let prefix = support::signed::prefix(&format!("fx-canary/{}", self.namespace));
            let head = support::git::head(root);
            let push = self.command(&["image", "push", "web", "--registry", &prefix, "--tag", &head]);
            let digest = support::signed::push(root, push, support::python_image::pushed(), &prefix, "web");
            format!("{prefix}/web:{head}@{digest}")
        })
    }

    fn run(&self, args: &[&str]) -> Run {
        support::run(self.command(args))
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = self.repo.command(args);
        for var in ["KUBECONFIG", "KUBECONFIG_B64", "CI", "GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY"] {
            cmd.env_remove(var);
        }
        cmd.env("HOME", self.repo.root());
        match &self.cluster {
            Some(c) => support::signed::env(&mut cmd).env("KUBECONFIG", &c.kubeconfig).env("XTASK_KUBECTL", &c.kubectl),
            // Nowhere to connect: bad input must be refused before any cluster is needed.
            None => cmd.env("KUBECONFIG", "/nonexistent/kubeconfig"),
        };
        cmd
    }

    /// Start a deploy, and once its analyses run, do `meanwhile`; its run.
    fn deploy_and(&self, meanwhile: impl FnOnce(u32)) -> Run {
        use std::io::{BufRead, Read};
        let mut child = self
            .command(&["deploy", "live", "--no-smoke"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut err = child.stderr.take().unwrap();
        let errs = std::thread::spawn(move || {
            let mut s = String::new();
            err.read_to_string(&mut s).unwrap();
            s
        });
        let mut out = String::new();
        let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let mut meanwhile = Some(meanwhile);
        for line in lines.by_ref() {
            let line = line.unwrap();
            out.push_str(&line);
            out.push('\n');
            if line.contains("canary step 3") {
                (meanwhile.take().unwrap())(child.id());
            }
        }
        let code = child.wait().unwrap().code().unwrap_or(-1);
        let run = Run { code, stdout: out, stderr: errs.join().unwrap() };
        eprintln!("--- stdout\n{}\n--- stderr\n{}", run.stdout, run.stderr);
        assert!(meanwhile.is_none(), "the analyses never started");
        run
    }

    fn c(&self) -> &Cluster {
        self.cluster.as_ref().unwrap()
    }

    /// The release records' (revision, outcome, canary state).
    fn history(&self) -> Vec<(u64, String, String)> {
        let run = self.run(&["status", "live", "--json"]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        let status: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
        status["history"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let state = r["canary"]["state"].as_str().unwrap_or("-").to_string();
                (r["revision"].as_u64().unwrap(), r["outcome"].as_str().unwrap().to_string(), state)
            })
            .collect()
    }

    /// web's stable Deployment's release annotation, and the canary Deployments left.
    fn live(&self) -> (String, usize) {
        let d = self.c().json(&["get", "deployment", "web", "-n", &self.namespace, "-o", "json"]);
        let release =
            d["spec"]["template"]["metadata"]["annotations"]["fixture.dev/release"].as_str().unwrap().to_string();
        let canaries =
            self.c().json(&["get", "deployments", "-n", &self.namespace, "-l", "mlops.dev/track=canary", "-o", "json"]);
        (release, canaries["items"].as_array().unwrap().len())
    }
}

fn bad(rollout: &str, replicas: u32, service: bool) -> Run {
    let (f, _guard) = Fx::new("bad", None, rollout, service);
    f.release(replicas, 1, 0);
    f.run(&["deploy", "live", "--dry-run"])
}

#[test]
fn a_malformed_strategy_file_is_refused_with_file_and_line() {
    let run = bad("strategy = \"canary\"\n\n[canary]\ncomponents = [\"web\"\nreplicas = 1\n", 3, true);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("deploy/overlays/live/rollout.toml:5:"), "{}", run.stderr);
    assert_eq!(run.stderr.trim().lines().count(), 1, "{}", run.stderr);
}

#[test]
fn thresholds_out_of_range_are_refused() {
    let run = bad(&ROLLOUT.replace("failure_threshold = 1", "confidence = 1.2\nfailure_threshold = 1"), 3, true);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("rollout.toml:8: confidence = 1.2 is out of range: give a value between 0.5 and 1"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_canary_for_a_component_without_a_service_is_refused() {
    let run = bad(ROLLOUT, 3, false);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("canary for web, which has no Service"), "{}", run.stderr);
}

#[test]
fn a_canary_with_one_replica_in_total_is_refused() {
    let run = bad(ROLLOUT, 1, true);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("canary for web, which runs 1 replica in total"), "{}", run.stderr);
}

#[test]
#[ignore = "needs the local cluster: cargo xtask test runs it when XTASK_TEST_KUBECONFIG is set"]
fn a_same_release_is_promoted_and_a_slower_one_aborted_while_stable_keeps_serving() {
    let _node = support::node::share(NODE_SHARE);
    let (f, _guard) = Fx::new("canary", Some(cluster()), ROLLOUT, true);
    f.release(2, 1, 0);
    let run = f.run(&["deploy", "live", "--no-smoke"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("no release runs yet, so no canary"), "{}", run.stdout);

    // The dry run shows the steps with the split the replicas give.
    f.release(2, 2, 0);
    let run = f.run(&["deploy", "live", "--dry-run"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains("canary   web: 1 canary pod(s) beside 2 stable: 1 of 3 pods = 33% of the traffic expected"),
        "{}",
        run.stdout
    );

    // The same server, another release: promoted with its verdict table.
    let run = f.run(&["deploy", "live", "--no-smoke"]);
    println!("{}", run.stdout);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("web, analysis 2: pass"), "{}", run.stdout);
    assert!(run.stdout.contains("split    web: 1 of 3 pods"), "{}", run.stdout);
    assert_eq!(f.live(), ("2".to_string(), 0));

    // 150 ms slower: aborted, the stable pods untouched and serving, the canary gone.
    f.release(2, 3, 150);
    let run = f.run(&["deploy", "live", "--no-smoke"]);
    println!("{}\n{}", run.stdout, run.stderr);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("web, analysis 1: FAIL"), "{}", run.stdout);
    assert!(run.stderr.contains("canary aborted"), "{}", run.stderr);
    assert_eq!(f.live(), ("2".to_string(), 0));
    let h = f.history();
    assert_eq!(h.last().unwrap(), &(3, "aborted".to_string(), "aborted".to_string()), "{h:?}");
    assert_eq!(h[1], (2, "succeeded".to_string(), "promoted".to_string()), "{h:?}");
    let run = f.run(&["status", "live"]);
    assert!(run.stdout.contains("canary aborted"), "{}", run.stdout);
}

#[test]
#[ignore = "needs the local cluster: cargo xtask test runs it when XTASK_TEST_KUBECONFIG is set"]
fn a_canary_without_enough_traffic_pauses_and_a_person_decides_and_ctrl_c_or_a_lost_lock_remove_it() {
    let _node = support::node::share(NODE_SHARE);
    let (f, _guard) = Fx::new("pause", Some(cluster()), STARVED, true);
    f.release(2, 1, 0);
    assert_eq!(f.run(&["deploy", "live", "--no-smoke"]).code, 0);

    // Too little traffic: never a promotion; the canary stays for a decision.
    f.release(2, 2, 0);
    let run = f.run(&["deploy", "live", "--no-smoke"]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("web, analysis 2: no data"), "{}", run.stdout);
    assert!(run.stderr.contains("canary paused"), "{}", run.stderr);
    assert_eq!(f.live(), ("1".to_string(), 1));
    let run = f.run(&["canary", "live", "status"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("canary of revision 2: paused (pending)"), "{}", run.stdout);
    assert!(run.stdout.contains("running: web-canary, 1 of 3 pods"), "{}", run.stdout);
    let run = f.run(&["canary", "live", "abort"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(f.live(), ("1".to_string(), 0));
    assert_eq!(f.history().last().unwrap(), &(2, "aborted".to_string(), "aborted by hand".to_string()));
    let run = f.run(&["canary", "live", "abort"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("no canary is paused: the newest release, revision 2, is aborted"), "{}", run.stderr);

    f.release(2, 3, 0);
    assert_eq!(f.run(&["deploy", "live", "--no-smoke"]).code, 1);
    // A new release while one is paused supersedes it.
    let run = f.run(&["deploy", "live", "--no-smoke"]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("revision 3's paused canary is superseded"), "{}", run.stdout);
    assert_eq!(f.history()[2], (3, "aborted".to_string(), "superseded".to_string()));
    let run = f.run(&["canary", "live", "promote"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(f.live(), ("3".to_string(), 0));
    assert_eq!(f.history().last().unwrap(), &(4, "succeeded".to_string(), "promoted by hand".to_string()));

    // Ctrl-C in the middle: the canary goes, stable untouched, the lock released, the release aborted.
    f.release(2, 4, 0);
    let run = f.deploy_and(|pid| {
        // In the middle of the analyses: once the load Job runs (its removal is checked too).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while !f.c().kubectl(&["get", "job", "canary-load-web", "-n", &f.namespace]).status.success() {
            assert!(std::time::Instant::now() < deadline, "no load Job within 60 s of the analyses' start");
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        assert!(Command::new("kill").args(["-INT", &pid.to_string()]).status().unwrap().success());
    });
    assert_eq!(run.code, 130, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("interrupted (Ctrl-C): the canary is removed"), "{}", run.stderr);
    assert_eq!(f.live(), ("3".to_string(), 0));
    assert_eq!(f.history().last().unwrap(), &(5, "aborted".to_string(), "aborted".to_string()));
    let lease = f.c().kubectl(&["get", "lease", "mlops-deploy-lock", "-n", &f.namespace]);
    assert!(!lease.status.success(), "the lock is still held");
    let gone = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while f.c().kubectl(&["get", "job", "canary-load-web", "-n", &f.namespace]).status.success() {
        assert!(std::time::Instant::now() < gone, "the load Job is left behind");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }

    // Another deploy takes the lock in the middle: the same, and the lock stays the other's.
    f.release(2, 5, 0);
    let (c, ns) = (f.c(), f.namespace.clone());
    let run = f.deploy_and(|_| {
        let patch = r#"{"spec":{"holderIdentity":"someone else"}}"#;
        c.text(&["patch", "lease", "mlops-deploy-lock", "-n", &ns, "--type=merge", "-p", patch]);
    });
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("the environment's lock was taken by another deploy: the canary is removed"),
        "{}",
        run.stderr
    );
    assert_eq!(f.live(), ("3".to_string(), 0));
    assert_eq!(f.history().last().unwrap(), &(6, "aborted".to_string(), "aborted".to_string()));
}

/// `manifests validate` checks each environment's strategy against its real
/// render: production's cdc runs one replica, so a canary for it is refused.
#[test]
fn production_s_render_is_checked_against_its_strategy() {
    let copy = support::copy_of_the_monorepo();
    let file = copy.path().join("deploy/overlays/production/rollout.toml");
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, text.replace("components = [\"storage\"]", "components = [\"storage\", \"cdc\"]")).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_xtask"));
    cmd.args(["manifests", "validate", "production"]).current_dir(copy.path()).env_remove("KUBECONFIG");
    if let Some(k) = support::service_var("XTASK_KUBECTL") {
        cmd.env("XTASK_KUBECTL", k);
    }
    let run = support::run(cmd);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("deploy/overlays/production/rollout.toml: canary for cdc, which runs 1 replica in total"),
        "{}",
        run.stderr
    );
}
